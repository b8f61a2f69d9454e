#!/usr/bin/env python3
"""How engines in one process disturb each other's timings: the evidence
behind two of run_bench.py's settings (docs/bench.md, "What limits the
rest").

    .venv/bin/python bench/interference.py [--rounds 12]

1. PyTorch at torch.set_num_threads(1) on ViT-Small, batch 1: wall and CPU
   time per call, before and after OpenBLAS's own thread count is set to 1
   (Debian's torch multiplies in the system OpenBLAS).
2. MiniLM, batch 1, 2 threads: tac alone; tac right after each ONNX Runtime
   run with its default spinning pool; tac right after an ORT run whose
   pool stops spinning when the run returns (session.force_spinning_stop).
3. The same two ORT sessions alone, back to back: what stopping the spin
   costs ORT itself.
4. tac after an ORT run with its default spinning pool and a pause of 1,
   5, 20 or 50 ms, or until no thread of the process uses the CPU, untimed:
   how long ORT's pool takes to stop spinning (the evidence for
   run_bench.py's settle pause between engines).
5. What is left after the pause: tac alone, 20 ms after an ORT run whose
   pool does not spin, and 20 ms after writing 64 MB (the cache another
   engine's run leaves behind).
6. tac's own pool after idling: back to back, and 50 ms after its last
   run (its workers asleep), with the run's CPU time over its wall time
   (2.0: both threads worked; 1.0: they took turns on one CPU).

Medians over --rounds rounds. Reads bench/.models (export_bench_models.py).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--cache", default=os.path.join(HERE, ".models"))
    a = p.parse_args()
    import onnxruntime as ort
    import torch
    import export_bench_models as X
    import run_bench
    import tac

    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    # 1. PyTorch's threads
    torch.set_num_threads(1)
    module = X.torch_module("vit_small")
    args = [torch.from_numpy(v) for v in X.example_inputs("vit_small", 1).values()]
    with torch.no_grad():
        for label in ("torch.set_num_threads(1)", "+ OpenBLAS at 1 thread"):
            if label.startswith("+"):
                run_bench.limit_openblas(1)
            module(*args)
            runs = [timed(lambda: module(*args)) for _ in range(max(3, a.rounds // 2))]
            print(f"PyTorch ViT-Small b1, {label}: wall {statistics.median(r[0] for r in runs) * 1e3:.1f}"
                  f" ms, CPU {statistics.median(r[1] for r in runs) * 1e3:.1f} ms per call")

    # 2. and 3. ORT's spinning pool
    onnx_path = os.path.join(a.cache, "minilm_b1.onnx")
    inputs = X.example_inputs("minilm", 1)
    with tempfile.TemporaryDirectory() as tmp:
        tacm = os.path.join(tmp, "minilm_b1.tacm")
        tac.compile(onnx_path, output=tacm, progress=False)
        m = tac.InferenceSession(tacm, threads=2)
        feed = {i.name: inputs[i.name] for i in m.get_inputs()}
        sessions = {}
        for stop in ("0", "1"):
            so = ort.SessionOptions()  # ORT's defaults: all cores, spinning
            so.add_session_config_entry("session.force_spinning_stop", stop)
            sessions[stop] = ort.InferenceSession(onnx_path, so,
                                                  providers=["CPUExecutionProvider"])
            sessions[stop].run(None, inputs)
        m.run(None, feed)
        alone = [timed(lambda: m.run(None, feed))[0] for _ in range(a.rounds)]
        print(f"tac MiniLM b1, 2 threads, alone: {statistics.median(alone) * 1e3:.1f} ms")
        for stop, label in (("0", "spinning on after the run (ORT's default)"),
                            ("1", "session.force_spinning_stop")):
            after = []
            for _ in range(a.rounds):
                sessions[stop].run(None, inputs)
                after.append(timed(lambda: m.run(None, feed))[0])
            print(f"tac MiniLM b1, 2 threads, right after an ORT run, {label}: "
                  f"{statistics.median(after) * 1e3:.1f} ms")
        for pause_ms in (1, 5, 20, 50, None):
            after, waited = [], []
            for _ in range(a.rounds):
                sessions["0"].run(None, inputs)
                if pause_ms is None:
                    waited.append(run_bench.settle(2))
                else:
                    time.sleep(pause_ms / 1e3)
                after.append(timed(lambda: m.run(None, feed))[0])
            when = (f"{pause_ms} ms" if pause_ms is not None else
                    f"once the process is idle (run_bench's settle: "
                    f"{statistics.median(waited) * 1e3:.0f} ms)")
            print(f"tac MiniLM b1, 2 threads, {when} after an ORT run (spinning "
                  f"on): {statistics.median(after) * 1e3:.1f} ms")
        quiet = ort.SessionOptions()
        quiet.intra_op_num_threads = 2
        quiet.add_session_config_entry("session.intra_op.allow_spinning", "0")
        calm = ort.InferenceSession(onnx_path, quiet, providers=["CPUExecutionProvider"])
        calm.run(None, inputs)
        big = np.ones(64 << 20, np.uint8)
        for label, before in (("alone", lambda: None),
                              ("20 ms after an ORT run without spinning",
                               lambda: calm.run(None, inputs)),
                              ("20 ms after writing 64 MB", lambda: big.__iadd__(1))):
            after = []
            for _ in range(a.rounds):
                before()
                time.sleep(0.02)
                after.append(timed(lambda: m.run(None, feed))[0])
            print(f"tac MiniLM b1, 2 threads, {label}: "
                  f"{statistics.median(after) * 1e3:.1f} ms")
        # 6. tac's own pool after idling: its workers sleep 50 us after a
        # job; the first job after a long idle wakes them.
        for label, pause in (("back to back", 0.0), ("50 ms after its last run", 0.05)):
            runs = []
            for _ in range(a.rounds):
                time.sleep(pause)
                runs.append(timed(lambda: m.run(None, feed)))
            print(f"tac MiniLM b1, 2 threads, {label}: "
                  f"{statistics.median(r[0] for r in runs) * 1e3:.1f} ms, CPU / wall "
                  f"{statistics.median(r[1] / r[0] for r in runs):.2f}")
        both = {"0": [], "1": []}
        for r in range(a.rounds):
            for stop in (("0", "1") if r % 2 == 0 else ("1", "0")):
                t = [timed(lambda: sessions[stop].run(None, inputs))[0] for _ in range(3)]
                both[stop].append(statistics.median(t))
        for stop, label in (("0", "defaults"), ("1", "defaults + force_spinning_stop")):
            print(f"ORT MiniLM b1 alone, 3 calls back to back, {label}: "
                  f"{statistics.median(both[stop]) * 1e3:.1f} ms per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
