#!/usr/bin/env python3
"""Edge target: the aarch64 runtime under qemu gives the x86-64 answers.

Cross-builds libtacrt and tac-run for aarch64 (TAC_RUNTIME_ONLY with
cmake/aarch64-linux-gnu.cmake), compiles each model once with
--cpu=x86-64,aarch64 (one .tacm carrying both code objects; each runtime
picks its machine's), runs it natively and under qemu-aarch64 on the same
inputs, and requires every output within 1e-5 and every path choice equal:

  - the bundled adaptive Fashion-MNIST ViT on 48 real test images in one
    batched call (rows grouped by path inside the runtime);
  - the If-gated tiny ViT and the tiny BERT on 3 random input sets each.

Also checks that the stripped aarch64 libtacrt is at most 1 MiB. Skips
(exit 77) with the reason where the cross compiler or qemu-aarch64 is
missing. Prints the worst difference per model.
"""
import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tac_e2e as e2e  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
SYSROOT = "/usr/aarch64-linux-gnu"
ATOL = 1e-5
MAX_RUNTIME_BYTES = 1 << 20
SKIP = 77


def test_images(count):
    with gzip.open(IMAGES, "rb") as f:
        data = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return data.reshape(-1, 1, 28, 28)[:count].astype(np.float32) / 255.0


def cross_build(build_dir):
    """Configures and builds the aarch64 runtime; returns its tac-run."""
    configure = ["cmake", "-G", "Ninja", "-S", ROOT, "-B", build_dir,
                 "-DTAC_RUNTIME_ONLY=ON", "-DCMAKE_BUILD_TYPE=Release",
                 "-DCMAKE_TOOLCHAIN_FILE=" + os.path.join(ROOT, "cmake",
                                                           "aarch64-linux-gnu.cmake")]
    for cmd in (configure, ["ninja", "-C", build_dir, "tac-run"]):
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}"
                               f"{res.stderr[-3000:]}")
    return os.path.join(build_dir, "bin", "tac-run")


def qemu_wrapper(tmp, qemu, tac_run, lib_dir, cpu="max"):
    """An executable that runs the aarch64 tac-run under qemu-user on an
    emulated `cpu`, so the E2E helpers call it like the native one."""
    path = os.path.join(tmp, "tac-run-aarch64-" + cpu)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                f'exec "{qemu}" -cpu {cpu} -L {SYSROOT} '
                f'-E LD_LIBRARY_PATH="{lib_dir}" "{tac_run}" "$@"\n')
    os.chmod(path, 0o755)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tac-compile", required=True)
    parser.add_argument("--tac-run", required=True)
    parser.add_argument("--build-dir", required=True,
                        help="where the aarch64 runtime is built (reused)")
    args = parser.parse_args()

    qemu = shutil.which("qemu-aarch64")
    missing = [name for name, found in
               (("aarch64-linux-gnu-g++ (apt-get install g++-aarch64-linux-gnu)",
                 shutil.which("aarch64-linux-gnu-g++")),
                ("qemu-aarch64 (apt-get install qemu-user)", qemu),
                (f"the aarch64 C library in {SYSROOT}", os.path.isdir(SYSROOT)))
               if not found]
    if missing:
        print("SKIP: missing " + ", ".join(missing))
        return SKIP

    cross_run = cross_build(args.build_dir)
    lib_dir = os.path.join(args.build_dir, "lib")
    failures = []
    with tempfile.TemporaryDirectory(prefix="tac-aarch64-") as tmp:
        # Runtime size on the device: stripped libtacrt.
        stripped = os.path.join(tmp, "libtacrt.so")
        shutil.copy(os.path.join(lib_dir, "libtacrt.so"), stripped)
        subprocess.run(["aarch64-linux-gnu-strip", stripped], check=True)
        size = os.path.getsize(stripped)
        print(f"stripped aarch64 libtacrt: {size} B")
        if size > MAX_RUNTIME_BYTES:
            failures.append(f"stripped libtacrt is {size} B > {MAX_RUNTIME_BYTES} B")

        emulated = qemu_wrapper(tmp, qemu, cross_run, lib_dir)
        x = test_images(48)
        images = os.path.join(tmp, "images.npy")
        np.save(images, x)
        cases = [
            ("fmnist_vit_adaptive", "models/fmnist_vit_adaptive.onnx",
             ["--batch-sizes=1,8"], [({"image": images}, ["--batch=48"])]),
            ("vit_tiny_gated", "test/Import/Models/vit_tiny_gated.onnx", [],
             [({}, [f"--random={seed}"]) for seed in range(3)]),
            ("bert_tiny", "test/Import/Models/bert_tiny.onnx", [],
             [({}, [f"--random={seed}"]) for seed in range(3)]),
        ]
        for name, source, compile_flags, runs in cases:
            tacm = os.path.join(tmp, name + ".tacm")
            res = e2e.compile_model(args.tac_compile, os.path.join(ROOT, source),
                                    tacm, ("--cpu=x86-64,aarch64", *compile_flags))
            if not res.ok:
                failures.append(f"{name}: {res.describe()}")
                continue
            worst, paths = 0.0, []
            for k, (inputs, extra) in enumerate(runs):
                try:
                    native = e2e.run_outputs(args.tac_run, tacm, inputs,
                                             os.path.join(tmp, f"{name}{k}.x86"),
                                             extra=extra)
                    arm = e2e.run_outputs(emulated, tacm, inputs,
                                          os.path.join(tmp, f"{name}{k}.arm"),
                                          extra=extra)
                except RuntimeError as e:
                    failures.append(f"{name} run {k}: {e}")
                    continue
                if native[0]["paths"] != arm[0]["paths"]:
                    failures.append(f"{name} run {k}: paths {arm[0]['paths']} "
                                    f"under qemu, {native[0]['paths']} on x86-64")
                paths += native[0]["paths"]
                for out, want in native[1].items():
                    ok, err, msg = e2e.compare(out, arm[1][out], want, ATOL)
                    worst = max(worst, err)
                    if not ok:
                        failures.append(f"{name} run {k}: {msg}")
            print(f"{name}: {len(runs)} run(s), {len(paths)} row(s), "
                  f"{len(set(paths))} distinct path(s), worst |aarch64 - x86-64| "
                  f"{worst:.3g}")
        # Feature dispatch: on a core without SVE (Cortex-A57) the runtime
        # skips an SVE code object for the plain one, or says why it cannot.
        a57 = qemu_wrapper(tmp, qemu, cross_run, lib_dir, cpu="cortex-a57")
        source = os.path.join(ROOT, "models/fmnist_vit_adaptive.onnx")
        for cpus, want in (("aarch64,+sve,aarch64", None),
                           ("aarch64,+sve", "which this CPU lacks")):
            tacm = os.path.join(tmp, "sve.tacm")
            res = e2e.compile_model(args.tac_compile, source, tacm, ("--cpu=" + cpus,))
            ran = e2e.run([a57, tacm, "--random", "--json"]) if res.ok else res
            if want is None and not ran.ok:
                failures.append(f"--cpu={cpus} on a Cortex-A57: {ran.describe()}")
            if want is not None and (ran.ok or want not in ran.stderr):
                failures.append(f"--cpu={cpus} on a Cortex-A57: expected an "
                                f"error saying '{want}', got {ran.describe()}")
        print("feature dispatch on a Cortex-A57 (no SVE): checked")
    for f in failures:
        print("FAIL:", f)
    print("aarch64 under qemu:", "FAILED" if failures else "all outputs and paths agree")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
