// w8a8 quantize MODEL_DIR -o OUT_DIR: an FP8 W8A8 checkpoint and a per-layer report.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "cli.h"
#include "w8a8/checkpoint.h"
#include "w8a8/dtype.h"
#include "w8a8/error.h"

namespace w8a8::cli {

namespace {

struct QuantizeArgs {
  std::string model;
  std::string output;
  std::string scheme = "fp8-dynamic";
  std::string format = "compressed-tensors";
  std::vector<std::string> ignore;
  std::string calibration;
  int threads = 0;
  bool overwrite = false;
  bool sync = false;
  bool json = false;
  bool no_progress = false;
  int top = 5;
  int eval_rows = 8;
  uint64_t seed = 0;
};

std::string duration(double s) {
  if (!(s >= 0) || s > 1e7) return "--:--";
  const int t = int(s + 0.5);
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%d:%02d", t / 60, t % 60);
  }
  return buf;
}

// One line on a TTY, redrawn at most 10 times a second: bar, tensors, bytes, rate, ETA.
class ProgressBar {
 public:
  void update(const QuantizeProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    const bool last = p.tensors_done == p.tensors_total;
    if (!last && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const double frac = p.bytes_total ? double(p.bytes_done) / double(p.bytes_total) : 1.0;
    const int width = 28;
    const int filled = int(frac * width + 0.5);
    const double rate = p.seconds > 0 ? double(p.bytes_done) / p.seconds : 0;
    const double eta = rate > 0 ? double(p.bytes_total - p.bytes_done) / rate : -1;
    std::string bar(size_t(filled), '#');
    bar += std::string(size_t(width - filled), '-');
    std::fprintf(stderr, "\r\033[K[%s] %3d%%  %zu/%zu tensors  %s/%s  %s/s  ETA %s", bar.c_str(), int(frac * 100),
                 p.tensors_done, p.tensors_total, human_bytes(p.bytes_done).c_str(),
                 human_bytes(p.bytes_total).c_str(), human_bytes(uint64_t(rate)).c_str(), duration(eta).c_str());
    std::fflush(stderr);
    drawn_ = true;
  }
  void finish() {
    if (drawn_) std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }

 private:
  std::chrono::steady_clock::time_point last_draw_{};
  bool drawn_ = false;
};

nlohmann::json report_json(const QuantizeReport& r, double peak_mb) {
  using nlohmann::json;
  json layers = json::array(), kept = json::array();
  for (const TensorReport& t : r.tensors) {
    json shape = json::array();
    for (int64_t d : t.shape) shape.push_back(d);
    if (t.quantized) {
      json l = {{"module", t.module},
                {"tensor", t.tensor},
                {"dtype", dtype_name(t.dtype)},
                {"shape", shape},
                {"shard", t.shard},
                {"scale_min", t.scale_min},
                {"scale_max", t.scale_max},
                {"weight_rel_err", t.weight_rel_err},
                {"output_rel_err", t.output_rel_err}};
      if (t.input_scale) l["input_scale"] = *t.input_scale;
      layers.push_back(l);
    } else {
      kept.push_back({{"tensor", t.tensor},
                      {"dtype", dtype_name(t.dtype)},
                      {"shape", shape},
                      {"reason", t.reason},
                      {"in_ignore_list", t.listed_in_ignore}});
    }
  }
  const double gbps = r.seconds > 0 ? double(r.bytes_in) / r.seconds / 1e9 : 0;
  return {{"input", r.input},
          {"output", r.output},
          {"scheme", quant_scheme_name(r.scheme)},
          {"format", checkpoint_format_name(r.format)},
          {"layers", layers},
          {"kept", kept},
          {"ignore", r.ignore},
          {"shards", r.shards},
          {"copied", r.copied},
          {"notes", r.notes},
          {"quantized_layers", r.quantized},
          {"bytes_in", r.bytes_in},
          {"bytes_out", r.bytes_out},
          {"seconds", r.seconds},
          {"cpu_seconds", r.cpu_seconds},
          {"gb_per_s", gbps},
          {"threads", r.threads},
          {"peak_rss_mb", peak_mb}};
}

void print_report(const QuantizeReport& r, int top, double peak_mb) {
  std::printf("Quantized %s\n       -> %s\n       scheme %s, format %s\n\n", r.input.c_str(), r.output.c_str(),
              quant_scheme_name(r.scheme), checkpoint_format_name(r.format));
  std::vector<const TensorReport*> layers;
  for (const TensorReport& t : r.tensors)
    if (t.quantized) layers.push_back(&t);
  const bool is_static = r.scheme == QuantScheme::kFp8Static;
  if (!layers.empty()) {
    std::printf("%-48s %-14s %-21s %9s %9s%s\n", "layer", "shape", "weight scale range", "w err", "out err",
                is_static ? "  input scale" : "");
    for (const TensorReport* t : layers) {
      const std::string range = t->scale_min == t->scale_max ? sci(t->scale_min)
                                                             : sci(t->scale_min) + " .. " + sci(t->scale_max);
      std::printf("%s %-14s %-21s %9s %9s", fit(t->module, 48).c_str(), shape_str(t->shape).c_str(), range.c_str(),
                  percent(t->weight_rel_err).c_str(), percent(t->output_rel_err).c_str());
      if (t->input_scale) std::printf("  %s", sci(*t->input_scale).c_str());
      std::printf("\n");
    }
    std::printf("(w err: ||dequant(W_fp8) - W|| / ||W|| on up to 1024 rows; out err: the same for the layer's\n"
                " output on 8 %s, quantized as the scheme does at run time, and 128 output features)\n",
                is_static ? "calibration rows" : "random Gaussian rows");
  }
  size_t listed = 0, other = 0;
  for (const TensorReport& t : r.tensors)
    if (!t.quantized) (t.listed_in_ignore ? listed : other)++;
  if (listed) {
    std::printf("\nKept in their dtype and listed in the ignore list (%zu):\n", listed);
    for (const TensorReport& t : r.tensors)
      if (t.listed_in_ignore)
        std::printf("  %s %s %s  (%s)\n", fit(t.module, 46).c_str(), dtype_name(t.dtype), shape_str(t.shape).c_str(),
                    t.reason.c_str());
  }
  if (other) std::printf("Copied unchanged: %zu other tensors (biases, norms, buffers)\n", other);

  if (!layers.empty() && top > 0) {
    std::vector<const TensorReport*> worst = layers;
    std::sort(worst.begin(), worst.end(),
              [](const TensorReport* a, const TensorReport* b) { return a->output_rel_err > b->output_rel_err; });
    worst.resize(std::min<size_t>(worst.size(), size_t(top)));
    std::printf("\nWorst layers by output error:\n");
    for (size_t i = 0; i < worst.size(); ++i)
      std::printf("  %zu. %s  out err %s, w err %s\n", i + 1, worst[i]->module.c_str(),
                  percent(worst[i]->output_rel_err).c_str(), percent(worst[i]->weight_rel_err).c_str());
  }
  for (const std::string& n : r.notes) std::printf("\nnote: %s\n", n.c_str());
  const double rate = r.seconds > 0 ? double(r.bytes_in) / r.seconds : 0;
  std::printf("\n%zu layers quantized; %zu shard%s, %zu other files copied\n", layers.size(), r.shards.size(),
              r.shards.size() == 1 ? "" : "s", r.copied.size());
  std::printf("%s -> %s in %.2f s (%s/s of input, %d thread%s, %.2f s of CPU), peak RSS %.0f MB\n",
              human_bytes(r.bytes_in).c_str(), human_bytes(r.bytes_out).c_str(), r.seconds,
              human_bytes(uint64_t(rate)).c_str(), r.threads, r.threads == 1 ? "" : "s", r.cpu_seconds, peak_mb);
}

}  // namespace

void register_quantize(CLI::App& app, Runner& run) {
  auto args = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "quantize",
      "Quantize a Hugging Face model folder (bf16/fp16/fp32 safetensors, one file or sharded with\n"
      "model.safetensors.index.json, plus config.json) into an FP8 W8A8 checkpoint that vLLM and\n"
      "transformers load. 2-D Linear weights become float8_e4m3fn with fp32 scales; embeddings,\n"
      "lm_head, norms, biases and --ignore matches keep their dtype and go to the config's ignore list.\n"
      "Shards, config.json (plus quantization_config) and the other small files (tokenizer, ...) are\n"
      "kept. The output is written to a hidden temporary folder and renamed when complete.\n"
      "No model at hand? scripts/get-model.sh installs all-MiniLM-L6-v2 and prints its folder:\n"
      "  w8a8 quantize \"$(scripts/get-model.sh)\" -o models/minilm-fp8");
  cmd->add_option("model", args->model, "Model folder (or a .safetensors / .safetensors.index.json file)");
  cmd->add_option("-o,--output", args->output, "Output folder (must not exist, unless --overwrite); required");
  cmd->add_option("--scheme", args->scheme,
                  "fp8-dynamic: per-channel weights, dynamic per-token activations (default)\n"
                  "fp8-static:  per-tensor weights, static per-tensor input_scale (needs --calibration)\n"
                  "fp8-tensor:  per-tensor weights, dynamic per-tensor activations\n"
                  "fp8-block:   128x128 weight blocks, dynamic 1x128 activation groups")
      ->check(CLI::IsMember({"fp8-dynamic", "fp8-static", "fp8-tensor", "fp8-block"}))
      ->capture_default_str();
  cmd->add_option("--format", args->format,
                  "compressed-tensors: quant_method compressed-tensors, X.weight_scale (default)\n"
                  "fp8: transformers' fine-grained FP8 (fp8-block only), X.weight_scale_inv")
      ->check(CLI::IsMember({"compressed-tensors", "fp8"}))
      ->capture_default_str();
  cmd->add_option("--ignore", args->ignore,
                  "Leave modules whose name matches this regex (ECMAScript, searched) unquantized; repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--calibration", args->calibration,
                  "fp8-static: safetensors file with a tensor of sample inputs [..., K] named after each Linear\n"
                  "module (e.g. model.layers.0.mlp.down_proj); input_scale = max(amax / 448, MIN_SCALE)");
  cmd->add_option("-j,--threads", args->threads, "Worker threads (0: all cores)")->capture_default_str();
  cmd->add_flag("--overwrite", args->overwrite, "Replace an existing output folder");
  cmd->add_flag("--sync", args->sync, "fsync the written files before renaming the output into place");
  cmd->add_flag("--json", args->json, "Print the report as JSON on stdout");
  cmd->add_flag("--no-progress", args->no_progress, "No progress bar (it is shown only on a terminal anyway)");
  cmd->add_option("--top", args->top, "How many of the worst layers to list")->capture_default_str();
  cmd->add_option("--eval-rows", args->eval_rows, "Random activation rows per layer for the output error")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed of the random activations")->capture_default_str();
  run_when_chosen(cmd, run, args, [](QuantizeArgs& a) -> int {
    W8A8_CHECK(!a.model.empty(),
               "quantize: no model given. Pass a Hugging Face model folder (config.json + *.safetensors); "
               "for a small real one, scripts/get-model.sh installs all-MiniLM-L6-v2 and prints its folder: "
               "w8a8 quantize \"$(scripts/get-model.sh)\" -o models/minilm-fp8");
    W8A8_CHECK(!a.output.empty(), "quantize: no output folder given (-o OUT_DIR)");
    QuantizeOptions o;
    o.input = a.model;
    o.output = a.output;
    o.scheme = quant_scheme_from_name(a.scheme);
    o.format = checkpoint_format_from_name(a.format);
    o.ignore = a.ignore;
    o.calibration = a.calibration;
    o.threads = a.threads;
    o.overwrite = a.overwrite;
    o.sync = a.sync;
    o.eval_rows = a.eval_rows;
    o.seed = a.seed;
    o.cancel = &g_interrupted;
    ProgressBar bar;
    std::mutex mu;
    if (!a.no_progress && stderr_is_tty())
      o.on_progress = [&](const QuantizeProgress& p) {
        std::lock_guard<std::mutex> lock(mu);
        bar.update(p);
      };
    QuantizeReport r;
    try {
      r = quantize_checkpoint(o);
    } catch (...) {
      bar.finish();
      throw;
    }
    bar.finish();
    const double peak = peak_rss_mb();
    if (a.json) {
      print_json(report_json(r, peak));
    } else {
      print_report(r, a.top, peak);
    }
    return kExitOk;
  });
}

}  // namespace w8a8::cli
