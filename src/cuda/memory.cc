// Device memory for Tensor and copies across devices.
#include "cuda/check.h"
#include "w8a8/tensor.h"

namespace w8a8::cuda {
namespace {
void* device_allocate(size_t bytes, Device device) {
  int previous = 0;
  W8A8_CUDA_CHECK(cudaGetDevice(&previous));
  if (previous != device.index) W8A8_CUDA_CHECK(cudaSetDevice(device.index));
  void* p = nullptr;
  const cudaError_t status = cudaMalloc(&p, bytes);
  if (previous != device.index) cudaSetDevice(previous);
  if (status != cudaSuccess)
    W8A8_FAIL(ErrorKind::kRuntime, "cudaMalloc of ", bytes, " bytes on ", device.str(),
              " failed: ", cudaGetErrorString(status));
  return p;
}
void device_deallocate(void* p, Device) { cudaFree(p); }  // never throws from a destructor
}  // namespace

Allocator device_allocator() { return {device_allocate, device_deallocate}; }

void copy_across_devices(const TensorView& dst, const TensorView& src, Stream stream) {
  W8A8_CHECK(dst.sizes() == src.sizes(), "copy: sizes differ: ", dst.sizes().str(), " vs ", src.sizes().str());
  W8A8_CHECK_TYPE(dst.dtype() == src.dtype(), "copy: dtypes differ: ", dtype_name(dst.dtype()), " vs ",
                  dtype_name(src.dtype()));
  W8A8_CHECK(dst.is_contiguous() && src.is_contiguous(), "copy: across devices both views must be contiguous, got ",
             dst.describe(), " and ", src.describe());
  const size_t bytes = size_t(src.numel()) * src.element_size();
  if (bytes == 0) return;
  cudaStream_t s = resolve_stream(stream);
  W8A8_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDefault, s));
  if (dst.device().is_cpu()) W8A8_CUDA_CHECK(cudaStreamSynchronize(s));
}

}  // namespace w8a8::cuda
