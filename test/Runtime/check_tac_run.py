"""Command-line checks of tac-run on the test models (see TestModels.h):
--json output, dispatch flags, .npy/.pb inputs and outputs, --benchmark,
and one-line errors with exit code 1."""
import argparse
import ctypes
import json
import os
import subprocess
import sys

import numpy as np

SCALE = np.array([0.5, -1.0, 2.0, 1.0], np.float32)
BIAS = np.array([0.25, 0.5, -0.5, 1.0], np.float32)


def reference(x, layers):
    for _ in range(layers):
        x = np.maximum(x * SCALE + BIAS, 0).astype(np.float32)
    return x


def run(tac_run, *args):
    return subprocess.run([tac_run, *args], capture_output=True, text=True)


def expect_ok(result):
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result


def expect_error(result, fragment):
    assert result.returncode == 1, f"exit {result.returncode}: {result.stdout}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tac-run: error: "), result.stderr
    assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


def tensor_proto_bytes(x):
    """A FLOAT TensorProto with raw_data, written by hand (no onnx needed):
    dims (1, varint), data_type (2) = 1, raw_data (9)."""
    out = bytearray()
    for d in x.shape:
        out += bytes([0x08, d])
    out += bytes([0x10, 0x01])
    raw = x.astype("<f4").tobytes()
    out += bytes([0x4A, len(raw)]) + raw
    return bytes(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tac-run", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    tac_run = args.tac_run
    adaptive = os.path.join(args.models, "adaptive.tacm")
    static = os.path.join(args.models, "static.tacm")
    os.makedirs(args.work_dir, exist_ok=True)
    work = args.work_dir

    # Auto dispatch with a .npy input; --json is one object and nothing else.
    x = np.array([[0.5, 0.5, 0.5, 1.0]], np.float32)  # sum 2.5: path 2 -> 3
    np.save(os.path.join(work, "x.npy"), x)
    out_dir = os.path.join(work, "out")
    r = expect_ok(run(tac_run, adaptive, f"--input=x={work}/x.npy", "--json",
                      f"--output-dir={out_dir}"))
    info = json.loads(r.stdout)
    assert info["path"] == 3 and info["requested_path"] == 2, info
    assert info["rounded"] is True and info["budget_limited"] is False, info
    assert info["flops"] == 52 and info["controller_flops"] == 4, info
    assert info["layers"] == [0, 1, 2, 3] and info["time_us"] >= 0, info
    assert info["outputs"] == [{"name": "y", "shape": [1, 4], "dtype": "float32"}]
    y = np.load(os.path.join(out_dir, "y.npy"))
    assert y.dtype == np.float32 and y.shape == (1, 4)
    np.testing.assert_allclose(y, reference(x, 4), rtol=1e-6)

    # Positional binding of a TensorProto, fixed path, text report.
    with open(os.path.join(work, "x.pb"), "wb") as f:
        f.write(tensor_proto_bytes(x))
    r = expect_ok(run(tac_run, adaptive, f"--input={work}/x.pb", "--path=1",
                      "--print-outputs"))
    assert "path: 1 (fixed)" in r.stdout, r.stdout
    assert "layers: 2 (0, 1)" in r.stdout, r.stdout
    want = reference(x, 2)[0]
    assert f"y: float32[1, 4] = [{want[0]:g}" in r.stdout, r.stdout

    # Budget: path 3 (48 FLOPs) does not fit 30, path 1 (24) does.
    r = expect_ok(run(tac_run, adaptive, f"--input={work}/x.npy",
                      "--budget-flops=30", "--json"))
    info = json.loads(r.stdout)
    assert info["path"] == 1 and info["budget_limited"] is True, info

    # Random inputs, benchmark with a path histogram.
    r = expect_ok(run(tac_run, adaptive, "--random=3", "--benchmark=20", "--json"))
    bench = json.loads(r.stdout)["benchmark"]
    assert bench["runs"] == 20 and sum(bench["paths"].values()) == 20, bench
    assert bench["min_us"] <= bench["median_us"] <= bench["max_us"], bench
    r = expect_ok(run(tac_run, static, "--random", "--benchmark=5"))
    assert "benchmark: 5 runs" in r.stdout and "path -1: 5 runs" in r.stdout, r.stdout

    # The CPU code object, written out: a loadable shared object holding the
    # model's kernels.
    code = os.path.join(work, "code.so")
    r = expect_ok(run(tac_run, adaptive, f"--extract-cpu-code={code}"))
    assert f"{code}: code object 0" in r.stdout, r.stdout
    with open(code, "rb") as f:
        assert f.read(4) == b"\x7fELF"
    library = ctypes.CDLL(code)
    for kernel in ("tac_test_mul", "tac_test_add", "tac_test_relu",
                   "tac_test_policy"):
        assert hasattr(library, kernel), kernel
    expect_error(run(tac_run, adaptive, f"--extract-cpu-code={work}/no/such/dir/c.so"),
                 "cannot write")

    # Errors: one line on stderr, exit code 1.
    expect_error(run(tac_run, adaptive), "missing inputs: x (float32[1, 4])")
    expect_error(run(tac_run, adaptive, "--random", "--path=2"),
                 "compiled paths: 0, 1, 3")
    expect_error(run(tac_run, adaptive, "--random", "--budget-flops=5"),
                 "no variant fits the budget of 5 FLOPs")
    np.save(os.path.join(work, "bad.npy"), x.astype(np.int64))
    expect_error(run(tac_run, adaptive, f"--input={work}/bad.npy"),
                 "input 'x' from '" + f"{work}/bad.npy' is int64[1, 4], "
                 "the model expects float32[1, 4]")
    expect_error(run(tac_run, adaptive, "--input=z=a.npy", "--random"),
                 "no input named 'z'")
    expect_error(run(tac_run, adaptive, "--bogus"), "unknown option '--bogus'")
    expect_error(run(tac_run, os.path.join(work, "x.npy")), "is not a .tacm file")
    expect_error(run(tac_run, adaptive, "--random", "--path=1",
                     "--budget-flops=9"), "exclude each other")
    print("tac-run CLI checks passed")


if __name__ == "__main__":
    sys.exit(main())
