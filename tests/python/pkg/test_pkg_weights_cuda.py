"""The weight utilities on torch CUDA tensors give the CPU's results bit for bit, stay on the GPU, and keep the
weight's layout; the group quantization of a short last group and N-D inputs too. Skipped without torch, a CUDA
device or a CUDA build of w8a8."""
import pytest

torch = pytest.importorskip("torch")
import w8a8  # noqa: E402

pytestmark = pytest.mark.skipif(not (torch.cuda.is_available() and w8a8.cuda_built and w8a8.platform()["is_cuda"]),
                                reason="needs a CUDA device and a CUDA build of w8a8")

FP8 = torch.float8_e4m3fn


def random_codes(shape, dtype=FP8, seed=0):
    """Every byte value can occur (NaN codes and 0x80 included); 0x80, 0x7F and 0xFF surely do."""
    g = torch.Generator().manual_seed(seed)
    b = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    b.view(-1)[:3] = torch.tensor([0x80, 0x7F, 0xFF], dtype=torch.uint8)
    return b.view(dtype)


def random_scales(shape, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) * 0.2 + 1e-3).to(dtype)


def same(gpu, cpu):
    """Same dtype, shape, strides and bits; gpu on the GPU."""
    assert gpu.is_cuda and not cpu.is_cuda
    assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape and gpu.stride() == cpu.stride()
    g, c = gpu.cpu(), cpu
    if g.element_size() == 1:
        g, c = g.view(torch.uint8), c.view(torch.uint8)
    elif g.element_size() == 2:
        g, c = g.view(torch.int16), c.view(torch.int16)
    else:
        g, c = g.view(torch.int32), c.view(torch.int32)
    assert torch.equal(g, c)


@pytest.mark.parametrize("in_dtype", [FP8, torch.float8_e4m3fnuz, torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_per_tensor_dequantize(in_dtype, layout):
    w = random_codes((48, 80), in_dtype) if in_dtype.itemsize == 1 else torch.randn(48, 80).to(in_dtype)
    t = w if layout == "contiguous" else w.t()
    tg = t.cuda() if layout == "contiguous" else w.cuda().t()
    same(w8a8.per_tensor_dequantize(tg, 0.037), w8a8.per_tensor_dequantize(t, 0.037))
    for sd in (torch.float32, torch.float16, torch.bfloat16):
        for shape in ((), (1,), (t.shape[0], 1), (1, t.shape[1])):
            s = random_scales(shape, sd)
            same(w8a8.per_tensor_dequantize(tg, s.cuda()), w8a8.per_tensor_dequantize(t, s))
    # torch's result dtypes: fp16 with a 0-dim scale, fp32 with a float32 [N, 1] one; torch computes the same.
    s = random_scales((t.shape[0], 1))
    if in_dtype.itemsize == 1:
        ref = tg.to(torch.float16) * s.cuda()
        out = w8a8.per_tensor_dequantize(tg, s.cuda())
        assert out.dtype == ref.dtype == torch.float32
        torch.testing.assert_close(out, ref, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("scale_dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("fused", [False, True])
def test_requantize_with_max_scale(scale_dtype, fused):
    widths = [96, 0, 160, 37]
    w = random_codes((293, 520), seed=3)
    s = random_scales((4,), scale_dtype, seed=4)
    if fused:  # only the first scale loaded: the others keep float32's min (-inf in fp16 / bf16)
        s[1:] = torch.tensor(torch.finfo(torch.float32).min).to(scale_dtype)
    for t, tg in ((w, w.cuda()), (w.t().contiguous().t(), w.t().contiguous().cuda().t())):
        m_cpu, q_cpu = w8a8.requantize_with_max_scale(t, s, widths)
        m_gpu, q_gpu = w8a8.requantize_with_max_scale(tg, s.cuda(), widths)
        same(m_gpu, m_cpu)
        same(q_gpu, q_cpu)
        assert q_gpu.stride() == tg.stride()


@pytest.mark.parametrize("shape", [(3,), (3, 1)])
def test_convert_to_channelwise(shape):
    for sd in (torch.float32, torch.float16, torch.bfloat16):
        s = random_scales(shape, sd)
        same(w8a8.convert_to_channelwise(s.cuda(), [700, 0, 9]), w8a8.convert_to_channelwise(s, [700, 0, 9]))


def test_normalize_keeps_layout():
    w = random_codes((64, 128), seed=5)
    ws, is_ = random_scales((64, 1), torch.bfloat16), random_scales((1,))
    for t, tg in ((w, w.cuda()), (w.t(), w.cuda().t())):
        cpu = w8a8.normalize_e4m3fn_to_e4m3fnuz(t, ws, is_)
        gpu = w8a8.normalize_e4m3fn_to_e4m3fnuz(tg, ws.cuda(), is_.cuda())
        for g, c in zip(gpu, cpu):
            same(g, c)
        assert gpu[0].stride() == tg.stride()  # the [K, N] view stays column-major: a valid cutlass_scaled_mm b


def test_all_close_1d():
    for x in (torch.tensor([0.5, 0.5, 0.5]), torch.tensor([1.0, 1.1]), torch.tensor([0.0, 5e-9]),
              torch.tensor([1.0, 9.0, 1.0, 7.0])[::2], torch.tensor([float("nan")])):
        assert w8a8.all_close_1d(x.cuda()) == w8a8.all_close_1d(x)


@pytest.mark.parametrize("k, g", [(200, 128), (1000, 512), (201, 128), (7, 16)])
@pytest.mark.parametrize("column_major", [False, True])
def test_group_quant_short_last_group_and_leading_dims(k, g, column_major):
    x = torch.randn(3, 5, k, dtype=torch.bfloat16)
    q_cpu, s_cpu = w8a8.per_token_group_quant_fp8(x, g, column_major_scales=column_major)
    q_gpu, s_gpu = w8a8.per_token_group_quant_fp8(x.cuda(), g, column_major_scales=column_major)
    same(q_gpu, q_cpu)
    same(s_gpu, s_cpu)
    q2, s2 = torch.ops.w8a8.per_token_group_quant_fp8(x.cuda().view(-1, k), g, 1e-10, column_major, False)
    assert torch.equal(q2.view(torch.uint8).cpu(), q_cpu.view(-1, k).view(torch.uint8))
    assert torch.equal(s2.cpu(), s_cpu.reshape(-1, s_cpu.shape[-1]))


def test_cutlass_scaled_mm_leading_dims_and_one_dimensional_scale_b():
    a = torch.randn(2, 7, 128, device="cuda").to(FP8)
    w = torch.randn(64, 128, device="cuda").to(FP8)
    sa, sb = random_scales((14, 1)).cuda(), random_scales((64,)).cuda()
    out = w8a8.cutlass_scaled_mm(a, w.t(), sa, sb, torch.bfloat16)
    assert out.shape == (2, 7, 64)
    flat = w8a8.cutlass_scaled_mm(a.view(14, 128), w.t(), sa, sb.view(64, 1), torch.bfloat16)
    assert torch.equal(out.view(14, 64), flat)
