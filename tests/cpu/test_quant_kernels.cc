// The quantization layer's row kernels (src/quant/quant_kernels*.cc), every instruction-set table this
// CPU can run, against the bit-exact conversions of formats.h.
#include <gtest/gtest.h>

#include <vector>

#include "cpu/quant_test_util.h"
#include "quant/quant_common.h"
#include "quant/quant_kernels.h"

namespace w8a8::test {
namespace {

std::vector<const quant::RowKernels*> tables() {
  const quant::RowKernels* all[8];
  const int n = quant::available_row_kernels(all, 8);
  return std::vector<const quant::RowKernels*>(all, all + n);
}

TEST(QuantKernels, TablesAvailable) {
  const auto all = tables();
  ASSERT_FALSE(all.empty());
  EXPECT_STREQ(all.back()->isa, "generic");
  bool chosen_listed = false;
  for (const auto* t : all) chosen_listed = chosen_listed || t == &quant::row_kernels();
  EXPECT_TRUE(chosen_listed);
}

// Every 199th fp32 bit pattern (all exponents, both signs, NaNs, infinities), the neighbourhood of every
// FP8 code and the midpoints between codes (ties), through the row kernel as the entries run it.
TEST(QuantKernels, EncodersMatchFormats) {
  std::vector<float> v;
  for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += 199) v.push_back(float_of(uint32_t(u)));
  for (int c = 0; c < 256; ++c)
    for (DType fp8 : fp8_dtypes()) {
      const float d = float(ref_decode(uint8_t(c), fp8));
      if (std::isnan(d)) continue;
      float lo = d, hi = d;
      for (int i = 0; i < 4; ++i) {
        v.push_back(lo = std::nextafter(lo, -1e30f));
        v.push_back(hi = std::nextafter(hi, 1e30f));
      }
      v.push_back(d);
      const float next = float(ref_decode(uint8_t(c + 1), fp8));
      if (!std::isnan(next)) v.push_back(float((double(d) + double(next)) / 2.0));
    }
  std::vector<uint8_t> fn(v.size()), fnuz(v.size());
  for (const quant::RowKernels* t : tables()) {
    t->quant[quant::kInFP32][quant::kOutE4M3FN](fn.data(), v.data(), int64_t(v.size()), 1.0f);
    t->quant[quant::kInFP32][quant::kOutE4M3FNUZ](fnuz.data(), v.data(), int64_t(v.size()), 1.0f);
    int64_t bad = 0;
    for (size_t i = 0; i < v.size() && bad < 10; ++i) {
      if (fn[i] != quantize_e4m3fn(v[i])) {
        ++bad;
        ADD_FAILURE() << t->isa << " e4m3fn of " << v[i] << " (0x" << std::hex << bits_of(v[i]) << "): 0x"
                      << int(fn[i]) << " vs 0x" << int(quantize_e4m3fn(v[i]));
      }
      if (fnuz[i] != quantize_e4m3fnuz(v[i])) {
        ++bad;
        ADD_FAILURE() << t->isa << " e4m3fnuz of " << v[i] << " (0x" << std::hex << bits_of(v[i]) << "): 0x"
                      << int(fnuz[i]) << " vs 0x" << int(quantize_e4m3fnuz(v[i]));
      }
    }
  }
}

TEST(QuantKernels, HalfInputsMatchFormats) {
  // All 65536 bf16 and fp16 patterns: exact loads, and quantization with a few scales.
  std::vector<uint16_t> h(65536);
  for (uint32_t i = 0; i < 65536; ++i) h[i] = uint16_t(i);
  std::vector<float> f(65536);
  std::vector<uint8_t> q(65536);
  for (const quant::RowKernels* t : tables()) {
    t->load[quant::kInFP16](f.data(), h.data(), 65536);
    for (uint32_t i = 0; i < 65536; ++i)
      ASSERT_EQ(bits_of(f[i]), bits_of(fp16_to_float(uint16_t(i)))) << t->isa << " fp16 0x" << std::hex << i;
    t->load[quant::kInBF16](f.data(), h.data(), 65536);
    for (uint32_t i = 0; i < 65536; ++i)
      ASSERT_EQ(bits_of(f[i]), bits_of(bf16_to_float(uint16_t(i)))) << t->isa << " bf16 0x" << std::hex << i;
    for (float inv : {1.0f, 3.0f, 1.0f / 3.0f, 1e-3f, 4096.0f}) {
      t->quant[quant::kInFP16][quant::kOutE4M3FN](q.data(), h.data(), 65536, inv);
      for (uint32_t i = 0; i < 65536; ++i)
        ASSERT_EQ(q[i], quantize_e4m3fn(fp16_to_float(uint16_t(i)) * inv)) << t->isa << " fp16 0x" << std::hex << i;
      t->quant[quant::kInBF16][quant::kOutE4M3FNUZ](q.data(), h.data(), 65536, inv);
      for (uint32_t i = 0; i < 65536; ++i)
        ASSERT_EQ(q[i], quantize_e4m3fnuz(bf16_to_float(uint16_t(i)) * inv)) << t->isa << " bf16 0x" << std::hex << i;
    }
  }
}

TEST(QuantKernels, AmaxIsTheMagnitudeMaxAndPropagatesNaN) {
  for (const quant::RowKernels* t : tables()) {
    const auto amax16 = t->amax[quant::kInFP16];
    // Long enough for the vector loops (and their tails): the interesting element moves around.
    for (int64_t n : {1, 5, 16, 33, 100}) {
      for (int64_t at = 0; at < n; at += 7) {
        std::vector<uint16_t> h(size_t(n), 0x3C00);  // 1.0
        h[0] = 0x8000;                               // -0
        h[size_t(at)] = 0xBC01;                      // -1.000977
        EXPECT_EQ(amax16(h.data(), n), fp16_to_float(0x3C01)) << t->isa;
        h[size_t(at)] = 0xFC00;  // -inf
        EXPECT_TRUE(std::isinf(amax16(h.data(), n))) << t->isa;
        h[size_t(n - 1 - at)] = 0xFE00;  // NaN
        EXPECT_TRUE(std::isnan(amax16(h.data(), n))) << t->isa;
        std::vector<float> f(size_t(n), -2.0f);
        f[size_t(at)] = -3.5f;
        EXPECT_EQ(t->amax[quant::kInFP32](f.data(), n), 3.5f) << t->isa;
        f[size_t(n - 1 - at)] = std::nanf("");
        EXPECT_TRUE(std::isnan(t->amax[quant::kInFP32](f.data(), n))) << t->isa;
        std::vector<uint16_t> b(size_t(n), float_to_bf16(1.0f));
        b[size_t(at)] = float_to_bf16(-7.0f);
        EXPECT_EQ(t->amax[quant::kInBF16](b.data(), n), 7.0f) << t->isa;
      }
    }
    EXPECT_EQ(t->amax[quant::kInBF16](nullptr, 0), 0.0f) << t->isa;
  }
}

TEST(QuantKernels, Ue8m0RoundsUpExactly) {
  // group_scale(amax, eps, qmax, ue8m0) against the smallest power of two >= s, over many binades.
  std::mt19937 rng(71);
  std::uniform_real_distribution<double> e(-60.0, 60.0);
  for (int i = 0; i < 20000; ++i) {
    float amax = float(std::exp2(e(rng)));
    if (i % 3 == 0) amax = std::ldexp(448.0f, int(e(rng)) / 2);                         // s a power of two
    if (i % 3 == 1) amax = std::nextafter(std::ldexp(448.0f, int(e(rng)) / 2), 1e30f);  // one ulp above
    ASSERT_EQ(quant::group_scale(amax, 1e-10f, 448.0f, true), ref_group_scale(amax, 1e-10f, DType::kFloat8E4M3FN, true))
        << amax;
  }
  EXPECT_EQ(quant::group_scale(56.0f, 1e-10f, 448.0f, true), 0.125f);
  EXPECT_TRUE(std::isnan(quant::group_scale(std::nanf(""), 1e-10f, 448.0f, true)));
}

}  // namespace
}  // namespace w8a8::test
