"""Adaptive ONNX export (tac's convention, docs/training.md) and its static twin.

The adaptive graph, for batch 1:

    image ─ tokens ─ layers 0..P-1 (always run) ─┬─ If(depth > P)   ─ ... ─ If(depth > L-1) ─ readout ─ logits
                                                 └─ controller: readout of the class token ─ predictor ─ policy ─ depth

Each ``If`` runs one layer in ``then_branch`` (weights read from the outer
scope) and returns its input unchanged (``Identity``) in ``else_branch``.
"""
from __future__ import annotations

import io
import json
import re

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn

from .controller import Policy, Predictor, confidence_stats, policy_state
from .model import ViT
from .onnx_tools import cleanup

OPSET = 17
PREDICTOR_OUTPUT = "complexity"
POLICY_OUTPUT = "depth"


class _Tokens1(nn.Module):
    """Batch-1 patch embedding with the class token's positional embedding
    folded in (no Expand in the graph; same values as ViT.tokens)."""

    def __init__(self, vit: ViT):
        super().__init__()
        self.grid = vit.grid
        self.patch = vit.patch
        self.pixel_mean = vit.pixel_mean
        self.pixel_std = vit.pixel_std
        self.embed = vit.embed
        with torch.no_grad():
            self.cls_pos = nn.Parameter((vit.cls + vit.pos[:, :1]).clone())
            self.pos_patch = nn.Parameter(vit.pos[:, 1:].clone())

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        g, p = self.grid, self.patch
        x = (img - self.pixel_mean) / self.pixel_std
        x = x.reshape(1, g, p, g, p).permute(0, 1, 3, 2, 4).reshape(1, g * g, p * p)
        x = self.embed(x) + self.pos_patch
        return torch.cat([self.cls_pos, x], dim=1)


class AdaptiveViT(nn.Module):
    """Backbone + controller. ``export_adaptive`` traces its parts (batch 1)
    and stitches them into the If-gated model (``stitch_adaptive``, the same
    exporter tac.adapt uses); ``reference`` is the batched eager PyTorch
    reference used by the checks."""

    def __init__(self, vit: ViT, predictor: Predictor, policy: Policy, prefix: int):
        super().__init__()
        L = len(vit.blocks)
        if not 1 <= prefix <= L:
            raise ValueError(f"prefix {prefix} must be in 1..{L}")
        self.prefix_depth = prefix
        self.tok = _Tokens1(vit)
        self.vit = vit
        self.prefix = nn.ModuleList(list(vit.blocks)[:prefix])
        self.gated = nn.ModuleList(list(vit.blocks)[prefix:])
        self.norm = vit.norm
        self.head = vit.head
        self.predictor = predictor
        self.policy = policy
        # action a chooses depth prefix + a
        self.register_buffer("depth_table", torch.arange(prefix, L + 1, dtype=torch.long))

    def controller(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefix output [B,T,D] -> (predictor output [B,L], chosen depth [B])."""
        n = self.norm(x[:, 0])
        probs = torch.softmax(self.head(n), dim=-1)
        pred = self.predictor(torch.cat([n, probs], dim=-1))
        act = torch.argmax(self.policy(policy_state(pred, confidence_stats(probs))), dim=1)
        return pred, self.depth_table[act]

    def reference(self, img: torch.Tensor):
        """Batched eager reference: every image runs exactly its chosen depth
        (layers past it leave the tokens unchanged)."""
        x = self.vit.tokens(img)
        for blk in self.prefix:
            x = blk(x)
        pred, depth = self.controller(x)
        for i, blk in enumerate(self.gated):
            run = (depth > i + self.prefix_depth)[:, None, None]
            x = torch.where(run, blk(x), x)
        return self.vit.exit(x), depth, pred


class StaticViT(nn.Module):
    """Full-depth model, batch 1, same tokenisation as the adaptive export."""

    def __init__(self, vit: ViT):
        super().__init__()
        self.tok = _Tokens1(vit)
        self.blocks = vit.blocks
        self.norm = vit.norm
        self.head = vit.head

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.tok(img)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x[:, 0]))


def _canonical(prefix: int):
    """Initializer names -> the backbone's own parameter names (blocks.N.*)."""
    def fn(name: str) -> str:
        m = re.match(r"^(prefix|gated)\.(\d+)\.(.*)$", name)
        if m:
            i = int(m.group(2)) + (prefix if m.group(1) == "gated" else 0)
            return f"blocks.{i}.{m.group(3)}"
        for head in ("vit.", "tok.embed."):
            if name.startswith(head):
                return name[len(head):] if head == "vit." else "embed." + name[len(head):]
        return name
    return fn


def paths_metadata(depth: int, prefix: int) -> tuple[str, str]:
    """(tac.paths, tac.path_values): path k lists the gate indices (0-based
    positions of the If nodes in the main graph) that run; path_values[k] is the
    policy output value that selects it."""
    paths = [list(range(d - prefix)) for d in range(prefix, depth + 1)]
    values = list(range(prefix, depth + 1))
    return json.dumps(paths, separators=(",", ":")), json.dumps(values, separators=(",", ":"))


def _weight_names(module: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def _set_meta(model: onnx.ModelProto, meta: dict[str, str], doc: str) -> None:
    del model.metadata_props[:]
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    model.doc_string = doc
    model.producer_name = "tac.train"
    model.graph.name = meta.get("tac.model", "model")


class _Embed(nn.Module):
    def __init__(self, a: AdaptiveViT):
        super().__init__()
        self.tok = a.tok

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.tok(img)


class _Controller(nn.Module):
    """(image, tokens after the prefix) -> (predictor output, depth)."""

    def __init__(self, a: AdaptiveViT):
        super().__init__()
        self.norm, self.head = a.norm, a.head
        self.predictor, self.policy = a.predictor, a.policy
        self.register_buffer("depth_table", a.depth_table)

    def forward(self, img: torch.Tensor, x: torch.Tensor):
        pred, depth = AdaptiveViT.controller(self, x)
        return pred, depth[0]


class _Block(nn.Module):
    def __init__(self, a: AdaptiveViT, i: int):
        super().__init__()
        # parameter names stay prefix.<i>.* / gated.<k>.* (-> blocks.<i>.*)
        if i < a.prefix_depth:
            self.prefix, self.blk = a.prefix, i
        else:
            self.gated, self.blk = a.gated, i - a.prefix_depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stack = self.prefix if hasattr(self, "prefix") else self.gated
        return stack[self.blk](x)


class _Readout(nn.Module):
    def __init__(self, a: AdaptiveViT):
        super().__init__()
        self.norm, self.head = a.norm, a.head

    def forward(self, x: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(x[:, 0]))


def export_adaptive(model: AdaptiveViT, meta: dict[str, str] | None = None) -> onnx.ModelProto:
    """Traced pieces stitched into the If-gated model (``stitch_adaptive``)."""
    model = model.eval()
    P, L = model.prefix_depth, len(model.vit.blocks)
    img = torch.zeros(1, 1, 28, 28)
    with torch.no_grad():
        h = model.tok(img)
        for blk in model.prefix:
            h = blk(h)
        _, depth = _Controller(model)(img, h)
    embed = trace_piece(_Embed(model), (img,), ["image"], ["h"])
    layers = [trace_piece(_Block(model, i), (h,), ["h"], ["h_out"]) for i in range(L)]
    ctrl = trace_piece(_Controller(model), (img, h), ["image", "h"], [PREDICTOR_OUTPUT, POLICY_OUTPUT])
    tail = trace_piece(_Readout(model), (h, depth), ["h", "depth"], ["logits"])
    md = {"tac.model": "fmnist_vit_adaptive"}
    md.update(meta or {})
    return stitch_adaptive(embed, layers, ctrl, tail, 0, P, "logits", md,
                           "Adaptive-depth ViT for Fashion-MNIST (tac adaptive ONNX "
                           "convention: If-gated layers, controller = predictor + policy).",
                           _weight_names(model), rename=_canonical(P))


def export_static(vit: ViT, meta: dict[str, str] | None = None) -> onnx.ModelProto:
    m = StaticViT(vit).eval()
    proto = trace_piece(m, (torch.zeros(1, 1, 28, 28),), ["image"], ["logits"])
    md = {"tac.model": "fmnist_vit_static"}
    md.update(meta or {})
    return finish_static(proto, md, "Full-depth ViT for Fashion-MNIST (static twin of "
                         "fmnist_vit_adaptive: same weights, every layer runs).",
                         _weight_names(m), rename=_canonical(0))


# --------------------------------------------------------------------------
# Generic adaptive export: stitch traced pieces into the If-gated convention
# (used by tac.adapt for any encoder, and checked against the scripted export
# of the scratch ViT above by the tests).
# --------------------------------------------------------------------------

def trace_piece(module: nn.Module, args: tuple, input_names: list[str],
                output_names: list[str]) -> onnx.ModelProto:
    """torch.onnx.export of one piece (tracing, batch 1, opset 17). Runs with
    gradients enabled: under no_grad, nn.MultiheadAttention takes a fused
    fast path that has no ONNX export (torchvision's ViT)."""
    f = io.BytesIO()
    with torch.enable_grad():
        torch.onnx.export(module, args, f, opset_version=OPSET, input_names=input_names,
                          output_names=output_names, do_constant_folding=True)
    return onnx.load_from_string(f.getvalue())


def _rename_graph(g: onnx.GraphProto, fn) -> None:
    """Renames every value of g and its subgraphs through fn (in place)."""
    for t in g.initializer:
        t.name = fn(t.name)
    for v in list(g.input) + list(g.output) + list(g.value_info):
        v.name = fn(v.name)
    for n in g.node:
        n.input[:] = [fn(x) if x else x for x in n.input]
        n.output[:] = [fn(x) if x else x for x in n.output]
        if n.name:
            n.name = fn(n.name)
        for sg in (a.g for a in n.attribute if a.type == onnx.AttributeProto.GRAPH):
            _rename_graph(sg, fn)


def _piece(proto: onnx.ModelProto, tag: str, interface: dict[str, str]) -> onnx.GraphProto:
    """The piece's graph with its interface values renamed as given, weights
    keeping their parameter names (``em.model.`` and ``em.`` dropped) and
    every other value prefixed with tag (no collisions between pieces)."""
    g = onnx.GraphProto()
    g.CopyFrom(proto.graph)
    inits = {t.name for t in g.initializer}

    def fn(x: str) -> str:
        if x in interface:
            return interface[x]
        if x in inits:
            return re.sub(r"^(em\.model\.|em\.)", "", x)
        return f"{tag}/{x}"
    _rename_graph(g, fn)
    return g


def stitch_adaptive(embed: onnx.ModelProto, layers: list[onnx.ModelProto],
                    controller: onnx.ModelProto, tail: onnx.ModelProto, n_ctx: int,
                    prefix: int, output_name: str, meta: dict[str, str], doc: str,
                    weights: dict[str, np.ndarray] | None = None, rename=None) -> onnx.ModelProto:
    """One adaptive ONNX model from traced pieces.

    embed: inputs -> (h, ctx0..); layers[i]: (h, ctx0..) -> h_out for every
    layer; controller: (inputs.., h) -> (complexity, depth); tail: (inputs..,
    h, depth) -> output. Layers 0..prefix-1 run inline, then the controller;
    layer i >= prefix becomes ``If(depth > i)`` whose then_branch is the
    layer (weights from the outer scope) and whose else_branch is an Identity
    of its input. Every layer comes from its own trace, so the always-run
    layers have exactly the gated layers' structure."""
    ctx = [f"ctx{j}" for j in range(n_ctx)]
    keep = lambda m: {i.name: i.name for i in m.graph.input}  # noqa: E731
    graph = onnx.helper.make_graph([], meta.get("tac.model", "adaptive"), [], [])
    inputs = {}
    inits: dict[bytes, str] = {}
    taken: set[str] = set()

    def add_inits(g: onnx.GraphProto) -> None:
        """Moves g's weights to the main graph: equal tensors become one, and a
        name already taken by a different tensor gets a suffix."""
        local = {}
        for t in g.initializer:
            a = numpy_helper.to_array(t)
            key = str(a.dtype).encode() + str(a.shape).encode() + a.tobytes()
            if key in inits:
                local[t.name] = inits[key]
                continue
            new, k = t.name, 1
            while new in taken:
                new, k = f"{t.name}__{k}", k + 1
            local[t.name] = new
            t.name = new
            taken.add(new)
            inits[key] = new
            graph.initializer.append(t)
        del g.initializer[:]
        _rename_graph(g, lambda x: local.get(x, x))

    def add(proto: onnx.ModelProto, tag: str, interface: dict[str, str]) -> onnx.GraphProto:
        g = _piece(proto, tag, interface)
        add_inits(g)
        for i in proto.graph.input:  # model inputs (not the pieces' internal interface)
            if interface.get(i.name) == i.name and i.name not in ("h", POLICY_OUTPUT, *ctx):
                inputs.setdefault(i.name, i)
        return g

    eg = add(embed, "embed", {**keep(embed), "h": "hidden0", **{n: n for n in ctx}})
    graph.node.extend(eg.node)
    hidden_type = next(o for o in embed.graph.output if o.name == "h").type
    for i, lp in enumerate(layers):
        src, dst = f"hidden{i}", f"hidden{i + 1}"
        out = lp.graph.output[0].name
        if i < prefix:  # always runs
            lg = add(lp, f"layer{i}", {"h": src, **{n: n for n in ctx}, out: dst})
            graph.node.extend(lg.node)
            if i == prefix - 1:
                cg = add(controller, "controller", {
                    **{k: k for k in keep(controller) if k != "h"}, "h": dst,
                    PREDICTOR_OUTPUT: PREDICTOR_OUTPUT, POLICY_OUTPUT: POLICY_OUTPUT})
                graph.node.extend(cg.node)
            continue
        k = i - prefix
        lg = add(lp, f"layer{i}", {"h": src, **{n: n for n in ctx}, out: f"{dst}_run"})
        then = onnx.helper.make_graph(list(lg.node), f"layer{i}", [],
                                      [onnx.helper.make_value_info(f"{dst}_run", hidden_type)])
        els = onnx.helper.make_graph(
            [onnx.helper.make_node("Identity", [src], [f"{dst}_skip"])], f"skip{i}", [],
            [onnx.helper.make_value_info(f"{dst}_skip", hidden_type)])
        c = onnx.helper.make_node("Constant", [], [f"gate{k}_depth"],
                                  value=numpy_helper.from_array(np.array(i, np.int64)))
        cond = onnx.helper.make_node("Greater", [POLICY_OUTPUT, f"gate{k}_depth"], [f"gate{k}_cond"])
        graph.node.extend([c, cond, onnx.helper.make_node(
            "If", [f"gate{k}_cond"], [dst], name=f"gate{k}_layer{i}",
            then_branch=then, else_branch=els)])
    L = len(layers)
    tg = add(tail, "readout", {**{k: k for k in keep(tail) if k not in ("h", "depth")},
                               "h": f"hidden{L}", "depth": POLICY_OUTPUT,
                               tail.graph.output[0].name: output_name})
    graph.node.extend(tg.node)
    graph.input.extend(inputs.values())
    outs = {o.name: o for o in cg.output}
    graph.output.extend([tg.output[0], outs[POLICY_OUTPUT], outs[PREDICTOR_OUTPUT]])
    model = onnx.helper.make_model(graph, opset_imports=list(embed.opset_import))
    model.ir_version = embed.ir_version
    model = cleanup(model, weights, gate_names=[f"gate{k}_layer{prefix + k}"
                                                for k in range(L - prefix)], rename=rename,
                    fuse_matmuls=True)
    paths, values = paths_metadata(L, prefix)
    md = {"tac.predictor_output": PREDICTOR_OUTPUT, "tac.policy_output": POLICY_OUTPUT,
          "tac.paths": paths, "tac.path_values": values}
    md.update(meta)
    _set_meta(model, md, doc)
    onnx.checker.check_model(model, full_check=True)
    return model


def finish_static(proto: onnx.ModelProto, meta: dict[str, str], doc: str,
                  weights: dict[str, np.ndarray] | None = None, rename=None) -> onnx.ModelProto:
    proto = cleanup(proto, weights, rename=rename, fuse_matmuls=True)
    _set_meta(proto, meta, doc)
    onnx.checker.check_model(proto, full_check=True)
    return proto
