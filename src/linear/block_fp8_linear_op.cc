// vLLM's W8A8BlockFp8LinearOp (fp8_utils.py): 1 x 128 activation groups x 128 x 128 weight blocks.
#include <string>

#include "linear/layer_args.h"
#include "scaled_mm/fused_quant.h"
#include "w8a8/error.h"
#include "w8a8/linear.h"
#include "w8a8/quant.h"
#include "w8a8/scaled_mm.h"
#ifdef W8A8_WITH_CUDA
#include "cuda/check.h"
#include "cuda/scratch.h"
#endif

namespace w8a8 {

namespace {

constexpr int64_t kBlock = 128;

bool is_e4m3_dtype(DType t) { return t == DType::kFloat8E4M3FN || t == DType::kFloat8E4M3FNUZ; }

// Zeroes the padding rows [m, padded) of the FP8 activation and of its column- or row-major scales, so the padded
// product rows are finite (and dropped). Only devices whose layout pads rows get here (CUDA).
void zero_padding_rows(const TensorView& q, const TensorView& scales, int64_t m, Stream stream) {
  const int64_t padded = q.size(0), K = q.size(1), L = scales.size(1);
  if (padded == m) return;
#ifdef W8A8_WITH_CUDA
  cudaStream_t s = resolve_stream(stream);
  W8A8_CUDA_CHECK(cudaMemsetAsync(q.data_as<uint8_t>() + m * K, 0, size_t((padded - m) * K), s));
  float* sc = scales.data_as<float>();
  if (scales.stride(0) == 1)  // column-major: rows m.. of every column
    W8A8_CUDA_CHECK(cudaMemset2DAsync(sc + m, size_t(scales.stride(1)) * sizeof(float), 0,
                                      size_t(padded - m) * sizeof(float), size_t(L), s));
  else
    W8A8_CUDA_CHECK(cudaMemsetAsync(sc + m * scales.stride(0), 0, size_t((padded - m) * L) * sizeof(float), s));
#else
  (void)K, (void)L, (void)stream;
  W8A8_FAIL(ErrorKind::kRuntime, "block linear: row padding on ", q.device().str(), " without a CUDA build");
#endif
}

}  // namespace

W8A8BlockFp8LinearOp::W8A8BlockFp8LinearOp(GroupShape weight_group_shape, GroupShape act_quant_group_shape, bool,
                                           bool)
    : weight_group_shape_(weight_group_shape), act_quant_group_shape_(act_quant_group_shape) {
  W8A8_CHECK(weight_group_shape == (GroupShape{kBlock, kBlock}), "weight_group_shape: expected (128, 128), got ",
             weight_group_shape.str());
  W8A8_CHECK(act_quant_group_shape == (GroupShape{1, kBlock}), "act_quant_group_shape: expected (1, 128), got ",
             act_quant_group_shape.str());
}

Tensor W8A8BlockFp8LinearOp::apply(const TensorView& input, const TensorView& weight, const TensorView& weight_scale,
                                   const std::optional<TensorView>& input_scale,
                                   const std::optional<TensorView>& bias, Stream stream) const {
  W8A8_CHECK(!input_scale.has_value(), "input_scale: expected none (block FP8 activations are quantized dynamically "
             "per 1 x 128 group), got ", input_scale ? input_scale->describe() : std::string());
  return run(std::nullopt, input, weight, weight_scale, bias, stream);
}

void W8A8BlockFp8LinearOp::apply_into(const TensorView& out, const TensorView& input, const TensorView& weight,
                                 const TensorView& weight_scale, const std::optional<TensorView>& bias,
                                 Stream stream) const {
  run(out, input, weight, weight_scale, bias, stream);
}

Tensor W8A8BlockFp8LinearOp::run(const std::optional<TensorView>& out, const TensorView& input,
                                 const TensorView& weight, const TensorView& weight_scale,
                                 const std::optional<TensorView>& bias, Stream stream) const {
  // ---- weight [N, K] FP8 row-major, weight_scale [ceil(N/128), K/128] fp32
  W8A8_CHECK(weight.dim() == 2, "weight: expected a 2-D [N, K] tensor, got ", weight.describe());
  W8A8_CHECK_TYPE(is_e4m3_dtype(weight.dtype()), "weight: expected float8_e4m3fn or float8_e4m3fnuz, got ",
                  dtype_name(weight.dtype()));
  const int64_t N = weight.size(0), K = weight.size(1);
  W8A8_CHECK(weight.stride(1) == 1 || K <= 1, "weight: expected a row-major [N, K] tensor (stride(1) == 1), got ",
             weight.describe());
  W8A8_CHECK(K > 0 && K % kBlock == 0, "weight: expected K = weight.size(1) a positive multiple of 128, got ",
             weight.describe());
  const Device device = weight.device();
  const int64_t L = K / kBlock, NB = (N + kBlock - 1) / kBlock;
  W8A8_CHECK_TYPE(weight_scale.dtype() == DType::kFloat32, "weight_scale: expected float32, got ",
                  weight_scale.describe());
  W8A8_CHECK(weight_scale.dim() == 2 && weight_scale.size(0) == NB && weight_scale.size(1) == L,
             "weight_scale: expected [ceil(N/128), K/128] = [", NB, ", ", L, "], got ", weight_scale.describe());
  W8A8_CHECK_TYPE(weight_scale.device() == device, "weight_scale: expected a tensor on ", device.str(),
                  " like weight, got ", weight_scale.describe());

  // ---- input [..., K], bias, the caller's output
  W8A8_CHECK_TYPE(is_half_or_float(input.dtype()), "input: expected bfloat16, float16 or float32, got ",
                  dtype_name(input.dtype()));
  const linear_detail::LayerRows rows = linear_detail::layer_rows(input, K, N, "weight.size(1)", device);
  const TensorView& input_2d = rows.input_2d;
  const int64_t M = rows.m;
  const DType out_dtype = input.dtype();
  linear_detail::check_bias(bias, N, out_dtype, device);
  TensorView out_2d;
  if (out) {
    W8A8_CHECK_TYPE(out->dtype() == out_dtype, "out: expected the input's dtype ", dtype_name(out_dtype), ", got ",
                    dtype_name(out->dtype()));
    out_2d = linear_detail::out_rows(*out, rows, N, device);
  }

  // ---- the fused decode path (scaled_mm/fused_quant.h decides): the GEMM kernel quantizes the 1x128 groups itself
  if (device.is_cuda() && M > 0) {
    smm::FusedQuantArgs f;
    f.out = out ? out_2d : TensorView(nullptr, out_dtype, {M, N}, device);
    f.x = input_2d;
    f.b = weight.t();
    f.scale_b = weight_scale.t();
    f.bias = bias;
    f.act = smm::FusedQuantArgs::Act::kDynamicGroup;
    f.eps = 1e-10f;  // as the unfused path below
    f.ue8m0 = false;
    f.stream = stream;
    Tensor fresh;
    if (smm::run_fused_quant_if_chosen(f, &fresh)) return out ? Tensor::borrow(*out) : fresh.view(rows.output_shape);
  }
  // ---- the activation in the layout the blockwise GEMM reads as it is: Mp rows, scales [Mp, L]
  const BlockwiseLayout layout = blockwise_layout(device);
  const int64_t Mp = (M + layout.row_multiple - 1) / layout.row_multiple * layout.row_multiple;
  const bool padded_out = out && Mp != M;  // the caller's buffer has M rows: the product goes to scratch first
  Tensor q, s, product;
  bool on_scratch = false;
#ifdef W8A8_WITH_CUDA
  if (device.is_cuda()) {
    on_scratch = true;
    const size_t out_bytes = size_t(Mp * N) * dtype_size(out_dtype);
    cuda::ScratchCarver carve;
    carve.reserve(size_t(Mp * K));
    carve.reserve(size_t(Mp * L) * sizeof(float));
    if (padded_out) carve.reserve(out_bytes);
    carve.bind(cuda::stream_scratch(carve.total(), resolve_stream(stream), cuda::ScratchSlot::kLayer));
    q = Tensor::borrow(TensorView(carve.take<uint8_t>(size_t(Mp * K)), weight.dtype(), {Mp, K}, device));
    float* sp = carve.take<float>(size_t(Mp * L));
    s = Tensor::borrow(layout.scale_a_column_major ? TensorView(sp, DType::kFloat32, {Mp, L}, {1, Mp}, device)
                                                   : TensorView(sp, DType::kFloat32, {Mp, L}, device));
    if (padded_out) product = Tensor::borrow(TensorView(carve.take<char>(out_bytes), out_dtype, {Mp, N}, device));
  }
#endif
  if (!on_scratch) {
    W8A8_CHECK_KIND(ErrorKind::kRuntime, Mp == M, "block linear: row padding needs device scratch");
    q = Tensor::empty({M, K}, weight.dtype(), device);
    s = layout.scale_a_column_major ? Tensor::empty({L, M}, DType::kFloat32, device).t()
                                    : Tensor::empty({M, L}, DType::kFloat32, device);
  }
  if (M > 0) per_token_group_quant_fp8_into(q.narrow(0, 0, M), s.narrow(0, 0, M), input_2d, kBlock, 1e-10, false,
                                            stream);
  zero_padding_rows(q, s, M, stream);

  // ---- the GEMM: scaled_mm's one decision for a blockwise problem, bias after it as vLLM adds it
  const TensorView b = weight.t(), scale_b = weight_scale.t();
  if (out) {
    scaled_mm(padded_out ? TensorView(product) : out_2d, q, b, s, scale_b, bias, ScaledMmOptions{}, stream);
    if (padded_out) copy(out_2d, product.narrow(0, 0, M), stream);
    return Tensor::borrow(*out);
  }
  Tensor full = Tensor::empty({Mp, N}, out_dtype, device);
  scaled_mm(full, q, b, s, scale_b, bias, ScaledMmOptions{}, stream);
  return full.narrow(0, 0, M).view(rows.output_shape);
}

}  // namespace w8a8
