// Independent reference for the quantization tests (spec section 2), written without the library's
// quantization code: amax in float64, scales from the spec's formulas evaluated in float64 and rounded
// to float32 where the spec computes in fp32 (for one division, multiplication or reciprocal of float32
// operands, rounding the float64 result to float32 gives exactly the fp32 operation), then the code
// through formats.h's saturating encoders.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "w8a8/error.h"
#include "w8a8/formats.h"
#include "w8a8/tensor.h"

namespace w8a8::test {

inline const std::vector<int64_t>& token_counts() {
  static const std::vector<int64_t> m = {1, 2, 3, 15, 16, 17, 33, 64, 127, 128, 129};
  return m;
}
inline const std::vector<DType>& input_dtypes() {
  static const std::vector<DType> d = {DType::kBFloat16, DType::kFloat16, DType::kFloat32};
  return d;
}
inline const std::vector<DType>& fp8_dtypes() {
  static const std::vector<DType> d = {DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ};
  return d;
}

inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// ---- inputs ---------------------------------------------------------------------------------
// A [M, K] activation of some dtype, rows ld >= K elements apart; the gaps between rows hold NaN so
// that a kernel reading past K poisons its amax and fails the test. `x` holds the exact values.
struct Input {
  Tensor storage;
  TensorView view;
  std::vector<double> x;  // row-major M x K
  int64_t M = 0, K = 0;
  double at(int64_t m, int64_t k) const { return x[size_t(m * K + k)]; }
  void set(int64_t m, int64_t k, double v);
};

inline double store_element(void* base, DType dtype, int64_t index, double v) {
  switch (dtype) {
    case DType::kBFloat16: {
      const uint16_t h = float_to_bf16(float(v));
      static_cast<uint16_t*>(base)[index] = h;
      return bf16_to_float(h);
    }
    case DType::kFloat16: {
      const uint16_t h = float_to_fp16(float(v));
      static_cast<uint16_t*>(base)[index] = h;
      return fp16_to_float(h);
    }
    default: {
      static_cast<float*>(base)[index] = float(v);
      return double(float(v));
    }
  }
}

inline void Input::set(int64_t m, int64_t k, double v) {
  x[size_t(m * K + k)] = store_element(view.data(), view.dtype(), m * view.stride(0) + k, v);
}

// Gaussian values whose magnitude varies by row over 2^-10 .. 2^10, with some exact zeros; never an
// all-zero row (unless asked for later through set()).
inline Input make_input(int64_t M, int64_t K, DType dtype, uint32_t seed, int64_t extra_ld = 0) {
  Input in;
  in.M = M;
  in.K = K;
  const int64_t ld = K + extra_ld;
  in.storage = Tensor::empty({M, ld > 0 ? ld : 1}, dtype);
  for (int64_t i = 0; i < in.storage.numel(); ++i) store_element(in.storage.data(), dtype, i, std::nan(""));
  in.view = TensorView(in.storage.data(), dtype, {M, K}, {ld > 0 ? ld : 1, 1});
  in.x.assign(size_t(M * K), 0.0);
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> expo(-10.0, 10.0);
  std::uniform_int_distribution<int> pick(0, 19);
  for (int64_t m = 0; m < M; ++m) {
    const double row_scale = std::exp2(expo(rng));
    bool any = false;
    for (int64_t k = 0; k < K; ++k) {
      const double v = pick(rng) == 0 ? 0.0 : normal(rng) * row_scale;
      in.set(m, k, v);
      any = any || in.at(m, k) != 0.0;
    }
    if (!any && K > 0) in.set(m, 0, row_scale);
  }
  return in;
}

// An FP8 output buffer [rows, cols] with row stride ld; gaps hold 0xA5 to catch stray writes.
struct Output {
  Tensor storage;
  TensorView view;
  int64_t rows = 0, cols = 0, ld = 0;
  uint8_t code(int64_t m, int64_t k) const { return storage.data_as<uint8_t>()[m * ld + k]; }
  bool gaps_untouched() const {
    for (int64_t m = 0; m < rows; ++m)
      for (int64_t k = cols; k < ld; ++k)
        if (storage.data_as<uint8_t>()[m * ld + k] != 0xA5) return false;
    return true;
  }
};
inline Output make_output(int64_t rows, int64_t cols, DType fp8, int64_t extra_ld = 0) {
  Output o;
  o.rows = rows;
  o.cols = cols;
  o.ld = cols + extra_ld > 0 ? cols + extra_ld : 1;
  o.storage = Tensor::empty({rows, o.ld}, fp8);
  std::memset(o.storage.data(), 0xA5, size_t(o.storage.numel()));
  o.view = TensorView(o.storage.data(), fp8, {rows, cols}, {o.ld, 1});
  return o;
}

// ---- reference rules -------------------------------------------------------------------------
inline double ref_qmax(DType fp8) { return fp8 == DType::kFloat8E4M3FNUZ ? 224.0 : 448.0; }
inline float ref_min_scale(DType fp8) { return float(1.0 / (ref_qmax(fp8) * 512.0)); }
inline double nan_d() { return std::numeric_limits<double>::quiet_NaN(); }

// max |x| over a range, NaN if any element is NaN (torch's x.abs().max()).
inline double ref_amax(const Input& in, int64_t m0, int64_t m1, int64_t k0, int64_t k1) {
  double a = 0.0;
  for (int64_t m = m0; m < m1; ++m)
    for (int64_t k = k0; k < k1; ++k) {
      const double v = in.at(m, k);
      if (std::isnan(v)) return nan_d();
      a = std::max(a, std::fabs(v));
    }
  return a;
}

// fp32 a / b (correctly rounded), computed in float64.
inline float ref_div(double a, double b) { return float(a / b); }

// Dynamic per-tensor / block: max(amax / FP8_MAX, MIN_SCALE), NaN propagating.
inline float ref_tensor_scale(double amax, DType fp8) {
  if (std::isnan(amax)) return float(nan_d());
  const float s = ref_div(float(amax), ref_qmax(fp8));
  return s < ref_min_scale(fp8) ? ref_min_scale(fp8) : s;
}
// Dynamic per-token: max(min(amax, ub) / FP8_MAX, MIN_SCALE).
inline float ref_token_scale(double amax, double ub, DType fp8) {
  if (std::isnan(amax)) return float(nan_d());
  return ref_tensor_scale(std::min(amax, ub), fp8);
}
// Per-token-group: max(amax, eps) / FP8_MAX, UE8M0: the smallest power of two >= s.
inline float ref_group_scale(double amax, double eps, DType fp8, bool ue8m0) {
  if (std::isnan(amax)) return float(nan_d());
  const float s = ref_div(std::max(float(amax), float(eps)), ref_qmax(fp8));
  if (!ue8m0) return s;
  double p = 1.0;
  while (p < s) p *= 2.0;
  while (p / 2.0 >= s) p /= 2.0;
  return float(p);
}

inline float ref_inv(float scale) { return float(1.0 / double(scale)); }
inline uint8_t ref_code(double x, float inv, DType fp8) {
  const float v = float(x * double(inv));  // the fp32 product
  return fp8 == DType::kFloat8E4M3FNUZ ? quantize_e4m3fnuz(v) : quantize_e4m3fn(v);
}
inline double ref_decode(uint8_t code, DType fp8) {
  return fp8 == DType::kFloat8E4M3FNUZ ? e4m3fnuz_to_float(code) : e4m3fn_to_float(code);
}
inline uint8_t nan_code(DType fp8) { return fp8 == DType::kFloat8E4M3FNUZ ? 0x80 : 0x7F; }

inline bool same_float(float a, float b) { return bits_of(a) == bits_of(b) || (std::isnan(a) && std::isnan(b)); }

// The decoded code times the scale is within half an FP8 ulp (of x / scale's binade) of x, plus the
// fp32 roundings of the reciprocal and the product; beyond FP8_MAX it is exactly +-FP8_MAX.
inline ::testing::AssertionResult within_half_ulp(uint8_t code, float scale, double x, DType fp8) {
  const double dec = ref_decode(code, fp8);
  if (std::isnan(x) || std::isnan(scale)) {
    if (code == nan_code(fp8)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "expected the NaN code for x=" << x << " scale=" << scale;
  }
  const double v = x / double(scale), qmax = ref_qmax(fp8);
  if (std::fabs(v) > qmax * (1.0 + 1e-6)) {
    if (dec == std::copysign(qmax, v)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "x=" << x << " / scale " << scale << " = " << v << " should saturate to "
                                         << std::copysign(qmax, v) << ", got " << dec;
  }
  const int min_exp = fp8 == DType::kFloat8E4M3FNUZ ? -7 : -6;
  const int e = v == 0.0 ? min_exp : std::max(int(std::floor(std::log2(std::fabs(v)))), min_exp);
  const double half_ulp = std::ldexp(1.0, e - 3) / 2.0;
  const double err = std::fabs(dec * double(scale) - x);
  const double tol = (half_ulp + std::fabs(v) * 0x1p-21) * double(scale);
  if (err <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "x=" << x << " scale=" << scale << " code=0x" << std::hex << int(code)
                                       << std::dec << " decodes to " << dec * double(scale) << ", error " << err
                                       << " > half ulp " << tol;
}

// Checks the codes of in[m0:m1, k0:k1] (at the same positions of out) against fp8(sat(x * (1/scale)))
// and the half-ulp bound. Reports at most a few failures per call; returns false on any.
inline bool expect_quantized(const Input& in, const Output& out, int64_t m0, int64_t m1, int64_t k0, int64_t k1,
                             float scale, DType fp8, const std::string& what) {
  const float inv = ref_inv(scale);
  int failures = 0;
  for (int64_t m = m0; m < m1 && failures < 3; ++m)
    for (int64_t k = k0; k < k1 && failures < 3; ++k) {
      const uint8_t got = out.code(m, k), want = ref_code(in.at(m, k), inv, fp8);
      if (got != want) {
        ADD_FAILURE() << what << " [" << m << ", " << k << "] x=" << in.at(m, k) << " scale=" << scale << ": code 0x"
                      << std::hex << int(got) << ", expected 0x" << int(want) << std::dec;
        ++failures;
      }
      const auto close = within_half_ulp(got, scale, in.at(m, k), fp8);
      if (!close) {
        ADD_FAILURE() << what << " [" << m << ", " << k << "] " << close.message();
        ++failures;
      }
    }
  return failures == 0;
}

// ---- errors -----------------------------------------------------------------------------------
inline void check_error(const Error& e, ErrorKind kind, std::initializer_list<const char*> parts) {
  EXPECT_EQ(int(e.kind()), int(kind)) << e.what();
  for (const char* p : parts)
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "'" << p << "' not in: " << e.what();
}

}  // namespace w8a8::test

// EXPECT_THROW plus the error's kind and substrings of its message (each argument's name, say).
#define EXPECT_W8A8_ERROR(stmt, kind, ...)                                            \
  do {                                                                               \
    EXPECT_THROW(stmt, ::w8a8::Error);                                               \
    try {                                                                            \
      stmt;                                                                          \
    } catch (const ::w8a8::Error& e_) {                                              \
      ::w8a8::test::check_error(e_, kind, {__VA_ARGS__});                            \
    }                                                                                \
  } while (0)
