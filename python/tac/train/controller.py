"""Controller: complexity predictor + RL depth policy.

Both run on features available after the always-executed prefix (patch
embedding + the first ``prefix`` layers):

* ``feat`` -- the class token after the prefix, through the backbone's shared
  final LayerNorm (``dim`` values), and the softmax of the prefix exit's logits
  (``classes`` values; the backbone's own cheap early guess).

Complexity predictor (supervised, BCE): ``feat`` -> MLP -> ``depth`` sigmoid
outputs; output ``d-1`` estimates P(the depth-d model classifies this input
correctly).  The target is the measured per-depth correctness of the frozen
backbone on the held-out split.  The *difficulty* of an input is the smallest
depth from which the backbone stays right; the predictor's vector is a soft,
per-depth version of that number (and more useful to the policy).

Policy (REINFORCE with a leave-one-out baseline over several sampled depths
per image, or a learned state-value baseline, plus a decaying entropy bonus):
[predictor output, prefix-exit max-prob, prefix-exit entropy] -> MLP -> logits
over the allowed depths {prefix, ..., depth}.  Reward for choosing depth d:
``correct(d) - lam * FLOPs(d) / FLOPs(full)``.  At inference the policy takes
the argmax.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm


class Predictor(nn.Module):
    def __init__(self, in_dim: int, depth: int, hidden: int = 64):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden)
        self.fc2 = nn.Linear(hidden, depth)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """Probabilities [B, depth]."""
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(feat))))


def confidence_stats(probs: torch.Tensor) -> torch.Tensor:
    """A classifier's cheap difficulty signals: max-probability and entropy."""
    conf = probs.max(dim=-1, keepdim=True)[0]
    ent = -(probs * torch.log(probs + 1e-6)).sum(dim=-1, keepdim=True)
    return torch.cat([conf, ent], dim=-1)


def policy_state(pred: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
    """Policy input: predictor output and the task's extra statistics (for a
    classifier, ``confidence_stats`` of the prefix exit)."""
    return torch.cat([pred, stats], dim=-1)


class Policy(nn.Module):
    def __init__(self, in_dim: int, actions: int, hidden: int = 32):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden)
        self.fc2 = nn.Linear(hidden, actions)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        """Logits over actions [B, actions]."""
        return self.fc2(torch.relu(self.fc1(state)))


class Value(nn.Module):
    """State-value baseline for REINFORCE (training only, not exported)."""

    def __init__(self, in_dim: int, hidden: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.net(state).squeeze(-1)


def train_predictor(feat: torch.Tensor, correct: torch.Tensor, epochs: int = 60,
                    batch: int = 256, lr: float = 3e-3, weight_decay: float = 1e-3,
                    hidden: int = 64, seed: int = 0,
                    log=print) -> Predictor:
    """feat [N, F]; correct [N, depth] in {0,1}."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    pred = Predictor(feat.shape[1], correct.shape[1], hidden)
    opt = torch.optim.AdamW(pred.parameters(), lr=lr, weight_decay=weight_decay)
    n = feat.shape[0]
    steps = math.ceil(n / batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps)
    bar = tqdm(range(epochs), desc="predictor", unit="epoch", leave=False,
               dynamic_ncols=True, mininterval=1.0)
    for _ in bar:
        perm = torch.randperm(n, generator=g)
        tot = 0.0
        for i in range(steps):
            idx = perm[i * batch:(i + 1) * batch]
            p = pred(feat[idx]).clamp(1e-6, 1 - 1e-6)
            loss = F.binary_cross_entropy(p, correct[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(idx)
        bar.set_postfix(bce=f"{tot / n:.4f}")
    bar.close()
    pred.eval()
    log(f"predictor: final train BCE {tot / n:.4f}")
    return pred


def train_policy(state: torch.Tensor, correct: torch.Tensor, cost: torch.Tensor,
                 lam: float, epochs: int = 150, batch: int = 512, lr: float = 3e-3,
                 entropy: float = 0.02, hidden: int = 32, samples: int = 4,
                 seed: int = 0, desc: str = "policy") -> Policy:
    """REINFORCE with a baseline.

    state [N, S]; correct [N, A] (correctness of each *action*'s depth);
    cost [A] = FLOPs(action's path) / FLOPs(full depth).

    Each image is one episode of one step: the policy samples a depth, the
    reward is ``correct - lam * cost``.  With ``samples`` > 1, every image gets
    that many sampled actions and each one's baseline is the mean reward of
    the image's other samples (leave-one-out, "RLOO"); with ``samples`` == 1 a
    learned state-value network is the baseline.
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    n, a = correct.shape
    pol = Policy(state.shape[1], a, hidden)
    val = Value(state.shape[1], hidden)
    params = list(pol.parameters()) + (list(val.parameters()) if samples == 1 else [])
    opt = torch.optim.Adam(params, lr=lr)
    steps = math.ceil(n / batch)
    total = epochs * steps
    step = 0
    bar = tqdm(range(epochs), desc=desc, unit="epoch", leave=False,
               dynamic_ncols=True, mininterval=1.0)
    for _ in bar:
        perm = torch.randperm(n, generator=g)
        tot_r = 0.0
        for i in range(steps):
            idx = perm[i * batch:(i + 1) * batch]
            s = state[idx]
            dist = torch.distributions.Categorical(logits=pol(s))
            act = dist.sample((samples,))                        # [K, B]
            reward = correct[idx][torch.arange(len(idx))[None, :], act] - lam * cost[act]
            if samples > 1:
                base = (reward.sum(0, keepdim=True) - reward) / (samples - 1)
                vloss = torch.zeros(())
            else:
                v = val(s)[None, :]
                base = v.detach()
                vloss = 0.5 * F.mse_loss(v, reward)
            adv = reward - base
            # entropy bonus decays linearly to 0 so the final policy is sharp
            beta = entropy * max(0.0, 1.0 - step / (0.8 * total))
            loss = (-(adv * dist.log_prob(act)).mean() + vloss
                    - beta * dist.entropy().mean())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            tot_r += float(reward.mean(0).sum())
        bar.set_postfix(reward=f"{tot_r / n:.4f}")
    bar.close()
    pol.eval()
    return pol


@torch.no_grad()
def decide(pred: Predictor, pol: Policy, feat: torch.Tensor, stats: torch.Tensor,
           prefix: int) -> torch.Tensor:
    """Depth (number of layers, prefix included) the controller picks."""
    return pol(policy_state(pred(feat), stats)).argmax(1) + prefix


def fit_controllers(feat: torch.Tensor, stats: torch.Tensor, utility: torch.Tensor,
                    cost: torch.Tensor, lambdas, prefix: int, folds: int = 4,
                    pred_epochs: int = 60, pred_hidden: int = 64, pol_epochs: int = 150,
                    pol_hidden: int = 32, pol_samples: int = 4, seed: int = 0, log=print):
    """Complexity predictor + one REINFORCE policy per lambda, the shared
    controller training of tac.train (scratch) and tac.adapt (retrofit).

    feat [N, F] predictor input, stats [N, S] extra policy input, utility
    [N, L] how good each depth 1..L is on each input (0/1 correctness, or a
    graded score such as a reciprocal rank), cost [L - prefix + 1] path cost
    relative to the full model.

    Returns (predictor, policies, cross): ``cross[j]`` [N] are the depths
    policy j picks for each input when predictor and policy were trained on
    the other folds (``folds``-fold cross-fitting), the numbers the operating
    point is selected on; predictor and policies are then retrained on all N.
    """
    P = prefix
    quiet = lambda *a: None  # noqa: E731

    def fit(idx: torch.Tensor, tag: str):
        pred = train_predictor(feat[idx], utility[idx], epochs=pred_epochs, hidden=pred_hidden,
                               seed=seed, log=log if tag == "all" else quiet)
        with torch.no_grad():
            st = policy_state(pred(feat[idx]), stats[idx])
        pols = [train_policy(st, utility[idx, P - 1:], cost, lam, epochs=pol_epochs,
                             hidden=pol_hidden, samples=pol_samples, seed=seed,
                             desc=f"policy [{tag}] lambda={lam:g}") for lam in lambdas]
        return pred, pols

    n = feat.shape[0]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1))
    parts = torch.tensor_split(perm, folds)
    cross = torch.zeros(len(lambdas), n, dtype=torch.long)
    for k in range(folds):
        ev = parts[k]
        tr = torch.cat([parts[j] for j in range(folds) if j != k])
        pred_k, pols_k = fit(tr, f"fold {k + 1}/{folds}")
        for j, pol in enumerate(pols_k):
            cross[j, ev] = decide(pred_k, pol, feat[ev], stats[ev], P)
    predictor, policies = fit(torch.arange(n), "all")
    return predictor, policies, cross


LAMBDA_SCALES = (0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)


def lambda_grid(utility: torch.Tensor, cost: torch.Tensor, prefix: int,
                scales=LAMBDA_SCALES) -> tuple[float, ...]:
    """Lambdas around the break-even value at which running every input at
    the shallowest path and at full depth earn the same mean reward
    (utility gap / cost gap): below it the policy leans to depth, above it to
    saving. Scales the sweep to the task's utility (accuracy, a reciprocal
    rank, ...) instead of one fixed grid."""
    gap = float(utility[:, -1].mean() - utility[:, prefix - 1].mean())
    dc = float(cost[-1] - cost[0])
    star = max(gap, 1e-3) / max(dc, 1e-6)
    return tuple(float(f"{star * k:.3g}") for k in scales)
