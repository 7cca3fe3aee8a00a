"""Inputs vLLM's own functions accept, held against the numpy references of _ref.py (CPU, numpy arrays):
N-D activations in cutlass_scaled_mm and per_token_group_quant_fp8, [N] weight scales, group sizes that do not
divide K, [S, 1] scales in convert_to_channelwise, per-row dequantize scales and half-precision requantize scales."""
import numpy as np
import pytest

import w8a8
from _ref import BF16, F8, F8UZ, TOL, bits, channelwise, dequantize, f64, group_quant, mm_ref, quantize, rel_err
from _ref import requantize

RNG = np.random.default_rng(8)


def fp8(shape, fp8_dtype=F8, scale=40.0):
    x = (RNG.standard_normal(shape) * scale).astype(np.float32)
    return np.clip(x, -200, 200).astype(fp8_dtype)


def scales(shape, dtype=np.float32):
    return np.asarray(RNG.uniform(0.002, 0.05, shape)).astype(dtype)


# ---- cutlass_scaled_mm: a [..., K] -------------------------------------------------------------------------
@pytest.mark.parametrize("lead", [(2, 7), (3, 1, 5), (6,)])
@pytest.mark.parametrize("out_dtype", [BF16, np.float32])
def test_cutlass_scaled_mm_leading_dimensions(lead, out_dtype):
    k, n = 64, 48
    a = fp8(lead + (k,))
    w = fp8((n, k))
    m = int(np.prod(lead))
    sa, sb = scales((m, 1)), scales((n, 1))
    bias = RNG.standard_normal(n).astype(out_dtype)
    out = w8a8.cutlass_scaled_mm(a, w.T, sa, sb, out_dtype, bias)
    assert out.shape == lead + (n,) and out.dtype == np.dtype(out_dtype)
    flat = w8a8.cutlass_scaled_mm(a.reshape(m, k), w.T, sa, sb, out_dtype, bias)
    np.testing.assert_array_equal(bits(out).reshape(-1), bits(flat).reshape(-1))
    ref = mm_ref(a.reshape(m, k), w.T, sa, sb, bias)
    assert rel_err(flat, ref) <= TOL[np.dtype(out_dtype)]
    # 1-D a: one token, [K] -> [N] (the [1, K] problem's result).
    one = w8a8.cutlass_scaled_mm(a.reshape(m, k)[0], w.T, sa[:1], sb, out_dtype, bias)
    assert one.shape == (n,)
    np.testing.assert_array_equal(bits(one), bits(w8a8.cutlass_scaled_mm(a.reshape(m, k)[:1], w.T, sa[:1], sb,
                                                                         out_dtype, bias)[0]))


def test_cutlass_scaled_mm_leading_dimensions_errors():
    a = fp8((2, 3, 64))
    w = fp8((16, 64))
    with pytest.raises(ValueError, match="a: expected leading dimensions"):
        w8a8.cutlass_scaled_mm(a[:, ::2], w.T, scales((1,)), scales((16,)), np.float32)  # rows that cannot merge
    with pytest.raises(ValueError, match="scale_a"):
        w8a8.cutlass_scaled_mm(a, w.T, scales((3, 1)), scales((16,)), np.float32)  # 3 rows, a has 6


# ---- scale_b [N] ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["auto", "cpu", "unfused"])
@pytest.mark.parametrize("per_token", [False, True])
def test_one_dimensional_scale_b(backend, per_token):
    m, k, n = 17, 96, 40
    a, w = fp8((m, k)), fp8((n, k))
    sa = scales((m, 1) if per_token else (1,))
    sb = scales((n,))
    out = w8a8.scaled_mm(a, w.T, sa, sb, BF16, backend=backend)
    ref = mm_ref(a, w.T, sa, sb)
    assert rel_err(out, ref) <= TOL[np.dtype(BF16)]
    col = w8a8.scaled_mm(a, w.T, sa, sb.reshape(n, 1), BF16, backend=backend)
    np.testing.assert_array_equal(bits(out), bits(col))
    np.testing.assert_array_equal(bits(w8a8.cutlass_scaled_mm(a, w.T, sa, sb, BF16)),
                                  bits(w8a8.cutlass_scaled_mm(a, w.T, sa, sb.reshape(n, 1), BF16)))


@pytest.mark.parametrize("group_shape", [w8a8.GroupShape.PER_TOKEN, w8a8.GroupShape.PER_TENSOR])
def test_fp8_linear_op_one_dimensional_weight_scale(group_shape):
    x = (RNG.standard_normal((2, 5, 64)) * 2).astype(BF16)
    w = fp8((32, 64))
    ws = scales((32,))
    op = w8a8.Fp8LinearOp(act_quant_static=False, act_quant_group_shape=group_shape)
    y = op.apply(x, w.T, ws)
    y_col = op.apply(x, w.T, ws.reshape(32, 1))
    assert y.shape == (2, 5, 32)
    np.testing.assert_array_equal(bits(y), bits(y_col))


# ---- per_token_group_quant_fp8: x [..., K], K % G != 0 ------------------------------------------------------
@pytest.mark.parametrize("k, g", [(200, 128), (129, 128), (100, 16), (7, 16), (64, 16)])
@pytest.mark.parametrize("ue8m0", [False, True])
def test_group_quant_partial_last_group(k, g, ue8m0):
    x = (RNG.standard_normal((5, k)) * 3).astype(BF16)
    q, s = w8a8.per_token_group_quant_fp8(x, g, use_ue8m0=ue8m0)
    rq, rs = group_quant(x, g, ue8m0=ue8m0)
    assert q.shape == (5, k) and s.shape == (5, -(-k // g))
    np.testing.assert_array_equal(s.view(np.uint32), rs.view(np.uint32))
    np.testing.assert_array_equal(bits(q), bits(rq))
    qc, sc = w8a8.per_token_group_quant_fp8(x, g, column_major_scales=True, use_ue8m0=ue8m0)
    assert sc.strides[0] == 4
    np.testing.assert_array_equal(sc, s)
    np.testing.assert_array_equal(bits(qc), bits(q))
    # QuantFP8 with a (1, G) group shape takes the same path.
    q2, s2 = w8a8.QuantFP8(False, w8a8.GroupShape(1, g), use_ue8m0=ue8m0)(x)
    np.testing.assert_array_equal(bits(q2), bits(rq))


@pytest.mark.parametrize("shape", [(2, 3, 256), (4, 1, 2, 192), (1, 5, 100)])
@pytest.mark.parametrize("column_major", [False, True])
def test_group_quant_leading_dimensions(shape, column_major):
    x = (RNG.standard_normal(shape) * 3).astype(np.float32)
    g = 64
    q, s = w8a8.per_token_group_quant_fp8(x, g, column_major_scales=column_major)
    rq, rs = group_quant(x, g)
    ng = -(-shape[-1] // g)
    assert q.shape == shape and s.shape == shape[:-1] + (ng,)
    np.testing.assert_array_equal(bits(q), bits(rq))
    np.testing.assert_array_equal(s, rs)
    if column_major and shape[-2] > 1:
        assert s.strides[-2] == 4 and s.strides[-1] == 4 * shape[-2]  # each [rows, groups] column-major


# ---- weight utilities ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3,), (3, 1), (1, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, BF16])
def test_convert_to_channelwise_any_shape(shape, dtype):
    ws = scales(shape, dtype)
    out = w8a8.convert_to_channelwise(ws, [2, 0, 4])
    assert out.shape == (6, 1) and out.dtype == np.float32
    np.testing.assert_array_equal(out, channelwise(ws, [2, 0, 4]))


@pytest.mark.parametrize("scale_dtype", [np.float32, np.float16, BF16])
def test_per_tensor_dequantize_row_scales(scale_dtype):
    w = fp8((6, 10))
    for shape in [(6, 1), (1, 10), (10,), (1,), ()]:
        sc = scales(shape, scale_dtype)
        out = w8a8.per_tensor_dequantize(w, sc)
        ref = dequantize(w, sc)
        assert out.shape == (6, 10) and out.dtype == ref.dtype, shape
        np.testing.assert_array_equal(out, ref)
    # The transposed weight: a column-major result, per-channel scales along its columns.
    sc = scales((1, 6), scale_dtype)
    out = w8a8.per_tensor_dequantize(w.T, sc)
    np.testing.assert_array_equal(out, dequantize(w.T, sc))
    assert out.strides == (out.itemsize, out.itemsize * 10)
    with pytest.raises(ValueError, match="inv_scale: expected a shape that broadcasts"):
        w8a8.per_tensor_dequantize(w, scales((6,), scale_dtype))
    with pytest.raises(ValueError, match="inv_scale"):
        w8a8.per_tensor_dequantize(w, scales((1, 6, 1), scale_dtype))  # would grow the result


@pytest.mark.parametrize("scale_dtype", [np.float32, np.float16, BF16])
@pytest.mark.parametrize("fp8_dtype", [F8, F8UZ])
def test_requantize_with_max_scale_scale_dtypes(scale_dtype, fp8_dtype):
    widths = [4, 0, 7, 5]
    w = fp8((16, 24), fp8_dtype, scale=30.0)
    ws = scales((4,), scale_dtype)
    mx, wq = w8a8.requantize_with_max_scale(w, ws, widths)
    rmx, rcodes = requantize(w, ws, widths)
    assert mx.dtype == np.dtype(scale_dtype) and mx.shape == (1,)  # torch's max keeps the dtype
    assert np.float32(mx[0]) == rmx
    assert wq.dtype == np.dtype(fp8_dtype)
    np.testing.assert_array_equal(bits(wq), rcodes)
    # Fused on disk (the last scale never loaded): a bit-identical copy.
    unset = ws.copy()
    with np.errstate(over="ignore"):  # float32's min, vLLM's initial value, is -inf in fp16 / bf16
        unset[1:] = np.finfo(np.float32).min
    mx2, wq2 = w8a8.requantize_with_max_scale(w, unset, widths)
    np.testing.assert_array_equal(bits(wq2), bits(w))
    assert bits(mx2).tolist() == bits(unset[:1]).tolist()


def test_requantize_keeps_layout():
    w = fp8((24, 16))  # stored [K, N]; the [N, K] weight is its transpose
    ws = scales((2,))
    mx, wq = w8a8.requantize_with_max_scale(w.T, ws, [10, 6])
    assert wq.shape == (16, 24) and wq.strides == (1, 16)
    _, rcodes = requantize(np.ascontiguousarray(w.T), ws, [10, 6])
    np.testing.assert_array_equal(bits(np.ascontiguousarray(wq)), rcodes)


def test_normalize_keeps_column_major_for_cutlass_scaled_mm():
    n, k = 32, 64
    w = fp8((n, k))
    w[0, :4] = -0.0  # 0x80
    wt = w.T  # the [K, N] column-major view Fp8LinearOp and cutlass_scaled_mm take
    wq, ws, _ = w8a8.normalize_e4m3fn_to_e4m3fnuz(wt, np.array([0.01], np.float32))
    assert wq.shape == (k, n) and wq.strides == wt.strides and wq.dtype == np.dtype(F8UZ)
    expect = bits(wt).copy()
    expect[expect == 0x80] = 0
    np.testing.assert_array_equal(bits(wq), expect)
    # It is a valid b: column-major e4m3fnuz, multiplied with an e4m3fnuz activation.
    a = fp8((5, k), F8UZ)
    out = w8a8.cutlass_scaled_mm(a, wq, np.ones(1, np.float32), ws, np.float32)
    assert rel_err(out, mm_ref(a, wq, np.ones(1, np.float32), ws)) <= TOL[np.dtype(np.float32)]
    # Scales keep their dtype.
    _, ws16, is16 = w8a8.normalize_e4m3fn_to_e4m3fnuz(wt, scales((n, 1), np.float16), scales((1,), BF16))
    assert ws16.dtype == np.float16 and ws16.shape == (n, 1) and is16.dtype == np.dtype(BF16)
    assert np.all(f64(ws16) > 0)


# ---- where torch is installed: torch's own arithmetic and layouts as the reference (CPU tensors) -------------------
def test_weight_utilities_follow_torch():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    w = (torch.randn(24, 40, generator=g) * 50).clamp(-400, 400).to(torch.float8_e4m3fn)
    for t in (w, w.t(), w[:, 3:30]):
        # tensor.to(torch.float16) * inv_scale: the values, dtype and strides torch gives.
        for s in (0.037, torch.tensor(0.037), torch.tensor([0.037]), torch.rand(t.shape[0], 1, generator=g),
                  torch.rand(t.shape[0], 1, generator=g).half(), torch.rand(1, t.shape[1], generator=g).bfloat16(),
                  torch.rand(t.shape[1], generator=g)):
            ref = t.to(torch.float16) * s
            out = w8a8.per_tensor_dequantize(t, s)
            assert out.dtype == ref.dtype and out.shape == ref.shape
            assert torch.equal(out, ref)
            if t.is_contiguous() or t.t().is_contiguous():
                assert out.stride() == ref.stride()
    # normalize: vLLM rewrites the weight in place and views it; the strides are the input's.
    wt = w.t()
    wq, _, _ = w8a8.normalize_e4m3fn_to_e4m3fnuz(wt, torch.tensor([0.5]))
    as_int8 = wt.clone().view(torch.int8)  # clone keeps wt's (dense) strides
    as_int8[as_int8 == -128] = 0
    assert wq.stride() == as_int8.stride() and torch.equal(wq.view(torch.int8), as_int8)
