// Timing operands: finite random e4m3fn codes (never all zero) from a xorshift, made on the host (fast enough for
// the 256 MB of rotated weights a timed shape needs) and copied to `device`. w8a8 tune and w8a8-bench both time on
// them, so the same seed gives the same bytes in both.
#pragma once

#include <cstdint>

#include "w8a8/tensor.h"

namespace w8a8::smm {

inline Tensor random_fp8(Dims sizes, uint64_t seed, Device device) {
  Tensor host = Tensor::empty(sizes, DType::kFloat8E4M3FN);
  auto* p = host.data_as<uint8_t>();
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  const int64_t n = host.numel();
  for (int64_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uint8_t c = uint8_t(x >> 24);
    if ((c & 0x7F) == 0x7F) c ^= 0x01;  // not NaN
    p[i] = c;
  }
  return device.is_cpu() ? host : host.to(device);
}

}  // namespace w8a8::smm
