// vLLM's Fp8LinearOp: quantize the activation if needed, dispatch the scaled GEMM, undo padding.
#pragma once

#include <optional>
#include <string>

#include "w8a8/group_shape.h"
#include "w8a8/quant.h"
#include "w8a8/tensor.h"

namespace w8a8 {

class Fp8LinearOp {
 public:
  // preferred_backend is chosen here from the platform: "cutlass" where FP8 CUTLASS is supported
  // (and not force_fp8_e4m3fnuz), "torch" (cuBLASLt + unfused) on other CUDA devices, "cpu" without one.
  // pad_output nullopt: pad to 17 rows only for the "torch" backend.
  explicit Fp8LinearOp(bool act_quant_static, GroupShape act_quant_group_shape = PER_TENSOR,
                       std::optional<bool> pad_output = std::nullopt, bool force_fp8_e4m3fnuz = false);

  // input [..., K] (bf16/fp16/fp32, or FP8 already quantized with input_scale); weight [K, N] FP8
  // column-major; weight_scale one element or [N, 1]; returns [..., N] of out_dtype (default: input's).
  Tensor apply(const TensorView& input, const TensorView& weight, const TensorView& weight_scale,
               std::optional<DType> out_dtype = std::nullopt,
               const std::optional<TensorView>& input_scale = std::nullopt,
               const std::optional<TensorView>& input_scale_ub = std::nullopt,
               const std::optional<TensorView>& bias = std::nullopt, Stream stream = nullptr) const;

  // Allocation-free variant for engines and CUDA graphs: writes out ([..., N], its dtype is the output
  // dtype). On the GPU the activation's FP8 copy and scales live in per-stream scratch, so once a first
  // call has sized it, a call allocates nothing, never synchronizes and can be captured. It skips the
  // 17-row output padding (padding exists to steer torch's cuBLASLt heuristics; the rows kept are
  // computed the same way).
  void apply(const TensorView& out, const TensorView& input, const TensorView& weight,
             const TensorView& weight_scale, const std::optional<TensorView>& input_scale = std::nullopt,
             const std::optional<TensorView>& input_scale_ub = std::nullopt,
             const std::optional<TensorView>& bias = std::nullopt, Stream stream = nullptr) const;

  const std::string& preferred_backend() const { return preferred_backend_; }
  std::optional<int64_t> output_padding() const { return output_padding_; }
  const QuantFP8& quant_fp8() const { return quant_fp8_; }
  bool act_quant_static() const { return act_quant_static_; }
  GroupShape act_quant_group_shape() const { return act_quant_group_shape_; }

 private:
  Tensor run(const std::optional<TensorView>& out, const TensorView& input, const TensorView& weight,
             const TensorView& weight_scale, std::optional<DType> out_dtype, const std::optional<TensorView>& input_scale,
             const std::optional<TensorView>& input_scale_ub, const std::optional<TensorView>& bias,
             Stream stream) const;

  bool act_quant_static_;
  GroupShape act_quant_group_shape_;
  std::string preferred_backend_;
  std::optional<int64_t> output_padding_;
  QuantFP8 quant_fp8_;
};

}  // namespace w8a8
