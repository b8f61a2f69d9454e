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

PyTorch 1.13 (Debian's python3-torch), opset 17, fixed seeds, static
shapes. Regenerate with: /usr/bin/python3 test/Import/Models/export_models.py
"""
import argparse
import json
import os
from typing import Optional

import onnx
import torch
from torch import nn

torch.manual_seed(0)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, bias: Optional[torch.Tensor] = None):
        b, n, d = x.shape[0], x.shape[1], x.shape[2]
        h = self.heads
        q = self.q(x).reshape(b, n, h, d // h).transpose(1, 2)
        k = self.k(x).reshape(b, n, h, d // h).transpose(1, 2)
        v = self.v(x).reshape(b, n, h, d // h).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / float(d // h) ** 0.5
        if bias is not None:
            scores = scores + bias
        attn = scores.softmax(dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(b, n, d)
        return self.out(y)


class Block(nn.Module):
    def __init__(self, dim, heads, post_norm=False):
        super().__init__()
        self.post_norm = post_norm
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(),
                                 nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor, bias: Optional[torch.Tensor] = None):
        if self.post_norm:  # BERT
            x = self.norm1(x + self.attn(x, bias))
            return self.norm2(x + self.mlp(x))
        x = x + self.attn(self.norm1(x), bias)  # ViT (pre-norm)
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, dim=32, depth=2, heads=2, patch=7, classes=10):
        super().__init__()
        self.embed = nn.Conv2d(1, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, (28 // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def tokens(self, image):
        x = self.embed(image).flatten(2).transpose(1, 2)
        cls = self.cls.expand(x.shape[0], -1, -1)
        return torch.cat([cls, x], dim=1) + self.pos

    def classify(self, x):
        return self.head(self.norm(x)[:, 0])

    def forward(self, image):
        x = self.tokens(image)
        for block in self.blocks:
            x = block(x)
        return self.classify(x)


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
        return self.classify(x), score, depth


class Bert(nn.Module):
    def __init__(self, vocab=64, seq=16, dim=32, depth=2, heads=2):
        super().__init__()
        self.words = nn.Embedding(vocab, dim)
        self.positions = nn.Embedding(seq, dim)
        self.norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(Block(dim, heads, post_norm=True)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--gated-depth", type=int,
                        help="only export a gated ViT of this depth (with "
                             "every prefix path) and its per-path FLOPs")
    parser.add_argument("--width", type=int, default=32,
                        help="with --gated-depth: the ViT's width")
    args = parser.parse_args()
    if args.gated_depth:
        export_deep(args.out, args.gated_depth, args.width)
        return
    image = torch.randn(1, 1, 28, 28)
    export(ViT(), (image,), os.path.join(args.out, "vit_tiny.onnx"),
           ["image"], ["logits"])
    export(torch.jit.script(GatedViT().eval()), (image,), os.path.join(args.out, "vit_tiny_gated.onnx"),
           ["image"], ["logits", "score", "depth"],
           {"tac.predictor_output": "score", "tac.policy_output": "depth",
            "tac.paths": "[[0], [0, 1]]"})
    ids = torch.randint(0, 64, (1, 16))
    mask = torch.ones(1, 16, dtype=torch.int64)
    export(Bert(), (ids, mask), os.path.join(args.out, "bert_tiny.onnx"),
           ["input_ids", "attention_mask"], ["hidden", "pooled"])


if __name__ == "__main__":
    main()
