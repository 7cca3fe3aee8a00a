"""What an FP8 checkpoint's config.json says each quantized Linear is, for w8a8.nn.load_fp8_checkpoint.

Torch-free: reads `quantization_config` of compressed-tensors (`float-quantized`, as `w8a8 quantize` and
llm-compressor write it) and of Hugging Face `fp8` (fine-grained 128 x 128 blocks, or vLLM's per-tensor `fp8`), and
maps each module to the Fp8Linear it needs: the weight-scale strategy, the activation quantization and the name of
the scale tensor. Whatever w8a8 cannot run is refused here with the scheme named.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Optional

BLOCK = 128


@dataclass(frozen=True)
class LayerScheme:
    weight: str  # "tensor" ([1] scale), "channel" ([N, 1]) or "block" ([ceil(N/128), ceil(K/128)])
    activations: str  # "static" (per tensor, X.input_scale), "dynamic-tensor", "dynamic-token" or "dynamic-group"
    scale_suffix: str  # ".weight_scale" or ".weight_scale_inv"


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def _matches(target: str, name: str, class_name: str) -> bool:
    """compressed-tensors' target / ignore rule: 're:<regex>' matched at the start of the module name, else the
    module's class name or its exact name."""
    if target.startswith("re:"):
        return re.match(target[3:], name) is not None
    return target in (class_name, name)


def _ct_layer(group_name: str, group: dict) -> LayerScheme:
    w, a = group.get("weights"), group.get("input_activations")
    where = f"quantization_config.config_groups.{group_name}"
    _check(isinstance(w, dict), f"{where}.weights: expected an FP8 weight scheme, got {w!r}")
    _check(w.get("type") == "float" and w.get("num_bits") == 8,
           f"{where}.weights: expected type 'float' with num_bits 8 (FP8 e4m3), got type {w.get('type')!r} "
           f"num_bits {w.get('num_bits')!r}")
    _check(w.get("symmetric", True) is True, f"{where}.weights: expected symmetric FP8, got symmetric=False")
    strategy = w.get("strategy")
    _check(strategy in ("tensor", "channel", "block"),
           f"{where}.weights.strategy: expected 'tensor', 'channel' or 'block', got {strategy!r}")
    if strategy == "block":
        _check(list(w.get("block_structure") or []) == [BLOCK, BLOCK],
               f"{where}.weights.block_structure: expected [128, 128], got {w.get('block_structure')!r}")
    _check(isinstance(a, dict),
           f"{where}.input_activations: expected FP8 activations (W8A8); got {a!r}, a weight-only (W8A16) scheme, "
           "which w8a8 does not run")
    _check(a.get("type") == "float" and a.get("num_bits") == 8,
           f"{where}.input_activations: expected type 'float' with num_bits 8, got type {a.get('type')!r} "
           f"num_bits {a.get('num_bits')!r}")
    _check(a.get("symmetric", True) is True, f"{where}.input_activations: expected symmetric FP8")
    a_strategy, dynamic = a.get("strategy"), a.get("dynamic")
    if strategy == "block":
        _check(a_strategy == "group" and a.get("group_size") == BLOCK and dynamic is True,
               f"{where}.input_activations: 128 x 128 weight blocks run with dynamic 1 x 128 activation groups "
               f"(strategy 'group', group_size 128, dynamic true), got strategy {a_strategy!r} group_size "
               f"{a.get('group_size')!r} dynamic {dynamic!r}")
        return LayerScheme("block", "dynamic-group", ".weight_scale")
    if a_strategy == "token":
        _check(dynamic is True, f"{where}.input_activations: per-token activation scales must be dynamic, got "
                                f"dynamic {dynamic!r}")
        return LayerScheme(strategy, "dynamic-token", ".weight_scale")
    _check(a_strategy == "tensor",
           f"{where}.input_activations.strategy: expected 'token' or 'tensor' with {strategy} weight scales, got "
           f"{a_strategy!r}")
    _check(dynamic in (True, False), f"{where}.input_activations.dynamic: expected true or false, got {dynamic!r}")
    return LayerScheme(strategy, "dynamic-tensor" if dynamic else "static", ".weight_scale")


class CheckpointScheme:
    """The quantization_config of one checkpoint; `layer(name)` says how a module was quantized (None: left in
    high precision)."""

    def __init__(self, quantization_config: dict):
        qc = quantization_config
        _check(isinstance(qc, dict), f"quantization_config: expected an object, got {type(qc).__name__}")
        method = qc.get("quant_method")
        self.format = method
        if method == "compressed-tensors":
            fmt = qc.get("format")
            _check(fmt in (None, "float-quantized", "naive-quantized"),
                   f"quantization_config.format: expected 'float-quantized' (FP8 tensors stored as they are), got "
                   f"{fmt!r}")
            groups = qc.get("config_groups")
            _check(isinstance(groups, dict) and groups, "quantization_config.config_groups: expected at least one group")
            self._groups = [(list(g.get("targets") or []), _ct_layer(n, g)) for n, g in groups.items()]
            self._ignore = list(qc.get("ignore") or [])
        elif method == "fp8":
            act = qc.get("activation_scheme", "dynamic")
            _check(act in ("dynamic", "static"),
                   f"quantization_config.activation_scheme: expected 'dynamic' or 'static', got {act!r}")
            block = qc.get("weight_block_size")
            if block is not None:
                _check(list(block) == [BLOCK, BLOCK],
                       f"quantization_config.weight_block_size: expected [128, 128], got {block!r}")
                _check(act == "dynamic", "quantization_config.activation_scheme: 128 x 128 weight blocks run with "
                                         "dynamic 1 x 128 activation groups, got 'static'")
                layer = LayerScheme("block", "dynamic-group", ".weight_scale_inv")
            else:  # vLLM's per-tensor fp8 (AutoFP8): one weight scale, per-tensor activations
                layer = LayerScheme("tensor", "static" if act == "static" else "dynamic-tensor", ".weight_scale")
            self._groups = [(["Linear"], layer)]
            self._ignore = list(qc.get("modules_to_not_convert") or qc.get("ignored_layers") or [])
        else:
            raise ValueError(f"quantization_config.quant_method: expected 'compressed-tensors' or 'fp8', got {method!r}")

    def layer(self, name: str, class_name: str = "Linear") -> Optional[LayerScheme]:
        if any(_matches(t, name, class_name) for t in self._ignore):
            return None
        for targets, layer in self._groups:
            if any(_matches(t, name, class_name) for t in targets):
                return layer
        return None


def read_scheme(path: str) -> CheckpointScheme:
    """The scheme of the checkpoint folder `path` (its config.json's quantization_config)."""
    config = os.path.join(path, "config.json")
    _check(os.path.isfile(config), f"path: expected a checkpoint folder with a config.json, got {path!r}")
    with open(config) as f:
        cfg = json.load(f)
    _check(isinstance(cfg, dict) and "quantization_config" in cfg,
           f"path: {config} has no quantization_config (not an FP8 checkpoint; `w8a8 quantize` writes one)")
    return CheckpointScheme(cfg["quantization_config"])


def expected_scale_shape(layer: LayerScheme, n: int, k: int) -> tuple:
    if layer.weight == "block":
        return (-(-n // BLOCK), -(-k // BLOCK))
    return (n, 1) if layer.weight == "channel" else (1,)


def name_map(model_names: list, checkpoint_names: list) -> tuple:
    """(strip, add): how a checkpoint tensor name becomes a model name, as prefixes: name = add + name[len(strip):].

    Checkpoints of a task model and the base model differ by a prefix ("model.", "bert."), either way round.
    The prefix is the one under which most checkpoint names land on model names."""
    model = set(model_names)
    candidates = {("", "")}
    for c in checkpoint_names:
        for m in model_names:
            if c.endswith("." + m):
                candidates.add((c[: len(c) - len(m)], ""))
            elif m.endswith("." + c):
                candidates.add(("", m[: len(m) - len(c)]))
        if len(candidates) > 1:
            break

    def hits(pair):
        strip, add = pair
        return sum(1 for c in checkpoint_names if c.startswith(strip) and add + c[len(strip):] in model)

    return max(sorted(candidates), key=hits)
