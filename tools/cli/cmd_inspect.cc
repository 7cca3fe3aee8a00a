// w8a8 inspect PATH: what a safetensors checkpoint holds.
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "cli.h"
#include "w8a8/checkpoint.h"
#include "w8a8/io.h"

namespace w8a8::cli {

namespace {

struct InspectArgs {
  std::string path;
  bool json = false;
  bool summary = false;
};

int run_inspect(const InspectArgs& a) {
  using nlohmann::json;
  const SafetensorsCheckpoint ck = SafetensorsCheckpoint::open(a.path);
  const CheckpointInfo info = detect_checkpoint(a.path, ck);

  struct DtypeTotal {
    size_t tensors = 0;
    uint64_t bytes = 0;
  };
  std::map<std::string, DtypeTotal> by_dtype;
  uint64_t total = 0;
  size_t count = 0;
  for (const SafetensorsFile& f : ck.shards())
    for (const SafetensorsEntry& e : f.entries()) {
      DtypeTotal& t = by_dtype[safetensors_dtype_name(e.dtype)];
      ++t.tensors;
      t.bytes += e.nbytes();
      total += e.nbytes();
      ++count;
    }

  if (a.json) {
    json shards = json::array();
    for (const SafetensorsFile& f : ck.shards()) {
      json tensors = json::array();
      if (!a.summary)
        for (const std::string& name : f.names()) {
          const SafetensorsEntry& e = f.entry(name);
          json shape = json::array();
          for (int64_t d : e.shape) shape.push_back(d);
          tensors.push_back({{"name", e.name},
                             {"dtype", safetensors_dtype_name(e.dtype)},
                             {"shape", shape},
                             {"data_offsets", {e.begin, e.end}}});
        }
      json s = {{"path", f.path()}, {"file_size", f.file_size()}, {"metadata", f.metadata()}};
      if (!a.summary) s["tensors"] = tensors;
      shards.push_back(s);
    }
    json dtypes = json::object();
    for (const auto& [name, t] : by_dtype) dtypes[name] = {{"tensors", t.tensors}, {"bytes", t.bytes}};
    print_json({{"path", a.path},
                {"index", ck.index_path()},
                {"format", info.format},
                {"scheme", info.scheme},
                {"detected_from", info.source},
                {"quantized_layers", info.quantized_layers},
                {"ignore", info.ignore},
                {"tensors", count},
                {"bytes", total},
                {"by_dtype", dtypes},
                {"shards", shards}});
    return kExitOk;
  }

  std::printf("%s\n", a.path.c_str());
  std::printf("  %zu tensors, %s in %zu file%s%s\n", count, human_bytes(total).c_str(), ck.shards().size(),
              ck.shards().size() == 1 ? "" : "s",
              ck.index_path().empty()
                  ? ""
                  : (" (index " + std::filesystem::path(ck.index_path()).filename().string() + ")").c_str());
  std::printf("  format: %s", info.format.c_str());
  if (!info.scheme.empty()) std::printf(", scheme: %s", info.scheme.c_str());
  std::printf("  (detected from %s; %zu quantized layers)\n", info.source.c_str(), info.quantized_layers);
  if (!info.ignore.empty()) {
    std::printf("  ignore:");
    for (const std::string& m : info.ignore) std::printf(" %s", m.c_str());
    std::printf("\n");
  }
  std::printf("  by dtype:\n");
  for (const auto& [name, t] : by_dtype)
    std::printf("    %-8s %6zu tensor%s  %10s  %5.1f%%\n", name.c_str(), t.tensors, t.tensors == 1 ? " " : "s", human_bytes(t.bytes).c_str(),
                total ? 100.0 * double(t.bytes) / double(total) : 0.0);
  for (const SafetensorsFile& f : ck.shards()) {
    std::printf("  %s (%s)", std::filesystem::path(f.path()).filename().string().c_str(),
                human_bytes(f.file_size()).c_str());
    if (!f.metadata().empty()) {
      std::printf("  metadata:");
      for (const auto& [k, v] : f.metadata()) std::printf(" %s=%s", k.c_str(), v.c_str());
    }
    std::printf("\n");
    if (a.summary) continue;
    // Sorted by name, which groups the tensors of a layer.
    std::vector<std::string> names = f.names();
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      const SafetensorsEntry& e = f.entry(name);
      std::printf("    %s %-8s %s\n", fit(name, 60).c_str(), safetensors_dtype_name(e.dtype), e.shape.str().c_str());
    }
  }
  return kExitOk;
}

}  // namespace

void register_inspect(CLI::App& app, Runner& run) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "Show what a safetensors checkpoint holds: every tensor's dtype and shape, the size by dtype,\n"
      "the metadata, and the quantization scheme and format (from config.json's quantization_config,\n"
      "or guessed from the tensor names and scale shapes). PATH: a model folder, a .safetensors file or\n"
      "an index file. Malformed files are refused with one line saying what is wrong (exit code 2).");
  cmd->add_option("path", args->path, "Model folder, .safetensors file or .safetensors.index.json")->required();
  cmd->add_flag("--json", args->json, "Print JSON on stdout");
  cmd->add_flag("-s,--summary", args->summary, "Omit the list of tensors");
  run_when_chosen(cmd, run, args, run_inspect);
}

}  // namespace w8a8::cli
