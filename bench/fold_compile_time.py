#!/usr/bin/env python3
"""Compile time of layer folding: the table in docs/passes.md (tac-fold-layers).

For If-gated ViTs of several depths and widths (exported by
test/Import/Models/export_models.py --gated-depth N --width W, every prefix
path in tac.paths), measures with tac-opt, best of --repeat runs:
  - the tac-fold-layers pass alone (from --mlir-timing),
  - the reference lowering to the LLVM dialect of the formed block,
    unfolded vs folded (wall time and lines of output).

usage: bench/fold_compile_time.py [--tac-opt build/bin/tac-opt]
"""
import argparse
import os
import re
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORT = os.path.join(ROOT, "test", "Import", "Models", "export_models.py")


def timed(cmd, repeat):
    best, out = None, ""
    for _ in range(repeat):
        start = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        elapsed = time.time() - start
        if best is None or elapsed < best:
            best, out = elapsed, proc
    return best, out


def fold_pass_ms(tac_opt, model, repeat):
    best = None
    for _ in range(repeat):
        proc = subprocess.run([tac_opt, model, "--tac-form-adaptive-blocks",
                               "--tac-fold-layers", "--mlir-timing",
                               "-o", os.devnull],
                              capture_output=True, text=True, check=True)
        m = re.search(r"([\d.]+)\s+\(\s*[\d.]+%\)\s+TacFoldLayers", proc.stderr)
        ms = float(m.group(1)) * 1000 if m else float("nan")
        best = ms if best is None or ms < best else best
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tac-opt", default=os.path.join(ROOT, "build", "bin", "tac-opt"))
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--depths", default="2,6,12")
    parser.add_argument("--widths", default="32,192")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    widths = [int(w) for w in args.widths.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'layers':>6} " + " ".join(f"{'fold pass, width ' + str(w):>20}" for w in widths)
              + f"  {'reference lowering, width ' + str(widths[0]) + ': unfolded -> folded':>50}")
        for depth in depths:
            cells = []
            for width in widths:
                out = os.path.join(tmp, f"w{width}")
                os.makedirs(out, exist_ok=True)
                subprocess.run([args.python, EXPORT, "--gated-depth", str(depth),
                                "--width", str(width), "--out", out],
                               check=True, capture_output=True)
                model = os.path.join(out, f"vit{depth}_gated.onnx")
                cells.append(f"{fold_pass_ms(args.tac_opt, model, args.repeat):.1f} ms")
                if width == widths[0]:
                    lowering = []
                    for fold in ([], ["--tac-fold-layers"]):
                        seconds, proc = timed([args.tac_opt, model, "--tac-form-adaptive-blocks",
                                               *fold, "--tac-reference-cpu"], args.repeat)
                        lowering.append((seconds, proc.stdout.count("\n")))
            (s0, l0), (s1, l1) = lowering
            print(f"{depth:>6} " + " ".join(f"{c:>20}" for c in cells)
                  + f"  {s0:.2f} s -> {s1:.2f} s ({l0 / 1000:.1f}k -> {l1 / 1000:.1f}k lines)")


if __name__ == "__main__":
    main()
