#!/usr/bin/env python3
"""Compiles the test models with --target=cpu,cuda for the CUDA tests and
scripts/gpu-check.sh: vit_tiny, vit_tiny_gated, bert_tiny and, when present,
the bundled adaptive Fashion-MNIST ViT."""
import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = [
    ("vit_tiny", "test/Import/Models/vit_tiny.onnx"),
    ("vit_tiny_gated", "test/Import/Models/vit_tiny_gated.onnx"),
    ("bert_tiny", "test/Import/Models/bert_tiny.onnx"),
    ("fmnist_vit_adaptive", "models/fmnist_vit_adaptive.onnx"),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tac-compile", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cpu", default="x86-64",
                        help="CPU level of the CPU half (portable by default)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, source in MODELS:
        path = os.path.join(ROOT, source)
        if not os.path.exists(path):
            print(f"skipping {name}: {source} not found")
            continue
        out = os.path.join(args.out, name + ".tacm")
        cmd = [args.tac_compile, path, "--target=cpu,cuda", "--cpu=" + args.cpu,
               "-o", out]
        print(" ".join(cmd), flush=True)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
