// GPU quantization against the CPU backend: FP8 codes and scales must be bit-identical.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "common/reference.h"
#include "gpu/gpu_test_util.h"
#include "w8a8/formats.h"
#include "w8a8/quant.h"

namespace w8a8 {
namespace {

using gputest::to_cpu;
using gputest::to_gpu;

const int64_t kRows[] = {1, 2, 3, 4, 15, 16, 17, 64, 127, 128, 1000, 4096};

// A [M, K] activation of dtype with row stride ld >= K, uniform in (-range, range), never all zero.
Tensor random_activation(int64_t M, int64_t K, int64_t ld, DType dtype, std::mt19937& gen, float range = 8.0f) {
  Tensor storage = Tensor::empty({M, ld}, dtype);
  std::uniform_real_distribution<float> d(-range, range);
  for (int64_t i = 0; i < M * ld; ++i) {
    const float v = d(gen);
    char* p = static_cast<char*>(storage.data()) + i * int64_t(storage.element_size());
    if (dtype == DType::kFloat32) {
      std::memcpy(p, &v, 4);
    } else {
      const uint16_t h = dtype == DType::kBFloat16 ? float_to_bf16(v) : float_to_fp16(v);
      std::memcpy(p, &h, 2);
    }
  }
  return storage.narrow(1, 0, K);
}

// Device copy of a possibly row-strided CPU view, keeping its row stride.
Tensor to_gpu_strided(const Tensor& cpu_view, int64_t ld) {
  Tensor full_cpu = Tensor::borrow(TensorView(cpu_view.data(), cpu_view.dtype(), {cpu_view.size(0), ld}));
  return to_gpu(full_cpu).narrow(1, 0, cpu_view.size(1));
}

// GPU result against the CPU's, byte for byte.
::testing::AssertionResult same_bytes(const TensorView& gpu, const TensorView& cpu) {
  return testref::same_bytes(to_cpu(gpu), cpu);
}

struct Case {
  DType in;
  DType fp8;
};
const Case kCases[] = {{DType::kBFloat16, DType::kFloat8E4M3FN},
                       {DType::kFloat16, DType::kFloat8E4M3FN},
                       {DType::kFloat32, DType::kFloat8E4M3FN},
                       {DType::kBFloat16, DType::kFloat8E4M3FNUZ}};

TEST(GpuQuant, PerTokenMatchesCpuBitForBit) {
  W8A8_REQUIRE_GPU();
  std::mt19937 gen(11);
  for (const Case& c : kCases)
    for (int64_t M : kRows)
      for (int64_t K : {int64_t(96), int64_t(4096), int64_t(5000)}) {
        const int64_t ld = K + (M % 2 ? 8 : 0);
        Tensor x = random_activation(M, K, ld, c.in, gen);
        const float ub_value = 3.0f;
        Tensor ub = Tensor::empty({1}, DType::kFloat32);
        *ub.data_as<float>() = ub_value;
        for (bool with_ub : {false, true}) {
          auto [q_cpu, s_cpu] = scaled_fp8_quant(x, std::nullopt, std::nullopt,
                                                 with_ub ? std::optional<TensorView>(ub) : std::nullopt, true,
                                                 std::nullopt, c.fp8);
          Tensor xg = to_gpu_strided(x, ld);
          Tensor ubg = to_gpu(ub);
          Tensor qg = Tensor::empty({M, K}, c.fp8, Device::cuda());
          Tensor sg = Tensor::empty({M, 1}, DType::kFloat32, Device::cuda());
          gputest::poison(qg, 0x7F);
          gputest::poison(sg);
          dynamic_per_token_scaled_fp8_quant(qg, xg, sg, with_ub ? std::optional<TensorView>(ubg) : std::nullopt);
          gputest::sync();
          ASSERT_TRUE(same_bytes(qg, q_cpu)) << "M=" << M << " K=" << K << " " << dtype_name(c.in);
          ASSERT_TRUE(same_bytes(sg, s_cpu)) << "scales M=" << M << " K=" << K;
        }
      }
}

TEST(GpuQuant, PerTokenPaddingRowsAreZeroWithUnitScale) {
  W8A8_REQUIRE_GPU();
  std::mt19937 gen(12);
  // Few rows (a block per row) and many (the resident grid looping over rows, padding rows last).
  for (auto [M, padded] : {std::pair<int64_t, int64_t>{5, 17}, {3001, 3500}}) {
    Tensor x = random_activation(M, 256, 256, DType::kBFloat16, gen);
    auto [q_cpu, s_cpu] = scaled_fp8_quant(x, std::nullopt, padded, std::nullopt, true);
    auto [q_gpu, s_gpu] = scaled_fp8_quant(to_gpu(x), std::nullopt, padded, std::nullopt, true);
    ASSERT_EQ(q_gpu.size(0), padded);
    EXPECT_TRUE(same_bytes(q_gpu, q_cpu)) << "M=" << M;
    EXPECT_TRUE(same_bytes(s_gpu, s_cpu)) << "M=" << M;
  }
}

TEST(GpuQuant, PerTensorStaticAndDynamicMatchCpu) {
  W8A8_REQUIRE_GPU();
  std::mt19937 gen(13);
  for (const Case& c : kCases)
    for (int64_t M : kRows) {
      const int64_t K = M % 3 == 0 ? 1000 : 2048;
      Tensor x = random_activation(M, K, K, c.in, gen);
      Tensor xg = to_gpu(x);
      // Dynamic: amax over the whole tensor on the device, no host round trip.
      auto [q_cpu, s_cpu] = scaled_fp8_quant(x, std::nullopt, std::nullopt, std::nullopt, false, std::nullopt, c.fp8);
      Tensor qg = Tensor::empty({M, K}, c.fp8, Device::cuda());
      Tensor sg = Tensor::empty({1}, DType::kFloat32, Device::cuda());
      gputest::poison(qg, 0x7F);
      dynamic_scaled_fp8_quant(qg, xg, sg);
      gputest::sync();
      ASSERT_TRUE(same_bytes(qg, q_cpu)) << "dynamic M=" << M << " " << dtype_name(c.in);
      ASSERT_TRUE(same_bytes(sg, s_cpu));
      // Static with that scale.
      gputest::poison(qg, 0x7F);
      static_scaled_fp8_quant(qg, xg, sg);
      gputest::sync();
      ASSERT_TRUE(same_bytes(qg, q_cpu)) << "static M=" << M;
    }
}

TEST(GpuQuant, PerTokenGroupMatchesCpuBothScaleLayoutsAndUe8m0) {
  W8A8_REQUIRE_GPU();
  std::mt19937 gen(14);
  for (const Case& c : kCases)
    for (int64_t M : {int64_t(1), int64_t(3), int64_t(17), int64_t(128), int64_t(1000)})
      for (int64_t G : {int64_t(128), int64_t(64)})
        for (bool col_major : {false, true})
          for (bool ue8m0 : {false, true}) {
            const int64_t K = 7 * G;
            Tensor x = random_activation(M, K, K, c.in, gen);
            auto [q_cpu, s_cpu] = per_token_group_quant_fp8(x, G, col_major, ue8m0, 1e-10, c.fp8);
            Tensor xg = to_gpu(x);
            Tensor qg = Tensor::empty({M, K}, c.fp8, Device::cuda());
            Tensor sg = col_major ? Tensor::empty({K / G, M}, DType::kFloat32, Device::cuda()).t()
                                  : Tensor::empty({M, K / G}, DType::kFloat32, Device::cuda());
            gputest::poison(qg, 0x7F);
            gputest::poison(sg);
            per_token_group_quant_fp8_into(qg, sg, xg, G, 1e-10, ue8m0);
            gputest::sync();
            ASSERT_TRUE(same_bytes(qg, q_cpu)) << "M=" << M << " G=" << G;
            // Compare scales element by element (layouts differ in memory order only through strides).
            Tensor sc = to_cpu(col_major ? Tensor(sg).t() : sg);
            Tensor sc_ref = Tensor::copy_of(col_major ? Tensor(s_cpu).t() : s_cpu);
            ASSERT_TRUE(same_bytes(sc, sc_ref)) << "scales M=" << M << " G=" << G << " col=" << col_major;
          }
}

TEST(GpuQuant, PerTokenGroupPartialLastGroupMatchesCpu) {
  // K not a multiple of G: ceil(K/G) groups, the last one short. (K, G) pairs reach each kernel: the
  // lane-per-vector kernel (16-byte vectors, G / VEC a power of two <= 32), the warp-per-group vector
  // kernel (G / VEC > 32) and the scalar kernel (K not a multiple of the vector width).
  W8A8_REQUIRE_GPU();
  std::mt19937 gen(16);
  const std::pair<int64_t, int64_t> kShapes[] = {{200, 128}, {136, 128}, {1000, 512}, {1100, 512},
                                                 {201, 128}, {7, 16},    {72, 64},    {4104, 128}};
  for (const Case& c : kCases)
    for (auto [K, G] : kShapes)
      for (int64_t M : {int64_t(1), int64_t(5), int64_t(130)})
        for (bool col_major : {false, true}) {
          const int64_t ng = (K + G - 1) / G;
          Tensor x = random_activation(M, K, K, c.in, gen);
          auto [q_cpu, s_cpu] = per_token_group_quant_fp8(x, G, col_major, /*use_ue8m0=*/M == 5, 1e-10, c.fp8);
          Tensor qg = Tensor::empty({M, K}, c.fp8, Device::cuda());
          Tensor sg = col_major ? Tensor::empty({ng, M}, DType::kFloat32, Device::cuda()).t()
                                : Tensor::empty({M, ng}, DType::kFloat32, Device::cuda());
          gputest::poison(qg, 0x7F);
          gputest::poison(sg);
          per_token_group_quant_fp8_into(qg, sg, to_gpu(x), G, 1e-10, M == 5);
          gputest::sync();
          ASSERT_TRUE(same_bytes(qg, q_cpu)) << dtype_name(c.in) << " M=" << M << " K=" << K << " G=" << G;
          Tensor sc = to_cpu(col_major ? Tensor(sg).t() : sg);
          Tensor sc_ref = Tensor::copy_of(col_major ? Tensor(s_cpu).t() : s_cpu);
          ASSERT_TRUE(same_bytes(sc, sc_ref)) << "scales M=" << M << " K=" << K << " G=" << G;
        }
}

TEST(GpuQuant, PerTokenGroupLeadingDimensionsMatchCpu) {
  // x [B, R, K]: the allocating entry quantizes the rows of x as one [M, K] problem (row-major scales) or one
  // column-major [R, groups] matrix per leading index.
  W8A8_REQUIRE_GPU();
  std::mt19937 gen(17);
  for (bool col_major : {false, true}) {
    const int64_t B = 3, R = 7, K = 300, G = 128;
    Tensor x = random_activation(B * R, K, K, DType::kBFloat16, gen);
    const TensorView x3 = x.view({B, R, K});
    auto [q_cpu, s_cpu] = per_token_group_quant_fp8(x3, G, col_major);
    const Tensor xg = to_gpu(x);
    auto [q_gpu, s_gpu] = per_token_group_quant_fp8(xg.view({B, R, K}), G, col_major);
    ASSERT_EQ(q_gpu.sizes(), (Dims{B, R, K}));
    ASSERT_EQ(s_gpu.sizes(), s_cpu.sizes());
    ASSERT_EQ(s_gpu.strides(), s_cpu.strides());
    ASSERT_TRUE(same_bytes(q_gpu.view({B * R, K}), q_cpu.view({B * R, K})));
    // Both scale tensors are dense with equal strides: compare their storage.
    const int64_t n = s_cpu.numel();
    ASSERT_TRUE(same_bytes(to_cpu(TensorView(s_gpu.data(), DType::kFloat32, {n}, Device::cuda())),
                           TensorView(s_cpu.data(), DType::kFloat32, {n})));
  }
}

TEST(GpuQuant, BlockQuantMatchesCpu) {
  W8A8_REQUIRE_GPU();
  std::mt19937 gen(15);
  for (const Case& c : kCases)
    for (auto [N, K] : {std::pair<int64_t, int64_t>{256, 384}, {300, 200}, {1, 128}, {129, 4096}}) {
      Tensor w = random_activation(N, K, K, c.in, gen);
      auto [q_cpu, s_cpu] = per_block_quant_fp8(w, 128, 128, c.fp8);
      Tensor qg = Tensor::empty({N, K}, c.fp8, Device::cuda());
      Tensor sg = Tensor::empty({(N + 127) / 128, (K + 127) / 128}, DType::kFloat32, Device::cuda());
      gputest::poison(qg, 0x7F);
      gputest::poison(sg);
      per_block_quant_fp8_into(qg, sg, to_gpu(w));
      gputest::sync();
      ASSERT_TRUE(same_bytes(qg, q_cpu)) << "N=" << N << " K=" << K;
      ASSERT_TRUE(same_bytes(sg, s_cpu));
    }
}

TEST(GpuQuant, NanAndZeroRowsMatchCpu) {
  W8A8_REQUIRE_GPU();
  Tensor x = Tensor::zeros({3, 64}, DType::kFloat32);
  x.data_as<float>()[64 + 5] = std::nanf("");  // row 1 has a NaN; rows 0 and 2 are all zero
  auto [q_cpu, s_cpu] = scaled_fp8_quant(x, std::nullopt, std::nullopt, std::nullopt, true);
  auto [q_gpu, s_gpu] = scaled_fp8_quant(to_gpu(x), std::nullopt, std::nullopt, std::nullopt, true);
  EXPECT_TRUE(same_bytes(q_gpu, q_cpu));
  // Scales: the zero rows' bit for bit; the NaN row's is NaN on both (payloads differ: CUDA's
  // arithmetic returns its canonical NaN, x86 keeps the input's).
  Tensor s = to_cpu(s_gpu);
  for (int m = 0; m < 3; ++m) {
    const float g = s.data_as<float>()[m], c = s_cpu.data_as<float>()[m];
    if (m == 1) {
      EXPECT_TRUE(std::isnan(g) && std::isnan(c)) << g << " " << c;
    } else {
      EXPECT_EQ(std::memcmp(&g, &c, 4), 0) << g << " " << c;
    }
  }
}

}  // namespace
}  // namespace w8a8
