#!/usr/bin/env python3
"""Writes the binary protobuf of an ONNX text model: tests keep fixtures as
text (reviewable, no binary blobs) and make binaries when they need them.

usage: onnxtext_to_onnx.py IN.onnxtext OUT.onnx [--external-data]
  --external-data  store initializers in OUT.onnx.data beside the model
"""
import os
import sys

import onnx
import onnx.checker
import onnx.numpy_helper
import onnx.parser


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    external = "--external-data" in sys.argv
    with open(args[0]) as f:
        model = onnx.parser.parse_model(f.read())
    onnx.checker.check_model(model)
    if external:
        # Only raw_data moves to external files; the text parser fills the
        # typed fields, so re-encode every initializer.
        for i, tensor in enumerate(model.graph.initializer):
            array = onnx.numpy_helper.to_array(tensor)
            model.graph.initializer[i].CopyFrom(
                onnx.numpy_helper.from_array(array, tensor.name))
        onnx.save_model(model, args[1], save_as_external_data=True,
                        all_tensors_to_one_file=True,
                        location=os.path.basename(args[1]) + ".data",
                        size_threshold=0)
    else:
        onnx.save_model(model, args[1])


if __name__ == "__main__":
    main()
