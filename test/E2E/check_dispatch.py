#!/usr/bin/env python3
"""End-to-end: tac-run's controller picks the path ONNX semantics pick.

For an If-gated model (each layer an ONNX If on `depth > i`, tac metadata
naming the policy output and the path set) the ONNX model itself, run by
ONNX Runtime, is the oracle of the dispatch decision. Checked models:
  - test/Import/Models/vit_tiny_gated.onnx (2 layers, paths [[0], [0, 1]]);
  - a deeper gated ViT exported on the fly by
    `export_models.py --gated-depth D --out TMP` (D = --depth, 4 by
    default; a path for every prefix depth).

Per model: --count seeded random images with a spread of magnitudes and
offsets (so the policy picks several depths), each written as .npy; ONNX
Runtime gives the policy output (tac.policy_output, `depth`); the layers
whose If branch ONNX takes are those i with depth > i, and the expected
path is the index of the tac.paths entry with exactly those layers
(computed from the metadata, not assumed to be depth - 1). tac-run (no
--path) on the same image must report that path in --json, and its
outputs must equal ONNX Runtime's (floats max |error| <= 1e-4, integers
exactly).

Images whose predictor score lies within 1e-4 of one of GatedViT's
decision thresholds are replaced by the next candidate (both answers would
be right there; see decision_margin).

Prints the path histogram per model and `dispatch agreed N/M`; exit code 1
on any disagreement, on any tac failure, or if the deep model's inputs
reach fewer than 2 distinct paths.
"""
import argparse
import collections
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import tac_e2e as e2e  # noqa: E402

TOLERANCE = 1e-4
MARGIN = 1e-4


def gate_count(model):
    """Number of If nodes at the top level of the graph (the gated layers)."""
    return sum(1 for n in model.graph.node if n.op_type == "If")


def expected_path(depth, paths, layers):
    """The tac.paths index whose layer list is {i < layers : depth > i}, or
    None if no path has exactly those layers."""
    taken = sorted(i for i in range(layers) if depth > i)
    for p, path in enumerate(paths):
        if sorted(path) == taken:
            return p
    return None


def decision_margin(score, layers):
    """Distance of the predictor's score from GatedViT's nearest decision
    threshold (export_models.py: depth = 1 + (score > 0.5) for 2 layers,
    else 1 + int(score * (layers - 0.001)))."""
    if layers == 2:
        return abs(score - 0.5)
    levels = float(layers) - 0.001
    scaled = score * levels
    return abs(scaled - round(scaled)) / levels


def candidates(seed):
    rng = np.random.RandomState(seed)
    while True:
        scale = 10 ** rng.uniform(-2, 1.5)
        offset = rng.uniform(-3, 3)
        yield (rng.randn(1, 1, 28, 28) * scale + offset).astype(np.float32)


def check_model(args, onnx_path, label, seed, need_paths):
    """Returns (agreed, total, passed)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(onnx_path)
    meta = {p.key: p.value for p in model.metadata_props}
    paths = json.loads(meta["tac.paths"])
    policy = meta["tac.policy_output"]
    predictor = meta.get("tac.predictor_output")
    layers = gate_count(model)
    if layers == 0 or max(max(p) for p in paths) >= layers:
        print(f"FAIL {label}: {layers} If gates do not cover tac.paths {paths}")
        return 0, 0, False
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    out_names = [o.name for o in sess.get_outputs()]

    work = os.path.join(args.work, label)
    os.makedirs(work, exist_ok=True)
    tacm = os.path.join(work, label + ".tacm")
    result = e2e.compile_model(args.tac_compile, onnx_path, tacm)
    if not result.ok or not os.path.isfile(tacm):
        why = result.describe() if not result.ok else "exit 0 but no .tacm written"
        print(f"FAIL {label}: tac-compile {why}; command: {result.command_line()}")
        return 0, args.count, False

    # ONNX Runtime's decisions on the inputs.
    cases, skipped, gen = [], 0, candidates(seed)
    while len(cases) < args.count:
        image = next(gen)
        outs = dict(zip(out_names, sess.run(None, {inp.name: image})))
        if predictor in outs and decision_margin(float(outs[predictor].reshape(-1)[0]),
                                                 layers) < MARGIN:
            skipped += 1
            continue
        depth = int(np.asarray(outs[policy]).reshape(-1)[0])
        path = expected_path(depth, paths, layers)
        if path is None:
            print(f"FAIL {label}: the policy's depth {depth} takes layers "
                  f"{[i for i in range(layers) if depth > i]}, which is no path of {paths}")
            return 0, args.count, False
        k = len(cases)
        file = os.path.join(work, f"input_{k}.npy")
        np.save(file, image)
        cases.append((k, file, path, outs))

    def run_case(case):
        k, file, path, outs = case
        out_dir = os.path.join(work, f"out_{k}")
        shutil.rmtree(out_dir, ignore_errors=True)
        res = e2e.run_model(args.tac_run, tacm, {inp.name: file}, output_dir=out_dir)
        if not res.ok:
            return k, path, None, [f"tac-run failed ({res.describe()}); "
                                   f"command: {res.command_line()}"]
        problems = []
        try:
            got_path = e2e.parse_json(res)["path"]
        except ValueError as e:
            return k, path, None, [str(e)]
        if got_path != path:
            problems.append(f"tac-run chose path {got_path}, ONNX semantics path {path} "
                            f"({policy} = {int(np.asarray(outs[policy]).reshape(-1)[0])}"
                            + (f", {predictor} = {float(outs[predictor].reshape(-1)[0]):.6f}"
                               if predictor in outs else "") + ")")
        for name in out_names:
            got, why = e2e.load_output(out_dir, name)
            if got is None:
                problems.append(why)
                continue
            ok, _, message = e2e.compare(name, got, np.asarray(outs[name]), TOLERANCE)
            if not ok:
                problems.append(message + " vs ONNX Runtime")
        return k, path, got_path, problems

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = sorted(pool.map(run_case, cases))

    want_hist = collections.Counter(path for _, path, _, _ in results)
    got_hist = collections.Counter(got for _, _, got, _ in results)
    agreed = 0
    for k, path, got, problems in results:
        if problems:
            print(f"FAIL {label} input {k}: " + "; ".join(problems))
        else:
            agreed += 1
    print(f"{label}: {len(paths)} paths {paths}; ONNX path histogram "
          f"{dict(sorted(want_hist.items()))}, tac-run "
          f"{dict(sorted(got_hist.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))}"
          + (f"; {skipped} inputs within {MARGIN:g} of a threshold replaced" if skipped else ""))
    passed = agreed == len(results)
    if len(want_hist) < need_paths:
        print(f"FAIL {label}: the inputs reach only {len(want_hist)} distinct paths, "
              f"need {need_paths}")
        passed = False
    print(f"{'ok  ' if passed else 'FAIL'} {label}: agreed {agreed}/{len(results)}")
    return agreed, len(results), passed


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tac-compile", required=True, help="the tac-compile binary")
    parser.add_argument("--tac-run", required=True, help="the tac-run binary")
    parser.add_argument("--work", help="folder for models, inputs and outputs "
                                       "(kept); default: a temporary folder, removed")
    parser.add_argument("--count", type=int, default=50, help="inputs per model (50)")
    parser.add_argument("--depth", type=int, default=4,
                        help="layers of the on-the-fly gated ViT (4); 0 skips it")
    parser.add_argument("--seed", type=int, default=7, help="input seed (7)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2,
                        help="parallel tac-run processes (nproc)")
    parser.add_argument("--python", default=sys.executable,
                        help="Python with PyTorch for export_models.py (this one)")
    args = parser.parse_args()
    errors = e2e.check_tools(tac_compile=args.tac_compile, tac_run=args.tac_run)
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        errors.append(f"error: {e}: run this with the project's .venv python "
                      f"(onnx and onnxruntime are the oracle)")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    args.tac_compile, args.tac_run = map(os.path.abspath, (args.tac_compile, args.tac_run))
    temporary = args.work is None
    args.work = tempfile.mkdtemp(prefix="tac-e2e-dispatch-") if temporary else args.work
    os.makedirs(args.work, exist_ok=True)
    try:
        models = [(os.path.join(e2e.MODELS_DIR, "vit_tiny_gated.onnx"), "vit_tiny_gated", 2)]
        if args.depth:
            proc = subprocess.run([args.python, e2e.EXPORT_SCRIPT, "--gated-depth",
                                   str(args.depth), "--out", args.work],
                                  capture_output=True, text=True)
            deep = os.path.join(args.work, f"vit{args.depth}_gated.onnx")
            if proc.returncode != 0 or not os.path.isfile(deep):
                print(f"error: export_models.py --gated-depth {args.depth} failed "
                      f"(exit {proc.returncode}): {proc.stderr.strip()[-2000:]}",
                      file=sys.stderr)
                return 1
            models.append((deep, f"vit{args.depth}_gated", 2))
        agreed = total = 0
        passed = True
        for n, (path, label, need) in enumerate(models):
            a, t, ok = check_model(args, path, label, args.seed + n, need)
            agreed, total, passed = agreed + a, total + t, passed and ok
    finally:
        if temporary:
            shutil.rmtree(args.work, ignore_errors=True)
    print(f"dispatch agreed {agreed}/{total}")
    return 0 if passed and agreed == total else 1


if __name__ == "__main__":
    sys.exit(main())
