#!/usr/bin/env python3
"""End-to-end: the CPU kernels' inline approximations of erf, exp and tanh
(lib/Backend/CpuCodegen.cpp) stay within their stated error of the exact
functions, over a dense grid and at the special values.

One ONNX model applies Erf, Exp, Tanh and GELU (Gelu's erf form, built from
Div, Erf, Add, Mul) to one input: 200001 evenly spaced points in [-12, 12],
plus NaN, +-inf, +-0, the smallest normal and subnormal floats and values
past every function's saturation. tac's outputs (the vectorised kernels
the CPU runs) are compared with Python's math functions in float64:

  - erf: |error| <= 4e-7 (about 3 ulp of values near 1);
  - exp: relative error <= 3e-7 where the result is a normal float;
  - tanh: |error| <= 3e-7;
  - GELU: |error| <= 4e-7 * (|x| + 1), what erf's bound allows;
  - NaN in gives NaN out; erf(+-inf) = +-1, tanh(+-inf) = +-1,
    exp(-inf) = 0, exp past float32's range = +inf, GELU(+inf) = +inf and
    GELU(-inf) = NaN (the graph's -inf * 0).

Exit code 1 on any failure.
"""
import argparse
import math
import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import tac_e2e as e2e  # noqa: E402

SPECIAL = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0,
           1.1754944e-38, -1.1754944e-38, 1e-45, -1e-45, 3.92, -3.92,
           3.9200003, -3.9200003, 4.0, -4.0, 9.0, -9.0, 30.0, -30.0,
           88.0, -87.0, 100.0, -100.0, 1e30, -1e30]


def grid():
    points = np.linspace(-12.0, 12.0, 200001)
    return np.concatenate([points, SPECIAL]).astype(np.float32)


def model(n):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])
    outs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, n])
            for name in ("erf", "exp", "tanh", "gelu")]
    nodes = [
        helper.make_node("Erf", ["x"], ["erf"]),
        helper.make_node("Exp", ["x"], ["exp"]),
        helper.make_node("Tanh", ["x"], ["tanh"]),
        helper.make_node("Div", ["x", "sqrt2"], ["scaled"]),
        helper.make_node("Erf", ["scaled"], ["e"]),
        helper.make_node("Add", ["e", "one"], ["e1"]),
        helper.make_node("Mul", ["x", "e1"], ["xe"]),
        helper.make_node("Mul", ["xe", "half"], ["gelu"]),
    ]
    inits = [numpy_helper.from_array(np.array(v, np.float32), name)
             for name, v in (("sqrt2", math.sqrt(2.0)), ("one", 1.0), ("half", 0.5))]
    graph = helper.make_graph(nodes, "math_accuracy", [x], outs, inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def exact(name, v):
    if math.isnan(v):
        return float("nan")
    if name == "erf":
        return math.erf(v)
    if name == "tanh":
        return math.tanh(v)
    if name == "gelu":  # the graph's IEEE arithmetic: -inf * (1 + -1) is NaN
        if math.isinf(v):
            return v if v > 0 else float("nan")
        return 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))
    try:  # past float32's range the f32 result is inf
        e = math.exp(v)
        return e if e <= np.finfo(np.float32).max else float("inf")
    except OverflowError:
        return float("inf")


def check(name, x, got):
    """Problems with `got` = tac's `name` of `x`."""
    want = np.array([exact(name, float(v)) for v in x])
    got = got.astype(np.float64)
    problems = []
    nan_in = np.isnan(want)
    if not np.all(np.isnan(got[nan_in])):
        problems.append(f"{name}: NaN in did not give NaN out")
    if np.any(np.isnan(got[~nan_in])):
        bad = x[~nan_in][np.isnan(got[~nan_in])]
        problems.append(f"{name}: NaN out for {bad[:5].tolist()}")
    finite = ~nan_in & np.isfinite(want)
    inf = ~nan_in & ~np.isfinite(want)
    if not np.array_equal(got[inf], want[inf]):
        problems.append(f"{name}: infinite results differ: want {want[inf].tolist()}, "
                        f"got {got[inf].tolist()}")
    g, w, xs = got[finite], want[finite], x[finite].astype(np.float64)
    if name == "exp":
        normal = np.abs(w) >= np.finfo(np.float32).tiny
        g, w, xs = g[normal], w[normal], xs[normal]
        err, what, bound = np.abs(g - w) / w, "relative error", 3e-7
    elif name == "gelu":
        err, what, bound = np.abs(g - w) / (np.abs(xs) + 1.0), "|error| / (|x| + 1)", 4e-7
    else:
        err, what, bound = np.abs(g - w), "|error|", 4e-7 if name == "erf" else 3e-7
    worst = int(np.argmax(err))
    ok = err[worst] <= bound
    print(f"{name}: largest {what} {err[worst]:.3g} at x = {xs[worst]:.7g} "
          f"(bound {bound:.3g}) {'ok' if ok else 'FAIL'}")
    if not ok:
        problems.append(f"{name}: {what} {err[worst]:.3g} at x = {xs[worst]:.7g}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tac-compile", required=True)
    parser.add_argument("--tac-run", required=True)
    args = parser.parse_args()
    e2e.check_tools(tac_compile=args.tac_compile, tac_run=args.tac_run)
    x = grid()
    problems = []
    with tempfile.TemporaryDirectory(prefix="tac-math-") as work:
        onnx_path = os.path.join(work, "math.onnx")
        onnx.save(model(x.size), onnx_path)
        tacm = os.path.join(work, "math.tacm")
        res = e2e.compile_model(args.tac_compile, onnx_path, tacm)
        if not res.ok:
            print("FAIL: tac-compile:", res.stderr.strip() or res.describe())
            return 1
        x_file = os.path.join(work, "x.npy")
        np.save(x_file, x.reshape(1, -1))
        try:
            _, outputs = e2e.run_outputs(args.tac_run, tacm, {"x": x_file},
                                         os.path.join(work, "out"))
        except (RuntimeError, ValueError) as e:
            print("FAIL:", e)
            return 1
        for name in ("erf", "exp", "tanh", "gelu"):
            problems += check(name, x, outputs[name].reshape(-1))
    for p in problems:
        print("FAIL:", p)
    print(f"math accuracy checks: {'failed' if problems else 'passed'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
