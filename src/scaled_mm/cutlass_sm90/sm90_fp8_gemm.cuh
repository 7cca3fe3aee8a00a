// w8a8's Hopper FP8 GEMM (CUTLASS 3.x / CuTe, sm_90a): TMA + warp-specialized persistent mainloop and a
// fused epilogue  out = scale_a ⊙ (acc · scale_b) + bias, cast to the output type.
//
// WORK IN PROGRESS (issue 6): compiles for sm_90a, NOT yet run or verified on a GPU. Built only with
// -DW8A8_CUTLASS=ON and not registered as a backend until the GPU tests pass on it.
//
// One kernel serves the four scale pairings: the scale broadcasts are "dynamic" (a run-time bool in the
// stride says vector or scalar), so per-tensor, per-token x per-channel and the mixed cases share code.
#pragma once

#include <cute/tensor.hpp>
#include <cutlass/cutlass.h>
#include <cutlass/epilogue/collective/collective_builder.hpp>
#include <cutlass/epilogue/fusion/sm90_callbacks_tma_warpspecialized.hpp>
#include <cutlass/gemm/collective/collective_builder.hpp>
#include <cutlass/gemm/device/gemm_universal_adapter.h>
#include <cutlass/gemm/kernel/gemm_universal.hpp>

namespace w8a8::smm::cutlass_sm90 {

using namespace cute;

// A configuration: tile, cluster, mainloop schedule, epilogue schedule. Named in configs.h.
template <class ElementD_, class TileShape_, class ClusterShape_, class KernelSchedule_, class EpilogueSchedule_>
struct Fp8Gemm {
  using ElementA = cutlass::float_e4m3_t;
  using ElementB = cutlass::float_e4m3_t;
  using ElementD = ElementD_;
  using ElementAccumulator = float;
  using ElementCompute = float;
  using LayoutA = cutlass::layout::RowMajor;     // activations [M, K]
  using LayoutB = cutlass::layout::ColumnMajor;  // weight [K, N] column-major = [N, K] row-major
  using LayoutD = cutlass::layout::RowMajor;
  static constexpr int kAlignAB = 16;  // elements: 16 bytes of FP8
  static constexpr int kAlignD = 16 / sizeof(ElementD);
  using TileShape = TileShape_;
  using ClusterShape = ClusterShape_;

  // ---- epilogue visitor tree: out = scale_a * (acc * scale_b) + bias ----
  using Acc = cutlass::epilogue::fusion::Sm90AccFetch;
  // Column broadcast = one value per row m (per token), or a scalar when the bool in the stride is false.
  using ScaleA = cutlass::epilogue::fusion::Sm90ColBroadcast<0, TileShape, float, float, Stride<bool, _0, int64_t>>;
  // Row broadcast = one value per column n (per channel), or a scalar.
  using ScaleB = cutlass::epilogue::fusion::Sm90RowBroadcast<0, TileShape, float, float, Stride<_0, bool, int64_t>>;
  // Bias per column n; a null pointer reads as zero.
  using Bias = cutlass::epilogue::fusion::Sm90RowBroadcast<0, TileShape, ElementD, ElementCompute,
                                                           Stride<_0, _1, int64_t>>;
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
      ElementD, LayoutD, kAlignD, EpilogueSchedule_, Epilogue>::CollectiveOp;

  using CollectiveMainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, ElementA, LayoutA, kAlignAB, ElementB, LayoutB, kAlignAB,
      ElementAccumulator, TileShape, ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename CollectiveEpilogue::SharedStorage))>,
      KernelSchedule_>::CollectiveOp;

  using Kernel = cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, CollectiveMainloop,
                                                      CollectiveEpilogue, cutlass::gemm::PersistentScheduler>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;

  // Arguments for one call; ld* in elements. scale_a_vector / scale_b_vector: per-token / per-channel.
  static typename Gemm::Arguments arguments(int m, int n, int k, const void* a, int64_t lda, const void* b,
                                            int64_t ldb, void* d, int64_t ldd, const float* scale_a,
                                            bool scale_a_vector, const float* scale_b, bool scale_b_vector,
                                            const void* bias, int sm_count) {
    using StrideA = typename Gemm::GemmKernel::StrideA;
    using StrideB = typename Gemm::GemmKernel::StrideB;
    using StrideD = typename Gemm::GemmKernel::StrideD;
    // (row stride, 1, batch stride): A [M, K] and B as [N, K] K-contiguous, D [M, N] N-contiguous; one batch.
    StrideA stride_a{};
    StrideB stride_b{};
    StrideD stride_d{};
    get<0>(stride_a) = lda;
    get<0>(stride_b) = ldb;
    get<0>(stride_d) = ldd;
    typename Gemm::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGemm,
        {m, n, k, 1},
        {static_cast<const ElementA*>(a), stride_a, static_cast<const ElementB*>(b), stride_b},
        {{}, nullptr, stride_d, static_cast<ElementD*>(d), stride_d}};
    // Visitor tree arguments, in tree order: {scale_a, {scale_b, acc, times}, bias, multiply-add}.
    args.epilogue.thread = {
        {scale_a, 0.0f, {scale_a_vector, _0{}, int64_t(0)}},
        {{scale_b, 0.0f, {_0{}, scale_b_vector, int64_t(0)}}, {}, {}},
        {static_cast<const ElementD*>(bias), ElementD(0), {}},
        {}};
    args.hw_info.sm_count = sm_count;
    return args;
  }
};

}  // namespace w8a8::smm::cutlass_sm90
