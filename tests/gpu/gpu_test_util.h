// Helpers for the GPU tests: skip without a device, move tensors, poison device memory.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <random>

#include "w8a8/linear.h"
#include "w8a8/tensor.h"

namespace w8a8::gputest {

inline bool have_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

#define W8A8_REQUIRE_GPU() \
  do {                     \
    if (!::w8a8::gputest::have_gpu()) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

inline Tensor to_gpu(const TensorView& t) { return Tensor::borrow(t).to(Device::cuda()); }
inline Tensor to_cpu(const TensorView& t) { return Tensor::borrow(t).to(Device::cpu()); }

// Fills a device tensor's span with a byte pattern (0xFF: NaN in every float format we write).
inline void poison(const TensorView& t, int byte = 0xFF) {
  ASSERT_EQ(cudaMemset(t.data(), byte, t.span_bytes()), cudaSuccess);
}

inline void sync() { ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess); }

// The linear ops' fused-quantization policy for one scope, restored after it.
struct FusedPolicy {
  explicit FusedPolicy(FusedActivationQuant p) : saved(fused_activation_quant()) { set_fused_activation_quant(p); }
  ~FusedPolicy() { set_fused_activation_quant(saved); }
  FusedPolicy(const FusedPolicy&) = delete;
  FusedPolicy& operator=(const FusedPolicy&) = delete;
  FusedActivationQuant saved;
};

// Runs layer(stream) once on a fresh stream (per-stream scratch gets sized), captures it into a CUDA graph, then runs
// before_replay(stream) (new inputs, a poisoned output) and replays the graph once, synchronized. Any CUDA error
// fails the test.
template <class Layer, class Before>
void capture_and_replay(Layer&& layer, Before&& before_replay) {
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  layer(s);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
  layer(s);
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  before_replay(s);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
}

}  // namespace w8a8::gputest
