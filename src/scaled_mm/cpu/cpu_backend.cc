// CPU backend of scaled_mm.
//
// Large M: dequantize the operands to fp32 with their scales folded in (A_deq[m, k] = a * sa,
// B_deq[n, k] = b * sb, blockwise scales per 128-block of k), in panels of at most 32 MiB each
// (kDefaultPanelBytes) so memory stays bounded, multiply with cblas_sgemm (OpenBLAS, its own
// threads), then the epilogue (+ bias, cast with round-to-nearest-even). Dequantization and the
// epilogue run on a pool whose idle threads sleep (thread_pool.h): OpenMP's spinning workers would
// slow the sgemm calls between them. Scratch buffers are kept per calling thread.
//
// Small M (<= kDecodeMaxM): a matrix-vector shaped problem is bound by reading the weight, so the
// weight is never dequantized into memory: each FP8 weight row (K contiguous bytes, B being
// column-major) is decoded on the fly in registers or an L1 tile and dotted with the M activation
// rows; OpenMP threads split N.
#include "scaled_mm/cpu/cpu_backend.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "scaled_mm/cpu/kernels.h"
#include "scaled_mm/cpu/thread_pool.h"
#include "w8a8/error.h"
#include "w8a8/formats.h"

namespace w8a8::smm::cpu {
namespace {

constexpr int64_t kDefaultPanelBytes = int64_t(32) << 20;  // fp32 bytes per dequantized panel of A or B
std::atomic<int64_t> g_panel_bytes{kDefaultPanelBytes};
constexpr int64_t kDecodeChunk = 64;                 // weight rows per decode-path work item
constexpr int64_t kParallelMinWork = int64_t(1) << 16;

ScaleMap scale_a_map(const ScaledMmArgs& x) {
  const ScaledMmProblem& p = x.problem;
  ScaleMap s;
  s.base = x.scale_a.data_as<const float>();
  s.seg = std::max<int64_t>(p.k, 1);
  if (p.scale_a == ScaleKind::kPerToken) {
    s.row_stride = 1;  // [M, 1], contiguous
  } else if (p.scale_a == ScaleKind::kBlock) {
    s.row_stride = x.scale_a.stride(0);  // [M, K/128], row- or column-major
    s.kb_stride = x.scale_a.stride(1);
    s.seg = ScaledMmProblem::kBlockSize;
  }
  return s;
}

ScaleMap scale_b_map(const ScaledMmArgs& x) {
  const ScaledMmProblem& p = x.problem;
  ScaleMap s;
  s.base = x.scale_b.data_as<const float>();
  s.seg = std::max<int64_t>(p.k, 1);
  if (p.scale_b == ScaleKind::kPerChannel) {
    s.row_stride = 1;  // [1, N] or [N, 1], contiguous
  } else if (p.scale_b == ScaleKind::kBlock) {
    s.row_div = ScaledMmProblem::kBlockSize;  // [K/128, ceil(N/128)]: weight row n uses column n / 128
    s.row_stride = x.scale_b.stride(1);
    s.kb_stride = x.scale_b.stride(0);
    s.seg = ScaledMmProblem::kBlockSize;
  }
  return s;
}

// dst[j] = cast(v[j] + bias[j]) for j < n; bias (of the output dtype) may be null.
void store_row(const float* v, int64_t n, const void* bias, DType dt, void* dst) {
  switch (dt) {
    case DType::kFloat32: {
      float* d = static_cast<float*>(dst);
      const float* b = static_cast<const float*>(bias);
      if (b != nullptr) {
        for (int64_t j = 0; j < n; ++j) d[j] = v[j] + b[j];
      } else if (d != v) {
        std::memcpy(d, v, size_t(n) * sizeof(float));
      }
      return;
    }
    case DType::kBFloat16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      const uint16_t* b = static_cast<const uint16_t*>(bias);
      if (b != nullptr) {
        for (int64_t j = 0; j < n; ++j) d[j] = float_to_bf16(v[j] + bf16_to_float(b[j]));
      } else {
        for (int64_t j = 0; j < n; ++j) d[j] = float_to_bf16(v[j]);
      }
      return;
    }
    case DType::kFloat16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      const uint16_t* b = static_cast<const uint16_t*>(bias);
      if (b != nullptr) {
        for (int64_t j = 0; j < n; ++j) d[j] = float_to_fp16(v[j] + fp16_to_float(b[j]));
      } else {
        for (int64_t j = 0; j < n; ++j) d[j] = float_to_fp16(v[j]);
      }
      return;
    }
    default: break;
  }
}

struct OutRows {
  char* base;
  int64_t row_bytes;  // out.stride(0) in bytes
  size_t elem;
  DType dtype;
  const char* bias;  // null without bias
  void* at(int64_t m, int64_t n) const { return base + m * row_bytes + n * int64_t(elem); }
  const void* bias_at(int64_t n) const { return bias ? bias + n * int64_t(elem) : nullptr; }
};

// Scratch memory reused across calls of the calling thread: large buffers come from mmap, and
// fresh pages cost a fault and a clear each (tens of ms per call at 1024x4096x4096).
class Workspace {
 public:
  float* get(int slot, int64_t floats) {
    Buffer& b = slots_[slot];
    if (b.floats < floats) {
      b.data.reset(static_cast<float*>(std::aligned_alloc(64, size_t((floats * 4 + 63) / 64 * 64))));
      W8A8_CHECK_KIND(ErrorKind::kRuntime, b.data != nullptr, "cpu backend: out of host memory allocating ",
                      floats * 4, " bytes");
      b.floats = floats;
    }
    return b.data.get();
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  struct Buffer {
    std::unique_ptr<float, Free> data;
    int64_t floats = 0;
  };
  Buffer slots_[4];
};
Workspace& workspace() {
  thread_local Workspace w;
  return w;
}
enum Slot { kSlotA, kSlotB, kSlotC, kSlotX };

OutRows out_rows(const ScaledMmArgs& x) {
  OutRows o;
  o.base = static_cast<char*>(x.out.data());
  o.elem = x.out.element_size();
  o.row_bytes = x.out.stride(0) * int64_t(o.elem);
  o.dtype = x.out.dtype();
  o.bias = x.bias ? static_cast<const char*>(x.bias->data()) : nullptr;
  return o;
}

// ---- K == 0: out = bias (or zeros) ------------------------------------------------------------
void run_empty_k(const ScaledMmArgs& x) {
  const OutRows o = out_rows(x);
  const int64_t n = x.problem.n;
  Tensor zeros = Tensor::zeros({n}, DType::kFloat32);
  for (int64_t m = 0; m < x.problem.m; ++m)
    store_row(zeros.data_as<float>(), n, o.bias_at(0), o.dtype, o.at(m, 0));
}

// ---- small M: read the FP8 weight directly ----------------------------------------------------
void run_decode(const ScaledMmArgs& x, const Kernels& kern) {
  const ScaledMmProblem& p = x.problem;
  const bool fnuz = p.a_dtype == DType::kFloat8E4M3FNUZ;
  const int64_t ldx = (p.k + 15) / 16 * 16;
  float* xbuf = workspace().get(kSlotX, p.m * ldx);
  const ScaleMap sa = scale_a_map(x);
  const uint8_t* a = x.a.data_as<const uint8_t>();
  for (int64_t m = 0; m < p.m; ++m) {
    float* row = xbuf + m * ldx;
    kern.dequant_row(a + m * x.a.stride(0), p.k, row, sa.row(m), sa.kb_stride, sa.seg, kDecodeXFactor, fnuz);
    std::fill(row + p.k, row + ldx, 0.0f);  // the kernels read zeros past K
  }

  DecodeParams d;
  d.x = xbuf;
  d.ldx = ldx;
  d.m = int(p.m);
  d.k = p.k;
  d.b = x.b.data_as<const uint8_t>();
  d.ldb = x.b.stride(1);
  d.fnuz = fnuz;
  d.sb = scale_b_map(x);
  // x carries 2^60, T(b) carries 2^-120 (e4m3fn) or 2^-119 (e4m3fnuz).
  d.wfac = fnuz ? 0x1p59f : 0x1p60f;

  const OutRows o = out_rows(x);
  const int64_t chunks = (p.n + kDecodeChunk - 1) / kDecodeChunk;
  const bool parallel = p.n * p.k * p.m >= kParallelMinWork && chunks > 1;
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t n0 = c * kDecodeChunk, n1 = std::min(p.n, n0 + kDecodeChunk);
    float y[kMaxDecodeM * kDecodeChunk];
    kern.decode_rows(d, n0, n1, y, kDecodeChunk);
    for (int64_t m = 0; m < p.m; ++m) store_row(y + m * kDecodeChunk, n1 - n0, o.bias_at(n0), o.dtype, o.at(m, n0));
  }
}

// ---- large M: dequantize panels + sgemm -----------------------------------------------------------
// Parallel steps next to sgemm calls run on the blocking pool (see thread_pool.h), in tasks of
// about kTaskWork elements.
constexpr int64_t kTaskWork = int64_t(1) << 16;
template <class F>
void parallel_rows(int64_t rows, int64_t work_per_row, F&& fn) {
  const int64_t per_task = std::max<int64_t>(1, kTaskWork / std::max<int64_t>(work_per_row, 1));
  const int64_t tasks = (rows + per_task - 1) / per_task;
  parallel_for_blocking(tasks, [&](int64_t t) {
    const int64_t r1 = std::min(rows, (t + 1) * per_task);
    for (int64_t r = t * per_task; r < r1; ++r) fn(r);
  });
}

void dequant_rows(const Kernels& kern, const uint8_t* src, int64_t ld, int64_t r0, int64_t rows, int64_t k,
                  const ScaleMap& s, bool fnuz, float* dst) {
  parallel_rows(rows, k, [&](int64_t r) {
    kern.dequant_row(src + (r0 + r) * ld, k, dst + r * k, s.row(r0 + r), s.kb_stride, s.seg, 1.0f, fnuz);
  });
}

void run_large(const ScaledMmArgs& x, const Kernels& kern) {
  const ScaledMmProblem& p = x.problem;
  const int64_t M = p.m, N = p.n, K = p.k;
  const bool fnuz = p.a_dtype == DType::kFloat8E4M3FNUZ;
  const uint8_t* a = x.a.data_as<const uint8_t>();
  const uint8_t* b = x.b.data_as<const uint8_t>();
  const int64_t lda = x.a.stride(0), ldb = x.b.stride(1);
  const ScaleMap sa = scale_a_map(x), sb = scale_b_map(x);
  const OutRows o = out_rows(x);

  // Panels: A [Mp, K], B [Np, K] and (unless sgemm writes out directly) C [Mp, Np], each within
  // the budget.
  const int64_t budget = g_panel_bytes.load() / int64_t(sizeof(float));
  const int64_t panel_rows = std::max<int64_t>(1, budget / K);
  // fp32 output with a BLAS-sized row stride: sgemm writes it directly.
  const bool direct = o.dtype == DType::kFloat32 && x.out.stride(0) <= INT_MAX;
  const int64_t Mp = std::min(M, panel_rows);
  const int64_t Np = std::min({N, panel_rows, direct ? N : std::max<int64_t>(1, budget / Mp)});
  float* A = workspace().get(kSlotA, Mp * K);
  float* B = workspace().get(kSlotB, Np * K);
  float* cbuf = direct ? nullptr : workspace().get(kSlotC, Mp * Np);

  if (Mp == M) dequant_rows(kern, a, lda, 0, M, K, sa, fnuz, A);
  for (int64_t n0 = 0; n0 < N; n0 += Np) {
    const int64_t np = std::min(Np, N - n0);
    dequant_rows(kern, b, ldb, n0, np, K, sb, fnuz, B);
    for (int64_t m0 = 0; m0 < M; m0 += Mp) {
      const int64_t mp = std::min(Mp, M - m0);
      if (Mp != M) dequant_rows(kern, a, lda, m0, mp, K, sa, fnuz, A);
      float* C;
      int64_t ldc;
      if (direct) {
        C = static_cast<float*>(o.at(m0, n0));
        ldc = std::max(x.out.stride(0), np);  // any stride is fine for a single row
      } else {
        C = cbuf;
        ldc = np;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(mp), int(np), int(K), 1.0f, A, int(K), B, int(K),
                  0.0f, C, int(ldc));
      if (direct && o.bias == nullptr) continue;
      parallel_rows(mp, np, [&](int64_t i) { store_row(C + i * ldc, np, o.bias_at(n0), o.dtype, o.at(m0 + i, n0)); });
    }
  }
}

// ---- the backend ----------------------------------------------------------------------------------
Support can_implement(const ScaledMmProblem& p) {
  if (!p.device.is_cpu()) return Support::no("needs CPU tensors, got " + p.device.str());
  if (p.k > INT_MAX || p.n > INT_MAX || p.m > INT_MAX)
    return Support::no("M, N and K must fit BLAS's 32-bit integers");
  return Support::yes();
}

void run(const ScaledMmArgs& x) {
  const ScaledMmProblem& p = x.problem;
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0) return run_empty_k(x);
  const Kernels& kern = kernels();
  if (p.m <= kDecodeMaxM)
    run_decode(x, kern);
  else
    run_large(x, kern);
}

const Backend kBackend{ScaledMmBackend::kCpu, "cpu", can_implement, run};

}  // namespace

const Backend& backend() { return kBackend; }

void set_panel_bytes(int64_t bytes) { g_panel_bytes = bytes > 0 ? bytes : kDefaultPanelBytes; }

void gemm_unit_scales(const TensorView& acc, const TensorView& a, const TensorView& b) {
  static float one = 1.0f;
  const TensorView unit(&one, DType::kFloat32, {1});
  ScaledMmArgs x;
  x.out = acc;
  x.a = a;
  x.b = b;
  x.scale_a = unit;
  x.scale_b = unit;
  x.problem = validate_scaled_mm(acc, a, b, unit, unit, std::nullopt, {});
  run(x);
}

}  // namespace w8a8::smm::cpu
