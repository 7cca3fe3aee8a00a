// Float64 reference of the scaled GEMM (spec section 3) and the section-7 comparisons.
//
// The reference decodes the FP8 operands exactly, applies the scales and sums in double, so only
// the backend's own arithmetic (fp32 accumulation, output rounding) is measured.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "w8a8/dtype.h"
#include "w8a8/formats.h"
#include "w8a8/tensor.h"

namespace w8a8::testref {

// Element (i, j) of a 2-D view (any strides), or element i of a 1-D view, as double.
inline double value_at(const TensorView& t, int64_t offset_elems) {
  const char* p = static_cast<const char*>(t.data()) + offset_elems * int64_t(t.element_size());
  switch (t.dtype()) {
    case DType::kFloat32: { float v; std::memcpy(&v, p, 4); return v; }
    case DType::kFloat64: { double v; std::memcpy(&v, p, 8); return v; }
    case DType::kFloat16: { uint16_t v; std::memcpy(&v, p, 2); return fp16_to_float(v); }
    case DType::kBFloat16: { uint16_t v; std::memcpy(&v, p, 2); return bf16_to_float(v); }
    case DType::kFloat8E4M3FN: return e4m3fn_to_float(uint8_t(*p));
    case DType::kFloat8E4M3FNUZ: return e4m3fnuz_to_float(uint8_t(*p));
    case DType::kFloat8E5M2: return e5m2_to_float(uint8_t(*p));
    default: ADD_FAILURE() << "value_at: unexpected dtype " << dtype_name(t.dtype()); return 0;
  }
}
inline double at2(const TensorView& t, int64_t i, int64_t j) { return value_at(t, i * t.stride(0) + j * t.stride(1)); }
inline double at1(const TensorView& t, int64_t i) { return value_at(t, i * t.stride(0)); }

// Scale of element (m, k) of A and (k, n) of B. Blockwise: scale_a [M, K/128], scale_b [K/128, ceil(N/128)];
// otherwise one element, [M, 1] / [1, N] / [N, 1].
inline double scale_a_at(const TensorView& s, int64_t m, int64_t k, bool blockwise) {
  if (s.numel() == 1) return value_at(s, 0);
  if (blockwise) return at2(s, m, k / 128);
  return at2(s, m, 0);
}
inline double scale_b_at(const TensorView& s, int64_t k, int64_t n, bool blockwise) {
  if (s.numel() == 1) return value_at(s, 0);
  if (blockwise) return at2(s, k / 128, n / 128);
  return s.size(0) == 1 ? at2(s, 0, n) : at2(s, n, 0);
}

// out[m * N + n] = sum_k (scale_a * A)[m, k] * (scale_b * B)[k, n] + bias[n], in double.
inline std::vector<double> scaled_mm(const TensorView& a, const TensorView& b, const TensorView& scale_a,
                                     const TensorView& scale_b, const std::optional<TensorView>& bias,
                                     bool blockwise) {
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  std::vector<double> sa(size_t(M * K)), sbt(size_t(N * K));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) sa[size_t(m * K + k)] = at2(a, m, k) * scale_a_at(scale_a, m, k, blockwise);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) sbt[size_t(n * K + k)] = at2(b, k, n) * scale_b_at(scale_b, k, n, blockwise);
  std::vector<double> out(size_t(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      const double* x = &sa[size_t(m * K)];
      const double* w = &sbt[size_t(n * K)];
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += x[k] * w[k];
      if (bias) acc += at1(*bias, n);
      out[size_t(m * N + n)] = acc;
    }
  return out;
}

// Section 7's norm-relative tolerance of a scaled GEMM on the CPU.
inline double cpu_tolerance(DType out_dtype) {
  switch (out_dtype) {
    case DType::kBFloat16: return 4e-3;
    case DType::kFloat16: return 1e-3;
    default: return 1e-5;
  }
}

// Section 7: ||out - ref|| / ||ref|| <= rel_tol; every element finite; no element off by more than
// 2^-7 |ref| + 1e-2 rms(ref). Reports the first bad index.
inline ::testing::AssertionResult matches_reference(const TensorView& out, const std::vector<double>& ref,
                                                    double rel_tol) {
  const int64_t M = out.size(0), N = out.size(1);
  if (int64_t(ref.size()) != M * N)
    return ::testing::AssertionFailure() << "reference has " << ref.size() << " elements, out is "
                                         << out.sizes().str();
  double err2 = 0, ref2 = 0;
  for (double r : ref) ref2 += r * r;
  const double rms = M * N > 0 ? std::sqrt(ref2 / double(M * N)) : 0.0;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      const double o = at2(out, m, n), r = ref[size_t(m * N + n)];
      if (!std::isfinite(o))
        return ::testing::AssertionFailure() << "out[" << m << ", " << n << "] = " << o << " is not finite (ref "
                                             << r << ")";
      const double bound = std::ldexp(std::fabs(r), -7) + 1e-2 * rms;
      if (std::fabs(o - r) > bound)
        return ::testing::AssertionFailure() << "out[" << m << ", " << n << "] = " << o << ", ref " << r
                                             << ": off by " << std::fabs(o - r) << " > " << bound;
      err2 += (o - r) * (o - r);
    }
  const double rel = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  if (rel > rel_tol)
    return ::testing::AssertionFailure() << "norm-relative error " << rel << " > " << rel_tol;
  return ::testing::AssertionSuccess() << "norm-relative error " << rel;
}

// ---- inputs ------------------------------------------------------------------------------------
inline uint8_t encode_fp8(float v, DType t) {
  return t == DType::kFloat8E4M3FNUZ ? quantize_e4m3fnuz(v) : quantize_e4m3fn(v);
}

// Random FP8 codes, never zero (nor NaN): magnitudes 2^[-8, 7] (subnormals included), random signs.
inline void fill_random_fp8(const TensorView& t, std::mt19937& gen) {
  std::uniform_real_distribution<float> e(-8.0f, 7.0f);
  std::bernoulli_distribution sign(0.5);
  const int64_t R = t.size(0), C = t.size(1);
  uint8_t* base = t.data_as<uint8_t>();
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) {
      uint8_t c;
      do {
        const float v = std::exp2(e(gen)) * (sign(gen) ? -1.0f : 1.0f);
        c = encode_fp8(v, t.dtype());
      } while ((c & 0x7F) == 0);
      base[i * t.stride(0) + j * t.stride(1)] = c;
    }
}

// fp32 scales in [lo, hi) of the given shape.
inline Tensor random_scales(Dims sizes, std::mt19937& gen, float lo = 0.01f, float hi = 0.1f) {
  Tensor t = Tensor::empty(sizes, DType::kFloat32);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = d(gen);
  return t;
}

// A [N] bias of dtype (rounded to it), values ~ U(-1, 1).
inline Tensor random_bias(int64_t n, DType dtype, std::mt19937& gen) {
  Tensor t = Tensor::empty({n}, dtype);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (int64_t i = 0; i < n; ++i) {
    const float v = d(gen);
    char* p = static_cast<char*>(t.data()) + i * int64_t(t.element_size());
    if (dtype == DType::kFloat32) {
      std::memcpy(p, &v, 4);
    } else {
      const uint16_t h = dtype == DType::kBFloat16 ? float_to_bf16(v) : float_to_fp16(v);
      std::memcpy(p, &h, 2);
    }
  }
  return t;
}

// The same shape, dtype and bytes (CPU views, any strides); names the first differing byte.
inline ::testing::AssertionResult same_bytes(const TensorView& actual, const TensorView& expected) {
  if (actual.sizes() != expected.sizes() || actual.dtype() != expected.dtype())
    return ::testing::AssertionFailure() << actual.describe() << " vs " << expected.describe();
  const Tensor a = Tensor::copy_of(actual), e = Tensor::copy_of(expected);
  const size_t n = size_t(a.numel()) * a.element_size();
  const auto* pa = static_cast<const uint8_t*>(a.data());
  const auto* pe = static_cast<const uint8_t*>(e.data());
  for (size_t i = 0; i < n; ++i)
    if (pa[i] != pe[i])
      return ::testing::AssertionFailure() << "byte " << i << " differs: 0x" << std::hex << int(pa[i]) << " vs 0x"
                                           << int(pe[i]) << " (" << expected.describe() << ")";
  return ::testing::AssertionSuccess();
}

// Fills every byte of the view's span with 0xFF: NaN in fp32, bf16 and fp16 alike.
inline void poison(const TensorView& t) {
  if (t.numel() > 0) std::memset(t.data(), 0xFF, t.span_bytes());
}

}  // namespace w8a8::testref
