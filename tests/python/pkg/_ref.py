"""float64 / float32 numpy references for the package tests, written from ../shared/spec, independent of the C++."""
import ml_dtypes
import numpy as np

F8 = ml_dtypes.float8_e4m3fn
F8UZ = ml_dtypes.float8_e4m3fnuz
BF16 = ml_dtypes.bfloat16
FP8_MAX = {F8: 448.0, F8UZ: 224.0}


def min_scale(fp8=F8):
    return np.float32(1.0 / (FP8_MAX[fp8] * 512.0))


def quantize(x, scale, fp8=F8):
    """q = fp8(sat(x * (1/scale))), the reciprocal in fp32, scale broadcast (one element or per row)."""
    xf = np.asarray(x).astype(np.float32)
    inv = (np.float32(1.0) / np.asarray(scale, dtype=np.float32)).astype(np.float32)
    y = (xf * inv).astype(np.float32)
    m = np.float32(FP8_MAX[fp8])
    return np.clip(y, -m, m).astype(fp8)


def dyn_scale(x, fp8=F8, axis=None, ub=None):
    amax = np.abs(np.asarray(x).astype(np.float32)).max(axis=axis, keepdims=axis is not None)
    if ub is not None:
        amax = np.minimum(amax, np.float32(ub))
    s = (amax.astype(np.float32) / np.float32(FP8_MAX[fp8])).astype(np.float32)
    return np.maximum(s, min_scale(fp8)).astype(np.float32)


def group_quant(x, g, fp8=F8, eps=1e-10, ue8m0=False):
    """x [..., K]: groups of g along K, the last one shorter when g does not divide K (vLLM's native path pads it
    with zeros, which change no amax). Returns (q [..., K], s [..., ceil(K/g)])."""
    xf = np.asarray(x).astype(np.float32)
    k = xf.shape[-1]
    ng = -(-k // g)
    rows = xf.reshape(-1, k)
    padded = np.zeros((rows.shape[0], ng * g), np.float32)
    padded[:, :k] = rows
    xg = padded.reshape(-1, ng, g)
    amax = np.abs(xg).max(axis=2)
    s = (np.maximum(amax, np.float32(eps)) / np.float32(FP8_MAX[fp8])).astype(np.float32)
    if ue8m0:
        s = np.exp2(np.ceil(np.log2(s.astype(np.float64)))).astype(np.float32)
    q = quantize(xg, s[:, :, None], fp8).reshape(-1, ng * g)[:, :k].reshape(xf.shape)
    return q, s.reshape(xf.shape[:-1] + (ng,))


def dequantize(t, inv_scale):
    """vLLM's per_tensor_dequantize, tensor.to(float16) * inv_scale, with torch's rules: broadcasting; the product
    of the fp16 value and the unrounded scale in float32; the result float16 for a Python float, a 0-dim scale or
    a float16 scale, else float32."""
    h = np.asarray(t).astype(np.float32).astype(np.float16).astype(np.float32)
    if isinstance(inv_scale, float):
        return (h * np.float32(inv_scale)).astype(np.float32).astype(np.float16)
    sc = np.asarray(inv_scale)
    out = np.float16 if sc.ndim == 0 or sc.dtype == np.float16 else np.float32
    return (h * sc.astype(np.float32)).astype(np.float32).astype(out)


def requantize(w, ws, widths):
    """vLLM's requantize_with_max_scale: (max scale as float32, codes uint8)."""
    fp8 = F8UZ if np.asarray(w).dtype == np.dtype(F8UZ) else F8
    sc = np.asarray(ws).astype(np.float32)  # fp16 / bf16 scales widen exactly
    mx = sc.max()
    codes = bits(w).copy()
    if sc[-1] > np.float32(-448.0):
        start = 0
        for width, s in zip(widths, sc):
            if width:
                deq = dequantize(np.asarray(w)[start:start + width], np.float32(s).reshape(()))  # a 0-dim scale
                codes[start:start + width] = bits(quantize(deq, mx, fp8))
            start += width
    return mx, codes


def channelwise(ws, widths):
    """vLLM's convert_to_channelwise: S scales of any shape, read in order."""
    sc = np.asarray(ws).astype(np.float32).reshape(-1)
    return np.concatenate([np.full((w, 1), v, np.float32) for v, w in zip(sc, widths)] + [np.zeros((0, 1), np.float32)])


def f64(x):
    return np.asarray(x).astype(np.float32).astype(np.float64)


def mm_ref(a, b, sa, sb, bias=None):
    """float64 (scale_a * a) @ (scale_b * b) + bias with per-tensor / per-token / per-channel scales."""
    sa = f64(sa)
    sb = f64(sb)
    A = f64(a) * (sa.reshape(-1, 1) if sa.size > 1 else sa.reshape(()))
    B = f64(b) * (sb.reshape(1, -1) if sb.size > 1 else sb.reshape(()))
    out = A @ B
    if bias is not None:
        out = out + f64(bias)
    return out


def block_mm_ref(a, b, sa, sb, blk=128):
    A = f64(a) * np.repeat(f64(sa), blk, axis=1)[:, : a.shape[1]]
    sbf = np.repeat(np.repeat(f64(sb), blk, axis=0), blk, axis=1)[: b.shape[0], : b.shape[1]]
    return A @ (f64(b) * sbf)


def rel_err(out, ref):
    return np.linalg.norm(f64(out) - ref) / np.linalg.norm(ref)


TOL = {np.dtype(BF16): 4e-3, np.dtype(np.float16): 1e-3, np.dtype(np.float32): 1e-5}


def bits(x):
    return np.asarray(x).view(np.uint8)
