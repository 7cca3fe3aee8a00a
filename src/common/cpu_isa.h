// Which vector instruction sets the CPU kernels may use, decided once per process.
// W8A8_CPU_ISA=generic|avx2|avx512 forces a lower one (for tests and comparisons).
#pragma once

#include <cstdlib>
#include <cstring>

namespace w8a8::cpu_isa {

// AVX-512 as the kernels use it: F, BW, VL, DQ, plus AVX2 and FMA.
bool has_avx512();
bool has_avx2();  // AVX2 and FMA

// Of `count` kernel tables ordered best first, each with a `const char* isa` member, the first
// whose name W8A8_CPU_ISA names, else the first.
template <class Table>
const Table* choose(const Table* const* tables, int count) {
  const char* force = std::getenv("W8A8_CPU_ISA");
  if (force != nullptr)
    for (int i = 0; i < count; ++i)
      if (std::strcmp(tables[i]->isa, force) == 0) return tables[i];
  return tables[0];
}

}  // namespace w8a8::cpu_isa
