// vLLM's QuantFP8 custom op (spec section 2): static per-tensor, dynamic per-tensor / per-token
// through scaled_fp8_quant, dynamic (1, G) groups through per_token_group_quant_fp8.
#include "quant/quant_common.h"
#include "w8a8/quant.h"

namespace w8a8 {

QuantFP8::QuantFP8(bool is_static, GroupShape group_shape, std::optional<int64_t> num_token_padding,
                   bool column_major_scales, bool use_ue8m0, DType fp8_dtype)
    : static_(is_static),
      group_shape_(group_shape),
      num_token_padding_(num_token_padding),
      column_major_scales_(column_major_scales),
      use_ue8m0_(use_ue8m0),
      fp8_dtype_(fp8_dtype) {
  quant::check_fp8_dtype(fp8_dtype, "fp8_dtype");
  const bool group = group_shape.is_per_group();
  W8A8_CHECK(group || group_shape.is_per_tensor() || group_shape.is_per_token(),
             "group_shape: expected PER_TENSOR, PER_TOKEN or (1, G) with G > 1, got ", group_shape.str());
  W8A8_CHECK(!is_static || group_shape.is_per_tensor(),
             "group_shape: static quantization supports only PER_TENSOR, got ", group_shape.str());
  if (num_token_padding) {
    W8A8_CHECK(*num_token_padding >= 0, "num_token_padding: expected a non-negative row count, got ",
               *num_token_padding);
    // vLLM ignores the padding for groups; w8a8 says so instead.
    W8A8_CHECK(!group, "num_token_padding: not supported with per-token-group quantization (group_shape ",
               group_shape.str(), "), got ", *num_token_padding);
  }
  W8A8_CHECK(group || !column_major_scales, "column_major_scales: only valid with a (1, G) group shape, got ",
             group_shape.str());
  W8A8_CHECK(group || !use_ue8m0, "use_ue8m0: only valid with a (1, G) group shape, got ", group_shape.str());
}

std::pair<Tensor, Tensor> QuantFP8::operator()(const TensorView& x, const std::optional<TensorView>& scale,
                                               const std::optional<TensorView>& scale_ub, Stream stream) const {
  if (group_shape_.is_per_group()) {
    W8A8_CHECK(!scale, "scale: per-token-group quantization is always dynamic: expected no scale, got ",
               scale->describe());
    W8A8_CHECK(!scale_ub, "scale_ub: only valid for dynamic PER_TOKEN quantization, got ", scale_ub->describe(),
               " with group_shape ", group_shape_.str());
    return per_token_group_quant_fp8(x, group_shape_.col, column_major_scales_, use_ue8m0_, 1e-10, fp8_dtype_,
                                     stream);
  }
  if (static_) {
    W8A8_CHECK(scale.has_value(), "scale: static quantization requires a scale (one float32 element), got none");
  } else {
    W8A8_CHECK(!scale, "scale: dynamic quantization takes no scale, got ", scale->describe());
  }
  W8A8_CHECK(!scale_ub || (!static_ && group_shape_.is_per_token()),
             "scale_ub: only valid for dynamic PER_TOKEN quantization, got ", scale_ub->describe(), " with ",
             static_ ? "static " : "dynamic ", group_shape_.str());
  return scaled_fp8_quant(x, scale, num_token_padding_, scale_ub, group_shape_.is_per_token(), std::nullopt,
                          fp8_dtype_, stream);
}

}  // namespace w8a8
