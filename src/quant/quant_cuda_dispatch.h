// Hands a validated quantization call to the CUDA kernels when its tensors live on a GPU.
// W8A8_ON_CUDA(device, call) runs `call` and returns from the entry for CUDA tensors; in a
// CPU-only build it compiles to nothing (check_devices has already refused CUDA tensors).
#pragma once

#ifdef W8A8_WITH_CUDA
#include "quant/cuda/quant_cuda.h"
#define W8A8_ON_CUDA(device, call) \
  do {                             \
    if ((device).is_cuda()) {      \
      call;                        \
      return;                      \
    }                              \
  } while (0)
#else
#define W8A8_ON_CUDA(device, call) \
  do {                             \
    (void)(device);                \
  } while (0)
#endif
