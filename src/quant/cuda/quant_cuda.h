// CUDA launchers of the quantization layer. Arguments are validated by the public entries in
// src/quant/*.cc before they get here; these only launch. Same rules, bit for bit, as the CPU code
// (quant_common.h): the scale formulas, the fp32 reciprocal and formats.h's saturating encoders.
#pragma once

#include <cstdint>

#include "w8a8/tensor.h"

namespace w8a8::quant::cuda {

// out[m, :] = fp8(sat(input[m, :] / scale[m * scale_row_stride])) for m < M; rows M..out.size(0)
// are zeroed (token padding). scale is a device pointer; stride 0 means one scale for all rows.
void static_quant(const TensorView& out, const TensorView& input, const float* scale, int64_t scale_row_stride,
                  Stream stream);
// amax over the whole tensor into scale_out, converted in place to max(amax/FP8_MAX, MIN_SCALE), then
// static_quant with it. No host round trip.
void dynamic_per_tensor_quant(const TensorView& out, const TensorView& input, float* scale_out, Stream stream);
// One pass per row: each row is read once. scale_ub: device pointer or null. Padding rows get scale 1.
void dynamic_per_token_quant(const TensorView& out, const TensorView& input, float* scale_out, int64_t scale_stride,
                             const float* scale_ub, Stream stream);
// Groups of group_size along K, ceil(K / group_size) per row (the last one may be short); scale
// element (m, g) at scale_out[m * s0 + g * s1].
void per_token_group_quant(const TensorView& out, const TensorView& input, float* scale_out, int64_t s0, int64_t s1,
                           int64_t group_size, float eps, bool use_ue8m0, Stream stream);
// Blocks of block_n x block_k of a weight [N, K]; scales [ceil(N/bn), ceil(K/bk)] contiguous.
void per_block_quant(const TensorView& out, const TensorView& weight, float* scale_out, int64_t block_n,
                     int64_t block_k, Stream stream);

}  // namespace w8a8::quant::cuda
