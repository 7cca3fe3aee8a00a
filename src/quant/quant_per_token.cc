// Per-token (per-row) quantization: dynamic with an optional upper bound on the amax, and static
// with a given [M, 1] scale. Output rows beyond the input's are token padding: zero, scale 1.
#include <limits>

#include "quant/quant_common.h"
#include "quant/quant_cuda_dispatch.h"
#include "w8a8/quant.h"

namespace w8a8 {

void dynamic_per_token_scaled_fp8_quant(const TensorView& out, const TensorView& input, const TensorView& scale_out,
                                        const std::optional<TensorView>& scale_ub, Stream stream) {
  quant::check_activation(input, "input");
  quant::check_fp8_output(out, "out", input.size(0), input.size(1), /*min_rows_only=*/true);
  const int64_t M_out = out.size(0);
  quant::check_float_column(scale_out, "scale_out", M_out);
  if (scale_ub) quant::check_one_float(*scale_ub, "scale_ub");
  const Device device = quant::check_devices(
      {{"input", &input}, {"out", &out}, {"scale_out", &scale_out}, {"scale_ub", scale_ub ? &*scale_ub : nullptr}});
  W8A8_ON_CUDA(device, quant::cuda::dynamic_per_token_quant(out, input, scale_out.data_as<float>(), scale_out.stride(0),
                                                            scale_ub ? scale_ub->data_as<const float>() : nullptr,
                                                            stream));

  const int64_t M = input.size(0), K = input.size(1), out_ld = out.stride(0), s_ld = scale_out.stride(0);
  const float qmax = fp8_quant_max(out.dtype()), min_scale = fp8_min_scale(out.dtype());
  const float ub = scale_ub ? *scale_ub->data_as<const float>() : std::numeric_limits<float>::infinity();
  const quant::RowKernels& kernels = quant::row_kernels();
  const auto amax_row = kernels.amax[quant::in_kind(input.dtype())];
  const auto quant_row = kernels.quant[quant::in_kind(input.dtype())][quant::out_kind(out.dtype())];
  float* scales = scale_out.data_as<float>();
  uint8_t* q = out.data_as<uint8_t>();
#pragma omp parallel for schedule(guided) if (M * K >= quant::kParallelMinElements)
  for (int64_t m = 0; m < M; ++m) {
    const char* row = quant::element_ptr(input, m, 0);
    const float s = quant::token_scale(amax_row(row, K), ub, qmax, min_scale);
    scales[m * s_ld] = s;
    quant_row(q + m * out_ld, row, K, 1.0f / s);
  }
  quant::zero_rows(out, M);
  for (int64_t m = M; m < M_out; ++m) scales[m * s_ld] = 1.0f;
}

namespace quant {

void static_per_token_scaled_fp8_quant(const TensorView& out, const TensorView& input, const TensorView& scale,
                                       Stream stream) {
  check_activation(input, "input");
  check_fp8_output(out, "out", input.size(0), input.size(1), /*min_rows_only=*/true);
  check_float_column(scale, "scale", input.size(0));
  const Device device = check_devices({{"input", &input}, {"out", &out}, {"scale", &scale}});
  W8A8_ON_CUDA(device, cuda::static_quant(out, input, scale.data_as<const float>(), scale.stride(0), stream));
  cpu_static_quant(out, input, scale.data_as<const float>(), scale.stride(0));
}

}  // namespace quant
}  // namespace w8a8
