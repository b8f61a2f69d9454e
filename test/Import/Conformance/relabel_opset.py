#!/usr/bin/env python3
"""Copies ONNX node tests whose name matches REGEX to OUT, with the model's
default-domain opset lowered to OPSET where it is above it.

For ops whose newest versions only add element types: ONNX generates each
node test at the newest opset (Pad's at 25, say), so a test of an earlier
version that behaves the same is that test relabelled. The caller states
that the versions between are type-only (docs/importer.md names them).
"""
import argparse
import glob
import os
import re
import shutil
import sys

import onnx


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("node_tests")
    parser.add_argument("out")
    parser.add_argument("opset", type=int)
    parser.add_argument("regex")
    args = parser.parse_args()
    pattern = re.compile(args.regex)
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    copied = 0
    for test_dir in sorted(glob.glob(os.path.join(args.node_tests, "*", ""))):
        name = os.path.basename(os.path.normpath(test_dir))
        if not pattern.fullmatch(name):
            continue
        dst = os.path.join(args.out, name)
        shutil.copytree(test_dir, dst)
        model = onnx.load(os.path.join(dst, "model.onnx"))
        for opset in model.opset_import:
            if opset.domain in ("", "ai.onnx"):
                opset.version = min(opset.version, args.opset)
        onnx.save(model, os.path.join(dst, "model.onnx"))
        copied += 1
    print(f"relabelled {copied} tests to opset {args.opset}")
    return 0 if copied else 1


if __name__ == "__main__":
    sys.exit(main())
