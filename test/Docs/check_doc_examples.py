#!/usr/bin/env python3
"""Checks that every ```mlir example in a generated reference round-trips.

For each fenced ```mlir block of the given Markdown files: tac-opt parses and
verifies it, its printed form re-parses and prints identically, and its
generic form parses back to the same custom form. A bare attribute example
(`#tac.paths<...>`) is checked as a function attribute.
"""
import argparse
import re
import subprocess
import sys

FENCE = re.compile(r"```mlir\n(.*?)```", re.S)


def run(tac_opt, text, *flags):
    proc = subprocess.run([tac_opt, *flags, "-"], input=text, text=True,
                          capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip())
    return proc.stdout


def check(tac_opt, snippet):
    if snippet.lstrip().startswith("#"):
        snippet = ("func.func @doc_example() attributes {example = %s} "
                   "{ return }\n" % snippet.strip())
    printed = run(tac_opt, snippet)
    if run(tac_opt, printed) != printed:
        raise RuntimeError("printed form does not print back identically")
    generic = run(tac_opt, snippet, "--mlir-print-op-generic")
    if run(tac_opt, generic) != printed:
        raise RuntimeError("generic form does not parse back to the same IR")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tac-opt", required=True)
    parser.add_argument("docs", nargs="+")
    args = parser.parse_args()
    total = failed = 0
    for path in args.docs:
        with open(path) as f:
            text = f.read()
        for index, match in enumerate(FENCE.finditer(text)):
            total += 1
            line = text.count("\n", 0, match.start()) + 1
            try:
                check(args.tac_opt, match.group(1))
            except RuntimeError as error:
                failed += 1
                print(f"FAIL {path}:{line}: example {index}: {error}")
    if total == 0:
        print("no ```mlir examples found: is the reference generated?")
        return 1
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
