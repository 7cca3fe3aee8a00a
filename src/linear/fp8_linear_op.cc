// vLLM's Fp8LinearOp (w8a8_utils.py), spec section 4.
#include <string>
#include <tuple>

#include "linear/backend_choice.h"
#include "linear/layer_args.h"
#include "w8a8/quant.h"
#include "w8a8/scaled_mm.h"
#include "scaled_mm/fused_quant.h"
#ifdef W8A8_WITH_CUDA
#include "cuda/scratch.h"
#endif
#include "w8a8/error.h"
#include "w8a8/linear.h"
#include "w8a8/platform.h"

namespace w8a8 {

namespace linear_detail {

std::string choose_preferred_backend(const Platform& platform, bool cutlass_fp8_supported, bool force_fp8_e4m3fnuz,
                                     bool flashinfer_available) {
  if (platform.is_rocm) return "rocm";
  if (platform.is_cuda && !force_fp8_e4m3fnuz && cutlass_fp8_supported) {
    if (flashinfer_available && platform.capability >= 100) return "flashinfer";
    return "cutlass";
  }
  if (platform.is_cuda) return "torch";
  return "cpu";
}

std::optional<int64_t> choose_output_padding(const std::string& preferred_backend, std::optional<bool> pad_output) {
  const bool pad = pad_output.has_value() ? *pad_output : preferred_backend == "torch";
  if (pad) return int64_t{17};
  return std::nullopt;
}

DType platform_fp8_dtype(const Platform& platform) {
  return platform.is_rocm ? DType::kFloat8E4M3FNUZ : DType::kFloat8E4M3FN;
}

}  // namespace linear_detail

namespace {

// Fp8LinearOp takes what vLLM's does: static per-tensor, dynamic per-tensor or dynamic per-token
// activations (group-quantized activations belong to the block-FP8 linear op).
GroupShape checked_group_shape(bool act_quant_static, GroupShape g) {
  W8A8_CHECK(g.is_per_tensor() || g.is_per_token(),
             "act_quant_group_shape: expected PER_TENSOR or PER_TOKEN for Fp8LinearOp, got ", g.str());
  W8A8_CHECK(!act_quant_static || g.is_per_tensor(),
             "act_quant_group_shape: static activation quantization (act_quant_static=true) supports PER_TENSOR "
             "only, got ",
             g.str());
  return g;
}

bool is_e4m3_dtype(DType t) { return t == DType::kFloat8E4M3FN || t == DType::kFloat8E4M3FNUZ; }

// A scale of one element (any shape) as [1]: one shape for every backend's "one element" rule.
TensorView one_element(const TensorView& s) { return TensorView(s.data(), s.dtype(), {1}, {1}, s.device()); }

// The out= path's activation quantization: M rows (no padding), into per-stream scratch on the GPU
// (allocation-free once sized), fresh tensors on the CPU. Returns (qinput, x_scale).
std::pair<Tensor, Tensor> quantize_unpadded(const TensorView& x, bool is_static, GroupShape group, DType fp8,
                                            const std::optional<TensorView>& scale,
                                            const std::optional<TensorView>& scale_ub, Stream stream) {
  const int64_t M = x.size(0), K = x.size(1);
  const bool per_token = !is_static && group.is_per_token();
  const Dims scale_shape = per_token ? Dims{M, 1} : Dims{1};
  Tensor q, s;
#ifdef W8A8_WITH_CUDA
  if (x.device().is_cuda()) {
    cuda::ScratchCarver carve;
    carve.reserve(size_t(M * K));
    carve.reserve(size_t(scale_shape.product()) * sizeof(float));
    carve.bind(cuda::stream_scratch(carve.total(), resolve_stream(stream), cuda::ScratchSlot::kLayer));
    q = Tensor::borrow(TensorView(carve.take<uint8_t>(size_t(M * K)), fp8, {M, K}, x.device()));
    s = Tensor::borrow(TensorView(carve.take<float>(size_t(scale_shape.product())), DType::kFloat32, scale_shape,
                                  x.device()));
  }
#endif
  if (!q.defined() || q.data() == nullptr) {
    q = Tensor::empty({M, K}, fp8, x.device());
    s = Tensor::empty(scale_shape, DType::kFloat32, x.device());
  }
  if (is_static) {  // one element or [M, 1]: scaled_fp8_quant writes into q and hands the scale back
    auto result = scaled_fp8_quant(x, scale, std::nullopt, std::nullopt, false, std::optional<TensorView>(q), fp8,
                                   stream);
    return {std::move(q), std::move(result.second)};  // q owns the CPU buffer that result.first only borrows
  }
  if (per_token) {
    dynamic_per_token_scaled_fp8_quant(q, x, s, scale_ub, stream);
  } else {
    dynamic_scaled_fp8_quant(q, x, s, stream);
  }
  return {std::move(q), std::move(s)};
}

}  // namespace

Fp8LinearOp::Fp8LinearOp(bool act_quant_static, GroupShape act_quant_group_shape, std::optional<bool> pad_output,
                         bool force_fp8_e4m3fnuz, Accumulation accumulation)
    : act_quant_static_(act_quant_static),
      act_quant_group_shape_(checked_group_shape(act_quant_static, act_quant_group_shape)),
      preferred_backend_(linear_detail::choose_preferred_backend(current_platform(), cutlass_fp8_supported(),
                                                                 force_fp8_e4m3fnuz)),
      output_padding_(linear_detail::choose_output_padding(preferred_backend_, pad_output)),
      quant_fp8_(act_quant_static, act_quant_group_shape, output_padding_, /*column_major_scales=*/false,
                 /*use_ue8m0=*/false, linear_detail::platform_fp8_dtype(current_platform())),
      accumulation_(accumulation == Accumulation::kFast ? Accumulation::kFast : Accumulation::kPromoted) {}

Tensor Fp8LinearOp::apply(const TensorView& input, const TensorView& weight, const TensorView& weight_scale,
                          std::optional<DType> out_dtype, const std::optional<TensorView>& input_scale,
                          const std::optional<TensorView>& input_scale_ub, const std::optional<TensorView>& bias,
                          Stream stream) const {
  return run(std::nullopt, input, weight, weight_scale, out_dtype, input_scale, input_scale_ub, bias, stream);
}

void Fp8LinearOp::apply(const TensorView& out, const TensorView& input, const TensorView& weight,
                        const TensorView& weight_scale, const std::optional<TensorView>& input_scale,
                        const std::optional<TensorView>& input_scale_ub, const std::optional<TensorView>& bias,
                        Stream stream) const {
  run(out, input, weight, weight_scale, out.dtype(), input_scale, input_scale_ub, bias, stream);
}

Tensor Fp8LinearOp::run(const std::optional<TensorView>& out, const TensorView& input, const TensorView& weight,
                        const TensorView& weight_scale, std::optional<DType> out_dtype,
                        const std::optional<TensorView>& input_scale, const std::optional<TensorView>& input_scale_ub,
                        const std::optional<TensorView>& bias, Stream stream) const {
  // ---- weight [K, N] FP8, column-major; weight_scale one element or per output channel ----
  W8A8_CHECK(weight.dim() == 2, "weight: expected a 2-D [K, N] tensor, got ", weight.describe());
  W8A8_CHECK_TYPE(is_e4m3_dtype(weight.dtype()), "weight: expected float8_e4m3fn or float8_e4m3fnuz, got ",
                  dtype_name(weight.dtype()));
  W8A8_CHECK(weight.stride(0) == 1,
             "weight: expected a column-major [K, N] tensor (stride(0) == 1: the [N, K] weight transposed), got ",
             weight.describe());
  const int64_t K = weight.size(0);
  const int64_t N = weight.size(1);
  W8A8_CHECK(K > 0, "weight: expected K = weight.size(0) > 0, got ", weight.describe());
  const Device device = weight.device();

  W8A8_CHECK_TYPE(weight_scale.dtype() == DType::kFloat32, "weight_scale: expected float32, got ",
                  dtype_name(weight_scale.dtype()));
  const bool per_tensor_weights = weight_scale.numel() == 1;
  const bool per_channel_shape = (weight_scale.dim() == 2 && weight_scale.size(0) == N && weight_scale.size(1) == 1) ||
                                 (weight_scale.dim() == 1 && weight_scale.size(0) == N);
  W8A8_CHECK(per_tensor_weights || per_channel_shape, "weight_scale: expected one element or [N, 1] / [N] with N = ",
             N, ", got ", weight_scale.describe());
  W8A8_CHECK(weight_scale.is_contiguous(), "weight_scale: expected a contiguous tensor, got ",
             weight_scale.describe());
  W8A8_CHECK_TYPE(weight_scale.device() == device, "weight_scale: expected a tensor on ", device.str(),
                  " like weight, got ", weight_scale.describe());

  // ---- input [..., K] ----
  const bool input_is_fp8 = is_fp8(input.dtype());
  W8A8_CHECK_TYPE(is_half_or_float(input.dtype()) || is_e4m3_dtype(input.dtype()),
                  "input: expected bfloat16, float16, float32, or float8_e4m3fn / float8_e4m3fnuz already quantized, "
                  "got ",
                  dtype_name(input.dtype()));
  // 1. input_2d = input.view(-1, K); output_shape = input.shape[:-1] + [N]
  const linear_detail::LayerRows rows = linear_detail::layer_rows(input, K, N, "weight.size(0)", device);
  const TensorView& input_2d = rows.input_2d;
  const int64_t M = rows.m;
  const Dims& output_shape = rows.output_shape;

  // The activation's FP8 format: the input's, or the platform's (vLLM's current_platform.fp8_dtype():
  // e4m3fn everywhere w8a8 builds) when this op quantizes. Both operands share one format.
  const DType act_fp8 = input_is_fp8 ? input.dtype() : quant_fp8_.fp8_dtype();
  W8A8_CHECK_TYPE(act_fp8 == weight.dtype(), "weight: expected ", dtype_name(act_fp8), " like the ",
                  input_is_fp8 ? "FP8 input" : "activation this op quantizes (the platform's FP8 format)", ", got ",
                  dtype_name(weight.dtype()));

  // 2. out_dtype defaults to the input's dtype.
  if (!out_dtype.has_value()) {
    W8A8_CHECK_TYPE(!input_is_fp8, "out_dtype: required when the input is already FP8 (",
                    dtype_name(input.dtype()), " is no output dtype); expected bfloat16, float16 or float32");
    out_dtype = input.dtype();
  }
  W8A8_CHECK_TYPE(is_half_or_float(*out_dtype), "out_dtype: expected bfloat16, float16 or float32, got ",
                  dtype_name(*out_dtype));
  linear_detail::check_bias(bias, N, *out_dtype, device);

  // The caller's output: output_shape, its rows viewable as [M, N].
  const TensorView out_2d = out ? linear_detail::out_rows(*out, rows, N, device) : TensorView();

  // 3. Quantize the activation unless it already is FP8.
  Tensor qinput_owner, x_scale_owner;
  TensorView qinput, x_scale;
  if (!input_is_fp8) {
    if (act_quant_static_) {
      W8A8_CHECK(input_scale.has_value(),
                 "input_scale: required for static activation quantization (act_quant_static=true), got none");
    } else {
      W8A8_CHECK(!input_scale.has_value(),
                 "input_scale: must not be given for dynamic activation quantization (act_quant_static=false), got ",
                 input_scale->describe());
    }
    if (input_scale.has_value()) {
      W8A8_CHECK_TYPE(input_scale->dtype() == DType::kFloat32, "input_scale: expected float32, got ",
                      dtype_name(input_scale->dtype()));
      W8A8_CHECK(input_scale->numel() == 1 ||
                     (input_scale->dim() == 2 && input_scale->size(0) == M && input_scale->size(1) == 1),
                 "input_scale: expected one element (or [M, 1] per token) with M = ", M, ", got ",
                 input_scale->describe());
      W8A8_CHECK_TYPE(input_scale->device() == device, "input_scale: expected a tensor on ", device.str(),
                      " like weight, got ", input_scale->describe());
    }
    if (input_scale_ub.has_value()) {
      W8A8_CHECK(!act_quant_static_ && act_quant_group_shape_.is_per_token(),
                 "input_scale_ub: only valid with dynamic per-token activation quantization, but this op is ",
                 act_quant_static_ ? "static " : "dynamic ", act_quant_group_shape_.str());
      W8A8_CHECK(input_scale_ub->numel() == 1, "input_scale_ub: expected one element, got ",
                 input_scale_ub->describe());
      W8A8_CHECK_TYPE(input_scale_ub->dtype() == DType::kFloat32, "input_scale_ub: expected float32, got ",
                      dtype_name(input_scale_ub->dtype()));
    }
    // The fused decode path (scaled_mm/fused_quant.h decides): the GEMM kernel quantizes the activation itself.
    if (device.is_cuda() && (!act_quant_static_ || input_scale->numel() == 1)) {
      smm::FusedQuantArgs f;
      f.out = out ? out_2d : TensorView(nullptr, *out_dtype, {M, N}, device);
      f.x = input_2d;
      f.b = weight;
      f.scale_b = weight_scale;
      f.bias = bias;
      f.act = act_quant_static_                   ? smm::FusedQuantArgs::Act::kStatic
              : act_quant_group_shape_.is_per_token() ? smm::FusedQuantArgs::Act::kDynamicPerToken
                                                      : smm::FusedQuantArgs::Act::kDynamicPerTensor;
      f.static_scale = act_quant_static_ ? input_scale->data_as<const float>() : nullptr;
      f.scale_ub = input_scale_ub ? input_scale_ub->data_as<const float>() : nullptr;
      f.accumulation = accumulation_;
      f.stream = stream;
      Tensor fresh;
      if (smm::run_fused_quant_if_chosen(f, &fresh)) return out ? Tensor::borrow(*out) : fresh.view(output_shape);
    }
    if (out.has_value()) {
      std::tie(qinput_owner, x_scale_owner) =
          quantize_unpadded(input_2d, act_quant_static_, act_quant_group_shape_, quant_fp8_.fp8_dtype(), input_scale,
                            input_scale_ub, stream);
      qinput = qinput_owner;
      x_scale = x_scale_owner;
    } else {
      std::tie(qinput_owner, x_scale_owner) = quant_fp8_(input_2d, input_scale, input_scale_ub, stream);
      qinput = qinput_owner;
      x_scale = x_scale_owner;
    }
  } else {
    W8A8_CHECK(input_scale.has_value(), "input_scale: required when the input is already FP8 (",
               dtype_name(input.dtype()), "), got none");
    W8A8_CHECK(!input_scale_ub.has_value(),
               "input_scale_ub: only used when this op quantizes the input (dynamic per-token); the input is already ",
               dtype_name(input.dtype()));
    qinput = input_2d;
    x_scale = *input_scale;
  }
  W8A8_CHECK_TYPE(x_scale.dtype() == DType::kFloat32, "input_scale: expected float32, got ",
                  dtype_name(x_scale.dtype()));
  W8A8_CHECK(x_scale.numel() == 1 || (x_scale.dim() == 2 && x_scale.size(0) == qinput.size(0) && x_scale.size(1) == 1),
             "input_scale: expected one element or [M, 1] with M = ", qinput.size(0), ", got ", x_scale.describe());
  W8A8_CHECK_TYPE(x_scale.device() == device, "input_scale: expected a tensor on ", device.str(),
                  " like weight, got ", x_scale.describe());

  // 4. The seed's rule: per-tensor means one element.
  const bool per_tensor_activations = x_scale.numel() == 1;
  const TensorView scale_a = per_tensor_activations ? one_element(x_scale) : x_scale;
  const TensorView scale_b = per_tensor_weights ? one_element(weight_scale)
                                                : (weight_scale.dim() == 1 ? weight_scale.view({N, 1}) : weight_scale);

  // 5. vLLM's strategy (dispatch_w8a8_scaled_mm) for this backend and these scales runs scaled_mm's one decision
  // (every strategy does): the GEMM over every row of qinput (token padding included), then the first M rows.
  const ScaledMmOptions options(ScaledMmBackend::kAuto, accumulation_);
  if (out.has_value()) {
    scaled_mm(out_2d, qinput, weight, scale_a, scale_b, bias, options, stream);
    return Tensor::borrow(*out);
  }
  Tensor full = scaled_mm(qinput, weight, scale_a, scale_b, *out_dtype, bias, options, stream);
  return full.narrow(0, 0, M).view(output_shape);
}

}  // namespace w8a8
