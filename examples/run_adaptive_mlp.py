#!/usr/bin/env python3
"""Runs examples/adaptive_mlp.mlir end to end and checks it against NumPy.

For each compiled path: tac-opt specialises the model (--tac-select-path)
and reports the layers the variant runs. Then the adaptive model itself runs
through the reference lowering (--tac-lower-to-scf) and upstream MLIR's CPU
pipeline on three inputs; the controller picks a path per input. Every
chosen path and output is compared with an independent NumPy computation.
Exit code 1 on any mismatch.
"""
import argparse
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PATHS = [[0], [0, 1], [0, 1, 2, 3]]
SCALES = [0.1, 1.0, 4.0]
CPU_PIPELINE = ["--tac-reference-cpu"]  # lib/Pipelines/Pipelines.cpp


def reference(scale):
    """NumPy twin of adaptive_mlp.mlir: (path, first output row)."""
    i, j, k = np.meshgrid(np.arange(4), np.arange(8), np.arange(8),
                          indexing="ij")
    w = 0.25 * np.sin((1 + i + 3 * j + 7 * k).astype(np.float32))
    b = np.full((4, 8), 0.05, np.float32)
    t, f = np.meshgrid(np.arange(4), np.arange(8), indexing="ij")
    x = (np.cos((t + f).astype(np.float32)) * scale).astype(np.float32)
    mean = np.abs(x).sum() / 32.0
    path = int(mean >= 0.5) + int(mean >= 2.0)
    h = x
    for layer in PATHS[path]:
        h = h + np.tanh(h @ w[layer] + b[layer])
    return path, h[0]


def run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{proc.stderr}")
    return proc.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tac-opt", required=True)
    parser.add_argument("--mlir-runner", default="/usr/lib/llvm-22/bin/mlir-runner")
    parser.add_argument("--mlir-lib-dir", default="/usr/lib/llvm-22/lib")
    args = parser.parse_args()
    model = os.path.join(HERE, "adaptive_mlp.mlir")

    print("== Static variants (tac-opt --tac-select-path=path=P --canonicalize)")
    for p in range(len(PATHS)):
        ir = run([args.tac_opt, model, f"--tac-select-path=path={p}",
                  "--canonicalize"])
        stack = re.search(r"tac\.layer_stack layers \[(\d+), (\d+)\)", ir)
        layers = f"layers [{stack.group(1)}, {stack.group(2)})" if stack else "none"
        print(f"  path {p}: {PATHS[p]} -> variant runs {layers}, "
              f"{ir.count('linalg.matmul')} matmul body")

    print("== Adaptive run (reference lowering, controller picks the path)")
    with open(model) as m, open(os.path.join(HERE, "run_adaptive_mlp.mlir")) as d:
        source = m.read() + d.read()
    llvm_ir = run([args.tac_opt, "-", *CPU_PIPELINE], input=source)
    libs = ",".join(os.path.join(args.mlir_lib_dir, lib) for lib in
                    ("libmlir_runner_utils.so", "libmlir_c_runner_utils.so"))
    out = run([args.mlir_runner, "-e", "main", "-entry-point-result=void",
               f"-shared-libs={libs}"], input=llvm_ir)
    rows = [line for line in out.splitlines() if line.startswith("[")]
    if len(rows) != 2 * len(SCALES):
        sys.exit(f"unexpected runner output:\n{out}")

    failures = 0
    print(f"  {'input scale':>11}  {'path':>4}  {'layers':<14} {'max |tac - numpy|':>18}")
    for n, scale in enumerate(SCALES):
        path = int(re.findall(r"-?\d+", rows[2 * n])[0])
        values = np.array([float(v) for v in
                           re.findall(r"-?[\d.]+(?:e[-+]?\d+)?", rows[2 * n + 1])])
        want_path, want_row = reference(scale)
        error = float(np.max(np.abs(values - want_row)))
        ok = path == want_path and error < 1e-4
        failures += not ok
        print(f"  {scale:>11}  {path:>4}  {str(PATHS[path]):<14} {error:>18.2e}"
              f"{'' if ok else '  MISMATCH (numpy path %d)' % want_path}")
    print(f"{len(SCALES) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
