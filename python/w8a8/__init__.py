"""w8a8: FP8 W8A8 linear layers with vLLM's names and semantics, for numpy and torch users.

Every function takes numpy arrays (CPU; FP8 and bf16 through ml_dtypes dtypes) or torch tensors (CPU or CUDA) and
returns the caller's array type, zero-copy. Errors of the C++ library arrive as ValueError (values, shapes),
TypeError (dtypes, devices), NotImplementedError (valid input that no backend built here can run; a RuntimeError
subclass) and RuntimeError (failures while running), with the library's message.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Sequence

from . import _w8a8
from ._arrays import dtype_name, framework_of, from_raw, is_torch, scalar_like, stream_of, to_raw

__version__ = "0.1.0"

__all__ = [
    "GroupShape", "QuantFP8", "Fp8LinearOp", "W8A8BlockFp8LinearOp", "ScaledMmChoice",
    "choose_scaled_mm_backend_for_shape", "tune_scaled_mm", "tune_grid", "scaled_fp8_quant", "per_token_group_quant_fp8", "per_block_quant_fp8",
    "cutlass_scaled_mm", "scaled_mm", "scaled_mm_kernels", "choose_scaled_mm_backend", "dispatch_w8a8_scaled_mm",
    "requantize_with_max_scale", "convert_to_channelwise", "normalize_e4m3fn_to_e4m3fnuz", "per_tensor_dequantize",
    "all_close_1d", "cutlass_fp8_supported", "cutlass_block_fp8_supported", "cutlass_group_gemm_supported",
    "sparse_cutlass_supported", "capabilities", "platform", "build_info", "set_fused_activation_quant", "fused_activation_quant", "cuda_built",
    "shard_weight", "shard_merged_column_parallel", "shard_checkpoint",
]

cuda_built: bool = _w8a8.cuda_built


class GroupShape(NamedTuple):
    """vLLM's GroupShape: (row, col), -1 meaning the full extent."""

    row: int
    col: int

    def is_per_tensor(self) -> bool:
        return self.row == -1 and self.col == -1

    def is_per_token(self) -> bool:
        return self.row == 1 and self.col == -1

    def is_per_channel(self) -> bool:
        return self.row == -1 and self.col == 1

    def is_per_group(self) -> bool:
        return self.row == 1 and self.col > 1


GroupShape.PER_TENSOR = GroupShape(-1, -1)
GroupShape.PER_TOKEN = GroupShape(1, -1)
GroupShape.PER_CHANNEL = GroupShape(-1, 1)


def _gs(group_shape) -> tuple:
    row, col = group_shape
    return (int(row), int(col))


def _fp8_name(fp8_dtype) -> str:
    return "float8_e4m3fn" if fp8_dtype is None else dtype_name(fp8_dtype)


# ---- quantization --------------------------------------------------------------------------------------------
def scaled_fp8_quant(input, scale=None, num_token_padding: Optional[int] = None, scale_ub=None,
                     use_per_token_if_dynamic: bool = False, output=None, *, fp8_dtype=None):
    """vLLM's ops.scaled_fp8_quant: returns (output fp8, scale fp32).

    scale given: static (one element, or [M, 1] static per token); absent: dynamic per tensor, or per token with
    use_per_token_if_dynamic (scale_ub only then). num_token_padding: output rows max(P, M), padded rows zero with
    scale 1. A given scale / output is returned as the same object.
    """
    fw = framework_of(input)
    scale = scalar_like(scale, input)
    scale_ub = scalar_like(scale_ub, input)
    q, s = _w8a8.scaled_fp8_quant(to_raw(input, "input"), to_raw(scale, "scale"), num_token_padding,
                                  to_raw(scale_ub, "scale_ub"), bool(use_per_token_if_dynamic),
                                  to_raw(output, "output"), _fp8_name(fp8_dtype), fw, stream_of(input))
    return from_raw(q, (output,)), from_raw(s, (scale,))


def per_token_group_quant_fp8(x, group_size: int, eps: float = 1e-10, dtype=None, column_major_scales: bool = False,
                              use_ue8m0: bool = False):
    """vLLM's per_token_group_quant_fp8: x [..., K] -> (x_q [..., K], x_s [..., ceil(K/group_size)]).

    A group_size that does not divide K leaves a shorter last group (vLLM's native path pads it with zeros).
    column_major_scales: each [rows, groups] matrix of x_s is column-major (x.shape[:-2] + (groups, rows) storage,
    the last two dimensions swapped)."""
    q, s = _w8a8.per_token_group_quant_fp8(to_raw(x, "x"), int(group_size), bool(column_major_scales),
                                           bool(use_ue8m0), float(eps), _fp8_name(dtype), framework_of(x),
                                           stream_of(x))
    return from_raw(q), from_raw(s)


def per_block_quant_fp8(weight, block_n: int = 128, block_k: int = 128, dtype=None):
    """128x128 (by default) block quantization of a weight [N, K]: returns (w_q, scales [ceil(N/bn), ceil(K/bk)])."""
    q, s = _w8a8.per_block_quant_fp8(to_raw(weight, "weight"), int(block_n), int(block_k), _fp8_name(dtype),
                                     framework_of(weight), stream_of(weight))
    return from_raw(q), from_raw(s)


class QuantFP8:
    """vLLM's QuantFP8 op: QuantFP8(static, group_shape, num_token_padding=None, column_major_scales=False,
    use_ue8m0=False); calling it with (x, scale=None, scale_ub=None) returns (x_q, x_scale)."""

    def __init__(self, static: bool, group_shape=GroupShape.PER_TENSOR, num_token_padding: Optional[int] = None,
                 column_major_scales: bool = False, use_ue8m0: bool = False, *, fp8_dtype=None, _op=None):
        self._op = _op if _op is not None else _w8a8.QuantFP8(
            bool(static), _gs(group_shape), num_token_padding, bool(column_major_scales), bool(use_ue8m0),
            _fp8_name(fp8_dtype))
        self.column_major_scales = column_major_scales
        self.use_ue8m0 = use_ue8m0

    @property
    def static(self) -> bool:
        return self._op.is_static

    @property
    def is_static(self) -> bool:
        return self._op.is_static

    @property
    def group_shape(self) -> GroupShape:
        return GroupShape(*self._op.group_shape)

    @property
    def num_token_padding(self) -> Optional[int]:
        return self._op.num_token_padding

    @property
    def fp8_dtype(self) -> str:
        return self._op.fp8_dtype

    def __call__(self, x, scale=None, scale_ub=None):
        scale = scalar_like(scale, x)
        scale_ub = scalar_like(scale_ub, x)
        q, s = self._op(to_raw(x, "x"), to_raw(scale, "scale"), to_raw(scale_ub, "scale_ub"), framework_of(x),
                        stream_of(x))
        return from_raw(q), from_raw(s, (scale,))

    forward = __call__

    def __repr__(self) -> str:
        return (f"QuantFP8(static={self.static}, group_shape={tuple(self.group_shape)}, "
                f"num_token_padding={self.num_token_padding})")


def _torch_cuda_output(input, n: int, out_dtype):
    """For a torch CUDA input: the layer's output [..., n] from torch's caching allocator (the library's own
    allocations are plain cudaMalloc / cudaFree, and cudaFree waits for the device); None otherwise or when the
    output dtype is unknown here (FP8 input without out_dtype: the library raises its error)."""
    if not (is_torch(input) and input.is_cuda) or input.dim() < 1:
        return None
    t = _torch_mod
    if out_dtype is None:
        if input.dtype in (t.float8_e4m3fn, t.float8_e4m3fnuz):
            return None
        out_dtype = input.dtype
    try:
        dt = out_dtype if isinstance(out_dtype, t.dtype) else getattr(t, dtype_name(out_dtype))
    except (AttributeError, TypeError):
        return None
    return t.empty((*input.shape[:-1], int(n)), dtype=dt, device=input.device)


# ---- scaled GEMM ---------------------------------------------------------------------------------------------
def scaled_mm(a, b, scale_a, scale_b, out_dtype, bias=None, *, backend: str = "auto",
              accumulation: str = "default", kernel: str = ""):
    """out[M, N] = (scale_a * a) @ (scale_b * b) + bias with a chosen backend ("auto", "cpu", "cutlass",
    "cublaslt", "unfused") and accumulation ("default", "promoted", "fast"). b is [K, N] column-major.
    kernel: one of scaled_mm_kernels(backend) (with optional knobs, "name:swizzle=4"), for tests and tuning."""
    scale_a, scale_b = scalar_like(scale_a, a), scalar_like(scale_b, a)
    if is_torch(a) and a.is_cuda and a.dim() == 2 and not kernel:
        out = _torch_cuda_output(a, b.shape[1], out_dtype)
        if out is not None:  # torch's caching allocator
            _w8a8.scaled_mm_into(to_raw(out, "out"), to_raw(a, "a"), to_raw(b, "b"), to_raw(scale_a, "scale_a"),
                                 to_raw(scale_b, "scale_b"), to_raw(bias, "bias"), str(backend), str(accumulation),
                                 stream_of(a))
            return out
    return from_raw(_w8a8.scaled_mm(to_raw(a, "a"), to_raw(b, "b"), to_raw(scale_a, "scale_a"),
                                    to_raw(scale_b, "scale_b"), dtype_name(out_dtype), to_raw(bias, "bias"),
                                    str(backend), str(accumulation), framework_of(a), stream_of(a), str(kernel)))


def scaled_mm_kernels(backend: str = "cutlass"):
    """The named kernel configurations of a backend in this build (empty where it has none)."""
    return list(_w8a8.scaled_mm_kernels(str(backend)))


def cutlass_scaled_mm(a, b, scale_a, scale_b, out_dtype, bias=None):
    """vLLM's ops.cutlass_scaled_mm (the backend chosen for the device: w8a8's kernels where they run, else the
    best other one, the CPU included). a may be [..., K] (viewed as [-1, K], as vLLM's wrapper does); the result is
    [..., N]. scale_b: one element, [N], [1, N] or [N, 1]."""
    scale_a, scale_b = scalar_like(scale_a, a), scalar_like(scale_b, a)
    out = _torch_cuda_output(a, b.shape[1], out_dtype) if is_torch(a) and a.dim() >= 1 else None
    if out is not None:  # torch's caching allocator (the library's cudaFree waits for the device)
        try:
            a2, out2 = a.view(-1, a.shape[-1]), out.view(-1, out.shape[-1])
        except RuntimeError:
            a2 = None  # not viewable as [-1, K]: the library says so, naming the argument
        if a2 is not None:
            _w8a8.scaled_mm_into(to_raw(out2, "out"), to_raw(a2, "a"), to_raw(b, "b"), to_raw(scale_a, "scale_a"),
                                 to_raw(scale_b, "scale_b"), to_raw(bias, "bias"), "auto", "default", stream_of(a))
            return out
    return from_raw(_w8a8.cutlass_scaled_mm(to_raw(a, "a"), to_raw(b, "b"), to_raw(scale_a, "scale_a"),
                                            to_raw(scale_b, "scale_b"), dtype_name(out_dtype), to_raw(bias, "bias"),
                                            framework_of(a), stream_of(a)))


class ScaledMmChoice(NamedTuple):
    """What scaled_mm runs for a problem: the one decision, made once per (device, problem) and cached."""

    backend: str       # "cutlass", "cublaslt", "cpu", "unfused"
    kernel: str        # the named configuration (cutlass), "" where the backend has none
    knobs: str         # its non-default knobs ("swizzle=4,raster=n"), ""
    accumulation: str  # "promoted" or "fast"
    measured_us: float  # the measured time behind a table / tuning-cache choice, -1 where none
    reason: str        # the problem and why (table row, times, fallback reason)


def choose_scaled_mm_backend(out, a, b, scale_a, scale_b, bias=None, *, backend: str = "auto",
                             accumulation: str = "default") -> ScaledMmChoice:
    """What scaled_mm would run for these arguments, and why."""
    scale_a, scale_b = scalar_like(scale_a, a), scalar_like(scale_b, a)
    return ScaledMmChoice(**_w8a8.choose_scaled_mm_backend(
        to_raw(out, "out"), to_raw(a, "a"), to_raw(b, "b"), to_raw(scale_a, "scale_a"), to_raw(scale_b, "scale_b"),
        to_raw(bias, "bias"), str(backend), str(accumulation)))


def choose_scaled_mm_backend_for_shape(m: int, n: int, k: int, scales: str = "token-channel",
                                       out_dtype="bfloat16", bias: bool = False, device: str = "cuda", *,
                                       backend: str = "auto", accumulation: str = "default") -> ScaledMmChoice:
    """The same for a problem given by its shape (contiguous aligned operands): scales "tensor", "token-channel",
    "mixed" (per-tensor a, per-channel b) or "block"; device "cpu" or "cuda[:N]". As `w8a8 info --shape`."""
    return ScaledMmChoice(**_w8a8.choose_scaled_mm_backend_for_shape(
        int(m), int(n), int(k), str(scales), dtype_name(out_dtype), bool(bias), str(device), str(backend),
        str(accumulation)))


def tune_scaled_mm(shapes=None, cache_path: Optional[str] = None, measurements_path: Optional[str] = None, *,
                   reps: int = 10, accumulations=("promoted", "fast"), scales=("tensor", "token-channel"),
                   verbose: bool = True, device: int = 0) -> dict:
    """`w8a8 tune`: time cuBLASLt and w8a8's kernel configurations on this device over `shapes` ([(M, N, K)];
    None: tune_grid(), the benchmark's Llama / DeepSeek grid) and write the chooser's cache (cache_path, default
    $W8A8_TUNE_CACHE or ~/.cache/w8a8/tune.json), read by processes started afterwards. Returns the device, the
    cache path, the chosen row per (shape, accumulation, scales) and the number of measurements."""
    shapes = tune_grid() if shapes is None else [tuple(int(v) for v in s) for s in shapes]
    return _w8a8.tune_scaled_mm(shapes, cache_path or "", measurements_path or "", int(reps),
                                "promoted" in accumulations, "fast" in accumulations, "tensor" in scales,
                                "token-channel" in scales, bool(verbose), int(device))


def tune_grid():
    """[(M, N, K)]: Llama-3 8B/70B and DeepSeek-V3 (N, K), M from 1 to 8192 (bench/layer_vs_torch.py's grid)."""
    return list(_w8a8.tune_grid())


def dispatch_w8a8_scaled_mm(preferred_backend: str, per_tensor_weights: bool,
                            per_tensor_activations: bool) -> Callable:
    """vLLM's dispatch table. Returns the strategy, a function
    (qinput, weight, out_dtype, scale_a, scale_b, bias, input_2d, output_shape) -> output; its __name__ is the
    strategy's name ("cutlass_w8a8_scaled_mm", ...)."""
    name = _w8a8.dispatch_w8a8_scaled_mm(str(preferred_backend), bool(per_tensor_weights),
                                         bool(per_tensor_activations))

    def fn(qinput, weight, out_dtype, scale_a, scale_b, bias, input_2d, output_shape: Sequence[int]):
        num_rows = int(input_2d.shape[0]) if not isinstance(input_2d, int) else input_2d
        scale_a_, scale_b_ = scalar_like(scale_a, qinput), scalar_like(scale_b, qinput)
        return from_raw(_w8a8.run_scaled_mm_fn(name, to_raw(qinput, "qinput"), to_raw(weight, "weight"),
                                               dtype_name(out_dtype), to_raw(scale_a_, "scale_a"),
                                               to_raw(scale_b_, "scale_b"), to_raw(bias, "bias"), num_rows,
                                               [int(d) for d in output_shape], framework_of(qinput),
                                               stream_of(qinput)))

    fn.__name__ = fn.__qualname__ = name
    return fn


class Fp8LinearOp:
    """vLLM's Fp8LinearOp(act_quant_static, act_quant_group_shape=PER_TENSOR, pad_output=None,
    force_fp8_e4m3fnuz=False); attributes preferred_backend, output_padding, quant_fp8; method apply.
    w8a8 adds accumulation: "promoted" (the default, torch's accuracy) or "fast" (Hopper FP8 fast accumulation)."""

    def __init__(self, act_quant_static: bool, act_quant_group_shape=GroupShape.PER_TENSOR,
                 pad_output: Optional[bool] = None, force_fp8_e4m3fnuz: bool = False, accumulation: str = "default"):
        self._op = _w8a8.Fp8LinearOp(bool(act_quant_static), _gs(act_quant_group_shape), pad_output,
                                     bool(force_fp8_e4m3fnuz), str(accumulation))
        self.quant_fp8 = QuantFP8(False, _op=self._op.quant_fp8)

    @property
    def accumulation(self) -> str:
        return self._op.accumulation

    @property
    def preferred_backend(self) -> str:
        return self._op.preferred_backend

    @property
    def output_padding(self) -> Optional[int]:
        return self._op.output_padding

    @property
    def act_quant_static(self) -> bool:
        return self._op.act_quant_static

    @property
    def act_quant_group_shape(self) -> GroupShape:
        return GroupShape(*self._op.act_quant_group_shape)

    def apply(self, input, weight, weight_scale, out_dtype=None, input_scale=None, input_scale_ub=None, bias=None):
        """input [..., K]; weight [K, N] FP8 column-major (the [N, K] weight transposed); weight_scale one element
        or [N, 1]. Returns [..., N] of out_dtype (default: input's dtype)."""
        weight_scale = scalar_like(weight_scale, input)
        input_scale = scalar_like(input_scale, input)
        input_scale_ub = scalar_like(input_scale_ub, input)
        out = _torch_cuda_output(input, weight.shape[1], out_dtype)
        if out is not None:  # torch's caching allocator, and the graph-capturable entry
            self._op.apply_into(to_raw(out, "out"), to_raw(input, "input"), to_raw(weight, "weight"),
                                to_raw(weight_scale, "weight_scale"), to_raw(input_scale, "input_scale"),
                                to_raw(input_scale_ub, "input_scale_ub"), to_raw(bias, "bias"), stream_of(input))
            return out
        return from_raw(self._op.apply(to_raw(input, "input"), to_raw(weight, "weight"),
                                       to_raw(weight_scale, "weight_scale"),
                                       None if out_dtype is None else dtype_name(out_dtype),
                                       to_raw(input_scale, "input_scale"), to_raw(input_scale_ub, "input_scale_ub"),
                                       to_raw(bias, "bias"), framework_of(input), stream_of(input)))


class W8A8BlockFp8LinearOp:
    """vLLM's W8A8BlockFp8LinearOp(weight_group_shape=(128, 128), act_quant_group_shape=(1, 128), ...): activations
    quantized per 1 x 128 group, weight [N, K] in 128 x 128 blocks with weight_scale [ceil(N/128), K/128]."""

    def __init__(self, weight_group_shape=GroupShape(128, 128), act_quant_group_shape=GroupShape(1, 128),
                 cutlass_block_fp8_supported: bool = True, use_aiter_and_is_supported: bool = False):
        self._op = _w8a8.W8A8BlockFp8LinearOp(_gs(weight_group_shape), _gs(act_quant_group_shape))

    @property
    def weight_group_shape(self) -> GroupShape:
        return GroupShape(*self._op.weight_group_shape)

    @property
    def act_quant_group_shape(self) -> GroupShape:
        return GroupShape(*self._op.act_quant_group_shape)

    def apply(self, input, weight, weight_scale, input_scale=None, bias=None):
        """input [..., K]; weight [N, K] FP8 (row-major, as checkpoints store it); weight_scale [ceil(N/128), K/128];
        bias [N] of the input's dtype. Returns [..., N] in the input's dtype."""
        out = _torch_cuda_output(input, weight.shape[0], None) if input_scale is None else None
        if out is not None:
            self._op.apply_into(to_raw(out, "out"), to_raw(input, "input"), to_raw(weight, "weight"),
                                to_raw(weight_scale, "weight_scale"), to_raw(bias, "bias"), stream_of(input))
            return out
        return from_raw(self._op.apply(to_raw(input, "input"), to_raw(weight, "weight"),
                                       to_raw(weight_scale, "weight_scale"), to_raw(input_scale, "input_scale"),
                                       to_raw(bias, "bias"), framework_of(input), stream_of(input)))


# ---- tensor-parallel sharding (CPU) ----------------------------------------------------------------------------
def shard_weight(kind: str, weight, weight_scale, bias=None, *, world: int, rank: int):
    """(weight, weight_scale, bias) of `rank` in a group of `world`: kind "column" splits N (per-channel scales and
    bias with it), "row" splits K (block scales with it; per-tensor / per-channel scales whole; bias on rank 0 only,
    else None). weight [N, K] FP8; weight_scale one element, [N] / [N, 1], or [ceil(N/128), ceil(K/128)]."""
    return tuple(map(from_raw, _w8a8.shard_weight(str(kind), to_raw(weight, "weight"),
                                                  to_raw(weight_scale, "weight_scale"), to_raw(bias, "bias"),
                                                  int(world), int(rank), framework_of(weight))))


def shard_merged_column_parallel(weight, weight_scale, logical_widths: Sequence[int], bias=None, *, world: int,
                                 rank: int):
    """A merged q|k|v (gate|up) weight with one scale per part: every part split across ranks, the rank's parts
    requantized to their largest scale. Returns (weight, weight_scale [1], bias or None)."""
    return tuple(map(from_raw, _w8a8.shard_merged_column_parallel(
        to_raw(weight, "weight"), to_raw(weight_scale, "weight_scale"), [int(v) for v in logical_widths],
        to_raw(bias, "bias"), int(world), int(rank), framework_of(weight))))


def shard_checkpoint(input: str, output: str, world: int, column=None, row=None) -> dict:
    """`w8a8 shard`: per-rank checkpoints output/rank-<r>/ of an FP8 checkpoint; column / row: module-name endings
    (defaults: Llama and BERT names). Returns {"ranks", "column_parallel", "row_parallel", "replicated_tensors"}."""
    return dict(_w8a8.shard_checkpoint(str(input), str(output), int(world),
                                       None if column is None else [str(c) for c in column],
                                       None if row is None else [str(r) for r in row]))


# ---- weight utilities (CPU and CUDA) --------------------------------------------------------------------
def requantize_with_max_scale(weight, weight_scale, logical_widths: Sequence[int]):
    """(max_scale [1], weight): shards requantized with the largest scale when the checkpoint is unfused; a
    bit-identical copy of the weight otherwise (w8a8 never aliases the caller's weight here). weight_scale: [S]
    float32, float16 or bfloat16 on weight's device; max_scale keeps its dtype (torch's max()). The new weight has
    the input's layout and device."""
    m, w = _w8a8.requantize_with_max_scale(to_raw(weight, "weight"), to_raw(weight_scale, "weight_scale"),
                                           [int(v) for v in logical_widths], framework_of(weight),
                                           stream_of(weight))
    return from_raw(m), from_raw(w)


def convert_to_channelwise(weight_scale, logical_widths: Sequence[int]):
    """weight_scale: S scales of any shape ([S] or [S, 1]) -> [sum(logical_widths), 1] float32 on its device."""
    return from_raw(_w8a8.convert_to_channelwise(to_raw(weight_scale, "weight_scale"),
                                                 [int(v) for v in logical_widths], framework_of(weight_scale),
                                                 stream_of(weight_scale)))


def normalize_e4m3fn_to_e4m3fnuz(weight, weight_scale, input_scale=None):
    """(weight e4m3fnuz, weight_scale * 2, input_scale * 2 or None); 0x80 becomes 0x00. The weight keeps its layout
    (the transposed [K, N] weight stays column-major) and device."""
    w, ws, i = _w8a8.normalize_e4m3fn_to_e4m3fnuz(to_raw(weight, "weight"), to_raw(weight_scale, "weight_scale"),
                                                  to_raw(input_scale, "input_scale"), framework_of(weight),
                                                  stream_of(weight))
    return from_raw(w), from_raw(ws), from_raw(i)


def per_tensor_dequantize(tensor, inv_scale):
    """vLLM's tensor.to(float16) * inv_scale with torch's broadcasting (inv_scale one element, or e.g. [N, 1] for
    an [N, K] tensor) and type promotion (see the C++ header)."""
    fw, st = framework_of(tensor), stream_of(tensor)
    if isinstance(inv_scale, (int, float)):
        return from_raw(_w8a8.per_tensor_dequantize_float(to_raw(tensor, "tensor"), float(inv_scale), fw, st))
    return from_raw(_w8a8.per_tensor_dequantize(to_raw(tensor, "tensor"), to_raw(inv_scale, "inv_scale"), fw, st))


def all_close_1d(x) -> bool:
    """x is 1-D; True when every element is allclose to x[0] (rtol 1e-5, atol 1e-8)."""
    return _w8a8.all_close_1d(to_raw(x, "x"), stream_of(x))


# ---- platform ------------------------------------------------------------------------------------------------
def cutlass_fp8_supported() -> bool:
    return _w8a8.cutlass_fp8_supported()


def cutlass_block_fp8_supported() -> bool:
    return _w8a8.cutlass_block_fp8_supported()


def cutlass_group_gemm_supported() -> bool:
    return _w8a8.cutlass_group_gemm_supported()


def sparse_cutlass_supported() -> bool:
    return _w8a8.sparse_cutlass_supported()


def capabilities() -> dict:
    """{name: (supported, reason)} for cutlass_fp8, cutlass_block_fp8, cutlass_group_gemm, sparse_cutlass."""
    return _w8a8.capabilities()


def set_fused_activation_quant(policy: str) -> None:
    """Fp8LinearOp's fused decode path (bf16 / fp16 input, w8a8's sm_90a kernels): the activation quantized inside
    the GEMM kernel, the same codes as the unfused path. "auto" takes it where measured faster (nothing measured
    yet: never), "on" wherever a fused kernel can run the call, "off" never. Process-wide."""
    _w8a8.set_fused_activation_quant(policy)


def fused_activation_quant() -> str:
    return _w8a8.fused_activation_quant()


def build_info() -> dict:
    """What this build contains: backends, CUDA archs, CUTLASS version and count of w8a8's sm_90a kernels."""
    return _w8a8.build_info()


def platform() -> dict:
    """What w8a8 sees: cuda_built, is_cuda, device_count, capability, device_name, reason."""
    return _w8a8.platform()


# torch.library ops (w8a8::...) when torch is importable.
try:  # pragma: no cover - depends on the environment
    import torch as _torch_mod  # noqa: F401
except ImportError:  # pragma: no cover
    _torch_mod = None
if _torch_mod is not None:  # pragma: no cover
    from . import _torch as _torch_ops  # noqa: F401
