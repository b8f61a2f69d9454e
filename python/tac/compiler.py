"""``tac.compile``: ONNX (or tac MLIR) in, a compiled model out, in process.

Runs the same compiler as the ``tac-compile`` tool (the options mean the same);
see ``docs/python.md``.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from .errors import CompileError, InvalidArgumentError

ModelSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, "onnx.ModelProto"]  # noqa: F821
Progress = Union[bool, None, Callable[[str, Optional[float]], None]]

# compile_to values in order; a compile to one reports that many phases.
_PHASES = ("import", "adaptive", "variants", "kernels", "tacm")


class CompiledModel:
    """A compiled ``.tacm`` model held in memory.

    Pass it to :class:`tac.InferenceSession`, write it with :meth:`save`, or
    take its bytes with ``bytes(compiled)``.
    """

    def __init__(self, data: bytes, report: str = "", warnings: str = "") -> None:
        self.data = data
        #: The per-plan table (path, layers, FLOPs, arena) when ``report=True``.
        self.report = report
        #: Compiler warnings and remarks, one per line ("" if none).
        self.warnings = warnings

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the ``.tacm`` file (what ``tac-run`` and libtacrt load)."""
        with open(path, "wb") as f:
            f.write(self.data)

    def __bytes__(self) -> bytes:
        return self.data

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"CompiledModel({len(self.data)} bytes)"


class _Bar:
    """One line on stderr per compile: ``[tac] 3/5 specialise paths ... 1.2 s``.
    Redrawn in place on a terminal, one line per finished phase otherwise."""

    def __init__(self, name: str, total: int) -> None:
        self.name, self.total, self.done, self.start = name, total, 0, time.monotonic()
        self.tty = sys.stderr.isatty()

    def __call__(self, phase: str, seconds: Optional[float]) -> None:
        if seconds is None:
            if self.tty:
                self._draw(f"{phase} ...")
            return
        self.done += 1
        total = time.monotonic() - self.start
        line = f"{phase} {seconds:.2f} s"
        if self.done == self.total:
            line += f" (total {total:.1f} s)"
        if self.tty:
            self._draw(line, end="\n" if self.done == self.total else "")
        else:
            print(f"[tac] {self.name} {self.done}/{self.total} {line}", file=sys.stderr, flush=True)

    def _draw(self, text: str, end: str = "") -> None:
        filled = "#" * self.done + "-" * (self.total - self.done)
        sys.stderr.write(f"\r\033[K[tac] {self.name} [{filled}] {self.done}/{self.total} {text}{end}")
        sys.stderr.flush()


def _source(model: ModelSource) -> tuple[bytes, str, bool]:
    """(contents, name, is_onnx) of what the caller passed."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise InvalidArgumentError(f"cannot read the model '{path}': {e.strerror}; "
                                       "check the path") from None
        return data, path, not path.endswith(".mlir")
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model), "<onnx bytes>", True
    if hasattr(model, "SerializeToString"):  # onnx.ModelProto
        return model.SerializeToString(), f"<onnx.ModelProto {getattr(model.graph, 'name', '')}>", True
    raise InvalidArgumentError(
        f"model must be a path, bytes or an onnx.ModelProto, got {type(model).__name__}")


def _ints(name: str, values: Optional[Sequence[int]]) -> list[int]:
    if values is None:
        return []
    if isinstance(values, int):
        values = [values]
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be a list of integers, got {values!r}") from None


def _calibration(data: Optional[Mapping[str, Any]]) -> list:
    """(name, NumPy dtype name, shape, bytes) per calibration input."""
    import numpy as np

    out = []
    for name, value in (data or {}).items():
        array = np.ascontiguousarray(np.asarray(value))
        out.append((str(name), array.dtype.name, [int(d) for d in array.shape],
                    array.tobytes()))
    return out


def compile(model: ModelSource,
            output: Union[str, "os.PathLike[str]", None] = None,
            *,
            target: Union[str, Sequence[str]] = "cpu",
            batch_sizes: Optional[Sequence[int]] = None,
            report: bool = False,
            input_shapes: Optional[Mapping[str, Sequence[int]]] = None,
            bind_inputs: Optional[Mapping[str, str]] = None,
            paths: Optional[Sequence[int]] = None,
            depths: Optional[Sequence[int]] = None,
            cpus: Optional[Sequence[str]] = None,
            cuda_archs: Optional[Sequence[str]] = None,
            cuda_ptx_only: bool = False,
            gemm: str = "packed",
            precision: str = "f32",
            calibration: Optional[Mapping[str, Any]] = None,
            fold: bool = True,
            compile_to: str = "tacm",
            progress: Progress = None) -> Union[CompiledModel, str]:
    """Compiles an ONNX model (or tac MLIR) for tac's runtime.

    Args:
        model: a path (``.onnx``, ``.onnxtext``; ``.mlir`` for tac MLIR), the
            ONNX bytes, or an ``onnx.ModelProto``. External data is found next
            to a model given by path.
        output: also write the ``.tacm`` file here.
        target: ``"cpu"``, ``"cuda"`` or ``"cpu,cuda"`` (or a list).
        batch_sizes: row counts to compile besides 1 (CPU), e.g. ``[4, 16, 32]``;
            a batch runs in pieces of these sizes, each row on its own path.
        report: fill ``CompiledModel.report`` with the per-plan table.
        input_shapes: static shapes for inputs with symbolic dimensions,
            ``{"x": [1, 3, 224, 224]}``.
        bind_inputs: inputs frozen to a TensorProto file, ``{"mask": "mask.pb"}``.
        paths: adaptive models: compile only these paths.
        depths: static models: truncated depths to compile as variants.
        cpus: CPU levels to compile kernels for, best first (default host, x86-64).
        cuda_archs: chips to build cubins for (default sm_80, sm_87, sm_90).
        cuda_ptx_only: embed PTX only (no ptxas).
        gemm: matrix products: ``"packed"`` (products by a weight run tac's
            micro-kernel over weights packed at compile time, the rest
            BLAS), ``"blas"`` (system BLAS) or ``"generated"`` (loops).
        precision: how GEMM weights are stored (CPU files, ``gemm="packed"``):
            ``"f32"``, ``"bf16"`` or ``"int8"`` (per output channel, with
            activations quantised per row as the model runs); the
            controller stays f32. See docs/precision.md.
        calibration: with ``precision="int8"``: ``{input name: array}``, N
            rows of each model input (NumPy arrays or anything
            ``numpy.asarray`` takes). An f32 build runs them first, and each
            GEMM's activation channels' ranges are moved into its int8
            weights (docs/precision.md, "Calibration").
        fold: fold identical layers into one body over stacked weights.
        compile_to: stop after ``"import"``, ``"adaptive"``, ``"variants"`` or
            ``"kernels"`` and return that phase's MLIR text.
        progress: ``None`` shows a progress line when stderr is a terminal,
            ``True`` always, ``False`` never; or a callable
            ``(phase, seconds_or_None)`` called when each phase starts (None)
            and ends.

    Returns:
        a :class:`CompiledModel` (or MLIR text for an earlier ``compile_to``).

    Raises:
        CompileError: the compiler's diagnostics (unsupported op with opset
            and node, wrong shapes, ...).
        InvalidArgumentError: a bad argument.
    """
    from . import _compiler  # loads libMLIR only when compiling

    data, name, is_onnx = _source(model)
    targets = target.split(",") if isinstance(target, str) else list(target)
    if progress is None:
        progress = sys.stderr.isatty()
    # (an unknown compile_to is the compiler's error to report)
    phases = _PHASES.index(compile_to) + 1 if compile_to in _PHASES else len(_PHASES)
    bar = _Bar(os.path.basename(name), phases) if progress else None
    callback = progress if callable(progress) else bar
    result = _compiler.compile(
        data, name, is_onnx, compile_to, [t.strip() for t in targets],
        list(cuda_archs or []), bool(cuda_ptx_only), list(cpus or []), gemm,
        precision, bool(fold),
        _ints("paths", paths), _ints("batch_sizes", batch_sizes), _ints("depths", depths),
        {k: _ints(f"input_shapes[{k!r}]", v) for k, v in (input_shapes or {}).items()},
        {k: os.fspath(v) for k, v in (bind_inputs or {}).items()},
        _calibration(calibration), bool(report), callback)
    if compile_to != "tacm":
        return result.data.decode()
    compiled = CompiledModel(result.data, result.report, result.warnings)
    if output is not None:
        compiled.save(output)
    return compiled


__all__ = ["compile", "CompiledModel", "CompileError"]
