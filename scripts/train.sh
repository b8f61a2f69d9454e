#!/usr/bin/env bash
# The full training recipe (docs/training.md). Regenerates, from scratch:
#   models/fmnist_vit_adaptive.onnx  adaptive model (If-gated layers + controller)
#   models/fmnist_vit_static.onnx    its full-depth static twin
#   models/fmnist_vit.json           every measured number
#   docs/results.md, docs/img/pareto.png
# Runs in well under 30 minutes on 2 cores. Extra arguments go to
# `python -m tac.train` (see --help). Needs the venv (scripts/setup.sh, or
# docs/training.md) and Debian's dataset-fashion-mnist.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if [[ ! -x $PY ]]; then
  echo "train.sh: $PY not found. Create the venv first:" >&2
  echo "  /usr/bin/python3 -m venv --system-site-packages .venv && .venv/bin/pip install -r python/requirements.txt" >&2
  exit 1
fi
export PYTHONPATH="python${PYTHONPATH:+:$PYTHONPATH}"
# One thread is fastest for this small model (and leaves the other core free).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
mkdir -p models docs/img
start=$SECONDS
"$PY" -m tac.train --preset full --models-dir models --results docs/results.md \
  --plot docs/img/pareto.png "$@"
echo "train.sh: full recipe took $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
