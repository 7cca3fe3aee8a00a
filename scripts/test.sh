#!/usr/bin/env bash
# The test command: set up (if needed), build the CPU preset, run every CPU test through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset cpu -DW8A8_PYTHON="$PWD/.venv/bin/python" >/dev/null
cmake --build --preset cpu -j "$(nproc)"
ctest --preset cpu -j "$(nproc)" "$@"
