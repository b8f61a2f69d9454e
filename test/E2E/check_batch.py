#!/usr/bin/env python3
"""End-to-end: a batch of N rows equals N one-row runs, row by row.

The bundled adaptive Fashion-MNIST ViT and its static twin are compiled
with batch buckets (--batch-sizes); batches of real test images are run by
tac-run in one call each (rows grouped by path inside the runtime, padded
or split to the buckets), and every row's path and outputs must equal a
one-row run of the same image (outputs within 1e-5).

Checked:
  - auto dispatch over the first --images test images in batches of sizes
    that are and are not buckets (1, 4, 5, 16, 37, ...); the batches must
    reach at least 3 distinct paths between them;
  - a fixed path, for every compiled path, on a batch of 21 rows;
  - the static model on a batch of 21 rows;
  - bad batches: 0 rows, rows of the wrong shape or dtype, a --batch that
    disagrees with the file: clean errors and no output files.

Exit code 1 on any disagreement or tac failure.
"""
import argparse
import collections
import gzip
import json
import os
import sys
import tempfile

import numpy as np

import tac_e2e as e2e  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOLERANCE = 1e-5
IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def test_images(count):
    with gzip.open(IMAGES, "rb") as f:
        data = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return (data.reshape(-1, 1, 28, 28)[:count].astype(np.float32) / 255.0)


class Checker:
    def __init__(self, tac_run, tmp):
        self.tac_run, self.tmp, self.failures, self.count = tac_run, tmp, [], 0

    def run(self, tacm, x, tag, path=None, extra=()):
        """(json, {output: array}) of one tac-run call on rows `x`."""
        self.count += 1
        x_file = os.path.join(self.tmp, f"{tag}_{self.count}.npy")
        np.save(x_file, x)
        out_dir = os.path.join(self.tmp, f"{tag}_{self.count}_out")
        try:
            return e2e.run_outputs(self.tac_run, tacm, {"image": x_file},
                                   out_dir, path=path, extra=extra)
        except RuntimeError as e:
            raise RuntimeError(f"{tag}: {e}")

    def batch_vs_rows(self, tacm, x, tag, path=None):
        """Runs x as one batch and row by row; returns the batch's paths."""
        info, outs = self.run(tacm, x, tag, path)
        paths = info.get("paths", [])
        if info.get("rows") != len(x) or len(paths) != len(x):
            self.failures.append(f"{tag}: rows {info.get('rows')} / paths "
                                 f"{len(paths)} for a batch of {len(x)}")
            return paths
        for r in range(len(x)):
            one, one_outs = self.run(tacm, x[r:r + 1], tag + "_row", path)
            if one["path"] != paths[r]:
                self.failures.append(f"{tag} row {r}: batch path {paths[r]}, "
                                     f"one-row path {one['path']}")
            for name, want in one_outs.items():
                got = outs[name][r] if len(x) > 1 else outs[name]
                want = want.reshape(got.shape)
                err = float(np.max(np.abs(got.astype(np.float64) -
                                          want.astype(np.float64)), initial=0))
                if not err <= TOLERANCE:
                    self.failures.append(f"{tag} row {r} output {name}: max "
                                         f"|batch - one row| = {err:.3g}")
        return paths


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tac-compile", required=True)
    p.add_argument("--tac-run", required=True)
    p.add_argument("--images", type=int, default=200)
    a = p.parse_args()
    e2e.check_tools(tac_compile=a.tac_compile, tac_run=a.tac_run)
    x = test_images(a.images)

    with tempfile.TemporaryDirectory(prefix="tac-batch-") as tmp:
        adaptive = os.path.join(tmp, "adaptive.tacm")
        static = os.path.join(tmp, "static.tacm")
        for onnx, out in ((os.path.join(ROOT, "models", "fmnist_vit_adaptive.onnx"), adaptive),
                          (os.path.join(ROOT, "models", "fmnist_vit_static.onnx"), static)):
            res = e2e.compile_model(a.tac_compile, onnx, out, ("--batch-sizes=1,4,16",))
            if res.returncode != 0:
                print(f"FAIL: tac-compile {onnx}: {res.stderr.strip()}")
                return 1
        c = Checker(a.tac_run, tmp)

        # Auto dispatch: batch sizes that are buckets, are not, exceed the
        # largest (split), and one row.
        seen = collections.Counter()
        start = 0
        for n in (37, 16, 5, 4, 1, 23, 3):
            n = min(n, len(x) - start)
            if n <= 0:
                break
            seen.update(c.batch_vs_rows(adaptive, x[start:start + n], f"auto{n}"))
            start += n
        for n in range(start, len(x), 64):  # the rest in batches of 64
            info, _ = c.run(adaptive, x[n:n + 64], "auto-rest")
            seen.update(info["paths"])
        print(f"auto dispatch: paths over {len(x)} images: {dict(sorted(seen.items()))}")
        if len(seen) < 3:
            c.failures.append(f"the batches reached only paths {sorted(seen)}; "
                              "expected at least 3 distinct paths")

        # Every compiled path, fixed, at a size that is not a bucket.
        meta = e2e.onnx_metadata(os.path.join(ROOT, "models", "fmnist_vit_adaptive.onnx"))
        num_paths = len(json.loads(meta["tac.paths"]))
        for path in range(num_paths):
            try:
                c.batch_vs_rows(adaptive, x[40:61], f"fixed{path}", path=path)
            except RuntimeError as e:
                c.failures.append(str(e))

        # The static model (one path).
        c.batch_vs_rows(static, x[100:121], "static")

        # Bad batches: clean errors, nothing written.
        bad = {
            "0 rows": (np.zeros((0, 1, 28, 28), np.float32), ()),
            "wrong row shape": (np.zeros((4, 1, 27, 28), np.float32), ()),
            "wrong dtype": (np.zeros((4, 1, 28, 28), np.float64), ()),
            "--batch disagrees": (x[:4], ("--batch=5",)),
        }
        for name, (arr, extra) in bad.items():
            f = os.path.join(tmp, "bad.npy")
            np.save(f, arr)
            out_dir = os.path.join(tmp, "bad_out_" + name.replace(" ", "_"))
            res = e2e.run([a.tac_run, adaptive, f"--input=image={f}",
                           f"--output-dir={out_dir}", *extra])
            if res.returncode != 1 or "error" not in res.stderr or os.path.exists(out_dir):
                c.failures.append(f"bad batch ({name}): exit {res.returncode}, "
                                  f"stderr {res.stderr.strip()!r}")
            else:
                print(f"bad batch ({name}): {res.stderr.strip()}")
        res = e2e.run([a.tac_run, adaptive, "--random", "--batch=0"])
        if res.returncode != 1 or "--batch=0" not in res.stderr:
            c.failures.append(f"--batch=0: exit {res.returncode}, {res.stderr.strip()!r}")

    for f in c.failures:
        print("FAIL:", f)
    print(f"batch checks: {c.count} tac-run calls, {len(c.failures)} failure(s)")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
