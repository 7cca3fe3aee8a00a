// The Hopper kernel configurations w8a8 instantiates: few, named, listed here and nowhere else.
//
// Each `#define W8A8_SM90_CFG_<name> ...` line is one configuration; the build (cmake/Cuda.cmake) reads
// these lines, writes one translation unit per configuration (2-core builds stay parallel) and the list
// cutlass_sm90_configs.inc that the backend iterates. `W8A8_SM90_EXPLORE_<name>` lines are candidates
// built only with -DW8A8_CUTLASS_EXPLORE=ON, for `w8a8-bench --tune` on the GPU machine; a candidate
// that wins there is promoted to a CFG line. The dispatcher's choice among the configurations comes
// from the measured table in selection_table.inc.
//
// Parameters: output, tile M N K, cluster M N, schedule, swap-AB, tile scheduler. With swap-AB the tile
// is in the kernel's orientation: M = weight rows (N of the problem), N = tokens (M of the problem).
#pragma once

#include <cstdint>

#include "scaled_mm/cutlass_sm90/knobs.h"
#include "w8a8/tensor.h"

namespace w8a8::smm::cutlass_sm90 {

enum class Out { bf16, fp16, fp32 };
// pingpong: two consumer warp groups on alternate tiles; coop: both on one tile (tile M >= 128).
// gemv: not CUTLASS's GEMM but w8a8's weight-streaming kernel for few tokens (gemv_kernel.cuh): warp-level
// FP8 mma.sync, tile M weight rows x tile N tokens per CTA, tile K / 256 warps splitting K.
// gemv_block: the same kernel for 1x128 x 128x128 block scales (issue 17's decode variant): every 64-deep chunk's
// fp32 partial times scale_a[m, kb] * scale_b[kb, nb] before it is added (promotion per chunk, never fast).
// gemv_quant: the same kernel reading the bf16 / fp16 activation (of the output's type) and quantizing it to e4m3
// in the kernel, per-token or per-tensor dynamic scales computed there (Fp8LinearOp's fused decode path).
// *_fast: FP8 fast accumulation; the others promote to fp32 registers (torch's default accuracy): pingpong and
// coop in CUTLASS's FP8 mainloop (every `promote` k-steps, draining the WGMMAs each time), *_overlap and
// *_stagger every 128-deep k-tile in w8a8's own mainloop (promoted_mainloop.cuh), which keeps WGMMAs in flight
// while it adds.
enum class Sched {
  pingpong_fast, pingpong, coop_fast, coop, gemv_fast, gemv, pingpong_overlap, coop_overlap, coop_stagger,
  gemv_quant_fast, gemv_quant, gemv_block, gemv_block_quant
};
enum class Tiles { persistent, streamk };  // streamk: stream-K / split-K, needs a workspace
// The activation quantized inside the kernel (gemv_quant configurations): the rule of scaled_fp8_quant, bit for
// bit (the same codes, the same scales).
struct ActQuant {
  const float* static_scale = nullptr;  // static per-tensor scale (device); null: dynamic
  bool per_token = false;               // dynamic: one scale per token, else one for the whole activation
  const float* scale_ub = nullptr;      // dynamic per-token upper bound (device), or null
  float qmax = 448.0f, min_scale = 0.0f;
  uint8_t* codes = nullptr;             // optional [M, K] copy of the codes the GEMM used (tests)
  int64_t ld_codes = 0;
  float* scales = nullptr;              // optional [M] (per token), [1] or [M, K/128] (groups) copy of the scales used
  // 1x128 groups (gemv_block_quant, with block scales): per_token_group_quant_fp8's rule, s = max(amax, eps) / qmax
  // (a power of two up with ue8m0).
  bool group = false;
  float eps = 1e-10f;
  bool ue8m0 = false;
};

// One GEMM call in the kernels' terms (validated by the backend before): A [M, K] row-major, B as
// [N, K] row-major (the weight), D [M, N] row-major; scales fp32, vectors or scalars; bias of D's type or null.
// With `quant` (gemv_quant configurations), A is the bf16 / fp16 activation (lda in elements) and scale_a unused.
struct Fp8GemmCall {
  int m, n, k;
  const void* a;
  int64_t lda;
  const void* b;
  int64_t ldb;
  void* d;
  int64_t ldd;
  const float* scale_a;
  bool scale_a_vector;
  const float* scale_b;
  bool scale_b_vector;
  const void* bias;
  int sm_count;
  Knobs knobs;
  Stream stream;
  const ActQuant* quant = nullptr;
  // Blockwise scales (gemv_block): scale_a [M, K/128] and scale_b [K/128, ceil(N/128)] with these strides.
  bool block = false;
  int64_t sa_stride_m = 0, sa_stride_kb = 0, sb_stride_kb = 0, sb_stride_nb = 0;
};

// What the backend knows of a configuration (no CUTLASS types: this header is host-only).
struct ConfigInfo {
  const char* name;
  Out out;
  int tile_m, tile_n, tile_k, cluster_m, cluster_n;
  Sched sched;
  bool swap_ab;
  Tiles tiles;
  // False when CUTLASS's can_implement refuses the call.
  bool (*run)(const Fp8GemmCall& call);
  bool fast_accum() const {
    return sched == Sched::pingpong_fast || sched == Sched::coop_fast || sched == Sched::gemv_fast ||
           sched == Sched::gemv_quant_fast;
  }
  // CUTLASS's FP8 mainloop: the promotion interval is a run-time knob (w8a8's mainloops fix it at a k-tile).
  bool promote_knob() const { return sched == Sched::pingpong || sched == Sched::coop; }
  bool gemv() const {
    return sched == Sched::gemv || sched == Sched::gemv_fast || quantizes() || block();
  }
  // Blockwise scales (1x128 activations, 128x128 weights) only.
  bool block() const { return sched == Sched::gemv_block || sched == Sched::gemv_block_quant; }
  // Reads the high-precision activation (Fp8LinearOp's fused path), never FP8 operands: no scaled_mm kernel.
  bool quantizes() const {
    return sched == Sched::gemv_quant || sched == Sched::gemv_quant_fast || sched == Sched::gemv_block_quant;
  }
};

// ---- shipped configurations (chosen from the candidates by `w8a8-bench --tune explore` on the H100) ----
// bf16 output: one per regime and accumulation. Large M: 128x256 / 256x128 cooperative; M ~ 512: 128x128
// pingpong; M ~ 128: 64x128 pingpong; M <= 64: swap-AB with 16-64 token columns.
#define W8A8_SM90_CFG_bf16_128x256x128_c2x1_coop_fast bf16, 128, 256, 128, 2, 1, coop_fast, false, persistent
#define W8A8_SM90_CFG_bf16_256x128x128_c2x1_coop_fast bf16, 256, 128, 128, 2, 1, coop_fast, false, persistent
#define W8A8_SM90_CFG_bf16_128x128x128_c2x1_pingpong_fast bf16, 128, 128, 128, 2, 1, pingpong_fast, false, persistent
#define W8A8_SM90_CFG_bf16_64x128x128_c1x1_pingpong_fast bf16, 64, 128, 128, 1, 1, pingpong_fast, false, persistent
#define W8A8_SM90_CFG_bf16_64x64x128_c1x1_pingpong_fast_swap bf16, 64, 64, 128, 1, 1, pingpong_fast, true, persistent
#define W8A8_SM90_CFG_bf16_64x32x128_c1x1_pingpong_fast_swap bf16, 64, 32, 128, 1, 1, pingpong_fast, true, persistent
#define W8A8_SM90_CFG_bf16_64x16x256_c1x1_pingpong_fast_swap bf16, 64, 16, 256, 1, 1, pingpong_fast, true, persistent
#define W8A8_SM90_CFG_bf16_128x128x128_c2x1_coop bf16, 128, 128, 128, 2, 1, coop, false, persistent
#define W8A8_SM90_CFG_bf16_128x192x128_c2x1_coop bf16, 128, 192, 128, 2, 1, coop, false, persistent
#define W8A8_SM90_CFG_bf16_64x128x128_c1x1_pingpong bf16, 64, 128, 128, 1, 1, pingpong, false, persistent
#define W8A8_SM90_CFG_bf16_64x64x128_c1x1_pingpong_swap bf16, 64, 64, 128, 1, 1, pingpong, true, persistent
#define W8A8_SM90_CFG_bf16_64x16x128_c1x1_pingpong_swap bf16, 64, 16, 128, 1, 1, pingpong, true, persistent
// fp16 and fp32 output: the large-M and the decode geometry of each accumulation. The table's bf16 choice maps to
// these where the geometry matches; elsewhere automatic dispatch runs cuBLASLt (an explicit backend=cutlass
// request takes the first configuration of the output and accumulation).
#define W8A8_SM90_CFG_fp16_128x256x128_c2x1_coop_fast fp16, 128, 256, 128, 2, 1, coop_fast, false, persistent
#define W8A8_SM90_CFG_fp16_64x16x256_c1x1_pingpong_fast_swap fp16, 64, 16, 256, 1, 1, pingpong_fast, true, persistent
#define W8A8_SM90_CFG_fp16_128x128x128_c2x1_coop fp16, 128, 128, 128, 2, 1, coop, false, persistent
#define W8A8_SM90_CFG_fp16_64x16x128_c1x1_pingpong_swap fp16, 64, 16, 128, 1, 1, pingpong, true, persistent
#define W8A8_SM90_CFG_fp32_128x256x128_c2x1_coop_fast fp32, 128, 256, 128, 2, 1, coop_fast, false, persistent
#define W8A8_SM90_CFG_fp32_64x16x256_c1x1_pingpong_fast_swap fp32, 64, 16, 256, 1, 1, pingpong_fast, true, persistent
#define W8A8_SM90_CFG_fp32_128x128x128_c2x1_coop fp32, 128, 128, 128, 2, 1, coop, false, persistent
#define W8A8_SM90_CFG_fp32_64x16x128_c1x1_pingpong_swap fp32, 64, 16, 128, 1, 1, pingpong, true, persistent
// Few tokens (M <= 8 per CTA): w8a8's weight-streaming kernel (gemv_kernel.cuh), 16 weight rows x 8 tokens per
// CTA, 4 warps splitting K; measured at M = 1 (2026-11-25, H100): 8192^2 25.2 us vs 26.0-26.4 cuBLASLt (23.8 with
// the table's L2 prefetch), 57344x8192 158 vs 176, 28672x4096 41.2 vs 44.7.
#define W8A8_SM90_CFG_bf16_16x8x1024_c1x1_gemv_swap bf16, 16, 8, 1024, 1, 1, gemv, true, persistent
#define W8A8_SM90_CFG_bf16_16x8x1024_c1x1_gemv_fast_swap bf16, 16, 8, 1024, 1, 1, gemv_fast, true, persistent
#define W8A8_SM90_CFG_fp16_16x8x1024_c1x1_gemv_swap fp16, 16, 8, 1024, 1, 1, gemv, true, persistent
#define W8A8_SM90_CFG_fp16_16x8x1024_c1x1_gemv_fast_swap fp16, 16, 8, 1024, 1, 1, gemv_fast, true, persistent
#define W8A8_SM90_CFG_fp32_16x8x1024_c1x1_gemv_swap fp32, 16, 8, 1024, 1, 1, gemv, true, persistent
#define W8A8_SM90_CFG_fp32_16x8x1024_c1x1_gemv_fast_swap fp32, 16, 8, 1024, 1, 1, gemv_fast, true, persistent
// The same kernel on 128x128 block scales (blockwise decode). Not yet measured: automatic dispatch keeps cuBLASLt
// for blockwise problems; options.kernel selects it.
#define W8A8_SM90_CFG_bf16_16x8x1024_c1x1_gemv_block_swap bf16, 16, 8, 1024, 1, 1, gemv_block, true, persistent
#define W8A8_SM90_CFG_fp16_16x8x1024_c1x1_gemv_block_swap fp16, 16, 8, 1024, 1, 1, gemv_block, true, persistent
#define W8A8_SM90_CFG_fp32_16x8x1024_c1x1_gemv_block_swap fp32, 16, 8, 1024, 1, 1, gemv_block, true, persistent
// ... and quantizing the activation in 1x128 groups itself (W8A8BlockFp8LinearOp's fused decode path, issue 18).
#define W8A8_SM90_CFG_bf16_16x8x1024_c1x1_gemv_block_quant_swap bf16, 16, 8, 1024, 1, 1, gemv_block_quant, true, persistent
#define W8A8_SM90_CFG_fp16_16x8x1024_c1x1_gemv_block_quant_swap fp16, 16, 8, 1024, 1, 1, gemv_block_quant, true, persistent
// The same kernel quantizing the activation itself (issue 18: one launch for Fp8LinearOp at decode): bf16 in and
// out, fp16 in and out. Not yet measured: the chooser takes them only when asked (set_fused_activation_quant).
#define W8A8_SM90_CFG_bf16_16x8x1024_c1x1_gemv_quant_swap bf16, 16, 8, 1024, 1, 1, gemv_quant, true, persistent
#define W8A8_SM90_CFG_bf16_16x8x1024_c1x1_gemv_quant_fast_swap bf16, 16, 8, 1024, 1, 1, gemv_quant_fast, true, persistent
#define W8A8_SM90_CFG_fp16_16x8x1024_c1x1_gemv_quant_swap fp16, 16, 8, 1024, 1, 1, gemv_quant, true, persistent
#define W8A8_SM90_CFG_fp16_16x8x1024_c1x1_gemv_quant_fast_swap fp16, 16, 8, 1024, 1, 1, gemv_quant_fast, true, persistent

// ---- candidates (-DW8A8_CUTLASS_EXPLORE=ON), measured slower everywhere on the H100 (2026-11-25) ----
// (128x192 cooperative promoted was promoted from here: faster than cuBLASLt for vector scales at the largest
// shapes, 16384^3 rowwise 7553-7821 vs 8538-8565 us, docs/plots/time-h100-2026-11-25.json.) Stream-K candidates were dropped: CUTLASS 4.2's
// stream-K scheduler does not compile with CUTLASS_ENABLE_GDC_FOR_SM90 (is_last_tile const), and they measured
// 2-4 % slower than the persistent swap-AB kernels before that.
#define W8A8_SM90_EXPLORE_bf16_128x128x128_c1x2_pingpong_fast bf16, 128, 128, 128, 1, 2, pingpong_fast, false, persistent
#define W8A8_SM90_EXPLORE_bf16_128x128x128_c2x1_coop_fast bf16, 128, 128, 128, 2, 1, coop_fast, false, persistent
#define W8A8_SM90_EXPLORE_bf16_128x256x128_c1x2_coop_fast bf16, 128, 256, 128, 1, 2, coop_fast, false, persistent
#define W8A8_SM90_EXPLORE_bf16_128x256x128_c1x2_coop bf16, 128, 256, 128, 1, 2, coop, false, persistent
#define W8A8_SM90_EXPLORE_bf16_256x128x128_c2x1_coop bf16, 256, 128, 128, 2, 1, coop, false, persistent
#define W8A8_SM90_EXPLORE_bf16_64x16x128_c1x1_pingpong_fast_swap bf16, 64, 16, 128, 1, 1, pingpong_fast, true, persistent
#define W8A8_SM90_EXPLORE_bf16_128x16x128_c1x1_coop_fast_swap bf16, 128, 16, 128, 1, 1, coop_fast, true, persistent
#define W8A8_SM90_EXPLORE_bf16_128x16x128_c1x1_coop_swap bf16, 128, 16, 128, 1, 1, coop, true, persistent
#define W8A8_SM90_EXPLORE_bf16_128x64x128_c1x1_coop_fast_swap bf16, 128, 64, 128, 1, 1, coop_fast, true, persistent
#define W8A8_SM90_EXPLORE_bf16_128x192x128_c2x1_coop_fast bf16, 128, 192, 128, 2, 1, coop_fast, false, persistent
// gemv, measured slower than 16x8x1024 at M = 1 and than cuBLASLt at M = 16 (2026-11-25, H100: M=16 8192^2
// 29.8 us for 32x16x1024 vs 26.3 cuBLASLt; the FP8 mma.sync runs as f16 HMMA after conversions on sm_90).
#define W8A8_SM90_EXPLORE_bf16_32x16x1024_c1x1_gemv_swap bf16, 32, 16, 1024, 1, 1, gemv, true, persistent
#define W8A8_SM90_EXPLORE_bf16_16x8x2048_c1x1_gemv_swap bf16, 16, 8, 2048, 1, 1, gemv, true, persistent
// gemv_pipe (two register buffers, f16 MMAs on weights widened once; written 2026-11-25) measured slower
// everywhere on an H200 (2026-12-05): M=1 8192^2 25.0-25.9 us vs 19.0 for 16x8x1024, M=16 25.1 us best (32x16)
// vs cuBLASLt 19.7; removed (commit history has it).
#define W8A8_SM90_EXPLORE_bf16_64x16x128_c2x1_pingpong_fast_swap bf16, 64, 16, 128, 2, 1, pingpong_fast, true, persistent
// CUTLASS's promoted mainloop on tiles whose two accumulator sets spill (8192^3 H100 2026-11-25: 2856 and
// 3131 us against cuBLASLt's 945; never in the table): shipped until 2026-12-05, kept here for reference.
#define W8A8_SM90_EXPLORE_bf16_128x256x128_c2x1_coop bf16, 128, 256, 128, 2, 1, coop, false, persistent
#define W8A8_SM90_EXPLORE_bf16_128x128x128_c2x1_pingpong bf16, 128, 128, 128, 2, 1, pingpong, false, persistent
// w8a8's promoted mainloops (promoted_mainloop.cuh), written 2026-12-05: promotion every k-tile without
// draining the tensor cores. Overlap needs three accumulator sets, so only 64x128 warp-group tiles.
#define W8A8_SM90_EXPLORE_bf16_128x128x128_c2x1_coop_overlap bf16, 128, 128, 128, 2, 1, coop_overlap, false, persistent
#define W8A8_SM90_EXPLORE_bf16_64x128x128_c1x1_pingpong_overlap bf16, 64, 128, 128, 1, 1, pingpong_overlap, false, persistent
#define W8A8_SM90_EXPLORE_bf16_128x128x128_c2x1_coop_stagger bf16, 128, 128, 128, 2, 1, coop_stagger, false, persistent
#define W8A8_SM90_EXPLORE_bf16_128x192x128_c2x1_coop_stagger bf16, 128, 192, 128, 2, 1, coop_stagger, false, persistent
// fp32 output of the same mainloops: the accuracy test holds them to the promoted fp32 bound (3e-4).
#define W8A8_SM90_EXPLORE_fp32_128x128x128_c2x1_coop_overlap fp32, 128, 128, 128, 2, 1, coop_overlap, false, persistent
#define W8A8_SM90_EXPLORE_fp32_128x192x128_c2x1_coop_stagger fp32, 128, 192, 128, 2, 1, coop_stagger, false, persistent

// Every configuration of this build, in configs.h order: lines W8A8_SM90_CONFIG(name, parameter macro)
// written by CMake.
#define W8A8_SM90_DECLARE(name, params) bool run_##name(const Fp8GemmCall& call);
#define W8A8_SM90_CONFIG W8A8_SM90_DECLARE
#include "cutlass_sm90_configs.inc"
#undef W8A8_SM90_CONFIG
#undef W8A8_SM90_DECLARE

}  // namespace w8a8::smm::cutlass_sm90
