// Helpers for the dispatch / linear tests: random tensors, an independent reference of the spec's
// quantization rules (section 2) and a float64 GEMM, and the section-7 comparisons.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/reference.h"
#include "w8a8/dtype.h"
#include "w8a8/error.h"
#include "w8a8/formats.h"
#include "w8a8/tensor.h"

namespace op_test {

using namespace w8a8;

// Element i (row-major order) of a contiguous tensor, as double.
inline double get(const TensorView& t, int64_t i) { return testref::value_at(t, i); }

// Stores v rounded to t's dtype (fp32 / fp16 / bf16) at element i of a contiguous tensor.
inline void set(const TensorView& t, int64_t i, float v) {
  char* p = static_cast<char*>(t.data()) + i * int64_t(t.element_size());
  switch (t.dtype()) {
    case DType::kFloat32: std::memcpy(p, &v, 4); return;
    case DType::kFloat16: { uint16_t h = float_to_fp16(v); std::memcpy(p, &h, 2); return; }
    case DType::kBFloat16: { uint16_t h = float_to_bf16(v); std::memcpy(p, &h, 2); return; }
    default: ADD_FAILURE() << "set: unexpected dtype " << dtype_name(t.dtype());
  }
}

// Gaussian values (rounded to dtype).
inline Tensor randn(Dims sizes, DType dtype, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  Tensor t = Tensor::empty(sizes, dtype);
  for (int64_t i = 0; i < t.numel(); ++i) set(t, i, dist(gen));
  return t;
}

inline Tensor scalar_tensor(float v, Dims sizes = {1}) {
  Tensor t = Tensor::empty(sizes, DType::kFloat32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = v;
  return t;
}

inline std::vector<float> values(const TensorView& t) {
  std::vector<float> v(size_t(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[size_t(i)] = float(get(t, i));
  return v;
}

// ---- reference quantization (spec section 2), e4m3fn --------------------------------------
constexpr float kFp8Max = 448.0f;
constexpr float kMinScale = 1.0f / (448.0f * 512.0f);

// rows x cols values quantized with one scale per row (scales.size() == rows) or one for all.
struct RefQuant {
  std::vector<uint8_t> codes;
  std::vector<float> scales;
  int64_t rows = 0, cols = 0;
  float scale_of_row(int64_t r) const { return scales.size() == 1 ? scales[0] : scales[size_t(r)]; }
  double dq(int64_t r, int64_t c) const {
    return double(e4m3fn_to_float(codes[size_t(r * cols + c)])) * double(scale_of_row(r));
  }
};

inline RefQuant ref_quant_with_scales(const std::vector<float>& x, int64_t rows, int64_t cols,
                                      std::vector<float> scales) {
  RefQuant q;
  q.rows = rows;
  q.cols = cols;
  q.scales = std::move(scales);
  q.codes.resize(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    const float inv = 1.0f / q.scale_of_row(r);  // the reciprocal once, in fp32
    for (int64_t c = 0; c < cols; ++c) q.codes[size_t(r * cols + c)] = quantize_e4m3fn(x[size_t(r * cols + c)] * inv);
  }
  return q;
}

inline float amax(const std::vector<float>& x, size_t begin, size_t end) {
  float m = 0.0f;
  for (size_t i = begin; i < end; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

inline RefQuant ref_quant_static(const std::vector<float>& x, int64_t rows, int64_t cols, float scale) {
  return ref_quant_with_scales(x, rows, cols, {scale});
}
inline RefQuant ref_quant_dynamic_per_tensor(const std::vector<float>& x, int64_t rows, int64_t cols) {
  return ref_quant_with_scales(x, rows, cols, {std::max(amax(x, 0, x.size()) / kFp8Max, kMinScale)});
}
inline RefQuant ref_quant_per_row(const std::vector<float>& x, int64_t rows, int64_t cols,
                                  std::optional<float> ub = std::nullopt) {
  std::vector<float> s(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    float a = amax(x, size_t(r * cols), size_t((r + 1) * cols));
    if (ub) a = std::min(a, *ub);
    s[size_t(r)] = std::max(a / kFp8Max, kMinScale);
  }
  return ref_quant_with_scales(x, rows, cols, s);
}

// An FP8 tensor [rows, cols] holding q's codes (rows beyond q.rows filled with filler codes).
inline Tensor fp8_tensor(const RefQuant& q, int64_t total_rows = -1, uint8_t filler = 0x00) {
  if (total_rows < 0) total_rows = q.rows;
  Tensor t = Tensor::empty({total_rows, q.cols}, DType::kFloat8E4M3FN);
  uint8_t* p = t.data_as<uint8_t>();
  std::memcpy(p, q.codes.data(), q.codes.size());
  for (size_t i = q.codes.size(); i < size_t(total_rows * q.cols); ++i) p[i] = uint8_t(filler + i % 7);
  return t;
}
// The scales as a tensor: [1] for one scale, [total_rows, 1] per row (extra rows get 1).
inline Tensor scale_tensor(const RefQuant& q, int64_t total_rows = -1) {
  if (q.scales.size() == 1) return scalar_tensor(q.scales[0]);
  if (total_rows < 0) total_rows = q.rows;
  Tensor t = scalar_tensor(1.0f, {total_rows, 1});
  for (size_t i = 0; i < q.scales.size(); ++i) t.data_as<float>()[i] = q.scales[i];
  return t;
}

// A quantized weight: W [N, K] as floats, quantized per tensor or per output channel.
struct RefWeight {
  std::vector<float> w;  // [N, K] original values
  RefQuant q;            // rows = N
  Tensor w_nk;           // [N, K] e4m3fn row-major
  int64_t n = 0, k = 0;
  TensorView weight() const { return w_nk.t(); }  // [K, N], column-major, as vLLM passes it
};
inline RefWeight make_weight(int64_t n, int64_t k, bool per_channel, uint32_t seed, float stddev = 0.05f) {
  RefWeight r;
  r.n = n;
  r.k = k;
  r.w = values(randn({n, k}, DType::kFloat32, seed, stddev));
  // Spread the channel magnitudes so that per-channel scales matter.
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) r.w[size_t(i * k + j)] *= 0.5f + float(i % 5) * 0.25f;
  r.q = per_channel ? ref_quant_per_row(r.w, n, k) : ref_quant_dynamic_per_tensor(r.w, n, k);
  r.w_nk = fp8_tensor(r.q);
  return r;
}
// weight_scale as [1], [N, 1] or [N].
inline Tensor weight_scale_tensor(const RefWeight& r, bool one_d = false) {
  Tensor t = scale_tensor(r.q);
  if (r.q.scales.size() > 1 && one_d) return t.view({r.n});
  return t;
}

// ---- reference GEMM and comparisons --------------------------------------------------------
// ref[m, n] = sum_k a(m, k) * b(n, k) + bias[n], in double.
template <class A, class B>
std::vector<double> ref_matmul(int64_t M, int64_t N, int64_t K, A a, B b, const std::vector<double>& bias) {
  std::vector<double> out(size_t(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += a(m, k) * b(n, k);
      out[size_t(m * N + n)] = s + (bias.empty() ? 0.0 : bias[size_t(n)]);
    }
  return out;
}

inline double gemm_tolerance(DType out_dtype) {
  switch (out_dtype) {
    case DType::kBFloat16: return 4e-3;
    case DType::kFloat16: return 1e-3;
    default: return 1e-5;  // fp32 on the CPU
  }
}

inline double rel_error(const TensorView& out, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = get(out, int64_t(i)) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

// Section 7 for a scaled GEMM against the reference from dequantized operands: norm-relative
// error within the out dtype's tolerance, every element finite and within 2^-7 |ref| + 1e-2 rms(ref).
inline void expect_gemm_close(const TensorView& out, const std::vector<double>& ref, DType out_dtype,
                              double tolerance = 0) {
  ASSERT_TRUE(out.is_contiguous()) << out.describe();
  ASSERT_EQ(size_t(out.numel()), ref.size());
  double ss = 0;
  for (double r : ref) ss += r * r;
  const double rms = std::sqrt(ss / std::max<size_t>(ref.size(), 1));
  for (size_t i = 0; i < ref.size(); ++i) {
    const double o = get(out, int64_t(i));
    ASSERT_TRUE(std::isfinite(o)) << "element " << i << " is " << o;
    ASSERT_LE(std::fabs(o - ref[i]), std::ldexp(std::fabs(ref[i]), -7) + 1e-2 * rms)
        << "first bad element " << i << ": got " << o << ", reference " << ref[i];
  }
  EXPECT_LE(rel_error(out, ref), tolerance > 0 ? tolerance : gemm_tolerance(out_dtype));
}

// EXPECT_THROW plus the kind and a message substring (the argument's name).
#define EXPECT_W8A8_ERROR(stmt, kind_, substring)                                               \
  do {                                                                                          \
    bool thrown_ = false;                                                                       \
    try {                                                                                       \
      stmt;                                                                                     \
    } catch (const ::w8a8::Error& e_) {                                                         \
      thrown_ = true;                                                                           \
      EXPECT_EQ(int(e_.kind()), int(kind_)) << e_.what();                                       \
      EXPECT_NE(std::string(e_.what()).find(substring), std::string::npos)                      \
          << "message \"" << e_.what() << "\" lacks \"" << substring << "\"";                   \
    }                                                                                           \
    EXPECT_TRUE(thrown_) << #stmt " did not throw";                                             \
  } while (0)

}  // namespace op_test
