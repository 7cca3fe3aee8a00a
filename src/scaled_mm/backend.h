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
  // prefers() only: the named kernel configuration the backend would run ("" where it has none).
  std::string kernel;
  static Support yes() { return {}; }
  static Support no(std::string why) { return {false, std::move(why), ScaledMmBackend::kAuto, {}}; }
  static Support defer_to(ScaledMmBackend other, std::string why) { return {false, std::move(why), other, {}}; }
  static Support runs_kernel(std::string kernel, std::string why) {
    return {true, std::move(why), ScaledMmBackend::kAuto, std::move(kernel)};
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
};

struct Backend {
  ScaledMmBackend id;
  const char* name;  // backend_name(id)
  Support (*can_implement)(const ScaledMmProblem& problem);
  void (*run)(const ScaledMmArgs& args);  // only called after can_implement said yes
  // Optional. For automatic choice only: whether this backend wants a problem it can run, or defers to the
  // backend it names (measured faster there); when that one cannot run the problem, this one keeps it.
  // Explicit requests ignore it.
  Support (*prefers)(const ScaledMmProblem& problem) = nullptr;
  // Optional: the named kernel configurations options.kernel may pick.
  std::vector<std::string> (*kernels)() = nullptr;
};

// The backends built in, in preference order (kAuto takes the first that can run a problem).
const std::vector<const Backend*>& registered_backends();
// nullptr when `id` is not built in.
const Backend* find_backend(ScaledMmBackend id);

}  // namespace w8a8::smm
