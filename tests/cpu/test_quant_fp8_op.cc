// vLLM's QuantFP8 op: construction rules and what each configuration computes.
#include <gtest/gtest.h>

#include "cpu/quant_test_util.h"
#include "w8a8/quant.h"

namespace w8a8::test {
namespace {

bool same_tensor_bytes(const Tensor& a, const Tensor& b) {
  if (a.sizes() != b.sizes() || a.strides() != b.strides() || a.dtype() != b.dtype()) return false;
  return std::memcmp(a.data(), b.data(), a.span_bytes()) == 0;
}

TEST(QuantFP8Op, ConstructorValidation) {
  EXPECT_NO_THROW(QuantFP8(true, PER_TENSOR));
  EXPECT_NO_THROW(QuantFP8(false, PER_TENSOR, 17));
  EXPECT_NO_THROW(QuantFP8(false, PER_TOKEN, 17));
  EXPECT_NO_THROW(QuantFP8(false, GroupShape{1, 128}, std::nullopt, true, true));
  EXPECT_W8A8_ERROR(QuantFP8(true, PER_TOKEN), ErrorKind::kValue, "group_shape", "PER_TENSOR", "PER_TOKEN");
  EXPECT_W8A8_ERROR(QuantFP8(true, GroupShape{1, 128}), ErrorKind::kValue, "group_shape", "(1, 128)");
  EXPECT_W8A8_ERROR(QuantFP8(false, PER_CHANNEL), ErrorKind::kValue, "group_shape", "PER_CHANNEL");
  EXPECT_W8A8_ERROR(QuantFP8(false, GroupShape{128, 128}), ErrorKind::kValue, "group_shape", "(128, 128)");
  EXPECT_W8A8_ERROR(QuantFP8(false, GroupShape{1, 1}), ErrorKind::kValue, "group_shape");
  EXPECT_W8A8_ERROR(QuantFP8(false, GroupShape{1, 128}, 17), ErrorKind::kValue, "num_token_padding", "(1, 128)");
  EXPECT_W8A8_ERROR(QuantFP8(false, PER_TOKEN, -3), ErrorKind::kValue, "num_token_padding");
  EXPECT_W8A8_ERROR(QuantFP8(false, PER_TENSOR, std::nullopt, true), ErrorKind::kValue, "column_major_scales");
  EXPECT_W8A8_ERROR(QuantFP8(false, PER_TOKEN, std::nullopt, false, true), ErrorKind::kValue, "use_ue8m0");
  EXPECT_W8A8_ERROR(QuantFP8(false, PER_TOKEN, std::nullopt, false, false, DType::kFloat8E5M2), ErrorKind::kType,
                    "fp8_dtype");
  const QuantFP8 op(false, PER_TOKEN, 17, false, false, DType::kFloat8E4M3FNUZ);
  EXPECT_FALSE(op.is_static());
  EXPECT_EQ(op.group_shape(), PER_TOKEN);
  EXPECT_EQ(op.num_token_padding(), std::optional<int64_t>(17));
  EXPECT_EQ(op.fp8_dtype(), DType::kFloat8E4M3FNUZ);
}

TEST(QuantFP8Op, StaticPerTensor) {
  const Input in = make_input(16, 48, DType::kBFloat16, 51);
  Tensor s = Tensor::empty({1}, DType::kFloat32);
  s.data_as<float>()[0] = 0.03f;
  const QuantFP8 op(true, PER_TENSOR);
  auto [q, scale] = op(in.view, TensorView(s));
  auto [q_ref, s_ref] = scaled_fp8_quant(in.view, TensorView(s));
  EXPECT_TRUE(same_tensor_bytes(q, q_ref));
  EXPECT_EQ(scale.data(), s.data());
  EXPECT_W8A8_ERROR(op(in.view), ErrorKind::kValue, "scale", "static", "none");
  EXPECT_W8A8_ERROR(op(in.view, TensorView(s), TensorView(s)), ErrorKind::kValue, "scale_ub", "static");
}

TEST(QuantFP8Op, DynamicPerTensorAndPerTokenWithPadding) {
  for (DType fp8 : fp8_dtypes()) {
    const Input in = make_input(3, 64, DType::kFloat16, 52);
    const QuantFP8 per_tensor(false, PER_TENSOR, 17, false, false, fp8);
    auto [q1, s1] = per_tensor(in.view);
    ASSERT_EQ(q1.sizes(), Dims({17, 64}));
    ASSERT_EQ(s1.numel(), 1);
    EXPECT_EQ(s1.data_as<float>()[0], ref_tensor_scale(ref_amax(in, 0, 3, 0, 64), fp8));
    for (int64_t i = 3 * 64; i < 17 * 64; ++i) EXPECT_EQ(q1.data_as<uint8_t>()[i], 0);

    const QuantFP8 per_token(false, PER_TOKEN, 17, false, false, fp8);
    Tensor ub = Tensor::empty({1}, DType::kFloat32);
    ub.data_as<float>()[0] = 1.0f;
    auto [q2, s2] = per_token(in.view, std::nullopt, TensorView(ub));
    ASSERT_EQ(q2.sizes(), Dims({17, 64}));
    ASSERT_EQ(s2.sizes(), Dims({17, 1}));
    auto [q_ref, s_ref] = scaled_fp8_quant(in.view, std::nullopt, 17, TensorView(ub), true, std::nullopt, fp8);
    EXPECT_TRUE(same_tensor_bytes(q2, q_ref));
    EXPECT_TRUE(same_tensor_bytes(s2, s_ref));
    for (int64_t m = 0; m < 3; ++m)
      EXPECT_EQ(s2.data_as<float>()[m], ref_token_scale(ref_amax(in, m, m + 1, 0, 64), 1.0, fp8));
    for (int64_t m = 3; m < 17; ++m) EXPECT_EQ(s2.data_as<float>()[m], 1.0f);

    Tensor s = Tensor::empty({1}, DType::kFloat32);
    EXPECT_W8A8_ERROR(per_token(in.view, TensorView(s)), ErrorKind::kValue, "scale", "dynamic");
    EXPECT_W8A8_ERROR(per_tensor(in.view, std::nullopt, TensorView(ub)), ErrorKind::kValue, "scale_ub",
                      "PER_TENSOR");
  }
}

TEST(QuantFP8Op, GroupQuantization) {
  const Input in = make_input(5, 256, DType::kBFloat16, 53);
  for (bool column_major : {false, true})
    for (bool ue8m0 : {false, true}) {
      const QuantFP8 op(false, GroupShape{1, 128}, std::nullopt, column_major, ue8m0);
      auto [q, s] = op(in.view);
      auto [q_ref, s_ref] = per_token_group_quant_fp8(in.view, 128, column_major, ue8m0);
      EXPECT_TRUE(same_tensor_bytes(q, q_ref));
      EXPECT_EQ(s.sizes(), Dims({5, 2}));
      EXPECT_EQ(s.stride(0), column_major ? 1 : 2);
      EXPECT_TRUE(same_tensor_bytes(s, s_ref));
      for (int64_t m = 0; m < 5; ++m)
        for (int64_t g = 0; g < 2; ++g)
          EXPECT_EQ(s.data_as<float>()[m * s.stride(0) + g * s.stride(1)],
                    ref_group_scale(ref_amax(in, m, m + 1, g * 128, g * 128 + 128), 1e-10, DType::kFloat8E4M3FN,
                                    ue8m0));
    }
  const QuantFP8 op(false, GroupShape{1, 128});
  Tensor s = Tensor::empty({1}, DType::kFloat32);
  EXPECT_W8A8_ERROR(op(in.view, TensorView(s)), ErrorKind::kValue, "scale", "always dynamic");
  EXPECT_W8A8_ERROR(op(in.view, std::nullopt, TensorView(s)), ErrorKind::kValue, "scale_ub");
  // K = 200 with G = 128: a short last group of 72 (vLLM's native path pads it with zeros), K columns out.
  const Input odd = make_input(2, 200, DType::kBFloat16, 54);
  auto [q, s2] = op(odd.view);
  EXPECT_EQ(q.sizes(), Dims({2, 200}));
  ASSERT_EQ(s2.sizes(), Dims({2, 2}));
  for (int64_t m = 0; m < 2; ++m) {
    EXPECT_EQ(s2.data_as<float>()[m * 2 + 1],
              ref_group_scale(ref_amax(odd, m, m + 1, 128, 200), 1e-10, DType::kFloat8E4M3FN, false));
    const Output out{q, q, 2, 200, 200};
    EXPECT_TRUE(expect_quantized(odd, out, m, m + 1, 128, 200, s2.data_as<float>()[m * 2 + 1], DType::kFloat8E4M3FN,
                                 "short group"));
  }
}

}  // namespace
}  // namespace w8a8::test
