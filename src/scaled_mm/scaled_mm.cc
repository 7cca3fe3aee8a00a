// The public scaled_mm entries: validate -> choose a backend -> run.
#include "w8a8/scaled_mm.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "scaled_mm/backend.h"
#include "scaled_mm/problem.h"
#include "w8a8/error.h"

namespace w8a8 {
namespace {

using smm::Backend;
using smm::ScaledMmProblem;
using smm::Support;

struct Chosen {
  const Backend* backend;
  std::string reason;
  std::string kernel;  // the backend's named kernel configuration, where it has one and said which
};

std::string built_in_list() {
  std::string s;
  for (const Backend* b : smm::registered_backends()) s += std::string(s.empty() ? "" : ", ") + b->name;
  return s;
}

Chosen choose(const ScaledMmProblem& p, const ScaledMmOptions& options) {
  W8A8_CHECK(options.kernel.empty() || options.backend != ScaledMmBackend::kAuto,
             "options.kernel: a kernel name needs options.backend too (got backend auto, kernel '", options.kernel,
             "')");
  if (options.backend != ScaledMmBackend::kAuto) {
    const Backend* b = smm::find_backend(options.backend);
    W8A8_CHECK_KIND(ErrorKind::kUnsupported, b != nullptr, "scaled_mm: backend ", backend_name(options.backend),
                    " is not built in this build (built in: ", built_in_list(), ")");
    W8A8_CHECK(options.kernel.empty() || b->kernels != nullptr, "options.kernel: backend ", b->name,
               " has no named kernels (got '", options.kernel, "')");
    const Support s = b->can_implement(p);
    W8A8_CHECK_KIND(ErrorKind::kUnsupported, s.ok, "scaled_mm: backend ", b->name, " cannot run ", p.str(), ": ",
                    s.reason);
    return {b, std::string("requested (options.backend = ") + b->name + ")",
            options.kernel.substr(0, options.kernel.find(':'))};
  }
  // The first backend in preference order that can run the problem; where it defers to another backend
  // (prefers() names one measured faster) that can run it too, that one.
  std::string skipped;
  for (const Backend* b : smm::registered_backends()) {
    const Support s = b->can_implement(p);
    if (!s.ok) {
      skipped += std::string(skipped.empty() ? "" : "; ") + b->name + ": " + s.reason;
      continue;
    }
    std::string reason = std::string("first backend in preference order (") + built_in_list() +
                         ") that can run the problem";
    const Support pref = b->prefers ? b->prefers(p) : Support::yes();
    if (!pref.ok) {
      const Backend* other = smm::find_backend(pref.instead);
      if (other != nullptr && other != b && other->can_implement(p).ok)
        return {other, std::string(b->name) + " defers to " + other->name + ": " + pref.reason, {}};
      reason += std::string(" (") + b->name + " would defer: " + pref.reason + ", but no faster backend can run it)";
    } else if (!pref.reason.empty()) {
      reason += " (" + pref.reason + ")";
    }
    if (!skipped.empty()) reason += "; skipped " + skipped;
    return {b, reason, pref.ok ? pref.kernel : std::string()};
  }
  W8A8_FAIL(ErrorKind::kUnsupported, "scaled_mm: no backend can run ", p.str(), " (", skipped, ")");
}

bool log_dispatch() {
  const char* v = std::getenv("W8A8_LOG_DISPATCH");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

void run_chosen(const Chosen& c, const TensorView& out, const TensorView& a, const TensorView& b,
                const TensorView& scale_a, const TensorView& scale_b, const std::optional<TensorView>& bias,
                Stream stream, const ScaledMmProblem& p) {
  if (log_dispatch())
    std::fprintf(stderr, "[w8a8] scaled_mm %s -> %s: %s\n", p.str().c_str(), c.backend->name, c.reason.c_str());
  smm::ScaledMmArgs args;
  args.out = out;
  args.a = a;
  args.b = b;
  args.scale_a = scale_a;
  args.scale_b = scale_b;
  args.bias = bias;
  args.stream = stream;
  args.problem = p;
  c.backend->run(args);
}

}  // namespace

void scaled_mm(const TensorView& out, const TensorView& a, const TensorView& b, const TensorView& scale_a,
               const TensorView& scale_b, const std::optional<TensorView>& bias, const ScaledMmOptions& options,
               Stream stream) {
  const ScaledMmProblem p = smm::validate_scaled_mm(out, a, b, scale_a, scale_b, bias, options);
  run_chosen(choose(p, options), out, a, b, scale_a, scale_b, bias, stream, p);
}

Tensor scaled_mm(const TensorView& a, const TensorView& b, const TensorView& scale_a, const TensorView& scale_b,
                 DType out_dtype, const std::optional<TensorView>& bias, const ScaledMmOptions& options,
                 Stream stream) {
  ScaledMmProblem p = smm::validate_scaled_mm_inputs(a, b, scale_a, scale_b, out_dtype, bias, options);
  p.out_row_stride = p.n;  // the output allocated below: contiguous
  const Chosen c = choose(p, options);
  Tensor out = Tensor::empty({p.m, p.n}, out_dtype, a.device());
  run_chosen(c, out, a, b, scale_a, scale_b, bias, stream, p);
  return out;
}

Tensor cutlass_scaled_mm(const TensorView& a, const TensorView& b, const TensorView& scale_a,
                         const TensorView& scale_b, DType out_dtype, const std::optional<TensorView>& bias,
                         Stream stream) {
  if (a.dim() == 2) return scaled_mm(a, b, scale_a, scale_b, out_dtype, bias, ScaledMmOptions{}, stream);
  // vLLM's wrapper: a [..., K] viewed as [-1, K], the result viewed as [..., N].
  W8A8_CHECK(a.dim() >= 1, "a: expected a tensor [..., K] of at least 1 dimension, got ", a.describe());
  const int64_t k = a.size(-1);
  TensorView a_2d;
  try {
    a_2d = a.view({-1, k});
  } catch (const Error& e) {
    W8A8_FAIL(ErrorKind::kValue, "a: expected leading dimensions that can be viewed as one, [-1, ", k, "] (",
              e.what(), ")");
  }
  Tensor out = scaled_mm(a_2d, b, scale_a, scale_b, out_dtype, bias, ScaledMmOptions{}, stream);
  Dims shape;
  for (int d = 0; d + 1 < a.dim(); ++d) shape.push_back(a.size(d));
  shape.push_back(out.size(1));
  return out.view(shape);
}

BackendChoice choose_scaled_mm_backend(const TensorView& out, const TensorView& a, const TensorView& b,
                                       const TensorView& scale_a, const TensorView& scale_b,
                                       const std::optional<TensorView>& bias, const ScaledMmOptions& options) {
  const ScaledMmProblem p = smm::validate_scaled_mm(out, a, b, scale_a, scale_b, bias, options);
  const Chosen c = choose(p, options);
  return {c.backend->id, std::string(c.backend->name) + " for " + p.str() + ": " + c.reason, c.kernel};
}

std::vector<std::string> scaled_mm_kernels(ScaledMmBackend backend) {
  const Backend* b = smm::find_backend(backend);
  return b && b->kernels ? b->kernels() : std::vector<std::string>{};
}

const char* backend_name(ScaledMmBackend backend) {
  switch (backend) {
    case ScaledMmBackend::kAuto: return "auto";
    case ScaledMmBackend::kCpu: return "cpu";
    case ScaledMmBackend::kCutlass: return "cutlass";
    case ScaledMmBackend::kCublasLt: return "cublaslt";
    case ScaledMmBackend::kUnfused: return "unfused";
  }
  return "unknown";
}

ScaledMmBackend backend_from_name(const std::string& name) {
  std::string lower;
  for (char ch : name) lower += char(std::tolower(static_cast<unsigned char>(ch)));
  for (ScaledMmBackend b : {ScaledMmBackend::kAuto, ScaledMmBackend::kCpu, ScaledMmBackend::kCutlass,
                            ScaledMmBackend::kCublasLt, ScaledMmBackend::kUnfused})
    if (lower == backend_name(b)) return b;
  W8A8_FAIL(ErrorKind::kValue, "backend: expected one of auto, cpu, cutlass, cublaslt, unfused, got '", name, "'");
}

const char* accumulation_name(Accumulation acc) {
  switch (acc) {
    case Accumulation::kDefault: return "default";
    case Accumulation::kPromoted: return "promoted";
    case Accumulation::kFast: return "fast";
  }
  return "unknown";
}

const char* scale_kind_name(ScaleKind kind) {
  switch (kind) {
    case ScaleKind::kPerTensor: return "per_tensor";
    case ScaleKind::kPerToken: return "per_token";
    case ScaleKind::kPerChannel: return "per_channel";
    case ScaleKind::kBlock: return "block";
  }
  return "unknown";
}

}  // namespace w8a8
