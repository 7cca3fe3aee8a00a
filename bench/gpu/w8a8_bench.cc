// w8a8-bench: times w8a8's GPU kernels and backends on the harness's shape list.
//
// Method (docs/benchmarks.md): each measurement is a CUDA graph of calls that rotate over weight
// copies filling >= 256 MB (the 50 MB L2 keeps none of them between uses); warm-up by time (>= 3 s
// before the first large shape, where the H100's clock falls under its power cap); the median of
// many timed replays. Prints a table and writes JSON rows like bench/torch_baseline.py's.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cuda/graph_timer.h"
#include "scaled_mm/random_fp8.h"
#include "w8a8/w8a8.h"

namespace {

using namespace w8a8;

#define CHECK_CUDA(x)                                                                        \
  do {                                                                                       \
    cudaError_t e = (x);                                                                     \
    if (e != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e)); \
      std::exit(1);                                                                          \
    }                                                                                        \
  } while (0)

constexpr size_t kRotateBytes = size_t(256) << 20;

struct Row {
  std::string op, variant;
  int64_t M, N, K;
  double us, tflops, tbps;
};

// Device tensor of random FP8 codes (uniform values in +-400, never all zero) or floats.
Tensor random_device(Dims sizes, DType dtype, std::mt19937& gen, float lo = -1.0f, float hi = 1.0f) {
  Tensor host = Tensor::empty(sizes, dtype);
  std::uniform_real_distribution<float> d(lo, hi);
  const int64_t n = host.numel();
  for (int64_t i = 0; i < n; ++i) {
    const float v = d(gen);
    char* p = static_cast<char*>(host.data()) + i * int64_t(host.element_size());
    switch (dtype) {
      case DType::kFloat8E4M3FN: *reinterpret_cast<uint8_t*>(p) = quantize_e4m3fn(v * 400.0f); break;
      case DType::kBFloat16: *reinterpret_cast<uint16_t*>(p) = float_to_bf16(v); break;
      case DType::kFloat16: *reinterpret_cast<uint16_t*>(p) = float_to_fp16(v); break;
      default: std::memcpy(p, &v, 4); break;
    }
  }
  return host.to(Device::cuda());
}

// Median microseconds per call of `calls` (a list run once per replay), timed as a CUDA graph (the library's
// timer, which `w8a8 tune` uses too).
double time_graph(const std::vector<std::function<void(cudaStream_t)>>& calls, double warmup_s, int reps) {
  return cuda::time_as_graph(
      [&calls](Stream st) {
        for (auto& c : calls) c(reinterpret_cast<cudaStream_t>(st));
      },
      int(calls.size()), warmup_s, reps);
}

struct Shape {
  int64_t M, N, K;
};

std::vector<Shape> decode_shapes() {
  std::vector<Shape> s;
  for (int64_t m : {1, 16, 64})
    for (auto [n, k] : {std::pair<int64_t, int64_t>{8192, 8192}, {28672, 4096}, {4096, 4096}, {57344, 8192}})
      s.push_back({m, n, k});
  return s;
}
std::vector<Shape> large_shapes() { return {{8192, 8192, 8192}, {16384, 16384, 16384}, {4096, 7168, 16384}}; }

// Weight copies that fill >= 256 MB, so the 50 MB L2 keeps none of them between uses.
size_t rotation_copies(const Shape& s) {
  return std::max<size_t>(1, (kRotateBytes + size_t(s.N * s.K) - 1) / size_t(s.N * s.K));
}

// Median microseconds of one scaled_mm call, timed as a graph of calls rotating over `weights`.
double time_scaled_mm(const Tensor& out, const Tensor& a, const std::vector<Tensor>& weights, const Tensor& sa,
                      const Tensor& sb, const ScaledMmOptions& opt, double warmup_s, int reps) {
  std::vector<std::function<void(cudaStream_t)>> calls;
  for (const Tensor& w : weights)
    calls.push_back([&out, &a, &sa, &sb, w, opt](cudaStream_t st) {
      scaled_mm(out, a, w.t(), sa, sb, std::nullopt, opt, reinterpret_cast<Stream>(st));
    });
  return time_graph(calls, warmup_s, reps);
}

void gemm_rows(const std::vector<Shape>& shapes, int reps, std::vector<Row>& rows) {
  std::mt19937 gen(0);
  bool first_large = true;
  for (const Shape& s : shapes) {
    const bool large = s.M * s.N * s.K >= (int64_t(1) << 36);
    const size_t copies = rotation_copies(s);
    std::vector<Tensor> weights;
    for (size_t i = 0; i < copies; ++i) weights.push_back(random_device({s.N, s.K}, DType::kFloat8E4M3FN, gen));
    Tensor a = random_device({s.M, s.K}, DType::kFloat8E4M3FN, gen);
    Tensor out = Tensor::empty({s.M, s.N}, DType::kBFloat16, Device::cuda());
    struct Variant {
      const char* name;
      Tensor sa, sb;
    };
    std::vector<Variant> variants = {
        {"per_tensor", random_device({1}, DType::kFloat32, gen, 0.5f, 1.0f),
         random_device({1}, DType::kFloat32, gen, 0.5f, 1.0f)},
        {"rowwise", random_device({s.M, 1}, DType::kFloat32, gen, 0.5f, 1.0f),
         random_device({s.N, 1}, DType::kFloat32, gen, 0.5f, 1.0f)},
    };
    if (s.K % 128 == 0 && s.M % 4 == 0)
      variants.push_back({"blockwise", random_device({s.K / 128, s.M}, DType::kFloat32, gen, 0.5f, 1.0f).t(),
                          random_device({(s.N + 127) / 128, s.K / 128}, DType::kFloat32, gen, 0.5f, 1.0f).t()});
    for (const Variant& v : variants)
      for (ScaledMmBackend backend : {ScaledMmBackend::kAuto, ScaledMmBackend::kCutlass, ScaledMmBackend::kCublasLt,
                                      ScaledMmBackend::kUnfused})
        for (Accumulation acc : {Accumulation::kPromoted, Accumulation::kFast}) {
          ScaledMmOptions opt{backend, acc};
          try {
            scaled_mm(out, a, weights[0].t(), v.sa, v.sb, std::nullopt, opt);
            if (backend == ScaledMmBackend::kAuto)  // the dispatcher's choice, visible in the log
              std::fprintf(stderr, "  auto %s %s: %s\n", v.name, accumulation_name(acc),
                           choose_scaled_mm_backend(out, a, weights[0].t(), v.sa, v.sb, std::nullopt, opt).reason.c_str());
          } catch (const Error& e) {
            continue;  // this backend cannot run this variant
          }
          const double warm = large ? (first_large ? 3.0 : 1.0) : 0.3;
          first_large = first_large && !large;
          const double us = time_scaled_mm(out, a, weights, v.sa, v.sb, opt, warm, reps);
          const double flops = 2.0 * double(s.M) * double(s.N) * double(s.K);
          const double bytes = double(s.M * s.K + s.N * s.K + 2 * s.M * s.N);
          rows.push_back({std::string("w8a8.") + backend_name(backend),
                          std::string(v.name) + (acc == Accumulation::kFast ? "_fast" : ""), s.M, s.N, s.K, us,
                          flops / us / 1e6, bytes / us / 1e6});
          const Row& r = rows.back();
          std::fprintf(stderr, "%-16s %-16s %6ld %6ld %6ld %10.1f us %7.1f TFLOPS %5.2f TB/s\n", r.op.c_str(),
                       r.variant.c_str(), long(r.M), long(r.N), long(r.K), r.us, r.tflops, r.tbps);
        }
  }
}

void quant_rows(int reps, std::vector<Row>& rows) {
  std::mt19937 gen(1);
  for (auto [M, K] : {std::pair<int64_t, int64_t>{8192, 8192}, {1, 8192}, {16, 8192}, {16, 4096}}) {
    const size_t copies = std::max<size_t>(1, kRotateBytes / size_t(M * K * 2));
    std::vector<Tensor> xs;
    for (size_t i = 0; i < std::min<size_t>(copies, 64); ++i) xs.push_back(random_device({M, K}, DType::kBFloat16, gen));
    Tensor q = Tensor::empty({M, K}, DType::kFloat8E4M3FN, Device::cuda());
    Tensor s = Tensor::empty({M, 1}, DType::kFloat32, Device::cuda());
    Tensor s1 = Tensor::empty({1}, DType::kFloat32, Device::cuda());
    Tensor sg = Tensor::empty({K / 128, M}, DType::kFloat32, Device::cuda());
    struct Op {
      const char* name;
      std::function<void(const Tensor&, Stream)> run;
    };
    const Op ops[] = {
        {"per_token", [&](const Tensor& x, Stream st) { dynamic_per_token_scaled_fp8_quant(q, x, s, std::nullopt, st); }},
        {"per_tensor_dynamic", [&](const Tensor& x, Stream st) { dynamic_scaled_fp8_quant(q, x, s1, st); }},
        {"group128_colmajor", [&](const Tensor& x, Stream st) { per_token_group_quant_fp8_into(q, sg.t(), x, 128, 1e-10, false, st); }},
    };
    for (const Op& op : ops) {
      std::vector<std::function<void(cudaStream_t)>> calls;
      for (const Tensor& x : xs)
        calls.push_back([&op, x](cudaStream_t st) { op.run(x, reinterpret_cast<Stream>(st)); });
      const double us = time_graph(calls, 0.3, reps);
      rows.push_back({"w8a8.quant", std::string(op.name), M, 0, K, us, 0.0, 3.0 * double(M * K) / us / 1e6});
      std::fprintf(stderr, "%-16s %-20s %6ld %6ld %10.2f us %5.2f TB/s\n", "w8a8.quant", op.name, long(M), long(K), us,
                   rows.back().tbps);
    }
  }
}

// ---- --tune: time every cutlass configuration (and cuBLASLt) per shape, accumulation and scale kind;
// writes JSON rows that bench/make_selection_table.py turns into src/scaled_mm/cutlass_sm90/selection_table.inc.
struct TuneResult {
  Shape s;
  bool fast, vec;
  std::string kernel;  // "config[:knobs]" or "cublaslt"
  double us;
};

// Random FP8 codes (the tuner's: same seed, same bytes).
Tensor random_fp8_fast(Dims sizes, uint64_t seed) { return smm::random_fp8(sizes, seed, Device::cuda()); }

// The rotated weight copies of a shape (rotation_copies), seeds first_seed, first_seed + 1, ...
std::vector<Tensor> rotated_fp8_weights(const Shape& s, uint64_t first_seed) {
  std::vector<Tensor> weights;
  const size_t copies = rotation_copies(s);
  for (size_t i = 0; i < copies; ++i) weights.push_back(random_fp8_fast({s.N, s.K}, first_seed + i));
  return weights;
}

// The harness's shapes first (a run cut short by its time limit still covers them), then more M buckets.
std::vector<Shape> tune_shapes(const std::string& which) {
  std::vector<Shape> s = decode_shapes();
  for (const Shape& l : large_shapes()) s.push_back(l);
  const std::vector<std::pair<int64_t, int64_t>> nk = {{8192, 8192}, {28672, 4096}, {4096, 4096}, {57344, 8192}};
  if (which == "explore") {
    for (int64_t m : {128, 512, 2048}) s.push_back({m, 8192, 8192});
    return s;
  }
  for (int64_t m : {128, 1024, 256, 4096, 32})
    for (auto [n, k] : nk) s.push_back({m, n, k});
  if (which == "large") {  // the table's rows with M >= 1024 only (make_selection_table.py --fallback keeps the rest)
    std::vector<Shape> large;
    for (const Shape& x : s)
      if (x.M >= 1024) large.push_back(x);
    return large;
  }
  return s;
}

void tune(const std::string& which, int reps, const std::string& json_path) {
  const std::vector<std::string> configs = scaled_mm_kernels(ScaledMmBackend::kCutlass);
  if (configs.empty()) {
    std::fprintf(stderr, "--tune: this build has no cutlass configurations (-DW8A8_CUTLASS=ON)\n");
    std::exit(2);
  }
  std::vector<TuneResult> all;
  auto flush = [&] {  // after every shape, so a run cut short still leaves its results
    if (json_path.empty()) return;
    std::FILE* f = std::fopen(json_path.c_str(), "w");
    if (!f) std::exit(1);
    cudaDeviceProp prop{};
    CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
    std::fprintf(f, "{\"device\": \"%s\", \"reps\": %d, \"tune\": [\n", prop.name, reps);
    for (size_t i = 0; i < all.size(); ++i)
      std::fprintf(f, " {\"M\": %ld, \"N\": %ld, \"K\": %ld, \"fast\": %s, \"vec\": %s, \"kernel\": \"%s\", \"us\": %.3f}%s\n",
                   long(all[i].s.M), long(all[i].s.N), long(all[i].s.K), all[i].fast ? "true" : "false",
                   all[i].vec ? "true" : "false", all[i].kernel.c_str(), all[i].us, i + 1 < all.size() ? "," : "");
    std::fprintf(f, "]}\n");
    std::fclose(f);
  };
  std::mt19937 gen(2);
  bool first_large = true;
  uint64_t seed = 1;
  for (const Shape& s : tune_shapes(which)) {
    const bool large = s.M * s.N * s.K >= (int64_t(1) << 36);
    const std::vector<Tensor> weights = rotated_fp8_weights(s, seed);
    seed += weights.size();
    Tensor a = random_fp8_fast({s.M, s.K}, seed++);
    Tensor out = Tensor::empty({s.M, s.N}, DType::kBFloat16, Device::cuda());
    Tensor sa1 = random_device({1}, DType::kFloat32, gen, 0.5f, 1.0f);
    Tensor sb1 = random_device({1}, DType::kFloat32, gen, 0.5f, 1.0f);
    Tensor sav = random_device({s.M, 1}, DType::kFloat32, gen, 0.5f, 1.0f);
    Tensor sbv = random_device({s.N, 1}, DType::kFloat32, gen, 0.5f, 1.0f);
    for (bool fast : {false, true}) {
      const Accumulation acc = fast ? Accumulation::kFast : Accumulation::kPromoted;
      auto measure = [&](bool vec, ScaledMmBackend backend, const std::string& kernel) -> double {
        const Tensor& sa = vec ? sav : sa1;
        const Tensor& sb = vec ? sbv : sb1;
        ScaledMmOptions opt{backend, acc, kernel};
        try {
          scaled_mm(out, a, weights[0].t(), sa, sb, std::nullopt, opt);
          CHECK_CUDA(cudaDeviceSynchronize());
        } catch (const Error&) {
          return -1.0;
        }
        const double warm = large ? (first_large ? 3.0 : 0.3) : 0.1;
        first_large = first_large && !large;
        return time_scaled_mm(out, a, weights, sa, sb, opt, warm, reps);
      };
      auto by_time = [](const TuneResult& x, const TuneResult& y) { return x.us < y.us; };
      // 1. Per-tensor: cuBLASLt and every configuration of this accumulation (bf16 output).
      std::vector<TuneResult> rows;
      const double lt = measure(false, ScaledMmBackend::kCublasLt, "");
      if (lt > 0) rows.push_back({s, fast, false, "cublaslt", lt});
      for (const std::string& c : configs) {
        if (c.rfind("bf16_", 0) != 0 || (c.find("_fast") != std::string::npos) != fast) continue;
        if (c.find("_swap") != std::string::npos && s.M > 256) continue;  // swap-AB tiles are for few tokens
        if (c.find("_gemv") != std::string::npos && s.M > 64) continue;   // weight streaming: re-reads per token block
        if (c.find("_gemv_block") != std::string::npos) continue;  // block scales: the blockwise rows' kernel
        const double us = measure(false, ScaledMmBackend::kCutlass, c);
        if (us > 0) rows.push_back({s, fast, false, c, us});
      }
      // 2. Knobs for the two fastest: tile order (large M), promotion interval, split-K.
      std::sort(rows.begin(), rows.end(), by_time);
      std::vector<std::string> top;
      for (const TuneResult& r : rows)
        if (r.kernel != "cublaslt" && top.size() < 2) top.push_back(r.kernel);
      for (const std::string& k : top) {
        std::vector<std::string> knobs;
        if (s.M >= 1024)
          for (const char* x : {"swizzle=2,raster=m", "swizzle=8,raster=m", "swizzle=4,raster=n"})
            knobs.push_back(x);
        if (!fast && s.M >= 128)
          for (const char* x : {"promote=8", "promote=16"}) knobs.push_back(x);
        if (k.find("_sk") != std::string::npos)
          for (const char* x : {"splits=2", "splits=4"}) knobs.push_back(x);
        if (k.find("_gemv") != std::string::npos)
          for (const char* x : {"prefetch=1024", "prefetch=2048"}) knobs.push_back(x);  // 4096+ measured slower
        for (const std::string& x : knobs) {
          const double us = measure(false, ScaledMmBackend::kCutlass, k + ":" + x);
          if (us > 0) rows.push_back({s, fast, false, k + ":" + x, us});
        }
      }
      std::sort(rows.begin(), rows.end(), by_time);
      // 3. The best without programmatic dependent launch, for the record.
      for (const TuneResult& r : rows)
        if (r.kernel != "cublaslt") {
          const std::string k = r.kernel + (r.kernel.find(':') == std::string::npos ? ":" : ",") + "pdl=0";
          const double us = measure(false, ScaledMmBackend::kCutlass, k);
          if (us > 0) all.push_back({s, fast, false, k, us});
          break;
        }
      // 4. Vector scales (per-token x per-channel): cuBLASLt's outer-vector kernels, the unfused path, and the
      // three fastest cutlass kernels of step 2.
      std::vector<TuneResult> vrows;
      for (ScaledMmBackend b : {ScaledMmBackend::kCublasLt, ScaledMmBackend::kUnfused}) {
        const double us = measure(true, b, "");
        if (us > 0) vrows.push_back({s, fast, true, backend_name(b), us});
      }
      int n_vec = 0;
      for (const TuneResult& r : rows)
        if (r.kernel != "cublaslt" && n_vec++ < 3) {
          const double us = measure(true, ScaledMmBackend::kCutlass, r.kernel);
          if (us > 0) vrows.push_back({s, fast, true, r.kernel, us});
        }
      std::sort(vrows.begin(), vrows.end(), by_time);
      for (const auto* set : {&rows, &vrows}) {
        if (set->empty()) continue;
        const TuneResult& b = set->front();
        double ref = 0;
        for (const TuneResult& r : *set)
          if (r.kernel == "cublaslt") ref = r.us;
        std::fprintf(stderr, "tune M=%ld N=%ld K=%ld %s %s: best %s %.1f us; cublaslt %.1f us (%.3fx)\n", long(s.M),
                     long(s.N), long(s.K), fast ? "fast" : "promoted", b.vec ? "rowwise" : "per_tensor",
                     b.kernel.c_str(), b.us, ref, ref > 0 ? ref / b.us : 0.0);
        for (size_t i = 0; i < set->size() && i < 5; ++i)
          std::fprintf(stderr, "    %-60s %9.1f us\n", (*set)[i].kernel.c_str(), (*set)[i].us);
      }
      all.insert(all.end(), rows.begin(), rows.end());
      all.insert(all.end(), vrows.begin(), vrows.end());
      flush();
    }
  }
}

// --time M,N,K promoted|fast per_tensor|rowwise|blockwise SPEC...: one shape, each kernel spec ("cublaslt", "unfused",
// "auto" or a cutlass "config[:knobs]"), timed alternately twice (power-cap drift shows as a spread).
void time_kernels(const std::string& shape, const std::string& acc_name, const std::string& scales,
                  const std::vector<std::string>& specs, int reps) {
  Shape s{};
  if (std::sscanf(shape.c_str(), "%ld,%ld,%ld", &s.M, &s.N, &s.K) != 3) {
    std::fprintf(stderr, "--time: expected M,N,K, got %s\n", shape.c_str());
    std::exit(2);
  }
  const bool fast = acc_name == "fast", vec = scales == "rowwise";
  const std::vector<Tensor> weights = rotated_fp8_weights(s, 100);
  Tensor a = random_fp8_fast({s.M, s.K}, 99);
  Tensor out = Tensor::empty({s.M, s.N}, DType::kBFloat16, Device::cuda());
  std::mt19937 gen(3);
  Tensor sa = random_device(vec ? Dims{s.M, 1} : Dims{1}, DType::kFloat32, gen, 0.5f, 1.0f);
  Tensor sb = random_device(vec ? Dims{s.N, 1} : Dims{1}, DType::kFloat32, gen, 0.5f, 1.0f);
  if (scales == "blockwise") {  // 1x128 activation scales column-major (cuBLASLt's layout), 128x128 weight blocks
    sa = random_device({s.K / 128, s.M}, DType::kFloat32, gen, 0.5f, 1.0f).t();
    sb = random_device({(s.N + 127) / 128, s.K / 128}, DType::kFloat32, gen, 0.5f, 1.0f).t();
  }
  const bool large = s.M * s.N * s.K >= (int64_t(1) << 36);
  for (int round = 0; round < 2; ++round)
    for (const std::string& spec : specs) {
      ScaledMmOptions opt{ScaledMmBackend::kCutlass, fast ? Accumulation::kFast : Accumulation::kPromoted, spec};
      if (spec == "cublaslt" || spec == "unfused" || spec == "auto") {
        opt.backend = backend_from_name(spec);
        opt.kernel.clear();
      }
      try {
        scaled_mm(out, a, weights[0].t(), sa, sb, std::nullopt, opt);
      } catch (const Error& e) {
        std::fprintf(stderr, "time %s: %s\n", spec.c_str(), e.what());
        continue;
      }
      const double warm = large ? (round == 0 && &spec == &specs[0] ? 3.0 : 1.0) : 0.2;
      const double us = time_scaled_mm(out, a, weights, sa, sb, opt, warm, reps);
      std::printf("time M=%ld N=%ld K=%ld %s %s %-56s %9.1f us %7.1f TFLOPS\n", long(s.M), long(s.N), long(s.K),
                  acc_name.c_str(), scales.c_str(), spec.c_str(), us, 2.0 * s.M * s.N * s.K / us / 1e6);
    }
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path, which = "all", tune_which;
  int reps = 50;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (arg == "--shapes" && i + 1 < argc) which = argv[++i];
    else if (arg == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (arg == "--tune" && i + 1 < argc) tune_which = argv[++i];
    else if (arg == "--time" && i + 3 < argc) {
      const std::string shape = argv[++i], acc = argv[++i], scales = argv[++i];
      std::vector<std::string> specs;
      while (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0) specs.push_back(argv[++i]);
      time_kernels(shape, acc, scales, specs, reps);
      return 0;
    }
    else {
      std::fprintf(stderr,
                   "usage: w8a8-bench [--shapes all|decode|large|quant] [--reps N] [--json FILE]\n"
                   "       w8a8-bench --tune explore|table|large [--reps N] [--json FILE]\n"
                   "       w8a8-bench [--reps N] --time M,N,K promoted|fast per_tensor|rowwise|blockwise SPEC...\n");
      return 2;
    }
  }
  if (!tune_which.empty()) {
    tune(tune_which, reps, json_path);
    return 0;
  }
  std::vector<Row> rows;
  if (which == "all" || which == "quant") quant_rows(reps, rows);
  if (which == "all" || which == "decode") gemm_rows(decode_shapes(), reps, rows);
  if (which == "all" || which == "large") gemm_rows(large_shapes(), reps, rows);
  if (!json_path.empty()) {
    std::FILE* f = std::fopen(json_path.c_str(), "w");
    if (!f) return 1;
    cudaDeviceProp prop{};
    CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
    std::fprintf(f, "{\"device\": \"%s\", \"rows\": [\n", prop.name);
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::fprintf(f, " {\"op\": \"%s\", \"variant\": \"%s\", \"M\": %ld, \"N\": %ld, \"K\": %ld, \"us\": %.3f, "
                      "\"tflops\": %.3f, \"tbps\": %.4f}%s\n",
                   r.op.c_str(), r.variant.c_str(), long(r.M), long(r.N), long(r.K), r.us, r.tflops, r.tbps,
                   i + 1 < rows.size() ? "," : "");
    }
    std::fprintf(f, "]}\n");
    std::fclose(f);
  }
  return 0;
}
