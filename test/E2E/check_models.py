#!/usr/bin/env python3
"""End-to-end: the three PyTorch models compiled by tac-compile and run by
tac-run give PyTorch's outputs.

For each of vit_tiny, bert_tiny and vit_tiny_gated (test/Import/Models/):
  1. tac-compile MODEL.onnx -o WORK/MODEL.tacm --target=cpu;
  2. for every variant (a static model: its one variant; the gated ViT:
     every path of tac.paths, forced with --path=K) tac-run runs each
     reference input (ref/<model>/input_<k>_<name>.npy) with --json and
     --output-dir, and every output must equal PyTorch's
     (output_<k>_<name>.npy, or output_<k>_path<K>_<name>.npy for a forced
     path) within max |error| <= 1e-4 (integer outputs exactly, shapes and
     dtypes equal). The JSON must name the variant that ran: path -1 for a
     static model, K with --path=K (and layers = tac.paths[K]);
  3. the gated ViT also runs each input without --path: the JSON path must
     be the one PyTorch's own policy chose (refs.json policy_path), and
     the outputs PyTorch's unforced outputs.

The references come from `export_models.py --references` (PyTorch eager,
checked against ONNX Runtime when written). Prints one line per
model/variant with its max error, then `models passed N/M`; exit code 1 on
any failure.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np

import tac_e2e as e2e  # noqa: E402

MODELS = ["vit_tiny", "bert_tiny", "vit_tiny_gated"]
TOLERANCE = 1e-4


def check_run(args, name, info, tacm, k, out_dir, path, ref_tag):
    """One tac-run of input k. Returns (problems, max error, JSON path)."""
    ref = os.path.join(args.refs, name)
    inputs = {i["name"]: os.path.join(ref, f"input_{k}_{i['name']}.npy")
              for i in info["inputs"]}
    result = e2e.run_model(args.tac_run, tacm, inputs, output_dir=out_dir, path=path)
    if not result.ok:
        return [f"input {k}: tac-run failed ({result.describe()}); "
                f"command: {result.command_line()}"], float("inf"), None
    problems, worst = [], 0.0
    try:
        report = e2e.parse_json(result)
    except ValueError as e:
        report = None
        problems.append(f"input {k}: {e}")
    paths = info["paths"]
    if report is not None:
        if paths is None:
            if report["path"] != -1:
                problems.append(f"input {k}: JSON path {report['path']}, a static model reports -1")
        else:
            want = path if path is not None else info["policy_path"][k]
            if report["path"] != want:
                problems.append(f"input {k}: JSON path {report['path']}, expected {want}"
                                + (" (forced with --path)" if path is not None
                                   else " (PyTorch's policy)"))
            elif list(report["layers"]) != paths[want]:
                problems.append(f"input {k}: JSON layers {report['layers']}, "
                                f"expected tac.paths[{want}] = {paths[want]}")
        names = [o.get("name") for o in report["outputs"] if isinstance(o, dict)]
        want_names = [o["name"] for o in info["outputs"]]
        if names != want_names:
            problems.append(f"input {k}: JSON outputs {names}, expected {want_names}")
        else:
            for o, w in zip(report["outputs"], info["outputs"]):
                if list(o.get("shape", [])) != w["shape"]:
                    problems.append(f"input {k}: JSON shape of {w['name']} "
                                    f"{o.get('shape')}, expected {w['shape']}")
    for o in info["outputs"]:
        want = np.load(os.path.join(ref, f"output_{k}{ref_tag}_{o['name']}.npy"))
        got, why = e2e.load_output(out_dir, o["name"])
        if got is None:
            problems.append(f"input {k}: {why}")
            worst = float("inf")
            continue
        ok, err, message = e2e.compare(o["name"], got, want, TOLERANCE)
        worst = max(worst, err)
        if not ok:
            problems.append(f"input {k}: {message}")
    return problems, worst, None if report is None else report["path"]


def check_model(args, name):
    """Prints the model's lines; returns True if everything passed."""
    ref = os.path.join(args.refs, name)
    with open(os.path.join(ref, "refs.json")) as f:
        info = json.load(f)
    onnx_path = os.path.join(args.models, info["model"])
    if info["paths"] is not None:
        meta_paths = json.loads(e2e.onnx_metadata(onnx_path).get("tac.paths", "null"))
        if meta_paths != info["paths"]:
            print(f"FAIL {name}: refs.json paths {info['paths']} differ from the model's "
                  f"tac.paths {meta_paths}: regenerate the references")
            return False
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    tacm = os.path.join(work, name + ".tacm")
    result = e2e.compile_model(args.tac_compile, onnx_path, tacm)
    if not result.ok or not os.path.isfile(tacm):
        why = result.describe() if not result.ok else "exit 0 but no .tacm written"
        print(f"FAIL {name}: tac-compile {why}; command: {result.command_line()}")
        return False

    # (label, --path value, reference file tag)
    if info["paths"] is None:
        variants = [("static", None, "")]
    else:
        variants = [(f"path {p} (layers {layers})", p, f"_path{p}")
                    for p, layers in enumerate(info["paths"])]
        variants.append(("auto (policy)", None, ""))
    passed = True
    for label, path, tag in variants:
        problems, worst, chosen = [], 0.0, []
        for k in range(info["count"]):
            out_dir = os.path.join(work, f"{'auto' if path is None else path}_{k}")
            shutil.rmtree(out_dir, ignore_errors=True)
            p, w, c = check_run(args, name, info, tacm, k, out_dir, path, tag)
            problems += p
            worst = max(worst, w)
            chosen.append(c)
        extra = ""
        if info["paths"] is not None and path is None:
            extra = f", paths {chosen} (PyTorch's policy {info['policy_path']})"
        status = "ok  " if not problems else "FAIL"
        print(f"{status} {name} {label}: max |error| {worst:.3g} over "
              f"{info['count']} inputs{extra}")
        for problem in problems:
            print(f"       {problem}")
        passed = passed and not problems
    return passed


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tac-compile", required=True, help="the tac-compile binary")
    parser.add_argument("--tac-run", required=True, help="the tac-run binary")
    parser.add_argument("--work", help="folder for the .tacm files and outputs "
                                       "(kept); default: a temporary folder, removed")
    parser.add_argument("--models", default=e2e.MODELS_DIR, help="where the .onnx files are")
    parser.add_argument("--refs", default=e2e.REF_DIR, help="the reference data")
    parser.add_argument("--only", action="append", choices=MODELS,
                        help="check only this model (repeatable)")
    args = parser.parse_args()
    errors = e2e.check_tools(tac_compile=args.tac_compile, tac_run=args.tac_run)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    args.tac_compile, args.tac_run = map(os.path.abspath, (args.tac_compile, args.tac_run))
    temporary = args.work is None
    args.work = tempfile.mkdtemp(prefix="tac-e2e-models-") if temporary else args.work
    os.makedirs(args.work, exist_ok=True)
    try:
        models = args.only or MODELS
        passed = sum(check_model(args, name) for name in models)
    finally:
        if temporary:
            shutil.rmtree(args.work, ignore_errors=True)
    print(f"models passed {passed}/{len(models)}")
    return 0 if passed == len(models) else 1


if __name__ == "__main__":
    sys.exit(main())
