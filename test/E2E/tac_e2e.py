"""Helpers shared by the end-to-end checks in this folder (check_models.py,
check_dispatch.py, check_bad_inputs.py): running tac-compile / tac-run,
reading tac-run's --json and --output-dir results, comparing arrays.

The CLI contract these follow:

  tac-compile MODEL.onnx -o OUT.tacm --target=cpu [--input-shape=NAME:AxB]
              [--bind-input=NAME=FILE.pb] [--inline-constant-limit=N]
      exit 0 and OUT.tacm written; exit 1 with `error:` otherwise.
  tac-run OUT.tacm [--input=NAME=FILE(.npy|.pb)] ... [--random[=SEED]]
          [--output-dir=DIR] [--path=K] [--budget-flops=X] [--benchmark=N]
          [--json] [--print-outputs]
      --output-dir writes DIR/<output name>.npy (characters unsafe in a
      file name replaced by `_`); --json prints exactly one JSON object on
      stdout: {"path", "requested_path", "rounded", "budget_limited",
      "flops", "controller_flops", "time_us", "layers", "outputs"}; exit 1
      and `tac-run: error: ...` on stderr on failure.
"""
import json
import os
import re
import signal
import subprocess

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
MODELS_DIR = os.path.join(ROOT, "test", "Import", "Models")
REF_DIR = os.path.join(MODELS_DIR, "ref")
EXPORT_SCRIPT = os.path.join(MODELS_DIR, "export_models.py")

COMPILE_TIMEOUT_S = 600
RUN_TIMEOUT_S = 120


def check_tools(**tools):
    """Error lines for tools (name=path) that are not executable files."""
    errors = []
    for name, path in tools.items():
        flag = "--" + name.replace("_", "-")
        if not path:
            errors.append(f"error: {flag} is required")
        elif not os.path.isfile(path):
            errors.append(f"error: {flag}: no such file '{path}' (build the "
                          f"{name.replace('_', '-')} target first)")
        elif not os.access(path, os.X_OK):
            errors.append(f"error: {flag}: '{path}' is not executable")
    return errors


class Result:
    """A finished (or timed out) tool run."""

    def __init__(self, cmd, returncode, stdout, stderr, timed_out=False):
        self.cmd, self.returncode = cmd, returncode
        self.stdout, self.stderr, self.timed_out = stdout, stderr, timed_out

    @property
    def ok(self):
        return not self.timed_out and self.returncode == 0

    def status(self):
        """'exit code N', 'killed by signal SIGSEGV' or 'timed out'."""
        if self.timed_out:
            return "timed out"
        if self.returncode < 0:
            try:
                return f"killed by signal {signal.Signals(-self.returncode).name}"
            except ValueError:
                return f"killed by signal {-self.returncode}"
        return f"exit code {self.returncode}"

    def first_error(self):
        lines = [l for l in self.stderr.strip().splitlines() if "error" in l.lower()]
        lines = lines or self.stderr.strip().splitlines() or ["(no message on stderr)"]
        return lines[0].strip()

    def describe(self):
        return f"{self.status()}: {self.first_error()}"

    def command_line(self):
        return " ".join(self.cmd)


def run(cmd, timeout=RUN_TIMEOUT_S):
    cmd = [str(c) for c in cmd]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              errors="backslashreplace", timeout=timeout)
    except subprocess.TimeoutExpired as e:
        def text(b):
            return b.decode(errors="backslashreplace") if isinstance(b, bytes) else (b or "")
        return Result(cmd, None, text(e.stdout), text(e.stderr), timed_out=True)
    return Result(cmd, proc.returncode, proc.stdout, proc.stderr)


def compile_model(tac_compile, model, out, extra=()):
    return run([tac_compile, model, "-o", out, "--target=cpu", *extra],
               timeout=COMPILE_TIMEOUT_S)


def run_model(tac_run, tacm, inputs, output_dir=None, path=None, extra=("--json",)):
    """tac-run on `inputs` ({name: file}, in order)."""
    cmd = [tac_run, tacm] + [f"--input={n}={f}" for n, f in inputs.items()]
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        cmd.append(f"--output-dir={output_dir}")
    if path is not None:
        cmd.append(f"--path={path}")
    cmd += list(extra)
    return run(cmd)


def run_outputs(tac_run, tacm, inputs, output_dir, path=None, extra=()):
    """(--json object, {output name: array}) of one tac-run call; raises
    RuntimeError saying what failed."""
    res = run_model(tac_run, tacm, inputs, output_dir, path=path,
                    extra=("--json", *extra))
    if not res.ok:
        raise RuntimeError(f"tac-run failed: {res.stderr.strip() or res.describe()}")
    info = parse_json(res)
    outputs = {}
    for o in info["outputs"]:
        arr, why = load_output(output_dir, o["name"])
        if arr is None:
            raise RuntimeError(why)
        outputs[o["name"]] = arr
    return info, outputs


JSON_KEYS = ("path", "requested_path", "rounded", "budget_limited", "flops",
             "controller_flops", "time_us", "layers", "outputs")


def parse_json(result):
    """tac-run --json's object, or raises ValueError saying what is wrong."""
    text = result.stdout.strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--json stdout is not one JSON object ({e}): {text[:200]!r}")
    if not isinstance(obj, dict):
        raise ValueError(f"--json printed a {type(obj).__name__}, not an object")
    missing = [k for k in JSON_KEYS if k not in obj]
    if missing:
        raise ValueError(f"--json object lacks {missing}: {text[:200]!r}")
    return obj


def safe_name(name):
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def output_file(directory, name):
    """The .npy tac-run wrote for output `name`: the name itself, or with
    unsafe characters replaced by `_` (two readings of 'unsafe')."""
    candidates = [name, safe_name(name), re.sub(r'[/\\:*?"<>|\x00-\x1f]', "_", name)]
    for c in candidates:
        path = os.path.join(directory, c + ".npy")
        if os.path.isfile(path):
            return path
    return None


def load_output(directory, name):
    """(array, None) or (None, why not)."""
    path = output_file(directory, name)
    if path is None:
        present = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
        return None, f"no {safe_name(name)}.npy in the output dir (found {present})"
    try:
        return np.load(path, allow_pickle=False), None
    except Exception as e:  # a malformed .npy is a failure, not a crash
        return None, f"{os.path.basename(path)} is not a readable .npy: {e}"


def compare(name, got, want, atol):
    """(ok, max |error|, message). Floats: max |got - want| <= atol (NaN
    must match NaN); integers and bools: exactly equal. Shape and dtype
    must match."""
    if got.shape != want.shape:
        return False, float("inf"), f"{name}: shape {list(got.shape)}, expected {list(want.shape)}"
    if got.dtype != want.dtype:
        return False, float("inf"), f"{name}: dtype {got.dtype}, expected {want.dtype}"
    if got.size == 0:
        return True, 0.0, ""
    if np.issubdtype(want.dtype, np.floating):
        g, w = got.astype(np.float64), want.astype(np.float64)
        both_nan = np.isnan(g) & np.isnan(w)
        with np.errstate(invalid="ignore"):
            err = np.where(both_nan, 0.0, np.abs(g - w))
        err = np.where(np.isnan(err), np.inf, err)
        worst = float(err.max())
        if worst <= atol:
            return True, worst, ""
        i = np.unravel_index(int(np.argmax(err)), err.shape)
        return False, worst, (f"{name}: max |error| {worst:.3g} > {atol:g} at "
                              f"{[int(x) for x in i]} (got {g[i]!r}, expected {w[i]!r})")
    bad = got != want
    if not bad.any():
        return True, 0.0, ""
    i = np.unravel_index(int(np.argmax(bad)), bad.shape)
    return False, float("inf"), (f"{name}: {int(bad.sum())}/{want.size} values differ, "
                                 f"first at {[int(x) for x in i]} (got {got[i]!r}, "
                                 f"expected {want[i]!r})")


def mentions_shape(text, shape):
    """Whether text writes `shape` as 1x1x28x28, [1, 1, 28, 28], (1,1,28,28)..."""
    if len(shape) == 0:
        return bool(re.search(r"\[\]|\(\)|scalar|tensor<[a-z]", text))
    sep = r"\s*[x,]\s*"
    pattern = r"(?<![\d.])" + sep.join(str(int(d)) for d in shape) + r"(?![\d.])"
    return re.search(pattern, text) is not None


def onnx_metadata(model_path):
    import onnx
    model = onnx.load(model_path)
    return {p.key: p.value for p in model.metadata_props}
