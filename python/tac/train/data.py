"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` (IDX, gzip), read directly."""
from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

# IDX type codes -> numpy dtypes (big-endian where it matters).
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4",
               0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
    """Reads one IDX file (optionally gzip-compressed) into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic {data[:4]!r})")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX element type 0x{code:02x}")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(dims)) * dtype.itemsize
    body = data[4 + 4 * ndim:]
    if len(body) != expected:
        raise ValueError(f"{path}: expected {expected} data bytes for shape "
                         f"{dims}, found {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


@dataclass
class Split:
    images: torch.Tensor  # float32 [N, 1, 28, 28] in [0, 1]
    labels: torch.Tensor  # int64 [N]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, n: int | None) -> "Split":
        if n is None or n >= len(self):
            return self
        return Split(self.images[:n], self.labels[:n])


def load_split(kind: str, root: str = DEFAULT_DIR) -> Split:
    """kind: 'train' (60k) or 't10k' (10k test images)."""
    imgs = read_idx(os.path.join(root, f"{kind}-images-idx3-ubyte.gz"))
    labs = read_idx(os.path.join(root, f"{kind}-labels-idx1-ubyte.gz"))
    if imgs.shape[0] != labs.shape[0]:
        raise ValueError(f"{kind}: {imgs.shape[0]} images but {labs.shape[0]} labels")
    x = torch.from_numpy(imgs.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labs.astype(np.int64))
    return Split(x, y)


def load_fashion_mnist(root: str = DEFAULT_DIR, holdout: int = 10000,
                       seed: int = 0) -> tuple[Split, Split, Split]:
    """Returns (backbone-train, controller holdout, test).

    The holdout is carved out of the official training set with a fixed
    permutation; the backbone never trains on it, so the predictor, policy and
    early-exit thresholds see the backbone's behaviour on unseen images.
    """
    train = load_split("train", root)
    test = load_split("t10k", root)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(train), generator=g)
    hold_idx, tr_idx = perm[:holdout], perm[holdout:]
    return (Split(train.images[tr_idx], train.labels[tr_idx]),
            Split(train.images[hold_idx], train.labels[hold_idx]), test)
