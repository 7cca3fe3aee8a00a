// vLLM's Fp8LinearOp: quantize the activation if needed, dispatch the scaled GEMM, undo padding.
#pragma once

#include <optional>
#include <string>

#include "w8a8/group_shape.h"
#include "w8a8/quant.h"
#include "w8a8/scaled_mm.h"
#include "w8a8/tensor.h"

namespace w8a8 {

// Fp8LinearOp's fused decode path (bf16 / fp16 input on a GPU with w8a8's sm_90a kernels): the activation quantized
// inside the GEMM kernel, one launch, the same codes and scales as the unfused path. kAuto takes it where it was
// measured faster (no measurement yet: never), kOn wherever a fused kernel can run the call, kOff never.
// Process-wide; read per call.
enum class FusedActivationQuant : uint8_t { kAuto, kOn, kOff };
void set_fused_activation_quant(FusedActivationQuant policy);
FusedActivationQuant fused_activation_quant();

class Fp8LinearOp {
 public:
  // preferred_backend is chosen here from the platform: "cutlass" where a fused FP8 GEMM runs on the device
  // (cutlass_fp8_supported(); and not force_fp8_e4m3fnuz), "torch" on other CUDA devices, "cpu" without one.
  // Whatever the name, the GEMM is scaled_mm's one decision for the problem (the strategies map onto it).
  // pad_output nullopt: pad to 17 rows only for the "torch" backend. accumulation: promoted (the default,
  // torch's accuracy) or fast (Hopper FP8 fast accumulation), passed to that decision.
  explicit Fp8LinearOp(bool act_quant_static, GroupShape act_quant_group_shape = PER_TENSOR,
                       std::optional<bool> pad_output = std::nullopt, bool force_fp8_e4m3fnuz = false,
                       Accumulation accumulation = Accumulation::kDefault);

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
  Accumulation accumulation() const { return accumulation_; }  // promoted or fast

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
  Accumulation accumulation_;
};

// vLLM's W8A8BlockFp8LinearOp (fp8_utils.py): activations quantized dynamically in 1 x 128 groups along K, the
// weight in 128 x 128 blocks (DeepSeek-V3 / Qwen3 FP8 checkpoints, the HF `fp8` format, w8a8's fp8-block scheme).
// The activation's FP8 copy and scales are written in the layout the device's blockwise GEMM reads as it is
// (blockwise_layout()), so no call repacks them.
class W8A8BlockFp8LinearOp {
 public:
  // w8a8 runs 128 x 128 weight blocks and (1, 128) activation groups only. cutlass_block_fp8_supported and
  // use_aiter_and_is_supported are vLLM's arguments: the GEMM is scaled_mm's one decision whatever they say.
  explicit W8A8BlockFp8LinearOp(GroupShape weight_group_shape = GroupShape{128, 128},
                                GroupShape act_quant_group_shape = GroupShape{1, 128},
                                bool cutlass_block_fp8_supported = true, bool use_aiter_and_is_supported = false);

  // input [..., K] bf16/fp16/fp32 (K % 128 == 0); weight [N, K] FP8 row-major, as the checkpoint stores it;
  // weight_scale [ceil(N/128), K/128] fp32 (the checkpoint's weight_scale / weight_scale_inv), row-major;
  // input_scale must be absent (dynamic activations only); bias [N] of the input's dtype, added after the GEMM as
  // vLLM adds it. Returns [..., N] in the input's dtype.
  Tensor apply(const TensorView& input, const TensorView& weight, const TensorView& weight_scale,
               const std::optional<TensorView>& input_scale = std::nullopt,
               const std::optional<TensorView>& bias = std::nullopt, Stream stream = nullptr) const;

  // Allocation-free variant: writes out ([..., N] of the input's dtype); on the GPU the FP8 activation, its scales
  // (and, for M not a multiple of the layout's rows, the padded product) live in per-stream scratch. (Named apart
  // from apply: a tensor in apply's fourth place is vLLM's input_scale.)
  void apply_into(const TensorView& out, const TensorView& input, const TensorView& weight, const TensorView& weight_scale,
             const std::optional<TensorView>& bias = std::nullopt, Stream stream = nullptr) const;

  GroupShape weight_group_shape() const { return weight_group_shape_; }
  GroupShape act_quant_group_shape() const { return act_quant_group_shape_; }

 private:
  Tensor run(const std::optional<TensorView>& out, const TensorView& input, const TensorView& weight,
             const TensorView& weight_scale, const std::optional<TensorView>& bias, Stream stream) const;

  GroupShape weight_group_shape_;
  GroupShape act_quant_group_shape_;
};

}  // namespace w8a8
