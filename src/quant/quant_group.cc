// Dynamic per-token-group quantization (vLLM's per_token_group_quant_fp8): one scale per row and
// group of G consecutive elements along K, s = max(amax, eps) / FP8_MAX (UE8M0: rounded up to a
// power of two). Scales are [M, ceil(K/G)], row-major or column-major. When G does not divide K the
// last group is shorter (vLLM's native path pads it with zeros, which change no amax).
#include <cmath>

#include "quant/quant_common.h"
#include "quant/quant_cuda_dispatch.h"
#include "w8a8/quant.h"

namespace w8a8 {
namespace {

void check_group_args(int64_t group_size, double eps) {
  W8A8_CHECK(group_size > 0, "group_size: expected a positive group size, got ", group_size);
  // eps keeps all-zero groups away from a zero scale (whose reciprocal would turn 0 into NaN).
  W8A8_CHECK(eps > 0.0 && std::isfinite(float(eps)) && float(eps) > 0.0f, "eps: expected a positive finite value "
             "(as float32), got ", eps);
}

int64_t group_count(int64_t K, int64_t G) { return (K + G - 1) / G; }

}  // namespace

void per_token_group_quant_fp8_into(const TensorView& out, const TensorView& scale_out, const TensorView& input,
                                    int64_t group_size, double eps, bool use_ue8m0, Stream stream) {
  quant::check_activation(input, "input");
  check_group_args(group_size, eps);
  const int64_t M = input.size(0), K = input.size(1), G = group_size, ng = group_count(K, G);
  quant::check_fp8_output(out, "out", M, K);
  W8A8_CHECK_TYPE(scale_out.dtype() == DType::kFloat32, "scale_out: expected a float32 tensor [", M, ", ", ng,
                  "], got ", scale_out.describe());
  W8A8_CHECK(scale_out.dim() == 2 && scale_out.size(0) == M && scale_out.size(1) == ng,
             "scale_out: expected shape [", M, ", ", ng, "] (ceil(K / group_size) = ceil(", K, " / ", G, ")), got ",
             scale_out.describe());
  const int64_t s0 = scale_out.stride(0), s1 = scale_out.stride(1);
  const bool row_major = (ng <= 1 || s1 == 1) && (M <= 1 || s0 >= ng);
  const bool col_major = (M <= 1 || s0 == 1) && (ng <= 1 || s1 >= M);
  W8A8_CHECK(row_major || col_major, "scale_out: expected row-major (stride(1) == 1) or column-major ",
             "(stride(0) == 1) scales whose elements do not overlap, got ", scale_out.describe());
  W8A8_CHECK(scale_out.data() != nullptr || scale_out.numel() == 0,
             "scale_out: expected a tensor with data, got a null pointer (", scale_out.describe(), ")");
  const Device device = quant::check_devices({{"input", &input}, {"out", &out}, {"scale_out", &scale_out}});
  W8A8_ON_CUDA(device, quant::cuda::per_token_group_quant(out, input, scale_out.data_as<float>(), scale_out.stride(0),
                                                          scale_out.stride(1), group_size, float(eps), use_ue8m0,
                                                          stream));

  const int64_t out_ld = out.stride(0);
  const float qmax = fp8_quant_max(out.dtype()), feps = float(eps);
  const quant::RowKernels& kernels = quant::row_kernels();
  const auto amax_row = kernels.amax[quant::in_kind(input.dtype())];
  const auto quant_row = kernels.quant[quant::in_kind(input.dtype())][quant::out_kind(out.dtype())];
  float* scales = scale_out.data_as<float>();
  uint8_t* q = out.data_as<uint8_t>();
  const int64_t total = M * ng;  // (row, group) pairs: balanced even for M = 1
#pragma omp parallel for schedule(guided) if (M * K >= quant::kParallelMinElements)
  for (int64_t i = 0; i < total; ++i) {
    const int64_t m = i / ng, g = i % ng;
    const int64_t len = std::min(G, K - g * G);  // the last group may be short
    const char* p = quant::element_ptr(input, m, g * G);
    const float s = quant::group_scale(amax_row(p, len), feps, qmax, use_ue8m0);
    scales[m * s0 + g * s1] = s;
    quant_row(q + m * out_ld + g * G, p, len, 1.0f / s);
  }
}

std::pair<Tensor, Tensor> per_token_group_quant_fp8(const TensorView& x, int64_t group_size,
                                                    bool column_major_scales, bool use_ue8m0, double eps,
                                                    DType fp8_dtype, Stream stream) {
  // x [..., K]: vLLM's function takes any leading dimensions; they are rows of one [M, K] problem.
  W8A8_CHECK_TYPE(is_half_or_float(x.dtype()), "x: expected a bfloat16, float16 or float32 tensor, got ",
                  x.describe());
  W8A8_CHECK(x.dim() >= 2, "x: expected a tensor [..., K] of at least 2 dimensions, got ", x.describe());
  check_group_args(group_size, eps);
  quant::check_fp8_dtype(fp8_dtype, "fp8_dtype");
  quant::check_devices({{"x", &x}});
  const int64_t K = x.size(-1), ng = group_count(K, group_size);
  TensorView x2;
  try {
    x2 = x.view({-1, K});
  } catch (const Error& e) {
    W8A8_FAIL(ErrorKind::kValue, "x: expected leading dimensions that can be viewed as one, [-1, ", K, "] (",
              e.what(), ")");
  }
  quant::check_activation(x2, "x");
  const int64_t M = x2.size(0);

  Tensor x_q = Tensor::empty(x.sizes(), fp8_dtype, x.device());
  Dims lead;  // x.shape[:-1]
  for (int d = 0; d + 1 < x.dim(); ++d) lead.push_back(x.size(d));
  if (!column_major_scales) {
    Dims shape = lead;
    shape.push_back(ng);
    Tensor x_s = Tensor::empty(shape, DType::kFloat32, x.device());
    per_token_group_quant_fp8_into(x_q.view({M, K}), x_s.view({M, ng}), x2, group_size, eps, use_ue8m0, stream);
    return {std::move(x_q), std::move(x_s)};
  }
  // Column-major scales as vLLM allocates them: [..., K/G, R] contiguous with the last two dimensions
  // swapped (R = x.size(-2)), so each [R, ng] matrix is column-major. For 3-D and larger x (where vLLM's
  // permute(-1, -2) raises) that is one column-major matrix per leading index, quantized one by one.
  const int64_t R = x.size(-2), B = R > 0 ? M / R : 0;
  Dims storage_shape;
  for (int d = 0; d + 2 < x.dim(); ++d) storage_shape.push_back(x.size(d));
  storage_shape.push_back(ng);
  storage_shape.push_back(R);
  Tensor x_s = Tensor::empty(storage_shape, DType::kFloat32, x.device()).transpose(-2, -1);
  const TensorView x3 = x2.view({B, R, K});
  const Tensor q3 = x_q.view({B, R, K});
  const Tensor s3 = x_s.view({B, R, ng});
  for (int64_t b = 0; b < B; ++b)
    per_token_group_quant_fp8_into(q3.narrow(0, b, 1).view({R, K}), s3.narrow(0, b, 1).view({R, ng}),
                                   x3.narrow(0, b, 1).view({R, K}), group_size, eps, use_ue8m0, stream);
  return {std::move(x_q), std::move(x_s)};
}

}  // namespace w8a8
