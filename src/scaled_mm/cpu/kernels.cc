#include "scaled_mm/cpu/kernels.h"

#include <cstdlib>
#include <cstring>

namespace w8a8::smm::cpu {
namespace {

bool has_avx512() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}
bool has_avx2() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

}  // namespace

int available_kernels(const Kernels** out, int max) {
  int n = 0;
#if defined(__x86_64__)
  if (has_avx512() && n < max) out[n++] = &avx512::kKernels;
  if (has_avx2() && n < max) out[n++] = &avx2::kKernels;
#endif
  if (n < max) out[n++] = &generic::kKernels;
  return n;
}

const Kernels& kernels() {
  static const Kernels* chosen = [] {
    const Kernels* all[3];
    const int n = available_kernels(all, 3);
    const char* force = std::getenv("W8A8_CPU_ISA");
    if (force != nullptr)
      for (int i = 0; i < n; ++i)
        if (std::strcmp(all[i]->isa, force) == 0) return all[i];
    return all[0];
  }();
  return *chosen;
}

}  // namespace w8a8::smm::cpu
