// The public scaled_mm entries: validate -> the one decision (chooser.h, cached) -> run.
#include "w8a8/scaled_mm.h"

#include <cctype>

#include "scaled_mm/backend.h"
#include "scaled_mm/chooser.h"
#include "scaled_mm/problem.h"
#include "w8a8/error.h"

namespace w8a8 {
namespace {

using smm::Decision;
using smm::ScaledMmProblem;

void run_decided(const Decision& d, const TensorView& out, const TensorView& a, const TensorView& b,
                 const TensorView& scale_a, const TensorView& scale_b, const std::optional<TensorView>& bias,
                 Stream stream, const ScaledMmProblem& p) {
  smm::ScaledMmArgs args;
  args.out = out;
  args.a = a;
  args.b = b;
  args.scale_a = scale_a;
  args.scale_b = scale_b;
  args.bias = bias;
  args.stream = stream;
  args.problem = p;
  args.plan = d.plan;
  d.backend->run(args);
}

}  // namespace

void scaled_mm(const TensorView& out, const TensorView& a, const TensorView& b, const TensorView& scale_a,
               const TensorView& scale_b, const std::optional<TensorView>& bias, const ScaledMmOptions& options,
               Stream stream) {
  const ScaledMmProblem p = smm::validate_scaled_mm(out, a, b, scale_a, scale_b, bias, options);
  run_decided(smm::decide(p, options), out, a, b, scale_a, scale_b, bias, stream, p);
}

Tensor scaled_mm(const TensorView& a, const TensorView& b, const TensorView& scale_a, const TensorView& scale_b,
                 DType out_dtype, const std::optional<TensorView>& bias, const ScaledMmOptions& options,
                 Stream stream) {
  ScaledMmProblem p = smm::validate_scaled_mm_inputs(a, b, scale_a, scale_b, out_dtype, bias, options);
  p.out_row_stride = p.n;  // the output allocated below: contiguous (and 256-byte aligned)
  const Decision& d = smm::decide(p, options);
  Tensor out = Tensor::empty({p.m, p.n}, out_dtype, a.device());
  run_decided(d, out, a, b, scale_a, scale_b, bias, stream, p);
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
  return smm::decide(smm::validate_scaled_mm(out, a, b, scale_a, scale_b, bias, options), options).choice;
}

BackendChoice choose_scaled_mm_backend(const ScaledMmShape& shape, const ScaledMmOptions& options) {
  ScaledMmProblem p = smm::problem_of_shape(shape);
  p.accumulation = options.accumulation;
  p.kernel = options.kernel.empty() ? nullptr : options.kernel.c_str();
  return smm::decide(p, options).choice;
}

std::string BackendChoice::str() const {
  std::string s = backend_name(backend);
  if (!kernel.empty()) s += " " + kernel;
  if (!knobs.empty()) s += " [" + knobs + "]";
  s += std::string(" ") + accumulation_name(accumulation) + ": " + reason;
  return s;
}

BlockwiseLayout blockwise_layout(const Device& device) {
  // The layout of the backend the chooser takes for blockwise problems on this device.
  ScaledMmShape shape;
  shape.m = shape.n = shape.k = ScaledMmProblem::kBlockSize;
  shape.scale_a = shape.scale_b = ScaleKind::kBlock;
  shape.device = device;
  try {
    return smm::decide(smm::problem_of_shape(shape), ScaledMmOptions{}).backend->blockwise_layout;
  } catch (const Error&) {
    return BlockwiseLayout{};  // nothing runs blockwise here; scaled_mm will say so
  }
}

std::vector<std::string> scaled_mm_kernels(ScaledMmBackend backend) {
  const smm::Backend* b = smm::find_backend(backend);
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
