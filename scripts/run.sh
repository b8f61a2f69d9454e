#!/usr/bin/env bash
# The main job on the embedded default: the example adaptive model
# (examples/adaptive_mlp.mlir) specialised per path by tac-opt, then run on
# the CPU with the controller choosing each input's path, checked against
# NumPy. Later stages replace this with tac-compile + tac-run on the bundled
# ONNX model.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${TAC_BUILD_DIR:-$ROOT/build}"
exec "$ROOT/.venv/bin/python" "$ROOT/examples/run_adaptive_mlp.py" \
  --tac-opt "$BUILD_DIR/bin/tac-opt" "$@"
