#include "cuda/scratch.h"

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

void* stream_scratch(size_t bytes, cudaStream_t stream, ScratchSlot slot) {
  int device = 0;
  W8A8_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(g_mutex);
  Buffer& b = (*g_buffers)[Key{device, stream, int(slot)}];
  if (b.bytes >= bytes && b.ptr != nullptr) return b.ptr;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  W8A8_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
  W8A8_CHECK_KIND(ErrorKind::kRuntime, capture == cudaStreamCaptureStatusNone, "scratch: this call needs ", bytes,
                  " bytes of stream scratch but the stream has ", b.bytes,
                  " and is capturing a CUDA graph; run the same call once before capturing");
  // Growth: cudaFree waits for the device, so earlier work using the old buffer has finished.
  if (b.ptr != nullptr) W8A8_CUDA_CHECK(cudaFree(b.ptr));
  b.ptr = nullptr;
  b.bytes = 0;
  const size_t grown = bytes + bytes / 4;
  W8A8_CUDA_CHECK(cudaMalloc(&b.ptr, grown));
  b.bytes = grown;
  return b.ptr;
}

}  // namespace w8a8::cuda
