// The quantization row kernels for AVX2 machines. See quant_kernels_impl.inc. No FMA: the kernels
// have no a * b + c to contract, and the results must match the generic table bit for bit.
#include <cstdint>

#include "quant/quant_kernels.h"

#if defined(__x86_64__)
#pragma GCC target("avx2")
namespace w8a8::quant::avx2 {
#define W8A8_QUANT_ISA_NAME "avx2"
#include "quant/quant_kernels_impl.inc"
}  // namespace w8a8::quant::avx2
#endif
