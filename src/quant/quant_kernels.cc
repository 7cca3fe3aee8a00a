// Picks the quantization row kernels for this CPU (W8A8_CPU_ISA=generic|avx2|avx512 forces one).
#include "quant/quant_kernels.h"

#include <cstdlib>
#include <cstring>

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
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx2") &&
      n < max)
    out[n++] = &avx512::kRowKernels;
  if (__builtin_cpu_supports("avx2") && n < max) out[n++] = &avx2::kRowKernels;
#endif
  if (n < max) out[n++] = &generic::kRowKernels;
  return n;
}

const RowKernels& row_kernels() {
  static const RowKernels* chosen = [] {
    const RowKernels* all[3];
    const int n = available_row_kernels(all, 3);
    const char* force = std::getenv("W8A8_CPU_ISA");
    if (force != nullptr)
      for (int i = 0; i < n; ++i)
        if (std::strcmp(all[i]->isa, force) == 0) return all[i];
    return all[0];
  }();
  return *chosen;
}

}  // namespace w8a8::quant
