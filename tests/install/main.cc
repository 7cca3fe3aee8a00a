// Uses the installed headers and library: quantize a row, run a scaled GEMM, print one number.
#include <w8a8/w8a8.h>

#include <cstdio>

int main() {
  using namespace w8a8;
  Tensor x = Tensor::zeros({2, 32}, DType::kFloat32);
  x.data_as<float>()[3] = 448.0f;
  auto [q, s] = scaled_fp8_quant(x, std::nullopt, std::nullopt, std::nullopt, /*use_per_token_if_dynamic=*/true);
  Tensor out = cutlass_scaled_mm(q, q.t(), s, s, DType::kFloat32);
  std::printf("%g\n", out.data_as<float>()[0]);  // 448 * 448
  return out.data_as<float>()[0] == 448.0f * 448.0f ? 0 : 1;
}
