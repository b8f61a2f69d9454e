#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into BUILD/fuzz and
# runs each for SECONDS (default 30) from seed corpora made of the test data.
#   test/Fuzz/run_fuzzers.sh BUILD [SECONDS] [TARGET]
# Exit 1 on a crash, leak, hang or sanitizer report (libFuzzer writes the
# input to BUILD/fuzz/crash-*); the last line of each run gives its
# executions.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$(cd "$1" && pwd)"
SECONDS_EACH=${2:-30}
ONLY=${3:-}
OUT="$BUILD/fuzz"
CXX=${TAC_FUZZ_CXX:-clang++-22}
command -v "$CXX" >/dev/null || { echo "run_fuzzers: $CXX not found (apt-get install clang-22 libclang-rt-22-dev)" >&2; exit 1; }
cmake -S "$ROOT/test/Fuzz" -B "$OUT" -G Ninja -DCMAKE_CXX_COMPILER="$CXX" \
  -DTACRT_GENERATED_DIR="$BUILD/runtime/generated" -DTAC_MAIN_BUILD="$BUILD" >/dev/null
cmake --build "$OUT" >/dev/null

# Seeds: every small .tacm the tests build (in both modes), the .npy/.pb
# inputs of the test models.
seed() { # seed DIR MODE-BYTE FILE
  local out="$1/$(basename "$3").$2"
  { printf "\\x$2"; cat "$3"; } > "$out"
}
mkdir -p "$OUT/corpus/tacm" "$OUT/corpus/tensor"
for f in "$BUILD"/test/Runtime/models/*.tacm; do
  seed "$OUT/corpus/tacm" 01 "$f"
  seed "$OUT/corpus/tacm" 00 "$f"
done
while IFS= read -r f; do
  case "$f" in
    *.npy) seed "$OUT/corpus/tensor" 00 "$f" ;;
    *.pb) seed "$OUT/corpus/tensor" 01 "$f" ;;
  esac
done < <(find "$ROOT/test/Import/Models/ref" "$BUILD/test/Runtime/tac-run-cli" \
          -name '*.npy' -size -64k 2>/dev/null | head -40;
        find /usr/share/libonnx-testdata/data/node -name 'input_0.pb' -size -16k 2>/dev/null | head -60)

mkdir -p "$OUT/corpus/onnx"
while IFS= read -r f; do
  cp "$f" "$OUT/corpus/onnx/$(basename "$f")"
done < <(find "$ROOT/test/Import" -name '*.onnxtext')
while IFS= read -r f; do
  cp "$f" "$OUT/corpus/onnx/$(basename "$(dirname "$f")").onnx"
done < <(find /usr/share/libonnx-testdata/data/node -name model.onnx -size -8k 2>/dev/null | sort | head -150)

status=0
for target in fuzz-tacm-loader fuzz-tensor-files fuzz-onnx-importer; do
  [[ -n $ONLY && $ONLY != "$target" ]] && continue
  corpus="$OUT/corpus/tacm"
  [[ $target == fuzz-tensor-files ]] && corpus="$OUT/corpus/tensor"
  [[ $target == fuzz-onnx-importer ]] && corpus="$OUT/corpus/onnx"
  # Inputs that once crashed (test/Fuzz/regressions/<target>) run first.
  regressions=("$ROOT/test/Fuzz/regressions/${target#fuzz-}"/*)
  if [[ -e ${regressions[0]} ]]; then
    echo "== $target: ${#regressions[@]} regression inputs"
    if ! (cd "$OUT" && "./$target" "${regressions[@]}" 2>&1 | tail -n 3); then
      status=1
    fi
  fi
  echo "== $target: $(ls "$corpus" | wc -l) seeds, ${SECONDS_EACH} s"
  if ! (cd "$OUT" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "./$target" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -max_len=262144 -print_final_stats=1 "$corpus" 2>&1 | tail -n 25); then
    status=1
  fi
done
exit $status
