// The single generic launcher behind every configuration: can_implement -> initialize -> run.
#pragma once

#include "cuda/check.h"
#include "scaled_mm/cutlass_sm90/configs.h"
#include "scaled_mm/cutlass_sm90/sm90_fp8_gemm.cuh"

namespace w8a8::smm::cutlass_sm90 {

template <class Config>
bool launch(const Fp8GemmCall& c) {
  auto args = Config::arguments(c.m, c.n, c.k, c.a, c.lda, c.b, c.ldb, c.d, c.ldd, c.scale_a, c.scale_a_vector,
                                c.scale_b, c.scale_b_vector, c.bias, c.sm_count);
  typename Config::Gemm gemm;
  if (gemm.can_implement(args) != cutlass::Status::kSuccess) return false;
  // These configurations need no workspace (no split-K / stream-K reduction): nothing is allocated.
  W8A8_CHECK_KIND(ErrorKind::kRuntime, Config::Gemm::get_workspace_size(args) == 0,
                  "cutlass_sm90: configuration unexpectedly needs a workspace");
  cudaStream_t stream = resolve_stream(c.stream);
  W8A8_CHECK_KIND(ErrorKind::kRuntime, gemm.initialize(args, nullptr, stream) == cutlass::Status::kSuccess,
                  "cutlass_sm90: initialize failed");
  W8A8_CHECK_KIND(ErrorKind::kRuntime, gemm.run(stream) == cutlass::Status::kSuccess, "cutlass_sm90: run failed");
  W8A8_CUDA_CHECK_LAUNCH();
  return true;
}

}  // namespace w8a8::smm::cutlass_sm90

#define W8A8_DEFINE_SM90_FP8(name, element_d, tm, tn, tk, cm, cn, mainloop, epilogue)                        \
  namespace w8a8::smm::cutlass_sm90 {                                                                         \
  bool run_##name(const Fp8GemmCall& call) {                                                                  \
    using Config = Fp8Gemm<element_d, cute::Shape<cute::Int<tm>, cute::Int<tn>, cute::Int<tk>>,              \
                           cute::Shape<cute::Int<cm>, cute::Int<cn>, cute::_1>, mainloop, epilogue>;          \
    return launch<Config>(call);                                                                              \
  }                                                                                                           \
  }
