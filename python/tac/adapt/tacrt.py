"""Compiling with tac.compile and running with tac.InferenceSession."""
from __future__ import annotations

import os
import time

import numpy as np
from tqdm import tqdm

from .anatomy import AdaptError


def _tac():
    """The tac package with its compiled extensions, or a clear AdaptError."""
    try:
        import tac
        from tac import _compiler, _runtime  # noqa: F401  (the built extensions)
    except ImportError as e:
        raise AdaptError(f"tac's compiled extensions are missing ({e}): build tac "
                         "(scripts/setup.sh) or `pip install .`, or pass --no-tac to skip "
                         "the measurements through tac's runtime") from None
    return tac


def compile_model(onnx_path: str, tacm: str, log=print) -> tuple[float, str]:
    """tac.compile ONNX -> .tacm with the plan report; returns (seconds, report)."""
    tac = _tac()
    t = time.time()
    try:
        compiled = tac.compile(onnx_path, output=tacm, report=True, progress=False)
    except tac.TacError as e:
        raise AdaptError(f"tac.compile of {onnx_path} failed:\n{str(e)[-3000:]}") from None
    dt = time.time() - t
    log(f"tac.compile {os.path.basename(onnx_path)} -> {os.path.basename(tacm)}: {dt:.1f} s")
    return dt, compiled.report


class Runner:
    def __init__(self, tacm: str):
        self.model = _tac().InferenceSession(tacm)
        self.names = [o.name for o in self.model.get_outputs()]
        self.in_names = [i.name for i in self.model.get_inputs()]

    def run(self, x: dict[str, np.ndarray], path: int | None = None):
        missing = [n for n in self.in_names if n not in x]
        if missing:
            raise AdaptError(f"the compiled model needs inputs {missing}")
        outs, info = self.model.run_adaptive({n: x[n] for n in self.in_names}, path=path)
        return dict(zip(self.names, outs)), {
            "path": info.path, "requested_path": info.requested_path,
            "flops": info.flops, "controller_flops": info.controller_flops,
            "time_us": info.time_us, "layers": list(info.layers), "paths": list(info.paths)}

    def run_all(self, feeds: dict[str, np.ndarray], desc: str):
        n = len(next(iter(feeds.values())))
        outs, infos = [], []
        for i in tqdm(range(n), desc=desc, unit="item", leave=False, dynamic_ncols=True,
                      mininterval=1.0):
            o, info = self.run({k: v[i:i + 1] for k, v in feeds.items()})
            outs.append(o)
            infos.append(info)
        return outs, infos
