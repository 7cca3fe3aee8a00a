// w8a8-bench: times w8a8's GPU kernels and backends on the harness's shape list.
//
// Method (docs/benchmarks.md): each measurement is a CUDA graph of calls that rotate over weight
// copies filling >= 256 MB (the 50 MB L2 keeps none of them between uses); warm-up by time (>= 3 s
// before the first large shape, where the H100's clock falls under its power cap); the median of
// many timed replays. Prints a table and writes JSON rows like bench/torch_baseline.py's.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

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

// Median microseconds per call of `calls` (a list run once per replay), timed as a CUDA graph.
double time_graph(const std::vector<std::function<void(cudaStream_t)>>& calls, double warmup_s, int reps) {
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  for (auto& c : calls) c(stream);  // plans, workspaces, heuristics: outside the capture
  CHECK_CUDA(cudaStreamSynchronize(stream));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (auto& c : calls) c(stream);
  CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  const auto t0 = std::chrono::steady_clock::now();
  do {
    for (int i = 0; i < 5; ++i) CHECK_CUDA(cudaGraphLaunch(exec, stream));
    CHECK_CUDA(cudaStreamSynchronize(stream));
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < warmup_s);
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    CHECK_CUDA(cudaEventRecord(start, stream));
    CHECK_CUDA(cudaGraphLaunch(exec, stream));
    CHECK_CUDA(cudaEventRecord(stop, stream));
    CHECK_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(double(ms) * 1e3 / double(calls.size()));
  }
  CHECK_CUDA(cudaGraphExecDestroy(exec));
  CHECK_CUDA(cudaGraphDestroy(graph));
  CHECK_CUDA(cudaEventDestroy(start));
  CHECK_CUDA(cudaEventDestroy(stop));
  CHECK_CUDA(cudaStreamDestroy(stream));
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
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

void gemm_rows(const std::vector<Shape>& shapes, int reps, std::vector<Row>& rows) {
  std::mt19937 gen(0);
  bool first_large = true;
  for (const Shape& s : shapes) {
    const bool large = s.M * s.N * s.K >= (int64_t(1) << 36);
    const size_t copies = std::max<size_t>(1, (kRotateBytes + size_t(s.N * s.K) - 1) / size_t(s.N * s.K));
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
          std::vector<std::function<void(cudaStream_t)>> calls;
          for (const Tensor& w : weights)
            calls.push_back([&, w, opt](cudaStream_t st) {
              scaled_mm(out, a, w.t(), v.sa, v.sb, std::nullopt, opt, reinterpret_cast<Stream>(st));
            });
          const double warm = large ? (first_large ? 3.0 : 1.0) : 0.3;
          first_large = first_large && !large;
          const double us = time_graph(calls, warm, reps);
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

// ---- --tune: time every cutlass configuration (and cuBLASLt) per shape and accumulation, write the
// selection table the backend reads (src/scaled_mm/cutlass_sm90/selection_table.inc). ----
struct TuneResult {
  Shape s;
  bool fast;
  std::string kernel;  // "config[:knobs]" or "cublaslt"
  double us;
};

std::vector<Shape> tune_shapes(const std::string& which) {
  std::vector<Shape> s;
  const std::vector<std::pair<int64_t, int64_t>> nk = {{8192, 8192}, {28672, 4096}, {4096, 4096}, {57344, 8192}};
  std::vector<int64_t> ms = which == "explore" ? std::vector<int64_t>{1, 16, 64, 128, 512, 2048}
                                                : std::vector<int64_t>{1, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
  for (auto [n, k] : nk)
    for (int64_t m : ms)
      if (which != "explore" || m <= 64 || (n == 8192 && k == 8192)) s.push_back({m, n, k});
  for (const Shape& l : large_shapes()) s.push_back(l);
  return s;
}

void tune(const std::string& which, int reps, const std::string& table_path, const std::string& json_path) {
  std::mt19937 gen(2);
  const std::vector<std::string> configs = scaled_mm_kernels(ScaledMmBackend::kCutlass);
  if (configs.empty()) {
    std::fprintf(stderr, "--tune: this build has no cutlass configurations (-DW8A8_CUTLASS=ON)\n");
    std::exit(2);
  }
  std::vector<TuneResult> all, best;
  // Results are written after every shape, so a run cut short still leaves a table.
  auto flush = [&] {
  if (!json_path.empty()) {
      std::FILE* f = std::fopen(json_path.c_str(), "w");
      if (!f) std::exit(1);
      std::fprintf(f, "{\"tune\": [\n");
      for (size_t i = 0; i < all.size(); ++i)
        std::fprintf(f, " {\"M\": %ld, \"N\": %ld, \"K\": %ld, \"fast\": %s, \"kernel\": \"%s\", \"us\": %.3f}%s\n",
                     long(all[i].s.M), long(all[i].s.N), long(all[i].s.K), all[i].fast ? "true" : "false",
                     all[i].kernel.c_str(), all[i].us, i + 1 < all.size() ? "," : "");
      std::fprintf(f, "]}\n");
      std::fclose(f);
    }
    if (!table_path.empty()) {
      std::FILE* f = std::fopen(table_path.c_str(), "w");
      if (!f) std::exit(1);
      cudaDeviceProp prop{};
      CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
      std::fprintf(f, "// Generated by `w8a8-bench --tune --write-table` on the GPU machine; do not edit by hand.\n");
      std::fprintf(f, "// Device: %s. Per-tensor scales, bf16 output; reps %d. Fastest of the cutlass configurations\n"
                      "// and cuBLASLt per (M, N, K, accumulation).\n", prop.name, reps);
      std::fprintf(f, "// W8A8_SM90_PICK(fast, m_max, n, k, config, swizzle, raster, splits)\n");
      for (const TuneResult& r : best) {
        std::string name = r.kernel.substr(0, r.kernel.find(':'));
        int swizzle = 1, splits = 1;
        const char* raster = "heuristic";
        if (r.kernel.find(':') != std::string::npos) {
          const std::string k = r.kernel.substr(r.kernel.find(':') + 1);
          if (k.find("swizzle=") != std::string::npos) swizzle = std::atoi(k.c_str() + k.find("swizzle=") + 8);
          if (k.find("splits=") != std::string::npos) splits = std::atoi(k.c_str() + k.find("splits=") + 7);
          if (k.find("raster=m") != std::string::npos) raster = "along_m";
          if (k.find("raster=n") != std::string::npos) raster = "along_n";
        }
        std::fprintf(f, "W8A8_SM90_PICK(%s, %ld, %ld, %ld, \"%s\", %d, %s, %d)  // %.1f us\n", r.fast ? "true" : "false",
                     long(r.s.M), long(r.s.N), long(r.s.K), name.c_str(), swizzle, raster, splits, r.us);
      }
      std::fclose(f);
    }
  };
  bool first_large = true;
  for (const Shape& s : tune_shapes(which)) {
    const bool large = s.M * s.N * s.K >= (int64_t(1) << 36);
    const size_t copies = std::max<size_t>(1, (kRotateBytes + size_t(s.N * s.K) - 1) / size_t(s.N * s.K));
    std::vector<Tensor> weights;
    for (size_t i = 0; i < copies; ++i) weights.push_back(random_device({s.N, s.K}, DType::kFloat8E4M3FN, gen));
    Tensor a = random_device({s.M, s.K}, DType::kFloat8E4M3FN, gen);
    Tensor out = Tensor::empty({s.M, s.N}, DType::kBFloat16, Device::cuda());
    Tensor sa = random_device({1}, DType::kFloat32, gen, 0.5f, 1.0f);
    Tensor sb = random_device({1}, DType::kFloat32, gen, 0.5f, 1.0f);
    for (bool fast : {false, true}) {
      const Accumulation acc = fast ? Accumulation::kFast : Accumulation::kPromoted;
      auto measure = [&](ScaledMmBackend backend, const std::string& kernel) -> double {
        ScaledMmOptions opt{backend, acc, kernel};
        try {
          scaled_mm(out, a, weights[0].t(), sa, sb, std::nullopt, opt);
          CHECK_CUDA(cudaDeviceSynchronize());
        } catch (const Error&) {
          return -1.0;
        }
        std::vector<std::function<void(cudaStream_t)>> calls;
        for (const Tensor& w : weights)
          calls.push_back([&, w, opt](cudaStream_t st) {
            scaled_mm(out, a, w.t(), sa, sb, std::nullopt, opt, reinterpret_cast<Stream>(st));
          });
        const double warm = large ? (first_large ? 3.0 : 0.3) : 0.1;
        first_large = first_large && !large;
        return time_graph(calls, warm, reps);
      };
      std::vector<TuneResult> rows;
      const double lt = measure(ScaledMmBackend::kCublasLt, "");
      if (lt > 0) rows.push_back({s, fast, "cublaslt", lt});
      for (const std::string& c : configs) {
        const bool swap = c.find("_swap") != std::string::npos;
        if (swap && s.M > 256) continue;  // swap-AB tiles are for few tokens
        const double us = measure(ScaledMmBackend::kCutlass, c);
        if (us > 0) rows.push_back({s, fast, c, us});
      }
      // Knobs for the three fastest configurations: tile order, and split-K where the scheduler has it.
      std::sort(rows.begin(), rows.end(), [](const TuneResult& x, const TuneResult& y) { return x.us < y.us; });
      std::vector<TuneResult> top;
      for (const TuneResult& r : rows)
        if (r.kernel != "cublaslt" && top.size() < 3) top.push_back(r);
      for (const TuneResult& r : top) {
        std::vector<std::string> knobs;
        if (s.M >= 2048)
          for (const char* k : {"swizzle=2,raster=m", "swizzle=4,raster=m", "swizzle=8,raster=m", "swizzle=2,raster=n",
                                "swizzle=4,raster=n", "swizzle=1,raster=m", "swizzle=1,raster=n"})
            knobs.push_back(k);
        if (r.kernel.find("_sk") != std::string::npos)
          for (const char* k : {"splits=2", "splits=3", "splits=4", "splits=8"}) knobs.push_back(k);
        for (const std::string& k : knobs) {
          const double us = measure(ScaledMmBackend::kCutlass, r.kernel + ":" + k);
          if (us > 0) rows.push_back({s, fast, r.kernel + ":" + k, us});
        }
      }
      std::sort(rows.begin(), rows.end(), [](const TuneResult& x, const TuneResult& y) { return x.us < y.us; });
      if (rows.empty()) continue;
      std::fprintf(stderr, "tune M=%ld N=%ld K=%ld %s: best %s %.1f us; cublaslt %.1f us (%.3fx)\n", long(s.M),
                   long(s.N), long(s.K), fast ? "fast" : "promoted", rows[0].kernel.c_str(), rows[0].us, lt,
                   lt > 0 ? lt / rows[0].us : 0.0);
      for (size_t i = 0; i < rows.size() && i < 6; ++i)
        std::fprintf(stderr, "    %-60s %9.1f us\n", rows[i].kernel.c_str(), rows[i].us);
      best.push_back(rows[0]);
      all.insert(all.end(), rows.begin(), rows.end());
      flush();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path, which = "all", tune_which, table_path;
  int reps = 50;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (arg == "--shapes" && i + 1 < argc) which = argv[++i];
    else if (arg == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (arg == "--tune" && i + 1 < argc) tune_which = argv[++i];
    else if (arg == "--write-table" && i + 1 < argc) table_path = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: w8a8-bench [--shapes all|decode|large|quant] [--reps N] [--json FILE]\n"
                   "       w8a8-bench --tune explore|table [--write-table FILE] [--reps N] [--json FILE]\n");
      return 2;
    }
  }
  if (!tune_which.empty()) {
    tune(tune_which, reps, table_path, json_path);
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
