// The streaming quantization pipeline behind `w8a8 quantize`.
//
//   plan      every tensor of every shard: quantize (2-D float Linear weights) or copy as is;
//             the output header of each shard is known from the plan alone;
//   run       worker threads take tensors, largest first: quantize through the library, measure the
//             errors, write into the shard at the tensor's fixed offset, drop the input pages;
//   finish    commit the shards, write the index, config.json (+ quantization_config) and the
//             other small files into a temporary folder, then rename it to the output.
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "w8a8/checkpoint.h"
#include "w8a8/error.h"
#include "w8a8/formats.h"
#include "w8a8/quant.h"

namespace w8a8 {

namespace fs = std::filesystem;
using nlohmann::json;
using ordered_json = nlohmann::ordered_json;  // config.json keeps its key order

namespace {

constexpr int64_t kBlock = 128;
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// True when `p` is `dir` or lies below it (both absolute and normalised).
bool is_within(const fs::path& p, const fs::path& dir) {
  auto pi = p.begin();
  for (auto di = dir.begin(); di != dir.end(); ++di, ++pi) {
    if (di->empty()) continue;  // trailing separator
    if (pi == p.end() || *pi != *di) return false;
  }
  return true;
}

fs::path normalise(const fs::path& p) { return fs::weakly_canonical(fs::absolute(p)); }

double process_cpu_seconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// Files that are model weights in another format: not copied next to the FP8 weights.
bool is_other_weight_file(const std::string& name) {
  static const char* kExt[] = {".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".ot", ".onnx",
                               ".onnx_data", ".gguf", ".tflite", ".mlmodel", ".pb", ".safetensors"};
  for (const char* e : kExt)
    if (ends_with(name, e)) return true;
  return ends_with(name, ".safetensors.index.json") || ends_with(name, ".bin.index.json");
}

// One row of a float weight as fp32 (memcpy: mapped tensors need not be aligned).
void row_to_float(const TensorView& w, int64_t n, float* dst) {
  const int64_t K = w.size(1);
  const auto* src = static_cast<const uint8_t*>(w.data()) + size_t(n * w.stride(0)) * w.element_size();
  switch (w.dtype()) {
    case DType::kFloat32: std::memcpy(dst, src, size_t(K) * 4); break;
    case DType::kFloat64:
      for (int64_t k = 0; k < K; ++k) {
        double v;
        std::memcpy(&v, src + 8 * k, 8);
        dst[k] = float(v);
      }
      break;
    case DType::kBFloat16:
      for (int64_t k = 0; k < K; ++k) {
        uint16_t h;
        std::memcpy(&h, src + 2 * k, 2);
        dst[k] = bf16_to_float(h);
      }
      break;
    case DType::kFloat16:
      for (int64_t k = 0; k < K; ++k) {
        uint16_t h;
        std::memcpy(&h, src + 2 * k, 2);
        dst[k] = fp16_to_float(h);
      }
      break;
    default: W8A8_FAIL(ErrorKind::kType, "weight: expected a float tensor, got ", dtype_name(w.dtype()));
  }
}

// Dot product with 8 partial sums (vectorises without -ffast-math); the estimate needs no more.
float dot(const float* a, const float* b, int64_t K) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= K; k += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[k + j] * b[k + j];
  float s = 0;
  for (; k < K; ++k) s += a[k] * b[k];
  return s + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

struct Task {
  size_t shard = 0;
  const SafetensorsEntry* entry = nullptr;
  TensorPlan plan;
  size_t report = 0;  // index into the report's tensors
};

// Removes a folder on scope exit unless released.
struct RemoveOnExit {
  fs::path path;
  ~RemoveOnExit() {
    if (path.empty()) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

QuantizeReport quantize_checkpoint(const QuantizeOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = process_cpu_seconds();
  check_scheme_format(o.scheme, o.format);
  W8A8_CHECK(!o.input.empty(), "input: no model given (a folder with config.json and *.safetensors)");
  W8A8_CHECK(!o.output.empty(), "output: no output folder given");
  W8A8_CHECK(o.eval_rows >= 0 && o.eval_features >= 0 && o.eval_weight_rows >= 0,
             "eval_rows / eval_features / eval_weight_rows: expected >= 0");
  std::error_code ec;
  W8A8_CHECK(fs::exists(o.input, ec), "input: ", o.input, " does not exist");
  const bool input_is_dir = fs::is_directory(o.input, ec);
  const fs::path in_abs = normalise(o.input);
  const fs::path in_dir = input_is_dir ? in_abs : in_abs.parent_path();
  const fs::path out_abs = normalise(o.output);
  W8A8_CHECK(!out_abs.filename().empty(), "output: '", o.output, "' is not a folder name");
  W8A8_CHECK(!is_within(out_abs, in_dir), "output: ", out_abs.string(), " is inside the input folder ",
             in_dir.string(), ": write the quantized model somewhere else");
  W8A8_CHECK(!is_within(in_dir, out_abs), "output: ", out_abs.string(), " contains the input ", in_dir.string(),
             ": write the quantized model somewhere else");
  const bool out_exists = fs::exists(fs::symlink_status(out_abs, ec));
  W8A8_CHECK(!out_exists || o.overwrite, "output: ", out_abs.string(),
             " already exists (pass --overwrite to replace it)");
  W8A8_CHECK(o.scheme != QuantScheme::kFp8Static || !o.calibration.empty(),
             "calibration: fp8-static needs per-layer input scales from calibration activations: pass "
             "--calibration FILE (a safetensors file with a tensor of sample inputs [..., K] named after each "
             "Linear module), or use fp8-dynamic / fp8-tensor, whose activation scales are computed at run time");

  QuantizeReport report;
  report.input = in_abs.string();
  report.output = out_abs.string();
  report.scheme = o.scheme;
  report.format = o.format;

  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(o.input);

  // config.json of the input (a folder or an index file's folder; not for a lone .safetensors file).
  const bool folder_input = input_is_dir || !ckpt.index_path().empty();
  ordered_json config = ordered_json::object();
  bool have_config = false;
  if (folder_input && fs::exists(in_dir / "config.json", ec)) {
    std::ifstream in(in_dir / "config.json");
    try {
      config = ordered_json::parse(in);
    } catch (const json::exception& e) {
      W8A8_FAIL(ErrorKind::kValue, (in_dir / "config.json").string(), ": bad JSON: ", e.what());
    }
    W8A8_CHECK(config.is_object(), (in_dir / "config.json").string(), ": expected a JSON object");
    have_config = true;
    if (config.contains("quantization_config")) {
      const ordered_json& qc = config["quantization_config"];
      W8A8_FAIL(ErrorKind::kValue, "input: ", in_dir.string(), " is already quantized (quantization_config",
                qc.is_object() && qc.contains("quant_method") ? " quant_method " + qc["quant_method"].dump() : "",
                "): quantize the original model");
    }
  }
  if (!have_config)
    report.notes.push_back("no config.json in the input: wrote one holding only quantization_config");

  SafetensorsFile calibration;
  if (o.scheme == QuantScheme::kFp8Static) calibration = SafetensorsFile::open(o.calibration);

  // ---- plan ----
  std::vector<Task> tasks;
  std::vector<std::vector<SafetensorsSpec>> specs(ckpt.shards().size());
  std::set<std::string> ignore_set;
  for (size_t s = 0; s < ckpt.shards().size(); ++s) {
    const SafetensorsFile& shard = ckpt.shards()[s];
    const std::string shard_name = fs::path(shard.path()).filename().string();
    report.shards.push_back(shard_name);
    for (const SafetensorsEntry& e : shard.entries()) {
      Task t;
      t.shard = s;
      t.entry = &e;
      t.plan = plan_tensor(e.name, e.dtype, e.shape, o.scheme, o.ignore);
      TensorReport r;
      r.tensor = e.name;
      r.module = t.plan.module;
      r.dtype = e.dtype;
      r.shape = e.shape;
      r.quantized = t.plan.quantize;
      r.listed_in_ignore = t.plan.listed_in_ignore;
      r.reason = t.plan.reason;
      r.shard = shard_name;
      r.bytes_in = e.nbytes();
      report.bytes_in += e.nbytes();
      if (t.plan.listed_in_ignore) ignore_set.insert(t.plan.module);
      if (t.plan.quantize) {
        const std::string& m = t.plan.module;
        const int64_t N = e.shape[0], K = e.shape[1];
        specs[s].push_back({m + ".weight", DType::kFloat8E4M3FN, e.shape});
        Dims scale_shape = o.scheme == QuantScheme::kFp8Dynamic ? Dims{N, 1}
                           : o.scheme == QuantScheme::kFp8Block ? Dims{ceil_div(N, kBlock), ceil_div(K, kBlock)}
                                                                : Dims{1};
        specs[s].push_back({weight_scale_name(m, o.format), DType::kFloat32, scale_shape});
        if (o.scheme == QuantScheme::kFp8Static) {
          specs[s].push_back({m + ".input_scale", DType::kFloat32, Dims{1}});
          W8A8_CHECK(calibration.contains(m), "calibration: ", o.calibration, " has no activations for '", m,
                     "' (expected a tensor of that name with last dimension ", K, ")");
          const SafetensorsEntry& c = calibration.entry(m);
          W8A8_CHECK(c.shape.size() >= 1 && c.shape[c.shape.size() - 1] == K && c.shape.product() > 0,
                     "calibration: '", m, "' has shape ", c.shape.str(), ", expected [..., ", K, "]");
          W8A8_CHECK_TYPE(c.dtype == DType::kFloat32 || c.dtype == DType::kBFloat16 ||
                              c.dtype == DType::kFloat16 || c.dtype == DType::kFloat64,
                          "calibration: '", m, "' must be a float tensor, got ", dtype_name(c.dtype));
        }
        ++report.quantized;
      } else {
        specs[s].push_back({e.name, e.dtype, e.shape});
      }
      t.report = report.tensors.size();
      report.tensors.push_back(std::move(r));
      tasks.push_back(std::move(t));
    }
  }
  report.ignore.assign(ignore_set.begin(), ignore_set.end());
  // Largest first: the pool ends with small tensors, not one big straggler.
  std::stable_sort(tasks.begin(), tasks.end(),
                   [](const Task& a, const Task& b) { return a.entry->nbytes() > b.entry->nbytes(); });

  // ---- output folder: a temporary sibling, renamed at the end ----
  fs::create_directories(out_abs.parent_path(), ec);
  W8A8_CHECK_KIND(ErrorKind::kRuntime, fs::is_directory(out_abs.parent_path(), ec), "output: cannot create ",
                  out_abs.parent_path().string());
  const fs::path tmp = out_abs.parent_path() /
                       ("." + out_abs.filename().string() + ".w8a8-tmp-" + std::to_string(getpid()));
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec))
    W8A8_FAIL(ErrorKind::kRuntime, "output: cannot create ", tmp.string(), ": ", ec.message());
  RemoveOnExit cleanup{tmp};

  std::vector<std::unique_ptr<SafetensorsWriter>> writers;
  for (size_t s = 0; s < ckpt.shards().size(); ++s) {
    std::map<std::string, std::string> md = ckpt.shards()[s].metadata();
    if (!md.count("format")) md["format"] = "pt";
    writers.push_back(std::make_unique<SafetensorsWriter>((tmp / report.shards[s]).string(), specs[s], md));
  }

  // ---- run ----
  const int hw = int(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = std::max(1, o.threads > 0 ? o.threads : hw);
  const int workers = int(std::max<size_t>(1, std::min<size_t>(size_t(threads), tasks.size())));
  const int omp_threads = std::max(1, threads / workers);
  report.threads = threads;

  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::exception_ptr first_error;
  QuantizeProgress progress;
  progress.tensors_total = tasks.size();
  progress.bytes_total = report.bytes_in;

  auto run_task = [&](const Task& t) {
    const SafetensorsFile& shard = ckpt.shards()[t.shard];
    SafetensorsWriter& out = *writers[t.shard];
    const SafetensorsEntry& e = *t.entry;
    TensorReport& r = report.tensors[t.report];  // each task owns its own entry
    if (!t.plan.quantize) {
      // Copied in pieces, each dropped from memory once written: resident memory stays small even
      // for a large embedding.
      constexpr uint64_t kPiece = uint64_t(32) << 20;
      for (uint64_t off = 0; off < e.nbytes(); off += kPiece) {
        const uint64_t len = std::min(kPiece, e.nbytes() - off);
        shard.prefetch(e, off, len);
        out.write_range(e.name, shard.bytes(e) + off, len, off);
        shard.release(e, off, len);
      }
      if (e.nbytes() == 0) out.write_bytes(e.name, nullptr, 0);
      r.bytes_out = e.nbytes();
      return;
    }
    const std::string& m = t.plan.module;
    const TensorView w = shard.tensor(e.name);
    shard.prefetch(e);
    const int64_t N = w.size(0), K = w.size(1);
    QuantizedWeight q = quantize_weight(w, o.scheme);
    std::optional<Tensor> input_scale;
    Tensor x;  // evaluation activations [R, K] fp32
    if (o.scheme == QuantScheme::kFp8Static) {
      const SafetensorsEntry& ce = calibration.entry(m);
      Tensor calib = to_float32(calibration.tensor(m)).view({-1, K});
      auto [cq, cs] = scaled_fp8_quant(calib);  // dynamic per-tensor: max(amax / FP8_MAX, MIN_SCALE)
      input_scale = Tensor::copy_of(cs).view({1});
      const int64_t rows = std::min<int64_t>(calib.size(0), o.eval_rows);
      x = Tensor::copy_of(calib.narrow(0, 0, rows));
      calibration.release(ce);
    } else {
      std::mt19937_64 rng(fnv1a(e.name) ^ o.seed);
      std::normal_distribution<float> gauss(0.0f, 1.0f);
      x = Tensor::empty({o.eval_rows, K}, DType::kFloat32);
      float* xp = x.data_as<float>();
      for (int64_t i = 0; i < x.numel(); ++i) xp[i] = gauss(rng);
    }
    const int64_t R = x.size(0);

    // Quantize the evaluation rows as the scheme's activations are quantized at run time.
    Tensor xd = Tensor::empty({R, K}, DType::kFloat32);
    if (R > 0) {
      std::pair<Tensor, Tensor> xq;
      switch (o.scheme) {
        case QuantScheme::kFp8Dynamic:
          xq = scaled_fp8_quant(x, std::nullopt, std::nullopt, std::nullopt, /*use_per_token_if_dynamic=*/true);
          break;
        case QuantScheme::kFp8Tensor: xq = scaled_fp8_quant(x); break;
        case QuantScheme::kFp8Static: xq = scaled_fp8_quant(x, TensorView(*input_scale)); break;
        case QuantScheme::kFp8Block: xq = per_token_group_quant_fp8(x, kBlock); break;
      }
      const float* table = fp8_decode_table(xq.first.dtype());
      const Tensor xs = Tensor::copy_of(xq.second);
      const float* s = xs.data_as<float>();
      const auto* qb = xq.first.data_as<uint8_t>();
      float* d = xd.data_as<float>();
      for (int64_t i = 0; i < R; ++i)
        for (int64_t k = 0; k < K; ++k) {
          const float sc = xs.numel() == 1 ? s[0] : o.scheme == QuantScheme::kFp8Block ? s[i * (K / kBlock) + k / kBlock]
                                                                                        : s[i];
          d[i * K + k] = table[qb[i * xq.first.stride(0) + k]] * sc;
        }
    }

    // One pass over evenly spaced rows (all of them for N <= eval_weight_rows): the weight error on
    // those rows, the output error on evenly spaced output features among them.
    const Tensor& ws = q.weight_scale;
    const float* wsp = ws.data_as<float>();
    const float* wtable = fp8_decode_table(q.weight.dtype());
    const auto* wq = q.weight.data_as<uint8_t>();
    const int64_t S = o.eval_weight_rows > 0 ? std::min<int64_t>(N, o.eval_weight_rows) : N;
    const int64_t F = std::min<int64_t>(S, o.eval_features);
    std::vector<float> row(static_cast<size_t>(K)), deq(static_cast<size_t>(K));
    double w_err = 0, w_ref = 0, o_err = 0, o_ref = 0;
    const float* xp = x.data_as<float>();
    const float* xdp = xd.data_as<float>();
    int64_t next_feature = 0, f_index = 0;
    // Columns share a scale in chunks (the whole row, or 128 columns for blocks): float sums with 8
    // lanes inside a chunk (they vectorise), double across chunks.
    const int64_t chunk = o.scheme == QuantScheme::kFp8Block ? kBlock : K;
    const int64_t kb = ceil_div(K, kBlock);
    for (int64_t si = 0; si < S; ++si) {
      const int64_t n = si * N / S;
      row_to_float(w, n, row.data());
      const uint8_t* qrow = wq + n * K;
      float* d = deq.data();
      const float* src = row.data();
      for (int64_t c0 = 0; c0 < K; c0 += chunk) {
        const int64_t c1 = std::min(K, c0 + chunk);
        const float sc = o.scheme == QuantScheme::kFp8Dynamic ? wsp[n]
                         : o.scheme == QuantScheme::kFp8Block ? wsp[(n / kBlock) * kb + c0 / kBlock]
                                                              : wsp[0];
        for (int64_t k = c0; k < c1; ++k) d[k] = wtable[qrow[k]] * sc;
        float e8[8] = {0, 0, 0, 0, 0, 0, 0, 0}, r8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t k = c0;
        for (; k + 8 <= c1; k += 8)
          for (int j = 0; j < 8; ++j) {
            const float diff = d[k + j] - src[k + j];
            e8[j] += diff * diff;
            r8[j] += src[k + j] * src[k + j];
          }
        double e = 0, rr = 0;
        for (; k < c1; ++k) {
          const double diff = double(d[k]) - double(src[k]);
          e += diff * diff;
          rr += double(src[k]) * double(src[k]);
        }
        for (int j = 0; j < 8; ++j) {
          e += e8[j];
          rr += r8[j];
        }
        w_err += e;
        w_ref += rr;
      }
      if (F > 0 && si == next_feature) {
        for (int64_t i = 0; i < R; ++i) {
          const double ref = dot(xp + i * K, row.data(), K);
          const double got = dot(xdp + i * K, deq.data(), K);
          o_err += (got - ref) * (got - ref);
          o_ref += ref * ref;
        }
        ++f_index;
        next_feature = f_index < F ? f_index * S / F : S;
      }
    }
    r.weight_rel_err = w_ref > 0 ? std::sqrt(w_err / w_ref) : std::sqrt(w_err);
    r.output_rel_err = o_ref > 0 ? std::sqrt(o_err / o_ref) : std::sqrt(o_err);
    r.scale_min = *std::min_element(wsp, wsp + ws.numel());
    r.scale_max = *std::max_element(wsp, wsp + ws.numel());
    if (input_scale) r.input_scale = input_scale->data_as<float>()[0];

    out.write(m + ".weight", q.weight);
    out.write(weight_scale_name(m, o.format), q.weight_scale);
    r.bytes_out = uint64_t(q.weight.numel()) + uint64_t(q.weight_scale.numel()) * 4;
    if (input_scale) {
      out.write(m + ".input_scale", *input_scale);
      r.bytes_out += 4;
    }
    shard.release(e);
  };

  auto worker = [&]() {
    omp_set_num_threads(omp_threads);
    for (;;) {
      if (failed.load() || (o.cancel && o.cancel->load())) return;
      const size_t i = next.fetch_add(1);
      if (i >= tasks.size()) return;
      try {
        run_task(tasks[i]);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error) first_error = std::current_exception();
        failed = true;
        return;
      }
      std::lock_guard<std::mutex> lock(mu);
      progress.tensors_done += 1;
      progress.bytes_done += tasks[i].entry->nbytes();
      progress.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (o.on_progress) o.on_progress(progress);
    }
  };
  if (workers == 1) {
    const int caller_omp = omp_get_max_threads();  // the caller's thread: put its setting back
    worker();
    omp_set_num_threads(caller_omp);
  } else {
    std::vector<std::thread> pool;
    for (int i = 0; i < workers; ++i) pool.emplace_back(worker);
    for (std::thread& th : pool) th.join();
  }
  if (first_error) std::rethrow_exception(first_error);
  if (o.cancel && o.cancel->load())
    W8A8_FAIL(ErrorKind::kRuntime, "interrupted: nothing was written to ", out_abs.string());

  // ---- finish ----
  for (auto& w : writers) {
    report.bytes_out += w->file_size();
    w->commit(o.sync);
  }
  if (!ckpt.index_path().empty()) {
    json weight_map = json::object();
    for (size_t s = 0; s < specs.size(); ++s)
      for (const SafetensorsSpec& sp : specs[s]) weight_map[sp.name] = report.shards[s];
    uint64_t total = 0;
    for (const auto& v : specs)
      for (const SafetensorsSpec& sp : v) total += uint64_t(sp.shape.product()) * dtype_size(sp.dtype);
    json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    std::ofstream(tmp / fs::path(ckpt.index_path()).filename()) << index.dump(2) << "\n";
  }
  config["quantization_config"] = ordered_json::parse(quantization_config_json(o.scheme, o.format, report.ignore));
  {
    std::ofstream cfg(tmp / "config.json");
    cfg << config.dump(2) << "\n";
    W8A8_CHECK_KIND(ErrorKind::kRuntime, cfg.good(), "output: cannot write ", (tmp / "config.json").string());
  }
  if (folder_input) {
    // Tokenizer, generation config, pooling configs, README...: everything but weights and hidden files.
    auto it = fs::recursive_directory_iterator(in_dir, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const fs::path& p = it->path();
      const std::string name = p.filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_directory(ec)) {
        if (it->is_symlink(ec)) it.disable_recursion_pending();
        continue;
      }
      const fs::path rel = fs::relative(p, in_dir, ec);
      if (rel == "config.json" || is_other_weight_file(name)) continue;
      fs::create_directories((tmp / rel).parent_path(), ec);
      fs::copy_file(p, tmp / rel, fs::copy_options::overwrite_existing, ec);
      W8A8_CHECK_KIND(ErrorKind::kRuntime, !ec, "output: cannot copy ", p.string(), ": ", ec.message());
      report.copied.push_back(rel.string());
    }
    std::sort(report.copied.begin(), report.copied.end());
  }

  // Swap the finished folder into place.
  if (fs::exists(fs::symlink_status(out_abs, ec))) {
    const fs::path old = out_abs.parent_path() /
                         ("." + out_abs.filename().string() + ".w8a8-old-" + std::to_string(getpid()));
    fs::remove_all(old, ec);
    fs::rename(out_abs, old, ec);
    W8A8_CHECK_KIND(ErrorKind::kRuntime, !ec, "output: cannot move the existing ", out_abs.string(),
                    " aside: ", ec.message());
    fs::rename(tmp, out_abs, ec);
    if (ec) {
      std::error_code ec2;
      fs::rename(old, out_abs, ec2);
      W8A8_FAIL(ErrorKind::kRuntime, "output: cannot rename ", tmp.string(), " to ", out_abs.string(), ": ",
                ec.message());
    }
    fs::remove_all(old, ec);
  } else {
    fs::rename(tmp, out_abs, ec);
    W8A8_CHECK_KIND(ErrorKind::kRuntime, !ec, "output: cannot rename ", tmp.string(), " to ", out_abs.string(),
                    ": ", ec.message());
  }
  cleanup.path.clear();

  std::sort(report.tensors.begin(), report.tensors.end(),
            [](const TensorReport& a, const TensorReport& b) { return a.tensor < b.tensor; });
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report.cpu_seconds = process_cpu_seconds() - cpu0;
  return report;
}

}  // namespace w8a8
