// The internal backend interface of scaled_mm, CUTLASS-style: can_implement(problem) -> run(args).
//
// Backends live in src/scaled_mm/<name>/ and include only this header and problem.h; they never
// include each other or the public entry (scaled_mm.cc). The registry (registry.cc) lists the backends
// built in, in preference order, and is the only place that knows them all.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "scaled_mm/problem.h"
#include "w8a8/scaled_mm.h"
#include "w8a8/tensor.h"

namespace w8a8::smm {

// Answer to a capability question: ok, or why not ("needs a CUDA device", "K % 16 != 0", ...).
struct Support {
  bool ok = true;
  std::string reason;
  // prefers() only: the backend measured faster for the problem (the one to defer to), kAuto if none named.
  ScaledMmBackend instead = ScaledMmBackend::kAuto;
  // prefers() only: what the backend would run — its named kernel configuration ("" where it has none), the
  // non-default knobs, the measured time behind the choice (-1: none) and a handle the chooser caches and passes
  // back to run() (ScaledMmArgs::plan), so the backend does not choose again per call.
  std::string kernel;
  std::string knobs;
  double measured_us = -1;
  int plan = -1;
  static Support yes() { return {}; }
  static Support no(std::string why) { return {false, std::move(why), ScaledMmBackend::kAuto, {}, {}, -1, -1}; }
  static Support defer_to(ScaledMmBackend other, std::string why) {
    return {false, std::move(why), other, {}, {}, -1, -1};
  }
  static Support runs_kernel(std::string kernel, std::string knobs, std::string why, double measured_us, int plan) {
    return {true, std::move(why), ScaledMmBackend::kAuto, std::move(kernel), std::move(knobs), measured_us, plan};
  }
  explicit operator bool() const { return ok; }
};

// One validated call. The views are exactly the caller's (scales and bias as given, strides included).
struct ScaledMmArgs {
  TensorView out;  // [M, N], stride(1) == 1
  TensorView a;    // [M, K], stride(1) == 1
  TensorView b;    // [K, N], stride(0) == 1
  TensorView scale_a;
  TensorView scale_b;
  std::optional<TensorView> bias;
  Stream stream = nullptr;
  ScaledMmProblem problem;
  int plan = -1;  // Support::plan of the decision (prefers() of this backend), -1 when it gave none
};

// The linear layer's fused decode path: y = (quant(x) s_x)(b s_b) + bias in one kernel, the bf16 / fp16
// activation x quantized inside the GEMM with scaled_fp8_quant's rule (the same codes, the same scales).
struct FusedQuantArgs {
  enum class Act : uint8_t { kStatic, kDynamicPerTensor, kDynamicPerToken, kDynamicGroup };
  TensorView out;      // [M, N], the activation's dtype
  TensorView x;        // [M, K] bf16 / fp16, rows contiguous
  TensorView b;        // [K, N] e4m3fn, column-major (the [N, K] weight transposed)
  TensorView scale_b;  // one element or [N, 1]; kDynamicGroup: [K/128, ceil(N/128)] block scales (any strides)
  std::optional<TensorView> bias;
  Act act = Act::kDynamicPerToken;
  const float* static_scale = nullptr;  // kStatic: the one-element scale (device)
  const float* scale_ub = nullptr;      // kDynamicPerToken: optional upper bound (device)
  float eps = 1e-10f;                   // kDynamicGroup: per_token_group_quant_fp8's eps and use_ue8m0
  bool ue8m0 = false;
  Accumulation accumulation = Accumulation::kDefault;
  Stream stream = nullptr;
  uint8_t* codes = nullptr;  // optional [M, K] copy of the codes used (tests)
  float* scales = nullptr;   // optional [M] / [1] / [M, K/128] (groups) copy of the scales used (tests)
};

struct Backend {
  ScaledMmBackend id;
  const char* name;  // backend_name(id)
  Support (*can_implement)(const ScaledMmProblem& problem);
  void (*run)(const ScaledMmArgs& args);  // only called after can_implement said yes
  // Optional. What this backend would run for a problem it can run (kernel, knobs, plan), or, for automatic
  // choice, that it defers to the backend it names (measured faster there; when that one cannot run the
  // problem, this one keeps it). Explicit requests keep the backend whatever it answers.
  Support (*prefers)(const ScaledMmProblem& problem) = nullptr;
  // Optional: the named kernel configurations options.kernel may pick.
  std::vector<std::string> (*kernels)() = nullptr;
  // Blockwise problems: the activation layout this backend reads without repacking (see blockwise_layout()).
  BlockwiseLayout blockwise_layout{};
  // Optional, the fused decode path: why this backend cannot run the call (a static string, nullptr: it can; no
  // allocation, it is asked per call), and the call.
  const char* (*fused_quant_refusal)(const FusedQuantArgs& args) = nullptr;
  void (*run_fused_quant)(const FusedQuantArgs& args) = nullptr;
};

// The backends built in, in preference order (kAuto takes the first that can run a problem).
const std::vector<const Backend*>& registered_backends();
// nullptr when `id` is not built in.
const Backend* find_backend(ScaledMmBackend id);

}  // namespace w8a8::smm
