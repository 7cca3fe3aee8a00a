"""w8a8.nn.Fp8Linear: a drop-in FP8 W8A8 replacement for torch.nn.Linear, running vLLM's Fp8LinearOp (or, for
128 x 128 weight blocks, W8A8BlockFp8LinearOp).

Needs torch. Build it from an nn.Linear (weights quantized per channel, per tensor or in 128 x 128 blocks here) or
from an FP8 checkpoint's tensors (`X.weight` e4m3fn [N, K], `X.weight_scale` [1], [N, 1] or [ceil(N/128), K/128],
optional `X.input_scale` [1] for static activations). load_fp8_checkpoint(model, path) does the latter for a whole
model from a checkpoint folder.
"""

from __future__ import annotations

from typing import Optional

import torch

from . import GroupShape, per_block_quant_fp8, scaled_fp8_quant, shard_weight
from ._checkpoint_scheme import BLOCK
from . import _torch  # noqa: F401  (registers torch.ops.w8a8.*)


class Fp8Linear(torch.nn.Module):
    def __init__(self, weight: torch.Tensor, weight_scale: torch.Tensor, bias: Optional[torch.Tensor] = None,
                 input_scale: Optional[torch.Tensor] = None, act_quant_group_shape=None,
                 out_dtype: Optional[torch.dtype] = None, accumulation: str = "default",
                 weight_block_size=None):
        super().__init__()
        if weight.dtype not in (torch.float8_e4m3fn, torch.float8_e4m3fnuz) or weight.dim() != 2:
            raise TypeError(f"weight: expected a 2-D FP8 [N, K] tensor, got {weight.dtype} {tuple(weight.shape)}")
        self.out_features, self.in_features = weight.shape
        n, k = weight.shape
        block_shape = (-(-n // 128), -(-k // 128))
        # 128 x 128 blocks: named, or told by the scale's shape ([N, 1] is per channel).
        self.block = weight_block_size is not None or (
            weight_scale.dim() == 2 and tuple(weight_scale.shape) == block_shape and block_shape != (n, 1))
        if weight_block_size is not None and tuple(weight_block_size) != (128, 128):
            raise ValueError(f"weight_block_size: expected (128, 128), got {tuple(weight_block_size)}")
        if self.block and (tuple(weight_scale.shape) != block_shape or input_scale is not None):
            raise ValueError(f"weight_scale: expected [ceil(N/128), ceil(K/128)] = {list(block_shape)} and no "
                             f"input_scale for 128 x 128 blocks, got {list(weight_scale.shape)}")
        self.register_buffer("weight", weight.contiguous())
        ws = weight_scale.to(torch.float32)
        if self.block:
            ws = ws.contiguous()
        else:
            ws = ws.reshape(-1, 1) if ws.numel() > 1 else ws.reshape(1)
        self.register_buffer("weight_scale", ws)
        self.accumulation = accumulation
        self.register_buffer("bias", bias)
        self.register_buffer("input_scale", None if input_scale is None else input_scale.to(torch.float32).reshape(1))
        self.act_quant_static = input_scale is not None
        if act_quant_group_shape is None:
            act_quant_group_shape = (GroupShape(1, 128) if self.block else
                                     GroupShape.PER_TENSOR if self.act_quant_static else GroupShape.PER_TOKEN)
        self.act_quant_group_shape = GroupShape(*act_quant_group_shape)
        self.out_dtype = out_dtype

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear, per_channel: bool = True, *, block: bool = False,
                    accumulation: str = "default") -> "Fp8Linear":
        """Quantize an nn.Linear's weight (per output channel, per tensor, or in 128 x 128 blocks with block=True)
        for dynamic activations (per token, per tensor, or per 1 x 128 group)."""
        w = linear.weight.detach()
        w = w if w.dtype in (torch.bfloat16, torch.float16, torch.float32) else w.float()
        if block:
            wq, ws = per_block_quant_fp8(w.contiguous())
        else:
            wq, ws = scaled_fp8_quant(w.contiguous(), use_per_token_if_dynamic=per_channel)
        bias = None if linear.bias is None else linear.bias.detach()
        return cls(wq, ws, bias, accumulation=accumulation, weight_block_size=(128, 128) if block else None)

    @classmethod
    def from_checkpoint(cls, weight, weight_scale, bias=None, input_scale=None) -> "Fp8Linear":
        """From an FP8 checkpoint's tensors (compressed-tensors layout written by `w8a8 quantize`)."""
        return cls(weight, weight_scale, bias, input_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias
        if bias is not None and bias.dtype != (self.out_dtype or x.dtype):
            bias = bias.to(self.out_dtype or x.dtype)
        if self.block:
            y = torch.ops.w8a8.fp8_block_linear(x, self.weight, self.weight_scale, bias)
            return y if self.out_dtype is None else y.to(self.out_dtype)
        return torch.ops.w8a8.fp8_linear(x, self.weight.t(), self.weight_scale, self.input_scale, bias,
                                         self.act_quant_static, list(self.act_quant_group_shape), self.out_dtype,
                                         self.accumulation)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"static={self.act_quant_static}, group_shape={tuple(self.act_quant_group_shape)}"
                + (", weight blocks 128x128" if self.block else f", accumulation={self.accumulation}"))


class ParallelFp8Linear(Fp8Linear):
    """One rank's Fp8Linear in a tensor-parallel group over torch.distributed (NCCL on GPUs, gloo on CPUs).

    kind "column": the weight holds this rank's N/world output features; forward returns them, or all of them
    (all-gathered along the last dimension) with gather_output. kind "row": the weight holds this rank's K/world
    input features and forward takes that slice of the input; the partial outputs are summed by an all-reduce in
    the output dtype (as vLLM's RowParallelLinear does) and the bias is added by rank 0 only. Shards come from
    w8a8.shard_weight / `w8a8 shard`, or from_linear below.
    """

    def __init__(self, kind: str, weight, weight_scale, bias=None, input_scale=None, *, group=None,
                 gather_output: bool = False, act_quant_group_shape=None, out_dtype=None):
        if kind not in ("column", "row"):
            raise ValueError(f"kind: expected 'column' or 'row', got {kind!r}")
        if gather_output and kind != "column":
            raise ValueError("gather_output: only column-parallel layers gather their output")
        super().__init__(weight, weight_scale, bias, input_scale, act_quant_group_shape, out_dtype)
        self.kind, self.group, self.gather_output = kind, group, gather_output

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear, kind: str, *, group=None, gather_output: bool = False):
        """Quantize the full nn.Linear per output channel, then keep this rank's shard."""
        import torch.distributed as dist
        world, rank = dist.get_world_size(group), dist.get_rank(group)
        full = Fp8Linear.from_linear(linear, per_channel=True)
        w, ws, b = shard_weight(kind, full.weight.cpu(), full.weight_scale.cpu(),
                                None if full.bias is None else full.bias.cpu(), world=world, rank=rank)
        dev = linear.weight.device
        return cls(kind, w.to(dev), ws.to(dev), None if b is None else b.to(dev), group=group,
                   gather_output=gather_output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist
        y = super().forward(x)  # the row-parallel bias lives on rank 0 only (shard_weight)
        if self.kind == "row":
            dist.all_reduce(y, group=self.group)
        elif self.gather_output:
            parts = [torch.empty_like(y) for _ in range(dist.get_world_size(self.group))]
            dist.all_gather(parts, y.contiguous(), group=self.group)
            y = torch.cat(parts, dim=-1)
        return y

    def extra_repr(self) -> str:
        return f"{self.kind}-parallel, gather_output={self.gather_output}, " + super().extra_repr()


def swap_linears(module: torch.nn.Module, per_channel: bool = True, *, block: bool = False,
                 accumulation: str = "default") -> torch.nn.Module:
    """Replace every nn.Linear below module by Fp8Linear.from_linear (in place); returns module."""
    for name, child in module.named_children():
        if isinstance(child, torch.nn.Linear):
            setattr(module, name, Fp8Linear.from_linear(child, per_channel, block=block, accumulation=accumulation))
        else:
            swap_linears(child, per_channel, block=block, accumulation=accumulation)
    return module


class LoadReport:
    """What load_fp8_checkpoint did: the modules it made Fp8Linear, the high-precision tensors it copied, the
    model's parameters and buffers the checkpoint did not hold, the checkpoint's tensors the model had no place for."""

    def __init__(self):
        self.fp8_modules, self.loaded, self.missing, self.unexpected = [], [], [], []

    def __repr__(self) -> str:
        return (f"LoadReport(fp8_modules={len(self.fp8_modules)}, loaded={len(self.loaded)}, "
                f"missing={self.missing}, unexpected={self.unexpected})")


def load_fp8_checkpoint(model: torch.nn.Module, path: str, *, device=None, strict: bool = True) -> LoadReport:
    """Load an FP8 checkpoint folder (config.json + *.safetensors, as `w8a8 quantize` or llm-compressor write it:
    compressed-tensors `float-quantized` with tensor / channel / 128 x 128 block weights and static or dynamic
    activations, or Hugging Face `fp8`) into `model`, in place: every nn.Linear whose weight the checkpoint holds
    in FP8 becomes an Fp8Linear built from the checkpoint's tensors (its scheme from config.json), every other
    tensor the model has a place for is copied into it (cast to the parameter's dtype).

    device: where the FP8 modules go (default: the replaced Linear's device, or the CPU for a meta one).
    strict: raise if the checkpoint holds an FP8 module the model has no nn.Linear for, or a shape differs.
    Needs the `safetensors` package (a dependency of transformers)."""
    import glob
    import os

    from safetensors import safe_open

    from ._checkpoint_scheme import expected_scale_shape, name_map, read_scheme

    scheme = read_scheme(path)
    files = sorted(glob.glob(os.path.join(path, "*.safetensors")))
    if not files:
        raise ValueError(f"path: no *.safetensors in {path!r}")
    where = {}  # tensor name -> the open file holding it (each file opened, its header read, once)
    for f in files:
        h = safe_open(f, framework="pt")
        for k in h.keys():
            where[k] = h
    fp8 = (torch.float8_e4m3fn, torch.float8_e4m3fnuz)

    def tensor(name):
        return where[name].get_tensor(name)

    state = dict(model.named_parameters())
    state.update(dict(model.named_buffers()))
    linears = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    strip, add = name_map(list(state) + list(linears), list(where))

    def model_name(ckpt_name):
        return add + ckpt_name[len(strip):] if ckpt_name.startswith(strip) else None

    report = LoadReport()
    used = set()
    for key in sorted(where):
        if not key.endswith(".weight"):
            continue
        if where[key].get_slice(key).get_dtype() not in ("F8_E4M3", "F8_E4M3FNUZ"):
            continue
        module_ckpt = key[: -len(".weight")]
        target = model_name(module_ckpt)
        layer = scheme.layer(module_ckpt)
        if layer is None:
            raise ValueError(f"{path}: '{key}' is FP8 but config.json's quantization_config does not quantize "
                             f"'{module_ckpt}' (ignored or untargeted)")
        if target not in linears:
            if strict:
                raise ValueError(f"model: expected an nn.Linear named {target!r} for the checkpoint's FP8 module "
                                 f"'{module_ckpt}', found none")
            continue
        lin = linears[target]
        w = tensor(key)
        n, k = w.shape
        if strict and (n, k) != (lin.out_features, lin.in_features):
            raise ValueError(f"{path}: '{key}' is [{n}, {k}], model's {target} is [{lin.out_features}, "
                             f"{lin.in_features}]")
        scale_name = module_ckpt + layer.scale_suffix
        if scale_name not in where:
            raise ValueError(f"{path}: '{module_ckpt}' has no '{layer.scale_suffix[1:]}' tensor")
        ws = tensor(scale_name).to(torch.float32)
        want = expected_scale_shape(layer, n, k)
        fits = {"tensor": ws.numel() == 1, "channel": tuple(ws.shape) in ((n, 1), (n,)),
                "block": tuple(ws.shape) == want}[layer.weight]
        if not fits:
            raise ValueError(f"{path}: '{scale_name}' has shape {list(ws.shape)}, expected {list(want)} for "
                             f"{layer.weight} weight scales of a [{n}, {k}] weight")
        ws = ws.reshape(want)
        input_scale = None
        if layer.activations == "static":
            if module_ckpt + ".input_scale" not in where:
                raise ValueError(f"{path}: '{module_ckpt}' has static activations but no 'input_scale' tensor")
            input_scale = tensor(module_ckpt + ".input_scale")
            used.add(module_ckpt + ".input_scale")
        dev = device if device is not None else (lin.weight.device if lin.weight.device.type != "meta" else "cpu")
        dtype = lin.weight.dtype if lin.weight.dtype.is_floating_point and lin.weight.dtype not in fp8 else None
        bias = tensor(module_ckpt + ".bias") if module_ckpt + ".bias" in where else (
            None if lin.bias is None or lin.bias.device.type == "meta" else lin.bias.detach())
        if bias is not None:
            used.add(module_ckpt + ".bias")
            bias = bias.to(device=dev, dtype=dtype or bias.dtype)
        group = {"dynamic-token": GroupShape.PER_TOKEN, "dynamic-tensor": GroupShape.PER_TENSOR,
                 "static": GroupShape.PER_TENSOR, "dynamic-group": None}[layer.activations]
        module = Fp8Linear(w.to(dev), ws.to(dev), bias, None if input_scale is None else input_scale.to(dev),
                           act_quant_group_shape=group,
                           weight_block_size=(BLOCK, BLOCK) if layer.weight == "block" else None)
        parent_name, _, child = target.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, module)
        used.update({key, scale_name})
        report.fp8_modules.append(target)

    fp8_prefixes = tuple(m + "." for m in report.fp8_modules)
    # Every parameter and buffer may take a checkpoint tensor; only parameters and persistent buffers (state_dict's
    # names) count as missing when the checkpoint lacks them.
    state = {n: t for n, t in list(model.named_parameters()) + list(model.named_buffers())
             if not n.startswith(fp8_prefixes)}
    persistent = set(model.state_dict(keep_vars=True))
    for key in sorted(set(where) - used):
        target = model_name(key)
        if target not in state:
            report.unexpected.append(key)
            continue
        dst, src = state[target], tensor(key)
        if dst.shape != src.shape:
            if strict:
                raise ValueError(f"{path}: '{key}' is {list(src.shape)}, model's {target} is {list(dst.shape)}")
            report.unexpected.append(key)
            continue
        with torch.no_grad():
            if dst.device.type == "meta":
                raise ValueError(f"model: {target} is on the meta device; materialize the model first "
                                 "(e.g. model.to_empty(device=...)) or build it on a real device")
            dst.copy_(src.to(dst.dtype))
        report.loaded.append(target)
    loaded = set(report.loaded)
    report.missing = sorted(n for n in state if n not in loaded and n in persistent)
    return report
