import ml_dtypes
import numpy as np
import pytest

import w8a8
from _ref import BF16, F8, TOL, block_mm_ref, f64, mm_ref, quantize, dyn_scale, rel_err

RNG = np.random.default_rng(1)


def fp8(shape):
    return (RNG.standard_normal(shape) * 2).astype(np.float32).astype(F8)


def operands(m, n, k):
    a = fp8((m, k))
    w = fp8((n, k))  # the [N, K] weight; b is its transpose (column-major [K, N])
    return a, w, w.T


def scales(kind, m, n):
    sa = np.array([0.03], np.float32) if kind[0] == "t" else RNG.uniform(0.01, 0.05, (m, 1)).astype(np.float32)
    sb = np.array([0.02], np.float32) if kind[1] == "t" else RNG.uniform(0.01, 0.05, (n, 1)).astype(np.float32)
    return sa, sb


@pytest.mark.parametrize("out_dtype", [BF16, np.float16, np.float32])
@pytest.mark.parametrize("kind", ["tt", "tc", "pt", "pc"])
@pytest.mark.parametrize("m", [1, 3, 17, 33])
def test_cutlass_scaled_mm(out_dtype, kind, m):
    n, k = 40, 48
    a, w, b = operands(m, n, k)
    sa, sb = scales(kind, m, n)
    bias = (RNG.standard_normal(n)).astype(out_dtype)
    out = w8a8.cutlass_scaled_mm(a, b, sa, sb, out_dtype, bias)
    assert out.dtype == np.dtype(out_dtype) and out.shape == (m, n)
    ref = mm_ref(a, b, sa, sb, bias)
    assert np.isfinite(f64(out)).all()
    assert rel_err(out, ref) <= TOL[np.dtype(out_dtype)]


@pytest.mark.parametrize("backend", ["auto", "cpu", "unfused"])
def test_scaled_mm_backends(backend):
    a, w, b = operands(5, 24, 32)
    sa, sb = scales("pc", 5, 24)
    out = w8a8.scaled_mm(a, b, sa, sb, np.float32, backend=backend, accumulation="promoted")
    assert rel_err(out, mm_ref(a, b, sa, sb)) <= 1e-5


def test_scaled_mm_sb_row_vector():
    a, w, b = operands(4, 24, 32)
    sa = np.array([0.5], np.float32)
    sb = RNG.uniform(0.01, 0.05, (1, 24)).astype(np.float32)
    out = w8a8.cutlass_scaled_mm(a, b, sa, sb, np.float32)
    assert rel_err(out, mm_ref(a, b, sa, sb)) <= 1e-5


def test_blockwise():
    m, n, k = 3, 256, 256
    a, w, b = operands(m, n, k)
    sa = RNG.uniform(0.01, 0.05, (m, k // 128)).astype(np.float32)
    sb = RNG.uniform(0.01, 0.05, (k // 128, n // 128)).astype(np.float32)
    out = w8a8.cutlass_scaled_mm(a, b, sa, sb, BF16)
    assert rel_err(out, block_mm_ref(a, b, sa, sb)) <= 4e-3


def test_choose_backend():
    a, w, b = operands(4, 16, 32)
    sa, sb = scales("tt", 4, 16)
    choice = w8a8.choose_scaled_mm_backend(np.empty((4, 16), np.float32), a, b, sa, sb)
    name, reason = choice.backend, choice.reason
    assert name == "cpu" and reason


S1 = np.ones(1, np.float32)


@pytest.mark.parametrize(
    "mutate, exc, msg",
    [
        (lambda a, b: (a, b.T), ValueError, "b: expected [K, N]"),
        (lambda a, b: (a.astype(np.float32), b), TypeError, "a: expected float8_e4m3fn or float8_e4m3fnuz"),
    ],
)
def test_scaled_mm_operand_errors(mutate, exc, msg):
    a, w, b = operands(5, 48, 64)
    a, b = mutate(a, b)
    with pytest.raises(exc, match=msg.replace("[", r"\[").replace("]", r"\]")):
        w8a8.cutlass_scaled_mm(a, b, S1, S1, BF16)


def test_scaled_mm_other_errors():
    a, w, b = operands(5, 48, 64)
    with pytest.raises(TypeError, match="out_dtype: expected bfloat16, float16 or float32"):
        w8a8.cutlass_scaled_mm(a, b, S1, S1, np.int32)
    with pytest.raises(ValueError, match="scale_a: expected one element or"):
        w8a8.cutlass_scaled_mm(a, b, np.ones(3, np.float32), S1, BF16)
    with pytest.raises(ValueError, match="backend: expected one of"):
        w8a8.scaled_mm(a, b, S1, S1, BF16, backend="bogus")
    with pytest.raises(ValueError, match="accumulation: expected"):
        w8a8.scaled_mm(a, b, S1, S1, BF16, accumulation="bogus")
    with pytest.raises(ValueError, match="options.kernel: a kernel name needs options.backend"):
        w8a8.scaled_mm(a, b, S1, S1, BF16, kernel="bf16_128x256x128_c2x1_coop_fast")
    with pytest.raises(ValueError, match="options.kernel: backend cpu has no named kernels"):
        w8a8.scaled_mm(a, b, S1, S1, BF16, backend="cpu", kernel="anything")
    assert w8a8.scaled_mm_kernels("cpu") == []
    if not w8a8.cuda_built:
        assert w8a8.scaled_mm_kernels("cutlass") == []
        with pytest.raises(NotImplementedError, match="backend cutlass is not built"):
            w8a8.scaled_mm(a, b, S1, S1, BF16, backend="cutlass")
        with pytest.raises(RuntimeError):  # NotImplementedError is a RuntimeError
            w8a8.scaled_mm(a, b, S1, S1, BF16, backend="cublaslt")


TABLE = {
    ("cutlass", True, True): "cutlass_w8a8_scaled_mm",
    ("cutlass", False, False): "cutlass_w8a8_scaled_mm",
    ("flashinfer", True, True): "flashinfer_w8a8_scaled_mm",
    ("flashinfer", False, True): "cutlass_w8a8_scaled_mm",
    ("rocm", True, True): "rocm_per_tensor_w8a8_scaled_mm",
    ("rocm", True, False): "torch_channelwise_w8a8_scaled_mm",
    ("torch", True, True): "torch_per_tensor_w8a8_scaled_mm",
    ("torch", False, False): "torch_channelwise_w8a8_scaled_mm",
    ("torch", True, False): "torch_channelwise_w8a8_scaled_mm",
    ("cpu", False, True): "cpu_w8a8_scaled_mm",
}


@pytest.mark.parametrize("key", list(TABLE))
def test_dispatch_table(key):
    assert w8a8.dispatch_w8a8_scaled_mm(*key).__name__ == TABLE[key]


@pytest.mark.parametrize("backend", ["cpu", "torch", "cutlass"])
def test_dispatch_fn_runs_and_unpads(backend):
    m, n, k = 5, 24, 32
    a, w, b = operands(m, n, k)
    padded = np.concatenate([a, np.zeros((12, k), F8)])
    sa, sb = scales("pc", m, n)
    sa_p = np.concatenate([sa, np.ones((12, 1), np.float32)])
    fn = w8a8.dispatch_w8a8_scaled_mm(backend, False, False)
    out = fn(padded, b, np.float32, sa_p, sb, None, a, [1, m, n])
    assert out.shape == (1, m, n)
    assert rel_err(out[0], mm_ref(a, b, sa, sb)) <= 1e-5


def test_dispatch_errors():
    with pytest.raises(ValueError, match="preferred_backend: expected one of"):
        w8a8.dispatch_w8a8_scaled_mm("bogus", True, True)
    a, w, b = operands(2, 16, 32)
    with pytest.raises(NotImplementedError, match="FlashInfer is unavailable"):
        w8a8.dispatch_w8a8_scaled_mm("flashinfer", True, True)(a, b, BF16, S1, S1, None, a, [2, 16])


class TestFp8LinearOp:
    def test_attributes(self):
        op = w8a8.Fp8LinearOp(False, w8a8.GroupShape.PER_TOKEN)
        expected = "cutlass" if w8a8.cutlass_fp8_supported() else ("torch" if w8a8.platform()["is_cuda"] else "cpu")
        assert op.preferred_backend == expected
        assert op.output_padding == (17 if expected == "torch" else None)
        assert isinstance(op.quant_fp8, w8a8.QuantFP8)
        assert op.quant_fp8.group_shape == w8a8.GroupShape.PER_TOKEN and not op.quant_fp8.static
        assert w8a8.Fp8LinearOp(False, pad_output=True).output_padding == 17
        assert w8a8.Fp8LinearOp(False, pad_output=True).quant_fp8.num_token_padding == 17
        assert w8a8.Fp8LinearOp(False, pad_output=False).output_padding is None
        assert w8a8.Fp8LinearOp(True).act_quant_static

    @pytest.mark.parametrize("static", [False, True])
    @pytest.mark.parametrize("gs", [w8a8.GroupShape.PER_TENSOR, w8a8.GroupShape.PER_TOKEN])
    @pytest.mark.parametrize("pad", [None, True])
    def test_apply(self, static, gs, pad):
        if static and gs != w8a8.GroupShape.PER_TENSOR:
            pytest.skip("static is per-tensor only")
        k, n = 64, 40
        x = RNG.standard_normal((2, 3, k)).astype(BF16)
        wf = RNG.standard_normal((n, k)).astype(np.float32) * 0.1
        ws = dyn_scale(wf, axis=1)
        wq = quantize(wf, ws)
        bias = RNG.standard_normal(n).astype(BF16)
        op = w8a8.Fp8LinearOp(static, gs, pad_output=pad)
        in_scale = dyn_scale(x.reshape(-1, k)).reshape(1) if static else None
        y = op.apply(x, wq.T, ws, input_scale=in_scale, bias=bias)
        assert y.dtype == np.dtype(BF16) and y.shape == (2, 3, n)
        # end to end against the float64 product of the unquantized operands
        ref = f64(x).reshape(-1, k) @ f64(wf).T + f64(bias)
        assert rel_err(y.reshape(-1, n), ref) <= 6e-2
        # and tightly against the reference quantization of x
        xs = in_scale if static else (dyn_scale(x.reshape(-1, k), axis=1) if gs == w8a8.GroupShape.PER_TOKEN
                                      else dyn_scale(x.reshape(-1, k)))
        xq = quantize(x.reshape(-1, k), xs)
        assert rel_err(y.reshape(-1, n), mm_ref(xq, wq.T, xs, ws, bias)) <= 4e-3

    def test_fp8_input_and_out_dtype(self):
        k, n = 32, 16
        xq = (RNG.standard_normal((4, k))).astype(F8)
        wq = (RNG.standard_normal((n, k))).astype(F8)
        xs, ws = np.array([0.5], np.float32), np.array([0.25], np.float32)
        y = w8a8.Fp8LinearOp(True).apply(xq, wq.T, ws, out_dtype=np.float32, input_scale=xs)
        assert y.dtype == np.float32
        assert rel_err(y, mm_ref(xq, wq.T, xs, ws)) <= 1e-5

    def test_errors(self):
        wq = RNG.standard_normal((16, 32)).astype(F8)
        x = RNG.standard_normal((2, 32)).astype(np.float32)
        with pytest.raises(ValueError, match="input_scale: required for static"):
            w8a8.Fp8LinearOp(True).apply(x, wq.T, np.ones(1, np.float32))
        with pytest.raises(ValueError):
            w8a8.Fp8LinearOp(False).apply(x[:, :16], wq.T, np.ones(1, np.float32))
        with pytest.raises(ValueError, match="group_shape"):
            w8a8.Fp8LinearOp(True, w8a8.GroupShape.PER_TOKEN)


def test_fused_activation_quant_policy_round_trip():
    assert w8a8.fused_activation_quant() == "auto"
    try:
        for p in ("on", "off", "auto"):
            w8a8.set_fused_activation_quant(p)
            assert w8a8.fused_activation_quant() == p
        with pytest.raises(ValueError, match="policy"):
            w8a8.set_fused_activation_quant("sometimes")
    finally:
        w8a8.set_fused_activation_quant("auto")
