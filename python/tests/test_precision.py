"""Reduced-precision weights (tac.compile(precision=...), tac-compile
--precision; docs/precision.md): outputs against NumPy's float64 products,
the weight bytes each precision stores, the controller kept f32 (the paths
and the recomputed depth never change), python -m tac.compare, and the clear
errors. Run by ctest (python-precision) with the build's package on
PYTHONPATH."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import tac
from tac.compare import compare

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLED = os.path.join(ROOT, "models", "fmnist_vit_adaptive.onnx")
FMNIST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
RNG = np.random.default_rng(5)
# Largest error relative to the output's scale: bf16 keeps 8 bits of
# mantissa per weight; int8 7 bits per weight and 8 per activation row.
TOLERANCE = {"f32": 1e-4, "bf16": 1e-2, "int8": 4e-2}


def _weight(name, *shape):
    return numpy_helper.from_array(RNG.uniform(-1, 1, shape).astype(np.float32), name)


def gemm_model():
    """x[1, 7, 37] -> MatMul+bias, Relu -> MatMul (n=300) -> Gemm(transB)
    -> y[7, 129]; and x -> a batched MatMul by a 3-D weight -> z. Odd
    shapes: columns not a multiple of 16, k not of 4."""
    inits = [_weight("w1", 37, 50), _weight("b1", 50), _weight("w2", 50, 300),
             _weight("w3", 129, 300), _weight("wb", 7, 37, 21)]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"]),
        helper.make_node("Add", ["h1", "b1"], ["h1b"]),
        helper.make_node("Relu", ["h1b"], ["r1"]),
        helper.make_node("MatMul", ["r1", "w2"], ["h2"]),
        helper.make_node("Reshape", ["h2", "shape2d"], ["h2d"]),
        helper.make_node("Gemm", ["h2d", "w3"], ["y"], transB=1),
        helper.make_node("Reshape", ["x", "shape_b"], ["xb"]),
        helper.make_node("MatMul", ["xb", "wb"], ["z"]),
    ]
    consts = [numpy_helper.from_array(np.array([7, 300], np.int64), "shape2d"),
              numpy_helper.from_array(np.array([7, 1, 37], np.int64), "shape_b")]
    graph = helper.make_graph(
        nodes, "precision_gemms",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 7, 37])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [7, 129]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [7, 1, 21])],
        inits + consts)
    w = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in inits}

    def ref(x):
        x = x.astype(np.float64)
        r1 = np.maximum(x @ w["w1"] + w["b1"], 0)
        y = (r1 @ w["w2"]).reshape(7, 300) @ w["w3"].T
        z = x.reshape(7, 1, 37) @ w["wb"]
        return {"y": y, "z": z}
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), ref


def lookup_model():
    """ids[1, 9] -> Gather from a 1000 x 64 table (an embedding, 256 KB)
    -> MatMul by w[64, 40] -> y[1, 9, 40]."""
    table, w = _weight("table", 1000, 64), _weight("w", 64, 40)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["e"], axis=0),
         helper.make_node("MatMul", ["e", "w"], ["y"])], "precision_lookup",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 9])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 9, 40])], [table, w])
    t, wv = (numpy_helper.to_array(x).astype(np.float64) for x in (table, w))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), \
        (lambda ids: t[ids] @ wv)


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_lookup_tables_are_stored_reduced(precision):
    """An embedding table (no GEMM reads it) is stored in the precision too:
    the weight bytes shrink like the GEMM weights', and lookups give the
    table's values within the precision's error."""
    model, ref = lookup_model()
    data = model.SerializeToString()
    f32, reduced = (tac.compile(data, cpus=["host"], report=True, precision=p,
                                progress=False) for p in ("f32", precision))
    ratio = _weight_bytes(reduced.report) / _weight_bytes(f32.report)
    assert ratio <= (0.55 if precision == "bf16" else 0.3), ratio
    session = tac.InferenceSession(reduced)
    ids = RNG.integers(0, 1000, (1, 9)).astype(np.int64)
    got = session.run(None, {"ids": ids})[0]
    want = ref(ids)
    error = np.abs(got - want).max() / max(1.0, np.abs(want).max())
    assert error <= TOLERANCE[precision], error


def _weight_gemms(report: str) -> str:
    row = next(line for line in report.splitlines() if line.startswith("main "))
    return row.split()[-1]


def _weight_bytes(report: str) -> int:
    return int(re.search(r"weights: (\d+) B", report).group(1))


@pytest.fixture(scope="module")
def gemm_builds(tmp_path_factory):
    model, ref = gemm_model()
    path = str(tmp_path_factory.mktemp("precision") / "gemms.onnx")
    onnx.save(model, path)
    builds = {p: tac.compile(path, cpus=["host"], batch_sizes=[3], report=True,
                             precision=p, progress=False)
              for p in ("f32", "bf16", "int8")}
    return builds, ref


@pytest.mark.parametrize("precision", ["f32", "bf16", "int8"])
def test_outputs_match_float64_products(gemm_builds, precision):
    builds, ref = gemm_builds
    session = tac.InferenceSession(builds[precision])
    for rows in (1, 3, 5):
        x = RNG.uniform(-1, 1, (rows, 7, 37)).astype(np.float32)
        got = session.run(None, {"x": x})
        for name, value in zip(("y", "z"), got):
            want = np.stack([ref(x[r:r + 1])[name] for r in range(rows)])
            want = want.reshape(value.shape)
            error = np.abs(value - want).max() / max(1.0, np.abs(want).max())
            assert error <= TOLERANCE[precision], (precision, rows, name, error)


def test_report_and_weight_bytes(gemm_builds):
    builds, _ = gemm_builds
    # Every GEMM here multiplies by a weight, so all four are in the
    # precision asked for, and the weight section is all GEMM weights
    # (biases aside).
    assert _weight_gemms(builds["f32"].report) == "f32:4"
    assert _weight_gemms(builds["bf16"].report) == "bf16:4"
    assert _weight_gemms(builds["int8"].report) == "int8:4"
    f32, bf16, int8 = (_weight_bytes(builds[p].report) for p in ("f32", "bf16", "int8"))
    assert bf16 <= 0.55 * f32, (bf16, f32)
    assert int8 <= 0.3 * f32, (int8, f32)


def test_errors():
    model, _ = gemm_model()
    data = model.SerializeToString()
    with pytest.raises(tac.CompileError, match="needs tac's own GEMM"):
        tac.compile(data, precision="int8", gemm="blas", progress=False)
    with pytest.raises(tac.CompileError, match="CPU-only"):
        tac.compile(data, precision="bf16", target="cpu,cuda", cuda_ptx_only=True,
                    progress=False)
    with pytest.raises(tac.TacError, match="unknown precision='int4'"):
        tac.compile(data, precision="int4", progress=False)


@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs Debian's dataset-fashion-mnist")
@pytest.mark.parametrize("precision,accuracy_pp", [("bf16", 0.2), ("int8", 0.5)])
def test_bundled_adaptive_model_keeps_its_paths(tmp_path, precision, accuracy_pp):
    """The controller stays f32: every path, and the depth output the
    variants recompute, equal the f32 model's on 1000 test images."""
    files = {}
    for p in ("f32", precision):
        files[p] = str(tmp_path / f"{p}.tacm")
        tac.compile(BUNDLED, files[p], cpus=["host"], precision=p, progress=False)
    r = compare(files["f32"], files[precision], "fmnist", limit=1000)
    assert r["rows"] == 1000
    assert r["path_agreement"] == 1.0
    outputs = {o["name"]: o for o in r["outputs"]}
    assert outputs["depth"]["equal_rows"] == 1.0
    logits = outputs["logits"]
    drop = 100 * (logits["accuracy_reference"] - logits["accuracy_candidate"])
    assert drop <= accuracy_pp, logits
    assert logits["cosine_mean"] > 0.999


def _with_value(model, name: str, index: tuple, value: float) -> bytes:
    """The model with one element of initializer `name` set to `value`."""
    init = next(i for i in model.graph.initializer if i.name == name)
    values = numpy_helper.to_array(init).copy()
    values[index] = value
    init.CopyFrom(numpy_helper.from_array(values, name))
    return model.SerializeToString()


def test_int8_refuses_non_finite_weights():
    """int8 cannot store NaN or infinity: a clear error (bf16 can)."""
    data = _with_value(gemm_model()[0], "w2", (3, 7), np.nan)
    with pytest.raises(tac.CompileError, match="holds a NaN or an infinity"):
        tac.compile(data, precision="int8", progress=False)
    tac.compile(data, precision="bf16", progress=False)
    data = _with_value(lookup_model()[0], "table", (10, 1), np.inf)
    with pytest.raises(tac.CompileError, match="lookup table holds a NaN or an infinity"):
        tac.compile(data, precision="int8", progress=False)


def test_compare_cli_errors(tmp_path, gemm_builds):
    builds, _ = gemm_builds
    f32 = tmp_path / "f32.tacm"
    f32.write_bytes(builds["f32"].data)
    cmd = [sys.executable, "-m", "tac.compare", str(f32), str(tmp_path / "missing.tacm"),
           "--data", "fmnist"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 2 and "missing.tacm" in res.stderr, res.stderr
    cmd[4] = str(f32)
    cmd[6] = str(tmp_path / "nothing.pt")
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 2 and "unknown --data" in res.stderr, res.stderr


# ---- Calibration (tac-compile --calibration; docs/precision.md) ----

OUTLIERS = [5, 40]  # input channels ~100x larger than the rest


def outlier_model():
    """x[1, 16, 64] -> MatMul w1[64, 96] -> Relu -> MatMul w2[96, 48] -> y,
    the shape of a transformer block's activations: a few channels carry
    most of x's range."""
    inits = [_weight("w1", 64, 96), _weight("w2", 96, 48)]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]),
         helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"])], "calibration_outliers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 48])], inits)
    w1, w2 = (numpy_helper.to_array(i).astype(np.float64) for i in inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), \
        (lambda x: np.maximum(x.astype(np.float64) @ w1, 0) @ w2)


def outlier_inputs(rows, rng):
    x = rng.normal(0, 1, (rows, 16, 64)).astype(np.float32)
    x[..., OUTLIERS] *= 100
    return x


def _relative_error(session, ref, x):
    got = session.run(None, {"x": x})[0]
    want = np.stack([ref(x[r:r + 1]) for r in range(len(x))]).reshape(got.shape)
    return np.linalg.norm(got - want) / np.linalg.norm(want)


def test_calibration_moves_outlier_ranges_into_the_weights(capfd):
    """Calibrated on 64 rows, tested on 32 others: the int8 error against
    float64 drops well below the uncalibrated build's (per-row ranges spend
    their 7 bits on the outlier channels), and stays far from f32's."""
    model, ref = outlier_model()
    data = model.SerializeToString()
    rng = np.random.default_rng(11)
    plain = tac.compile(data, cpus=["host"], precision="int8", progress=False)
    capfd.readouterr()
    calibrated = tac.compile(data, cpus=["host"], precision="int8", progress=False,
                             calibration={"x": outlier_inputs(64, rng)})
    assert "activation ranges for 2 of 2 int8 GEMM matrices" in capfd.readouterr().err
    test = outlier_inputs(32, rng)
    e_plain = _relative_error(tac.InferenceSession(plain), ref, test)
    e_cal = _relative_error(tac.InferenceSession(calibrated), ref, test)
    assert e_cal < 0.7 * e_plain, (e_cal, e_plain)  # 0.50 when written
    assert e_cal < 0.02, e_cal


def test_calibration_of_batched_and_stacked_weights(gemm_builds, capfd):
    """Every int8 matrix of gemm_model (a 3-D weight of 7 matrices, a
    transposed Gemm, batch buckets sharing packed copies) gets ranges, and
    the outputs stay within int8's tolerance at every row count."""
    model, ref = gemm_model()
    x = RNG.uniform(-1, 1, (16, 7, 37)).astype(np.float32)
    build = tac.compile(model.SerializeToString(), cpus=["host"], batch_sizes=[3],
                        precision="int8", calibration={"x": x}, progress=False)
    # w1, w2, w3 and wb's 7 matrices: every one reached by the rows
    assert "activation ranges for 10 of 10 int8 GEMM matrices" in capfd.readouterr().err
    session = tac.InferenceSession(build)
    for rows in (1, 3, 5):
        xs = RNG.uniform(-1, 1, (rows, 7, 37)).astype(np.float32)
        for name, value in zip(("y", "z"), session.run(None, {"x": xs})):
            want = np.stack([ref(xs[r:r + 1])[name] for r in range(rows)]).reshape(value.shape)
            error = np.abs(value - want).max() / max(1.0, np.abs(want).max())
            assert error <= TOLERANCE["int8"], (rows, name, error)


def test_calibration_errors():
    model, _ = outlier_model()
    data = model.SerializeToString()
    x = np.zeros((4, 16, 64), np.float32)
    cases = [
        (dict(precision="bf16", calibration={"x": x}), "add --precision=int8"),
        (dict(precision="int8", calibration={"x": x}, target="cpu,cuda"),
         "--calibration is for CPU-only int8 files"),
        (dict(precision="int8", calibration={"y": x}),
         "the model has no input named 'y'; its inputs are: x"),
        (dict(precision="int8", calibration={"x": x[:, :8]}),
         r"input 'x' is float32\[4, 8, 64\], the model takes N rows of "
         r"float32\[1, 16, 64\]"),
        (dict(precision="int8", calibration={"x": x.astype(np.float64)}),
         r"input 'x' is float64\[4, 16, 64\]"),
    ]
    for kwargs, message in cases:
        with pytest.raises(tac.CompileError, match=message):
            tac.compile(data, cpus=["host"], progress=False, **kwargs)
    two = helper.make_model(helper.make_graph(
        [helper.make_node("MatMul", ["a", "w"], ["h"]),
         helper.make_node("Add", ["h", "b"], ["y"])], "two_inputs",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 8]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [_weight("w", 8, 4)]), opset_imports=[helper.make_opsetid("", 17)])
    a, b = np.ones((3, 8), np.float32), np.ones((2, 4), np.float32)
    with pytest.raises(tac.CompileError, match="input 'b' is missing"):
        tac.compile(two.SerializeToString(), precision="int8", calibration={"a": a},
                    progress=False)
    with pytest.raises(tac.CompileError, match="different numbers of rows"):
        tac.compile(two.SerializeToString(), precision="int8",
                    calibration={"a": a, "b": b}, progress=False)


def test_tac_compile_calibration_flag(tmp_path):
    """tac-compile --calibration=NAME=FILE reads .npy files and says how many
    int8 matrices it calibrated; a malformed entry is a clear error."""
    tool = os.path.join(os.path.dirname(tac.__file__), "..", "..", "bin", "tac-compile")
    tool = os.environ.get("TAC_COMPILE", tool)
    if not os.path.exists(tool):
        pytest.skip("tac-compile is not next to this build's package")
    model = tmp_path / "m.onnx"
    onnx.save(outlier_model()[0], str(model))
    npy = tmp_path / "x.npy"
    np.save(npy, outlier_inputs(8, np.random.default_rng(2)))
    res = subprocess.run([tool, str(model), "--precision=int8", f"--calibration=x={npy}",
                          "-o", str(tmp_path / "m.tacm")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "activation ranges for 2 of 2 int8 GEMM matrices" in res.stderr
    res = subprocess.run([tool, str(model), "--precision=int8", f"--calibration={npy}",
                          "-o", str(tmp_path / "m.tacm")], capture_output=True, text=True)
    assert res.returncode == 1 and "write NAME=FILE" in res.stderr, res.stderr
