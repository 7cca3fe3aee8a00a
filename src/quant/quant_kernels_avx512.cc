// The quantization row kernels for AVX-512 (F, BW, VL, DQ) machines. See quant_kernels_impl.inc.
#include <cstdint>

#include "quant/quant_kernels.h"

#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2")
namespace w8a8::quant::avx512 {
#define W8A8_QUANT_ISA_NAME "avx512"
#include "quant/quant_kernels_impl.inc"
}  // namespace w8a8::quant::avx512
#endif
