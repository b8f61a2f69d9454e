#!/usr/bin/env python3
"""Fails when docs/importer.md's op table and the importer's op table differ.

Each table row starts `| Op[, Op...] | v[, v...] |`; the importer's table
comes from `tac-translate --list-onnx-ops`.
"""
import argparse
import re
import subprocess
import sys


def documented(path):
    rows = {}
    in_table = False
    with open(path) as f:
        for line in f:
            if line.startswith("## Op table"):
                in_table = True
            elif line.startswith("## "):
                in_table = False
            m = re.match(r"\|\s*([A-Za-z, ]+?)\s*\|\s*([\d, ]+)\s*\|", line)
            if in_table and m:
                versions = {int(v) for v in m.group(2).split(",")}
                for op in m.group(1).split(","):
                    rows[op.strip()] = versions
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tac-translate", required=True)
    parser.add_argument("--doc", required=True)
    args = parser.parse_args()
    out = subprocess.run([args.tac_translate, "--list-onnx-ops"], check=True,
                         capture_output=True, text=True).stdout
    code = {}
    for line in out.splitlines():
        op, _, versions = line.partition(":")
        code[op.strip()] = {int(v) for v in versions.split()}
    docs = documented(args.doc)
    problems = []
    for op in sorted(set(code) | set(docs)):
        if op not in docs:
            problems.append(f"{op} {sorted(code[op])} is imported but not documented")
        elif op not in code:
            problems.append(f"{op} is documented but not imported")
        elif docs[op] != code[op]:
            problems.append(f"{op}: documented versions {sorted(docs[op])}, "
                            f"imported {sorted(code[op])}")
    for p in problems:
        print("MISMATCH", p)
    print(f"{len(code) - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
