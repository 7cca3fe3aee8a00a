import ml_dtypes
import numpy as np
import pytest

import w8a8
from _ref import BF16, F8, F8UZ, bits, f64, quantize

RNG = np.random.default_rng(2)


def test_convert_to_channelwise():
    ws = np.array([0.1, 0.2, 0.3], np.float32)
    out = w8a8.convert_to_channelwise(ws, [2, 0, 3])
    assert out.shape == (5, 1) and out.dtype == np.float32
    np.testing.assert_array_equal(out.ravel(), np.array([0.1, 0.1, 0.3, 0.3, 0.3], np.float32))


def test_requantize_with_max_scale_unfused():
    widths = [3, 5]
    ws = np.array([0.01, 0.04], np.float32)
    w = (RNG.standard_normal((8, 16)) * 50).astype(np.float32).astype(F8)
    max_scale, wq = w8a8.requantize_with_max_scale(w, ws, widths)
    assert max_scale.shape == (1,) and max_scale[0] == np.float32(0.04)
    # reference: per shard fp16 dequantize with its scale, requantize with max_scale
    start = 0
    for width, s in zip(widths, ws):
        deq = (f64(w[start:start + width]).astype(np.float16) * np.float16(s)).astype(np.float16)
        np.testing.assert_array_equal(bits(wq[start:start + width]), bits(quantize(deq, max_scale)))
        start += width


def test_requantize_with_max_scale_fused_returns_weight():
    w = RNG.standard_normal((8, 16)).astype(F8)
    ws = np.array([0.02, np.finfo(np.float32).min], np.float32)  # last shard not loaded
    max_scale, wq = w8a8.requantize_with_max_scale(w, ws, [3, 5])
    np.testing.assert_array_equal(bits(wq), bits(w))  # bit-identical (a new array in w8a8)
    assert max_scale[0] == np.float32(0.02)


def test_normalize_e4m3fn_to_e4m3fnuz():
    w = RNG.standard_normal((4, 8)).astype(F8)
    w[0, 0] = -0.0  # 0x80
    ws, is_ = np.array([0.5], np.float32), np.array([0.25], np.float32)
    w2, ws2, is2 = w8a8.normalize_e4m3fn_to_e4m3fnuz(w, ws, is_)
    assert w2.dtype == np.dtype(F8UZ)
    expected = bits(w).copy()
    expected[expected == 0x80] = 0
    np.testing.assert_array_equal(bits(w2), expected)
    assert ws2[0] == 1.0 and is2[0] == 0.5
    # the same values: bits read as fnuz are half the fn value, scales doubled
    np.testing.assert_array_equal(f64(w2) * f64(ws2), np.where(bits(w) == 0x80, 0, f64(w) * 0.5))
    _, _, none = w8a8.normalize_e4m3fn_to_e4m3fnuz(w, ws)
    assert none is None
    with pytest.raises(TypeError, match="weight: expected float8_e4m3fn"):
        w8a8.normalize_e4m3fn_to_e4m3fnuz(w.astype(np.float32), ws)


def test_per_tensor_dequantize():
    w = RNG.standard_normal((4, 8)).astype(F8)
    out = w8a8.per_tensor_dequantize(w, 0.3)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, (f64(w) * np.float32(0.3).astype(np.float64)).astype(np.float16))
    out32 = w8a8.per_tensor_dequantize(w, np.array([0.3], np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, f64(w) * 0.3, rtol=1e-6)
    out0 = w8a8.per_tensor_dequantize(w, np.float32(0.3))  # 0-dim: fp16
    assert out0.dtype == np.float16


def test_all_close_1d():
    assert w8a8.all_close_1d(np.array([1.0, 1.0 + 1e-7, 1.0], np.float32))
    assert not w8a8.all_close_1d(np.array([1.0, 1.1], np.float32))
    with pytest.raises(ValueError, match="x: expected a 1-D tensor"):
        w8a8.all_close_1d(np.ones((2, 2), np.float32))


def test_capabilities_and_platform():
    for f in (w8a8.cutlass_fp8_supported, w8a8.cutlass_block_fp8_supported, w8a8.cutlass_group_gemm_supported,
              w8a8.sparse_cutlass_supported):
        assert isinstance(f(), bool)
    caps = w8a8.capabilities()
    assert set(caps) == {"cutlass_fp8", "cutlass_block_fp8", "cutlass_group_gemm", "sparse_cutlass"}
    p = w8a8.platform()
    assert p["cuda_built"] == w8a8.cuda_built
    if not w8a8.cuda_built:
        assert not any(f() for f in (w8a8.cutlass_fp8_supported, w8a8.sparse_cutlass_supported))
        assert "without CUDA" in caps["sparse_cutlass"][1]


def test_group_shape():
    G = w8a8.GroupShape
    assert G.PER_TENSOR == (-1, -1) and G.PER_TOKEN == (1, -1) and G.PER_CHANNEL == (-1, 1)
    assert G.PER_TOKEN.is_per_token() and G(1, 128).is_per_group() and G.PER_CHANNEL.is_per_channel()
    row, col = G(1, 128)
    assert (row, col) == (1, 128) and G(1, 128).col == 128


@pytest.mark.parametrize("dtype", [np.float32, np.float16, BF16])
def test_numpy_round_trip_types(dtype):
    x = RNG.standard_normal((3, 32)).astype(dtype)
    q, s = w8a8.scaled_fp8_quant(x)
    assert type(q) is np.ndarray and q.dtype == np.dtype(F8) and type(s) is np.ndarray
    x8 = RNG.standard_normal((3, 32)).astype(F8)
    y = w8a8.cutlass_scaled_mm(x8, x8[:2].T, np.ones(1, np.float32), np.ones(1, np.float32), dtype)
    assert type(y) is np.ndarray and y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(f64(y), f64(x8) @ f64(x8[:2]).T, rtol=1e-2, atol=1e-2)


def test_results_own_their_memory():
    x = RNG.standard_normal((64, 64)).astype(np.float32)
    q, s = w8a8.scaled_fp8_quant(x)
    expect = bits(quantize(x, s[0])).copy()
    del x
    import gc
    gc.collect()
    np.testing.assert_array_equal(bits(q), expect)
    assert q.base is not None  # a view of the library's buffer, not a copy


def test_readonly_and_noncontiguous_inputs():
    x = RNG.standard_normal((4, 64)).astype(np.float32)
    x.setflags(write=False)
    q, s = w8a8.scaled_fp8_quant(x)
    np.testing.assert_array_equal(bits(q), bits(quantize(x, s[0])))
    w8 = RNG.standard_normal((32, 16)).astype(F8)
    b = w8.T  # [16, 32] viewed column-major: the weight layout
    a = RNG.standard_normal((3, 16)).astype(F8)
    y = w8a8.cutlass_scaled_mm(a, b, np.ones(1, np.float32), np.ones(1, np.float32), np.float32)
    np.testing.assert_allclose(y, f64(a) @ f64(b), rtol=1e-6)


def test_dtype_argument_forms():
    a = RNG.standard_normal((2, 16)).astype(F8)
    s1 = np.ones(1, np.float32)
    for d in (np.float32, np.dtype(np.float32), "float32"):
        assert w8a8.cutlass_scaled_mm(a, a.T, s1, s1, d).dtype == np.float32
    assert w8a8.cutlass_scaled_mm(a, a.T, s1, s1, ml_dtypes.bfloat16).dtype == np.dtype(BF16)
    with pytest.raises(TypeError, match="dtype"):
        w8a8.cutlass_scaled_mm(a, a.T, s1, s1, object())
