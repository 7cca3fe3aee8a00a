// The activation-scale rules of spec section 2 as device functions, identical to quant_common.h's: the quantization
// kernels (quant_kernels.cu) and the GEMM kernels that quantize their own activations (the gemv_quant /
// gemv_block_quant configurations) include this one copy, so their codes and scales are the same bits.
#pragma once

#include <cstdint>

namespace w8a8::quant::cuda {

// |x| as an order-preserving integer: NaN compares above everything, so integer max propagates
// NaN like torch's x.abs().max() and the CPU code.
__device__ __forceinline__ uint32_t mag_bits(float x) { return __float_as_uint(x) & 0x7FFFFFFFu; }

__device__ __forceinline__ float fmax_keep_nan(float a, float b) { return a < b ? b : a; }
__device__ __forceinline__ float fmin_keep_nan(float a, float b) { return b < a ? b : a; }
__device__ __forceinline__ float scale_from_amax(float amax, float qmax, float min_scale) {
  return fmax_keep_nan(__fdiv_rn(amax, qmax), min_scale);
}
__device__ __forceinline__ float token_scale(float amax, float ub, float qmax, float min_scale) {
  return fmax_keep_nan(__fdiv_rn(fmin_keep_nan(amax, ub), qmax), min_scale);
}
__device__ __forceinline__ float group_scale(float amax, float eps, float qmax, bool ue8m0) {
  const float s = __fdiv_rn(fmax_keep_nan(amax, eps), qmax);
  if (!ue8m0 || !(s > 0.0f) || isinf(s)) return s;
  const uint32_t u = __float_as_uint(s);
  if ((u & 0x7FFFFFu) == 0) return s;                    // already a power of two
  return __uint_as_float((u & 0x7F800000u) + 0x800000u);  // next power of two up (s is normal here)
}
__device__ __forceinline__ float reciprocal(float s) { return __fdiv_rn(1.0f, s); }

}  // namespace w8a8::quant::cuda
