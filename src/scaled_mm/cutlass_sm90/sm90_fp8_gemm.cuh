// w8a8's Hopper FP8 GEMM (CUTLASS 3.x / CuTe, sm_90a): TMA + warp-specialized persistent mainloop and a
// fused epilogue  out = scale_a ⊙ (acc ⊙ scale_b) + bias, cast to the output type.
//
// One kernel serves the four scale pairings: the scale broadcasts are "dynamic" (a run-time bool in the
// stride says vector or scalar), so per-tensor, per-token x per-channel and the mixed cases share code.
//
// Swap-AB (small M): the kernel computes Dᵀ = W · Xᵀ, so the weight's N rows fill the 64-row WGMMA and the
// few tokens become the narrow N side of the tile. Dᵀ column-major is D row-major, so the output needs
// no transpose; the per-token scale becomes a row broadcast and the per-channel scale and bias column
// broadcasts. The arithmetic per element is the same in both orientations.
#pragma once

#include <cute/tensor.hpp>
#include <cutlass/cutlass.h>
#include <cutlass/epilogue/collective/collective_builder.hpp>
#include <cutlass/epilogue/fusion/sm90_callbacks_tma_warpspecialized.hpp>
#include <cutlass/gemm/collective/collective_builder.hpp>
#include <cutlass/gemm/device/gemm_universal_adapter.h>
#include <cutlass/gemm/kernel/gemm_universal.hpp>

#include "scaled_mm/cutlass_sm90/configs.h"
#include "scaled_mm/cutlass_sm90/promoted_mainloop.cuh"

namespace w8a8::smm::cutlass_sm90 {

using namespace cute;

template <Out> struct OutElement;
template <> struct OutElement<Out::bf16> { using type = cutlass::bfloat16_t; };
template <> struct OutElement<Out::fp16> { using type = cutlass::half_t; };
template <> struct OutElement<Out::fp32> { using type = float; };

// Mainloop + epilogue schedule of each Sched. "fast" = FP8 fast accumulation; pingpong / coop promote the
// WGMMA accumulator to fp32 registers periodically (CUTLASS's FP8 mainloop), as torch's default does;
// *_overlap / *_stagger promote every k-tile in w8a8's own mainloop (promoted_mainloop.cuh), built on the
// fast-accumulation collective. Wrap turns the builder's collective into the one the kernel runs.
struct CutlassMainloop {
  template <class Collective> using Wrap = Collective;
};
template <Promotion kPromotion> struct OwnMainloop {
  template <class Collective> using Wrap = PromotedMainloop<Collective, kPromotion>;
};
template <Sched> struct Schedules;
template <> struct Schedules<Sched::pingpong_fast> : CutlassMainloop {
  using Mainloop = cutlass::gemm::KernelTmaWarpSpecializedPingpongFP8FastAccum;
  using Epilogue = cutlass::epilogue::TmaWarpSpecialized;
};
template <> struct Schedules<Sched::pingpong> : CutlassMainloop {
  using Mainloop = cutlass::gemm::KernelTmaWarpSpecializedPingpong;
  using Epilogue = cutlass::epilogue::TmaWarpSpecialized;
};
template <> struct Schedules<Sched::coop_fast> : CutlassMainloop {
  using Mainloop = cutlass::gemm::KernelTmaWarpSpecializedCooperativeFP8FastAccum;
  using Epilogue = cutlass::epilogue::TmaWarpSpecializedCooperative;
};
template <> struct Schedules<Sched::coop> : CutlassMainloop {
  using Mainloop = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
  using Epilogue = cutlass::epilogue::TmaWarpSpecializedCooperative;
};
template <> struct Schedules<Sched::pingpong_overlap> : OwnMainloop<Promotion::overlap> {
  using Mainloop = cutlass::gemm::KernelTmaWarpSpecializedPingpongFP8FastAccum;
  using Epilogue = cutlass::epilogue::TmaWarpSpecialized;
};
template <> struct Schedules<Sched::coop_overlap> : OwnMainloop<Promotion::overlap> {
  using Mainloop = cutlass::gemm::KernelTmaWarpSpecializedCooperativeFP8FastAccum;
  using Epilogue = cutlass::epilogue::TmaWarpSpecializedCooperative;
};
template <> struct Schedules<Sched::coop_stagger> : OwnMainloop<Promotion::stagger> {
  using Mainloop = cutlass::gemm::KernelTmaWarpSpecializedCooperativeFP8FastAccum;
  using Epilogue = cutlass::epilogue::TmaWarpSpecializedCooperative;
};

template <Tiles> struct TileSchedulerOf;
template <> struct TileSchedulerOf<Tiles::persistent> { using type = cutlass::gemm::PersistentScheduler; };
template <> struct TileSchedulerOf<Tiles::streamk> { using type = cutlass::gemm::StreamKScheduler; };

// One configuration (see configs.h): output, tile, cluster, schedule, orientation, tile scheduler.
template <Out kOut, int kTileM, int kTileN, int kTileK, int kClusterM, int kClusterN, Sched kSched, bool kSwapAB,
          Tiles kTiles>
struct Fp8Gemm {
  using ElementAB = cutlass::float_e4m3_t;
  using ElementD = typename OutElement<kOut>::type;
  using ElementAccumulator = float;
  using ElementCompute = float;
  // Kernel operand "A" is [M', K] K-major, "B" is [N', K] K-major (both FP8 operands must be K-major).
  using LayoutA = cutlass::layout::RowMajor;
  using LayoutB = cutlass::layout::ColumnMajor;
  // D row-major [M, N]; swapped, the kernel writes Dᵀ [N, M] column-major: the same bytes.
  using LayoutD = std::conditional_t<kSwapAB, cutlass::layout::ColumnMajor, cutlass::layout::RowMajor>;
  static constexpr int kAlignAB = 16;  // elements: 16 bytes of FP8
  static constexpr int kAlignD = 16 / int(sizeof(ElementD));
  using TileShape = Shape<Int<kTileM>, Int<kTileN>, Int<kTileK>>;
  using ClusterShape = Shape<Int<kClusterM>, Int<kClusterN>, _1>;

  // ---- epilogue visitor tree: out = scale_a * (acc * scale_b) + bias ----
  // Along the kernel's rows (M') or columns (N'): a vector, or a scalar when the stride's bool is false.
  using AlongRows = cutlass::epilogue::fusion::Sm90ColBroadcast<0, TileShape, float, float, Stride<bool, _0, int64_t>>;
  using AlongCols = cutlass::epilogue::fusion::Sm90RowBroadcast<0, TileShape, float, float, Stride<_0, bool, int64_t>>;
  using ScaleA = std::conditional_t<kSwapAB, AlongCols, AlongRows>;  // per token
  using ScaleB = std::conditional_t<kSwapAB, AlongRows, AlongCols>;  // per channel
  // Bias per output channel, of D's type; a null pointer reads as zero.
  using Bias = std::conditional_t<
      kSwapAB, cutlass::epilogue::fusion::Sm90ColBroadcast<0, TileShape, ElementD, ElementCompute, Stride<_1, _0, int64_t>>,
      cutlass::epilogue::fusion::Sm90RowBroadcast<0, TileShape, ElementD, ElementCompute, Stride<_0, _1, int64_t>>>;
  using Acc = cutlass::epilogue::fusion::Sm90AccFetch;
  using TimesScaleB = cutlass::epilogue::fusion::Sm90Compute<cutlass::multiplies, ElementCompute, ElementCompute,
                                                             cutlass::FloatRoundStyle::round_to_nearest>;
  using ScaledAcc = cutlass::epilogue::fusion::Sm90EVT<TimesScaleB, ScaleB, Acc>;
  using TimesScaleAPlusBias =
      cutlass::epilogue::fusion::Sm90Compute<cutlass::homogeneous_multiply_add, ElementD, ElementCompute,
                                             cutlass::FloatRoundStyle::round_to_nearest>;
  using Epilogue = cutlass::epilogue::fusion::Sm90EVT<TimesScaleAPlusBias, ScaleA, ScaledAcc, Bias>;

  using CollectiveEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, ElementAccumulator, ElementCompute, void, LayoutD, kAlignD,
      ElementD, LayoutD, kAlignD, typename Schedules<kSched>::Epilogue, Epilogue>::CollectiveOp;

  using BuiltMainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, ElementAB, LayoutA, kAlignAB, ElementAB, LayoutB, kAlignAB,
      ElementAccumulator, TileShape, ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename CollectiveEpilogue::SharedStorage))>,
      typename Schedules<kSched>::Mainloop>::CollectiveOp;
  using CollectiveMainloop = typename Schedules<kSched>::template Wrap<BuiltMainloop>;

  using Kernel = cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, CollectiveMainloop,
                                                      CollectiveEpilogue, typename TileSchedulerOf<kTiles>::type>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;

  static typename Gemm::Arguments arguments(const Fp8GemmCall& c) {
    using StrideA = typename Gemm::GemmKernel::StrideA;
    using StrideB = typename Gemm::GemmKernel::StrideB;
    using StrideD = typename Gemm::GemmKernel::StrideD;
    // Kernel operands: A' [M', K] and B' [N', K], K-contiguous. Unswapped A' = X, B' = W; swapped the reverse.
    const void* a_op = kSwapAB ? c.b : c.a;
    const void* b_op = kSwapAB ? c.a : c.b;
    StrideA stride_a{};
    StrideB stride_b{};
    StrideD stride_d{};
    get<0>(stride_a) = kSwapAB ? c.ldb : c.lda;
    get<0>(stride_b) = kSwapAB ? c.lda : c.ldb;
    if constexpr (kSwapAB) get<1>(stride_d) = c.ldd;  // Dᵀ column-major: (1, ldd)
    else get<0>(stride_d) = c.ldd;                   // D row-major: (ldd, 1)
    const int m = kSwapAB ? c.n : c.m;
    const int n = kSwapAB ? c.m : c.n;
    typename Gemm::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGemm,
        {m, n, c.k, 1},
        {static_cast<const ElementAB*>(a_op), stride_a, static_cast<const ElementAB*>(b_op), stride_b},
        {{}, nullptr, stride_d, static_cast<ElementD*>(c.d), stride_d}};
    typename ScaleA::Arguments scale_a{c.scale_a, 0.0f, {}};
    typename ScaleB::Arguments scale_b{c.scale_b, 0.0f, {}};
    if constexpr (kSwapAB) {
      get<1>(scale_a.dRow) = c.scale_a_vector;
      get<0>(scale_b.dCol) = c.scale_b_vector;
    } else {
      get<0>(scale_a.dCol) = c.scale_a_vector;
      get<1>(scale_b.dRow) = c.scale_b_vector;
    }
    // Visitor tree arguments, in tree order: {scale_a, {scale_b, acc, times}, bias, multiply-add}.
    args.epilogue.thread = {scale_a, {scale_b, {}, {}}, {static_cast<const ElementD*>(c.bias), ElementD(0), {}}, {}};
    args.hw_info.sm_count = c.sm_count;
    // Runtime knobs of the tile scheduler (chosen by measurement: selection_table.inc).
    using RasterOptions = cutlass::gemm::kernel::detail::RasterOrderOptions;
    args.scheduler.max_swizzle_size = c.knobs.swizzle;
    args.scheduler.raster_order = c.knobs.raster == Raster::along_m   ? RasterOptions::AlongM
                                  : c.knobs.raster == Raster::along_n ? RasterOptions::AlongN
                                                                      : RasterOptions::Heuristic;
    if constexpr (kSched == Sched::pingpong || kSched == Sched::coop) {
      args.mainloop.mma_promotion_interval = uint32_t(c.knobs.promote);
    }
    if constexpr (kTiles == Tiles::streamk) {
      // splits > 1: split-K with that many pieces; 1: CUTLASS's stream-K / data-parallel heuristic.
      args.scheduler.splits = c.knobs.splits;
    }
    return args;
  }
};

}  // namespace w8a8::smm::cutlass_sm90
