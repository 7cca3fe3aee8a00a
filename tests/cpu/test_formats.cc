// Bit-exactness of the number formats against independent references:
// decoding from the format's definition, encoding by brute-force search for the nearest value.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "w8a8/error.h"
#include "w8a8/formats.h"

namespace w8a8 {
namespace {

struct Fp8Def {
  const char* name;
  int exponent_bits, mantissa_bits, bias;
  bool fnuz, has_inf;
  uint8_t (*encode)(float, Overflow);
  float (*decode)(uint8_t);
  double max_value;
};

const Fp8Def kFormats[] = {
    {"e4m3fn", 4, 3, 7, false, false, float_to_e4m3fn, e4m3fn_to_float, 448.0},
    {"e4m3fnuz", 4, 3, 8, true, false, float_to_e4m3fnuz, e4m3fnuz_to_float, 240.0},
    {"e5m2", 5, 2, 15, false, true, float_to_e5m2, e5m2_to_float, 57344.0},
};

// The value a code stands for, straight from the format's definition (NaN for NaN codes).
double reference_decode(const Fp8Def& f, int code) {
  const int sign = code >> 7;
  const int e = (code >> f.mantissa_bits) & ((1 << f.exponent_bits) - 1);
  const int m = code & ((1 << f.mantissa_bits) - 1);
  const int e_max = (1 << f.exponent_bits) - 1;
  if (f.fnuz && code == 0x80) return std::nan("");
  if (!f.fnuz && !f.has_inf && e == e_max && m == (1 << f.mantissa_bits) - 1) return std::nan("");
  if (f.has_inf && e == e_max) return m == 0 ? (sign ? -INFINITY : INFINITY) : std::nan("");
  const double mag = e == 0 ? std::ldexp(double(m), 1 - f.bias - f.mantissa_bits)
                            : std::ldexp(1.0 + double(m) / (1 << f.mantissa_bits), e - f.bias);
  return sign ? -mag : mag;
}

// Brute-force round-to-nearest-even: the closest finite magnitude, or "overflow" if the next
// step past the maximum is closer (ties go to the even code; the virtual overflow code is max+1).
int reference_encode(const Fp8Def& f, double x, bool saturate) {
  const int max_code = f.fnuz ? 0x7F : (f.has_inf ? 0x7B : 0x7E);
  const int nan_code = f.fnuz ? 0x80 : 0x7F;
  if (std::isnan(x)) return -1;  // any NaN code
  const bool neg = std::signbit(x);
  double a = std::fabs(x);
  if (saturate && a > f.max_value) a = f.max_value;
  int best = 0;
  double best_err = INFINITY;
  const double step_past_max = f.max_value + (f.max_value - reference_decode(f, max_code - 1));
  if (a >= step_past_max) best_err = -1, best = max_code + 1;  // beyond every finite candidate
  for (int c = 0; c <= max_code + 1 && best_err >= 0; ++c) {
    const double v = c <= max_code ? reference_decode(f, c) : step_past_max;
    const double err = std::fabs(v - a);
    if (err < best_err || (err == best_err && (c & 1) == 0)) {
      best = c;
      best_err = err;
    }
  }
  if (best > max_code) {
    if (f.has_inf) return neg ? 0xFC : 0x7C;
    return f.fnuz ? nan_code : (neg ? 0xFF : 0x7F);
  }
  if (best == 0 && f.fnuz) return 0;
  return (neg ? 0x80 : 0) | best;
}

bool is_nan_code(const Fp8Def& f, int code) { return std::isnan(reference_decode(f, code)); }

void expect_encodes_like_reference(const Fp8Def& f, float x) {
  for (bool saturate : {false, true}) {
    const int want = reference_encode(f, x, saturate);
    const int got = f.encode(x, saturate ? Overflow::kSaturating : Overflow::kNonSaturating);
    if (want < 0) {
      ASSERT_TRUE(is_nan_code(f, got)) << f.name << " x=" << x << " got 0x" << std::hex << got;
    } else {
      ASSERT_EQ(got, want) << f.name << " x=" << x << " (saturate=" << saturate << ")";
    }
  }
}

TEST(Formats, EveryFp8CodeDecodesToItsDefinition) {
  for (const Fp8Def& f : kFormats) {
    for (int c = 0; c < 256; ++c) {
      const double want = reference_decode(f, c);
      const float got = f.decode(uint8_t(c));
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got)) << f.name << " code " << c;
      } else {
        EXPECT_EQ(double(got), want) << f.name << " code " << c;
        EXPECT_EQ(std::signbit(got), std::signbit(want)) << f.name << " code " << c;
      }
    }
  }
}

TEST(Formats, KnownCodes) {
  EXPECT_EQ(float_to_e4m3fn(448.0f), 0x7E);
  EXPECT_EQ(float_to_e4m3fn(464.0f), 0x7E);  // tie between 448 and 480 goes to the even 448
  EXPECT_EQ(float_to_e4m3fn(465.0f), 0x7F);  // past it: NaN without saturation
  EXPECT_EQ(float_to_e4m3fn(1e9f, Overflow::kSaturating), 0x7E);
  EXPECT_EQ(float_to_e4m3fn(-INFINITY, Overflow::kSaturating), 0xFE);
  EXPECT_EQ(float_to_e4m3fn(-0.0f), 0x80);
  EXPECT_EQ(float_to_e4m3fn(std::ldexp(1.0f, -9)), 0x01);   // smallest subnormal
  EXPECT_EQ(float_to_e4m3fn(std::ldexp(1.0f, -10)), 0x00);  // half of it ties to even zero
  EXPECT_EQ(float_to_e4m3fnuz(240.0f), 0x7F);
  EXPECT_EQ(float_to_e4m3fnuz(-0.0f), 0x00);  // no negative zero
  EXPECT_EQ(float_to_e4m3fnuz(std::ldexp(1.0f, -10)), 0x01);
  EXPECT_EQ(float_to_e4m3fnuz(1e9f), 0x80);  // overflow is the only NaN
  EXPECT_EQ(float_to_e5m2(1e9f), 0x7C);      // e5m2 overflows to infinity
  EXPECT_EQ(quantize_e4m3fnuz(1000.0f), float_to_e4m3fnuz(224.0f));  // vLLM's FP8_MAX on fnuz
  EXPECT_EQ(quantize_e4m3fn(std::nanf("")) & 0x7F, 0x7F);           // NaN stays NaN when quantizing
  EXPECT_EQ(fp8_min_scale(DType::kFloat8E4M3FN), 1.0f / (448.0f * 512.0f));
}

TEST(Formats, EveryFp16AndBf16ValueEncodesLikeTheReference) {
  for (const Fp8Def& f : kFormats) {
    for (uint32_t h = 0; h < 65536; ++h) {
      expect_encodes_like_reference(f, fp16_to_float(uint16_t(h)));
      expect_encodes_like_reference(f, bf16_to_float(uint16_t(h)));
    }
  }
}

TEST(Formats, Fp32NearEveryRoundingBoundary) {
  for (const Fp8Def& f : kFormats) {
    for (int c = 0; c < 0x7F; ++c) {
      const double lo = reference_decode(f, c), hi = reference_decode(f, c + 1);
      if (!std::isfinite(lo) || !std::isfinite(hi)) continue;
      for (double center : {lo, (lo + hi) / 2}) {
        float x = float(center);
        for (int i = 0; i < 8; ++i) x = std::nextafter(x, -INFINITY);
        for (int i = 0; i < 17; ++i, x = std::nextafter(x, INFINITY)) {
          expect_encodes_like_reference(f, x);
          expect_encodes_like_reference(f, -x);
        }
      }
    }
  }
}

TEST(Formats, RandomFp32) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<uint32_t> bits;
  for (const Fp8Def& f : kFormats) {
    for (int i = 0; i < 200000; ++i) {
      // Random bit patterns cover NaN, Inf, subnormals; scaled normals cover the FP8 range densely.
      uint32_t u = bits(rng);
      float x;
      std::memcpy(&x, &u, 4);
      expect_encodes_like_reference(f, x);
      expect_encodes_like_reference(f, std::ldexp(float(bits(rng) % 100000) / 100000.0f, int(bits(rng) % 40) - 24));
    }
  }
}

// bf16 and fp16 from fp32: exhaustive over fp16/bf16 neighbourhoods, against double rounding rules.
TEST(Formats, Bf16AndFp16RoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float b = bf16_to_float(uint16_t(h));
    if (!std::isnan(b)) {
      EXPECT_EQ(float_to_bf16(b), h);
    }
    const float p = fp16_to_float(uint16_t(h));
    if (!std::isnan(p)) {
      EXPECT_EQ(float_to_fp16(p), h) << h;
    }
  }
  EXPECT_EQ(float_to_fp16(65519.0f), 0x7BFF);
  EXPECT_EQ(float_to_fp16(65520.0f), 0x7C00);  // ties to even: infinity
  EXPECT_EQ(float_to_fp16(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(float_to_fp16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);  // tie to even
  EXPECT_EQ(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
}

TEST(Formats, DecodeTablesMatchDecoders) {
  for (DType t : {DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ, DType::kFloat8E5M2}) {
    const float* table = fp8_decode_table(t);
    for (int c = 0; c < 256; ++c) {
      const float want = t == DType::kFloat8E4M3FN     ? e4m3fn_to_float(uint8_t(c))
                         : t == DType::kFloat8E4M3FNUZ ? e4m3fnuz_to_float(uint8_t(c))
                                                       : e5m2_to_float(uint8_t(c));
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(table[c]));
      } else {
        EXPECT_EQ(table[c], want);
      }
    }
  }
  EXPECT_THROW(fp8_decode_table(DType::kBFloat16), Error);
}

}  // namespace
}  // namespace w8a8
