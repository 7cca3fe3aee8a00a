// A plain CUDA-core FP8 GEMM with fp32 accumulation, for the shapes cuBLASLt's FP8 path refuses
// (K or N not a multiple of 16, unaligned rows): the unfused path's base GEMM there. Correctness
// first; shapes that matter for speed take cuBLASLt or w8a8's Hopper kernels.
#include <cuda_fp8.h>

#include "cuda/check.h"
#include "scaled_mm/cublaslt/cublaslt_backend.h"

namespace w8a8::smm::cublaslt {
namespace {

constexpr int kTile = 64, kStep = 16, kThreads = 256;  // 64x64 outputs, 4x4 per thread

__device__ __forceinline__ float fp8_to_float(uint8_t v) {
  const __half_raw h = __nv_cvt_fp8_to_halfraw(v, __NV_E4M3);
  return __half2float(__half(h));
}

// acc[m, n] = sum_k A[m, k] * B[k, n]; A rows lda apart, B columns ldb apart (stride(0) == 1).
__global__ void __launch_bounds__(kThreads) simt_kernel(float* __restrict__ acc, int64_t ldc,
                                                       const uint8_t* __restrict__ a, int64_t lda,
                                                       const uint8_t* __restrict__ b, int64_t ldb, int64_t M,
                                                       int64_t N, int64_t K) {
  __shared__ float as[kStep][kTile + 1];
  __shared__ float bs[kStep][kTile + 1];
  const int64_t m0 = int64_t(blockIdx.y) * kTile, n0 = int64_t(blockIdx.x) * kTile;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float c[4][4] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kStep) {
    for (int i = threadIdx.x; i < kTile * kStep; i += kThreads) {
      const int r = i / kStep, k = i % kStep;  // consecutive threads read consecutive k: rows are K-contiguous
      const int64_t gm = m0 + r, gn = n0 + r, gk = k0 + k;
      as[k][r] = (gm < M && gk < K) ? fp8_to_float(a[gm * lda + gk]) : 0.0f;
      bs[k][r] = (gn < N && gk < K) ? fp8_to_float(b[gn * ldb + gk]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kStep; ++k) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        av[i] = as[k][ty * 4 + i];
        bv[i] = bs[k][tx * 4 + i];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) c[i][j] = fmaf(av[i], bv[j], c[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t gm = m0 + ty * 4 + i, gn = n0 + tx * 4 + j;
      if (gm < M && gn < N) acc[gm * ldc + gn] = c[i][j];
    }
}

}  // namespace

void simt_gemm_unit_scales(const TensorView& acc, const TensorView& a, const TensorView& b, Stream stream) {
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, a.dtype() == DType::kFloat8E4M3FN,
                  "scaled_mm on CUDA: e4m3fnuz operands are not supported (ROCm's format), got ", dtype_name(a.dtype()));
  const int64_t M = a.size(0), N = b.size(1), K = a.size(1);
  if (M == 0 || N == 0) return;
  const dim3 grid{unsigned((N + kTile - 1) / kTile), unsigned((M + kTile - 1) / kTile)};
  simt_kernel<<<grid, kThreads, 0, resolve_stream(stream)>>>(acc.data_as<float>(), acc.stride(0),
                                                            a.data_as<const uint8_t>(), a.stride(0),
                                                            b.data_as<const uint8_t>(), b.stride(1), M, N, K);
  W8A8_CUDA_CHECK_LAUNCH();
}

}  // namespace w8a8::smm::cublaslt
