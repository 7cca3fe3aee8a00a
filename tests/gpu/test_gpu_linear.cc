// Fp8LinearOp and the dispatch strategies on CUDA tensors, against the float64 reference of the
// CPU tests (spec sections 4 and 7). Skips without a device.
#include <gtest/gtest.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cpu/op_test_helpers.h"
#include "gpu_test_util.h"
#include "w8a8/dispatch.h"
#include "w8a8/linear.h"
#include "w8a8/platform.h"
#include "w8a8/scaled_mm.h"

namespace {

using namespace w8a8;
using namespace op_test;
using gputest::to_cpu;
using gputest::to_gpu;

// fp32 output with promoted accumulation on the GPU (spec section 7).
double gpu_tolerance(DType out) { return out == DType::kFloat32 ? 3e-4 : gemm_tolerance(out); }

TEST(GpuLinear, PlatformOnDevice) {
  W8A8_REQUIRE_GPU();
  const Platform& p = current_platform();
  EXPECT_TRUE(p.cuda_built);
  EXPECT_TRUE(p.is_cuda) << p.reason;
  EXPECT_GT(p.device_count, 0);
  EXPECT_GT(p.capability, 0);
  EXPECT_NE(p.device_name, "cpu");
  std::printf("device %s, sm_%d, %d device(s)\n", p.device_name.c_str(), p.capability, p.device_count);
  for (const Capability& c : {cutlass_fp8_capability(), cutlass_block_fp8_capability(),
                              cutlass_group_gemm_capability(), sparse_cutlass_capability()})
    std::printf("  %s: %s\n", c.supported ? "yes" : "no", c.reason.c_str());
  const Fp8LinearOp op(false);
  std::printf("  Fp8LinearOp preferred_backend %s, output_padding %s\n", op.preferred_backend().c_str(),
              op.output_padding() ? std::to_string(*op.output_padding()).c_str() : "none");
  EXPECT_NE(op.preferred_backend(), "cpu");
  EXPECT_EQ(op.preferred_backend(), cutlass_fp8_supported() ? "cutlass" : "torch");
  // The capability queries tell the truth on a device with a fused FP8 GEMM (sm_89 and newer; blockwise on sm_90):
  // the op takes the "cutlass" strategy and pads nothing.
  if (p.capability >= 89) {
    EXPECT_TRUE(cutlass_fp8_supported()) << cutlass_fp8_capability().reason;
    EXPECT_EQ(op.preferred_backend(), "cutlass");
    EXPECT_FALSE(op.output_padding().has_value());
  }
  if (p.capability == 90) {
    EXPECT_TRUE(cutlass_block_fp8_supported()) << cutlass_block_fp8_capability().reason;
  }
  EXPECT_FALSE(cutlass_group_gemm_supported());
  EXPECT_FALSE(sparse_cutlass_supported());
}

// The one decision: aligned problems of every scale pairing run a fused GEMM (never the unfused path), the choice
// says why, and it is made once (the same answer, cached) whichever entry asks.
TEST(GpuDispatch, AlignedProblemsRunFusedAndTheDecisionIsCached) {
  W8A8_REQUIRE_GPU();
  if (current_platform().capability < 89) GTEST_SKIP() << "no FP8 matrix instructions";
  for (int64_t M : {int64_t(1), int64_t(16), int64_t(128), int64_t(512), int64_t(4096)})
    for (auto [a, b] : {std::pair<ScaleKind, ScaleKind>{ScaleKind::kPerTensor, ScaleKind::kPerTensor},
                        {ScaleKind::kPerToken, ScaleKind::kPerChannel},
                        {ScaleKind::kPerTensor, ScaleKind::kPerChannel},
                        {ScaleKind::kBlock, ScaleKind::kBlock}})
      for (Accumulation acc : {Accumulation::kDefault, Accumulation::kFast}) {
        if (a == ScaleKind::kBlock && (acc == Accumulation::kFast || current_platform().capability != 90)) continue;
        ScaledMmShape shape;
        shape.m = M;
        shape.n = 8192;
        shape.k = 8192;
        shape.scale_a = a;
        shape.scale_b = b;
        shape.device = Device::cuda();
        const ScaledMmOptions options(ScaledMmBackend::kAuto, acc);
        const BackendChoice c = choose_scaled_mm_backend(shape, options);
        SCOPED_TRACE(c.str());
        EXPECT_TRUE(c.backend == ScaledMmBackend::kCutlass || c.backend == ScaledMmBackend::kCublasLt);
        EXPECT_EQ(c.accumulation, acc == Accumulation::kFast ? Accumulation::kFast : Accumulation::kPromoted);
        EXPECT_NE(c.reason.find("M=" + std::to_string(M)), std::string::npos);
        if (c.backend == ScaledMmBackend::kCutlass) {
          EXPECT_FALSE(c.kernel.empty());
          EXPECT_GT(c.measured_us, 0.0);  // a table (or tuning cache) row chose it
        }
        const BackendChoice again = choose_scaled_mm_backend(shape, options);
        EXPECT_EQ(again.str(), c.str());
      }
}

// Fp8LinearOp's accumulation reaches the GEMM: fast accumulation within its (looser) bound, promoted within fp32's.
TEST(GpuLinear, AccumulationPolicyReachesTheGemm) {
  W8A8_REQUIRE_GPU();
  const int64_t M = 64, N = 256, K = 4096;
  const RefWeight w = make_weight(N, K, true, 91);
  const Tensor x = randn({M, K}, DType::kFloat32, 92);
  const RefQuant xq = ref_quant_per_row(values(x), M, K);
  const std::vector<double> ref = ref_matmul(
      M, N, K, [&](int64_t m, int64_t k) { return xq.dq(m, k); }, [&](int64_t n, int64_t k) { return w.q.dq(n, k); },
      {});
  const Tensor w_gpu = to_gpu(w.w_nk), ws = to_gpu(weight_scale_tensor(w)), x_gpu = to_gpu(x);
  for (Accumulation acc : {Accumulation::kDefault, Accumulation::kPromoted, Accumulation::kFast}) {
    const Fp8LinearOp op(false, PER_TOKEN, std::nullopt, false, acc);
    EXPECT_EQ(op.accumulation(), acc == Accumulation::kFast ? Accumulation::kFast : Accumulation::kPromoted);
    Tensor y = Tensor::empty({M, N}, DType::kFloat32, Device::cuda());
    gputest::poison(y);
    op.apply(y, x_gpu, w_gpu.t(), ws);
    expect_gemm_close(to_cpu(y), ref, DType::kFloat32, acc == Accumulation::kFast ? 3e-3 : 3e-4);
  }
}

enum class Act { kStatic, kDynamicPerTensor, kDynamicPerToken };

void run_gpu_case(Act act, bool per_channel, int64_t M, std::optional<bool> pad, DType out, bool with_bias,
                  int64_t K, int64_t N, uint32_t seed) {
  SCOPED_TRACE("act=" + std::to_string(int(act)) + " per_channel=" + std::to_string(per_channel) + " M=" +
               std::to_string(M) + " pad=" + (pad ? (*pad ? "true" : "false") : "none") + " out=" +
               dtype_name(out) + (with_bias ? " +bias" : "") + " K=" + std::to_string(K) + " N=" + std::to_string(N));
  const RefWeight w = make_weight(N, K, per_channel, seed);
  const Tensor x = randn({M, K}, out, seed + 1);
  const std::vector<float> xv = values(x);
  std::optional<Tensor> bias;
  std::vector<double> bias_values;
  if (with_bias) {
    bias = randn({N}, out, seed + 2, 0.5f);
    for (float v : values(*bias)) bias_values.push_back(v);
  }
  RefQuant xq;
  std::optional<Tensor> input_scale;
  if (act == Act::kStatic) {
    const float s = amax(xv, 0, xv.size()) / kFp8Max * 1.25f;
    xq = ref_quant_static(xv, M, K, s);
    input_scale = to_gpu(scalar_tensor(s));
  } else if (act == Act::kDynamicPerTensor) {
    xq = ref_quant_dynamic_per_tensor(xv, M, K);
  } else {
    xq = ref_quant_per_row(xv, M, K);
  }
  const Fp8LinearOp op(act == Act::kStatic, act == Act::kDynamicPerToken ? PER_TOKEN : PER_TENSOR, pad);
  const Tensor w_gpu = to_gpu(w.w_nk);
  const Tensor ws_gpu = to_gpu(weight_scale_tensor(w));
  const Tensor x_gpu = to_gpu(x);
  std::optional<Tensor> bias_gpu;
  if (bias) bias_gpu = to_gpu(*bias);
  const Tensor y = op.apply(x_gpu, w_gpu.t(), ws_gpu, std::nullopt,
                            input_scale ? std::optional<TensorView>(*input_scale) : std::nullopt, std::nullopt,
                            bias_gpu ? std::optional<TensorView>(*bias_gpu) : std::nullopt);
  ASSERT_TRUE(y.device().is_cuda());
  ASSERT_EQ(y.sizes(), (Dims{M, N}));
  const Tensor y_cpu = to_cpu(y);
  const std::vector<double> ref = ref_matmul(
      M, N, K, [&](int64_t m, int64_t k) { return xq.dq(m, k); }, [&](int64_t n, int64_t k) { return w.q.dq(n, k); },
      bias_values);
  expect_gemm_close(y_cpu, ref, out, gpu_tolerance(out));

  // The allocation-free variant into a poisoned caller buffer: same reference, same tolerance.
  Tensor y_into = Tensor::empty({M, N}, out, Device::cuda());
  ASSERT_EQ(cudaMemset(y_into.data(), 0xFF, y_into.span_bytes()), cudaSuccess);
  op.apply(y_into, x_gpu, w_gpu.t(), ws_gpu, input_scale ? std::optional<TensorView>(*input_scale) : std::nullopt,
           std::nullopt, bias_gpu ? std::optional<TensorView>(*bias_gpu) : std::nullopt);
  expect_gemm_close(to_cpu(y_into), ref, out, gpu_tolerance(out));
}

// One graph-captured out= call of the layer, replayed on new activations, against the float64 reference.
void check_graph_replay() {
  const int64_t M = 5, K = 256, N = 128;
  const RefWeight w = make_weight(N, K, /*per_channel=*/true, 71);
  const Fp8LinearOp op(false, PER_TOKEN);
  const Tensor w_gpu = to_gpu(w.w_nk), ws_gpu = to_gpu(weight_scale_tensor(w));
  Tensor x_gpu = to_gpu(randn({M, K}, DType::kBFloat16, 72));
  Tensor y = Tensor::empty({M, N}, DType::kBFloat16, Device::cuda());
  const Tensor x2 = randn({M, K}, DType::kBFloat16, 73);
  gputest::capture_and_replay(
      [&](cudaStream_t s) { op.apply(y, x_gpu, w_gpu.t(), ws_gpu, std::nullopt, std::nullopt, std::nullopt, s); },
      [&](cudaStream_t s) {
        copy(x_gpu, x2, s);  // new activations in the captured buffer, a poisoned output
        ASSERT_EQ(cudaMemsetAsync(y.data(), 0xFF, y.span_bytes(), s), cudaSuccess);
      });
  const RefQuant xq = ref_quant_per_row(values(x2), M, K);
  const std::vector<double> ref = ref_matmul(
      M, N, K, [&](int64_t m, int64_t k) { return xq.dq(m, k); }, [&](int64_t n, int64_t k) { return w.q.dq(n, k); },
      {});
  expect_gemm_close(to_cpu(y), ref, DType::kBFloat16, gpu_tolerance(DType::kBFloat16));
}

// apply(out, ...) allocates nothing once warmed up: the whole layer (quantization + GEMM) is captured
// in a CUDA graph and replayed on new input values; unfused, and on the fused path where this build has it.
TEST(GpuLinear, OutVariantIsGraphCapturable) {
  W8A8_REQUIRE_GPU();
  for (FusedActivationQuant policy : {FusedActivationQuant::kAuto, FusedActivationQuant::kOn}) {
    SCOPED_TRACE(policy == FusedActivationQuant::kOn ? "fused quantization on" : "fused quantization auto");
    const gputest::FusedPolicy scoped(policy);
    check_graph_replay();
  }
}

TEST(GpuLinear, EndToEnd) {
  W8A8_REQUIRE_GPU();
  uint32_t seed = 1;
  for (Act act : {Act::kStatic, Act::kDynamicPerTensor, Act::kDynamicPerToken})
    for (bool per_channel : {false, true})
      for (int64_t m : {int64_t(1), int64_t(3), int64_t(16), int64_t(17), int64_t(33), int64_t(129)})
        for (std::optional<bool> pad : {std::optional<bool>(), std::optional<bool>(true), std::optional<bool>(false)})
          for (DType out : {DType::kBFloat16, DType::kFloat16}) {
            run_gpu_case(act, per_channel, m, pad, out, m % 2 == 1, 256, 192, ++seed);
            if (HasFatalFailure()) return;
          }
}

// K, N not multiples of 16 (cuBLASLt cannot run them: the torch strategies fall back) and fp32 out.
TEST(GpuLinear, UnalignedAndFloat32) {
  W8A8_REQUIRE_GPU();
  uint32_t seed = 500;
  for (Act act : {Act::kStatic, Act::kDynamicPerTensor, Act::kDynamicPerToken})
    for (bool per_channel : {false, true})
      for (int64_t m : {int64_t(1), int64_t(17), int64_t(40)})
        for (DType out : {DType::kBFloat16, DType::kFloat32}) {
          run_gpu_case(act, per_channel, m, std::nullopt, out, true, 200, 88, ++seed);
          run_gpu_case(act, per_channel, m, std::nullopt, out, true, 128, 96, ++seed);
          if (HasFatalFailure()) return;
        }
}

TEST(GpuDispatch, StrategiesOnCudaTensors) {
  W8A8_REQUIRE_GPU();
  struct S {
    W8A8ScaledMmFn fn;
    bool per_token, per_channel;
  };
  const S strategies[] = {
      {&torch_per_tensor_w8a8_scaled_mm, false, false}, {&torch_per_token_w8a8_scaled_mm, true, true},
      {&torch_channelwise_w8a8_scaled_mm, true, true},  {&torch_channelwise_w8a8_scaled_mm, false, true},
      {&torch_channelwise_w8a8_scaled_mm, true, false}, {&cutlass_w8a8_scaled_mm, true, true},
      {&cutlass_w8a8_scaled_mm, false, false},
  };
  uint32_t seed = 900;
  for (const S& s : strategies)
    for (int64_t rows : {int64_t(1), int64_t(5), int64_t(17), int64_t(33)})
      for (DType out : {DType::kBFloat16, DType::kFloat16}) {
        SCOPED_TRACE(std::string(scaled_mm_fn_name(s.fn)) + " rows=" + std::to_string(rows) +
                     (s.per_token ? " per-token" : " per-tensor") + (s.per_channel ? " x per-channel" : "") +
                     " out=" + dtype_name(out));
        const int64_t K = 128, N = 64, padded = std::max<int64_t>(rows, 17);
        const std::vector<float> x = values(randn({rows, K}, DType::kFloat32, ++seed));
        const RefQuant a = s.per_token ? ref_quant_per_row(x, rows, K) : ref_quant_dynamic_per_tensor(x, rows, K);
        const RefWeight w = make_weight(N, K, s.per_channel, ++seed);
        const Tensor bias = randn({N}, out, ++seed, 0.5f);
        std::vector<double> bias_values;
        for (float v : values(bias)) bias_values.push_back(v);
        const Tensor qa = to_gpu(fp8_tensor(a, padded, 0x30)), sa = to_gpu(scale_tensor(a, padded));
        const Tensor qw = to_gpu(w.w_nk), sw = to_gpu(scale_tensor(w.q)), b = to_gpu(bias);
        const Tensor y = s.fn(qa, qw.t(), out, sa, sw, TensorView(b), rows, {1, rows, N}, nullptr);
        ASSERT_EQ(y.sizes(), (Dims{1, rows, N}));
        const std::vector<double> ref = ref_matmul(
            rows, N, K, [&](int64_t m, int64_t k) { return a.dq(m, k); },
            [&](int64_t n, int64_t k) { return w.q.dq(n, k); }, bias_values);
        expect_gemm_close(to_cpu(y), ref, out, gpu_tolerance(out));
      }
  // The CPU strategy does not take CUDA tensors.
  const Tensor qa = to_gpu(Tensor::zeros({17, 32}, DType::kFloat8E4M3FN));
  const Tensor qw = to_gpu(Tensor::zeros({16, 32}, DType::kFloat8E4M3FN));
  const Tensor one = to_gpu(scalar_tensor(1.0f));
  EXPECT_W8A8_ERROR(cpu_w8a8_scaled_mm(qa, qw.t(), DType::kBFloat16, one, one, std::nullopt, 3, {3, 16}, nullptr),
                    ErrorKind::kUnsupported, "cpu");
}

}  // namespace
