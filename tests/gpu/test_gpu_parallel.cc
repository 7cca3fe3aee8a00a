// Tensor-parallel layers on one GPU: an NCCL group of one rank gives the single layer's result, bit for bit
// (column-parallel, gathered) and exactly (row-parallel: a one-rank all-reduce adds nothing). Runs where NCCL is
// built; 2- and 4-rank runs need a multi-GPU machine (issue 8).
#include <gtest/gtest.h>

#include <random>

#include "common/reference.h"
#include "cpu/op_test_helpers.h"
#include "gpu/gpu_test_util.h"
#include "w8a8/parallel.h"

#if __has_include(<nccl.h>)
#include <nccl.h>
#define W8A8_TEST_HAVE_NCCL 1
#endif

namespace w8a8 {
namespace {

using gputest::to_cpu;
using gputest::to_gpu;

TEST(GpuParallel, NcclWorldOfOneMatchesTheSingleLayer) {
  W8A8_REQUIRE_GPU();
  if (!nccl_built()) GTEST_SKIP() << "built without NCCL";
#ifndef W8A8_TEST_HAVE_NCCL
  GTEST_SKIP() << "nccl.h not visible to the tests";
#else
  ncclComm_t nccl = nullptr;
  int device = 0;
  ASSERT_EQ(ncclCommInitAll(&nccl, 1, &device), ncclSuccess);
  {
    auto comm = nccl_communicator(nccl);
    ASSERT_EQ(comm->world_size(), 1);
    std::mt19937 g(40);
    const int64_t M = 17, N = 256, K = 512;
    Tensor w = Tensor::empty({N, K}, DType::kFloat8E4M3FN);
    testref::fill_random_fp8(w, g);
    Tensor scale = testref::random_scales({N, 1}, g);
    Tensor bias = testref::random_bias(N, DType::kBFloat16, g);
    Tensor x = op_test::randn({M, K}, DType::kBFloat16, g());
    Tensor wg = to_gpu(w), sg = to_gpu(scale), bg = to_gpu(bias), xg = to_gpu(x);
    const Fp8LinearOp op(false, PER_TOKEN);
    Tensor ref = Tensor::empty({M, N}, DType::kBFloat16, Device::cuda());
    op.apply(ref, xg, wg.t(), sg, std::nullopt, std::nullopt, TensorView(bg));
    for (ParallelKind kind : {ParallelKind::kColumn, ParallelKind::kRow}) {
      TensorParallelFp8Linear layer(kind, *comm, op, kind == ParallelKind::kColumn);
      Tensor out = Tensor::empty({M, N}, DType::kBFloat16, Device::cuda());
      gputest::poison(out);
      layer.apply(out, xg, wg.t(), sg, std::nullopt, TensorView(bg));
      gputest::sync();
      EXPECT_TRUE(testref::same_bytes(to_cpu(out), to_cpu(ref))) << parallel_kind_name(kind);
    }
  }
  ncclCommDestroy(nccl);
#endif
}

}  // namespace
}  // namespace w8a8
