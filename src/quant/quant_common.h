// Shared pieces of the quantization layer: the scale rules of spec section 2, row addressing,
// argument validation and the CPU helpers that several entries use. Internal to w8a8.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "quant/quant_kernels.h"
#include "w8a8/dtype.h"
#include "w8a8/error.h"
#include "w8a8/formats.h"
#include "w8a8/tensor.h"

namespace w8a8::quant {

// ---- scale rules (spec section 2) ---------------------------------------------------------
// NaN handling: an amax that is NaN (a NaN anywhere in the reduced elements: the torch reference's
// x.abs().max() semantics, which w8a8 follows) gives a NaN scale, and the whole row / group / block /
// tensor quantizes to the NaN code. std::max(a, b) and std::min(a, b) return a when a is NaN, so the
// formulas below keep a NaN amax.

// NaN-propagating max of two amaxes (either may be NaN).
inline float nan_max(float a, float b) { return (b > a || b != b) ? b : a; }

// Dynamic per-tensor and blocks: max(amax / FP8_MAX, MIN_SCALE), the division in fp32.
inline float scale_from_amax(float amax, float qmax, float min_scale) {
  return std::max(amax / qmax, min_scale);
}
// Dynamic per-token: max(min(amax, scale_ub) / FP8_MAX, MIN_SCALE); ub = +inf when absent.
inline float token_scale(float amax, float ub, float qmax, float min_scale) {
  return std::max(std::min(amax, ub) / qmax, min_scale);
}
// Per-token-group: max(amax, eps) / FP8_MAX, with UE8M0 rounded up to a power of two exactly:
// 2^ceil(log2 s) through frexp (a float log2 can be off by one just above a power of two).
inline float group_scale(float amax, float eps, float qmax, bool ue8m0) {
  const float s = std::max(amax, eps) / qmax;
  if (!ue8m0 || !(s > 0.0f) || !std::isfinite(s)) return s;
  int e = 0;
  const float m = std::frexp(s, &e);  // s = m * 2^e, m in [0.5, 1)
  return m == 0.5f ? s : std::ldexp(1.0f, e);
}

// Work below this many elements stays on the calling thread (thread start-up would dominate).
constexpr int64_t kParallelMinElements = int64_t(1) << 16;

// Address of element (row, col) of a 2-D view, in bytes.
inline const char* element_ptr(const TensorView& t, int64_t row, int64_t col) {
  if (t.data() == nullptr) return nullptr;  // an empty view (never dereferenced)
  return static_cast<const char*>(t.data()) + (row * t.stride(0) + col) * int64_t(t.element_size());
}

// Token padding: zero rows [from, out.size(0)) of a validated FP8 output.
inline void zero_rows(const TensorView& out, int64_t from) {
  if (out.size(1) == 0) return;  // no bytes (and possibly no memory)
  uint8_t* q = out.data_as<uint8_t>();
  for (int64_t m = from; m < out.size(0); ++m) std::memset(q + m * out.stride(0), 0, size_t(out.size(1)));
}

// ---- validation (quant_validate.cc) ----------------------------------------------------------
// Messages: "<name>: expected <what>, got <tensor description>".

// 2-D bf16/fp16/fp32, last dimension contiguous, with data.
void check_activation(const TensorView& t, const char* name);
// The FP8 dtypes quantization writes (e4m3fn, e4m3fnuz).
void check_fp8_dtype(DType t, const char* name);
// 2-D e4m3fn/e4m3fnuz output of exactly [rows, cols] (min_rows_only: at least rows rows), last
// dimension contiguous, rows not overlapping.
void check_fp8_output(const TensorView& t, const char* name, int64_t rows, int64_t cols, bool min_rows_only = false);
// One float32 element (any shape of numel 1).
void check_one_float(const TensorView& t, const char* name);
// float32 [rows, 1] (a per-row scale), any row stride.
void check_float_column(const TensorView& t, const char* name, int64_t rows);
// Every tensor on the device of the first (entries with a null view, absent optionals, are skipped);
// then the backend for that device: CPU runs here, CUDA reports that this build has no CUDA backend.
struct NamedView {
  const char* name;
  const TensorView* view;
};
// Returns that device. Without the CUDA backend built, CUDA tensors raise kUnsupported.
Device check_devices(std::initializer_list<NamedView> tensors);

// ---- CPU implementations shared between entries (arguments already validated) ------------------
// out[m, :] = fp8(sat(input[m, :] * inv_m)) with inv_m = 1 / scale[m * scale_row_stride] (stride 0:
// one scale for all rows). Rows M <= m < out.size(0) are zeroed (token padding).
void cpu_static_quant(const TensorView& out, const TensorView& input, const float* scale, int64_t scale_row_stride);
// Allocation-free static per-token: scale float32 [M, 1]; validates its arguments.
void static_per_token_scaled_fp8_quant(const TensorView& out, const TensorView& input, const TensorView& scale,
                                       Stream stream);

}  // namespace w8a8::quant
