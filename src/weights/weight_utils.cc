// vLLM's FP8 weight utilities (w8a8_utils.py), spec section 5. CPU tensors.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "common/elements.h"
#include "w8a8/error.h"
#include "w8a8/formats.h"
#include "w8a8/quant.h"
#include "w8a8/weights.h"

namespace w8a8 {

namespace {

void check_cpu(const TensorView& t, const char* name) {
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, t.device().is_cpu(), name,
                  ": expected a CPU tensor (the weight utilities run on the host), got ", t.describe());
}

// Calls f(i, offset) for every element in row-major order: i its index, offset its element offset
// in the view's memory.
template <class F>
void for_each_element(const TensorView& t, F&& f) {
  const int64_t n = t.numel();
  if (t.is_contiguous()) {
    for (int64_t i = 0; i < n; ++i) f(i, i);
    return;
  }
  const int rank = t.dim();
  int64_t index[Dims::kMaxRank] = {};
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int d = 0; d < rank; ++d) off += index[d] * t.stride(d);
    f(i, off);
    for (int d = rank - 1; d >= 0; --d) {
      if (++index[d] < t.size(d)) break;
      index[d] = 0;
    }
  }
}

bool is_float_scale_dtype(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16; }

// x * 2 in x's dtype, same shape, contiguous (torch: `scale * 2.0`).
Tensor doubled(const TensorView& s, const char* name) {
  check_cpu(s, name);
  W8A8_CHECK_TYPE(is_float_scale_dtype(s.dtype()), name, ": expected float32, float16 or bfloat16, got ",
                  dtype_name(s.dtype()));
  Tensor out = Tensor::empty(s.sizes(), s.dtype());
  for_each_element(s, [&](int64_t i, int64_t off) { store_float(out, i, load_float(s, off) * 2.0f); });
  return out;
}

// The shared work of both per_tensor_dequantize overloads: fp16(x) * s, the product rounded to
// out_dtype (fp16 or fp32).
Tensor dequantize(const TensorView& tensor, float s, DType out_dtype) {
  check_cpu(tensor, "tensor");
  W8A8_CHECK_TYPE(is_fp8(tensor.dtype()) || is_half_or_float(tensor.dtype()),
                  "tensor: expected an FP8, bfloat16, float16 or float32 tensor, got ", dtype_name(tensor.dtype()));
  Tensor out = Tensor::empty(tensor.sizes(), out_dtype);
  for_each_element(tensor, [&](int64_t i, int64_t off) {
    const float h = fp16_to_float(float_to_fp16(load_float(tensor, off)));  // tensor.to(torch.float16)
    store_float(out, i, h * s);
  });
  return out;
}

}  // namespace

Tensor per_tensor_dequantize(const TensorView& tensor, const TensorView& inv_scale) {
  check_cpu(inv_scale, "inv_scale");
  W8A8_CHECK_TYPE(is_float_scale_dtype(inv_scale.dtype()), "inv_scale: expected float32, float16 or bfloat16, got ",
                  dtype_name(inv_scale.dtype()));
  W8A8_CHECK(inv_scale.numel() == 1, "inv_scale: expected one element, got ", inv_scale.describe());
  W8A8_CHECK(inv_scale.dim() <= tensor.dim(), "inv_scale: expected at most ", tensor.dim(),
             " dimensions (tensor's rank; more would broadcast the result to a larger shape), got ",
             inv_scale.describe());
  // torch's promotion of fp16_tensor * inv_scale: a 0-dim tensor does not take part (the result is
  // fp16, like a Python float); a 1-D or larger one does: fp16 with fp16, float32 with float32 or
  // bfloat16. The scale is applied unrounded (torch's CPU kernel multiplies by the scalar's
  // original value in float).
  const DType out_dtype =
      inv_scale.dim() == 0 || inv_scale.dtype() == DType::kFloat16 ? DType::kFloat16 : DType::kFloat32;
  return dequantize(tensor, load_float(inv_scale, 0), out_dtype);
}

Tensor per_tensor_dequantize(const TensorView& tensor, float inv_scale) {
  return dequantize(tensor, inv_scale, DType::kFloat16);
}

bool all_close_1d(const TensorView& x) {
  check_cpu(x, "x");
  W8A8_CHECK(x.dim() == 1, "x: expected a 1-D tensor, got ", x.describe());
  W8A8_CHECK_TYPE(is_float_scale_dtype(x.dtype()) || x.dtype() == DType::kFloat64,
                  "x: expected float32, float64, float16 or bfloat16, got ", dtype_name(x.dtype()));
  const int64_t n = x.size(0);
  if (n == 0) return true;  // all() of nothing
  const char* base = static_cast<const char*>(x.data());
  auto load = [&](int64_t i) -> double {
    if (x.dtype() == DType::kFloat64) {
      double v;
      std::memcpy(&v, base + i * x.stride(0) * 8, 8);
      return v;
    }
    return load_float(x, i * x.stride(0));
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
}  // namespace

Tensor convert_to_channelwise(const TensorView& weight_scale, const std::vector<int64_t>& logical_widths) {
  check_cpu(weight_scale, "weight_scale");
  W8A8_CHECK_TYPE(is_float_scale_dtype(weight_scale.dtype()),
                  "weight_scale: expected float32, float16 or bfloat16, got ", dtype_name(weight_scale.dtype()));
  const int64_t S = int64_t(logical_widths.size());
  W8A8_CHECK(weight_scale.dim() == 1 && weight_scale.size(0) == S,
             "weight_scale: expected a 1-D tensor of one scale per logical width (", S, "), got ",
             weight_scale.describe());
  const int64_t total = total_width(logical_widths);
  Tensor out = Tensor::empty({total, 1}, DType::kFloat32);
  float* o = out.data_as<float>();
  int64_t start = 0;
  for (int64_t idx = 0; idx < S; ++idx) {
    const float s = load_float(weight_scale, idx * weight_scale.stride(0));
    for (int64_t r = 0; r < logical_widths[size_t(idx)]; ++r) o[start + r] = s;
    start += logical_widths[size_t(idx)];
  }
  return out;
}

std::pair<Tensor, Tensor> requantize_with_max_scale(const TensorView& weight, const TensorView& weight_scale,
                                                    const std::vector<int64_t>& logical_widths) {
  check_cpu(weight, "weight");
  check_cpu(weight_scale, "weight_scale");
  W8A8_CHECK(weight.dim() == 2, "weight: expected a 2-D [N, K] tensor, got ", weight.describe());
  W8A8_CHECK_TYPE(weight.dtype() == DType::kFloat8E4M3FN || weight.dtype() == DType::kFloat8E4M3FNUZ,
                  "weight: expected float8_e4m3fn (or float8_e4m3fnuz), got ", dtype_name(weight.dtype()));
  W8A8_CHECK_TYPE(weight_scale.dtype() == DType::kFloat32, "weight_scale: expected float32, got ",
                  dtype_name(weight_scale.dtype()));
  const int64_t S = int64_t(logical_widths.size());
  W8A8_CHECK(S > 0, "logical_widths: expected at least one shard, got none");
  W8A8_CHECK(weight_scale.dim() == 1 && weight_scale.size(0) == S,
             "weight_scale: expected a 1-D tensor of one scale per logical width (", S, "), got ",
             weight_scale.describe());
  const int64_t total = total_width(logical_widths);
  W8A8_CHECK(total == weight.size(0), "logical_widths: expected widths summing to weight.size(0) = ", weight.size(0),
             ", got ", total);

  auto scale_at = [&](int64_t idx) { return load_float(weight_scale, idx * weight_scale.stride(0)); };
  // max_w_scale = weight_scale.max() (NaN propagates, as torch.max does).
  float max_scale = scale_at(0);
  for (int64_t i = 1; i < S; ++i) {
    const float s = scale_at(i);
    if (std::isnan(s) || s > max_scale) max_scale = s;
    if (std::isnan(max_scale)) break;
  }
  Tensor max_out = Tensor::empty({1}, DType::kFloat32);
  max_out.data_as<float>()[0] = max_scale;

  // A new contiguous weight in every case (bit-identical when nothing is requantized), so the
  // result never aliases the caller's memory.
  Tensor out = Tensor::copy_of(weight);

  // QKV / MLP fused on disk: only the first of the S scales was loaded; the others keep the
  // initial value (float32 min). Then the weight already has one scale: nothing to do.
  const bool unfused_module_in_checkpoint = scale_at(S - 1) > -kE4M3FNMax;  // finfo(e4m3fn).min
  if (unfused_module_in_checkpoint) {
    int64_t start = 0;
    for (int64_t idx = 0; idx < S; ++idx) {
      const int64_t width = logical_widths[size_t(idx)];
      if (width == 0) continue;  // an empty shard: nothing to requantize
      const TensorView shard = weight.narrow(0, start, width);
      // per_tensor_dequantize(weight[start:end, :], weight_scale[idx]): a 0-dim scale -> fp16.
      float s = scale_at(idx);
      const TensorView s0(&s, DType::kFloat32, Dims{});
      const Tensor weight_dq = per_tensor_dequantize(shard, s0);
      // ops.scaled_fp8_quant(weight_dq, max_w_scale): static per-tensor.
      auto [q, unused_scale] = scaled_fp8_quant(weight_dq, TensorView(max_out), std::nullopt, std::nullopt, false,
                                                std::nullopt, weight.dtype());
      (void)unused_scale;
      copy_cpu(out.narrow(0, start, width), q);
      start += width;
    }
  }
  return {max_out, out};
}

std::tuple<Tensor, Tensor, std::optional<Tensor>> normalize_e4m3fn_to_e4m3fnuz(
    const TensorView& weight, const TensorView& weight_scale, const std::optional<TensorView>& input_scale) {
  check_cpu(weight, "weight");
  W8A8_CHECK_TYPE(weight.dtype() == DType::kFloat8E4M3FN, "weight: expected float8_e4m3fn, got ",
                  dtype_name(weight.dtype()));
  // 0x80 is -0 in e4m3fn but NaN in e4m3fnuz: make it 0.
  Tensor bits = Tensor::copy_of(weight.reinterpret(DType::kUInt8));
  uint8_t* b = bits.data_as<uint8_t>();
  for (int64_t i = 0; i < bits.numel(); ++i)
    if (b[i] == 0x80) b[i] = 0x00;
  // The same bits mean half the value in e4m3fnuz: double the scales.
  std::optional<Tensor> in;
  if (input_scale.has_value()) in = doubled(*input_scale, "input_scale");
  return {bits.reinterpret(DType::kFloat8E4M3FNUZ), doubled(weight_scale, "weight_scale"), in};
}

}  // namespace w8a8
