"""Compiling with tac-compile and running with libtacrt (tac.runtime)."""
from __future__ import annotations

import os
import subprocess
import time

import numpy as np
from tqdm import tqdm

from .anatomy import AdaptError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def tools(build: str | None = None) -> tuple[str, str]:
    """(tac-compile, libtacrt.so) of the build folder (default: build/, or
    $TAC_BUILD_DIR)."""
    b = build or os.environ.get("TAC_BUILD_DIR") or os.path.join(ROOT, "build")
    comp, lib = os.path.join(b, "bin", "tac-compile"), os.path.join(b, "lib", "libtacrt.so")
    if not (os.path.isfile(comp) and os.path.isfile(lib)):
        raise AdaptError(f"tac-compile / libtacrt.so not found in {b}: build tac first "
                         "(scripts/setup.sh), pass --build DIR, or --no-tac to skip the "
                         "measurements through tac's runtime")
    return comp, lib


def compile_model(comp: str, onnx_path: str, tacm: str, log=print) -> tuple[float, str]:
    """tac-compile ONNX -> .tacm with --report; returns (seconds, report)."""
    t = time.time()
    p = subprocess.run([comp, onnx_path, "-o", tacm, "--report"], capture_output=True, text=True)
    if p.returncode != 0:
        raise AdaptError(f"tac-compile {onnx_path} failed (exit {p.returncode}):\n"
                         f"{p.stderr[-3000:]}")
    dt = time.time() - t
    log(f"tac-compile {os.path.basename(onnx_path)} -> {os.path.basename(tacm)}: {dt:.1f} s")
    return dt, p.stdout


class Runner:
    def __init__(self, tacm: str, lib: str):
        from tac.runtime import Model
        self.model = Model(tacm, library=lib)
        self.names = [o["name"] for o in self.model.outputs]
        self.in_names = [i["name"] for i in self.model.inputs]

    def run(self, x: dict[str, np.ndarray], path: int | None = None):
        missing = [n for n in self.in_names if n not in x]
        if missing:
            raise AdaptError(f"the compiled model needs inputs {missing}")
        outs, info = self.model.run({n: np.ascontiguousarray(x[n]) for n in self.in_names}, path=path)
        return dict(zip(self.names, outs)), info

    def run_all(self, feeds: dict[str, np.ndarray], desc: str):
        n = len(next(iter(feeds.values())))
        outs, infos = [], []
        for i in tqdm(range(n), desc=desc, unit="item", leave=False, dynamic_ncols=True,
                      mininterval=1.0):
            o, info = self.run({k: v[i:i + 1] for k, v in feeds.items()})
            outs.append(o)
            infos.append(info)
        return outs, infos
