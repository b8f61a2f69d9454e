#!/usr/bin/env bash
# `pip install .` into a fresh venv, then import tac and run the bundled model
# from outside the repository: what a new Python user does.
#
#   check_pip_install.sh ROOT BUILD_DIR
#
# Offline: the venv gets its build backend, nanobind and NumPy from
# BUILD_DIR/wheelhouse (scripts/setup.sh downloads it). The install builds
# from a copy of the tracked sources in BUILD_DIR/pip-install/src with its
# CMake build in src/build: the same layout as ROOT and ROOT/build, so ccache
# (based at each source root) reuses the main build's objects and only the
# links and the Python extensions are new work.
set -euo pipefail
unset PYTHONPATH  # the fresh venv must see only what pip installed
ROOT=$1
BUILD=$2
WORK="$BUILD/pip-install"
WHEELS="$BUILD/wheelhouse"
PY=/usr/bin/python3
[[ -d "$WHEELS" ]] || { echo "no $WHEELS: run scripts/setup.sh first" >&2; exit 1; }

rm -rf "$WORK/src" "$WORK/venv" "$WORK/run"
mkdir -p "$WORK/src" "$WORK/run"
# The files a clone holds, as they are in the working tree.
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
  tar --null -T - --ignore-failed-read -cf -) | tar -xf - -C "$WORK/src"

# The main build's compilers by the same names: ccache hashes the name, and
# the build backend would otherwise pick Python's (x86_64-linux-gnu-g++).
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt"; }
"$PY" -m venv "$WORK/venv"
start=$SECONDS
"$WORK/venv/bin/pip" install -q --disable-pip-version-check --no-index \
  --find-links "$WHEELS" --config-settings=build-dir=build \
  --config-settings=cmake.define.CMAKE_C_COMPILER="$(cache_value CMAKE_C_COMPILER)" \
  --config-settings=cmake.define.CMAKE_CXX_COMPILER="$(cache_value CMAKE_CXX_COMPILER)" \
  "$WORK/src"
echo "pip install . took $((SECONDS - start)) s"

cd "$WORK/run"   # not the repository: the installed package must be complete
"$WORK/venv/bin/python" - "$ROOT" <<'PYEOF'
import os, subprocess, sys
import numpy as np
import tac

root = sys.argv[1]
assert os.path.dirname(tac.__file__).startswith(sys.prefix), tac.__file__
compiled = tac.compile(os.path.join(root, "models", "fmnist_vit_adaptive.onnx"),
                       output="fmnist.tacm", cpus=["host"], progress=False)
sess = tac.InferenceSession("fmnist.tacm")
x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
outputs, info = sess.run_adaptive({"image": x})
assert outputs[0].shape == (3, 10) and len(info.paths) == 3, info
print(f"installed tac: 3 rows on paths {info.paths}, {info.flops} FLOPs")
# The console scripts run the tools shipped in the package.
bin_dir = os.path.dirname(sys.executable)
run = subprocess.run([os.path.join(bin_dir, "tac-run"), "fmnist.tacm", "--random", "--json"],
                     capture_output=True, text=True)
assert run.returncode == 0 and '"path"' in run.stdout, run.stderr
comp = subprocess.run([os.path.join(bin_dir, "tac-compile"), "--help"], capture_output=True, text=True)
assert comp.returncode == 0 and "tac compiler driver" in comp.stdout, comp.stderr
print("console scripts tac-run and tac-compile: ok")
PYEOF
echo "pip-install check: passed"
