"""tac: compiler and runtime for input-adaptive transformer inference.

    import tac
    compiled = tac.compile("model.onnx", batch_sizes=[8])   # ONNX -> .tacm, in process
    sess = tac.InferenceSession(compiled)                     # or a .tacm path
    logits, = sess.run(None, {"image": x})                    # like ONNX Runtime
    outputs, info = sess.run_adaptive({"image": x})           # + paths per row, FLOPs, time

``tac.train`` (the from-scratch PyTorch recipe) and ``tac.adapt`` (make a
pretrained transformer adaptive) are subpackages; they need PyTorch.
See docs/python.md.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Where each public name lives. Loaded on first use, so that `import tac.train`
# works without the compiled extensions and `import tac` does not load the
# compiler (libMLIR) until tac.compile is called.
_EXPORTS = {
    "compile": "compiler", "CompiledModel": "compiler",
    "InferenceSession": "session", "NodeArg": "session", "RunInfo": "session",
    "VariantInfo": "session", "cuda_available": "session",
    "TacError": "errors", "InvalidArgumentError": "errors", "InvalidModelError": "errors",
    "UnsupportedError": "errors", "CompileError": "errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

if TYPE_CHECKING:
    from .compiler import CompiledModel, compile
    from .errors import (CompileError, InvalidArgumentError, InvalidModelError, TacError,
                         UnsupportedError)
    from .session import InferenceSession, NodeArg, RunInfo, VariantInfo, cuda_available


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tac' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
