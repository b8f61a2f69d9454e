#!/usr/bin/env bash
# Runs the whole test suite (lit, GoogleTest, examples, doc checks, Python)
# on a configured build. The last line is ctest's summary.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${TAC_BUILD_DIR:-$ROOT/build}"
cd "$BUILD_DIR"
exec ctest --output-on-failure -j "$(nproc)" "$@"
