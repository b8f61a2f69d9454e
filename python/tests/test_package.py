"""The installed `tac` package: tac.compile + tac.InferenceSession on the test
models against ONNX Runtime, bad inputs, threads. Run by ctest (python-package)
with the build's package on PYTHONPATH."""
from __future__ import annotations

import concurrent.futures
import os
import threading

import numpy as np
import onnxruntime as ort
import pytest

import tac

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "test", "Import", "Models")
BUNDLED = os.path.join(ROOT, "models", "fmnist_vit_adaptive.onnx")
TOLERANCE = 1e-4
_compiled: dict[str, tac.CompiledModel] = {}


def compiled(path: str) -> tac.CompiledModel:
    """Each model compiled once per test run (this machine's CPU level only)."""
    if path not in _compiled:
        _compiled[path] = tac.compile(path, cpus=["host"], batch_sizes=[4], progress=False)
    return _compiled[path]


def ref_inputs(name: str) -> list[dict[str, np.ndarray]]:
    """The reference inputs export_models.py wrote (real token ids, images)."""
    ref = os.path.join(MODELS, "ref", name)
    feeds: dict[int, dict[str, np.ndarray]] = {}
    for f in sorted(os.listdir(ref)):
        if f.startswith("input_"):
            _, k, input_name = f[:-4].split("_", 2)
            feeds.setdefault(int(k), {})[input_name] = np.load(os.path.join(ref, f))
    return [feeds[k] for k in sorted(feeds)]


def ort_session(path: str) -> ort.InferenceSession:
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", ["vit_tiny", "bert_tiny", "vit_tiny_gated"])
def test_test_models_match_onnx_runtime(name):
    path = os.path.join(MODELS, f"{name}.onnx")
    sess = tac.InferenceSession(compiled(path))
    ref = ort_session(path)
    assert [a.name for a in sess.get_inputs()] == [a.name for a in ref.get_inputs()]
    assert [a.name for a in sess.get_outputs()] == [a.name for a in ref.get_outputs()]
    for feed in ref_inputs(name):
        got = sess.run(None, feed)
        want = ref.run(None, feed)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, atol=TOLERANCE, rtol=0)


def test_bundled_model_depths_and_batches_match_onnx_runtime():
    sess = tac.InferenceSession(compiled(BUNDLED))
    ref = ort_session(BUNDLED)
    rng = np.random.default_rng(0)
    x = rng.random((6, 1, 28, 28), dtype=np.float32)
    names = [o.name for o in sess.get_outputs()]
    depth = names.index("depth")
    # One row at a time against ONNX Runtime (which runs the If-gated graph).
    rows = []
    for i in range(len(x)):
        got, info = sess.run_adaptive({"image": x[i:i + 1]})
        want = ref.run(None, {"image": x[i:i + 1]})
        # The policy's depth output (which counts the always-run layer) is
        # ONNX Runtime's, and the variant that ran is the one it asked for.
        assert int(got[depth]) == int(want[depth])
        assert info.path == info.requested_path and not info.rounded
        np.testing.assert_allclose(got[0], want[0], atol=TOLERANCE, rtol=0)
        rows.append(got[0])
        assert info.rows == 1 and info.paths == [info.path] and info.flops > 0 and info.time_us > 0
    # The same rows as one batch (pieces of 4 + 2): each row on its own path.
    outputs, info = sess.run_adaptive({"image": x})
    assert info.rows == 6 and len(info.paths) == 6
    np.testing.assert_allclose(outputs[0], np.concatenate(rows), atol=TOLERANCE, rtol=0)
    # Fixed path and FLOPs budget.
    _, fixed = sess.run_adaptive({"image": x[:1]}, path=2)
    assert fixed.path == 2 and fixed.layers == [0, 1]
    cheapest = min(v.flops for v in sess.variants)
    _, capped = sess.run_adaptive({"image": x[:1]}, budget_flops=cheapest)
    assert capped.path == min(v.path for v in sess.variants)


def test_output_names_inputs_in_place_and_sources(tmp_path):
    c = compiled(BUNDLED)
    out = tmp_path / "m.tacm"
    c.save(out)
    x = np.random.default_rng(1).random((1, 1, 28, 28), dtype=np.float32)
    by_path = tac.InferenceSession(str(out))
    by_bytes = tac.InferenceSession(bytes(c))
    by_pathlike = tac.InferenceSession(out)
    (logits,) = by_path.run(["logits"], {"image": x})
    np.testing.assert_array_equal(logits, by_bytes.run(None, {"image": x})[0])
    np.testing.assert_array_equal(logits, by_pathlike.run(["logits", "depth"], {"image": x})[0])
    # Strided and list inputs are converted, not rejected.
    wide = np.zeros((1, 1, 28, 56), np.float32)
    wide[..., ::2] = x
    np.testing.assert_array_equal(logits, by_path.run(["logits"], {"image": wide[..., ::2]})[0])
    np.testing.assert_array_equal(logits, by_path.run(["logits"], {"image": x.tolist()})[0])
    assert logits.flags.writeable and logits.flags.c_contiguous


def test_compile_options_report_phases_and_mlir():
    phases = []
    c = tac.compile(os.path.join(MODELS, "vit_tiny_gated.onnx"), cpus=["host"], report=True,
                    progress=lambda phase, seconds: phases.append((phase, seconds)))
    assert "main_path1" in c.report and "flops" in c.report
    done = [p for p, s in phases if s is not None]
    assert done[0] == "import" and done[-1] == "plans, native code" and len(done) == 5
    text = tac.compile(os.path.join(MODELS, "vit_tiny.onnx"), compile_to="import")
    assert "module" in text and "func.func @main" in text
    onnx = pytest.importorskip("onnx")
    proto = onnx.load(os.path.join(MODELS, "vit_tiny.onnx"))
    from_proto = tac.InferenceSession(tac.compile(proto, cpus=["host"]))
    assert [a.name for a in from_proto.get_inputs()] == ["image"]


def test_compile_errors_are_exceptions_with_the_compilers_message(tmp_path):
    with pytest.raises(tac.CompileError, match="malformed or truncated"):
        tac.compile(b"not an onnx model")
    with pytest.raises(tac.InvalidArgumentError, match="cannot read the model"):
        tac.compile(tmp_path / "missing.onnx")
    with pytest.raises(tac.CompileError, match="unknown target 'gpu'"):
        tac.compile(BUNDLED, target="gpu")
    with pytest.raises(tac.CompileError, match="batch sizes are for CPU code"):
        tac.compile(BUNDLED, target="cuda", batch_sizes=[4])
    with pytest.raises(tac.CompileError, match="not a row count"):
        tac.compile(BUNDLED, batch_sizes=[0])
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Det", ["x"], ["y"], name="the_det")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(tac.CompileError) as err:
        tac.compile(model)
    assert "Det" in str(err.value) and "the_det" in str(err.value) and "17" in str(err.value)


def test_run_errors_name_the_problem(tmp_path):
    sess = tac.InferenceSession(compiled(BUNDLED))
    x = np.zeros((1, 1, 28, 28), np.float32)
    with pytest.raises(tac.InvalidArgumentError, match="missing input 'image'"):
        sess.run(None, {})
    with pytest.raises(tac.InvalidArgumentError, match="unknown input 'img'"):
        sess.run(None, {"image": x, "img": x})
    with pytest.raises(tac.InvalidArgumentError, match=r"expected float32\[1, 1, 28, 28\].*got float64"):
        sess.run(None, {"image": x.astype(np.float64)})
    with pytest.raises(tac.InvalidArgumentError, match=r"got float32\[1, 1, 28, 27\]"):
        sess.run(None, {"image": x[..., :27]})
    with pytest.raises(tac.InvalidArgumentError, match="unknown output 'prob'"):
        sess.run(["prob"], {"image": x})
    with pytest.raises(tac.InvalidArgumentError, match="path or budget_flops, not both"):
        sess.run_adaptive({"image": x}, path=1, budget_flops=1e9)
    with pytest.raises(ValueError):  # InvalidArgumentError is also a ValueError
        sess.run(None, {"image": "a string"})
    with pytest.raises(tac.InvalidArgumentError, match="unknown device 'tpu'"):
        tac.InferenceSession(compiled(BUNDLED), device="tpu")
    bad = tmp_path / "bad.tacm"
    bad.write_bytes(bytes(compiled(BUNDLED))[:1000])
    with pytest.raises(tac.InvalidModelError, match="truncated"):
        tac.InferenceSession(str(bad))
    with pytest.raises(tac.InvalidModelError, match="cannot open"):
        tac.InferenceSession(str(tmp_path / "none.tacm"))
    with pytest.raises(tac.InvalidArgumentError, match="a .tacm path"):
        tac.InferenceSession(42)


def test_pinned_files(tmp_path):
    import hashlib
    path = tmp_path / "m.tacm"
    compiled(BUNDLED).save(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    tac.InferenceSession(path, require_sha256=digest, require_producer="tac 0.1.0")
    with pytest.raises(tac.InvalidModelError, match="refused"):
        tac.InferenceSession(path, require_sha256="0" * 64)
    with pytest.raises(tac.InvalidModelError, match="not the required 'tac 0.0.1'"):
        tac.InferenceSession(compiled(BUNDLED), require_producer="tac 0.0.1")


def test_cuda_without_a_gpu_is_a_clear_error():
    ok, why = tac.cuda_available()
    if ok:
        pytest.skip("a CUDA device is present; tests/Cuda covers it")
    assert why
    with pytest.raises(tac.TacError):
        tac.InferenceSession(compiled(BUNDLED), device="cuda")


def test_concurrent_runs_on_one_session_are_safe():
    """8 threads, one session: every result equals the single-threaded one."""
    sess = tac.InferenceSession(compiled(BUNDLED))
    rng = np.random.default_rng(2)
    xs = [rng.random((n, 1, 28, 28), dtype=np.float32) for n in (1, 3, 1, 5, 2, 1, 4, 1)]
    want = [sess.run_adaptive({"image": x}) for x in xs]
    start = threading.Barrier(8)

    def work(i):
        start.wait()
        results = []
        for _ in range(6):
            results.append(sess.run_adaptive({"image": xs[i]}))
        return results

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(work, range(8), timeout=120))
    for i, runs in enumerate(got):
        for outputs, info in runs:
            assert info.paths == want[i][1].paths
            for g, w in zip(outputs, want[i][0]):
                np.testing.assert_array_equal(g, w)
