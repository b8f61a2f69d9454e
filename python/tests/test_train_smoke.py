"""Smoke test of the training recipe: a few hundred images, one short epoch,
export, ONNX Runtime agreement.  Also unit checks of the pieces it uses."""
from __future__ import annotations

import gzip
import json
import os
import struct

import numpy as np
import onnx
import pytest
import torch

from tac.train import flops as fl
from tac.train.baselines import Point, early_exit_depths, ee_accuracy_at, select
from tac.train.data import DEFAULT_DIR, read_idx
from tac.train.export import paths_metadata
from tac.train.model import ViTConfig

HAVE_DATA = os.path.exists(os.path.join(DEFAULT_DIR, "t10k-images-idx3-ubyte.gz"))


# --- unit checks -------------------------------------------------------------

def test_read_idx_roundtrip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(p, "wb") as f:
        f.write(bytes([0, 0, 0x08, 3]) + struct.pack(">III", 2, 3, 4) + arr.tobytes())
    np.testing.assert_array_equal(read_idx(str(p)), arr)


def test_read_idx_rejects_bad_files(tmp_path):
    p = tmp_path / "bad.gz"
    with gzip.open(p, "wb") as f:
        f.write(b"\x01\x02\x08\x01" + struct.pack(">I", 3) + b"abc")
    with pytest.raises(ValueError, match="bad magic"):
        read_idx(str(p))
    q = tmp_path / "short.gz"
    with gzip.open(q, "wb") as f:
        f.write(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 5) + b"abc")
    with pytest.raises(ValueError, match="expected 5 data bytes"):
        read_idx(str(q))


def test_early_exit_picks_first_confident_depth():
    # 2 images, 3 depths, 2 classes
    z = torch.tensor([[[0.0, 0.0], [5.0, 0.0], [9.0, 0.0]],    # confident from depth 2
                      [[0.0, 0.1], [0.0, 0.2], [0.0, 0.3]]])   # never confident -> 3
    assert early_exit_depths(z, 0.9).tolist() == [2, 3]
    assert early_exit_depths(z, 0.4).tolist() == [1, 1]


def test_ee_interpolation_and_selection():
    pts = [Point("a", "early_exit", 0.80, 1.0, [1]), Point("b", "early_exit", 0.90, 3.0, [1])]
    assert ee_accuracy_at(pts, 2.0) == pytest.approx(0.85)
    assert ee_accuracy_at(pts, 0.5) == pytest.approx(0.80)
    assert ee_accuracy_at(pts, 9.0) == pytest.approx(0.90)
    assert select(pts, ref_acc=0.905, max_loss=0.01).name == "b"
    assert select(pts, ref_acc=0.805, max_loss=0.01).name == "a"
    assert select(pts, ref_acc=0.95, max_loss=0.01).name == "b"  # none fits: most accurate
    # a cheaper point that looks fine after a violation is not trusted
    noisy = pts + [Point("c", "policy", 0.899, 0.5, [1])]
    noisy[0] = Point("a", "early_exit", 0.80, 1.0, [1])
    assert select(noisy, ref_acc=0.905, max_loss=0.01).name == "b"


def test_paths_metadata_format():
    paths, values = paths_metadata(depth=4, prefix=1)
    assert json.loads(paths) == [[], [0], [0, 1], [0, 1, 2]]
    assert json.loads(values) == [1, 2, 3, 4]


def test_layer_flops_by_hand():
    c = ViTConfig()  # 17 tokens, width 64, 4 heads, MLP 128
    t, d, m = 17, 64, 128
    mm = 2 * t * d * 3 * d + 2 * 2 * t * t * d + 2 * t * d * d + 2 * 2 * t * d * m
    assert fl.matmul_layer_flops(c) == mm
    assert fl.matmul_layer_flops(c) < fl.layer_flops(c) < 1.1 * mm


# --- the smoke recipe ----------------------------------------------------------

@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    # Missing dependencies fail (not skip): the setup script installs both, and
    # a skipped smoke test would hide a broken recipe.
    assert HAVE_DATA, (f"Fashion-MNIST not found in {DEFAULT_DIR}: "
                       "apt-get install dataset-fashion-mnist")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        pytest.fail("onnxruntime missing: .venv/bin/pip install -r python/requirements.txt")
    from tac.train.recipe import run, smoke_config
    out = tmp_path_factory.mktemp("smoke")
    cfg = smoke_config()
    res = run(cfg, str(out / "models"), str(out / "results.md"), str(out / "pareto.png"),
              log=lambda *a: None)
    return cfg, res, out


def test_smoke_ort_agreement(smoke):
    cfg, res, _ = smoke
    chk = res["ort_check"]
    assert chk["images"] == cfg.check_images
    assert chk["depth_mismatches"] == 0
    assert chk["max_abs_logit_diff"] <= chk["tolerance"]
    assert chk["max_abs_logit_diff_static"] <= chk["tolerance"]
    assert chk["passed"]


def test_smoke_outputs_written(smoke):
    cfg, res, out = smoke
    for f in ("models/fmnist_vit_adaptive.onnx", "models/fmnist_vit_static.onnx",
              "models/fmnist_vit.json", "results.md", "pareto.png"):
        assert (out / f).stat().st_size > 0, f
    with open(out / "models/fmnist_vit.json") as f:
        saved = json.load(f)
    t = saved["test"]
    assert len(t["fixed"]) == cfg.vit.depth
    # The exported static twin, run by ONNX Runtime on the recipe's test
    # split, has the accuracy the recipe recorded (PyTorch at full depth).
    import onnxruntime as ort
    from tac.train.data import load_fashion_mnist
    test = load_fashion_mnist(holdout=cfg.holdout, seed=cfg.seed)[2].take(cfg.test_limit)
    st = ort.InferenceSession(str(out / "models/fmnist_vit_static.onnx"),
                              providers=["CPUExecutionProvider"])
    correct = sum(int(np.argmax(st.run(None, {"image": x[None].numpy()})[0])) == int(y)
                  for x, y in zip(test.images, test.labels))
    assert abs(correct / len(test) - t["static"]["accuracy"]) <= 1.5 / len(test)
    assert sum(t["adaptive_bundled"]["depth_histogram"]) == saved["dataset"]["test"]
    assert len(t["policy"]) == len(cfg.lambdas)
    md = (out / "results.md").read_text()
    assert "ONNX Runtime agreement" in md and "PASSED" in md


def _producers(g: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {o: n for n in g.node for o in n.output}


def test_smoke_adaptive_convention(smoke):
    cfg, res, out = smoke
    m = onnx.load(str(out / "models/fmnist_vit_adaptive.onnx"))
    onnx.checker.check_model(m, full_check=True)
    assert any(o.domain in ("", "ai.onnx") and o.version == 17 for o in m.opset_import)
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["tac.policy_output"] == "depth"
    assert meta["tac.predictor_output"] == "complexity"
    L, P = cfg.vit.depth, cfg.prefix
    paths = json.loads(meta["tac.paths"])
    values = json.loads(meta["tac.path_values"])
    assert values == list(range(P, L + 1)) and len(paths) == len(values)
    g = m.graph
    ifs = [n for n in g.node if n.op_type == "If"]
    assert len(ifs) == L - P
    assert all(0 <= i < len(ifs) for p in paths for i in p)
    prod = _producers(g)
    names = {o.name for o in g.output} | {n for node in g.node for n in node.output}
    assert meta["tac.policy_output"] in names and meta["tac.predictor_output"] in names
    weights = {t.name for t in g.initializer}
    for k, n in enumerate(ifs):
        br = {a.name: a.g for a in n.attribute}
        els, then = br["else_branch"], br["then_branch"]
        # else: the layer input, unchanged
        assert [x.op_type for x in els.node] == ["Identity"]
        layer_in = els.node[0].input[0]
        assert layer_in not in {x.name for x in els.initializer}
        # then: computes the layer from the same input, weights from outer scope
        then_inputs = {i for x in then.node for i in x.input}
        assert layer_in in then_inputs
        assert len(then.initializer) == 0 and then_inputs & weights
        assert sum(x.op_type == "MatMul" for x in then.node) == 6  # qkv, qk, av, proj, fc1, fc2
        # the condition derives from the policy output (depth > layer index)
        seen, stack = set(), [n.input[0]]
        while stack:
            v = stack.pop()
            if v in seen:
                continue
            seen.add(v)
            if v in prod:
                stack.extend(prod[v].input)
        assert "depth" in seen, f"If #{k}: condition does not depend on the policy output"


def test_smoke_ort_independent_run(smoke):
    """Run the bundled-format model directly (not through the recipe's checker)."""
    import onnxruntime as ort
    from tac.train.data import load_split
    cfg, res, out = smoke
    sess = ort.InferenceSession(str(out / "models/fmnist_vit_adaptive.onnx"),
                                providers=["CPUExecutionProvider"])
    st = ort.InferenceSession(str(out / "models/fmnist_vit_static.onnx"),
                              providers=["CPUExecutionProvider"])
    imgs = load_split("t10k").images[:8].numpy()
    for x in imgs:
        logits, depth, comp = sess.run(None, {"image": x[None]})
        assert logits.shape == (1, cfg.vit.classes) and comp.shape == (1, cfg.vit.depth)
        assert depth.shape == () and cfg.prefix <= int(depth) <= cfg.vit.depth
        assert np.all((comp >= 0) & (comp <= 1))
        if int(depth) == cfg.vit.depth:  # full depth: must equal the static twin
            np.testing.assert_allclose(logits, st.run(None, {"image": x[None]})[0], atol=1e-5)


def _matmul_flops(m: onnx.ModelProto) -> int:
    """2*M*K*N summed over the main graph's MatMul/Gemm (shapes from inference)."""
    inf = onnx.shape_inference.infer_shapes(m)
    shapes = {}
    for v in list(inf.graph.value_info) + list(inf.graph.input) + list(inf.graph.output):
        shapes[v.name] = [d.dim_value for d in v.type.tensor_type.shape.dim]
    for t in inf.graph.initializer:
        shapes[t.name] = list(t.dims)
    total = 0
    for n in inf.graph.node:
        if n.op_type in ("MatMul", "Gemm"):
            a, b = shapes[n.input[0]], shapes[n.input[1]]
            if n.op_type == "Gemm":
                b = b[::-1] if any(x.name == "transB" and x.i for x in n.attribute) else b
            total += 2 * int(np.prod(a)) * b[-1]
    return total


def test_smoke_flops_match_static_graph(smoke):
    """The analytic matmul FLOPs agree with a count over the exported graph."""
    cfg, res, out = smoke
    c = cfg.vit
    m = onnx.load(str(out / "models/fmnist_vit_static.onnx"))
    n = c.grid * c.grid
    expect = (2 * n * c.patch * c.patch * c.dim + c.depth * fl.matmul_layer_flops(c)
              + 2 * c.dim * c.classes)
    assert _matmul_flops(m) == expect
    assert res["flops"]["full_depth"] == fl.depth_flops(c, c.depth)
