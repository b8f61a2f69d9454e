# lit configuration of tac's FileCheck suites.
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "tac"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".onnxtext", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.tac_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Unit", "Conformance", "check_path_flops.py",
                   "Docs", "Inputs"]

llvm_config.use_default_substitutions()
# FileCheck, not, count come from LLVM; tac's tools from the build.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(
    ["tac-opt", "tac-translate", "tac-compile", "tac-run"],
    [config.tac_tools_dir, config.llvm_tools_dir])
config.substitutions.append(("%tac_src_root", config.tac_src_root))
# MLIR's runner support libraries, for tests that execute lowered IR.
config.substitutions.append(
    ("%mlir_lib_dir", os.path.join(os.path.dirname(config.llvm_tools_dir), "lib")))
# Runs lowered IR's @main with MLIR's runner support libraries.
_mlir_lib_dir = os.path.join(os.path.dirname(config.llvm_tools_dir), "lib")
config.substitutions.insert(0, (
    "%run_main", "mlir-runner -e main -entry-point-result=void "
    "-shared-libs=" + os.path.join(_mlir_lib_dir, "libmlir_runner_utils.so") +
    "," + os.path.join(_mlir_lib_dir, "libmlir_c_runner_utils.so")))
# Python with onnx (the project venv), and text → binary ONNX for fixtures.
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(
    ("%onnx_from_text", config.python_executable + " " + os.path.join(
        config.tac_src_root, "test", "Import", "Inputs", "onnxtext_to_onnx.py")))

# CUDA backend (test/Cuda): `ptxas` when the CUDA toolkit's ptxas is here
# (tests that assemble the generated PTX), `cuda-driver` when libcuda.so.1
# loads (tests of the no-driver error path are UNSUPPORTED then).
import ctypes
import shutil
_ptxas = shutil.which("ptxas") or next(
    (p for p in [os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "ptxas")]
     if os.access(p, os.X_OK)), None)
if _ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", _ptxas))
try:
    ctypes.CDLL("libcuda.so.1")
    config.available_features.add("cuda-driver")
except OSError:
    pass
# Edge target (docs/edge.md): aarch64 kernels link with the cross driver.
if shutil.which("aarch64-linux-gnu-gcc"):
    config.available_features.add("aarch64-cross")
