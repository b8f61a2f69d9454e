"""Multi-exit ViT backbone for 28x28 grayscale images.

Every layer's output can be read out through the *shared* final LayerNorm and
linear head (an "exit"), so a model truncated to depth d is just the first d
layers followed by the usual head: no per-depth heads, no extra weights in the
exported model, and every truncated-depth variant is the same computation the
compiler would produce with ``--depths=``.

All modules here are TorchScript-compatible (the adaptive export scripts them).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# Fashion-MNIST pixel statistics (training set); normalisation lives inside
# the model so that the ONNX input is the plain image in [0, 1].
PIXEL_MEAN = 0.2860
PIXEL_STD = 0.3530


@dataclass
class ViTConfig:
    image: int = 28
    patch: int = 7
    dim: int = 64
    depth: int = 8
    heads: int = 4
    mlp: int = 128
    classes: int = 10

    @property
    def grid(self) -> int:
        return self.image // self.patch

    @property
    def tokens(self) -> int:  # patches + class token
        return self.grid * self.grid + 1

    def to_dict(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    """Pre-norm transformer encoder layer (MHSA + GELU MLP)."""

    def __init__(self, dim: int, heads: int, mlp: int):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = float(self.head_dim) ** -0.5
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
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


class ViT(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        if cfg.image % cfg.patch:
            raise ValueError(f"patch {cfg.patch} does not divide image {cfg.image}")
        self.cfg = cfg
        self.grid = cfg.grid
        self.patch = cfg.patch
        self.pixel_mean = PIXEL_MEAN
        self.pixel_std = PIXEL_STD
        self.embed = nn.Linear(cfg.patch * cfg.patch, cfg.dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos = nn.Parameter(torch.randn(1, cfg.tokens, cfg.dim) * 0.02)
        self.blocks = nn.ModuleList(
            [Block(cfg.dim, cfg.heads, cfg.mlp) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.classes)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def tokens(self, img: torch.Tensor) -> torch.Tensor:
        """[B,1,28,28] image in [0,1] -> [B, T, dim] tokens (patchify by reshape
        + one MatMul, so the ONNX graph has no Conv)."""
        b = img.shape[0]
        g, p = self.grid, self.patch
        x = (img - self.pixel_mean) / self.pixel_std
        x = x.reshape(b, g, p, g, p).permute(0, 1, 3, 2, 4).reshape(b, g * g, p * p)
        x = self.embed(x)
        x = torch.cat([self.cls.expand(b, -1, -1), x], dim=1)
        return x + self.pos

    def exit(self, x: torch.Tensor) -> torch.Tensor:
        """Shared readout: final LayerNorm + linear head on the class token."""
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
