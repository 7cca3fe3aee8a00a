// Which fused kernel families this build of w8a8 contains, and for which archs.
//
// This is the one list the capability queries consult (vLLM asks its compiled extension the same
// question: ops.cutlass_scaled_mm_supports_fp8(capability), ...). In w8a8, `cutlass_scaled_mm` is the best
// fused backend for the device (spec section 5), so a family counts as built when any fused backend of this
// build runs it: w8a8's own sm_90a kernels or cuBLASLt. A family is usable on a device when the device meets
// vLLM's condition (min_capability) AND its capability is one of the archs listed here (or newer than the
// last one, where the family says so: cuBLASLt's FP8 matmul runs on every arch from sm_89 on).
#pragma once

namespace w8a8::platform_detail {

struct KernelFamily {
  const char* name;         // "cutlass_fp8", used in reasons
  const char* description;  // "fused FP8 scaled-mm", used in reasons
  int min_capability;       // vLLM's condition: capability >= this
  int archs[4];             // archs with kernels built (capability values), the first num_archs
  int num_archs;
  bool newer_archs = false;   // every arch newer than archs[num_archs - 1] runs the family too
  const char* backends = "";  // which backends of this build run it, for reasons
};

#if defined(W8A8_WITH_CUDA) && defined(W8A8_WITH_CUTLASS_SM90)
inline constexpr KernelFamily kCutlassFp8Family{
    "cutlass_fp8", "fused FP8 scaled-mm", 89, {89, 90}, 2, true, "w8a8's sm_90a kernels and cuBLASLt"};
#elif defined(W8A8_WITH_CUDA)
inline constexpr KernelFamily kCutlassFp8Family{
    "cutlass_fp8", "fused FP8 scaled-mm", 89, {89, 90}, 2, true, "cuBLASLt"};
#else
inline constexpr KernelFamily kCutlassFp8Family{"cutlass_fp8", "fused FP8 scaled-mm", 89, {}, 0};
#endif
#if defined(W8A8_WITH_CUDA)
// cuBLASLt's 1x128 x 128x128 block scaling is a Hopper feature.
inline constexpr KernelFamily kCutlassBlockFp8Family{
    "cutlass_block_fp8", "fused block-scaled FP8 scaled-mm", 90, {90}, 1, false, "cuBLASLt"};
#else
inline constexpr KernelFamily kCutlassBlockFp8Family{"cutlass_block_fp8", "fused block-scaled FP8 scaled-mm", 90,
                                                     {}, 0};
#endif
inline constexpr KernelFamily kCutlassGroupGemmFamily{"cutlass_group_gemm", "grouped FP8 GEMM", 90, {}, 0};
inline constexpr KernelFamily kSparseCutlassFamily{"sparse_cutlass", "sparse", 90, {}, 0};  // never built

}  // namespace w8a8::platform_detail
