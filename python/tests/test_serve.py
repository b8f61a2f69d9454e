"""tac.serve on a local Ray bound to 127.0.0.1: served outputs equal a direct
InferenceSession's row by row, requests are batched under concurrent load, bad
requests get a clear error and the replica keeps serving. One Ray instance
for the whole module (Ray starts slowly on 2 cores); every request has a
timeout. Run by ctest (python-serve)."""
from __future__ import annotations

import ipaddress
import os
import socket

import numpy as np
import pytest

pytest.importorskip("ray.serve", reason="ray[serve] is not installed "
                    "(scripts/setup.sh installs it from python/requirements.txt)")
import requests  # noqa: E402  (a dependency of ray[serve])
from ray import serve  # noqa: E402

import tac  # noqa: E402
import tac.serve as ts  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLED = os.path.join(ROOT, "models", "fmnist_vit_adaptive.onnx")
TIMEOUT_S = 60
TOLERANCE = 1e-4


def free_port() -> int:
    with socket.socket() as s:
        s.bind((ts.LOOPBACK, 0))
        return s.getsockname()[1]


def images(n: int) -> np.ndarray:
    """Real Fashion-MNIST test images (the controller picks several paths)."""
    from tac.train.data import DEFAULT_DIR, read_idx
    imgs = read_idx(os.path.join(DEFAULT_DIR, "t10k-images-idx3-ubyte.gz"))
    return (imgs[:n].astype(np.float32) / 255.0)[:, None]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tacm = str(tmp_path_factory.mktemp("serve") / "fmnist_b4.tacm")
    tac.compile(BUNDLED, output=tacm, cpus=["host"], batch_sizes=[4], progress=False)
    port = free_port()
    started = ts.start_ray(port=port, num_cpus=2)
    try:
        serve.run(ts.deployment(tacm, replicas=1, max_batch=8, max_wait_ms=20,
                                request_timeout_s=TIMEOUT_S, health_check_period_s=2.0),
                  name="tac-test", route_prefix="/")
        yield {"handle": serve.get_app_handle("tac-test"), "url": f"http://{ts.LOOPBACK}:{port}/",
               "session": tac.InferenceSession(tacm), "tacm": tacm}
    finally:
        ts.stop_ray(started)


def infer_all(handle, rows: np.ndarray) -> list:
    """All rows in flight at once, then every answer."""
    pending = [handle.infer.remote({"image": rows[i:i + 1]}) for i in range(len(rows))]
    return [p.result(timeout_s=TIMEOUT_S) for p in pending]


def test_served_outputs_equal_direct_session_row_by_row(server):
    x = images(96)
    answers = infer_all(server["handle"], x)
    sess = server["session"]
    names = [o.name for o in sess.get_outputs()]
    paths = set()
    for i, got in enumerate(answers):
        want, info = sess.run_adaptive({"image": x[i:i + 1]})
        assert got["path"] == info.paths[0], f"row {i}"
        paths.add(got["path"])
        for name, w in zip(names, want):
            g = got["outputs"][name]
            assert g.shape == w.shape and g.dtype == w.dtype, name
            np.testing.assert_allclose(g, w, atol=TOLERANCE, rtol=0, err_msg=f"row {i} {name}")
    assert len(paths) > 1, "real images should take more than one path"

    # HTTP JSON gives the same answer.
    for i in range(3):
        r = requests.post(server["url"], json={"inputs": {"image": x[i:i + 1].tolist()}},
                          timeout=TIMEOUT_S)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["path"] == answers[i]["path"]
        np.testing.assert_allclose(np.asarray(body["outputs"]["logits"], np.float32),
                                   answers[i]["outputs"]["logits"], atol=TOLERANCE, rtol=0)
    desc = requests.get(server["url"], timeout=TIMEOUT_S).json()
    assert desc["inputs"] == [{"name": "image", "shape": [1, 1, 28, 28], "dtype": "float32"}]


def test_concurrent_requests_are_batched(server):
    answers = infer_all(server["handle"], images(64))
    sizes = [a["batch_size"] for a in answers]
    assert max(sizes) > 1, f"no batch gathered more than one request: {sizes}"
    assert max(sizes) <= 8
    stats = server["handle"].stats.remote().result(timeout_s=TIMEOUT_S)
    assert any(size > 1 for size in stats["batch_sizes"]), stats


BAD = [
    ({"image": np.zeros((1, 1, 28, 27), np.float32)}, "shape"),
    ({"image": np.zeros((1, 1, 28, 28), np.float64)}, "float32"),
    ({"pixels": np.zeros((1, 1, 28, 28), np.float32)}, "unknown input"),
    ({}, "missing input 'image'"),
    ({"image": np.full((1, 1, 28, 28), np.nan, np.float32)}, "NaN"),
    ([1, 2, 3], "dict"),
]


@pytest.mark.parametrize("feed,message", BAD, ids=[m for _, m in BAD])
def test_bad_request_is_an_error_and_the_replica_keeps_serving(server, feed, message):
    before = server["handle"].stats.remote().result(timeout_s=TIMEOUT_S)["pid"]
    with pytest.raises(tac.InvalidArgumentError, match=message):
        server["handle"].infer.remote(feed).result(timeout_s=TIMEOUT_S)
    answer = server["handle"].infer.remote({"image": images(1)}).result(timeout_s=TIMEOUT_S)
    assert answer["outputs"]["logits"].shape == (1, 10)
    assert server["handle"].stats.remote().result(timeout_s=TIMEOUT_S)["pid"] == before


@pytest.mark.parametrize("body,message", [
    ({"inputs": {"image": [[1.0, 2.0]]}}, "shape"),
    ({"inputs": {"image": [[1.0], [2.0, 3.0]]}}, "rectangular"),
    ({"inputs": {"image": "abc"}}, "numbers"),
    ({"inputs": {"image": np.zeros((1, 1, 28, 28)).tolist()}, "dtype": {"image": "int8"}},
     "float32"),
    ({"input": {}}, "inputs"),
    (b"{not json", "not valid JSON"),
])
def test_bad_http_request_is_400(server, body, message):
    if isinstance(body, bytes):
        r = requests.post(server["url"], data=body, timeout=TIMEOUT_S)
    else:
        r = requests.post(server["url"], json=body, timeout=TIMEOUT_S)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]
    ok = requests.post(server["url"], json={"inputs": {"image": images(1).tolist()}},
                       timeout=TIMEOUT_S)
    assert ok.status_code == 200, ok.text


def test_health_check_and_status(server):
    server["handle"].check_health.remote().result(timeout_s=TIMEOUT_S)
    status = serve.status().applications["tac-test"]
    assert status.status == "RUNNING"
    assert list(status.deployments.values())[0].status == "HEALTHY"


def test_request_timeout_and_graceful_delete(server):
    """A deployment whose requests time out at once: handle callers get
    TimeoutError, HTTP callers 504, and deleting it drains and returns."""
    serve.run(ts.deployment(server["tacm"], replicas=1, request_timeout_s=1e-6,
                            name="tac-timeout"), name="tac-timeout", route_prefix="/timeout")
    handle = serve.get_app_handle("tac-timeout")
    with pytest.raises(TimeoutError, match="no answer within"):
        handle.infer.remote({"image": images(1)}).result(timeout_s=TIMEOUT_S)
    r = requests.post(server["url"] + "timeout", json={"inputs": {"image": images(1).tolist()}},
                      timeout=TIMEOUT_S)
    assert r.status_code == 504 and "no answer within" in r.json()["error"], r.text
    handle.check_health.remote().result(timeout_s=TIMEOUT_S)  # still up
    serve.delete("tac-timeout")
    assert "tac-timeout" not in serve.status().applications


def is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


def test_ray_and_serve_listen_on_loopback_only(server):
    psutil = pytest.importorskip("psutil", reason="psutil lists the processes' sockets")
    me = psutil.Process()
    listening, wide = 0, []
    for proc in [me] + me.children(recursive=True):  # the GCS, raylet, workers, agents
        try:
            conns = getattr(proc, "net_connections", proc.connections)(kind="inet")
            name = proc.name()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        listens = [c for c in conns if c.status == psutil.CONN_LISTEN]
        listening += len(listens)
        wide += [(name, c.laddr) for c in listens if not is_loopback(c.laddr.ip)]
    assert listening > 5, "Ray's processes should be listening"
    assert not wide, f"listening beyond 127.0.0.1: {wide}"


def test_cli_refuses_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ts.main([str(tmp_path / "missing.tacm")])
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ts.main([BUNDLED, "--replicas", "0"])
