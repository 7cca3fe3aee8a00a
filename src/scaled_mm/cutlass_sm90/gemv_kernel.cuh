// w8a8's weight-streaming Hopper kernel for few tokens (decode): the GEMM is a matrix-vector product that
// reads every weight byte once, so it is bound by memory bandwidth, and the TMA/WGMMA machinery of the
// CUTLASS kernels (64-row WGMMA, cluster, persistent tiles) buys nothing while its tile count cannot keep
// 132 SMs' loads in flight. Here many small CTAs stream the weight straight from global memory into the
// registers of warp-level FP8 tensor-core instructions (mma.sync m16n8k32 e4m3, CuTe's SM89 atom; sm_90 runs
// it as FP8 -> f16 conversions and f16 MMAs: exact products, fp32 sums), the CTA's warps split K and add their partial sums through shared memory, and the epilogue is the
// CUTLASS kernels': out = scale_a * (acc * scale_b) + bias.
//
// Orientation (swap-AB): the weight's rows are the MMA's M (16 per fragment), tokens its N (8 per fragment).
// Operand layout trick: a dot product does not care in which order it visits K, only that A and B visit it in
// the same order. Lane (g, t) of the MMA fragment owns logical k in {4t..4t+3, 4t+16..4t+19} of each 32-deep
// step; we map those onto 16 *contiguous* bytes per lane per 64 bytes of K, so each lane loads its weight
// rows and token rows with single 16-byte loads and no shuffles.
//
// gemv_quant configurations (Fp8LinearOp's fused decode path): the tokens arrive as bf16 / fp16 and the kernel
// quantizes them itself, in one launch: each CTA first finds its tokens' scales (per-token or per-tensor amax over
// all of K, or the static scale), then each lane converts the 16 elements it would have loaded as FP8 codes with
// exactly scaled_fp8_quant's arithmetic (integer max of |x|, the scale rules of quant/cuda/scale_rules.cuh, x * (1 / s)
// rounded and saturated by the same cvt), so the MMAs see the same bytes as the unfused path.
//
// gemv_block configurations (1x128 activation x 128x128 weight scales): each 64-deep chunk lies in one 128-block of
// K and the CTA's 16 weight rows in one 128-block of N, so a chunk's fp32 partial is multiplied by
// scale_a[m, kb] * scale_b[kb, nb] as it is added (the promotion DeepGEMM does per 128, here per 64).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cuda_fp8.h>

#include <cute/arch/mma_sm89.hpp>

#include "cuda/check.h"
#include "quant/cuda/scale_rules.cuh"
#include "scaled_mm/cutlass_sm90/configs.h"

namespace w8a8::smm::cutlass_sm90::gemv {

constexpr int kChunk = 64;  // K bytes one lane quad covers per row: 4 lanes x 16 bytes
constexpr int kUnroll = 4;  // chunks a warp loads before it multiplies

template <Out> struct Store;
template <> struct Store<Out::bf16> {
  using T = __nv_bfloat16;
  static __device__ float bias(const void* b, int i) { return __bfloat162float(static_cast<const T*>(b)[i]); }
  static __device__ void put(void* d, int64_t i, float v) { static_cast<T*>(d)[i] = __float2bfloat16_rn(v); }
};
template <> struct Store<Out::fp16> {
  using T = __half;
  static __device__ float bias(const void* b, int i) { return __half2float(static_cast<const T*>(b)[i]); }
  static __device__ void put(void* d, int64_t i, float v) { static_cast<T*>(d)[i] = __float2half_rn(v); }
};
template <> struct Store<Out::fp32> {
  static __device__ float bias(const void* b, int i) { return static_cast<const float*>(b)[i]; }
  static __device__ void put(void* d, int64_t i, float v) { static_cast<float*>(d)[i] = v; }
};

// The weight is read once: no L1 allocation, and ask L2 for the whole 256-byte run the warp reads next.
__device__ __forceinline__ uint4 load_weight(const uint8_t* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}
// Tokens are read by every CTA: through L1.
__device__ __forceinline__ uint4 load_token(const uint8_t* p) { return __ldg(reinterpret_cast<const uint4*>(p)); }

// What the tokens are: FP8 codes (the GEMM), or the bf16 / fp16 activation the kernel quantizes (gemv_quant).
enum class TokenIn { fp8, bf16, fp16 };
template <TokenIn kIn>
__device__ __forceinline__ float token_value(uint32_t h) {
  if constexpr (kIn == TokenIn::bf16) {
    return __uint_as_float(h << 16);
  } else {
    return __half2float(__ushort_as_half(uint16_t(h)));
  }
}
template <TokenIn kIn>
__device__ __forceinline__ uint32_t mag_bits16(uint32_t h) {
  return quant::cuda::mag_bits(token_value<kIn>(h));
}
// 16 elements (two 16-byte loads) as 16 e4m3 codes, element j in byte j: scaled_fp8_quant's x * inv, saturated.
template <TokenIn kIn>
__device__ __forceinline__ uint4 load_token_quantized(const uint16_t* p, float inv) {
  const uint4 lo = __ldg(reinterpret_cast<const uint4*>(p)), hi = __ldg(reinterpret_cast<const uint4*>(p) + 1);
  const uint32_t w[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
  uint32_t q[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t a = w[2 * i], b = w[2 * i + 1];
    const uint32_t c01 = __nv_cvt_float2_to_fp8x2(
        make_float2(token_value<kIn>(a & 0xFFFFu) * inv, token_value<kIn>(a >> 16) * inv), __NV_SATFINITE, __NV_E4M3);
    const uint32_t c23 = __nv_cvt_float2_to_fp8x2(
        make_float2(token_value<kIn>(b & 0xFFFFu) * inv, token_value<kIn>(b >> 16) * inv), __NV_SATFINITE, __NV_E4M3);
    q[i] = (c01 & 0xFFFFu) | (c23 << 16);
  }
  return uint4{q[0], q[1], q[2], q[3]};
}

// D = A (16 x 32, weight rows) * B (32 x 8, tokens) + C, fp32 accumulators (c0 c1: row g, tokens 2t, 2t+1;
// c2 c3: row g + 8).
__device__ __forceinline__ void mma(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                    uint32_t b1, const float (&c)[4]) {
  cute::SM89_16x8x32_F32E4M3E4M3F32_TN::fma(d[0], d[1], d[2], d[3], a0, a1, a2, a3, b0, b1, c[0], c[1], c[2], c[3]);
}

// One warp step's operands: kU chunks of kRowTiles x 2 weight rows (g, g + 8) and kTokTiles token rows.
template <int kU, int kRowTiles, int kTokTiles>
struct Fragments {
  uint4 w[kU][kRowTiles][2];
  uint4 x[kU][kTokTiles];
};

// Loads the step at K offset k0 (lanes past K, rows past N and tokens past M read zeros, touching no memory).
// Quantized tokens: x points at elements, inv[u][j] is the 1 / scale of chunk u of token tile j's row (per token, or
// per 1x128 group), and CTA column 0 may copy the codes out.
template <TokenIn kIn, int kU, int kRowTiles, int kTokTiles>
__device__ __forceinline__ void load_step(Fragments<kU, kRowTiles, kTokTiles>& f, int k0, int k_total, int t,
                                          const uint8_t* const (&w)[kRowTiles][2], const bool (&w_ok)[kRowTiles][2],
                                          const void* const (&x)[kTokTiles], const bool (&x_ok)[kTokTiles],
                                          const float (&inv)[kU][kTokTiles], uint8_t* const (&codes)[kTokTiles]) {
#pragma unroll
  for (int u = 0; u < kU; ++u) {
    const int k = k0 + u * kChunk;
    const bool k_ok = k + 16 * t < k_total;  // K is a multiple of 16: a lane's 16 bytes are all in or all out
#pragma unroll
    for (int r = 0; r < kRowTiles; ++r)
#pragma unroll
      for (int h = 0; h < 2; ++h) f.w[u][r][h] = k_ok && w_ok[r][h] ? load_weight(w[r][h] + k) : uint4{};
#pragma unroll
    for (int j = 0; j < kTokTiles; ++j) {
      if constexpr (kIn == TokenIn::fp8) {
        f.x[u][j] = k_ok && x_ok[j] ? load_token(static_cast<const uint8_t*>(x[j]) + k) : uint4{};
      } else {
        f.x[u][j] = k_ok && x_ok[j] ? load_token_quantized<kIn>(static_cast<const uint16_t*>(x[j]) + k, inv[u][j])
                                    : uint4{};
        if (codes[j] != nullptr && k_ok) *reinterpret_cast<uint4*>(codes[j] + k) = f.x[u][j];
      }
    }
  }
}

// Multiplies a loaded step into the accumulators. kFast: accumulate in the MMA's accumulator over all of K;
// otherwise each 64-deep chunk starts from zero and is added to fp32 registers, times blk[u][j][token & 1] (the
// chunk's block-scale product for the lane's two tokens) with kBlock.
template <bool kFast, bool kBlock, int kU, int kRowTiles, int kTokTiles>
__device__ __forceinline__ void fp8_mma_step(const Fragments<kU, kRowTiles, kTokTiles>& f,
                                             float (&acc)[kRowTiles][kTokTiles][4],
                                             const float (&blk)[kU][kTokTiles][2]) {
  const float zero[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
  for (int u = 0; u < kU; ++u)
#pragma unroll
    for (int r = 0; r < kRowTiles; ++r)
#pragma unroll
      for (int j = 0; j < kTokTiles; ++j) {
        const uint4 lo = f.w[u][r][0], hi = f.w[u][r][1], xv = f.x[u][j];
        // Bytes 0-7 of each lane's 16 are one 32-deep MMA, bytes 8-15 the next.
        if constexpr (kFast) {
          mma(acc[r][j], lo.x, hi.x, lo.y, hi.y, xv.x, xv.y, acc[r][j]);
          mma(acc[r][j], lo.z, hi.z, lo.w, hi.w, xv.z, xv.w, acc[r][j]);
        } else {
          float s[4];
          mma(s, lo.x, hi.x, lo.y, hi.y, xv.x, xv.y, zero);
          mma(s, lo.z, hi.z, lo.w, hi.w, xv.z, xv.w, s);
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            if constexpr (kBlock) {
              acc[r][j][i] = fmaf(s[i], blk[u][j][i & 1], acc[r][j][i]);
            } else {
              acc[r][j][i] += s[i];
            }
          }
        }
      }
}

// The kernel's arguments: Fp8GemmCall's operands as the kernel reads them (bytes) and the prefetch knob.
struct Params {
  int m, n, k;
  const uint8_t* a;  // tokens [M, K]
  int64_t lda;
  const uint8_t* b;  // weight [N, K]
  int64_t ldb;
  void* d;  // [M, N]
  int64_t ldd;
  const float* scale_a;
  bool scale_a_vector;
  const float* scale_b;
  bool scale_b_vector;
  const void* bias;
  int prefetch;  // bytes of each weight row to prefetch into L2 before waiting on the previous kernel
  ActQuant quant;  // gemv_quant: how the kernel quantizes a (bf16 / fp16, lda in elements)
  // gemv_block: scale_a [M, K/128] and scale_b [K/128, ceil(N/128)] by strides
  int64_t sa_stride_m, sa_stride_kb, sb_stride_kb, sb_stride_nb;
};

// Per-token (or per-tensor) scales of tokens [tok0, tok0 + kTokens) into scale[]: the static scale, or the amax of
// each token's row (of all M rows, per tensor) by integer max, then scale_rules.cuh's rule. Warps split the
// rows, lanes split K in 8-element (16-byte) vectors. CTA column 0 copies the scales out when asked.
template <TokenIn kIn, int kTokens, int kWarps>
__device__ __forceinline__ void token_scales(const Params& p, int tok0, float (&scale)[kTokens]) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const ActQuant& q = p.quant;
  if (q.static_scale != nullptr) {
    if (threadIdx.x < kTokens) scale[threadIdx.x] = *q.static_scale;
  } else {
    __shared__ uint32_t warp_amax[kWarps];
    const int rows = q.per_token ? kTokens : p.m;  // per tensor: every row of the activation
    uint32_t all = 0;
    for (int r = warp; r < rows; r += kWarps) {
      const int m = q.per_token ? tok0 + r : r;
      uint32_t amax = 0;
      if (m < p.m) {
        const uint16_t* row = static_cast<const uint16_t*>(static_cast<const void*>(p.a)) + int64_t(m) * p.lda;
        for (int k = 8 * lane; k < p.k; k += 8 * 32) {
          const uint4 v = __ldg(reinterpret_cast<const uint4*>(row + k));
          const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
          for (int i = 0; i < 4; ++i)
            amax = max(amax, max(mag_bits16<kIn>(w[i] & 0xFFFFu), mag_bits16<kIn>(w[i] >> 16)));
        }
      }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) amax = max(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
      if (q.per_token) {
        if (lane == 0 && r < kTokens) {
          const float ub = q.scale_ub != nullptr ? *q.scale_ub : __uint_as_float(0x7F800000u);
          scale[r] = quant::cuda::token_scale(__uint_as_float(amax), ub, q.qmax, q.min_scale);
        }
      } else {
        all = max(all, amax);
      }
    }
    if (!q.per_token) {
      if (lane == 0) warp_amax[warp] = all;
      __syncthreads();
      if (threadIdx.x == 0) {
        uint32_t a = 0;
#pragma unroll
        for (int v = 0; v < kWarps; ++v) a = max(a, warp_amax[v]);
        const float sc = quant::cuda::scale_from_amax(__uint_as_float(a), q.qmax, q.min_scale);
#pragma unroll
        for (int j = 0; j < kTokens; ++j) scale[j] = sc;
      }
    }
  }
  __syncthreads();
  if (q.scales != nullptr && blockIdx.x == 0 && threadIdx.x < kTokens) {
    const int m = tok0 + int(threadIdx.x);
    if (q.per_token && q.static_scale == nullptr && m < p.m) q.scales[m] = scale[threadIdx.x];
    if ((!q.per_token || q.static_scale != nullptr) && m == 0) q.scales[0] = scale[0];
  }
}

// 1x128 group scales of tokens [tok0, tok0 + kTokens) into scale[tok * ng + g] and their reciprocals into inv[]:
// per_token_group_quant_fp8's rule (integer amax over the group, then scale_rules.cuh's group_scale and reciprocal). Half-warps take (token, group) pairs,
// each lane 8 elements. CTA column 0 copies the scales out, row-major [M, ng], when asked.
template <TokenIn kIn, int kTokens, int kWarps>
__device__ __forceinline__ void group_scales(const Params& p, int tok0, int ng, float* scale, float* inv) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, l16 = lane & 15;
  const ActQuant& q = p.quant;
  // Whole warps iterate together (the shuffles take all 32 lanes); a half-warp past the last pair idles.
  for (int base = 2 * warp; base < kTokens * ng; base += 2 * kWarps) {
    const int pair = base + (lane >> 4);
    const bool active = pair < kTokens * ng;
    const int r = pair / ng, g = pair - r * ng, m = tok0 + r;
    uint32_t amax = 0;
    if (active && m < p.m) {
      const uint16_t* x = static_cast<const uint16_t*>(static_cast<const void*>(p.a)) + int64_t(m) * p.lda +
                          g * 128 + l16 * 8;
      const uint4 v = __ldg(reinterpret_cast<const uint4*>(x));
      const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) amax = max(amax, max(mag_bits16<kIn>(w[i] & 0xFFFFu), mag_bits16<kIn>(w[i] >> 16)));
    }
#pragma unroll
    for (int o = 8; o > 0; o >>= 1) amax = max(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
    if (active && l16 == 0) {
      const float s = quant::cuda::group_scale(__uint_as_float(amax), q.eps, q.qmax, q.ue8m0);
      scale[pair] = s;
      inv[pair] = quant::cuda::reciprocal(s);
      if (q.scales != nullptr && blockIdx.x == 0 && m < p.m) q.scales[int64_t(m) * ng + g] = s;
    }
  }
  __syncthreads();
}

// One CTA: kRows weight rows x kTokens tokens, kWarps warps splitting K in steps of kU 64-byte chunks.
// kFast: accumulate in the MMA's accumulator over all of K (FP8 fast accumulation); otherwise every
// 64-deep chunk starts from zero and is added to fp32 registers (promotion, twice as often as CUTLASS's).
template <Out kOut, int kRows, int kTokens, int kWarps, bool kFast, TokenIn kIn, bool kBlock>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(const Params p) {
  static_assert(!kBlock || (!kFast && 128 % kRows == 0), "gemv_block: promoted, a CTA's rows in one 128-block");
  constexpr bool kGroups = kBlock && kIn != TokenIn::fp8;  // 1x128 groups quantized here
  extern __shared__ float group_smem[];  // kGroups: scales [kTokens][ng], then their reciprocals
  constexpr int kRowTiles = kRows / 16, kTokTiles = kTokens / 8;
  constexpr int kU = kUnroll, kStepK = kU * kChunk;
  __shared__ float partial[kWarps][kTokens][kRows];
  __shared__ float tok_scale[kTokens];  // quantized tokens: the scales the kernel found
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int row0 = blockIdx.x * kRows;
  const int token_blocks = (p.m + kTokens - 1) / kTokens;

  // While the previous kernel drains (programmatic dependent launch), start pulling this CTA's first weight
  // bytes into L2: a prefetch returns nothing to the SM and L2 is where global memory is coherent, so it
  // cannot see stale data. Then wait for that kernel before reading anything it may have written.
  if (p.prefetch > 0 && threadIdx.x < kRows && row0 + int(threadIdx.x) < p.n) {
    const uint8_t* row = p.b + int64_t(row0 + threadIdx.x) * p.ldb;
    const uint32_t bytes = uint32_t(p.prefetch < p.k ? p.prefetch : p.k);  // multiples of 16
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(row), "r"(bytes) : "memory");
  }
  asm volatile("griddepcontrol.wait;" ::: "memory");

  const uint8_t* w[kRowTiles][2];
  bool w_ok[kRowTiles][2];
#pragma unroll
  for (int r = 0; r < kRowTiles; ++r)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = row0 + 16 * r + 8 * h + g;
      w_ok[r][h] = row < p.n;
      w[r][h] = p.b + (w_ok[r][h] ? int64_t(row) * p.ldb : 0) + 16 * t;
    }

  for (int tb = blockIdx.y; tb < token_blocks; tb += gridDim.y) {
    const int tok0 = tb * kTokens;
    const int ng = p.k >> 7;
    if constexpr (kGroups) {
      group_scales<kIn, kTokens, kWarps>(p, tok0, ng, group_smem, group_smem + kTokens * ng);
    } else if constexpr (kIn != TokenIn::fp8) {
      token_scales<kIn, kTokens, kWarps>(p, tok0, tok_scale);
    }
    const void* x[kTokTiles];
    bool x_ok[kTokTiles];
    float inv[kTokTiles];  // per-token quantization: 1 / scale of the lane's row
    uint8_t* codes[kTokTiles];
#pragma unroll
    for (int j = 0; j < kTokTiles; ++j) {
      const int m = tok0 + 8 * j + g;
      x_ok[j] = m < p.m;
      const int64_t row = x_ok[j] ? int64_t(m) * p.lda : 0;
      if constexpr (kIn == TokenIn::fp8) {
        x[j] = p.a + row + 16 * t;
        inv[j] = 0.f;
        codes[j] = nullptr;
      } else {
        x[j] = static_cast<const uint16_t*>(static_cast<const void*>(p.a)) + row + 16 * t;
        inv[j] = kGroups ? 0.f : quant::cuda::reciprocal(tok_scale[8 * j + g]);
        codes[j] = p.quant.codes != nullptr && blockIdx.x == 0 && x_ok[j]
                       ? p.quant.codes + int64_t(m) * p.quant.ld_codes + 16 * t
                       : nullptr;
      }
    }
    float acc[kRowTiles][kTokTiles][4] = {};
    // gemv_block: the lane's two tokens' scale rows and the CTA's weight-scale column (kb-indexed below).
    const float* sa_row[kTokTiles][2];
    const float* sb_col = kBlock ? p.scale_b + (row0 >> 7) * p.sb_stride_nb : nullptr;
    if constexpr (kBlock) {
#pragma unroll
      for (int j = 0; j < kTokTiles; ++j)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int m = tok0 + 8 * j + 2 * t + h;
          sa_row[j][h] = m >= p.m ? nullptr : kGroups ? group_smem + (8 * j + 2 * t + h) * ng
                                                      : p.scale_a + m * p.sa_stride_m;
        }
    }
    const int stride = kWarps * kStepK;
    for (int k0 = warp * kStepK; k0 < p.k; k0 += stride) {
      Fragments<kU, kRowTiles, kTokTiles> f;
      float invs[kU][kTokTiles];
      if constexpr (kIn != TokenIn::fp8) {
#pragma unroll
        for (int u = 0; u < kU; ++u) {
          const int k = k0 + u * kChunk;
#pragma unroll
          for (int j = 0; j < kTokTiles; ++j)
            invs[u][j] = !kGroups ? inv[j] : k < p.k ? group_smem[kTokens * ng + (8 * j + g) * ng + (k >> 7)] : 0.f;
        }
      }
      load_step<kIn>(f, k0, p.k, t, w, w_ok, x, x_ok, invs, codes);
      float blk[kU][kTokTiles][2];
      if constexpr (kBlock) {
#pragma unroll
        for (int u = 0; u < kU; ++u) {
          const int k = k0 + u * kChunk, kb = k >> 7;  // K is a multiple of 128: a chunk is all in or all out
          const bool in = k < p.k;
          const float sb = in ? __ldg(sb_col + kb * int(p.sb_stride_kb)) : 0.f;
          const int sa_off = kb * int(p.sa_stride_kb);
#pragma unroll
          for (int j = 0; j < kTokTiles; ++j)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
              if constexpr (kGroups) {  // the group scales the kernel found, in shared memory
                blk[u][j][h] = in && sa_row[j][h] ? sa_row[j][h][kb] * sb : 0.f;
              } else {
                blk[u][j][h] = in && sa_row[j][h] ? __ldg(sa_row[j][h] + sa_off) * sb : 0.f;
              }
            }
        }
      }
      fp8_mma_step<kFast, kBlock>(f, acc, blk);
    }
    // The next kernel may launch now; it waits for this grid's completion before reading our output.
    if (tb + gridDim.y >= token_blocks) asm volatile("griddepcontrol.launch_dependents;" ::: "memory");

#pragma unroll
    for (int r = 0; r < kRowTiles; ++r)
#pragma unroll
      for (int j = 0; j < kTokTiles; ++j)
#pragma unroll
        for (int i = 0; i < 4; ++i) partial[warp][8 * j + 2 * t + (i & 1)][16 * r + g + 8 * (i >> 1)] = acc[r][j][i];
    __syncthreads();
    for (int e = threadIdx.x; e < kRows * kTokens; e += kWarps * 32) {
      const int tok = e / kRows, r = e % kRows;
      const int m = tok0 + tok, n = row0 + r;
      if (m >= p.m || n >= p.n) continue;
      float sum = 0.f;
#pragma unroll
      for (int v = 0; v < kWarps; ++v) sum += partial[v][tok][r];
      const float bias = p.bias ? Store<kOut>::bias(p.bias, n) : 0.f;
      if constexpr (kBlock) {  // the scales are in the sum already
        Store<kOut>::put(p.d, int64_t(m) * p.ldd + n, sum + bias);
      } else {
        const float sa = kIn == TokenIn::fp8 ? p.scale_a[p.scale_a_vector ? m : 0] : tok_scale[tok];
        const float sb = p.scale_b[p.scale_b_vector ? n : 0];
        Store<kOut>::put(p.d, int64_t(m) * p.ldd + n, fmaf(sa, sum * sb, bias));
      }
    }
    __syncthreads();  // partial is rewritten by the next token block
  }
}

// Launch one configuration: tile M = weight rows per CTA, tile N = tokens per CTA, tile K = K per CTA step
// (kWarps = tile K / (64 x chunks per step) warps). Every M runs (token blocks loop when the grid's y is
// exhausted); K and N multiples of 16 and 16-byte aligned operands (the backend checks).
template <Out kOut, int kTileM, int kTileN, int kTileK, bool kFast, bool kQuant, bool kBlock>
bool launch(const Fp8GemmCall& c) {
  constexpr int kStepK = kUnroll * kChunk;
  static_assert(kTileM % 16 == 0 && kTileN % 8 == 0 && kTileK % kStepK == 0, "gemv tile: M % 16, N % 8, K % step");
  constexpr int kWarps = kTileK / kStepK;
  if (c.k % 16 != 0 || c.n % 16 != 0 || kQuant != (c.quant != nullptr) || kBlock != c.block) return false;
  if (kBlock && c.k % 128 != 0) return false;
  if (kQuant && kBlock != (c.quant != nullptr && c.quant->group)) return false;
  // 1x128 groups: the CTA's group scales and reciprocals in dynamic shared memory (<= 48 KB: K <= 98304).
  const size_t group_smem = kQuant && kBlock ? size_t(2) * kTileN * size_t(c.k / 128) * sizeof(float) : 0;
  if (group_smem > 48 * 1024) return false;
  // gemv_quant: the activation has the output's type (bf16 or fp16).
  static_assert(!kQuant || kOut != Out::fp32, "gemv_quant configurations: bf16 or fp16 activations and output");
  static_assert(!kBlock || !kFast, "gemv_block configurations: promoted only");
  constexpr TokenIn kIn = !kQuant ? TokenIn::fp8 : kOut == Out::bf16 ? TokenIn::bf16 : TokenIn::fp16;
  const Params p{c.m, c.n, c.k, static_cast<const uint8_t*>(c.a), c.lda, static_cast<const uint8_t*>(c.b), c.ldb,
                 c.d, c.ldd, c.scale_a, c.scale_a_vector, c.scale_b, c.scale_b_vector, c.bias, c.knobs.prefetch,
                 c.quant != nullptr ? *c.quant : ActQuant{}, c.sa_stride_m, c.sa_stride_kb, c.sb_stride_kb,
                 c.sb_stride_nb};
  const int token_blocks = (c.m + kTileN - 1) / kTileN;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(unsigned((c.n + kTileM - 1) / kTileM), unsigned(token_blocks < 65535 ? token_blocks : 65535));
  config.blockDim = dim3(kWarps * 32);
  config.dynamicSmemBytes = group_smem;
  config.stream = resolve_stream(c.stream);
  cudaLaunchAttribute pdl{};
  pdl.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  pdl.val.programmaticStreamSerializationAllowed = c.knobs.pdl ? 1 : 0;
  config.attrs = &pdl;
  config.numAttrs = 1;
  W8A8_CUDA_CHECK(cudaLaunchKernelEx(&config, gemv_kernel<kOut, kTileM, kTileN, kWarps, kFast, kIn, kBlock>, p));
  return true;
}

}  // namespace w8a8::smm::cutlass_sm90::gemv

// W8A8_SM90_DEFINE(name, W8A8_SM90_CFG_name) for the gemv configurations (schedules gemv*, configs.h).
#define W8A8_SM90_DEFINE(name, params) W8A8_SM90_DEFINE_(name, params)
#define W8A8_SM90_DEFINE_(name, ...) W8A8_SM90_DEFINE_IMPL(name, __VA_ARGS__)
#define W8A8_SM90_DEFINE_IMPL(name, out, tm, tn, tk, cm, cn, sched, swap, tiles)                                \
  namespace w8a8::smm::cutlass_sm90 {                                                                           \
  static_assert(cm == 1 && cn == 1 && swap && Tiles::tiles == Tiles::persistent,                                \
                "gemv configurations: cluster 1x1, swap-AB orientation, no tile scheduler");                    \
  bool run_##name(const Fp8GemmCall& call) {                                                                   \
    return gemv::launch<Out::out, tm, tn, tk, Sched::sched == Sched::gemv_fast || Sched::sched == Sched::gemv_quant_fast, \
                        Sched::sched == Sched::gemv_quant || Sched::sched == Sched::gemv_quant_fast ||          \
                            Sched::sched == Sched::gemv_block_quant,                                            \
                        Sched::sched == Sched::gemv_block || Sched::sched == Sched::gemv_block_quant>(call);    \
  }                                                                                                             \
  }
