// Throughput of the CPU quantization entries: GB/s of input read (bytes_processed).
//   build/<dir>/bench/bench_quant [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>

#include "w8a8/formats.h"
#include "w8a8/quant.h"
#include "w8a8/tensor.h"

namespace {

using w8a8::DType;
using w8a8::Tensor;

Tensor random_input(int64_t m, int64_t k, DType dtype) {
  Tensor t = Tensor::empty({m, k}, dtype);
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> dist(-4.0f, 4.0f);
  const int64_t n = m * k;
  for (int64_t i = 0; i < n; ++i) {
    const float v = dist(rng);
    if (dtype == DType::kBFloat16) t.data_as<uint16_t>()[i] = w8a8::float_to_bf16(v);
    else t.data_as<float>()[i] = v;
  }
  return t;
}

enum class Mode { kStatic, kDynamicTensor, kDynamicToken, kGroup128 };

template <Mode mode, DType dtype>
void BM_Quant(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(0);
  const Tensor x = random_input(m, k, dtype);
  Tensor q = Tensor::empty({m, k}, DType::kFloat8E4M3FN);
  Tensor one = Tensor::empty({1}, DType::kFloat32);
  one.data_as<float>()[0] = 4.0f / 448.0f;
  Tensor per_token = Tensor::empty({m, 1}, DType::kFloat32);
  Tensor groups = Tensor::empty({m, k / 128}, DType::kFloat32);
  for (auto _ : state) {
    switch (mode) {
      case Mode::kStatic: w8a8::static_scaled_fp8_quant(q, x, one); break;
      case Mode::kDynamicTensor: w8a8::dynamic_scaled_fp8_quant(q, x, one); break;
      case Mode::kDynamicToken: w8a8::dynamic_per_token_scaled_fp8_quant(q, x, per_token); break;
      case Mode::kGroup128: w8a8::per_token_group_quant_fp8_into(q, groups, x, 128); break;
    }
    benchmark::DoNotOptimize(q.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * m * k * int64_t(w8a8::dtype_size(dtype)));
}

#define W8A8_QUANT_BENCH(mode, dtype)                                                     \
  BENCHMARK_TEMPLATE(BM_Quant, mode, dtype)->Arg(4096)->Arg(8192)->UseRealTime()->Unit( \
      benchmark::kMillisecond)

W8A8_QUANT_BENCH(Mode::kStatic, DType::kBFloat16);
W8A8_QUANT_BENCH(Mode::kStatic, DType::kFloat32);
W8A8_QUANT_BENCH(Mode::kDynamicTensor, DType::kBFloat16);
W8A8_QUANT_BENCH(Mode::kDynamicTensor, DType::kFloat32);
W8A8_QUANT_BENCH(Mode::kDynamicToken, DType::kBFloat16);
W8A8_QUANT_BENCH(Mode::kDynamicToken, DType::kFloat32);
W8A8_QUANT_BENCH(Mode::kGroup128, DType::kBFloat16);
W8A8_QUANT_BENCH(Mode::kGroup128, DType::kFloat32);

}  // namespace

BENCHMARK_MAIN();
