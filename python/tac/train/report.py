"""docs/results.md and the Pareto plot, written from the recipe's metrics."""
from __future__ import annotations

import os


def _mf(x: float) -> str:
    return f"{x / 1e6:.3f}"


def pareto_plot(res: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = res["test"]
    full = res["flops"]["full_depth"]
    metric = res.get("metric", "accuracy")
    b = t.get("adaptive_bundled") or t["adaptive_deployed"]
    budget = res.get("budget_line", res["config"].get("max_loss_pp"))
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    fx = [p["mean_flops"] / 1e6 for p in t["fixed"]]
    fy = [100 * p["accuracy"] for p in t["fixed"]]
    ax.plot(fx, fy, "o-", color="tab:gray", label="fixed depth 1..L")
    for p, x, y in zip(t["fixed"], fx, fy):
        ax.annotate(str(p["param"]), (x, y), textcoords="offset points", xytext=(4, -10),
                    fontsize=7, color="tab:gray")
    ee = sorted(t["early_exit"], key=lambda p: p["mean_flops"])
    ax.plot([p["mean_flops"] / 1e6 for p in ee], [100 * p["accuracy"] for p in ee],
            "s--", color="tab:blue", ms=4, label="confidence early exit (threshold sweep)")
    pol = sorted(t["policy"], key=lambda p: p["mean_flops"])
    ax.plot([p["mean_flops"] / 1e6 for p in pol], [100 * p["accuracy"] for p in pol],
            "^-", color="tab:red", ms=6, label="predictor + RL policy (lambda sweep)")
    ax.plot([b["mean_flops"] / 1e6], [100 * b["accuracy"]], "*", color="tab:red", ms=16,
            markeredgecolor="k", label=res.get("bundled_label",
                                               f"bundled adaptive model (lambda={b['param']:g})"))
    e = t["early_exit_selected"]
    ax.plot([e["mean_flops"] / 1e6], [100 * e["accuracy"]], "D", color="tab:blue", ms=8,
            markeredgecolor="k", label=f"early exit selected (tau={e['param']:g})")
    s = t["static"]
    ax.axhline(100 * s["accuracy"] - budget, color="k", lw=0.8, ls=":",
               label=res.get("budget_label", f"full depth - {budget} pp"))
    keep = 1 - res.get("target_saving", 0.5)
    ax.axvline(keep * full / 1e6, color="k", lw=0.8, ls="-.",
               label=f"{100 * keep:.0f}% of full-depth FLOPs")
    lo = min(fy[len(fy) // 2 - 1], 100 * min(p["accuracy"] for p in pol)) - 0.5
    ax.set_ylim(max(lo, min(fy) - 0.5), max(fy + [100 * p["accuracy"] for p in pol + ee]) + 0.4)
    ax.set_xlabel(res.get("xlabel", "mean MFLOPs per image (test)"))
    ax.set_ylabel(f"test {metric} (%)")
    ax.set_title(res.get("title", "Fashion-MNIST ViT: accuracy vs mean FLOPs"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def ort_line(chk: dict, what: str) -> str:
    """The ONNX Runtime agreement bullet of a results page."""
    return (f"- ONNX Runtime agreement on {what}: "
            f"**{'PASSED' if chk['passed'] else 'FAILED'}** — depth mismatches "
            f"{chk['depth_mismatches']}, max |output diff| {chk['max_abs_logit_diff']:.2e} (adaptive), "
            f"{chk['max_abs_logit_diff_static']:.2e} (static), max |predictor diff| "
            f"{chk['max_abs_predictor_diff']:.2e}, tolerance {chk['tolerance']:g}.")


def save_results(res: dict, json_path: str, plot_png: str | None, results_md: str | None,
                 plot_fn=None, markdown_fn=None) -> None:
    """Writes the metrics JSON, then the plot and the results page from it."""
    import json
    with open(json_path, "w") as f:
        json.dump(res, f, indent=1)
    if plot_png:
        (plot_fn or pareto_plot)(res, plot_png)
    if results_md:
        with open(results_md, "w") as f:
            f.write((markdown_fn or results_markdown)(res, plot_png, results_md))


def image_line(w, plot_png: str | None, md_path: str, alt: str) -> None:
    if plot_png:
        rel = os.path.relpath(plot_png, os.path.dirname(os.path.abspath(md_path)) or ".")
        w(f"![{alt}]({rel})")
        w("")


def _row(p: dict, full: float, full_acc: float) -> str:
    hist = " ".join(str(h) for h in p["depth_histogram"])
    return (f"| {p['name']} | {100 * p['accuracy']:.2f} | {100 * (p['accuracy'] - full_acc):+.2f} "
            f"| {_mf(p['mean_flops'])} | {100 * (1 - p['mean_flops'] / full):.1f}% "
            f"| {p['mean_depth']:.2f} | {hist} |")


def results_markdown(res: dict, plot_png: str | None, md_path: str) -> str:
    t, fl, cfg, chk = res["test"], res["flops"], res["config"], res["ort_check"]
    full, full_acc = fl["full_depth"], t["static"]["accuracy"]
    v = cfg["vit"]
    b, e = t["adaptive_bundled"], t["early_exit_selected"]
    red_b = 1 - b["mean_flops"] / full
    red_e = 1 - e["mean_flops"] / full
    loss_b = 100 * (full_acc - b["accuracy"])
    target = red_b >= 0.5 and loss_b <= cfg["max_loss_pp"]
    diffs = [p["accuracy"] - p["early_exit_accuracy_at_same_flops"] for p in t["policy"]]
    wins = sum(1 for x in diffs if x > 0)
    b_diff = b["accuracy"] - b.get("early_exit_accuracy_at_same_flops", b["accuracy"])
    hi = [x for p, x in zip(t["policy"], diffs) if p["mean_flops"] <= 0.5 * full]
    lines = []
    w = lines.append
    w("# Results: adaptive-depth ViT on Fashion-MNIST")
    w("")
    w("Generated by `scripts/train.sh` (the full recipe, `python -m tac.train "
      f"--preset {res['preset']}`); every number below comes from that run and is also in "
      "`models/fmnist_vit.json`. Do not edit by hand. Design and method: "
      "[training.md](training.md).")
    w("")
    w("## Setup")
    w("")
    d = res["dataset"]
    w(f"- Data: Fashion-MNIST, {d['backbone_train']} images train the backbone, "
      f"{d['holdout']} held-out training images train the predictor and policy and select "
      f"operating points, {d['test']} test images give every number below.")
    w(f"- Backbone: ViT, patch {v['patch']}, {v['tokens'] if 'tokens' in v else (v['image'] // v['patch']) ** 2 + 1} tokens, "
      f"width {v['dim']}, {v['depth']} layers, {v['heads']} heads, MLP {v['mlp']}; "
      f"trained {cfg['epochs']} epochs with a loss on every exit depth (shared final norm + head).")
    w(f"- Controller: after {cfg['prefix']} always-run layer(s); complexity predictor MLP "
      f"({cfg['pred_hidden']} hidden) + policy MLP ({cfg['pol_hidden']} hidden) trained with "
      f"REINFORCE ({cfg['pol_samples']} sampled depths per image, leave-one-out baseline; "
      f"predictor and policy {cfg['folds']}-fold cross-fitted on the holdout for selection), reward = correct - lambda * FLOPs(path)/FLOPs(full).")
    w(f"- FLOPs per image (multiply-add = 2): embedding {_mf(fl['embed'])} M, one layer "
      f"{_mf(fl['layer'])} M ({100 * fl['layer_matmul'] / fl['layer']:.0f}% in matmuls), "
      f"readout {fl['exit'] / 1e3:.1f} k, controller {fl['controller'] / 1e3:.1f} k "
      f"(included in every adaptive number), full depth {_mf(full)} M. Early exit pays a "
      "readout + softmax after every layer it runs.")
    w("- Accuracy deltas are against the full-depth (static) model; FLOPs saved are "
      "relative to it.")
    w("")
    w("## Headline")
    w("")
    w(f"- **Bundled adaptive model** (`models/fmnist_vit_adaptive.onnx`, lambda = "
      f"{b['param']:g}, chosen on the holdout): test accuracy **{100 * b['accuracy']:.2f}%** "
      f"vs {100 * full_acc:.2f}% at full depth ({-loss_b:+.2f} pp), mean FLOPs "
      f"**{_mf(b['mean_flops'])} M vs {_mf(full)} M: {100 * red_b:.1f}% fewer**.")
    hsel = next((p for p in res["holdout"]["policy"] if p["param"] == b["param"]), None)
    hfull = res["holdout"]["fixed"][-1]
    why = ""
    if hsel is not None:
        why = (f" (on the holdout, cross-fitted, this lambda measured "
               f"{100 * (hsel['accuracy'] - hfull['accuracy']):+.2f} pp and "
               f"{100 * (1 - hsel['mean_flops'] / full):.1f}% fewer FLOPs)")
    w(f"- Target (>= 50% fewer FLOPs at <= {cfg['max_loss_pp']} pp loss) for the bundled "
      f"model on test: **{'reached' if target else 'not reached'}**{why}.")
    w(f"- Early exit selected by the same rule (tau = {e['param']:g}): "
      f"{100 * e['accuracy']:.2f}% ({100 * (e['accuracy'] - full_acc):+.2f} pp), "
      f"{100 * red_e:.1f}% fewer FLOPs.")
    verdict = ("the policy beats early exit at the bundled operating point"
               if b_diff > 0 else
               "the policy does **not** beat early exit at the bundled operating point")
    w(f"- Policy vs early exit at equal mean FLOPs (early-exit curve from a dense "
      f"threshold sweep, interpolated): {wins} of {len(diffs)} policy points are more "
      f"accurate, mean difference {100 * sum(diffs) / max(1, len(diffs)):+.2f} pp; bundled "
      f"model {100 * b_diff:+.2f} pp: {verdict}. Range over the lambda sweep: "
      f"{100 * min(diffs):+.2f} to {100 * max(diffs):+.2f} pp"
      + (f"; among points saving >= 50% of the FLOPs: {sum(1 for x in hi if x > 0)} of "
         f"{len(hi)} ahead, mean {100 * sum(hi) / len(hi):+.2f} pp." if hi else "."))
    meet = lambda pts: [p for p in pts if p["mean_flops"] <= 0.5 * full
                        and 100 * (full_acc - p["accuracy"]) <= cfg["max_loss_pp"]]
    curve = [{"param": a, "accuracy": b, "mean_flops": f} for a, b, f in t["early_exit_curve"]]
    mp, me = meet(t["policy"]), meet(curve)
    w(f"- For information only (selection never looks at test): sweep points that meet the "
      f"target on test: policy {len(mp)} of {len(t['policy'])}"
      + (" (" + ", ".join(f"lambda={p['param']:g}: {100 * (p['accuracy'] - full_acc):+.2f} pp, "
                          f"{100 * (1 - p['mean_flops'] / full):.1f}% fewer" for p in mp) + ")"
         if mp else "")
      + f"; early exit {len(me)} of {len(curve)} thresholds"
      + (f" (best saving {100 * (1 - min(p['mean_flops'] for p in me) / full):.1f}%)." if me else "."))
    w(ort_line(chk, f"{chk['images']} test images"))
    w("")
    image_line(w, plot_png, md_path, "accuracy vs mean FLOPs")
    hdr = ("| model | acc % | Δ pp | mean MFLOPs | FLOPs saved | mean depth | "
           f"images per depth 1..{v['depth']} |")
    sep = "|---|---:|---:|---:|---:|---:|---|"
    w("## Every fixed depth (test)")
    w("")
    w(hdr)
    w(sep)
    for p in t["fixed"]:
        w(_row(p, full, full_acc))
    w("")
    w("## Confidence-threshold early exit (test)")
    w("")
    w("Exit after the first layer whose softmax max-probability reaches tau. The "
      "selected threshold is chosen on the holdout from a dense sweep "
      f"({len(t['early_exit_curve'])} thresholds) by the same rule as the policy's lambda.")
    w("")
    w(hdr)
    w(sep)
    for p in t["early_exit"]:
        w(_row(p, full, full_acc))
    w(_row(dict(e, name=f"early exit tau={e['param']:g} (selected on holdout)"), full, full_acc))
    w("")
    w("## Predictor + RL policy at several lambda (test)")
    w("")
    w("Last column: accuracy of early exit at the same mean FLOPs (interpolated on a "
      "dense threshold sweep).")
    w("")
    w(hdr + " early exit @ same FLOPs |")
    w(sep + "---:|")
    for p in t["policy"] + [b]:
        w(_row(p, full, full_acc) + f" {100 * p['early_exit_accuracy_at_same_flops']:.2f} |")
    w("")
    w("## Reproduce")
    w("")
    w("```sh")
    w("scripts/train.sh        # venv must exist: scripts/setup.sh or see docs/training.md")
    w("```")
    w("")
    tm = res["timings_s"]
    env = res["environment"]
    w(f"This run: {tm.get('total_s', 0) / 60:.1f} min in the recipe "
      f"(backbone {tm['backbone_s']:.0f} s, controller ({res['config']['folds']}-fold cross-fit + final) {tm['controller_s']:.0f} s, "
      f"ONNX Runtime check {tm['ort_check_s']:.0f} s), torch {env['torch']}, "
      f"onnx {env['onnx']}, onnxruntime {env['onnxruntime']}, {env['threads']} torch "
      f"thread(s) on {env['cpu_count']} CPUs.")
    w("")
    return "\n".join(lines)
