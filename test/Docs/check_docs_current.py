#!/usr/bin/env python3
"""Fails when docs/reference differs from what TableGen generates.

Fix a failure with `ninja -C build tac-doc`, which copies the generated
references into docs/reference, and commit the result.
"""
import argparse
import difflib
import os
import sys

FILES = {"TacDialect.md": "Dialects", "TacPasses.md": "Passes"}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--generated", required=True,
                        help="build/docs, where add_mlir_doc writes")
    parser.add_argument("--committed", required=True,
                        help="docs/reference in the source tree")
    args = parser.parse_args()
    stale = 0
    for name, subdir in FILES.items():
        generated = os.path.join(args.generated, subdir, name)
        committed = os.path.join(args.committed, name)
        with open(generated) as f:
            want = f.readlines()
        have = []
        if os.path.exists(committed):
            with open(committed) as f:
                have = f.readlines()
        if want != have:
            stale += 1
            print(f"STALE {committed}: run `ninja -C build tac-doc` and commit")
            sys.stdout.writelines(list(difflib.unified_diff(
                have, want, committed, generated))[:40])
    print(f"{len(FILES) - stale} passed, {stale} failed")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
