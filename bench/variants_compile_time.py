#!/usr/bin/env python3
"""Compile time of 12 depth variants vs one: the table in docs/passes.md
(Measurements).

Exports a 12-layer If-gated ViT (test/Import/Models/export_models.py
--gated-depth 12; tac.paths lists the 12 prefix paths) and a copy whose
tac.paths holds only the full path, then times `tac-compile MODEL
[--no-fold] -o /dev/null` (import, form, fold, specialise, cost), best of
--repeat runs.

usage: bench/variants_compile_time.py [--tac-compile build/bin/tac-compile]
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORT = os.path.join(ROOT, "test", "Import", "Models", "export_models.py")


def best_time(cmd, repeat):
    best = None
    for _ in range(repeat):
        start = time.time()
        subprocess.run(cmd, check=True, capture_output=True)
        elapsed = time.time() - start
        best = elapsed if best is None or elapsed < best else best
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tac-compile", default=os.path.join(ROOT, "build", "bin", "tac-compile"))
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--depth", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([args.python, EXPORT, "--gated-depth", str(args.depth), "--out", tmp],
                       check=True, capture_output=True)
        many = os.path.join(tmp, f"vit{args.depth}_gated.onnx")
        one = os.path.join(tmp, f"vit{args.depth}_gated_1path.onnx")
        model = onnx.load(many)
        for prop in model.metadata_props:
            if prop.key == "tac.paths":
                prop.value = json.dumps([list(range(args.depth))])
        onnx.save(model, one)
        print(f"{'':>16} {'1 variant':>10} {str(args.depth) + ' variants':>12} {'ratio':>7}")
        for label, extra in (("with folding", []), ("without folding", ["--no-fold"])):
            t1 = best_time([args.tac_compile, one, "--compile-to=variants", *extra, "-o", os.devnull], args.repeat)
            tn = best_time([args.tac_compile, many, "--compile-to=variants", *extra, "-o", os.devnull], args.repeat)
            print(f"{label:>16} {t1:>9.3f}s {tn:>11.3f}s {tn / t1:>6.2f}x")


if __name__ == "__main__":
    main()
