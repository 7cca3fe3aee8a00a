// cuBLASLt FP8 GEMM. cuBLASLt is column-major and wants FP8 operands as "TN", so w8a8 computes
// outᵀ [N, M] (column-major, i.e. out [M, N] row-major) = Wᵀ-op · Aᵀ:
//   Lt "A" = the weight: B [K, N] column-major = rows K, cols N, ld = B.stride(1); TRANSA = T;
//   Lt "B" = the activation: A [M, K] row-major = rows K, cols M, ld = A.stride(0); TRANSB = N;
//   Lt "D" = out: rows N, cols M, ld = out.stride(0).
// So Lt's A scale is scale_b (per output channel = Lt row) and Lt's B scale is scale_a (per token).
//
// cuBLASLt's outer-vector scaling wants vectors on both operands (device-pointer alpha is refused
// with them). The mixed pairings (a scalar on one side, a vector on the other) broadcast the scalar
// into a per-stream device vector with one tiny kernel first: no host read of a device scale,
// graph-safe.
#include <cublasLt.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "cuda/check.h"
#include "cuda/scratch.h"
#include "scaled_mm/cublaslt/cublaslt_backend.h"

namespace w8a8::smm::cublaslt {
namespace {

// cuBLASLt's workspace: what torch 2.11 gives it (1 MiB, CUBLASLT_WORKSPACE_SIZE in KiB overrides, as in torch).
// The size steers the heuristic: with 32 MiB it returns split-K kernels that measured 10-18 % slower than torch's
// choice at small-to-mid M and large K (H100, 2026-12-06: M=64 N=4096 K=14336 28.6 vs 24.4 us).
size_t workspace_bytes() {
  static const size_t bytes = [] {
    const char* v = std::getenv("CUBLASLT_WORKSPACE_SIZE");
    const long kib = v != nullptr ? std::atol(v) : 0;
    return kib > 0 ? size_t(kib) << 10 : size_t(1) << 20;
  }();
  return bytes;
}

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::kFloat8E4M3FN: return CUDA_R_8F_E4M3;
    case DType::kFloat8E5M2: return CUDA_R_8F_E5M2;
    case DType::kBFloat16: return CUDA_R_16BF;
    case DType::kFloat16: return CUDA_R_16F;
    default: return CUDA_R_32F;
  }
}

int current_device() {
  int d = 0;
  W8A8_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

// One handle per device, one workspace per (device, stream); created once, kept for the process.
constexpr int64_t kBroadcastMax = int64_t(1) << 20;  // longest broadcast scale vector (mixed pairings)

struct Resources {
  std::mutex mutex;
  std::map<int, cublasLtHandle_t> handles;
  std::map<std::pair<int, cudaStream_t>, void*> workspaces;
};
Resources& resources() {
  static Resources* r = new Resources;  // never destroyed: CUDA may be gone at exit
  return *r;
}
cublasLtHandle_t handle_for(int device) {
  Resources& r = resources();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.handles.find(device);
  if (it != r.handles.end()) return it->second;
  cublasLtHandle_t h = nullptr;
  W8A8_CUBLAS_CHECK(cublasLtCreate(&h));
  r.handles.emplace(device, h);
  return h;
}
void* workspace_for(int device, cudaStream_t stream) {
  Resources& r = resources();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto key = std::make_pair(device, stream);
  auto it = r.workspaces.find(key);
  if (it != r.workspaces.end()) return it->second;
  // The workspace, then the stream's broadcast vector for mixed scale pairings; allocated by the first
  // call on the stream, during graph capture too (torch captures on a stream of its own).
  void* p = cuda::malloc_during_capture_too(workspace_bytes() + size_t(kBroadcastMax) * sizeof(float));
  r.workspaces.emplace(key, p);
  return p;
}
float* broadcast_vector_for(int device, cudaStream_t stream) {
  return reinterpret_cast<float*>(static_cast<char*>(workspace_for(device, stream)) + workspace_bytes());
}

enum class Mode : int32_t {
  kScalar = CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F,
  kOuterVec = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F,
  kVec128 = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F,
  kBlk128 = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F,
};

// Everything that selects an algorithm; the plan for it is built once per thread.
struct PlanKey {
  int device;
  int64_t m, n, k, lda, ldb, ldd;
  cudaDataType_t ab_type, d_type, bias_type;
  Mode a_mode, b_mode;
  bool bias, fast_accum;
  bool mixed;  // one scale a scalar, the other a vector: the scalar is broadcast to a vector
  bool operator<(const PlanKey& o) const {
    return std::memcmp(this, &o, sizeof(PlanKey)) < 0;
  }
};

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool ok = false;
  std::string why_not;
};

template <class T>
void set_attr(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const T& value) {
  W8A8_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, attr, &value, sizeof(value)));
}

// The scale pointers of one call (cuBLASLt's heuristics look at them, so plans are built with them).
struct Pointers {
  const void* a_scale = nullptr;
  const void* b_scale = nullptr;
};

Plan build_plan(const PlanKey& key, const Pointers& ptr) {
  Plan p;
  W8A8_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  set_attr(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T);
  set_attr(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
  set_attr(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, int32_t(key.a_mode));
  set_attr(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, int32_t(key.b_mode));
  set_attr(p.desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM, int8_t(key.fast_accum ? 1 : 0));
  set_attr(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, ptr.a_scale);
  set_attr(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, ptr.b_scale);
  if (key.bias) {
    set_attr(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, CUBLASLT_EPILOGUE_BIAS);
    set_attr(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, key.bias_type);
  }
  W8A8_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, key.ab_type, uint64_t(key.k), uint64_t(key.n), key.lda));
  W8A8_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, key.ab_type, uint64_t(key.k), uint64_t(key.m), key.ldb));
  W8A8_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.d, key.d_type, uint64_t(key.n), uint64_t(key.m), key.ldd));
  cublasLtMatmulPreference_t pref = nullptr;
  W8A8_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t ws = workspace_bytes();
  W8A8_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                         sizeof(ws)));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle_for(key.device), p.desc, p.a, p.b, p.d, p.d, pref,
                                                           1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0) {
    p.why_not = "cuBLASLt has no algorithm for this problem (status " + std::to_string(int(st)) + ")";
    return p;
  }
  p.algo = result.algo;
  p.ok = true;
  return p;
}

const Plan& plan_for(const PlanKey& key, const Pointers& ptr) {
  thread_local std::map<PlanKey, Plan> cache;  // descriptors are mutated per call: one cache per thread
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, build_plan(key, ptr)).first;
  return it->second;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

Support can_implement(const ScaledMmProblem& p) {
  if (!p.device.is_cuda()) return Support::no("cublaslt runs CUDA tensors only");
  if (p.a_dtype != DType::kFloat8E4M3FN) return Support::no("cublaslt: e4m3fnuz operands are not supported on CUDA");
  if (p.k % 16 != 0 || p.n % 16 != 0)
    return Support::no("cublaslt: FP8 needs K % 16 == 0 and N % 16 == 0 (K=" + std::to_string(p.k) +
                       ", N=" + std::to_string(p.n) + ")");
  if (p.a_row_stride % 16 != 0 || p.b_col_stride % 16 != 0)
    return Support::no("cublaslt: FP8 operand leading dimensions must be multiples of 16");
  if (p.out_row_stride != 0 && (p.out_row_stride * int64_t(dtype_size(p.out_dtype))) % 16 != 0)
    return Support::no("cublaslt: output rows must be 16-byte aligned");
  if (p.has_bias && p.out_dtype == DType::kFloat32 && !p.blockwise())
    return Support::no("cublaslt: with FP8 inputs a bias is bf16/fp16 only, not float32");
  const bool a_vec = p.scale_a == ScaleKind::kPerToken, b_vec = p.scale_b == ScaleKind::kPerChannel;
  if (a_vec != b_vec && std::max(p.m, p.n) > kBroadcastMax)
    return Support::no("cublaslt: mixed scales need M and N <= " + std::to_string(kBroadcastMax));
  if (p.blockwise()) {
    if (p.accumulation == Accumulation::kFast) return Support::no("cublaslt: no fast accumulation with block scales");
    // No bias epilogue with block scales: run() adds the bias in a pass of its own (any output dtype).
    // Other scale layouts and M % 4 != 0 are repacked / padded in stream scratch (run_block_repacked).
  }
  return Support::yes();
}

PlanKey key_for(const ScaledMmArgs& args) {
  const ScaledMmProblem& p = args.problem;
  PlanKey key;
  std::memset(&key, 0, sizeof(key));  // padding bytes take part in the comparison
  key.device = args.out.device().index;
  key.m = p.m;
  key.n = p.n;
  key.k = p.k;
  key.lda = args.b.stride(1);
  key.ldb = args.a.stride(0);
  key.ldd = args.out.stride(0);
  key.ab_type = cuda_type(p.a_dtype);
  key.d_type = cuda_type(p.out_dtype);
  key.bias_type = cuda_type(p.out_dtype);
  key.bias = p.has_bias && !p.blockwise();  // block scaling has no bias epilogue: run_direct adds it after
  key.fast_accum = p.accumulation == Accumulation::kFast;
  if (p.blockwise()) {
    key.a_mode = Mode::kBlk128;
    key.b_mode = Mode::kVec128;
  } else {
    const bool a_vec = p.scale_a == ScaleKind::kPerToken, b_vec = p.scale_b == ScaleKind::kPerChannel;
    const bool any_vec = a_vec || b_vec;
    key.a_mode = any_vec ? Mode::kOuterVec : Mode::kScalar;
    key.b_mode = any_vec ? Mode::kOuterVec : Mode::kScalar;
    key.mixed = a_vec != b_vec;
  }
  return key;
}

// Scale pointers for a call; for a mixed pairing this enqueues the broadcast of the scalar on stream.
Pointers pointers_for(const ScaledMmArgs& args, const PlanKey& key, cudaStream_t stream) {
  const ScaledMmProblem& p = args.problem;
  Pointers ptr;
  ptr.a_scale = args.scale_b.data();
  ptr.b_scale = args.scale_a.data();
  if (key.mixed) {
    float* vec = broadcast_vector_for(key.device, stream);
    if (p.scale_b == ScaleKind::kPerChannel) {  // a per-tensor: scale_a repeated per token
      broadcast_scalar(vec, args.scale_a.data_as<const float>(), p.m, stream);
      ptr.b_scale = vec;
    } else {  // b per-tensor: scale_b repeated per channel
      broadcast_scalar(vec, args.scale_b.data_as<const float>(), p.n, stream);
      ptr.a_scale = vec;
    }
  }
  return ptr;
}

void run_direct(const ScaledMmArgs& args, cudaStream_t stream) {
  W8A8_CHECK_KIND(ErrorKind::kUnsupported,
                  aligned16(args.a.data()) && aligned16(args.b.data()) && aligned16(args.out.data()),
                  "cublaslt: operands and output must start 16-byte aligned (", args.problem.str(), ")");
  const PlanKey key = key_for(args);
  const Pointers ptr = pointers_for(args, key, stream);
  const Plan& plan = plan_for(key, ptr);
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, plan.ok, plan.why_not, " (", args.problem.str(), ")");
  set_attr(plan.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, ptr.a_scale);
  set_attr(plan.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, ptr.b_scale);
  if (key.bias) set_attr(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, args.bias->data());
  const float alpha = 1.0f, beta = 0.0f;
  W8A8_CUBLAS_CHECK(cublasLtMatmul(handle_for(key.device), plan.desc, &alpha, args.b.data(), plan.a, args.a.data(),
                                   plan.b, &beta, args.out.data(), plan.d, args.out.data(), plan.d, &plan.algo,
                                   workspace_for(key.device, stream), workspace_bytes(), stream));
  if (args.bias && !key.bias) add_bias(args.out, *args.bias, stream);
}

// cuBLASLt's block scaling reads activation scales as [K/128][M] (M contiguous) and weight scales as
// [ceil(N/128)][round_up(K/128, 4)] (K/128 contiguous), with M a multiple of 4. A problem already laid out
// so runs directly.
bool block_layout_is_direct(const ScaledMmArgs& args) {
  const ScaledMmProblem& p = args.problem;
  const int64_t L = p.k_blocks(), L4 = (L + 3) / 4 * 4;
  const TensorView &sa = args.scale_a, &sb = args.scale_b;
  // cuBLASLt takes no leading dimension for scales: the strides must be exactly M and L4.
  const bool a_ok = p.m % 4 == 0 && (p.m == 1 || sa.stride(0) == 1) && (L == 1 || sa.stride(1) == p.m);
  const bool b_ok = (L == 1 || sb.stride(0) == 1) && (p.n_blocks() == 1 || sb.stride(1) == L4);
  return a_ok && b_ok && reinterpret_cast<uintptr_t>(sa.data()) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(sb.data()) % 16 == 0;
}

// Everything else: the scales are repacked, and with M % 4 != 0 the activation and output padded to
// M4 = round_up(M, 4) rows, all in stream scratch. A few small copies; every M from 1 runs.
void run_block_repacked(const ScaledMmArgs& args, cudaStream_t stream) {
  const ScaledMmProblem& p = args.problem;
  const int64_t M = p.m, N = p.n, K = p.k, L = p.k_blocks(), L4 = (L + 3) / 4 * 4, NB = p.n_blocks();
  const int64_t M4 = (M + 3) / 4 * 4;
  const bool pad = M4 != M;
  const size_t out_es = dtype_size(p.out_dtype);
  cuda::ScratchCarver carve;
  carve.reserve(size_t(L * M4) * 4);
  carve.reserve(size_t(NB * L4) * 4);
  if (pad) {
    carve.reserve(size_t(M4 * K));
    carve.reserve(size_t(M4 * N) * out_es);
  }
  carve.bind(cuda::stream_scratch(carve.total(), stream));
  float* sa = carve.take<float>(size_t(L * M4));
  float* sb = carve.take<float>(size_t(NB * L4));
  // scale_a (m, l) -> sa[l * M4 + m]; scale_b (l, nb) -> sb[nb * L4 + l].
  repack_scales(sa, L, M4, args.scale_a.data_as<const float>(), L, M, args.scale_a.stride(1), args.scale_a.stride(0),
                1.0f, stream);
  repack_scales(sb, NB, L4, args.scale_b.data_as<const float>(), NB, L, args.scale_b.stride(1),
                args.scale_b.stride(0), 0.0f, stream);
  ScaledMmArgs x = args;
  x.problem.m = M4;
  x.problem.scale_a_column_major = x.problem.scale_b_column_major = true;
  x.scale_a = TensorView(sa, DType::kFloat32, {M4, L}, {1, M4}, args.a.device());
  x.scale_b = TensorView(sb, DType::kFloat32, {L, NB}, {1, L4}, args.b.device());
  if (pad) {
    uint8_t* a = carve.take<uint8_t>(size_t(M4 * K));
    void* out = carve.take<char>(size_t(M4 * N) * out_es);
    W8A8_CUDA_CHECK(cudaMemcpy2DAsync(a, size_t(K), args.a.data(), size_t(args.a.stride(0)), size_t(K), size_t(M),
                                      cudaMemcpyDeviceToDevice, stream));
    W8A8_CUDA_CHECK(cudaMemsetAsync(a + M * K, 0, size_t((M4 - M) * K), stream));
    x.a = TensorView(a, args.a.dtype(), {M4, K}, args.a.device());
    x.out = TensorView(out, p.out_dtype, {M4, N}, args.out.device());
    x.problem.a_row_stride = K;
    x.problem.out_row_stride = N;
    run_direct(x, stream);
    W8A8_CUDA_CHECK(cudaMemcpy2DAsync(args.out.data(), size_t(args.out.stride(0)) * out_es, out, size_t(N) * out_es,
                                      size_t(N) * out_es, size_t(M), cudaMemcpyDeviceToDevice, stream));
  } else {
    run_direct(x, stream);
  }
}

void run(const ScaledMmArgs& args) {
  if (args.problem.m == 0 || args.problem.n == 0) return;
  cudaStream_t stream = resolve_stream(args.stream);
  if (args.problem.blockwise() && !block_layout_is_direct(args)) return run_block_repacked(args, stream);
  run_direct(args, stream);
}

// Block scaling reads activation scales [K/128][M] (M contiguous) with M a multiple of 4.
const Backend kBackend{ScaledMmBackend::kCublasLt, "cublaslt", can_implement, run, nullptr, nullptr,
                       BlockwiseLayout{true, 4}};

}  // namespace

const Backend& backend() { return kBackend; }

void gemm_unit_scales(const TensorView& acc, const TensorView& a, const TensorView& b, Stream stream) {
  ScaledMmArgs args;
  args.out = acc;
  args.a = a;
  args.b = b;
  args.stream = stream;
  ScaledMmProblem& p = args.problem;
  p.m = a.size(0);
  p.n = b.size(1);
  p.k = a.size(1);
  p.a_dtype = a.dtype();
  p.out_dtype = DType::kFloat32;
  p.device = a.device();
  p.a_row_stride = a.stride(0);
  p.b_col_stride = b.stride(1);
  p.out_row_stride = acc.stride(0);
  const Support s = can_implement(p);
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, s.ok, s.reason);
  if (p.m == 0 || p.n == 0) return;
  // Per-tensor scale mode with null scale pointers (args.scale_a / scale_b are empty): unit scales.
  run_direct(args, resolve_stream(stream));
}

void base_gemm(const TensorView& acc, const TensorView& a, const TensorView& b, Stream stream) {
  const bool lt = a.size(1) % 16 == 0 && b.size(1) % 16 == 0 && a.stride(0) % 16 == 0 && b.stride(1) % 16 == 0 &&
                  acc.stride(0) % 4 == 0 && aligned16(a.data()) && aligned16(b.data()) && aligned16(acc.data()) &&
                  a.dtype() == DType::kFloat8E4M3FN;
  if (lt) {
    gemm_unit_scales(acc, a, b, stream);
  } else {
    simt_gemm_unit_scales(acc, a, b, stream);
  }
}

void* scratch(size_t bytes, Stream stream) { return cuda::stream_scratch(bytes, resolve_stream(stream)); }

void prepare(Stream stream) {
  const int device = current_device();
  handle_for(device);
  workspace_for(device, resolve_stream(stream));
}

}  // namespace w8a8::smm::cublaslt
