// The single generic launcher behind every configuration: can_implement -> workspace -> initialize -> run.
#pragma once

#include "cuda/check.h"
#include "cuda/scratch.h"
#include "scaled_mm/cutlass_sm90/configs.h"
#include "scaled_mm/cutlass_sm90/sm90_fp8_gemm.cuh"

namespace w8a8::smm::cutlass_sm90 {

template <class Config>
bool launch(const Fp8GemmCall& c) {
  auto args = Config::arguments(c);  // non-const: the stream-K scheduler adjusts its arguments
  typename Config::Gemm gemm;
  if (gemm.can_implement(args) != cutlass::Status::kSuccess) return false;
  cudaStream_t stream = resolve_stream(c.stream);
  // Stream-K / split-K partials (no shipped configuration uses them today) would live in the stream's
  // scratch; persistent configurations need no workspace.
  const size_t workspace_bytes = Config::Gemm::get_workspace_size(args);
  void* workspace = workspace_bytes ? cuda::stream_scratch(workspace_bytes, stream) : nullptr;
  W8A8_CHECK_KIND(ErrorKind::kRuntime, gemm.initialize(args, workspace, stream) == cutlass::Status::kSuccess,
                  "cutlass_sm90: initialize failed");
  W8A8_CHECK_KIND(ErrorKind::kRuntime, gemm.run(stream, nullptr, c.knobs.pdl) == cutlass::Status::kSuccess, "cutlass_sm90: run failed");
  W8A8_CUDA_CHECK_LAUNCH();
  return true;
}

}  // namespace w8a8::smm::cutlass_sm90

// W8A8_SM90_DEFINE(name, W8A8_SM90_CFG_name): the run_<name> of one configuration.
#define W8A8_SM90_DEFINE(name, params) W8A8_SM90_DEFINE_(name, params)
#define W8A8_SM90_DEFINE_(name, ...) W8A8_SM90_DEFINE_IMPL(name, __VA_ARGS__)
#define W8A8_SM90_DEFINE_IMPL(name, out, tm, tn, tk, cm, cn, sched, swap, tiles)                        \
  namespace w8a8::smm::cutlass_sm90 {                                                                   \
  bool run_##name(const Fp8GemmCall& call) {                                                            \
    return launch<Fp8Gemm<Out::out, tm, tn, tk, cm, cn, Sched::sched, swap, Tiles::tiles>>(call);       \
  }                                                                                                     \
  }
