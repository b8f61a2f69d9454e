#!/usr/bin/env python3
"""What tac.InferenceSession.run costs over the C API, per call, at batch 1.

Both sides run in this process, on the same .tacm and the same input, one
thread, interleaved round by round (this machine is shared and noisy):
  C       tac_session_run in a C loop (bench/c_api_loop.c, built here with cc
          against build/lib/libtacrt.so), outputs preallocated, info NULL;
  Python  sess.run(None, {name: x}) in a Python loop (input dict lookup,
          dtype/shape checks, fresh NumPy outputs, GIL release).
A round is --calls calls of C then --calls of Python, each call timed; the
overhead of a round is median(Python) - median(C), and the reported
overhead is the median over rounds (with the smallest and largest round);
"pooled" is median(all Python calls) - median(all C calls). Short rounds
pair both sides under the same machine load. Models: the bundled adaptive
Fashion-MNIST ViT (the target: <= 5 us) and a one-Relu model (the run itself
is ~nothing, so the difference is all binding).

    .venv/bin/python bench/python_overhead.py [--calls 200] [--rounds 41]
"""
import argparse
import ctypes
import os
import statistics
import subprocess
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import tac  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def relu_model():
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def build_loop(build, out_dir):
    lib = os.path.join(out_dir, "libcapiloop.so")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", lib,
                    os.path.join(ROOT, "bench", "c_api_loop.c"),
                    "-I", os.path.join(ROOT, "runtime", "include"),
                    "-L", os.path.join(build, "lib"), "-ltacrt",
                    "-Wl,-rpath," + os.path.join(build, "lib")], check=True)
    loop = ctypes.CDLL(lib).tac_bench_c_loop
    loop.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int,
                     ctypes.POINTER(ctypes.c_double)]
    return loop


def measure(loop, tacm, calls, rounds):
    sess = tac.InferenceSession(tacm, threads=1)
    feed = {a.name: np.random.default_rng(0).random(a.shape, dtype=np.float32)
            for a in sess.get_inputs()}
    arrays = [feed[a.name] for a in sess.get_inputs()]
    ptrs = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
    ns = (ctypes.c_double * calls)()
    run = sess.run
    for _ in range(50):
        run(None, feed)
    per_round, c_meds, py_meds, c_all, py_all = [], [], [], [], []
    for _ in range(rounds):
        if loop(tacm.encode(), ptrs, calls, ns) != 0:
            raise SystemExit("the C loop failed (see stderr)")
        c_med = statistics.median(ns) / 1e3
        c_all += list(ns)
        times = []
        for _ in range(calls):
            t0 = time.perf_counter_ns()
            run(None, feed)
            times.append(time.perf_counter_ns() - t0)
        py_med = statistics.median(times) / 1e3
        py_all += times
        c_meds.append(c_med)
        py_meds.append(py_med)
        per_round.append(py_med - c_med)
    pooled = (statistics.median(py_all) - statistics.median(c_all)) / 1e3
    return statistics.median(c_meds), statistics.median(py_meds), per_round, pooled


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--rounds", type=int, default=41)
    p.add_argument("--build", default=os.environ.get("TAC_BUILD_DIR", os.path.join(ROOT, "build")))
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        loop = build_loop(a.build, tmp)
        models = {
            "bundled adaptive ViT (models/fmnist_vit_adaptive.onnx)":
                os.path.join(ROOT, "models", "fmnist_vit_adaptive.onnx"),
            "one Relu, float32[1, 16]": relu_model(),
        }
        print(f"{a.rounds} interleaved rounds x {a.calls} calls per side, load "
              f"{os.getloadavg()[0]:.2f}")
        print(f"{'model':58s} {'C us':>8s} {'Python us':>10s} {'overhead us':>12s} "
              f"{'pooled us':>10s}  rounds (min..max)")
        for name, source in models.items():
            tacm = os.path.join(tmp, "m.tacm")
            tac.compile(source, output=tacm, cpus=["host"], progress=False)
            c, py, over, pooled = measure(loop, tacm, a.calls, a.rounds)
            print(f"{name:58s} {c:8.2f} {py:10.2f} {statistics.median(over):12.2f} "
                  f"{pooled:10.2f}  {min(over):.2f}..{max(over):.2f}")


if __name__ == "__main__":
    main()
