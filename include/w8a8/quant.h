// FP8 quantization with vLLM's names and the semantics of ../shared/spec (section 2).
//
// Two levels:
//  * allocation-free entries that write into caller buffers (what CUDA graphs and the linear op use):
//    static_scaled_fp8_quant, dynamic_scaled_fp8_quant, dynamic_per_token_scaled_fp8_quant,
//    per_token_group_quant_fp8_into, per_block_quant_fp8_into;
//  * allocating conveniences with vLLM's signatures: scaled_fp8_quant, per_token_group_quant_fp8,
//    per_block_quant_fp8, and the QuantFP8 op.
// Inputs are 2-D [M, K] bf16/fp16/fp32 with the last dimension contiguous (any row stride).
// Outputs are e4m3fn (default) or e4m3fnuz. Scales are fp32. Inputs and outputs share one device.
// A NaN input gives the NaN code; a NaN among the elements a dynamic scale reduces makes that scale NaN
// (torch's x.abs().max() semantics), so its whole row / group / block / tensor quantizes to NaN.
#pragma once

#include <optional>
#include <utility>

#include "w8a8/group_shape.h"
#include "w8a8/tensor.h"

namespace w8a8 {

// ---- allocation-free entries -------------------------------------------------------------
// out = fp8(sat(input * (1/scale))); scale has one element. In these three per-row entries out may
// have M_out >= M rows: rows >= M are token padding, zeroed (and given scale 1 where scales are per row).
void static_scaled_fp8_quant(const TensorView& out, const TensorView& input, const TensorView& scale,
                             Stream stream = nullptr);
// Computes scale = max(amax(|input|) / FP8_MAX, MIN_SCALE) into scale_out (one element), then quantizes.
void dynamic_scaled_fp8_quant(const TensorView& out, const TensorView& input, const TensorView& scale_out,
                              Stream stream = nullptr);
// Per row: s_m = max(min(amax_m, scale_ub) / FP8_MAX, MIN_SCALE) into scale_out [M_out, 1];
// out has M_out >= M rows: rows >= M are zeroed and their scales set to 1 (token padding).
void dynamic_per_token_scaled_fp8_quant(const TensorView& out, const TensorView& input, const TensorView& scale_out,
                                        const std::optional<TensorView>& scale_ub = std::nullopt,
                                        Stream stream = nullptr);
// Per row and group of group_size along K: s = max(amax, eps) / FP8_MAX (rounded up to a power of
// two with use_ue8m0). ceil(K/G) groups per row: when G does not divide K the last one is shorter
// (vLLM's native path pads it with zeros, which change no amax). scale_out is [M, ceil(K/G)] fp32,
// row-major or column-major (stride(0) == 1): its strides choose the layout.
void per_token_group_quant_fp8_into(const TensorView& out, const TensorView& scale_out, const TensorView& input,
                                    int64_t group_size, double eps = 1e-10, bool use_ue8m0 = false,
                                    Stream stream = nullptr);
// Weight [N, K] in blocks of block_n x block_k: s = max(amax / FP8_MAX, MIN_SCALE),
// scale_out [ceil(N/block_n), ceil(K/block_k)] fp32 contiguous.
void per_block_quant_fp8_into(const TensorView& out, const TensorView& scale_out, const TensorView& weight,
                              int64_t block_n = 128, int64_t block_k = 128, Stream stream = nullptr);

// ---- vLLM-style allocating entries ---------------------------------------------------------
// vLLM's ops.scaled_fp8_quant. Returns (output, scale).
//  scale given      -> static (one element), or static per-token when its shape is [M, 1];
//  scale absent     -> dynamic per-tensor, or dynamic per-token when use_per_token_if_dynamic;
//  num_token_padding -> output rows max(P, M) (not allowed together with output);
//  scale_ub         -> only with dynamic per-token.
// A given scale is returned as a non-owning Tensor of the caller's view (vLLM returns the same tensor),
// except static per-token with padding, which returns a new [M_out, 1] scale whose padded rows are 1.
std::pair<Tensor, Tensor> scaled_fp8_quant(const TensorView& input,
                                           const std::optional<TensorView>& scale = std::nullopt,
                                           std::optional<int64_t> num_token_padding = std::nullopt,
                                           const std::optional<TensorView>& scale_ub = std::nullopt,
                                           bool use_per_token_if_dynamic = false,
                                           const std::optional<TensorView>& output = std::nullopt,
                                           DType fp8_dtype = DType::kFloat8E4M3FN, Stream stream = nullptr);

// vLLM's per_token_group_quant_fp8. x [..., K] (its rows: x viewed as [-1, K]). Returns (x_q of x's
// shape, x_s [..., ceil(K/G)]); with column_major_scales each [R, ceil(K/G)] matrix of x_s (R = x.size(-2))
// is column-major, as vLLM allocates it for a 2-D x.
std::pair<Tensor, Tensor> per_token_group_quant_fp8(const TensorView& x, int64_t group_size,
                                                    bool column_major_scales = false, bool use_ue8m0 = false,
                                                    double eps = 1e-10, DType fp8_dtype = DType::kFloat8E4M3FN,
                                                    Stream stream = nullptr);

// 128x128 (by default) block quantization of a weight [N, K]. Returns (w_q [N, K], scales).
std::pair<Tensor, Tensor> per_block_quant_fp8(const TensorView& weight, int64_t block_n = 128,
                                              int64_t block_k = 128, DType fp8_dtype = DType::kFloat8E4M3FN,
                                              Stream stream = nullptr);

// vLLM's QuantFP8 custom op.
//  static:  group_shape PER_TENSOR, scale required (one element, or [M, 1] for static per-token);
//  dynamic: PER_TENSOR, PER_TOKEN (with optional scale_ub) or (1, G) groups (no scale allowed).
class QuantFP8 {
 public:
  QuantFP8(bool is_static, GroupShape group_shape, std::optional<int64_t> num_token_padding = std::nullopt,
           bool column_major_scales = false, bool use_ue8m0 = false, DType fp8_dtype = DType::kFloat8E4M3FN);

  std::pair<Tensor, Tensor> operator()(const TensorView& x, const std::optional<TensorView>& scale = std::nullopt,
                                       const std::optional<TensorView>& scale_ub = std::nullopt,
                                       Stream stream = nullptr) const;

  bool is_static() const { return static_; }
  GroupShape group_shape() const { return group_shape_; }
  std::optional<int64_t> num_token_padding() const { return num_token_padding_; }
  DType fp8_dtype() const { return fp8_dtype_; }

 private:
  bool static_;
  GroupShape group_shape_;
  std::optional<int64_t> num_token_padding_;
  bool column_major_scales_;
  bool use_ue8m0_;
  DType fp8_dtype_;
};

}  // namespace w8a8
