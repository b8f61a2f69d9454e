#!/usr/bin/env python3
"""tac vs ONNX Runtime vs PyTorch on the CPU: one command, one table.

    .venv/bin/python bench/run_bench.py                 # full run, writes docs/bench.md
    .venv/bin/python bench/run_bench.py --quick         # smoke: bundled model, batch 1
    .venv/bin/python bench/run_bench.py --threads 1,2 --batches 1,32 --models fmnist,vit_small,minilm

What it does, in order:

1. exports the models it needs (bench/export_bench_models.py; cached in
   --cache, default bench/.models/), each checked against ONNX Runtime;
2. compiles each with tac-compile (timed: the compile time in the table);
3. per thread count and model x batch, loads every engine into this process
   and times them **interleaved**: each repetition runs every engine once
   (K calls each on the same inputs; the starting engine rotates), after
   warm-up rounds; per engine the median / min / max over repetitions and
   the ratio to ONNX Runtime computed per repetition (the median of the
   per-repetition ratios is reported);
   "% peak" is against the FP32 peak measured by bench/peak_fp32.c at the
   start of the run (compiled with cc);
4. checks that every engine's output agrees with ONNX Runtime's (max |diff|;
   a mismatch fails the run, exit code 1);
5. measures peak RSS of each engine in a child process of its own (loads
   only that engine, runs it twice (once if a run takes over 2 s), reports
   its peak RSS, VmHWM);
6. prints the table and writes docs/bench.md (not in --quick unless
   --write-docs), keeping the "Where time goes" section already there.

Engines: tac static / tac adaptive through tac.InferenceSession (the Python
package's compiled extension, in process, like ORT's Python API); ONNX Runtime CPU
in the fastest of its candidate configurations for the cell (ORT_ENABLE_ALL,
sequential, intra_op_num_threads = threads with and without spinning, 1
thread, ORT's own defaults where they fit the cell's threads; each timed
briefly first, the choice is reported); PyTorch eager
(torch.set_num_threads(threads), no_grad). tac runs its BLAS GEMM kernels on
`threads` threads (InferenceSession(threads=...)) and everything else on the
calling thread; the table says so.

Timing never fails the run: only errors and output mismatches do.
"""
from __future__ import annotations

import os

# Idle worker threads must not spin-wait: in an interleaved loop one engine's
# spinning pool would steal the cores of the next engine. Set before torch /
# onnxruntime are imported (GNU OpenMP reads it at start-up).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import datetime
import json
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

ENGINES = ("tac static", "tac adaptive", "ORT", "ORT adaptive", "PyTorch")
MODEL_TITLES = {
    "fmnist": "Fashion-MNIST ViT (bundled; 8 layers, width 64, 17 tokens)",
    "vit_small": "ViT-Small shape (224², patch 16, 12 × 384, random weights)",
    "minilm": "all-MiniLM-L6-v2 (BERT, 6 × 384, seq 128, pretrained)",
    "bert_tiny": "Hugging Face BertModel (2 × 128, seq 20, random weights)",
    "gpt2_tiny": "Hugging Face GPT2Model (2 × 128, seq 20, random weights)",
    "vit_tiny": "Hugging Face ViTModel (32², patch 8, 4 × 96, random weights)",
}
# ONNX file per model family: (static, adaptive or None)
FILES = {"fmnist": ("fmnist_static", "fmnist_adaptive"),
         "vit_small": ("vit_small", None), "minilm": ("minilm", None),
         "bert_tiny": ("bert_tiny", None), "gpt2_tiny": ("gpt2_tiny", None),
         "vit_tiny": ("vit_tiny", None)}
WHERE_TIME_GOES = "## Where time goes"


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


# --------------------------------------------------------------------------
# machine
# --------------------------------------------------------------------------

def machine_info() -> dict:
    info = {"cores": os.cpu_count() or 1, "platform": platform.platform()}
    cpu = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    cpu.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    flags = set(cpu.get("flags", "").split())
    info["model_name"] = cpu.get("model name", platform.processor() or "unknown")
    info["vendor"] = cpu.get("vendor_id", "?")
    family, model = int(cpu.get("cpu family", "0")), int(cpu.get("model", "0"))
    info["family_model"] = f"family {family} model {model} (0x{model:x})"
    mhz = float(cpu.get("cpu MHz", "0") or 0)
    try:  # lscpu's max MHz when the kernel knows it (bare metal); VMs often don't
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"CPU max MHz:\s*([\d.]+)", out)
        if m:
            info["max_mhz"] = float(m.group(1))
        m = re.search(r"Hypervisor vendor:\s*(\S+)", out)
        if m:
            info["hypervisor"] = m.group(1)
    except (OSError, subprocess.SubprocessError):
        pass
    info["mhz"] = mhz
    if "avx512f" in flags:
        isa, lanes = "AVX-512", 16
    elif "avx2" in flags:
        isa, lanes = "AVX2", 8
    elif "avx" in flags:
        isa, lanes = "AVX", 8
    else:
        isa, lanes = "SSE", 4
    fma = "fma" in flags
    # FMA pipes x lanes each pipe retires per cycle. /proc/cpuinfo does not say
    # how many FMA units a core has nor how wide they are; known cores:
    if info["vendor"] == "AuthenticAMD" and family == 0x19:
        # Zen 3 / Zen 4: two 256-bit FMA pipes; Zen 4 runs AVX-512 as 2 x 256.
        pipes, pipe_lanes, why = 2, 8, "AMD Zen 3/4 (family 0x19): 2 FMA pipes x 256 bit"
        if "avx512f" in flags:
            why += " (AVX-512 executes as 2 x 256 bit)"
    elif info["vendor"] == "AuthenticAMD" and family >= 0x1A:
        pipes, pipe_lanes, why = 2, lanes, "AMD Zen 5: 2 FMA pipes at the full vector width"
    elif info["vendor"] == "AuthenticAMD" and family == 0x17:
        pipes, pipe_lanes, why = 2, 4, "AMD Zen 1/2: 2 FMA pipes x 128/256 bit (Zen 2: 256)"
        if model >= 0x30:
            pipe_lanes = 8
    else:
        pipes, pipe_lanes = 2, lanes
        why = f"assumed 2 FMA units x {lanes * 32} bit (most Intel server cores; some have 1)"
    flop_per_cycle = pipes * pipe_lanes * (2 if fma else 1)
    ghz = (mhz or info.get("max_mhz", 0)) / 1000.0
    info.update({"isa": isa, "fma": fma, "fma_pipes": pipes, "pipe_lanes_fp32": pipe_lanes,
                 "flop_per_cycle_fp32": flop_per_cycle, "ghz": ghz,
                 "peak_gflops_per_core": flop_per_cycle * ghz, "peak_assumption": why})
    return info


def measured_peak(cache: str, cpu_key: str) -> dict:
    """Runs bench/peak_fp32.c (independent FMA chains in registers, the ISA
    chosen by the CPU's flags, 1 and 2 threads): the FP32 GFLOP/s this
    machine really reaches, which "% peak" is taken against. Other processes
    can only lower the rate, so the cache keeps the best rate measured on
    this CPU (cpu_key) across runs ({cache}/peak_fp32.json); "this_run" is
    this run's own. {} when no C compiler is there (then the assumed peak
    is used)."""
    src = os.path.join(HERE, "peak_fp32.c")
    exe = os.path.join(cache, "peak_fp32")
    try:
        subprocess.run(["cc", "-O2", "-pthread", src, "-o", exe], check=True,
                       capture_output=True, text=True, timeout=120)
        load0 = os.getloadavg()[0]
        out = subprocess.run([exe], check=True, capture_output=True, text=True,
                             timeout=300).stdout
        now = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as err:
        log(f"peak_fp32 not measured: {err}")
        return {}
    now["load"] = [load0, os.getloadavg()[0]]
    path = os.path.join(cache, "peak_fp32.json")
    kept = {}
    try:
        with open(path) as f:
            kept = json.load(f)
        if kept.get("cpu_key") != cpu_key:
            kept = {}
    except (OSError, ValueError):
        pass
    isas = {isa: dict(v) for isa, v in kept.get("isas", {}).items()}
    for isa, v in now["isas"].items():
        for t, g in v.items():
            isas.setdefault(isa, {})[t] = max(g, isas.get(isa, {}).get(t, 0.0))
    best = {}
    for isa, v in isas.items():
        for t, g in v.items():
            if g > best.get(t, {}).get("gflops", 0.0):
                best[t] = {"gflops": g, "isa": isa}
    r = {"cpu_key": cpu_key, "isas": isas, "best": best,
         "runs": kept.get("runs", 0) + 1, "this_run": now}
    with open(path, "w") as f:
        json.dump(r, f, indent=1)
    return r


def peak_gflops(mach: dict, threads: int) -> tuple[float, str]:
    """The FP32 peak of `threads` cores: measured when the run measured it,
    else the assumed per-core peak times threads."""
    best = mach.get("peak_measured", {}).get("best", {})
    if str(threads) in best:
        return best[str(threads)]["gflops"], "measured"
    if "1" in best:
        return best["1"]["gflops"] * threads, "measured (1 thread x threads)"
    return mach["peak_gflops_per_core"] * threads, "assumed"


def versions() -> dict:
    import onnxruntime
    import torch
    return {"python": platform.python_version(), "numpy": np.__version__,
            "onnxruntime": onnxruntime.__version__, "torch": torch.__version__}


# --------------------------------------------------------------------------
# engines
# --------------------------------------------------------------------------

class Engine:
    """One engine: ``call(inputs) -> primary output``. ``info`` collects the
    per-call extras (tac adaptive: path, depth and FLOPs)."""

    def __init__(self, name, fn, flops_fn=None, threads_used=None):
        self.name, self.fn = name, fn
        self.flops_fn = flops_fn
        self.threads_used = threads_used
        self.times: list[float] = []
        self.settles: list[float] = []  # untimed pause after each slot
        self.infos: list[dict] = []


def make_tac(path: str, adaptive: bool, eng_name: str, threads: int = 1):
    import tac
    try:  # BLAS GEMM kernels use `threads`; the rest runs on the caller's
        m = tac.InferenceSession(path, threads=threads)
    except tac.UnsupportedError:
        threads = 1  # no BLAS GEMMs: one thread
        m = tac.InferenceSession(path, threads=1)
    names = [s.name for s in m.get_inputs()]
    static_flops = m.variants[0].flops if not adaptive else None
    e = None

    def call(inputs):
        outs, info = m.run_adaptive({n: inputs[n] for n in names})
        if adaptive:
            e.infos.append({"path": info.path, "flops": info.flops,
                            "depth": int(outs[1])})
        return outs[0]

    e = Engine(eng_name, call, threads_used=threads)
    e.model = m
    e.static_flops = static_flops
    return e


def ort_session(path: str, threads: int, spin: bool = False, defaults: bool = False):
    """`defaults`: ORT's own SessionOptions, untouched (intra-op threads = the
    physical cores, spinning on, ORT_ENABLE_ALL). Spinning pools keep ORT's
    default of spinning on after a run returns, although that takes cores
    from the engine timed next (bench/interference.py): stopping it
    (session.force_spinning_stop) makes ORT itself slower."""
    import onnxruntime as ort
    if defaults:
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_candidates(threads: int, cores: int) -> list[tuple[str, dict]]:
    """The ORT configurations a cell with `threads` threads may use: the
    explicit setting with and without spinning, one thread when more are
    allowed (ORT must never be slower for having more threads), and ORT's
    defaults where they use no more cores than the cell allows."""
    c = [(f"intra_op={threads}, no spinning", {"threads": threads}),
         (f"intra_op={threads}, spinning", {"threads": threads, "spin": True})]
    if threads > 1:
        c.append(("intra_op=1, no spinning", {"threads": 1}))
    if threads >= cores:
        c.append(("ORT defaults", {"threads": threads, "defaults": True}))
    return c


def settle(threads: int) -> float:
    """The untimed pause after each engine's slot at `threads` > 1: waits
    until no thread of this process is using the CPU, at most SETTLE_MAX_S;
    returns the seconds waited. A spinning ONNX Runtime pool keeps its
    workers busy for tens of ms after a run returns and slows the engine
    timed next (bench/interference.py, step 4); a fixed 20 ms pause gave
    part of those cores back, not all. Idle means the process's CPU time
    grew by under a tenth of the wall time in a SETTLE_POLL_S window. At
    one thread no pool spins (ORT at intra_op=1 has no workers)."""
    if threads <= 1:
        return 0.0
    start = time.perf_counter()
    while time.perf_counter() - start < SETTLE_MAX_S:
        cpu = time.process_time()
        time.sleep(SETTLE_POLL_S)
        if time.process_time() - cpu < 0.1 * SETTLE_POLL_S:
            break
    return time.perf_counter() - start


SETTLE_POLL_S = 0.005
SETTLE_MAX_S = 0.5


def pick_ort_config(path: str, threads: int, pool: list[dict], cores: int) -> dict:
    """Times every candidate configuration (interleaved, a few calls each)
    and returns the fastest: {"label", "kwargs", "medians_s"}."""
    cands = ort_candidates(threads, cores)
    sessions = [ort_session(path, **kw) for _, kw in cands]
    x = pool[0]
    first = []
    for sess in sessions:
        sess.run(None, x)
        t0 = time.perf_counter()
        sess.run(None, x)
        first.append(time.perf_counter() - t0)
    slow = max(first)
    k = max(1, min(50, int(0.005 / max(min(first), 1e-6))))
    n = 7 if slow < 0.2 else 4 if slow < 1.5 else 2
    times: list[list[float]] = [[] for _ in cands]
    for r in range(n):
        for j in range(len(cands)):
            i = (r + j) % len(cands)
            t0 = time.perf_counter()
            for _ in range(k):
                sessions[i].run(None, x)
            times[i].append((time.perf_counter() - t0) / k)
            settle(threads)
    medians = [statistics.median(t) for t in times]
    best = min(range(len(cands)), key=lambda i: medians[i])
    del sessions
    return {"label": cands[best][0], "kwargs": cands[best][1],
            "medians_s": {c[0]: m for c, m in zip(cands, medians)}}


def make_ort(path: str, threads: int, eng_name: str, adaptive: bool = False,
             config: dict | None = None):
    kw = config["kwargs"] if config else {"threads": threads}
    sess = ort_session(path, **kw)
    e = None

    def call(inputs):
        outs = sess.run(None, inputs)
        if adaptive:
            e.infos.append({"depth": int(outs[1])})
        return outs[0]

    used = kw.get("threads", threads)
    if config:
        used = (f"{cores_default()} (ORT defaults)" if kw.get("defaults")
                else config["label"].replace("intra_op=", ""))
    e = Engine(eng_name, call, threads_used=used)
    return e


def cores_default() -> int:
    """The intra-op threads ORT's defaults use: one per physical core."""
    try:
        out = subprocess.run(["lscpu", "-p=CORE,SOCKET"], capture_output=True, text=True,
                             timeout=10).stdout
        cores = {l for l in out.splitlines() if l and not l.startswith("#")}
        return len(cores) or (os.cpu_count() or 1)
    except (OSError, subprocess.SubprocessError):
        return os.cpu_count() or 1


def limit_openblas(threads: int) -> bool:
    """Sets the process's OpenBLAS thread count (Debian's PyTorch does its
    matrix products in the system BLAS, which torch.set_num_threads does not
    reach: at "1 thread" PyTorch ran on 2 cores, bench/interference.py).
    Returns whether an OpenBLAS was found."""
    import ctypes
    for name in ("libblas.so.3", "libopenblas.so.0"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        setter = getattr(lib, "openblas_set_num_threads", None)
        if setter is not None:
            setter(ctypes.c_int(threads))
            return True
    return False


def make_torch(family: str, threads: int):
    import torch
    import export_bench_models as X
    module = X.torch_module(FILES[family][0])
    torch.set_num_threads(threads)
    limit_openblas(threads)

    def call(inputs):
        with torch.no_grad():
            return module(*[torch.from_numpy(v) for v in inputs.values()]).numpy()

    return Engine("PyTorch", call, threads_used=threads)


# --------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------

def input_pool(family: str, batch: int, quick: bool) -> list[dict]:
    import export_bench_models as X
    if family == "fmnist":
        n = (200 if quick else 2000) if batch == 1 else (4 if quick else 20) * batch
        imgs = X.fmnist_images(n)
        return [{"image": imgs[i:i + batch]} for i in range(0, n, batch)]
    return [X.example_inputs(FILES[family][0], batch)]


# --------------------------------------------------------------------------
# measurement
# --------------------------------------------------------------------------

def agree(engines: list[Engine], pool: list[dict], check_n: int) -> dict:
    """max |engine - ORT| on pool[0]; adaptive engines against ORT adaptive
    on the first check_n inputs (depth must match; logits where it does)."""
    ref_engine = next(e for e in engines if e.name == "ORT")
    ref = ref_engine.fn(pool[0])
    scale = max(1.0, float(np.abs(ref).max()))
    result = {}
    for e in engines:
        if e.name in ("tac adaptive", "ORT adaptive"):
            continue
        d = float(np.abs(e.fn(pool[0]) - ref).max()) if e is not ref_engine else 0.0
        result[e.name] = {"max_abs_diff": d, "ok": d <= 1e-3 * scale, "tolerance": 1e-3 * scale}
    tac_a = next((e for e in engines if e.name == "tac adaptive"), None)
    ort_a = next((e for e in engines if e.name == "ORT adaptive"), None)
    if tac_a and ort_a:
        mism, worst = 0, 0.0
        n = min(check_n, len(pool))
        for x in pool[:n]:
            a, b = tac_a.fn(x), ort_a.fn(x)
            if tac_a.infos[-1]["depth"] != ort_a.infos[-1]["depth"]:
                mism += 1
            else:
                worst = max(worst, float(np.abs(a - b).max()))
        tac_a.infos.clear()
        ort_a.infos.clear()
        ok = worst <= 1e-3 * scale and mism <= 0.01 * n
        result["tac adaptive"] = {"max_abs_diff": worst, "depth_mismatches": mism,
                                  "checked": n, "ok": ok, "vs": "ORT adaptive"}
        result["ORT adaptive"] = {"max_abs_diff": 0.0, "ok": True, "vs": "itself"}
    return result


def measure(engines: list[Engine], pool: list[dict], budget_s: float, min_reps: int,
            max_reps: int, quick: bool, threads: int = 1) -> dict:
    """Times `engines` interleaved (module docstring); at `threads` > 1
    each engine's slot is followed by an untimed settle(threads)."""
    # Warm-up: every engine at least once; small models a few rounds.
    first, settled = {}, []
    for e in engines:
        t0 = time.perf_counter()
        e.fn(pool[0])
        first[e.name] = time.perf_counter() - t0
        settled.append(settle(threads))
    warm_rounds = 1 if max(first.values()) > 1.0 else 3
    for _ in range(warm_rounds - 1):
        for e in engines:
            e.fn(pool[0])
    for e in engines:
        e.infos.clear()
    # K calls per repetition so that the fastest engine's slot is >= 20 ms.
    t_fast = min(first.values())
    k = 1 if t_fast >= 0.02 else min(50, max(1, int(0.02 / max(t_fast, 1e-6))))
    if len(pool) > 1:
        k = max(k, 10)
    # The budget holds the settle pauses too (a spinning pool's, tens of ms
    # per slot, would otherwise multiply a small model's run time).
    rep_s = k * sum(first.values()) + sum(settled)
    reps = int(max(min_reps, min(max_reps, budget_s // max(rep_s, 1e-9))))
    log(f"    warm-up {warm_rounds} round(s); {reps} repetitions x {k} call(s) per engine "
        f"(about {reps * rep_s:.0f} s)")
    n_eng = len(engines)
    ci = 0
    for r in range(reps):
        for j in range(n_eng):
            e = engines[(r + j) % n_eng]
            t0 = time.perf_counter()
            for c in range(k):
                e.fn(pool[(ci + c) % len(pool)])
            e.times.append((time.perf_counter() - t0) / k)
            e.settles.append(settle(threads))
        ci += k
    ort_t = next(e for e in engines if e.name == "ORT").times
    out = {"reps": reps, "calls_per_rep": k, "warmup_rounds": warm_rounds,
           "inputs_used": min(len(pool), reps * k), "engines": {}}
    # the baseline that does the same work as tac adaptive: ORT running the
    # same If-gated model, in the same repetition
    same_work = next((o for o in engines if o.name == "ORT adaptive"), None)
    for e in engines:
        ratios = [a / b for a, b in zip(e.times, ort_t)]
        st = {"median_s": statistics.median(e.times), "min_s": min(e.times),
              "max_s": max(e.times), "mean_s": statistics.fmean(e.times),
              "ratio_median": statistics.median(ratios),
              "ratio_min": min(ratios), "ratio_max": max(ratios),
              "threads_used": e.threads_used}
        if e.settles:
            st["settle_median_s"] = statistics.median(e.settles)
        if e.name == "tac adaptive" and same_work:
            st["ratio_vs_ort_adaptive_median"] = statistics.median(
                a / b for a, b in zip(e.times, same_work.times))
        if e.name == "tac adaptive" and e.infos:
            hist = {}
            for i in e.infos:
                hist[i["path"]] = hist.get(i["path"], 0) + 1
            st["path_histogram"] = {str(p): hist[p] for p in sorted(hist)}
            st["mean_flops"] = statistics.fmean(i["flops"] for i in e.infos)
            st["mean_depth"] = statistics.fmean(i["depth"] for i in e.infos)
            st["runs"] = len(e.infos)
        if e.name == "ORT adaptive" and e.infos:
            st["mean_depth"] = statistics.fmean(i["depth"] for i in e.infos)
        out["engines"][e.name] = st
    return out


# --------------------------------------------------------------------------
# peak RSS in child processes
# --------------------------------------------------------------------------

def peak_rss_kb() -> int:
    """VmHWM: this process image's peak RSS. (getrusage's ru_maxrss survives
    fork + exec on Linux, so a child of a big parent would report the
    parent's size.)"""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_child(spec: dict) -> dict:
    """Runs in a fresh interpreter: loads one engine, runs it twice."""
    data = np.load(spec["inputs"])
    inputs = {k: data[k] for k in data.files}
    base = peak_rss_kb()
    eng, threads = spec["engine"], spec["threads"]
    if eng.startswith("tac"):
        e = make_tac(spec["tacm"], eng == "tac adaptive", eng, threads)
    elif eng.startswith("ORT"):
        import onnxruntime  # noqa: F401  (import before the baseline)
        base = peak_rss_kb()
        e = make_ort(spec["onnx"], threads, eng, eng == "ORT adaptive", spec.get("ort_config"))
    else:
        import torch  # noqa: F401
        base = peak_rss_kb()
        e = make_torch(spec["family"], threads)
    t0 = time.perf_counter()
    e.fn(inputs)
    if time.perf_counter() - t0 < 2.0:
        e.fn(inputs)
    peak = peak_rss_kb()
    return {"peak_kb": peak, "baseline_kb": base}


def measure_rss(spec: dict) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--rss-child", json.dumps(spec)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"RSS child for {spec['engine']} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# compile
# --------------------------------------------------------------------------

def compile_tac(tac_compile: str, onnx_path: str, out: str, reuse: bool = False,
                extra: tuple[str, ...] = ()) -> dict:
    """Compiles (or, with `reuse`, finds) `out`; `extra`: more tac-compile
    options. The report is in out + ".log"."""
    cmd = [tac_compile, onnx_path, "-o", out, "--report", *extra]
    if reuse and os.path.exists(out) and os.path.exists(out + ".json"):
        with open(out + ".json") as f:
            meta = json.load(f)
        meta["reused"] = True
        return meta
    for attempt in range(3):  # the build dir may be mid-rebuild
        if os.path.exists(tac_compile):
            break
        time.sleep(10)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    with open(out + ".log", "w") as f:
        f.write(" ".join(shlex.quote(c) for c in cmd) + "\n" + p.stdout + p.stderr)
    if p.returncode != 0:
        text = p.stdout + p.stderr
        head, _, stack = text.partition("Stack dump:")
        stack = "\n".join(stack.strip().splitlines()[:14])
        raise RuntimeError(f"tac-compile failed (exit {p.returncode}): {' '.join(cmd)}\n"
                           f"{head[-1500:].strip()}"
                           + (f"\nStack dump:\n{stack}" if stack else "")
                           + f"\n(full output: {out}.log)")
    meta = {"compile_s": dt, "command": " ".join(cmd)}
    with open(out + ".json", "w") as f:
        json.dump(meta, f)
    return meta


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

def fmt_ms(s: float) -> str:
    ms = s * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def build_rows(results: list[dict], mach: dict) -> list[list[str]]:
    rows = []
    for cell in results:
        for name in ENGINES:
            st = cell["timing"]["engines"].get(name)
            if st is None:
                if name.startswith("tac") and cell.get("compile_failed"):
                    rows.append([cell["family"], str(cell["batch"]), str(cell["threads"]),
                                 name, "compile failed"] + [""] * 8)
                    continue
                if name == "tac adaptive":
                    rows.append([cell["family"], str(cell["batch"]), str(cell["threads"]),
                                 name, "n/a"] + [""] * 8)
                continue
            if name == "tac adaptive":
                flops = st["mean_flops"]
            elif name == "ORT adaptive":
                ad = cell["timing"]["engines"].get("tac adaptive", {})
                flops = ad.get("mean_flops", 0)
            else:
                flops = cell["flops"]
            gfs = flops / st["median_s"] / 1e9 if flops else None
            peak = peak_gflops(mach, cell["threads"])[0]
            ag = cell["agreement"].get(name, {})
            diff = ag.get("max_abs_diff")
            diff_s = "ref" if name == "ORT" else "ref (adaptive)" if name == "ORT adaptive" else (f"{diff:.1e}" if diff is not None else "")
            if ag and not ag.get("ok", True):
                diff_s += " MISMATCH"
            if "depth_mismatches" in ag and ag["depth_mismatches"]:
                diff_s += f" ({ag['depth_mismatches']} depth)"
            rss = cell.get("rss", {}).get(name)
            rss_s = (f"{rss['peak_kb'] / 1024:.0f} (+{(rss['peak_kb'] - rss['baseline_kb']) / 1024:.0f})"
                     if rss else "")
            thr = str(st["threads_used"])
            rows.append([cell["family"], str(cell["batch"]), str(cell["threads"]),
                         name, fmt_ms(st["median_s"]), fmt_ms(st["min_s"]), fmt_ms(st["max_s"]),
                         f"{st['ratio_median']:.2f}", f"{gfs:.1f}" if gfs else "",
                         f"{100 * gfs / peak:.1f}%" if gfs else "",
                         diff_s, rss_s, thr])
    return rows


HEADER = ["model", "batch", "threads", "engine", "median ms", "min ms", "max ms",
          "× ORT", "GFLOP/s", "% peak", "max abs Δ vs ORT", "peak RSS MiB (+model)",
          "threads used"]


def text_table(rows: list[list[str]]) -> str:
    w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
         for i, h in enumerate(HEADER)]
    line = lambda r: "  ".join(c.ljust(w[i]) if i < 4 else c.rjust(w[i]) for i, c in enumerate(r))
    return "\n".join([line(HEADER), line(["-" * x for x in w])] + [line(r) for r in rows])


def md_table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(HEADER) + " |",
           "|" + "|".join("---" if i < 4 else "---:" for i in range(len(HEADER))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def summary_md(results: list[dict]) -> str:
    out = ["| model | batch | threads | tac static × ORT | tac adaptive × ORT | "
           "tac adaptive × ORT adaptive | ORT median ms | PyTorch × ORT |",
           "|---|---|---|---:|---:|---:|---:|---:|"]
    for c in results:
        en = c["timing"]["engines"]
        na = "failed" if c.get("compile_failed") else "n/a"
        g = lambda n: f"{en[n]['ratio_median']:.2f}" if n in en else (
            na if n.startswith("tac") else "n/a")
        same = en.get("tac adaptive", {}).get("ratio_vs_ort_adaptive_median")
        same = f"{same:.2f}" if same is not None else "n/a"
        out.append(f"| {c['family']} | {c['batch']} | {c['threads']} | {g('tac static')} | "
                   f"{g('tac adaptive')} | {same} | {fmt_ms(en['ORT']['median_s'])} | "
                   f"{g('PyTorch')} |")
    return "\n".join(out)


def ort_md(results: list[dict]) -> str:
    out = ["| model | batch | threads | engine | chosen | candidates (median ms) |",
           "|---|---|---|---|---|---|"]
    for c in results:
        for name, cfg in c.get("ort_config", {}).items():
            cands = "; ".join(f"{lab}: {fmt_ms(m)}" for lab, m in cfg["medians_s"].items())
            out.append(f"| {c['family']} | {c['batch']} | {c['threads']} | {name} | "
                       f"{cfg['label']} | {cands} |")
    return "\n".join(out) if len(out) > 2 else "(not recorded in this run)"


def peak_md(mach: dict) -> str:
    """The Machine section's peak bullets: measured (what "% peak" uses) and
    the datasheet-style estimate from the clock /proc/cpuinfo shows."""
    assumed = (f"{mach['flop_per_cycle_fp32']} FLOP/cycle/core = {mach['fma_pipes']} FMA "
               f"pipes × {mach['pipe_lanes_fp32']} lanes × 2 ({mach['peak_assumption']}), "
               f"{mach['peak_gflops_per_core']:.1f} GFLOP/s per core at the {mach['ghz']:.3f} GHz "
               "/proc/cpuinfo shows")
    pm = mach.get("peak_measured", {})
    if not pm.get("best"):
        return (f"- Peak FP32 assumed (not measured): {assumed}. Turbo may run above that "
                "clock, so \"% peak\" is an upper estimate of the fraction.")
    per = "; ".join(f"{t} thread{'s' if t != '1' else ''}: **{b['gflops']:.1f} GFLOP/s** ({b['isa']})"
                    for t, b in pm["best"].items())
    isas = "; ".join(f"{isa}: " + ", ".join(f"{g:.1f} ({t} thr)" for t, g in v.items())
                     for isa, v in pm.get("isas", {}).items())
    one = pm["best"].get("1", {}).get("gflops", 0)
    eff = ""
    if one and mach['flop_per_cycle_fp32']:
        ghz = one / mach['flop_per_cycle_fp32']
        eff = (f" One thread's measured peak is {ghz:.2f} GHz × {mach['flop_per_cycle_fp32']} "
               "FLOP/cycle: " + (
                   "the core runs above the clock /proc/cpuinfo shows (turbo; in a VM that "
                   "is the nominal TSC rate)." if ghz > mach['ghz'] else
                   "below the clock /proc/cpuinfo shows, so either the core has fewer FMA "
                   "pipes than assumed or other processes held it during every measurement."))
    this = pm.get("this_run", {})
    load = this.get("load", [0, 0])
    this_s = ", ".join(f"{t} thr {b['gflops']:.1f}" for t, b in this.get("best", {}).items())
    return (f"- Peak FP32 **measured** by `bench/peak_fp32.c` (independent FMA chains in "
            f"registers, enough accumulators to cover the FMA latency, every ISA the "
            f"CPU's flags allow; best of 7 runs): {per}. All variants: {isas}. Other "
            f"processes can only lower the rate, so this is the best of the "
            f"{pm.get('runs', 1)} run(s) of this script on this CPU (kept in the cache); "
            f"this run alone measured {this_s} GFLOP/s at load average "
            f"{load[0]:.2f} / {load[1]:.2f} before / after. \"% peak\" below is of the "
            f"measured peak at the row's thread count.\n"
            f"- For comparison, the estimate from the datasheet: {assumed}.{eff}")


def write_docs(path: str, results: list[dict], rows, mach: dict, vers: dict, compiles: dict,
               command: str, started: str, elapsed: float, notes: list[str],
               settings: dict) -> None:
    keep = None
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        i = old.find(WHERE_TIME_GOES)
        if i >= 0:
            j = old.find("\n## ", i + len(WHERE_TIME_GOES))
            keep = old[i:j if j >= 0 else len(old)].rstrip() + "\n"
    if keep is None:
        keep = (f"{WHERE_TIME_GOES}\n\n_To be written: profile of tac against ONNX Runtime "
                "(callgrind / perf), what limits each model, what was changed._\n")
    hists = []
    for c in results:
        st = c["timing"]["engines"].get("tac adaptive")
        if st and "path_histogram" in st:
            hists.append(f"- {c['family']} batch {c['batch']}, {c['threads']} thread(s): "
                         f"{st['runs']} real test images, mean depth {st['mean_depth']:.3f}, "
                         f"mean {st['mean_flops'] / 1e6:.3f} MFLOP/image (controller included); "
                         f"paths (path k = depth k+1): "
                         + ", ".join(f"{p}: {n}" for p, n in st["path_histogram"].items()))
    full_hist = settings.get("fmnist_full_histogram")
    if full_hist:
        hists.append(f"- whole test set (10,000 images, untimed): mean depth "
                     f"{full_hist['mean_depth']:.4f}, mean {full_hist['mean_flops'] / 1e6:.3f} "
                     "MFLOP/image; paths: " + ", ".join(f"{p}: {n}" for p, n in
                                                         full_hist["histogram"].items()))
    comp = "\n".join(f"| {name} | {v['compile_s']:.1f} | {v['flops'] / 1e9:.3f} |"
                     if "flops" in v else f"| {name} | failed | |" for name, v in compiles.items())
    errors = [f"- `{name}`: tac-compile failed:\n\n```\n{v['error'][-3000:]}\n```"
              for name, v in compiles.items() if "error" in v]
    if errors:
        notes = notes + ["**Problems**\n\n" + "\n".join(errors)]
    def settles(c):  # the median untimed pause after each engine's slot
        e = c["timing"]["engines"]
        if c["threads"] == 1:
            return "none (1 thread)"
        return ", ".join(f"{n} {e[n]['settle_median_s'] * 1e3:.0f}" for n in e
                         if "settle_median_s" in e[n]) or "not recorded"

    reps = "\n".join(
        f"| {c['family']} | {c['batch']} | {c['threads']} | {c['timing']['reps']} | "
        f"{c['timing']['calls_per_rep']} | {c['timing']['warmup_rounds']} | {settles(c)} |"
        for c in results)
    load = max(settings["load"])
    busy = (f": **the machine was busy** (other processes wanted about {load:.0f} cores), so "
            "absolute times are noisier and slower than on an idle machine, and the 2-thread "
            "rows compete hardest; the interleaving spreads the noise over all engines alike, "
            "so the per-repetition ratios are the numbers to trust" if load > 0.75 * mach["cores"]
            else " (the machine was otherwise idle)")
    text = f"""# Benchmarks: tac vs ONNX Runtime vs PyTorch (CPU)

Written by `bench/run_bench.py` on {started} (the whole run took
{elapsed / 60:.1f} min). Do not edit the tables by hand: rerun the command.
Only the section "{WHERE_TIME_GOES[3:]}" is kept across reruns.

```sh
{command}
```

## Machine

- CPU: {mach['model_name']} ({mach['vendor']}, {mach['family_model']}), {mach['cores']} cores
  visible{', under ' + mach['hypervisor'] if mach.get('hypervisor') else ''}; {mach['platform']}
- Vector ISA: {mach['isa']}, FMA: {'yes' if mach['fma'] else 'no'}; clock {mach['ghz']:.3f} GHz
  (`cpu MHz` in /proc/cpuinfo{'; lscpu max ' + str(mach['max_mhz']) + ' MHz' if mach.get('max_mhz') else ''})
{peak_md(mach)}
- Software: Python {vers['python']}, NumPy {vers['numpy']}, ONNX Runtime {vers['onnxruntime']},
  PyTorch {vers['torch']} (Debian; CPU).
- Load average (1 min) at the start and end of the run: {settings['load'][0]:.2f} / {settings['load'][1]:.2f}
  on {mach['cores']} cores{busy}.

## Method

- Models: {'; '.join(f'`{k}`: {v}' for k, v in MODEL_TITLES.items() if k in settings['families'])}.
  Exported by `bench/export_bench_models.py` (opset 17, static shapes, batch
  fixed per file), each checked against ONNX Runtime. Fashion-MNIST inputs are
  real test images (the timed images cycle through the first
  {settings['fmnist_pool']} of the test set); MiniLM inputs are 32 real
  sentences, tokenised, padded to 128; ViT-Small gets random normal images.
- Engines, all in this one process, interleaved: each repetition runs every
  engine once (K calls each on the same inputs), the starting engine rotates
  with the repetition; warm-up rounds first. Times are wall time per call
  (batch) measured in Python around the engine's own Python call: tac through
  `tac.InferenceSession.run_adaptive`, ORT's `InferenceSession.run`,
  PyTorch's module call under `no_grad`.
  - **tac static**: the static model compiled by `tac-compile` (default
    `--cpu=host,x86-64`), run by `InferenceSession(threads=N)`: the
    session's pool of N threads splits every kernel's parallel loop that has
    enough work, and the GEMMs (docs/runtime.md, "Threads"); small kernels
    stay on the calling thread.
  - **tac adaptive**: the adaptive model (controller + the variant it picks),
    timed over real test images; batch 1 only (the adaptive model decides per
    image). Its "× ORT" is against ORT running the *static* model; "× ORT
    adaptive" against ORT running the same If-gated adaptive model (the
    baseline that does the same work), per repetition as every ratio.
  - **ORT**: ONNX Runtime CPU on the static model, in its fastest
    configuration for the cell: before the timed run each candidate is timed
    (interleaved, a few calls each) and the fastest is used: `ORT_ENABLE_ALL`,
    sequential, `intra_op_num_threads` = threads with spinning off and with
    spinning on; at 2+ threads also one intra-op thread (so more threads never
    make ORT slower); where threads ≥ the physical cores, ORT's untouched
    defaults (all physical cores, spinning on). A spinning ORT pool keeps
    spinning after its run and takes cores from the engine timed next
    (`bench/interference.py`, steps 2 and 3, on the Zen 5 of 2026-12-08:
    tac's 2-thread MiniLM run 6.6 ms alone, 12.5 ms right after an ORT
    run); ORT keeps that default anyway, since stopping the spin
    (`session.force_spinning_stop`) slows ORT itself (9.4 → 13.0 ms per
    call back to back; on the AVX2 VM of 2026-12-07, 22.0 / 38.8 and
    22.3 → 30.4 ms). At 2+ threads every engine's
    slot (and every candidate's, when ORT's configuration is picked) is
    followed by an untimed pause that lasts until no thread of the process
    uses the CPU (polled every {int(SETTLE_POLL_S * 1e3)} ms, at most {int(SETTLE_MAX_S * 1e3)} ms):
    ORT's spinning workers keep a core busy for 20–50 ms after its run
    (`bench/interference.py`, step 4), and a fixed 20 ms pause left the
    next engine's 2-thread times up to twice its time alone. The table
    "Repetitions per cell" gives the median pause after each engine.
    The table "ORT configuration per cell" says which configuration won and
    what each candidate took.
  - **ORT adaptive**: ORT running the If-gated adaptive ONNX (for reference:
    what the adaptive model saves without tac).
  - **PyTorch**: eager, `torch.set_num_threads(threads)` and OpenBLAS's
    thread count set to threads too (Debian's PyTorch multiplies in the
    system OpenBLAS, which otherwise starts one thread per core: before
    2026-12-07 its "1 thread" rows ran on 2 cores, `bench/interference.py`:
    ViT-Small 104 ms wall, 207 ms CPU per call), `no_grad`.
  - tac's pool spins at most 50 µs after a job and PyTorch's OpenMP
    threads are passive (`OMP_WAIT_POLICY=PASSIVE`), so neither takes the
    next engine's cores; ORT's spinning configurations may (above).
- Statistics per engine over the repetitions: median, min, max. "× ORT" is
  the median over repetitions of (engine time / ORT time in the same
  repetition). GFLOP/s = tac's FLOP count of the model (`tac-compile
  --report` convention: a multiply-add is 2 FLOPs; the adaptive engines: the
  mean FLOPs of the paths actually taken, controller included) / median time;
  "% peak" is of the measured FP32 peak of *threads* threads (see Machine;
  the cores that setting allows, even for tac's kernels that use one).
- Output check: every engine's output vs ORT's on the same input (max |Δ|;
  tolerance 1e-3 × max(1, max|ORT output|)); tac adaptive vs ORT adaptive on
  the first {settings['check_n']} images (same depth, logits within tolerance).
- Peak RSS: each engine alone in a fresh child process (VmHWM, the peak
  resident set, after loading it and two runs, one for runs over 2 s, threads = the first thread
  setting); "(+N)" is the growth over the child's RSS after its imports
  (Python + NumPy + that engine's library), i.e. the model and its run.

## Results

Summary (median of per-repetition ratios; below 1.00 means faster than ONNX Runtime):

{summary_md(results)}

All numbers (times per call, i.e. per batch):

{md_table(rows)}

"tac adaptive" is n/a where the model has no adaptive variant (ViT-Small,
MiniLM) and at batch 32 (the adaptive model is per image, batch 1).
"threads used": tac runs its BLAS GEMMs on the given threads and every
other kernel on one; for ORT, the intra-op threads of the configuration
that won the selection (and whether its pool spins).

Adaptive paths taken (tac adaptive):

{chr(10).join(hists) if hists else '- (none measured)'}

tac compile time (`tac-compile MODEL.onnx -o M.tacm --report`, wall, this
machine) and the FLOPs tac counts per call:

| model file | compile s | GFLOP per call (adaptive: deepest variant, controller not included) |
|---|---:|---:|
{comp}

ORT configuration per cell (the fastest candidate is the one timed above;
median ms per call of each candidate in the short selection run):

{ort_md(results)}

Repetitions per cell (K calls per engine per repetition):

| model | batch | threads | repetitions | K | warm-up rounds | settle ms after each engine's slot (median) |
|---|---|---|---:|---:|---:|---|
{reps}

{chr(10).join('- ' + n for n in notes) if notes else ''}

{keep}"""
    with open(path, "w") as f:
        f.write(re.sub(r"\n{3,}", "\n\n", text))


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--quick", action="store_true",
                   help="smoke mode: bundled Fashion-MNIST model, batch 1, 1 thread, few "
                        "repetitions, no docs write (unless --write-docs)")
    p.add_argument("--threads", default=None, help="comma list (default 1,2; --quick: 1)")
    p.add_argument("--batches", default=None, help="comma list (default 1,32; --quick: 1)")
    p.add_argument("--models", default=None,
                   help="comma list of fmnist, vit_small, minilm, bert_tiny, gpt2_tiny, vit_tiny "
                        "(default all; --quick: fmnist)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds of timed repetitions per cell, roughly (default 25; quick 1)")
    p.add_argument("--min-reps", type=int, default=None, help="default 3 (quick 3)")
    p.add_argument("--max-reps", type=int, default=None, help="default 200 (quick 10)")
    p.add_argument("--cache", default=os.path.join(HERE, ".models"),
                   help="exported models, compiled .tacm files, results.json")
    p.add_argument("--tac-compile", default=os.path.join(ROOT, "build", "bin", "tac-compile"))
    p.add_argument("--reuse-tacm", action="store_true",
                   help="use .tacm files compiled by an earlier run (compile time from then)")
    p.add_argument("--docs", default=os.path.join(ROOT, "docs", "bench.md"))
    p.add_argument("--write-docs", action="store_true", help="write --docs even in --quick")
    p.add_argument("--no-docs", action="store_true")
    p.add_argument("--no-rss", action="store_true", help="skip the peak-RSS child processes")
    p.add_argument("--render", metavar="RESULTS_JSON",
                   help="only rewrite --docs from a results.json an earlier run wrote")
    p.add_argument("--peak-only", action="store_true",
                   help="only measure the FP32 peak (bench/peak_fp32.c) into --cache and print "
                        "it (run it when the machine is idle: the cache keeps the best)")
    p.add_argument("--rss-child", help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    if a.render:
        with open(a.render) as f:
            r = json.load(f)
        rows = build_rows(r["results"], r["machine"])
        print(text_table(rows))
        write_docs(a.docs, r["results"], rows, r["machine"], r["versions"], r["compiles"],
                   r["command"], r["started"], r["elapsed_s"], r.get("notes", []),
                   r["settings"])
        log(f"wrote {os.path.relpath(a.docs, ROOT)} from {a.render}")
        return 0

    if a.rss_child:
        print(json.dumps(rss_child(json.loads(a.rss_child))))
        return 0

    if a.peak_only:
        mach = machine_info()
        os.makedirs(a.cache, exist_ok=True)
        pm = measured_peak(a.cache, f"{mach['model_name']} {mach['family_model']} "
                                    f"{mach['isa']} {mach['cores']}")
        print(json.dumps(pm, indent=1))
        return 0 if pm else 1

    started_t = time.time()
    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    q = a.quick
    threads = [int(x) for x in (a.threads or ("1" if q else "1,2")).split(",")]
    batches = [int(x) for x in (a.batches or ("1" if q else "1,32")).split(",")]
    families = (a.models or ("fmnist" if q else
                             "fmnist,vit_small,minilm,bert_tiny,gpt2_tiny,vit_tiny")).split(",")
    for f in families:
        if f not in FILES:
            p.error(f"unknown model {f} (choose from {', '.join(FILES)})")
    budget = a.budget if a.budget is not None else (1.0 if q else 25.0)
    min_reps = a.min_reps or 3
    max_reps = a.max_reps or (10 if q else 200)
    write = (not a.no_docs) and (a.write_docs or not q)
    for tool in (a.tac_compile,):
        if not os.path.exists(tool):
            time.sleep(10)  # a rebuild may be replacing it
            if not os.path.exists(tool):
                p.error(f"{tool} does not exist: build tac first (cmake --build build)")

    import export_bench_models as X
    import torch
    mach = machine_info()
    vers = versions()
    os.makedirs(a.cache, exist_ok=True)
    mach["peak_measured"] = measured_peak(
        a.cache, f"{mach['model_name']} {mach['family_model']} {mach['isa']} {mach['cores']}")
    log(f"{mach['model_name']} ({mach['family_model']}), {mach['cores']} cores, {mach['isa']}, "
        f"peak {mach['peak_gflops_per_core']:.1f} GFLOP/s/core FP32 assumed, "
        + ", ".join(f"{t} thread(s) {peak_gflops(mach, t)[0]:.1f} GFLOP/s {peak_gflops(mach, t)[1]}"
                    for t in threads))

    # 1. exports
    need = []
    for f in families:
        for b in batches:
            need.append((FILES[f][0], b))
            if FILES[f][1] and b == 1:
                need.append((FILES[f][1], b))
    torch.set_num_threads(max(threads))
    for name, b in need:
        X.export_one(name, b, a.cache)

    # 2. compile
    tdir = os.path.join(a.cache, "tac")
    os.makedirs(tdir, exist_ok=True)
    compiles = {}
    failed: list[str] = []
    for name, b in need:
        onnx_path = X.model_path(a.cache, name, b)
        out = os.path.join(tdir, f"{name}_b{b}.tacm")
        key = f"{name}_b{b}"
        log(f"tac-compile {os.path.basename(onnx_path)}")
        try:
            compiles[key] = compile_tac(a.tac_compile, onnx_path, out, a.reuse_tacm)
        except RuntimeError as err:
            compiles[key] = {"error": str(err)}
            failed.append(f"tac-compile {key}: {err}")
            log(f"    FAILED: {err}")
            continue
        compiles[key]["tacm"] = out
        log(f"    {compiles[key]['compile_s']:.1f} s")
    import tac
    for key, v in compiles.items():
        if "tacm" in v:
            m = tac.InferenceSession(v["tacm"])
            v["flops"] = max(variant.flops for variant in m.variants)
            del m

    # full-test-set path histogram of the adaptive model (untimed)
    settings = {"load": [os.getloadavg()[0], 0.0], "families": families, "fmnist_pool": 200 if q else 2000,
                "check_n": 50 if q else 200}
    notes: list[str] = []
    if "fmnist" in families and 1 in batches and not q and "tacm" in compiles.get(
            "fmnist_adaptive_b1", {}):
        e = make_tac(compiles["fmnist_adaptive_b1"]["tacm"], True, "tac adaptive")
        imgs = X.fmnist_images(10000)
        for i in range(len(imgs)):
            e.fn({"image": imgs[i:i + 1]})
        hist = {}
        for i in e.infos:
            hist[i["path"]] = hist.get(i["path"], 0) + 1
        settings["fmnist_full_histogram"] = {
            "histogram": {str(k): hist[k] for k in sorted(hist)},
            "mean_depth": statistics.fmean(i["depth"] for i in e.infos),
            "mean_flops": statistics.fmean(i["flops"] for i in e.infos)}
        del e

    # 3.-5. measure
    results = []
    for t in threads:
        for f in families:
            for b in batches:
                static, adaptive = FILES[f]
                log(f"{f} batch {b}, {t} thread(s)")
                pool = input_pool(f, b, q)
                engines = []
                if "tacm" in compiles[f"{static}_b{b}"]:
                    engines.append(make_tac(compiles[f"{static}_b{b}"]["tacm"],
                                            False, "tac static", t))
                if adaptive and b == 1 and "tacm" in compiles[f"{adaptive}_b1"]:
                    engines.append(make_tac(compiles[f"{adaptive}_b1"]["tacm"],
                                            True, "tac adaptive", t))
                ort_cfg = {}
                for name, path in [("ORT", X.model_path(a.cache, static, b))] + (
                        [("ORT adaptive", X.model_path(a.cache, adaptive, 1))]
                        if adaptive and b == 1 else []):
                    ort_cfg[name] = pick_ort_config(path, t, pool, cores_default())
                    log(f"    {name} configuration: {ort_cfg[name]['label']} ("
                        + ", ".join(f"{lab} {fmt_ms(m)} ms" for lab, m in
                                    ort_cfg[name]["medians_s"].items()) + ")")
                    engines.append(make_ort(path, t, name, name == "ORT adaptive",
                                            ort_cfg[name]))
                engines.append(make_torch(f, t))
                ag = agree(engines, pool, settings["check_n"])
                for name, r in ag.items():
                    if not r["ok"]:
                        failed.append(f"{f} b{b} t{t} {name}: {r}")
                        log(f"    MISMATCH {name}: {r}")
                timing = measure(engines, pool, budget, min_reps, max_reps, q,
                                 threads=t)
                cell = {"family": f, "batch": b, "threads": t, "agreement": ag,
                        "ort_config": ort_cfg,
                        "timing": timing, "flops": compiles[f"{static}_b{b}"].get("flops", 0),
                        "compile_failed": [k for k in (f"{static}_b{b}", f"{adaptive}_b{b}")
                                           if "error" in compiles.get(k, {})]}
                for name, st in timing["engines"].items():
                    log(f"    {name:13s} median {fmt_ms(st['median_s']):>9s} ms  "
                        f"x ORT {st['ratio_median']:.2f}")
                results.append(cell)
                del engines
    if not a.no_rss:
        t = threads[0]
        for cell in (c for c in results if c["threads"] == t):
            f, b = cell["family"], cell["batch"]
            static, adaptive = FILES[f]
            npz = os.path.join(a.cache, f"inputs_{f}_b{b}.npz")
            np.savez(npz, **input_pool(f, b, True)[0])
            cell["rss"] = {}
            for name in cell["timing"]["engines"]:
                is_ad = "adaptive" in name
                key = f"{adaptive if is_ad else static}_b{b}"
                spec = {"engine": name, "family": f, "threads": t, "inputs": npz,
                        "tacm": compiles[key].get("tacm"), "onnx": X.model_path(a.cache, key.rsplit("_b", 1)[0], b),
                        "ort_config": cell.get("ort_config", {}).get(name)}
                log(f"peak RSS: {f} batch {b} {name}")
                try:
                    cell["rss"][name] = measure_rss(spec)
                except RuntimeError as err:  # e.g. libtacrt mid-rebuild: not fatal
                    log(f"    peak RSS not measured: {err}")
                    notes.append(f"peak RSS of {name} ({f}, batch {b}) not measured: "
                                 f"{str(err).splitlines()[-1]}")
            for c in results:
                if c["family"] == f and c["batch"] == b:
                    c["rss"] = cell["rss"]

    settings["load"][1] = os.getloadavg()[0]
    rows = build_rows(results, mach)
    print()
    print(text_table(rows))
    print()
    elapsed = time.time() - started_t
    cmd = ".venv/bin/python bench/run_bench.py" + (" " + " ".join(shlex.quote(x) for x in (
        argv if argv is not None else sys.argv[1:])) if (argv or sys.argv[1:]) else "")
    if "fmnist" in families and 32 in batches:
        notes.append("Fashion-MNIST batch 32: the recipe keeps no checkpoint, so the batch-32 "
                     "static model is re-exported from the bundled model's own weights (read "
                     "back from its ONNX initializers) and checked against it image by image; "
                     "the adaptive model exists for batch 1 only.")
    with open(os.path.join(a.cache, "results.json"), "w") as fjs:
        json.dump({"machine": mach, "versions": vers, "compiles": compiles,
                   "results": results, "settings": settings, "command": cmd,
                   "started": started, "elapsed_s": elapsed, "failed": failed,
                   "notes": notes}, fjs, indent=1,
                  default=str)
    if write:
        write_docs(a.docs, results, rows, mach, vers, compiles, cmd, started, elapsed, notes,
                   settings)
        log(f"wrote {os.path.relpath(a.docs, ROOT)}")
    log(f"done in {elapsed / 60:.1f} min")
    if failed:
        log("OUTPUT MISMATCHES:\n  " + "\n  ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
