"""The whole recipe: backbone -> predictor -> RL policy -> baselines -> export
-> ONNX Runtime check -> metrics JSON, results page and Pareto plot."""
from __future__ import annotations

import hashlib
import os
import platform
import time
from dataclasses import asdict, dataclass, field

import onnx
import torch

from . import flops as fl
from .backbone import exit_logits, train_backbone
from .baselines import (Point, correctness, early_exit, ee_accuracy_at, fixed_depths,
                        from_depths, select)
from .check import ort_check
from .controller import confidence_stats, decide, fit_controllers
from .data import load_fashion_mnist
from .export import AdaptiveViT, export_adaptive, export_static
from .model import ViT, ViTConfig


@dataclass
class RecipeConfig:
    preset: str = "full"
    vit: ViTConfig = field(default_factory=ViTConfig)
    epochs: int = 15
    batch: int = 128
    lr: float = 2e-3
    distill: float = 0.5
    shift: int = 0
    prefix: int = 1                 # always-run layers before the controller
    holdout: int = 10000            # backbone never trains on these
    train_limit: int | None = None  # smoke test: use only this many images
    holdout_limit: int | None = None
    test_limit: int | None = None
    pred_hidden: int = 64
    pred_epochs: int = 60
    pol_hidden: int = 32
    pol_epochs: int = 150
    pol_samples: int = 4            # sampled depths per image (leave-one-out baseline)
    lambdas: tuple = (0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04,
                      0.06, 0.1, 0.2)
    folds: int = 4                  # cross-fitting folds for the holdout numbers
    thresholds: tuple = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98,
                         0.99, 0.995, 0.998, 0.999)
    max_loss_pp: float = 0.3        # accuracy budget for the selected operating points
    check_images: int = 10000       # ONNX Runtime agreement check (test images)
    threads: int = 1
    seed: int = 0


def smoke_config() -> RecipeConfig:
    return RecipeConfig(preset="smoke", epochs=1, train_limit=512, holdout=1000,
                        holdout_limit=256, test_limit=256, pred_epochs=5,
                        pol_epochs=5, lambdas=(0.05, 0.2), folds=2,
                        thresholds=(0.5, 0.9), check_images=256)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


@torch.no_grad()
def _features(vit: ViT, images: torch.Tensor, prefix: int, batch: int = 1000):
    """Controller inputs after the prefix: (feat [N, D+C], prefix-exit probs [N, C])."""
    feats, probs = [], []
    for i in range(0, images.shape[0], batch):
        x = vit.tokens(images[i:i + batch])
        for blk in list(vit.blocks)[:prefix]:
            x = blk(x)
        n = vit.norm(x[:, 0])
        p = torch.softmax(vit.head(n), dim=-1)
        feats.append(torch.cat([n, p], dim=-1))
        probs.append(p)
    return torch.cat(feats), torch.cat(probs)


def run(cfg: RecipeConfig, models_dir: str, results_md: str | None,
        plot_png: str | None, backbone_ckpt: str | None = None,
        save_backbone: str | None = None, log=print) -> dict:
    t_start = time.time()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    timings = {}
    c = cfg.vit
    L, P = c.depth, cfg.prefix

    train, hold, test = load_fashion_mnist(holdout=cfg.holdout, seed=cfg.seed)
    train, hold, test = (train.take(cfg.train_limit), hold.take(cfg.holdout_limit),
                         test.take(cfg.test_limit))
    log(f"data: {len(train)} backbone-train, {len(hold)} controller holdout, "
        f"{len(test)} test images")

    # 1. backbone -----------------------------------------------------------
    t = time.time()
    vit = ViT(c)
    if backbone_ckpt and os.path.exists(backbone_ckpt):
        vit.load_state_dict(torch.load(backbone_ckpt))
        log(f"backbone: loaded {backbone_ckpt} (training skipped)")
    else:
        train_backbone(vit, train, cfg.epochs, batch=cfg.batch, lr=cfg.lr,
                       distill=cfg.distill, shift=cfg.shift, seed=cfg.seed, log=log)
        if save_backbone:
            torch.save(vit.state_dict(), save_backbone)
    vit.eval()
    timings["backbone_s"] = time.time() - t

    # 2. cached per-exit behaviour and controller features --------------------
    t = time.time()
    ex_h, ex_t = exit_logits(vit, hold, desc="exits (holdout)"), exit_logits(vit, test, desc="exits (test)")
    cor_h, cor_t = correctness(ex_h, hold.labels), correctness(ex_t, test.labels)
    feat_h, prob_h = _features(vit, hold.images, P)
    feat_t, prob_t = _features(vit, test.images, P)
    timings["features_s"] = time.time() - t
    log("per-depth accuracy (test): " + " ".join(f"{a:.4f}" for a in cor_t.mean(0).tolist()))

    # 3+4. controller: complexity predictor + REINFORCE policies at several lambda
    actions = L - P + 1
    ctrl = fl.controller_flops(c, cfg.pred_hidden, cfg.pol_hidden, actions)
    full = fl.depth_flops(c, L)
    ada_cost = [fl.adaptive_flops(c, d, ctrl) for d in range(1, L + 1)]
    cost = torch.tensor([ada_cost[d - 1] / full for d in range(P, L + 1)], dtype=torch.float32)

    stats_h, stats_t = confidence_stats(prob_h), confidence_stats(prob_t)

    t = time.time()
    # Cross-fitting: the holdout numbers used to *select* lambda come from
    # controllers that never saw those images (k folds), so the policy is
    # selected as fairly as the early-exit threshold (whose holdout numbers
    # are unbiased because the backbone never trained on the holdout).
    predictor, pols, d_cross = fit_controllers(
        feat_h, stats_h, cor_h, cost, cfg.lambdas, P, folds=cfg.folds,
        pred_epochs=cfg.pred_epochs, pred_hidden=cfg.pred_hidden, pol_epochs=cfg.pol_epochs,
        pol_hidden=cfg.pol_hidden, pol_samples=cfg.pol_samples, seed=cfg.seed, log=log)
    policies, pol_h, pol_t = {}, [], []
    for j, (lam, pol) in enumerate(zip(cfg.lambdas, pols)):
        policies[lam] = pol
        name = f"policy lambda={lam:g}"
        pol_h.append(from_depths(name, "policy", d_cross[j], cor_h, ada_cost, lam))
        pol_t.append(from_depths(name, "policy", decide(predictor, pol, feat_t, stats_t, P),
                                 cor_t, ada_cost, lam))
        log(f"{name}: test acc {pol_t[-1].accuracy:.4f}, "
            f"{pol_t[-1].mean_flops / full:.3f} of full FLOPs, mean depth {pol_t[-1].mean_depth:.2f}")
    timings["controller_s"] = time.time() - t

    # 5. baselines --------------------------------------------------------------
    fix_h, fix_t = fixed_depths(c, cor_h), fixed_depths(c, cor_t)
    ee_h = [early_exit(c, ex_h, cor_h, tau) for tau in cfg.thresholds]
    ee_t = [early_exit(c, ex_t, cor_t, tau) for tau in cfg.thresholds]
    # dense threshold sweep: the early-exit curve the policy is compared with,
    # and the thresholds the early-exit operating point is selected from
    dense = sorted(set(cfg.thresholds) | {round(float(x), 4) for x in
                                          torch.linspace(0.3, 0.9995, 141)})
    ee_curve = [early_exit(c, ex_t, cor_t, tau) for tau in dense]
    ee_dense_h = [early_exit(c, ex_h, cor_h, tau) for tau in dense]
    for p in pol_t:
        a = ee_accuracy_at(ee_curve, p.mean_flops)
        p.extra["early_exit_accuracy_at_same_flops"] = a
    static_t = Point("static (full depth)", "static", fix_t[-1].accuracy, float(full),
                     fix_t[-1].histogram, L)

    # 6. selection on the holdout (never on test) -------------------------------
    budget = cfg.max_loss_pp / 100
    ref_h = fix_h[-1].accuracy
    sel_pol = select(pol_h, ref_h, budget)
    sel_ee = select(ee_dense_h, ref_h, budget)
    i_pol, i_ee = pol_h.index(sel_pol), ee_dense_h.index(sel_ee)
    lam_star = cfg.lambdas[i_pol]
    log(f"selected on holdout: policy lambda={lam_star:g}, early exit tau={dense[i_ee]:g}")

    # 7. export + ONNX Runtime check --------------------------------------------
    t = time.time()
    os.makedirs(models_dir, exist_ok=True)
    adaptive = AdaptiveViT(vit, predictor, policies[lam_star], P).eval()
    meta = {"tac.dataset": "fashion-mnist", "tac.train.lambda": f"{lam_star:g}",
            "tac.train.preset": cfg.preset}
    a_proto = export_adaptive(adaptive, meta)
    s_proto = export_static(vit, {"tac.dataset": "fashion-mnist", "tac.train.preset": cfg.preset})
    a_path = os.path.join(models_dir, "fmnist_vit_adaptive.onnx")
    s_path = os.path.join(models_dir, "fmnist_vit_static.onnx")
    onnx.save(a_proto, a_path)
    onnx.save(s_proto, s_path)
    timings["export_s"] = time.time() - t
    t = time.time()
    n_check = min(cfg.check_images, len(test))
    check = ort_check(adaptive, a_proto, s_proto, test.images[:n_check])
    timings["ort_check_s"] = time.time() - t
    log(f"onnxruntime check on {check.images} test images: "
        f"{'PASSED' if check.passed else 'FAILED'} (depth mismatches {check.depth_mismatches}, "
        f"max |logit diff| {check.max_abs_logit_diff:.2e} adaptive, "
        f"{check.max_abs_logit_diff_static:.2e} static)")

    # the bundled adaptive model's metrics on test, from the exported controller
    with torch.no_grad():
        _, d_ref, _ = adaptive.reference(test.images)
    bundled = from_depths("adaptive (bundled, exported)", "policy", d_ref, cor_t, ada_cost, lam_star)
    bundled.extra["early_exit_accuracy_at_same_flops"] = ee_accuracy_at(ee_curve, bundled.mean_flops)
    timings["total_s"] = time.time() - t_start

    res = {
        "preset": cfg.preset,
        "dataset": {"name": "Fashion-MNIST", "source": "/usr/share/datasets/fashion-mnist",
                    "backbone_train": len(train), "holdout": len(hold), "test": len(test)},
        "config": {**{k: v for k, v in asdict(cfg).items() if k != "vit"},
                   "vit": c.to_dict()},
        "flops": {"embed": fl.embed_flops(c), "layer": fl.layer_flops(c),
                  "layer_matmul": fl.matmul_layer_flops(c), "exit": fl.exit_flops(c),
                  "controller": ctrl, "full_depth": full,
                  "per_depth_static": [fl.depth_flops(c, d) for d in range(1, L + 1)],
                  "per_depth_adaptive": ada_cost,
                  "per_depth_early_exit": [fl.early_exit_flops(c, d) for d in range(1, L + 1)]},
        "test": {"static": static_t.to_dict(),
                 "fixed": [p.to_dict() for p in fix_t],
                 "early_exit": [p.to_dict() for p in ee_t],
                 "early_exit_curve": [[p.param, p.accuracy, p.mean_flops] for p in ee_curve],
                 "policy": [p.to_dict() for p in pol_t],
                 "early_exit_selected": ee_curve[i_ee].to_dict(),
                 "policy_selected": pol_t[i_pol].to_dict(),
                 "adaptive_bundled": bundled.to_dict()},
        "holdout": {"note": f"policy numbers are cross-fitted ({cfg.folds} folds)", "fixed": [p.to_dict() for p in fix_h],
                    "early_exit": [p.to_dict() for p in ee_h],
                    "policy": [p.to_dict() for p in pol_h]},
        "selection": {"rule": "walking from the most expensive holdout point to cheaper "
                              "ones, the last point before the first that loses more than "
                              f"{cfg.max_loss_pp} pp against the holdout full-depth accuracy",
                      "policy_lambda": lam_star, "early_exit_tau": dense[i_ee]},
        "ort_check": check.to_dict(),
        "models": {
            "adaptive": {"file": os.path.basename(a_path), "bytes": os.path.getsize(a_path),
                         "sha256": _sha256(a_path), "inputs": {"image": [1, 1, 28, 28]},
                         "outputs": {"logits": [1, c.classes], "depth": [], "complexity": [1, L]},
                         "metadata": {p.key: p.value for p in a_proto.metadata_props}},
            "static": {"file": os.path.basename(s_path), "bytes": os.path.getsize(s_path),
                       "sha256": _sha256(s_path), "inputs": {"image": [1, 1, 28, 28]},
                       "outputs": {"logits": [1, c.classes]}}},
        "environment": {"torch": torch.__version__, "onnx": onnx.__version__,
                        "onnxruntime": _ort_version(), "python": platform.python_version(),
                        "threads": cfg.threads, "cpu_count": os.cpu_count()},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }
    from .report import save_results
    save_results(res, os.path.join(models_dir, "fmnist_vit.json"), plot_png, results_md)
    return res


def _ort_version() -> str:
    try:
        import onnxruntime
        return onnxruntime.__version__
    except ImportError:
        return "missing"
