#!/usr/bin/env python3
"""The project's test models converted from opset 17 to opsets 18, 21 and
23 by ONNX's version converter (opsets/, from convert_opsets.py) import,
compile and run to the opset-17 models' results.

For each opsets/<model>_opset<N>.onnx: checks that it declares opset N,
re-attaches the initializers of <model>.onnx (the converter leaves them
as they are; convert_opsets.py stores the converted graph only), then runs
test/E2E/check_models.py's check on it: tac-compile, tac-run of every
reference input on every variant (each path of the gated ViT, and the
path its policy picks), outputs within 1e-4 of the PyTorch references that
the opset-17 models match. Prints check_models' lines and
`converted models passed N/M`; exit code 1 on any failure.
"""
import argparse
import glob
import os
import re
import shutil
import sys
import tempfile
import types

import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "E2E"))
import check_models  # noqa: E402
import tac_e2e as e2e  # noqa: E402

NAME = re.compile(r"(.+)_opset(\d+)\.onnx$")


def rebuild(converted_path, out_path):
    """The converted graph with its opset-17 model's initializers; returns
    the model name, or raises ValueError."""
    match = NAME.match(os.path.basename(converted_path))
    name, opset = match.group(1), int(match.group(2))
    model = onnx.load(converted_path)
    declared = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if declared != [opset]:
        raise ValueError(f"declares opset {declared}, expected [{opset}]")
    original = onnx.load(os.path.join(HERE, name + ".onnx"))
    if [o.version for o in original.opset_import if o.domain in ("", "ai.onnx")] != [17]:
        raise ValueError(f"{name}.onnx is not an opset-17 model")
    if len(model.graph.initializer):
        raise ValueError("has initializers; expected the graph only")
    model.graph.initializer.extend(original.graph.initializer)
    onnx.save(model, out_path)
    return name


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tac-compile", required=True)
    parser.add_argument("--tac-run", required=True)
    parser.add_argument("--converted", default=os.path.join(HERE, "opsets"))
    parser.add_argument("--work", help="keep the rebuilt models, .tacm files and outputs here")
    args = parser.parse_args()
    errors = e2e.check_tools(tac_compile=args.tac_compile, tac_run=args.tac_run)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    files = sorted(glob.glob(os.path.join(args.converted, "*_opset*.onnx")))
    if not files:
        print(f"no converted models in {args.converted}")
        return 1
    work = args.work or tempfile.mkdtemp(prefix="tac-converted-")
    passed = 0
    try:
        for path in files:
            tag = os.path.splitext(os.path.basename(path))[0]
            models = os.path.join(work, tag)
            os.makedirs(models, exist_ok=True)
            name = NAME.match(os.path.basename(path)).group(1)
            try:
                rebuild(path, os.path.join(models, name + ".onnx"))
            except ValueError as e:
                print(f"FAIL {tag}: {e}")
                continue
            run_args = types.SimpleNamespace(
                tac_compile=os.path.abspath(args.tac_compile),
                tac_run=os.path.abspath(args.tac_run),
                models=models, refs=e2e.REF_DIR,
                work=os.path.join(work, tag + "-run"))
            print(f"{tag}:")
            passed += check_models.check_model(run_args, name)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(f"converted models passed {passed}/{len(files)}")
    return 0 if passed == len(files) else 1


if __name__ == "__main__":
    sys.exit(main())
