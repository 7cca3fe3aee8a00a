#include "w8a8/platform.h"

#include <string>

#include "platform/built_kernels.h"
#include "platform/capability.h"
#include "platform/device_query.h"
#include "w8a8/scaled_mm.h"

#ifndef W8A8_BUILD_BACKENDS  // defined by cmake/BuildSummary.cmake
#define W8A8_BUILD_BACKENDS "cpu"
#define W8A8_BUILD_ARCHS ""
#define W8A8_BUILD_CUTLASS_VERSION ""
#endif

namespace w8a8 {

const Platform& current_platform() {
  static const Platform platform = platform_detail::query_platform();
  return platform;
}

const BuildInfo& build_info() {
  static const BuildInfo info{W8A8_BUILD_BACKENDS, W8A8_BUILD_ARCHS, W8A8_BUILD_CUTLASS_VERSION,
                              int(scaled_mm_kernels(ScaledMmBackend::kCutlass).size())};
  return info;
}

namespace platform_detail {

namespace {
std::string sm(int capability) { return "sm_" + std::to_string(capability); }

std::string arch_list(const KernelFamily& family) {
  std::string s;
  for (int i = 0; i < family.num_archs; ++i) s += (i ? ", " : "") + sm(family.archs[i]);
  return s;
}
}  // namespace

Capability evaluate_capability(const Platform& platform, const KernelFamily& family) {
  Capability c;
  // The build first: without kernels of the family nothing else matters.
  if (family.num_archs == 0) {
    c.reason = std::string("no ") + family.description + " kernels in this build";
    if (!platform.cuda_built) c.reason += " (" + platform.reason + ")";
    return c;
  }
  if (!platform.is_cuda) {
    c.reason = std::string(family.name) + ": no CUDA device (" + platform.reason + ")";
    return c;
  }
  const std::string device = platform.device_name + " (" + sm(platform.capability) + ")";
  if (platform.capability < family.min_capability) {
    c.reason = std::string(family.name) + " needs " + sm(family.min_capability) + " or newer (vLLM's condition); " +
               device + " is older";
    return c;
  }
  bool built = family.newer_archs && platform.capability > family.archs[family.num_archs - 1];
  for (int i = 0; i < family.num_archs; ++i) built = built || family.archs[i] == platform.capability;
  if (built) {
    c.supported = true;
    c.reason = std::string(family.name) + ": " + device + " meets " + sm(family.min_capability) +
               " and this build has " + family.description + " kernels for it" +
               (family.backends[0] ? std::string(" (") + family.backends + ")" : std::string());
    return c;
  }
  c.reason = std::string(family.name) + ": this build has " + family.description + " kernels for " +
             arch_list(family) + (family.newer_archs ? " and newer" : " only") + "; " + device +
             " is not one of them";
  return c;
}

}  // namespace platform_detail

Capability cutlass_fp8_capability() {
  return platform_detail::evaluate_capability(current_platform(), platform_detail::kCutlassFp8Family);
}
Capability cutlass_block_fp8_capability() {
  return platform_detail::evaluate_capability(current_platform(), platform_detail::kCutlassBlockFp8Family);
}
Capability cutlass_group_gemm_capability() {
  return platform_detail::evaluate_capability(current_platform(), platform_detail::kCutlassGroupGemmFamily);
}
Capability sparse_cutlass_capability() {
  return platform_detail::evaluate_capability(current_platform(), platform_detail::kSparseCutlassFamily);
}
bool cutlass_fp8_supported() { return cutlass_fp8_capability().supported; }
bool cutlass_block_fp8_supported() { return cutlass_block_fp8_capability().supported; }
bool cutlass_group_gemm_supported() { return cutlass_group_gemm_capability().supported; }
bool sparse_cutlass_supported() { return sparse_cutlass_capability().supported; }

}  // namespace w8a8
