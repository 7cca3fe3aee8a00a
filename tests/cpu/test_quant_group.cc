// Dynamic per-token-group quantization: eps, UE8M0 scales, row- and column-major scale layouts.
#include <gtest/gtest.h>

#include "cpu/quant_test_util.h"
#include "w8a8/quant.h"

namespace w8a8::test {
namespace {

// scales(m, g) lives at scales[m * s0 + g * s1]. ceil(K / G) groups: the last one ends at K (vLLM's
// native path pads it with zeros, which change no amax).
void expect_groups(const Input& in, const Output& out, const float* scales, int64_t s0, int64_t s1, int64_t G,
                   double eps, bool ue8m0, DType fp8, const std::string& what) {
  for (int64_t m = 0; m < in.M; ++m)
    for (int64_t g = 0; g * G < in.K; ++g) {
      const int64_t end = std::min((g + 1) * G, in.K);
      const float want = ref_group_scale(ref_amax(in, m, m + 1, g * G, end), eps, fp8, ue8m0);
      const float got = scales[m * s0 + g * s1];
      ASSERT_TRUE(same_float(got, want)) << what << " row " << m << " group " << g << ": scale " << got
                                         << ", expected " << want;
      if (ue8m0 && std::isfinite(want)) {
        int e = 0;
        ASSERT_EQ(std::frexp(got, &e), 0.5f) << what << ": UE8M0 scale " << got << " is not a power of two";
      }
      ASSERT_TRUE(expect_quantized(in, out, m, m + 1, g * G, end, want, fp8, what));
    }
  EXPECT_TRUE(out.gaps_untouched()) << what;
}

TEST(QuantGroup, MatchesReference) {
  uint32_t seed = 500;
  for (DType dt : input_dtypes())
    for (DType fp8 : fp8_dtypes())
      for (int64_t M : token_counts())
        for (int64_t G : {128, 16})
          for (bool ue8m0 : {false, true}) {
            const int64_t K = G * (M % 3 + 1) + (G == 16 ? 32 : 0);  // 16: K not a multiple of 128
            const int64_t extra = M % 2 ? 7 : 0;
            const Input in = make_input(M, K, dt, seed++, extra);
            const Output out = make_output(M, K, fp8, extra ? 5 : 0);
            Tensor scales = Tensor::empty({M, K / G}, DType::kFloat32);
            per_token_group_quant_fp8_into(out.view, scales, in.view, G, 1e-10, ue8m0);
            expect_groups(in, out, scales.data_as<float>(), K / G, 1, G, 1e-10, ue8m0, fp8,
                          std::string(dtype_name(dt)) + "->" + dtype_name(fp8) + " M=" + std::to_string(M) +
                              " G=" + std::to_string(G) + (ue8m0 ? " ue8m0" : ""));
          }
}

TEST(QuantGroup, ColumnMajorScales) {
  uint32_t seed = 600;
  for (DType dt : input_dtypes())
    for (bool ue8m0 : {false, true})
      for (int64_t M : {1, 3, 17, 129}) {
        const Input in = make_input(M, 384, dt, seed++);
        auto [q, s] = per_token_group_quant_fp8(in.view, 128, /*column_major_scales=*/true, ue8m0);
        ASSERT_EQ(s.sizes(), Dims({M, 3}));
        ASSERT_EQ(s.stride(0), 1);
        ASSERT_EQ(s.stride(1), M);
        ASSERT_EQ(q.sizes(), Dims({M, 384}));
        ASSERT_EQ(q.dtype(), DType::kFloat8E4M3FN);
        Output out;
        out.storage = q;
        out.view = q;
        out.rows = M;
        out.cols = out.ld = 384;
        expect_groups(in, out, s.data_as<float>(), 1, M, 128, 1e-10, ue8m0, DType::kFloat8E4M3FN, "column-major");
        // Same numbers as the row-major layout.
        auto [q2, s2] = per_token_group_quant_fp8(in.view, 128, false, ue8m0);
        ASSERT_EQ(s2.stride(1), 1);
        EXPECT_EQ(std::memcmp(q.data(), q2.data(), size_t(M * 384)), 0);
        for (int64_t m = 0; m < M; ++m)
          for (int64_t g = 0; g < 3; ++g) EXPECT_EQ(s.data_as<float>()[g * M + m], s2.data_as<float>()[m * 3 + g]);
      }
}

TEST(QuantGroup, AllZeroGroupUsesEps) {
  for (DType fp8 : fp8_dtypes())
    for (bool ue8m0 : {false, true}) {
      Input in = make_input(2, 256, DType::kBFloat16, 21);
      for (int64_t k = 128; k < 256; ++k) in.set(1, k, 0.0);
      auto [q, s] = per_token_group_quant_fp8(in.view, 128, false, ue8m0, 1e-10, fp8);
      const float want = ref_group_scale(0.0, 1e-10, fp8, ue8m0);
      EXPECT_EQ(s.data_as<float>()[3], want);
      const float pow2 = float(std::ldexp(1.0, fp8 == DType::kFloat8E4M3FN ? -42 : -41));  // >= 1e-10 / FP8_MAX
      EXPECT_EQ(s.data_as<float>()[3], ue8m0 ? pow2 : float(1e-10f / float(ref_qmax(fp8))));
      for (int64_t k = 128; k < 256; ++k) EXPECT_EQ(q.data_as<uint8_t>()[256 + k], 0);
      // A larger eps lifts small groups too.
      auto [q2, s2] = per_token_group_quant_fp8(in.view, 128, false, ue8m0, 1e-3, fp8);
      EXPECT_EQ(s2.data_as<float>()[3], ref_group_scale(0.0, 1e-3, fp8, ue8m0));
    }
}

TEST(QuantGroup, Ue8m0IsExactAtPowersOfTwo) {
  // amax = 56 gives s = 56 / 448 = 2^-3 exactly (kept); one float ulp above, s rounds up to 2^-2.
  // log2f of 2^-3 * (1 + 2^-23) rounds to -3.0f, so a float log2 would wrongly keep 2^-3.
  Input in = make_input(3, 128, DType::kFloat32, 22);
  for (int64_t m = 0; m < 3; ++m)
    for (int64_t k = 0; k < 128; ++k) in.set(m, k, 1.0);
  in.set(0, 5, 56.0);
  in.set(1, 9, -double(std::nextafter(56.0f, 100.0f)));
  in.set(2, 0, double(std::nextafter(56.0f, 0.0f)));
  auto [q, s] = per_token_group_quant_fp8(in.view, 128, false, /*use_ue8m0=*/true);
  EXPECT_EQ(s.data_as<float>()[0], 0.125f);
  EXPECT_EQ(s.data_as<float>()[1], 0.25f);
  EXPECT_EQ(s.data_as<float>()[2], 0.125f);
  EXPECT_EQ(q.data_as<uint8_t>()[5], 0x7E);  // 56 / 0.125 = 448
}

TEST(QuantGroup, NaNPoisonsOnlyItsGroup) {
  for (DType dt : input_dtypes())
    for (DType fp8 : fp8_dtypes()) {
      Input in = make_input(2, 96, dt, 23);
      in.set(1, 40, nan_d());  // group 1 of row 1 (G = 32)
      const Output out = make_output(2, 96, fp8);
      Tensor scales = Tensor::empty({2, 3}, DType::kFloat32);
      per_token_group_quant_fp8_into(out.view, scales, in.view, 32);
      EXPECT_TRUE(std::isnan(scales.data_as<float>()[4]));
      for (int64_t k = 32; k < 64; ++k) EXPECT_EQ(out.code(1, k), nan_code(fp8));
      expect_groups(in, out, scales.data_as<float>(), 3, 1, 32, 1e-10, false, fp8, "NaN group");
    }
}

TEST(QuantGroup, LargeInputUsesThreadsAndMatches) {
  for (DType dt : input_dtypes()) {
    const Input in = make_input(1, 128 * 600, dt, 24);  // one row: the threads split its groups
    const Output out = make_output(1, 128 * 600, DType::kFloat8E4M3FN);
    Tensor scales = Tensor::empty({1, 600}, DType::kFloat32);
    per_token_group_quant_fp8_into(out.view, scales, in.view, 128);
    expect_groups(in, out, scales.data_as<float>(), 600, 1, 128, 1e-10, false, DType::kFloat8E4M3FN, "large");
  }
}

TEST(QuantGroup, PartialLastGroup) {
  // K not a multiple of G: ceil(K/G) groups, the last one shorter; the output keeps K columns.
  uint32_t seed = 700;
  for (DType dt : input_dtypes())
    for (DType fp8 : fp8_dtypes())
      for (auto [K, G] : {std::pair<int64_t, int64_t>{200, 128}, {129, 128}, {100, 16}, {7, 16}, {300, 64}})
        for (bool ue8m0 : {false, true})
          for (int64_t M : {1, 3, 17}) {
            const int64_t ng = (K + G - 1) / G;
            const Input in = make_input(M, K, dt, seed++, M % 2 ? 3 : 0);
            const Output out = make_output(M, K, fp8, M % 2 ? 5 : 0);
            Tensor scales = Tensor::empty({M, ng}, DType::kFloat32);
            per_token_group_quant_fp8_into(out.view, scales, in.view, G, 1e-10, ue8m0);
            const std::string what = std::string(dtype_name(dt)) + "->" + dtype_name(fp8) + " K=" +
                                     std::to_string(K) + " G=" + std::to_string(G) + " M=" + std::to_string(M);
            expect_groups(in, out, scales.data_as<float>(), ng, 1, G, 1e-10, ue8m0, fp8, what);
            auto [q, s] = per_token_group_quant_fp8(in.view, G, /*column_major_scales=*/true, ue8m0, 1e-10, fp8);
            ASSERT_EQ(q.sizes(), Dims({M, K}));
            ASSERT_EQ(s.sizes(), Dims({M, ng}));
            for (int64_t m = 0; m < M; ++m) {
              for (int64_t g = 0; g < ng; ++g)
                ASSERT_EQ(bits_of(s.data_as<float>()[g * M + m]), bits_of(scales.data_as<float>()[m * ng + g]))
                    << what;
              ASSERT_EQ(std::memcmp(q.data_as<uint8_t>() + m * K, out.view.data_as<uint8_t>() + m * out.ld,
                                    size_t(K)),
                        0)
                  << what;
            }
          }
  // The short group's amax is its own: a large value in the full group does not reach it.
  Input in = make_input(1, 130, DType::kFloat32, 26);
  for (int64_t k = 0; k < 130; ++k) in.set(0, k, k < 128 ? 1000.0 : 0.5);
  auto [q, s] = per_token_group_quant_fp8(in.view, 128);
  EXPECT_EQ(s.data_as<float>()[0], 1000.0f / 448.0f);
  EXPECT_EQ(s.data_as<float>()[1], 0.5f / 448.0f);
  EXPECT_EQ(q.data_as<uint8_t>()[129], 0x7E);  // 0.5 / (0.5 / 448) = 448
}

TEST(QuantGroup, LeadingDimensions) {
  // x [..., K] (vLLM's per_token_group_quant_fp8 takes any leading dimensions): the rows of x viewed as
  // [-1, K]; x_q keeps x's shape, scales [..., ceil(K/G)]; column-major scales are one column-major
  // [R, ng] matrix per leading index (R = x.size(-2)).
  for (bool col : {false, true}) {
    const int64_t B = 3, R = 5, K = 200, G = 64, ng = 4;
    const Input in = make_input(B * R, K, DType::kBFloat16, 27);
    const TensorView x3 = in.view.view({B, R, K});
    auto [q, s] = per_token_group_quant_fp8(x3, G, col);
    auto [q2, s2] = per_token_group_quant_fp8(in.view, G, false);  // the same rows as one [M, K] problem
    ASSERT_EQ(q.sizes(), Dims({B, R, K}));
    ASSERT_EQ(s.sizes(), Dims({B, R, ng}));
    if (col) {
      ASSERT_EQ(s.strides(), Dims({ng * R, 1, R}));
    } else {
      ASSERT_TRUE(s.is_contiguous());
    }
    EXPECT_EQ(std::memcmp(q.data(), q2.data(), size_t(B * R * K)), 0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t g = 0; g < ng; ++g)
          ASSERT_EQ(bits_of(s.data_as<float>()[b * s.stride(0) + r * s.stride(1) + g * s.stride(2)]),
                    bits_of(s2.data_as<float>()[(b * R + r) * ng + g]));
    // 4-D works the same way.
    auto [q4, s4] = per_token_group_quant_fp8(in.view.view({1, B, R, K}), G, col);
    ASSERT_EQ(s4.sizes(), Dims({1, B, R, ng}));
    EXPECT_EQ(std::memcmp(q4.data(), q2.data(), size_t(B * R * K)), 0);
  }
  const Input in = make_input(4, 64, DType::kBFloat16, 28);
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8(in.view.view({256}), 64), ErrorKind::kValue, "x", "2 dimensions");
  // Leading dimensions that cannot merge: [2, 2, 32] out of a [4, 64] row-padded view.
  const TensorView gappy(in.view.data(), DType::kBFloat16, {2, 2, 32}, {64 * 2 * 2, 64, 1});
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8(gappy, 32), ErrorKind::kValue, "x", "[-1, 32]");
}

TEST(QuantGroup, Rejections) {
  const Input in = make_input(4, 200, DType::kBFloat16, 25);
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8(in.view, 0), ErrorKind::kValue, "group_size", "positive");
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8(in.view, -8), ErrorKind::kValue, "group_size");
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8(in.view, 8, false, false, 0.0), ErrorKind::kValue, "eps");
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8(in.view, 8, false, false, -1.0), ErrorKind::kValue, "eps");
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8(in.view, 8, false, false, 1e-60), ErrorKind::kValue, "eps");
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8(in.view, 8, false, false, 1e-10, DType::kFloat8E5M2),
                    ErrorKind::kType, "fp8_dtype", "float8_e5m2");

  const Output out = make_output(4, 200, DType::kFloat8E4M3FN);
  Tensor good = Tensor::empty({4, 25}, DType::kFloat32);
  EXPECT_NO_THROW(per_token_group_quant_fp8_into(out.view, good, in.view, 8));
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8_into(out.view, good, in.view, 128), ErrorKind::kValue, "scale_out",
                    "[4, 2]");
  Tensor wrong_shape = Tensor::empty({4, 24}, DType::kFloat32);
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8_into(out.view, wrong_shape, in.view, 8), ErrorKind::kValue,
                    "scale_out", "[4, 25]", "float32[4, 24]");
  Tensor wrong_dtype = Tensor::empty({4, 25}, DType::kBFloat16);
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8_into(out.view, wrong_dtype, in.view, 8), ErrorKind::kType,
                    "scale_out", "float32", "bfloat16[4, 25]");
  Tensor big = Tensor::empty({4, 100}, DType::kFloat32);
  TensorView strided_both(big.data(), DType::kFloat32, {4, 25}, {100, 2});  // neither layout
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8_into(out.view, strided_both, in.view, 8), ErrorKind::kValue,
                    "scale_out", "column-major", "strides [100, 2]");
  TensorView overlapping(big.data(), DType::kFloat32, {4, 25}, {3, 1});
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8_into(out.view, overlapping, in.view, 8), ErrorKind::kValue,
                    "scale_out");
  const Output short_out = make_output(3, 200, DType::kFloat8E4M3FN);
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8_into(short_out.view, good, in.view, 8), ErrorKind::kValue, "out",
                    "[4, 200]");
}

}  // namespace
}  // namespace w8a8::test
