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
  const size_t bytes = size_t(src.numel()) * src.element_size();
  if (bytes == 0) return;
  cudaStream_t s = resolve_stream(stream);
  // Rows with contiguous elements (a column slice of a matrix, say): one pitched copy.
  auto pitched = [](const TensorView& v) { return v.dim() == 2 && (v.stride(1) == 1 || v.size(1) <= 1) && v.stride(0) >= v.size(1); };
  if (!(dst.is_contiguous() && src.is_contiguous()) && pitched(dst) && pitched(src)) {
    const size_t es = src.element_size();
    W8A8_CUDA_CHECK(cudaMemcpy2DAsync(dst.data(), size_t(dst.stride(0)) * es, src.data(), size_t(src.stride(0)) * es,
                                      size_t(src.size(1)) * es, size_t(src.size(0)), cudaMemcpyDefault, s));
  } else {
    W8A8_CHECK(dst.is_contiguous() && src.is_contiguous(),
               "copy: off the CPU both views must be contiguous or 2-D with contiguous rows, got ", dst.describe(),
               " and ", src.describe());
    W8A8_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDefault, s));
  }
  if (dst.device().is_cpu()) W8A8_CUDA_CHECK(cudaStreamSynchronize(s));
}

}  // namespace w8a8::cuda
