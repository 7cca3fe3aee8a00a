"""The quantization_config reading behind w8a8.nn.load_fp8_checkpoint (torch-free): what each module of a
compressed-tensors or Hugging Face fp8 checkpoint runs as, what is refused and how, and the name prefix map."""
import copy
import json

import pytest

from w8a8._checkpoint_scheme import CheckpointScheme, LayerScheme, name_map, read_scheme


def ct(weights, acts, ignore=(), targets=("Linear",)):
    return {"quant_method": "compressed-tensors", "format": "float-quantized", "ignore": list(ignore),
            "config_groups": {"group_0": {"targets": list(targets), "weights": weights, "input_activations": acts}}}


W_CHANNEL = {"type": "float", "num_bits": 8, "strategy": "channel", "symmetric": True, "dynamic": False}
W_TENSOR = dict(W_CHANNEL, strategy="tensor")
W_BLOCK = dict(W_CHANNEL, strategy="block", block_structure=[128, 128])
A_TOKEN = {"type": "float", "num_bits": 8, "strategy": "token", "dynamic": True, "symmetric": True}
A_TENSOR_STATIC = dict(A_TOKEN, strategy="tensor", dynamic=False)
A_TENSOR_DYNAMIC = dict(A_TOKEN, strategy="tensor", dynamic=True)
A_GROUP = dict(A_TOKEN, strategy="group", group_size=128)


@pytest.mark.parametrize("weights, acts, expected", [
    (W_CHANNEL, A_TOKEN, LayerScheme("channel", "dynamic-token", ".weight_scale")),  # llm-compressor FP8_DYNAMIC
    (W_TENSOR, A_TENSOR_STATIC, LayerScheme("tensor", "static", ".weight_scale")),  # llm-compressor FP8
    (W_TENSOR, A_TENSOR_DYNAMIC, LayerScheme("tensor", "dynamic-tensor", ".weight_scale")),
    (W_CHANNEL, A_TENSOR_STATIC, LayerScheme("channel", "static", ".weight_scale")),
    (W_TENSOR, A_TOKEN, LayerScheme("tensor", "dynamic-token", ".weight_scale")),
    (W_BLOCK, A_GROUP, LayerScheme("block", "dynamic-group", ".weight_scale")),  # llm-compressor FP8_BLOCK
])
def test_compressed_tensors_schemes(weights, acts, expected):
    s = CheckpointScheme(ct(weights, acts, ignore=["lm_head", "re:.*embed.*"]))
    assert s.format == "compressed-tensors"
    assert s.layer("model.layers.0.self_attn.q_proj") == expected
    assert s.layer("lm_head") is None
    assert s.layer("model.embed_tokens") is None


def test_targets_pick_the_group_by_regex_and_class():
    qc = ct(W_CHANNEL, A_TOKEN, targets=["re:.*mlp.*"])
    qc["config_groups"]["group_1"] = {"targets": ["re:.*self_attn.*"], "weights": W_TENSOR,
                                      "input_activations": A_TENSOR_STATIC}
    s = CheckpointScheme(qc)
    assert s.layer("model.layers.3.mlp.down_proj").weight == "channel"
    assert s.layer("model.layers.3.self_attn.o_proj").activations == "static"
    assert s.layer("model.layers.3.other") is None


@pytest.mark.parametrize("qc, expected", [
    ({"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [128, 128]},
     LayerScheme("block", "dynamic-group", ".weight_scale_inv")),  # DeepSeek-V3 / Qwen3 FP8
    ({"quant_method": "fp8", "activation_scheme": "static"}, LayerScheme("tensor", "static", ".weight_scale")),
    ({"quant_method": "fp8", "activation_scheme": "dynamic"}, LayerScheme("tensor", "dynamic-tensor", ".weight_scale")),
])
def test_hf_fp8(qc, expected):
    s = CheckpointScheme(dict(qc, modules_to_not_convert=["lm_head"]))
    assert s.format == "fp8"
    assert s.layer("model.layers.0.mlp.gate_proj") == expected
    assert s.layer("lm_head") is None


def refuse(qc, *words):
    with pytest.raises(ValueError) as e:
        CheckpointScheme(qc)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_refusals_name_the_field_and_what_was_given():
    refuse({"quant_method": "awq"}, "quant_method", "'awq'")
    refuse(ct(dict(W_CHANNEL, type="int"), A_TOKEN), "weights", "'int'")
    refuse(ct(dict(W_CHANNEL, num_bits=4), A_TOKEN), "num_bits 4")
    refuse(ct(dict(W_CHANNEL, strategy="group", group_size=128), A_TOKEN), "weights.strategy", "'group'")
    refuse(ct(W_CHANNEL, None), "input_activations", "W8A16")
    refuse(ct(W_CHANNEL, dict(A_TOKEN, dynamic=False)), "per-token", "dynamic")
    refuse(ct(W_BLOCK, A_TOKEN), "1 x 128", "'token'")
    refuse(ct(dict(W_BLOCK, block_structure=[64, 64]), A_GROUP), "block_structure", "[64, 64]")
    refuse(ct(W_CHANNEL, dict(A_TOKEN, symmetric=False)), "symmetric")
    refuse(dict(ct(W_CHANNEL, A_TOKEN), format="pack-quantized"), "format", "'pack-quantized'")
    refuse({"quant_method": "fp8", "weight_block_size": [64, 64]}, "weight_block_size", "[64, 64]")
    refuse({"quant_method": "fp8", "weight_block_size": [128, 128], "activation_scheme": "static"}, "static")
    refuse({"quant_method": "fp8", "activation_scheme": "sometimes"}, "activation_scheme", "'sometimes'")


def test_read_scheme_from_a_folder(tmp_path):
    with pytest.raises(ValueError, match="config.json"):
        read_scheme(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError, match="no quantization_config"):
        read_scheme(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": ct(W_CHANNEL, A_TOKEN)}))
    assert read_scheme(str(tmp_path)).layer("x.q_proj").activations == "dynamic-token"


def test_name_map_finds_the_prefix_either_way():
    model = ["layers.0.q.weight", "layers.0.q.bias", "norm.weight"]
    assert name_map(model, ["model.layers.0.q.weight", "model.norm.weight"]) == ("model.", "")
    assert name_map(["model." + n for n in model], ["layers.0.q.weight", "norm.weight"]) == ("", "model.")
    assert name_map(model, ["layers.0.q.weight", "norm.weight"]) == ("", "")
    assert name_map(model, copy.copy(model) + ["lm_head.weight"]) == ("", "")
