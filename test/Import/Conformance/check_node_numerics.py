#!/usr/bin/env python3
"""Checks the numbers of tac's ONNX import against ONNX's backend node tests.

For every node test that run_node_tests.py selects and that imports, runs
the imported IR on the CPU through upstream MLIR and compares each output
with the test's expected output (test_data_set_0/output_*.pb):

  1. tac-translate imports the model (constants inlined, shape/axes
     operands frozen with --bind-input exactly as run_node_tests.py does);
  2. the imported @main becomes @model, and an @entry function builds the
     test's inputs as constants (hex dense literals; true/false for i1),
     calls @model and prints every output with the runner utils (outputs
     of other element types are first widened: ints and bools to i64,
     f16/bf16 to f32);
  3. tac-opt lowers it with the reference CPU pipeline (CPU_PIPELINE) and
     mlir-runner runs @entry.

Comparison: the printed shape must equal the expected shape. Integers and
bools must match exactly. Floats match if |a - b| <= atol + rtol * |b|,
with atol = rtol = 1e-4 for f32/f64 (the runner prints 6 significant
digits, well inside that), 1e-3 for f16 and 1e-2 for bf16 (about one ulp
of the type); NaN must match NaN (either sign) and +-inf must match
exactly.

Prints one line per test that mismatches or fails to run, and a final line
`numerics N/M match`. Exit code 1 on any mismatch or error.
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper

import run_node_tests  # noqa: E402

# The reference CPU pipeline of examples/run_adaptive_mlp.py, plus
# --convert-math-to-funcs: math.ipowi (integer Pow) has no LLVM lowering,
# and math.fpowi with an i64 exponent (Pow of a float by an integer) lowers
# to llvm.powi.*.i64, which the x86 backend rejects ("POWI exponent does not
# match sizeof(int)"); the pass outlines both as software loops.
CPU_PIPELINE = ["--tac-reference-cpu"]  # lib/Pipelines/Pipelines.cpp
# Every initializer inline: no dense_resource blobs reach the LLVM lowering.
IMPORT_ARGS = ["--inline-constant-limit=1000000000000"]
TIMEOUT_S = 300

TP = onnx.TensorProto
UNSIGNED = {TP.UINT8, TP.UINT16, TP.UINT32, TP.UINT64, TP.BOOL}
TOLERANCE = {"f32": 1e-4, "f64": 1e-4, "f16": 1e-3, "bf16": 1e-2}
STORAGE = {"f16": np.float16, "bf16": np.uint16, "f32": np.float32,
           "f64": np.float64, "i8": np.int8, "i16": np.int16,
           "i32": np.int32, "i64": np.int64}
NUMBER = re.compile(r"-?(?:nan|inf|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)")


class NotRunnable(Exception):
    """The test cannot be checked; the message says why."""


def parse_tensor_type(text):
    """'tensor<3x?x4xf32>' -> ([3, None, 4], 'f32')."""
    body = re.fullmatch(r"tensor<(.*)>", text.strip()).group(1)
    parts = body.split("x")
    dims = [None if d == "?" else int(d) for d in parts[:-1]]
    return dims, parts[-1]


def tensor_type(dims, elem):
    return "tensor<" + "".join(f"{'?' if d is None else d}x" for d in dims) + elem + ">"


def parse_signature(ir):
    """Argument types, result types, input names, output names of @main."""
    line = next((l for l in ir.splitlines() if "func.func @main(" in l), None)
    if line is None:
        raise NotRunnable("no func.func @main in the imported IR")
    head, _, tail = line.partition(") -> ")
    args = re.findall(r"%arg\d+: (tensor<[^>]*>)", head)
    if head.count("%arg") != len(args):
        raise NotRunnable("@main takes a non-tensor argument")
    results_text = re.split(r" attributes | \{$", tail)[0] if tail else ""
    results = re.findall(r"tensor<[^>]*>", results_text)

    def names(attr):
        match = re.search(attr + r" = \[([^\]]*)\]", line)
        return re.findall(r'"((?:[^"\\]|\\.)*)"', match.group(1)) if match else None

    return args, results, names("tac.input_names"), names("tac.output_names")


def bool_literal(value):
    """Nested true/false literal of a bool array."""
    if value.ndim == 0:
        return "true" if value else "false"
    return "[" + ", ".join(bool_literal(v) for v in value) + "]"


def constant(value, dims, elem, ssa):
    """MLIR lines that define %ssa : tensor<dims x elem> holding value."""
    shape = list(value.shape)
    if len(shape) != len(dims) or any(d is not None and d != s
                                      for d, s in zip(dims, shape)):
        raise NotRunnable(f"input shape {shape} does not fit {tensor_type(dims, elem)}")
    static, declared = tensor_type(shape, elem), tensor_type(dims, elem)
    name = f"%{ssa}_c" if declared != static else f"%{ssa}"
    if value.size == 0:
        lines = [f"{name} = tensor.empty() : {static}"]
    elif elem == "i1":
        lines = [f"{name} = arith.constant dense<{bool_literal(value)}> : {static}"]
    elif elem in STORAGE:
        data = np.ascontiguousarray(value)
        if data.dtype.itemsize != np.dtype(STORAGE[elem]).itemsize:
            data = data.astype(STORAGE[elem])
        lines = [f'{name} = arith.constant dense<"0x{data.tobytes().hex().upper()}"> : {static}']
    else:
        raise NotRunnable(f"input element type {elem}")
    if declared != static:
        lines.append(f"%{ssa} = tensor.cast {name} : {static} to {declared}")
    return lines


def printer(elem, onnx_type, value, dims, ssa):
    """MLIR lines that widen value to a printable type and print it."""
    t = tensor_type(dims, elem)
    if elem in ("f32", "f64"):
        target, cast = elem, None
    elif elem in ("f16", "bf16"):
        target, cast = "f32", "arith.extf"
    elif re.fullmatch(r"i(1|8|16|32)", elem):
        target = "i64"
        cast = "arith.extui" if onnx_type in UNSIGNED else "arith.extsi"
    elif elem == "i64":
        target, cast = "i64", None
    else:
        raise NotRunnable(f"output element type {elem} has no print function")
    lines, src = [], value
    if cast:
        lines.append(f"%{ssa}_w = {cast} {value} : {t} to {tensor_type(dims, target)}")
        src = f"%{ssa}_w"
    lines.append(f"%{ssa}_u = tensor.cast {src} : {tensor_type(dims, target)} to tensor<*x{target}>")
    fn = {"f32": "printMemrefF32", "f64": "printMemrefF64", "i64": "printMemrefI64"}[target]
    lines.append(f"call @{fn}(%{ssa}_u) : (tensor<*x{target}>) -> ()")
    return lines


def uses_argument(ir, n):
    """Whether @main's body uses its argument n."""
    return any(re.search(rf"%arg{n}\b", l) for l in ir.splitlines()
               if "func.func @main(" not in l)


def wrap(ir, model, test_dir):
    """The imported IR with @main renamed @model and an @entry that feeds the
    test's inputs and prints the outputs; and the expected outputs (name,
    ONNX type, array) in print order."""
    args, results, in_names, out_names = parse_signature(ir)
    graph_inputs = [i.name for i in model.graph.input]
    graph_outputs = [o.name for o in model.graph.output]
    out_types = {o.name: o.type.tensor_type.elem_type for o in model.graph.output}
    if in_names is None or len(in_names) != len(args):
        raise NotRunnable("@main lacks tac.input_names for its arguments")
    if out_names is None or len(out_names) != len(results):
        raise NotRunnable("@main lacks tac.output_names for its results")
    data_dir = os.path.join(test_dir, "test_data_set_0")

    body, operands = [], []
    for n, (name, arg) in enumerate(zip(in_names, args)):
        if name not in graph_inputs:
            raise NotRunnable(f"argument {name} is not a graph input")
        value = numpy_helper.to_array(onnx.load_tensor(
            os.path.join(data_dir, f"input_{graph_inputs.index(name)}.pb")))
        dims, elem = parse_tensor_type(arg)
        fits = len(dims) == value.ndim and all(
            d is None or d == s for d, s in zip(dims, value.shape))
        if not fits and None not in dims and not uses_argument(ir, n):
            # The test's data does not fit the model's declared shape, but
            # @main ignores the value (CastLike's `like`): any value will do.
            body.append(f"%in{n} = tensor.empty() : {arg}")
        else:
            body += constant(value, dims, elem, f"in{n}")
        operands.append(f"%in{n}")
    arg_types = ", ".join(args)
    result_types = ", ".join(results)
    call = f"call @model({', '.join(operands)}) : ({arg_types}) -> ({result_types})"
    if results:
        call = f"%out:{len(results)} = " + call
    body.append(call)

    expected, used = [], set()
    for n, (name, res) in enumerate(zip(out_names, results)):
        if name not in graph_outputs:
            raise NotRunnable(f"result {name} is not a graph output")
        proto = onnx.load_tensor(os.path.join(data_dir, f"output_{graph_outputs.index(name)}.pb"))
        dims, elem = parse_tensor_type(res)
        body += printer(elem, out_types[name], f"%out#{n}", dims, f"p{n}")
        expected.append((name, out_types[name], numpy_helper.to_array(proto)))
        used.add(name)
    missing = [o for o in graph_outputs if o not in used]
    if missing:
        raise NotRunnable(f"graph outputs {missing} are not results of @main")

    decls = [f"func.func private @{fn}(tensor<*x{t}>) attributes {{llvm.emit_c_interface}}"
             for fn, t in (("printMemrefF32", "f32"), ("printMemrefF64", "f64"),
                           ("printMemrefI64", "i64"))]
    entry = decls + ["func.func @entry() {"] + ["  " + l for l in body] + ["  return", "}"]
    if ir.count("func.func @main(") != 1 or re.search(r"@main\b(?!\()", ir):
        raise NotRunnable("@main is referenced besides its definition")
    lines = ir.replace("func.func @main(", "func.func @model(").splitlines()
    at = next(i for i, l in enumerate(lines) if l.startswith("module"))
    lines[at + 1:at + 1] = ["  " + l for l in entry]
    return "\n".join(lines) + "\n", expected


def parse_prints(out):
    """Runner output -> [(sizes, [value strings])], one per printed memref."""
    prints = []
    for chunk in out.split("Unranked Memref")[1:]:
        sizes = re.search(r"sizes = \[([^\]]*)\]", chunk)
        head, sep, data = chunk.partition("data =")
        if not sizes or not sep:
            raise ValueError("unparsable runner output: " + chunk[:200])
        shape = [int(s) for s in sizes.group(1).split(",") if s.strip()]
        values = NUMBER.findall(data)
        prints.append((shape, values))
    return prints


def expected_values(onnx_type, array):
    """(float64 array, kind) with kind 'int' or a float element type."""
    if onnx_type == TP.BFLOAT16:
        bits = array.astype(np.uint32) if array.dtype != np.float32 else None
        if bits is not None:
            return (bits << 16).view(np.float32).astype(np.float64), "bf16"
        return array.astype(np.float64), "bf16"
    if onnx_type in (TP.FLOAT, TP.DOUBLE, TP.FLOAT16):
        kind = {TP.FLOAT: "f32", TP.DOUBLE: "f64", TP.FLOAT16: "f16"}[onnx_type]
        return array.astype(np.float64), kind
    if onnx_type == TP.UINT64:  # printed as i64
        return array.astype(np.uint64).view(np.int64), "int"
    return array.astype(np.int64), "int"


def compare(expected, prints):
    """(ok, message, (max |error|, max |error| / tolerance)) for the printed
    outputs against expected; integers have tolerance 0 (ratio inf if off)."""
    if len(prints) != len(expected):
        return False, f"runner printed {len(prints)} outputs, expected {len(expected)}", None
    worst, ratio, problems = 0.0, 0.0, []
    for (name, onnx_type, array), (shape, values) in zip(expected, prints):
        if list(array.shape) != shape:
            problems.append(f"{name}: shape {shape}, expected {list(array.shape)}")
            continue
        if array.size == 0:
            continue
        if len(values) != array.size:
            problems.append(f"{name}: {len(values)} values printed, expected {array.size}")
            continue
        want, kind = expected_values(onnx_type, array)
        want = want.reshape(-1)
        if kind == "int":
            try:
                got = np.array([int(v) for v in values], dtype=np.int64)
            except (ValueError, OverflowError):
                problems.append(f"{name}: non-integer values printed")
                continue
            bad = got != want
            err = np.abs(got.astype(np.float64) - want.astype(np.float64))
            worst = max(worst, float(err.max()))
            ratio = max(ratio, np.inf if bad.any() else 0.0)
        else:
            got = np.array([float(v) for v in values], dtype=np.float64)
            tol = TOLERANCE[kind]
            with np.errstate(invalid="ignore", over="ignore"):
                nan_ok = np.isnan(got) & np.isnan(want)
                inf_ok = np.isinf(want) & (got == want)
                finite = np.isfinite(want) & np.isfinite(got)
                err = np.where(finite, np.abs(got - want), np.inf)
                ok = nan_ok | inf_ok | (finite & (err <= tol + tol * np.abs(want)))
            bad = ~ok
            err = np.where(nan_ok | inf_ok, 0.0, err)
            worst = max(worst, float(err.max()))
            ratio = max(ratio, float((err / (tol + tol * np.abs(
                np.where(np.isfinite(want), want, 0.0)))).max()))
        if bad.any():
            i = int(np.argmax(bad))
            index = tuple(int(x) for x in np.unravel_index(i, array.shape))
            problems.append(f"{name}: {int(bad.sum())}/{array.size} values differ, "
                            f"first at {list(index)}: got {got[i]!r}, expected {want[i]!r}")
    return not problems, "; ".join(problems), (worst, ratio)


def check(job):
    """check_one, with any unexpected exception reported as an error."""
    try:
        return check_one(job)
    except Exception as e:  # a crash in one test must not hide the others
        return job[0], "error", f"{type(e).__name__}: {e}", None


def check_one(job):
    """Runs one test. Returns (name, status, message, max error) with status
    'match', 'mismatch', 'error' or 'not runnable'."""
    name, test_dir, args = job
    model = onnx.load(os.path.join(test_dir, "model.onnx"))
    ok, first, _, ir = run_node_tests.import_test(
        args.tac_translate, test_dir, model, extra_args=IMPORT_ARGS, want_ir=True)
    if not ok:
        return name, "not runnable", f"does not import: {first}", None
    try:
        source, expected = wrap(ir, model, test_dir)
    except NotRunnable as e:
        return name, "not runnable", str(e), None
    if args.keep:
        with open(os.path.join(args.keep, name + ".mlir"), "w") as f:
            f.write(source)
    libs = ",".join(os.path.join(args.mlir_lib_dir, lib) for lib in
                    ("libmlir_runner_utils.so", "libmlir_c_runner_utils.so"))
    steps = [("lowering", [args.tac_opt, "-", *CPU_PIPELINE]),
             ("mlir-runner", [args.mlir_runner, "-e", "entry",
                              "-entry-point-result=void", f"-shared-libs={libs}"])]
    text = source
    for step, cmd in steps:
        try:
            proc = subprocess.run(cmd, input=text, capture_output=True, text=True,
                                  errors="backslashreplace", timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return name, "error", f"{step} timed out after {TIMEOUT_S}s", None
        if proc.returncode != 0:
            lines = [l for l in proc.stderr.strip().splitlines() if "error" in l] or \
                proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
            return name, "error", f"{step} failed: {lines[0]}", None
        text = proc.stdout
    try:
        prints = parse_prints(text)
    except ValueError as e:
        return name, "error", str(e), None
    ok, message, worst = compare(expected, prints)
    return name, "match" if ok else "mismatch", message, worst


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tac-translate", required=True)
    parser.add_argument("--tac-opt", required=True)
    parser.add_argument("--mlir-runner", default="/usr/lib/llvm-22/bin/mlir-runner")
    parser.add_argument("--mlir-lib-dir", default="/usr/lib/llvm-22/lib")
    parser.add_argument("--node-tests", default="/usr/share/libonnx-testdata/data/node")
    parser.add_argument("--filter", help="only tests whose name matches this regex")
    parser.add_argument("--opsets", metavar="LO-HI",
                        help="only tests whose default-domain opset is in "
                             "LO..HI (e.g. 18-23 with a newer ONNX's node tests)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--keep", metavar="DIR",
                        help="write each test's wrapped MLIR to DIR/NAME.mlir")
    parser.add_argument("--verbose", action="store_true",
                        help="print every test with its max error")
    args = parser.parse_args()
    if not os.path.isdir(args.node_tests):
        print(f"no node tests at {args.node_tests}: install libonnx-testdata")
        return 1
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)

    start = time.time()
    table = run_node_tests.op_table(args.tac_translate)
    pattern = re.compile(args.filter) if args.filter else None
    in_opsets = run_node_tests.opset_filter(args.opsets)
    jobs = [(name, test_dir, args)
            for name, test_dir, model, reason in run_node_tests.node_tests(args.node_tests, table)
            if reason is None and (not pattern or pattern.search(name)) and in_opsets(model)]
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = sorted(pool.map(check, jobs))

    counts = {"match": 0, "mismatch": 0, "error": 0, "not runnable": 0}
    for name, status, message, worst in results:
        counts[status] += 1
        if status != "match":
            print(f"{status.upper().replace(' ', '-')} {name}: {message}")
        elif args.verbose:
            print(f"MATCH {name}: max |error| {worst[0]:.3g} "
                  f"({worst[1]:.3g} of the tolerance)")
    summary = (f"numerics {counts['match']}/{len(results)} match "
               f"({counts['mismatch']} mismatch, {counts['error']} error, "
               f"{counts['not runnable']} not runnable")
    reasons = sorted({m.split(":")[0] for _, s, m, _ in results if s == "not runnable"})
    if reasons:
        summary += ": " + "; ".join(reasons)
    print(summary + f"; {time.time() - start:.0f}s)")
    return 1 if counts["mismatch"] or counts["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
