// Per-(device, stream) scratch memory for temporaries inside one call (padded operands, repacked
// scales, the unfused path's fp32 product). A call allocates only when its stream's
// scratch is too small; growth is legal during CUDA graph capture too (no synchronization), and a
// buffer once handed out is never freed (a captured graph may keep using it), so after a first call of
// the largest shape every call is allocation-free.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace w8a8::cuda {

// Independent scratch buffers of one stream, so that a layer and the kernels it calls never share one (and a
// tensor-parallel layer's gathered blocks never share the FP8 activation of the layer it runs).
enum class ScratchSlot : int { kKernel = 0, kLayer = 1, kParallel = 2 };

// At least `bytes` bytes, 256-byte aligned, whose contents are valid until the next stream_scratch call
// on the same stream and slot (the memory itself stays allocated for the life of the process).
void* stream_scratch(size_t bytes, cudaStream_t stream, ScratchSlot slot = ScratchSlot::kKernel);

// cudaMalloc that also works while this thread captures a CUDA graph in global mode.
void* malloc_during_capture_too(size_t bytes);

// Carves consecutive 256-byte aligned pieces out of one scratch request.
class ScratchCarver {
 public:
  void reserve(size_t bytes) { total_ += round(bytes); }
  size_t total() const { return total_; }
  void bind(void* base) { next_ = static_cast<char*>(base); }
  template <class T>
  T* take(size_t count) {
    T* p = reinterpret_cast<T*>(next_);
    next_ += round(count * sizeof(T));
    return p;
  }

 private:
  static size_t round(size_t b) { return (b + 255) / 256 * 256; }
  size_t total_ = 0;
  char* next_ = nullptr;
};

}  // namespace w8a8::cuda
