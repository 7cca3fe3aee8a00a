// Scaled FP8 GEMM: out[M, N] = cast(out_dtype, (scale_a ⊙ A) @ (scale_b ⊙ B) + bias).
//
// A [M, K] FP8 row-major (stride(1) == 1); B [K, N] FP8 column-major (stride(0) == 1: the weight
// [N, K] seen transposed, as vLLM passes it). Scales fp32 contiguous:
//   scale_a: one element, or [M, 1] per token;   scale_b: one element, or [N] / [1, N] / [N, 1] per channel;
//   blockwise: scale_a [M, K/128], scale_b [K/128, N/128] (K % 128 == 0).
// bias: optional [N], dtype of out (bf16/fp16), or fp32 with fp32 out. out: bf16, fp16 or fp32.
// Every backend either runs a problem or says, through its capability check, that it cannot;
// the dispatcher then picks another. Errors are raised only for what no backend could run.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "w8a8/tensor.h"

namespace w8a8 {

enum class ScaledMmBackend : uint8_t {
  kAuto,      // the fastest backend that can run the problem on its device
  kCpu,       // dequantize tiles + BLAS sgemm (CPU tensors)
  kCutlass,   // w8a8's own Hopper kernels (sm_90a)
  kCublasLt,  // cuBLASLt FP8 matmul (what torch._scaled_mm uses)
  kUnfused,   // fp32 GEMM with unit scales, then one epilogue pass (vLLM's channelwise fallback)
};

enum class Accumulation : uint8_t {
  kDefault,   // the backend's documented default (promoted everywhere today)
  kPromoted,  // fp32 accumulation, torch's default accuracy
  kFast,      // Hopper FP8 fast accumulation (use_fast_accum=True)
};

// How the scales of a problem are laid out.
enum class ScaleKind : uint8_t { kPerTensor, kPerToken, kPerChannel, kBlock };

struct ScaledMmOptions {
  ScaledMmOptions(ScaledMmBackend backend_ = ScaledMmBackend::kAuto, Accumulation accumulation_ = Accumulation::kDefault,
                  std::string kernel_ = {})
      : backend(backend_), accumulation(accumulation_), kernel(std::move(kernel_)) {}
  ScaledMmBackend backend = ScaledMmBackend::kAuto;
  Accumulation accumulation = Accumulation::kDefault;
  // One named kernel configuration of the backend (scaled_mm_kernels lists them; tuning and tests),
  // optionally with tile-scheduler knobs: "name", "name:swizzle=4,raster=m,splits=2". Empty: the
  // backend's own measured choice.
  std::string kernel;
};

// Allocation-free entry: writes out (a caller buffer of [M, N]).
void scaled_mm(const TensorView& out, const TensorView& a, const TensorView& b, const TensorView& scale_a,
               const TensorView& scale_b, const std::optional<TensorView>& bias = std::nullopt,
               const ScaledMmOptions& options = {}, Stream stream = nullptr);

// Allocating entry.
Tensor scaled_mm(const TensorView& a, const TensorView& b, const TensorView& scale_a, const TensorView& scale_b,
                 DType out_dtype, const std::optional<TensorView>& bias = std::nullopt,
                 const ScaledMmOptions& options = {}, Stream stream = nullptr);

// vLLM's ops.cutlass_scaled_mm: the same problem, backend chosen automatically (w8a8's own
// kernels where they run, the best other backend elsewhere, including the CPU). Like vLLM's wrapper,
// a may be [..., K]: its leading dimensions are the M rows (a viewed as [-1, K]; scale_a per token
// [M, 1] counts them all) and the result is [..., N].
Tensor cutlass_scaled_mm(const TensorView& a, const TensorView& b, const TensorView& scale_a,
                         const TensorView& scale_b, DType out_dtype,
                         const std::optional<TensorView>& bias = std::nullopt, Stream stream = nullptr);

// What scaled_mm runs for a call and why: the one decision, made once per (device, problem) and cached.
// W8A8_LOG_DISPATCH=1 prints each decision when it is made; `w8a8 info --shape` prints it for a shape.
struct BackendChoice {
  ScaledMmBackend backend = ScaledMmBackend::kAuto;
  // Why: the problem, the source of the choice (measured table row, tuning cache, the only backend that can
  // run it, a request) with its measured times, and what was skipped.
  std::string reason;
  std::string kernel;  // the named kernel configuration (cutlass), "" where the backend has none
  std::string knobs;   // the configuration's knobs where not the defaults ("swizzle=4,raster=n"), or ""
  Accumulation accumulation = Accumulation::kPromoted;  // resolved: promoted or fast, never default
  double measured_us = -1;  // the measured time behind a table / cache choice (at its row's shape), else -1
  std::string str() const;  // "cutlass bf16_... [swizzle=4] promoted: reason"
};
BackendChoice choose_scaled_mm_backend(const TensorView& out, const TensorView& a, const TensorView& b,
                                       const TensorView& scale_a, const TensorView& scale_b,
                                       const std::optional<TensorView>& bias = std::nullopt,
                                       const ScaledMmOptions& options = {});

// A problem by its shape alone (contiguous, 16-byte aligned operands), for tools: `w8a8 info --shape`.
struct ScaledMmShape {
  int64_t m = 1, n = 1, k = 1;
  // scale_a: kPerTensor, kPerToken or kBlock; scale_b: kPerTensor, kPerChannel or kBlock (with kBlock).
  ScaleKind scale_a = ScaleKind::kPerTensor;
  ScaleKind scale_b = ScaleKind::kPerTensor;
  DType out_dtype = DType::kBFloat16;
  bool bias = false;
  Device device;
};
BackendChoice choose_scaled_mm_backend(const ScaledMmShape& shape, const ScaledMmOptions& options = {});

// How the device's fused blockwise GEMM reads activations and their 1x128 scales without repacking or padding them
// per call: rows padded to a multiple of row_multiple (padding rows zero), scale_a [M_padded, K/128] column-major
// (stride(0) == 1) when scale_a_column_major. Quantization writing this layout saves the GEMM those copies.
struct BlockwiseLayout {
  bool scale_a_column_major = false;
  int64_t row_multiple = 1;
};
BlockwiseLayout blockwise_layout(const Device& device);

// The named kernel configurations of a backend built in this build (empty for backends without any).
std::vector<std::string> scaled_mm_kernels(ScaledMmBackend backend);

const char* backend_name(ScaledMmBackend backend);  // "auto", "cpu", "cutlass", "cublaslt", "unfused"
ScaledMmBackend backend_from_name(const std::string& name);
const char* accumulation_name(Accumulation acc);  // "default", "promoted", "fast"
const char* scale_kind_name(ScaleKind kind);      // "per_tensor", "per_token", "per_channel", "block"

}  // namespace w8a8
