// w8a8 tune: measure what scaled_mm could run on this GPU over a grid of shapes and write the chooser's cache.
#include <cstdio>
#include <memory>
#include <sstream>

#include "cli.h"
#include "w8a8/error.h"
#include "w8a8/tune.h"

namespace w8a8::cli {
namespace {

struct TuneArgs {
  std::string shapes;  // "" : the grid; "M,N,K;M,N,K..."
  std::string cache, measurements;
  int reps = 10;
  int device = 0;
  bool json = false;
};

std::vector<TuneShape> parse_shapes(const std::string& text) {
  std::vector<TuneShape> shapes;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ';')) {
    TuneShape s{};
    char extra = 0;
    W8A8_CHECK(std::sscanf(item.c_str(), "%ld,%ld,%ld%c", &s.m, &s.n, &s.k, &extra) == 3,
               "--shapes: expected 'M,N,K;M,N,K...', got '", item, "'");
    shapes.push_back(s);
  }
  return shapes;
}

int run_tune(TuneArgs& a) {
  TuneOptions o;
  if (!a.shapes.empty()) o.shapes = parse_shapes(a.shapes);
  o.cache_path = a.cache;
  o.measurements_path = a.measurements;
  o.reps = a.reps;
  o.progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  const TuneResult r = tune_scaled_mm(o, a.device);
  size_t own = 0;
  for (const TuneRow& row : r.chosen) own += row.kernel != "cublaslt";
  if (a.json) {
    nlohmann::json rows = nlohmann::json::array();
    for (const TuneRow& row : r.chosen)
      rows.push_back({{"M", row.m}, {"N", row.n}, {"K", row.k}, {"accumulation", row.fast ? "fast" : "promoted"},
                      {"scales", row.vec ? "token-channel" : "tensor"}, {"kernel", row.kernel}, {"us", row.us},
                      {"alt_us", row.alt_us}});
    print_json({{"device", r.device}, {"cache", r.cache_path}, {"measurements", r.measured.size()}, {"chosen", rows}});
    return kExitOk;
  }
  std::printf("%s: %zu choices (w8a8's kernels in %zu, cuBLASLt in %zu) from %zu measurements, written to %s\n",
              r.device.c_str(), r.chosen.size(), own, r.chosen.size() - own, r.measured.size(), r.cache_path.c_str());
  return kExitOk;
}

}  // namespace

void register_tune(CLI::App& app, Runner& run) {
  auto args = std::make_shared<TuneArgs>();
  CLI::App* cmd = app.add_subcommand(
      "tune",
      "Time cuBLASLt and w8a8's kernel configurations on this GPU (both accumulations, per-tensor and\n"
      "per-token x per-channel scales) and write the choice per shape to a cache that processes started\n"
      "afterwards use instead of the checked-in table (needs a CUDA build with -DW8A8_CUTLASS=ON).\n"
      "Default shapes: Llama-3 8B/70B and DeepSeek-V3 (N, K) x M in 1..8192 (a few minutes on an H100).");
  cmd->add_option("--shapes", args->shapes, "Shapes 'M,N,K;M,N,K...' (default: the grid)");
  cmd->add_option("--cache", args->cache,
                  "Cache file (default: $W8A8_TUNE_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/w8a8/tune.json)");
  cmd->add_option("--measurements", args->measurements,
                  "Also write every measurement as JSON (bench/make_selection_table.py's input)");
  cmd->add_option("--reps", args->reps, "Timed CUDA-graph replays per candidate (median)")->check(CLI::Range(1, 1000));
  cmd->add_option("--device", args->device, "CUDA device index");
  cmd->add_flag("--json", args->json, "Print JSON on stdout");
  run_when_chosen(cmd, run, args, run_tune);
}

}  // namespace w8a8::cli
