// vLLM's FP8 weight utilities (w8a8_utils.py), spec section 5, on CPU and CUDA tensors. The element-wise
// work is weight_ops.h's, shared by the CPU loop here and the CUDA kernel, so both devices give the same
// bits; the few scale values a decision needs (requantize_with_max_scale) are read on the host.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "common/elements.h"
#include "w8a8/error.h"
#include "w8a8/formats.h"
#include "w8a8/quant.h"
#include "w8a8/weights.h"
#include "weights/weight_ops.h"

namespace w8a8 {

using weights::ElementOp;
using weights::Geometry;
using weights::Operands;

namespace {

// The tensor's device, if this build can run there.
Device check_device(const TensorView& t, const char* name) {
#ifndef W8A8_WITH_CUDA
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, t.device().is_cpu(), name,
                  ": expected a CPU tensor: the CUDA backend is not built (configure with -DW8A8_CUDA=ON), got ",
                  t.describe());
#endif
  return t.device();
}

void check_data(const TensorView& t, const char* name) {
  W8A8_CHECK(t.data() != nullptr || t.numel() == 0, name, ": expected a tensor with data, got a null pointer (",
             t.describe(), ")");
}

bool is_float_scale_dtype(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16; }

// A new tensor of t's shape and device with t's layout, as torch.empty_like keeps it: the dimensions in
// t's memory order (by decreasing stride), densely packed. A dense t (contiguous, or the transposed
// [K, N] view of a weight) gets exactly its strides.
Tensor empty_like_layout(const TensorView& t, DType dtype) {
  const int rank = t.dim();
  int order[Dims::kMaxRank];  // order[j]: the logical dimension stored j-th (outermost first)
  for (int d = 0; d < rank; ++d) order[d] = d;
  std::stable_sort(order, order + rank, [&](int x, int y) {
    // Size-1 dimensions carry no layout; keep them where they are relative to each other.
    const int64_t sx = t.size(x) == 1 ? 0 : t.stride(x), sy = t.size(y) == 1 ? 0 : t.stride(y);
    return sx > sy;
  });
  Dims stored;
  for (int j = 0; j < rank; ++j) stored.push_back(t.size(order[j]));
  Tensor out = Tensor::empty(stored, dtype, t.device());
  // Transpose the stored dimensions back into logical order.
  int at[Dims::kMaxRank];  // at[j]: the logical dimension now at position j
  for (int j = 0; j < rank; ++j) at[j] = order[j];
  for (int d = 0; d < rank; ++d) {
    int j = d;
    while (at[j] != d) ++j;
    if (j != d) {
      out = out.transpose(d, j);
      std::swap(at[d], at[j]);
    }
  }
  return out;
}

// The geometry of out = f(in, scale): in has out's shape; scale (may be null) broadcasts to it, its
// dimensions aligned with out's last ones (torch's rule; validated by the caller).
Geometry make_geometry(const TensorView& out, const TensorView& in, const TensorView* scale) {
  const int rank = out.dim();
  int64_t sizes[Dims::kMaxRank], st[3][Dims::kMaxRank];
  for (int d = 0; d < rank; ++d) {
    sizes[d] = out.size(d);
    st[Geometry::kOut][d] = out.stride(d);
    st[Geometry::kIn][d] = in.stride(d);
    st[Geometry::kScale][d] = 0;
    if (scale != nullptr) {
      const int sd = d - (rank - scale->dim());
      if (sd >= 0 && scale->size(sd) != 1) st[Geometry::kScale][d] = scale->stride(sd);
    }
  }
  // Walk the output in memory order: dimensions by decreasing output stride.
  int order[Dims::kMaxRank];
  for (int d = 0; d < rank; ++d) order[d] = d;
  std::stable_sort(order, order + rank,
                   [&](int x, int y) { return st[Geometry::kOut][x] > st[Geometry::kOut][y]; });
  Geometry g;
  g.numel = out.numel();
  for (int j = 0; j < rank; ++j) {
    const int d = order[j];
    if (sizes[d] == 1) continue;  // no extent: no stride matters
    if (g.rank > 0) {
      // Merge into the previous (outer) dimension when every operand steps through both as one.
      const int p = g.rank - 1;
      bool mergeable = true;
      for (int k = 0; k < 3; ++k) mergeable = mergeable && g.strides[k][p] == st[k][d] * sizes[d];
      if (mergeable) {
        g.sizes[p] *= sizes[d];
        for (int k = 0; k < 3; ++k) g.strides[k][p] = st[k][d];
        continue;
      }
    }
    g.sizes[g.rank] = sizes[d];
    for (int k = 0; k < 3; ++k) g.strides[k][g.rank] = st[k][d];
    ++g.rank;
  }
  return g;
}

void run(ElementOp op, const Geometry& g, const Operands& o, Device device, Stream stream) {
#ifdef W8A8_WITH_CUDA
  if (device.is_cuda()) return weights::cuda::elementwise(op, g, o, stream);
#else
  (void)stream;
  (void)device;
#endif
  if (g.numel == 0) return;
  if (g.rank <= 1) {
    const int64_t so = g.rank ? g.strides[Geometry::kOut][0] : 0, si = g.rank ? g.strides[Geometry::kIn][0] : 0,
                  ss = g.rank ? g.strides[Geometry::kScale][0] : 0;
    for (int64_t i = 0; i < g.numel; ++i) weights::apply_element(op, o, i * so, i * si, i * ss);
    return;
  }
  // An odometer over the geometry's dimensions (no divisions per element).
  int64_t index[Dims::kMaxRank] = {};
  int64_t off[3] = {0, 0, 0};
  for (int64_t i = 0; i < g.numel; ++i) {
    weights::apply_element(op, o, off[0], off[1], off[2]);
    for (int d = g.rank - 1; d >= 0; --d) {
      for (int k = 0; k < 3; ++k) off[k] += g.strides[k][d];
      if (++index[d] < g.sizes[d]) break;
      for (int k = 0; k < 3; ++k) off[k] -= g.strides[k][d] * g.sizes[d];
      index[d] = 0;
    }
  }
}

// out = op(in) element-wise into a new tensor of in's shape, layout and device.
Tensor map_elements(ElementOp op, const TensorView& in, DType out_dtype, Operands o, const TensorView* scale,
                    Stream stream) {
  Tensor out = empty_like_layout(in, out_dtype);
  o.out = out.data();
  o.out_dtype = out_dtype;
  o.in = in.data();
  o.in_dtype = in.dtype();
  run(op, make_geometry(out, in, scale), o, in.device(), stream);
  return out;
}

void check_non_negative_strides(const TensorView& t, const char* name) {
  for (int d = 0; d < t.dim(); ++d)
    W8A8_CHECK(t.stride(d) >= 0 || t.size(d) <= 1, name, ": expected non-negative strides, got ", t.describe());
}

// A scale that normalize_e4m3fn_to_e4m3fnuz doubles.
void check_scale(const TensorView& s, const char* name) {
  W8A8_CHECK_TYPE(is_float_scale_dtype(s.dtype()), name, ": expected float32, float16 or bfloat16, got ",
                  s.describe());
  check_device(s, name);
  check_data(s, name);
  check_non_negative_strides(s, name);
}

// s * 2 in s's dtype, same shape and layout (torch: `scale * 2.0`).
Tensor doubled(const TensorView& s, Stream stream) {
  return map_elements(ElementOp::kDouble, s, s.dtype(), Operands{}, nullptr, stream);
}

// A few scale values on the host, as floats in row-major order (a synchronizing copy for device tensors).
std::vector<float> host_floats(const TensorView& t, Stream stream) {
  std::vector<float> values(size_t(t.numel()));
  if (t.numel() == 0) return values;
  // The bytes the view covers, then its elements read from them.
  const int64_t span = int64_t(t.span_bytes() / t.element_size());
  Tensor host = Tensor::empty({span}, t.dtype());
  copy(host, TensorView(t.data(), t.dtype(), {span}, t.device()), stream);
  const TensorView v(host.data(), t.dtype(), t.sizes(), t.strides());
  int64_t index[Dims::kMaxRank] = {};
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t off = 0;
    for (int d = 0; d < t.dim(); ++d) off += index[d] * t.stride(d);
    values[size_t(i)] = load_float(v, off);
    for (int d = t.dim() - 1; d >= 0; --d) {
      if (++index[d] < t.size(d)) break;
      index[d] = 0;
    }
  }
  return values;
}

void check_dequantize_input(const TensorView& tensor) {
  W8A8_CHECK_TYPE(is_fp8(tensor.dtype()) || is_half_or_float(tensor.dtype()),
                  "tensor: expected an FP8, bfloat16, float16 or float32 tensor, got ", tensor.describe());
  check_device(tensor, "tensor");
  check_data(tensor, "tensor");
  check_non_negative_strides(tensor, "tensor");
}

}  // namespace

Tensor per_tensor_dequantize(const TensorView& tensor, const TensorView& inv_scale, Stream stream) {
  check_dequantize_input(tensor);
  W8A8_CHECK_TYPE(is_float_scale_dtype(inv_scale.dtype()), "inv_scale: expected float32, float16 or bfloat16, got ",
                  inv_scale.describe());
  check_data(inv_scale, "inv_scale");
  // torch's devices: the scale on the tensor's device, or a CPU 0-dim tensor (a host scalar).
  const bool host_scalar = inv_scale.device().is_cpu() && inv_scale.dim() == 0;
  W8A8_CHECK_TYPE(inv_scale.device() == tensor.device() || host_scalar, "inv_scale: expected a tensor on ",
                  tensor.device().str(), " like tensor (or a 0-dim CPU tensor), got ", inv_scale.describe());
  // torch's broadcasting, without growing the result: inv_scale's dimensions align with tensor's last
  // ones, each of size 1 or equal (an [N, 1] scale of an [N, K] tensor scales rows).
  bool broadcasts = inv_scale.dim() <= tensor.dim();
  for (int d = 0; broadcasts && d < inv_scale.dim(); ++d) {
    const int64_t have = inv_scale.size(d), want = tensor.size(tensor.dim() - inv_scale.dim() + d);
    broadcasts = have == 1 || have == want;
  }
  W8A8_CHECK(broadcasts, "inv_scale: expected a shape that broadcasts to tensor's ", tensor.sizes().str(),
             " (at most ", tensor.dim(), " dimensions, each 1 or equal to tensor's), got ", inv_scale.describe());
  check_non_negative_strides(inv_scale, "inv_scale");
  // torch's type promotion of fp16_tensor * inv_scale: a 0-dim scale does not take part when the tensor
  // has dimensions (the result is fp16, as with a Python float); otherwise fp16 with fp16 stays fp16,
  // and fp16 with float32 or bfloat16 becomes float32.
  const bool scale_takes_part = inv_scale.dim() > 0 || tensor.dim() == 0;
  const DType out_dtype =
      !scale_takes_part || inv_scale.dtype() == DType::kFloat16 ? DType::kFloat16 : DType::kFloat32;
  Operands o;
  if (host_scalar && !tensor.device().is_cpu()) {
    o.s = load_float(inv_scale, 0);
    return map_elements(ElementOp::kDequantize, tensor, out_dtype, o, nullptr, stream);
  }
  o.scale = inv_scale.data();
  o.scale_dtype = inv_scale.dtype();
  return map_elements(ElementOp::kDequantize, tensor, out_dtype, o, &inv_scale, stream);
}

Tensor per_tensor_dequantize(const TensorView& tensor, float inv_scale, Stream stream) {
  check_dequantize_input(tensor);
  Operands o;
  o.s = inv_scale;
  return map_elements(ElementOp::kDequantize, tensor, DType::kFloat16, o, nullptr, stream);
}

bool all_close_1d(const TensorView& x, Stream stream) {
  W8A8_CHECK(x.dim() == 1, "x: expected a 1-D tensor, got ", x.describe());
  W8A8_CHECK_TYPE(is_float_scale_dtype(x.dtype()) || x.dtype() == DType::kFloat64,
                  "x: expected float32, float64, float16 or bfloat16, got ", x.describe());
  check_device(x, "x");
  check_data(x, "x");
  check_non_negative_strides(x, "x");
  const int64_t n = x.size(0);
  if (n == 0) return true;  // all() of nothing
  // A device vector comes to the host first (it is small: one scale per shard).
  const size_t es = x.element_size();
  Tensor host_copy;
  const char* base = static_cast<const char*>(x.data());
  int64_t stride = x.stride(0);
  if (!x.device().is_cpu()) {
    const int64_t span = int64_t(x.span_bytes() / es);
    host_copy = Tensor::empty({span}, x.dtype());
    copy(host_copy, TensorView(x.data(), x.dtype(), {span}, x.device()), stream);
    base = static_cast<const char*>(host_copy.data());
  }
  const TensorView host(const_cast<char*>(base), x.dtype(), {n}, {stride});
  auto load = [&](int64_t i) -> double {
    if (x.dtype() == DType::kFloat64) {
      double v;
      std::memcpy(&v, base + i * stride * 8, 8);
      return v;
    }
    return load_float(host, i * stride);
  };
  const bool dbl = x.dtype() == DType::kFloat64;
  const double a = load(0);
  for (int64_t i = 0; i < n; ++i) {
    const double b = load(i);
    // torch.allclose(x[0], x[i]): a == b (equal infinities), or both finite and
    // |a - b| <= atol + rtol * |b|; NaN is never close. Arithmetic in the tensor's precision.
    if (a == b) continue;
    if (!std::isfinite(a) || !std::isfinite(b)) return false;
    bool close;
    if (dbl) {
      close = std::fabs(a - b) <= 1e-8 + 1e-5 * std::fabs(b);
    } else {
      const float fa = float(a), fb = float(b);
      close = std::fabs(fa - fb) <= 1e-8f + 1e-5f * std::fabs(fb);
    }
    if (!close) return false;
  }
  return true;
}

namespace {
// The sum of the shard widths, each checked to be >= 0.
int64_t total_width(const std::vector<int64_t>& logical_widths) {
  int64_t total = 0;
  for (size_t i = 0; i < logical_widths.size(); ++i) {
    W8A8_CHECK(logical_widths[i] >= 0, "logical_widths: expected widths >= 0, got ", logical_widths[i], " at index ",
               i);
    total += logical_widths[i];
  }
  return total;
}

// Element idx (row-major) of a tensor of any shape, as a [1] view.
TensorView element_view(const TensorView& t, int64_t idx) {
  int64_t off = 0;
  for (int d = t.dim() - 1; d >= 0; --d) {
    off += (idx % t.size(d)) * t.stride(d);
    idx /= t.size(d);
  }
  return TensorView(static_cast<char*>(t.data()) + off * int64_t(t.element_size()), t.dtype(), {1}, {1},
                    t.device());
}
}  // namespace

Tensor convert_to_channelwise(const TensorView& weight_scale, const std::vector<int64_t>& logical_widths,
                              Stream stream) {
  W8A8_CHECK_TYPE(is_float_scale_dtype(weight_scale.dtype()),
                  "weight_scale: expected float32, float16 or bfloat16, got ", weight_scale.describe());
  const int64_t S = int64_t(logical_widths.size());
  // vLLM indexes weight_scale[idx] for a [S] or [S, 1] tensor: any shape holding S scales, in order.
  W8A8_CHECK(weight_scale.numel() == S, "weight_scale: expected one scale per logical width (", S,
             " elements, e.g. [", S, "] or [", S, ", 1]), got ", weight_scale.describe());
  const Device device = check_device(weight_scale, "weight_scale");
  check_data(weight_scale, "weight_scale");
  check_non_negative_strides(weight_scale, "weight_scale");
  const int64_t total = total_width(logical_widths);
  Tensor out = Tensor::empty({total, 1}, DType::kFloat32, device);
  int64_t start = 0;
  for (int64_t idx = 0; idx < S; ++idx) {
    const int64_t width = logical_widths[size_t(idx)];
    if (width == 0) continue;
    // out[start:end, :] = weight_scale[idx]: the element broadcast over the shard's rows.
    const TensorView rows = out.narrow(0, start, width);
    const TensorView e = element_view(weight_scale, idx);
    const TensorView src(e.data(), e.dtype(), {width, 1}, {0, 0}, device);
    Operands o;
    o.out = rows.data();
    o.in = src.data();
    o.in_dtype = src.dtype();
    run(ElementOp::kToFloat32, make_geometry(rows, src, nullptr), o, device, stream);
    start += width;
  }
  return out;
}

std::pair<Tensor, Tensor> requantize_with_max_scale(const TensorView& weight, const TensorView& weight_scale,
                                                    const std::vector<int64_t>& logical_widths, Stream stream) {
  W8A8_CHECK(weight.dim() == 2, "weight: expected a 2-D [N, K] tensor, got ", weight.describe());
  W8A8_CHECK_TYPE(weight.dtype() == DType::kFloat8E4M3FN || weight.dtype() == DType::kFloat8E4M3FNUZ,
                  "weight: expected float8_e4m3fn (or float8_e4m3fnuz), got ", weight.describe());
  const Device device = check_device(weight, "weight");
  check_data(weight, "weight");
  check_non_negative_strides(weight, "weight");
  W8A8_CHECK_TYPE(is_float_scale_dtype(weight_scale.dtype()),
                  "weight_scale: expected float32, float16 or bfloat16, got ", weight_scale.describe());
  W8A8_CHECK_TYPE(weight_scale.device() == device, "weight_scale: expected a tensor on ", device.str(),
                  " like weight, got ", weight_scale.describe());
  const int64_t S = int64_t(logical_widths.size());
  W8A8_CHECK(S > 0, "logical_widths: expected at least one shard, got none");
  W8A8_CHECK(weight_scale.dim() == 1 && weight_scale.size(0) == S,
             "weight_scale: expected a 1-D tensor of one scale per logical width (", S, "), got ",
             weight_scale.describe());
  check_data(weight_scale, "weight_scale");
  check_non_negative_strides(weight_scale, "weight_scale");
  const int64_t total = total_width(logical_widths);
  W8A8_CHECK(total == weight.size(0), "logical_widths: expected widths summing to weight.size(0) = ", weight.size(0),
             ", got ", total);

  // The S scales on the host: the max and the fused/unfused decision are made there.
  const std::vector<float> scales = host_floats(weight_scale, stream);
  // max_w_scale = weight_scale.max(): NaN propagates, as torch.max does. Its element is copied
  // bit for bit, in weight_scale's dtype.
  int64_t arg_max = 0;
  for (int64_t i = 1; i < S; ++i) {
    if (std::isnan(scales[size_t(arg_max)])) break;
    if (std::isnan(scales[size_t(i)]) || scales[size_t(i)] > scales[size_t(arg_max)]) arg_max = i;
  }
  const float max_scale = scales[size_t(arg_max)];
  Tensor max_out = Tensor::empty({1}, weight_scale.dtype(), device);
  copy(max_out, element_view(weight_scale, arg_max), stream);

  // QKV / MLP fused on disk: only the first of the S scales was loaded; the others keep the
  // initial value (float32 min). Then the weight already has one scale: nothing to requantize.
  const bool unfused_module_in_checkpoint = scales[size_t(S - 1)] > -kE4M3FNMax;  // finfo(e4m3fn).min
  // A new weight in every case, with the input's layout (vLLM rewrites the weight in place); it is
  // bit-identical when nothing is requantized, and never aliases the caller's memory.
  Tensor out = empty_like_layout(weight, weight.dtype());
  if (!unfused_module_in_checkpoint) {
    Operands o;
    o.out = out.data();
    o.in = weight.data();
    run(ElementOp::kCopyBytes, make_geometry(out, weight, nullptr), o, device, stream);
    return {max_out, out};
  }
  // ops.scaled_fp8_quant(weight_dq, max_w_scale): static per-tensor with the fp32 reciprocal of the max
  // (its exact float value whatever the scale dtype; vLLM's CUDA kernel would only take a float32 scale).
  const float inv_max = 1.0f / max_scale;
  int64_t start = 0;
  for (int64_t idx = 0; idx < S; ++idx) {
    const int64_t width = logical_widths[size_t(idx)];
    if (width == 0) continue;  // an empty shard: nothing to requantize
    const TensorView shard = weight.narrow(0, start, width);
    const TensorView shard_out = out.narrow(0, start, width);
    if (device.is_cpu()) {
      // The CPU composes the public pieces, as vLLM does: per_tensor_dequantize(weight[start:end, :],
      // weight_scale[idx]) (a 0-dim scale: an fp16 result), then static quantization with the max.
      float s = scales[size_t(idx)];
      const TensorView s0(&s, DType::kFloat32, Dims{});
      Tensor weight_dq = per_tensor_dequantize(shard, s0);
      if (!weight_dq.is_contiguous()) weight_dq = Tensor::copy_of(weight_dq);  // rows contiguous for the quantizer
      float m = max_scale;
      auto [q, unused_scale] = scaled_fp8_quant(weight_dq, TensorView(&m, DType::kFloat32, {1}), std::nullopt,
                                                std::nullopt, false, std::nullopt, weight.dtype());
      (void)unused_scale;
      copy_cpu(shard_out, q);
    } else {
      // The device fuses both steps per element (weight_ops.h), with the same roundings.
      Operands o;
      o.out = shard_out.data();
      o.out_dtype = weight.dtype();
      o.in = shard.data();
      o.in_dtype = weight.dtype();
      o.s = scales[size_t(idx)];
      o.inv = inv_max;
      run(ElementOp::kRequantize, make_geometry(shard_out, shard, nullptr), o, device, stream);
    }
    start += width;
  }
  return {max_out, out};
}

std::tuple<Tensor, Tensor, std::optional<Tensor>> normalize_e4m3fn_to_e4m3fnuz(
    const TensorView& weight, const TensorView& weight_scale, const std::optional<TensorView>& input_scale,
    Stream stream) {
  W8A8_CHECK_TYPE(weight.dtype() == DType::kFloat8E4M3FN, "weight: expected float8_e4m3fn, got ",
                  weight.describe());
  check_device(weight, "weight");
  check_data(weight, "weight");
  check_non_negative_strides(weight, "weight");
  check_scale(weight_scale, "weight_scale");
  if (input_scale.has_value()) check_scale(*input_scale, "input_scale");
  // The same bits mean half the value in e4m3fnuz: double the scales.
  Tensor ws = doubled(weight_scale, stream);
  std::optional<Tensor> in;
  if (input_scale.has_value()) in = doubled(*input_scale, stream);
  // 0x80 is -0 in e4m3fn but NaN in e4m3fnuz: make it 0. The result keeps weight's layout (vLLM
  // rewrites the weight in place and views it as e4m3fnuz), so a transposed [K, N] weight stays
  // column-major, as cutlass_scaled_mm wants its b.
  Tensor w = map_elements(ElementOp::kFnToFnuz, weight, DType::kFloat8E4M3FNUZ, Operands{}, nullptr, stream);
  return {std::move(w), std::move(ws), std::move(in)};
}

}  // namespace w8a8
