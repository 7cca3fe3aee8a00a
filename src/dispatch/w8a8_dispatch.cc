// vLLM's scaled-mm strategies of the linear layer and the seed's dispatch table
// (w8a8_utils.dispatch_w8a8_scaled_mm), with w8a8's "cpu" backend added. The strategies map onto scaled_mm's
// one decision (src/scaled_mm/chooser.h); the table is vLLM's, the decision of what runs is not repeated here.
//
// Every strategy computes the product over all rows of qinput (token padding included), keeps the
// first num_rows rows (torch.narrow: a view sharing the product's storage) and views them as
// output_shape. vLLM's cutlass/flashinfer strategies skip the narrow because they never see padded
// input; narrowing there is a no-op in that case and makes an explicit pad_output=true work too.
#include "w8a8/dispatch.h"

#include <string>

#include "w8a8/error.h"
#include "w8a8/platform.h"

namespace w8a8 {

namespace {

// torch.narrow(output, 0, 0, num_rows).view(*output_shape)
Tensor narrow_and_view(const Tensor& full, int64_t num_rows, const Dims& output_shape) {
  Tensor rows = full.narrow(0, 0, num_rows);
  W8A8_CHECK(output_shape.product() == rows.numel(), "output_shape: expected ", num_rows, " x ", full.size(1),
             " = ", rows.numel(), " elements, got ", output_shape.str(), " (", output_shape.product(), ")");
  return rows.view(output_shape);
}

void check_rows(const TensorView& qinput, const TensorView& weight, int64_t num_rows) {
  W8A8_CHECK(qinput.dim() == 2, "qinput: expected a 2-D [rows, K] tensor, got ", qinput.describe());
  W8A8_CHECK(weight.dim() == 2, "weight: expected a 2-D [K, N] tensor, got ", weight.describe());
  W8A8_CHECK(num_rows >= 0 && num_rows <= qinput.size(0), "num_rows: expected 0 <= num_rows <= qinput.size(0) = ",
             qinput.size(0), ", got ", num_rows);
}

// Every strategy runs the one decision (scaled_mm's chooser): the measured fastest fused GEMM that can run the
// problem on its device (the unfused path only where none can), on the CPU the CPU backend. The strategy names
// are vLLM's public face; they differ in which problems vLLM routes to them and in the 17-row padding of the
// "torch" backend (Fp8LinearOp's choice), never in what runs.
Tensor run_chosen(const TensorView& qinput, const TensorView& weight, DType out_dtype, const TensorView& scale_a,
                  const TensorView& scale_b, const std::optional<TensorView>& bias, int64_t num_rows,
                  const Dims& output_shape, Stream stream) {
  check_rows(qinput, weight, num_rows);
  Tensor out = scaled_mm(qinput, weight, scale_a, scale_b, out_dtype, bias, ScaledMmOptions{}, stream);
  return narrow_and_view(out, num_rows, output_shape);
}

// vLLM's USE_ROWWISE_TORCH_SCALED_MM: ROCm, torch >= 2.7 and capability >= 9.4. w8a8 has no ROCm
// build, so this is false, and per-token x per-channel on the "torch"/"rocm" backends takes the
// channelwise strategy, as vLLM does on CUDA.
bool use_rowwise_torch_scaled_mm() {
  const Platform& p = current_platform();
  return p.is_rocm && p.capability >= 94;
}

}  // namespace

Tensor cutlass_w8a8_scaled_mm(const TensorView& qinput, const TensorView& weight, DType out_dtype,
                              const TensorView& scale_a, const TensorView& scale_b,
                              const std::optional<TensorView>& bias, int64_t num_rows, const Dims& output_shape,
                              Stream stream) {
  // Fused GEMM_DQ
  return run_chosen(qinput, weight, out_dtype, scale_a, scale_b, bias, num_rows, output_shape, stream);
}

Tensor flashinfer_w8a8_scaled_mm(const TensorView&, const TensorView&, DType, const TensorView&, const TensorView&,
                                 const std::optional<TensorView>&, int64_t, const Dims&, Stream) {
  W8A8_FAIL(ErrorKind::kUnsupported,
            "flashinfer_w8a8_scaled_mm: FlashInfer is unavailable in w8a8 (preferred_backend \"flashinfer\" is a "
            "recognised name only); use \"cutlass\", \"torch\" or \"cpu\"");
}

Tensor rocm_per_tensor_w8a8_scaled_mm(const TensorView&, const TensorView&, DType, const TensorView&,
                                      const TensorView&, const std::optional<TensorView>&, int64_t, const Dims&,
                                      Stream) {
  W8A8_FAIL(ErrorKind::kUnsupported,
            "rocm_per_tensor_w8a8_scaled_mm: ROCm is unavailable in w8a8 (preferred_backend \"rocm\" is a "
            "recognised name only); use \"cutlass\", \"torch\" or \"cpu\"");
}

Tensor torch_per_tensor_w8a8_scaled_mm(const TensorView& qinput, const TensorView& weight, DType out_dtype,
                                       const TensorView& scale_a, const TensorView& scale_b,
                                       const std::optional<TensorView>& bias, int64_t num_rows,
                                       const Dims& output_shape, Stream stream) {
  // torch._scaled_mm is cuBLASLt; the chooser runs it, or the kernel measured faster.
  return run_chosen(qinput, weight, out_dtype, scale_a, scale_b, bias, num_rows, output_shape, stream);
}

Tensor torch_per_token_w8a8_scaled_mm(const TensorView& qinput, const TensorView& weight, DType out_dtype,
                                      const TensorView& scale_a, const TensorView& scale_b,
                                      const std::optional<TensorView>& bias, int64_t num_rows,
                                      const Dims& output_shape, Stream stream) {
  return run_chosen(qinput, weight, out_dtype, scale_a, scale_b, bias, num_rows, output_shape, stream);
}

Tensor torch_channelwise_w8a8_scaled_mm(const TensorView& qinput, const TensorView& weight, DType out_dtype,
                                        const TensorView& scale_a, const TensorView& scale_b,
                                        const std::optional<TensorView>& bias, int64_t num_rows,
                                        const Dims& output_shape, Stream stream) {
  // vLLM's unfused fallback (fp32 GEMM with unit scales, then x_scale * acc * scale_bᵀ + bias) exists because
  // torch._scaled_mm lacks rowwise scales on its platforms. w8a8's chooser runs a fused GEMM wherever one can
  // run the problem and the unfused backend only where none can; rows beyond num_rows are computed the same way
  // and dropped.
  return run_chosen(qinput, weight, out_dtype, scale_a, scale_b, bias, num_rows, output_shape, stream);
}

Tensor cpu_w8a8_scaled_mm(const TensorView& qinput, const TensorView& weight, DType out_dtype,
                          const TensorView& scale_a, const TensorView& scale_b,
                          const std::optional<TensorView>& bias, int64_t num_rows, const Dims& output_shape,
                          Stream stream) {
  check_rows(qinput, weight, num_rows);
  Tensor out = scaled_mm(qinput, weight, scale_a, scale_b, out_dtype, bias, ScaledMmOptions{ScaledMmBackend::kCpu},
                         stream);
  return narrow_and_view(out, num_rows, output_shape);
}

W8A8ScaledMmFn dispatch_w8a8_scaled_mm(const std::string& preferred_backend, bool per_tensor_weights,
                                       bool per_tensor_activations) {
  const bool known = preferred_backend == "rocm" || preferred_backend == "flashinfer" ||
                     preferred_backend == "cutlass" || preferred_backend == "torch" || preferred_backend == "cpu";
  W8A8_CHECK(known, "preferred_backend: expected one of \"rocm\", \"flashinfer\", \"cutlass\", \"torch\", \"cpu\", got \"",
             preferred_backend, "\"");
  // w8a8's CPU backend runs every granularity.
  if (preferred_backend == "cpu") return &cpu_w8a8_scaled_mm;

  if (per_tensor_weights && per_tensor_activations) {
    if (preferred_backend == "rocm") return &rocm_per_tensor_w8a8_scaled_mm;
    if (preferred_backend == "flashinfer") return &flashinfer_w8a8_scaled_mm;
    if (preferred_backend == "cutlass") return &cutlass_w8a8_scaled_mm;
    return &torch_per_tensor_w8a8_scaled_mm;
  }
  // cutlass_scaled_mm supports per tensor/channel W and per tensor/token A
  if (preferred_backend == "cutlass" || preferred_backend == "flashinfer") return &cutlass_w8a8_scaled_mm;
  // torch._scaled_mm's rowwise scaling (per-channel W and per-token A), where allowed
  if (!per_tensor_weights && !per_tensor_activations && use_rowwise_torch_scaled_mm())
    return &torch_per_token_w8a8_scaled_mm;
  // Otherwise torch._scaled_mm takes per-tensor scales only: the unfused fallback.
  return &torch_channelwise_w8a8_scaled_mm;
}

const char* scaled_mm_fn_name(W8A8ScaledMmFn fn) {
  if (fn == &cutlass_w8a8_scaled_mm) return "cutlass_w8a8_scaled_mm";
  if (fn == &flashinfer_w8a8_scaled_mm) return "flashinfer_w8a8_scaled_mm";
  if (fn == &rocm_per_tensor_w8a8_scaled_mm) return "rocm_per_tensor_w8a8_scaled_mm";
  if (fn == &torch_per_tensor_w8a8_scaled_mm) return "torch_per_tensor_w8a8_scaled_mm";
  if (fn == &torch_per_token_w8a8_scaled_mm) return "torch_per_token_w8a8_scaled_mm";
  if (fn == &torch_channelwise_w8a8_scaled_mm) return "torch_channelwise_w8a8_scaled_mm";
  if (fn == &cpu_w8a8_scaled_mm) return "cpu_w8a8_scaled_mm";
  return "unknown";
}

}  // namespace w8a8
