#!/usr/bin/env python3
"""Builds the opset-23 transformer test with onnx.helper and its expected
outputs with ONNX's reference evaluator.

Writes OUT/test_transformer_opset23/model.onnx and test_data_set_0/
(input_0.pb, output_0.pb) in the layout of ONNX's node tests, so that
test/Import/Conformance's runners check it like one.

The model is what a current exporter writes for a small decoder: IR version
10, opset 23, two decoder layers as calls of one model-local function
(domain "pkg.tac", as PyTorch's dynamo exporter writes functions) whose
`epsilon` attribute has a default (FunctionProto.attribute_proto) that the
first call uses and the second overrides; in each layer RMSNormalization,
the Q/K/V projections, RotaryEmbedding on Q and K (rank 3, position_ids),
Attention with grouped-query heads (4 query heads over 2 kv heads) and
is_causal, the output projection, a SiLU MLP and residual Adds. The final
norm's scale is a BFLOAT16 initializer and the output projection's weight
a FLOAT16 one, each Cast to FLOAT (weights stored in half precision).

Needs onnx >= 1.22 (the reference evaluator's Attention, RMSNormalization
and RotaryEmbedding of opset 23; Debian's onnx 1.12 has none): e.g.
    python3 -m venv /tmp/onnx-venv && /tmp/onnx-venv/bin/pip install onnx==1.23.2
    /tmp/onnx-venv/bin/python make_transformer.py OUT
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

B, S, HIDDEN, Q_HEADS, KV_HEADS, HEAD = 1, 8, 32, 4, 2, 8
FF, VOCAB, MAX_POS = 64, 16, 16
DOMAIN = "pkg.tac"


def layer_function():
    """DecoderLayer(x, weights..., cos, sin, pos) -> y, <epsilon = 1e-5>."""
    def rms(x, scale, out):
        node = helper.make_node("RMSNormalization", [x, scale], [out])
        node.attribute.append(helper.make_attribute_ref(
            "epsilon", onnx.AttributeProto.FLOAT, ref_attr_name="epsilon"))
        return node

    nodes = [
        rms("x", "ln1", "h"),
        helper.make_node("MatMul", ["h", "wq"], ["q"]),
        helper.make_node("MatMul", ["h", "wk"], ["k"]),
        helper.make_node("MatMul", ["h", "wv"], ["v"]),
        helper.make_node("RotaryEmbedding", ["q", "cos", "sin", "pos"], ["qr"],
                         num_heads=Q_HEADS),
        helper.make_node("RotaryEmbedding", ["k", "cos", "sin", "pos"], ["kr"],
                         num_heads=KV_HEADS),
        helper.make_node("Attention", ["qr", "kr", "v"], ["a"],
                         q_num_heads=Q_HEADS, kv_num_heads=KV_HEADS,
                         is_causal=1),
        helper.make_node("MatMul", ["a", "wo"], ["o"]),
        helper.make_node("Add", ["x", "o"], ["r"]),
        rms("r", "ln2", "h2"),
        helper.make_node("MatMul", ["h2", "w1"], ["f1"]),
        helper.make_node("Sigmoid", ["f1"], ["sg"]),
        helper.make_node("Mul", ["f1", "sg"], ["g"]),
        helper.make_node("MatMul", ["g", "w2"], ["f2"]),
        helper.make_node("Add", ["r", "f2"], ["y"]),
    ]
    return helper.make_function(
        DOMAIN, "DecoderLayer",
        ["x", "ln1", "wq", "wk", "wv", "wo", "ln2", "w1", "w2", "cos", "sin", "pos"],
        ["y"], nodes, [helper.make_opsetid("", 23)],
        attribute_protos=[helper.make_attribute("epsilon", 1e-5)])


def build(rng):
    def weight(name, *shape, scale=0.2):
        return numpy_helper.from_array(
            (rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits, nodes = [], []
    half = HEAD // 2
    angles = np.arange(MAX_POS)[:, None] / (10000 ** (np.arange(half) / half))
    inits += [numpy_helper.from_array(np.cos(angles).astype(np.float32), "cos"),
              numpy_helper.from_array(np.sin(angles).astype(np.float32), "sin"),
              numpy_helper.from_array(np.arange(S, dtype=np.int64)[None, :].repeat(B, 0), "pos")]
    x = "x"
    for layer, eps in enumerate([None, 1e-6]):
        names = [f"l{layer}.{w}" for w in ("ln1", "wq", "wk", "wv", "wo", "ln2", "w1", "w2")]
        inits += [
            numpy_helper.from_array(
                (1 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32), names[0]),
            weight(names[1], HIDDEN, Q_HEADS * HEAD),
            weight(names[2], HIDDEN, KV_HEADS * HEAD),
            weight(names[3], HIDDEN, KV_HEADS * HEAD),
            weight(names[4], Q_HEADS * HEAD, HIDDEN),
            numpy_helper.from_array(
                (1 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32), names[5]),
            weight(names[6], HIDDEN, FF),
            weight(names[7], FF, HIDDEN),
        ]
        attrs = {} if eps is None else {"epsilon": eps}
        out = f"h{layer}"
        nodes.append(helper.make_node(
            "DecoderLayer", [x] + names + ["cos", "sin", "pos"], [out],
            domain=DOMAIN, name=f"layer{layer}", **attrs))
        x = out
    # Half-precision weights, cast up as mixed-precision exports do.
    norm = (1 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32)
    bf16 = (norm.view(np.uint32) >> 16).astype(np.uint16)  # truncated to bf16
    norm_t = helper.make_tensor("norm.bf16", TensorProto.BFLOAT16, [HIDDEN],
                                bf16.tobytes(), raw=True)
    head = (rng.standard_normal((HIDDEN, VOCAB)) * 0.2).astype(np.float16)
    inits += [norm_t, numpy_helper.from_array(head, "head.f16")]
    nodes += [
        helper.make_node("Cast", ["norm.bf16"], ["norm"], to=TensorProto.FLOAT),
        helper.make_node("RMSNormalization", [x, "norm"], ["hn"], epsilon=1e-5),
        helper.make_node("Cast", ["head.f16"], ["head"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["hn", "head"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "transformer_opset23",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [B, S, HIDDEN])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [B, S, VOCAB])],
        inits)
    model = helper.make_model(
        graph, ir_version=10, functions=[layer_function()],
        opset_imports=[helper.make_opsetid("", 23), helper.make_opsetid(DOMAIN, 1)])
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    out = os.path.join(sys.argv[1], "test_transformer_opset23")
    rng = np.random.default_rng(23)
    model = build(rng)
    x = rng.standard_normal((B, S, HIDDEN)).astype(np.float32)
    # onnx 1.23.2's reference evaluator does not apply a function's
    # attribute defaults (it fails on the call without epsilon), so it runs
    # a copy whose calls all pass epsilon, the default written out.
    explicit = onnx.ModelProto()
    explicit.CopyFrom(model)
    for node in explicit.graph.node:
        if node.domain == DOMAIN and not any(a.name == "epsilon" for a in node.attribute):
            node.attribute.append(helper.make_attribute("epsilon", 1e-5))
    (logits,) = ReferenceEvaluator(explicit).run(None, {"x": x})
    data = os.path.join(out, "test_data_set_0")
    os.makedirs(data, exist_ok=True)
    onnx.save(model, os.path.join(out, "model.onnx"))
    for name, array in (("input_0.pb", x), ("output_0.pb", logits)):
        with open(os.path.join(data, name), "wb") as f:
            f.write(numpy_helper.from_array(array).SerializeToString())
    print(f"wrote {out}: logits {logits.shape}, |logits| max {np.abs(logits).max():.3f}")


if __name__ == "__main__":
    main()
