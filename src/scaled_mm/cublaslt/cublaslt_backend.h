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

// The calling stream's scratch memory (src/cuda/scratch.h), for the unfused path's product.
void* scratch(size_t bytes, Stream stream);

// dst[i * dst_ld + j] = i < rows && j < cols ? src[i * s_i + j * s_j] : fill, for i < dst_rows, j < dst_ld:
// repacks (and pads) scale tensors into the layouts cuBLASLt's block scaling reads.
void repack_scales(float* dst, int64_t dst_rows, int64_t dst_ld, const float* src, int64_t rows, int64_t cols,
                   int64_t s_i, int64_t s_j, float fill, Stream stream);

// out[m, n] += bias[n] in out's dtype (bias of out's dtype): the bias of a blockwise GEMM, whose epilogue has none.
void add_bias(const TensorView& out, const TensorView& bias, Stream stream);

// dst[0..n) = *src on stream (device to device): a scalar scale as a vector.
void broadcast_scalar(float* dst, const float* src, int64_t n, Stream stream);

// Creates the handle and the workspace for (current device, stream) outside any graph capture.
// Calls made during capture find them ready; the first call on a new stream otherwise allocates.
void prepare(Stream stream);

}  // namespace w8a8::smm::cublaslt
