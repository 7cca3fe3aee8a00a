// Every rejection path of the public scaled_mm entries: the error kind, a message naming the
// argument and what was expected, and an output left untouched (validation precedes any write).
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>

#include "common/reference.h"
#include "scaled_mm/backend.h"
#include "scaled_mm/problem.h"
#include "w8a8/error.h"
#include "w8a8/scaled_mm.h"

namespace w8a8 {
namespace {

::testing::AssertionResult throws_error(const std::function<void()>& f, ErrorKind kind,
                                        std::initializer_list<const char*> parts) {
  try {
    f();
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (e.kind() != kind)
      return ::testing::AssertionFailure() << "wrong error kind " << int(e.kind()) << " (want " << int(kind)
                                           << "): " << msg;
    for (const char* p : parts)
      if (msg.find(p) == std::string::npos)
        return ::testing::AssertionFailure() << "message lacks \"" << p << "\": " << msg;
    return ::testing::AssertionSuccess() << msg;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-w8a8 exception: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

// A valid problem: M = 4, N = 96, K = 256, per-tensor scales, bf16 out; tests break one argument.
class ScaledMmValidation : public ::testing::Test {
 protected:
  static constexpr int64_t M = 4, N = 96, K = 256;
  void SetUp() override {
    std::mt19937 gen(1);
    a_ = Tensor::empty({M, K}, DType::kFloat8E4M3FN);
    w_ = Tensor::empty({N, K}, DType::kFloat8E4M3FN);
    testref::fill_random_fp8(a_, gen);
    testref::fill_random_fp8(w_, gen);
    s_ = testref::random_scales({1}, gen);
    out_ = Tensor::empty({M, N}, DType::kBFloat16);
    testref::poison(out_);
  }
  TensorView a() const { return a_; }
  TensorView b() const { return w_.t(); }
  TensorView s() const { return s_; }
  // scaled_mm into out_ with one argument replaced.
  void run(const TensorView& out, const TensorView& a, const TensorView& b, const TensorView& sa,
           const TensorView& sb, const std::optional<TensorView>& bias = std::nullopt,
           ScaledMmBackend backend = ScaledMmBackend::kAuto) {
    scaled_mm(out, a, b, sa, sb, bias, {backend});
  }
  bool out_untouched() const {
    const uint8_t* p = out_.data_as<const uint8_t>();
    for (size_t i = 0; i < out_.span_bytes(); ++i)
      if (p[i] != 0xFF) return false;
    return true;
  }
  void TearDown() override { EXPECT_TRUE(out_untouched()) << "a rejected call wrote the output"; }

  Tensor a_, w_, s_, out_;
  // Memory that is never read: views "on" other devices or with odd strides point here.
  alignas(64) uint8_t scratch_[4096] = {};
};

// ---- a ----------------------------------------------------------------------------------------------
TEST_F(ScaledMmValidation, RejectsBadA) {
  const TensorView flat(a_.data(), DType::kFloat8E4M3FN, {M * K});
  EXPECT_TRUE(throws_error([&] { run(out_, flat, b(), s(), s()); }, ErrorKind::kValue, {"a: expected a 2-D"}));
  Tensor bf = Tensor::zeros({M, K}, DType::kBFloat16);
  EXPECT_TRUE(throws_error([&] { run(out_, bf, b(), s(), s()); }, ErrorKind::kType,
                           {"a: expected float8_e4m3fn or float8_e4m3fnuz", "bfloat16[4, 256]"}));
  EXPECT_TRUE(throws_error([&] { run(out_, a_.reinterpret(DType::kFloat8E5M2), b(), s(), s()); }, ErrorKind::kType,
                           {"a: expected", "float8_e5m2"}));
  Tensor at = Tensor::empty({K, M}, DType::kFloat8E4M3FN);
  EXPECT_TRUE(throws_error([&] { run(out_, at.t(), b(), s(), s()); }, ErrorKind::kValue,
                           {"a: expected a row-major [M, K] tensor (stride(1) == 1)", "strides [1, 4]"}));
  const TensorView null_a(nullptr, DType::kFloat8E4M3FN, {M, K});
  EXPECT_TRUE(throws_error([&] { run(out_, null_a, b(), s(), s()); }, ErrorKind::kValue,
                           {"a: expected a tensor with data"}));
  const TensorView neg(scratch_, DType::kFloat8E4M3FN, {M, K}, {-K, 1});
  EXPECT_TRUE(throws_error([&] { run(out_, neg, b(), s(), s()); }, ErrorKind::kValue,
                           {"a: expected non-negative strides"}));
}

// ---- b ----------------------------------------------------------------------------------------------
TEST_F(ScaledMmValidation, RejectsBadB) {
  const TensorView b3(w_.data(), DType::kFloat8E4M3FN, {1, K, N}, {N * K, 1, K});
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b3, s(), s()); }, ErrorKind::kValue, {"b: expected a 2-D [K, N]"}));
  EXPECT_TRUE(throws_error([&] { run(out_, a(), w_.reinterpret(DType::kFloat8E4M3FNUZ).t(), s(), s()); },
                           ErrorKind::kType, {"b: expected float8_e4m3fn like a", "float8_e4m3fnuz"}));
  Tensor w128 = Tensor::empty({N, 128}, DType::kFloat8E4M3FN);
  EXPECT_TRUE(throws_error([&] { run(out_, a(), w128.t(), s(), s()); }, ErrorKind::kValue,
                           {"b: expected [K, N] with K=256", "[128, 96]"}));
  Tensor row_major = Tensor::empty({K, N}, DType::kFloat8E4M3FN);
  EXPECT_TRUE(throws_error([&] { run(out_, a(), row_major, s(), s()); }, ErrorKind::kValue,
                           {"b: expected a column-major [K, N] tensor (stride(0) == 1", "strides [96, 1]"}));
  const TensorView on_gpu(scratch_, DType::kFloat8E4M3FN, {N, K}, Device::cuda(0));
  EXPECT_TRUE(throws_error([&] { run(out_, a(), on_gpu.t(), s(), s()); }, ErrorKind::kType,
                           {"b: expected a tensor on cpu like a", "cuda:0"}));
}

// ---- out / out_dtype -----------------------------------------------------------------------------------
TEST_F(ScaledMmValidation, RejectsBadOut) {
  Tensor fp8_out = Tensor::empty({M, N}, DType::kFloat8E4M3FN);
  EXPECT_TRUE(throws_error([&] { run(fp8_out, a(), b(), s(), s()); }, ErrorKind::kType,
                           {"out: expected bfloat16, float16 or float32", "float8_e4m3fn[4, 96]"}));
  EXPECT_TRUE(throws_error([&] { run(out_.narrow(1, 0, N - 1), a(), b(), s(), s()); }, ErrorKind::kValue,
                           {"out: expected [M, N] = [4, 96]", "[4, 95]"}));
  const TensorView col(out_.data(), DType::kBFloat16, {M, N}, {1, M});
  EXPECT_TRUE(throws_error([&] { run(col, a(), b(), s(), s()); }, ErrorKind::kValue,
                           {"out: expected rows with stride(1) == 1"}));
  const TensorView overlap(out_.data(), DType::kBFloat16, {M, N}, {10, 1});
  EXPECT_TRUE(throws_error([&] { run(overlap, a(), b(), s(), s()); }, ErrorKind::kValue,
                           {"out: expected rows that do not overlap (stride(0) >= N=96)"}));
  const TensorView on_gpu(scratch_, DType::kBFloat16, {M, N}, Device::cuda(0));
  EXPECT_TRUE(throws_error([&] { run(on_gpu, a(), b(), s(), s()); }, ErrorKind::kType,
                           {"out: expected a tensor on cpu like a"}));
  EXPECT_TRUE(throws_error([&] { scaled_mm(a(), b(), s(), s(), DType::kInt8); }, ErrorKind::kType,
                           {"out_dtype: expected bfloat16, float16 or float32, got int8"}));
  EXPECT_TRUE(throws_error([&] { cutlass_scaled_mm(a(), b(), s(), s(), DType::kFloat8E4M3FN); }, ErrorKind::kType,
                           {"out_dtype: expected"}));
  EXPECT_TRUE(throws_error([&] { choose_scaled_mm_backend(fp8_out, a(), b(), s(), s()); }, ErrorKind::kType,
                           {"out: expected"}));
}

// ---- scales ------------------------------------------------------------------------------------------
TEST_F(ScaledMmValidation, RejectsBadScaleA) {
  Tensor bf = Tensor::zeros({1}, DType::kBFloat16);
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), bf, s()); }, ErrorKind::kType,
                           {"scale_a: expected float32", "bfloat16[1]"}));
  Tensor wrong = Tensor::zeros({3, 5}, DType::kFloat32);
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), wrong, s()); }, ErrorKind::kValue,
                           {"scale_a: expected one element or [M, 1] with M=4 (float32, contiguous)",
                            "[M, K/128] = [4, 2]", "got float32[3, 5]"}));
  const TensorView strided(scratch_, DType::kFloat32, {M, 1}, {2, 1});
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), strided, s()); }, ErrorKind::kValue,
                           {"scale_a: expected", "strides [2, 1]"}));
  Tensor flat = Tensor::zeros({M}, DType::kFloat32);
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), flat, s()); }, ErrorKind::kValue,
                           {"scale_a: expected", "got float32[4]"}));
  const TensorView on_gpu(scratch_, DType::kFloat32, {1}, Device::cuda(0));
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), on_gpu, s()); }, ErrorKind::kType,
                           {"scale_a: expected a tensor on cpu like a"}));
  // Blockwise scale_a that is neither row- nor column-major.
  const TensorView odd(scratch_, DType::kFloat32, {M, 2}, {4, 2});
  Tensor sb_block = Tensor::zeros({2, 1}, DType::kFloat32);
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), odd, sb_block); }, ErrorKind::kValue,
                           {"scale_a: expected", "row- or column-major", "strides [4, 2]"}));
}

TEST_F(ScaledMmValidation, RejectsBadScaleB) {
  Tensor f16 = Tensor::zeros({1, N}, DType::kFloat16);
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), s(), f16); }, ErrorKind::kType,
                           {"scale_b: expected float32", "float16[1, 96]"}));
  Tensor wrong = Tensor::zeros({3, 5}, DType::kFloat32);
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), s(), wrong); }, ErrorKind::kValue,
                           {"scale_b: expected one element, [N], [1, N] or [N, 1] with N=96 (float32, contiguous)",
                            "got float32[3, 5]"}));
  const TensorView strided(scratch_, DType::kFloat32, {1, N}, {N, 2});
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), s(), strided); }, ErrorKind::kValue,
                           {"scale_b: expected", "strides [96, 2]"}));
  const TensorView on_gpu(scratch_, DType::kFloat32, {N, 1}, Device::cuda(0));
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), s(), on_gpu); }, ErrorKind::kType,
                           {"scale_b: expected a tensor on cpu like a"}));
}

TEST_F(ScaledMmValidation, RejectsMismatchedBlockwiseScales) {
  Tensor sa_block = Tensor::zeros({M, 2}, DType::kFloat32);
  Tensor sb_channel = Tensor::zeros({1, N}, DType::kFloat32);
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), sa_block, sb_channel); }, ErrorKind::kValue,
                           {"scale_b: expected [K/128, ceil(N/128)] = [2, 1]", "blockwise scale_a [4, 2]",
                            "got float32[1, 96]"}));
  Tensor sa_token = Tensor::zeros({M, 1}, DType::kFloat32);
  Tensor sb_block = Tensor::zeros({2, 1}, DType::kFloat32);
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), sa_token, sb_block); }, ErrorKind::kValue,
                           {"scale_a: expected [M, K/128] = [4, 2]", "blockwise scale_b [2, 1]"}));
  Tensor sb_wrong = Tensor::zeros({2, 2}, DType::kFloat32);  // ceil(96 / 128) = 1 column
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), sa_block, sb_wrong); }, ErrorKind::kValue,
                           {"scale_b: expected", "[K/128, ceil(N/128)] = [2, 1]", "got float32[2, 2]"}));
  // K % 128 != 0: no blockwise reading exists.
  Tensor a200 = Tensor::empty({M, 200}, DType::kFloat8E4M3FN), w200 = Tensor::empty({N, 200}, DType::kFloat8E4M3FN);
  EXPECT_TRUE(throws_error([&] { run(out_, a200, w200.t(), sa_block, sb_block); }, ErrorKind::kValue,
                           {"scale_a: expected", "needs K % 128 == 0, K=200"}));
}

// ---- bias -------------------------------------------------------------------------------------------
TEST_F(ScaledMmValidation, RejectsBadBias) {
  Tensor short_bias = Tensor::zeros({N - 1}, DType::kBFloat16);
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), s(), s(), TensorView(short_bias)); }, ErrorKind::kValue,
                           {"bias: expected a 1-D [N] tensor with N=96", "bfloat16[95]"}));
  Tensor bias2d = Tensor::zeros({1, N}, DType::kBFloat16);
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), s(), s(), TensorView(bias2d)); }, ErrorKind::kValue,
                           {"bias: expected a 1-D [N] tensor"}));
  Tensor fp32_bias = Tensor::zeros({N}, DType::kFloat32);
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), s(), s(), TensorView(fp32_bias)); }, ErrorKind::kType,
                           {"bias: expected bfloat16 (the output dtype)", "float32[96]"}));
  const TensorView strided(scratch_, DType::kBFloat16, {N}, {2});
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), s(), s(), strided); }, ErrorKind::kValue,
                           {"bias: expected a contiguous tensor"}));
  const TensorView on_gpu(scratch_, DType::kBFloat16, {N}, Device::cuda(0));
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), s(), s(), on_gpu); }, ErrorKind::kType,
                           {"bias: expected a tensor on cpu like a"}));
  EXPECT_TRUE(throws_error([&] { scaled_mm(a(), b(), s(), s(), DType::kFloat16, TensorView(fp32_bias)); },
                           ErrorKind::kType, {"bias: expected float16 (the output dtype)"}));
}

// ---- backends that cannot run the problem --------------------------------------------------------------
TEST_F(ScaledMmValidation, ExplicitBackendThatCannotRunIsUnsupported) {
  Tensor sa_block = Tensor::zeros({M, 2}, DType::kFloat32);
  Tensor sb_block = Tensor::zeros({2, 1}, DType::kFloat32);
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), sa_block, sb_block, std::nullopt, ScaledMmBackend::kUnfused); },
                           ErrorKind::kUnsupported, {"unfused", "blockwise", "M=4 N=96 K=256"}));
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), s(), s(), std::nullopt, ScaledMmBackend::kCutlass); },
                           ErrorKind::kUnsupported, {"cutlass"}));
  EXPECT_TRUE(throws_error([&] { run(out_, a(), b(), s(), s(), std::nullopt, ScaledMmBackend::kCublasLt); },
                           ErrorKind::kUnsupported, {"cublaslt"}));
}

// Valid arguments on a device no built-in backend serves: an "unsupported" error, not a crash.
TEST_F(ScaledMmValidation, NoBackendForDeviceIsUnsupported) {
  const Device gpu = Device::cuda(0);
  const TensorView ga(scratch_, DType::kFloat8E4M3FN, {M, 8}, gpu);
  const TensorView gw(scratch_, DType::kFloat8E4M3FN, {N, 8}, gpu);
  const TensorView gs(scratch_, DType::kFloat32, {1}, gpu);
  const TensorView gout(scratch_, DType::kBFloat16, {M, N}, gpu);
  const smm::ScaledMmProblem p = smm::validate_scaled_mm(gout, ga, gw.t(), gs, gs, std::nullopt, {});
  for (const smm::Backend* backend : smm::registered_backends())
    if (backend->can_implement(p).ok) GTEST_SKIP() << backend->name << " runs CUDA problems in this build";
  EXPECT_TRUE(throws_error([&] { scaled_mm(gout, ga, gw.t(), gs, gs); }, ErrorKind::kUnsupported,
                           {"no backend can run", "cuda:0", "cpu: needs CPU tensors"}));
}

}  // namespace
}  // namespace w8a8

namespace w8a8 {
namespace {

// options.kernel names a configuration of an explicit backend; everything else is a value error.
TEST(ScaledMmKernelOption, NeedsABackendWithNamedKernels) {
  Tensor a = Tensor::zeros({4, 32}, DType::kFloat8E4M3FN);
  Tensor w = Tensor::zeros({16, 32}, DType::kFloat8E4M3FN);
  Tensor s = Tensor::zeros({1}, DType::kFloat32);
  Tensor out = Tensor::zeros({4, 16}, DType::kBFloat16);
  EXPECT_TRUE(throws_error(
      [&] { scaled_mm(out, a, w.t(), s, s, std::nullopt, ScaledMmOptions{ScaledMmBackend::kAuto, {}, "x"}); },
      ErrorKind::kValue, {"options.kernel", "needs options.backend", "'x'"}));
  EXPECT_TRUE(throws_error(
      [&] { scaled_mm(out, a, w.t(), s, s, std::nullopt, ScaledMmOptions{ScaledMmBackend::kCpu, {}, "x"}); },
      ErrorKind::kValue, {"options.kernel", "backend cpu has no named kernels"}));
  EXPECT_TRUE(scaled_mm_kernels(ScaledMmBackend::kCpu).empty());
  // Without a kernel the same call runs.
  scaled_mm(out, a, w.t(), s, s, std::nullopt, ScaledMmOptions{ScaledMmBackend::kCpu});
}

}  // namespace
}  // namespace w8a8
