#!/usr/bin/env python3
"""Each compiler step on its own: one model compiled with and without the
optimisations that have a hidden tac-compile switch, timed interleaved with
ONNX Runtime in one process (docs/bench.md, "Where time goes").

    .venv/bin/python bench/ablation.py [--models fmnist_static_b1,vit_small_b1,minilm_b1]
        [--budget 20] [--tac-compile build/bin/tac-compile]

Variants (each a separate tac-compile of the same ONNX file, default target):

  baseline      --gemm=blas --tac-no-fold-constants --tac-strict-reductions
  +fold         --gemm=blas --tac-strict-reductions   (tac-fold-constants:
                weight-only ops evaluated at compile time, GEMMs of one
                input merged)
  +reductions   --gemm=blas   (reduction combiners reassociated as well)
  +packed GEMM  tac's GEMM over weights packed at compile time instead of
                OpenBLAS (and the two below off: --tac-mlir-erf
                --tac-no-form-softmax on every row above)
  +erf          f32 erf as tac's one-interval rational, not MLIR's
                three-interval polynomial
  +softmax      tac-form-softmax: softmax as one pass per row in tac's C
                kernel (and the step below off: --tac-no-form-attention)
  +attention    (everything, the default: tac-form-attention, Q Kᵀ, scale,
                mask, softmax and P V in tac's fused kernel, Q, K and V read
                in place)

Each repetition runs every engine once (K calls, the first engine rotating);
per engine the median time and the median of the per-repetition ratios to ORT
(its intra_op=1 session, no spinning), to the baseline and to the variant
before it (what that step alone saves). One thread
everywhere. Reads the models bench/export_bench_models.py writes into
bench/.models.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

OLD_MATH = ["--tac-mlir-erf", "--tac-no-form-softmax", "--tac-no-form-attention"]
VARIANTS = [("baseline", ["--gemm=blas", "--tac-no-fold-constants", "--tac-strict-reductions",
                          *OLD_MATH]),
            ("+fold", ["--gemm=blas", "--tac-strict-reductions", *OLD_MATH]),
            ("+reductions", ["--gemm=blas", *OLD_MATH]),
            ("+packed GEMM", OLD_MATH),
            ("+erf", ["--tac-no-form-softmax", "--tac-no-form-attention"]),
            ("+softmax", ["--tac-no-form-attention"]),
            ("+attention", [])]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="fmnist_static_b1,vit_small_b1,minilm_b1")
    p.add_argument("--budget", type=float, default=20.0, help="seconds per model, roughly")
    p.add_argument("--cache", default=os.path.join(HERE, ".models"))
    p.add_argument("--tac-compile", default=os.path.join(ROOT, "build", "bin", "tac-compile"))
    a = p.parse_args()
    import numpy as np
    import onnxruntime as ort
    import export_bench_models as X
    import tac

    out_dir = os.path.join(a.cache, "ablation")
    os.makedirs(out_dir, exist_ok=True)
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for model in a.models.split(","):
        onnx_path = os.path.join(a.cache, model + ".onnx")
        family, batch = model.rsplit("_b", 1)
        inputs = (X.example_inputs(family, int(batch)) if not family.startswith("fmnist")
                  else {"image": X.fmnist_images(int(batch))})
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        engines = {"ORT": lambda s=sess: s.run(None, inputs)[0]}
        sizes = {}
        ref = engines["ORT"]()
        for name, flags in VARIANTS:
            tacm = os.path.join(out_dir, f"{model}{name.replace('+', '_').replace(' ', '_')}.tacm")
            subprocess.run([a.tac_compile, onnx_path, "-o", tacm] + flags, check=True,
                           capture_output=True)
            sizes[name] = os.path.getsize(tacm)
            m = tac.InferenceSession(tacm, threads=1)
            names = [i.name for i in m.get_inputs()]
            feed = {n: inputs[n] for n in names}
            engines[name] = lambda m=m, feed=feed: m.run_adaptive(feed)[0][0]
            diff = float(np.abs(engines[name]() - ref).max())
            print(f"{model} {name:12s} max|tac - ORT| {diff:.2e}  .tacm {sizes[name]} bytes")
        first = {}
        for n, fn in engines.items():
            fn()
            t0 = time.perf_counter()
            fn()
            first[n] = time.perf_counter() - t0
        k = max(1, min(50, int(0.02 / max(min(first.values()), 1e-6))))
        reps = max(5, min(200, int(a.budget / (k * sum(first.values())))))
        times = {n: [] for n in engines}
        order = list(engines)
        for r in range(reps):
            for j in range(len(order)):
                n = order[(r + j) % len(order)]
                t0 = time.perf_counter()
                for _ in range(k):
                    engines[n]()
                times[n].append((time.perf_counter() - t0) / k)
        print(f"{model}: {reps} repetitions x {k} call(s); load average now "
              f"{os.getloadavg()[0]:.2f}")
        for i, n in enumerate(order):
            med = statistics.median(times[n])
            r_ort = statistics.median(t / o for t, o in zip(times[n], times["ORT"]))
            r_base = statistics.median(t / b for t, b in zip(times[n], times["baseline"]))
            # each variant against the one before it: what its step alone saves
            prev = order[i - 1] if i > 1 else None
            r_prev = (f"  x previous {statistics.median(t / p for t, p in zip(times[n], times[prev])):.3f}"
                      if prev else "")
            print(f"  {n:12s} median {med * 1e3:9.3f} ms  x ORT {r_ort:.3f}  "
                  f"x baseline {r_base:.3f}{r_prev}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
