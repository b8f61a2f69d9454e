#!/usr/bin/env python3
"""Runs ONNX's backend node tests through tac-compile and tac-run.

Every node test that run_node_tests.py selects (its op table from
`tac-translate --list-onnx-ops` and its classify()) is

  1. compiled: tac-compile model.onnx -o WORK/NAME.tacm --target=cpu; shape
     and axes operands the compiler needs fixed are frozen from the test's
     own data (test_data_set_0/input_<i>.pb) with --bind-input, exactly as
     run_node_tests.import_test does (it follows the importer's
     `--bind-input=NAME=FILE.pb` hint);
  2. run: tac-run NAME.tacm --input=NAME=input_<i>.pb ... (graph input
     order, inputs frozen in step 1 left out) --output-dir=DIR;
  3. checked: every graph output DIR/<name>.npy against output_<j>.pb with
     the ONNX backend test tolerances, np.testing.assert_allclose(actual,
     expected, rtol=1e-3, atol=1e-7) (NaN matches NaN); integers and bools
     exactly (FLOAT16 outputs within atol = rtol = 1e-3, as
     check_node_numerics.py); shapes and element types must match (a BFLOAT16 output may
     come back as uint16 bit patterns or as float32 values, and matches
     within one bfloat16 ulp: the test data truncated, tac rounds to
     nearest even).

Test-data quirks handled as check_node_numerics.py does: an input whose
data does not fit the graph's declared static shape (the `like` operand of
the CastLike *_expanded tests, whose value the model ignores) is fed as
zeros of the declared shape; BFLOAT16 data stored as UINT16 TensorProtos
(old test data) is re-tagged BFLOAT16 (same bits).

With --batch-rows=N (N > 1) every test is compiled with --batch-sizes=N and
run once with N copies of its inputs as one batch (rows along a new leading
dimension, or replacing a leading 1); every row of every output must match
the expected output. This checks tac-batch-rows on every op the importer
emits.

Runs --jobs tests in parallel (nproc). Prints one line per failing test and
a final `passed N/M`; exit code 1 unless every selected test passes.
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import numpy_helper

import run_node_tests  # noqa: E402

RTOL, ATOL = 1e-3, 1e-7
F16_TOL = 1e-3
COMPILE_TIMEOUT_S = 300
RUN_TIMEOUT_S = 120
TP = onnx.TensorProto


def np_dtype(elem_type):
    """The numpy dtype of an ONNX element type (BFLOAT16: None)."""
    if elem_type == TP.BFLOAT16:
        return None
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except AttributeError:  # onnx < 1.13
        return np.dtype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[elem_type])


def status(proc):
    if proc.returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-proc.returncode).name}"
        except ValueError:
            return f"killed by signal {-proc.returncode}"
    return f"exit code {proc.returncode}"


def first_error(stderr):
    lines = [l for l in stderr.strip().splitlines() if "error" in l.lower()]
    return (lines or stderr.strip().splitlines() or ["(no message)"])[0].strip()


def run(cmd, timeout):
    """(proc or None, message if it failed)."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              errors="backslashreplace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout}s"
    if proc.returncode != 0:
        return proc, f"{status(proc)}: {first_error(proc.stderr)}"
    return proc, None


def graph_inputs(model):
    """Graph inputs that are not initializers, in order (the test's
    input_<i>.pb are numbered over these, as in run_node_tests)."""
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def static_dims(value):
    tt = value.type.tensor_type
    if not tt.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
    return dims


def compile_test(args, test_dir, model, tacm):
    """Compiles, freezing operands the compiler asks for (the loop of
    run_node_tests.import_test with tac-compile). Returns (error or None,
    names bound)."""
    inputs = [i.name for i in graph_inputs(model)]
    data_dir = os.path.join(test_dir, "test_data_set_0")
    extra = []
    for value in graph_inputs(model):
        dims = static_dims(value)
        data = os.path.join(data_dir, f"input_{inputs.index(value.name)}.pb")
        if dims is not None and None in dims and os.path.exists(data):
            shape = list(onnx.load_tensor(data).dims)
            extra.append(f"--input-shape={value.name}:" + "x".join(map(str, shape)))
    bound = {}
    while True:
        cmd = [args.tac_compile, os.path.join(test_dir, "model.onnx"), "-o", tacm,
               "--target=cpu", *extra]
        if args.batch_rows > 1:
            cmd.append(f"--batch-sizes={args.batch_rows}")
        cmd += [f"--bind-input={n}={p}" for n, p in bound.items()]
        proc, failure = run(cmd, COMPILE_TIMEOUT_S)
        if failure is None:
            if not os.path.isfile(tacm):
                return "tac-compile exit 0 but no .tacm written", sorted(bound)
            return None, sorted(bound)
        hint = run_node_tests.BIND_HINT.search(proc.stderr) if proc else None
        name = hint.group(1) if hint else None
        data = os.path.join(data_dir, f"input_{inputs.index(name)}.pb") if name in inputs else None
        if not data or name in bound or not os.path.exists(data):
            return f"tac-compile {failure}", sorted(bound)
        bound[name] = data


def input_file(value, path, work):
    """The file to feed for graph input `value` (test data at `path`), with
    the test-data quirks fixed in a copy under work."""
    tensor = onnx.load_tensor(path)
    elem = value.type.tensor_type.elem_type
    dims = static_dims(value)
    if dims is not None and None not in dims and list(tensor.dims) != dims:
        # Data that does not fit the declared shape: zeros of that shape.
        zero = TP()
        zero.name, zero.data_type = value.name, elem
        zero.dims.extend(dims)
        size = int(np.prod(dims)) if dims else 1
        itemsize = 2 if elem == TP.BFLOAT16 else np_dtype(elem).itemsize
        zero.raw_data = bytes(size * itemsize)
        tensor = zero
    elif elem == TP.BFLOAT16 and tensor.data_type == TP.UINT16:
        bits = numpy_helper.to_array(tensor).astype(np.uint16)
        tensor = TP()
        tensor.name, tensor.data_type = value.name, TP.BFLOAT16
        tensor.dims.extend(bits.shape)
        tensor.raw_data = bits.astype("<u2").tobytes()
    else:
        return path
    fixed = os.path.join(work, f"input_{re.sub(r'[^A-Za-z0-9._-]', '_', value.name)}.pb")
    with open(fixed, "wb") as f:
        f.write(tensor.SerializeToString())
    return fixed


def batch_file(path, rows, work, name):
    """`rows` copies of the tensor in `path` as one .npy batch (a leading 1
    replaced by the rows, else a leading dimension added); None for bfloat16."""
    tensor = onnx.load_tensor(path)
    if tensor.data_type == TP.BFLOAT16:
        return None
    x = numpy_helper.to_array(tensor)
    one = x[0] if x.ndim and x.shape[0] == 1 else x
    batch = np.ascontiguousarray(np.stack([one] * rows))
    out = os.path.join(work, f"batch_{re.sub(r'[^A-Za-z0-9._-]', '_', name)}.npy")
    np.save(out, batch)
    return out


def output_file(directory, name):
    for candidate in (name, re.sub(r"[^A-Za-z0-9._-]", "_", name),
                      re.sub(r'[/\\:*?"<>|\x00-\x1f]', "_", name)):
        path = os.path.join(directory, candidate + ".npy")
        if os.path.isfile(path):
            return path
    return None


def bf16_values(array):
    """float32 values of bf16 data given as uint16 bits, float32 or V2."""
    if array.dtype == np.float32:
        return array
    if array.dtype.itemsize == 2 and array.dtype.kind in "uiV":
        bits = array.view(np.uint16).astype(np.uint32) << 16
        return bits.view(np.float32)
    return None


def compare_output(name, elem, got, want_proto):
    """None if got matches the expected TensorProto, else why not."""
    want = numpy_helper.to_array(want_proto)
    if list(got.shape) != list(want.shape):
        return f"{name}: shape {list(got.shape)}, expected {list(want.shape)}"
    if elem == TP.BFLOAT16:
        g = bf16_values(got)
        if g is None:
            return f"{name}: dtype {got.dtype} for a BFLOAT16 output"
        w = bf16_values(want) if want.dtype != np.float32 else want
        got, want = g, w
        # libonnx-testdata (ONNX 1.12) made its float->bfloat16 expectations
        # by truncating; tac rounds to nearest even, as Cast specifies from
        # opset 19. One bfloat16 ulp (at most 2^-7 relative) covers it.
        rtol = max(RTOL, 2.0 ** -7)
        try:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=ATOL, equal_nan=True)
        except AssertionError as e:
            return f"{name}: {str(e).strip().splitlines()[-1]}"
        return None
    else:
        dtype = np_dtype(elem)
        if got.dtype != dtype:
            return f"{name}: dtype {got.dtype}, expected {dtype}"
        want = want.astype(dtype)
    if got.size == 0:
        return None
    if np.issubdtype(want.dtype, np.floating):
        # A FLOAT16 result computed in another order than ONNX's reference
        # (Attention's two MatMuls and softmax in f16) differs by a few f16
        # ulps (2^-11 to 2^-10 relative each): atol = rtol = 1e-3 for it,
        # as check_node_numerics.py.
        rtol, atol = (F16_TOL, F16_TOL) if elem == TP.FLOAT16 else (RTOL, ATOL)
        try:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
        except AssertionError as e:
            lines = [l.strip() for l in str(e).splitlines()
                     if l.strip() and not l.strip().startswith("Not equal")]
            detail = "; ".join(lines[:3])
            return f"{name}: {detail}"
        return None
    bad = got != want
    if bad.any():
        i = np.unravel_index(int(np.argmax(bad)), bad.shape)
        return (f"{name}: {int(bad.sum())}/{want.size} values differ, first at "
                f"{[int(x) for x in i]}: got {got[i]!r}, expected {want[i]!r}")
    return None


def check_one(job):
    """(name, None if passed else the reason)."""
    name, test_dir, args = job
    try:
        work = os.path.join(args.work, name)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        model = onnx.load(os.path.join(test_dir, "model.onnx"))
        tacm = os.path.join(work, name + ".tacm")
        error, bound = compile_test(args, test_dir, model, tacm)
        if error:
            return name, error
        data_dir = os.path.join(test_dir, "test_data_set_0")
        cmd = [args.tac_run, tacm]
        for n, value in enumerate(graph_inputs(model)):
            if value.name in bound:
                continue
            path = os.path.join(data_dir, f"input_{n}.pb")
            if not os.path.exists(path):
                continue  # an optional input the test leaves out
            feed = input_file(value, path, work)
            if args.batch_rows > 1:
                feed = batch_file(feed, args.batch_rows, work, value.name)
                if feed is None:
                    return name, None  # bfloat16 data: no .npy for it; skipped
            cmd.append(f"--input={value.name}={feed}")
        out_dir = os.path.join(work, "out")
        os.makedirs(out_dir)
        cmd.append(f"--output-dir={out_dir}")
        _, failure = run(cmd, RUN_TIMEOUT_S)
        if failure:
            return name, f"tac-run {failure}"
        problems = []
        for j, value in enumerate(model.graph.output):
            path = output_file(out_dir, value.name)
            if path is None:
                problems.append(f"{value.name}: no .npy written (found "
                                f"{sorted(os.listdir(out_dir))})")
                continue
            try:
                got = np.load(path, allow_pickle=False)
            except Exception as e:
                problems.append(f"{value.name}: unreadable .npy ({e})")
                continue
            want = onnx.load_tensor(os.path.join(data_dir, f"output_{j}.pb"))
            # A model without fed inputs runs one row (nothing to batch).
            batched = args.batch_rows > 1 and any(a.startswith("--input=") for a in cmd)
            rows = list(got) if batched else [got]
            for r, row in enumerate(rows):
                if batched:
                    row = row.reshape(list(want.dims))
                problem = compare_output(value.name, value.type.tensor_type.elem_type, row, want)
                if problem:
                    problems.append(f"row {r}: {problem}" if batched else problem)
                    break
        if not problems and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        return name, "; ".join(problems) or None
    except Exception as e:  # one broken test must not hide the others
        return name, f"harness error {type(e).__name__}: {e}"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tac-compile", required=True, help="the tac-compile binary")
    parser.add_argument("--tac-run", required=True, help="the tac-run binary")
    parser.add_argument("--tac-translate",
                        help="for the importer's op table (--list-onnx-ops) that "
                             "selects the tests; default: next to --tac-compile")
    parser.add_argument("--node-tests", default="/usr/share/libonnx-testdata/data/node")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2,
                        help="tests in parallel (nproc)")
    parser.add_argument("--filter", help="only tests whose name matches this regex")
    parser.add_argument("--opsets", metavar="LO-HI",
                        help="only tests whose default-domain opset is in "
                             "LO..HI (e.g. 18-23 with a newer ONNX's node tests)")
    parser.add_argument("--work", help="scratch folder; default: a temporary one, removed")
    parser.add_argument("--batch-rows", type=int, default=1,
                        help="compile with --batch-sizes=N and run N rows per test")
    parser.add_argument("--keep", action="store_true",
                        help="keep every test's .tacm and outputs under --work "
                             "(failing tests' are always kept while --work exists)")
    args = parser.parse_args()
    if args.tac_translate is None:
        args.tac_translate = os.path.join(os.path.dirname(os.path.abspath(args.tac_compile)),
                                          "tac-translate")
    for flag, path in (("--tac-compile", args.tac_compile), ("--tac-run", args.tac_run),
                       ("--tac-translate", args.tac_translate)):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            print(f"error: {flag}: no executable at '{path}' (build it first)",
                  file=sys.stderr)
            return 1
    if not os.path.isdir(args.node_tests):
        print(f"error: no node tests at {args.node_tests}: install libonnx-testdata",
              file=sys.stderr)
        return 1
    args.tac_compile, args.tac_run = map(os.path.abspath, (args.tac_compile, args.tac_run))

    start = time.time()
    table = run_node_tests.op_table(args.tac_translate)
    pattern = re.compile(args.filter) if args.filter else None
    temporary = args.work is None
    args.work = tempfile.mkdtemp(prefix="tac-node-runtime-") if temporary else args.work
    os.makedirs(args.work, exist_ok=True)
    in_opsets = run_node_tests.opset_filter(args.opsets)
    jobs = [(name, test_dir, args)
            for name, test_dir, model, reason in run_node_tests.node_tests(args.node_tests, table)
            if reason is None and (not pattern or pattern.search(name)) and in_opsets(model)]
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = sorted(pool.map(check_one, jobs))
    finally:
        if temporary:
            shutil.rmtree(args.work, ignore_errors=True)
    failures = [(name, why) for name, why in results if why]
    for name, why in failures:
        print(f"FAIL {name}: {why}")
    print(f"passed {len(results) - len(failures)}/{len(results)} "
          f"({time.time() - start:.0f}s)")
    return 1 if failures or not results else 0


if __name__ == "__main__":
    sys.exit(main())
