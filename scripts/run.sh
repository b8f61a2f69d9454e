#!/usr/bin/env bash
# The main job on the embedded default: the bundled adaptive Fashion-MNIST
# ViT (models/fmnist_vit_adaptive.onnx, trained by scripts/train.sh) imported
# by tac, specialised into one static function per depth path plus the
# controller, run on the CPU on real test images, and checked against ONNX
# Runtime. Options pass through (e.g. --images 200); see
# examples/run_bundled_model.py --help.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${TAC_BUILD_DIR:-$ROOT/build}"
exec "$ROOT/.venv/bin/python" "$ROOT/examples/run_bundled_model.py" \
  --tac-opt "$BUILD_DIR/bin/tac-opt" "$@"
