// The CPU kernels for AVX2 + FMA machines. See kernels_impl.inc.
#include <cstddef>
#include <cstdint>

#include "scaled_mm/cpu/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,bmi,bmi2,f16c,popcnt"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,bmi,bmi2,f16c,popcnt")
#endif
#define W8A8_ISA_AVX2 1
#define W8A8_KNS avx2
#define W8A8_KW 8
#define W8A8_ISA_NAME "avx2"
#include "scaled_mm/cpu/kernels_impl.inc"
#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif
