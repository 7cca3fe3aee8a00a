// vLLM's FP8 weight utilities (w8a8_utils), for loading checkpoints. CPU tensors.
#pragma once

#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "w8a8/tensor.h"

namespace w8a8 {

// weight [N, K] e4m3fn, weight_scale [S] fp32, logical_widths S widths summing to N.
// Returns (max_scale [1], weight). When the last shard's scale was loaded (weight_scale[-1] >
// finfo(e4m3fn).min: an unfused checkpoint), each non-empty shard is dequantized with its scale
// (to fp16) and requantized with max_scale into a new weight; otherwise the weight is returned as is.
std::pair<Tensor, Tensor> requantize_with_max_scale(const TensorView& weight, const TensorView& weight_scale,
                                                    const std::vector<int64_t>& logical_widths);

// weight_scale [S] -> [sum(logical_widths), 1] fp32, each shard's rows filled with its scale.
Tensor convert_to_channelwise(const TensorView& weight_scale, const std::vector<int64_t>& logical_widths);

// e4m3fn weight -> e4m3fnuz bits (0x80 becomes 0x00), scales doubled. Returns (weight, weight_scale, input_scale).
std::tuple<Tensor, Tensor, std::optional<Tensor>> normalize_e4m3fn_to_e4m3fnuz(
    const TensorView& weight, const TensorView& weight_scale,
    const std::optional<TensorView>& input_scale = std::nullopt);

// vLLM's `tensor.to(torch.float16) * inv_scale`, with torch's type promotion: a tensor of the same
// shape holding float(fp16(tensor)) * inv_scale (the scale unrounded), rounded to
//   float16 when inv_scale is a float, a 0-dim tensor (as weight_scale[idx] in
//           requantize_with_max_scale) or a float16 tensor;
//   float32 when inv_scale is a 1-D or larger one-element float32 / bfloat16 tensor.
// inv_scale: one element, float32 / float16 / bfloat16, at most tensor's rank.
Tensor per_tensor_dequantize(const TensorView& tensor, const TensorView& inv_scale);
Tensor per_tensor_dequantize(const TensorView& tensor, float inv_scale);

// x 1-D: every element allclose to x[0] (rtol 1e-5, atol 1e-8).
bool all_close_1d(const TensorView& x);

}  // namespace w8a8
