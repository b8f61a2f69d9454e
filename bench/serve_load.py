#!/usr/bin/env python3
"""Bounded load on tac.serve against ONNX Runtime on the same Ray Serve setup.

    .venv/bin/python bench/serve_load.py [--requests 400] [--duration 30]
        [--concurrency 1,4,16,64] [--replicas 2] [--max-batch 32] [--max-wait-ms 5]
        [--via http|handle] [--reps 2]
    .venv/bin/python bench/serve_load.py --kill-replica [--requests 400]

Starts a local Ray (127.0.0.1 only, no dashboard) and deploys, side by side:
  tac   the bundled If-gated model compiled with --batch-sizes=1,4,16,32,
        tac.serve's deployment: each gathered batch is one run_adaptive call
  ort   the same If-gated ONNX model under ONNX Runtime (one intra-op thread
        per replica), behind the same deployment class and the same dynamic
        batching; ONNX Runtime runs a gathered batch row by row (the model's
        If condition is one scalar, so it takes one row per call)
  null  (--engines tac,ort,null) the same deployment with no model: it
        checks and batches the requests and answers zeros, so its
        throughput is what Serve itself allows on this machine
Each gets --replicas replicas (0.5 Ray CPU each; Ray is told 2 CPUs, so with
three engines it is told 3).
Traffic goes only to 127.0.0.1: a closed loop of C concurrent clients sends
real Fashion-MNIST test images until --requests answers or --duration
seconds, per engine and concurrency level, the engines interleaved in every
repetition. Every answer is checked against a direct run of the same image
(tac: InferenceSession one row per call; ort: ONNX Runtime): logits within
1e-4 and, for tac, the same path. A failed request (HTTP 5xx, a lost
connection, a dead replica) is retried by the client, at most 5 times.

Reports per engine and level: answered requests, throughput (answers/s over
the level's wall time), p50/p99 latency (first try to accepted answer), batch
sizes seen; then throughput at equal p99 latency: for each p99 that ort
reached, each engine's best throughput with p99 at most that (interpolated
between neighbouring concurrency levels), and the model's own time per request
(its batch's run time over the batch's rows, from the answers' run_us).

--kill-replica: one tac run at --concurrency's last level; after a third of the
requests are answered, SIGKILLs one replica's process (found from the answers'
replica field, on this machine only). Reports the retried requests and why,
and how long until a replacement replica answered; exits 1 unless every
request got exactly one correct answer and a replacement answered within 60 s.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import export_bench_models as X  # noqa: E402
import tac  # noqa: E402

ADAPTIVE_ONNX = os.path.join(ROOT, "models", "fmnist_vit_adaptive.onnx")
TOLERANCE = 1e-4
MAX_TRIES = 5


def compiled_model(sizes: str) -> str:
    """The bundled adaptive model with batch buckets, compiled once."""
    out = os.path.join(ROOT, "build", "serve", f"fmnist_vit_adaptive_b{sizes.replace(',', '-')}.tacm")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(ADAPTIVE_ONNX):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tac.compile(ADAPTIVE_ONNX, output=out, batch_sizes=[int(s) for s in sizes.split(",")],
                    progress=False)
    return out


def references(tacm: str, x: np.ndarray) -> dict:
    """What a direct run of each image gives: tac one row per call, ORT."""
    sess = tac.InferenceSession(tacm)
    ort = X.ort_session(ADAPTIVE_ONNX, 1)
    tac_logits, tac_paths, ort_logits = [], [], []
    for i in range(len(x)):
        out, info = sess.run_adaptive({"image": x[i:i + 1]})
        tac_logits.append(out[0])
        tac_paths.append(info.paths[0])
        ort_logits.append(ort.run(None, {"image": x[i:i + 1]})[0])
    return {"tac": (np.concatenate(tac_logits), tac_paths),
            "ort": (np.concatenate(ort_logits), None)}


class NullEngine:
    """Serve's ceiling: the tac model's inputs and outputs, checked and batched
    the same way, but no model (zeros out, path 0)."""

    def __init__(self, model: bytes, threads: int, sha256: str) -> None:
        from tac.serve import _TacEngine
        real = _TacEngine(model, threads, sha256)
        self.inputs, self.outputs, self.num_paths = real.inputs, real.outputs, real.num_paths

    def run(self, feed: dict):
        n = len(next(iter(feed.values())))
        return ([np.zeros((n,) + (o.shape[1:] if o.leading_one else o.shape), o.dtype)
                 for o in self.outputs], [0] * n)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Load:
    """One closed-loop run: C clients, at most n answers and `duration` seconds."""

    def __init__(self, send, x: np.ndarray, ref, n: int, concurrency: int, duration: float,
                 on_answer=None):
        self.send, self.x, self.ref = send, x, ref
        self.n, self.concurrency, self.duration = n, concurrency, duration
        self.on_answer = on_answer
        self.latencies: list[float] = []
        self.batch_sizes: dict[int, int] = {}
        self.answers: dict[int, int] = {}      # request id -> accepted answers (must be 1)
        self.wrong: list[tuple[int, str]] = []
        self.retried: dict[int, list[str]] = {}  # request id -> the failures before its answer
        self.lost: list[tuple[int, str]] = []
        self.replicas: set[str] = set()
        self.run_us = 0.0  # the model's share of each answer's batch time, summed

    def check(self, rid: int, answer: dict) -> bool:
        if self.ref is None:  # the null engine answers zeros
            return True
        logits, paths = self.ref
        i = rid % len(self.x)
        got = np.asarray(answer["outputs"]["logits"], np.float32).reshape(1, -1)
        if not np.allclose(got, logits[i:i + 1], atol=TOLERANCE, rtol=0):
            self.wrong.append((rid, f"logits differ by {np.abs(got - logits[i:i + 1]).max():.2e}"))
            return False
        if paths is not None and answer["path"] != paths[i]:
            self.wrong.append((rid, f"path {answer['path']}, direct run {paths[i]}"))
            return False
        return True

    async def one(self, rid: int, deadline: float) -> None:
        t0 = time.perf_counter()
        failures = []
        for attempt in range(MAX_TRIES):
            try:
                answer = await self.send(self.x[rid % len(self.x)][None])
            except Exception as e:  # noqa: BLE001 - retried, and recorded
                failures.append(f"{type(e).__name__}: {str(e).splitlines()[0][:120]}")
                if time.perf_counter() > deadline:
                    break
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            self.latencies.append(time.perf_counter() - t0)
            self.answers[rid] = self.answers.get(rid, 0) + 1
            self.check(rid, answer)
            b = answer["batch_size"]
            self.batch_sizes[b] = self.batch_sizes.get(b, 0) + 1
            self.run_us += answer["run_us"] / b
            self.replicas.add(answer["replica"])
            if failures:
                self.retried[rid] = failures
            if self.on_answer:
                self.on_answer(self, answer)
            return
        self.lost.append((rid, "; ".join(failures)))

    async def run(self) -> float:
        start = time.perf_counter()
        deadline = start + self.duration
        next_id = iter(range(self.n))

        async def client():
            for rid in next_id:
                if time.perf_counter() > deadline:
                    return
                await self.one(rid, deadline + 30)

        await asyncio.gather(*(client() for _ in range(self.concurrency)))
        self.wall = time.perf_counter() - start
        return self.wall

    def summary(self) -> dict:
        lat = sorted(self.latencies)
        done = len(lat)

        def pct(p):
            return 1e3 * lat[min(done - 1, int(round(p / 100 * done + 0.5)) - 1)] if done else float("nan")
        return {"answered": done, "wall_s": self.wall, "rps": done / self.wall,
                "p50_ms": pct(50), "p99_ms": pct(99), "wrong": len(self.wrong),
                "lost": len(self.lost), "retried": len(self.retried),
                "model_us": self.run_us / done if done else float("nan"),
                "mean_batch": (sum(k * v for k, v in self.batch_sizes.items()) / done) if done else 0,
                "max_batch": max(self.batch_sizes, default=0)}


def http_sender(session, url: str):
    import aiohttp

    async def send(row: np.ndarray) -> dict:
        body = json.dumps({"inputs": {"image": row.tolist()}})
        async with session.post(url, data=body, headers={"content-type": "application/json"},
                                timeout=aiohttp.ClientTimeout(total=60)) as r:
            if r.status != 200:
                raise RuntimeError(f"HTTP {r.status}: {(await r.text())[:200]}")
            return await r.json()
    return send


def handle_sender(handle):
    async def send(row: np.ndarray) -> dict:
        return await handle.infer.remote({"image": row})
    return send


async def run_levels(a, senders: dict, refs: dict, x: np.ndarray) -> dict:
    results = {name: {c: [] for c in a.concurrency} for name in senders}
    for rep in range(a.reps):
        for c in a.concurrency:
            for name, send in senders.items():
                load = Load(send, x, refs[name], a.requests, c, a.duration)
                await load.run()
                s = load.summary()
                results[name][c].append(s)
                print(f"rep {rep} C={c:3d} {name:4s}: {s['answered']} answers in {s['wall_s']:.2f} s, "
                      f"{s['rps']:.0f}/s, p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, "
                      f"mean batch {s['mean_batch']:.1f}, model {s['model_us']:.0f} us/request, wrong {s['wrong']}, lost {s['lost']}, "
                      f"retried {s['retried']}", flush=True)
                if load.wrong:
                    print("  wrong:", load.wrong[:5], flush=True)
    return results


def throughput_at(curve: list, p99: float):
    """The most answers/s an engine reached with its p99 at most `p99` ms: its
    measured levels (in concurrency order), linearly interpolated between
    neighbouring levels; None when even its lightest level was slower."""
    best = None
    for i, (lat, rps) in enumerate(curve):
        if lat <= p99:
            best = max(best or 0.0, rps)
            if i + 1 < len(curve) and curve[i + 1][0] > p99:
                lat2, rps2 = curve[i + 1]
                best = max(best, rps + (rps2 - rps) * (p99 - lat) / (lat2 - lat))
    return best


def report(a, results: dict, load_avg: float) -> str:
    med = {n: {c: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
               for c, runs in levels.items()} for n, levels in results.items()}
    lines = [f"| engine | C | answered (of {a.requests}) | req/s | p50 ms | p99 ms | mean batch | "
             "model us/request | wrong | lost | retried |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in med:
        for c, s in med[n].items():
            lines.append(f"| {n} | {c} | {s['answered']:.0f} | {s['rps']:.0f} | {s['p50_ms']:.1f} | "
                         f"{s['p99_ms']:.1f} | {s['mean_batch']:.1f} | {s['model_us']:.0f} | "
                         f"{s['wrong']:.0f} | {s['lost']:.0f} | {s['retried']:.0f} |")
    if "ort" in med and "tac" in med:
        others = [n for n in med if n not in ("tac", "ort")]
        lines += ["", "| p99 (ms) | tac req/s | ort req/s | tac / ort |"
                  + "".join(f" {n} req/s |" for n in others), "|---|---|---|---|" + "---|" * len(others)]
        curves = {n: [(s["p99_ms"], s["rps"]) for s in med[n].values()] for n in med}

        def txt(v):
            return f"{v:.0f}" if v else "none"
        for slo in sorted(p99 for p99, _ in curves["ort"]):
            best = {n: throughput_at(curves[n], slo) for n in curves}
            ratio = f"{best['tac'] / best['ort']:.2f}x" if best["tac"] else "-"
            lines.append(f"| {slo:.1f} | {txt(best['tac'])} | {txt(best['ort'])} | {ratio} |"
                         + "".join(f" {txt(best[n])} |" for n in others))
    lines.append("")
    lines.append(f"Medians of {a.reps} repetitions; {os.cpu_count()} cores, load average (1 min) "
                 f"at the end {load_avg:.2f}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.")
    return "\n".join(lines)


async def replacement_answers(send, x, known: set, since: float, limit_s: float = 60.0):
    """Seconds from `since` until a replica not in `known` answers (Serve
    started a replacement and routes to it); None if not within limit_s.
    Sends at most one request per 0.1 s."""
    while time.perf_counter() - since < limit_s:
        try:
            answer = await send(x[0][None])
            if answer["replica"] not in known:
                return time.perf_counter() - since, answer["replica"]
        except Exception:  # noqa: BLE001 - still recovering
            pass
        await asyncio.sleep(0.1)
    return None, None


async def kill_run(a, send, ref, x) -> int:
    host = os.uname().nodename
    c = a.concurrency[-1]
    state = {"killed": None, "at": None, "t": None}

    def on_answer(load, answer):
        if state["killed"] is None and len(load.answers) >= a.requests // 3:
            rhost, pid = answer["replica"].rsplit(":", 1)
            if rhost != host:
                raise SystemExit("--kill-replica needs the replicas on this machine")
            os.kill(int(pid), signal.SIGKILL)
            state["killed"], state["at"] = answer["replica"], len(load.answers)
            state["t"] = time.perf_counter()
            print(f"killed replica {answer['replica']} (SIGKILL) after {state['at']} answers",
                  flush=True)

    load = Load(send, x, ref, a.requests, c, a.duration, on_answer)
    await load.run()
    s = load.summary()
    sent = max(load.answers, default=-1) + 1
    lost_ids = {rid for rid, _ in load.lost}
    missing = [rid for rid in range(sent) if rid not in load.answers and rid not in lost_ids]
    twice = [rid for rid, k in load.answers.items() if k != 1]
    print(f"\nkill-replica run: C={c}, {sent} requests sent, {s['answered']} answered in "
          f"{s['wall_s']:.2f} s ({s['rps']:.0f}/s), p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms")
    print(f"replica killed: {state['killed']} after {state['at']} answers; replicas that answered: "
          f"{sorted(load.replicas)}")
    print(f"wrong answers: {len(load.wrong)}; lost: {len(load.lost) + len(missing)}; "
          f"answered more than once: {len(twice)}; retried: {len(load.retried)}")
    reasons: dict[str, int] = {}
    for fails in load.retried.values():
        for f in fails:
            reasons[f] = reasons.get(f, 0) + 1
    for r, k in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  {k} x {r}")
    for rid, f in load.lost[:5]:
        print(f"  lost request {rid}: {f}")
    recovered, new = await replacement_answers(send, x, set(load.replicas), state["t"])
    print(f"a replacement replica ({new}) answered " + (f"{recovered:.1f} s after the kill"
                                                         if recovered is not None else
                                                         "NOT within 60 s of the kill"))
    ok = (state["killed"] and not load.wrong and not load.lost and not missing and not twice
          and s["answered"] == sent and recovered is not None)
    print("RESULT:", "every request got exactly one correct answer" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=400, help="answers per engine and level (cap)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per engine and level (cap)")
    p.add_argument("--concurrency", default="1,4,16,64")
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument("--sizes", default="1,4,16,32", help="tac-compile --batch-sizes")
    p.add_argument("--via", choices=["http", "handle"], default="http")
    p.add_argument("--engines", default="tac,ort",
                   help="of tac, ort, null (Serve's ceiling: no model, zeros out)")
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--kill-replica", action="store_true")
    a = p.parse_args()
    a.concurrency = [int(c) for c in a.concurrency.split(",")]
    if a.requests > 5000 or a.duration > 300 or max(a.concurrency) > 256:
        p.error("bounded: at most 5000 requests, 300 s and 256 clients per level")
    engines = ["tac"] if a.kill_replica else a.engines.split(",")

    from ray import serve
    import tac.serve as ts

    x = X.fmnist_images(a.images)
    tacm = compiled_model(a.sizes)
    refs = references(tacm, x)
    refs["null"] = None
    port = free_port()
    started = ts.start_ray(port=port, num_cpus=max(2, len(engines)))
    try:
        model = {"tac": (tacm, "tac"), "ort": (ADAPTIVE_ONNX, "onnxruntime"),
                 "null": (tacm, NullEngine)}
        for name in engines:
            path, engine = model[name]
            serve.run(ts.deployment(path, engine=engine, replicas=a.replicas,
                                    max_batch=a.max_batch, max_wait_ms=a.max_wait_ms,
                                    replica_cpus=0.5, name=name),
                      name=name, route_prefix=f"/{name}")
        print(f"deployed {engines} ({a.replicas} replicas each) on 127.0.0.1:{port}", flush=True)

        async def go():
            if a.via == "http":
                import aiohttp
                conn = aiohttp.TCPConnector(limit=0)
                async with aiohttp.ClientSession(connector=conn) as session:
                    senders = {n: http_sender(session, f"http://127.0.0.1:{port}/{n}")
                               for n in engines}
                    return await body(senders)
            return await body({n: handle_sender(serve.get_app_handle(n)) for n in engines})

        async def body(senders):
            for n, send in senders.items():  # warm-up: every replica loaded and answering
                await Load(send, x, refs[n], 64, 8, 30).run()
            if a.kill_replica:
                return await kill_run(a, senders["tac"], refs["tac"], x)
            results = await run_levels(a, senders, refs, x)
            print("\n" + report(a, results, os.getloadavg()[0]))
            bad = sum(r["wrong"] + r["lost"] for lv in results.values() for rs in lv.values()
                      for r in rs)
            return 1 if bad else 0

        return asyncio.run(go())
    finally:
        ts.stop_ray(started)


if __name__ == "__main__":
    sys.exit(main())
