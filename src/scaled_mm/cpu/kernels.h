// Vectorised CPU kernels of the scaled_mm CPU backend, built once per instruction set
// (kernels_avx512.cc, kernels_avx2.cc, kernels_generic.cc from kernels_impl.inc) and picked at
// run time from the CPU's features. Single-threaded: the backend splits the work.
//
// FP8 decode trick used throughout: for an e4m3 code c, the fp32 with bits
//   (c & 0x80) << 24 | (c & 0x7F) << 20
// is the code's value times 2^-120 (e4m3fn) or 2^-119 (e4m3fnuz), exactly, for normals and
// subnormals alike (FP8 subnormals become fp32 subnormals; w8a8 never enables flush-to-zero).
// NaN codes (0x7F/0xFF in e4m3fn, 0x80 in e4m3fnuz) are patched separately.
#pragma once

#include <cstdint>

namespace w8a8::smm::cpu {

// Where the scale of (row, k) lives: base[(row / row_div) * row_stride + (k / seg) * kb_stride].
// Per-tensor: row_stride = kb_stride = 0, seg = K; per-row: row_stride = 1; blockwise: seg = 128.
struct ScaleMap {
  const float* base = nullptr;
  int64_t row_div = 1;
  int64_t row_stride = 0;
  int64_t kb_stride = 0;
  int64_t seg = 0;  // K for a single segment (> 0)
  const float* row(int64_t r) const { return base + (r / row_div) * row_stride; }
};

// Decode-path problem (M <= 16): y[m, n] = sum_kb ws(n, kb) * sum_{k in kb} x[m, k] * T(b[n, k]),
// where T is the trick above (b's value times 2^-120 / 2^-119), x the activations with their scale
// and 2^60 folded in, and ws(n, kb) = scale_b(n, kb) * wfac. Weight rows are read as FP8 bytes.
struct DecodeParams {
  const float* x = nullptr;  // [m][ldx], zero from K up to ldx; ldx a multiple of 16
  int64_t ldx = 0;
  int m = 0;                    // 1..16
  int64_t k = 0;                // > 0
  const uint8_t* b = nullptr;   // weight row n: b + n * ldb, K contiguous bytes
  int64_t ldb = 0;
  bool fnuz = false;
  ScaleMap sb;                  // seg = K (one block) or 128
  float wfac = 1.0f;
};

constexpr int kMaxDecodeM = 16;
constexpr float kDecodeXFactor = 0x1p60f;  // x = dec(a) * scale_a * 2^60

struct Kernels {
  const char* isa;
  // dst[i] = dec(src[i]) * scale(i) * mult, i < k; scale(i) = scales[(i / sm.seg) * sm.kb_stride],
  // scales = sm.row(row).
  void (*dequant_row)(const uint8_t* src, int64_t k, float* dst, const float* scales, int64_t kb_stride,
                      int64_t seg, float mult, bool fnuz);
  // Decode-path rows n0 <= n < n1 into y[m * ldy + (n - n0)]; NaN codes give NaN rows.
  void (*decode_rows)(const DecodeParams& p, int64_t n0, int64_t n1, float* y, int64_t ldy);
};

// The best kernels for this CPU (W8A8_CPU_ISA=avx512|avx2|generic forces a lower one, for tests).
const Kernels& kernels();
// Every variant this CPU can run, best first (tests compare them).
int available_kernels(const Kernels** out, int max);

namespace avx512 { extern const Kernels kKernels; }
namespace avx2 { extern const Kernels kKernels; }
namespace generic { extern const Kernels kKernels; }

}  // namespace w8a8::smm::cpu
