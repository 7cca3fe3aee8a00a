// Checked CUDA and cuBLAS calls: every failure becomes a w8a8::Error naming the call.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include "w8a8/error.h"

#define W8A8_CUDA_CHECK(call)                                                                          \
  do {                                                                                                 \
    const cudaError_t w8a8_status_ = (call);                                                           \
    if (w8a8_status_ != cudaSuccess)                                                                   \
      W8A8_FAIL(::w8a8::ErrorKind::kRuntime, #call, " failed: ", cudaGetErrorName(w8a8_status_), ": ", \
                cudaGetErrorString(w8a8_status_));                                                     \
  } while (0)

// After every kernel launch: catches bad launch configurations at the call that made them.
#define W8A8_CUDA_CHECK_LAUNCH() W8A8_CUDA_CHECK(cudaGetLastError())

#define W8A8_CUBLAS_CHECK(call)                                                                        \
  do {                                                                                                 \
    const cublasStatus_t w8a8_status_ = (call);                                                        \
    if (w8a8_status_ != CUBLAS_STATUS_SUCCESS)                                                         \
      W8A8_FAIL(::w8a8::ErrorKind::kRuntime, #call, " failed: status ", int(w8a8_status_));            \
  } while (0)
