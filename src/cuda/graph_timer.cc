#include "cuda/graph_timer.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "cuda/check.h"

namespace w8a8::cuda {

double time_as_graph(const std::function<void(Stream)>& run, int calls, double warmup_s, int reps) {
  cudaStream_t stream = nullptr;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  auto release = [&] {
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    if (stream) cudaStreamDestroy(stream);
  };
  try {
    W8A8_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    run(reinterpret_cast<Stream>(stream));
    W8A8_CUDA_CHECK(cudaStreamSynchronize(stream));
    W8A8_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    try {
      run(reinterpret_cast<Stream>(stream));
    } catch (...) {
      cudaStreamEndCapture(stream, &graph);
      throw;
    }
    W8A8_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    W8A8_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    W8A8_CUDA_CHECK(cudaEventCreate(&start));
    W8A8_CUDA_CHECK(cudaEventCreate(&stop));
    const auto t0 = std::chrono::steady_clock::now();
    do {
      W8A8_CUDA_CHECK(cudaGraphLaunch(exec, stream));
      W8A8_CUDA_CHECK(cudaStreamSynchronize(stream));
    } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < warmup_s);
    std::vector<double> times;
    for (int r = 0; r < std::max(reps, 1); ++r) {
      W8A8_CUDA_CHECK(cudaEventRecord(start, stream));
      W8A8_CUDA_CHECK(cudaGraphLaunch(exec, stream));
      W8A8_CUDA_CHECK(cudaEventRecord(stop, stream));
      W8A8_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      W8A8_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      times.push_back(double(ms) * 1e3 / double(calls));
    }
    release();
    std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
    return times[times.size() / 2];
  } catch (...) {
    release();
    throw;
  }
}

}  // namespace w8a8::cuda
