"""w8a8's FP8 / bf16 / fp16 conversions against ml_dtypes and numpy, bit for bit."""
import subprocess

import ml_dtypes
import numpy as np
import pytest

FP8 = {
    "e4m3fn": ml_dtypes.float8_e4m3fn,
    "e4m3fnuz": ml_dtypes.float8_e4m3fnuz,
    "e5m2": ml_dtypes.float8_e5m2,
}


def boundary_sweep() -> np.ndarray:
    """Every FP8 value and midpoint of every format, and the 16 fp32 neighbours of each."""
    centers = []
    for dt in FP8.values():
        v = np.arange(256, dtype=np.uint8).view(dt).astype(np.float64)
        v = np.unique(v[np.isfinite(v)])
        centers += [v, (v[1:] + v[:-1]) / 2]
        step = v[-1] - v[-2]
        centers.append(np.array([v[-1] + step / 2, v[-1] + step]))
    c = np.concatenate(centers).astype(np.float32)
    c = np.concatenate([c, -c])
    bits = c.view(np.uint32).astype(np.int64)
    offsets = np.arange(-8, 9)
    return (bits[:, None] + offsets[None, :]).astype(np.uint32).ravel().view(np.float32)


def inputs() -> dict:
    rng = np.random.default_rng(7)
    every16 = np.arange(65536, dtype=np.uint16)
    return {
        "fp16": every16.view(np.float16).astype(np.float32),
        "bf16": every16.view(ml_dtypes.bfloat16).astype(np.float32),
        "boundaries": boundary_sweep(),
        "random_bits": rng.integers(0, 2**32, 1_000_000, dtype=np.uint64).astype(np.uint32).view(np.float32),
        "random_range": (rng.uniform(-1, 1, 1_000_000) * 2.0 ** rng.integers(-24, 18, 1_000_000)).astype(np.float32),
    }


def convert(build_dir, tmp_path, x: np.ndarray) -> dict:
    tool = build_dir / "tests" / "fp8_convert"
    if not tool.exists():
        pytest.skip(f"{tool} is not built")
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    x.astype("<f4").tofile(src)
    subprocess.run([str(tool), str(src), str(dst)], check=True)
    raw = np.fromfile(dst, dtype=np.uint8)
    n = x.size
    halves = raw[4 * n:].view("<u2")
    return {
        "e4m3fn": raw[:n], "e4m3fnuz": raw[n:2 * n], "e5m2": raw[2 * n:3 * n],
        "e4m3fn_sat": raw[3 * n:4 * n], "bf16": halves[:n], "fp16": halves[n:],
    }


def same_codes(got: np.ndarray, want_values: np.ndarray, dtype) -> np.ndarray:
    """Mismatch mask, counting any NaN code as equal to any NaN code."""
    want = want_values.view(np.uint8) if want_values.dtype.itemsize == 1 else want_values.view(np.uint16)
    got_nan = np.isnan(got.view(dtype).astype(np.float32))
    want_nan = np.isnan(want_values.astype(np.float32))
    return ~((got == want) | (got_nan & want_nan))


@pytest.mark.parametrize("name", list(inputs().keys()))
def test_conversions_match_ml_dtypes(build_dir, tmp_path, name):
    x = inputs()[name]
    got = convert(build_dir, tmp_path, x)
    with np.errstate(all="ignore"):
        for fmt, dt in FP8.items():
            bad = same_codes(got[fmt], x.astype(dt), dt)
            assert bad.sum() == 0, f"{fmt}: {bad.sum()} mismatches, first x={x[bad][:5]}"
        # Saturating quantization = clamp to +-448, then ml_dtypes' conversion.
        sat = np.clip(x, -448, 448).astype(ml_dtypes.float8_e4m3fn)
        bad = same_codes(got["e4m3fn_sat"], sat, ml_dtypes.float8_e4m3fn)
        assert bad.sum() == 0, f"saturating: {bad.sum()} mismatches, first x={x[bad][:5]}"
        bad = same_codes(got["bf16"], x.astype(ml_dtypes.bfloat16), ml_dtypes.bfloat16)
        assert bad.sum() == 0, f"bf16: {bad.sum()} mismatches, first x={x[bad][:5]}"
        bad = same_codes(got["fp16"], x.astype(np.float16), np.float16)
        assert bad.sum() == 0, f"fp16: {bad.sum()} mismatches, first x={x[bad][:5]}"


def test_bf16_and_fp16_convert_directly_like_through_fp32():
    """ml_dtypes' direct bf16->fp8 and fp16->fp8 casts agree with the fp32 path w8a8 takes."""
    every16 = np.arange(65536, dtype=np.uint16)
    with np.errstate(all="ignore"):
        for src in (every16.view(ml_dtypes.bfloat16), every16.view(np.float16)):
            for dt in FP8.values():
                direct = src.astype(dt)
                via32 = src.astype(np.float32).astype(dt)
                assert (same_codes(direct.view(np.uint8), via32, dt)).sum() == 0
