// The backend around configs.h's kernels: capability check, then the configuration for the problem.
#include <string>

#include "cuda/check.h"
#include "scaled_mm/cutlass_sm90/configs.h"
#include "scaled_mm/cutlass_sm90/cutlass_backend.h"

namespace w8a8::smm::cutlass_sm90 {
namespace {

struct DeviceInfo {
  int major = 0, minor = 0, sm_count = 0;
};
DeviceInfo device_info(int device) {
  DeviceInfo d;
  W8A8_CUDA_CHECK(cudaDeviceGetAttribute(&d.major, cudaDevAttrComputeCapabilityMajor, device));
  W8A8_CUDA_CHECK(cudaDeviceGetAttribute(&d.minor, cudaDevAttrComputeCapabilityMinor, device));
  W8A8_CUDA_CHECK(cudaDeviceGetAttribute(&d.sm_count, cudaDevAttrMultiProcessorCount, device));
  return d;
}

Support can_implement(const ScaledMmProblem& p) {
  if (!p.device.is_cuda()) return Support::no("cutlass runs CUDA tensors only");
  if (device_info(p.device.index).major != 9) return Support::no("cutlass: kernels built for sm_90a only");
  if (p.a_dtype != DType::kFloat8E4M3FN) return Support::no("cutlass: e4m3fn operands only");
  if (p.blockwise()) return Support::no("cutlass: no blockwise kernels yet");
  if (p.out_dtype != DType::kBFloat16) return Support::no("cutlass: bf16 output only so far");
  if (p.accumulation != Accumulation::kFast) return Support::no("cutlass: only a fast-accumulation kernel so far");
  if (p.k % 16 != 0 || p.n % 16 != 0 || p.a_row_stride % 16 != 0 || p.b_col_stride % 16 != 0)
    return Support::no("cutlass: K, N and the operand leading dimensions must be multiples of 16");
  if (p.out_row_stride != 0 && p.out_row_stride % 8 != 0) return Support::no("cutlass: output rows must be 16-byte aligned");
  return Support::yes();
}

void run(const ScaledMmArgs& x) {
  const ScaledMmProblem& p = x.problem;
  if (p.m == 0 || p.n == 0) return;
  Fp8GemmCall call{int(p.m), int(p.n), int(p.k), x.a.data(), x.a.stride(0), x.b.data(), x.b.stride(1), x.out.data(),
                   x.out.stride(0), x.scale_a.data_as<const float>(), p.scale_a == ScaleKind::kPerToken,
                   x.scale_b.data_as<const float>(), p.scale_b == ScaleKind::kPerChannel,
                   x.bias ? x.bias->data() : nullptr, device_info(p.device.index).sm_count, x.stream};
  // One configuration so far; the measured selection table comes with the others.
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, run_sm90_fp8_bf16_128x128x128_c2x1_pingpong_fastaccum(call),
                  "cutlass: CUTLASS's can_implement refused ", p.str());
}

const Backend kBackend{ScaledMmBackend::kCutlass, "cutlass", can_implement, run};

}  // namespace

const Backend& backend() { return kBackend; }

}  // namespace w8a8::smm::cutlass_sm90
