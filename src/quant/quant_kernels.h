// Row kernels of the CPU quantization backend, compiled once per instruction set (generic x86-64,
// AVX2, AVX-512) from quant_kernels_impl.inc and picked at run time for the CPU (W8A8_CPU_ISA=generic|avx2|
// avx512 forces one, as for the scaled-mm kernels). Every table computes bit-identical results.
#pragma once

#include <cstdint>

#include "w8a8/dtype.h"

namespace w8a8::quant {

enum InKind : int { kInBF16 = 0, kInFP16 = 1, kInFP32 = 2 };
enum OutKind : int { kOutE4M3FN = 0, kOutE4M3FNUZ = 1 };

inline int in_kind(DType t) { return t == DType::kBFloat16 ? kInBF16 : t == DType::kFloat16 ? kInFP16 : kInFP32; }
inline int out_kind(DType t) { return t == DType::kFloat8E4M3FNUZ ? kOutE4M3FNUZ : kOutE4M3FN; }

struct RowKernels {
  const char* isa;
  // max |x[i]| over n elements, exact; NaN if any element is NaN (torch's x.abs().max()); 0 when n == 0.
  float (*amax[3])(const void* x, int64_t n);
  // q[i] = fp8(sat(x[i] * inv)): formats.h's quantize_e4m3fn / quantize_e4m3fnuz of the fp32 product.
  void (*quant[3][2])(uint8_t* q, const void* x, int64_t n, float inv);
  // dst[i] = x[i] as float, exactly (what quant multiplies; for tests).
  void (*load[3])(float* dst, const void* x, int64_t n);
};

// The table for this CPU.
const RowKernels& row_kernels();
// Every table this CPU can run, best first; returns how many were written (at most max).
int available_row_kernels(const RowKernels** out, int max);

}  // namespace w8a8::quant
