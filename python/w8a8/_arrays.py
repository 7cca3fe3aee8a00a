"""Array plumbing: numpy / torch arrays to the extension's (raw array, dtype name) pairs and back, zero-copy.

numpy's DLPack (and older torch's) has no codes for FP8 or bf16, so such arrays cross as same-size integer views
with the real dtype named beside them; results come back the same way and are viewed as the caller's dtype.
"""

from __future__ import annotations

import numpy as np
import ml_dtypes

NUMPY, TORCH = 0, 1

_NP_SPECIAL = {
    np.dtype(ml_dtypes.float8_e4m3fn): ("float8_e4m3fn", np.uint8),
    np.dtype(ml_dtypes.float8_e4m3fnuz): ("float8_e4m3fnuz", np.uint8),
    np.dtype(ml_dtypes.float8_e5m2): ("float8_e5m2", np.uint8),
    np.dtype(ml_dtypes.bfloat16): ("bfloat16", np.uint16),
}
_NP_PLAIN = {np.dtype(n): n for n in ("float16", "float32", "float64", "int8", "uint8", "int32", "int64")}
_NP_FROM_NAME = {name: np.dtype(dt) for dt, (name, _) in _NP_SPECIAL.items()}
_NP_FROM_NAME.update({n: d for d, n in _NP_PLAIN.items()})


def _torch():
    import sys

    return sys.modules.get("torch")


def is_torch(x) -> bool:
    t = _torch()
    return t is not None and isinstance(x, t.Tensor)


def framework_of(x) -> int:
    return TORCH if is_torch(x) else NUMPY


def dtype_name(dtype) -> str:
    """A dtype (numpy / ml_dtypes type, np.dtype, torch.dtype or name) as w8a8's name ("bfloat16", ...)."""
    if isinstance(dtype, str):
        return dtype
    t = _torch()
    if t is not None and isinstance(dtype, t.dtype):
        return str(dtype).replace("torch.", "")
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected a numpy, ml_dtypes or torch dtype or a name, got {dtype!r}") from None
    if d in _NP_SPECIAL:
        return _NP_SPECIAL[d][0]
    if d in _NP_PLAIN:
        return _NP_PLAIN[d]
    raise TypeError(f"dtype: w8a8 has no dtype for {d}")


def numpy_dtype(name: str):
    return _NP_FROM_NAME[name]


def torch_dtype(name: str):
    return getattr(_torch(), name)


def to_raw(x, name: str = "array"):
    """(raw array, dtype name) for the extension; None stays None."""
    if x is None:
        return None
    if is_torch(x):
        t = _torch()
        x = x.detach()
        dn = dtype_name(x.dtype)
        if x.dtype.is_floating_point and x.element_size() == 1:
            return x.view(t.uint8), dn
        if x.dtype == t.bfloat16:
            return x.view(t.int16), dn
        return x, dn
    if isinstance(x, np.generic):  # numpy scalars: 0-dim arrays
        x = np.asarray(x)
    if not isinstance(x, np.ndarray):
        if isinstance(x, (list, tuple, int, float)):
            raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")
        x = np.asarray(x)
    d = x.dtype
    if d in _NP_SPECIAL:
        dn, raw = _NP_SPECIAL[d]
        return x.view(raw), dn
    if d in _NP_PLAIN:
        return x, _NP_PLAIN[d]
    raise TypeError(f"{name}: w8a8 has no dtype for numpy dtype {d}")


def from_raw(res, originals=()):
    """The caller's array from an extension result (raw array, dtype name, data pointer).

    When the result is one of the caller's own arrays (vLLM returns a given scale or output as is), that very
    object is returned.
    """
    if res is None:
        return None
    arr, dn, ptr = res
    for o in originals:
        if o is not None and data_ptr(o) == ptr and tuple(o.shape) == tuple(arr.shape) and dtype_name(o.dtype) == dn:
            return o
    if is_torch(arr):
        if dn in ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "bfloat16"):
            return arr.view(torch_dtype(dn))
        return arr
    if dn in _NP_FROM_NAME and arr.dtype != _NP_FROM_NAME[dn]:
        return arr.view(_NP_FROM_NAME[dn])
    return arr


def data_ptr(x) -> int:
    if is_torch(x):
        return x.data_ptr()
    if isinstance(x, np.ndarray):
        return x.__array_interface__["data"][0]
    return -1


def stream_of(x) -> int:
    """The current torch CUDA stream of x's device (as an integer) for CUDA tensors, else 0."""
    if is_torch(x) and x.is_cuda:
        return _torch().cuda.current_stream(x.device).cuda_stream
    return 0


def scalar_like(value, like, dtype_name_: str = "float32"):
    """A one-element array of `like`'s framework and device holding value (for float scale arguments)."""
    if value is None or not isinstance(value, (int, float)):
        return value
    if is_torch(like):
        t = _torch()
        return t.tensor([float(value)], dtype=getattr(t, dtype_name_), device=like.device)
    return np.array([value], dtype=_NP_FROM_NAME[dtype_name_])
