// The one place where the platform meets the CUDA runtime.
//
// query_platform() fills a Platform from the build and the device. Exactly one implementation is
// compiled, chosen by the preprocessor macro W8A8_WITH_CUDA (set by the CUDA build):
//   device_query_cpu.cc   without it: cuda_built = false, no device, device_name "cpu";
//   device_query_cuda.cc  with it: cudaGetDeviceCount / cudaGetDeviceProperties of the
//                         current device fill device_count, capability (major * 10 + minor) and
//                         device_name; is_cuda is false with a reason when no device is usable.
// current_platform() calls it once and caches the result.
#pragma once

#include "w8a8/platform.h"

namespace w8a8::platform_detail {

Platform query_platform();

}  // namespace w8a8::platform_detail
