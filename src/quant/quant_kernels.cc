// Picks the quantization row kernels for this CPU (W8A8_CPU_ISA=generic|avx2|avx512 forces one).
#include "quant/quant_kernels.h"

#include "common/cpu_isa.h"

namespace w8a8::quant {
namespace generic {
extern const RowKernels kRowKernels;
}
#if defined(__x86_64__)
namespace avx2 {
extern const RowKernels kRowKernels;
}
namespace avx512 {
extern const RowKernels kRowKernels;
}
#endif

int available_row_kernels(const RowKernels** out, int max) {
  int n = 0;
#if defined(__x86_64__)
  if (cpu_isa::has_avx512() && n < max) out[n++] = &avx512::kRowKernels;
  if (cpu_isa::has_avx2() && n < max) out[n++] = &avx2::kRowKernels;
#endif
  if (n < max) out[n++] = &generic::kRowKernels;
  return n;
}

const RowKernels& row_kernels() {
  static const RowKernels* chosen = [] {
    const RowKernels* all[3];
    return cpu_isa::choose(all, available_row_kernels(all, 3));
  }();
  return *chosen;
}

}  // namespace w8a8::quant
