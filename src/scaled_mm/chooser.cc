#include "scaled_mm/chooser.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>

#include "w8a8/error.h"

namespace w8a8::smm {
namespace {

// Everything about a problem that any backend's answer depends on (addresses only through their alignment).
struct Key {
  int64_t m, n, k, a_row_stride, b_col_stride, out_row_stride;
  DType a_dtype, out_dtype;
  ScaleKind scale_a, scale_b;
  bool scale_a_column_major, scale_b_column_major, has_bias, aligned16;
  Device device;
  Accumulation accumulation;
  ScaledMmBackend requested;
  std::string kernel;

  auto tie() const {
    return std::tie(m, n, k, a_row_stride, b_col_stride, out_row_stride, a_dtype, out_dtype, scale_a, scale_b,
                    scale_a_column_major, scale_b_column_major, has_bias, aligned16, device.type, device.index,
                    accumulation, requested, kernel);
  }
  bool operator==(const Key& o) const { return tie() == o.tie(); }
};

struct KeyHash {
  size_t operator()(const Key& x) const {
    size_t h = std::hash<std::string>()(x.kernel);
    auto mix = [&h](uint64_t v) { h ^= std::hash<uint64_t>()(v) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); };
    for (int64_t v : {x.m, x.n, x.k, x.a_row_stride, x.b_col_stride, x.out_row_stride}) mix(uint64_t(v));
    mix(uint64_t(x.a_dtype) | uint64_t(x.out_dtype) << 8 | uint64_t(x.scale_a) << 16 | uint64_t(x.scale_b) << 24 |
        uint64_t(x.scale_a_column_major) << 32 | uint64_t(x.scale_b_column_major) << 33 |
        uint64_t(x.has_bias) << 34 | uint64_t(x.aligned16) << 35 | uint64_t(x.device.type) << 36 |
        uint64_t(x.accumulation) << 40 | uint64_t(x.requested) << 48);
    mix(uint64_t(x.device.index));
    return h;
  }
};

Key key_of(const ScaledMmProblem& p, const ScaledMmOptions& o) {
  return Key{p.m,         p.n,         p.k,         p.a_row_stride,         p.b_col_stride,
             p.out_row_stride, p.a_dtype, p.out_dtype, p.scale_a, p.scale_b, p.scale_a_column_major,
             p.scale_b_column_major, p.has_bias, p.address_bits % 16 == 0, p.device, p.accumulation, o.backend,
             o.kernel};
}

std::string built_in_list() {
  std::string s;
  for (const Backend* b : registered_backends()) s += std::string(s.empty() ? "" : ", ") + b->name;
  return s;
}

Decision make(const Backend* b, const Support& pref, std::string reason, const ScaledMmProblem& p) {
  Decision d;
  d.backend = b;
  d.plan = pref.ok ? pref.plan : -1;
  d.choice.backend = b->id;
  d.choice.kernel = pref.ok ? pref.kernel : std::string();
  d.choice.knobs = pref.ok ? pref.knobs : std::string();
  d.choice.measured_us = pref.ok ? pref.measured_us : -1;
  d.choice.accumulation = p.accumulation == Accumulation::kFast ? Accumulation::kFast : Accumulation::kPromoted;
  d.choice.reason = p.str() + ": " + reason;
  return d;
}

Decision decide_uncached(const ScaledMmProblem& p, const ScaledMmOptions& options) {
  W8A8_CHECK(options.kernel.empty() || options.backend != ScaledMmBackend::kAuto,
             "options.kernel: a kernel name needs options.backend too (got backend auto, kernel '", options.kernel,
             "')");
  if (options.backend != ScaledMmBackend::kAuto) {
    const Backend* b = find_backend(options.backend);
    W8A8_CHECK_KIND(ErrorKind::kUnsupported, b != nullptr, "scaled_mm: backend ", backend_name(options.backend),
                    " is not built in this build (built in: ", built_in_list(), ")");
    W8A8_CHECK(options.kernel.empty() || b->kernels != nullptr, "options.kernel: backend ", b->name,
               " has no named kernels (got '", options.kernel, "')");
    const Support s = b->can_implement(p);
    W8A8_CHECK_KIND(ErrorKind::kUnsupported, s.ok, "scaled_mm: backend ", b->name, " cannot run ", p.str(), ": ",
                    s.reason);
    // What it runs: the requested kernel, or its own choice (an explicit request ignores a deferral).
    Support pref = b->prefers ? b->prefers(p) : Support::yes();
    if (!pref.ok) pref = Support::yes();
    return make(b, pref, std::string("requested (options.backend = ") + b->name + ")" +
                             (pref.reason.empty() ? "" : "; " + pref.reason), p);
  }
  // The first backend in preference order that can run the problem; where it defers to another backend
  // (prefers() names one measured faster) that can run it too, that one.
  std::string skipped;
  for (const Backend* b : registered_backends()) {
    const Support s = b->can_implement(p);
    if (!s.ok) {
      skipped += std::string(skipped.empty() ? "" : "; ") + b->name + ": " + s.reason;
      continue;
    }
    const Support pref = b->prefers ? b->prefers(p) : Support::yes();
    if (!pref.ok) {
      const Backend* other = find_backend(pref.instead);
      if (other != nullptr && other != b && other->can_implement(p).ok) {
        const Support other_pref = other->prefers ? other->prefers(p) : Support::yes();
        return make(other, other_pref.ok ? other_pref : Support::yes(),
                    std::string(b->name) + " defers to " + other->name + ": " + pref.reason, p);
      }
      return make(b, Support::yes(),
                  std::string("first backend in preference order (") + built_in_list() +
                      ") that can run it; it would defer (" + pref.reason + "), but no faster backend can run it" +
                      (skipped.empty() ? "" : "; skipped " + skipped),
                  p);
    }
    std::string reason = pref.reason.empty() ? std::string("first backend in preference order (") + built_in_list() +
                                                   ") that can run it"
                                             : pref.reason;
    if (!skipped.empty()) reason += "; skipped " + skipped;
    return make(b, pref, reason, p);
  }
  W8A8_FAIL(ErrorKind::kUnsupported, "scaled_mm: no backend can run ", p.str(), " (", skipped, ")");
}

}  // namespace

const Decision& decide(const ScaledMmProblem& problem, const ScaledMmOptions& options) {
  static std::mutex mutex;
  static auto* cache = new std::unordered_map<Key, Decision, KeyHash>();  // never destroyed: used at exit too
  Key key = key_of(problem, options);
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache->find(key);
    if (it != cache->end()) return it->second;
  }
  // Decided outside the lock (a backend's first answer may query the device); a racing thread's equal decision
  // is dropped by emplace. Errors are not cached: they are raised again on the next call.
  Decision d = decide_uncached(problem, options);
  std::lock_guard<std::mutex> lock(mutex);
  auto [it, inserted] = cache->emplace(std::move(key), std::move(d));
  if (inserted && log_dispatch()) std::fprintf(stderr, "[w8a8] scaled_mm -> %s\n", it->second.choice.str().c_str());
  return it->second;
}

ScaledMmProblem problem_of_shape(const ScaledMmShape& s) {
  W8A8_CHECK(s.m >= 0 && s.n > 0 && s.k > 0, "shape: expected M >= 0, N > 0, K > 0, got M=", s.m, " N=", s.n,
             " K=", s.k);
  W8A8_CHECK((s.scale_a == ScaleKind::kBlock) == (s.scale_b == ScaleKind::kBlock),
             "shape: blockwise scales go on both operands, got scale_a ", scale_kind_name(s.scale_a), " and scale_b ",
             scale_kind_name(s.scale_b));
  W8A8_CHECK(s.scale_a != ScaleKind::kPerChannel && s.scale_b != ScaleKind::kPerToken,
             "shape: scale_a is per_tensor, per_token or block and scale_b per_tensor, per_channel or block, got ",
             scale_kind_name(s.scale_a), " x ", scale_kind_name(s.scale_b));
  W8A8_CHECK(s.scale_a != ScaleKind::kBlock || s.k % ScaledMmProblem::kBlockSize == 0,
             "shape: blockwise scales need K % 128 == 0, got K=", s.k);
  W8A8_CHECK_TYPE(is_half_or_float(s.out_dtype), "shape: expected a bfloat16, float16 or float32 output, got ",
                  dtype_name(s.out_dtype));
  ScaledMmProblem p;
  p.m = s.m;
  p.n = s.n;
  p.k = s.k;
  p.out_dtype = s.out_dtype;
  p.scale_a = s.scale_a;
  p.scale_b = s.scale_b;
  // Blockwise activation scales as the quantization kernels write them for the GEMM: column-major.
  p.scale_a_column_major = s.scale_a == ScaleKind::kBlock;
  p.scale_b_column_major = false;
  p.has_bias = s.bias;
  p.device = s.device;
  p.a_row_stride = s.k;
  p.b_col_stride = s.k;
  p.out_row_stride = s.n;
  p.address_bits = 0;  // 256-byte aligned allocations
  return p;
}

bool log_dispatch() {
  const char* v = std::getenv("W8A8_LOG_DISPATCH");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace w8a8::smm
