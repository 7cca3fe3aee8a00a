// vLLM's scaled_fp8_quant: mode selection, allocation, token padding, output=, and its rejections.
#include <gtest/gtest.h>

#include "cpu/quant_test_util.h"
#include "w8a8/quant.h"

namespace w8a8::test {
namespace {

Output as_output(const Tensor& q) {
  Output o;
  o.storage = q;
  o.view = q;
  o.rows = q.size(0);
  o.cols = q.size(1);
  o.ld = q.stride(0);
  return o;
}
Tensor one_float(float v, Dims sizes = {1}) {
  Tensor t = Tensor::empty(sizes, DType::kFloat32);
  t.data_as<float>()[0] = v;
  return t;
}
const double kInf = std::numeric_limits<double>::infinity();

TEST(QuantScaledFp8Quant, StaticPerTensorReturnsTheGivenScale) {
  for (DType fp8 : fp8_dtypes()) {
    const Input in = make_input(17, 100, DType::kBFloat16, 41, 2);
    Tensor s = one_float(0.02f);
    auto [q, scale] = scaled_fp8_quant(in.view, TensorView(s), std::nullopt, std::nullopt, false, std::nullopt, fp8);
    EXPECT_EQ(scale.data(), s.data());
    EXPECT_EQ(q.dtype(), fp8);
    EXPECT_EQ(q.sizes(), Dims({17, 100}));
    EXPECT_TRUE(expect_quantized(in, as_output(q), 0, 17, 0, 100, 0.02f, fp8, "static"));
  }
}

TEST(QuantScaledFp8Quant, DynamicPerTensor) {
  const Input in = make_input(33, 70, DType::kFloat16, 42);
  auto [q, scale] = scaled_fp8_quant(in.view);
  EXPECT_EQ(scale.sizes(), Dims({1}));
  EXPECT_EQ(q.dtype(), DType::kFloat8E4M3FN);
  const float want = ref_tensor_scale(ref_amax(in, 0, 33, 0, 70), DType::kFloat8E4M3FN);
  EXPECT_EQ(scale.data_as<float>()[0], want);
  EXPECT_TRUE(expect_quantized(in, as_output(q), 0, 33, 0, 70, want, DType::kFloat8E4M3FN, "dynamic"));
}

TEST(QuantScaledFp8Quant, DynamicPerTokenWithPaddingAndScaleUb) {
  for (DType fp8 : fp8_dtypes()) {
    const Input in = make_input(3, 64, DType::kFloat32, 43);
    Tensor ub = one_float(float(ref_amax(in, 1, 2, 0, 64) / 2));
    auto [q, scale] = scaled_fp8_quant(in.view, std::nullopt, 17, TensorView(ub), true, std::nullopt, fp8);
    ASSERT_EQ(q.sizes(), Dims({17, 64}));
    ASSERT_EQ(scale.sizes(), Dims({17, 1}));
    for (int64_t m = 0; m < 3; ++m) {
      const float want = ref_token_scale(ref_amax(in, m, m + 1, 0, 64), ub.data_as<float>()[0], fp8);
      EXPECT_EQ(scale.data_as<float>()[m], want);
      EXPECT_TRUE(expect_quantized(in, as_output(q), m, m + 1, 0, 64, want, fp8, "per-token padded"));
    }
    for (int64_t m = 3; m < 17; ++m) {
      EXPECT_EQ(scale.data_as<float>()[m], 1.0f);
      for (int64_t k = 0; k < 64; ++k) EXPECT_EQ(q.data_as<uint8_t>()[m * 64 + k], 0);
    }
  }
}

TEST(QuantScaledFp8Quant, PaddingSmallerThanMIsIgnored) {
  const Input in = make_input(20, 10, DType::kBFloat16, 44);
  auto [q, scale] = scaled_fp8_quant(in.view, std::nullopt, 17, std::nullopt, true);
  EXPECT_EQ(q.sizes(), Dims({20, 10}));
  EXPECT_EQ(scale.sizes(), Dims({20, 1}));
  auto [q0, s0] = scaled_fp8_quant(in.view, std::nullopt, 0);
  EXPECT_EQ(q0.sizes(), Dims({20, 10}));
}

TEST(QuantScaledFp8Quant, StaticWithPadding) {
  const Input in = make_input(2, 30, DType::kFloat32, 45);
  Tensor s = one_float(0.5f);
  auto [q, scale] = scaled_fp8_quant(in.view, TensorView(s), 5);
  ASSERT_EQ(q.sizes(), Dims({5, 30}));
  EXPECT_EQ(scale.data(), s.data());
  EXPECT_TRUE(expect_quantized(in, as_output(q), 0, 2, 0, 30, 0.5f, DType::kFloat8E4M3FN, "static padded"));
  for (int64_t i = 2 * 30; i < 5 * 30; ++i) EXPECT_EQ(q.data_as<uint8_t>()[i], 0);
  // Static per-token [M, 1] with padding: the returned scale grows to [M_out, 1] with ones.
  Tensor per_token = Tensor::empty({2, 1}, DType::kFloat32);
  per_token.data_as<float>()[0] = 0.25f;
  per_token.data_as<float>()[1] = 4.0f;
  auto [q2, scale2] = scaled_fp8_quant(in.view, TensorView(per_token), 4);
  ASSERT_EQ(q2.sizes(), Dims({4, 30}));
  ASSERT_EQ(scale2.sizes(), Dims({4, 1}));
  const float want[4] = {0.25f, 4.0f, 1.0f, 1.0f};
  for (int m = 0; m < 4; ++m) EXPECT_EQ(scale2.data_as<float>()[m], want[m]);
  EXPECT_TRUE(expect_quantized(in, as_output(q2), 0, 1, 0, 30, 0.25f, DType::kFloat8E4M3FN, "row 0"));
  EXPECT_TRUE(expect_quantized(in, as_output(q2), 1, 2, 0, 30, 4.0f, DType::kFloat8E4M3FN, "row 1"));
  for (int64_t i = 2 * 30; i < 4 * 30; ++i) EXPECT_EQ(q2.data_as<uint8_t>()[i], 0);
}

TEST(QuantScaledFp8Quant, WritesIntoOutput) {
  const Input in = make_input(15, 40, DType::kBFloat16, 46);
  const Output out = make_output(15, 40, DType::kFloat8E4M3FNUZ, 8);
  auto [q, scale] = scaled_fp8_quant(in.view, std::nullopt, std::nullopt, std::nullopt, true, out.view,
                                     DType::kFloat8E4M3FNUZ);
  EXPECT_EQ(q.data(), out.view.data());
  EXPECT_EQ(q.stride(0), 48);
  for (int64_t m = 0; m < 15; ++m) {
    const float want = ref_token_scale(ref_amax(in, m, m + 1, 0, 40), kInf, DType::kFloat8E4M3FNUZ);
    EXPECT_EQ(scale.data_as<float>()[m], want);
    EXPECT_TRUE(expect_quantized(in, out, m, m + 1, 0, 40, want, DType::kFloat8E4M3FNUZ, "output="));
  }
  EXPECT_TRUE(out.gaps_untouched());
}

TEST(QuantScaledFp8Quant, Rejections) {
  const Input in = make_input(4, 8, DType::kFloat32, 47);
  Tensor s = one_float(1.0f);
  Tensor ub = one_float(10.0f);
  const Output out = make_output(4, 8, DType::kFloat8E4M3FN);
  // scale_ub outside dynamic per-token.
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, TensorView(s), std::nullopt, TensorView(ub), true), ErrorKind::kValue,
                    "scale_ub", "static scale");
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, std::nullopt, std::nullopt, TensorView(ub), false), ErrorKind::kValue,
                    "scale_ub", "per-tensor");
  Tensor ub2 = Tensor::empty({2, 1}, DType::kFloat32);
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, std::nullopt, std::nullopt, TensorView(ub2), true), ErrorKind::kValue,
                    "scale_ub: expected one float32 element, got float32[2, 1] strides [1, 1] on cpu");
  Tensor ub_half = Tensor::empty({1}, DType::kFloat16);
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, std::nullopt, std::nullopt, TensorView(ub_half), true),
                    ErrorKind::kType, "scale_ub", "float16[1]");
  // output= with padding, wrong dtype, wrong shape.
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, std::nullopt, 8, std::nullopt, false, out.view), ErrorKind::kValue,
                    "output", "num_token_padding");
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, std::nullopt, 0, std::nullopt, false, out.view), ErrorKind::kValue,
                    "output", "num_token_padding");
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, std::nullopt, std::nullopt, std::nullopt, false, out.view,
                                     DType::kFloat8E4M3FNUZ),
                    ErrorKind::kType, "output", "float8_e4m3fnuz", "float8_e4m3fn[4, 8]");
  const Output tall = make_output(5, 8, DType::kFloat8E4M3FN);
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, std::nullopt, std::nullopt, std::nullopt, false, tall.view),
                    ErrorKind::kValue, "output", "[4, 8]", "[5, 8]");
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, std::nullopt, -1), ErrorKind::kValue, "num_token_padding");
  // scale shapes and dtypes.
  Tensor s3 = Tensor::empty({3}, DType::kFloat32);
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, TensorView(s3)), ErrorKind::kValue, "scale", "[4, 1]", "float32[3]");
  Tensor s51 = Tensor::empty({5, 1}, DType::kFloat32);
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, TensorView(s51)), ErrorKind::kValue, "scale", "[4, 1]");
  Tensor s_bf = Tensor::empty({1}, DType::kBFloat16);
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, TensorView(s_bf)), ErrorKind::kType, "scale", "bfloat16");
  // fp8_dtype.
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, std::nullopt, std::nullopt, std::nullopt, false, std::nullopt,
                                     DType::kFloat8E5M2),
                    ErrorKind::kType, "fp8_dtype", "float8_e5m2");
  // input dtype, rank, layout.
  Tensor i32 = Tensor::empty({4, 8}, DType::kInt32);
  EXPECT_W8A8_ERROR(scaled_fp8_quant(i32), ErrorKind::kType, "input", "int32[4, 8]");
  Tensor r3 = Tensor::empty({2, 2, 8}, DType::kFloat32);
  EXPECT_W8A8_ERROR(scaled_fp8_quant(r3), ErrorKind::kValue, "input", "2-D", "[2, 2, 8]");
  Tensor r1 = Tensor::empty({8}, DType::kFloat32);
  EXPECT_W8A8_ERROR(scaled_fp8_quant(r1), ErrorKind::kValue, "input", "2-D");
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.storage.t()), ErrorKind::kValue, "input", "stride(1) == 1");
}

TEST(QuantScaledFp8Quant, DeviceRejections) {
  float dummy[64] = {};
#ifndef W8A8_WITH_CUDA  // in a CUDA build these fake device pointers would reach the kernels
  const TensorView on_gpu(dummy, DType::kFloat32, {4, 8}, Device::cuda(0));
  EXPECT_W8A8_ERROR(scaled_fp8_quant(on_gpu), ErrorKind::kUnsupported, "input", "CUDA backend is not built",
                    "cuda:0");
#endif
  const Input in = make_input(4, 8, DType::kFloat32, 48);
  const TensorView scale_gpu(dummy, DType::kFloat32, {1}, Device::cuda(0));
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, scale_gpu), ErrorKind::kType, "scale", "cuda:0", "cpu");
  const TensorView ub_gpu(dummy, DType::kFloat32, {1}, Device::cuda(0));
  EXPECT_W8A8_ERROR(scaled_fp8_quant(in.view, std::nullopt, std::nullopt, ub_gpu, true), ErrorKind::kType,
                    "scale_ub", "cuda:0");
#ifndef W8A8_WITH_CUDA
  const TensorView x_gpu(dummy, DType::kBFloat16, {4, 128}, Device::cuda(1));
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8(x_gpu, 128), ErrorKind::kUnsupported, "x", "CUDA backend");
  EXPECT_W8A8_ERROR(per_block_quant_fp8(x_gpu), ErrorKind::kUnsupported, "weight", "CUDA backend");
#endif
}

}  // namespace
}  // namespace w8a8::test
