// The unfused path's epilogue on CUDA: one pass over the fp32 product.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "cuda/check.h"
#include "scaled_mm/cublaslt/cublaslt_backend.h"
#include "w8a8/formats.h"

namespace w8a8::smm::cublaslt {
namespace {

struct Bf16Out {
  using T = uint16_t;
  static __device__ __forceinline__ T cast(float v) { return float_to_bf16(v); }
  static __device__ __forceinline__ float load(T v) { return bf16_to_float(v); }
};
struct Fp16Out {
  using T = uint16_t;
  static __device__ __forceinline__ T cast(float v) { return float_to_fp16(v); }
  static __device__ __forceinline__ float load(T v) { return fp16_to_float(v); }
};
struct Fp32Out {
  using T = float;
  static __device__ __forceinline__ T cast(float v) { return v; }
  static __device__ __forceinline__ float load(T v) { return v; }
};

// sa_stride / sb_stride are 0 for a broadcast scalar, 1 for a vector.
template <class Out>
__global__ void epilogue_kernel(typename Out::T* __restrict__ out, int64_t ldo, const float* __restrict__ acc,
                                int64_t M, int64_t N, const float* __restrict__ sa, int64_t sa_stride,
                                const float* __restrict__ sb, int64_t sb_stride,
                                const typename Out::T* __restrict__ bias) {
  const int64_t total = M * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t m = i / N, n = i - m * N;
    // Same order as vLLM's torch path: (acc * x_scale) * w_scale, then + bias.
    float v = acc[i] * sa[m * sa_stride] * sb[n * sb_stride];
    if (bias != nullptr) v += Out::load(bias[n]);
    out[m * ldo + n] = Out::cast(v);
  }
}

__global__ void broadcast_kernel(float* __restrict__ dst, const float* __restrict__ src, int64_t n) {
  const float v = *src;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = v;
}

__global__ void repack_kernel(float* __restrict__ dst, int64_t dst_rows, int64_t dst_ld,
                              const float* __restrict__ src, int64_t rows, int64_t cols, int64_t s_i, int64_t s_j,
                              float fill) {
  const int64_t total = dst_rows * dst_ld;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = t / dst_ld, j = t - i * dst_ld;
    dst[t] = (i < rows && j < cols) ? src[i * s_i + j * s_j] : fill;
  }
}

// out[m, n] = cast(out[m, n] + bias[n]): the bias after a GEMM whose epilogue cannot add it (block scaling),
// rounded twice as vLLM's `output + bias` after its blockwise GEMM is.
template <class Out>
__global__ void add_bias_kernel(typename Out::T* __restrict__ out, int64_t ldo, int64_t M, int64_t N,
                                const typename Out::T* __restrict__ bias) {
  const int64_t total = M * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t m = i / N, n = i - m * N;
    typename Out::T* o = out + m * ldo + n;
    *o = Out::cast(Out::load(*o) + Out::load(bias[n]));
  }
}

}  // namespace

void add_bias(const TensorView& out, const TensorView& bias, Stream stream) {
  const int64_t M = out.size(0), N = out.size(1);
  if (M == 0 || N == 0) return;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((M * N + threads - 1) / threads, 132 * 16);
  const auto launch = [&](auto tag) {
    using Out = decltype(tag);
    add_bias_kernel<Out><<<unsigned(blocks), threads, 0, resolve_stream(stream)>>>(
        out.data_as<typename Out::T>(), out.stride(0), M, N, bias.data_as<const typename Out::T>());
    W8A8_CUDA_CHECK_LAUNCH();
  };
  switch (out.dtype()) {
    case DType::kBFloat16: launch(Bf16Out{}); break;
    case DType::kFloat16: launch(Fp16Out{}); break;
    default: launch(Fp32Out{}); break;
  }
}

void repack_scales(float* dst, int64_t dst_rows, int64_t dst_ld, const float* src, int64_t rows, int64_t cols,
                   int64_t s_i, int64_t s_j, float fill, Stream stream) {
  const int64_t total = dst_rows * dst_ld;
  if (total == 0) return;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, 1024);
  repack_kernel<<<unsigned(blocks), threads, 0, resolve_stream(stream)>>>(dst, dst_rows, dst_ld, src, rows, cols,
                                                                          s_i, s_j, fill);
  W8A8_CUDA_CHECK_LAUNCH();
}

void broadcast_scalar(float* dst, const float* src, int64_t n, Stream stream) {
  if (n <= 0) return;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((n + threads - 1) / threads, 1024);
  broadcast_kernel<<<unsigned(blocks), threads, 0, resolve_stream(stream)>>>(dst, src, n);
  W8A8_CUDA_CHECK_LAUNCH();
}

void epilogue(const TensorView& out, const TensorView& acc, const TensorView& scale_a, const TensorView& scale_b,
              const std::optional<TensorView>& bias, Stream stream) {
  const int64_t M = out.size(0), N = out.size(1);
  if (M == 0 || N == 0) return;
  cudaStream_t s = resolve_stream(stream);
  const int64_t sa_stride = scale_a.numel() == 1 ? 0 : 1;
  const int64_t sb_stride = scale_b.numel() == 1 ? 0 : 1;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((M * N + threads - 1) / threads, 132 * 16);
  const auto launch = [&](auto tag) {
    using Out = decltype(tag);
    epilogue_kernel<Out><<<unsigned(blocks), threads, 0, s>>>(
        out.data_as<typename Out::T>(), out.stride(0), acc.data_as<const float>(), M, N,
        scale_a.data_as<const float>(), sa_stride, scale_b.data_as<const float>(), sb_stride,
        bias ? bias->data_as<const typename Out::T>() : nullptr);
    W8A8_CUDA_CHECK_LAUNCH();
  };
  switch (out.dtype()) {
    case DType::kBFloat16: launch(Bf16Out{}); break;
    case DType::kFloat16: launch(Fp16Out{}); break;
    default: launch(Fp32Out{}); break;
  }
}

}  // namespace w8a8::smm::cublaslt
