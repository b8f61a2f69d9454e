#!/usr/bin/env python3
"""Compiles the test models with --target=cpu,cuda for the CUDA tests and
scripts/gpu-check.sh: vit_tiny, vit_tiny_gated, bert_tiny, a reductions
model written here (all-reductions to a scalar, few-row reductions, a
classifier-head matmul: the kernels that run as one block per output) and,
when present, the bundled adaptive Fashion-MNIST ViT."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = [
    ("vit_tiny", "test/Import/Models/vit_tiny.onnx"),
    ("vit_tiny_gated", "test/Import/Models/vit_tiny_gated.onnx"),
    ("bert_tiny", "test/Import/Models/bert_tiny.onnx"),
    ("fmnist_vit_adaptive", "models/fmnist_vit_adaptive.onnx"),
]


def write_reductions_model(path):
    """Reductions whose outputs are few and long: a sum of everything, a max
    over 4 rows of 1536, a mean down the 64 rows of each column, and a
    256 -> 10 matmul (cuBLASLt, or the generated kernel without it)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).uniform(-1, 1, (256, 10)).astype(np.float32)
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
        helper.make_node("Reshape", ["x", "rows_shape"], ["rows"]),
        helper.make_node("ReduceMax", ["rows"], ["row_max"], axes=[1]),
        helper.make_node("ReduceMean", ["x"], ["col_mean"], axes=[0], keepdims=0),
        helper.make_node("Reshape", ["x", "head_shape"], ["head_in"]),
        helper.make_node("MatMul", ["head_in", "w"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "reductions",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, 96])],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, []),
         helper.make_tensor_value_info("row_max", TensorProto.FLOAT, [4, 1]),
         helper.make_tensor_value_info("col_mean", TensorProto.FLOAT, [96]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, [24, 10])],
        [numpy_helper.from_array(np.array([4, 1536], np.int64), "rows_shape"),
         numpy_helper.from_array(np.array([24, 256], np.int64), "head_shape"),
         numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tac-compile", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cpu", default="x86-64",
                        help="CPU level of the CPU half (portable by default)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="tac-cuda-models-")
    reductions = os.path.join(scratch, "reductions.onnx")
    write_reductions_model(reductions)
    try:
        return compile_models(args, MODELS + [("reductions", reductions)])
    finally:
        shutil.rmtree(scratch)


def compile_models(args, models):
    for name, source in models:
        path = os.path.join(ROOT, source)
        if not os.path.exists(path):
            print(f"skipping {name}: {source} not found")
            continue
        out = os.path.join(args.out, name + ".tacm")
        cmd = [args.tac_compile, path, "--target=cpu,cuda", "--cpu=" + args.cpu,
               "-o", out]
        print(" ".join(cmd), flush=True)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
