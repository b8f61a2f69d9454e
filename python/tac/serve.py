"""``tac.serve``: a compiled model behind Ray Serve, with path-aware dynamic batching.

    python -m tac.serve model.tacm [--replicas 2] [--max-batch 32] [--max-wait-ms 5]
    python -m tac.serve model.tacm --address ray://head:10001     # an existing cluster

Each replica loads the ``.tacm`` into one :class:`tac.InferenceSession`.
Requests (one row each) are gathered by Serve's dynamic batching
(``@serve.batch``: up to ``max_batch`` rows, waiting at most
``max_wait_ms`` for more) and every gathered batch is one
``run_adaptive`` call: the controller picks each row's path and the runtime
groups the rows by path (docs/runtime.md). Each request is answered with its
own outputs and the path its row took.

Requests:

- Python: ``await handle.infer.remote({"image": x})`` with ``x`` one row (the
  model's input shape, or that shape without its leading 1) of the model's
  dtype; returns ``{"outputs": {name: ndarray}, "path": int, "batch_size":
  int, "run_us": float, "replica": str}`` (``batch_size``: the rows of the
  batch it ran in; ``run_us``: that batch's model time). A bad request raises
  :class:`tac.InvalidArgumentError`.
- HTTP: ``POST /`` with ``{"inputs": {"image": [[...]]}}`` (nested lists; an
  optional ``"dtype": {"image": "float32"}`` must match the model's); the
  answer is the same dictionary as JSON (arrays as nested lists). A bad
  request is HTTP 400 with ``{"error": "..."}``, a timed-out one 504.
  ``GET /`` describes the model (inputs, outputs, paths).

Bad requests are refused before they reach a batch, so they never fail other
rows, and never take a replica down. ``engine="onnxruntime"`` serves an ONNX
file with ONNX Runtime behind the same batching (the baseline of
bench/serve_load.py; ``path`` is then ``None``). See docs/serving.md.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import sys
import threading
import time
from typing import Any, Optional

import numpy as np

try:
    import ray
    from ray import serve
    from ray._private import ray_constants
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("tac.serve needs Ray Serve: pip install 'ray[serve]' "
                      "(python/requirements.txt pins the tested version)") from e

from .errors import InvalidArgumentError

LOOPBACK = "127.0.0.1"
_RAY_SINGLE_NODE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_saved_ray_mode: list = []  # what start_ray changed, for stop_ray
DEFAULT_MAX_BATCH = 32
DEFAULT_MAX_WAIT_MS = 5.0
DEFAULT_REQUEST_TIMEOUT_S = 30.0


class _Arg:
    """One input or output: name, one-row shape, NumPy dtype."""

    def __init__(self, name: str, shape: list, dtype: str) -> None:
        self.name = name
        self.shape = tuple(int(d) if isinstance(d, int) and d > 0 else 1 for d in shape)
        self.dtype = np.dtype(dtype)
        # N rows replace a leading 1 by N, or prepend N (docs/runtime.md).
        self.leading_one = len(self.shape) > 0 and self.shape[0] == 1

    def stack(self, rows: list) -> np.ndarray:
        return np.concatenate(rows) if self.leading_one else np.stack(rows)

    def row(self, batch: np.ndarray, i: int) -> np.ndarray:
        if self.leading_one:
            return batch[i:i + 1]
        return batch if batch.ndim == len(self.shape) else batch[i]  # one row: the model's shape

    def describe(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype.name}


class _TacEngine:
    """tac.InferenceSession: one run_adaptive call per batch, a path per row."""

    def __init__(self, model: bytes, threads: int, sha256: str) -> None:
        from .session import InferenceSession
        self.session = InferenceSession(model, threads=threads, require_sha256=sha256)
        self.inputs = [_Arg(a.name, a.shape, a.dtype) for a in self.session.get_inputs()]
        self.outputs = [_Arg(a.name, a.shape, a.dtype) for a in self.session.get_outputs()]
        self.num_paths = self.session.num_paths

    def run(self, feed: dict) -> tuple[list, list]:
        outputs, info = self.session.run_adaptive(feed)
        return outputs, list(info.paths)


class _OrtEngine:
    """ONNX Runtime on the same ONNX model: a batch is one call when the input
    takes N rows, else one call per row (an If-gated model's condition is one
    scalar, so ONNX Runtime runs it one row at a time)."""

    _TYPES = {"tensor(float)": "float32", "tensor(double)": "float64",
              "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(bool)": "bool"}

    def __init__(self, model: bytes, threads: int, sha256: str) -> None:
        import onnxruntime as ort
        if hashlib.sha256(model).hexdigest() != sha256:
            raise InvalidArgumentError("the ONNX model's SHA-256 changed on the way")
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        self.inputs = [_Arg(a.name, a.shape, self._TYPES[a.type])
                       for a in self.session.get_inputs()]
        self.outputs = [_Arg(a.name, a.shape, self._TYPES[a.type])
                        for a in self.session.get_outputs()]
        self.batched = all(not isinstance(a.shape[0], int) if a.shape else False
                           for a in self.session.get_inputs())
        self.num_paths = None

    def run(self, feed: dict) -> tuple[list, list]:
        n = len(next(iter(feed.values())))
        if self.batched:
            return self.session.run(None, feed), [None] * n
        rows = [self.session.run(None, {k: self.inputs[j].row(v, i)
                                        for j, (k, v) in enumerate(feed.items())})
                for i in range(n)]
        outs = [o.stack([r[j] for r in rows]) for j, o in enumerate(self.outputs)]
        return outs, [None] * n


_ENGINES = {"tac": _TacEngine, "onnxruntime": _OrtEngine}


def _error(status: int, message: str):
    from starlette.responses import JSONResponse
    return JSONResponse({"error": message}, status_code=status)


def _jsonable(answer: dict) -> dict:
    return {**answer, "outputs": {k: v.tolist() for k, v in answer["outputs"].items()}}


def _bind_replica_grpc_to_loopback() -> None:
    """In a local-only Ray (start_ray without an address), Serve's replicas
    still open their inter-deployment gRPC server on every interface
    ("[::]:0", not configurable in Ray 2.60): bind it to 127.0.0.1 instead.
    Private Ray API, so a no-op where it is not there."""
    if os.environ.get(_RAY_SINGLE_NODE_ENV) != "0":
        return
    try:
        from ray.serve._private import replica as serve_replica
        add_port = serve_replica.add_port_to_grpc_server
    except (ImportError, AttributeError):
        return
    if getattr(add_port, "_tac_loopback", False):
        return

    def add_loopback_port(server, address: str):
        return add_port(server, address.replace("[::]", LOOPBACK))
    add_loopback_port._tac_loopback = True
    serve_replica.add_port_to_grpc_server = add_loopback_port


class ModelServer:
    """The replica: a loaded model behind ``@serve.batch``.

    Args:
        model: the ``.tacm`` (or, with ``engine="onnxruntime"``, ``.onnx``) bytes.
        sha256: their SHA-256; the replica refuses anything else.
        engine: ``"tac"``, ``"onnxruntime"``, or a class built as
            ``engine(model_bytes, threads, sha256)`` with ``inputs`` and
            ``outputs`` (name, shape, dtype of one row), ``num_paths`` and
            ``run(feed) -> (outputs, paths)`` over N rows, like ``_TacEngine``.
        max_batch: the most requests one batch gathers.
        max_wait_ms: how long a batch waits for more requests once it has one.
        threads: session threads per replica (tac: kernels and GEMMs on its pool) or intra-op threads (ONNX Runtime).
        request_timeout_s: a request not answered by then fails (HTTP 504,
            ``TimeoutError`` through a handle) and its row is dropped.
    """

    def __init__(self, model: bytes, sha256: str, engine: str = "tac",
                 max_batch: int = DEFAULT_MAX_BATCH,
                 max_wait_ms: float = DEFAULT_MAX_WAIT_MS, threads: int = 1,
                 request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S) -> None:
        _bind_replica_grpc_to_loopback()
        if isinstance(engine, str):
            if engine not in _ENGINES:
                raise InvalidArgumentError(
                    f"engine must be one of {sorted(_ENGINES)} or an engine class, got {engine!r}")
            self.engine_name, engine = engine, _ENGINES[engine]
        else:
            self.engine_name = engine.__name__
        self.engine = engine(model, threads, sha256)
        self.request_timeout_s = request_timeout_s
        self._batch.set_max_batch_size(max_batch)
        self._batch.set_batch_wait_timeout_s(max_wait_ms / 1000.0)
        self.replica = f"{os.uname().nodename}:{os.getpid()}"
        self.batch_sizes: dict[int, int] = {}
        self.served = 0
        self.run_s = 0.0
        # Looked up on every request, so built once.
        self._names = [a.name for a in self.engine.inputs]
        self._by_name = {a.name: a for a in self.engine.inputs}
        self._probe = {a.name: np.zeros(a.shape, a.dtype) for a in self.engine.inputs}
        self.engine.run(self._probe)  # fail here, not on the first request

    # -- checks ---------------------------------------------------------
    def _validate(self, feed: Any) -> dict:
        """The request's rows, each in the model's one-row shape and dtype;
        InvalidArgumentError says what is wrong."""
        if not isinstance(feed, dict):
            raise InvalidArgumentError(
                f"a request is a dict of input name to array, got {type(feed).__name__}")
        names = self._names
        unknown = sorted(k for k in feed if k not in self._by_name)
        if unknown:
            raise InvalidArgumentError(f"unknown input(s) {unknown}; the model's inputs are {names}")
        rows = {}
        for a in self.engine.inputs:
            if a.name not in feed:
                raise InvalidArgumentError(f"missing input '{a.name}'; the model's inputs are {names}")
            x = feed[a.name]
            if not isinstance(x, np.ndarray):
                raise InvalidArgumentError(
                    f"input '{a.name}' must be a NumPy array, got {type(x).__name__}")
            if x.dtype != a.dtype:
                raise InvalidArgumentError(
                    f"input '{a.name}' must be {a.dtype.name}, got {x.dtype.name} (no silent casts)")
            if x.shape != a.shape and not (a.leading_one and x.shape == a.shape[1:]):
                raise InvalidArgumentError(
                    f"input '{a.name}' must be one row of shape {list(a.shape)}"
                    + (f" (or {list(a.shape[1:])})" if a.leading_one else "")
                    + f", got {list(x.shape)}")
            if not np.issubdtype(x.dtype, np.integer) and not np.all(np.isfinite(x)):
                raise InvalidArgumentError(f"input '{a.name}' holds NaN or infinity")
            rows[a.name] = np.ascontiguousarray(x.reshape(a.shape))
        return rows

    def _from_json(self, body: Any) -> dict:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), dict):
            raise InvalidArgumentError('the body must be JSON {"inputs": {"<name>": [...]}}')
        dtypes = body.get("dtype", {}) or {}
        if not isinstance(dtypes, dict):
            raise InvalidArgumentError('"dtype" must map input names to dtype names')
        feed = {}
        for name, value in body["inputs"].items():
            a = self._by_name.get(name)
            if a is None:  # let _validate name it
                feed[name] = value
                continue
            want = dtypes.get(name, a.dtype.name)
            if want != a.dtype.name:
                raise InvalidArgumentError(
                    f"input '{name}' must be {a.dtype.name}, got dtype {want!r}")
            try:
                arr = np.asarray(value)
            except ValueError as e:
                raise InvalidArgumentError(f"input '{name}' is not a rectangular array: {e}") from None
            if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                           or arr.dtype == np.bool_):
                raise InvalidArgumentError(f"input '{name}' must be nested lists of numbers")
            if np.issubdtype(a.dtype, np.integer) and not np.issubdtype(arr.dtype, np.integer):
                raise InvalidArgumentError(f"input '{name}' must hold integers ({a.dtype.name})")
            feed[name] = arr.astype(a.dtype)
        return feed

    def check_health(self) -> None:
        """Serve calls this every health_check_period_s: one probe row must run."""
        outputs, _ = self.engine.run(self._probe)
        if not all(np.all(np.isfinite(o)) for o in outputs if o.dtype.kind == "f"):
            raise RuntimeError("the probe row gave non-finite outputs")

    # -- the batch --------------------------------------------------------
    @serve.batch(max_batch_size=DEFAULT_MAX_BATCH, batch_wait_timeout_s=DEFAULT_MAX_WAIT_MS / 1000)
    async def _batch(self, rows: list) -> list:
        n = len(rows)
        self.batch_sizes[n] = self.batch_sizes.get(n, 0) + 1
        feed = {a.name: a.stack([r[a.name] for r in rows]) for a in self.engine.inputs}
        # On the replica's event loop, not in a worker thread: the hop to a
        # thread cost ~0.25 ms a batch here (more than a one-row run), and a
        # replica's CPU share runs one batch at a time anyway. Serve keeps
        # queueing requests meanwhile (user code has its own loop thread).
        try:
            return self._run(feed, n)
        except Exception:  # noqa: BLE001 - one row's fault must not fail the others
            if n == 1:
                raise
            return [self._one(r) for r in rows]

    def _run(self, feed: dict, n: int) -> list:
        """One engine call over ``n`` stacked rows: each row's answer."""
        t0 = time.perf_counter()
        outputs, paths = self.engine.run(feed)
        run_us = 1e6 * (time.perf_counter() - t0)
        self.served += n
        self.run_s += run_us / 1e6
        return [{"outputs": {o.name: o.row(v, i) for o, v in zip(self.engine.outputs, outputs)},
                 "path": paths[i], "batch_size": n, "run_us": run_us, "replica": self.replica}
                for i in range(n)]

    def _one(self, row: dict):
        """A row of a failed batch on its own: its answer, or its exception."""
        try:
            return self._run(row, 1)[0]
        except Exception as e:  # noqa: BLE001
            return e

    async def _answer(self, rows: dict) -> dict:
        try:
            answer = await asyncio.wait_for(self._batch(rows), self.request_timeout_s)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no answer within {self.request_timeout_s} s") from None
        if isinstance(answer, Exception):
            raise answer
        return answer

    # -- entry points -------------------------------------------------------
    async def infer(self, feed: dict) -> dict:
        """One row in, its outputs and path out (Python handles)."""
        return await self._answer(self._validate(feed))

    def describe(self) -> dict:
        return {"engine": self.engine_name, "replica": self.replica,
                "inputs": [a.describe() for a in self.engine.inputs],
                "outputs": [a.describe() for a in self.engine.outputs],
                "num_paths": self.engine.num_paths}

    def stats(self) -> dict:
        """This replica's counters: rows served and batches by size."""
        return {"replica": self.replica, "pid": os.getpid(), "served": self.served,
                "run_s": self.run_s, "batch_sizes": dict(self.batch_sizes)}

    async def __call__(self, request):
        """HTTP: POST a JSON row, GET a description."""
        if request.method == "GET":
            return self.describe()
        if request.method != "POST":
            return _error(405, "use POST with a JSON body, or GET for the model's description")
        try:
            body = await request.json()
        except Exception:  # noqa: BLE001 - any unparsable body
            return _error(400, "the body is not valid JSON")
        try:
            rows = self._validate(self._from_json(body))
        except InvalidArgumentError as e:
            return _error(400, str(e))
        try:
            return _jsonable(await self._answer(rows))
        except TimeoutError as e:
            return _error(504, str(e))
        except Exception as e:  # noqa: BLE001 - the replica stays up
            return _error(500, f"{type(e).__name__}: {e}")


def deployment(model_path: str, *, engine="tac", replicas: int = 1,
               max_batch: int = DEFAULT_MAX_BATCH, max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
               threads: int = 1, request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
               replica_cpus: float = 1.0, name: Optional[str] = None,
               health_check_period_s: float = 10.0, graceful_shutdown_timeout_s: float = 20.0):
    """The Serve application for ``model_path`` (bind it with ``serve.run``).

    The file is read here and shipped to the replicas with its SHA-256, so
    replicas on other machines need no copy of it, and load exactly it.
    """
    with open(model_path, "rb") as f:
        data = f.read()
    sha = hashlib.sha256(data).hexdigest()
    dep = serve.deployment(ModelServer).options(
        name=name or (engine if isinstance(engine, str) else engine.__name__),
        num_replicas=replicas,
        ray_actor_options={"num_cpus": replica_cpus},
        max_ongoing_requests=max(2 * max_batch, 8),
        health_check_period_s=health_check_period_s,
        health_check_timeout_s=30.0,
        graceful_shutdown_wait_loop_s=0.5,
        graceful_shutdown_timeout_s=graceful_shutdown_timeout_s)
    return dep.bind(data, sha, engine=engine, max_batch=max_batch, max_wait_ms=max_wait_ms,
                    threads=threads, request_timeout_s=request_timeout_s)


def start_ray(address: Optional[str] = None, *, port: int = 8000, num_cpus: Optional[int] = None,
              request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S) -> bool:
    """Connects to the cluster at ``address``, or starts a local Ray bound to
    127.0.0.1 without a dashboard; starts Serve's HTTP proxy on 127.0.0.1:port.
    Returns whether this call started the local Ray (so it should stop it)."""
    started = address is None
    if started:
        # Ray refuses a loopback node address (it resolves 127.0.0.1 to the
        # machine's routable one) except in its single-node mode, which binds
        # the GCS, raylet, workers and agents to 127.0.0.1; the processes it
        # starts read the mode from the environment.
        _saved_ray_mode[:] = [os.environ.get(_RAY_SINGLE_NODE_ENV),
                              ray_constants.ENABLE_RAY_CLUSTER]
        os.environ[_RAY_SINGLE_NODE_ENV] = "0"
        ray_constants.ENABLE_RAY_CLUSTER = False
        ray.init(address="local", include_dashboard=False, num_cpus=num_cpus,
                 configure_logging=False, log_to_driver=False)
    else:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": LOOPBACK, "port": port,
                              "request_timeout_s": request_timeout_s + 5.0})
    return started


def stop_ray(started: bool) -> None:
    """Graceful: Serve drains and stops its replicas, then the local Ray stops."""
    serve.shutdown()
    if started:
        ray.shutdown()
        if _saved_ray_mode:
            env, ray_constants.ENABLE_RAY_CLUSTER = _saved_ray_mode
            if env is None:
                os.environ.pop(_RAY_SINGLE_NODE_ENV, None)
            else:
                os.environ[_RAY_SINGLE_NODE_ENV] = env


def main(argv: Optional[list] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tac.serve",
                                description="Serve a .tacm with Ray Serve (docs/serving.md).")
    p.add_argument("model", help="the .tacm file (an .onnx file with --engine onnxruntime)")
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH)
    p.add_argument("--max-wait-ms", type=float, default=DEFAULT_MAX_WAIT_MS)
    p.add_argument("--threads", type=int, default=1, help="per replica")
    p.add_argument("--request-timeout-s", type=float, default=DEFAULT_REQUEST_TIMEOUT_S)
    p.add_argument("--engine", choices=sorted(_ENGINES), default="tac")
    p.add_argument("--address", default=None,
                   help="an existing Ray cluster (default: start a local one on 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="the HTTP proxy's port on 127.0.0.1")
    p.add_argument("--route-prefix", default="/")
    p.add_argument("--name", default="tac", help="the Serve application's name")
    a = p.parse_args(argv)
    if a.replicas < 1 or a.max_batch < 1 or a.max_wait_ms < 0 or a.request_timeout_s <= 0:
        p.error("--replicas and --max-batch must be >= 1, --max-wait-ms >= 0, "
                "--request-timeout-s > 0")
    if not os.path.isfile(a.model):
        p.error(f"no such file: {a.model}")
    started = start_ray(a.address, port=a.port, request_timeout_s=a.request_timeout_s)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.run(deployment(a.model, engine=a.engine, replicas=a.replicas,
                             max_batch=a.max_batch, max_wait_ms=a.max_wait_ms,
                             threads=a.threads, request_timeout_s=a.request_timeout_s),
                  name=a.name, route_prefix=a.route_prefix)
        print(f"tac.serve: {a.model} on http://{LOOPBACK}:{a.port}{a.route_prefix} "
              f"({a.replicas} replica(s), batches of up to {a.max_batch}, "
              f"{a.max_wait_ms:g} ms wait); Ctrl-C stops", flush=True)
        while not stop.wait(0.5):
            pass
        print("tac.serve: stopping (draining replicas)", flush=True)
        t0 = time.time()
        serve.delete(a.name)
        print(f"tac.serve: stopped in {time.time() - t0:.1f} s", flush=True)
    finally:
        stop_ray(started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
