// The CPU scaled_mm backend against OpenBLAS sgemm on fp32 operands of the same shape, in the same run.
//   build/<dir>/bench/bench_scaled_mm_cpu --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
// Counters: FLOPS = 2 M N K per second. scaled_mm times include dequantization and the epilogue.
// Names: BM_Sgemm/M/N/K, BM_ScaledMm/<scales>/M/N/K (bf16 out, the decode path for M <= 16).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdint>
#include <random>

#include "w8a8/formats.h"
#include "w8a8/scaled_mm.h"
#include "w8a8/tensor.h"

namespace {

using w8a8::DType;
using w8a8::Dims;
using w8a8::Tensor;

Tensor random_fp8(int64_t rows, int64_t cols, uint32_t seed) {
  Tensor t = Tensor::empty({rows, cols}, DType::kFloat8E4M3FN);
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, 100.0f);
  uint8_t* p = t.data_as<uint8_t>();
  for (int64_t i = 0; i < rows * cols; ++i) p[i] = w8a8::quantize_e4m3fn(d(gen));
  return t;
}

Tensor random_f32(int64_t rows, int64_t cols, uint32_t seed) {
  Tensor t = Tensor::empty({rows, cols}, DType::kFloat32);
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int64_t i = 0; i < rows * cols; ++i) t.data_as<float>()[i] = d(gen);
  return t;
}

Tensor scales(Dims sizes, float v) {
  Tensor t = Tensor::empty(sizes, DType::kFloat32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = v * (1.0f + 0.001f * float(i % 7));
  return t;
}

void set_flops(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * double(m) * double(n) * double(k), benchmark::Counter::kIsIterationInvariantRate);
}

// fp32 A [M, K] x W [N, K]^T: the same layout as the FP8 problem.
void BM_Sgemm(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const Tensor a = random_f32(m, k, 1), w = random_f32(n, k, 2);
  Tensor c = Tensor::empty({m, n}, DType::kFloat32);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m), int(n), int(k), 1.0f, a.data_as<float>(), int(k),
                w.data_as<float>(), int(k), 0.0f, c.data_as<float>(), int(n));
    benchmark::ClobberMemory();
  }
  set_flops(state, m, n, k);
}

enum class Scales { kPerTensor, kTokenChannel, kBlock };

template <Scales kind>
void BM_ScaledMm(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const Tensor a = random_fp8(m, k, 1), w = random_fp8(n, k, 2);
  Tensor sa, sb;
  switch (kind) {
    case Scales::kPerTensor: sa = scales({1}, 0.01f); sb = scales({1}, 0.001f); break;
    case Scales::kTokenChannel: sa = scales({m, 1}, 0.01f); sb = scales({n, 1}, 0.001f); break;
    case Scales::kBlock: sa = scales({m, k / 128}, 0.01f); sb = scales({k / 128, (n + 127) / 128}, 0.001f); break;
  }
  Tensor out = Tensor::empty({m, n}, DType::kBFloat16);
  w8a8::ScaledMmOptions options;
  options.backend = w8a8::ScaledMmBackend::kCpu;
  for (auto _ : state) {
    w8a8::scaled_mm(out, a, w.t(), sa, sb, std::nullopt, options);
    benchmark::ClobberMemory();
  }
  set_flops(state, m, n, k);
}

void Shapes(benchmark::internal::Benchmark* b) {
  b->Args({1024, 4096, 4096});
  for (int64_t m : {1, 4, 16}) b->Args({m, 4096, 4096});
  b->ArgNames({"M", "N", "K"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_Sgemm)->Apply(Shapes);
BENCHMARK_TEMPLATE(BM_ScaledMm, Scales::kPerTensor)->Name("BM_ScaledMm/per_tensor")->Apply(Shapes);
BENCHMARK_TEMPLATE(BM_ScaledMm, Scales::kTokenChannel)->Name("BM_ScaledMm/token_channel")->Apply(Shapes);
BENCHMARK_TEMPLATE(BM_ScaledMm, Scales::kBlock)->Name("BM_ScaledMm/block")->Apply(Shapes);

}  // namespace

BENCHMARK_MAIN();
