// The backend around configs.h's kernels: capability check, the measured choice of configuration
// (selection.h: selection_table.inc's rows for this device, written by `w8a8-bench --tune`), and the call.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/check.h"
#include "scaled_mm/cutlass_sm90/configs.h"
#include "scaled_mm/cutlass_sm90/cutlass_backend.h"
#include "scaled_mm/cutlass_sm90/selection.h"
#include "w8a8/formats.h"

namespace w8a8::smm::cutlass_sm90 {
namespace {

// ---- the configurations of this build ----
#define W8A8_SM90_INFO_IMPL(name, out, tm, tn, tk, cm, cn, sched, swap, tiles) \
  ConfigInfo{#name, Out::out, tm, tn, tk, cm, cn, Sched::sched, swap, Tiles::tiles, &run_##name},
#define W8A8_SM90_INFO_(name, ...) W8A8_SM90_INFO_IMPL(name, __VA_ARGS__)
#define W8A8_SM90_CONFIG(name, params) W8A8_SM90_INFO_(name, params)
const ConfigInfo kConfigs[] = {
#include "cutlass_sm90_configs.inc"
};
#undef W8A8_SM90_CONFIG
constexpr int kNumConfigs = int(sizeof(kConfigs) / sizeof(kConfigs[0]));

Out out_of(DType d) {
  return d == DType::kBFloat16 ? Out::bf16 : d == DType::kFloat16 ? Out::fp16 : Out::fp32;
}
bool wants_fast(const ScaledMmProblem& p) { return p.accumulation == Accumulation::kFast; }

struct Choice {
  int config = -1;  // index into kConfigs; -1: defer to another backend
  Knobs knobs;
  bool measured = false;  // from a table row (automatic choice takes only measured configurations)
  std::string why;
  double us = -1;  // the measured time behind a table choice
};

int find_config(const char* name) {
  for (int i = 0; i < kNumConfigs; ++i)
    if (std::strcmp(kConfigs[i].name, name) == 0) return i;
  return -1;
}

// scaled_mm's configurations (FP8 operands); the gemv_quant ones belong to the fused path alone.
std::vector<std::string> kernels() {
  std::vector<std::string> names;
  for (const ConfigInfo& c : kConfigs)
    if (!c.quantizes()) names.push_back(c.name);
  return names;
}

// The configuration of the same geometry for another output type, or -1.
int same_geometry(const ConfigInfo& c, Out out) {
  for (int i = 0; i < kNumConfigs; ++i) {
    const ConfigInfo& o = kConfigs[i];
    if (o.out == out && o.tile_m == c.tile_m && o.tile_n == c.tile_n && o.tile_k == c.tile_k &&
        o.cluster_m == c.cluster_m && o.cluster_n == c.cluster_n && o.sched == c.sched && o.swap_ab == c.swap_ab &&
        o.tiles == c.tiles)
      return i;
  }
  return -1;
}

// Without a table row: a swap-AB configuration for small M, else the first of the output and accumulation.
int default_config(Out out, bool fast, int64_t m) {
  int first = -1;
  for (int i = 0; i < kNumConfigs; ++i) {
    const ConfigInfo& c = kConfigs[i];
    if (c.out != out || c.fast_accum() != fast || c.quantizes() || c.block()) continue;
    if (first < 0) first = i;
    if (c.swap_ab == (m <= 64) && c.tiles == Tiles::persistent && !c.gemv()) return i;
  }
  return first;
}

// The blockwise (gemv_block) configuration for an output type, or -1.
int block_config(Out out) {
  for (int i = 0; i < kNumConfigs; ++i)
    if (kConfigs[i].block() && !kConfigs[i].quantizes() && kConfigs[i].out == out) return i;
  return -1;
}

struct DeviceInfo {
  int major = 0, sm_count = 0;
  DeviceTable table;  // the tuning cache's or the selection table's rows for this device (or the reference's)
};
const DeviceInfo& device_info(int device) {
  static DeviceInfo infos[64];
  static std::once_flag once[64];
  std::call_once(once[device], [device] {
    cudaDeviceProp prop{};
    W8A8_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    infos[device].major = prop.major;
    infos[device].sm_count = prop.multiProcessorCount;
    infos[device].table = table_for_device(prop.name, kernels());
    // A refused tuning cache is worth one line: the user ran `w8a8 tune` for a reason.
    if (!infos[device].table.note.empty()) std::fprintf(stderr, "[w8a8] %s\n", infos[device].table.note.c_str());
  });
  return infos[device];
}

std::string fmt_us(double us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f us", us);
  return buf;
}

// The table row behind a choice, in words: "selection table (NVIDIA H100 80GB HBM3) row M=256 N=8192 K=8192".
std::string row_words(const DeviceTable& t, const Pick& r) {
  std::string s = t.source + " (" + t.device + (t.measured_here ? "" : "; none for this device") + ") row M=" +
                  std::to_string(r.m) + " N=" + std::to_string(r.n) + " K=" + std::to_string(r.k);
  return s;
}

Choice choose_from_table(const ScaledMmProblem& p) {
  const bool fast = wants_fast(p);
  const bool vec = p.scale_a == ScaleKind::kPerToken || p.scale_b == ScaleKind::kPerChannel;
  const Out out = out_of(p.out_dtype);
  const DeviceTable& table = device_info(p.device.index).table;
  const Pick* pick = nearest_pick(table, fast, vec, p.m, p.n, p.k);
  Choice c;
  if (pick && pick->defers()) {
    c.why = row_words(table, *pick) + ": cuBLASLt measured faster (" + fmt_us(pick->us) +
            (pick->alt_us > 0 ? " vs best configuration " + fmt_us(pick->alt_us) : std::string()) + ")";
    return c;
  }
  const int table_config = pick ? find_config(pick->config) : -1;
  if (table_config >= 0) {
    c.config = kConfigs[table_config].out == out ? table_config : same_geometry(kConfigs[table_config], out);
    if (c.config >= 0) {
      c.knobs = pick->knobs;
      c.measured = true;
      c.us = pick->us;
      c.why = row_words(table, *pick) + ": " + fmt_us(pick->us) +
              (pick->alt_us > 0 ? " vs cuBLASLt " + fmt_us(pick->alt_us) : std::string()) +
              (table_config == c.config ? "" : std::string(" (measured for ") + kConfigs[table_config].name + ")");
      return c;
    }
  }
  c.config = default_config(out, fast, p.m);
  c.why = table_config >= 0 ? "the measured configuration has no variant for " + std::string(dtype_name(p.out_dtype)) +
                                  " output"
                            : "no measured table row for this accumulation";
  return c;
}

// options.kernel: "name" or "name:swizzle=4,raster=m,splits=2" (gemv configurations: "name:prefetch=2048").
Choice parse_kernel(const ScaledMmProblem& p) {
  const std::string spec = p.kernel;
  std::string name, error;
  Choice c;
  W8A8_CHECK(parse_kernel_spec(spec, name, c.knobs, error), "options.kernel: ", error);
  c.config = find_config(name.c_str());
  W8A8_CHECK(c.config >= 0 && !kConfigs[c.config].quantizes(), "options.kernel: '", name,
             "' is not a scaled_mm configuration of this build (gemv_quant ones serve Fp8LinearOp's fused path)");
  const ConfigInfo& info = kConfigs[c.config];
  W8A8_CHECK(c.knobs.splits == 1 || info.tiles == Tiles::streamk, "options.kernel: splits applies to stream-K "
             "configurations only, got '", spec, "'");
  W8A8_CHECK(c.knobs.promote == 4 || info.promote_knob(), "options.kernel: promote applies to the pingpong and coop "
             "(CUTLASS-promoted) configurations only, got '", spec, "'");
  W8A8_CHECK(!info.gemv() || (c.knobs.swizzle == 1 && c.knobs.raster == Raster::heuristic),
             "options.kernel: gemv configurations take pdl and prefetch only (no tile scheduler), got '", spec, "'");
  W8A8_CHECK(c.knobs.prefetch == 0 || info.gemv(), "options.kernel: prefetch applies to gemv configurations only, got '",
             spec, "'");
  c.why = "options.kernel '" + spec + "'";
  return c;
}

// Plans: the (configuration, knobs) pairs the chooser decided, by index (ScaledMmArgs::plan). Published once
// (written before the count), never changed, so run() reads them without a lock.
struct Plan {
  int config;
  Knobs knobs;
};
constexpr int kMaxPlans = 1024;
Plan g_plans[kMaxPlans];
std::atomic<int> g_num_plans{0};
std::mutex g_plans_mutex;

bool same_knobs(const Knobs& a, const Knobs& b) {
  return a.swizzle == b.swizzle && a.raster == b.raster && a.splits == b.splits && a.promote == b.promote &&
         a.pdl == b.pdl && a.prefetch == b.prefetch;
}
int plan_of(const Choice& c) {
  std::lock_guard<std::mutex> lock(g_plans_mutex);
  const int n = g_num_plans.load(std::memory_order_relaxed);
  for (int i = 0; i < n; ++i)
    if (g_plans[i].config == c.config && same_knobs(g_plans[i].knobs, c.knobs)) return i;
  if (n == kMaxPlans) return -1;  // run() then resolves the problem itself
  g_plans[n] = Plan{c.config, c.knobs};
  g_num_plans.store(n + 1, std::memory_order_release);
  return n;
}

Support can_implement(const ScaledMmProblem& p) {
  if (!p.device.is_cuda()) return Support::no("cutlass runs CUDA tensors only");
  if (p.device.index < 0 || p.device.index >= 64) return Support::no("cutlass: device index beyond 63");
  if (device_info(p.device.index).major != 9) return Support::no("cutlass: kernels built for sm_90a only");
  if (p.a_dtype != DType::kFloat8E4M3FN) return Support::no("cutlass: e4m3fn operands only");
  if (p.blockwise()) {
    if (block_config(out_of(p.out_dtype)) < 0)
      return Support::no(std::string("cutlass: no blockwise kernel for ") + dtype_name(p.out_dtype) +
                         " output in this build");
    if (p.accumulation == Accumulation::kFast) return Support::no("cutlass: blockwise runs promoted only");
  }
  if (p.k == 0) return Support::no("cutlass: K must be positive");
  // A single row's stride is never used (run passes K and N for it), so any value is fine there.
  const bool one_row = p.m <= 1;
  if (p.k % 16 != 0 || p.n % 16 != 0 || (!one_row && p.a_row_stride % 16 != 0) || p.b_col_stride % 16 != 0)
    return Support::no("cutlass: K, N and the operand leading dimensions must be multiples of 16");
  const int64_t out_align = 16 / int64_t(dtype_size(p.out_dtype));
  if (!one_row && p.out_row_stride != 0 && p.out_row_stride % out_align != 0)
    return Support::no("cutlass: output rows must be 16-byte aligned");
  if (p.address_bits % 16 != 0) return Support::no("cutlass: operands, vector scales, bias and out must be 16-byte aligned");
  if (p.m > INT32_MAX || p.n > INT32_MAX || p.k > INT32_MAX) return Support::no("cutlass: sizes must fit in int32");
  if (p.kernel) {
    const int c = parse_kernel(p).config;
    if (kConfigs[c].out != out_of(p.out_dtype))
      return Support::no(std::string("cutlass: kernel ") + kConfigs[c].name + " writes another output dtype");
    if (kConfigs[c].block() != p.blockwise())
      return Support::no(std::string("cutlass: kernel ") + kConfigs[c].name +
                         (p.blockwise() ? " takes no block scales" : " takes block scales only"));
    if (p.accumulation != Accumulation::kDefault && kConfigs[c].fast_accum() != wants_fast(p))
      return Support::no(std::string("cutlass: kernel ") + kConfigs[c].name + " has the other accumulation");
    return Support::yes();
  }
  if (!p.blockwise() && default_config(out_of(p.out_dtype), wants_fast(p), p.m) < 0)
    return Support::no(std::string("cutlass: no ") + accumulation_name(p.accumulation) + " kernel for " +
                       dtype_name(p.out_dtype) + " output in this build");
  return Support::yes();
}

// What this backend runs for a problem: the requested kernel, or the measured table's choice (deferring to
// cuBLASLt where the table measured it faster or has no row).
Support prefers(const ScaledMmProblem& p) {
  if (p.blockwise() && !p.kernel)
    return Support::defer_to(ScaledMmBackend::kCublasLt,
                             "cutlass: the blockwise decode kernel (gemv_block) is not measured yet; cuBLASLt runs "
                             "blockwise problems");
  const Choice c = p.kernel ? parse_kernel(p) : choose_from_table(p);
  if (!p.kernel && (c.config < 0 || !c.measured)) return Support::defer_to(ScaledMmBackend::kCublasLt, c.why);
  return Support::runs_kernel(kConfigs[c.config].name, knobs_str(c.knobs), c.why, c.us, plan_of(c));
}

void run(const ScaledMmArgs& x) {
  const ScaledMmProblem& p = x.problem;
  if (p.m == 0 || p.n == 0) return;
  Choice c;
  if (x.plan >= 0 && x.plan < g_num_plans.load(std::memory_order_acquire)) {
    c.config = g_plans[x.plan].config;
    c.knobs = g_plans[x.plan].knobs;
  } else if (p.blockwise() && !p.kernel) {  // an explicit backend=cutlass request
    c.config = block_config(out_of(p.out_dtype));
  } else {
    c = p.kernel ? parse_kernel(p) : choose_from_table(p);
    if (c.config < 0) c.config = default_config(out_of(p.out_dtype), wants_fast(p), p.m);  // explicit request
  }
  const int64_t lda = p.m == 1 ? p.k : x.a.stride(0), ldd = p.m == 1 ? p.n : x.out.stride(0);
  Fp8GemmCall call{int(p.m), int(p.n), int(p.k), x.a.data(), lda, x.b.data(), x.b.stride(1), x.out.data(), ldd,
                   x.scale_a.data_as<const float>(), p.scale_a == ScaleKind::kPerToken,
                   x.scale_b.data_as<const float>(), p.scale_b == ScaleKind::kPerChannel,
                   x.bias ? x.bias->data() : nullptr, device_info(p.device.index).sm_count, c.knobs, x.stream};
  if (p.blockwise()) {
    call.block = true;
    call.sa_stride_m = x.scale_a.stride(0);
    call.sa_stride_kb = x.scale_a.stride(1);
    call.sb_stride_kb = x.scale_b.stride(0);
    call.sb_stride_nb = x.scale_b.stride(1);
  }
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, kConfigs[c.config].run(call), "cutlass: CUTLASS's can_implement refused ",
                  kConfigs[c.config].name, " for ", p.str());
}

// ---- the fused decode path (gemv_quant configurations) ----
// group: 1x128 activation groups with 128x128 weight blocks (promoted only).
int fused_config(Out out, bool fast, bool group) {
  for (int i = 0; i < kNumConfigs; ++i) {
    const ConfigInfo& c = kConfigs[i];
    if (c.quantizes() && c.out == out && c.block() == group && (group || c.fast_accum() == fast)) return i;
  }
  return -1;
}
bool is_group(const FusedQuantArgs& f) { return f.act == FusedQuantArgs::Act::kDynamicGroup; }

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

const char* fused_quant_refusal(const FusedQuantArgs& f) {
  if (!f.x.device().is_cuda()) return "cutlass: CUDA tensors only";
  const int dev = f.x.device().index;
  if (dev < 0 || dev >= 64 || device_info(dev).major != 9) return "cutlass: kernels built for sm_90a only";
  if (f.x.dtype() != DType::kBFloat16 && f.x.dtype() != DType::kFloat16) return "cutlass: bf16 or fp16 activations";
  if (f.out.dtype() != f.x.dtype()) return "cutlass: the fused kernels write the activation's dtype";
  if (f.b.dtype() != DType::kFloat8E4M3FN) return "cutlass: e4m3fn weights only";
  if (fused_config(out_of(f.out.dtype()), f.accumulation == Accumulation::kFast, is_group(f)) < 0)
    return "cutlass: no fused kernel for this output and accumulation in this build";
  if (is_group(f) && (f.x.size(1) % 128 != 0 || f.scale_b.dim() != 2 || f.scale_b.size(0) != f.x.size(1) / 128 ||
                      f.scale_b.size(1) != (f.b.size(1) + 127) / 128))
    return "cutlass: 1x128 groups need K % 128 == 0 and [K/128, ceil(N/128)] weight scales";
  if (is_group(f) && f.x.size(1) / 128 * 2 * 8 * 4 > 48 * 1024) return "cutlass: K beyond 98304 for 1x128 groups";
  const int64_t M = f.x.size(0), K = f.x.size(1), N = f.b.size(1);
  if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) return "cutlass: sizes must fit in int32";
  if (K % 16 != 0 || N % 16 != 0) return "cutlass: K and N must be multiples of 16";
  if (f.x.stride(1) != 1 || (M > 1 && f.x.stride(0) % 8 != 0) || !aligned16(f.x.data()))
    return "cutlass: activation rows must be contiguous and 16-byte aligned";
  if (f.b.stride(0) != 1 || f.b.stride(1) % 16 != 0 || !aligned16(f.b.data()))
    return "cutlass: the weight must be column-major with 16-byte aligned columns";
  if (f.out.stride(1) != 1 || (M > 1 && f.out.stride(0) % 8 != 0) || !aligned16(f.out.data()))
    return "cutlass: output rows must be contiguous and 16-byte aligned";
  if (f.bias && (f.bias->dtype() != f.out.dtype() || f.bias->stride(0) != 1))
    return "cutlass: the bias must be contiguous, of the output's dtype";
  if (!is_group(f) && f.scale_b.numel() > 1 && !f.scale_b.is_contiguous())
    return "cutlass: per-channel scales must be contiguous";
  return nullptr;
}

void run_fused_quant(const FusedQuantArgs& f) {
  const int64_t M = f.x.size(0), K = f.x.size(1), N = f.b.size(1);
  if (M == 0 || N == 0) return;
  const int config = fused_config(out_of(f.out.dtype()), f.accumulation == Accumulation::kFast, is_group(f));
  ActQuant q;
  q.static_scale = f.act == FusedQuantArgs::Act::kStatic ? f.static_scale : nullptr;
  q.per_token = f.act == FusedQuantArgs::Act::kDynamicPerToken;
  q.scale_ub = q.per_token ? f.scale_ub : nullptr;
  q.qmax = fp8_quant_max(DType::kFloat8E4M3FN);
  q.min_scale = fp8_min_scale(DType::kFloat8E4M3FN);
  q.codes = f.codes;
  q.ld_codes = K;
  q.scales = f.scales;
  q.group = is_group(f);
  q.eps = f.eps;
  q.ue8m0 = f.ue8m0;
  Fp8GemmCall call{int(M), int(N), int(K), f.x.data(), M == 1 ? K : f.x.stride(0), f.b.data(), f.b.stride(1),
                   f.out.data(), M == 1 ? N : f.out.stride(0), nullptr, false, f.scale_b.data_as<const float>(),
                   f.scale_b.numel() > 1, f.bias ? f.bias->data() : nullptr, device_info(f.x.device().index).sm_count,
                   Knobs{}, f.stream, &q};
  if (q.group) {  // 128x128 weight-block scales [K/128, ceil(N/128)] by strides
    call.block = true;
    call.sb_stride_kb = f.scale_b.stride(0);
    call.sb_stride_nb = f.scale_b.stride(1);
  }
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, kConfigs[config].run(call), "cutlass: ", kConfigs[config].name,
                  " refused a fused call M=", M, " N=", N, " K=", K);
}

const Backend kBackend{ScaledMmBackend::kCutlass, "cutlass", can_implement, run, prefers, kernels,
                       BlockwiseLayout{}, fused_quant_refusal, run_fused_quant};

}  // namespace

const Backend& backend() { return kBackend; }

}  // namespace w8a8::smm::cutlass_sm90
