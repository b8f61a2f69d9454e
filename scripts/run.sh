#!/usr/bin/env bash
# The main job on the embedded default: the bundled adaptive Fashion-MNIST
# ViT (models/fmnist_vit_adaptive.onnx, trained by scripts/train.sh) compiled
# by tac.compile into one .tacm (controller + one variant per depth path,
# native CPU kernels), run by tac.InferenceSession (libtacrt) on real test
# images and checked
# against ONNX Runtime: path histogram, mean FLOPs vs the full model,
# latency. Options pass through (e.g. --images 1000); see
# examples/run_bundled_model.py --help.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${TAC_BUILD_DIR:-$ROOT/build}"
exec "$ROOT/.venv/bin/python" "$ROOT/examples/run_bundled_model.py" "$@"
