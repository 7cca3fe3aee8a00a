// Platform facts and the capability queries (spec section 5) for this build and for simulated ones.
#include <gtest/gtest.h>

#include <string>

#include "platform/built_kernels.h"
#include "platform/capability.h"
#include "w8a8/platform.h"

namespace {

using namespace w8a8;
using platform_detail::evaluate_capability;
using platform_detail::KernelFamily;

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

#if !defined(W8A8_WITH_CUDA)
TEST(Platform, CpuOnlyBuild) {
  const Platform& p = current_platform();
  EXPECT_FALSE(p.cuda_built);
  EXPECT_FALSE(p.is_cuda);
  EXPECT_FALSE(p.is_rocm);
  EXPECT_EQ(p.device_count, 0);
  EXPECT_EQ(p.capability, -1);
  EXPECT_EQ(p.device_name, "cpu");
  EXPECT_EQ(p.reason, "w8a8 was built without CUDA (-DW8A8_CUDA=OFF)");
  EXPECT_EQ(&p, &current_platform());  // computed once
}

TEST(Platform, CapabilitiesFalseWithoutCuda) {
  for (const Capability& c : {cutlass_fp8_capability(), cutlass_block_fp8_capability(),
                              cutlass_group_gemm_capability(), sparse_cutlass_capability()}) {
    EXPECT_FALSE(c.supported);
    EXPECT_TRUE(contains(c.reason, "in this build")) << c.reason;
    EXPECT_TRUE(contains(c.reason, "-DW8A8_CUDA=OFF")) << c.reason;
  }
  EXPECT_FALSE(cutlass_fp8_supported());
  EXPECT_FALSE(cutlass_block_fp8_supported());
  EXPECT_FALSE(cutlass_group_gemm_supported());
  EXPECT_FALSE(sparse_cutlass_supported());
  EXPECT_TRUE(contains(sparse_cutlass_capability().reason, "no sparse kernels in this build"));
  EXPECT_TRUE(contains(cutlass_fp8_capability().reason, "fused FP8 scaled-mm"));
}
#endif

// Facts that hold in every build.
TEST(Platform, Consistent) {
  const Platform& p = current_platform();
  EXPECT_FALSE(p.is_rocm);
  if (p.is_cuda) {
    EXPECT_TRUE(p.cuda_built);
    EXPECT_GT(p.device_count, 0);
    EXPECT_GT(p.capability, 0);
    EXPECT_FALSE(p.device_name.empty());
  } else {
    EXPECT_FALSE(p.reason.empty());
    EXPECT_EQ(p.capability, -1);
    EXPECT_EQ(p.device_name, "cpu");
    EXPECT_FALSE(cutlass_fp8_supported());
    EXPECT_FALSE(cutlass_block_fp8_supported());
    EXPECT_FALSE(cutlass_group_gemm_supported());
  }
  for (const Capability& c : {cutlass_fp8_capability(), cutlass_block_fp8_capability(),
                              cutlass_group_gemm_capability(), sparse_cutlass_capability()})
    EXPECT_FALSE(c.reason.empty());
  EXPECT_EQ(cutlass_fp8_supported(), cutlass_fp8_capability().supported);
  EXPECT_FALSE(sparse_cutlass_supported());
  EXPECT_EQ(sparse_cutlass_capability().reason.find("no sparse kernels in this build"), size_t(0));
}

TEST(Platform, BuiltKernelTable) {
  // vLLM's conditions.
  EXPECT_EQ(platform_detail::kCutlassFp8Family.min_capability, 89);
  EXPECT_EQ(platform_detail::kCutlassBlockFp8Family.min_capability, 90);
  EXPECT_EQ(platform_detail::kCutlassGroupGemmFamily.min_capability, 90);
  EXPECT_EQ(platform_detail::kSparseCutlassFamily.min_capability, 90);
  // Sparse and grouped kernels are never built.
  EXPECT_EQ(platform_detail::kSparseCutlassFamily.num_archs, 0);
  EXPECT_EQ(platform_detail::kCutlassGroupGemmFamily.num_archs, 0);
#if defined(W8A8_WITH_CUDA)
  // cuBLASLt's FP8 matmul: sm_89, sm_90 and every newer arch; its block scaling: sm_90.
  const auto& fp8 = platform_detail::kCutlassFp8Family;
  ASSERT_EQ(fp8.num_archs, 2);
  EXPECT_EQ(fp8.archs[0], 89);
  EXPECT_EQ(fp8.archs[1], 90);
  EXPECT_TRUE(fp8.newer_archs);
  ASSERT_EQ(platform_detail::kCutlassBlockFp8Family.num_archs, 1);
  EXPECT_EQ(platform_detail::kCutlassBlockFp8Family.archs[0], 90);
  EXPECT_FALSE(platform_detail::kCutlassBlockFp8Family.newer_archs);
#else
  EXPECT_EQ(platform_detail::kCutlassFp8Family.num_archs, 0);
  EXPECT_EQ(platform_detail::kCutlassBlockFp8Family.num_archs, 0);
#endif
}

Platform gpu(int capability, const char* name) {
  Platform p;
  p.cuda_built = true;
  p.is_cuda = true;
  p.device_count = 1;
  p.capability = capability;
  p.device_name = name;
  return p;
}

// The rule with simulated devices and builds: condition AND kernels for that arch.
TEST(Platform, CapabilityRule) {
  constexpr KernelFamily fp8_sm90{"cutlass_fp8", "FP8 CUTLASS scaled-mm", 89, {90}, 1};
  constexpr KernelFamily fp8_sm89_90{"cutlass_fp8", "FP8 CUTLASS scaled-mm", 89, {89, 90}, 2};
  constexpr KernelFamily block_sm90{"cutlass_block_fp8", "block-scaled FP8 CUTLASS", 90, {90}, 1};

  const Platform h100 = gpu(90, "NVIDIA H100 80GB HBM3");
  const Platform l40 = gpu(89, "NVIDIA L40S");
  const Platform a100 = gpu(80, "NVIDIA A100");
  const Platform b200 = gpu(100, "NVIDIA B200");

  Capability c = evaluate_capability(h100, fp8_sm90);
  EXPECT_TRUE(c.supported) << c.reason;
  EXPECT_TRUE(contains(c.reason, "sm_90")) << c.reason;

  // Meets vLLM's condition (sm >= 89) but no sm_89 kernels in the build.
  c = evaluate_capability(l40, fp8_sm90);
  EXPECT_FALSE(c.supported);
  EXPECT_TRUE(contains(c.reason, "sm_90 only")) << c.reason;
  EXPECT_TRUE(evaluate_capability(l40, fp8_sm89_90).supported);
  // Block FP8 needs sm >= 90 whatever was built.
  c = evaluate_capability(l40, block_sm90);
  EXPECT_FALSE(c.supported);
  EXPECT_TRUE(contains(c.reason, "needs sm_90")) << c.reason;
  // Below the condition.
  c = evaluate_capability(a100, fp8_sm89_90);
  EXPECT_FALSE(c.supported);
  EXPECT_TRUE(contains(c.reason, "needs sm_89")) << c.reason;
  EXPECT_TRUE(contains(c.reason, "NVIDIA A100")) << c.reason;
  // Newer than every built arch (sm_90a kernels do not run on sm_100).
  c = evaluate_capability(b200, fp8_sm90);
  EXPECT_FALSE(c.supported);
  EXPECT_TRUE(contains(c.reason, "sm_100")) << c.reason;
  // A family whose backend also runs newer archs (cuBLASLt's FP8 matmul) is usable there, and says by what.
  constexpr KernelFamily fp8_newer{"cutlass_fp8", "fused FP8 scaled-mm", 89, {89, 90}, 2, true, "cuBLASLt"};
  c = evaluate_capability(b200, fp8_newer);
  EXPECT_TRUE(c.supported) << c.reason;
  EXPECT_TRUE(contains(c.reason, "(cuBLASLt)")) << c.reason;
  EXPECT_FALSE(evaluate_capability(a100, fp8_newer).supported);
  // A CUDA build without a usable device.
  Platform no_device;
  no_device.cuda_built = true;
  no_device.reason = "no CUDA device found";
  c = evaluate_capability(no_device, fp8_sm90);
  EXPECT_FALSE(c.supported);
  EXPECT_TRUE(contains(c.reason, "no CUDA device")) << c.reason;
  // Sparse: never built, whatever the device.
  c = evaluate_capability(h100, platform_detail::kSparseCutlassFamily);
  EXPECT_FALSE(c.supported);
  EXPECT_EQ(c.reason, "no sparse kernels in this build");
}

}  // namespace
