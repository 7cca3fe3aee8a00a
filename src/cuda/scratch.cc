#include "cuda/scratch.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

#include "cuda/check.h"

namespace w8a8::cuda {
namespace {
struct Buffer {
  void* ptr = nullptr;
  size_t bytes = 0;
};
std::mutex g_mutex;
using Key = std::tuple<int, cudaStream_t, int>;
std::map<Key, Buffer>* g_buffers = new std::map<Key, Buffer>;  // never destroyed: CUDA may be gone at exit
}  // namespace

void* malloc_during_capture_too(size_t bytes) {
  // Under a capture in global mode (torch's default) cudaMalloc is an "unsafe" call and fails; switching
  // this thread to relaxed mode around it, as torch's own allocator does, makes it legal. The allocation
  // does not enter the graph (it may synchronize the device like any cudaMalloc: first calls only).
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  W8A8_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  W8A8_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
  W8A8_CUDA_CHECK(e);
  return p;
}

void* stream_scratch(size_t bytes, cudaStream_t stream, ScratchSlot slot) {
  int device = 0;
  W8A8_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(g_mutex);
  Buffer& b = (*g_buffers)[Key{device, stream, int(slot)}];
  if (b.bytes >= bytes && b.ptr != nullptr) return b.ptr;
  // Growth. The old buffer is retired, never freed: a captured CUDA graph may still use it. Doubling
  // bounds the retired memory by the live buffer's size.
  const size_t grown = std::max(bytes, 2 * b.bytes);
  b.ptr = malloc_during_capture_too(grown);
  b.bytes = grown;
  return b.ptr;
}

}  // namespace w8a8::cuda
