"""Console entry points: ``tac-compile``, ``tac-run``, ``tac-opt`` and
``tac-translate`` run the tools installed inside the package (tac/bin)."""
from __future__ import annotations

import os
import sys

_BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin")


def _exec(tool: str) -> None:
    path = os.path.join(_BIN, tool)
    if not os.path.isfile(path):
        sys.exit(f"{tool}: not installed with this tac package ({path} is missing); "
                 "reinstall it with `pip install .` from the tac repository, "
                 "or use build/bin/{tool} of a source build")
    os.execv(path, [tool] + sys.argv[1:])


def tac_compile() -> None:
    _exec("tac-compile")


def tac_run() -> None:
    _exec("tac-run")


def tac_opt() -> None:
    _exec("tac-opt")


def tac_translate() -> None:
    _exec("tac-translate")
