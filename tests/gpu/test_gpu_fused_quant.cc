// Fp8LinearOp's fused decode path (scaled_mm/fused_quant.h, the gemv_quant configurations): the activation is
// quantized inside the GEMM kernel. Its codes and scales are scaled_fp8_quant's, bit for bit; its output is the
// unfused path's on the same weight-streaming kernel, bit for bit; and the op's results match the float64
// reference, in both apply() forms (graph capture: GpuLinear.OutVariantIsGraphCapturable). Skips without a device or without w8a8's sm_90a kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/reference.h"
#include "cpu/op_test_helpers.h"
#include "gpu_test_util.h"
#include "scaled_mm/fused_quant.h"
#include "w8a8/linear.h"
#include "w8a8/platform.h"
#include "w8a8/quant.h"
#include "w8a8/scaled_mm.h"

namespace {

using namespace w8a8;
using namespace op_test;
using gputest::to_cpu;
using gputest::to_gpu;
using Act = smm::FusedQuantArgs::Act;

using gputest::FusedPolicy;
using testref::same_bytes;

bool have_fused_kernels() {
  for (const std::string& k : scaled_mm_kernels(ScaledMmBackend::kCutlass))
    if (k.find("gemv") != std::string::npos) return current_platform().capability == 90;
  return false;
}
#define W8A8_REQUIRE_FUSED()                                                        \
  do {                                                                              \
    W8A8_REQUIRE_GPU();                                                             \
    if (!have_fused_kernels()) GTEST_SKIP() << "needs w8a8's sm_90a kernels on sm_90"; \
  } while (0)

const char* act_str(Act a) {
  return a == Act::kStatic ? "static" : a == Act::kDynamicPerTensor ? "dynamic per-tensor" : "dynamic per-token";
}

// Runs f on the fused path (policy on) with its output, codes and scales written into poisoned buffers shaped like
// the unfused path's, and expects the three byte for byte equal to q_ref, s_ref and y_ref.
void expect_fused_matches(smm::FusedQuantArgs f, const Tensor& q_ref, const Tensor& s_ref, const Tensor& y_ref) {
  Tensor codes = Tensor::empty(q_ref.sizes(), q_ref.dtype(), Device::cuda());
  Tensor scales = Tensor::empty(s_ref.sizes(), DType::kFloat32, Device::cuda());
  Tensor y = Tensor::empty(y_ref.sizes(), y_ref.dtype(), Device::cuda());
  gputest::poison(codes, 0x55);
  gputest::poison(scales);
  gputest::poison(y);
  f.out = y;
  f.codes = codes.data_as<uint8_t>();
  f.scales = scales.data_as<float>();
  const FusedPolicy on(FusedActivationQuant::kOn);
  ASSERT_TRUE(smm::run_fused_quant_if_chosen(f)) << smm::fused_quant_decision(f);
  gputest::sync();
  EXPECT_TRUE(same_bytes(to_cpu(codes), to_cpu(q_ref))) << "the fused kernel's codes differ from the quantizer's";
  EXPECT_TRUE(same_bytes(to_cpu(scales), to_cpu(s_ref))) << "the fused kernel's scales differ from the quantizer's";
  EXPECT_TRUE(same_bytes(to_cpu(y), to_cpu(y_ref))) << "the fused output differs from the unfused path's";
}

// One case: the fused call with its codes and scales copied out, against scaled_fp8_quant on the same input and
// the gemv configuration on those codes.
void check_case(Act act, DType dtype, int64_t M, int64_t N, int64_t K, bool ub, bool fast, bool nan_row,
                uint32_t seed) {
  SCOPED_TRACE(std::string(act_str(act)) + " " + dtype_name(dtype) + " M=" + std::to_string(M) + " N=" +
               std::to_string(N) + " K=" + std::to_string(K) + (ub ? " scale_ub" : "") + (fast ? " fast" : "") +
               (nan_row ? " NaN row" : ""));
  const RefWeight w = make_weight(N, K, /*per_channel=*/true, seed);
  Tensor x = randn({M, K}, dtype, seed + 1);
  if (nan_row) {  // one NaN in the last row: its codes and scale are NaN, the other rows untouched
    const uint16_t nan_bits = dtype == DType::kBFloat16 ? 0x7FC0 : 0x7E00;
    static_cast<uint16_t*>(x.data())[(M - 1) * K + 5] = nan_bits;
  }
  const Tensor x_gpu = to_gpu(x), w_gpu = to_gpu(w.w_nk), ws_gpu = to_gpu(weight_scale_tensor(w));
  const Tensor bias_gpu = to_gpu(randn({N}, dtype, seed + 2, 0.5f));
  const std::vector<float> xv = values(x);
  float amax = 0.f;
  for (float v : xv) amax = std::isnan(v) ? amax : std::max(amax, std::fabs(v));
  const Tensor static_scale = to_gpu(scalar_tensor(amax / 448.0f * 1.25f));
  const Tensor ub_gpu = to_gpu(scalar_tensor(amax / 448.0f * 0.5f));  // binds on most rows

  // Unfused: scaled_fp8_quant's entries, then the gemv configuration of the same accumulation on its codes.
  Tensor q_ref = Tensor::empty({M, K}, DType::kFloat8E4M3FN, Device::cuda());
  const bool per_token = act == Act::kDynamicPerToken;
  Tensor s_ref = Tensor::empty(per_token ? Dims{M, 1} : Dims{1}, DType::kFloat32, Device::cuda());
  if (act == Act::kStatic) {
    static_scaled_fp8_quant(q_ref, x_gpu, static_scale);
    gputest::sync();
    s_ref = to_gpu(to_cpu(static_scale));
  } else if (per_token) {
    dynamic_per_token_scaled_fp8_quant(q_ref, x_gpu, s_ref, ub ? std::optional<TensorView>(ub_gpu) : std::nullopt);
  } else {
    dynamic_scaled_fp8_quant(q_ref, x_gpu, s_ref);
  }
  const std::string gemv = std::string(dtype == DType::kBFloat16 ? "bf16" : "fp16") + "_16x8x1024_c1x1_gemv" +
                           (fast ? "_fast" : "") + "_swap";
  Tensor y_ref = Tensor::empty({M, N}, dtype, Device::cuda());
  gputest::poison(y_ref);
  scaled_mm(y_ref, q_ref, w_gpu.t(), s_ref, ws_gpu, TensorView(bias_gpu),
            ScaledMmOptions(ScaledMmBackend::kCutlass, fast ? Accumulation::kFast : Accumulation::kPromoted, gemv));

  // Fused: the same input, output, codes and scales compared byte for byte.
  smm::FusedQuantArgs f;
  f.x = x_gpu;
  f.b = w_gpu.t();
  f.scale_b = ws_gpu;
  f.bias = TensorView(bias_gpu);
  f.act = act;
  f.static_scale = act == Act::kStatic ? static_scale.data_as<const float>() : nullptr;
  f.scale_ub = ub ? ub_gpu.data_as<const float>() : nullptr;
  f.accumulation = fast ? Accumulation::kFast : Accumulation::kPromoted;
  expect_fused_matches(f, q_ref, s_ref, y_ref);
}

TEST(GpuFusedQuant, CodesScalesAndOutputAreTheUnfusedPathsBitForBit) {
  W8A8_REQUIRE_FUSED();
  uint32_t seed = 300;
  for (Act act : {Act::kDynamicPerToken, Act::kDynamicPerTensor, Act::kStatic})
    for (DType dtype : {DType::kBFloat16, DType::kFloat16})
      for (int64_t M : {int64_t(1), int64_t(2), int64_t(7), int64_t(8), int64_t(9), int64_t(16), int64_t(17)})
        for (bool fast : {false, true}) {
          check_case(act, dtype, M, 384, 4096, false, fast, false, ++seed);
          if (HasFatalFailure()) return;
        }
  // K not a multiple of 64 (lanes past K), a long K, the scale upper bound, a NaN.
  check_case(Act::kDynamicPerToken, DType::kBFloat16, 5, 256, 1040, false, false, false, ++seed);
  check_case(Act::kDynamicPerToken, DType::kBFloat16, 3, 128, 28672, false, false, false, ++seed);
  check_case(Act::kDynamicPerToken, DType::kBFloat16, 9, 256, 2048, true, false, false, ++seed);
  check_case(Act::kDynamicPerToken, DType::kFloat16, 4, 256, 2048, false, false, true, ++seed);
  check_case(Act::kDynamicPerTensor, DType::kBFloat16, 4, 256, 2048, false, false, true, ++seed);
}

// W8A8BlockFp8LinearOp's fused path: 1x128 group codes and scales are per_token_group_quant_fp8's, the output the
// unfused blockwise decode kernel's on them, bit for bit; the op's result matches the float64 reference.
TEST(GpuFusedQuant, BlockGroupsAreTheUnfusedPathsBitForBit) {
  W8A8_REQUIRE_FUSED();
  std::mt19937 gen(500);
  const FusedPolicy on(FusedActivationQuant::kOn);
  for (DType dtype : {DType::kBFloat16, DType::kFloat16})
    for (int64_t M : {int64_t(1), int64_t(3), int64_t(8), int64_t(9), int64_t(16)})
      for (auto [N, K] : {std::pair<int64_t, int64_t>{256, 1024}, {400, 7168}}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " M=" + std::to_string(M) + " N=" + std::to_string(N) +
                     " K=" + std::to_string(K));
        const int64_t L = K / 128, NB = (N + 127) / 128;
        Tensor w = Tensor::empty({N, K}, DType::kFloat8E4M3FN);
        testref::fill_random_fp8(w, gen);
        const Tensor ws = testref::random_scales({NB, L}, gen);
        const Tensor x = randn({M, K}, dtype, uint32_t(gen()));
        const Tensor bias = randn({N}, dtype, uint32_t(gen()), 0.5f);
        const Tensor w_gpu = to_gpu(w), ws_gpu = to_gpu(ws), x_gpu = to_gpu(x), b_gpu = to_gpu(bias);
        // Unfused: the group quantization, then the blockwise decode kernel on its codes.
        Tensor q_ref = Tensor::empty({M, K}, DType::kFloat8E4M3FN, Device::cuda());
        Tensor s_ref = Tensor::empty({M, L}, DType::kFloat32, Device::cuda());
        per_token_group_quant_fp8_into(q_ref, s_ref, x_gpu, 128, 1e-10, false);
        Tensor y_ref = Tensor::empty({M, N}, dtype, Device::cuda());
        gputest::poison(y_ref);
        scaled_mm(y_ref, q_ref, w_gpu.t(), s_ref, ws_gpu.t(), TensorView(b_gpu),
                  ScaledMmOptions(ScaledMmBackend::kCutlass, Accumulation::kDefault,
                                  std::string(dtype == DType::kBFloat16 ? "bf16" : "fp16") +
                                      "_16x8x1024_c1x1_gemv_block_swap"));
        // Fused: the same input, output, codes and scales compared byte for byte.
        smm::FusedQuantArgs f;
        f.x = x_gpu;
        f.b = w_gpu.t();
        f.scale_b = ws_gpu.t();
        f.bias = TensorView(b_gpu);
        f.act = Act::kDynamicGroup;
        expect_fused_matches(f, q_ref, s_ref, y_ref);
        // The op on the fused path against the float64 reference.
        const W8A8BlockFp8LinearOp op;
        const Tensor y_op = op.apply(x_gpu, w_gpu, ws_gpu, std::nullopt, TensorView(b_gpu));
        Tensor q_cpu = to_cpu(q_ref), s_cpu = to_cpu(s_ref);
        const auto ref = testref::scaled_mm(q_cpu, Tensor(w).t(), s_cpu, Tensor(ws).t(), TensorView(bias), true);
        EXPECT_TRUE(testref::matches_reference(to_cpu(y_op), ref, dtype == DType::kBFloat16 ? 8e-3 : 2e-3));
        if (HasFailure()) return;
      }
}

// Fp8LinearOp with the policy on: both apply() forms against the float64 reference (poisoned outputs, bias,
// [B, T, K] input), and what cannot run fused (fp32 output, K % 16 != 0) still runs, unfused.
TEST(GpuFusedQuant, LayerMatchesTheReferenceAndFallsBack) {
  W8A8_REQUIRE_FUSED();
  const FusedPolicy on(FusedActivationQuant::kOn);
  for (int64_t K : {int64_t(2048), int64_t(264)})
    for (int64_t M : {int64_t(1), int64_t(6), int64_t(16)}) {
      SCOPED_TRACE("M=" + std::to_string(M) + " K=" + std::to_string(K));
      const int64_t N = 192;
      const RefWeight w = make_weight(N, K, true, uint32_t(40 + M + K));
      const Tensor x = randn({M, K}, DType::kBFloat16, uint32_t(41 + M + K));
      const Tensor bias = randn({N}, DType::kBFloat16, uint32_t(42 + M), 0.5f);
      std::vector<double> bias_values;
      for (float v : values(bias)) bias_values.push_back(v);
      const RefQuant xq = ref_quant_per_row(values(x), M, K);
      const std::vector<double> ref = ref_matmul(
          M, N, K, [&](int64_t m, int64_t k) { return xq.dq(m, k); },
          [&](int64_t n, int64_t k) { return w.q.dq(n, k); }, bias_values);
      const Tensor w_gpu = to_gpu(w.w_nk), ws = to_gpu(weight_scale_tensor(w)), x_gpu = to_gpu(x),
                   b_gpu = to_gpu(bias);
      const Fp8LinearOp op(false, PER_TOKEN);
      const Tensor y = op.apply(x_gpu.view({1, M, K}), w_gpu.t(), ws, std::nullopt, std::nullopt, std::nullopt,
                                TensorView(b_gpu));
      ASSERT_EQ(y.sizes(), (Dims{1, M, N}));
      expect_gemm_close(to_cpu(y).view({M, N}), ref, DType::kBFloat16, gemm_tolerance(DType::kBFloat16));
      Tensor y_into = Tensor::empty({M, N}, DType::kBFloat16, Device::cuda());
      gputest::poison(y_into);
      op.apply(y_into, x_gpu, w_gpu.t(), ws, std::nullopt, std::nullopt, TensorView(b_gpu));
      expect_gemm_close(to_cpu(y_into), ref, DType::kBFloat16, gemm_tolerance(DType::kBFloat16));
      Tensor y32 = Tensor::empty({M, N}, DType::kFloat32, Device::cuda());  // fp32 out: no fused kernel
      gputest::poison(y32);
      op.apply(y32, x_gpu, w_gpu.t(), ws);
      const std::vector<double> ref_nobias = ref_matmul(
          M, N, K, [&](int64_t m, int64_t k) { return xq.dq(m, k); },
          [&](int64_t n, int64_t k) { return w.q.dq(n, k); }, {});
      expect_gemm_close(to_cpu(y32), ref_nobias, DType::kFloat32, 3e-4);
    }
}

// The decision: off and auto (nothing measured yet) keep the unfused path; on takes it where a kernel can; the
// reason names what refused.
TEST(GpuFusedQuant, PolicyDecides) {
  W8A8_REQUIRE_FUSED();
  const Tensor x = to_gpu(randn({4, 256}, DType::kBFloat16, 7));
  const Tensor w = to_gpu(make_weight(128, 256, true, 8).w_nk), ws = to_gpu(scalar_tensor(0.01f));
  Tensor y = Tensor::empty({4, 128}, DType::kBFloat16, Device::cuda());
  smm::FusedQuantArgs f;
  f.out = y;
  f.x = x;
  f.b = w.t();
  f.scale_b = ws;
  {
    const FusedPolicy off(FusedActivationQuant::kOff);
    EXPECT_FALSE(smm::fused_quant_chosen(f));
    EXPECT_NE(smm::fused_quant_decision(f).find("off"), std::string::npos);
  }
  {
    const FusedPolicy automatic(FusedActivationQuant::kAuto);
    EXPECT_FALSE(smm::fused_quant_chosen(f)) << smm::fused_quant_decision(f);
  }
  const FusedPolicy on(FusedActivationQuant::kOn);
  EXPECT_TRUE(smm::fused_quant_chosen(f)) << smm::fused_quant_decision(f);
  Tensor y32 = Tensor::empty({4, 128}, DType::kFloat32, Device::cuda());
  f.out = y32;
  EXPECT_FALSE(smm::fused_quant_chosen(f));
  EXPECT_NE(smm::fused_quant_decision(f).find("dtype"), std::string::npos) << smm::fused_quant_decision(f);
}


}  // namespace
