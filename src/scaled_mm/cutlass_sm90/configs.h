// The Hopper kernel configurations w8a8 instantiates: few, named, one translation unit each
// (instances/<name>.cu). The dispatcher will choose among them from a measured table (issue 6).
//
// WORK IN PROGRESS: compiled with -DW8A8_CUTLASS=ON, not yet run on a GPU nor registered as a backend.
#pragma once

#include <cstdint>

#include "w8a8/dtype.h"
#include "w8a8/tensor.h"

namespace w8a8::smm::cutlass_sm90 {

// One GEMM call in the kernels' terms (validated by the backend before): A [M, K] row-major, B [K, N]
// column-major, D [M, N] row-major; scales fp32, vectors or scalars; bias of D's type or null.
struct Fp8GemmCall {
  int m, n, k;
  const void* a;
  int64_t lda;
  const void* b;
  int64_t ldb;
  void* d;
  int64_t ldd;
  const float* scale_a;
  bool scale_a_vector;
  const float* scale_b;
  bool scale_b_vector;
  const void* bias;
  int sm_count;
  Stream stream;
};

// X-macro: name, output type, tile M N K, cluster M N, mainloop schedule, epilogue schedule.
#define W8A8_SM90_FP8_CONFIGS(X)                                                                         \
  X(sm90_fp8_bf16_128x128x128_c2x1_pingpong_fastaccum, cutlass::bfloat16_t, 128, 128, 128, 2, 1,        \
    cutlass::gemm::KernelTmaWarpSpecializedPingpongFP8FastAccum, cutlass::epilogue::TmaWarpSpecialized)

// Each instance: returns false when CUTLASS's can_implement refuses the call.
#define W8A8_DECLARE_SM90_FP8(name, ...) bool run_##name(const Fp8GemmCall& call);
W8A8_SM90_FP8_CONFIGS(W8A8_DECLARE_SM90_FP8)
#undef W8A8_DECLARE_SM90_FP8

}  // namespace w8a8::smm::cutlass_sm90
