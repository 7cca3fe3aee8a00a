"""A process that used the package exits cleanly: no nanobind "leaked" report on stderr (the library's objects
must all be released before nanobind's check at interpreter exit)."""
import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

NUMPY_SCRIPT = """
import numpy as np, ml_dtypes, w8a8
# Objects the numpy API creates, kept in module-level variables (and in a cycle) until the interpreter exits.
op = w8a8.Fp8LinearOp(act_quant_static=False, act_quant_group_shape=w8a8.GroupShape.PER_TOKEN)
quant = w8a8.QuantFP8(False, w8a8.GroupShape(1, 16))
cycle = {"op": w8a8.Fp8LinearOp(True)}
cycle["self"] = cycle
x = np.random.default_rng(0).standard_normal((4, 64)).astype(ml_dtypes.bfloat16)
w_q, w_s = w8a8.scaled_fp8_quant(np.random.default_rng(1).standard_normal((32, 64)).astype(np.float32),
                                 use_per_token_if_dynamic=True)
y = op.apply(x, w_q.T, w_s)
q, s = quant(x)
assert y.shape == (4, 32) and q.shape == (4, 64)
print("ok")
"""

TORCH_SCRIPT = """
import torch, w8a8, w8a8.nn
x = torch.randn(3, 5, 64, dtype=torch.bfloat16)
w = torch.randn(32, 64).to(torch.float8_e4m3fn)
# torch.ops.w8a8.fp8_linear caches its Fp8LinearOp per (static, group shape) in the module.
for static, group in ((False, [1, -1]), (False, [-1, -1]), (True, [-1, -1])):
    scale = torch.ones(1) if static else None
    y = torch.ops.w8a8.fp8_linear(x, w.t(), torch.ones(32, 1), scale, None, static, group)
    assert y.shape == (3, 5, 32)
layer = w8a8.nn.Fp8Linear.from_linear(torch.nn.Linear(64, 16, dtype=torch.bfloat16))
assert layer(x).shape == (3, 5, 16)
print("ok")
"""


def run(script):
    env = dict(os.environ)
    env.pop("W8A8_LOG_DISPATCH", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=300, env=env)


def check_clean(result):
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
    assert "leaked" not in result.stderr, result.stderr


def test_numpy_objects_released_at_exit():
    check_clean(run(NUMPY_SCRIPT))


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_torch_op_cache_released_at_exit():
    check_clean(run(TORCH_SCRIPT))
