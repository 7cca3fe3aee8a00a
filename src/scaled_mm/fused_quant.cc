#include "scaled_mm/fused_quant.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <set>
#include <tuple>

#include "scaled_mm/chooser.h"
#include "w8a8/error.h"
#include "w8a8/linear.h"

namespace w8a8 {

namespace {
std::atomic<FusedActivationQuant> g_policy{FusedActivationQuant::kAuto};
}

void set_fused_activation_quant(FusedActivationQuant policy) { g_policy.store(policy); }
FusedActivationQuant fused_activation_quant() { return g_policy.load(); }

}  // namespace w8a8

namespace w8a8::smm {
namespace {

// The measured rule of kAuto: none yet. The fused kernels were written on 2026-12-06 without a GPU run; until
// bench/layer_vs_torch.py --fused has timed them against the unfused path on a device, auto keeps the unfused path.
const char* auto_refusal(const FusedQuantArgs&) {
  return "auto: the fused kernels are not measured yet (set_fused_activation_quant(on) takes them)";
}

// Returns the backend that runs the call, or null with *why set.
const Backend* decide(const FusedQuantArgs& f, const char** why) {
  switch (fused_activation_quant()) {
    case FusedActivationQuant::kOff:
      *why = "off (set_fused_activation_quant)";
      return nullptr;
    case FusedActivationQuant::kAuto:
      if ((*why = auto_refusal(f)) != nullptr) return nullptr;
      break;
    case FusedActivationQuant::kOn:
      break;
  }
  *why = "no backend of this build has a fused kernel";
  for (const Backend* b : registered_backends()) {
    if (b->fused_quant_refusal == nullptr || b->run_fused_quant == nullptr) continue;
    const char* refusal = b->fused_quant_refusal(f);
    if (refusal == nullptr) return b;
    *why = refusal;
  }
  return nullptr;
}

const char* act_name(FusedQuantArgs::Act a) {
  switch (a) {
    case FusedQuantArgs::Act::kStatic: return "static per-tensor";
    case FusedQuantArgs::Act::kDynamicPerTensor: return "dynamic per-tensor";
    case FusedQuantArgs::Act::kDynamicPerToken: return "dynamic per-token";
    case FusedQuantArgs::Act::kDynamicGroup: return "dynamic 1x128 groups";
  }
  return "?";
}

// W8A8_LOG_DISPATCH: one line per new (shape, activation scheme, outcome).
void log_once(const FusedQuantArgs& f, const Backend* b, const char* why) {
  if (!log_dispatch()) return;
  static std::mutex mutex;
  static std::set<std::tuple<int64_t, int64_t, int64_t, int, const Backend*>> seen;
  std::lock_guard<std::mutex> lock(mutex);
  if (!seen.insert({f.x.size(0), f.x.size(1), f.b.size(1), int(f.act), b}).second) return;
  std::fprintf(stderr, "[w8a8] Fp8LinearOp fused quantization M=%ld N=%ld K=%ld %s -> %s\n", long(f.x.size(0)),
               long(f.b.size(1)), long(f.x.size(1)), act_name(f.act), b != nullptr ? b->name : why);
}

}  // namespace

bool fused_quant_chosen(const FusedQuantArgs& f) {
  const char* why = nullptr;
  return decide(f, &why) != nullptr;
}

bool run_fused_quant_if_chosen(FusedQuantArgs f, Tensor* fresh_out) {
  const char* why = nullptr;
  const Backend* b = decide(f, &why);
  log_once(f, b, why);
  if (b == nullptr) return false;
  if (f.out.data() == nullptr) {
    W8A8_CHECK_KIND(ErrorKind::kRuntime, fresh_out != nullptr, "fused quantization: an output without data needs "
                    "somewhere to allocate it");
    *fresh_out = Tensor::empty(f.out.sizes(), f.out.dtype(), f.out.device());
    f.out = *fresh_out;
  }
  b->run_fused_quant(f);
  return true;
}

std::string fused_quant_decision(const FusedQuantArgs& f) {
  const char* why = nullptr;
  const Backend* b = decide(f, &why);
  return b != nullptr ? std::string("fused on ") + b->name + " (" + act_name(f.act) + ")"
                      : std::string("unfused: ") + why;
}

}  // namespace w8a8::smm
