// Quantization kernels. Memory-bound: 16-byte loads where rows allow it, each row (per-token) or
// tile (blocks) read from DRAM once, reductions in registers and shared memory, scales never
// read back by the host.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <atomic>
#include <type_traits>

#include "cuda/check.h"
#include "quant/cuda/quant_cuda.h"
#include "quant/cuda/scale_rules.cuh"
#include "w8a8/formats.h"

namespace w8a8::quant::cuda {
namespace {

constexpr int kThreads = 256;

// The kernels that produce a GEMM's FP8 activations let a GEMM launched after them with programmatic
// dependent launch (w8a8's Hopper kernels) start its prologue early; that GEMM still waits for this grid
// to complete before it reads the operands (CUTLASS's scalar-broadcast constructors peek at a scalar scale
// earlier, for a zero test this epilogue never uses), so this only moves the launch, never the data.
__device__ __forceinline__ void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// ---- element access ------------------------------------------------------------------------
struct Bf16 {
  using T = uint16_t;
  static __device__ __forceinline__ float load(T h) { return __uint_as_float(uint32_t(h) << 16); }
};
struct Fp16 {
  using T = uint16_t;
  static __device__ __forceinline__ float load(T h) { return __half2float(__ushort_as_half(h)); }
};
struct Fp32 {
  using T = float;
  static __device__ __forceinline__ float load(T x) { return x; }
};

// e4m3fn: the hardware conversion (sm_89+): round to nearest even, saturate to +-448, NaN -> 0x7F,
// which is exactly formats.h's quantize_e4m3fn (the GPU tests compare every code with the CPU).
// One instruction per pair instead of ~40 for the bit-twiddling encoder, which made these memory-
// bound kernels compute-bound. e4m3fnuz has no hardware conversion: formats.h's encoder.
template <bool kFnuz>
__device__ __forceinline__ uint8_t encode(float v) {
  if constexpr (kFnuz) {
    return quantize_e4m3fnuz(v);
  } else {
    return uint8_t(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3));
  }
}
template <bool kFnuz>
__device__ __forceinline__ uint16_t encode2(float lo, float hi) {
  if constexpr (kFnuz) {
    return uint16_t(quantize_e4m3fnuz(lo) | (uint16_t(quantize_e4m3fnuz(hi)) << 8));
  } else {
    return uint16_t(__nv_cvt_float2_to_fp8x2(make_float2(lo, hi), __NV_SATFINITE, __NV_E4M3));
  }
}

// ---- reductions ------------------------------------------------------------------------------
__device__ __forceinline__ uint32_t warp_max(uint32_t v) {
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
  return v;
}
// Block-wide max of a non-negative integer; every thread gets the result.
__device__ __forceinline__ uint32_t block_max(uint32_t v) {
  __shared__ uint32_t partial[32];
  __shared__ uint32_t result;
  v = warp_max(v);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    uint32_t w = lane < int(blockDim.x >> 5) ? partial[lane] : 0u;
    w = warp_max(w);
    if (lane == 0) result = w;
  }
  __syncthreads();
  const uint32_t r = result;
  __syncthreads();  // the shared slots may be reused by a following call
  return r;
}

// ---- vectors -----------------------------------------------------------------------------------
// VEC elements per access: 16 bytes when the layout allows it, else 1.
template <class In, int VEC>
struct alignas(sizeof(typename In::T) * VEC) Vec {
  typename In::T v[VEC];
};
template <int VEC>
struct alignas(VEC) QVec {
  uint8_t v[VEC];
};

template <class In, int VEC>
__device__ __forceinline__ uint32_t vec_amax(const Vec<In, VEC>& x) {
  uint32_t m = 0;
#pragma unroll
  for (int j = 0; j < VEC; ++j) m = max(m, mag_bits(In::load(x.v[j])));
  return m;
}
template <class In, int VEC, bool kFnuz>
__device__ __forceinline__ QVec<VEC> vec_quant(const Vec<In, VEC>& x, float inv) {
  QVec<VEC> q;
  if constexpr (VEC % 2 == 0) {
#pragma unroll
    for (int j = 0; j < VEC; j += 2) {
      const uint16_t pair = encode2<kFnuz>(In::load(x.v[j]) * inv, In::load(x.v[j + 1]) * inv);
      q.v[j] = uint8_t(pair);
      q.v[j + 1] = uint8_t(pair >> 8);
    }
  } else {
#pragma unroll
    for (int j = 0; j < VEC; ++j) q.v[j] = encode<kFnuz>(In::load(x.v[j]) * inv);
  }
  return q;
}

// ---- kernels -----------------------------------------------------------------------------------
// Grid-stride over rows x vectors; each block handles whole rows so padding rows need no index math.
template <class In, int VEC, bool kFnuz>
__global__ void static_quant_kernel(uint8_t* __restrict__ out, int64_t out_ld, const typename In::T* __restrict__ in,
                                    int64_t in_ld, int64_t M, int64_t M_out, int64_t K,
                                    const float* __restrict__ scale, int64_t scale_stride) {
  allow_dependent_launch();
  const int64_t nvec = K / VEC;
  for (int64_t m = blockIdx.y; m < M_out; m += gridDim.y) {
    uint8_t* q = out + m * out_ld;
    if (m >= M) {
      for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < nvec; i += int64_t(gridDim.x) * blockDim.x)
        reinterpret_cast<QVec<VEC>*>(q)[i] = QVec<VEC>{};
      continue;
    }
    const float inv = reciprocal(scale[m * scale_stride]);
    const auto* x = reinterpret_cast<const Vec<In, VEC>*>(in + m * in_ld);
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < nvec; i += int64_t(gridDim.x) * blockDim.x)
      reinterpret_cast<QVec<VEC>*>(q)[i] = vec_quant<In, VEC, kFnuz>(x[i], inv);
  }
}

template <class In, int VEC>
__global__ void amax_kernel(uint32_t* __restrict__ amax_bits, const typename In::T* __restrict__ in, int64_t in_ld,
                            int64_t M, int64_t K) {
  const int64_t nvec = K / VEC;
  const int64_t total = M * nvec;
  uint32_t m = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / nvec, v = i - row * nvec;
    m = max(m, vec_amax<In, VEC>(reinterpret_cast<const Vec<In, VEC>*>(in + row * in_ld)[v]));
  }
  m = block_max(m);
  if (threadIdx.x == 0) atomicMax(amax_bits, m);
}

__global__ void amax_to_scale_kernel(float* scale, float qmax, float min_scale) {
  *scale = scale_from_amax(__uint_as_float(*reinterpret_cast<uint32_t*>(scale)), qmax, min_scale);
}

// One block per row, the row held in registers between the reduction and the quantization
// (kCached vectors per thread); longer rows re-read the rest (from L2).
template <class In, int VEC, bool kFnuz, int kCached>
__global__ void __launch_bounds__(kThreads) per_token_kernel(
    uint8_t* __restrict__ out, int64_t out_ld, const typename In::T* __restrict__ in, int64_t in_ld, int64_t M,
    int64_t K, float* __restrict__ scales, int64_t scale_stride, const float* __restrict__ scale_ub, float qmax,
    float min_scale) {
  allow_dependent_launch();
  const int64_t m = blockIdx.x;
  const int64_t nvec = K / VEC;
  uint8_t* q = out + m * out_ld;
  if (m >= M) {  // token padding
    for (int64_t i = threadIdx.x; i < nvec; i += blockDim.x) reinterpret_cast<QVec<VEC>*>(q)[i] = QVec<VEC>{};
    if (threadIdx.x == 0) scales[m * scale_stride] = 1.0f;
    return;
  }
  const auto* x = reinterpret_cast<const Vec<In, VEC>*>(in + m * in_ld);
  Vec<In, VEC> cache[kCached];
  uint32_t amax = 0;
#pragma unroll
  for (int c = 0; c < kCached; ++c) {
    const int64_t i = threadIdx.x + int64_t(c) * blockDim.x;
    if (i < nvec) {
      cache[c] = x[i];
      amax = max(amax, vec_amax<In, VEC>(cache[c]));
    }
  }
  for (int64_t i = threadIdx.x + int64_t(kCached) * blockDim.x; i < nvec; i += blockDim.x)
    amax = max(amax, vec_amax<In, VEC>(x[i]));
  amax = block_max(amax);
  const float ub = scale_ub != nullptr ? *scale_ub : __uint_as_float(0x7F800000u);
  const float s = token_scale(__uint_as_float(amax), ub, qmax, min_scale);
  if (threadIdx.x == 0) scales[m * scale_stride] = s;
  const float inv = reciprocal(s);
#pragma unroll
  for (int c = 0; c < kCached; ++c) {
    const int64_t i = threadIdx.x + int64_t(c) * blockDim.x;
    if (i < nvec) reinterpret_cast<QVec<VEC>*>(q)[i] = vec_quant<In, VEC, kFnuz>(cache[c], inv);
  }
  for (int64_t i = threadIdx.x + int64_t(kCached) * blockDim.x; i < nvec; i += blockDim.x)
    reinterpret_cast<QVec<VEC>*>(q)[i] = vec_quant<In, VEC, kFnuz>(x[i], inv);
}

// Large M: a resident grid whose blocks loop over rows, loading row m + gridDim.x into registers while row m
// is reduced and written, so every block always has loads in flight (the one-block-per-row kernel stalls on
// its reduction barriers with nothing outstanding). Rows of up to kThreads * kCached * VEC elements;
// the same arithmetic per row as per_token_kernel.
template <class In, int VEC, bool kFnuz, int kCached>
__global__ void __launch_bounds__(kThreads) per_token_rows_kernel(
    uint8_t* __restrict__ out, int64_t out_ld, const typename In::T* __restrict__ in, int64_t in_ld, int64_t M,
    int64_t M_out, int64_t K, float* __restrict__ scales, int64_t scale_stride, const float* __restrict__ scale_ub,
    float qmax, float min_scale) {
  allow_dependent_launch();
  const int64_t nvec = K / VEC;
  const float ub = scale_ub != nullptr ? *scale_ub : __uint_as_float(0x7F800000u);
  Vec<In, VEC> cur[kCached], nxt[kCached];
  auto load_row = [&](int64_t row, Vec<In, VEC>* c) {
    const auto* x = reinterpret_cast<const Vec<In, VEC>*>(in + row * in_ld);
#pragma unroll
    for (int j = 0; j < kCached; ++j) {
      const int64_t i = threadIdx.x + int64_t(j) * kThreads;
      if (i < nvec) c[j] = x[i];
    }
  };
  int64_t m = blockIdx.x;
  if (m < M) load_row(m, cur);
  for (; m < M_out; m += gridDim.x) {
    uint8_t* q = out + m * out_ld;
    if (m >= M) {  // token padding (rows past M come after every real row of this block)
      for (int64_t i = threadIdx.x; i < nvec; i += kThreads) reinterpret_cast<QVec<VEC>*>(q)[i] = QVec<VEC>{};
      if (threadIdx.x == 0) scales[m * scale_stride] = 1.0f;
      continue;
    }
    const int64_t next = m + gridDim.x;
    if (next < M) load_row(next, nxt);
    uint32_t amax = 0;
#pragma unroll
    for (int j = 0; j < kCached; ++j)
      if (threadIdx.x + int64_t(j) * kThreads < nvec) amax = max(amax, vec_amax<In, VEC>(cur[j]));
    amax = block_max(amax);
    const float s = token_scale(__uint_as_float(amax), ub, qmax, min_scale);
    if (threadIdx.x == 0) scales[m * scale_stride] = s;
    const float inv = reciprocal(s);
#pragma unroll
    for (int j = 0; j < kCached; ++j) {
      const int64_t i = threadIdx.x + int64_t(j) * kThreads;
      if (i < nvec) reinterpret_cast<QVec<VEC>*>(q)[i] = vec_quant<In, VEC, kFnuz>(cur[j], inv);
      cur[j] = nxt[j];
    }
  }
}

// One warp per (row, group): lanes stride over the group, warp max, then quantize (the group is
// in L1 by then). ceil(K / G) groups per row; the last one may be shorter (a whole number of vectors:
// the vector path needs K % VEC == 0 and G % VEC == 0).
template <class In, int VEC, bool kFnuz>
__global__ void group_kernel(uint8_t* __restrict__ out, int64_t out_ld, const typename In::T* __restrict__ in,
                             int64_t in_ld, int64_t M, int64_t K, int64_t G, float* __restrict__ scales, int64_t s0,
                             int64_t s1, float eps, bool ue8m0, float qmax) {
  allow_dependent_launch();
  const int64_t ng = (K + G - 1) / G;
  const int64_t warp = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp >= M * ng) return;  // whole warps exit together
  const int64_t m = warp / ng, g = warp - m * ng;
  const auto* x = reinterpret_cast<const Vec<In, VEC>*>(in + m * in_ld + g * G);
  const int64_t nvec = min(G, K - g * G) / VEC;
  uint32_t amax = 0;
  for (int64_t i = lane; i < nvec; i += 32) amax = max(amax, vec_amax<In, VEC>(x[i]));
  amax = warp_max(amax);
  const float s = group_scale(__uint_as_float(amax), eps, qmax, ue8m0);
  if (lane == 0) scales[m * s0 + g * s1] = s;
  const float inv = reciprocal(s);
  auto* q = reinterpret_cast<QVec<VEC>*>(out + m * out_ld + g * G);
  for (int64_t i = lane; i < nvec; i += 32) q[i] = vec_quant<In, VEC, kFnuz>(x[i], inv);
}

// Groups of exactly `lanes` vectors (a power of two <= 32): each lane holds one vector, a warp holds
// 32 / lanes groups, the amax is a shuffle reduction inside each lane segment. G=128 bf16: 16 lanes.
// A short last group (K % G != 0, still whole vectors) leaves its upper lanes empty: they add 0 to the
// amax, which changes no maximum of magnitudes.
template <class In, int VEC, bool kFnuz>
__global__ void group_kernel_lanes(uint8_t* __restrict__ out, int64_t out_ld, const typename In::T* __restrict__ in,
                                   int64_t in_ld, int64_t M, int64_t K, int lanes, float* __restrict__ scales,
                                   int64_t s0, int64_t s1, float eps, bool ue8m0, float qmax) {
  allow_dependent_launch();
  const int64_t G = int64_t(lanes) * VEC, ng = (K + G - 1) / G;
  const int64_t thread = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t group = thread / lanes;
  const int lane = int(thread % lanes);
  const bool active = group < M * ng;  // inactive lanes still join the shuffles
  const int64_t m = active ? group / ng : 0, g = active ? group - m * ng : 0;
  const bool holds = active && g * G + int64_t(lane + 1) * VEC <= K;  // this lane's vector exists
  Vec<In, VEC> x{};
  if (holds) x = reinterpret_cast<const Vec<In, VEC>*>(in + m * in_ld + g * G)[lane];
  uint32_t amax = holds ? vec_amax<In, VEC>(x) : 0u;
  for (int o = lanes / 2; o > 0; o >>= 1) amax = max(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
  if (!active) return;
  const float s = group_scale(__uint_as_float(amax), eps, qmax, ue8m0);
  if (lane == 0) scales[m * s0 + g * s1] = s;
  if (holds) reinterpret_cast<QVec<VEC>*>(out + m * out_ld + g * G)[lane] = vec_quant<In, VEC, kFnuz>(x, reciprocal(s));
}

// One block per (block_n, block_k) tile; scalar accesses (tiles may be ragged and it is load time).
template <class In, bool kFnuz>
__global__ void block_kernel(uint8_t* __restrict__ out, int64_t out_ld, const typename In::T* __restrict__ in,
                             int64_t in_ld, int64_t N, int64_t K, int64_t bn, int64_t bk, float* __restrict__ scales,
                             float qmax, float min_scale) {
  const int64_t tile_n = blockIdx.y, tile_k = blockIdx.x;
  const int64_t n0 = tile_n * bn, k0 = tile_k * bk;
  const int64_t rows = min(bn, N - n0), cols = min(bk, K - k0);
  uint32_t amax = 0;
  for (int64_t i = threadIdx.x; i < rows * cols; i += blockDim.x) {
    const int64_t r = i / cols, c = i - r * cols;
    amax = max(amax, mag_bits(In::load(in[(n0 + r) * in_ld + k0 + c])));
  }
  amax = block_max(amax);
  const float s = scale_from_amax(__uint_as_float(amax), qmax, min_scale);
  if (threadIdx.x == 0) scales[tile_n * gridDim.x + tile_k] = s;
  const float inv = reciprocal(s);
  for (int64_t i = threadIdx.x; i < rows * cols; i += blockDim.x) {
    const int64_t r = i / cols, c = i - r * cols;
    out[(n0 + r) * out_ld + k0 + c] = encode<kFnuz>(In::load(in[(n0 + r) * in_ld + k0 + c]) * inv);
  }
}

// ---- dispatch helpers -------------------------------------------------------------------------
// Calls f(In{}, fnuz constant) for the runtime dtypes.
template <class F>
void dispatch(DType in, DType out, F&& f) {
  auto with_out = [&](auto in_tag) {
    if (out == DType::kFloat8E4M3FNUZ) {
      f(in_tag, std::true_type{});
    } else {
      f(in_tag, std::false_type{});
    }
  };
  switch (in) {
    case DType::kBFloat16: with_out(Bf16{}); break;
    case DType::kFloat16: with_out(Fp16{}); break;
    default: with_out(Fp32{}); break;
  }
}

// 16-byte vectors when every row start of input and output allows it.
bool can_vectorize(const TensorView& input, const TensorView& out, int vec) {
  const int64_t es = int64_t(input.element_size());
  const auto aligned = [](const void* p, int64_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; };
  return input.size(1) % vec == 0 && aligned(input.data(), 16) && (input.stride(0) * es) % 16 == 0 &&
         aligned(out.data(), vec) && out.stride(0) % vec == 0;
}

int sm_count() {
  static const int count = [] {
    int device = 0, n = 0;
    W8A8_CUDA_CHECK(cudaGetDevice(&device));
    W8A8_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    return n;
  }();
  return count;
}

}  // namespace

void static_quant(const TensorView& out, const TensorView& input, const float* scale, int64_t scale_row_stride,
                  Stream stream) {
  const int64_t M = input.size(0), K = input.size(1), M_out = out.size(0);
  if (M_out == 0 || K == 0) return;
  cudaStream_t s = resolve_stream(stream);
  dispatch(input.dtype(), out.dtype(), [&](auto in_tag, auto fnuz) {
    using In = decltype(in_tag);
    constexpr int kVec = 16 / sizeof(typename In::T);
    const bool vec = can_vectorize(input, out, kVec);
    const int64_t nvec = vec ? K / kVec : K;
    const int64_t blocks_x = std::min<int64_t>((nvec + kThreads - 1) / kThreads, 1024);
    const int64_t blocks_y = std::min<int64_t>(M_out, 65535);
    const dim3 grid{unsigned(blocks_x), unsigned(blocks_y)};
    const auto* x = input.data_as<const typename In::T>();
    if (vec) {
      static_quant_kernel<In, kVec, decltype(fnuz)::value><<<grid, kThreads, 0, s>>>(
          out.data_as<uint8_t>(), out.stride(0), x, input.stride(0), M, M_out, K, scale, scale_row_stride);
    } else {
      static_quant_kernel<In, 1, decltype(fnuz)::value><<<grid, kThreads, 0, s>>>(
          out.data_as<uint8_t>(), out.stride(0), x, input.stride(0), M, M_out, K, scale, scale_row_stride);
    }
    W8A8_CUDA_CHECK_LAUNCH();
  });
}

void dynamic_per_tensor_quant(const TensorView& out, const TensorView& input, float* scale_out, Stream stream) {
  const int64_t M = input.size(0), K = input.size(1);
  cudaStream_t s = resolve_stream(stream);
  W8A8_CUDA_CHECK(cudaMemsetAsync(scale_out, 0, sizeof(float), s));
  if (M * K > 0) {
    dispatch(input.dtype(), out.dtype(), [&](auto in_tag, auto) {
      using In = decltype(in_tag);
      constexpr int kVec = 16 / sizeof(typename In::T);
      const bool vec = can_vectorize(input, out, kVec);
      const int64_t work = vec ? M * (K / kVec) : M * K;
      const int blocks = int(std::min<int64_t>((work + kThreads - 1) / kThreads, int64_t(sm_count()) * 4));
      auto* bits = reinterpret_cast<uint32_t*>(scale_out);
      if (vec) {
        amax_kernel<In, kVec><<<blocks, kThreads, 0, s>>>(bits, input.data_as<const typename In::T>(), input.stride(0), M, K);
      } else {
        amax_kernel<In, 1><<<blocks, kThreads, 0, s>>>(bits, input.data_as<const typename In::T>(), input.stride(0), M, K);
      }
      W8A8_CUDA_CHECK_LAUNCH();
    });
  }
  amax_to_scale_kernel<<<1, 1, 0, s>>>(scale_out, fp8_quant_max(out.dtype()), fp8_min_scale(out.dtype()));
  W8A8_CUDA_CHECK_LAUNCH();
  static_quant(out, input, scale_out, 0, stream);
}

// Blocks of `kernel` resident on the whole device at once (queried once per kernel and device).
template <class Kernel>
int rows_kernel_grid(Kernel kernel) {
  static std::atomic<int> cached[64] = {};
  int device = 0;
  W8A8_CUDA_CHECK(cudaGetDevice(&device));
  const bool cacheable = device >= 0 && device < 64;
  if (cacheable && cached[device].load(std::memory_order_relaxed) != 0) return cached[device].load(std::memory_order_relaxed);
  int per_sm = 0, sms = 0;
  W8A8_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0));
  W8A8_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  const int grid = std::max(1, per_sm) * sms;
  if (cacheable) cached[device].store(grid, std::memory_order_relaxed);  // the same value from any thread
  return grid;
}
void dynamic_per_token_quant(const TensorView& out, const TensorView& input, float* scale_out, int64_t scale_stride,
                             const float* scale_ub, Stream stream) {
  const int64_t M = input.size(0), K = input.size(1), M_out = out.size(0);
  if (M_out == 0) return;
  cudaStream_t s = resolve_stream(stream);
  const float qmax = fp8_quant_max(out.dtype()), min_scale = fp8_min_scale(out.dtype());
  dispatch(input.dtype(), out.dtype(), [&](auto in_tag, auto fnuz) {
    using In = decltype(in_tag);
    constexpr int kVec = 16 / sizeof(typename In::T);
    constexpr bool kFnuz = decltype(fnuz)::value;
    const auto* x = input.data_as<const typename In::T>();
    constexpr int kRowCached = 4;
    const int rows_grid = rows_kernel_grid(per_token_rows_kernel<In, kVec, kFnuz, kRowCached>);
    if (can_vectorize(input, out, kVec) && K <= int64_t(kThreads) * kRowCached * kVec && M_out > 2 * rows_grid) {
      per_token_rows_kernel<In, kVec, kFnuz, kRowCached><<<unsigned(rows_grid), kThreads, 0, s>>>(
          out.data_as<uint8_t>(), out.stride(0), x, input.stride(0), M, M_out, K, scale_out, scale_stride, scale_ub,
          qmax, min_scale);
    } else if (can_vectorize(input, out, kVec)) {
      per_token_kernel<In, kVec, kFnuz, 4><<<unsigned(M_out), kThreads, 0, s>>>(
          out.data_as<uint8_t>(), out.stride(0), x, input.stride(0), M, K, scale_out, scale_stride, scale_ub, qmax,
          min_scale);
    } else {
      per_token_kernel<In, 1, kFnuz, 8><<<unsigned(M_out), kThreads, 0, s>>>(
          out.data_as<uint8_t>(), out.stride(0), x, input.stride(0), M, K, scale_out, scale_stride, scale_ub, qmax,
          min_scale);
    }
    W8A8_CUDA_CHECK_LAUNCH();
  });
}

void per_token_group_quant(const TensorView& out, const TensorView& input, float* scale_out, int64_t s0, int64_t s1,
                           int64_t group_size, float eps, bool use_ue8m0, Stream stream) {
  const int64_t M = input.size(0), K = input.size(1);
  const int64_t groups = (K + group_size - 1) / group_size * M;  // the last group of a row may be short
  if (groups == 0) return;
  cudaStream_t s = resolve_stream(stream);
  const float qmax = fp8_quant_max(out.dtype());
  const int64_t blocks = (groups * 32 + kThreads - 1) / kThreads;
  dispatch(input.dtype(), out.dtype(), [&](auto in_tag, auto fnuz) {
    using In = decltype(in_tag);
    constexpr int kVec = 16 / sizeof(typename In::T);
    constexpr bool kFnuz = decltype(fnuz)::value;
    const auto* x = input.data_as<const typename In::T>();
    const int64_t lanes = group_size / kVec;
    const bool vec = group_size % kVec == 0 && can_vectorize(input, out, kVec);
    if (vec && lanes <= 32 && (lanes & (lanes - 1)) == 0) {
      const int64_t threads = groups * lanes;
      group_kernel_lanes<In, kVec, kFnuz><<<unsigned((threads + kThreads - 1) / kThreads), kThreads, 0, s>>>(
          out.data_as<uint8_t>(), out.stride(0), x, input.stride(0), M, K, int(lanes), scale_out, s0, s1, eps,
          use_ue8m0, qmax);
    } else if (vec) {
      group_kernel<In, kVec, kFnuz><<<unsigned(blocks), kThreads, 0, s>>>(
          out.data_as<uint8_t>(), out.stride(0), x, input.stride(0), M, K, group_size, scale_out, s0, s1, eps,
          use_ue8m0, qmax);
    } else {
      group_kernel<In, 1, kFnuz><<<unsigned(blocks), kThreads, 0, s>>>(out.data_as<uint8_t>(), out.stride(0), x,
                                                                       input.stride(0), M, K, group_size, scale_out,
                                                                       s0, s1, eps, use_ue8m0, qmax);
    }
    W8A8_CUDA_CHECK_LAUNCH();
  });
}

void per_block_quant(const TensorView& out, const TensorView& weight, float* scale_out, int64_t block_n,
                     int64_t block_k, Stream stream) {
  const int64_t N = weight.size(0), K = weight.size(1);
  if (N == 0 || K == 0) return;
  cudaStream_t s = resolve_stream(stream);
  const dim3 grid{unsigned((K + block_k - 1) / block_k), unsigned((N + block_n - 1) / block_n)};
  dispatch(weight.dtype(), out.dtype(), [&](auto in_tag, auto fnuz) {
    using In = decltype(in_tag);
    block_kernel<In, decltype(fnuz)::value><<<grid, kThreads, 0, s>>>(
        out.data_as<uint8_t>(), out.stride(0), weight.data_as<const typename In::T>(), weight.stride(0), N, K, block_n,
        block_k, scale_out, fp8_quant_max(out.dtype()), fp8_min_scale(out.dtype()));
    W8A8_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace w8a8::quant::cuda
