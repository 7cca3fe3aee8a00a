#include "linear/layer_args.h"

#include "w8a8/error.h"

namespace w8a8::linear_detail {

LayerRows layer_rows(const TensorView& input, int64_t K, int64_t N, const char* k_source, const Device& device) {
  W8A8_CHECK(input.dim() >= 1, "input: expected a tensor of at least 1 dimension [..., K], got ", input.describe());
  W8A8_CHECK(input.size(-1) == K, "input: expected the last dimension to be K = ", k_source, " = ", K, ", got ",
             input.describe());
  W8A8_CHECK_TYPE(input.device() == device, "input: expected a tensor on ", device.str(), " like weight, got ",
                  input.describe());
  LayerRows r;
  try {
    r.input_2d = input.view({-1, K});
  } catch (const Error& e) {
    W8A8_FAIL(ErrorKind::kValue, "input: cannot be viewed as [-1, ", K, "] (", e.what(), ")");
  }
  r.m = r.input_2d.size(0);
  for (int d = 0; d + 1 < input.dim(); ++d) r.output_shape.push_back(input.size(d));
  r.output_shape.push_back(N);
  return r;
}

void check_bias(const std::optional<TensorView>& bias, int64_t N, DType out_dtype, const Device& device) {
  if (!bias) return;
  W8A8_CHECK(bias->dim() == 1 && bias->size(0) == N, "bias: expected a 1-D [N] tensor with N = ", N, ", got ",
             bias->describe());
  W8A8_CHECK_TYPE(bias->dtype() == out_dtype, "bias: expected the output dtype ", dtype_name(out_dtype), ", got ",
                  dtype_name(bias->dtype()));
  W8A8_CHECK_TYPE(bias->device() == device, "bias: expected a tensor on ", device.str(), " like weight, got ",
                  bias->describe());
}

TensorView out_rows(const TensorView& out, const LayerRows& rows, int64_t N, const Device& device) {
  W8A8_CHECK(out.sizes() == rows.output_shape, "out: expected shape ", rows.output_shape.str(),
             " (input.shape[:-1] + [N]), got ", out.describe());
  W8A8_CHECK_TYPE(out.device() == device, "out: expected a tensor on ", device.str(), " like weight, got ",
                  out.describe());
  try {
    return out.view({rows.m, N});
  } catch (const Error& e) {
    W8A8_FAIL(ErrorKind::kValue, "out: cannot be viewed as [", rows.m, ", ", N, "] (", e.what(), ")");
  }
}

}  // namespace w8a8::linear_detail
