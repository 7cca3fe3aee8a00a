// Tuning without recompiling: measure what scaled_mm could run on this device over a grid of shapes and write
// the choice to a cache that the chooser reads at its first use of the device (spec: measured, not guessed).
//
// For every shape, accumulation (promoted, fast) and scale kind (per-tensor, per-token x per-channel), the
// candidates are cuBLASLt and w8a8's kernel configurations of the regime (swap-AB tiles for few tokens, the
// weight-streaming kernel for a handful, cooperative tiles for many), then tile-order / prefetch knobs of the
// fastest; each is timed as a CUDA graph of calls over weight copies filling >= 256 MB, median of `reps`
// replays. A configuration is chosen where it beats cuBLASLt by >= 1 % (the noise of these timings); elsewhere
// the row says cuBLASLt. The cache names the device and this build's configurations: another device's or build's
// cache is refused (with a message) and the checked-in table is used.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace w8a8 {

struct TuneShape {
  int64_t m, n, k;
};

// The grid of bench/layer_vs_torch.py: Llama-3 8B/70B and DeepSeek-V3 (N, K) x M from 1 to 8192.
std::vector<TuneShape> tune_grid();

struct TuneOptions {
  std::vector<TuneShape> shapes;  // empty: tune_grid()
  bool promoted = true, fast = true;
  bool per_tensor = true, rowwise = true;
  int reps = 10;
  double margin = 0.01;     // a configuration must beat cuBLASLt by this fraction
  std::string cache_path;   // where to write; "" = $W8A8_TUNE_CACHE, else the user's cache folder
  std::string measurements_path;  // optional: every measurement, as `w8a8-bench --tune` JSON (for the table)
  std::function<void(const std::string&)> progress;  // one line per tuned group, if set
};

struct TuneRow {
  int64_t m, n, k;
  bool fast, vec;
  std::string kernel;  // "cublaslt" or "configuration[:knobs]"
  double us;
  double alt_us = 0;   // chosen rows: the best other candidate's time
};

struct TuneResult {
  std::string device;
  std::string cache_path;
  std::vector<TuneRow> chosen;    // one per (shape, accumulation, scale kind)
  std::vector<TuneRow> measured;  // every candidate timed
};

// Tunes on CUDA device `device`; needs a CUDA build with w8a8's Hopper kernels (kUnsupported otherwise). The
// running process keeps its decisions; processes started afterwards read the cache.
TuneResult tune_scaled_mm(const TuneOptions& options, int device = 0);

}  // namespace w8a8
