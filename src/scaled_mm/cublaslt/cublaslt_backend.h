// The cuBLASLt backend: the library torch._scaled_mm calls, with w8a8's argument conventions.
#pragma once

#include "scaled_mm/backend.h"

namespace w8a8::smm::cublaslt {

const Backend& backend();

// acc [M, N] fp32 contiguous = A @ B with unit scales: the unfused path's base GEMM on CUDA.
void gemm_unit_scales(const TensorView& acc, const TensorView& a, const TensorView& b, Stream stream);

// The same on CUDA cores for any shape and alignment (e4m3fn): what the unfused path uses where
// cuBLASLt's FP8 path refuses a shape.
void simt_gemm_unit_scales(const TensorView& acc, const TensorView& a, const TensorView& b, Stream stream);

// The unfused path's base GEMM on CUDA: cuBLASLt where it runs the shape, CUDA cores elsewhere.
void base_gemm(const TensorView& acc, const TensorView& a, const TensorView& b, Stream stream);

// The unfused path's epilogue on CUDA: out = cast(acc * scale_a[m] * scale_b[n] + bias).
void epilogue(const TensorView& out, const TensorView& acc, const TensorView& scale_a, const TensorView& scale_b,
              const std::optional<TensorView>& bias, Stream stream);

// dst[0..n) = *src on stream (device to device): a scalar scale as a vector.
void broadcast_scalar(float* dst, const float* src, int64_t n, Stream stream);

// Creates the handle and the workspace for (current device, stream) outside any graph capture.
// Calls made during capture find them ready; the first call on a new stream otherwise allocates.
void prepare(Stream stream);

}  // namespace w8a8::smm::cublaslt
