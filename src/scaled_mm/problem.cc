#include "scaled_mm/problem.h"

#include <sstream>

#include "w8a8/error.h"

namespace w8a8::smm {
namespace {

constexpr int64_t kB = ScaledMmProblem::kBlockSize;

bool has_shape(const TensorView& t, int64_t d0, int64_t d1) {
  return t.dim() == 2 && t.size(0) == d0 && t.size(1) == d1;
}
// Column-major 2-D: the transpose is contiguous (size-1 dimensions impose nothing).
bool is_column_major(const TensorView& t) { return t.dim() == 2 && t.transpose(0, 1).is_contiguous(); }

void check_data(const TensorView& t, const char* name) {
  W8A8_CHECK(t.data() != nullptr || t.numel() == 0, name, ": expected a tensor with data, got a null pointer (",
             t.describe(), ")");
}
void check_device(const TensorView& t, const char* name, const TensorView& a) {
  W8A8_CHECK_TYPE(t.device() == a.device(), name, ": expected a tensor on ", a.device().str(), " like a, got ",
                  t.describe());
}
void check_non_negative_strides(const TensorView& t, const char* name) {
  for (int d = 0; d < t.dim(); ++d)
    W8A8_CHECK(t.stride(d) >= 0 || t.size(d) <= 1, name, ": expected non-negative strides, got ", t.describe());
}

// How one scale tensor can be read.
struct ScaleFit {
  bool one = false;          // one element
  bool vector = false;       // [M, 1] for a; [N] / [1, N] / [N, 1] for b; contiguous
  bool block = false;        // blockwise shape, row- or column-major
  bool block_col = false;    // ... and column-major (not row-major)
  bool shape_vector = false;  // right vector shape, whatever the strides
  bool shape_block = false;   // right block shape, whatever the strides
};

ScaleFit fit_scale_a(const TensorView& s, int64_t m, int64_t k) {
  ScaleFit f;
  f.one = s.numel() == 1;
  f.shape_vector = has_shape(s, m, 1);
  f.vector = f.shape_vector && s.is_contiguous();
  if (k % kB == 0) {
    f.shape_block = has_shape(s, m, k / kB);
    const bool row = f.shape_block && s.is_contiguous();
    const bool col = f.shape_block && is_column_major(s);
    f.block = row || col;
    f.block_col = col && !row;
  }
  return f;
}

ScaleFit fit_scale_b(const TensorView& s, int64_t n, int64_t k) {
  ScaleFit f;
  f.one = s.numel() == 1;
  // vLLM's kernels take any scale_b of N elements; [N] is the same N contiguous floats as [N, 1].
  f.shape_vector = has_shape(s, 1, n) || has_shape(s, n, 1) || (s.dim() == 1 && s.size(0) == n);
  f.vector = f.shape_vector && s.is_contiguous();
  if (k % kB == 0) {
    f.shape_block = has_shape(s, k / kB, (n + kB - 1) / kB);
    const bool row = f.shape_block && s.is_contiguous();
    const bool col = f.shape_block && is_column_major(s);
    f.block = row || col;
    f.block_col = col && !row;
  }
  return f;
}

std::string scale_a_forms(int64_t m, int64_t k) {
  std::ostringstream os;
  os << "one element or [M, 1] with M=" << m << " (float32, contiguous), or for blockwise ";
  if (k % kB == 0)
    os << "[M, K/128] = [" << m << ", " << k / kB << "] (float32, row- or column-major)";
  else
    os << "[M, K/128] (needs K % 128 == 0, K=" << k << ")";
  return os.str();
}
std::string scale_b_forms(int64_t n, int64_t k) {
  std::ostringstream os;
  os << "one element, [N], [1, N] or [N, 1] with N=" << n << " (float32, contiguous), or for blockwise ";
  if (k % kB == 0)
    os << "[K/128, ceil(N/128)] = [" << k / kB << ", " << (n + kB - 1) / kB << "] (float32, row- or column-major)";
  else
    os << "[K/128, ceil(N/128)] (needs K % 128 == 0, K=" << k << ")";
  return os.str();
}

}  // namespace

std::string ScaledMmProblem::str() const {
  std::ostringstream os;
  os << "M=" << m << " N=" << n << " K=" << k << " " << dtype_name(a_dtype) << " scales "
     << scale_kind_name(scale_a) << (scale_a_column_major ? "(col-major)" : "") << " x " << scale_kind_name(scale_b)
     << (scale_b_column_major ? "(col-major)" : "") << " -> " << dtype_name(out_dtype) << (has_bias ? " +bias" : "")
     << " on " << device.str();
  if (accumulation != Accumulation::kDefault) os << " accumulation=" << accumulation_name(accumulation);
  return os.str();
}

ScaledMmProblem validate_scaled_mm_inputs(const TensorView& a, const TensorView& b, const TensorView& scale_a,
                                          const TensorView& scale_b, DType out_dtype,
                                          const std::optional<TensorView>& bias, const ScaledMmOptions& options) {
  // ---- a: [M, K] e4m3, row-major
  W8A8_CHECK(a.dim() == 2, "a: expected a 2-D [M, K] tensor, got ", a.describe());
  W8A8_CHECK_TYPE(is_e4m3(a.dtype()), "a: expected float8_e4m3fn or float8_e4m3fnuz, got ", a.describe());
  check_data(a, "a");
  const int64_t m = a.size(0), k = a.size(1);
  W8A8_CHECK(a.stride(1) == 1 || k <= 1, "a: expected a row-major [M, K] tensor (stride(1) == 1), got ",
             a.describe());
  check_non_negative_strides(a, "a");

  // ---- b: [K, N] e4m3 like a, column-major
  W8A8_CHECK(b.dim() == 2, "b: expected a 2-D [K, N] tensor, got ", b.describe());
  W8A8_CHECK_TYPE(b.dtype() == a.dtype(), "b: expected ", dtype_name(a.dtype()), " like a, got ", b.describe());
  check_device(b, "b", a);
  check_data(b, "b");
  W8A8_CHECK(b.size(0) == k, "b: expected [K, N] with K=", k, " (a is [M, K] = ", a.sizes().str(), "), got ",
             b.describe());
  const int64_t n = b.size(1);
  W8A8_CHECK(b.stride(0) == 1 || k <= 1,
             "b: expected a column-major [K, N] tensor (stride(0) == 1: the [N, K] weight transposed), got ",
             b.describe());
  check_non_negative_strides(b, "b");

  // ---- out dtype
  W8A8_CHECK_TYPE(is_half_or_float(out_dtype), "out_dtype: expected bfloat16, float16 or float32, got ",
                  dtype_name(out_dtype));

  // ---- scales: fp32 on a's device, then the shapes decide the kind
  W8A8_CHECK_TYPE(scale_a.dtype() == DType::kFloat32, "scale_a: expected float32, got ", scale_a.describe());
  W8A8_CHECK_TYPE(scale_b.dtype() == DType::kFloat32, "scale_b: expected float32, got ", scale_b.describe());
  check_device(scale_a, "scale_a", a);
  check_device(scale_b, "scale_b", a);
  check_data(scale_a, "scale_a");
  check_data(scale_b, "scale_b");

  const ScaleFit fa = fit_scale_a(scale_a, m, k);
  const ScaleFit fb = fit_scale_b(scale_b, n, k);
  const bool a_plain = fa.one || fa.vector;
  const bool b_plain = fb.one || fb.vector;

  ScaledMmProblem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.a_dtype = a.dtype();
  p.out_dtype = out_dtype;
  p.device = a.device();
  p.accumulation = options.accumulation;
  p.a_row_stride = a.stride(0);
  p.b_col_stride = b.stride(1);
  p.kernel = options.kernel.empty() ? nullptr : options.kernel.c_str();
  p.address_bits = reinterpret_cast<uintptr_t>(a.data()) | reinterpret_cast<uintptr_t>(b.data());

  if (a_plain && b_plain) {
    // Per-tensor / per-token x per-tensor / per-channel. (Where a blockwise reading also fits, e.g.
    // K == 128 with scale_a [M, 1], both readings compute the same product.)
    p.scale_a = fa.one ? ScaleKind::kPerTensor : ScaleKind::kPerToken;
    p.scale_b = fb.one ? ScaleKind::kPerTensor : ScaleKind::kPerChannel;
    if (!fa.one) p.address_bits |= reinterpret_cast<uintptr_t>(scale_a.data());
    if (!fb.one) p.address_bits |= reinterpret_cast<uintptr_t>(scale_b.data());
  } else if (fa.block && fb.block) {
    p.scale_a = p.scale_b = ScaleKind::kBlock;
    p.scale_a_column_major = fa.block_col;
    p.scale_b_column_major = fb.block_col;
  } else if (!a_plain && !fa.block) {
    W8A8_FAIL(ErrorKind::kValue, "scale_a: expected ", scale_a_forms(m, k), ", got ", scale_a.describe());
  } else if (!b_plain && !fb.block) {
    W8A8_FAIL(ErrorKind::kValue, "scale_b: expected ", scale_b_forms(n, k), ", got ", scale_b.describe());
  } else if (fa.block) {
    // scale_a is blockwise only, scale_b is per-tensor / per-channel only.
    W8A8_FAIL(ErrorKind::kValue, "scale_b: expected [K/128, ceil(N/128)] = [", k / kB, ", ", (n + kB - 1) / kB,
              "] (float32, row- or column-major) to match the blockwise scale_a ", scale_a.sizes().str(), ", got ",
              scale_b.describe());
  } else {
    // scale_b is blockwise only, scale_a is per-tensor / per-token only.
    W8A8_FAIL(ErrorKind::kValue, "scale_a: expected [M, K/128] = [", m, ", ", k / kB,
              "] (float32, row- or column-major) to match the blockwise scale_b ", scale_b.sizes().str(), ", got ",
              scale_a.describe());
  }

  // ---- bias: [N] of the output dtype, contiguous
  if (bias) {
    const TensorView& c = *bias;
    W8A8_CHECK(c.dim() == 1 && c.size(0) == n, "bias: expected a 1-D [N] tensor with N=", n, ", got ",
               c.describe());
    W8A8_CHECK_TYPE(c.dtype() == out_dtype, "bias: expected ", dtype_name(out_dtype),
                    " (the output dtype), got ", c.describe());
    check_device(c, "bias", a);
    check_data(c, "bias");
    W8A8_CHECK(c.stride(0) == 1 || n <= 1, "bias: expected a contiguous tensor, got ", c.describe());
    p.has_bias = true;
    p.address_bits |= reinterpret_cast<uintptr_t>(c.data());
  }
  return p;
}

ScaledMmProblem validate_scaled_mm(const TensorView& out, const TensorView& a, const TensorView& b,
                                   const TensorView& scale_a, const TensorView& scale_b,
                                   const std::optional<TensorView>& bias, const ScaledMmOptions& options) {
  W8A8_CHECK_TYPE(is_half_or_float(out.dtype()), "out: expected bfloat16, float16 or float32, got ",
                  out.describe());
  ScaledMmProblem p = validate_scaled_mm_inputs(a, b, scale_a, scale_b, out.dtype(), bias, options);
  W8A8_CHECK(has_shape(out, p.m, p.n), "out: expected [M, N] = [", p.m, ", ", p.n, "], got ", out.describe());
  check_device(out, "out", a);
  check_data(out, "out");
  W8A8_CHECK(out.stride(1) == 1 || p.n <= 1, "out: expected rows with stride(1) == 1, got ", out.describe());
  W8A8_CHECK(out.stride(0) >= p.n || p.m <= 1, "out: expected rows that do not overlap (stride(0) >= N=", p.n,
             "), got ", out.describe());
  p.out_row_stride = out.stride(0);
  p.address_bits |= reinterpret_cast<uintptr_t>(out.data());
  return p;
}

}  // namespace w8a8::smm
