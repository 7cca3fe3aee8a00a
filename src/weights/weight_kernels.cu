// The weight utilities on the GPU: one grid-stride kernel over weight_ops.h's element-wise operations.
// Load-time work (a weight is processed once), so one kernel with the dtypes as runtime values (the
// same branch for every thread) rather than a template per combination; the geometry is merged to
// 1-D for dense tensors, which keeps every access coalesced.
#include <algorithm>

#include "cuda/check.h"
#include "weights/weight_ops.h"

namespace w8a8::weights::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void elementwise_kernel(ElementOp op, Geometry g, Operands o) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < g.numel; i += stride) {
    int64_t out_off, in_off, scale_off;
    element_offsets(g, i, out_off, in_off, scale_off);
    apply_element(op, o, out_off, in_off, scale_off);
  }
}

}  // namespace

void elementwise(ElementOp op, const Geometry& g, const Operands& o, Stream stream) {
  if (g.numel == 0) return;
  const int64_t blocks = std::min<int64_t>((g.numel + kThreads - 1) / kThreads, 65535);
  elementwise_kernel<<<unsigned(blocks), kThreads, 0, resolve_stream(stream)>>>(op, g, o);
  W8A8_CUDA_CHECK_LAUNCH();
}

}  // namespace w8a8::weights::cuda
