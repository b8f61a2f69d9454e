"""tac.runtime (the ctypes wrapper) against the test models. Needs
TACRT_LIBRARY (libtacrt.so) and TACRT_TEST_MODELS (the models' directory)."""
import os

import numpy as np
import pytest

from tac.runtime import Model, TacError

MODELS = os.environ.get("TACRT_TEST_MODELS", "")
SCALE = np.array([0.5, -1.0, 2.0, 1.0], np.float32)
BIAS = np.array([0.25, 0.5, -0.5, 1.0], np.float32)


def reference(x, layers):
    for _ in range(layers):
        x = np.maximum(x * SCALE + BIAS, 0).astype(np.float32)
    return x


@pytest.fixture
def model():
    return Model(os.path.join(MODELS, "adaptive.tacm"))


def test_signature(model):
    assert model.inputs == [{"name": "x", "dtype": np.float32, "code": 0, "shape": (1, 4)}]
    assert [o["name"] for o in model.outputs] == ["y"]
    assert model.num_paths == 4
    assert [p for p, _ in model.variants] == [0, 1, 3]


def test_auto_fixed_budget(model):
    x = np.array([[0.5, 0.5, 0.5, 1.0]], np.float32)
    (y,), info = model.run({"x": x})
    assert info["path"] == 3 and info["requested_path"] == 2 and info["rounded"]
    assert info["layers"] == [0, 1, 2, 3] and info["flops"] == 52
    np.testing.assert_allclose(y, reference(x, 4), rtol=1e-6)
    (y,), info = model.run([x], path=1)
    assert info["path"] == 1
    np.testing.assert_allclose(y, reference(x, 2), rtol=1e-6)
    _, info = model.run([x], budget_flops=30)
    assert info["path"] == 1 and info["budget_limited"]


def test_errors(model):
    with pytest.raises(TacError, match=r"expected float32\[1, 4\] \(or N rows: float32\[N, 4\]\), got float64\[1, 4\]"):
        model.run([np.zeros((1, 4))])
    with pytest.raises(TacError, match="compiled paths: 0, 1, 3"):
        model.run([np.zeros((1, 4), np.float32)], path=2)
    with pytest.raises(TacError, match="cannot open"):
        Model("/nonexistent.tacm")
