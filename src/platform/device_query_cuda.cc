// The platform of a CUDA build: the current device's properties, or why there is none.
#if defined(W8A8_WITH_CUDA)

#include <cuda_runtime.h>

#include <string>

#include "platform/device_query.h"

namespace w8a8::platform_detail {

namespace {
std::string cuda_error(const char* call, cudaError_t err) {
  cudaGetLastError();  // clear it: this is an answer, not a failure of later calls
  return std::string(call) + " failed: " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err);
}
}  // namespace

Platform query_platform() {
  Platform p;
  p.cuda_built = true;
  p.is_cuda = false;
  p.is_rocm = false;
  p.device_count = 0;
  p.capability = -1;
  p.device_name = "cpu";

  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    p.reason = "no usable CUDA device: " + cuda_error("cudaGetDeviceCount", err);
    return p;
  }
  if (count == 0) {
    p.reason = "no CUDA device found";
    return p;
  }
  p.device_count = count;
  int device = 0;
  err = cudaGetDevice(&device);
  if (err != cudaSuccess) {
    p.reason = "no usable CUDA device: " + cuda_error("cudaGetDevice", err);
    return p;
  }
  cudaDeviceProp prop{};
  err = cudaGetDeviceProperties(&prop, device);
  if (err != cudaSuccess) {
    p.reason = "no usable CUDA device: " + cuda_error("cudaGetDeviceProperties", err);
    return p;
  }
  p.is_cuda = true;
  p.capability = prop.major * 10 + prop.minor;
  p.device_name = prop.name;
  p.reason.clear();
  return p;
}

}  // namespace w8a8::platform_detail

#endif  // W8A8_WITH_CUDA
