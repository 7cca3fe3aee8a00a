// Argument handling both linear ops share (Fp8LinearOp, W8A8BlockFp8LinearOp): the input's rows, the bias and the
// caller's output buffer, each checked with an error that names the argument.
#pragma once

#include <optional>

#include "w8a8/tensor.h"

namespace w8a8::linear_detail {

// input [..., K] (at least 1-D, last dimension K, on `device`) viewed as [M, K], and the output's shape
// input.shape[:-1] + [N]. `k_source` names where K comes from in messages ("weight.size(0)").
struct LayerRows {
  TensorView input_2d;
  int64_t m = 0;
  Dims output_shape;
};
LayerRows layer_rows(const TensorView& input, int64_t K, int64_t N, const char* k_source, const Device& device);

// bias: absent, or [N] of the output dtype on `device`.
void check_bias(const std::optional<TensorView>& bias, int64_t N, DType out_dtype, const Device& device);

// The caller's output: exactly output_shape, on `device`, viewable as [M, N] (the view is returned).
TensorView out_rows(const TensorView& out, const LayerRows& rows, int64_t N, const Device& device);

}  // namespace w8a8::linear_detail
