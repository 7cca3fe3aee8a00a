import ml_dtypes
import numpy as np
import pytest

import w8a8
from _ref import BF16, F8, F8UZ, bits, dyn_scale, group_quant, min_scale, quantize

RNG = np.random.default_rng(0)
MS = [1, 2, 3, 16, 17, 33]


def rand(m, k, dtype=np.float32, scale=3.0):
    return (RNG.standard_normal((m, k)) * scale).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, BF16])
@pytest.mark.parametrize("m", MS)
def test_static_per_tensor(dtype, m):
    x = rand(m, 48, dtype)
    scale = np.array([0.0123], np.float32)
    q, s = w8a8.scaled_fp8_quant(x, scale)
    assert q.dtype == np.dtype(F8) and q.shape == (m, 48)
    assert s is scale  # vLLM returns the given scale
    np.testing.assert_array_equal(bits(q), bits(quantize(x, scale)))


def test_static_saturates_and_nan():
    x = np.array([[1e6, -1e6, np.nan, 0.0]], np.float32)
    q, _ = w8a8.scaled_fp8_quant(x, np.ones(1, np.float32))
    qf = q.astype(np.float32)
    assert qf[0, 0] == 448 and qf[0, 1] == -448 and np.isnan(qf[0, 2]) and qf[0, 3] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float16, BF16])
@pytest.mark.parametrize("m", MS)
def test_dynamic_per_tensor(dtype, m):
    x = rand(m, 40, dtype)
    q, s = w8a8.scaled_fp8_quant(x)
    ref_s = dyn_scale(x)
    assert s.dtype == np.float32 and s.size == 1
    np.testing.assert_allclose(s.ravel()[0], ref_s, rtol=1e-6)
    np.testing.assert_array_equal(bits(q), bits(quantize(x, s.ravel()[0])))


def test_dynamic_all_zero_gets_min_scale():
    q, s = w8a8.scaled_fp8_quant(np.zeros((3, 16), np.float32))
    assert s.ravel()[0] == min_scale()
    assert not q.astype(np.float32).any()


@pytest.mark.parametrize("m", MS)
@pytest.mark.parametrize("ub", [None, 0.5])
def test_dynamic_per_token(m, ub):
    x = rand(m, 64, BF16)
    scale_ub = None if ub is None else np.array([ub], np.float32)
    q, s = w8a8.scaled_fp8_quant(x, use_per_token_if_dynamic=True, scale_ub=scale_ub)
    assert s.shape == (m, 1)
    np.testing.assert_allclose(s, dyn_scale(x, axis=1, ub=ub), rtol=1e-6)
    np.testing.assert_array_equal(bits(q), bits(quantize(x, s)))


@pytest.mark.parametrize("per_token", [False, True])
def test_token_padding(per_token):
    x = rand(5, 32)
    q, s = w8a8.scaled_fp8_quant(x, num_token_padding=17, use_per_token_if_dynamic=per_token)
    assert q.shape == (17, 32)
    assert not q[5:].astype(np.float32).any()
    if per_token:
        assert s.shape == (17, 1) and (s[5:] == 1).all()
        np.testing.assert_array_equal(bits(q[:5]), bits(quantize(x, s[:5])))
    # padding smaller than M keeps M rows
    q2, _ = w8a8.scaled_fp8_quant(x, num_token_padding=2)
    assert q2.shape == (5, 32)


def test_static_per_token_scale():
    x = rand(4, 32)
    scale = np.array([[0.01], [0.02], [0.03], [0.04]], np.float32)
    q, s = w8a8.scaled_fp8_quant(x, scale)
    assert s is scale
    np.testing.assert_array_equal(bits(q), bits(quantize(x, scale)))


def test_output_buffer_is_written_and_returned():
    x = rand(3, 16)
    out = np.zeros((3, 16), F8)
    q, s = w8a8.scaled_fp8_quant(x, output=out)
    assert q is out
    np.testing.assert_array_equal(bits(out), bits(quantize(x, s.ravel()[0])))


def test_strided_rows_and_float_scale():
    big = rand(6, 64)
    x = big[::2, :32]  # row stride 128, last dim contiguous
    q, s = w8a8.scaled_fp8_quant(x, 0.05)
    np.testing.assert_array_equal(bits(q), bits(quantize(x, np.float32(0.05))))


def test_e4m3fnuz():
    x = rand(4, 32)
    q, s = w8a8.scaled_fp8_quant(x, fp8_dtype=F8UZ)
    assert q.dtype == np.dtype(F8UZ)
    np.testing.assert_allclose(s.ravel()[0], dyn_scale(x, F8UZ), rtol=1e-6)
    np.testing.assert_array_equal(bits(q), bits(quantize(x, s.ravel()[0], F8UZ)))


@pytest.mark.parametrize(
    "kwargs, exc, msg",
    [
        (dict(scale_ub=np.ones(1, np.float32)), ValueError, "scale_ub"),
        (dict(num_token_padding=8, output=np.empty((8, 16), F8)), ValueError, "num_token_padding"),
        (dict(scale=np.ones(3, np.float32)), ValueError, "scale: expected shape"),
        (dict(scale=np.ones(1, np.float32), use_per_token_if_dynamic=True, scale_ub=np.ones(1, np.float32)),
         ValueError, "scale_ub"),
    ],
)
def test_scaled_fp8_quant_errors(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        w8a8.scaled_fp8_quant(rand(4, 16), **kwargs)


def test_input_type_errors():
    with pytest.raises(TypeError, match="input: expected a bfloat16, float16 or float32"):
        w8a8.scaled_fp8_quant(rand(2, 16).astype(np.int32))
    with pytest.raises(ValueError, match="input: expected a 2-D tensor"):
        w8a8.scaled_fp8_quant(rand(2, 16)[0])
    with pytest.raises(TypeError, match="input: expected a numpy array or torch tensor"):
        w8a8.scaled_fp8_quant([[1.0, 2.0]])
    with pytest.raises(TypeError, match="no dtype for numpy dtype complex64"):
        w8a8.scaled_fp8_quant(rand(2, 16).astype(np.complex64))
    with pytest.raises(TypeError, match="dtype"):
        w8a8.scaled_fp8_quant(rand(2, 16), fp8_dtype="float99")


@pytest.mark.parametrize("g", [16, 32])
@pytest.mark.parametrize("column_major", [False, True])
@pytest.mark.parametrize("ue8m0", [False, True])
@pytest.mark.parametrize("m", [1, 3, 17])
def test_per_token_group(g, column_major, ue8m0, m):
    x = rand(m, 64, BF16)
    q, s = w8a8.per_token_group_quant_fp8(x, g, column_major_scales=column_major, use_ue8m0=ue8m0)
    rq, rs = group_quant(x, g, ue8m0=ue8m0)
    assert s.shape == (m, 64 // g)
    if column_major and m > 1:
        assert s.strides[0] == 4
    np.testing.assert_allclose(s, rs, rtol=1e-6)
    np.testing.assert_array_equal(bits(q), bits(rq))


def test_per_token_group_tiny_values_keep_precision():
    x = np.full((1, 16), 1e-20, np.float32)
    q, s = w8a8.per_token_group_quant_fp8(x, 16)
    np.testing.assert_allclose(s, np.float32(1e-10) / np.float32(448), rtol=1e-6)


def test_per_token_group_errors():
    with pytest.raises(ValueError, match="group_size: expected a positive group size"):
        w8a8.per_token_group_quant_fp8(rand(2, 64), 0)
    with pytest.raises(ValueError, match="x: expected a tensor"):
        w8a8.per_token_group_quant_fp8(rand(2, 64).reshape(-1), 16)


def test_per_block():
    w = rand(200, 150)
    q, s = w8a8.per_block_quant_fp8(w)
    assert s.shape == (2, 2)
    for i in range(2):
        for j in range(2):
            blk = w[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]
            rs = dyn_scale(blk)
            np.testing.assert_allclose(s[i, j], rs, rtol=1e-6)
            np.testing.assert_array_equal(bits(q[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]),
                                          bits(quantize(blk, s[i, j])))


class TestQuantFP8:
    def test_static(self):
        op = w8a8.QuantFP8(True, w8a8.GroupShape.PER_TENSOR)
        assert op.static and op.group_shape == w8a8.GroupShape.PER_TENSOR
        x = rand(3, 32)
        scale = np.array([0.02], np.float32)
        q, s = op(x, scale)
        assert s is scale
        np.testing.assert_array_equal(bits(q), bits(quantize(x, scale)))

    def test_dynamic_per_token_with_padding(self):
        op = w8a8.QuantFP8(False, w8a8.GroupShape.PER_TOKEN, num_token_padding=8)
        assert op.num_token_padding == 8
        x = rand(3, 32)
        q, s = op(x)
        assert q.shape == (8, 32) and s.shape == (8, 1)
        np.testing.assert_allclose(s[:3], dyn_scale(x, axis=1), rtol=1e-6)

    def test_group(self):
        op = w8a8.QuantFP8(False, w8a8.GroupShape(1, 16))
        x = rand(5, 64)
        q, s = op(x)
        rq, rs = group_quant(x, 16)
        np.testing.assert_array_equal(bits(q), bits(rq))

    @pytest.mark.parametrize(
        "args, call, msg",
        [
            ((True, w8a8.GroupShape.PER_TOKEN), None, "group_shape: static quantization supports only PER_TENSOR"),
            ((True, w8a8.GroupShape.PER_TENSOR), {}, "scale: static quantization requires a scale"),
            ((False, w8a8.GroupShape.PER_TENSOR), {"scale": np.ones(1, np.float32)}, "scale: dynamic"),
            ((False, w8a8.GroupShape(1, 16)), {"scale": np.ones(1, np.float32)}, "always dynamic"),
            ((False, w8a8.GroupShape.PER_CHANNEL), None, "group_shape"),
        ],
    )
    def test_errors(self, args, call, msg):
        with pytest.raises(ValueError, match=msg):
            op = w8a8.QuantFP8(*args)
            op(rand(2, 32), **call)
