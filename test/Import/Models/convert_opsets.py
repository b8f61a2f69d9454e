#!/usr/bin/env python3
"""Regenerates opsets/: the project's opset-17 test models converted to
opsets 18, 21 and 23 by ONNX's own version converter.

Debian 12's onnx (1.12) converts up to opset 17 only, so this runs with a
newer onnx from PyPI in a throwaway venv (only for generating these files):

  python3 -m venv /tmp/onnx-venv && /tmp/onnx-venv/bin/pip install onnx==1.23.2
  /tmp/onnx-venv/bin/python test/Import/Models/convert_opsets.py

Each converted model must pass onnx.checker (full check) before it is
written. The converter leaves the initializers as they are (checked here),
so the files keep the converted graph only, without initializers (20-30 KB
instead of about 100 KB each); check_converted.py re-attaches the weights
of the opset-17 model and checks the result against the PyTorch references.
"""
import argparse
import os
import sys

import onnx
from onnx import version_converter

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ["vit_tiny", "bert_tiny", "vit_tiny_gated"]
OPSETS = [18, 21, 23]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(HERE, "opsets"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in MODELS:
        model = onnx.load(os.path.join(HERE, name + ".onnx"))
        for opset in OPSETS:
            converted = version_converter.convert_version(model, opset)
            onnx.checker.check_model(converted, full_check=True)
            if [t.SerializeToString() for t in converted.graph.initializer] != \
                    [t.SerializeToString() for t in model.graph.initializer]:
                sys.exit(f"{name} at opset {opset}: the converter changed "
                         f"initializers; commit the whole model instead")
            del converted.graph.initializer[:]
            converted.doc_string = (
                f"{name}.onnx converted from opset 17 to {opset} by "
                f"onnx {onnx.__version__}'s version_converter; initializers "
                f"removed (check_converted.py re-attaches {name}.onnx's)")
            path = os.path.join(args.out, f"{name}_opset{opset}.onnx")
            onnx.save(converted, path)
            print(f"{path}: {os.path.getsize(path)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
