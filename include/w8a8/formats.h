// Bit-exact number formats: FP8 (e4m3fn, e4m3fnuz, e5m2), bfloat16 and float16.
//
// Every conversion from float rounds to nearest, ties to even. Header-only so the conversions
// inline into CPU loops and compile unchanged into CUDA kernels.
#pragma once

#include <cstdint>
#include <cstring>

#include "w8a8/dtype.h"

#if defined(__CUDACC__)
#define W8A8_HD __host__ __device__ __forceinline__
#else
#define W8A8_HD inline
#endif

namespace w8a8 {

// Overflow behaviour of a conversion from float.
enum class Overflow {
  kNonSaturating,  // out of range -> NaN (Inf for e5m2), as torch's .to(float8) and ml_dtypes
  kSaturating,     // clamp to the format's largest finite value first; NaN stays NaN
};

namespace fp8_detail {

W8A8_HD uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
W8A8_HD float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Layout of one FP8 format. Magnitude codes are the low 7 bits.
struct Fp8Layout {
  int mantissa_bits;
  int exponent_bias;
  uint8_t max_magnitude_code;  // largest finite magnitude (0x7E, 0x7F, 0x7B)
  uint8_t nan_code;            // canonical NaN (positive where the format has a sign on NaN)
  bool fnuz;                   // no negative zero; 0x80 is the only NaN
  bool has_inf;                // e5m2 only
};

constexpr Fp8Layout kE4M3FN{3, 7, 0x7E, 0x7F, false, false};
constexpr Fp8Layout kE4M3FNUZ{3, 8, 0x7F, 0x80, true, false};
constexpr Fp8Layout kE5M2{2, 15, 0x7B, 0x7E, false, true};

// Rounds |x| (fp32 bits, finite, not NaN) to the format's magnitude code, ties to even.
// Returns a value > max_magnitude_code when the rounded value overflows.
W8A8_HD uint32_t round_magnitude(uint32_t abs_bits, Fp8Layout L) {
  const int m = L.mantissa_bits;
  const int min_normal_exp = 1 - L.exponent_bias;  // unbiased exponent of the smallest normal
  const int exp = int(abs_bits >> 23) - 127;
  if (exp < min_normal_exp) {
    // Subnormal (or zero) in the target: count quanta of 2^(min_normal_exp - m). Scaling by a power
    // of two is exact, and the integer rounding below is ties-to-even. A result of 2^m is the
    // smallest normal, whose code is exactly 2^m as well.
    const int shift = 23 + (min_normal_exp - m) - exp;  // bits to drop from the 24-bit significand
    if (shift > 25) return 0;                            // below half the smallest subnormal
    if (exp == -127) return 0;  // fp32 subnormals are far below every FP8 subnormal
    const uint32_t significand = (abs_bits & 0x7FFFFFu) | 0x800000u;
    const uint32_t half = 1u << (shift - 1);
    const uint32_t rest = significand & ((1u << shift) - 1);
    uint32_t q = significand >> shift;
    if (rest > half || (rest == half && (q & 1u))) ++q;
    return q;
  }
  const int shift = 23 - m;
  const uint32_t lsb = (abs_bits >> shift) & 1u;
  const uint32_t rounded = (abs_bits + ((1u << (shift - 1)) - 1u) + lsb) >> shift;
  // Re-bias: fp32 exponent field e32 becomes e32 - 127 + bias.
  return rounded - (uint32_t(127 - L.exponent_bias) << m);
}

W8A8_HD uint8_t encode(float x, Fp8Layout L, Overflow overflow) {
  const uint32_t u = float_bits(x);
  const uint32_t sign = (u >> 31) & 1u;
  const uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return L.nan_code;  // NaN in, NaN out
  uint32_t mag;
  if (a == 0x7F800000u) {
    mag = 0x100;  // infinity: overflows
  } else {
    mag = round_magnitude(a, L);
  }
  if (mag > L.max_magnitude_code) {
    if (overflow == Overflow::kSaturating) {
      mag = L.max_magnitude_code;
    } else if (L.has_inf) {
      mag = 0x7C;
    } else {
      return L.nan_code | (L.fnuz ? 0 : (sign << 7));
    }
  }
  if (mag == 0 && L.fnuz) return 0;  // no negative zero
  return uint8_t((sign << 7) | mag);
}

W8A8_HD float decode(uint8_t code, Fp8Layout L) {
  const uint32_t sign = code >> 7;
  const uint32_t mag = code & 0x7Fu;
  const int m = L.mantissa_bits;
  if (L.fnuz && code == 0x80) return bits_float(0x7FC00000u);
  if (!L.has_inf && !L.fnuz && mag == 0x7F) return bits_float(0x7FC00000u | (sign << 31));
  if (L.has_inf && (mag >> m) == 0x1F) {
    if ((mag & 3u) == 0) return bits_float(0x7F800000u | (sign << 31));
    return bits_float(0x7FC00000u | (sign << 31));
  }
  const uint32_t e = mag >> m;
  const uint32_t f = mag & ((1u << m) - 1u);
  uint32_t bits;
  if (e == 0) {
    // Subnormal: f * 2^(1 - bias - m), exactly representable as a normal fp32.
    if (f == 0) return bits_float(sign << 31);
    int p = 31 - __builtin_clz(f);  // position of the leading one
    const int unbiased = p + 1 - L.exponent_bias - m;
    bits = (uint32_t(unbiased + 127) << 23) | ((f & ~(1u << p)) << (23 - p));
  } else {
    bits = ((e - L.exponent_bias + 127) << 23) | (f << (23 - m));
  }
  return bits_float(bits | (sign << 31));
}

}  // namespace fp8_detail

// ---- FP8 --------------------------------------------------------------------------------
W8A8_HD uint8_t float_to_e4m3fn(float x, Overflow o = Overflow::kNonSaturating) {
  return fp8_detail::encode(x, fp8_detail::kE4M3FN, o);
}
W8A8_HD uint8_t float_to_e4m3fnuz(float x, Overflow o = Overflow::kNonSaturating) {
  return fp8_detail::encode(x, fp8_detail::kE4M3FNUZ, o);
}
W8A8_HD uint8_t float_to_e5m2(float x, Overflow o = Overflow::kNonSaturating) {
  return fp8_detail::encode(x, fp8_detail::kE5M2, o);
}
W8A8_HD float e4m3fn_to_float(uint8_t c) { return fp8_detail::decode(c, fp8_detail::kE4M3FN); }
W8A8_HD float e4m3fnuz_to_float(uint8_t c) { return fp8_detail::decode(c, fp8_detail::kE4M3FNUZ); }
W8A8_HD float e5m2_to_float(uint8_t c) { return fp8_detail::decode(c, fp8_detail::kE5M2); }

// Largest finite value of each FP8 format (what a saturating conversion clamps to).
constexpr float kE4M3FNMax = 448.0f;
constexpr float kE4M3FNUZMax = 240.0f;
constexpr float kE5M2Max = 57344.0f;

// FP8_MAX: the largest value *quantization* targets. 448 for e4m3fn; 224 for e4m3fnuz, as vLLM
// does on ROCm (the format reaches 240; see the spec). MIN_SCALE = 1 / (FP8_MAX * 512).
constexpr float fp8_quant_max(DType t) {
  return t == DType::kFloat8E4M3FNUZ ? 224.0f : t == DType::kFloat8E5M2 ? kE5M2Max : kE4M3FNMax;
}
constexpr float fp8_min_scale(DType t) { return 1.0f / (fp8_quant_max(t) * 512.0f); }

// Saturating quantization of an already-scaled value: clamp to +-fp8_quant_max, then round.
W8A8_HD uint8_t quantize_e4m3fn(float x) { return float_to_e4m3fn(x, Overflow::kSaturating); }
W8A8_HD uint8_t quantize_e4m3fnuz(float x) {
  // Clamp to 224 first (vLLM's FP8_MAX on fnuz); NaN passes through the comparisons unchanged.
  const float c = x > 224.0f ? 224.0f : (x < -224.0f ? -224.0f : x);
  return float_to_e4m3fnuz(c, Overflow::kSaturating);
}

// ---- bfloat16 / float16 -----------------------------------------------------------------
W8A8_HD uint16_t float_to_bf16(float x) {
  const uint32_t u = fp8_detail::float_bits(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((u >> 16) | 0x40u);  // quiet NaN, sign kept
  const uint32_t lsb = (u >> 16) & 1u;
  return uint16_t((u + 0x7FFFu + lsb) >> 16);
}
W8A8_HD float bf16_to_float(uint16_t h) { return fp8_detail::bits_float(uint32_t(h) << 16); }

W8A8_HD uint16_t float_to_fp16(float x) {
  const uint32_t u = fp8_detail::float_bits(x);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return uint16_t(sign | 0x7E00u);  // NaN
  if (a >= 0x477FF000u) return uint16_t(sign | 0x7C00u);  // rounds to >= 65536 (or is Inf): Inf
  const int exp = int(a >> 23) - 127;
  if (exp < -14) {
    // Subnormal half: quanta of 2^-24.
    if (exp < -25) return uint16_t(sign);  // below half the smallest subnormal (2^-25 ties to 0)
    const uint32_t significand = (a & 0x7FFFFFu) | 0x800000u;
    const int s = -1 - exp;  // significand * 2^(exp-23) in units of 2^-24
    const uint32_t half = 1u << (s - 1);
    const uint32_t rest = significand & ((1u << s) - 1u);
    uint32_t q = significand >> s;
    if (rest > half || (rest == half && (q & 1u))) ++q;
    return uint16_t(sign | q);
  }
  const uint32_t lsb = (a >> 13) & 1u;
  const uint32_t rounded = (a + 0xFFFu + lsb) >> 13;
  return uint16_t(sign | (rounded - (uint32_t(127 - 15) << 10)));
}
W8A8_HD float fp16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1Fu;
  const uint32_t f = h & 0x3FFu;
  if (e == 0x1F) return fp8_detail::bits_float(sign | 0x7F800000u | (f << 13));
  if (e == 0) {
    if (f == 0) return fp8_detail::bits_float(sign);
    const int p = 31 - __builtin_clz(f);
    return fp8_detail::bits_float(sign | (uint32_t(p - 24 + 127) << 23) | ((f & ~(1u << p)) << (23 - p)));
  }
  return fp8_detail::bits_float(sign | ((e - 15 + 127) << 23) | (f << 13));
}

// ---- value types ------------------------------------------------------------------------
// Thin storage wrappers so tensors and spans say what they hold. Arithmetic happens in float.
struct float8_e4m3fn {
  uint8_t bits;
  W8A8_HD float to_float() const { return e4m3fn_to_float(bits); }
  static W8A8_HD float8_e4m3fn from_float(float f, Overflow o = Overflow::kNonSaturating) {
    return {float_to_e4m3fn(f, o)};
  }
};
struct float8_e4m3fnuz {
  uint8_t bits;
  W8A8_HD float to_float() const { return e4m3fnuz_to_float(bits); }
  static W8A8_HD float8_e4m3fnuz from_float(float f, Overflow o = Overflow::kNonSaturating) {
    return {float_to_e4m3fnuz(f, o)};
  }
};
struct float8_e5m2 {
  uint8_t bits;
  W8A8_HD float to_float() const { return e5m2_to_float(bits); }
  static W8A8_HD float8_e5m2 from_float(float f, Overflow o = Overflow::kNonSaturating) {
    return {float_to_e5m2(f, o)};
  }
};
struct bfloat16 {
  uint16_t bits;
  W8A8_HD float to_float() const { return bf16_to_float(bits); }
  static W8A8_HD bfloat16 from_float(float f) { return {float_to_bf16(f)}; }
};
struct float16 {
  uint16_t bits;
  W8A8_HD float to_float() const { return fp16_to_float(bits); }
  static W8A8_HD float16 from_float(float f) { return {float_to_fp16(f)}; }
};

// Decoding tables for the CPU hot loops: value of each of the 256 codes.
const float* fp8_decode_table(DType fp8_type);

}  // namespace w8a8
