// 128x128 (and other) block quantization of weights, partial edge blocks included.
#include <gtest/gtest.h>

#include "cpu/quant_test_util.h"
#include "w8a8/quant.h"

namespace w8a8::test {
namespace {

void expect_blocks(const Input& w, const Output& out, const Tensor& scales, int64_t bn, int64_t bk, DType fp8,
                   const std::string& what) {
  const int64_t nbr = (w.M + bn - 1) / bn, nbc = (w.K + bk - 1) / bk;
  ASSERT_EQ(scales.sizes(), Dims({nbr, nbc})) << what;
  for (int64_t br = 0; br < nbr; ++br)
    for (int64_t bc = 0; bc < nbc; ++bc) {
      const int64_t m0 = br * bn, m1 = std::min(w.M, m0 + bn), k0 = bc * bk, k1 = std::min(w.K, k0 + bk);
      const float want = ref_tensor_scale(ref_amax(w, m0, m1, k0, k1), fp8);
      const float got = scales.data_as<float>()[br * nbc + bc];
      ASSERT_TRUE(same_float(got, want)) << what << " block (" << br << ", " << bc << "): scale " << got
                                         << ", expected " << want;
      ASSERT_TRUE(expect_quantized(w, out, m0, m1, k0, k1, want, fp8, what));
    }
  EXPECT_TRUE(out.gaps_untouched()) << what;
}

TEST(QuantBlock, MatchesReference) {
  uint32_t seed = 700;
  struct Shape { int64_t n, k, bn, bk; };
  const Shape shapes[] = {{1, 1, 128, 128},   {129, 333, 128, 128}, {300, 128, 128, 128}, {256, 256, 128, 128},
                          {127, 129, 128, 128}, {70, 50, 64, 32},   {17, 300, 16, 100}};
  for (DType dt : input_dtypes())
    for (DType fp8 : fp8_dtypes())
      for (const Shape& s : shapes) {
        const int64_t extra = s.k % 2 ? 4 : 0;
        const Input w = make_input(s.n, s.k, dt, seed++, extra);
        const Output out = make_output(s.n, s.k, fp8, extra ? 3 : 0);
        Tensor scales = Tensor::empty({(s.n + s.bn - 1) / s.bn, (s.k + s.bk - 1) / s.bk}, DType::kFloat32);
        per_block_quant_fp8_into(out.view, scales, w.view, s.bn, s.bk);
        expect_blocks(w, out, scales, s.bn, s.bk, fp8,
                      std::string(dtype_name(dt)) + "->" + dtype_name(fp8) + " " + std::to_string(s.n) + "x" +
                          std::to_string(s.k));
      }
}

TEST(QuantBlock, AllocatingEntryAndZeroBlock) {
  for (DType fp8 : fp8_dtypes()) {
    Input w = make_input(200, 300, DType::kBFloat16, 31);
    for (int64_t n = 128; n < 200; ++n)
      for (int64_t k = 256; k < 300; ++k) w.set(n, k, 0.0);  // the partial corner block
    auto [q, s] = per_block_quant_fp8(w.view, 128, 128, fp8);
    ASSERT_EQ(q.sizes(), Dims({200, 300}));
    ASSERT_EQ(q.dtype(), fp8);
    ASSERT_EQ(s.sizes(), Dims({2, 3}));
    EXPECT_EQ(s.data_as<float>()[5], ref_min_scale(fp8));
    Output out;
    out.storage = q;
    out.view = q;
    out.rows = 200;
    out.cols = out.ld = 300;
    expect_blocks(w, out, s, 128, 128, fp8, "allocating");
  }
}

TEST(QuantBlock, NaNPoisonsOnlyItsBlock) {
  Input w = make_input(130, 140, DType::kFloat32, 32);
  w.set(129, 3, nan_d());
  auto [q, s] = per_block_quant_fp8(w.view);
  EXPECT_TRUE(std::isnan(s.data_as<float>()[2]));
  EXPECT_FALSE(std::isnan(s.data_as<float>()[3]));
  for (int64_t k = 0; k < 128; ++k) EXPECT_EQ(q.data_as<uint8_t>()[128 * 140 + k], 0x7F);
  EXPECT_NE(q.data_as<uint8_t>()[128 * 140 + 128], 0x7F);
}

TEST(QuantBlock, Rejections) {
  const Input w = make_input(10, 20, DType::kFloat32, 33);
  EXPECT_W8A8_ERROR(per_block_quant_fp8(w.view, 0, 128), ErrorKind::kValue, "block_n");
  EXPECT_W8A8_ERROR(per_block_quant_fp8(w.view, 128, -1), ErrorKind::kValue, "block_k");
  EXPECT_W8A8_ERROR(per_block_quant_fp8(w.view, 128, 128, DType::kBFloat16), ErrorKind::kType, "fp8_dtype");
  Tensor i8 = Tensor::empty({10, 20}, DType::kInt8);
  EXPECT_W8A8_ERROR(per_block_quant_fp8(i8), ErrorKind::kType, "weight", "int8[10, 20]");
  const Output out = make_output(10, 20, DType::kFloat8E4M3FN);
  Tensor good = Tensor::empty({1, 1}, DType::kFloat32);
  EXPECT_NO_THROW(per_block_quant_fp8_into(out.view, good, w.view));
  Tensor bad = Tensor::empty({1, 2}, DType::kFloat32);
  EXPECT_W8A8_ERROR(per_block_quant_fp8_into(out.view, bad, w.view), ErrorKind::kValue, "scale_out", "[1, 1]");
  Tensor wide = Tensor::empty({2, 4}, DType::kFloat32);
  TensorView strided(wide.data(), DType::kFloat32, {2, 2}, {4, 1});
  Tensor two = Tensor::empty({2, 2}, DType::kFloat32);
  EXPECT_NO_THROW(per_block_quant_fp8_into(out.view, two, w.view, 8, 16));
  EXPECT_W8A8_ERROR(per_block_quant_fp8_into(out.view, strided, w.view, 8, 16), ErrorKind::kValue, "scale_out",
                    "contiguous");
  Tensor f16 = Tensor::empty({1, 1}, DType::kFloat16);
  EXPECT_W8A8_ERROR(per_block_quant_fp8_into(out.view, f16, w.view), ErrorKind::kType, "scale_out", "float16");
  const Output wrong = make_output(10, 21, DType::kFloat8E4M3FN);
  EXPECT_W8A8_ERROR(per_block_quant_fp8_into(wrong.view, good, w.view), ErrorKind::kValue, "out", "[10, 20]");
}

}  // namespace
}  // namespace w8a8::test
