// Dynamic per-token quantization (scale_ub, token padding) and static per-token scales.
#include <gtest/gtest.h>

#include "cpu/quant_test_util.h"
#include "w8a8/quant.h"

namespace w8a8::test {
namespace {

std::string label(DType dt, DType fp8, int64_t M, int64_t K) {
  return std::string(dtype_name(dt)) + "->" + dtype_name(fp8) + " M=" + std::to_string(M) + " K=" + std::to_string(K);
}

// Per-row scales and codes of a dynamic per-token result against the reference.
void expect_per_token(const Input& in, const Output& out, const float* scales, int64_t scale_stride, double ub,
                      DType fp8, const std::string& what) {
  for (int64_t m = 0; m < in.M; ++m) {
    const float want = ref_token_scale(ref_amax(in, m, m + 1, 0, in.K), ub, fp8);
    const float got = scales[m * scale_stride];
    ASSERT_TRUE(same_float(got, want)) << what << " row " << m << ": scale " << got << ", expected " << want;
    ASSERT_TRUE(expect_quantized(in, out, m, m + 1, 0, in.K, want, fp8, what));
  }
  EXPECT_TRUE(out.gaps_untouched()) << what;
}

TEST(QuantPerToken, DynamicMatchesReference) {
  uint32_t seed = 200;
  for (DType dt : input_dtypes())
    for (DType fp8 : fp8_dtypes())
      for (int64_t M : token_counts())
        for (int64_t K : {1, 5, 130, 257}) {
          const int64_t extra = (M + K) % 2 ? 11 : 0;
          const Input in = make_input(M, K, dt, seed++, extra);
          const Output out = make_output(M, K, fp8, extra ? 2 : 0);
          Tensor scales = Tensor::empty({M, 1}, DType::kFloat32);
          dynamic_per_token_scaled_fp8_quant(out.view, in.view, scales);
          expect_per_token(in, out, scales.data_as<float>(), 1, std::numeric_limits<double>::infinity(), fp8,
                           label(dt, fp8, M, K));
        }
}

TEST(QuantPerToken, ScaleUbClampsTheRowAmax) {
  uint32_t seed = 300;
  for (DType dt : input_dtypes())
    for (DType fp8 : fp8_dtypes()) {
      const Input in = make_input(33, 64, dt, seed++);
      // An upper bound inside the spread of row amaxes: some rows are clamped (and saturate), some not.
      std::vector<double> amax;
      for (int64_t m = 0; m < in.M; ++m) amax.push_back(ref_amax(in, m, m + 1, 0, in.K));
      std::vector<double> sorted = amax;
      std::sort(sorted.begin(), sorted.end());
      const float ub = float(sorted[sorted.size() / 2]);
      Tensor ub_t = Tensor::empty({1}, DType::kFloat32);
      ub_t.data_as<float>()[0] = ub;
      const Output out = make_output(33, 64, fp8);
      Tensor scales = Tensor::empty({33, 1}, DType::kFloat32);
      dynamic_per_token_scaled_fp8_quant(out.view, in.view, scales, TensorView(ub_t));
      expect_per_token(in, out, scales.data_as<float>(), 1, ub, fp8, label(dt, fp8, 33, 64) + " scale_ub");
      int clamped = 0;
      for (int64_t m = 0; m < in.M; ++m) {
        if (amax[size_t(m)] > ub) {
          ++clamped;
          EXPECT_EQ(scales.data_as<float>()[m], ref_div(ub, ref_qmax(fp8)));
        }
      }
      EXPECT_GT(clamped, 5);
    }
}

TEST(QuantPerToken, AllZeroRowUsesMinScale) {
  for (DType fp8 : fp8_dtypes()) {
    Input in = make_input(4, 40, DType::kFloat16, 11);
    for (int64_t k = 0; k < 40; ++k) in.set(2, k, 0.0);
    const Output out = make_output(4, 40, fp8);
    Tensor scales = Tensor::empty({4, 1}, DType::kFloat32);
    dynamic_per_token_scaled_fp8_quant(out.view, in.view, scales);
    EXPECT_EQ(scales.data_as<float>()[2], ref_min_scale(fp8));
    for (int64_t k = 0; k < 40; ++k) EXPECT_EQ(out.code(2, k), 0);
    expect_per_token(in, out, scales.data_as<float>(), 1, std::numeric_limits<double>::infinity(), fp8, "zero row");
  }
}

TEST(QuantPerToken, NaNPoisonsOnlyItsRow) {
  for (DType dt : input_dtypes())
    for (DType fp8 : fp8_dtypes()) {
      Input in = make_input(5, 33, dt, 12);
      in.set(3, 32, nan_d());
      const Output out = make_output(5, 33, fp8);
      Tensor scales = Tensor::empty({5, 1}, DType::kFloat32);
      dynamic_per_token_scaled_fp8_quant(out.view, in.view, scales);
      EXPECT_TRUE(std::isnan(scales.data_as<float>()[3]));
      for (int64_t k = 0; k < 33; ++k) EXPECT_EQ(out.code(3, k), nan_code(fp8));
      expect_per_token(in, out, scales.data_as<float>(), 1, std::numeric_limits<double>::infinity(), fp8, "NaN row");
    }
}

TEST(QuantPerToken, TokenPaddingRowsAreZeroWithScaleOne) {
  for (DType fp8 : fp8_dtypes()) {
    const Input in = make_input(3, 50, DType::kBFloat16, 13, 6);
    const Output out = make_output(17, 50, fp8, 2);
    // Scales with a row stride of 4 (a column of a wider buffer).
    Tensor buf = Tensor::empty({17, 4}, DType::kFloat32);
    for (int64_t i = 0; i < buf.numel(); ++i) buf.data_as<float>()[i] = -7.0f;
    TensorView scales(buf.data(), DType::kFloat32, {17, 1}, {4, 1});
    dynamic_per_token_scaled_fp8_quant(out.view, in.view, scales);
    expect_per_token(in, out, buf.data_as<float>(), 4, std::numeric_limits<double>::infinity(), fp8, "padded");
    for (int64_t m = 3; m < 17; ++m) {
      EXPECT_EQ(buf.data_as<float>()[m * 4], 1.0f);
      for (int64_t k = 0; k < 50; ++k) EXPECT_EQ(out.code(m, k), 0);
    }
    for (int64_t m = 0; m < 17; ++m) EXPECT_EQ(buf.data_as<float>()[m * 4 + 1], -7.0f);  // untouched
  }
}

TEST(QuantPerToken, EmptyRowsStillPad) {
  // K = 0 (no data at all) and M = 0: scales are still defined.
  const TensorView in(nullptr, DType::kBFloat16, {3, 0});
  const TensorView out(nullptr, DType::kFloat8E4M3FN, {5, 0});
  Tensor scales = Tensor::empty({5, 1}, DType::kFloat32);
  dynamic_per_token_scaled_fp8_quant(out, in, scales);
  for (int64_t m = 0; m < 3; ++m) EXPECT_EQ(scales.data_as<float>()[m], ref_min_scale(DType::kFloat8E4M3FN));
  for (int64_t m = 3; m < 5; ++m) EXPECT_EQ(scales.data_as<float>()[m], 1.0f);
  auto [q, s] = scaled_fp8_quant(TensorView(nullptr, DType::kFloat32, {0, 16}), std::nullopt, 4, std::nullopt, true);
  ASSERT_EQ(q.sizes(), Dims({4, 16}));
  for (int64_t i = 0; i < 64; ++i) EXPECT_EQ(q.data_as<uint8_t>()[i], 0);
  for (int64_t m = 0; m < 4; ++m) EXPECT_EQ(s.data_as<float>()[m], 1.0f);
}

TEST(QuantPerToken, LargeInputUsesThreadsAndMatches) {
  for (DType dt : input_dtypes()) {
    const Input in = make_input(257, 700, dt, 14, 1);
    const Output out = make_output(257, 700, DType::kFloat8E4M3FNUZ);
    Tensor scales = Tensor::empty({257, 1}, DType::kFloat32);
    dynamic_per_token_scaled_fp8_quant(out.view, in.view, scales);
    expect_per_token(in, out, scales.data_as<float>(), 1, std::numeric_limits<double>::infinity(),
                     DType::kFloat8E4M3FNUZ, "large");
  }
}

TEST(QuantPerToken, StaticPerTokenThroughScaledFp8Quant) {
  uint32_t seed = 400;
  for (DType dt : input_dtypes())
    for (DType fp8 : fp8_dtypes())
      for (int64_t M : {2, 17, 129}) {
        const Input in = make_input(M, 77, dt, seed++, 3);
        Tensor s = Tensor::empty({M, 1}, DType::kFloat32);
        for (int64_t m = 0; m < M; ++m) s.data_as<float>()[m] = float(0.001 * double(m + 1));
        auto [q, scale] =
            scaled_fp8_quant(in.view, TensorView(s), std::nullopt, std::nullopt, false, std::nullopt, fp8);
        EXPECT_EQ(scale.data(), s.data());  // the given scale comes back
        ASSERT_EQ(q.sizes(), Dims({M, 77}));
        Output out;
        out.storage = q;
        out.view = q;
        out.rows = M;
        out.cols = out.ld = 77;
        for (int64_t m = 0; m < M; ++m)
          ASSERT_TRUE(expect_quantized(in, out, m, m + 1, 0, 77, s.data_as<float>()[m], fp8, label(dt, fp8, M, 77)));
      }
}

}  // namespace
}  // namespace w8a8::test
