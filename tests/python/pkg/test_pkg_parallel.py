"""Tensor-parallel sharding from Python (numpy + ml_dtypes, CPU)."""
import numpy as np
import pytest

import w8a8
from _ref import BF16, F8, bits

RNG = np.random.default_rng(7)


def fp8(n, k):
    return (RNG.standard_normal((n, k)) * 50).astype(np.float32).astype(F8)


@pytest.mark.parametrize("world", [1, 2, 4])
def test_shard_weight_column_and_row(world):
    n, k = 256, 512
    w = fp8(n, k)
    ws = (RNG.random((n, 1)) * 0.01 + 0.001).astype(np.float32)
    bias = RNG.standard_normal(n).astype(np.float32).astype(BF16)
    for rank in range(world):
        cw, cs, cb = w8a8.shard_weight("column", w, ws, bias, world=world, rank=rank)
        rows = slice(rank * n // world, (rank + 1) * n // world)
        np.testing.assert_array_equal(bits(cw), bits(w[rows]))
        np.testing.assert_array_equal(cs, ws[rows])
        np.testing.assert_array_equal(bits(cb), bits(bias[rows]))
        rw, rs, rb = w8a8.shard_weight("row", w, ws, bias, world=world, rank=rank)
        cols = slice(rank * k // world, (rank + 1) * k // world)
        np.testing.assert_array_equal(bits(rw), bits(w[:, cols]))
        np.testing.assert_array_equal(rs, ws)
        assert (rb is not None) == (rank == 0)


def test_shard_merged_column_parallel_takes_the_max_scale():
    w = fp8(64, 32)
    scales = np.array([0.02, 0.05, 0.01], np.float32)
    sw, ss, sb = w8a8.shard_merged_column_parallel(w, scales, [32, 16, 16], world=2, rank=1)
    assert sw.shape == (32, 32) and ss.shape == (1,) and ss[0] == np.float32(0.05) and sb is None


def test_shard_errors():
    w = fp8(96, 64)
    with pytest.raises(ValueError, match="kind: expected 'column' or 'row'"):
        w8a8.shard_weight("diagonal", w, np.ones(1, np.float32), world=2, rank=0)
    with pytest.raises(ValueError, match="does not split evenly over 5 ranks"):
        w8a8.shard_weight("column", w, np.ones(1, np.float32), world=5, rank=0)
    with pytest.raises(ValueError, match="rank: expected 0 <= rank < world"):
        w8a8.shard_weight("row", w, np.ones(1, np.float32), world=2, rank=2)


def test_shard_checkpoint_refuses_a_missing_input(tmp_path):
    with pytest.raises(ValueError, match="input: expected a checkpoint folder"):
        w8a8.shard_checkpoint(str(tmp_path / "missing"), str(tmp_path / "out"), 2)
