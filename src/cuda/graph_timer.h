// Timing as the benchmarks do: a CUDA graph of calls, replayed; the median per call.
#pragma once

#include <functional>

#include "w8a8/tensor.h"

namespace w8a8::cuda {

// run(stream) enqueues `calls` calls. It runs once outside the capture (plans, workspaces, scratch), is captured
// into a graph on a stream of its own, replayed for warmup_s seconds, then `reps` timed replays: the median
// microseconds per call. Errors (a kernel refusing the problem) propagate as w8a8::Error.
double time_as_graph(const std::function<void(Stream)>& run, int calls, double warmup_s, int reps);

}  // namespace w8a8::cuda
