"""libtacrt's dispatch rules through tac.InferenceSession, on the hand-built
test models (TACRT_TEST_MODELS: their directory)."""
import os

import numpy as np
import pytest

import tac

MODELS = os.environ.get("TACRT_TEST_MODELS", "")
SCALE = np.array([0.5, -1.0, 2.0, 1.0], np.float32)
BIAS = np.array([0.25, 0.5, -0.5, 1.0], np.float32)


def reference(x, layers):
    for _ in range(layers):
        x = np.maximum(x * SCALE + BIAS, 0).astype(np.float32)
    return x


@pytest.fixture
def sess():
    return tac.InferenceSession(os.path.join(MODELS, "adaptive.tacm"))


def test_signature(sess):
    (x,) = sess.get_inputs()
    assert (x.name, x.shape, x.type, x.dtype) == ("x", [1, 4], "tensor(float)", "float32")
    assert [o.name for o in sess.get_outputs()] == ["y"]
    assert sess.num_paths == 4 and sess.has_controller
    assert [v.path for v in sess.variants] == [0, 1, 3]
    assert sess.batch_sizes == [1]


def test_auto_fixed_budget(sess):
    x = np.array([[0.5, 0.5, 0.5, 1.0]], np.float32)
    (y,), info = sess.run_adaptive({"x": x})
    assert info.path == 3 and info.requested_path == 2 and info.rounded
    assert info.layers == [0, 1, 2, 3] and info.flops == 52
    np.testing.assert_allclose(y, reference(x, 4), rtol=1e-6)
    (y,), info = sess.run_adaptive({"x": x}, path=1)
    assert info.path == 1
    np.testing.assert_allclose(y, reference(x, 2), rtol=1e-6)
    _, info = sess.run_adaptive({"x": x}, budget_flops=30)
    assert info.path == 1 and info.budget_limited
    # Rows without a compiled bucket run one by one, each on its own path.
    rows = np.array([[0.5, 0.5, 0.5, 1.0], [0.1, 0.1, 0.1, 0.0]], np.float32)
    (y,), info = sess.run_adaptive({"x": rows})
    assert info.rows == 2 and len(info.paths) == 2
    np.testing.assert_allclose(y[:1], reference(rows[:1], 4), rtol=1e-6)


def test_errors(sess):
    with pytest.raises(tac.InvalidArgumentError,
                       match=r"expected float32\[1, 4\] \(or N rows: float32\[N, 4\]\), got float64\[1, 4\]"):
        sess.run(None, {"x": np.zeros((1, 4))})
    with pytest.raises(tac.TacError, match="compiled paths: 0, 1, 3"):
        sess.run_adaptive({"x": np.zeros((1, 4), np.float32)}, path=2)
    with pytest.raises(tac.InvalidModelError, match="cannot open"):
        tac.InferenceSession("/nonexistent.tacm")


def test_threads():
    """threads= sizes the session's own pool: the same answers, and a count
    outside 1..255 (0: the default) is refused when the session is made."""
    x = np.array([[0.5, 0.5, 0.5, 1.0], [2.0, -1.0, 0.0, 3.0]], np.float32)
    path = os.path.join(MODELS, "adaptive.tacm")
    (one,) = tac.InferenceSession(path, threads=1).run(None, {"x": x})
    (two,) = tac.InferenceSession(path, threads=2).run(None, {"x": x})
    np.testing.assert_array_equal(one, two)
    with pytest.raises(tac.InvalidArgumentError, match="threads must be between 1 and 255"):
        tac.InferenceSession(path, threads=-1)
