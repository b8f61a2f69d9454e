"""Analytic FLOP counts (the convention shared with tac's cost model).

* A multiply-add is 2 FLOPs: a matmul [M,K]x[K,N] costs 2*M*K*N.
* Elementwise add / sub / mul / div (bias, residual, scaling, the input
  normalisation, positional embedding): 1 FLOP per output element.
* LayerNorm: 8 FLOPs per element (mean, subtract, square, mean, divide by
  sqrt(var+eps) counted per element, scale, shift, plus one for the rsqrt
  amortised) -- a constant per element.
* Softmax: 5 FLOPs per element (max, subtract, exp, sum, divide).
* GELU (erf form, as exported): 8 FLOPs per element (div, erf counted as 4,
  add, two muls).
* Sigmoid: 4 FLOPs per element; ReLU, max, argmax: 1 per element; the
  entropy of a softmax: 5 per element (add eps, log, mul, sum, negate).
* Reshape / transpose / concat / gather / compare / If: 0 FLOPs.

The adaptive model's cost is the cost of what its graph runs for that input:
patch embedding, the chosen number of layers, the controller (prefix exit
readout + predictor + policy), and the final readout.

All counts are per image (batch 1).
"""
from __future__ import annotations

from .model import ViTConfig

LN = 8
SOFTMAX = 5
GELU = 8


def linear(m: int, k: int, n: int, bias: bool = True) -> int:
    return 2 * m * k * n + (m * n if bias else 0)


def embed_flops(c: ViTConfig) -> int:
    pixels = c.image * c.image
    n = c.grid * c.grid
    return (2 * pixels                                  # (x - mean) / std
            + linear(n, c.patch * c.patch, c.dim)       # patch embedding
            + n * c.dim)                                # + positional embedding
    # (the class token's positional embedding is folded into it at export)


def layer_flops(c: ViTConfig) -> int:
    t, d, h, m = c.tokens, c.dim, c.heads, c.mlp
    hd = d // h
    f = LN * t * d                                      # ln1
    f += linear(t, d, 3 * d)                            # qkv
    f += 2 * h * t * t * hd + h * t * t                 # q k^T, * scale
    f += SOFTMAX * h * t * t
    f += 2 * h * t * t * hd                             # att v
    f += linear(t, d, d) + t * d                        # proj + residual
    f += LN * t * d                                     # ln2
    f += linear(t, d, m) + GELU * t * m + linear(t, m, d) + t * d  # mlp + residual
    return f


def matmul_layer_flops(c: ViTConfig) -> int:
    """Matmul-only part of one layer (for reporting the share of matmuls)."""
    t, d, h, m = c.tokens, c.dim, c.heads, c.mlp
    return 2 * t * d * 3 * d + 4 * h * t * t * (d // h) + 2 * t * d * d + 4 * t * d * m


def exit_flops(c: ViTConfig) -> int:
    """Final LayerNorm + head on the class token."""
    return LN * c.dim + linear(1, c.dim, c.classes)


def depth_flops(c: ViTConfig, d: int) -> int:
    """The static depth-d model: embed, d layers, one exit."""
    return embed_flops(c) + d * layer_flops(c) + exit_flops(c)


def mlp_flops(sizes: list[int]) -> int:
    """A stack of Linear layers with a cheap activation between (1 FLOP/elem)."""
    f = 0
    for i in range(len(sizes) - 1):
        f += linear(1, sizes[i], sizes[i + 1])
        if i < len(sizes) - 2:
            f += sizes[i + 1]
    return f


def controller_flops(c: ViTConfig, pred_hidden: int, pol_hidden: int,
                     actions: int) -> int:
    """Controller on the prefix output: exit readout of the class token,
    softmax, confidence + entropy, predictor MLP + sigmoid, policy MLP, argmax."""
    f = exit_flops(c) + SOFTMAX * c.classes
    feat = c.dim + c.classes
    f += mlp_flops([feat, pred_hidden, c.depth]) + 4 * c.depth       # predictor
    f += c.classes + 5 * c.classes                                     # max, entropy
    f += mlp_flops([c.depth + 2, pol_hidden, actions]) + actions       # policy + argmax
    return f


def adaptive_flops(c: ViTConfig, d: int, ctrl: int) -> int:
    """Adaptive model that ran d layers (prefix included), with controller cost ctrl."""
    return depth_flops(c, d) + ctrl


def early_exit_flops(c: ViTConfig, d: int) -> int:
    """Early exit after d layers: a readout (+ softmax for the confidence) after
    each of the d layers; the last readout is the answer."""
    return embed_flops(c) + d * (layer_flops(c) + exit_flops(c) + SOFTMAX * c.classes
                                 + c.classes)


# --------------------------------------------------------------------------
# FLOPs of an exported ONNX graph (any model), by the same convention
# --------------------------------------------------------------------------

_PER_ELEMENT = {"LayerNormalization": LN, "Softmax": SOFTMAX, "Erf": 4, "Sigmoid": 4,
                "Tanh": 4, "Exp": 1, "Log": 1, "Sqrt": 1, "Pow": 1, "Add": 1, "Sub": 1,
                "Mul": 1, "Div": 1, "Relu": 1, "ReduceSum": 1, "ReduceMean": 1,
                "ReduceMax": 1, "ArgMax": 1, "Neg": 1, "Reciprocal": 1, "Where": 0}


def onnx_flops(model) -> int:
    """FLOPs of one run of a static-shape ONNX graph (main graph only; If
    branches are not counted): matmuls 2*M*K*N, Conv 2 per multiply-add, the
    per-element costs above on the output (reductions: on the input), data
    movement 0. Used for relative path costs before tac compiles a model; the
    reported numbers come from tac's own cost model."""
    import numpy as np
    import onnx

    inf = onnx.shape_inference.infer_shapes(model)
    shapes = {}
    for v in list(inf.graph.value_info) + list(inf.graph.input) + list(inf.graph.output):
        # a symbolic dimension (torch leaves some batch dimensions symbolic) is 1:
        # these graphs run one item
        shapes[v.name] = [d.dim_value if d.dim_value > 0 else 1 for d in v.type.tensor_type.shape.dim]
    for t in inf.graph.initializer:
        shapes[t.name] = list(t.dims)
    total = 0
    for n in inf.graph.node:
        out = shapes.get(n.output[0]) if n.output else None
        if out is None:
            continue
        size = int(np.prod(out)) if out else 1
        if n.op_type in ("MatMul", "Gemm"):
            a = shapes.get(n.input[0])
            if a:
                k = a[-1] if not (n.op_type == "Gemm" and any(
                    x.name == "transA" and x.i for x in n.attribute)) else a[0]
                total += 2 * size * k + (size if n.op_type == "Gemm" and len(n.input) > 2 else 0)
        elif n.op_type == "Conv":
            w = shapes.get(n.input[1])
            if w:
                total += 2 * size * int(np.prod(w[1:])) + (size if len(n.input) > 2 else 0)
        elif n.op_type in _PER_ELEMENT:
            src = shapes.get(n.input[0]) if n.op_type.startswith("Reduce") else out
            total += _PER_ELEMENT[n.op_type] * (int(np.prod(src)) if src else 1)
    return total
