"""torch paths (CPU and CUDA tensors, torch.library ops, Fp8Linear, torch.compile). Skipped without torch."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import w8a8  # noqa: E402
import w8a8.nn  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() and w8a8.platform()["is_cuda"] else [])


def rel(out, ref):
    return (torch.linalg.norm(out.double() - ref.double()) / torch.linalg.norm(ref.double())).item()


@pytest.mark.parametrize("device", DEVICES)
def test_quant_round_trip_types(device):
    x = torch.randn(17, 64, dtype=torch.bfloat16, device=device)
    q, s = w8a8.scaled_fp8_quant(x, use_per_token_if_dynamic=True)
    assert isinstance(q, torch.Tensor) and q.dtype == torch.float8_e4m3fn and q.device == x.device
    assert s.shape == (17, 1) and s.dtype == torch.float32
    ref_s = torch.clamp(x.float().abs().amax(1, keepdim=True) / 448, min=1 / (448 * 512))
    torch.testing.assert_close(s, ref_s, rtol=1e-6, atol=0)
    ref_q = (x.float() * (1 / s)).clamp(-448, 448).to(torch.float8_e4m3fn)
    assert torch.equal(q.view(torch.uint8), ref_q.view(torch.uint8))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("out_dtype", [torch.bfloat16, torch.float16])
def test_cutlass_scaled_mm_vs_reference(device, out_dtype):
    a = torch.randn(33, 128, device=device).to(torch.float8_e4m3fn)
    w = torch.randn(80, 128, device=device).to(torch.float8_e4m3fn)
    sa = torch.rand(33, 1, device=device) * 0.1
    sb = torch.rand(80, 1, device=device) * 0.1
    out = w8a8.cutlass_scaled_mm(a, w.t(), sa, sb, out_dtype)
    ref = (a.double() * sa.double()) @ (w.double() * sb.double()).t()
    assert out.dtype == out_dtype and rel(out, ref) <= 4e-3
    if device == "cuda" and hasattr(torch, "_scaled_mm"):
        st = torch._scaled_mm(a, w.t(), scale_a=sa, scale_b=sb.t().contiguous(), out_dtype=out_dtype)
        assert rel(out, st.double()) <= 4e-3


@pytest.mark.parametrize("device", DEVICES)
def test_library_ops_and_fake(device):
    x = torch.randn(5, 64, dtype=torch.bfloat16, device=device)
    q, s = torch.ops.w8a8.scaled_fp8_quant(x, None, 8, None, True)
    assert q.shape == (8, 64) and s.shape == (8, 1)
    w = torch.randn(32, 64, device=device).to(torch.float8_e4m3fn)
    out = torch.ops.w8a8.scaled_mm(q, w.t(), s, torch.ones(1, device=device), torch.bfloat16, None, "auto")
    assert out.shape == (8, 32)
    with torch._subclasses.fake_tensor.FakeTensorMode():
        fx = torch.empty(5, 64, dtype=torch.bfloat16, device=device)
        fq, fs = torch.ops.w8a8.scaled_fp8_quant(fx, None, None, None, True)
        assert fq.shape == (5, 64) and fs.shape == (5, 1)


@pytest.mark.parametrize("device", DEVICES)
def test_fp8_linear_module_and_compile(device):
    lin = torch.nn.Linear(64, 48, dtype=torch.bfloat16, device=device)
    fl = w8a8.nn.Fp8Linear.from_linear(lin)
    x = torch.randn(2, 7, 64, dtype=torch.bfloat16, device=device)
    y = fl(x)
    assert y.shape == (2, 7, 48) and y.dtype == torch.bfloat16
    assert rel(y, lin(x).detach()) <= 6e-2
    compiled = torch.compile(fl, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x), y)


@pytest.mark.skipif("cuda" not in DEVICES, reason="needs a CUDA device and a CUDA build")
def test_cuda_graph_capture_scaled_mm():
    a = torch.randn(16, 64, device="cuda").to(torch.float8_e4m3fn)
    w = torch.randn(32, 64, device="cuda").to(torch.float8_e4m3fn)
    one = torch.ones(1, device="cuda")
    torch.ops.w8a8.scaled_mm(a, w.t(), one, one, torch.bfloat16, None, "auto")  # warm up
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = torch.ops.w8a8.scaled_mm(a, w.t(), one, one, torch.bfloat16, None, "auto")
    g.replay()
    torch.cuda.synchronize()
    ref = a.double() @ w.double().t()
    assert rel(out, ref) <= 4e-3


@pytest.mark.skipif("cuda" not in DEVICES, reason="needs a CUDA device and a CUDA build")
@pytest.mark.parametrize("static", [False, True])
def test_cuda_graph_capture_fp8_linear_module(static):
    # The whole layer (quantization + GEMM) captured on torch's capture stream without a warm-up there.
    lin = torch.nn.Linear(256, 128, dtype=torch.bfloat16, device="cuda")
    fl = w8a8.nn.Fp8Linear.from_linear(lin)
    if static:
        fl = w8a8.nn.Fp8Linear.from_checkpoint(fl.weight, fl.weight_scale, fl.bias,
                                               input_scale=torch.tensor([0.01], device="cuda"))
    x = torch.randn(9, 256, dtype=torch.bfloat16, device="cuda")
    eager = fl(x)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        y = fl(x)
    x.copy_(torch.randn_like(x))
    g.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(y, fl(x), rtol=0, atol=0)
    assert not torch.equal(y, eager)
    assert rel(y, lin(x).detach()) <= 6e-2


@pytest.mark.skipif("cuda" not in DEVICES, reason="needs a CUDA device and a CUDA build")
@pytest.mark.parametrize("m", [1, 16, 17, 128, 300])
@pytest.mark.parametrize("pairing", ["per_tensor", "rowwise", "mixed_a", "mixed_b"])
def test_scaled_mm_matches_torch_scaled_mm(m, pairing):
    a = (torch.rand(m, 512, device="cuda") * 2 - 1).mul(300).to(torch.float8_e4m3fn)
    w = (torch.rand(256, 512, device="cuda") * 2 - 1).mul(300).to(torch.float8_e4m3fn)
    sa = torch.rand(m, 1, device="cuda") * 1e-3 + 1e-4 if pairing in ("rowwise", "mixed_a") else \
        torch.tensor([2e-4], device="cuda")
    sb = torch.rand(256, 1, device="cuda") * 1e-3 + 1e-4 if pairing in ("rowwise", "mixed_b") else \
        torch.tensor([3e-4], device="cuda")
    ours = w8a8.cutlass_scaled_mm(a, w.t(), sa, sb, torch.bfloat16)
    ref = (a.double() * sa.double()) @ (w.double() * sb.double()).t()
    assert rel(ours, ref) <= 4e-3
    if pairing in ("per_tensor", "rowwise"):  # torch._scaled_mm takes these two pairings
        rowwise = pairing == "rowwise"
        theirs = torch._scaled_mm(a, w.t(), scale_a=sa if rowwise else sa[0],
                                  scale_b=sb.t().contiguous() if rowwise else sb[0], out_dtype=torch.bfloat16)
        assert rel(ours, theirs.double()) <= 8e-3


def test_errors_map_for_torch():
    with pytest.raises(ValueError, match="scale_ub"):
        w8a8.scaled_fp8_quant(torch.randn(2, 16), scale_ub=torch.ones(1))


def block_reference(x, wq, ws):
    """float64 reference of the block linear layer: 1 x 128 activation groups (spec section 2), 128 x 128 blocks."""
    m, k = x.shape
    g = x.double().view(m, k // 128, 128)
    s = (g.abs().amax(-1, keepdim=True).float().clamp(min=1e-10) / 448).double()
    xq = (g.float() * (1 / s.float())).clamp(-448, 448).to(torch.float8_e4m3fn).double() * s
    w = wq.double() * ws.double().repeat_interleave(128, 0)[: wq.shape[0]].repeat_interleave(128, 1)
    return xq.view(m, k) @ w.t()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("m", [1, 3, 4, 17])
def test_block_linear_op_module_and_library_op(device, m):
    lin = torch.nn.Linear(256, 272, dtype=torch.bfloat16, device=device)
    fl = w8a8.nn.Fp8Linear.from_linear(lin, block=True)
    assert fl.block and fl.weight_scale.shape == (3, 2)
    x = torch.randn(m, 256, dtype=torch.bfloat16, device=device)
    ref = block_reference(x, fl.weight, fl.weight_scale) + fl.bias.double()
    y = fl(x)
    assert y.shape == (m, 272) and y.dtype == torch.bfloat16 and rel(y, ref) <= 4e-3
    op = w8a8.W8A8BlockFp8LinearOp()
    assert op.weight_group_shape == (128, 128) and op.act_quant_group_shape == (1, 128)
    y2 = op.apply(x, fl.weight, fl.weight_scale, bias=fl.bias)
    torch.testing.assert_close(y2, y, rtol=0, atol=0)
    y3 = torch.ops.w8a8.fp8_block_linear(x.view(1, m, 256), fl.weight, fl.weight_scale, None)
    assert y3.shape == (1, m, 272) and rel(y3.view(m, 272), block_reference(x, fl.weight, fl.weight_scale)) <= 4e-3
    with pytest.raises(ValueError, match="weight_group_shape"):
        w8a8.W8A8BlockFp8LinearOp(weight_group_shape=(64, 64))


@pytest.mark.parametrize("device", DEVICES)
def test_accumulation_reaches_op_and_module(device):
    lin = torch.nn.Linear(512, 64, dtype=torch.bfloat16, device=device)
    x = torch.randn(8, 512, dtype=torch.bfloat16, device=device)
    for acc in ("default", "promoted", "fast"):
        op = w8a8.Fp8LinearOp(False, w8a8.GroupShape.PER_TOKEN, accumulation=acc)
        assert op.accumulation == ("fast" if acc == "fast" else "promoted")
        fl = w8a8.nn.Fp8Linear.from_linear(lin, accumulation=acc)
        assert rel(fl(x), lin(x).detach()) <= 6e-2
        y = op.apply(x, fl.weight.t(), fl.weight_scale, bias=fl.bias)
        torch.testing.assert_close(y, fl(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="accumulation"):
        w8a8.Fp8LinearOp(False, accumulation="fastest")


def test_choice_by_shape_says_what_runs():
    c = w8a8.choose_scaled_mm_backend_for_shape(4, 256, 512, "token-channel", device="cpu")
    assert c.backend == "cpu" and c.accumulation == "promoted" and "M=4 N=256 K=512" in c.reason
    if "cuda" in DEVICES and w8a8.cutlass_fp8_supported():
        for scales in ("tensor", "token-channel", "mixed"):
            c = w8a8.choose_scaled_mm_backend_for_shape(4096, 8192, 8192, scales, accumulation="fast")
            assert c.backend in ("cutlass", "cublaslt") and c.accumulation == "fast", c
    with pytest.raises(ValueError, match="scales"):
        w8a8.choose_scaled_mm_backend_for_shape(4, 256, 512, "rows")


@pytest.mark.skipif("cuda" not in DEVICES, reason="needs a CUDA device and a CUDA build")
def test_capabilities_on_the_device():
    caps = w8a8.capabilities()
    major, minor = torch.cuda.get_device_capability()
    if major * 10 + minor >= 89:
        assert w8a8.cutlass_fp8_supported(), caps
        assert w8a8.Fp8LinearOp(False, w8a8.GroupShape.PER_TOKEN).preferred_backend == "cutlass"
    if major * 10 + minor == 90:
        assert w8a8.cutlass_block_fp8_supported(), caps
    assert not w8a8.cutlass_group_gemm_supported() and not w8a8.sparse_cutlass_supported()
