#!/usr/bin/env python3
"""Exports the small PyTorch models the importer tests read.

Writes, next to this script (or to --out):
  vit_tiny.onnx          a ViT (patch 7 on 1x1x28x28, width 32, depth 2)
  bert_tiny.onnx         a BERT-style encoder (seq 16, vocab 64, width 32,
                         depth 2, attention mask, pooler)
  vit_tiny_gated.onnx    the ViT with each layer behind an ONNX If whose
                         condition is `depth > i`, a controller computing
                         depth, and tac's metadata keys

With --gated-depth N it writes only vitN_gated.onnx (every prefix path in
tac.paths) and vitN_gated.flops.json, each path's FLOPs counted from the
architecture (vit_flops), for checking tac's cost model.

With --references it writes no model: it re-creates the three models from
the same seeds in the same order (exporting them to a temporary folder, so
the random stream is consumed exactly as by the export), checks that the
re-created ONNX files are byte-identical to the committed ones, runs PyTorch
on a few seeded inputs per model and writes the end-to-end tests' reference
data (test/E2E/check_models.py) to ref/<model>/:
  input_<k>_<name>.npy          reference input k
  output_<k>_<name>.npy         PyTorch's output (eager, the exported modules)
  output_<k>_path<p>_<name>.npy gated ViT only: PyTorch's outputs with the
                                layers forced to tac.paths[p]
                                (GatedViT.forward_layers)
  refs.json                     names, shapes, paths and the policy's path
                                per input
Every reference is checked against ONNX Runtime on the committed .onnx
(max |difference| printed; more than 1e-5 fails); for the gated model ORT
runs the policy's own path, which must be the path PyTorch chose, and each
forced path is also checked against ORT on a copy of the graph whose If
conditions are the constants of that path.
Needs onnxruntime: run it with the project's .venv python.

PyTorch 1.13 (Debian's python3-torch), opset 17, fixed seeds, static
shapes. Regenerate with: /usr/bin/python3 test/Import/Models/export_models.py
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
from typing import List

import numpy as np
import onnx
import torch
from torch import nn

# The models' PyTorch layers are tac's one ViT definition (tac.train.model);
# from the source tree when this Python does not have the tac package.
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "..", "..", "..", "python"))
from tac.train.model import SplitBlock, ViT as _ViT, ViTConfig  # noqa: E402

torch.manual_seed(0)


def vit_config(dim=32, depth=2, heads=2, patch=7, classes=10):
    """The importer tests' ViT: Conv patches of a 1x1x28x28 image, separate
    q/k/v Linears, MLP 2*dim, PyTorch's default init, the final LayerNorm
    over every token."""
    return ViTConfig(image=28, patch=patch, dim=dim, depth=depth, heads=heads,
                     mlp=2 * dim, classes=classes, patchify="conv", normalize=False,
                     block="split", norm_all_tokens=True, init="torch")


class ViT(_ViT):
    def __init__(self, dim=32, depth=2, heads=2, patch=7, classes=10):
        super().__init__(vit_config(dim, depth, heads, patch, classes))


class GatedViT(ViT):
    """Each block runs only when the policy's depth exceeds its index.
    Scripted, so the `if` exports as ONNX If (a traced `if` folds away).
    The policy maps the predictor's score in (0, 1) to a depth in
    [1, depth]."""

    def __init__(self, dim: int = 32, depth: int = 2):
        super().__init__(dim=dim, depth=depth)
        self.predictor = nn.Linear(dim, 1)
        self.max_depth = depth

    def forward(self, image: torch.Tensor):
        x = self.tokens(image)
        score = torch.sigmoid(self.predictor(x.mean(dim=1)))  # [1, 1]
        if self.max_depth == 2:
            depth = 1 + (score > 0.5).to(torch.int64).reshape(())  # 1 or 2
        else:
            levels = float(self.max_depth) - 0.001
            depth = 1 + (score * levels).to(torch.int64).reshape(())
        i = 0
        for block in self.blocks:
            if bool(depth > i):
                x = block(x)
            i += 1
        return self.exit(x), score, depth

    def forward_layers(self, image: torch.Tensor, layers: List[int]):
        """Python only (forward never calls it, so scripting leaves it out
        and the exported graph is unchanged): the model's outputs with the
        blocks forced to run exactly `layers` (a path of tac.paths), in
        order. score and depth are still the predictor's and the policy's
        own values, as tac's per-path variants return them
        (tac-specialize-paths keeps @f's signature and only fixes the
        gates); only the logits follow the forced path."""
        _, score, depth = self.forward(image)
        x = self.tokens(image)
        for i in layers:
            x = self.blocks[i](x)
        return self.exit(x), score, depth


class Bert(nn.Module):
    def __init__(self, vocab=64, seq=16, dim=32, depth=2, heads=2):
        super().__init__()
        self.words = nn.Embedding(vocab, dim)
        self.positions = nn.Embedding(seq, dim)
        self.norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(SplitBlock(dim, heads, 2 * dim, post_norm=True)
                                    for _ in range(depth))
        self.pool = nn.Linear(dim, dim)

    def forward(self, input_ids, attention_mask):
        n = input_ids.shape[1]
        positions = torch.arange(n).unsqueeze(0)
        x = self.norm(self.words(input_ids) + self.positions(positions))
        bias = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        for block in self.blocks:
            x = block(x, bias)
        return x, torch.tanh(self.pool(x[:, 0]))


def export(model, args, path, inputs, outputs, metadata=None):
    model.eval()
    torch.manual_seed(0)
    torch.onnx.export(model, args, path, opset_version=17,
                      input_names=inputs, output_names=outputs,
                      do_constant_folding=True)
    m = onnx.load(path)
    for key, value in (metadata or {}).items():
        entry = m.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(m)
    onnx.save(m, path)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"{os.path.basename(path)}: {len(m.graph.node)} nodes, ops {ops}")


def vit_flops(dim, depth, heads=2, patch=7, classes=10, image=28):
    """FLOPs of the gated ViT per path (depth 1..depth), counted from the
    architecture with tac's conventions (docs/passes.md): a multiply-add is
    2 FLOPs, every other arithmetic op of the imported IR 1 FLOP per element:
    LayerNormalization 7 per element + 5 per row (sum, centre, square-sum,
    normalise·scale+bias; mean, variance, +eps, sqrt, reciprocal), Softmax 5
    per element (max, sub, exp, sum, div), GELU as exported 5 per element
    (div, erf, add, mul, mul), a bias add 1 per element. Independent of the
    compiler: it never reads the ONNX graph."""
    n = (image // patch) ** 2 + 1  # tokens
    hd, m = dim // heads, 2 * dim

    def layernorm(rows, width):
        return 7 * rows * width + 5 * rows

    def linear(rows, k, out):
        return 2 * rows * k * out + rows * out

    block = (layernorm(n, dim)
             + 4 * linear(n, dim, dim)                 # q, k, v, out
             + 2 * heads * n * n * hd + heads * n * n  # QK^T, / sqrt(hd)
             + 5 * heads * n * n                       # softmax
             + 2 * heads * n * n * hd                  # attention · V
             + n * dim                                 # residual
             + layernorm(n, dim)
             + linear(n, dim, m) + 5 * n * m           # fc1, GELU
             + linear(n, m, dim) + n * dim)            # fc2, residual
    patches = (image // patch) ** 2
    stem = (2 * dim * patches * patch * patch + dim * patches  # conv + bias
            + n * dim)                                         # + positions
    controller = (n * dim + dim            # mean over tokens (sum, divide)
                  + 2 * dim + 1            # Linear(dim, 1)
                  + 4                      # sigmoid
                  + 3                      # score * levels, to int, + 1
                  + depth)                 # one `depth > i` per gate
    head = layernorm(n, dim) + 2 * dim * classes + classes
    return {k: stem + controller + head + k * block for k in range(1, depth + 1)}


def export_deep(out, depth, dim=32):
    """A gated ViT of `depth` layers whose metadata lists every prefix path,
    and a JSON of each path's FLOPs counted independently."""
    path = os.path.join(out, f"vit{depth}_gated.onnx")
    paths = [list(range(k)) for k in range(1, depth + 1)]
    export(torch.jit.script(GatedViT(dim=dim, depth=depth).eval()),
           (torch.randn(1, 1, 28, 28),), path, ["image"],
           ["logits", "score", "depth"],
           {"tac.predictor_output": "score", "tac.policy_output": "depth",
            "tac.paths": json.dumps(paths)})
    flops = vit_flops(dim, depth)
    with open(path.replace(".onnx", ".flops.json"), "w") as f:
        json.dump({"paths": paths,
                   "flops": [flops[len(p)] for p in paths]}, f, indent=1)


GATED_PATHS = [[0], [0, 1]]


def export_all(out):
    """Creates and exports the three committed models, in the order and
    with the random stream of the committed export. Returns the eager
    modules (the gated ViT unscripted; its scripted copy shares the
    weights) by model name."""
    torch.manual_seed(0)  # what importing this file did; nothing drew since
    image = torch.randn(1, 1, 28, 28)
    vit = ViT()
    export(vit, (image,), os.path.join(out, "vit_tiny.onnx"),
           ["image"], ["logits"])
    gated = GatedViT().eval()
    export(torch.jit.script(gated), (image,), os.path.join(out, "vit_tiny_gated.onnx"),
           ["image"], ["logits", "score", "depth"],
           {"tac.predictor_output": "score", "tac.policy_output": "depth",
            "tac.paths": json.dumps(GATED_PATHS)})
    ids = torch.randint(0, 64, (1, 16))
    mask = torch.ones(1, 16, dtype=torch.int64)
    bert = Bert()
    export(bert, (ids, mask), os.path.join(out, "bert_tiny.onnx"),
           ["input_ids", "attention_mask"], ["hidden", "pooled"])
    return {"vit_tiny": vit.eval(), "vit_tiny_gated": gated, "bert_tiny": bert.eval()}


# ---- reference data for the end-to-end tests (--references) --------------

REF_COUNT = 3        # inputs per model
ORT_TOLERANCE = 1e-5  # PyTorch vs ONNX Runtime, max |difference|
MARGIN = 1e-3        # gated: |score - 0.5| at least this, so no backend
                     # can round the policy's decision the other way


def image_candidates(seed):
    """Seeded 1x1x28x28 images with a spread of magnitudes and offsets
    (so the gated ViT's policy picks different depths)."""
    rng = np.random.RandomState(seed)
    while True:
        scale = 10 ** rng.uniform(-2, 1.5)
        offset = rng.uniform(-3, 3)
        yield (rng.randn(1, 1, 28, 28) * scale + offset).astype(np.float32)


def reference_inputs(name, gated=None):
    """REF_COUNT input dicts for a model. For the gated ViT, inputs that
    between them take every path of GATED_PATHS, each with a clear margin
    from the policy's threshold."""
    if name == "vit_tiny":
        gen = image_candidates(1)
        return [{"image": next(gen)} for _ in range(REF_COUNT)]
    if name == "bert_tiny":
        rng = np.random.RandomState(3)
        result = []
        for k in range(REF_COUNT):
            ids = rng.randint(0, 64, size=(1, 16)).astype(np.int64)
            mask = np.ones((1, 16), dtype=np.int64)
            mask[0, 16 - 5 * k:] = 0  # 0, 5 and 10 padding positions
            result.append({"input_ids": ids, "attention_mask": mask})
        return result
    assert name == "vit_tiny_gated"
    chosen, seen = [], set()
    gen = image_candidates(2)
    for _ in range(1000):
        image = next(gen)
        with torch.no_grad():
            _, score, depth = gated(torch.from_numpy(image))
        if abs(float(score) - 0.5) < MARGIN:
            continue
        path = int(depth) - 1
        # first one input per path, then fill up in order
        if path not in seen or len(seen) == len(GATED_PATHS):
            seen.add(path)
            chosen.append({"image": image})
        if len(chosen) == REF_COUNT:
            return chosen
    raise RuntimeError("no inputs found that take every path")


def ort_session(path):
    try:
        import onnxruntime as ort
    except ImportError:
        sys.exit("--references needs onnxruntime: run it with the project's "
                 ".venv python (/work/main/.venv/bin/python)")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def forced_path_session(onnx_path, layers):
    """ORT on the model with the condition of the i-th (top-level) If, i.e.
    layer i, replaced by the constant `i in layers`: ONNX semantics of a
    forced path, to check forward_layers against."""
    from onnx import numpy_helper
    model = onnx.load(onnx_path)
    gates = [n for n in model.graph.node if n.op_type == "If"]
    for i, node in enumerate(gates):
        name = f"tac_forced_condition_{i}"
        model.graph.initializer.append(numpy_helper.from_array(np.array(i in layers), name))
        node.input[0] = name
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def max_abs_diff(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def write_references(ref_root, models_dir):
    """Re-creates the models, verifies them against the committed .onnx
    files and writes ref/<model>/. Returns the number of problems."""
    problems = 0
    tmp = tempfile.mkdtemp(prefix="tac-export-")
    try:
        modules = export_all(tmp)
        for name in modules:
            fresh = open(os.path.join(tmp, name + ".onnx"), "rb").read()
            committed = open(os.path.join(models_dir, name + ".onnx"), "rb").read()
            same = fresh == committed
            print(f"{name}.onnx: re-created export is "
                  f"{'byte-identical to' if same else 'DIFFERENT from'} the committed file")
            # A different file is tolerated only if ORT agrees below.
    finally:
        shutil.rmtree(tmp)

    for name, module in modules.items():
        onnx_path = os.path.join(models_dir, name + ".onnx")
        sess = ort_session(onnx_path)
        in_names = [i.name for i in sess.get_inputs()]
        out_names = [o.name for o in sess.get_outputs()]
        out_dir = os.path.join(ref_root, name)
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.makedirs(out_dir)
        gated = name == "vit_tiny_gated"
        forced_sessions = ([forced_path_session(onnx_path, layers) for layers in GATED_PATHS]
                           if gated else [])
        inputs = reference_inputs(name, module if gated else None)
        info = {"model": name + ".onnx", "count": len(inputs),
                "inputs": [{"name": n, "shape": list(inputs[0][n].shape),
                            "dtype": str(inputs[0][n].dtype)} for n in in_names],
                "outputs": [], "paths": GATED_PATHS if gated else None,
                "policy_path": [] if gated else None,
                "max_abs_diff_vs_ort": 0.0}
        worst = 0.0
        for k, feed in enumerate(inputs):
            for n in in_names:
                np.save(os.path.join(out_dir, f"input_{k}_{n}.npy"), feed[n])
            args = [torch.from_numpy(feed[n]) for n in in_names]
            with torch.no_grad():
                result = module(*args)
            result = result if isinstance(result, tuple) else (result,)
            torch_out = [r.numpy() for r in result]
            ort_out = sess.run(None, feed)
            worst_k = 0.0
            for n, t, o in zip(out_names, torch_out, ort_out):
                d = max_abs_diff(t, o)
                exact = not np.issubdtype(t.dtype, np.floating)
                bad = (d != 0) if exact else not d <= ORT_TOLERANCE
                if bad or t.dtype != o.dtype:
                    print(f"  FAIL {name} input {k} {n}: PyTorch vs ORT max |diff| {d:.3g} "
                          f"(dtypes {t.dtype} / {o.dtype})")
                    problems += 1
                worst, worst_k = max(worst, d), max(worst_k, d)
                np.save(os.path.join(out_dir, f"output_{k}_{n}.npy"), t)
            if k == 0:
                info["outputs"] = [{"name": n, "shape": list(t.shape), "dtype": str(t.dtype)}
                                   for n, t in zip(out_names, torch_out)]
            line = f"{name} input {k}: PyTorch vs ORT max |diff| {worst_k:.3g}"
            if gated:
                depth = int(torch_out[out_names.index("depth")])
                taken = [i for i in range(len(module.blocks)) if depth > i]
                policy = GATED_PATHS.index(taken)
                info["policy_path"].append(policy)
                line += f", policy path {policy} (score {float(torch_out[1]):.4f})"
                for p, layers in enumerate(GATED_PATHS):
                    with torch.no_grad():
                        forced = [r.numpy() for r in module.forward_layers(args[0], layers)]
                    for n, t in zip(out_names, forced):
                        np.save(os.path.join(out_dir, f"output_{k}_path{p}_{n}.npy"), t)
                    # Against ORT on the graph with the gates fixed to this
                    # path; the policy's own path also against plain ORT.
                    checks = [("forced ORT", forced_sessions[p].run(None, feed))]
                    if p == policy:
                        checks.append(("ORT", ort_out))
                    for label, expected in checks:
                        d = max(max_abs_diff(f, o) for f, o in zip(forced, expected))
                        worst = max(worst, d)
                        line += f", path {p} vs {label} {d:.3g}"
                        if not d <= ORT_TOLERANCE:
                            print(f"  FAIL {name} input {k}: forced path {p} vs {label} {d:.3g}")
                            problems += 1
                if len(set(info["policy_path"])) < len(GATED_PATHS) and k == len(inputs) - 1:
                    print(f"  FAIL {name}: the inputs do not cover every path")
                    problems += 1
            print("  " + line)
        info["max_abs_diff_vs_ort"] = worst
        with open(os.path.join(out_dir, "refs.json"), "w") as f:
            json.dump(info, f, indent=1)
            f.write("\n")
        print(f"{name}: {len(inputs)} references, max |PyTorch - ORT| {worst:.3g}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=here)
    parser.add_argument("--gated-depth", type=int,
                        help="only export a gated ViT of this depth (with "
                             "every prefix path) and its per-path FLOPs")
    parser.add_argument("--width", type=int, default=32,
                        help="with --gated-depth: the ViT's width")
    parser.add_argument("--references", action="store_true",
                        help="write the end-to-end reference data to "
                             "--out/ref/<model>/ (models read from next to "
                             "this script) instead of exporting")
    args = parser.parse_args()
    if args.gated_depth:
        export_deep(args.out, args.gated_depth, args.width)
        return 0
    if args.references:
        problems = write_references(os.path.join(args.out, "ref"), here)
        print("references OK" if not problems else f"references: {problems} problem(s)")
        return 1 if problems else 0
    export_all(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
