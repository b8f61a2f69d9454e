#!/usr/bin/env python3
"""GEMM: tac's generated kernels vs a BLAS library, single thread.

For each shape (M, K, N) of the benchmark models' matrix products, builds a
one-node ONNX model `Y = X @ W` (W an initializer, as in a Linear layer),
compiles it twice with tac-compile (--gemm=generated: tac's own loops;
--gemm=blas: the kernel calls cblas_sgemm) and times both through libtacrt;
then times cblas_sgemm of Debian's BLAS (libblas.so.3, the OpenBLAS
alternative when installed) called directly on the same arrays. All three
are called through ctypes from this process; a libtacrt call also pays for
the runtime (a fill step, the output copy), which the direct BLAS call
does not. The median of --repeat calls after a warm-up is reported, with
GFLOP/s.

usage: .venv/bin/python bench/gemm_compare.py [--repeat 200] [--markdown]
"""
import argparse
import ctypes
import os
import subprocess
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before libblas loads

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (label, M, K, N): rows x reduction x columns.
SHAPES = [
    ("fmnist ViT qkv", 17, 64, 192),
    ("fmnist ViT fc1", 17, 64, 128),
    ("fmnist ViT fc2", 17, 128, 64),
    ("MiniLM qkv-like", 128, 384, 384),
    ("MiniLM fc1", 128, 384, 1536),
    ("ViT-S qkv", 197, 384, 1152),
    ("ViT-S fc1", 197, 384, 1536),
    ("ViT-S fc2", 197, 1536, 384),
]


def matmul_model(path, m, k, n, rng):
    w = rng.standard_normal((k, n)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return w


def median_us(fn, repeat):
    for _ in range(10):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def main():
    build = os.environ.get("TAC_BUILD_DIR", os.path.join(ROOT, "build"))
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tac-compile", default=os.path.join(build, "bin", "tac-compile"))
    parser.add_argument("--blas", default="libblas.so.3")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()

    import tac
    blas = ctypes.CDLL(args.blas)
    sgemm = blas.cblas_sgemm
    c_int, c_float, ptr = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    sgemm.argtypes = [c_int, c_int, c_int, c_int, c_int, c_int, c_float, ptr, c_int,
                      ptr, c_int, c_float, ptr, c_int]
    row_major, no_trans = 101, 111

    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, m, k, n in SHAPES:
            onnx_path = os.path.join(tmp, "gemm.onnx")
            tacm = os.path.join(tmp, "gemm.tacm")
            w = matmul_model(onnx_path, m, k, n, rng)
            x = rng.standard_normal((m, k)).astype(np.float32)
            y = np.empty((m, n), np.float32)
            sgemm(row_major, no_trans, no_trans, m, n, k, 1.0, x.ctypes.data, k,
                  w.ctypes.data, n, 0.0, y.ctypes.data, n)
            times, error = {}, 0.0
            for mode in ("generated", "blas"):
                subprocess.run([args.tac_compile, onnx_path, "-o", tacm, "--cpu=host",
                                f"--gemm={mode}"], check=True, capture_output=True)
                model = tac.InferenceSession(tacm)
                feed = {model.get_inputs()[0].name: x}
                (tac_y,) = model.run(None, feed)
                error = max(error, float(np.max(np.abs(tac_y - y))))
                times[mode] = median_us(lambda: model.run(None, feed), args.repeat)
                del model
            blas_us = median_us(lambda: sgemm(row_major, no_trans, no_trans, m, n, k, 1.0,
                                              x.ctypes.data, k, w.ctypes.data, n, 0.0,
                                              y.ctypes.data, n), args.repeat)
            flop = 2.0 * m * k * n
            gen, lib = times["generated"], times["blas"]
            rows.append((label, f"{m}x{k}x{n}", gen, lib, blas_us, flop / gen / 1e3,
                         flop / lib / 1e3, flop / blas_us / 1e3, gen / lib, error))
    header = ("shape", "MxKxN", "tac loops us", "tac BLAS us", "BLAS us",
              "loops GFLOP/s", "tac BLAS GFLOP/s", "BLAS GFLOP/s", "loops/tac BLAS",
              "max |diff|")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} "
                  f"| {r[6]:.1f} | {r[7]:.1f} | {r[8]:.2f} | {r[9]:.1e} |")
    else:
        print("{:<16} {:>12} {:>12} {:>11} {:>8} {:>13} {:>16} {:>12} {:>14} {:>10}".format(*header))
        for r in rows:
            print(f"{r[0]:<16} {r[1]:>12} {r[2]:>12.1f} {r[3]:>11.1f} {r[4]:>8.1f} "
                  f"{r[5]:>13.1f} {r[6]:>16.1f} {r[7]:>12.1f} {r[8]:>14.2f} {r[9]:>10.1e}")


if __name__ == "__main__":
    main()
