// vLLM's ops.scaled_fp8_quant: picks static / dynamic per-tensor / dynamic per-token quantization
// from its arguments, allocates the output (with token padding) and the scale.
#include "quant/quant_common.h"
#include "quant/quant_cuda_dispatch.h"
#include "w8a8/quant.h"

namespace w8a8 {

std::pair<Tensor, Tensor> scaled_fp8_quant(const TensorView& input, const std::optional<TensorView>& scale,
                                           std::optional<int64_t> num_token_padding,
                                           const std::optional<TensorView>& scale_ub, bool use_per_token_if_dynamic,
                                           const std::optional<TensorView>& output, DType fp8_dtype, Stream stream) {
  // ---- validate everything before allocating or touching memory ----
  quant::check_activation(input, "input");
  quant::check_fp8_dtype(fp8_dtype, "fp8_dtype");
  const int64_t M = input.size(0), K = input.size(1);
  if (scale_ub) {
    // vLLM ignores scale_ub outside dynamic per-token; w8a8 rejects it (spec section 2).
    W8A8_CHECK(!scale && use_per_token_if_dynamic, "scale_ub: only valid for dynamic per-token quantization ",
               "(no scale and use_per_token_if_dynamic), got ", scale_ub->describe(), " with ",
               scale ? "a static scale" : "dynamic per-tensor quantization");
    quant::check_one_float(*scale_ub, "scale_ub");
  }
  if (num_token_padding) {
    W8A8_CHECK(!output, "output: cannot be combined with num_token_padding (", *num_token_padding,
               "): padding is only supported when scaled_fp8_quant allocates the output, got ", output->describe());
    W8A8_CHECK(*num_token_padding >= 0, "num_token_padding: expected a non-negative row count, got ",
               *num_token_padding);
  }
  const int64_t M_out = num_token_padding ? std::max(*num_token_padding, M) : M;
  if (output) {
    quant::check_fp8_output(*output, "output", M, K);
    W8A8_CHECK_TYPE(output->dtype() == fp8_dtype, "output: expected dtype ", dtype_name(fp8_dtype),
                    " (fp8_dtype), got ", output->describe());
  }
  bool static_per_token = false;
  if (scale) {
    W8A8_CHECK_TYPE(scale->dtype() == DType::kFloat32, "scale: expected one float32 element or float32 [", M,
                    ", 1] (static per-token), got ", scale->describe());
    static_per_token = scale->numel() != 1;
    if (static_per_token) quant::check_float_column(*scale, "scale", M);
    W8A8_CHECK(scale->data() != nullptr, "scale: expected a tensor with data, got a null pointer (",
               scale->describe(), ")");
  }
  quant::check_devices({{"input", &input},
                            {"output", output ? &*output : nullptr},
                            {"scale", scale ? &*scale : nullptr},
                            {"scale_ub", scale_ub ? &*scale_ub : nullptr}});

  // ---- run ----
  Tensor out = output ? Tensor::borrow(*output) : Tensor::empty({M_out, K}, fp8_dtype, input.device());
  if (scale) {
    if (!static_per_token) {
      static_scaled_fp8_quant(out, input, *scale, stream);
      return {std::move(out), Tensor::borrow(*scale)};  // vLLM returns the scale it was given
    }
    quant::static_per_token_scaled_fp8_quant(out, input, *scale, stream);
    if (M_out == M) return {std::move(out), Tensor::borrow(*scale)};
    W8A8_CHECK_KIND(ErrorKind::kUnsupported, input.device().is_cpu(),
                    "num_token_padding: padding a static per-token scale is CPU-only for now, got ", input.describe());
    // Padded rows get scale 1, as in dynamic per-token (spec: token padding).
    Tensor padded = Tensor::empty({M_out, 1}, DType::kFloat32, input.device());
    float* dst = padded.data_as<float>();
    const float* src = scale->data_as<const float>();
    for (int64_t m = 0; m < M_out; ++m) dst[m] = m < M ? src[m * scale->stride(0)] : 1.0f;
    return {std::move(out), std::move(padded)};
  }
  if (use_per_token_if_dynamic) {
    Tensor s = Tensor::empty({M_out, 1}, DType::kFloat32, input.device());
    dynamic_per_token_scaled_fp8_quant(out, input, s, scale_ub, stream);
    return {std::move(out), std::move(s)};
  }
  Tensor s = Tensor::empty({1}, DType::kFloat32, input.device());
  dynamic_scaled_fp8_quant(out, input, s, stream);
  return {std::move(out), std::move(s)};
}

}  // namespace w8a8
