// Shapes vLLM passes, on the GPU: a 1-D [N] scale_b in every GPU backend and in Fp8LinearOp (bit-equal to
// [N, 1], close to the float64 reference), and cutlass_scaled_mm with a [..., K] activation.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/reference.h"
#include "gpu/gpu_test_util.h"
#include "w8a8/error.h"
#include "w8a8/linear.h"
#include "w8a8/scaled_mm.h"

namespace w8a8 {
namespace {

using gputest::to_cpu;
using gputest::to_gpu;

::testing::AssertionResult same_bytes(const TensorView& gpu_a, const TensorView& gpu_b) {
  return testref::same_bytes(to_cpu(gpu_a), to_cpu(gpu_b));
}

TEST(GpuVllmShapes, OneDimensionalScaleBInEveryBackend) {
  W8A8_REQUIRE_GPU();
  std::mt19937 g(21);
  const int64_t N = 256, K = 512;
  for (int64_t M : {int64_t(1), int64_t(17), int64_t(300)})
    for (bool per_token : {false, true}) {
      Tensor a = Tensor::empty({M, K}, DType::kFloat8E4M3FN), w = Tensor::empty({N, K}, DType::kFloat8E4M3FN);
      testref::fill_random_fp8(a, g);
      testref::fill_random_fp8(w, g);
      const Tensor sa = testref::random_scales(per_token ? Dims{M, 1} : Dims{1}, g);
      const Tensor sb = testref::random_scales({N, 1}, g);
      const auto ref = testref::scaled_mm(a, w.t(), sa, sb, std::nullopt, false);
      const Tensor ag = to_gpu(a), wg = to_gpu(w), sag = to_gpu(sa), sbg = to_gpu(sb);
      const TensorView sb_1d = sbg.view({N});
      for (ScaledMmBackend backend : {ScaledMmBackend::kAuto, ScaledMmBackend::kCublasLt, ScaledMmBackend::kUnfused,
                                      ScaledMmBackend::kCutlass}) {
        SCOPED_TRACE(std::string(backend_name(backend)) + " M=" + std::to_string(M) + (per_token ? " per-token" : ""));
        Tensor out_1d = Tensor::empty({M, N}, DType::kBFloat16, Device::cuda());
        Tensor out_2d = Tensor::empty({M, N}, DType::kBFloat16, Device::cuda());
        gputest::poison(out_1d);
        gputest::poison(out_2d);
        try {
          scaled_mm(out_2d, ag, wg.t(), sag, sbg, std::nullopt, {backend});
        } catch (const Error& e) {
          if (e.kind() != ErrorKind::kUnsupported) throw;
          continue;  // not built here, or cannot run this shape: nothing to compare
        }
        scaled_mm(out_1d, ag, wg.t(), sag, sb_1d, std::nullopt, {backend});
        gputest::sync();
        ASSERT_TRUE(same_bytes(out_1d, out_2d));
        EXPECT_TRUE(testref::matches_reference(to_cpu(out_1d), ref, 4e-3));
      }
      // cutlass_scaled_mm, as vLLM calls it.
      const Tensor c1 = cutlass_scaled_mm(ag, wg.t(), sag, sb_1d, DType::kBFloat16);
      const Tensor c2 = cutlass_scaled_mm(ag, wg.t(), sag, sbg, DType::kBFloat16);
      ASSERT_TRUE(same_bytes(c1, c2));
    }
}

TEST(GpuVllmShapes, Fp8LinearOpWithOneDimensionalWeightScale) {
  W8A8_REQUIRE_GPU();
  std::mt19937 g(22);
  const int64_t N = 192, K = 256;
  Tensor x = testref::random_bias(3 * 5 * K, DType::kBFloat16, g).view({3, 5, K});  // random bf16 values
  Tensor w = Tensor::empty({N, K}, DType::kFloat8E4M3FN);
  testref::fill_random_fp8(w, g);
  const Tensor ws = testref::random_scales({N, 1}, g);
  const Tensor xg = to_gpu(x), wg = to_gpu(w), wsg = to_gpu(ws);
  for (GroupShape gs : {PER_TOKEN, PER_TENSOR}) {
    const Fp8LinearOp op(false, gs);
    const Tensor y_1d = op.apply(xg, wg.t(), wsg.view({N}));
    const Tensor y_2d = op.apply(xg, wg.t(), wsg);
    ASSERT_EQ(y_1d.sizes(), (Dims{3, 5, N}));
    ASSERT_TRUE(same_bytes(y_1d.view({15, N}), y_2d.view({15, N}))) << gs.str();
  }
}

TEST(GpuVllmShapes, CutlassScaledMmLeadingDimensions) {
  W8A8_REQUIRE_GPU();
  std::mt19937 g(23);
  const int64_t N = 128, K = 256;
  Tensor a = Tensor::empty({2, 7, K}, DType::kFloat8E4M3FN), w = Tensor::empty({N, K}, DType::kFloat8E4M3FN);
  testref::fill_random_fp8(a, g);
  testref::fill_random_fp8(w, g);
  const Tensor sa = to_gpu(testref::random_scales({14, 1}, g)), sb = to_gpu(testref::random_scales({N}, g));
  const Tensor ag = to_gpu(a), wg = to_gpu(w);
  const Tensor out = cutlass_scaled_mm(ag, wg.t(), sa, sb, DType::kBFloat16);
  ASSERT_EQ(out.sizes(), (Dims{2, 7, N}));
  const Tensor flat = cutlass_scaled_mm(ag.view({14, K}), wg.t(), sa, sb, DType::kBFloat16);
  ASSERT_TRUE(same_bytes(out.view({14, N}), flat));
}

}  // namespace
}  // namespace w8a8
