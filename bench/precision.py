#!/usr/bin/env python3
"""Reduced precision: tac's bf16 and int8 builds (tac-compile --precision)
against ONNX Runtime FP32 and ONNX Runtime's own int8 model, and what each
costs in accuracy on real inputs. Writes the "Results" section of
docs/precision.md.

    .venv/bin/python bench/precision.py                     # everything
    .venv/bin/python bench/precision.py --skip-accuracy     # speed and sizes only
    .venv/bin/python bench/precision.py --models minilm --batches 1

Speed (ViT-Small and MiniLM, batch 1 and 32, 1 thread): every engine is
loaded into this process and timed interleaved as bench/run_bench.py times
them (each repetition runs every engine once, the starting engine rotating;
ratios are the median of per-repetition ratios). The engines: ONNX Runtime
FP32 and ONNX Runtime int8 (the model onnxruntime.quantization.quantize_dynamic
writes, with its defaults: uint8 activations, int8 weights, per tensor), each
at the fastest of its one-thread configurations (run_bench's candidates);
tac f32, bf16 and int8 through tac.InferenceSession.

quantize_dynamic needs onnx >= 1.13 and ml_dtypes, newer than the Debian
onnx the rest of tac uses: this script installs them once into
<cache>/quantize-deps (pip --target, no dependencies) and quantises in a
child process that sees them, so the project's environment is unchanged.

Accuracy (python -m tac.compare, the f32 .tacm as reference): the bundled
Fashion-MNIST models (static and adaptive) on all 10000 test images, and
MiniLM's pooled sentence embeddings on the man-page descriptions of
tac.adapt's test split; ONNX Runtime's int8 model against its FP32 model on
the same inputs, for comparison.

Sizes: each build's weight bytes (tac-compile --report) against the f32
build's, and the ONNX files' sizes.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import run_bench as R  # noqa: E402

PRECISIONS = ("f32", "bf16", "int8")
QUANTIZE_DEPS = ("onnx==1.17.0", "ml_dtypes==0.4.1")
RESULTS = "## Results"


def log(msg: str) -> None:
    print(f"[precision] {msg}", flush=True)


def quantize_deps(cache: str) -> str:
    """A directory holding the packages quantize_dynamic imports."""
    path = os.path.join(cache, "quantize-deps")
    stamp = os.path.join(path, ".installed")
    if not os.path.exists(stamp) or open(stamp).read() != " ".join(QUANTIZE_DEPS):
        log(f"installing {', '.join(QUANTIZE_DEPS)} into {path} (for quantize_dynamic only)")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--upgrade", "--target", path, *QUANTIZE_DEPS], check=True)
        with open(stamp, "w") as f:
            f.write(" ".join(QUANTIZE_DEPS))
    return path


def ort_int8_model(src: str, cache: str) -> str:
    """quantize_dynamic(src) with its defaults, cached in `cache`."""
    out = os.path.join(cache, os.path.basename(src)[:-5] + "_ort_int8.onnx")
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return out
    env = dict(os.environ, PYTHONPATH=quantize_deps(cache))
    code = ("import sys\nfrom onnxruntime.quantization import quantize_dynamic\n"
            "quantize_dynamic(sys.argv[1], sys.argv[2])\n")
    subprocess.run([sys.executable, "-c", code, src, out + ".tmp"], check=True, env=env,
                   capture_output=True)
    os.replace(out + ".tmp", out)
    return out


def weight_bytes(log_path: str) -> int:
    import re
    with open(log_path) as f:
        found = re.search(r"weights: (\d+) B", f.read())
    return int(found.group(1))


def build(tac_compile: str, onnx_path: str, cache: str, reuse: bool,
          calibration: dict | None = None) -> dict:
    """{precision: (tacm path, compile meta)}; with `calibration` ({input:
    array}, rows the compared data never holds) also "int8-cal", the int8
    build given them (tac-compile --calibration)."""
    out = {}
    stem = os.path.join(cache, "precision", os.path.basename(onnx_path)[:-5])
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    todo = [(p, (f"--precision={p}",)) for p in PRECISIONS]
    if calibration:
        flags = ["--precision=int8"]
        for name, array in calibration.items():
            np.save(f"{stem}_calibration_{name}.npy", array)
            flags.append(f"--calibration={name}={stem}_calibration_{name}.npy")
        todo.append(("int8-cal", tuple(flags)))
    for p, flags in todo:
        tacm = f"{stem}_{p}.tacm"
        meta = R.compile_tac(tac_compile, onnx_path, tacm, reuse=reuse, extra=flags)
        meta["weight_bytes"] = weight_bytes(tacm + ".log")
        meta["file_bytes"] = os.path.getsize(tacm)
        out[p] = (tacm, meta)
    return out


CALIBRATION_ROWS = 256


def fmnist_calibration() -> dict:
    """The first 256 images of tac.train's training split (the accuracy rows
    are the test split's)."""
    from tac.adapt.data import fashion_mnist
    images = fashion_mnist().train.take(CALIBRATION_ROWS).inputs["image"]
    return {"image": images.numpy().astype(np.float32)}


def manpages_calibration(vocab: str, inputs: list[str], seq: int) -> dict:
    """The DESCRIPTIONs of 256 man pages of tac.adapt's train split (the
    accuracy rows are the test split's); inputs the data lacks are zeros."""
    from tac.adapt.data import Tokenizer, manpages
    docs = manpages(Tokenizer(vocab), doc_len=seq).train.docs
    out = {k: v[:CALIBRATION_ROWS].numpy().astype(np.int64) for k, v in docs.items()
           if k in inputs}
    rows = len(next(iter(out.values())))
    for name in inputs:
        out.setdefault(name, np.zeros((rows, seq), np.int64))
    return out


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))


def agreement(out: np.ndarray, ref: np.ndarray, inputs: dict) -> float:
    """Mean cosine over rows: of the pooled sentence embeddings (mean over
    the tokens the attention mask keeps; padding tokens' states mean
    nothing) for text models, else of each row's output."""
    mask = inputs.get("attention_mask")
    if mask is not None and out.ndim == 3 and out.shape[:2] == mask.shape:
        m = mask[..., None].astype(np.float64)
        out, ref = ((x * m).sum(1) / np.maximum(m.sum(1), 1) for x in (out, ref))
    return float(np.mean([cosine(x, y) for x, y in zip(out, ref)]))


def speed_cell(name: str, batch: int, a, X) -> dict:
    log(f"{name} batch {batch}")
    meta = X.export_one(name, batch, a.cache)
    src = X.model_path(a.cache, name, batch)
    q = ort_int8_model(src, a.cache)
    builds = build(a.tac_compile, src, a.cache, a.reuse_tacm)
    pool = R.input_pool(name, batch, quick=False)
    cfg_f32 = R.pick_ort_config(src, 1, pool, R.cores_default())
    cfg_int8 = R.pick_ort_config(q, 1, pool, R.cores_default())
    engines = [R.make_ort(src, 1, "ORT", config=cfg_f32),
               R.make_ort(q, 1, "ORT int8", config=cfg_int8)]
    engines += [R.make_tac(builds[p][0], False, f"tac {p}") for p in PRECISIONS]
    ref = engines[0].fn(pool[0])
    outputs = {e.name: e.fn(pool[0]) for e in engines}
    scale = max(1.0, float(np.abs(ref).max()))
    tac_f32_diff = float(np.abs(outputs["tac f32"] - ref).max())
    if tac_f32_diff > 1e-3 * scale:
        raise RuntimeError(f"{name} b{batch}: tac f32 differs from ORT by {tac_f32_diff}")
    m = R.measure(engines, pool, a.budget, 5, 200, False)
    times = {e.name: e.times for e in engines}

    def ratio(x: str, y: str) -> float:
        return statistics.median(p / q for p, q in zip(times[x], times[y]))
    return {
        "model": name, "batch": batch, "export": meta.get("file"),
        "ort_configs": {"f32": cfg_f32["label"], "int8": cfg_int8["label"]},
        "median_ms": {k: 1e3 * v["median_s"] for k, v in m["engines"].items()},
        "reps": m["reps"], "calls_per_rep": m["calls_per_rep"],
        "ratios": {"tac int8 / ORT int8": ratio("tac int8", "ORT int8"),
                   "tac int8 / ORT f32": ratio("tac int8", "ORT"),
                   "tac bf16 / ORT f32": ratio("tac bf16", "ORT"),
                   "tac f32 / ORT f32": ratio("tac f32", "ORT"),
                   "ORT int8 / ORT f32": ratio("ORT int8", "ORT")},
        "cosine_vs_ort_f32": {k: agreement(v, ref, pool[0]) for k, v in outputs.items()},
        "weight_bytes": {p: builds[p][1]["weight_bytes"] for p in PRECISIONS},
        "file_bytes": {p: builds[p][1]["file_bytes"] for p in PRECISIONS},
        "onnx_bytes": {"f32": os.path.getsize(src), "int8": os.path.getsize(q)},
    }


def ort_rows(path: str, feed: dict, chunk: int = 1) -> np.ndarray:
    """ORT's first output over all rows of `feed`, `chunk` rows a call."""
    sess = R.ort_session(path, 1)
    names = [i.name for i in sess.get_inputs()]
    rows = len(next(iter(feed.values())))
    out = [sess.run(None, {n: feed[n][i:i + chunk] for n in names})[0]
           for i in range(0, rows, chunk)]
    return np.concatenate(out)


def accuracy(a, X) -> dict:
    from tac.compare import _feed, _load_data, compare
    import tac
    res = {}
    for name, onnx_path in (("fmnist_static", X.BUNDLED["fmnist_static"]),
                            ("fmnist_adaptive", os.path.join(ROOT, "models",
                                                             "fmnist_vit_adaptive.onnx"))):
        log(f"accuracy: {name}")
        builds = build(a.tac_compile, onnx_path, a.cache, a.reuse_tacm,
                       calibration=fmnist_calibration())
        entry = {p: compare(builds["f32"][0], builds[p][0], "fmnist", limit=a.rows)
                 for p in ("bf16", "int8", "int8-cal")}
        entry["weight_bytes"] = {p: builds[p][1]["weight_bytes"] for p in builds}
        if name == "fmnist_static":  # ONNX Runtime's int8 model on the same images
            q = ort_int8_model(onnx_path, a.cache)
            inputs, labels, what = _load_data("fmnist", a.rows, None, None)
            feed = {"image": inputs["image"].astype(np.float32)}
            f32, i8 = ort_rows(onnx_path, feed), ort_rows(q, feed)
            entry["ort"] = {"accuracy_f32": float((f32.argmax(1) == labels).mean()),
                            "accuracy_int8": float((i8.argmax(1) == labels).mean()),
                            "top1_agreement": float((f32.argmax(1) == i8.argmax(1)).mean()),
                            "rows": len(labels)}
        res[name] = entry
    log("accuracy: minilm (man pages)")
    X.export_one("minilm", 1, a.cache)
    src = X.model_path(a.cache, "minilm", 1)
    vocab = os.path.join(X.minilm_dir(), "vocab.txt")
    spec = R.ort_session(src, 1).get_inputs()
    builds = build(a.tac_compile, src, a.cache, a.reuse_tacm,
                   calibration=manpages_calibration(vocab, [i.name for i in spec],
                                                    int(spec[0].shape[1])))
    entry = {p: compare(builds["f32"][0], builds[p][0], "manpages", limit=a.rows, vocab=vocab)
             for p in ("bf16", "int8", "int8-cal")}
    # ONNX Runtime's int8 model against its FP32 model, the same rows and pooling.
    sess = tac.InferenceSession(builds["f32"][0])
    inputs, _, what = _load_data("manpages", a.rows, vocab,
                                 int(sess.get_inputs()[0].shape[1]))
    feed = _feed(sess, inputs, [])
    q = ort_int8_model(src, a.cache)
    pooled = []
    for path in (src, q):
        hidden = ort_rows(path, feed)
        m = feed["attention_mask"][..., None].astype(np.float64)
        pooled.append((hidden * m).sum(1) / np.maximum(m.sum(1), 1))
    cos = [cosine(x, y) for x, y in zip(*pooled)]
    entry["ort"] = {"embedding_cosine_mean": float(np.mean(cos)),
                    "embedding_cosine_min": float(np.min(cos)), "rows": len(cos)}
    res["minilm"] = entry
    return res


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

def md(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def render(r: dict) -> str:
    lines = [RESULTS, "",
             f"Measured {r['started']} by `{r['command']}` on {r['machine']} "
             f"({r['elapsed_s'] / 60:.0f} min). ONNX Runtime {r['ort_version']}.", ""]
    if r.get("speed"):
        lines += ["### Speed (1 thread)", "",
                  "Median of per-repetition ratios, engines interleaved in one process; "
                  "below 1 means tac is faster. Milliseconds are medians per call.", ""]
        rows = [["model", "batch", "tac int8 ÷ ORT int8", "tac int8 ÷ ORT FP32",
                 "tac bf16 ÷ ORT FP32", "tac f32 ÷ ORT FP32", "ORT int8 ÷ ORT FP32",
                 "ms: ORT FP32 / ORT int8 / tac f32 / bf16 / int8", "reps"]]
        for c in r["speed"]:
            t = c["ratios"]
            ms = c["median_ms"]
            rows.append([c["model"], str(c["batch"]),
                         f"{t['tac int8 / ORT int8']:.2f}", f"{t['tac int8 / ORT f32']:.2f}",
                         f"{t['tac bf16 / ORT f32']:.2f}", f"{t['tac f32 / ORT f32']:.2f}",
                         f"{t['ORT int8 / ORT f32']:.2f}",
                         " / ".join(f"{ms[k]:.1f}" for k in
                                    ("ORT", "ORT int8", "tac f32", "tac bf16", "tac int8")),
                         f"{c['reps']} × {c['calls_per_rep']}"])
        lines += [md(rows), "", "ONNX Runtime's configuration (the fastest one-thread "
                  "candidate): " + "; ".join(
                      f"{c['model']} b{c['batch']}: FP32 {c['ort_configs']['f32']}, "
                      f"int8 {c['ort_configs']['int8']}" for c in r["speed"]) + ".", ""]
        lines += ["### Output agreement and sizes", "",
                  "Cosine similarity to ONNX Runtime FP32's output on the timed input, mean "
                  "over rows (MiniLM: of the pooled sentence embeddings, the mean over the "
                  "tokens the mask keeps); weights: tac-compile --report's weight bytes, and "
                  "the ONNX files.", ""]
        rows = [["model", "batch", "cosine: tac bf16 / tac int8 / ORT int8",
                 "tac weights f32 → bf16 → int8 (MB)", "bf16 ÷ f32", "int8 ÷ f32",
                 "ONNX FP32 → int8 (MB)"]]
        for c in r["speed"]:
            cs, w, o = c["cosine_vs_ort_f32"], c["weight_bytes"], c["onnx_bytes"]
            rows.append([c["model"], str(c["batch"]),
                         f"{cs['tac bf16']:.6f} / {cs['tac int8']:.5f} / {cs['ORT int8']:.5f}",
                         " → ".join(f"{w[p] / 1e6:.1f}" for p in PRECISIONS),
                         f"{w['bf16'] / w['f32']:.2f}", f"{w['int8'] / w['f32']:.2f}",
                         f"{o['f32'] / 1e6:.1f} → {o['int8'] / 1e6:.1f}"])
        lines += [md(rows), ""]
    if r.get("accuracy"):
        acc = r["accuracy"]
        lines += ["### Accuracy on real inputs", "",
                  "`python -m tac.compare` of each build against tac's f32 build.", ""]
        rows = [["model", "data", "precision", "f32 → reduced", "agreement",
                 "paths changed", "weights ÷ f32"]]
        label = {"bf16": "bf16", "int8": "int8",
                 "int8-cal": f"int8, calibrated ({CALIBRATION_ROWS} train rows)"}
        for name in ("fmnist_static", "fmnist_adaptive"):
            e = acc[name]
            for p in ("bf16", "int8", "int8-cal"):
                c = e[p]
                o = next(x for x in c["outputs"] if "accuracy_reference" in x)
                changed = (f"{c['paths_changed']} of {c['rows']}" if "paths_changed" in c
                           else "—")
                rows.append([name.replace("_", " "), c["data"], label[p],
                             f"{100 * o['accuracy_reference']:.2f}% → "
                             f"{100 * o['accuracy_candidate']:.2f}% "
                             f"({100 * (o['accuracy_candidate'] - o['accuracy_reference']):+.2f} pp)",
                             f"top-1 {100 * o['top1_agreement']:.2f}%", changed,
                             f"{e['weight_bytes'][p] / e['weight_bytes']['f32']:.2f}"])
        o = acc["fmnist_static"]["ort"]
        rows.append(["fmnist static, ONNX Runtime int8", f"{o['rows']} test images", "int8",
                     f"{100 * o['accuracy_f32']:.2f}% → {100 * o['accuracy_int8']:.2f}% "
                     f"({100 * (o['accuracy_int8'] - o['accuracy_f32']):+.2f} pp)",
                     f"top-1 {100 * o['top1_agreement']:.2f}%", "—", "—"])
        e = acc["minilm"]
        for p in ("bf16", "int8", "int8-cal"):
            c = e[p]
            o = c["outputs"][0]
            rows.append(["MiniLM", c["data"], label[p], "—",
                         f"embedding cosine mean {o['embedding_cosine_mean']:.5f} "
                         f"(worst {o['embedding_cosine_min']:.5f})", "—", "—"])
        o = e["ort"]
        rows.append(["MiniLM, ONNX Runtime int8", f"the same {o['rows']} descriptions", "int8",
                     "—", f"embedding cosine mean {o['embedding_cosine_mean']:.5f} "
                     f"(worst {o['embedding_cosine_min']:.5f})", "—", "—"])
        lines += [md(rows), ""]
    return "\n".join(lines)


def write_docs(path: str, section: str) -> None:
    text = open(path).read() if os.path.exists(path) else "# Reduced precision\n\n"
    start = text.find(RESULTS)
    if start < 0:
        text = text.rstrip() + "\n\n" + section + "\n"
    else:
        end = text.find("\n## ", start + len(RESULTS))
        text = text[:start] + section + ("\n" + text[end + 1:] if end >= 0 else "\n")
    with open(path, "w") as f:
        f.write(text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--models", default="vit_small,minilm")
    p.add_argument("--batches", default="1,32")
    p.add_argument("--budget", type=float, default=40.0,
                   help="seconds of timed repetitions per cell, roughly")
    p.add_argument("--rows", type=int, default=None,
                   help="accuracy: first N rows of each data set (default all)")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-accuracy", action="store_true")
    p.add_argument("--cache", default=os.path.join(HERE, ".models"))
    p.add_argument("--tac-compile", default=os.path.join(ROOT, "build", "bin", "tac-compile"))
    p.add_argument("--reuse-tacm", action="store_true")
    p.add_argument("--docs", default=os.path.join(ROOT, "docs", "precision.md"))
    p.add_argument("--no-docs", action="store_true")
    a = p.parse_args(argv)
    import export_bench_models as X
    import onnxruntime
    started = time.time()
    r = {"started": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
         "command": ".venv/bin/python bench/precision.py" + "".join(
             f" {x}" for x in (argv if argv is not None else sys.argv[1:])),
         "machine": "{model_name}, {isa}".format(**R.machine_info()),
         "ort_version": onnxruntime.__version__}
    if not a.skip_speed:
        r["speed"] = [speed_cell(m, int(b), a, X) for m in a.models.split(",")
                      for b in a.batches.split(",")]
    if not a.skip_accuracy:
        r["accuracy"] = accuracy(a, X)
    r["elapsed_s"] = time.time() - started
    with open(os.path.join(a.cache, "precision.json"), "w") as f:
        json.dump(r, f, indent=1)
    section = render(r)
    print(section)
    if not a.no_docs:
        write_docs(a.docs, section)
        log(f"wrote {os.path.relpath(a.docs, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
