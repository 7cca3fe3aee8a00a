// w8a8's promoted FP8 mainloops: the TMA + WGMMA consumer loop of CUTLASS's warp-specialized collective with
// a promotion to fp32 registers after every 128-deep k-tile (torch's default accuracy, the spec's 3e-4) that
// does not leave the tensor cores idle.
//
// Why: CUTLASS's FP8 mainloop adds its WGMMA accumulator into fp32 registers with `warpgroup_wait<0>` first,
// so every promotion drains the warp group's WGMMAs; in the cooperative kernels both warp groups read the same
// shared-memory stage and drain together, and the tensor cores idle for the FADDs plus the refill (measured:
// 8192^3 1066-1138 us promoted against 826 us fast, docs/perf-notes.md). Two ways around it, one per scheme:
//
//  - overlap: two temporary accumulators. k-tile t's WGMMAs go into temp[t % 2]; `warpgroup_wait<1>` then
//    waits for k-tile t-1 only, whose temporary is added while k-tile t runs. Costs a third accumulator set
//    (3 x 64 registers a thread for a 64x128 warp-group tile; larger warp-group tiles do not fit).
//  - stagger: one temporary, but in the cooperative kernel the second warp group promotes half a k-tile out
//    of phase with the first (its groups are k-blocks 2-3 of tile t plus 0-1 of tile t+1), so while one
//    warp group adds, the other's WGMMAs keep the tensor cores busy. Same registers as CUTLASS's mainloop.
//
// Both keep the base collective's contract: every k-tile's stage is released except the last, which the
// base's mma_tail releases after `warpgroup_wait<0>`. Everything else (TMA loads, shared storage, params)
// is the base collective's: this derives from the fast-accumulation collective the builder makes and
// replaces only mma().
//
// Measured (H200, 2026-12-05, docs/benchmarks.md): correct to cuBLASLt's promoted digits; overlap recovers about
// half of the promotion cost on 128x128 (8192^3 1134-1154 us vs CUTLASS 1200-1217, fast 1063-1073), stagger
// nothing; neither beats cuBLASLt's promoted kernels, so both stay candidates (configs.h).
#pragma once

#include <cute/tensor.hpp>
#include <cutlass/cutlass.h>

namespace w8a8::smm::cutlass_sm90 {

enum class Promotion { overlap, stagger };

template <class Base, Promotion kPromotion>
struct PromotedMainloop : Base {
  using typename Base::MainloopPipeline;
  using typename Base::Params;
  using typename Base::PipelineState;
  using typename Base::SmemLayoutA;
  using typename Base::SmemLayoutB;
  using typename Base::TensorStorage;
  using typename Base::TiledMma;

  template <class FrgTensorC>
  CUTLASS_DEVICE void mma(MainloopPipeline pipeline, PipelineState smem_pipe_read, FrgTensorC& accum,
                          int k_tile_count, int thread_idx, TensorStorage& shared_tensors, Params const&) {
    using namespace cute;
    static_assert(is_rmem<FrgTensorC>::value, "accumulators must live in registers");
    static_assert(Base::K_PIPE_MMAS == 1, "mma_tail of the base releases exactly the last stage");
    auto sA = make_tensor(make_smem_ptr(shared_tensors.smem_A.data()), SmemLayoutA{});  // (BLK_M,BLK_K,PIPE)
    auto sB = make_tensor(make_smem_ptr(shared_tensors.smem_B.data()), SmemLayoutB{});  // (BLK_N,BLK_K,PIPE)
    constexpr int kWarpGroups = size(TiledMma{}) / cutlass::NumThreadsPerWarpGroup;
    const int warp_group = __shfl_sync(0xFFFFFFFF, thread_idx / cutlass::NumThreadsPerWarpGroup, 0);
    TiledMma tiled_mma;
    const auto warp_groups = make_layout(Int<kWarpGroups>{}, Int<cutlass::NumThreadsPerWarpGroup>{});
    auto thread_mma = tiled_mma.get_slice(warp_groups(warp_group));
    auto tCrA = thread_mma.make_fragment_A(thread_mma.partition_A(sA));  // (MMA,MMA_M,MMA_K,PIPE) descriptors
    auto tCrB = thread_mma.make_fragment_B(thread_mma.partition_B(sB));  // (MMA,MMA_N,MMA_K,PIPE)
    constexpr int kBlocks = decltype(size<2>(tCrA))::value;  // WGMMAs per k-tile (K 32 each)

    PipelineState smem_pipe_release = smem_pipe_read;
    auto wait_stage = [&]() {
      auto token = pipeline.consumer_try_wait(smem_pipe_read);
      pipeline.consumer_wait(smem_pipe_read, token);
    };
    auto release_stage = [&]() {
      pipeline.consumer_release(smem_pipe_release);
      ++smem_pipe_release;
    };
    // WGMMAs over k-blocks [first, last) of `stage` into `acc`; the first one overwrites acc when `fresh`.
    auto gemm_blocks = [&](auto& acc, int stage, int first, int last, bool fresh) {
      tiled_mma.accumulate_ = fresh ? GMMA::ScaleOut::Zero : GMMA::ScaleOut::One;
      CUTLASS_PRAGMA_UNROLL
      for (int k_block = 0; k_block < kBlocks; ++k_block) {
        if (k_block < first || k_block >= last) continue;
        cute::gemm(tiled_mma, tCrA(_, _, k_block, stage), tCrB(_, _, k_block, stage), acc);
        tiled_mma.accumulate_ = GMMA::ScaleOut::One;
      }
    };
    // One whole k-tile into `acc` (overwritten), committed as one batch.
    auto issue_tile = [&](auto& acc) {
      wait_stage();
      warpgroup_fence_operand(acc);
      warpgroup_arrive();
      gemm_blocks(acc, smem_pipe_read.index(), 0, kBlocks, true);
      warpgroup_commit_batch();
      warpgroup_fence_operand(acc);
      ++smem_pipe_read;
    };
    auto promote = [&](auto& temp) {
      warpgroup_fence_operand(temp);
      warpgroup_fence_operand(accum);
      CUTLASS_PRAGMA_UNROLL
      for (int i = 0; i < size(accum); ++i) accum(i) += temp(i);
      warpgroup_fence_operand(accum);
    };

    // ptxas serializes every WGMMA (warning C7514/C7515) when a register set is both a WGMMA accumulator and
    // written by other instructions, or when registers are materialized between WGMMAs in flight: so the
    // fp32 accumulator only ever receives FADDs, and every set is defined (and fenced, so the compiler
    // cannot fold them into one shared zero) before the first WGMMA.
    clear(accum);
    warpgroup_fence_operand(accum);
    auto temp = make_fragment_like(accum);
    clear(temp);
    warpgroup_fence_operand(temp);
    if constexpr (kPromotion == Promotion::overlap) {
      auto temp2 = make_fragment_like(accum);
      clear(temp2);
      warpgroup_fence_operand(temp2);
      issue_tile(temp);  // k-tile 0
      // Two k-tiles per trip so both temporaries keep compile-time register names. On entry k-tile t-1 is
      // in flight in `temp`.
      int t = 1;
      CUTLASS_PRAGMA_NO_UNROLL
      for (; t + 1 < k_tile_count; t += 2) {
        issue_tile(temp2);
        warpgroup_wait<1>();  // k-tile t-1 done, t in flight
        promote(temp);
        release_stage();
        issue_tile(temp);
        warpgroup_wait<1>();
        promote(temp2);
        release_stage();
      }
      if (t < k_tile_count) {  // the last k-tile
        issue_tile(temp2);
        warpgroup_wait<1>();
        promote(temp);
        release_stage();
        warpgroup_wait<0>();
        promote(temp2);
      } else {
        warpgroup_wait<0>();
        promote(temp);
      }
    } else if (kWarpGroups < 2 || warp_group % 2 == 0) {
      // In phase: k-tile t into the temporary, wait, add (CUTLASS's scheme with promotion every k-tile).
      for (int left = k_tile_count; left > 0; --left) {
        issue_tile(temp);
        warpgroup_wait<0>();
        promote(temp);
        if (left > 1) release_stage();  // the last stage is mma_tail's
      }
    } else {
      // Half a k-tile out of phase: k-blocks [0, h) of tile 0 alone, then groups of [h, kBlocks) of tile t
      // with [0, h) of tile t+1, then [h, kBlocks) of the last tile.
      constexpr int h = kBlocks / 2;
      static_assert(h > 0, "staggered promotion needs at least two WGMMAs per k-tile");
      wait_stage();
      int stage = smem_pipe_read.index();
      ++smem_pipe_read;
      warpgroup_fence_operand(temp);
      warpgroup_arrive();
      gemm_blocks(temp, stage, 0, h, true);
      warpgroup_commit_batch();
      warpgroup_wait<0>();
      promote(temp);
      CUTLASS_PRAGMA_NO_UNROLL
      for (int left = k_tile_count; left > 0; --left) {
        warpgroup_fence_operand(temp);
        warpgroup_arrive();
        gemm_blocks(temp, stage, h, kBlocks, true);
        if (left > 1) {
          wait_stage();
          stage = smem_pipe_read.index();
          ++smem_pipe_read;
          warpgroup_arrive();
          gemm_blocks(temp, stage, 0, h, false);
        }
        warpgroup_commit_batch();
        warpgroup_wait<0>();
        promote(temp);
        if (left > 1) release_stage();  // the previous k-tile's stage; the last one is mma_tail's
      }
    }
    warpgroup_fence_operand(accum);
  }
};

}  // namespace w8a8::smm::cutlass_sm90
