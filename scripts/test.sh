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
# The Python package: build it (CPU, Ninja, the same C++ library) into .venv and run its tests.
CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" .venv/bin/python -m pip install -q --disable-pip-version-check \
  --no-build-isolation ./
.venv/bin/python -m pytest -q tests/python/pkg
