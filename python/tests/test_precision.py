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
