#!/usr/bin/env bash
# Fuzzes the safetensors header parser with libFuzzer under ASan + UBSan for a bounded time.
#
#   scripts/fuzz-safetensors.sh [SECONDS=60] [JOBS=1]
#
# Needs clang with libFuzzer (Debian: clang). Builds build/fuzz/fuzz_safetensors_header from the
# few sources the parser uses, seeds a corpus with valid files of every dtype, runs, and prints
# libFuzzer's final stats (number of executions). Exit code 0: no finding; crash inputs are left in
# build/fuzz/ as crash-*.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_TO_RUN="${1:-60}"
JOBS="${2:-1}"
OUT="$ROOT/build/fuzz"
CXX="${FUZZ_CXX:-clang++}"
command -v "$CXX" >/dev/null || { echo "fuzz: $CXX not found (apt-get install clang)" >&2; exit 2; }
mkdir -p "$OUT/corpus"

"$CXX" -std=c++17 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$ROOT/include" -I"$ROOT/src" \
  "$ROOT/tests/fuzz/fuzz_safetensors_header.cc" "$ROOT/src/io/safetensors.cc" \
  "$ROOT/src/common/error.cc" "$ROOT/src/common/dtype.cc" "$ROOT/src/tensor/tensor.cc" \
  -o "$OUT/fuzz_safetensors_header"

# Seeds: small valid files (every dtype, metadata, empty and scalar tensors) and near misses.
python3 - "$OUT/corpus" <<'PYEOF'
import json, os, struct, sys
out = sys.argv[1]
sizes = {"F8_E4M3": 1, "F8_E5M2": 1, "BF16": 2, "F16": 2, "F32": 4, "F64": 8, "I8": 1, "U8": 1, "I32": 4, "I64": 8}
def write(name, header, data):
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    open(os.path.join(out, name), "wb").write(struct.pack("<Q", len(text)) + text + data)
header, off = {"__metadata__": {"format": "pt"}}, 0
for i, (dt, sz) in enumerate(sizes.items()):
    shape = [2, i + 1]
    n = 2 * (i + 1) * sz
    header[f"t{i}"] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + n]}
    off += n
write("all_dtypes", header, bytes(range(256)) * (off // 256 + 1))
write("all_dtypes_exact", header, (bytes(range(256)) * (off // 256 + 1))[:off])
write("empty", {}, b"")
write("scalar", {"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}, b"\0\0\x80\x3f")
write("zero_size", {"z": {"dtype": "BF16", "shape": [0, 3], "data_offsets": [0, 0]}}, b"")
write("two", {"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
              "b": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}}, b"abcd")
PYEOF

cd "$OUT"
./fuzz_safetensors_header -max_total_time="$SECONDS_TO_RUN" -jobs="$JOBS" -workers="$JOBS" \
  -max_len=4096 -print_final_stats=1 corpus 2>&1 | tee "$OUT/fuzz.log" | grep -E "stat::|Done|ERROR|SUMMARY|crash" || true
if ls "$OUT"/crash-* "$OUT"/leak-* "$OUT"/timeout-* >/dev/null 2>&1; then
  echo "fuzz: FINDINGS in $OUT" >&2
  exit 1
fi
echo "fuzz: no finding in ${SECONDS_TO_RUN}s"
