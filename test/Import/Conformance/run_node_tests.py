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
  - element types tac does not support (STRING, COMPLEX*, ...) in the
    graph's inputs or outputs;
  - models whose op versions the importer does not handle (for example an
    opset below 13): the op table is keyed by op type *and* schema version.
"""
import argparse
import glob
import os
import re
import subprocess
import sys

import onnx
from onnx import defs

UNSUPPORTED_TYPES = {onnx.TensorProto.STRING, onnx.TensorProto.COMPLEX64,
                     onnx.TensorProto.COMPLEX128, onnx.TensorProto.UNDEFINED}


def op_table(tac_translate):
    out = subprocess.run([tac_translate, "--list-onnx-ops"], check=True,
                         capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        op, _, versions = line.partition(":")
        table[op.strip()] = {int(v) for v in versions.split()}
    return table


def nodes(graph):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from nodes(attr.g)
            for g in attr.graphs:
                yield from nodes(g)


def classify(model, table):
    """None if the test is selected, else the reason it is not."""
    opset = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    for node in nodes(model.graph):
        if node.domain not in ("", "ai.onnx"):
            return f"op {node.op_type} of domain {node.domain}"
        if node.op_type not in table:
            return f"op {node.op_type} is not in the importer's set"
        try:
            since = defs.get_schema(node.op_type, opset.get("ai.onnx", 0)).since_version
        except Exception:
            return f"op {node.op_type} has no schema at opset {opset.get('ai.onnx')}"
        if since not in table[node.op_type]:
            return (f"op {node.op_type} version {since} (opset "
                    f"{opset.get('ai.onnx')}) is outside opsets 13-17")
    for value in list(model.graph.input) + list(model.graph.output):
        if not value.type.HasField("tensor_type"):
            return f"{value.name} is not a tensor"
        if value.type.tensor_type.elem_type in UNSUPPORTED_TYPES:
            return (f"{value.name} has element type "
                    f"{onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type)}")
    return None


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
    for name, test_dir, model, reason in node_tests(args.node_tests, table):
        if reason:
            skipped.append((name, reason))
            continue
        selected.append(name)
        ok, first, bound = import_test(args.tac_translate, test_dir, model)
        if not ok:
            failures.append((name, first))
        elif bound:
            frozen.append((name, bound))

    if args.verbose:
        for name, reason in skipped:
            print(f"SKIP {name}: {reason}")
        for name, bound in frozen:
            print(f"BOUND {name}: {', '.join(bound)} frozen from test_data_set_0")
    for name, message in failures:
        print(f"FAIL {name}: {message}")
    print(f"imported {len(selected) - len(failures)}/{len(selected)} "
          f"(of {len(selected) + len(skipped)} node tests; "
          f"{len(skipped)} use ops or types outside the importer's set; "
          f"{len(frozen)} with shape/axes operands frozen by --bind-input)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
