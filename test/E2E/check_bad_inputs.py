#!/usr/bin/env python3
"""End-to-end: tac-run and tac-compile fail cleanly on bad input.

With vit_tiny.onnx (one input `image`, f32 1x1x28x28) compiled to a .tacm,
and a good run as the baseline (exit 0), every case below must make the
tool exit with code 1 (not 0, not a signal, not a hang) and print an error
on stderr (tac-run: `tac-run: error: ...`):

tac-run, bad inputs (the message must name the input and, where there is
one, the expected and the actual shape or element type):
  wrong shape (.npy and .pb), wrong dtype (float64 .npy), missing input,
  unknown input name, too many inputs (an extra name), the same input
  twice, an input file that does not exist, an input file that is not a
  tensor;
tac-run, corrupted .tacm (an error, never a crash):
  one byte flipped in the middle, one byte flipped in the header, truncated
  to half, empty file, a text file named .tacm, a missing file;
tac-compile, malformed ONNX (the message must name the file):
  random bytes, a truncated model, an empty file, a missing file.

Prints one line per case and `bad inputs handled N/M`; exit code 1 if any
case is mishandled.
"""
import argparse
import os
import random
import shutil
import sys
import tempfile

import numpy as np

import tac_e2e as e2e  # noqa: E402

SHAPE = (1, 1, 28, 28)
F32_WORDS = ("f32", "float32", "float")
F64_WORDS = ("f64", "float64", "double")


class Checker:
    def __init__(self):
        self.total = self.passed = 0

    def expect_error(self, label, result, mentions=(), any_of=(), prefix=None):
        """result must be exit 1 with an error on stderr that contains every
        string in mentions, one string of each group in any_of, and (if
        prefix) starts a line with prefix. Shapes are (tuple,) checks."""
        self.total += 1
        problems = []
        err = result.stderr
        if result.timed_out or result.returncode != 1:
            problems.append(f"{result.status()}, expected exit code 1")
        if "error" not in err.lower():
            problems.append("no error message on stderr")
        if prefix and not any(l.startswith(prefix) for l in err.splitlines()):
            problems.append(f"no line starting with {prefix!r}")
        for m in mentions:
            if isinstance(m, tuple):
                if not e2e.mentions_shape(err, m):
                    problems.append(f"message does not give the shape {list(m)}")
            elif m not in err:
                problems.append(f"message does not mention {m!r}")
        for group in any_of:
            if not any(w in err.lower() for w in group):
                problems.append(f"message mentions none of {list(group)}")
        message = err.strip().splitlines()[0] if err.strip() else "(no stderr)"
        if problems:
            print(f"FAIL {label}: {'; '.join(problems)}\n"
                  f"       command: {result.command_line()}\n"
                  f"       stderr: {err.strip()[:500]!r}")
        else:
            self.passed += 1
            print(f"ok   {label}: {message[:160]}")


def write_pb(path, array, name="image"):
    from onnx import numpy_helper
    tensor = numpy_helper.from_array(array, name)
    with open(path, "wb") as f:
        f.write(tensor.SerializeToString())
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tac-compile", required=True, help="the tac-compile binary")
    parser.add_argument("--tac-run", required=True, help="the tac-run binary")
    parser.add_argument("--work", help="scratch folder (kept); default: a "
                                       "temporary folder, removed")
    args = parser.parse_args()
    errors = e2e.check_tools(tac_compile=args.tac_compile, tac_run=args.tac_run)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    compile_, run_ = map(os.path.abspath, (args.tac_compile, args.tac_run))
    temporary = args.work is None
    work = tempfile.mkdtemp(prefix="tac-e2e-bad-") if temporary else args.work
    os.makedirs(work, exist_ok=True)
    try:
        return check(compile_, run_, work)
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)


def check(tac_compile, tac_run, work):
    c = Checker()
    model = os.path.join(e2e.MODELS_DIR, "vit_tiny.onnx")
    tacm = os.path.join(work, "vit_tiny.tacm")
    result = e2e.compile_model(tac_compile, model, tacm)
    if not result.ok or not os.path.isfile(tacm):
        print(f"FAIL compiling vit_tiny.onnx: {result.describe()}; "
              f"command: {result.command_line()}")
        print("bad inputs handled 0/1")
        return 1
    rng = np.random.RandomState(0)
    good = os.path.join(work, "good.npy")
    np.save(good, rng.randn(*SHAPE).astype(np.float32))

    def run(label, inputs, tacm_path=tacm, extra=()):
        return e2e.run_model(tac_run, tacm_path, inputs, extra=extra)

    # The baseline: a good run succeeds, so the failures below are the
    # inputs' doing.
    base = run("good", {"image": good}, extra=("--json",))
    c.total += 1
    if not base.ok:
        print(f"FAIL baseline run of a good input: {base.describe()}; "
              f"command: {base.command_line()}")
        print(f"bad inputs handled {c.passed}/{c.total}")
        return 1
    c.passed += 1
    print("ok   baseline: a good input runs (exit 0)")
    prefix = "tac-run: error:"

    # A pinned digest or producer the file does not have: refused before use.
    import hashlib
    with open(tacm, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    c.total += 1
    pinned = run("pinned", {"image": good}, extra=(f"--require-sha256={digest.upper()}",
                                                   "--require-producer=tac 0.1.0"))
    if pinned.ok:
        c.passed += 1
        print("ok   --require-sha256 / --require-producer of the file itself: it runs")
    else:
        print(f"FAIL a correctly pinned file was refused: {pinned.describe()}")
    other = ("0" if digest[0] != "0" else "1") + digest[1:]
    c.expect_error("tac-run --require-sha256 of another file",
                   run("wrong digest", {"image": good}, extra=(f"--require-sha256={other}",)),
                   mentions=(digest, other, "refused"), prefix=prefix)
    c.expect_error("tac-run --require-producer of another producer",
                   run("wrong producer", {"image": good},
                       extra=("--require-producer=tac 9.9.9",)),
                   mentions=("tac 0.1.0", "tac 9.9.9", "refused"), prefix=prefix)
    c.expect_error("tac-run --require-sha256 that is not a digest",
                   run("bad digest", {"image": good}, extra=("--require-sha256=abc",)),
                   mentions=("64 hex digits",), prefix=prefix)

    # ---- bad inputs -------------------------------------------------------
    wrong_shape = os.path.join(work, "wrong_shape.npy")
    np.save(wrong_shape, rng.randn(1, 1, 28, 27).astype(np.float32))
    c.expect_error("wrong shape (.npy 1x1x28x27)", run("", {"image": wrong_shape}),
                   mentions=("image", SHAPE, (1, 1, 28, 27)), prefix=prefix)
    wrong_rank = os.path.join(work, "wrong_rank.npy")
    np.save(wrong_rank, rng.randn(28, 28).astype(np.float32))
    c.expect_error("wrong rank (.npy 28x28)", run("", {"image": wrong_rank}),
                   mentions=("image", SHAPE, (28, 28)), prefix=prefix)
    wrong_shape_pb = write_pb(os.path.join(work, "wrong_shape.pb"),
                              rng.randn(1, 1, 14, 14).astype(np.float32))
    c.expect_error("wrong shape (.pb 1x1x14x14)", run("", {"image": wrong_shape_pb}),
                   mentions=("image", SHAPE, (1, 1, 14, 14)), prefix=prefix)
    wrong_dtype = os.path.join(work, "wrong_dtype.npy")
    np.save(wrong_dtype, rng.randn(*SHAPE).astype(np.float64))
    c.expect_error("wrong dtype (float64 .npy)", run("", {"image": wrong_dtype}),
                   mentions=("image",), any_of=(F32_WORDS, F64_WORDS), prefix=prefix)
    wrong_int = os.path.join(work, "wrong_int.npy")
    np.save(wrong_int, np.zeros(SHAPE, dtype=np.int64))
    c.expect_error("wrong dtype (int64 .npy)", run("", {"image": wrong_int}),
                   mentions=("image",), any_of=(F32_WORDS, ("i64", "int64")), prefix=prefix)
    c.expect_error("missing input (no --input)", run("", {}),
                   mentions=("image",), prefix=prefix)
    c.expect_error("unknown input name", run("", {"imagex": good}),
                   mentions=("imagex",), prefix=prefix)
    c.expect_error("too many inputs (an extra name)",
                   run("", {"image": good, "image2": good}),
                   mentions=("image2",), prefix=prefix)
    dup = e2e.run([tac_run, tacm, f"--input=image={good}", f"--input=image={good}"])
    c.expect_error("the same input twice", dup, mentions=("image",), prefix=prefix)
    missing_file = os.path.join(work, "does_not_exist.npy")
    c.expect_error("input file does not exist", run("", {"image": missing_file}),
                   mentions=("does_not_exist.npy",), prefix=prefix)
    not_tensor = os.path.join(work, "not_a_tensor.npy")
    with open(not_tensor, "w") as f:
        f.write("this is not a numpy file\n")
    c.expect_error("input file is not a tensor", run("", {"image": not_tensor}),
                   mentions=("not_a_tensor.npy",), prefix=prefix)

    # A small file whose header claims a huge tensor: the size check comes
    # before any allocation (no "out of memory", no terabytes reserved).
    huge_npy = os.path.join(work, "huge_header.npy")
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 1, 28, 28), }"
    header += " " * (117 - len(header)) + "\n"
    with open(huge_npy, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") +
                header.encode() + bytes(16))
    c.expect_error("a .npy header claiming 313 TB with 16 bytes of data",
                   run("", {"image": huge_npy}), mentions=("holds 16 bytes of data",),
                   prefix=prefix)
    import onnx
    huge_pb = os.path.join(work, "huge_header.pb")
    proto = onnx.TensorProto()
    proto.name, proto.data_type = "image", onnx.TensorProto.FLOAT
    proto.dims.extend([100000000000, 1, 28, 28])
    proto.float_data.extend([0.0] * 4)
    with open(huge_pb, "wb") as f:
        f.write(proto.SerializeToString())
    c.expect_error("a .pb claiming 313 TB with 4 values",
                   run("", {"image": huge_pb}), mentions=("holds 4 values",),
                   prefix=prefix)

    # ---- corrupted .tacm --------------------------------------------------
    data = open(tacm, "rb").read()

    def variant(name, content):
        path = os.path.join(work, name)
        with open(path, "wb") as f:
            f.write(content)
        return path

    middle = bytearray(data)
    middle[len(data) // 2] ^= 0xFF
    header = bytearray(data)
    header[min(20, len(data) - 1)] ^= 0x01  # inside the header's sizes
    corrupted = [
        ("one byte flipped in the middle", variant("flipped.tacm", bytes(middle))),
        ("one byte flipped in the header", variant("flipped_header.tacm", bytes(header))),
        ("truncated to half", variant("truncated.tacm", data[:len(data) // 2])),
        ("empty file", variant("empty.tacm", b"")),
        ("a text file named .tacm", variant("text.tacm",
                                            b"this is a text file, not a compiled model\n" * 20)),
        ("the first 64 bytes only", variant("header_only.tacm", data[:64])),
    ]
    for label, path in corrupted:
        c.expect_error(f".tacm {label}", run("", {"image": good}, tacm_path=path),
                       prefix=prefix)
    missing_tacm = os.path.join(work, "missing.tacm")
    c.expect_error(".tacm missing", run("", {"image": good}, tacm_path=missing_tacm),
                   mentions=("missing.tacm",), prefix=prefix)

    # ---- malformed ONNX for tac-compile ------------------------------------
    onnx_bytes = open(model, "rb").read()
    random.seed(0)
    malformed = [
        ("random bytes", variant("random.onnx", bytes(random.getrandbits(8) for _ in range(4096)))),
        ("a truncated model", variant("truncated.onnx", onnx_bytes[:len(onnx_bytes) // 2])),
        ("an empty file", variant("empty.onnx", b"")),
    ]
    for label, path in malformed:
        out = os.path.join(work, os.path.basename(path) + ".tacm")
        result = e2e.compile_model(tac_compile, path, out)
        c.expect_error(f"tac-compile on {label}", result,
                       mentions=(os.path.basename(path),))
        if os.path.exists(out):
            print(f"       note: a failed tac-compile left {os.path.basename(out)} behind")
    # An initializer whose dims multiply to 2^64 (wrapping to 0 elements
    # would match its empty payload): a clean error, not a silent import.
    from onnx import helper
    wrap = onnx.TensorProto()
    wrap.name, wrap.data_type = "W", onnx.TensorProto.FLOAT
    wrap.dims.extend([4294967296, 4294967296])
    wrap.raw_data = b""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "W"], ["y"])], "wrap",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], [wrap])
    wrap_path = variant("wrapping_dims.onnx", helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    c.expect_error("tac-compile on an initializer whose dims overflow",
                   e2e.compile_model(tac_compile, wrap_path,
                                     os.path.join(work, "wrapping_dims.tacm")),
                   mentions=("W", "overflows 64 bits"))
    # External data outside the model's directory: an absolute path, '..',
    # and a symbolic link that leaves it. Data next to the model still loads.
    ext_dir = os.path.join(work, "external")
    os.makedirs(ext_dir, exist_ok=True)
    w_bytes = np.arange(4, dtype=np.float32).tobytes()
    outside = os.path.join(work, "outside.bin")
    for f in (outside, os.path.join(ext_dir, "w.bin")):
        with open(f, "wb") as fh:
            fh.write(w_bytes)
    link = os.path.join(ext_dir, "link.bin")
    if not os.path.lexists(link):
        os.symlink(os.path.join("..", "outside.bin"), link)

    def external_model(label, location):
        w = onnx.TensorProto()
        w.name, w.data_type = "W", onnx.TensorProto.FLOAT
        w.dims.extend([4])
        w.data_location = onnx.TensorProto.EXTERNAL
        entry = w.external_data.add()
        entry.key, entry.value = "location", location
        graph = helper.make_graph(
            [helper.make_node("Add", ["x", "W"], ["y"])], "ext",
            [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4])],
            [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [4])], [w])
        path = os.path.join(ext_dir, label + ".onnx")
        with open(path, "wb") as fh:
            fh.write(helper.make_model(
                graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
        return e2e.compile_model(tac_compile, path, os.path.join(work, label + ".tacm"))

    for label, location, mentions in [
            ("ext_absolute", outside, ("W", "leaves the model's directory")),
            ("ext_dotdot", "../outside.bin", ("W", "leaves the model's directory")),
            ("ext_symlink", "link.bin", ("W", "symbolic link", "outside the model's directory"))]:
        c.expect_error(f"tac-compile on external data at {location!r}",
                       external_model(label, location), mentions=mentions)
    c.total += 1
    inside = external_model("ext_inside", "w.bin")
    if inside.ok:
        c.passed += 1
    else:
        print(f"FAIL   tac-compile on external data next to the model: {inside.describe()}")
    missing_onnx = os.path.join(work, "no_such_model.onnx")
    c.expect_error("tac-compile on a missing file",
                   e2e.compile_model(tac_compile, missing_onnx,
                                     os.path.join(work, "no_such_model.tacm")),
                   mentions=("no_such_model.onnx",))

    print(f"bad inputs handled {c.passed}/{c.total}")
    return 0 if c.passed == c.total else 1


if __name__ == "__main__":
    sys.exit(main())
