// The one decision of what runs for a scaled GEMM: backend, kernel configuration, knobs and accumulation.
//
// Made in one place (decide), once per (device, problem) and cached for the process: the first call of a
// problem asks the backends (can_implement, then prefers, which reads the measured table or the user's tuning
// cache), later calls find the cached decision. scaled_mm, cutlass_scaled_mm, vLLM's dispatch strategies and
// Fp8LinearOp all run through it; `w8a8 info --shape` and W8A8_LOG_DISPATCH=1 print it.
#pragma once

#include <string>

#include "scaled_mm/backend.h"
#include "scaled_mm/problem.h"
#include "w8a8/scaled_mm.h"

namespace w8a8::smm {

struct Decision {
  const Backend* backend = nullptr;
  int plan = -1;        // the backend's own handle for what it runs (its configuration and knobs), -1: none
  BackendChoice choice;  // the printable form: backend, kernel, knobs, accumulation, reason
};

// The decision for a validated problem; throws kUnsupported when no backend (or not the requested one) can
// run it. The reference stays valid for the process.
const Decision& decide(const ScaledMmProblem& problem, const ScaledMmOptions& options);

// Whether W8A8_LOG_DISPATCH asks for a line per new decision (read each time, so a process may turn it on at any
// time; call it where decisions are made, not per GEMM).
bool log_dispatch();

// The problem a call of this shape would be, with contiguous, 16-byte aligned operands (no tensors needed).
ScaledMmProblem problem_of_shape(const ScaledMmShape& shape);

}  // namespace w8a8::smm
