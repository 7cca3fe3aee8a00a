// Block quantization of a weight [N, K] (128x128 by default): one scale per block,
// s = max(amax / FP8_MAX, MIN_SCALE); partial edge blocks use the elements present.
#include <vector>

#include "quant/quant_common.h"
#include "quant/quant_cuda_dispatch.h"
#include "w8a8/quant.h"

namespace w8a8 {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void check_block_args(int64_t block_n, int64_t block_k) {
  W8A8_CHECK(block_n > 0, "block_n: expected a positive block size, got ", block_n);
  W8A8_CHECK(block_k > 0, "block_k: expected a positive block size, got ", block_k);
}

}  // namespace

void per_block_quant_fp8_into(const TensorView& out, const TensorView& scale_out, const TensorView& weight,
                              int64_t block_n, int64_t block_k, Stream stream) {
  quant::check_activation(weight, "weight");
  check_block_args(block_n, block_k);
  const int64_t N = weight.size(0), K = weight.size(1);
  const int64_t nbr = ceil_div(N, block_n), nbc = ceil_div(K, block_k);
  quant::check_fp8_output(out, "out", N, K);
  W8A8_CHECK_TYPE(scale_out.dtype() == DType::kFloat32, "scale_out: expected a float32 tensor [", nbr, ", ", nbc,
                  "], got ", scale_out.describe());
  W8A8_CHECK(scale_out.dim() == 2 && scale_out.size(0) == nbr && scale_out.size(1) == nbc,
             "scale_out: expected shape [", nbr, ", ", nbc, "] (ceil(N / block_n), ceil(K / block_k)), got ",
             scale_out.describe());
  W8A8_CHECK(scale_out.is_contiguous(), "scale_out: expected a contiguous tensor, got ", scale_out.describe());
  W8A8_CHECK(scale_out.data() != nullptr || scale_out.numel() == 0,
             "scale_out: expected a tensor with data, got a null pointer (", scale_out.describe(), ")");
  const Device device = quant::check_devices({{"weight", &weight}, {"out", &out}, {"scale_out", &scale_out}});
  W8A8_ON_CUDA(device, quant::cuda::per_block_quant(out, weight, scale_out.data_as<float>(), block_n, block_k, stream));

  const int64_t out_ld = out.stride(0);
  const float qmax = fp8_quant_max(out.dtype()), min_scale = fp8_min_scale(out.dtype());
  const quant::RowKernels& kernels = quant::row_kernels();
  const auto amax_row = kernels.amax[quant::in_kind(weight.dtype())];
  const auto quant_row = kernels.quant[quant::in_kind(weight.dtype())][quant::out_kind(out.dtype())];
  float* scales = scale_out.data_as<float>();
  uint8_t* q = out.data_as<uint8_t>();
#pragma omp parallel if (N * K >= quant::kParallelMinElements)
  {
    std::vector<float> amax(size_t(nbc), 0.0f), inv(size_t(nbc), 0.0f);
#pragma omp for schedule(guided)
    for (int64_t br = 0; br < nbr; ++br) {
      const int64_t r0 = br * block_n, r1 = std::min(N, r0 + block_n);
      std::fill(amax.begin(), amax.end(), 0.0f);
      // Row by row (sequential memory), each row feeding the amax of every column block.
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t bc = 0; bc < nbc; ++bc) {
          const int64_t c0 = bc * block_k, c1 = std::min(K, c0 + block_k);
          amax[size_t(bc)] = quant::nan_max(amax[size_t(bc)], amax_row(quant::element_ptr(weight, r, c0), c1 - c0));
        }
      for (int64_t bc = 0; bc < nbc; ++bc) {
        const float s = quant::scale_from_amax(amax[size_t(bc)], qmax, min_scale);
        scales[br * nbc + bc] = s;
        inv[size_t(bc)] = 1.0f / s;
      }
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t bc = 0; bc < nbc; ++bc) {
          const int64_t c0 = bc * block_k, c1 = std::min(K, c0 + block_k);
          quant_row(q + r * out_ld + c0, quant::element_ptr(weight, r, c0), c1 - c0, inv[size_t(bc)]);
        }
    }
  }
}

std::pair<Tensor, Tensor> per_block_quant_fp8(const TensorView& weight, int64_t block_n, int64_t block_k,
                                              DType fp8_dtype, Stream stream) {
  quant::check_activation(weight, "weight");
  check_block_args(block_n, block_k);
  quant::check_fp8_dtype(fp8_dtype, "fp8_dtype");
  quant::check_devices({{"weight", &weight}});
  const int64_t N = weight.size(0), K = weight.size(1);
  Tensor w_q = Tensor::empty({N, K}, fp8_dtype, weight.device());
  Tensor scales = Tensor::empty({ceil_div(N, block_n), ceil_div(K, block_k)}, DType::kFloat32, weight.device());
  per_block_quant_fp8_into(w_q, scales, weight, block_n, block_k, stream);
  return {std::move(w_q), std::move(scales)};
}

}  // namespace w8a8
