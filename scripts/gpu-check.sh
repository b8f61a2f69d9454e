#!/usr/bin/env bash
# The CUDA backend's device check (docs/cuda.md), in two halves:
#
#   scripts/gpu-check.sh --prepare BUILD_DIR
#       on the build machine (LLVM/MLIR, CUDA toolkit, no GPU): compiles the
#       test models with --target=cpu,cuda and copies what the GPU machine
#       runs -- tac-run, tac-cuda-device-tests, libtacrt.so, the .tacm files
#       and the PyTorch peer script -- into BUILD_DIR/gpu-bundle (checking
#       with ldd that none of it needs LLVM/MLIR).
#
#   scripts/gpu-check.sh --run BUNDLE
#       on the GPU machine (driver, CUDA runtime libraries, PyTorch; no
#       LLVM/MLIR): the GPU tests, then per-variant latency (CUDA graph vs
#       plain stream replay vs CPU), dispatch overhead (host path read vs
#       on-device SWITCH node), and the same models in PyTorch eager and
#       torch.compile(mode="reduce-overhead"). Writes results.md,
#       results.json and the raw logs to $OUT (default ./gpu-check-out).
#       Budget: under 5 minutes on an H100/H200.
#
# Exit status: 0 when every step passed, 1 when a test or benchmark failed
# (the table is still written), 2 for usage or setup errors.
set -euo pipefail

die() { echo "gpu-check: error: $*" >&2; exit 2; }
note() { echo "gpu-check: $*" >&2; }

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)

# ldd must resolve everything and name no LLVM/MLIR library.
check_ldd() {
  local file=$1 deps
  deps=$(LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}" ldd "$file" 2>&1) ||
    die "ldd $file failed: $deps"
  if grep -Eq 'libLLVM|libMLIR' <<<"$deps"; then
    die "$file links LLVM/MLIR, which the GPU machine lacks:
$(grep -E 'libLLVM|libMLIR' <<<"$deps")"
  fi
  if grep -q 'not found' <<<"$deps"; then
    die "$file has unresolved libraries:
$(grep 'not found' <<<"$deps")"
  fi
}

# The PyTorch peer script the bundle carries.
write_peers() {
  cat <<'PEERS'
#!/usr/bin/env python3
"""PyTorch peers for scripts/gpu-check.sh: the tiny ViT and BERT-style
encoder of test/Import/Models/export_models.py (the architectures the .tacm
files were compiled from; weights are random, which does not change the
latency), batch 1 on CUDA, eager and torch.compile(mode="reduce-overhead").
Writes {model: {eager_us, compiled_us}} (medians) as JSON."""
import argparse
import importlib.util
import json
import sys
import time


def median_us(fn, runs=300, warmup=20):
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e6)
    times.sort()
    return round(times[len(times) // 2], 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--export-models", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import torch
    if not torch.cuda.is_available():
        json.dump({"error": "torch.cuda.is_available() is False"},
                  open(args.out, "w"))
        return 1
    # export_models imports onnx at the top; the classes do not need it.
    if importlib.util.find_spec("onnx") is None:
        sys.modules["onnx"] = type(sys)("onnx")
    spec = importlib.util.spec_from_file_location("export_models",
                                                  args.export_models)
    em = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(em)
    torch.backends.cuda.matmul.allow_tf32 = False  # tac's default: FP32
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    if hasattr(torch, "set_default_device"):
        torch.set_default_device("cuda")  # Bert.forward's torch.arange
    models = {
        "vit_tiny": (em.ViT(), (torch.rand(1, 1, 28, 28, device=dev),)),
        "bert_tiny": (em.Bert(), (torch.randint(0, 64, (1, 16), device=dev),
                                  torch.ones(1, 16, dtype=torch.int64,
                                             device=dev))),
    }
    results = {}
    for name, (model, inputs) in models.items():
        model = model.to(dev).eval()
        r = {}
        try:
            with torch.no_grad():
                r["eager_us"] = median_us(lambda: model(*inputs))
                compiled = torch.compile(model, mode="reduce-overhead")
                r["compiled_us"] = median_us(lambda: compiled(*inputs))
        except Exception as e:  # report, keep the other peers
            r["error"] = f"{type(e).__name__}: {e}"
        results[name] = r
        print(name, r, flush=True)
    json.dump(results, open(args.out, "w"), indent=1)
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
PEERS
}

prepare() {
  local build=$1
  [[ -d $build ]] || die "no build directory '$build'"
  local compile=$build/bin/tac-compile run=$build/bin/tac-run
  local tests=$build/bin/tac-cuda-device-tests
  for f in "$compile" "$run" "$tests"; do
    [[ -x $f ]] || die "$f is missing: build first (ninja -C $build)"
  done
  local lib
  lib=$(ls "$build"/lib/libtacrt.so.* 2>/dev/null | head -1) ||
    true
  [[ -n $lib ]] || die "no libtacrt.so in $build/lib: build first"
  local bundle=$build/gpu-bundle
  rm -rf "$bundle"
  mkdir -p "$bundle/bin" "$bundle/lib" "$bundle/models"
  cp "$run" "$tests" "$bundle/bin/"
  cp -P "$build"/lib/libtacrt.so* "$bundle/lib/"
  write_peers >"$bundle/gpu_peers.py"
  # The PyTorch peers' models: export_models.py imports the one ViT
  # definition (tac.train.model, plain PyTorch) from <repo>/python; the
  # bundle keeps that layout with empty package files (the real tac
  # package needs its compiled extensions).
  mkdir -p "$bundle/test/Import/Models" "$bundle/python/tac/train"
  cp "$ROOT/test/Import/Models/export_models.py" "$bundle/test/Import/Models/"
  cp "$ROOT/python/tac/train/model.py" "$bundle/python/tac/train/"
  : >"$bundle/python/tac/__init__.py"
  : >"$bundle/python/tac/train/__init__.py"
  # make_models.py writes one model with onnx and NumPy: the project venv's.
  local py=${PYTHON:-python3}
  [[ -z ${PYTHON:-} && -x $ROOT/.venv/bin/python ]] && py=$ROOT/.venv/bin/python
  # The peers' models must import from the bundle alone (where PyTorch is).
  if "$py" -c "import torch" 2>/dev/null; then
    (cd / && "$py" -c "import importlib.util as u, sys
s = u.spec_from_file_location('em', sys.argv[1]); m = u.module_from_spec(s)
s.loader.exec_module(m); m.ViT; m.Bert" \
      "$bundle/test/Import/Models/export_models.py") ||
      die "the bundle's export_models.py does not import on its own"
  fi
  "$py" "$ROOT/test/Cuda/make_models.py" \
    --tac-compile "$compile" --out "$bundle/models" >&2
  # tac-run's other dependencies (protobuf, ONNX's protobuf classes) are
  # Debian libraries the GPU machine may not have: bundle them too.
  local deps
  deps=$(ldd "$run" | awk '/=> \// {print $3}' |
         grep -E 'libonnx|libprotobuf|libabsl' || true)
  for d in $deps; do cp -L "$d" "$bundle/lib/"; done
  # So are the libraries each model's CPU half links (the system BLAS and
  # what it needs), found from the code objects themselves; glibc and the
  # compiler's runtime libraries are on every machine and stay out.
  local m code=$bundle/cpu-code.so soname path
  for m in "$bundle"/models/*.tacm; do
    "$run" "$m" --extract-cpu-code="$code" >/dev/null ||
      die "cannot extract the CPU code object of $m"
    while read -r soname path; do
      case $soname in
        libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | \
          ld-linux* | libgcc_s.so.* | libstdc++.so.*) ;;
        *) cp -L "$path" "$bundle/lib/$soname" ;;
      esac
    done < <(ldd "$code" | awk '/=> \// {print $1, $3}')
    LD_LIBRARY_PATH=$bundle/lib check_ldd "$code"
  done
  rm -f "$code"
  for f in "$bundle"/bin/*; do
    LD_LIBRARY_PATH=$bundle/lib check_ldd "$f"
  done
  check_ldd "$bundle/lib/$(basename "$lib")"
  note "bundle ready: $bundle ($(du -sh "$bundle" | cut -f1)); carry it and run"
  note "  scripts/gpu-check.sh --run $bundle"
  echo "$bundle"
}

# bench VAR LOG ARGS...: sets VAR to the median latency (us) of tac-run
# ARGS --benchmark, or to "-" and FAILED=1 when it failed. It runs in this
# shell, never inside $(...), where setting FAILED would be lost.
bench() {
  local -n median=$1
  local log=$2
  shift 2
  local json
  if json=$(timeout 60 "$BUNDLE/bin/tac-run" "$@" --json 2>>"$log") &&
     median=$("$PY" -c 'import json,sys; b=json.loads(sys.argv[1]); print("%.1f" % b["benchmark"]["median_us"])' "$json" 2>>"$log"); then
    echo "$json" >>"$log"
  else
    echo "tac-run $* failed" >>"$log"
    median="-"
    FAILED=1
  fi
}

run() {
  BUNDLE=$(cd "$1" && pwd)
  OUT=${OUT:-$PWD/gpu-check-out}
  mkdir -p "$OUT"
  export LD_LIBRARY_PATH="$BUNDLE/lib:${LD_LIBRARY_PATH:-}"
  PY=${PYTHON:-python3}
  command -v "$PY" >/dev/null || die "no python3 on PATH (set PYTHON)"
  FAILED=0
  local start=$SECONDS
  for f in "$BUNDLE"/bin/*; do check_ldd "$f"; done
  { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv \
      2>&1 || echo "nvidia-smi failed"; } >"$OUT/device.txt"
  note "device: $(tail -1 "$OUT/device.txt")"

  local models=()
  for m in "$BUNDLE"/models/*.tacm; do models+=("$m"); done
  [[ ${#models[@]} -gt 0 ]] || die "no .tacm files in $BUNDLE/models"

  # 1. GPU tests (every variant vs the CPU backend, dispatch paths).
  note "GPU tests ..."
  local tests_status=passed
  if ! TAC_CUDA_MODELS=$(IFS=:; echo "${models[*]}") timeout 150 \
      "$BUNDLE/bin/tac-cuda-device-tests" >"$OUT/device-tests.txt" 2>&1; then
    tests_status=FAILED
    FAILED=1
  fi
  if grep -q '\[  SKIPPED \]' "$OUT/device-tests.txt"; then
    tests_status="SKIPPED: $(grep -m1 -A1 ': Skipped$' "$OUT/device-tests.txt" | tail -1)"
    FAILED=1 # on the device machine a skip means the GPU was not usable
  fi
  note "GPU tests: $tests_status (log: device-tests.txt)"

  # 2. Per-variant latency, 3. dispatch overhead.
  local log=$OUT/bench.log rows=$OUT/rows.tsv
  : >"$log"
  : >"$rows"
  for m in "${models[@]}"; do
    local name
    name=$(basename "$m" .tacm)
    note "benchmarking $name ..."
    local variants=0
    for path in -1 $(seq 0 15); do
      # Only compiled paths: a CPU run says which exist.
      "$BUNDLE/bin/tac-run" "$m" --path="$path" --random --json \
        >/dev/null 2>&1 || continue
      local g s c
      bench g "$log" "$m" --device=cuda --path="$path" --random --benchmark=300
      bench s "$log" "$m" --device=cuda --no-graphs --path="$path" --random --benchmark=300
      bench c "$log" "$m" --path="$path" --random --benchmark=50
      printf 'variant\t%s\t%s\t%s\t%s\t%s\n' "$name" "$path" "$g" "$s" "$c" >>"$rows"
      variants=$((variants + 1))
    done
    if ((variants == 0)); then
      note "$name: no variant ran on the CPU, so none was timed (see bench.log)"
      "$BUNDLE/bin/tac-run" "$m" --random >>"$log" 2>&1 || true
      FAILED=1
    fi
    local h d
    bench h "$log" "$m" --device=cuda --dispatch=host --random --benchmark=300
    if "$BUNDLE/bin/tac-run" "$m" --path=-1 --random >/dev/null 2>&1; then
      d="- (static model)"
    else
      bench d "$log" "$m" --device=cuda --dispatch=device --random --benchmark=300
    fi
    printf 'dispatch\t%s\t%s\t%s\n' "$name" "$h" "$d" >>"$rows"
  done

  # 4. PyTorch peers.
  note "PyTorch peers ..."
  if ! timeout 150 "$PY" "$BUNDLE/gpu_peers.py" --export-models "$BUNDLE/test/Import/Models/export_models.py" \
      --out "$OUT/peers.json" >"$OUT/peers.log" 2>&1; then
    note "PyTorch peers failed (see peers.log)"
    FAILED=1
  fi

  "$PY" - "$OUT" "$tests_status" <<'EOF' || { note "writing the results table failed"; FAILED=1; }
import json, os, sys
out, tests = sys.argv[1], sys.argv[2]
variants, dispatch = [], []
for line in open(os.path.join(out, "rows.tsv")):
    f = line.rstrip("\n").split("\t")
    (variants if f[0] == "variant" else dispatch).append(f[1:])
peers = {}
try:
    peers = json.load(open(os.path.join(out, "peers.json")))
except Exception as e:
    peers = {"error": str(e)}
device = open(os.path.join(out, "device.txt")).read().strip().splitlines()[-1]
lines = ["# tac CUDA device check", "", f"Device: {device}", "",
         f"GPU tests (every variant vs the CPU backend, host and device dispatch): {tests}", "",
         "Latency per call (median us: inputs copied in, graph launch, outputs copied out, synchronised; tac-run --benchmark):", "",
         "| model | path | CUDA graph | stream replay | CPU |", "|---|---:|---:|---:|---:|"]
for name, path, g, s, c in variants:
    lines.append(f"| {name} | {path} | {g} | {s} | {c} |")
lines += ["", "Dispatch (controller chooses; median us per call):", "",
          "| model | host path read + variant graph | on-device SWITCH graph |", "|---|---:|---:|"]
for name, h, d in dispatch:
    lines.append(f"| {name} | {h} | {d} |")
lines += ["", "PyTorch peers (same architecture, random weights, batch 1, median us per forward incl. sync):", "",
          "| model | eager | torch.compile(reduce-overhead) |", "|---|---:|---:|"]
for name, r in sorted(peers.items()):
    if isinstance(r, dict):
        lines.append(f"| {name} | {r.get('eager_us', '-')} | {r.get('compiled_us', '-')} |")
    else:
        lines.append(f"| {name} | {r} | |")
open(os.path.join(out, "results.md"), "w").write("\n".join(lines) + "\n")
json.dump({"device": device, "tests": tests, "variants": variants,
           "dispatch": dispatch, "peers": peers},
          open(os.path.join(out, "results.json"), "w"), indent=1)
print("\n".join(lines))
EOF
  note "done in $((SECONDS - start)) s; results in $OUT/results.md"
  return "$FAILED"
}

[[ $# -eq 2 ]] || usage
case $1 in
  --prepare) prepare "$2" ;;
  --run) if run "$2"; then exit 0; else exit 1; fi ;;
  *) usage ;;
esac
