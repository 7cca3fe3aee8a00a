// Per-tensor quantization: static (a given scale) and dynamic (scale from the tensor's amax).
#include "quant/quant_common.h"
#include "quant/quant_cuda_dispatch.h"
#include "w8a8/quant.h"

namespace w8a8 {
namespace quant {

void cpu_static_quant(const TensorView& out, const TensorView& input, const float* scale, int64_t scale_row_stride) {
  const int64_t M = input.size(0), K = input.size(1), out_ld = out.stride(0);
  const auto quant = row_kernels().quant[in_kind(input.dtype())][out_kind(out.dtype())];
  uint8_t* q = out.data_as<uint8_t>();
  // The reciprocal is computed once, in fp32 (once per row for per-row scales).
  const float inv_all = M > 0 ? 1.0f / scale[0] : 0.0f;
#pragma omp parallel for schedule(guided) if (M * K >= kParallelMinElements)
  for (int64_t m = 0; m < M; ++m) {
    const float inv = scale_row_stride == 0 ? inv_all : 1.0f / scale[m * scale_row_stride];
    quant(q + m * out_ld, element_ptr(input, m, 0), K, inv);
  }
  zero_rows(out, M);
}

}  // namespace quant

void static_scaled_fp8_quant(const TensorView& out, const TensorView& input, const TensorView& scale, Stream stream) {
  quant::check_activation(input, "input");
  quant::check_fp8_output(out, "out", input.size(0), input.size(1), /*min_rows_only=*/true);
  quant::check_one_float(scale, "scale");
  const Device device = quant::check_devices({{"input", &input}, {"out", &out}, {"scale", &scale}});
  W8A8_ON_CUDA(device, quant::cuda::static_quant(out, input, scale.data_as<const float>(), 0, stream));
  quant::cpu_static_quant(out, input, scale.data_as<const float>(), 0);
}

void dynamic_scaled_fp8_quant(const TensorView& out, const TensorView& input, const TensorView& scale_out,
                              Stream stream) {
  quant::check_activation(input, "input");
  quant::check_fp8_output(out, "out", input.size(0), input.size(1), /*min_rows_only=*/true);
  quant::check_one_float(scale_out, "scale_out");
  const Device device = quant::check_devices({{"input", &input}, {"out", &out}, {"scale_out", &scale_out}});
  W8A8_ON_CUDA(device, quant::cuda::dynamic_per_tensor_quant(out, input, scale_out.data_as<float>(), stream));

  const int64_t M = input.size(0), K = input.size(1);
  const auto amax_row = quant::row_kernels().amax[quant::in_kind(input.dtype())];
  // Row amaxes combined with a NaN-propagating max (see quant_common.h).
  float amax = 0.0f;
#pragma omp parallel if (M * K >= quant::kParallelMinElements)
  {
    float local = 0.0f;
#pragma omp for schedule(guided) nowait
    for (int64_t m = 0; m < M; ++m) local = quant::nan_max(local, amax_row(quant::element_ptr(input, m, 0), K));
#pragma omp critical(w8a8_quant_amax)
    amax = quant::nan_max(amax, local);
  }
  const float scale = quant::scale_from_amax(amax, fp8_quant_max(out.dtype()), fp8_min_scale(out.dtype()));
  *scale_out.data_as<float>() = scale;
  quant::cpu_static_quant(out, input, &scale, 0);
}

}  // namespace w8a8
