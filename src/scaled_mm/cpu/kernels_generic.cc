// The CPU kernels for the baseline instruction set of the build (SSE2 on x86-64, NEON on arm64).
// See kernels_impl.inc.
#include <cstddef>
#include <cstdint>

#include "scaled_mm/cpu/kernels.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define W8A8_KNS generic
#define W8A8_KW 4
#define W8A8_ISA_NAME "generic"
#include "scaled_mm/cpu/kernels_impl.inc"
