// vLLM's dispatch of the linear layer's scaled GEMM: one function per strategy, the same table.
#pragma once

#include <optional>
#include <string>

#include "w8a8/scaled_mm.h"
#include "w8a8/tensor.h"

namespace w8a8 {

// Signature shared by every strategy (vLLM's (qinput, weight, out_dtype, scale_a, scale_b, bias,
// input_2d, output_shape)): computes the [rows_padded, N] product of qinput and weight, keeps the first
// num_rows rows (input_2d.shape[0]: undoes token padding) and returns them viewed as output_shape.
// qinput [rows_padded, K] FP8, weight [K, N] FP8 column-major.
using W8A8ScaledMmFn = Tensor (*)(const TensorView& qinput, const TensorView& weight, DType out_dtype,
                                  const TensorView& scale_a, const TensorView& scale_b,
                                  const std::optional<TensorView>& bias, int64_t num_rows,
                                  const Dims& output_shape, Stream stream);

Tensor cutlass_w8a8_scaled_mm(const TensorView& qinput, const TensorView& weight, DType out_dtype,
                              const TensorView& scale_a, const TensorView& scale_b,
                              const std::optional<TensorView>& bias, int64_t num_rows, const Dims& output_shape,
                              Stream stream);
// FlashInfer and ROCm are recognised names; calling them raises an "unavailable" error.
Tensor flashinfer_w8a8_scaled_mm(const TensorView& qinput, const TensorView& weight, DType out_dtype,
                                 const TensorView& scale_a, const TensorView& scale_b,
                                 const std::optional<TensorView>& bias, int64_t num_rows,
                                 const Dims& output_shape, Stream stream);
Tensor rocm_per_tensor_w8a8_scaled_mm(const TensorView& qinput, const TensorView& weight, DType out_dtype,
                                      const TensorView& scale_a, const TensorView& scale_b,
                                      const std::optional<TensorView>& bias, int64_t num_rows,
                                      const Dims& output_shape, Stream stream);
// vLLM's torch._scaled_mm strategies. Every strategy runs scaled_mm's one decision (the measured fastest fused
// GEMM for the device; the CPU backend on CPU tensors), so they differ in name only.
Tensor torch_per_tensor_w8a8_scaled_mm(const TensorView& qinput, const TensorView& weight, DType out_dtype,
                                       const TensorView& scale_a, const TensorView& scale_b,
                                       const std::optional<TensorView>& bias, int64_t num_rows,
                                       const Dims& output_shape, Stream stream);
Tensor torch_per_token_w8a8_scaled_mm(const TensorView& qinput, const TensorView& weight, DType out_dtype,
                                      const TensorView& scale_a, const TensorView& scale_b,
                                      const std::optional<TensorView>& bias, int64_t num_rows,
                                      const Dims& output_shape, Stream stream);
// vLLM's unfused fallback (fp32 GEMM with unit scales, then x_scale * acc * scale_bᵀ + bias): in w8a8 the same
// decision as the others, which takes the unfused backend only where no fused GEMM can run the problem.
Tensor torch_channelwise_w8a8_scaled_mm(const TensorView& qinput, const TensorView& weight, DType out_dtype,
                                        const TensorView& scale_a, const TensorView& scale_b,
                                        const std::optional<TensorView>& bias, int64_t num_rows,
                                        const Dims& output_shape, Stream stream);
// w8a8's CPU backend for every granularity.
Tensor cpu_w8a8_scaled_mm(const TensorView& qinput, const TensorView& weight, DType out_dtype,
                          const TensorView& scale_a, const TensorView& scale_b,
                          const std::optional<TensorView>& bias, int64_t num_rows, const Dims& output_shape,
                          Stream stream);

// The seed's table. preferred_backend: "rocm", "flashinfer", "cutlass", "torch" or "cpu"; others throw.
W8A8ScaledMmFn dispatch_w8a8_scaled_mm(const std::string& preferred_backend, bool per_tensor_weights,
                                       bool per_tensor_activations);
// The strategy's name ("cutlass_w8a8_scaled_mm", ...), for logs and `w8a8 info`.
const char* scaled_mm_fn_name(W8A8ScaledMmFn fn);

}  // namespace w8a8
