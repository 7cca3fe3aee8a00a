#!/usr/bin/env bash
# Throughput and memory of `w8a8 quantize` (issue 4: >= 0.5 GB/s of bf16 input on 2 cores, files in
# the page cache; peak memory near the largest tensor, not the model).
#
#   scripts/bench-quantize.sh [BUILD_DIR] [LAYERS]
#
# 1. a synthetic Llama-shaped bf16 model (hidden 2048, intermediate 5632, LAYERS layers, 2 shards,
#    about 103 MB a layer) in models/bench-synthetic-LAYERS (generated once; needs .venv with numpy,
#    ml_dtypes and safetensors: scripts/setup.sh);
# 2. the real all-MiniLM-L6-v2 (fp32) when scripts/get-model.sh has installed it.
# Each input is read once first so that it is in the page cache; each run writes to a temporary
# folder that is removed afterwards. Prints one line per scheme: GB/s of input (wall clock), CPU
# seconds (user + system: the figure that other processes on a shared machine disturb least),
# and peak RSS. THREADS=N sets --threads (default: all cores).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
LAYERS="${2:-10}"
CLI="$BUILD/tools/cli/w8a8"
PY="$ROOT/.venv/bin/python"
[[ -x "$CLI" ]] || { echo "bench-quantize: no CLI at $CLI (build first)" >&2; exit 2; }
[[ -x "$PY" ]] || { echo "bench-quantize: no $PY (run scripts/setup.sh)" >&2; exit 2; }

SYN="$ROOT/models/bench-synthetic-$LAYERS"
if [[ ! -f "$SYN/config.json" ]]; then
  echo "bench-quantize: generating $SYN" >&2
  "$PY" - "$SYN" "$LAYERS" <<'PYEOF'
import json, os, sys
import numpy as np, ml_dtypes
from safetensors.numpy import save_file
out, layers = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
h, inter, vocab = 2048, 5632, 32000
rng = np.random.default_rng(0)
def w(n, k):
    return (rng.standard_normal((n, k), dtype=np.float32) * 0.02).astype(ml_dtypes.bfloat16)
shards = [{}, {}]
shards[0]["model.embed_tokens.weight"] = w(vocab, h)
for l in range(layers):
    s = shards[0 if l < layers // 2 else 1]
    p = f"model.layers.{l}."
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        s[p + "self_attn." + name + ".weight"] = w(h, h)
    s[p + "mlp.gate_proj.weight"] = w(inter, h)
    s[p + "mlp.up_proj.weight"] = w(inter, h)
    s[p + "mlp.down_proj.weight"] = w(h, inter)
    s[p + "input_layernorm.weight"] = np.ones(h, ml_dtypes.bfloat16)
    s[p + "post_attention_layernorm.weight"] = np.ones(h, ml_dtypes.bfloat16)
shards[1]["model.norm.weight"] = np.ones(h, ml_dtypes.bfloat16)
shards[1]["lm_head.weight"] = w(vocab, h)
wm = {}
for i, s in enumerate(shards):
    name = f"model-{i + 1:05d}-of-00002.safetensors"
    save_file(s, os.path.join(out, name), metadata={"format": "pt"})
    wm.update({k: name for k in s})
json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(out, "model.safetensors.index.json"), "w"))
json.dump({"architectures": ["LlamaForCausalLM"], "hidden_size": h, "intermediate_size": inter,
           "num_hidden_layers": layers, "torch_dtype": "bfloat16"}, open(os.path.join(out, "config.json"), "w"))
PYEOF
fi

MODELS=("$SYN")
REAL="$("$ROOT/scripts/get-model.sh" 2>/dev/null || true)"
[[ -n "$REAL" && -d "$REAL" ]] && MODELS+=("$REAL")

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
printf "%-22s %-12s %9s %8s %7s %8s %11s %9s\n" model scheme input seconds "GB/s" "CPU s" "GB/CPU-s" "peak RSS"
for model in "${MODELS[@]}"; do
  cat "$model"/*.safetensors > /dev/null  # into the page cache
  # One discarded run: the first after a pause pays for the kernel reclaiming and flushing memory.
  rm -rf "$TMP/out"
  "$CLI" quantize "$model" -o "$TMP/out" --json --no-progress > /dev/null
  for scheme in fp8-dynamic fp8-tensor fp8-block; do
    rm -rf "$TMP/out"
    "$CLI" quantize "$model" -o "$TMP/out" --scheme "$scheme" --json --no-progress ${THREADS:+-j "$THREADS"} \
      > "$TMP/report.json"
    "$PY" - "$TMP/report.json" "$(basename "$model")" "$scheme" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2][:22]:<22} {sys.argv[3]:<12} {r['bytes_in'] / 1e9:7.3f}GB {r['seconds']:8.2f} "
      f"{r['gb_per_s']:7.2f} {r['cpu_seconds']:8.2f} {r['bytes_in'] / 1e9 / max(r['cpu_seconds'], 1e-9):11.2f} "
      f"{r['peak_rss_mb']:7.0f}MB")
PYEOF
  done
done
