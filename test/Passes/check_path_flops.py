#!/usr/bin/env python3
"""Checks tac's per-path FLOPs on a deep If-gated ViT against an independent
count.

Exports a gated ViT of --depth layers with PyTorch (every prefix path in
its tac.paths metadata) and the FLOPs of each path counted from the
architecture (test/Import/Models/export_models.py: vit_flops), runs the
whole adaptive pipeline in one command (`tac-opt model.onnx
--tac-adaptive=report=true`: form → fold → specialise → cost), prints the
table, and compares each variant's `tac.cost` flops with the independent
count. Exit 1 if any path differs by more than --tolerance (relative).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXPORT = os.path.join(HERE, "..", "Import", "Models", "export_models.py")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tac-opt", required=True)
    parser.add_argument("--python", default="/usr/bin/python3",
                        help="an interpreter with PyTorch (Debian's)")
    parser.add_argument("--depth", type=int, default=12)
    parser.add_argument("--tolerance", type=float, default=0.01)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([args.python, EXPORT, "--gated-depth", str(args.depth),
                        "--out", tmp], check=True, capture_output=True)
        model = os.path.join(tmp, f"vit{args.depth}_gated.onnx")
        with open(model.replace(".onnx", ".flops.json")) as f:
            expected = json.load(f)["flops"]
        out = os.path.join(tmp, "out.mlir")
        start = time.time()
        proc = subprocess.run([args.tac_opt, model, "--tac-adaptive=report=true",
                               "-o", out], capture_output=True, text=True)
        seconds = time.time() - start
        if proc.returncode != 0:
            print(proc.stderr)
            return 1
        print(proc.stdout.rstrip())
        with open(out) as f:
            ir = f.read()

    got = {}
    for m in re.finditer(r"func\.func @main_path(\d+)\(.*?tac\.cost = #tac\.cost<flops = (\d+)", ir):
        got[int(m.group(1))] = int(m.group(2))
    failures = 0
    print(f"\n{'path':>4} {'layers':>6} {'tac FLOPs':>12} {'independent':>12} {'diff':>8}")
    for k, want in enumerate(expected):
        have = got.get(k)
        diff = abs(have - want) / want if have is not None else float("inf")
        bad = diff > args.tolerance
        failures += bad
        print(f"{k:>4} {k + 1:>6} {have if have is not None else '-':>12} {want:>12} "
              f"{100 * diff:>7.3f}%{'  MISMATCH' if bad else ''}")
    print(f"one command (import + form + fold + specialise + cost) took {seconds:.2f} s")
    print(f"{len(expected) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
