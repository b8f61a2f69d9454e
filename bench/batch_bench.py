#!/usr/bin/env python3
"""Adaptive inference at batch 32: throughput of tac's per-row paths against
ONNX Runtime and tac's own static model, on real Fashion-MNIST test images.

    .venv/bin/python bench/batch_bench.py [--images 2048] [--batch 32] [--reps 5]

Writes docs/bench-batch.md (--out) and prints the same page.

Engines, all on one thread (OPENBLAS_NUM_THREADS=1, ORT intra_op_num_threads=1,
ORT_ENABLE_ALL), each fed the same batches of real test images:
  tac adaptive        the bundled If-gated model compiled with batch buckets
                      (--batch-sizes=1,4,16,32): one call per batch, every row
                      takes its own path, rows grouped by path in the runtime
  tac adaptive 1-row  the same file, one call per image (what serving did
                      before batches)
  tac static          the bundled static twin, compiled with the same buckets
  ORT static          the static model exported at batch 32 (bench/
                      export_bench_models.py fmnist_static), one call per batch
  ORT adaptive        the same If-gated ONNX model: its If condition is one
                      scalar, so ONNX Runtime runs it one image per call
Interleaved: every repetition times one pass of every engine over all the
batches; the report takes each engine's median pass. Ratios are throughput
ratios (rows/s) taken pass by pass within one repetition, then the median.
Also checks that every engine's logits agree with ORT's (adaptive ones with
ORT adaptive, static ones with ORT static) and prints tac-run's measured
share of grouping/scattering time at the batch size.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import export_bench_models as X  # noqa: E402
import tac  # noqa: E402


def compile_tacm(onnx, out, sizes):
    t0 = time.time()
    subprocess.run([os.path.join(ROOT, "build", "bin", "tac-compile"), onnx, "-o", out,
                    f"--batch-sizes={sizes}"], check=True, capture_output=True)
    return time.time() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=2048)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--sizes", default="1,4,16,32", help="tac-compile --batch-sizes")
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "bench-batch.md"),
                   help="the results page to write ('' for none)")
    a = p.parse_args()
    B = a.batch
    x = X.fmnist_images(a.images)
    batches = [x[i:i + B] for i in range(0, len(x) - B + 1, B)]
    rows = len(batches) * B
    work = os.path.join(ROOT, "build", "bench-batch")
    os.makedirs(work, exist_ok=True)
    adaptive_onnx = os.path.join(ROOT, "models", "fmnist_vit_adaptive.onnx")
    static_onnx = os.path.join(ROOT, "models", "fmnist_vit_static.onnx")
    ad_tacm, st_tacm = os.path.join(work, "adaptive.tacm"), os.path.join(work, "static.tacm")
    ct = {"adaptive": compile_tacm(adaptive_onnx, ad_tacm, a.sizes),
          "static": compile_tacm(static_onnx, st_tacm, a.sizes)}
    ort_static_path = X.model_path(work, "fmnist_static", B)
    X.export_one("fmnist_static", B, work)
    ort_static = X.ort_session(ort_static_path, 1)
    ort_adaptive = X.ort_session(adaptive_onnx, 1)
    tac_ad, tac_st = tac.InferenceSession(ad_tacm), tac.InferenceSession(st_tacm)

    # Correctness first (outputs kept for the comparison).
    ref_ad = np.concatenate([ort_adaptive.run(None, {"image": x[i:i + 1]})[0]
                             for i in range(rows)])
    ref_st = np.concatenate([ort_static.run(None, {"image": b})[0] for b in batches])
    got_ad, paths = [], []
    for b in batches:
        out, info = tac_ad.run_adaptive({"image": b})
        got_ad.append(out[0])
        paths += info.paths
    got_st = np.concatenate([tac_st.run(None, {"image": b})[0] for b in batches])
    err_ad = float(np.abs(np.concatenate(got_ad) - ref_ad).max())
    err_st = float(np.abs(got_st - ref_st).max())

    engines = {
        "tac adaptive": lambda: [tac_ad.run(None, {"image": b}) for b in batches],
        "tac adaptive 1-row": lambda: [tac_ad.run(None, {"image": b[i:i + 1]})
                                       for b in batches for i in range(B)],
        "tac static": lambda: [tac_st.run(None, {"image": b}) for b in batches],
        "ORT static": lambda: [ort_static.run(None, {"image": b}) for b in batches],
        "ORT adaptive": lambda: [ort_adaptive.run(None, {"image": b[i:i + 1]})
                                 for b in batches for i in range(B)],
    }
    for f in engines.values():  # warm-up
        f()
    passes = {k: [] for k in engines}
    for _ in range(a.reps):
        for name, f in engines.items():
            t0 = time.perf_counter()
            f()
            passes[name].append(time.perf_counter() - t0)
    thr = {k: rows / statistics.median(v) for k, v in passes.items()}
    def ratio(num, den):
        return statistics.median(passes[den][r] / passes[num][r] for r in range(a.reps))

    # Grouping share, from the runtime's own RunInfo (tac-run --benchmark).
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "x.npy"), batches[0])
        res = subprocess.run([os.path.join(ROOT, "build", "bin", "tac-run"), ad_tacm,
                              f"--input=image={os.path.join(tmp, 'x.npy')}", "--json",
                              "--benchmark=200"], check=True, capture_output=True, text=True)
        grouping = json.loads(res.stdout)["benchmark"]["grouping_share"]

    # What each extra bucket costs to compile and store (adaptive model).
    steps = []
    sizes = a.sizes.split(",")
    for i in range(1, len(sizes) + 1):
        out = os.path.join(work, f"sizes{i}.tacm")
        t = compile_tacm(adaptive_onnx, out, ",".join(sizes[:i]))
        steps.append((",".join(sizes[:i]), t, os.path.getsize(out)))

    hist = {int(k): paths.count(k) for k in sorted(set(paths))}
    load = os.getloadavg()[0]
    lines = [
        "# Batches: per-row paths at batch %d vs ONNX Runtime (CPU)" % B,
        "",
        f"Written by `bench/batch_bench.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "Do not edit by hand: rerun the command.",
        "",
        "```sh",
        f".venv/bin/python bench/batch_bench.py --images {a.images} --batch {B} --reps {a.reps}",
        "```",
        "",
        "## Method",
        "",
        f"- Inputs: the first {rows} Fashion-MNIST test images (real data), in "
        f"{len(batches)} batches of {B}; every engine gets the same batches.",
        "- One thread everywhere (OPENBLAS_NUM_THREADS=1; ONNX Runtime "
        "intra_op_num_threads=1, ORT_ENABLE_ALL, sequential).",
        f"- {a.reps} repetitions; each times one pass of every engine over all batches, "
        "engines interleaved. Throughput is rows / median pass time; ratios are taken "
        "pass by pass within a repetition, then the median.",
        "- Engines: **tac adaptive**: the bundled If-gated model compiled with "
        f"`--batch-sizes={a.sizes}`, one call per batch, each row on its own path; "
        "**tac adaptive 1-row**: the same file, one call per image; **tac static**: the "
        "bundled static twin, same buckets; **ORT static**: the static model exported at "
        f"batch {B} (bench/export_bench_models.py), one call per batch; **ORT adaptive**: "
        "the same If-gated ONNX model, which ONNX Runtime can run only one image per call "
        "(its If condition is one scalar).",
        f"- Machine: {os.cpu_count()} cores; load average (1 min) at the end: {load:.2f}"
        + (" (**busy**: other processes were running; trust the ratios more than the "
           "absolute times)" if load > 1.5 else "") + ".",
        "",
        "## Results",
        "",
        f"Paths the controller chose (rows): {hist}. Max |logits - ONNX Runtime|: "
        f"adaptive {err_ad:.2e} (vs ORT adaptive, row by row), static {err_st:.2e}.",
        "",
        f"| engine | rows/s | ms per batch of {B} |",
        "|---|---|---|",
    ]
    for k in engines:
        lines.append(f"| {k} | {thr[k]:.0f} | "
                     f"{1e3 * statistics.median(passes[k]) / len(batches):.2f} |")
    lines += [
        "",
        "| ratio (throughput, median of per-repetition ratios) | value |",
        "|---|---|",
        f"| tac adaptive / ORT static, batch {B} | **{ratio('tac adaptive', 'ORT static'):.2f}x** |",
        f"| tac adaptive / tac static, batch {B} | **{ratio('tac adaptive', 'tac static'):.2f}x** |",
        f"| tac adaptive / ORT adaptive (same If-gated model) | {ratio('tac adaptive', 'ORT adaptive'):.2f}x |",
        f"| tac adaptive batch {B} / tac adaptive one row per call | "
        f"{ratio('tac adaptive', 'tac adaptive 1-row'):.2f}x |",
        f"| tac static / ORT static, batch {B} | {ratio('tac static', 'ORT static'):.2f}x |",
        "",
        f"Grouping rows by path, padding and scattering: **{100 * grouping:.2f}%** of the "
        f"batch time (the runtime's RunInfo.groupingUs over the whole call, median of 200 "
        f"calls on the first batch, `tac-run --benchmark=200`).",
        "",
        "## What each batch size costs to compile and store",
        "",
        "The bundled adaptive model, `tac-compile --batch-sizes=...` (wall time on this "
        "machine; `--report` lists each bucket's plan bytes, new kernels and their native "
        "bytes):",
        "",
        "| --batch-sizes | compile s | file bytes |",
        "|---|---|---|",
    ]
    for sz, t, b in steps:
        lines.append(f"| {sz} | {t:.1f} | {b} |")
    page = "\n".join(lines) + "\n"
    print(page)
    if a.out:
        with open(a.out, "w") as f:
            f.write(page)
    bad = err_ad > 1e-4 or err_st > 1e-4
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
