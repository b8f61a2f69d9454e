"""tac.adapt: make a pretrained encoder adaptive (retrofit). See docs/adapt.md.

    pretrained model ─ Anatomy (layers found structurally) ─ ExitModel (a readout per depth)
        │ 1. readouts distilled from the full-depth model on train (+ unlabeled extras); backbone frozen
        │ 2. per-depth behaviour on val and test, cached (utility of every depth on every input)
        │ 3. complexity predictor + RL policies (tac.train.controller.fit_controllers) on val
        │ 4. operating points selected on val only (policy lambda, early-exit threshold)
        │ 5. export: adaptive ONNX (If-gated), static twin, all-exits model; ONNX Runtime check on test
        │ 6. tac-compile + libtacrt: every reported number measured through tac's runtime
        ▼
    <out>/<name>_adaptive.onnx, .tacm, <name>.json, results page + plot
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass

import numpy as np
import onnx
import torch
from tqdm import tqdm

from tac.train.baselines import Point, early_exit, ee_accuracy_at, fixed_depths, from_depths, select
from tac.train.check import ort_compare
from tac.train.controller import Policy, Predictor, decide, fit_controllers, lambda_grid
from tac.train.export import PREDICTOR_OUTPUT, POLICY_OUTPUT, finish_static, stitch_adaptive, trace_piece
from tac.train.flops import onnx_flops

from .anatomy import AdaptError, Anatomy, call_model
from .data import Dataset, Split
from .exits import (AllExits, Controller, Embed, ExitModel, Layer, Static, StatsScale, Tail,
                    finetune, n_items, take, train_readouts)
from .tasks import Embedding, Task, make_task, retrieval_metrics


@dataclass
class AdaptConfig:
    prefix: int = 1                 # always-run layers before the controller
    readout_epochs: int = 30
    readout_lr: float = 2e-3
    readout_wd: float = 1e-3        # pulls each readout map towards the identity
    readout_samples: int = 20000    # distillation inputs (train + extras), at most
    readout_heads: int = 4          # embedding readouts: attention-pooling heads (0: mean only)
    readout_relational: float = 1.0  # embedding readouts: weight of the ranking (relational) loss
    readout_tau: float = 0.05       # its softmax temperature
    readout_cache_gb: float = 4.0   # memory for the cached token states of the distillation inputs
    finetune_epochs: int = 0        # > 0: light fine-tuning of the backbone (opt-in)
    finetune_lr: float = 1e-5
    shared_head: bool = False       # the model's head at every depth, no readout maps
    lambdas: tuple | None = None    # None: tac.train.controller.lambda_grid around break-even
    folds: int = 4
    controller_data: str = "val"    # "train+val": also train the controller on train inputs
    index_features: bool = True     # retrieval: controller and early exit see the document index
    pred_hidden: int = 64
    pred_epochs: int = 60
    pol_hidden: int = 32
    pol_epochs: int = 150
    pol_samples: int = 4
    scale_stats: bool | None = None  # standardise the policy's extra statistics (exits.StatsScale);
                                     # None: the task's default (Task.scale_stats)
    budget_pp: float = 0.3          # classification: max accuracy loss, percentage points
    budget_rel: float = 0.01        # embedding: max relative loss of the metric
    ee_thresholds: int = 150        # dense early-exit sweep (quantiles of val confidence)
    train_limit: int | None = None
    val_limit: int | None = None
    test_limit: int | None = None
    batch: int = 64
    threads: int = 1
    seed: int = 0
    tac: bool = True                # compile and measure through tac's runtime


def _np(x: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in x.items()}


def _cat_inputs(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor] | None):
    if not b:
        return a
    if set(a) != set(b):
        raise AdaptError(f"extra distillation inputs {sorted(b)} differ from the model inputs "
                         f"{sorted(a)}")
    return {k: torch.cat([a[k], b[k]]) for k in a}


def check_vocab(model: torch.nn.Module, example: dict[str, torch.Tensor],
                splits: list[dict[str, torch.Tensor]]) -> None:
    """Token ids must fit the embedding table they index (a tokenizer that
    does not belong to the model is the usual cause). Which table reads which
    input is found by a probe run with every integer input set to 0."""
    ints = {k: v for k, v in example.items() if v.dtype in (torch.int64, torch.int32)}
    if not ints:
        return
    probe = {k: (torch.zeros_like(v) if k in ints else v) for k, v in example.items()}
    seen: dict[str, int] = {}
    hooks = []
    for m in model.modules():
        if isinstance(m, torch.nn.Embedding):
            def pre(mod, args, _m=m):
                for k, v in probe.items():
                    if args and args[0] is v:
                        seen[k] = min(seen.get(k, 1 << 62), _m.num_embeddings)
            hooks.append(m.register_forward_pre_hook(pre))
    try:
        with torch.no_grad():
            call_model(model, probe)
    except Exception:
        return  # the anatomy probe reports models that do not run
    finally:
        for h in hooks:
            h.remove()
    for k, vocab in seen.items():
        for s in splits:
            v = s.get(k)
            if v is None or not v.numel():
                continue
            top, low = int(v.max()), int(v.min())
            if top >= vocab or low < 0:
                raise AdaptError(
                    f"input '{k}' has token ids {low}..{top}, but the model's embedding for it "
                    f"has {vocab} entries: the tokenizer does not match this model. Pass the "
                    "tokenizer (vocab.txt) that came with the model")


def _points_for(util: torch.Tensor, conf: torch.Tensor, costs: dict, taus, decisions: dict,
                lam_names=True) -> dict:
    """Every fixed depth, early exit at every threshold, every policy."""
    L = util.shape[1]
    fixed = fixed_depths(costs["fixed"], util)
    ee = [early_exit(costs["early_exit"], None, util, float(t), conf) for t in taus]
    pol = [from_depths(f"policy lambda={lam:g}", "policy", d, util, costs["adaptive"], lam)
           for lam, d in decisions.items()]
    return {"fixed": fixed, "early_exit": ee, "policy": pol, "L": L}


@torch.no_grad()
def _batched(fn, inputs, reads, batch=512):
    outs = []
    for i in range(0, reads.shape[0], batch):
        outs.append(fn(take(inputs, slice(i, i + batch)), reads[i:i + batch]))
    return [torch.cat([o[j] for o in outs]) for j in range(len(outs[0]))]


def adapt(model: torch.nn.Module, data: Dataset, task: Task | None = None,
          out_dir: str = "adapt-out", name: str | None = None, cfg: AdaptConfig | None = None,
          results_md: str | None = None, plot_png: str | None = None, layers: str | None = None,
          command: str | None = None, compare: str | None = None, log=print) -> dict:
    """Makes ``model`` adaptive on ``data``; writes the models and metrics to
    ``out_dir`` and returns the metrics (see docs/adapt.md)."""
    cfg = cfg or AdaptConfig()
    t_start = time.time()
    timings = {}
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    if not isinstance(data, Dataset):
        raise AdaptError(f"data must be a tac.adapt Dataset, got {type(data).__name__}")
    data.check(min_val=max(2 * cfg.folds, 8))
    task = task or make_task(data.task, data.classes)
    name = name or data.name
    os.makedirs(out_dir, exist_ok=True)
    train, val, test = (data.train.take(cfg.train_limit), data.val.take(cfg.val_limit),
                        data.test.take(cfg.test_limit))
    if train.inputs.keys() != val.inputs.keys() or val.inputs.keys() != test.inputs.keys():
        raise AdaptError("the splits have different inputs")
    names = list(test.inputs)
    example = take(train.inputs, slice(0, 2))
    check_vocab(model, example, [train.inputs, val.inputs, test.inputs] +
                ([val.docs, test.docs] if val.docs else []))
    anat = Anatomy(model, example, layers)
    with torch.no_grad():
        task.check_output(call_model(model, example), train.labels)
    L, P = anat.depth, cfg.prefix
    if not 1 <= P < L:
        raise AdaptError(f"prefix={P}: needs 1 <= prefix < {L} (the model has {L} layers)")
    em = ExitModel(anat, task, example, shared_head=cfg.shared_head, heads=cfg.readout_heads)
    log(f"model: {anat.describe()}; task: {task.kind}; readout on "
        f"{ {'token0': 'the first token', 'all': 'every token', 'pooled': 'the pooled state'}[em.mode] }"
        + (f" + {em.heads}-head attention pooling" if em.heads else ""))
    log(f"data: {data.description}")

    # 1. exit readouts -------------------------------------------------------
    t = time.time()
    dist = _cat_inputs(train.inputs, data.extra)
    if n_items(dist) > cfg.readout_samples:
        dist = take(dist, torch.randperm(n_items(dist), generator=torch.Generator().manual_seed(
            cfg.seed))[:cfg.readout_samples])
    if cfg.finetune_epochs > 0:
        with torch.no_grad():
            teach = torch.cat([em.full_output(take(dist, slice(i, i + cfg.batch)))
                               for i in range(0, n_items(dist), cfg.batch)])
        finetune(em, dist, teach, cfg.finetune_epochs, lr=cfg.finetune_lr, seed=cfg.seed, log=log)
    half = em.mode == "pooled"   # token states: stored as float16 (half the memory)
    if half:
        need = em.read_bytes(n_items(dist), example, L - 1)
        cap = int(cfg.readout_cache_gb * 2 ** 30)
        if need > cap:
            keep = max(1, n_items(dist) * cap // need)
            log(f"exit readouts: the token states of {n_items(dist)} distillation inputs need "
                f"{need / 2 ** 30:.1f} GiB (readout_cache_gb={cfg.readout_cache_gb:g}); using {keep}")
            dist = take(dist, slice(0, keep))
    reads_d, teach_d = em.collect(dist, cfg.batch, "hidden states (train)", depths=L - 1,
                                  dtype=torch.float16 if half else None)
    train_readouts(em, dist, reads_d, teach_d, epochs=cfg.readout_epochs, lr=cfg.readout_lr,
                   weight_decay=cfg.readout_wd, relational=cfg.readout_relational,
                   tau=cfg.readout_tau, seed=cfg.seed, log=log)
    del reads_d
    timings["readouts_s"] = time.time() - t

    # 2. cached behaviour on val and test -------------------------------------
    t = time.time()
    reads_v, full_v = em.collect(val.inputs, cfg.batch, "hidden states (val)")
    reads_t, full_t = em.collect(test.inputs, cfg.batch, "hidden states (test)")
    ex_v, ex_t = em.exits(val.inputs, reads_v), em.exits(test.inputs, reads_t)
    ref_v = ref_t = None
    use_index = cfg.index_features and isinstance(task, Embedding)
    if val.docs is not None:
        ref_v = (_embed_docs(em, val.docs, cfg.batch, "documents (val)"), val.right)
        ref_t = (_embed_docs(em, test.docs, cfg.batch, "documents (test)"), test.right)
    ctl = lambda x, r: em.controller_inputs(x, r[:, P - 1], P - 1)  # noqa: E731

    def behaviour(split: Split, reads, ex, ref):
        """utility, early-exit confidence, controller inputs of one split
        (against the split's own document index for retrieval)."""
        if use_index and ref is not None:
            task.index = ref[0]
        util = task.utility(ex, split.labels, ref)
        conf = task.confidence(ex)
        feat, stats = _batched(ctl, split.inputs, reads)
        return util, conf, feat, stats

    util_v, conf_v, feat_v, stats_v = behaviour(val, reads_v, ex_v, ref_v)
    if cfg.controller_data == "train+val":
        reads_r, _ = em.collect(train.inputs, cfg.batch, "hidden states (train queries)")
        ex_r = em.exits(train.inputs, reads_r)
        ref_r = ((_embed_docs(em, train.docs, cfg.batch, "documents (train)"), train.right)
                 if train.docs is not None else None)
        util_r, _, feat_r, stats_r = behaviour(train, reads_r, ex_r, ref_r)
        del reads_r, ex_r
    elif cfg.controller_data != "val":
        raise AdaptError(f"controller_data={cfg.controller_data!r}: use 'val' or 'train+val'")
    # the test split's index stays set: the exported model serves that collection
    util_t, conf_t, feat_t, stats_t = behaviour(test, reads_t, ex_t, ref_t)
    timings["features_s"] = time.time() - t
    log(f"per-depth {task.metric} (val, PyTorch): " + " ".join(f"{a:.4f}" for a in util_v.mean(0).tolist()))

    # 3. costs for the reward: FLOPs of the exported pieces ---------------------
    x1 = take(test.inputs, slice(0, 1))
    args1 = tuple(x1[k] for k in names)
    dummy_pred = Predictor(feat_v.shape[1], L, cfg.pred_hidden)
    dummy_pol = Policy(L + stats_v.shape[1], L - P + 1, cfg.pol_hidden)
    scale_stats = task.scale_stats if cfg.scale_stats is None else cfg.scale_stats
    pieces = _pieces(em, names, args1, P, dummy_pred.eval(), dummy_pol.eval(),
                     StatsScale(stats_v) if scale_stats else None)
    costs = _onnx_costs(em, pieces, P)
    full_cost = costs["static"]
    rel = torch.tensor([costs["adaptive"][d - 1] / full_cost for d in range(P, L + 1)],
                       dtype=torch.float32)

    # 4. controller on val (cross-fitted), policies at several lambda ------------
    t = time.time()
    if cfg.controller_data == "train+val":
        # cross-fitted over train and val together; selection reads the val part
        c_feat, c_stats = torch.cat([feat_r, feat_v]), torch.cat([stats_r, stats_v])
        c_util, n_r = torch.cat([util_r, util_v]), len(util_r)
    else:
        c_feat, c_stats, c_util, n_r = feat_v, stats_v, util_v, 0
    lambdas = tuple(cfg.lambdas) if cfg.lambdas else lambda_grid(c_util, rel, P)
    log("lambdas: " + ", ".join(f"{x:g}" for x in lambdas))
    # the policy's statistics standardised over the controller's training
    # inputs (the exported controller applies the same constants)
    scale = StatsScale(c_stats) if scale_stats else None
    sc = scale if scale is not None else (lambda s: s)
    predictor, policies, cross = fit_controllers(
        c_feat, sc(c_stats), c_util, rel, lambdas, P, folds=cfg.folds, pred_epochs=cfg.pred_epochs,
        pred_hidden=cfg.pred_hidden, pol_epochs=cfg.pol_epochs, pol_hidden=cfg.pol_hidden,
        pol_samples=cfg.pol_samples, seed=cfg.seed, log=log)
    dec_v = {lam: cross[j, n_r:] for j, lam in enumerate(lambdas)}
    dec_t = {lam: decide(predictor, pol, feat_t, sc(stats_t), P)
             for lam, pol in zip(lambdas, policies)}
    timings["controller_s"] = time.time() - t
    torch.save({"utility_val": util_v, "utility_test": util_t, "feat_val": feat_v,
                "stats_val": stats_v, "feat_test": feat_t, "stats_test": stats_t,
                "confidence_val": conf_v, "confidence_test": conf_t, "cost": rel},
               os.path.join(out_dir, f"{name}_behaviour.pt"))

    # 5. selection on val only -------------------------------------------------
    levels = torch.linspace(0, 1, cfg.ee_thresholds)
    taus = sorted(set(torch.quantile(conf_v[:, :-1].reshape(-1).float(), levels).tolist()) | {1.01})
    pv = _points_for(util_v, conf_v, costs, taus, dec_v)
    ref_val = pv["fixed"][-1].accuracy
    max_loss = (cfg.budget_pp / 100 if task.kind == "classification" else cfg.budget_rel * ref_val)
    sel_pol = select(pv["policy"], ref_val, max_loss)
    sel_ee = select(pv["early_exit"], ref_val, max_loss)
    i_pol = pv["policy"].index(sel_pol)
    lam_star = lambdas[i_pol]
    tau_star = sel_ee.param
    log(f"selected on val: policy lambda={lam_star:g} ({task.metric} {sel_pol.accuracy:.4f} vs "
        f"{ref_val:.4f} full, {100 * (1 - sel_pol.mean_flops / full_cost):.1f}% fewer FLOPs); "
        f"early exit tau={tau_star:.4g}")

    # 6. export + ONNX Runtime check on the whole test split -------------------
    t = time.time()
    # only the controller changed since the pieces were traced for the costs
    pieces = {**pieces, "controller": _controller_piece(em, names, args1, P, predictor,
                                                        policies[i_pol], scale)}
    meta = {"tac.model": f"{name}_adaptive", "tac.dataset": data.name,
            "tac.adapt.lambda": f"{lam_star:g}", "tac.adapt.task": task.kind}
    weights = {k: v.detach().numpy() for k, v in em.state_dict().items()}
    a_proto = stitch_adaptive(pieces["embed"], pieces["layers"], pieces["controller"],
                              pieces["tail"], anat.n_ctx, P,
                              task.output_name, meta,
                              f"{name}: adaptive-depth retrofit by tac.adapt (If-gated layers, "
                              "controller = complexity predictor + RL policy)", weights)
    s_proto = finish_static(pieces["static"], {"tac.model": f"{name}_static", "tac.dataset": data.name},
                            f"{name}: the pretrained model, every layer (static twin)", weights)
    e_proto = finish_static(pieces["exits"], {"tac.model": f"{name}_exits"},
                            f"{name}: every exit of every depth (measurement model)", weights)
    files = {k: os.path.join(out_dir, f"{name}_{k}.onnx") for k in ("adaptive", "static", "exits")}
    for k, p in zip(("adaptive", "static", "exits"), (a_proto, s_proto, e_proto)):
        onnx.save(p, files[k])
    if ref_t is not None:
        d1 = take(test.docs, slice(0, 1))
        dproto = finish_static(trace_piece(Static(em, list(d1)), tuple(d1.values()), list(d1),
                                           [task.output_name]),
                               {"tac.model": f"{name}_docs"},
                               f"{name}: document encoder (full depth)", weights)
        files["docs"] = os.path.join(out_dir, f"{name}_docs.onnx")
        onnx.save(dproto, files["docs"])
    timings["export_s"] = time.time() - t

    t = time.time()
    d_ref = dec_t[lam_star]
    out_ref = ex_t[torch.arange(len(d_ref)), d_ref - 1]
    with torch.no_grad():
        pred_ref = predictor(feat_t)
    check = ort_compare(a_proto, s_proto, _np(test.inputs), task.output_name, out_ref.numpy(),
                        d_ref.numpy(), pred_ref.numpy(), full_t.numpy(), tolerance=1e-4)
    timings["ort_check_s"] = time.time() - t
    log(f"onnxruntime check on all {check.images} test inputs: "
        f"{'PASSED' if check.passed else 'FAILED'} (depth mismatches {check.depth_mismatches}, "
        f"max |output diff| {check.max_abs_logit_diff:.2e} adaptive, "
        f"{check.max_abs_logit_diff_static:.2e} static, predictor {check.max_abs_predictor_diff:.2e})")

    # 7. tac: compile, run, measure ---------------------------------------------
    measured = None
    if cfg.tac:
        t = time.time()
        measured = _measure_tac(cfg, files, test, task, L, P, _map_flops(em))
        timings["tac_s"] = time.time() - t
        costs_t = measured["costs"]
        util_tt = task.utility(measured["exits"], test.labels,
                               (measured["docs"], test.right) if ref_t is not None else None)
        conf_tt = measured["conf"]
        src = "tac"
    else:
        costs_t, util_tt, conf_tt, src = costs, util_t, conf_t, "pytorch"
    pt = _points_for(util_tt, conf_tt, costs_t, taus, dec_t)
    full_q = pt["fixed"][-1].accuracy
    ee_sel_t = next(p for p in pt["early_exit"] if p.param == tau_star)
    for p in pt["policy"]:
        p.extra["early_exit_at_same_flops"] = ee_accuracy_at(pt["early_exit"], p.mean_flops)
    if measured is not None:
        dep = torch.tensor(measured["adaptive_depth"])
        outs = torch.from_numpy(measured["adaptive_out"])
        q = _quality(task, outs, test, measured)
        hist = torch.bincount(dep - 1, minlength=L)[:L].tolist()
        deployed = Point(f"adaptive model (lambda={lam_star:g}), run by libtacrt", "policy", q,
                         float(np.mean(measured["adaptive_flops"])), hist, lam_star)
        deployed.extra["depth_mismatches_vs_onnxruntime"] = int((dep != d_ref).sum())
        deployed.extra["max_abs_output_diff_vs_pytorch"] = float((outs - out_ref).abs().max())
    else:
        deployed = from_depths(f"adaptive model (lambda={lam_star:g}), PyTorch", "policy", d_ref,
                               util_t, costs["adaptive"], lam_star)
    deployed.extra["early_exit_at_same_flops"] = ee_accuracy_at(pt["early_exit"], deployed.mean_flops)
    timings["total_s"] = time.time() - t_start

    retrieval = None
    if ref_t is not None:
        docs = measured["docs"] if measured is not None else ref_t[0]
        full_q_emb = (measured["static_out"] if measured is not None else full_t)
        ada = torch.from_numpy(measured["adaptive_out"]) if measured is not None else out_ref
        ex_src = measured["exits"] if measured is not None else ex_t
        retrieval = {"full": retrieval_metrics(full_q_emb, docs, test.right, full_q_emb),
                     "adaptive": retrieval_metrics(ada, docs, test.right, full_q_emb),
                     "fixed": [retrieval_metrics(ex_src[:, d], docs, test.right, full_q_emb)
                               for d in range(L)]}

    res = {
        "name": name, "command": command or "tac.adapt.adapt(...) (Python API)", "task": task.kind, "metric": task.metric, "measured_by": src,
        "model": anat.describe(), "readout": em.mode,
        "dataset": {"name": data.name, "description": data.description,
                    "train": len(train), "val": len(val), "test": len(test),
                    "distillation_inputs": n_items(dist), **data.info},
        "config": {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
                   "lambdas": list(lambdas), "scale_stats": bool(scale_stats)},
        "budget": {"max_loss": max_loss, "kind": "pp" if task.kind == "classification" else "relative",
                   "value": cfg.budget_pp if task.kind == "classification" else cfg.budget_rel},
        "flops": {"full_depth": costs_t["static"], "per_depth_fixed": costs_t["fixed"],
                  "per_depth_adaptive": costs_t["adaptive"], "per_depth_early_exit": costs_t["early_exit"],
                  "controller": costs_t.get("controller"), "source": costs_t["source"],
                  "onnx_count": {k: costs[k] for k in ("static", "fixed", "adaptive", "early_exit")}},
        "test": {"static": pt["fixed"][-1].to_dict(),
                 "fixed": [p.to_dict() for p in pt["fixed"]],
                 "early_exit": [p.to_dict() for p in _coarse(pt["early_exit"])],
                 "early_exit_curve": [[p.param, p.accuracy, p.mean_flops] for p in pt["early_exit"]],
                 "policy": [p.to_dict() for p in pt["policy"]],
                 "early_exit_selected": ee_sel_t.to_dict(),
                 "policy_selected": pt["policy"][i_pol].to_dict(),
                 "adaptive_deployed": deployed.to_dict(),
                 "full_quality": full_q, "retrieval": retrieval},
        "val": {"note": f"policy numbers cross-fitted ({cfg.folds} folds)",
                "fixed": [p.to_dict() for p in pv["fixed"]],
                "policy": [p.to_dict() for p in pv["policy"]],
                "early_exit_selected": sel_ee.to_dict()},
        "selection": {"policy_lambda": lam_star, "early_exit_tau": tau_star,
                      "rule": "walking from the most expensive val point to cheaper ones, the last "
                              "point before the first that loses more than the budget against the "
                              "val full-depth quality"},
        "ort_check": check.to_dict(),
        "tac": ({k: v for k, v in measured.items() if k in ("compile_s", "agreement", "files")}
                if measured is not None else None),
        "files": {k: os.path.basename(v) for k, v in files.items()},
        "environment": {"torch": torch.__version__, "onnx": onnx.__version__,
                        "python": platform.python_version(), "threads": cfg.threads,
                        "cpu_count": os.cpu_count()},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }
    if compare:
        try:
            with open(compare) as f:
                other = json.load(f)
            res["compare"] = {"file": compare, "test": {k: other["test"][k] for k in (
                "static", "adaptive_bundled", "early_exit_selected") if k in other["test"]},
                "flops": {"full_depth": other["flops"]["full_depth"]},
                "config": {"epochs": other["config"].get("epochs"),
                           "max_loss_pp": other["config"].get("max_loss_pp")}}
        except (OSError, KeyError, ValueError) as e:
            raise AdaptError(f"--compare {compare}: not a tac.train metrics file ({e})") from None
    from tac.train.report import save_results

    from .report import markdown, plot
    save_results(res, os.path.join(out_dir, f"{name}.json"), plot_png, results_md, plot, markdown)
    return res


def _coarse(points: list[Point], n: int = 12) -> list[Point]:
    if len(points) <= n:
        return points
    idx = sorted(set(int(round(i)) for i in np.linspace(0, len(points) - 1, n)))
    return [points[i] for i in idx]


def _quality(task: Task, outs: torch.Tensor, test: Split, measured) -> float:
    if isinstance(task, Embedding):
        ref = (measured["docs"], test.right) if test.right is not None else None
        return task.quality(outs, test.labels, ref) if ref is not None else float(
            task.utility(torch.stack([outs, measured["static_out"]], 1), None)[:, 0].mean())
    return task.quality(outs, test.labels, measured["static_out"])


@torch.no_grad()
def _embed_docs(em: ExitModel, docs, batch: int, desc: str) -> torch.Tensor:
    n = n_items(docs)
    return torch.cat([em.full_output(take(docs, slice(i, i + batch)))
                      for i in tqdm(range(0, n, batch), desc=desc, unit="batch", leave=False,
                                    dynamic_ncols=True, mininterval=1.0)])


def _pieces(em: ExitModel, names, args1, P, predictor, policy, scale=None) -> dict:
    """The traced ONNX pieces: embedding, every layer, controller, readout
    tail, the static twin and the all-exits model."""
    A, L = em.anatomy, em.depth
    x1 = dict(zip(names, args1))
    with torch.no_grad():
        h, ctx = A.embed(x1)
        for i in range(P):
            h = A.layer(i, h, ctx)
    ctx_names = [f"ctx{j}" for j in range(len(ctx))]
    embed = trace_piece(Embed(em, names), args1, names, ["h", *ctx_names])
    layers = [trace_piece(Layer(em, i), (h, *ctx), ["h", *ctx_names], ["h_out"]) for i in range(L)]
    ctrl = _controller_piece(em, names, args1, P, predictor, policy, scale, h)
    tail = trace_piece(Tail(em, names), (*args1, h, torch.tensor(L)), [*names, "h", "depth"],
                       ["out"])
    static = trace_piece(Static(em, names), args1, names, [em.task.output_name])
    exits = trace_piece(AllExits(em, names), args1, names, ["exits", "confidence"])
    return {"embed": embed, "layers": layers, "controller": ctrl, "tail": tail,
            "static": static, "exits": exits}


def _controller_piece(em: ExitModel, names, args1, P, predictor, policy, scale=None, h=None):
    if h is None:
        A, x1 = em.anatomy, dict(zip(names, args1))
        with torch.no_grad():
            h, ctx = A.embed(x1)
            for i in range(P):
                h = A.layer(i, h, ctx)
    return trace_piece(Controller(em, names, P, predictor, policy, scale), (*args1, h),
                       [*names, "h"], [PREDICTOR_OUTPUT, POLICY_OUTPUT])


def _onnx_costs(em: ExitModel, pieces: dict, P: int) -> dict:
    """Per-depth FLOPs from the pieces (tac.train.flops.onnx_flops); replaced
    by tac's own numbers once the models are compiled."""
    L = em.depth
    layer = [onnx_flops(p) for p in pieces["layers"]]
    front = onnx_flops(pieces["embed"]) + sum(layer[:P]) + onnx_flops(pieces["controller"])
    tail = onnx_flops(pieces["tail"])
    static = onnx_flops(pieces["static"])
    exits = onnx_flops(pieces["exits"])
    per_layer = sum(layer) / max(1, len(layer))
    ada = []
    for d in range(1, L + 1):
        k = max(d, P)
        ada.append(front + sum(layer[P:k]) + tail)
    return _derive(static, per_layer, exits, ada, L, _map_flops(em),
                   "ONNX graph count (tac.train.flops.onnx_flops)")


def _map_flops(em: ExitModel) -> int:
    """FLOPs of one readout beyond what the static model computes (added to
    fixed depths): the map, and for embeddings the attention pooling
    (LayerNorm ~8·T·H, scores 2·T·H·k, softmax ~5·T·k, weighted sums
    2·k·T·H, its map 2·k·H·H + H)."""
    if em.shared_head:
        return 0
    H = em.width
    rows = 1 if em.mode in ("token0", "pooled") else em.anatomy.hidden_shape[1]
    f = 2 * rows * H * H + rows * H
    if em.heads:
        T, k = em.anatomy.hidden_shape[-2], em.heads
        f += 8 * T * H + 2 * T * H * k + 5 * T * k + 2 * k * T * H + 2 * k * H * H + H
    return f


def _derive(static, per_layer, exits, ada, L, map_flops, source, controller=None) -> dict:
    check = (exits - static) / max(1, L - 1)
    fixed = [int(round(static - (L - d) * per_layer + (map_flops if d < L else 0)))
             for d in range(1, L + 1)]
    ee = [int(round(fixed[d - 1] + (d - 1) * check)) for d in range(1, L + 1)]
    return {"static": int(static), "fixed": fixed, "adaptive": [int(a) for a in ada],
            "early_exit": ee, "exit_check": check, "layer": per_layer, "source": source,
            "controller": controller}


def _measure_tac(cfg: AdaptConfig, files: dict, test: Split, task: Task, L, P,
                 map_flops: int) -> dict:
    from .tacrt import Runner, compile_model
    tacm = {k: v[:-5] + ".tacm" for k, v in files.items()}
    compile_s = {}
    for k in files:
        compile_s[k], _ = compile_model(files[k], tacm[k])
    feeds = _np(test.inputs)
    run = {k: Runner(tacm[k]) for k in files}
    # the pretrained model and every exit, through libtacrt
    so, si = run["static"].run_all(feeds, "libtacrt: static twin (test)")
    eo, ei = run["exits"].run_all(feeds, "libtacrt: all exits (test)")
    ao, ai = run["adaptive"].run_all(feeds, "libtacrt: adaptive model (test)")
    out_name = task.output_name
    static_out = np.concatenate([o[out_name] for o in so])
    exits = torch.from_numpy(np.stack([o["exits"] for o in eo])).float()
    conf = torch.from_numpy(np.stack([o["confidence"] for o in eo])).float()
    # per-path cost of the adaptive model (controller + variant), forced paths
    x1 = {k: v[:1] for k, v in feeds.items()}
    ada_path = []
    for k in range(L - P + 1):
        _, info = run["adaptive"].run(x1, path=k)
        ada_path.append(int(info["flops"]))
    ada = [ada_path[max(d, P) - P] for d in range(1, L + 1)]
    static = int(si[0]["flops"])
    exits_f = int(ei[0]["flops"])
    per_layer = (ada[-1] - ada[P - 1]) / max(1, L - P)
    ctrl = int(ai[0]["controller_flops"])
    costs = _derive(static, per_layer, exits_f, ada, L, map_flops,
                    "tac's cost model (libtacrt RunInfo.flops)", controller=ctrl)
    docs = None
    if "docs" in files:
        d_feeds = _np(test.docs)
        do, _ = run["docs"].run_all(d_feeds, "libtacrt: documents (test)")
        docs = torch.from_numpy(np.concatenate([o[out_name] for o in do])).float()
    adaptive_out = np.concatenate([o[out_name] for o in ao])
    adaptive_depth = [int(np.asarray(o[POLICY_OUTPUT]).reshape(-1)[0]) for o in ao]
    return {"costs": costs, "exits": exits, "conf": conf, "docs": docs,
            "static_out": torch.from_numpy(static_out).float(),
            "adaptive_out": adaptive_out, "adaptive_depth": adaptive_depth,
            "adaptive_flops": [int(i["flops"]) for i in ai],
            "compile_s": {k: round(v, 1) for k, v in compile_s.items()},
            "files": {k: os.path.basename(v) for k, v in tacm.items()},
            "agreement": {"paths_run": sorted({int(i["path"]) for i in ai})}}
