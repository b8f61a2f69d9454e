"""``tac.InferenceSession``: load a compiled model and run it, ONNX Runtime style."""
from __future__ import annotations

import os
from typing import Optional, Union

from . import _runtime
from .compiler import CompiledModel
from .errors import InvalidArgumentError

NodeArg = _runtime.NodeArg
RunInfo = _runtime.RunInfo
VariantInfo = _runtime.VariantInfo


class InferenceSession(_runtime.Session):
    """A compiled model, loaded and ready to run.

    ``run(output_names, input_feed)`` works like ONNX Runtime's: ``output_names``
    is a list of names or ``None`` (all), ``input_feed`` maps input names to
    NumPy arrays of one row (the model's shape) or N rows (a leading N). Each
    row takes the path the model's controller picks for it.
    ``run_adaptive(input_feed, path=None, budget_flops=None)`` returns
    ``(outputs, RunInfo)``: the paths per row, FLOPs and time.

    Inputs are read in place when they are C-contiguous arrays of the model's
    dtype; outputs are fresh NumPy arrays the runtime writes directly. The GIL
    is released while the model runs.

    Thread safety: ``run`` and ``run_adaptive`` may be called from many
    threads at once on one session; each concurrent call uses its own
    execution state (arena) over the shared, read-only model.

    Args:
        model: a ``.tacm`` path, a :class:`CompiledModel` from
            :func:`tac.compile`, or the bytes of a ``.tacm`` file.
        device: ``"cpu"`` or ``"cuda"`` (the file must hold CUDA code:
            ``tac.compile(..., target="cpu,cuda")``).
        threads: threads this session's BLAS matrix products may use;
            everything else runs on the calling thread. Per session: the
            process's BLAS setting (which NumPy or PyTorch may share) is left
            as it was. Default (None or 0): 1, or the process's setting when
            ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` is set.
        cuda_device: the CUDA device ordinal.
        gpu_dispatch: ``"host"`` (read the path back, launch that graph) or
            ``"device"`` (one graph with a conditional node; CUDA 12.8+ driver).
        require_sha256: refuse the file unless its SHA-256 is this (64 hex
            digits, ``sha256sum`` / ``hashlib.sha256``): a ``.tacm`` holds
            native code, so pin the files you built or reviewed.
        require_producer: refuse the file unless this tac wrote it
            (``"tac 0.1.0"``).

    Raises:
        InvalidModelError: a missing or damaged file.
        UnsupportedError: the file cannot run here (no CUDA device, no CPU code).
    """

    def __init__(self, model: Union[str, "os.PathLike[str]", CompiledModel, bytes],
                 device: str = "cpu", threads: Optional[int] = None, *,
                 cuda_device: int = 0, gpu_dispatch: str = "host",
                 require_sha256: Optional[str] = None,
                 require_producer: Optional[str] = None) -> None:
        if isinstance(model, CompiledModel):
            source: Union[str, bytes] = model.data
        elif isinstance(model, (bytes, bytearray, memoryview)):
            source = bytes(model)
        elif isinstance(model, (str, os.PathLike)):
            source = os.fspath(model)
        else:
            raise InvalidArgumentError(
                "model must be a .tacm path, a tac.CompiledModel or .tacm bytes, got "
                f"{type(model).__name__}")
        super().__init__(source, device, threads, cuda_device, gpu_dispatch,
                         require_sha256 or "", require_producer or "")

    def __repr__(self) -> str:
        return (f"InferenceSession(device={self.device!r}, inputs={[a.name for a in self.get_inputs()]}, "
                f"paths={self.num_paths}, variants={len(self.variants)})")


def cuda_available() -> tuple[bool, str]:
    """``(True, "")`` when a CUDA device can be used here, else ``(False, why)``."""
    return _runtime.cuda_available()


__all__ = ["InferenceSession", "NodeArg", "RunInfo", "VariantInfo", "cuda_available"]
