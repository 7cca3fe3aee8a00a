// An independent float64 reference for the block FP8 linear layer (vLLM's W8A8BlockFp8LinearOp): activations
// quantized per 1 x 128 group (spec section 2: s = max(amax, 1e-10) / 448, codes of x * (1/s)), the weight in
// 128 x 128 blocks, the product of the dequantized operands in double, plus bias. Shared by the CPU and GPU tests.
#pragma once

#include <optional>
#include <vector>

#include "cpu/op_test_helpers.h"

namespace op_test {

struct BlockLinearCase {
  int64_t M = 0, N = 0, K = 0;
  Tensor x;             // [M, K] of the input dtype
  Tensor w_nk;          // [N, K] e4m3fn codes
  Tensor w_scale;       // [ceil(N/128), K/128] fp32
  std::optional<Tensor> bias;  // [N] of the input dtype
  std::vector<double> ref;     // [M, N]
};

inline BlockLinearCase make_block_linear_case(int64_t M, int64_t N, int64_t K, DType dtype, bool with_bias,
                                              uint32_t seed) {
  constexpr int64_t B = 128;
  BlockLinearCase c;
  c.M = M;
  c.N = N;
  c.K = K;
  c.x = randn({M, K}, dtype, seed);
  const std::vector<float> xv = values(c.x);
  // Activations: one scale per row and 128-group, codes from the fp32 reciprocal.
  std::vector<double> xdq(size_t(M * K));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t g = 0; g < K / B; ++g) {
      const size_t base = size_t(m * K + g * B);
      const float s = std::max(amax(xv, base, base + B), 1e-10f) / kFp8Max;
      const float inv = 1.0f / s;
      for (int64_t j = 0; j < B; ++j)
        xdq[base + size_t(j)] = double(e4m3fn_to_float(quantize_e4m3fn(xv[base + size_t(j)] * inv))) * double(s);
    }
  // Weight: Gaussian values whose blocks differ in magnitude, one scale per 128 x 128 block.
  const int64_t NB = (N + B - 1) / B, L = K / B;
  std::vector<float> w = values(randn({N, K}, DType::kFloat32, seed + 1, 0.05f));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) w[size_t(n * K + k)] *= 0.5f + float((n / B + 2 * (k / B)) % 5) * 0.3f;
  c.w_nk = Tensor::empty({N, K}, DType::kFloat8E4M3FN);
  c.w_scale = Tensor::empty({NB, L}, DType::kFloat32);
  std::vector<double> wdq(size_t(N * K));
  for (int64_t nb = 0; nb < NB; ++nb)
    for (int64_t l = 0; l < L; ++l) {
      float a = 0;
      for (int64_t n = nb * B; n < std::min(N, (nb + 1) * B); ++n)
        for (int64_t k = l * B; k < (l + 1) * B; ++k) a = std::max(a, std::fabs(w[size_t(n * K + k)]));
      const float s = std::max(a / kFp8Max, kMinScale), inv = 1.0f / s;
      c.w_scale.data_as<float>()[nb * L + l] = s;
      for (int64_t n = nb * B; n < std::min(N, (nb + 1) * B); ++n)
        for (int64_t k = l * B; k < (l + 1) * B; ++k) {
          const uint8_t code = quantize_e4m3fn(w[size_t(n * K + k)] * inv);
          c.w_nk.data_as<uint8_t>()[n * K + k] = code;
          wdq[size_t(n * K + k)] = double(e4m3fn_to_float(code)) * double(s);
        }
    }
  std::vector<double> bias_values;
  if (with_bias) {
    c.bias = randn({N}, dtype, seed + 2, 0.5f);
    for (float v : values(*c.bias)) bias_values.push_back(v);
  }
  c.ref = ref_matmul(
      M, N, K, [&](int64_t m, int64_t k) { return xdq[size_t(m * K + k)]; },
      [&](int64_t n, int64_t k) { return wdq[size_t(n * K + k)]; }, bias_values);
  return c;
}

}  // namespace op_test
