// The scaled_mm backends built in, in preference order. The only file that knows them all.
//
// CUDA backends join behind their build flags, ahead of the CPU ones (each refuses problems on
// other devices through can_implement, and may defer to a later one through prefers); a device's
// unfused base GEMM + epilogue joins through unfused::set_device_ops.
#include "scaled_mm/backend.h"
#include "scaled_mm/cpu/cpu_backend.h"
#include "scaled_mm/unfused/unfused.h"
#ifdef W8A8_WITH_CUDA
#include "scaled_mm/cublaslt/cublaslt_backend.h"
#endif
#ifdef W8A8_WITH_CUTLASS_SM90
#include "scaled_mm/cutlass_sm90/cutlass_backend.h"
#endif

namespace w8a8::smm {
namespace {

void cpu_base_gemm(const TensorView& acc, const TensorView& a, const TensorView& b, Stream) {
  cpu::gemm_unit_scales(acc, a, b);
}

std::vector<const Backend*> make_registry() {
  std::vector<const Backend*> list;
#ifdef W8A8_WITH_CUTLASS_SM90
  // First: w8a8's Hopper kernels, where its measured table has them faster (else it defers).
  list.push_back(&cutlass_sm90::backend());
#endif
#ifdef W8A8_WITH_CUDA
  list.push_back(&cublaslt::backend());
  unfused::set_device_ops(DeviceType::kCUDA, {cublaslt::base_gemm, cublaslt::epilogue, cublaslt::scratch});
#endif
  list.push_back(&cpu::backend());
  unfused::set_device_ops(DeviceType::kCPU, {cpu_base_gemm, unfused::epilogue_cpu});
  list.push_back(&unfused::backend());
  return list;
}

}  // namespace

const std::vector<const Backend*>& registered_backends() {
  static const std::vector<const Backend*> list = make_registry();
  return list;
}

const Backend* find_backend(ScaledMmBackend id) {
  for (const Backend* b : registered_backends())
    if (b->id == id) return b;
  return nullptr;
}

}  // namespace w8a8::smm
