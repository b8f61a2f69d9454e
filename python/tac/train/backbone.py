"""Backbone training: every exit depth gets a loss through the shared head."""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .data import Split
from .model import ViT


def multi_exit_loss(exits: list[torch.Tensor], y: torch.Tensor,
                    distill: float) -> torch.Tensor:
    """Mean cross-entropy over all exits, plus optional self-distillation of
    every shallower exit towards the (detached) deepest exit's distribution."""
    loss = sum(F.cross_entropy(z, y) for z in exits) / len(exits)
    if distill > 0 and len(exits) > 1:
        teacher = F.softmax(exits[-1].detach(), dim=-1)
        kd = sum(F.kl_div(F.log_softmax(z, dim=-1), teacher, reduction="batchmean")
                 for z in exits[:-1]) / (len(exits) - 1)
        loss = loss + distill * kd
    return loss


def augment(x: torch.Tensor, g: torch.Generator, shift: int) -> torch.Tensor:
    """Random horizontal flip, plus a random shift of the whole batch by up to
    ``shift`` pixels (zero padded)."""
    b = x.shape[0]
    flip = torch.rand(b, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if shift <= 0:
        return x
    pad = F.pad(x, (shift, shift, shift, shift))
    dx, dy = torch.randint(0, 2 * shift + 1, (2,), generator=g).tolist()
    return pad[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]


def train_backbone(model: ViT, data: Split, epochs: int, batch: int = 128,
                   lr: float = 2e-3, weight_decay: float = 0.05,
                   distill: float = 0.5, shift: int = 0, seed: int = 0, desc: str = "backbone",
                   log=print) -> None:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(data) / batch)
    total = max(1, epochs * steps_per_epoch)
    warm = max(1, min(total // 10, 2 * steps_per_epoch // 3 + 1))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
    model.train()
    for ep in range(epochs):
        perm = torch.randperm(len(data), generator=g)
        t0, seen, correct, tot_loss = time.time(), 0, 0, 0.0
        bar = tqdm(range(steps_per_epoch), desc=f"{desc} epoch {ep + 1}/{epochs}",
                   unit="batch", leave=False, dynamic_ncols=True, mininterval=1.0)
        for i in bar:
            idx = perm[i * batch:(i + 1) * batch]
            x, y = augment(data.images[idx], g, shift), data.labels[idx]
            exits = model.forward_exits(x)
            loss = multi_exit_loss(exits, y, distill)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(idx)
            correct += int((exits[-1].argmax(-1) == y).sum())
            tot_loss += float(loss) * len(idx)
            if i % 20 == 0:
                bar.set_postfix(loss=f"{tot_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
        bar.close()
        log(f"{desc} epoch {ep + 1}/{epochs}: loss {tot_loss / seen:.4f} "
            f"train-acc(full depth) {correct / seen:.4f} ({time.time() - t0:.0f} s)")
    model.eval()


@torch.no_grad()
def exit_logits(model: ViT, data: Split, batch: int = 500,
                desc: str = "eval") -> torch.Tensor:
    """[N, depth, classes] logits of every exit."""
    model.eval()
    outs = []
    for i in tqdm(range(0, len(data), batch), desc=desc, unit="batch",
                  leave=False, dynamic_ncols=True, mininterval=1.0):
        outs.append(torch.stack(model.forward_exits(data.images[i:i + batch]), dim=1))
    return torch.cat(outs)
