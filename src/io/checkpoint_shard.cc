// Splitting an FP8 checkpoint into tensor-parallel per-rank checkpoints (shard_weight does the math).
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "w8a8/checkpoint.h"
#include "w8a8/error.h"
#include "w8a8/parallel.h"

namespace w8a8 {
namespace {

namespace fs = std::filesystem;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "model.layers.0.self_attn.q_proj" matches "q_proj" (a whole trailing name component or components).
bool module_matches(const std::string& module, const std::vector<std::string>& patterns) {
  for (const std::string& p : patterns)
    if (module == p || ends_with(module, "." + p)) return true;
  return false;
}

struct Source {
  SafetensorsFile file;
  std::string name;  // output file name
};

}  // namespace

ShardCheckpointReport shard_checkpoint(const ShardCheckpointOptions& o) {
  W8A8_CHECK(o.world >= 1 && o.world <= 1024, "world: expected 1 to 1024 ranks, got ", o.world);
  std::error_code ec;
  const fs::path in(o.input), out(o.output);
  W8A8_CHECK(fs::is_directory(in, ec), "input: expected a checkpoint folder, got '", o.input, "'");
  W8A8_CHECK(!o.output.empty() && !fs::exists(out, ec), "output: expected a path that does not exist, got '",
             o.output, "'");
  std::vector<Source> sources;
  std::vector<fs::path> others;
  for (const auto& e : fs::directory_iterator(in, ec)) {
    if (!e.is_regular_file()) continue;
    if (e.path().extension() == ".safetensors")
      sources.push_back({SafetensorsFile::open(e.path().string()), e.path().filename().string()});
    else
      others.push_back(e.path());
  }
  W8A8_CHECK(!sources.empty(), "input: no .safetensors files in '", o.input, "'");

  // Modules to split: X.weight FP8, 2-D, named by a pattern.
  ShardCheckpointReport report;
  std::map<std::string, ParallelKind> kinds;
  for (const Source& s : sources)
    for (const SafetensorsEntry& e : s.file.entries()) {
      if (!ends_with(e.name, ".weight") || !is_fp8(e.dtype) || e.shape.size() != 2) continue;
      const std::string module = e.name.substr(0, e.name.size() - 7);
      if (module_matches(module, o.column)) kinds[module] = ParallelKind::kColumn;
      else if (module_matches(module, o.row)) kinds[module] = ParallelKind::kRow;
    }
  auto module_of = [&](const std::string& tensor, std::string* suffix) -> const std::string* {
    for (const char* sfx : {".weight", ".weight_scale", ".weight_scale_inv", ".bias", ".input_scale"}) {
      if (!ends_with(tensor, sfx)) continue;
      const auto it = kinds.find(tensor.substr(0, tensor.size() - std::string(sfx).size()));
      if (it == kinds.end()) continue;
      *suffix = sfx;
      return &it->first;
    }
    return nullptr;
  };
  auto find = [&](const std::string& name) -> std::optional<TensorView> {
    for (const Source& s : sources)
      if (s.file.contains(name)) return s.file.tensor(name);
    return std::nullopt;
  };
  auto scale_name_of = [&](const std::string& module) {
    return find(module + ".weight_scale") ? module + ".weight_scale" : module + ".weight_scale_inv";
  };
  // One rank's share of a split module: weight, scale and bias (a row-parallel bias on rank 0 only).
  auto shard_module = [&](const std::string& module, int rank) {
    const std::optional<TensorView> weight = find(module + ".weight"), scale = find(scale_name_of(module));
    W8A8_CHECK(scale.has_value(), "input: FP8 weight ", module, ".weight has no ", module, ".weight_scale(_inv)");
    return shard_weight(kinds[module], *weight, *scale, find(module + ".bias"), o.world, rank);
  };

  fs::create_directories(out, ec);
  W8A8_CHECK_KIND(ErrorKind::kRuntime, !ec, "output: cannot create '", o.output, "': ", ec.message());
  for (int rank = 0; rank < o.world; ++rank) {
    const fs::path dir = out / ("rank-" + std::to_string(rank));
    fs::create_directories(dir, ec);
    W8A8_CHECK_KIND(ErrorKind::kRuntime, !ec, "output: cannot create '", dir.string(), "': ", ec.message());
    nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
    size_t total_bytes = 0;
    for (const Source& s : sources) {
      // This rank's tensors of this file: shards of split modules, copies of everything else. A module's
      // scale and bias stay in the file that held them (the input's index says where each tensor is).
      std::map<std::string, Tensor> shards;
      std::map<std::string, TensorView> whole;
      for (const SafetensorsEntry& e : s.file.entries()) {
        std::string suffix;
        const std::string* module = module_of(e.name, &suffix);
        if (module == nullptr || suffix == ".input_scale") {
          whole.emplace(e.name, s.file.tensor(e.name));
          continue;
        }
        if (suffix != ".weight" && s.file.contains(*module + ".weight")) continue;  // written with the weight
        WeightShard w = shard_module(*module, rank);
        auto keep = [&](const std::string& name, Tensor t) {
          if (s.file.contains(name)) shards.emplace(name, std::move(t));
        };
        if (suffix == ".weight" || suffix == ".weight_scale" || suffix == ".weight_scale_inv") {
          keep(*module + ".weight", std::move(w.weight));
          keep(scale_name_of(*module), std::move(w.weight_scale));
        }
        if (w.bias) keep(*module + ".bias", std::move(*w.bias));
      }
      std::vector<SafetensorsSpec> specs;
      for (const auto& [name, t] : shards) specs.push_back({name, t.dtype(), t.sizes()});
      for (const auto& [name, t] : whole) specs.push_back({name, t.dtype(), t.sizes()});
      std::map<std::string, std::string> md = s.file.metadata();
      md["w8a8.tensor_parallel"] = std::to_string(rank) + "/" + std::to_string(o.world);
      SafetensorsWriter writer((dir / s.name).string(), specs, md);
      for (const auto& [name, t] : shards) writer.write(name, t);
      for (const auto& [name, t] : whole) writer.write(name, t);
      writer.commit();
      for (const SafetensorsSpec& sp : specs) {
        weight_map[sp.name] = s.name;
        int64_t n = 1;
        for (int64_t d : sp.shape) n *= d;
        total_bytes += size_t(n) * dtype_size(sp.dtype);
      }
      if (rank == 0) report.replicated_tensors += whole.size();
    }
    for (const fs::path& p : others) {
      if (ends_with(p.filename().string(), ".safetensors.index.json")) {
        // The rank's own index: its tensors (a row-parallel bias only on rank 0) and its byte count.
        const nlohmann::ordered_json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}};
        std::ofstream f(dir / p.filename());
        f << index.dump(2) << "\n";
        W8A8_CHECK_KIND(ErrorKind::kRuntime, bool(f), "output: cannot write ", (dir / p.filename()).string());
        continue;
      }
      fs::copy_file(p, dir / p.filename(), fs::copy_options::overwrite_existing, ec);
      W8A8_CHECK_KIND(ErrorKind::kRuntime, !ec, "output: cannot copy ", p.string(), ": ", ec.message());
    }
    report.ranks.push_back(dir.string());
  }
  for (const auto& [module, kind] : kinds)
    (kind == ParallelKind::kColumn ? report.column_modules : report.row_modules).push_back(module);
  return report;
}

}  // namespace w8a8
