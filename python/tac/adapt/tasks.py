"""What the adapted model is for: classification or sentence/image embeddings.

A task says what the model's output is, where a depth's exit readout plugs in,
how a readout is distilled from the full-depth model, what the controller
sees, how good one depth is on one input (the *utility* the predictor learns
and the policy is rewarded with), and what early exit uses as confidence.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tac.train.controller import confidence_stats

from .anatomy import AdaptError, first_tensor


class Task:
    kind = "task"
    output_name = "output"
    metric = "quality"
    # standardise the policy's extra statistics (tac.adapt.exits.StatsScale):
    # needed when they live on scales far from 1 (retrieval similarities and
    # margins); a classifier's max-probability and entropy already do not
    scale_stats = False

    def output(self, raw, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def check_output(self, raw, labels) -> None:
        pass


class Classification(Task):
    """Class logits. Utility of a depth on an input: 1 when its prediction is
    right (against the labels, or without labels against the full model's
    prediction), else 0. Early-exit confidence: softmax max-probability."""
    kind = "classification"
    output_name = "logits"
    metric = "accuracy"

    def __init__(self, classes: int | None = None):
        self.classes = classes

    def output(self, raw, inputs):
        t = first_tensor(raw, key="logits")
        if t is None or t.dim() != 2:
            got = "no tensor" if t is None else f"a tensor of shape {tuple(t.shape)}"
            raise AdaptError(f"classification needs a model whose output is class logits "
                             f"[batch, classes]; this model returns {got}. Pass a model with a "
                             "classification head (e.g. ...ForSequenceClassification / "
                             "...ForImageClassification), or use task='embedding'")
        return t

    def check_output(self, raw, labels) -> None:
        t = self.output(raw, {})
        c = t.shape[-1]
        if self.classes is not None and c != self.classes:
            raise AdaptError(f"the model predicts {c} classes but the dataset has "
                             f"{self.classes}: pass a model whose head has {self.classes} outputs "
                             "(or a dataset with the model's classes)")
        if labels is not None and len(labels) and int(labels.max()) >= c:
            raise AdaptError(f"labels go up to {int(labels.max())} but the model predicts only "
                             f"{c} classes: pass a model whose head has {int(labels.max()) + 1} "
                             "outputs, or labels in 0..{c - 1}")

    def distill_loss(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        return F.kl_div(F.log_softmax(student, -1), F.softmax(teacher, -1), reduction="batchmean")

    def confidence(self, exits: torch.Tensor) -> torch.Tensor:
        """exits [N, L, C] -> [N, L]."""
        return torch.softmax(exits, -1).max(-1)[0]

    def utility(self, exits: torch.Tensor, labels, ref=None) -> torch.Tensor:
        target = labels if labels is not None else exits[:, -1].argmax(-1)
        return (exits.argmax(-1) == target[:, None]).float()

    def controller_inputs(self, out: torch.Tensor, read: torch.Tensor, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """(predictor features, extra policy statistics) after the prefix."""
        probs = torch.softmax(out, -1)
        feat = torch.cat([F.layer_norm(read, read.shape[-1:], torch.ones(read.shape[-1]),
                                       torch.zeros(read.shape[-1])), probs], -1)
        return feat, confidence_stats(probs)

    def quality(self, outputs: torch.Tensor, labels, ref=None) -> float:
        return float(self.utility(outputs[:, None], labels if labels is not None
                                  else ref.argmax(-1)).mean())


class Embedding(Task):
    """A pooled, L2-normalised embedding of the model's last hidden states
    (masked mean over tokens, or the first token). A depth's readout is the
    pooled hidden state of that depth projected into the final embedding space
    by a learned linear map, then normalised.

    Utility of a depth: with a retrieval set (documents + the right document
    per query), the reciprocal rank of the right document among the top 10
    (MRR@10 per query); without one, 1 when the depth's nearest neighbour
    among the split's own full-depth embeddings is the same as the full
    model's.

    With a document index (``index``: the collection's documents embedded at
    full depth, set for retrieval), the controller also sees how the exit
    embedding ranks against the index (top-1 and top-2 similarity and their
    margin: 2·M·H FLOPs for M documents) and early exit uses that margin as
    its confidence; without one, early exit uses the cosine between
    consecutive exits."""

    index: torch.Tensor | None = None
    scale_stats = True
    kind = "embedding"
    output_name = "embedding"
    metric = "MRR@10"

    def __init__(self, pooling: str = "mean", mask_input: str | None = "attention_mask"):
        if pooling not in ("mean", "cls"):
            raise AdaptError(f"pooling={pooling!r}: use 'mean' or 'cls'")
        self.pooling = pooling
        self.mask_input = mask_input

    def hidden(self, raw) -> torch.Tensor:
        t = first_tensor(raw, rank=3, key="last_hidden_state")
        if t is None:
            raise AdaptError("embedding needs a model whose output includes hidden states "
                             "[batch, tokens, width] (e.g. a BertModel / DistilBertModel "
                             "without a classification head); this model returns none. Pass "
                             "the encoder, or use task='classification'")
        return t

    def pool(self, raw, inputs) -> torch.Tensor:
        return self.pool_hidden(self.hidden(raw), inputs)

    def token_mask(self, inputs) -> torch.Tensor | None:
        """[B, T] 1 for real tokens, 0 for padding (None: every token counts)."""
        return inputs.get(self.mask_input) if self.mask_input else None

    def pool_hidden(self, h: torch.Tensor, inputs) -> torch.Tensor:
        """The model's own pooling of hidden states h [B, (D,) T, H]."""
        if self.pooling == "cls":
            return h[..., 0, :]
        m = self.token_mask(inputs)
        if m is None:
            return h.mean(-2)
        w = m.to(h.dtype).reshape(m.shape[0], *([1] * (h.dim() - 3)), m.shape[1], 1)
        # + 1e-9, not clamp: Clip is not an op every importer knows (the sum is >= 1)
        return (h * w).sum(-2) / (w.sum(-2) + 1e-9)

    @staticmethod
    def normalize(e: torch.Tensor) -> torch.Tensor:
        # written out (Mul, ReduceSum, Sqrt, Div): ops every importer knows
        return e / torch.sqrt((e * e).sum(-1, keepdim=True) + 1e-12)

    def output(self, raw, inputs):
        return self.normalize(self.pool(raw, inputs))

    def check_output(self, raw, labels) -> None:
        self.hidden(raw)

    def distill_loss(self, student, teacher):
        return (1 - F.cosine_similarity(student, teacher, dim=-1)).mean()

    def relational_loss(self, student: torch.Tensor, teacher: torch.Tensor,
                        tau: float = 0.05) -> torch.Tensor:
        """Distillation of the *ranking*: student [B, D, H] (D exits), teacher
        [B, H]. Each exit embedding's softmax over its similarities to the
        batch's full-model embeddings (temperature tau) should match the full
        model's own (KL). Retrieval ranks by similarity, which a cosine
        loss alone weighs only indirectly; still no labels needed."""
        ls = F.log_softmax(student @ teacher.T / tau, -1)            # [B, D, B]
        lt = F.softmax(teacher @ teacher.T / tau, -1)[:, None].expand_as(ls)
        return F.kl_div(ls.reshape(-1, ls.shape[-1]), lt.reshape(-1, ls.shape[-1]),
                        reduction="batchmean")

    def margin(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(top-1, top-2) similarity of embeddings e [..., H] to the index."""
        s = e @ self.index.T
        top1 = s.amax(-1, keepdim=True)
        top2 = torch.where(s == top1, torch.full_like(s, -2.0), s).amax(-1, keepdim=True)
        return top1, top2

    def confidence(self, exits):
        if self.index is not None:
            t1, t2 = self.margin(exits)
            return (t1 - t2)[..., 0]
        first = torch.zeros_like(exits[:, :1, 0])
        return torch.cat([first, (exits[:, 1:] * exits[:, :-1]).sum(-1)], 1)

    def utility(self, exits: torch.Tensor, labels, ref=None) -> torch.Tensor:
        """exits [N, L, H]; ref: (documents [M, H], right document per query
        [N]) for retrieval, or None (agreement with the full model)."""
        if ref is None:
            docs, right = exits[:, -1], None
        else:
            docs, right = ref
        out = torch.zeros(exits.shape[:2])
        for d in range(exits.shape[1]):
            sim = exits[:, d] @ docs.T
            if right is None:
                out[:, d] = (sim.argmax(-1) == (exits[:, -1] @ docs.T).argmax(-1)).float()
            else:
                out[:, d] = reciprocal_rank(sim, right, 10)
        return out

    def controller_inputs(self, out, read, inputs):
        m = inputs.get(self.mask_input) if self.mask_input else None
        frac = (m.float().mean(-1, keepdim=True) if m is not None
                else torch.ones(out.shape[0], 1))
        if self.index is None:
            return torch.cat([out, frac], -1), frac
        t1, t2 = self.margin(out)
        stats = torch.cat([t1, t2, t1 - t2, frac], -1)
        return torch.cat([out, stats], -1), stats

    def quality(self, outputs, labels, ref=None) -> float:
        return float(self.utility(outputs[:, None], labels, ref).mean())


def reciprocal_rank(sim: torch.Tensor, right: torch.Tensor, k: int) -> torch.Tensor:
    """sim [N, M] query-document scores; right [N]: 1/rank of the right
    document when it is within the top k, else 0."""
    s_right = sim.gather(1, right[:, None])
    rank = (sim > s_right).sum(1) + 1
    return torch.where(rank <= k, 1.0 / rank.float(), torch.zeros(()))


def retrieval_metrics(q: torch.Tensor, docs: torch.Tensor, right: torch.Tensor,
                      q_full: torch.Tensor | None = None) -> dict:
    """recall@1, MRR@10 and (with the full model's queries) top-10 overlap."""
    sim = q @ docs.T
    rr = reciprocal_rank(sim, right, 10)
    res = {"recall@1": float((rr == 1).float().mean()), "MRR@10": float(rr.mean())}
    if q_full is not None:
        k = min(10, docs.shape[0])
        a = sim.topk(k, 1).indices
        b = (q_full @ docs.T).topk(k, 1).indices
        ov = [(len(set(x.tolist()) & set(y.tolist())) / k) for x, y in zip(a, b)]
        res["top10_overlap"] = sum(ov) / max(1, len(ov))
    return res


def make_task(kind: str, classes: int | None = None, pooling: str = "mean",
              mask_input: str | None = "attention_mask") -> Task:
    if kind == "classification":
        return Classification(classes)
    if kind == "embedding":
        return Embedding(pooling, mask_input)
    raise AdaptError(f"task={kind!r}: use 'classification' or 'embedding'")
