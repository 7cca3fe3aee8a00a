// The CPU kernels for AVX-512 (F, BW, VL, DQ) machines. See kernels_impl.inc.
#include <cstddef>
#include <cstdint>

#include "scaled_mm/cpu/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,bmi,bmi2,f16c,popcnt"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,bmi,bmi2,f16c,popcnt")
#endif
#define W8A8_ISA_AVX512 1
#define W8A8_KNS avx512
#define W8A8_KW 16
#define W8A8_ISA_NAME "avx512"
#include "scaled_mm/cpu/kernels_impl.inc"
#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif
