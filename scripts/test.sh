#!/usr/bin/env bash
# The test command: set up (if needed), build the CPU preset, run every CPU test through CTest
# (C++ tests, the Python cross-checks, a bounded fuzz run). Where nvcc exists (CI has it, without a
# GPU), the CUDA preset is compiled too, with w8a8's Hopper kernels (CUTLASS headers fetched from the
# pinned PyPI wheel), so CUDA code that no longer builds fails here.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset cpu -DW8A8_PYTHON="$PWD/.venv/bin/python" >/dev/null
cmake --build --preset cpu -j "$(nproc)"
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="$PATH:/usr/local/cuda/bin"
  scripts/fetch-cutlass.sh
  cmake --preset cuda -DW8A8_PYTHON="$PWD/.venv/bin/python" -DW8A8_CUTLASS=ON >/dev/null
  cmake --build --preset cuda -j "$(nproc)"
fi
ctest --preset cpu -j "$(nproc)" "$@"
# The Python package: `pip install .` as users run it (Ninja, the same C++ library; where nvcc exists it builds the
# CUDA backends and w8a8's Hopper kernels on its own, and that is checked), into .venv, then its tests.
CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" .venv/bin/python -m pip install -q --disable-pip-version-check \
  --no-build-isolation ./
.venv/bin/python - <<'PY'
import os, shutil, w8a8
info = w8a8.build_info()
print("w8a8 package:", info)
if shutil.which("nvcc") or os.access("/usr/local/cuda/bin/nvcc", os.X_OK):
    assert "cublaslt" in info["backends"] and "cutlass_sm90" in info["backends"] and info["cutlass_kernels"] > 0, \
        "pip install . on a machine with nvcc built no CUDA backends / Hopper kernels"
PY
# torch, transformers and a real FP8 checkpoint (all-MiniLM-L6-v2 through `w8a8 quantize`) for the torch tests.
if [ "${W8A8_TEST_TORCH:-1}" != 0 ]; then
  stamp=.venv/.requirements-torch.installed
  if [ ! -f "$stamp" ] || ! cmp -s requirements-torch.txt "$stamp"; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-torch.txt
    cp requirements-torch.txt "$stamp"
  fi
  build/cpu/tools/cli/w8a8 quantize "$(scripts/get-model.sh)" -o build/minilm-fp8 --overwrite >/dev/null
  export W8A8_MINILM_FP8="$PWD/build/minilm-fp8"
fi
.venv/bin/python -m pytest -q tests/python/pkg
