// vLLM's FP8 weight utilities (w8a8_utils), for loading checkpoints. CPU and CUDA tensors: each result
// lives on its input's device, and both devices give the same bits. CUDA work is queued on `stream`
// (nullptr: the current stream); where a result depends on scale values (requantize_with_max_scale,
// all_close_1d) those few values are read on the host, which waits for the stream.
#pragma once

#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "w8a8/tensor.h"

namespace w8a8 {

// weight [N, K] e4m3fn (or e4m3fnuz), weight_scale [S] float32 / float16 / bfloat16 on weight's device,
// logical_widths S widths summing to N.
// Returns (max_scale [1], weight). max_scale = weight_scale.max() in weight_scale's dtype (torch's max;
// NaN propagates). When the last shard's scale was loaded (weight_scale[-1] > finfo(e4m3fn).min: an
// unfused checkpoint), each non-empty shard is dequantized with its scale (to fp16, as
// per_tensor_dequantize with a 0-dim scale) and requantized with max_scale (static per-tensor with the
// fp32 reciprocal of its exact value, saturating) into a new weight; otherwise the new weight is a
// bit-identical copy. The new weight has the input's layout (vLLM rewrites the weight in place).
// vLLM's CUDA quantizer accepts only a float32 max_scale; w8a8 also takes fp16 / bf16 scales, whose
// values float32 holds exactly, so the codes are the ones a float32 copy of the scales would give.
std::pair<Tensor, Tensor> requantize_with_max_scale(const TensorView& weight, const TensorView& weight_scale,
                                                    const std::vector<int64_t>& logical_widths,
                                                    Stream stream = nullptr);

// weight_scale: S scales (float32 / float16 / bfloat16) in any shape, e.g. [S] or [S, 1], read in
// row-major order -> [sum(logical_widths), 1] float32 on weight_scale's device, each shard's rows
// filled with its scale.
Tensor convert_to_channelwise(const TensorView& weight_scale, const std::vector<int64_t>& logical_widths,
                              Stream stream = nullptr);

// e4m3fn weight -> e4m3fnuz bits (0x80 becomes 0x00), scales doubled in their dtype. Returns (weight,
// weight_scale, input_scale). Every result keeps its input's shape and layout (vLLM rewrites the
// weight in place): the transposed [K, N] weight view stays column-major.
std::tuple<Tensor, Tensor, std::optional<Tensor>> normalize_e4m3fn_to_e4m3fnuz(
    const TensorView& weight, const TensorView& weight_scale,
    const std::optional<TensorView>& input_scale = std::nullopt, Stream stream = nullptr);

// vLLM's `tensor.to(torch.float16) * inv_scale`, with torch's broadcasting and type promotion: a tensor
// of tensor's shape and layout holding float(fp16(tensor)) * s (s the matching element of inv_scale,
// unrounded: torch multiplies in float), rounded to
//   float16 when inv_scale is a float, a 0-dim tensor (as weight_scale[idx] in
//           requantize_with_max_scale; it takes no part in the promotion unless tensor is 0-dim too)
//           or a float16 tensor;
//   float32 when inv_scale is a float32 / bfloat16 tensor of 1 or more dimensions.
// inv_scale: float32 / float16 / bfloat16 whose shape broadcasts to tensor's without growing it (at
// most tensor's rank, each dimension 1 or equal to tensor's aligned one): one element, or [N, 1] for
// a per-row scale of an [N, K] tensor. On tensor's device, or a 0-dim CPU tensor (a host scalar).
Tensor per_tensor_dequantize(const TensorView& tensor, const TensorView& inv_scale, Stream stream = nullptr);
Tensor per_tensor_dequantize(const TensorView& tensor, float inv_scale, Stream stream = nullptr);

// x 1-D: every element allclose to x[0] (rtol 1e-5, atol 1e-8). A device x is copied to the host.
bool all_close_1d(const TensorView& x, Stream stream = nullptr);

}  // namespace w8a8
