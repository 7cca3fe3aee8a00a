// Which CUTLASS-style kernel families this build of w8a8 contains, and for which archs.
//
// This is the one list the capability queries consult (vLLM asks its compiled extension the same
// question: ops.cutlass_scaled_mm_supports_fp8(capability), ...). A family is usable on a device
// when the device meets vLLM's condition (min_capability) AND its capability is one of the archs
// listed here: w8a8's Hopper kernels are compiled for sm_90a, whose arch-specific instructions
// run on sm_90 only, so the match is exact.
//
// Today no such kernel is built: every list is empty. A CUDA build that adds, say, the sm_90a FP8
// GEMMs gives kCutlassFp8 the arch 90 here (under #if defined(W8A8_WITH_CUDA)). Sparse kernels are
// never built.
#pragma once

namespace w8a8::platform_detail {

struct KernelFamily {
  const char* name;         // "cutlass_fp8", used in reasons
  const char* description;  // "FP8 CUTLASS scaled-mm", used in reasons
  int min_capability;       // vLLM's condition: capability >= this
  int archs[4];             // archs with kernels built (capability values), the first num_archs
  int num_archs;
};

inline constexpr KernelFamily kCutlassFp8Family{"cutlass_fp8", "FP8 CUTLASS scaled-mm", 89, {}, 0};
inline constexpr KernelFamily kCutlassBlockFp8Family{"cutlass_block_fp8", "block-scaled FP8 CUTLASS", 90, {}, 0};
inline constexpr KernelFamily kCutlassGroupGemmFamily{"cutlass_group_gemm", "CUTLASS grouped GEMM", 90, {}, 0};
inline constexpr KernelFamily kSparseCutlassFamily{"sparse_cutlass", "sparse", 90, {}, 0};  // never built

}  // namespace w8a8::platform_detail
