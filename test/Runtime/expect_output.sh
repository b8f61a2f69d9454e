#!/usr/bin/env bash
# expect_output.sh TEXT COMMAND [ARGS...]: COMMAND must exit 0 and print TEXT
# (ctest's PASS_REGULAR_EXPRESSION alone would ignore the exit code).
set -uo pipefail
want=$1
shift
out=$("$@")
rc=$?
printf '%s\n' "$out"
if ((rc != 0)); then
  echo "expect_output: '$1' exited with $rc" >&2
  exit 1
fi
if [[ $out != *"$want"* ]]; then
  printf 'expect_output: the output lacks:\n%s\n' "$want" >&2
  exit 1
fi
