"""The exceptions tac raises. Every message says what is wrong and what to do.

    TacError                  base of all of them (a RuntimeError)
    ├── InvalidArgumentError  wrong inputs or options (also a ValueError)
    ├── InvalidModelError     a missing, damaged or inconsistent .tacm file
    ├── UnsupportedError      a valid file this machine cannot run (no CUDA, CPU code for another CPU)
    └── CompileError          the compiler rejected the model (its diagnostics are the message)
"""


class TacError(RuntimeError):
    """A failed tac call."""


class InvalidArgumentError(TacError, ValueError):
    """The caller passed something wrong: input names, dtypes, shapes, options."""


class InvalidModelError(TacError):
    """The .tacm file is missing, damaged or inconsistent."""


class UnsupportedError(TacError):
    """A valid model that cannot run here (for example no CUDA device)."""


class CompileError(TacError):
    """The compiler could not compile the model; the message holds its diagnostics
    (unsupported ops name the op, opset and node)."""
