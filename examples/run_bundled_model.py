#!/usr/bin/env python3
"""The main job: the bundled adaptive Fashion-MNIST ViT, compiled by tac and
run by tac's runtime on the CPU, checked against ONNX Runtime on real test
images.

1. tac.compile (the compiler, in process) compiles
   models/fmnist_vit_adaptive.onnx (If-gated layers, a complexity predictor
   and an RL policy; see docs/training.md) into one .tacm file: a controller
   plan, one static variant per depth path, the weights and native x86-64
   kernels (report=True gives each plan's FLOPs and arena).
2. tac.InferenceSession (libtacrt) runs each test image: the controller
   picks a path, the runtime runs that variant.
3. ONNX Runtime runs the same ONNX file on the same images. The script
   compares depth choices, logits and predicted classes, and prints the path
   histogram, the mean FLOPs against the full model, and the latency of both
   (single thread, interleaved per image, median).
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    build = os.environ.get("TAC_BUILD_DIR", os.path.join(ROOT, "build"))
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "fmnist_vit_adaptive.onnx"))
    parser.add_argument("--images", type=int, default=200,
                        help="how many Fashion-MNIST test images to run")
    parser.add_argument("--keep", help="write the compiled .tacm here")
    args = parser.parse_args()

    import onnxruntime as ort
    import tac

    images = read_idx(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))[:args.images]
    labels = read_idx(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"))[:args.images]
    x = (images.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)

    tacm = args.keep or os.path.join(build, "fmnist_vit_adaptive.tacm")
    print(f"== tac.compile({os.path.relpath(args.model, ROOT)!r}, output={os.path.relpath(tacm, ROOT)!r}, report=True)")
    start = time.perf_counter()
    compiled = tac.compile(args.model, output=tacm, report=True)
    compile_s = time.perf_counter() - start
    print("   " + compiled.report.rstrip().replace("\n", "\n   "))
    print(f"   compiled in {compile_s:.2f} s")

    model = tac.InferenceSession(tacm, threads=1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    # What the deepest path costs as tac runs it (controller + variant).
    _, deepest = model.run_adaptive({"image": x[:1]}, path=max(v.path for v in model.variants))
    full = deepest.flops

    print(f"== libtacrt vs ONNX Runtime on {args.images} test images (1 thread)")
    for i in range(min(5, args.images)):  # warm-up, both engines
        model.run(None, {"image": x[i:i + 1]})
        session.run(None, {"image": x[i:i + 1]})
    agree_depth = agree_class = correct = 0
    worst = 0.0
    histogram, flops, tac_us, ort_us = {}, [], [], []
    for i in range(args.images):
        image = x[i:i + 1]
        start = time.perf_counter()
        outputs, info = model.run_adaptive({"image": image})
        tac_us.append((time.perf_counter() - start) * 1e6)
        start = time.perf_counter()
        ref = dict(zip(names, session.run(None, {"image": image})))
        ort_us.append((time.perf_counter() - start) * 1e6)
        got = dict(zip((o.name for o in model.get_outputs()), outputs))
        logits, ref_logits = got["logits"].ravel(), ref["logits"].ravel()
        worst = max(worst, float(np.max(np.abs(logits - ref_logits))))
        agree_depth += int(got["depth"]) == int(np.asarray(ref["depth"]).ravel()[0])
        agree_class += int(np.argmax(logits)) == int(np.argmax(ref_logits))
        correct += int(np.argmax(logits)) == int(labels[i])
        histogram[info.path] = histogram.get(info.path, 0) + 1
        flops.append(info.flops)

    n = args.images
    mean = sum(flops) / n
    print(f"   depth choice agrees:    {agree_depth}/{n}")
    print(f"   predicted class agrees: {agree_class}/{n}")
    print(f"   max |logit difference|: {worst:.2e}")
    print(f"   accuracy on these images: {correct}/{n} = {100.0 * correct / n:.1f}%")
    print(f"   path histogram (path: images): {dict(sorted(histogram.items()))}")
    print(f"   mean FLOPs per image (controller + variant): {mean / 1e6:.2f} M vs "
          f"{full / 1e6:.2f} M for the full model ({100 * (1 - mean / full):.1f}% fewer)")
    tac_median, ort_median = float(np.median(tac_us)), float(np.median(ort_us))
    print(f"   latency per image, median: tac {tac_median:.0f} us, ONNX Runtime "
          f"{ort_median:.0f} us on the same If-gated model: tac/ORT = "
          f"{tac_median / ort_median:.2f}")
    ok = agree_depth == n and agree_class == n and worst < 1e-4
    print("OK: tac matches ONNX Runtime" if ok else "MISMATCH: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
