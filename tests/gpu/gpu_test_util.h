// Helpers for the GPU tests: skip without a device, move tensors, poison device memory.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <random>

#include "w8a8/tensor.h"

namespace w8a8::gputest {

inline bool have_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

#define W8A8_REQUIRE_GPU() \
  do {                     \
    if (!::w8a8::gputest::have_gpu()) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

inline Tensor to_gpu(const TensorView& t) { return Tensor::borrow(t).to(Device::cuda()); }
inline Tensor to_cpu(const TensorView& t) { return Tensor::borrow(t).to(Device::cpu()); }

// Fills a device tensor's span with a byte pattern (0xFF: NaN in every float format we write).
inline void poison(const TensorView& t, int byte = 0xFF) {
  ASSERT_EQ(cudaMemset(t.data(), byte, t.span_bytes()), cudaSuccess);
}

inline void sync() { ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess); }

}  // namespace w8a8::gputest
