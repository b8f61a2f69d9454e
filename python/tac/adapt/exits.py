"""Exit readouts on a frozen pretrained encoder, their distillation, and the
traceable pieces the adaptive ONNX model is stitched from.

A depth-d exit is the model's *own* head applied to the depth-d hidden state
after a learned affine map (``W_d``, ``b_d``; identity at full depth, so the
full-depth exit *is* the pretrained model):

* classification: the map acts on what the head reads. Heads that read only
  the first token (ViT class token, BERT pooler, DistilBERT pre-classifier;
  found by a probe, not by name) get the map on that token only (2·H² FLOPs);
  other heads get it on every token;
* embedding: the map acts on the pooled hidden state ("projected into the
  final embedding space"), plus *attention pooling*: ``heads`` learned
  queries score every token state (after a LayerNorm), a masked softmax over
  the tokens weighs them, and a learned map (``Wa_d``, zero at full depth)
  projects the ``heads`` weighted sums into the embedding space; then the
  embedding is L2-normalised. A shallow layer's plain mean over tokens is
  a poor stand-in for what the full model pools; letting the readout pick
  tokens recovers much of it for about 2·heads·H·(T + H) FLOPs (about 1% of a
  layer for MiniLM). The readouts are distilled with the cosine to the full
  model's embedding plus a relational loss (``Embedding.relational_loss``:
  the ranking of the batch's full-model embeddings).

The adaptive model picks the map (and attention pooling) of the depth it ran
by indexing the stacked parameters with the policy output (a ``Gather``: no
FLOPs). At full depth the added terms are exactly zero, so the full-depth exit
is the pretrained model's output bit for bit.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from .anatomy import AdaptError, Anatomy, call_model
from .tasks import Embedding, Task


def take(inputs: dict[str, torch.Tensor], idx) -> dict[str, torch.Tensor]:
    return {k: v[idx] for k, v in inputs.items()}


def n_items(inputs: dict[str, torch.Tensor]) -> int:
    return int(next(iter(inputs.values())).shape[0])


class ExitModel(nn.Module):
    def __init__(self, anatomy: Anatomy, task: Task, example: dict[str, torch.Tensor],
                 shared_head: bool = False, heads: int = 4):
        super().__init__()
        self.model = anatomy.model          # registered: its weights are parameters
        self.__dict__["anatomy"] = anatomy
        self.__dict__["task"] = task
        L, H = anatomy.depth, anatomy.hidden_shape[-1]
        self.depth, self.width = L, H
        self.shared_head = shared_head      # tac.train's scratch ViT: one head for all depths
        self.W = nn.Parameter(torch.eye(H).repeat(L, 1, 1))
        self.b = nn.Parameter(torch.zeros(L, H))
        self.mode = self._probe_mode(example)
        # attention pooling (embedding readouts): zero queries = mean over the
        # tokens, zero Wa = no contribution until distillation learns one
        self.heads = heads if self.mode == "pooled" and not shared_head else 0
        if self.heads:
            self.q = nn.Parameter(torch.zeros(L, H, self.heads))
            self.Wa = nn.Parameter(torch.zeros(L, self.heads * H, H))

    @torch.no_grad()
    def _probe_mode(self, x) -> str:
        A, task = self.anatomy, self.task
        if isinstance(task, Embedding):
            return "pooled"
        h = A.hidden_states(x)[-1]
        ref = task.output(A.head(x, h), x)
        noisy = torch.cat([h[:, :1], h[:, 1:] + torch.randn_like(h[:, 1:])], 1)
        try:
            if torch.equal(task.output(A.head(x, noisy), x), ref) and torch.allclose(
                    task.output(A.head(x, h[:, :1]), x), ref, atol=1e-5):
                return "token0"
        except Exception:  # a head that cannot take one token
            pass
        return "all"

    @torch.no_grad()
    def reset_full_depth(self) -> None:
        """The full depth keeps the pretrained head: identity map, no
        attention pooling term."""
        L = self.depth
        self.W[L - 1].copy_(torch.eye(self.width))
        self.b[L - 1].zero_()
        if self.heads:
            self.q[L - 1].zero_()
            self.Wa[L - 1].zero_()

    def readout_params(self) -> list[nn.Parameter]:
        return [self.W, self.b] + ([self.q, self.Wa] if self.heads else [])

    # -- reads and readouts ---------------------------------------------------

    def read(self, inputs, h: torch.Tensor) -> torch.Tensor:
        """What a readout needs from hidden state h (embedding: the token
        states the model's own pooling sees)."""
        if self.mode == "pooled":
            return self.task.hidden(self.anatomy.head(inputs, h))
        return h[:, :1] if self.mode == "token0" else h

    def read_vector(self, r: torch.Tensor, inputs=None) -> torch.Tensor:
        if self.mode == "pooled":
            return self.task.pool_hidden(r, inputs)
        return r if r.dim() == 2 else (r[:, 0] if self.mode == "token0" else r.mean(1))

    def attend(self, inputs, r: torch.Tensor, q: torch.Tensor, Wa: torch.Tensor) -> torch.Tensor:
        """Attention pooling of token states r [B, (D,) T, H] with queries q
        [(D,) H, heads], projected by Wa [(D,) heads·H, H] -> [B, (D,) H]."""
        H = r.shape[-1]  # explicit scale and bias: ONNX LayerNormalization needs them
        s = F.layer_norm(r, (H,), torch.ones(H), torch.zeros(H)) @ q   # [B, (D,) T, heads]
        m = self.task.token_mask(inputs)
        if m is not None:   # padding gets -1e4 (Sub, Mul, Add: no Where needed)
            m = m.to(r.dtype).reshape(m.shape[0], *([1] * (r.dim() - 3)), m.shape[1], 1)
            s = s + (m - 1.0) * 1e4
        a = torch.softmax(s, dim=-2)
        pooled = (a.transpose(-1, -2) @ r).flatten(-2)             # [B, (D,) heads·H]
        if pooled.dim() == 3:
            return torch.einsum("bdk,dkh->bdh", pooled, Wa)
        return pooled @ Wa

    def readout(self, inputs, r: torch.Tensor, idx) -> torch.Tensor:
        """Exit output from read r with the readout of depth idx + 1 (idx: int
        or a 0-d int64 tensor)."""
        if self.mode == "pooled":
            p = self.task.pool_hidden(r, inputs)
            if self.shared_head:
                return self.task.normalize(p)
            y = p @ self.W[idx] + self.b[idx]
            if self.heads:
                y = y + self.attend(inputs, r, self.q[idx], self.Wa[idx])
            return self.task.normalize(y)
        y = r if self.shared_head else r @ self.W[idx] + self.b[idx]
        return self.task.output(self.anatomy.head(inputs, y), inputs)

    def readouts_batched(self, inputs, r: torch.Tensor) -> torch.Tensor:
        """Pooled mode, training: r [B, D, T, H] token states of depths 1..D
        -> their exit embeddings [B, D, H] in one batched product."""
        D = r.shape[1]
        y = torch.einsum("bdh,dhk->bdk", self.task.pool_hidden(r, inputs), self.W[:D]) + self.b[:D]
        if self.heads:
            y = y + self.attend(inputs, r, self.q[:D], self.Wa[:D])
        return self.task.normalize(y)

    def full_output(self, inputs) -> torch.Tensor:
        return self.task.output(call_model(self.model, inputs), inputs)

    # -- cached behaviour of the frozen backbone ------------------------------

    @torch.no_grad()
    def collect(self, inputs, batch: int = 64, desc: str = "hidden states",
                depths: int | None = None, dtype=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(reads [N, depths, ...] after depths 1..depths (default every depth),
        full-depth outputs [N, ...]); dtype: how the reads are stored (float16
        halves the cache of token states)."""
        A = self.anatomy
        reads, full = [], []
        n = n_items(inputs)
        k = self.depth if depths is None else depths
        for i in tqdm(range(0, n, batch), desc=desc, unit="batch", leave=False,
                      dynamic_ncols=True, mininterval=1.0):
            x = take(inputs, slice(i, i + batch))
            hs = A.hidden_states(x)
            r = torch.stack([self.read(x, h) for h in hs[:k]], 1)
            reads.append(r if dtype is None else r.to(dtype))
            full.append(self.task.output(A.head(x, hs[-1]), x))
        return torch.cat(reads), torch.cat(full)

    def read_bytes(self, n: int, example: dict[str, torch.Tensor], depths: int, dtype_bytes: int = 2) -> int:
        """Memory of collect()'s reads for n inputs."""
        with torch.no_grad():
            h = self.anatomy.hidden_states(take(example, slice(0, 1)))[0]
            r = self.read(take(example, slice(0, 1)), h)
        return n * depths * r.numel() * dtype_bytes

    @torch.no_grad()
    def exits(self, inputs, reads: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """[N, L, ...] exit outputs of every depth."""
        outs = []
        for i in range(0, reads.shape[0], batch):
            x = take(inputs, slice(i, i + batch))
            r = reads[i:i + batch]
            outs.append(torch.stack([self.readout(x, r[:, d], d) for d in range(self.depth)], 1))
        return torch.cat(outs)

    def controller_inputs(self, inputs, r: torch.Tensor, idx) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.readout(inputs, r, idx)
        return self.task.controller_inputs(out, self.read_vector(r, inputs), inputs)


def train_readouts(em: ExitModel, inputs, reads: torch.Tensor, teacher: torch.Tensor,
                   epochs: int = 30, batch: int = 128, lr: float = 2e-3,
                   weight_decay: float = 1e-3, relational: float = 1.0, tau: float = 0.05,
                   seed: int = 0, log=print) -> float:
    """Self-distillation of every shallower exit towards the full model
    (labels are not needed). Only the readouts train; the backbone and its
    head stay frozen. weight_decay pulls each map towards the identity (and
    the attention pooling's map towards zero). Embedding readouts also learn
    the full model's ranking of the batch (``relational`` weight, temperature
    ``tau``; 0 turns it off). reads [N, >= L - 1, ...]: depths 1..L-1."""
    if em.shared_head:
        return 0.0
    L = em.depth
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    for p in em.model.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(em.readout_params(), lr=lr)
    n = reads.shape[0]
    steps = max(1, math.ceil(n / batch))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps)
    eye = torch.eye(em.width)
    bar = tqdm(range(epochs), desc="exit readouts (distillation)", unit="epoch", leave=False,
               dynamic_ncols=True, mininterval=1.0)
    tot = 0.0
    for _ in bar:
        perm = torch.randperm(n, generator=g)
        tot = 0.0
        for s in range(steps):
            idx = perm[s * batch:(s + 1) * batch]
            x, r, t = take(inputs, idx), reads[idx, :L - 1].float(), teacher[idx]
            reg = weight_decay * ((em.W[:L - 1] - eye) ** 2).sum() / (L - 1)
            if em.mode == "pooled":  # every depth in one batched product
                y = em.readouts_batched(x, r)                     # [B, L-1, H]
                loss = em.task.distill_loss(y.reshape(-1, y.shape[-1]),
                                            t[:, None].expand_as(y).reshape(-1, y.shape[-1]))
                if relational > 0:
                    loss = loss + relational * em.task.relational_loss(y, t, tau)
                if em.heads:
                    reg = reg + weight_decay * (em.Wa[:L - 1] ** 2).sum() / (L - 1)
            else:
                loss = sum(em.task.distill_loss(em.readout(x, r[:, d], d), t)
                           for d in range(L - 1)) / (L - 1)
            opt.zero_grad(set_to_none=True)
            (loss + reg).backward()
            opt.step()
            sched.step()
            em.reset_full_depth()
            tot += float(loss) * len(idx)
        bar.set_postfix(distill=f"{tot / n:.4f}")
    bar.close()
    for p in em.model.parameters():
        p.requires_grad_(True)
    log(f"exit readouts: final distillation loss {tot / n:.4f} ({n} inputs, {epochs} epochs)")
    return tot / n


def finetune(em: ExitModel, inputs, teacher: torch.Tensor, epochs: int, batch: int = 32,
             lr: float = 1e-5, seed: int = 0, log=print) -> None:
    """Light fine-tuning (opt-in): the backbone's layers and the maps train
    together on the mean distillation loss of every exit, towards the
    *original* full model's outputs (teacher)."""
    A, L = em.anatomy, em.depth
    g = torch.Generator().manual_seed(seed)
    params = [p for p in em.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    n = n_items(inputs)
    em.model.train()
    try:
        for ep in range(epochs):
            perm = torch.randperm(n, generator=g)
            tot = 0.0
            bar = tqdm(range(0, n, batch), desc=f"fine-tuning epoch {ep + 1}/{epochs}",
                       unit="batch", leave=False, dynamic_ncols=True, mininterval=1.0)
            for s in bar:
                idx = perm[s:s + batch]
                x = take(inputs, idx)
                hs = A.hidden_states(x)
                loss = sum(em.task.distill_loss(em.readout(x, em.read(x, h), d), teacher[idx])
                           for d, h in enumerate(hs)) / L
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                em.reset_full_depth()
                tot += float(loss) * len(idx)
            bar.close()
            log(f"fine-tuning epoch {ep + 1}/{epochs}: mean exit distillation loss {tot / n:.4f}")
    finally:
        em.model.eval()


# --------------------------------------------------------------------------
# traceable pieces of the adaptive model (batch 1)
# --------------------------------------------------------------------------

class Embed(nn.Module):
    """inputs -> (hidden state entering layer 0, the layers' extra inputs...)."""

    def __init__(self, em: ExitModel, names: list[str]):
        super().__init__()
        self.em, self.names = em, names

    def forward(self, *xs):
        h, ctx = self.em.anatomy.embed(dict(zip(self.names, xs)))
        return (h, *ctx)


class StatsScale:
    """Standardises the policy's extra statistics (mean 0, std 1 over the
    controller's training inputs). Raw, they live on very different scales
    (a retrieval margin of a few hundredths next to probabilities), and a
    small MLP trained by REINFORCE then barely uses the small ones."""

    def __init__(self, stats: torch.Tensor | None = None):
        if stats is None or stats.shape[0] < 2:
            n = 0 if stats is None else stats.shape[1]
            self.mean, self.std = torch.zeros(n), torch.ones(n)
        else:
            self.mean = stats.mean(0)
            self.std = stats.std(0).clamp_min(1e-6)

    def __call__(self, stats: torch.Tensor) -> torch.Tensor:
        return (stats - self.mean) / self.std


class Controller(nn.Module):
    """(inputs, hidden after the prefix) -> (predictor output, chosen depth)."""

    def __init__(self, em: ExitModel, names: list[str], prefix: int, predictor, policy,
                 scale: StatsScale | None = None):
        super().__init__()
        self.em, self.names, self.prefix = em, names, prefix
        self.predictor, self.policy = predictor, policy
        self.register_buffer("depth_table", torch.arange(prefix, em.depth + 1, dtype=torch.long))
        self.scale = scale

    def forward(self, *xs):
        *inp, h = xs
        x = dict(zip(self.names, inp))
        feat, stats = self.em.controller_inputs(x, self.em.read(x, h), self.prefix - 1)
        pred = self.predictor(feat)
        if self.scale is not None:
            stats = self.scale(stats)
        act = torch.argmax(self.policy(torch.cat([pred, stats], -1)), dim=1)
        return pred, self.depth_table[act][0]


class Layer(nn.Module):
    def __init__(self, em: ExitModel, i: int):
        super().__init__()
        self.em, self.i = em, i

    def forward(self, h, *ctx):
        return self.em.anatomy.layer(self.i, h, list(ctx))


class Tail(nn.Module):
    """(inputs, hidden, depth) -> the exit output of that depth."""

    def __init__(self, em: ExitModel, names: list[str]):
        super().__init__()
        self.em, self.names = em, names

    def forward(self, *xs):
        *inp, h, depth = xs
        x = dict(zip(self.names, inp))
        return self.em.readout(x, self.em.read(x, h), depth - 1)


class Static(nn.Module):
    """The pretrained model as it is, with the task's output."""

    def __init__(self, em: ExitModel, names: list[str]):
        super().__init__()
        self.em, self.names = em, names

    def forward(self, *xs):
        return self.em.full_output(dict(zip(self.names, xs)))


class AllExits(nn.Module):
    """Every layer, every exit: outputs [L, ...] and early-exit confidence [L]."""

    def __init__(self, em: ExitModel, names: list[str]):
        super().__init__()
        self.em, self.names = em, names

    def forward(self, *xs):
        x = dict(zip(self.names, xs))
        A = self.em.anatomy
        h, ctx = A.embed(x)
        outs = []
        for i in range(self.em.depth):
            h = A.layer(i, h, ctx)
            outs.append(self.em.readout(x, self.em.read(x, h), i))
        ex = torch.stack(outs, 1)           # [1, L, ...]
        return ex[0], self.em.task.confidence(ex)[0]


def check_example(inputs: dict[str, torch.Tensor]) -> None:
    if not inputs:
        raise AdaptError("no model inputs given")
    n = {k: int(v.shape[0]) for k, v in inputs.items()}
    if len(set(n.values())) != 1:
        raise AdaptError(f"inputs have different numbers of items: {n}")
