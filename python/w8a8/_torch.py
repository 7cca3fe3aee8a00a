"""torch.library ops under the `w8a8::` namespace (imported by `w8a8` when torch is importable).

Each op has a fake (meta) implementation so torch.compile(fullgraph=True) can trace models that use them.
scaled_mm and the quantization ops write into torch-allocated outputs (the allocation-free C++ entries), on the
current torch CUDA stream. fp8_linear allocates its output with torch and runs the allocation-free
Fp8LinearOp.apply(out, ...): its FP8 activation and scales live in the library's per-stream scratch, so the op
captures into CUDA graphs. Tested on the GPU machine (tests/python/pkg/test_pkg_torch.py).
"""

from __future__ import annotations

import atexit
from typing import List, Optional, Tuple

import torch

from . import _w8a8
from ._arrays import dtype_name, scalar_like, stream_of, to_raw

_lib = "w8a8"


@torch.library.custom_op(f"{_lib}::scaled_mm", mutates_args=())
def scaled_mm(a: torch.Tensor, b: torch.Tensor, scale_a: torch.Tensor, scale_b: torch.Tensor,
              out_dtype: torch.dtype, bias: Optional[torch.Tensor] = None, backend: str = "auto",
              accumulation: str = "default") -> torch.Tensor:
    out = torch.empty((a.shape[0], b.shape[1]), dtype=out_dtype, device=a.device)
    _w8a8.scaled_mm_into(to_raw(out), to_raw(a), to_raw(b), to_raw(scale_a), to_raw(scale_b), to_raw(bias),
                         backend, accumulation, stream_of(a))
    return out


@scaled_mm.register_fake
def _(a, b, scale_a, scale_b, out_dtype, bias=None, backend="auto", accumulation="default"):
    return a.new_empty((a.shape[0], b.shape[1]), dtype=out_dtype)


@torch.library.custom_op(f"{_lib}::scaled_fp8_quant", mutates_args=())
def scaled_fp8_quant(input: torch.Tensor, scale: Optional[torch.Tensor] = None,
                     num_token_padding: Optional[int] = None, scale_ub: Optional[torch.Tensor] = None,
                     use_per_token_if_dynamic: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    m, k = input.shape
    rows = max(num_token_padding or 0, m)
    out = torch.empty((rows, k), dtype=torch.float8_e4m3fn, device=input.device)
    st = stream_of(input)
    if scale is not None and scale.numel() == 1:
        _w8a8.static_scaled_fp8_quant(to_raw(out), to_raw(input), to_raw(scale), st)
        return out, scale.clone()
    if scale is not None:  # static per token [M, 1]: the allocating entry handles its padded scales
        from . import scaled_fp8_quant as _q
        q, s = _q(input, scale, num_token_padding, scale_ub, use_per_token_if_dynamic)
        return q, (s.clone() if s is scale else s)
    if use_per_token_if_dynamic:
        s = torch.empty((rows, 1), dtype=torch.float32, device=input.device)
        _w8a8.dynamic_per_token_scaled_fp8_quant(to_raw(out), to_raw(input), to_raw(s), to_raw(scale_ub), st)
        return out, s
    if scale_ub is not None:
        raise ValueError("scale_ub: only valid for dynamic per-token quantization")
    s = torch.empty((1,), dtype=torch.float32, device=input.device)
    _w8a8.dynamic_scaled_fp8_quant(to_raw(out), to_raw(input), to_raw(s), st)
    return out, s


@scaled_fp8_quant.register_fake
def _(input, scale=None, num_token_padding=None, scale_ub=None, use_per_token_if_dynamic=False):
    m, k = input.shape
    rows = max(num_token_padding or 0, m)
    out = input.new_empty((rows, k), dtype=torch.float8_e4m3fn)
    if scale is not None:
        s = input.new_empty(scale.shape if scale.numel() == 1 or rows == m else (rows, 1), dtype=torch.float32)
    elif use_per_token_if_dynamic:
        s = input.new_empty((rows, 1), dtype=torch.float32)
    else:
        s = input.new_empty((1,), dtype=torch.float32)
    return out, s


@torch.library.custom_op(f"{_lib}::per_token_group_quant_fp8", mutates_args=())
def per_token_group_quant_fp8(x: torch.Tensor, group_size: int, eps: float = 1e-10,
                              column_major_scales: bool = False,
                              use_ue8m0: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    if x.dim() != 2:  # x [..., K]: the allocating entry lays out the N-D scales
        from . import per_token_group_quant_fp8 as _q
        return _q(x, group_size, eps, None, column_major_scales, use_ue8m0)
    m, k = x.shape
    groups = -(-k // group_size)  # a short last group when group_size does not divide K
    out = torch.empty((m, k), dtype=torch.float8_e4m3fn, device=x.device)
    if column_major_scales:
        s = torch.empty((groups, m), dtype=torch.float32, device=x.device).t()
    else:
        s = torch.empty((m, groups), dtype=torch.float32, device=x.device)
    _w8a8.per_token_group_quant_fp8_into(to_raw(out), to_raw(s), to_raw(x), group_size, eps, use_ue8m0,
                                         stream_of(x))
    return out, s


@per_token_group_quant_fp8.register_fake
def _(x, group_size, eps=1e-10, column_major_scales=False, use_ue8m0=False):
    *lead, k = x.shape
    groups = -(-k // group_size)
    out = x.new_empty(tuple(x.shape), dtype=torch.float8_e4m3fn)
    if column_major_scales:
        return out, x.new_empty((*lead[:-1], groups, lead[-1]), dtype=torch.float32).transpose(-1, -2)
    return out, x.new_empty((*lead, groups), dtype=torch.float32)


@torch.library.custom_op(f"{_lib}::fp8_linear", mutates_args=())
def fp8_linear(input: torch.Tensor, weight: torch.Tensor, weight_scale: torch.Tensor,
               input_scale: Optional[torch.Tensor], bias: Optional[torch.Tensor], act_quant_static: bool,
               group_shape: List[int], out_dtype: Optional[torch.dtype] = None,
               accumulation: str = "default") -> torch.Tensor:
    """Fp8LinearOp(act_quant_static, group_shape, accumulation=...).apply(input, weight, ...); weight [K, N]
    column-major."""
    from . import Fp8LinearOp

    key = (act_quant_static, tuple(group_shape), accumulation)
    op = _op_cache.get(key)
    if op is None:
        op = _op_cache.setdefault(key, Fp8LinearOp(act_quant_static, tuple(group_shape), accumulation=accumulation))
    if input.dtype in (torch.float8_e4m3fn, torch.float8_e4m3fnuz) and out_dtype is None:
        raise ValueError("out_dtype: required when input is already FP8, got None")
    out = torch.empty((*input.shape[:-1], weight.shape[1]), dtype=out_dtype or input.dtype, device=input.device)
    op._op.apply_into(to_raw(out, "out"), to_raw(input, "input"), to_raw(weight, "weight"),
                      to_raw(scalar_like(weight_scale, input), "weight_scale"),
                      to_raw(scalar_like(input_scale, input), "input_scale"), None, to_raw(bias, "bias"),
                      stream_of(input))
    return out


_op_cache: dict = {}
# The cached ops are nanobind objects. Whatever keeps this module's globals alive through interpreter teardown
# (torch's op registry holds fp8_linear) keeps them alive past nanobind's check at exit, which then reports them
# ("nanobind: leaked N instances!"): release them while the interpreter exits, before that teardown.
atexit.register(_op_cache.clear)
# torch.library keeps every registered op, and through its Python implementation this module's functions, alive
# until the interpreter is gone; nanobind would report those (not a leak of w8a8's) as leaked at exit.
_w8a8.set_leak_warnings(False)


@fp8_linear.register_fake
def _(input, weight, weight_scale, input_scale, bias, act_quant_static, group_shape, out_dtype=None,
      accumulation="default"):
    if input.dtype in (torch.float8_e4m3fn, torch.float8_e4m3fnuz) and out_dtype is None:
        raise ValueError("out_dtype: required when input is already FP8, got None")
    return input.new_empty((*input.shape[:-1], weight.shape[1]), dtype=out_dtype or input.dtype)


@torch.library.custom_op(f"{_lib}::fp8_block_linear", mutates_args=())
def fp8_block_linear(input: torch.Tensor, weight: torch.Tensor, weight_scale: torch.Tensor,
                     bias: Optional[torch.Tensor]) -> torch.Tensor:
    """W8A8BlockFp8LinearOp().apply(input, weight, weight_scale, bias=bias): weight [N, K] FP8 in 128 x 128 blocks,
    weight_scale [ceil(N/128), K/128], activations quantized per 1 x 128 group; output in the input's dtype."""
    from . import W8A8BlockFp8LinearOp

    op = _op_cache.get("block")
    if op is None:
        op = _op_cache.setdefault("block", W8A8BlockFp8LinearOp())
    out = torch.empty((*input.shape[:-1], weight.shape[0]), dtype=input.dtype, device=input.device)
    op._op.apply_into(to_raw(out, "out"), to_raw(input, "input"), to_raw(weight, "weight"),
                      to_raw(weight_scale, "weight_scale"), to_raw(bias, "bias"), stream_of(input))
    return out


@fp8_block_linear.register_fake
def _(input, weight, weight_scale, bias):
    return input.new_empty((*input.shape[:-1], weight.shape[0]))


__all__ = ["scaled_mm", "scaled_fp8_quant", "per_token_group_quant_fp8", "fp8_linear", "fp8_block_linear",
           "dtype_name"]
