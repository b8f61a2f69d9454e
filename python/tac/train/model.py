"""The PyTorch ViT of tac: the recipe's multi-exit backbone, the importer
tests' models (test/Import/Models/export_models.py) and the benchmark's
ViT-Small (bench/export_bench_models.py) are all this one module, configured
by ``ViTConfig``.

The defaults are the recipe's model, a ViT for 28x28 grayscale images whose
every layer's output can be read out through the *shared* final LayerNorm and
linear head (an "exit"), so a model truncated to depth d is just the first d
layers followed by the usual head: no per-depth heads, no extra weights in the
exported model, and every truncated-depth variant is the same computation the
compiler would produce with ``--depths=``.

All modules here are TorchScript-compatible (the importer tests script the
If-gated ViT); the variant switches are TorchScript constants, so a scripted
model holds only the code of its own variant.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

# Fashion-MNIST pixel statistics (training set); normalisation lives inside
# the model so that the ONNX input is the plain image in [0, 1].
PIXEL_MEAN = 0.2860
PIXEL_STD = 0.3530


@dataclass
class ViTConfig:
    """Architecture. The defaults are the recipe's Fashion-MNIST backbone; the
    fields after ``classes`` select the variants other users need:

    channels   input channels (``patchify="reshape"`` takes 1)
    eps        LayerNorm epsilon
    patchify   "reshape": the image is cut into patches by reshapes and
               embedded by one Linear (no Conv in the ONNX graph);
               "conv": a Conv2d with kernel and stride ``patch``
    normalize  subtract PIXEL_MEAN and divide by PIXEL_STD inside the model
               (``patchify="reshape"`` only)
    block      "fused": ``Block``, one qkv Linear; "split": ``SplitBlock``,
               separate q/k/v/out Linears and an ``mlp`` Sequential
    norm_all_tokens  the readout normalises every token and then takes the
               class token (same values, a different graph) instead of
               normalising the class token only
    init       "tac": cls 0, pos N(0, 0.02), Linear weights truncated
               N(0, 0.02) and biases 0; "torch": PyTorch's default layer
               init, cls and pos N(0, 0.02); "zeros": PyTorch's default layer
               init, cls and pos 0 (for callers that re-initialise)
    """
    image: int = 28
    patch: int = 7
    dim: int = 64
    depth: int = 8
    heads: int = 4
    mlp: int = 128
    classes: int = 10
    channels: int = 1
    eps: float = 1e-5
    patchify: str = "reshape"
    normalize: bool = True
    block: str = "fused"
    norm_all_tokens: bool = False
    init: str = "tac"

    @property
    def grid(self) -> int:
        return self.image // self.patch

    @property
    def tokens(self) -> int:  # patches + class token
        return self.grid * self.grid + 1

    def to_dict(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    """Pre-norm transformer encoder layer (MHSA + GELU MLP), one qkv Linear."""

    def __init__(self, dim: int, heads: int, mlp: int, eps: float = 1e-5):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = float(self.head_dim) ** -0.5
        self.ln1 = nn.LayerNorm(dim, eps=eps)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, mlp)
        self.fc2 = nn.Linear(mlp, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape[0], x.shape[1], x.shape[2]
        qkv = self.qkv(self.ln1(x)).reshape(b, t, 3, self.heads, self.head_dim)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Attention(nn.Module):
    """Multi-head attention with separate q/k/v/out Linears and an optional
    additive bias on the scores (an attention mask)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, bias: Optional[torch.Tensor] = None):
        b, n, d = x.shape[0], x.shape[1], x.shape[2]
        h = self.heads
        q = self.q(x).reshape(b, n, h, d // h).transpose(1, 2)
        k = self.k(x).reshape(b, n, h, d // h).transpose(1, 2)
        v = self.v(x).reshape(b, n, h, d // h).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / float(d // h) ** 0.5
        if bias is not None:
            scores = scores + bias
        attn = scores.softmax(dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(b, n, d)
        return self.out(y)


class SplitBlock(nn.Module):
    """Encoder layer over ``Attention`` and an ``mlp`` Sequential (Linear,
    GELU, Linear): pre-norm (ViT) or, with post_norm, post-norm (BERT)."""

    def __init__(self, dim: int, heads: int, mlp: int, eps: float = 1e-5,
                 post_norm: bool = False):
        super().__init__()
        self.post_norm = post_norm
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x: torch.Tensor, bias: Optional[torch.Tensor] = None):
        if self.post_norm:  # BERT
            x = self.norm1(x + self.attn(x, bias))
            return self.norm2(x + self.mlp(x))
        x = x + self.attn(self.norm1(x), bias)  # ViT (pre-norm)
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    __constants__ = ["conv", "normalize", "norm_all_tokens"]

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        if cfg.image % cfg.patch:
            raise ValueError(f"patch {cfg.patch} does not divide image {cfg.image}")
        if cfg.patchify not in ("reshape", "conv") or cfg.block not in ("fused", "split") \
                or cfg.init not in ("tac", "torch", "zeros"):
            raise ValueError(f"unknown ViT variant: patchify={cfg.patchify!r}, "
                             f"block={cfg.block!r}, init={cfg.init!r}")
        if cfg.patchify == "reshape" and cfg.channels != 1:
            raise ValueError("patchify='reshape' takes 1 channel; use patchify='conv'")
        if cfg.normalize and cfg.patchify != "reshape":
            raise ValueError("normalize needs patchify='reshape'")
        self.cfg = cfg
        self.grid = cfg.grid
        self.patch = cfg.patch
        self.conv = cfg.patchify == "conv"
        self.normalize = cfg.normalize
        self.norm_all_tokens = cfg.norm_all_tokens
        self.pixel_mean = PIXEL_MEAN
        self.pixel_std = PIXEL_STD
        if self.conv:
            self.embed = nn.Conv2d(cfg.channels, cfg.dim, cfg.patch, stride=cfg.patch)
        else:
            self.embed = nn.Linear(cfg.patch * cfg.patch, cfg.dim)
        random = cfg.init == "torch"
        self.cls = nn.Parameter(torch.randn(1, 1, cfg.dim) * 0.02 if random
                                else torch.zeros(1, 1, cfg.dim))
        self.pos = nn.Parameter(torch.randn(1, cfg.tokens, cfg.dim) * 0.02
                                if cfg.init != "zeros" else torch.zeros(1, cfg.tokens, cfg.dim))
        if cfg.block == "fused":
            blocks = [Block(cfg.dim, cfg.heads, cfg.mlp, cfg.eps) for _ in range(cfg.depth)]
        else:
            blocks = [SplitBlock(cfg.dim, cfg.heads, cfg.mlp, cfg.eps) for _ in range(cfg.depth)]
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.eps)
        self.head = nn.Linear(cfg.dim, cfg.classes)
        if cfg.init == "tac":
            self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def tokens(self, img: torch.Tensor) -> torch.Tensor:
        """[B,C,H,W] image -> [B, T, dim] tokens. With patchify="reshape"
        (and a [B,1,H,W] image in [0,1]) patchify by reshape + one MatMul, so
        the ONNX graph has no Conv."""
        if self.conv:
            x = self.embed(img).flatten(2).transpose(1, 2)
            cls = self.cls.expand(x.shape[0], -1, -1)
            return torch.cat([cls, x], dim=1) + self.pos
        b = img.shape[0]
        g, p = self.grid, self.patch
        x = img
        if self.normalize:
            x = (x - self.pixel_mean) / self.pixel_std
        x = x.reshape(b, g, p, g, p).permute(0, 1, 3, 2, 4).reshape(b, g * g, p * p)
        x = self.embed(x)
        x = torch.cat([self.cls.expand(b, -1, -1), x], dim=1)
        return x + self.pos

    def exit(self, x: torch.Tensor) -> torch.Tensor:
        """Shared readout: final LayerNorm + linear head on the class token."""
        if self.norm_all_tokens:
            return self.head(self.norm(x)[:, 0])
        return self.head(self.norm(x[:, 0]))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.tokens(img)
        for blk in self.blocks:
            x = blk(x)
        return self.exit(x)

    def forward_exits(self, img: torch.Tensor) -> list[torch.Tensor]:
        """Logits after every layer: element d-1 is the depth-d model's output."""
        x = self.tokens(img)
        outs = []
        for blk in self.blocks:
            x = blk(x)
            outs.append(self.exit(x))
        return outs


def load_onnx_vit(path: str) -> ViT:
    """A ViT with the weights of a static model exported by this recipe
    (``export_static``), read back from its ONNX initializers: the recipe
    keeps no PyTorch checkpoint. The export folds the class token's
    positional embedding into ``tok.cls_pos`` and stores Linear weights
    transposed (``*.weight_t``); both are undone here. Heads: the config's
    default (the ONNX graph does not record them); the ONNX Runtime checks
    of callers confirm the outputs match."""
    import math

    import onnx
    from onnx import numpy_helper

    proto = onnx.load(path)
    w = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    try:
        depth = len({k.split(".")[1] for k in w if k.startswith("blocks.")})
        dim = w["norm.weight"].shape[0]
        cfg = ViTConfig(dim=dim, depth=depth, mlp=w["blocks.0.fc1.bias"].shape[0],
                        patch=int(round(math.sqrt(w["embed.weight_t"].shape[0]))),
                        classes=w["head.bias"].shape[0])
    except KeyError as e:
        raise ValueError(f"{path}: not a static ViT exported by tac.train (no {e})") from None
    vit = ViT(cfg)
    state = {}
    for name, ref in vit.state_dict().items():
        if name == "cls":
            state[name] = torch.from_numpy(w["tok.cls_pos"].copy())
        elif name == "pos":
            state[name] = torch.cat([torch.zeros(1, 1, dim), torch.from_numpy(w["tok.pos_patch"].copy())], 1)
        elif name.endswith(".weight") and name + "_t" in w:
            state[name] = torch.from_numpy(w[name + "_t"].T.copy())
        else:
            state[name] = torch.from_numpy(w[name].copy())
        if tuple(state[name].shape) != tuple(ref.shape):
            raise ValueError(f"{path}: {name} has shape {tuple(state[name].shape)}, "
                             f"expected {tuple(ref.shape)}")
    vit.load_state_dict(state)
    return vit.eval()
