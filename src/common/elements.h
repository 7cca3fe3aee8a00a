// One tensor element as float and back, for host code that walks tensors of any float dtype.
#pragma once

#include <cstdint>

#include "w8a8/tensor.h"

namespace w8a8 {

// Element `offset` (in elements from data()) as float: exact for fp32, fp16, bf16 and FP8; fp64 rounds.
// Other dtypes throw kType.
float load_float(const TensorView& t, int64_t offset);

// v rounded to dst's dtype (fp32, fp16 or bf16) at element i of a contiguous tensor; other dtypes throw kType.
void store_float(const TensorView& dst, int64_t i, float v);

}  // namespace w8a8
