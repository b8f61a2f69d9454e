#!/usr/bin/env python3
"""The main job: the bundled adaptive Fashion-MNIST ViT, compiled by tac and
run on the CPU, checked against ONNX Runtime on real test images.

1. tac-opt imports models/fmnist_vit_adaptive.onnx (If-gated layers, a
   complexity predictor and an RL policy; see docs/training.md) and runs
   the tac-adaptive pipeline: gates → adaptive block → folded layer stack →
   one static function per path + the controller, each with its cost.
2. A driver runs, per image, the controller, then the variant it picks
   (one static function per path), and prints the chosen path, the
   model's depth output and its logits. The module is lowered with tac's
   reference CPU pipeline (plain loops, not the optimised backend: this
   checks correctness, not speed) and executed with mlir-runner.
3. ONNX Runtime runs the same ONNX file on the same images; the script
   compares depth choices, logits and predicted classes, and prints the
   accuracy and mean FLOPs of what tac ran.
"""
import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "/usr/share/datasets/fashion-mnist"
ADAPTIVE = ["--tac-adaptive=report=true"]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd[:3])} ...\n{proc.stderr[-3000:]}")
    return proc.stdout


def driver(images, variants, controller_results, variant_results, logits_index,
           depth_index):
    """MLIR for @run_all: controller, then the chosen variant, per image."""
    k = images.shape[0]
    hexdata = images.astype("<f4").tobytes().hex().upper()
    img_type = "tensor<1x1x28x28xf32>"
    ctrl_types = ", ".join(controller_results)
    var_types = ", ".join(variant_results)
    n_var = len(variant_results)
    cases = []
    for i, name in enumerate(variants):
        label = "default" if i == len(variants) - 1 else f"case {i}"
        cases.append(f"""      {label} {{
        %r:{n_var} = func.call @{name}(%img) : ({img_type}) -> ({var_types})
        scf.yield %r#{logits_index}, %r#{depth_index} : {variant_results[logits_index]}, {variant_results[depth_index]}
      }}""")
    case_list = ", ".join(str(i) for i in range(len(variants) - 1))
    return f"""
  func.func private @printMemrefF32(tensor<*xf32>)
  func.func private @printMemrefI64(tensor<*xi64>)
  func.func @run_all() {{
    %images = arith.constant dense<"0x{hexdata}"> : tensor<{k}x1x28x28xf32>
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %ck = arith.constant {k} : index
    scf.for %i = %c0 to %ck step %c1 {{
      %img = tensor.extract_slice %images[%i, 0, 0, 0] [1, 1, 28, 28] [1, 1, 1, 1] : tensor<{k}x1x28x28xf32> to {img_type}
      %c:{len(controller_results)} = func.call @main_controller(%img) : ({img_type}) -> ({ctrl_types})
      %logits, %depth = scf.index_switch %c#0 -> {variant_results[logits_index]}, {variant_results[depth_index]}
{chr(10).join(cases[:-1])}
{cases[-1]}
      %p64 = arith.index_cast %c#0 : index to i64
      %p = tensor.from_elements %p64 : tensor<1xi64>
      %pu = tensor.cast %p : tensor<1xi64> to tensor<*xi64>
      func.call @printMemrefI64(%pu) : (tensor<*xi64>) -> ()
      %d = tensor.cast %depth : {variant_results[depth_index]} to tensor<*xi64>
      func.call @printMemrefI64(%d) : (tensor<*xi64>) -> ()
      %l = tensor.cast %logits : {variant_results[logits_index]} to tensor<*xf32>
      func.call @printMemrefF32(%l) : (tensor<*xf32>) -> ()
    }}
    return
  }}
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tac-opt", default=os.path.join(ROOT, "build", "bin", "tac-opt"))
    parser.add_argument("--mlir-runner", default="/usr/lib/llvm-22/bin/mlir-runner")
    parser.add_argument("--mlir-lib-dir", default="/usr/lib/llvm-22/lib")
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "fmnist_vit_adaptive.onnx"))
    parser.add_argument("--images", type=int, default=40,
                        help="how many Fashion-MNIST test images to run")
    parser.add_argument("--keep", help="write the specialised and driver MLIR here")
    args = parser.parse_args()

    images = read_idx(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))[:args.images]
    labels = read_idx(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"))[:args.images]
    x = (images.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)

    print(f"== tac-opt {os.path.relpath(args.model, ROOT)} --tac-adaptive=report=true")
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        ir_path = os.path.join(tmp, "specialised.mlir")
        report = run([args.tac_opt, args.model, *ADAPTIVE, "-o", ir_path])
        with open(ir_path) as f:
            specialised = f.read()
    compile_s = time.time() - start
    if report.strip():
        print(report.rstrip())
    module, _, resources = specialised.partition("\n{-#")
    main_attrs = re.search(r"func\.func @main\((.*?)\) -> \((.*?)\) attributes \{(.*?)\} \{", module)
    variants = re.findall(r"@(main_path\d+)", re.search(r"tac\.variants = \[(.*?)\]", module).group(1))
    outputs = re.findall(r'"([^"]+)"', re.search(r"tac\.output_names = \[(.*?)\]", main_attrs.group(3)).group(1))
    variant_results = [t.strip() for t in re.split(r",\s*(?=tensor)", main_attrs.group(2))]
    controller_sig = re.search(r"func\.func @main_controller\(.*?\) -> \(?(.*?)\)? attributes", module)
    controller_results = [t.strip() for t in re.split(r",\s*(?=tensor|index)", controller_sig.group(1))]
    paths = json.loads("[" + re.search(r"tac\.paths = #tac\.paths<(.*?)>", module).group(1) + "]")
    print(f"   {len(variants)} variants + controller in {compile_s:.2f} s; "
          f"paths (gated layers run): {paths}")

    logits_index, depth_index = outputs.index("logits"), outputs.index("depth")
    last = module.rstrip().rfind("}")
    program = (module[:last] + driver(x, variants, controller_results, variant_results,
                                      logits_index, depth_index) + "}\n")
    if resources:
        program += "\n{-#" + resources
    if args.keep:
        with open(args.keep, "w") as f:
            f.write(program)

    print(f"== tac-opt --tac-reference-cpu | mlir-runner  ({args.images} test images)")
    start = time.time()
    llvm = run([args.tac_opt, "-", "--tac-reference-cpu"], input=program)
    libs = ",".join(os.path.join(args.mlir_lib_dir, l) for l in
                    ("libmlir_runner_utils.so", "libmlir_c_runner_utils.so"))
    out = run([args.mlir_runner, "-e", "run_all", "-entry-point-result=void",
               f"-shared-libs={libs}"], input=llvm)
    run_s = time.time() - start
    rows = [l for l in out.splitlines() if l.startswith("[")]
    nums = lambda s: [float(v) for v in re.findall(r"-?[\d.]+(?:e[-+]?\d+)?|nan|inf", s)]

    import onnxruntime as ort
    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    meta = {}
    meta_path = os.path.join(os.path.dirname(args.model), "fmnist_vit.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    flops_by_depth = meta.get("flops", {}).get("per_depth_adaptive")

    # tac's own cost of each variant (tac-estimate-cost), by path.
    variant_flops = {int(m.group(1)): int(m.group(2)) for m in re.finditer(
        r"func\.func @main_path(\d+)\(.*?tac\.cost = \{[^}]*?flops = (\d+)", module)}
    tac_flops = []

    agree_depth = agree_class = correct = 0
    worst = 0.0
    total_layers = 0
    histogram = {}
    for i in range(args.images):
        path = int(nums(rows[3 * i])[0])
        depth = int(nums(rows[3 * i + 1])[0])
        logits = np.array(nums(rows[3 * i + 2]))
        ref = dict(zip(names, session.run(None, {"image": x[i:i + 1]})))
        ref_logits, ref_depth = ref["logits"].ravel(), int(np.asarray(ref["depth"]).ravel()[0])
        worst = max(worst, float(np.max(np.abs(logits - ref_logits))))
        agree_depth += depth == ref_depth
        agree_class += int(np.argmax(logits)) == int(np.argmax(ref_logits))
        correct += int(np.argmax(logits)) == int(labels[i])
        total_layers += len(paths[min(path, len(paths) - 1)])
        tac_flops.append(variant_flops.get(min(path, len(paths) - 1), 0))
        histogram[depth] = histogram.get(depth, 0) + 1

    n = args.images
    print(f"   compiled and ran in {run_s:.1f} s (reference lowering, plain loops)")
    print("== tac vs ONNX Runtime")
    print(f"   depth choice agrees:   {agree_depth}/{n}")
    print(f"   predicted class agrees: {agree_class}/{n}")
    print(f"   max |logit difference|: {worst:.2e}")
    print(f"   accuracy on these images: {correct}/{n} = {100.0 * correct / n:.1f}%")
    print(f"   depth histogram: {dict(sorted(histogram.items()))}")
    print(f"   mean gated layers run: {total_layers / n:.2f} of {len(paths[-1])}")
    if variant_flops:
        full = variant_flops[len(paths) - 1]
        mean = sum(tac_flops) / n
        print(f"   mean FLOPs per image (tac-estimate-cost of the variants run): "
              f"{mean / 1e6:.2f} M vs {full / 1e6:.2f} M at full depth "
              f"({100 * (1 - mean / full):.1f}% fewer)")
    if flops_by_depth:
        full = flops_by_depth[-1]
        mean = sum(flops_by_depth[min(d, len(flops_by_depth)) - 1] * c
                   for d, c in histogram.items() if d >= 1) / n
        print(f"   mean FLOPs per image (training recipe's count): {mean / 1e6:.2f} M "
              f"vs {full / 1e6:.2f} M at full depth ({100 * (1 - mean / full):.1f}% fewer)")
    ok = agree_depth == n and agree_class == n and worst < 1e-3
    print("OK: tac matches ONNX Runtime" if ok else "MISMATCH: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
