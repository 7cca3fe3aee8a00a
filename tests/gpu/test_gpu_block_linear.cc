// W8A8BlockFp8LinearOp on CUDA tensors against the float64 reference (every M from 1: rows padded to the
// blockwise GEMM's multiple in scratch), its out= variant into a poisoned buffer, and graph capture.
#include <gtest/gtest.h>

#include <string>

#include "cpu/block_linear_ref.h"
#include "gpu_test_util.h"
#include "w8a8/linear.h"
#include "w8a8/scaled_mm.h"

namespace {

using namespace w8a8;
using namespace op_test;
using gputest::to_cpu;
using gputest::to_gpu;

TEST(GpuBlockLinear, MatchesFloat64ReferenceEveryM) {
  W8A8_REQUIRE_GPU();
  const BlockwiseLayout layout = blockwise_layout(Device::cuda());
  EXPECT_TRUE(layout.scale_a_column_major);
  EXPECT_EQ(layout.row_multiple, 4);  // cuBLASLt's block scaling
  uint32_t seed = 40;
  for (int64_t M : {int64_t(1), int64_t(2), int64_t(3), int64_t(4), int64_t(5), int64_t(16), int64_t(17),
                    int64_t(33), int64_t(127), int64_t(129)})
    for (auto [N, K] : {std::pair<int64_t, int64_t>{256, 512}, {272, 640}})
      for (DType dt : {DType::kBFloat16, DType::kFloat16}) {
        SCOPED_TRACE("M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) + " " +
                     dtype_name(dt));
        const BlockLinearCase c = make_block_linear_case(M, N, K, dt, M % 2 == 1, ++seed);
        const Tensor x = to_gpu(c.x), w = to_gpu(c.w_nk), s = to_gpu(c.w_scale);
        std::optional<Tensor> bias;
        if (c.bias) bias = to_gpu(*c.bias);
        const std::optional<TensorView> b = bias ? std::optional<TensorView>(*bias) : std::nullopt;
        const W8A8BlockFp8LinearOp op;
        const Tensor y = op.apply(x, w, s, std::nullopt, b);
        ASSERT_TRUE(y.device().is_cuda());
        ASSERT_EQ(y.sizes(), (Dims{M, N}));
        expect_gemm_close(to_cpu(y), c.ref, dt);
        Tensor y_into = Tensor::empty({M, N}, dt, Device::cuda());
        gputest::poison(y_into);
        op.apply_into(y_into, x, w, s, b);
        expect_gemm_close(to_cpu(y_into), c.ref, dt);
        if (HasFatalFailure()) return;
      }
}

// apply_into allocates nothing once warmed up (padded rows included): quantization, GEMM, bias and the copy of
// the padded product are captured in a CUDA graph and replayed on new activations.
TEST(GpuBlockLinear, OutVariantIsGraphCapturable) {
  W8A8_REQUIRE_GPU();
  for (int64_t M : {int64_t(5), int64_t(8)}) {
    SCOPED_TRACE("M=" + std::to_string(M));
    const int64_t N = 256, K = 512;
    const BlockLinearCase c = make_block_linear_case(M, N, K, DType::kBFloat16, true, 77 + uint32_t(M));
    const Tensor w = to_gpu(c.w_nk), s = to_gpu(c.w_scale), bias = to_gpu(*c.bias);
    Tensor x = to_gpu(randn({M, K}, DType::kBFloat16, 5));
    Tensor y = Tensor::empty({M, N}, DType::kBFloat16, Device::cuda());
    const W8A8BlockFp8LinearOp op;
    cudaStream_t st;
    ASSERT_EQ(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), cudaSuccess);
    op.apply_into(y, x, w, s, TensorView(bias), st);  // sizes the scratch, plans the GEMM
    ASSERT_EQ(cudaStreamSynchronize(st), cudaSuccess);
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    ASSERT_EQ(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal), cudaSuccess);
    op.apply_into(y, x, w, s, TensorView(bias), st);
    ASSERT_EQ(cudaStreamEndCapture(st, &graph), cudaSuccess);
    ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    copy(x, c.x, st);  // new activations (the capture ran on others): the reference's
    ASSERT_EQ(cudaMemsetAsync(y.data(), 0xFF, y.span_bytes(), st), cudaSuccess);
    ASSERT_EQ(cudaGraphLaunch(exec, st), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(st), cudaSuccess);
    expect_gemm_close(to_cpu(y), c.ref, DType::kBFloat16);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(st);
  }
}

}  // namespace
