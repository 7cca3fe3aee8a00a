// W8A8BlockFp8LinearOp (vLLM's block FP8 linear layer) on CPU tensors against the float64 reference, its
// argument errors, and the blockwise layout the CPU reports.
#include <gtest/gtest.h>

#include "cpu/block_linear_ref.h"
#include "w8a8/linear.h"
#include "w8a8/scaled_mm.h"

namespace {

using namespace w8a8;
using namespace op_test;

TEST(BlockLinear, MatchesFloat64ReferenceEveryM) {
  uint32_t seed = 10;
  for (int64_t M : {int64_t(1), int64_t(2), int64_t(3), int64_t(4), int64_t(15), int64_t(17), int64_t(33)})
    for (auto [N, K] : {std::pair<int64_t, int64_t>{256, 512}, {200, 384}})
      for (DType dt : {DType::kBFloat16, DType::kFloat32}) {
        SCOPED_TRACE("M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) + " " +
                     dtype_name(dt));
        const BlockLinearCase c = make_block_linear_case(M, N, K, dt, M % 2 == 1, ++seed);
        const W8A8BlockFp8LinearOp op;
        const std::optional<TensorView> bias = c.bias ? std::optional<TensorView>(*c.bias) : std::nullopt;
        const Tensor y = op.apply(c.x, c.w_nk, c.w_scale, std::nullopt, bias);
        ASSERT_EQ(y.sizes(), (Dims{M, N}));
        ASSERT_EQ(y.dtype(), dt);
        expect_gemm_close(y, c.ref, dt, dt == DType::kFloat32 ? 1e-5 : 0);
        // The allocation-free variant, and a 3-D input viewed as [..., K].
        Tensor y3 = Tensor::zeros({1, M, N}, dt);
        op.apply_into(y3, c.x.view({1, M, K}), c.w_nk, c.w_scale, bias);
        expect_gemm_close(y3.view({M, N}), c.ref, dt, dt == DType::kFloat32 ? 1e-5 : 0);
      }
}

TEST(BlockLinear, ArgumentErrorsNameTheArgument) {
  const BlockLinearCase c = make_block_linear_case(4, 256, 256, DType::kBFloat16, false, 3);
  const W8A8BlockFp8LinearOp op;
  EXPECT_W8A8_ERROR(W8A8BlockFp8LinearOp(GroupShape{64, 64}), ErrorKind::kValue, "weight_group_shape");
  EXPECT_W8A8_ERROR(W8A8BlockFp8LinearOp(GroupShape{128, 128}, PER_TOKEN), ErrorKind::kValue,
                    "act_quant_group_shape");
  EXPECT_W8A8_ERROR(op.apply(c.x, c.w_nk, Tensor::zeros({2, 1}, DType::kFloat32)), ErrorKind::kValue,
                    "weight_scale: expected [ceil(N/128), K/128] = [2, 2]");
  EXPECT_W8A8_ERROR(op.apply(c.x, c.w_nk.t(), c.w_scale), ErrorKind::kValue, "weight");
  EXPECT_W8A8_ERROR(op.apply(c.x.narrow(1, 0, 128), c.w_nk, c.w_scale), ErrorKind::kValue, "input: expected the last");
  EXPECT_W8A8_ERROR(op.apply(c.x, c.w_nk, c.w_scale, scalar_tensor(1.0f)), ErrorKind::kValue, "input_scale");
  const Tensor x8 = Tensor::zeros({4, 256}, DType::kFloat8E4M3FN);
  EXPECT_W8A8_ERROR(op.apply(x8, c.w_nk, c.w_scale), ErrorKind::kType, "input: expected bfloat16");
  const Tensor w100 = Tensor::zeros({256, 100}, DType::kFloat8E4M3FN);
  EXPECT_W8A8_ERROR(op.apply(c.x.narrow(1, 0, 100), w100, c.w_scale), ErrorKind::kValue, "multiple of 128");
  const Tensor bias32 = Tensor::zeros({256}, DType::kFloat32);
  EXPECT_W8A8_ERROR(op.apply(c.x, c.w_nk, c.w_scale, std::nullopt, TensorView(bias32)), ErrorKind::kType, "bias");
  Tensor out = Tensor::zeros({4, 255}, DType::kBFloat16);
  EXPECT_W8A8_ERROR(op.apply_into(out, c.x, c.w_nk, c.w_scale), ErrorKind::kValue, "out: expected shape");
}

TEST(BlockLinear, CpuReadsAnyBlockwiseLayout) {
  const BlockwiseLayout layout = blockwise_layout(Device::cpu());
  EXPECT_EQ(layout.row_multiple, 1);
  EXPECT_FALSE(layout.scale_a_column_major);
}

}  // namespace
