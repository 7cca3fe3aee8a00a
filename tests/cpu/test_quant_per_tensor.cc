// Static and dynamic per-tensor quantization against the independent reference (quant_test_util.h).
#include <gtest/gtest.h>

#include "cpu/quant_test_util.h"
#include "w8a8/quant.h"

namespace w8a8::test {
namespace {

// Checks every code of rows [0, M) against fp8(sat(x * (1/scale))) and the half-ulp bound.
void expect_rows_quantized(const Input& in, const Output& out, float scale, DType fp8, const std::string& what) {
  const float inv = ref_inv(scale);
  int failures = 0;
  for (int64_t m = 0; m < in.M && failures < 5; ++m)
    for (int64_t k = 0; k < in.K && failures < 5; ++k) {
      const uint8_t got = out.code(m, k), want = ref_code(in.at(m, k), inv, fp8);
      if (got != want) {
        ADD_FAILURE() << what << " [" << m << ", " << k << "] x=" << in.at(m, k) << ": code 0x" << std::hex
                      << int(got) << ", expected 0x" << int(want);
        ++failures;
      }
      const auto close = within_half_ulp(got, scale, in.at(m, k), fp8);
      if (!close) {
        ADD_FAILURE() << what << " [" << m << ", " << k << "] " << close.message();
        ++failures;
      }
    }
  EXPECT_TRUE(out.gaps_untouched()) << what << ": wrote between output rows";
}

TEST(QuantPerTensor, StaticMatchesReference) {
  uint32_t seed = 1;
  for (DType dt : input_dtypes())
    for (DType fp8 : fp8_dtypes())
      for (int64_t M : token_counts())
        for (int64_t K : {1, 7, 100, 333}) {
          const int64_t extra = (M + K) % 3 == 0 ? 5 : 0;  // strided rows in a third of the cases
          const Input in = make_input(M, K, dt, seed++, extra);
          const Output out = make_output(M, K, fp8, extra ? 3 : 0);
          // A scale that leaves some values saturated: the row magnitudes reach ~2^10 * 4.
          Tensor scale = Tensor::empty({1}, DType::kFloat32);
          const float s = float(0.37);
          scale.data_as<float>()[0] = s;
          static_scaled_fp8_quant(out.view, in.view, scale);
          expect_rows_quantized(in, out, s, fp8,
                                std::string(dtype_name(dt)) + "->" + dtype_name(fp8) + " M=" + std::to_string(M) +
                                    " K=" + std::to_string(K));
        }
}

TEST(QuantPerTensor, StaticSaturatesAndKeepsNaN) {
  for (DType fp8 : fp8_dtypes()) {
    Input in = make_input(1, 8, DType::kFloat32, 7);
    const double inf = std::numeric_limits<double>::infinity();
    const double values[8] = {1e30, -1e30, inf, -inf, nan_d(), 0.0, -0.0, 1e-30};
    for (int k = 0; k < 8; ++k) in.set(0, k, values[k]);
    const Output out = make_output(1, 8, fp8);
    Tensor scale = Tensor::empty({1, 1}, DType::kFloat32);
    scale.data_as<float>()[0] = 1.0f;
    static_scaled_fp8_quant(out.view, in.view, scale);
    const uint8_t max_code = 0x7E;  // 448 in e4m3fn, 224 in e4m3fnuz
    EXPECT_EQ(out.code(0, 0), max_code);
    EXPECT_EQ(out.code(0, 1), 0x80 | max_code);
    EXPECT_EQ(out.code(0, 2), max_code);
    EXPECT_EQ(out.code(0, 3), 0x80 | max_code);
    EXPECT_EQ(out.code(0, 4), nan_code(fp8));
    EXPECT_EQ(out.code(0, 5), 0x00);
    EXPECT_EQ(out.code(0, 6), fp8 == DType::kFloat8E4M3FN ? 0x80 : 0x00);  // fnuz has no -0
    EXPECT_EQ(out.code(0, 7), 0x00);
    EXPECT_EQ(ref_decode(max_code, fp8), ref_qmax(fp8));
  }
}

TEST(QuantPerTensor, DynamicMatchesReference) {
  uint32_t seed = 100;
  for (DType dt : input_dtypes())
    for (DType fp8 : fp8_dtypes())
      for (int64_t M : token_counts())
        for (int64_t K : {1, 7, 100, 333}) {
          const int64_t extra = (M * K) % 2 == 1 ? 9 : 0;
          const Input in = make_input(M, K, dt, seed++, extra);
          const Output out = make_output(M, K, fp8, extra ? 1 : 0);
          Tensor scale = Tensor::empty({1}, DType::kFloat32);
          dynamic_scaled_fp8_quant(out.view, in.view, scale);
          const double amax = ref_amax(in, 0, M, 0, K);
          const float want = ref_tensor_scale(amax, fp8);
          const std::string what = std::string(dtype_name(dt)) + "->" + dtype_name(fp8) + " M=" + std::to_string(M) +
                                   " K=" + std::to_string(K);
          ASSERT_TRUE(same_float(scale.data_as<float>()[0], want))
              << what << ": scale " << scale.data_as<float>()[0] << ", expected " << want;
          expect_rows_quantized(in, out, want, fp8, what);
          // Unless the MIN_SCALE floor applies, the largest magnitude lands on (or rounds to) FP8_MAX.
          if (want == ref_min_scale(fp8)) continue;
          for (int64_t m = 0; m < M; ++m) {
            for (int64_t k = 0; k < K; ++k) {
              if (std::fabs(in.at(m, k)) == amax) {
                EXPECT_EQ(std::fabs(ref_decode(out.code(m, k), fp8)), ref_qmax(fp8));
              }
            }
          }
        }
}

TEST(QuantPerTensor, DynamicAllZeroUsesMinScale) {
  for (DType fp8 : fp8_dtypes()) {
    Input in = make_input(3, 17, DType::kBFloat16, 3);
    for (int64_t m = 0; m < 3; ++m)
      for (int64_t k = 0; k < 17; ++k) in.set(m, k, 0.0);
    const Output out = make_output(3, 17, fp8);
    Tensor scale = Tensor::empty({1}, DType::kFloat32);
    dynamic_scaled_fp8_quant(out.view, in.view, scale);
    EXPECT_EQ(scale.data_as<float>()[0], ref_min_scale(fp8));
    EXPECT_EQ(scale.data_as<float>()[0], fp8 == DType::kFloat8E4M3FN ? 1.0f / 229376.0f : 1.0f / 114688.0f);
    for (int64_t m = 0; m < 3; ++m)
      for (int64_t k = 0; k < 17; ++k) EXPECT_EQ(out.code(m, k), 0);
  }
}

TEST(QuantPerTensor, DynamicTinyValuesUseMinScale) {
  // amax / FP8_MAX below MIN_SCALE: the floor applies, and the values keep what precision is left.
  Input in = make_input(2, 5, DType::kFloat32, 4);
  for (int64_t k = 0; k < 5; ++k) {
    in.set(0, k, 1e-7 * double(k + 1));
    in.set(1, k, -3e-8 * double(k));
  }
  const Output out = make_output(2, 5, DType::kFloat8E4M3FN);
  Tensor scale = Tensor::empty({1}, DType::kFloat32);
  dynamic_scaled_fp8_quant(out.view, in.view, scale);
  EXPECT_EQ(scale.data_as<float>()[0], ref_min_scale(DType::kFloat8E4M3FN));
  expect_rows_quantized(in, out, ref_min_scale(DType::kFloat8E4M3FN), DType::kFloat8E4M3FN, "tiny");
}

TEST(QuantPerTensor, DynamicNaNPropagates) {
  // amax follows torch's x.abs().max(): a NaN makes the scale NaN and every code NaN.
  for (DType dt : input_dtypes())
    for (DType fp8 : fp8_dtypes()) {
      Input in = make_input(4, 9, dt, 5);
      in.set(2, 3, nan_d());
      const Output out = make_output(4, 9, fp8);
      Tensor scale = Tensor::empty({1}, DType::kFloat32);
      dynamic_scaled_fp8_quant(out.view, in.view, scale);
      EXPECT_TRUE(std::isnan(scale.data_as<float>()[0]));
      for (int64_t m = 0; m < 4; ++m)
        for (int64_t k = 0; k < 9; ++k) EXPECT_EQ(out.code(m, k), nan_code(fp8));
    }
}

TEST(QuantPerTensor, StaticNaNStaysLocal) {
  for (DType dt : input_dtypes()) {
    Input in = make_input(2, 6, dt, 6);
    in.set(1, 4, nan_d());
    const Output out = make_output(2, 6, DType::kFloat8E4M3FN);
    Tensor scale = Tensor::empty({1}, DType::kFloat32);
    scale.data_as<float>()[0] = 0.01f;
    static_scaled_fp8_quant(out.view, in.view, scale);
    EXPECT_EQ(out.code(1, 4), 0x7F);
    expect_rows_quantized(in, out, 0.01f, DType::kFloat8E4M3FN, "static with one NaN");
  }
}

TEST(QuantPerTensor, PaddedOutputRowsAreZero) {
  // The allocation-free entries accept M_out >= M output rows: rows >= M are token padding.
  const Input in = make_input(3, 20, DType::kBFloat16, 8);
  const Output out = make_output(17, 20, DType::kFloat8E4M3FN, 4);
  Tensor scale = Tensor::empty({1}, DType::kFloat32);
  dynamic_scaled_fp8_quant(out.view, in.view, scale);
  expect_rows_quantized(in, out, scale.data_as<float>()[0], DType::kFloat8E4M3FN, "padded dynamic");
  for (int64_t m = 3; m < 17; ++m)
    for (int64_t k = 0; k < 20; ++k) EXPECT_EQ(out.code(m, k), 0) << m << ", " << k;
  const Output out2 = make_output(5, 20, DType::kFloat8E4M3FNUZ);
  scale.data_as<float>()[0] = 0.5f;
  static_scaled_fp8_quant(out2.view, in.view, scale);
  for (int64_t m = 3; m < 5; ++m)
    for (int64_t k = 0; k < 20; ++k) EXPECT_EQ(out2.code(m, k), 0);
}

TEST(QuantPerTensor, LargeInputUsesThreadsAndMatches) {
  // Big enough for the OpenMP path (>= 2^16 elements) with strided rows.
  for (DType dt : input_dtypes()) {
    const Input in = make_input(300, 1001, dt, 9, 3);
    const Output out = make_output(300, 1001, DType::kFloat8E4M3FN);
    Tensor scale = Tensor::empty({1}, DType::kFloat32);
    dynamic_scaled_fp8_quant(out.view, in.view, scale);
    const float want = ref_tensor_scale(ref_amax(in, 0, 300, 0, 1001), DType::kFloat8E4M3FN);
    ASSERT_EQ(scale.data_as<float>()[0], want);
    expect_rows_quantized(in, out, want, DType::kFloat8E4M3FN, "large");
  }
}

TEST(QuantPerTensor, EmptyInput) {
  const Input in = make_input(0, 16, DType::kFloat32, 10);
  const Output out = make_output(0, 16, DType::kFloat8E4M3FN);
  Tensor scale = Tensor::empty({1}, DType::kFloat32);
  dynamic_scaled_fp8_quant(out.view, in.view, scale);
  EXPECT_EQ(scale.data_as<float>()[0], ref_min_scale(DType::kFloat8E4M3FN));
  static_scaled_fp8_quant(out.view, in.view, scale);
}

}  // namespace
}  // namespace w8a8::test
