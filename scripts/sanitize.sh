#!/usr/bin/env bash
# Sanitizer builds of tac (GCC's ASan, UBSan, TSan); docs/reliability.md.
#
#   scripts/sanitize.sh asan [CTEST ARGS]   ASan+UBSan build of everything
#                                           (compiler, runtime, tools, Python
#                                           bindings) in build-asan, then the
#                                           whole test suite under it
#   scripts/sanitize.sh asan-runtime        the same build of the runtime and
#                                           its checks only (what CI runs)
#   scripts/sanitize.sh tsan                TSan build of the runtime: the
#                                           concurrency checks under it
#
# Any sanitizer report fails the run (halt_on_error; UBSan does not
# recover). Kernels that tac-compile generates, LLVM/MLIR and the BLAS are
# not instrumented: ASan still sees every heap access tac's own code makes,
# TSan every race in it. The runtime-only modes run the checks on models the
# main build compiled (scripts/setup.sh first). TAC_SANITIZE_BUILD_DIR moves
# the build directory.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-}"
shift || true
MAIN_BUILD="${TAC_BUILD_DIR:-$ROOT/build}"
PYTHON="$ROOT/.venv/bin/python"
log() { printf '\033[1m[sanitize]\033[0m %s\n' "$*"; }

case "$MODE" in
  asan | asan-runtime) SANITIZERS=address,undefined; DIR=build-asan ;;
  tsan) SANITIZERS=thread; DIR=build-tsan ;;
  *) echo "usage: scripts/sanitize.sh asan|asan-runtime|tsan [CTEST ARGS]" >&2
     exit 2 ;;
esac
BUILD="${TAC_SANITIZE_BUILD_DIR:-$ROOT/$DIR}"
mkdir -p "$BUILD"

# Report and stop at the first error; leaks count (tac's own binaries).
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"

# Python loads the instrumented extension modules, so the interpreter needs
# the ASan runtime preloaded, and libstdc++ with it (ASan finds the real
# __cxa_throw only in libraries loaded at startup); Python itself is not
# built for leak checking. The wrapper keeps these settings to the
# interpreter: sitecustomize takes them out of os.environ, so the tools it
# starts run as they would anyway. pytest runs with -s: a report ends the
# process, and output pytest had captured would be lost with it.
PYTHON_ARGS=()
if [[ $MODE == asan ]]; then
  libasan="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so.6)"
  mkdir -p "$BUILD/asan-python"
  cat > "$BUILD/asan-python/sitecustomize.py" <<EOF
import os
os.environ.pop("LD_PRELOAD", None)
os.environ["ASAN_OPTIONS"] = os.environ.pop("TAC_CHILD_ASAN_OPTIONS", "")
EOF
  cat > "$BUILD/python-asan" <<EOF
#!/bin/sh
# $PYTHON with the ASan runtime preloaded (scripts/sanitize.sh).
export TAC_CHILD_ASAN_OPTIONS="\${TAC_CHILD_ASAN_OPTIONS-\$ASAN_OPTIONS}"
export ASAN_OPTIONS="\$ASAN_OPTIONS:detect_leaks=0"
export PYTHONPATH="$BUILD/asan-python\${PYTHONPATH:+:\$PYTHONPATH}"
export PYTEST_ADDOPTS="-s \${PYTEST_ADDOPTS-}"
LD_PRELOAD="$libasan" exec "$PYTHON" "\$@"
EOF
  chmod +x "$BUILD/python-asan"
  PYTHON_ARGS=(-DTAC_ENABLE_PYTHON=ON -DPython_EXECUTABLE="$BUILD/python-asan")
fi

log "configuring $BUILD (-fsanitize=$SANITIZERS)"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTAC_SANITIZE="$SANITIZERS" "${PYTHON_ARGS[@]}" >/dev/null

models="$MAIN_BUILD/test/Cuda/models"
case "$MODE" in
  asan)
    log "building everything"
    cmake --build "$BUILD"
    # fuzz-short builds its own ASan+UBSan (clang) fuzzers: the same check
    # twice; python-pip-install checks packaging, built without sanitizers;
    # the sanitize-* entries build the runtime under sanitizers once more.
    log "the whole test suite"
    cd "$BUILD"
    exec ctest --output-on-failure -j "$(nproc)" \
      -E '^(fuzz-short|python-pip-install|sanitize-.*)$' "$@"
    ;;
  asan-runtime | tsan)
    for m in bert_tiny fmnist_vit_adaptive; do
      [[ -f $models/$m.tacm ]] || {
        echo "sanitize: $models/$m.tacm is missing: build and test the main build first (scripts/setup.sh; ctest -R tac-cuda-models)" >&2
        exit 1; }
    done
    targets=(tacrt-concurrency-check tacrt-gemm-threads-check)
    [[ $MODE == asan-runtime ]] && targets+=(tacrt-tests tac-run)
    log "building ${targets[*]}"
    cmake --build "$BUILD" --target "${targets[@]}"
    if [[ $MODE == asan-runtime ]]; then
      log "tacrt-tests"
      (cd "$BUILD/test/Runtime" && ./tacrt-tests --gtest_brief=1)
      log "tac-run on the bundled adaptive model"
      "$BUILD/bin/tac-run" "$models/fmnist_vit_adaptive.tacm" --random \
        --benchmark=50 >/dev/null
      "$BUILD/bin/tac-run" "$models/bert_tiny.tacm" --random --batch=5 \
        >/dev/null
    fi
    log "tacrt-concurrency-check (8 threads, a session each, 1000 runs each)"
    OPENBLAS_NUM_THREADS=1 "$BUILD/test/Runtime/tacrt-concurrency-check" \
      "$models/fmnist_vit_adaptive.tacm" "$models/bert_tiny.tacm"
    log "tacrt-gemm-threads-check"
    "$BUILD/test/Runtime/tacrt-gemm-threads-check" "$models/bert_tiny.tacm" \
      "$models/fmnist_vit_adaptive.tacm"
    log "clean: no sanitizer report"
    ;;
esac
