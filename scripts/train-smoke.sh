#!/usr/bin/env bash
# Smoke version of the recipe (a few hundred images, one short epoch, export,
# ONNX Runtime check) into a scratch folder; the bundled models are untouched.
# The same run is in the test suite: python/tests/test_train_smoke.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
out=${1:-$(mktemp -d /tmp/tac-train-smoke.XXXXXX)}
export PYTHONPATH="python${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$PY" -m tac.train --preset smoke --models-dir "$out" --results "$out/results.md" \
  --plot "$out/pareto.png"
echo "train-smoke.sh: outputs in $out"
