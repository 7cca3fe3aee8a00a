#include "scaled_mm/cpu/kernels.h"

#include "common/cpu_isa.h"

namespace w8a8::smm::cpu {

int available_kernels(const Kernels** out, int max) {
  int n = 0;
#if defined(__x86_64__)
  if (cpu_isa::has_avx512() && n < max) out[n++] = &avx512::kKernels;
  if (cpu_isa::has_avx2() && n < max) out[n++] = &avx2::kKernels;
#endif
  if (n < max) out[n++] = &generic::kKernels;
  return n;
}

const Kernels& kernels() {
  static const Kernels* chosen = [] {
    const Kernels* all[3];
    return cpu_isa::choose(all, available_kernels(all, 3));
  }();
  return *chosen;
}

}  // namespace w8a8::smm::cpu
