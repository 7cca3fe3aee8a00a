// The quantization row kernels for any x86-64 (SSE2) or other CPU. See quant_kernels_impl.inc.
#include <cstdint>

#include "quant/quant_kernels.h"

namespace w8a8::quant::generic {
#define W8A8_QUANT_ISA_NAME "generic"
#include "quant/quant_kernels_impl.inc"
}  // namespace w8a8::quant::generic
