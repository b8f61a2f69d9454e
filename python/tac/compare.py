"""Compares two compiled models on real inputs: a reduced-precision ``.tacm``
against the f32 one (``tac-compile --precision``), or any two builds of a model.

    python -m tac.compare REFERENCE.tacm CANDIDATE.tacm --data fmnist
    python -m tac.compare minilm.tacm minilm-int8.tacm --data manpages \\
        --vocab /path/to/vocab.txt
    python -m tac.compare a.tacm b.tacm --data inputs.pt

Data (all rows of the test split unless ``--limit``):

* ``fmnist``: the 10000 Fashion-MNIST test images (Debian's
  dataset-fashion-mnist), with labels: accuracy of each model.
* ``manpages``: the DESCRIPTION text of the Linux man pages in tac.adapt's
  test split (Debian's manpages, manpages-dev), tokenised with ``--vocab``
  (a BERT vocab.txt) at the model's sequence length; outputs are pooled into
  sentence embeddings (the mean over tokens the attention mask keeps).
* a ``.pt`` file (``torch.save``) holding ``{"inputs": {name: tensor},
  "labels": tensor}`` (labels optional), or tac.adapt's split layout.

Prints, for every output: the largest absolute difference and the cosine
similarity of the two models' rows (mean and worst); with labels, each
model's accuracy and how often their top-1 classes agree; for adaptive
models, how often both picked the same path. Inputs the data lacks are fed
as zeros, and the report says so.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np


class CompareError(Exception):
    pass


def _load_data(spec: str, limit: int | None, vocab: str | None, seq: int | None):
    """(inputs: {name: array with a leading row dim}, labels or None, what)."""
    import torch
    if spec == "fmnist":
        from tac.adapt.data import fashion_mnist
        split = fashion_mnist().test
        what = "Fashion-MNIST test images"
    elif spec == "manpages":
        from tac.adapt.data import Tokenizer, manpages
        if not vocab:
            raise CompareError("--data manpages needs --vocab: the model's BERT vocab.txt")
        if not seq:
            raise CompareError("--data manpages: the model has no [rows, tokens] input")
        data = manpages(Tokenizer(vocab), doc_len=seq)
        split = data.test
        inputs = {k: v for k, v in split.docs.items()}
        out = {k: v.numpy() for k, v in inputs.items()}
        n = len(next(iter(out.values())))
        if limit:
            out = {k: v[:limit] for k, v in out.items()}
        return out, None, (f"{min(n, limit or n)} of {n} man-page descriptions in "
                           f"tac.adapt's test split, {seq} tokens")
    elif os.path.isfile(spec):
        obj = torch.load(spec)
        if isinstance(obj, dict) and "test" in obj:
            obj = obj["test"]
        if not isinstance(obj, dict) or not isinstance(obj.get("inputs"), dict):
            raise CompareError(f"{spec}: expected {{'inputs': {{name: tensor}}, "
                               "'labels': tensor}} (torch.save)")
        from tac.adapt.data import Split
        split = Split(dict(obj["inputs"]), obj.get("labels"))
        what = f"rows of {spec}"
    else:
        raise CompareError(f"unknown --data {spec!r}: use fmnist, manpages or a .pt file")
    inputs = {k: (v.numpy() if hasattr(v, "numpy") else np.asarray(v))
              for k, v in split.inputs.items()}
    labels = None if split.labels is None else np.asarray(split.labels)
    n = len(next(iter(inputs.values())))
    if limit:
        inputs = {k: v[:limit] for k, v in inputs.items()}
        labels = None if labels is None else labels[:limit]
    return inputs, labels, f"{min(n, limit or n)} of {n} {what}"


def _feed(session, inputs: dict, notes: list) -> dict:
    """The model's inputs from the data: matched by name (or, for a model
    with one input and data with one array, by position), cast to the
    model's dtype; missing ones are zeros."""
    feed = {}
    rows = len(next(iter(inputs.values())))
    specs = session.get_inputs()
    for spec in specs:
        shape = [int(d) for d in spec.shape]
        dtype = np.dtype(spec.dtype)  # NumPy's name for the model's type
        if spec.name in inputs:
            value = inputs[spec.name]
        elif len(specs) == 1 and len(inputs) == 1:
            value = next(iter(inputs.values()))
        else:
            value = np.zeros([rows] + shape[1:], dtype)
            notes.append(f"input '{spec.name}' is not in the data: fed zeros")
        value = np.ascontiguousarray(value, dtype=dtype)
        want = tuple(shape[1:])
        if tuple(value.shape[1:]) != want:
            try:
                value = value.reshape((rows,) + want)
            except ValueError:
                raise CompareError(f"input '{spec.name}': the data's rows are "
                                   f"{list(value.shape[1:])}, the model's {list(want)}") from None
        feed[spec.name] = value
    return feed


def _run(session, feed: dict, rows: int, chunk: int):
    outs, paths = None, []
    for start in range(0, rows, chunk):
        part = {k: v[start:start + chunk] for k, v in feed.items()}
        values, info = session.run_adaptive(part)
        outs = [[v] for v in values] if outs is None else \
            [o + [v] for o, v in zip(outs, values)]
        paths.extend(info.paths)
    return [np.concatenate(o) for o in outs], np.asarray(paths)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(na * nb, 1e-30)


def compare(reference: str, candidate: str, data: str, limit: int | None = None,
            vocab: str | None = None, chunk: int = 64) -> dict:
    """The comparison as a dict (what main prints)."""
    import tac
    ref, cand = tac.InferenceSession(reference), tac.InferenceSession(candidate)
    names = [s.name for s in ref.get_inputs()]
    if names != [s.name for s in cand.get_inputs()]:
        raise CompareError(f"the models' inputs differ: {names} vs "
                           f"{[s.name for s in cand.get_inputs()]}")
    seq = next((int(s.shape[1]) for s in ref.get_inputs()
                if len(s.shape) == 2 and "int" in str(s.type)), None)
    inputs, labels, what = _load_data(data, limit, vocab, seq)
    notes: list[str] = []
    feed = _feed(ref, inputs, notes)
    rows = len(next(iter(feed.values())))
    (ref_out, ref_paths), (cand_out, cand_paths) = (_run(ref, feed, rows, chunk),
                                                    _run(cand, feed, rows, chunk))
    result = {"rows": rows, "data": what, "notes": notes, "outputs": []}
    mask = feed.get("attention_mask")
    for spec, a, b in zip(ref.get_outputs(), ref_out, cand_out):
        entry = {"name": spec.name,
                 "max_abs_diff": float(np.abs(a.astype(np.float64) - b).max())}
        if not np.issubdtype(a.dtype, np.floating):  # ids, depths: equal or not
            same = (a.reshape(len(a), -1) == b.reshape(len(b), -1)).all(1)
            entry["equal_rows"] = float(same.mean())
            result["outputs"].append(entry)
            continue
        cos = _cosine(a, b)
        entry["cosine_mean"], entry["cosine_min"] = float(cos.mean()), float(cos.min())
        if mask is not None and a.ndim == 3 and a.shape[:2] == mask.shape:
            m = mask[..., None].astype(np.float64)
            pooled = [(x * m).sum(1) / np.maximum(m.sum(1), 1) for x in (a, b)]
            cos = _cosine(*pooled)
            entry["embedding_cosine_mean"] = float(cos.mean())
            entry["embedding_cosine_min"] = float(cos.min())
        if a.ndim == 2 and a.shape[1] > 1:
            top_a, top_b = a.argmax(1), b.argmax(1)
            entry["top1_agreement"] = float((top_a == top_b).mean())
            if labels is not None and a.shape[1] == int(labels.max()) + 1:
                entry["accuracy_reference"] = float((top_a == labels).mean())
                entry["accuracy_candidate"] = float((top_b == labels).mean())
        result["outputs"].append(entry)
    if len(set(ref_paths.tolist())) > 1 or len(set(cand_paths.tolist())) > 1:
        result["path_agreement"] = float((ref_paths == cand_paths).mean())
        result["paths_changed"] = int((ref_paths != cand_paths).sum())
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tac.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("reference", help="the .tacm to compare against (the f32 build)")
    p.add_argument("candidate", help="the .tacm to compare (a reduced-precision build)")
    p.add_argument("--data", required=True, help="fmnist, manpages or a .pt file")
    p.add_argument("--limit", type=int, default=None, help="first N rows only")
    p.add_argument("--vocab", default=None, help="--data manpages: the model's vocab.txt")
    p.add_argument("--chunk", type=int, default=64, help="rows per run (default 64)")
    a = p.parse_args(argv)
    try:
        r = compare(a.reference, a.candidate, a.data, a.limit, a.vocab, a.chunk)
    except (CompareError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # tac's own errors name the file and the problem
        if type(e).__module__.startswith("tac"):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise
    print(f"{r['rows']} rows: {r['data']}")
    for note in r["notes"]:
        print(f"note: {note}")
    for o in r["outputs"]:
        if "equal_rows" in o:
            print(f"output {o['name']}: equal in {100 * o['equal_rows']:.2f}% of rows "
                  f"(max |diff| {o['max_abs_diff']:.3g})")
            continue
        line = (f"output {o['name']}: max |diff| {o['max_abs_diff']:.3g}, cosine mean "
                f"{o['cosine_mean']:.6f} (worst {o['cosine_min']:.6f})")
        if "embedding_cosine_mean" in o:
            line += (f", pooled embedding cosine mean {o['embedding_cosine_mean']:.6f} "
                     f"(worst {o['embedding_cosine_min']:.6f})")
        if "top1_agreement" in o:
            line += f", top-1 agreement {100 * o['top1_agreement']:.2f}%"
        if "accuracy_reference" in o:
            d = 100 * (o["accuracy_candidate"] - o["accuracy_reference"])
            line += (f", accuracy {100 * o['accuracy_reference']:.2f}% -> "
                     f"{100 * o['accuracy_candidate']:.2f}% ({d:+.2f} pp)")
        print(line)
    if "path_agreement" in r:
        print(f"paths: {100 * r['path_agreement']:.2f}% agree "
              f"({r['paths_changed']} of {r['rows']} rows changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
