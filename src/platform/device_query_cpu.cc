// The platform of a build without CUDA: no device, ever.
#if !defined(W8A8_WITH_CUDA)

#include "platform/device_query.h"

namespace w8a8::platform_detail {

Platform query_platform() {
  Platform p;
  p.cuda_built = false;
  p.is_cuda = false;
  p.is_rocm = false;
  p.device_count = 0;
  p.capability = -1;
  p.device_name = "cpu";
  p.reason = "w8a8 was built without CUDA (-DW8A8_CUDA=OFF)";
  return p;
}

}  // namespace w8a8::platform_detail

#endif  // !W8A8_WITH_CUDA
