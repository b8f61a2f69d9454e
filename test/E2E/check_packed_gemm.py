#!/usr/bin/env python3
"""End-to-end: GEMMs by packed weights (tac-compile --gemm=packed, the
default) give NumPy's products.

ONNX models built here, with weights of odd shapes (columns not a multiple
of the 16-column panels, rows not of the 6-row tiles, k past one 256-step):
  - MatMul chains with biases, a Gemm with transB, a Gemm with transA, a
    weight two MatMuls share, and a weight that is also read elementwise
    (its unpacked bytes must stay);
  - a batched MatMul against a 3-D weight (one packed matrix per batch
    entry).
Each is compiled with --gemm=packed (and batch buckets) and --gemm=blas;
random inputs run one row at a time and as batches of 1, 3 and 5 rows, and
every output must equal NumPy's float64 product within 1e-4 relative to
the output's scale. From --report's weight bytes: batch buckets add no
weight bytes (each bucket's GEMM kernels share the one-row kernels' packed
copies), and the packed file's weights stay within 2x + 64 KB of the BLAS
file's (padding, and weights other ops also read unpacked).

Exit code 1 on any failure.
"""
import argparse
import os
import re
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import tac_e2e as e2e  # noqa: E402

TOLERANCE = 1e-4
RNG = np.random.default_rng(11)


def weight(name, *shape):
    return numpy_helper.from_array(RNG.uniform(-1, 1, shape).astype(np.float32), name)


def chain_model():
    """x[1, 7, 37] -> ... -> y[1, 7, 40], z[1, 7, 50]; returns (model, ref)."""
    inits = [weight("w1", 37, 50), weight("b1", 50), weight("w2", 50, 300),
             weight("w3", 129, 300), weight("w4", 129, 40), weight("wt", 7, 21)]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"]),
        helper.make_node("Add", ["h1", "b1"], ["h1b"]),
        helper.make_node("Relu", ["h1b"], ["r1"]),
        helper.make_node("MatMul", ["r1", "w2"], ["h2"]),            # k=50, n=300
        helper.make_node("Reshape", ["h2", "shape2d"], ["h2d"]),
        helper.make_node("Gemm", ["h2d", "w3"], ["h3"], transB=1),   # k=300, n=129
        helper.make_node("Gemm", ["h2d", "w3"], ["h3s"], transB=1, alpha=0.5),
        helper.make_node("Add", ["h3", "h3s"], ["h3sum"]),
        helper.make_node("MatMul", ["h3sum", "w4"], ["h4"]),          # n=40
        helper.make_node("Reshape", ["h4", "shape3d"], ["y"]),
        # A transposed: Gemm(transA) of x's 7 x 37 rows, reshaped.
        helper.make_node("Reshape", ["x", "shape_x"], ["x2d"]),
        helper.make_node("Gemm", ["x2d", "wt"], ["g2d"], transA=1),   # 37x7 @ 7x21
        helper.make_node("Reshape", ["g2d", "shape_g"], ["g"]),
        helper.make_node("Add", ["w1", "one"], ["w1p"]),              # w1 read elementwise
        helper.make_node("ReduceSum", ["w1p", "axes0"], ["w1s"], keepdims=0),
        helper.make_node("MatMul", ["r1", "w1s_col"], ["z0"]),
        helper.make_node("Reshape", ["w1s", "shape_col"], ["w1s_col"]),
        helper.make_node("Mul", ["r1", "z0"], ["z"]),
    ]
    # topological order: the column reshape before its MatMul
    nodes[-3], nodes[-2] = nodes[-2], nodes[-3]
    consts = [
        numpy_helper.from_array(np.array([7, 300], np.int64), "shape2d"),
        numpy_helper.from_array(np.array([1, 7, 40], np.int64), "shape3d"),
        numpy_helper.from_array(np.array([7, 37], np.int64), "shape_x"),
        numpy_helper.from_array(np.array([50, 1], np.int64), "shape_col"),
        numpy_helper.from_array(np.array([1, 37, 21], np.int64), "shape_g"),
        numpy_helper.from_array(np.array([0], np.int64), "axes0"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
    ]
    graph = helper.make_graph(
        nodes, "packed_chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 7, 37])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 7, 40]),
         helper.make_tensor_value_info("g", TensorProto.FLOAT, [1, 37, 21]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 7, 50])],
        inits + consts)
    w = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in inits}

    def ref(x):
        x = x.astype(np.float64)
        r1 = np.maximum(x @ w["w1"] + w["b1"], 0)
        h2 = (r1 @ w["w2"]).reshape(7, 300)
        h3 = h2 @ w["w3"].T * 1.5
        y = (h3 @ w["w4"]).reshape(1, 7, 40)
        g = (x.reshape(7, 37).T @ w["wt"]).reshape(1, 37, 21)
        z = r1 * (r1 @ (w["w1"] + 1).sum(0).reshape(50, 1))
        return {"y": y, "g": g, "z": z}
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), \
        {"x": (1, 7, 37)}, ref


def batched_model():
    """x[1, 3, 13, 70] @ w[3, 70, 33] -> y[1, 3, 13, 33]: one weight per
    batch entry."""
    w = weight("w", 3, 70, 33)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "packed_batched",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 13, 70])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 13, 33])], [w])
    wv = numpy_helper.to_array(w).astype(np.float64)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), \
        {"x": (1, 3, 13, 70)}, lambda x: {"y": x.astype(np.float64) @ wv}


def weight_bytes(report):
    found = re.search(r"weights: (\d+) B", report)
    return int(found.group(1)) if found else None


def check(args, name, build, work):
    model, inputs, ref = build()
    path = os.path.join(work, f"{name}.onnx")
    onnx.save(model, path)
    problems, sizes = [], {}
    for gemm in ("packed", "blas"):
        tacm = os.path.join(work, f"{name}_{gemm}.tacm")
        res = e2e.compile_model(args.tac_compile, path, tacm,
                                [f"--gemm={gemm}", "--batch-sizes=3", "--report"])
        if not res.ok:
            return [f"{name} --gemm={gemm}: tac-compile failed: {res.stderr.strip()}"]
        sizes[gemm] = weight_bytes(res.stdout + res.stderr)
        for rows in (None, 1, 3, 5):
            feeds = {}
            for input_name, shape in inputs.items():
                full = shape if rows is None else (rows * shape[0],) + shape[1:]
                feeds[input_name] = RNG.uniform(-1, 1, full).astype(np.float32)
            files = {}
            for input_name, value in feeds.items():
                files[input_name] = os.path.join(work, f"{name}_{input_name}.npy")
                np.save(files[input_name], value)
            out_dir = os.path.join(work, f"out_{name}_{gemm}_{rows}")
            extra = () if rows is None else (f"--batch={rows}",)
            try:
                _, outputs = e2e.run_outputs(args.tac_run, tacm, files, out_dir, extra=extra)
            except RuntimeError as e:
                problems.append(f"{name} --gemm={gemm} rows={rows}: {e}")
                continue
            # A batch stacks rows along the leading dim; the reference runs
            # row by row.
            count = 1 if rows is None else rows
            for output_name, got in outputs.items():
                parts = []
                for r in range(count):
                    row_feeds = {n: v.reshape((count,) + inputs[n])[r] for n, v in feeds.items()}
                    parts.append(ref(*row_feeds.values())[output_name])
                want = np.stack(parts) if rows is not None else parts[0]
                want = want.reshape(got.shape)
                scale = max(1.0, float(np.abs(want).max()))
                err = float(np.abs(got - want).max()) / scale
                status = "ok" if err <= TOLERANCE else "FAIL"
                print(f"{name} --gemm={gemm} rows={rows} {output_name}: "
                      f"max relative error {err:.2e} {status}")
                if err > TOLERANCE:
                    problems.append(f"{name} --gemm={gemm} rows={rows} {output_name}: "
                                    f"error {err:.2e} > {TOLERANCE}")
    one_row = os.path.join(work, f"{name}_packed_one_row.tacm")
    res = e2e.compile_model(args.tac_compile, path, one_row, ["--report"])
    if not res.ok:
        return problems + [f"{name}: tac-compile without buckets failed: {res.stderr.strip()}"]
    sizes["one_row"] = weight_bytes(res.stdout + res.stderr)
    if None in sizes.values():
        problems.append(f"{name}: --report printed no weight bytes: {sizes}")
    elif sizes["packed"] != sizes["one_row"]:
        problems.append(f"{name}: weights {sizes['packed']} B with a batch bucket, "
                        f"{sizes['one_row']} B without: a bucket packed its own copies")
    else:
        print(f"{name}: weights {sizes['packed']} B packed, {sizes['blas']} B unpacked")
        # Padding: each packed matrix gains at most 15 columns of k floats,
        # plus 64-byte alignment per run; a generous bound is 2x + 64 KB.
        if sizes["packed"] > 2 * sizes["blas"] + 65536:
            problems.append(f"{name}: packed weights {sizes['packed']} B against "
                            f"{sizes['blas']} B unpacked")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tac-compile", required=True)
    parser.add_argument("--tac-run", required=True)
    args = parser.parse_args()
    e2e.check_tools(tac_compile=args.tac_compile, tac_run=args.tac_run)
    problems = []
    with tempfile.TemporaryDirectory(prefix="tac-packed-gemm-") as work:
        for name, build in (("chain", chain_model), ("batched", batched_model)):
            problems += check(args, name, build, work)
    for p in problems:
        print("FAIL:", p)
    print(f"packed GEMM checks: {'failed' if problems else 'passed'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
