"""Evaluation of every fixed depth, confidence-threshold early exit and policies
from cached per-exit logits (exact: a depth-d exit *is* the depth-d model)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from . import flops as fl
from .model import ViTConfig


@dataclass
class Point:
    """One operating point on one split."""
    name: str
    kind: str                       # static | fixed | early_exit | policy
    accuracy: float
    mean_flops: float
    histogram: list[int]            # images per depth 1..L
    param: float | None = None      # threshold (early exit) or lambda (policy)
    extra: dict = field(default_factory=dict)

    @property
    def mean_depth(self) -> float:
        n = sum(self.histogram)
        return sum((i + 1) * h for i, h in enumerate(self.histogram)) / max(1, n)

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "param": self.param,
                "accuracy": self.accuracy, "mean_flops": self.mean_flops,
                "mean_depth": self.mean_depth, "depth_histogram": self.histogram,
                **self.extra}


def correctness(exits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[N, L] float 0/1: is the depth-d model right on image i."""
    return (exits.argmax(-1) == labels[:, None]).float()


def histogram(depth: torch.Tensor, L: int) -> list[int]:
    return torch.bincount(depth - 1, minlength=L)[:L].tolist()


def from_depths(name: str, kind: str, depth: torch.Tensor, correct: torch.Tensor,
                per_depth_flops: list[int], param=None) -> Point:
    """depth [N] in 1..L; per_depth_flops[d-1] = cost of an image that ran d layers."""
    L = correct.shape[1]
    acc = float(correct[torch.arange(len(depth)), depth - 1].mean())
    cost = torch.tensor(per_depth_flops, dtype=torch.float64)[depth - 1]
    return Point(name, kind, acc, float(cost.mean()), histogram(depth, L), param)


def fixed_depths(cfg: ViTConfig | list, correct: torch.Tensor) -> list[Point]:
    """Every fixed depth; cfg: the scratch ViT's config, or the per-depth costs."""
    n, L = correct.shape
    costs = cfg if isinstance(cfg, list) else [fl.depth_flops(cfg, k) for k in range(1, L + 1)]
    pts = []
    for d in range(1, L + 1):
        depth = torch.full((n,), d, dtype=torch.long)
        pts.append(from_depths(f"fixed depth {d}", "fixed", depth, correct, costs, d))
    return pts


def early_exit_depths(exits: torch.Tensor, tau: float, conf: torch.Tensor | None = None) -> torch.Tensor:
    """First depth whose confidence (default: softmax max-probability of the
    exit logits) reaches tau (else full depth)."""
    if conf is None:
        conf = torch.softmax(exits, dim=-1).max(-1)[0]  # [N, L]
    hit = conf >= tau
    hit[:, -1] = True
    return hit.float().argmax(dim=1) + 1  # first True


def early_exit(cfg: ViTConfig | list, exits: torch.Tensor | None, correct: torch.Tensor,
               tau: float, conf: torch.Tensor | None = None) -> Point:
    """cfg: the scratch ViT's config or the per-depth early-exit costs; conf
    [N, L]: the confidence after each depth (default: from the exit logits)."""
    L = correct.shape[1]
    depth = early_exit_depths(exits, tau, conf)
    costs = cfg if isinstance(cfg, list) else [fl.early_exit_flops(cfg, k) for k in range(1, L + 1)]
    return from_depths(f"early exit tau={tau:g}", "early_exit", depth, correct, costs, tau)


def ee_accuracy_at(curve: list[Point], mean_flops: float) -> float:
    """Accuracy of the early-exit curve at the given mean FLOPs: the best
    accuracy reachable at or below each swept cost, interpolated linearly."""
    pts = sorted(curve, key=lambda p: p.mean_flops)
    xs = [p.mean_flops for p in pts]
    ys, best = [], 0.0
    for p in pts:
        best = max(best, p.accuracy)
        ys.append(best)
    if mean_flops <= xs[0]:
        return ys[0]
    for i in range(1, len(xs)):
        if mean_flops <= xs[i]:
            w = (mean_flops - xs[i - 1]) / max(1e-9, xs[i] - xs[i - 1])
            return ys[i - 1] + w * (ys[i] - ys[i - 1])
    return ys[-1]


def select(points: list[Point], ref_acc: float, max_loss: float) -> Point:
    """Monotone selection: walk from the most expensive point to cheaper ones and
    stop at the first that loses more than max_loss against ref_acc; return the
    cheapest point before it (a noisy cheaper point that happens to look good
    after a violation is not trusted).  If even the most expensive point
    violates the budget, return the most accurate point."""
    ordered = sorted(points, key=lambda p: -p.mean_flops)
    chosen = None
    for p in ordered:
        if p.accuracy < ref_acc - max_loss - 1e-12:
            break
        chosen = p
    if chosen is None:
        return max(points, key=lambda p: p.accuracy)
    return chosen
