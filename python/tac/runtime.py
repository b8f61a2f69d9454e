"""A thin ctypes wrapper over libtacrt's C API (runtime/include/tacrt/tacrt.h).

    from tac.runtime import Model
    model = Model("model.tacm")            # or Model(path, library=".../libtacrt.so")
    outputs, info = model.run({"x": x})    # or model.run([x]); path=K / budget_flops=X
    info["path"], info["flops"]

The library is found through ``library=``, the ``TACRT_LIBRARY`` environment
variable, or the system loader (``libtacrt.so``). A Model owns one session:
use one Model object per thread. bfloat16 tensors travel as their raw uint16
bits (NumPy has no bfloat16).
"""
import ctypes
import os

import numpy as np

_DTYPES = [np.float32, np.float16, None, np.float64, np.int8, np.int16,
           np.int32, np.int64, np.uint8, np.bool_, np.uint16, np.uint32,
           np.uint64]  # tac_dtype order; BF16 has no NumPy type


def _rows(shape, spec):
    """Rows a tensor of `shape` holds for model tensor `spec` (one row): the
    runtime's rule (spec with its leading 1 replaced by N, or N prepended);
    1 when it is neither (the runtime then says what is wrong)."""
    shape, spec = tuple(shape), tuple(spec)
    if shape == spec or not shape:
        return 1
    if (spec and spec[0] == 1 and len(shape) == len(spec) and shape[1:] == spec[1:]) or \
            shape[1:] == spec:
        return shape[0]
    return 1


def _batch_shape(spec, rows):
    spec = tuple(spec)
    if rows == 1:
        return spec
    return (rows,) + (spec[1:] if spec and spec[0] == 1 else spec)


class TacError(RuntimeError):
    """A failed libtacrt call; the message says what to do."""


class _Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_size_t), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("byte_size", ctypes.c_size_t)]


class _Options(ctypes.Structure):
    _fields_ = [("dispatch", ctypes.c_int), ("path", ctypes.c_int32),
                ("budget_flops", ctypes.c_uint64)]


class _Info(ctypes.Structure):
    _fields_ = [("path", ctypes.c_int32), ("requested_path", ctypes.c_int32),
                ("rounded", ctypes.c_int), ("budget_limited", ctypes.c_int),
                ("flops", ctypes.c_uint64), ("controller_flops", ctypes.c_uint64),
                ("time_us", ctypes.c_double), ("layers", ctypes.POINTER(ctypes.c_int32)),
                ("num_layers", ctypes.c_size_t)]


def _load_library(path):
    lib = ctypes.CDLL(path or os.environ.get("TACRT_LIBRARY") or "libtacrt.so")
    p, size, u64 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64
    signatures = {
        "tac_last_error": (ctypes.c_char_p, []),
        "tac_model_load": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(p)]),
        "tac_model_free": (None, [p]),
        "tac_model_num_inputs": (size, [p]),
        "tac_model_num_outputs": (size, [p]),
        "tac_model_input_name": (ctypes.c_char_p, [p, size]),
        "tac_model_input_dtype": (ctypes.c_int, [p, size]),
        "tac_model_input_rank": (size, [p, size]),
        "tac_model_input_shape": (ctypes.POINTER(ctypes.c_int64), [p, size]),
        "tac_model_output_name": (ctypes.c_char_p, [p, size]),
        "tac_model_output_dtype": (ctypes.c_int, [p, size]),
        "tac_model_output_rank": (size, [p, size]),
        "tac_model_output_shape": (ctypes.POINTER(ctypes.c_int64), [p, size]),
        "tac_model_num_paths": (ctypes.c_uint32, [p]),
        "tac_model_set_gemm_threads": (ctypes.c_int, [p, ctypes.c_int]),
        "tac_model_num_variants": (size, [p]),
        "tac_model_variant_path": (ctypes.c_int32, [p, size]),
        "tac_model_variant_flops": (u64, [p, size]),
        "tac_session_create": (ctypes.c_int, [p, ctypes.POINTER(p)]),
        "tac_session_free": (None, [p]),
        "tac_session_last_paths": (ctypes.POINTER(ctypes.c_int32),
                                   [p, ctypes.POINTER(ctypes.c_size_t)]),
        "tac_session_run": (ctypes.c_int, [p, ctypes.POINTER(_Tensor), size,
                                           ctypes.POINTER(_Tensor), size,
                                           ctypes.POINTER(_Options), ctypes.POINTER(_Info)]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


class Model:
    """A loaded .tacm model with one session."""

    def __init__(self, path, library=None):
        self._lib = _load_library(library)
        self._model = ctypes.c_void_p()
        self._session = ctypes.c_void_p()
        self._check(self._lib.tac_model_load(os.fsencode(path), ctypes.byref(self._model)))
        self._check(self._lib.tac_session_create(self._model, ctypes.byref(self._session)))
        self.inputs = [self._spec("input", i) for i in range(self._lib.tac_model_num_inputs(self._model))]
        self.outputs = [self._spec("output", i) for i in range(self._lib.tac_model_num_outputs(self._model))]
        self.num_paths = self._lib.tac_model_num_paths(self._model)
        self.variants = [(self._lib.tac_model_variant_path(self._model, i),
                          self._lib.tac_model_variant_flops(self._model, i))
                         for i in range(self._lib.tac_model_num_variants(self._model))]

    def __del__(self):
        lib = getattr(self, "_lib", None)
        if lib is not None:
            lib.tac_session_free(self._session)
            lib.tac_model_free(self._model)

    def _check(self, status):
        if status != 0:
            raise TacError(self._lib.tac_last_error().decode())

    def _spec(self, kind, index):
        get = lambda what: getattr(self._lib, f"tac_model_{kind}_{what}")(self._model, index)
        rank, shape = get("rank"), get("shape")
        dtype = _DTYPES[get("dtype")]
        return {"name": get("name").decode(), "dtype": dtype or np.uint16,
                "code": get("dtype"),
                "shape": tuple(shape[i] for i in range(rank))}

    def set_gemm_threads(self, threads):
        """Threads the model's BLAS GEMM kernels may use (process-wide)."""
        self._check(self._lib.tac_model_set_gemm_threads(self._model, threads))

    def run(self, inputs, path=None, budget_flops=None):
        """Runs one input set (a list in input order or a dict by name).
        Returns (outputs as a list of arrays, RunInfo as a dict)."""
        if isinstance(inputs, dict):
            missing = [s["name"] for s in self.inputs if s["name"] not in inputs]
            if missing:
                raise TacError(f"missing inputs: {', '.join(missing)}")
            inputs = [inputs[s["name"]] for s in self.inputs]
        arrays = [np.ascontiguousarray(x) for x in inputs]
        shapes = [(ctypes.c_int64 * max(a.ndim, 1))(*a.shape) for a in arrays]
        codes = {np.dtype(t): i for i, t in enumerate(_DTYPES) if t is not None}
        c_inputs = (_Tensor * max(len(arrays), 1))()
        for i, a in enumerate(arrays):
            if a.dtype not in codes:
                raise TacError(f"input {i}: NumPy dtype {a.dtype} has no tac equivalent")
            code = codes[a.dtype]
            if i < len(self.inputs) and self.inputs[i]["code"] == 2 and a.dtype == np.uint16:
                code = 2  # bfloat16 bits
            c_inputs[i] = _Tensor(a.ctypes.data, code, a.ndim, shapes[i], a.nbytes)
        rows = _rows(arrays[0].shape, self.inputs[0]["shape"]) if arrays and self.inputs else 1
        outputs = [np.empty(_batch_shape(s["shape"], rows), s["dtype"]) for s in self.outputs]
        c_outputs = (_Tensor * max(len(outputs), 1))()
        for i, y in enumerate(outputs):
            c_outputs[i] = _Tensor(y.ctypes.data, 0, 0, None, y.nbytes)
        if path is not None and budget_flops is not None:
            raise TacError("pass path or budget_flops, not both")
        options = _Options(0, 0, 0)
        if path is not None:
            options = _Options(1, path, 0)
        elif budget_flops is not None:
            options = _Options(2, 0, int(budget_flops))
        info = _Info()
        self._check(self._lib.tac_session_run(self._session, c_inputs, len(arrays), c_outputs,
                                              len(outputs), ctypes.byref(options), ctypes.byref(info)))
        return outputs, {
            "path": info.path, "requested_path": info.requested_path,
            "rounded": bool(info.rounded), "budget_limited": bool(info.budget_limited),
            "flops": info.flops, "controller_flops": info.controller_flops,
            "time_us": info.time_us, "layers": [info.layers[i] for i in range(info.num_layers)],
            "paths": self._last_paths(),
        }

    def _last_paths(self):
        """The path each row of the last run took."""
        n = ctypes.c_size_t(0)
        p = self._lib.tac_session_last_paths(self._session, ctypes.byref(n))
        return [p[i] for i in range(n.value)]
