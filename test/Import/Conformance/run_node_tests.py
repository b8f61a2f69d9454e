#!/usr/bin/env python3
"""Imports ONNX's backend node tests whose ops tac's importer supports.

Selects every test under the node-test directory (Debian's libonnx-testdata)
whose graph, subgraphs included, uses only op types in the importer's table
(`tac-translate --list-onnx-ops`), imports each with tac-translate, and prints
`imported N/M`. Exit code 1 if any selected test fails to import.

Shape and axes operands that a test feeds as graph inputs are frozen from
the test's own data with --bind-input (tac compiles static shapes; a
deployment fixes such operands the same way).

Tests that the selection excludes on purpose, with the reason printed by
--verbose:
  - element types tac does not support (STRING, COMPLEX*, float8, int4,
    ...) in the graph's inputs or outputs;
  - models whose op versions the importer does not handle (for example an
    opset below 13, or an op that changed after opset 23): the op table is
    keyed by op type *and* schema version. The version in force comes from
    the importer's own record of ONNX's specification
    (`tac-translate --list-onnx-spec`), not from the Python onnx package,
    whose registry (1.12 on Debian 12) stops at opset 17.

`--node-tests` may point at the node tests of a newer ONNX, e.g. those of
the `onnx` source distribution on PyPI (onnx/backend/test/data/node); the
summary then also counts the tests per opset range.
"""
import argparse
import glob
import os
import re
import subprocess
import sys

import onnx

TP = onnx.TensorProto
# The element types tac computes with (lib/Import/Onnx/Types.cpp); newer
# ones (float8, int4, ...) are plain numbers to Debian's onnx 1.12.
SUPPORTED_TYPES = {TP.FLOAT, TP.DOUBLE, TP.FLOAT16, TP.BFLOAT16, TP.BOOL,
                   TP.INT8, TP.INT16, TP.INT32, TP.INT64, TP.UINT8,
                   TP.UINT16, TP.UINT32, TP.UINT64}


def type_name(elem_type):
    try:
        return TP.DataType.Name(elem_type)
    except ValueError:
        return f"type #{elem_type}"


class OpTable(dict):
    """Op type -> versions with a handler (--list-onnx-ops), plus `spec`:
    op type -> every since_version ONNX defines (--list-onnx-spec), and
    `max_opset`, the newest opset the importer knows."""

    def since_version(self, op_type, opset):
        return max((v for v in self.spec.get(op_type, ()) if v <= opset),
                   default=None)


def _listing(tac_translate, flag):
    out = subprocess.run([tac_translate, flag], check=True,
                         capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines():
        op, _, versions = line.partition(":")
        rows[op.strip()] = sorted(int(v) for v in versions.split())
    return rows


def op_table(tac_translate):
    table = OpTable({op: set(v) for op, v in
                     _listing(tac_translate, "--list-onnx-ops").items()})
    table.spec = _listing(tac_translate, "--list-onnx-spec")
    table.max_opset = table.spec.pop("max-opset")[0]
    return table


def nodes(graph, functions=None, calling=()):
    """The nodes of graph and its subgraphs; a call of one of `functions`
    (the model's local functions, {(domain, name): FunctionProto}), which
    the importer inlines, stands for the nodes of its body (a recursive call
    is yielded itself: the importer refuses it)."""
    functions = functions or {}
    for node in graph.node:
        key = (node.domain, node.op_type)
        if key in functions and key not in calling:
            body = onnx.GraphProto(node=functions[key].node)
            yield from nodes(body, functions, calling + (key,))
            continue
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from nodes(attr.g, functions, calling)
            for g in attr.graphs:
                yield from nodes(g, functions, calling)


def model_nodes(model):
    """nodes() of the model's graph, with its local functions' bodies."""
    functions = {(f.domain, f.name): f for f in model.functions}
    return nodes(model.graph, functions)


def default_opset(model):
    return next((o.version for o in model.opset_import
                 if o.domain in ("", "ai.onnx")), 0)


def opset_filter(spec):
    """A predicate on models for --opsets LO-HI (or N): the default-domain
    opset within LO..HI; everything when spec is None."""
    if not spec:
        return lambda model: True
    lo, _, hi = spec.partition("-")
    return lambda model: int(lo) <= default_opset(model) <= int(hi or lo)


def classify(model, table):
    """None if the test is selected, else the reason it is not."""
    opset = default_opset(model)
    if opset > table.max_opset:
        return f"opset {opset} is above the importer's ONNX table ({table.max_opset})"
    for node in model_nodes(model):
        if node.domain not in ("", "ai.onnx"):
            return f"op {node.op_type} of domain {node.domain}"
        if node.op_type not in table:
            return f"op {node.op_type} is not in the importer's set"
        since = table.since_version(node.op_type, opset)
        if since is None:
            return f"op {node.op_type} has no schema at opset {opset}"
        if since not in table[node.op_type]:
            return (f"op {node.op_type} version {since} (opset {opset}) "
                    f"has no handler (handled: "
                    f"{', '.join(map(str, sorted(table[node.op_type])))})")
    for value in list(model.graph.input) + list(model.graph.output):
        if not value.type.HasField("tensor_type"):
            return f"{value.name} is not a tensor"
        if value.type.tensor_type.elem_type not in SUPPORTED_TYPES:
            return (f"{value.name} has element type "
                    f"{type_name(value.type.tensor_type.elem_type)}")
    return None


def uses_table_ops_only(model, table):
    """True if every node of the model (subgraphs included) is of an op type
    in the importer's table, whatever its version."""
    return all(node.domain in ("", "ai.onnx") and node.op_type in table
               for node in model_nodes(model))


BIND_HINT = re.compile(r"--bind-input=([^=\s]+)=FILE\.pb")


def import_test(tac_translate, test_dir, model, extra_args=(), want_ir=False):
    """Imports one node test. Operands tac needs at compile time (shapes,
    axes) that the test feeds as graph inputs are frozen from the test's
    own data (test_data_set_0) with --bind-input, as a deployment would fix
    them. Returns (ok, first error line, names bound), plus the imported IR
    as a fourth item if want_ir. extra_args go to every tac-translate run."""
    inputs = [i.name for i in model.graph.input
              if i.name not in {t.name for t in model.graph.initializer}]
    bound = {}
    while True:
        cmd = [tac_translate, "--import-onnx", os.path.join(test_dir, "model.onnx")]
        cmd += list(extra_args)
        cmd += [f"--bind-input={n}={p}" for n, p in bound.items()]
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              errors="backslashreplace")
        if proc.returncode == 0:
            result = (True, "", sorted(bound))
            return result + (proc.stdout,) if want_ir else result
        hint = BIND_HINT.search(proc.stderr)
        name = hint.group(1) if hint else None
        data = os.path.join(test_dir, "test_data_set_0",
                            f"input_{inputs.index(name)}.pb") if name in inputs else None
        if not data or name in bound or not os.path.exists(data):
            first = (proc.stderr.strip().splitlines() or ["(no message)"])[0]
            result = (False, first, sorted(bound))
            return result + ("",) if want_ir else result
        bound[name] = data


def node_tests(node_tests_dir, table):
    """Yields (name, test directory, model, reason) for every node test, in
    name order; reason is None if the test is selected."""
    for model_path in sorted(glob.glob(os.path.join(node_tests_dir, "*", "model.onnx"))):
        model = onnx.load(model_path)
        test_dir = os.path.dirname(model_path)
        yield os.path.basename(test_dir), test_dir, model, classify(model, table)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tac-translate", required=True)
    parser.add_argument("--node-tests", default="/usr/share/libonnx-testdata/data/node")
    parser.add_argument("--verbose", action="store_true",
                        help="also list the tests not selected, with why")
    args = parser.parse_args()
    if not os.path.isdir(args.node_tests):
        print(f"no node tests at {args.node_tests}: install libonnx-testdata")
        return 1

    table = op_table(args.tac_translate)
    selected, skipped, failures, frozen = [], [], [], []
    # Per range of the default opset: tests, tests using table ops only,
    # tests selected, tests imported.
    ranges = {"<13": [0, 0, 0, 0], "13-17": [0, 0, 0, 0],
              "18-23": [0, 0, 0, 0], ">23": [0, 0, 0, 0]}
    for name, test_dir, model, reason in node_tests(args.node_tests, table):
        opset = default_opset(model)
        row = ranges["<13" if opset < 13 else "13-17" if opset <= 17
                     else "18-23" if opset <= 23 else ">23"]
        row[0] += 1
        row[1] += uses_table_ops_only(model, table)
        if reason:
            skipped.append((name, reason))
            continue
        selected.append(name)
        row[2] += 1
        ok, first, bound = import_test(args.tac_translate, test_dir, model)
        if not ok:
            failures.append((name, first))
        else:
            row[3] += 1
            if bound:
                frozen.append((name, bound))

    if args.verbose:
        for name, reason in skipped:
            print(f"SKIP {name}: {reason}")
        for name, bound in frozen:
            print(f"BOUND {name}: {', '.join(bound)} frozen from test_data_set_0")
    for name, message in failures:
        print(f"FAIL {name}: {message}")
    for label, (total, table_only, chosen, imported) in ranges.items():
        if total:
            print(f"opset {label}: {total} tests, {table_only} use only "
                  f"table ops, {chosen} selected, {imported} imported")
    print(f"imported {len(selected) - len(failures)}/{len(selected)} "
          f"(of {len(selected) + len(skipped)} node tests; "
          f"{len(skipped)} use ops, versions or types outside the importer's set; "
          f"{len(frozen)} with shape/axes operands frozen by --bind-input)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
