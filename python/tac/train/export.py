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
import torch
import torch.nn as nn

from .controller import Policy, Predictor, policy_state
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
    """Backbone + controller.  ``forward`` is the batch-1 scripted export path;
    ``reference`` is the batched eager PyTorch reference used by the checks."""

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
        act = torch.argmax(self.policy(policy_state(pred, probs)), dim=1)
        return pred, self.depth_table[act]

    def forward(self, img: torch.Tensor):
        x = self.tok(img)
        for blk in self.prefix:
            x = blk(x)
        pred, depth_b = self.controller(x)
        depth = depth_b[0]
        for i, blk in enumerate(self.gated):
            if bool(depth > i + self.prefix_depth):
                x = blk(x)
        return self.head(self.norm(x[:, 0])), depth, pred

    @torch.jit.ignore
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


def _export(module: nn.Module, out_names: list[str]) -> onnx.ModelProto:
    f = io.BytesIO()
    torch.onnx.export(module, (torch.zeros(1, 1, 28, 28),), f, opset_version=OPSET,
                      input_names=["image"], output_names=out_names,
                      do_constant_folding=True)
    return onnx.load_from_string(f.getvalue())


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


def export_adaptive(model: AdaptiveViT, meta: dict[str, str] | None = None) -> onnx.ModelProto:
    model = model.eval()
    with torch.no_grad():
        scripted = torch.jit.script(model)
        proto = _export(scripted, ["logits", POLICY_OUTPUT, PREDICTOR_OUTPUT])
    L = len(model.vit.blocks)
    proto = cleanup(proto, _weight_names(model), gate_names=[
        f"gate{i}_layer{i + model.prefix_depth}" for i in range(len(model.gated))],
        rename=_canonical(model.prefix_depth))
    paths, values = paths_metadata(L, model.prefix_depth)
    md = {"tac.model": "fmnist_vit_adaptive",
          "tac.predictor_output": PREDICTOR_OUTPUT,
          "tac.policy_output": POLICY_OUTPUT,
          "tac.paths": paths,
          "tac.path_values": values}
    md.update(meta or {})
    _set_meta(proto, md, "Adaptive-depth ViT for Fashion-MNIST (tac adaptive ONNX "
              "convention: If-gated layers, controller = predictor + policy).")
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_static(vit: ViT, meta: dict[str, str] | None = None) -> onnx.ModelProto:
    m = StaticViT(vit).eval()
    with torch.no_grad():
        proto = _export(m, ["logits"])
    proto = cleanup(proto, _weight_names(m), rename=_canonical(0))
    md = {"tac.model": "fmnist_vit_static"}
    md.update(meta or {})
    _set_meta(proto, md, "Full-depth ViT for Fashion-MNIST (static twin of "
              "fmnist_vit_adaptive: same weights, every layer runs).")
    onnx.checker.check_model(proto, full_check=True)
    return proto
