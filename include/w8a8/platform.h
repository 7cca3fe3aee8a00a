// Platform facts and vLLM's capability queries.
#pragma once

#include <string>

namespace w8a8 {

struct Platform {
  bool cuda_built = false;    // w8a8 was compiled with its CUDA backends
  bool is_cuda = false;       // a CUDA device is present and usable
  bool is_rocm = false;       // always false: w8a8 has no ROCm build
  int device_count = 0;
  int capability = -1;        // major * 10 + minor of the current device (90 for H100), -1 without one
  std::string device_name;    // "NVIDIA H100 80GB HBM3", or "cpu"
  std::string reason;         // why is_cuda is false, when it is
};
const Platform& current_platform();

// What this build of w8a8 contains (CMake's configure summary, compiled in).
struct BuildInfo {
  std::string backends;         // "cpu cublaslt unfused cutlass_sm90 nccl": the backends compiled in
  std::string archs;            // nvcc targets of the CUDA code, "sm_89 sm_90a compute_90"; empty without CUDA
  std::string cutlass_version;  // CUTLASS headers w8a8's sm_90a kernels were built on; empty without them
  int cutlass_kernels = 0;      // w8a8's sm_90a scaled_mm configurations (scaled_mm_kernels lists them; the
                                // linear ops' fused-quantization configurations are not among them)
};
const BuildInfo& build_info();

// Whether a capability is there and, either way, why.
struct Capability {
  bool supported = false;
  std::string reason;
};

// vLLM's conditions (sm >= 89; sm >= 90 for the last three) and a kernel built for this arch.
Capability cutlass_fp8_capability();
Capability cutlass_block_fp8_capability();
Capability cutlass_group_gemm_capability();
Capability sparse_cutlass_capability();
bool cutlass_fp8_supported();
bool cutlass_block_fp8_supported();
bool cutlass_group_gemm_supported();
bool sparse_cutlass_supported();

}  // namespace w8a8
