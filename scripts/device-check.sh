#!/usr/bin/env bash
# One call on the GPU machine: build the CUDA preset with ninja on every core, run the GPU tests,
# compute-sanitizer (memcheck, racecheck) over them, check the SASS of the GEMM kernels, then the
# benchmarks (w8a8-bench and torch in the same run). Logs land in $OUT; the summary table is last.
#
#   run on the device:  bash scripts/device-check.sh [layer|tests|sanitize|pkg|quick|quant|full|tune|explore|time]
#   (layer: one build through `pip install .` (the package users get, with the C++ tests in the same tree), the GPU
#    tests (GPU_TESTS: a gtest filter, or skip), the package's tests (PY_TESTS: paths, or skip), compute-sanitizer when
#    SANITIZE=1, then
#    TUNE=1: w8a8.tune_scaled_mm over the benchmark grid into build/tune-cache.json; then
#    bench/layer_vs_torch.py with $LAYER_ARGS (the layer as users call it against torch, same process; with
#    W8A8_TUNE_CACHE=build/tune-cache.json it runs on the tuned choices); FIDELITY=1: examples/minilm_fp8.py on the
#    GPU against the CPU backend's embeddings (carry models/minilm-fp8); E2E=1: bench/e2e_decoder.py with $E2E_ARGS;
#    tests: GPU + Python package tests, no benchmarks; sanitize: GPU tests and compute-sanitizer only;
#    pkg: build, GPU and Python package tests; quick: decode shapes;
#    quant: quantization only; full: everything; tune: time the cutlass configurations and write the
#    selection table to $OUT/selection_table.inc (TUNE_SHAPES=large: only M >= 1024, the other rows from the
#    checked-in tune JSONs); explore: the same over the candidate configurations too;
#    time: the cutlass tests and `w8a8-bench --time` over bench/time-specs.txt, for kernel development)
#   carry: third_party/cutlass (scripts/fetch-cutlass.sh fetches it here first) to build w8a8's Hopper kernels
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-full}
OUT=${OUT:-$PWD/build/device-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0  # never NVLink multicast on a shared host (KINDS.md)
summary=()
LOGS=build/device-logs; rm -rf "$LOGS"; mkdir -p "$LOGS"
time_specs() {  # w8a8-bench --time for each line of ${TIME_SPECS:-bench/time-specs.txt} -> $OUT/time.txt
  : > "$OUT/time.txt"
  while read -r shape acc scales specs; do
    [ -z "$shape" ] || [ "${shape#\#}" != "$shape" ] && continue
    # shellcheck disable=SC2086
    build/device/bench/w8a8-bench --reps 50 --time "$shape" "$acc" "$scales" $specs >> "$OUT/time.txt" 2>> "$LOGS/time.log"
  done < "${TIME_SPECS:-bench/time-specs.txt}"
}
step() {  # step NAME COMMAND...: runs, logs to $LOGS/NAME.log (all appended to $OUT/device.log), records pass/fail
  local name=$1; shift
  local t0=$SECONDS
  if "$@" >"$LOGS/$name.log" 2>&1; then
    summary+=("$(printf '%-22s ok    %4ds' "$name" $((SECONDS - t0)))")
  else
    summary+=("$(printf '%-22s FAIL  %4ds' "$name" $((SECONDS - t0)))")
    grep -B2 -A10 -E "Failure|ERROR|error:|what\(\)" "$LOGS/$name.log" | head -60
  fi
  { echo "===== $name"; cat "$LOGS/$name.log"; } >> "$OUT/device.log"
}

nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu --format=csv > "$LOGS/gpu.txt"
if [ "$mode" = layer ]; then
  preload="$(g++ -print-file-name=libstdc++.so.6)"
  cutlass=OFF
  [ -f third_party/cutlass/include/cutlass/cutlass.h ] && cutlass=ON
  # The package as users install it; its build tree also holds the C++ tests and benchmarks (build/device).
  step pip-install env CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" python3 -m pip install -v --no-build-isolation --no-deps \
    --no-cache-dir -C build-dir=build/device -C cmake.define.W8A8_CUDA=ON -C cmake.define.W8A8_CUTLASS=$cutlass \
    -C cmake.define.W8A8_BUILD_TESTS=ON -C cmake.define.W8A8_BUILD_BENCH=ON -C cmake.define.W8A8_PY_STUBS=OFF ./
  grep -E "Built target|Linking" "$LOGS/pip-install.log" | tail -n 2
  [ "${GPU_TESTS:-}" != skip ] && step gpu-tests build/device/tests/w8a8_gpu_tests --gtest_filter="${GPU_TESTS:-*}"
  # shellcheck disable=SC2086
  [ "${PY_TESTS:-}" != skip ] && step py-tests env LD_PRELOAD="$preload" python3 -m pytest -q -rs ${PY_TESTS:-tests/python/pkg}
  if [ -n "${SANITIZE:-}" ]; then
    step memcheck compute-sanitizer --tool memcheck --error-exitcode 1 build/device/tests/w8a8_gpu_tests \
      --gtest_filter="${SANITIZE_TESTS:-GpuLinear.*:GpuBlockLinear.*:GpuDispatch*:GpuWeights.*:GpuScaledMm.Blockwise*}"
    [ "$SANITIZE" != memcheck ] && step racecheck compute-sanitizer --tool racecheck --error-exitcode 1 build/device/tests/w8a8_gpu_tests \
      --gtest_filter="${SANITIZE_TESTS:-GpuLinear.*:GpuBlockLinear.*:GpuDispatch*:GpuWeights.*:GpuScaledMm.Blockwise*}"
  fi
  if [ -n "${TUNE:-}" ]; then
    # TUNE_ACC: promoted,fast (default) or one of them.
    # `w8a8 tune` over the benchmark grid (Python entry: the package's build has no CLI): the cache the chooser
    # reads (build/tune-cache.json, kept for the next call) and every measurement (the checked-in table's input).
    step tune env LD_PRELOAD="$preload" timeout "${TUNE_SECONDS:-420}" python3 -c "import w8a8, json, sys
r = w8a8.tune_scaled_mm(cache_path='build/tune-cache.json', measurements_path='$OUT/tune-measurements.json',
                        reps=int('${TUNE_REPS:-8}'), accumulations='${TUNE_ACC:-promoted,fast}'.split(','))
own = sum(c['kernel'] != 'cublaslt' for c in r['chosen'])
print(r['device'], len(r['chosen']), 'choices,', own, 'own kernels,', r['measurements'], 'measurements')"
    cp build/tune-cache.json "$OUT/tune-cache.json" 2>/dev/null
    tail -n 2 "$LOGS/tune.log"
  fi
  if [ -n "${LAYER_ARGS:-}" ]; then
    # shellcheck disable=SC2086
    LD_PRELOAD="$preload" timeout "${LAYER_SECONDS:-400}" python3 bench/layer_vs_torch.py --json "$OUT/layer.json" \
      $LAYER_ARGS 2>"$LOGS/layer.err" | tee "$OUT/layer.txt"
    tail -n 5 "$LOGS/layer.err"
  fi
  if [ -n "${FIDELITY:-}" ]; then
    # The MiniLM FP8 checkpoint (carried: models/minilm-fp8, 58.7 MB, so no CUTLASS headers in the same call) on the
    # GPU backends against the CPU backend's embeddings of the same checkpoint.
    ckpt=${FIDELITY_CKPT:-models/minilm-fp8}
    step fidelity env LD_PRELOAD="$preload" python3 examples/minilm_fp8.py "$ckpt" --device cuda \
      --compare "${FIDELITY_REF:-docs/data/minilm-fp8-cpu-embeddings.json}" --save "$OUT/$(basename "$ckpt")-cuda-embeddings.json"
    grep -E "LoadReport|cosine" "$LOGS/fidelity.log"
  fi
  if [ -n "${E2E:-}" ]; then
    # bench/e2e_decoder.py: Llama-3.1-8B architecture as bf16 / w8a8 / torch-fp8, prefill and CUDA-graph decode.
    # shellcheck disable=SC2086
    LD_PRELOAD="$preload" W8A8_COMMIT="${W8A8_COMMIT:-}" timeout "${E2E_SECONDS:-450}" python3 bench/e2e_decoder.py \
      --out "$OUT/e2e.json" ${E2E_ARGS:-} 2>"$LOGS/e2e.err" | tee "$OUT/e2e.txt"
    tail -n 5 "$LOGS/e2e.err"
  fi
  cat "$LOGS/gpu.txt"
  grep -h -E "^\[  (PASSED|FAILED) |ERROR SUMMARY|passed|failed" "$LOGS"/gpu-tests.log "$LOGS"/py-tests.log \
    "$LOGS"/memcheck.log "$LOGS"/racecheck.log 2>/dev/null | tail -n 12
  cp "$OUT/device.log" "$OUT/device-full.log" 2>/dev/null
  printf '%s\n' "${summary[@]}"
  exit 0
fi
# w8a8's own Hopper kernels when the CUTLASS headers came along (carry third_party/cutlass).
cutlass_flag=-DW8A8_CUTLASS=OFF
[ -f third_party/cutlass/include/cutlass/cutlass.h ] && cutlass_flag=-DW8A8_CUTLASS=ON
explore_flag=-DW8A8_CUTLASS_EXPLORE=OFF
[ "$mode" = explore ] && explore_flag=-DW8A8_CUTLASS_EXPLORE=ON
# TIME_EXPLORE=REGEX (any mode): also build the candidates whose names match, e.g. TIME_EXPLORE='overlap|stagger';
# the GPU tests and compute-sanitizer then cover them too.
[ -n "${TIME_EXPLORE:-}" ] && explore_flag="-DW8A8_CUTLASS_EXPLORE=ON"
explore_filter="-DW8A8_CUTLASS_EXPLORE_FILTER=${TIME_EXPLORE:-}"
step configure cmake -S . -B build/device -G Ninja -DCMAKE_BUILD_TYPE=Release -DW8A8_CUDA=ON -DW8A8_BUILD_CLI=OFF \
  "$cutlass_flag" "$explore_flag" "$explore_filter"
step build cmake --build build/device -j "$(nproc)"
# The Python package with the CUDA backends (same sources, its own build tree), then its tests with torch.
if [ "$mode" = tests ] || [ "$mode" = pkg ]; then
  step py-install python3 -m pip install -v --no-build-isolation --no-deps --no-cache-dir \
    -C cmake.define.W8A8_CUDA=ON -C cmake.define.W8A8_PY_STUBS=OFF -C build-dir=build/py-device ./
  step py-tests env LD_PRELOAD="$(g++ -print-file-name=libstdc++.so.6)" python3 -m pytest -q -rs tests/python/pkg
fi
if [ "$mode" = time ]; then
  # Kernel development: correctness of the cutlass configurations (TIME_TESTS: a gtest filter), torch's rows
  # (TIME_TORCH=decode|large|all), then `w8a8-bench --time` for each line of ${TIME_SPECS:-bench/time-specs.txt}
  # ("M,N,K promoted|fast per_tensor|rowwise SPEC...", appended to $OUT/time.txt line by line, so a run cut short
  # by its time limit keeps what it measured).
  step cutlass-tests build/device/tests/w8a8_gpu_tests --gtest_filter="${TIME_TESTS:-GpuScaledMm.Cutlass*}"
  # SASS of the candidates being explored: matrix instructions, conversions, local-memory traffic, resources.
  for o in $(find build/device -path "*cutlass_sm90*" -name "*.o" | grep -E "${TIME_EXPLORE:-gemv}" | sort); do
    echo "== $(basename "$o")"
    cuobjdump --dump-sass "$o" | grep -oE "\b(QGMMA|HGMMA|HMMA|QMMA|F2FP|LDL|STL)[A-Z0-9_.]*" | sort | uniq -c
    cuobjdump --dump-resource-usage "$o" 2>/dev/null | grep -oE "REG:[0-9]+ STACK:[0-9]+" | sort -u
  done > "$OUT/sass.txt" 2>&1
  step bench-torch python3 bench/torch_baseline.py --json "$OUT/torch.json" --shapes "${TIME_TORCH:-decode}"
  python3 bench/compare.py --torch-only "$OUT/torch.json" > "$OUT/torch.txt" 2>&1
  time_specs
  # The same rows as a tune JSON (bench/time_to_tune.py): make_selection_table.py can take them for these groups.
  python3 bench/time_to_tune.py "$OUT/time.txt" --device "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)" \
    > "$OUT/time-tune.json"
  grep -h "\[accuracy\]" "$LOGS/cutlass-tests.log" > "$OUT/accuracy.txt"
  cat "$LOGS/gpu.txt" "$OUT/sass.txt" "$OUT/accuracy.txt" "$OUT/torch.txt" "$OUT/time.txt"
  grep -h -E "^\[  (PASSED|FAILED) " "$LOGS"/cutlass-tests.log
  printf '%s\n' "${summary[@]}"
  exit 0
fi
if [ "$mode" = tune ] || [ "$mode" = explore ]; then
  # Every configuration must compute right before its timing counts.
  step cutlass-tests build/device/tests/w8a8_gpu_tests --gtest_filter='GpuScaledMm.Cutlass*:GpuScaledMm.FirstCall*'
  # Bounded (the harness's shapes come first; results are written after every shape).
  step tune timeout "${W8A8_TUNE_SECONDS:-300}" build/device/bench/w8a8-bench \
    --tune "$([ "$mode" = explore ] && echo explore || echo "${TUNE_SHAPES:-table}")" --reps 20 --json "$OUT/tune.json"
  mkdir -p build/tune-out
  cp "$OUT/tune.json" build/tune-out/
  # The checked-in table, whose block for this device the run replaces (other devices' blocks stay).
  cp src/scaled_mm/cutlass_sm90/selection_table.inc build/tune-out/selection_table.inc
  # Shapes the time limit cut off keep this device's checked-in measurements (docs/plots/tune-*.json of the
  # same device, later names winning: name them tune-<device>-<date>[b].json).
  fallback=$(ls docs/plots/tune-*.json 2>/dev/null | sort)
  # The promotion interval: the longest whose printed accuracy (CutlassAccumulationAccuracyLongK) meets the bound.
  # shellcheck disable=SC2086
  step table python3 bench/make_selection_table.py "$OUT/tune.json" --accuracy "$LOGS/cutlass-tests.log" \
    --out build/tune-out/selection_table.inc ${fallback:+--fallback $fallback}
  [ "$mode" = tune ] && [ -n "${TIME_SPECS:-}" ] && time_specs
  cp build/tune-out/selection_table.inc "$OUT/"
  grep -E "^tune " "$LOGS/tune.log" > "$OUT/tune-summary.txt"
  grep -h "\[accuracy\]" "$LOGS/cutlass-tests.log" > "$OUT/accuracy.txt"
fi
if [ "$mode" = tune ] || [ "$mode" = explore ]; then
  cat "$LOGS/gpu.txt" "$OUT/tune-summary.txt" "$OUT/accuracy.txt" "$LOGS/table.log" "$OUT/time.txt"
  grep -h -E "^\[  (PASSED|FAILED) " "$LOGS"/cutlass-tests.log
  tail -n 3 "$LOGS"/py-tests.log 2>/dev/null
  printf '%s\n' "${summary[@]}"
  exit 0
fi
step gpu-tests build/device/tests/w8a8_gpu_tests
[ -n "${SKIP_CPU_TESTS:-}" ] || step cpu-tests build/device/tests/w8a8_cpu_tests --gtest_filter='-*Exhaustive*'
if [ "$mode" != quant ]; then
  step memcheck compute-sanitizer --tool memcheck --error-exitcode 1 build/device/tests/w8a8_gpu_tests \
    --gtest_filter='GpuQuant.*:GpuScaledMm.Blockwise*:GpuScaledMm.Unfused*:GpuScaledMm.UnalignedShapesFallBack:GpuScaledMm.CutlassAutomatic*:GpuScaledMm.CutlassOwnMainloops*:GpuScaledMm.FirstCall*:GpuLinear.OutVariant*:GpuDispatch*'
  step racecheck compute-sanitizer --tool racecheck --error-exitcode 1 build/device/tests/w8a8_gpu_tests \
    --gtest_filter='GpuQuant.PerToken*:GpuQuant.BlockQuant*:GpuScaledMm.UnalignedShapesFallBack:GpuScaledMm.FirstCall*:GpuScaledMm.CutlassAutomatic*:GpuScaledMm.CutlassOwnMainloops*'
fi
# SASS: FP8 matrix instructions (QGMMA) in the GEMM kernels that are ours.
cuobjdump --dump-sass build/device/libw8a8.a > "$LOGS/sass.txt" 2>/dev/null
echo "QGMMA instructions in libw8a8.a: $(grep -c QGMMA "$LOGS/sass.txt")" > "$LOGS/sass-summary.txt"

case "$mode" in
  tests|sanitize) shapes= ;;
  full) shapes=all; torch_flags= ;;
  quant) shapes=quant; torch_flags=--quant-only ;;
  *) shapes=decode; torch_flags=--quick ;;
esac
if [ -n "$shapes" ]; then
  step bench-w8a8 build/device/bench/w8a8-bench --shapes "$shapes" --json "$OUT/w8a8.json"
  step bench-torch python3 bench/torch_baseline.py --json "$OUT/torch.json" $torch_flags
  python3 bench/compare.py "$OUT/w8a8.json" "$OUT/torch.json" > "$OUT/compare.txt" 2>&1
fi

echo
cat "$LOGS/gpu.txt" "$LOGS/sass-summary.txt"
grep -h -E "^\[  (PASSED|FAILED) |ERROR SUMMARY" "$LOGS"/gpu-tests.log "$LOGS"/cpu-tests.log "$LOGS"/memcheck.log "$LOGS"/racecheck.log 2>/dev/null
tail -n 3 "$LOGS"/py-tests.log 2>/dev/null
[ -f "$OUT/compare.txt" ] && cat "$OUT/compare.txt"
printf '%s\n' "${summary[@]}"
