// w8a8 tune: what scaled_mm could run on this device, measured over a grid of shapes, into the chooser's cache.
#include "w8a8/tune.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <tuple>

#include "scaled_mm/cutlass_sm90/selection.h"
#include "scaled_mm/random_fp8.h"
#include "w8a8/error.h"
#include "w8a8/formats.h"
#include "w8a8/scaled_mm.h"
#ifdef W8A8_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/check.h"
#include "cuda/graph_timer.h"
#endif

namespace w8a8 {

std::vector<TuneShape> tune_grid() {
  const std::pair<int64_t, int64_t> nk[] = {{6144, 4096},  {4096, 4096},  {28672, 4096}, {4096, 14336},
                                            {10240, 8192}, {8192, 8192},  {57344, 8192}, {8192, 28672},
                                            {7168, 16384}, {4096, 7168},  {2112, 7168}};
  std::vector<TuneShape> shapes;
  for (auto [n, k] : nk)
    for (int64_t m : {1, 4, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192}) shapes.push_back({m, n, k});
  return shapes;
}

#ifdef W8A8_WITH_CUDA
namespace {

using smm::random_fp8;

constexpr size_t kRotateBytes = size_t(256) << 20;  // weight copies filling >= 256 MB: the 50 MB L2 keeps none
constexpr size_t kMaxCopies = 64;                   // (tiny weights: calls per graph stay few)

Tensor random_scales(Dims sizes, uint64_t seed, Device device) {
  Tensor host = Tensor::empty(sizes, DType::kFloat32);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 7;
  for (int64_t i = 0; i < host.numel(); ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    host.data_as<float>()[i] = 0.5f + float(x >> 40) / float(1ull << 24) * 0.5f;  // [0.5, 1)
  }
  return host.to(device);
}

// The configurations worth timing for M tokens: swap-AB tiles (tokens on the narrow side) for M <= 256, the
// weight-streaming kernel for M <= 16, 128-row tiles from M = 64 on.
std::vector<std::string> candidates(const std::vector<std::string>& kernels, bool fast, int64_t m) {
  std::vector<std::string> out;
  for (const std::string& k : kernels) {
    if (k.rfind("bf16_", 0) != 0 || (k.find("_fast") != std::string::npos) != fast) continue;
    if (k.find("_gemv_block") != std::string::npos) continue;  // blockwise scales: not a regime tuned here
    const bool swap = k.find("_swap") != std::string::npos, gemv = k.find("_gemv") != std::string::npos;
    const int tile_m = std::atoi(k.c_str() + 5);
    if (gemv ? m > 16 : swap ? m > 256 : (tile_m >= 128 && m < 64)) continue;
    out.push_back(k);
  }
  return out;
}

std::vector<std::string> knob_variants(const std::string& kernel, int64_t m) {
  if (kernel.find("_gemv") != std::string::npos) return {kernel + ":prefetch=1024", kernel + ":prefetch=2048"};
  if (m >= 1024)
    return {kernel + ":swizzle=2,raster=m", kernel + ":swizzle=4,raster=n", kernel + ":swizzle=8,raster=m"};
  return {};
}

void write_measurements(const std::string& path, const std::string& device, int reps,
                        const std::vector<TuneRow>& rows) {
  std::ofstream out(path);
  W8A8_CHECK_KIND(ErrorKind::kRuntime, bool(out), "measurements_path: cannot write '", path, "'");
  out << "{\"device\": \"" << device << "\", \"reps\": " << reps << ", \"tune\": [\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const TuneRow& r = rows[i];
    char us[32];
    std::snprintf(us, sizeof us, "%.3f", r.us);
    out << " {\"M\": " << r.m << ", \"N\": " << r.n << ", \"K\": " << r.k << ", \"fast\": "
        << (r.fast ? "true" : "false") << ", \"vec\": " << (r.vec ? "true" : "false") << ", \"kernel\": \""
        << r.kernel << "\", \"us\": " << us << "}" << (i + 1 < rows.size() ? "," : "") << "\n";
  }
  out << "]}\n";
  W8A8_CHECK_KIND(ErrorKind::kRuntime, bool(out), "measurements_path: writing '", path, "' failed");
}

}  // namespace

TuneResult tune_scaled_mm(const TuneOptions& options, int device) {
  const std::vector<std::string> kernels = scaled_mm_kernels(ScaledMmBackend::kCutlass);
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, !kernels.empty(),
                  "tune_scaled_mm: this build has no w8a8 kernel configurations to choose among (build with "
                  "-DW8A8_CUTLASS=ON)");
  W8A8_CHECK(options.reps >= 1, "reps: expected >= 1, got ", options.reps);
  W8A8_CHECK(options.margin >= 0 && options.margin < 1, "margin: expected a fraction in [0, 1), got ",
             options.margin);
  W8A8_CHECK((options.promoted || options.fast) && (options.per_tensor || options.rowwise),
             "options: nothing to tune (no accumulation or no scale kind selected)");
  int count = 0;
  W8A8_CUDA_CHECK(cudaGetDeviceCount(&count));
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, device >= 0 && device < count, "device: expected a CUDA device index in [0, ",
                  count, "), got ", device);
  W8A8_CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop{};
  W8A8_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, prop.major == 9, "tune_scaled_mm: w8a8's kernels run on sm_90 only; ",
                  prop.name, " is sm_", prop.major * 10 + prop.minor);
  std::vector<TuneShape> shapes = options.shapes.empty() ? tune_grid() : options.shapes;
  for (const TuneShape& s : shapes)
    W8A8_CHECK(s.m >= 1 && s.n >= 16 && s.k >= 16 && s.n % 16 == 0 && s.k % 16 == 0, "shapes: expected M >= 1 and N, K "
               "positive multiples of 16, got M=", s.m, " N=", s.n, " K=", s.k);
  // One (N, K) at a time: its rotated weights serve every M.
  std::stable_sort(shapes.begin(), shapes.end(),
                   [](const TuneShape& a, const TuneShape& b) { return std::tie(a.n, a.k, a.m) < std::tie(b.n, b.k, b.m); });

  TuneResult result;
  result.device = prop.name;
  result.cache_path = options.cache_path.empty() ? smm::cutlass_sm90::default_tune_cache_path() : options.cache_path;
  const Device dev = Device::cuda(device);
  // The clock first falls under the power cap: time nothing before it settles.
  {
    Tensor a = random_fp8({8192, 8192}, 1, dev), s = random_scales({1}, 2, dev);
    Tensor out = Tensor::empty({8192, 8192}, DType::kBFloat16, dev);
    cuda::time_as_graph([&](Stream st) { scaled_mm(out, a, a.t(), s, s, std::nullopt, {}, st); }, 1, 2.0, 1);
  }
  // Written after every (N, K): a run stopped by a time limit keeps what it measured.
  const auto flush = [&] {
    std::vector<smm::cutlass_sm90::CacheRow> rows;
    for (const TuneRow& r : result.chosen) rows.push_back({r.fast, r.vec, r.m, r.n, r.k, r.kernel, r.us, r.alt_us});
    smm::cutlass_sm90::write_tune_cache(result.cache_path, result.device, kernels, rows);
    if (!options.measurements_path.empty())
      write_measurements(options.measurements_path, result.device, options.reps, result.measured);
  };
  uint64_t seed = 100;
  // Promoted accumulation (the default) over every shape first, then fast: a run cut short by a time limit has
  // covered what users run by default.
  for (bool fast : {false, true}) {
    if (!(fast ? options.fast : options.promoted)) continue;
    size_t i = 0;
    while (i < shapes.size()) {
      if (!result.chosen.empty()) flush();
      const int64_t N = shapes[i].n, K = shapes[i].k;
      size_t end = i;
      int64_t max_m = 0;
      while (end < shapes.size() && shapes[end].n == N && shapes[end].k == K) max_m = std::max(max_m, shapes[end++].m);
      const size_t copies =
          std::min<size_t>(kMaxCopies, std::max<size_t>(1, (kRotateBytes + size_t(N * K) - 1) / size_t(N * K)));
      std::vector<Tensor> weights;
      for (size_t c = 0; c < copies; ++c) weights.push_back(random_fp8({N, K}, seed++, dev));
      const Tensor a_all = random_fp8({max_m, K}, seed++, dev);
      const Tensor out_all = Tensor::empty({max_m, N}, DType::kBFloat16, dev);
      const Tensor sa1 = random_scales({1}, seed++, dev), sb1 = random_scales({1}, seed++, dev);
      const Tensor sav_all = random_scales({max_m, 1}, seed++, dev), sbv = random_scales({N, 1}, seed++, dev);
      for (; i < end; ++i) {
        const int64_t M = shapes[i].m;
        const TensorView a = a_all.narrow(0, 0, M), out = out_all.narrow(0, 0, M), sav = sav_all.narrow(0, 0, M);
        const bool large = M * N * K >= (int64_t(1) << 36);
        for (bool vec : {false, true}) {
          if (!(vec ? options.rowwise : options.per_tensor)) continue;
          const Accumulation acc = fast ? Accumulation::kFast : Accumulation::kPromoted;
          auto measure = [&](const std::string& spec) -> double {
            const ScaledMmOptions opt = spec == "cublaslt" ? ScaledMmOptions(ScaledMmBackend::kCublasLt, acc)
                                                           : ScaledMmOptions(ScaledMmBackend::kCutlass, acc, spec);
            const TensorView sa = vec ? sav : TensorView(sa1), sb = vec ? TensorView(sbv) : TensorView(sb1);
            try {
              const double us = cuda::time_as_graph(
                  [&](Stream st) {
                    for (const Tensor& w : weights) scaled_mm(out, a, w.t(), sa, sb, std::nullopt, opt, st);
                  },
                  int(copies), large ? 0.02 : 0.005, options.reps);
              result.measured.push_back({M, N, K, fast, vec, spec, us});
              return us;
            } catch (const Error&) {
              return -1;  // this candidate cannot run the problem
            }
          };
          const double lt = measure("cublaslt");
          std::string best;
          double best_us = -1;
          auto consider = [&](const std::string& spec) {
            const double us = measure(spec);
            if (us > 0 && (best_us < 0 || us < best_us)) best = spec, best_us = us;
          };
          for (const std::string& c : candidates(kernels, fast, M)) consider(c);
          if (!best.empty())
            for (const std::string& v : knob_variants(best, M)) consider(v);
          TuneRow row{M, N, K, fast, vec, "cublaslt", lt, best_us > 0 ? best_us : 0};
          if (best_us > 0 && (lt <= 0 || best_us * (1 + options.margin) < lt)) {
            row.kernel = best;
            row.us = best_us;
            row.alt_us = lt > 0 ? lt : 0;
          }
          result.chosen.push_back(row);
          if (options.progress) {
            char line[256];
            std::snprintf(line, sizeof line, "tune M=%ld N=%ld K=%ld %s %s: %s %.1f us (cuBLASLt %.1f us, best "
                          "configuration %.1f us)",
                          long(M), long(N), long(K), fast ? "fast" : "promoted", vec ? "rowwise" : "per_tensor",
                          row.kernel.c_str(), row.us, lt, best_us);
            options.progress(line);
          }
        }
      }
    }
  }
  flush();
  return result;
}

#else

TuneResult tune_scaled_mm(const TuneOptions&, int) {
  W8A8_FAIL(ErrorKind::kUnsupported, "tune_scaled_mm: needs a CUDA build (-DW8A8_CUDA=ON) with w8a8's Hopper kernels "
            "(-DW8A8_CUTLASS=ON) and a CUDA device");
}

#endif  // W8A8_WITH_CUDA

}  // namespace w8a8
