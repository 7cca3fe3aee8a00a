// The backend around configs.h's kernels: capability check, the measured choice of configuration
// (selection.h: selection_table.inc's rows for this device, written by `w8a8-bench --tune`), and the call.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/check.h"
#include "scaled_mm/cutlass_sm90/configs.h"
#include "scaled_mm/cutlass_sm90/cutlass_backend.h"
#include "scaled_mm/cutlass_sm90/selection.h"

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
  const char* why = "";
};

int find_config(const char* name) {
  for (int i = 0; i < kNumConfigs; ++i)
    if (std::strcmp(kConfigs[i].name, name) == 0) return i;
  return -1;
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
    if (c.out != out || c.fast_accum() != fast) continue;
    if (first < 0) first = i;
    if (c.swap_ab == (m <= 64) && c.tiles == Tiles::persistent && !c.gemv()) return i;
  }
  return first;
}

struct DeviceInfo {
  int major = 0, sm_count = 0;
  DeviceTable table;  // the selection table's rows for this device (or the reference device's)
};
const DeviceInfo& device_info(int device) {
  static DeviceInfo infos[64];
  static std::once_flag once[64];
  std::call_once(once[device], [device] {
    cudaDeviceProp prop{};
    W8A8_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    infos[device].major = prop.major;
    infos[device].sm_count = prop.multiProcessorCount;
    infos[device].table = table_for_device(prop.name);
  });
  return infos[device];
}

Choice choose_from_table(const ScaledMmProblem& p) {
  const bool fast = wants_fast(p);
  const bool vec = p.scale_a == ScaleKind::kPerToken || p.scale_b == ScaleKind::kPerChannel;
  const Out out = out_of(p.out_dtype);
  const DeviceTable& table = device_info(p.device.index).table;
  const Pick* pick = nearest_pick(table, fast, vec, p.m, p.n, p.k);
  Choice c;
  if (pick && pick->defers()) {
    c.why = table.measured_here ? "the table measured cuBLASLt faster here"
                                : "the table measured cuBLASLt faster on the reference device (none for this one)";
    return c;
  }
  const int table_config = pick ? find_config(pick->config) : -1;
  if (table_config >= 0) {
    c.config = kConfigs[table_config].out == out ? table_config : same_geometry(kConfigs[table_config], out);
    if (c.config >= 0) {
      c.knobs = pick->knobs;
      c.measured = true;
      c.why = table.measured_here ? "selection table" : "selection table of the reference device (none for this one)";
      return c;
    }
  }
  c.config = default_config(out, fast, p.m);
  c.why = table_config >= 0 ? "the measured configuration has no variant for this output dtype"
                            : "no measured table row for this accumulation";
  return c;
}

// A small per-thread cache of table decisions: the lookup runs once per distinct problem shape.
Choice choose(const ScaledMmProblem& p) {
  struct Entry {
    int64_t m = -1, n = -1, k = -1;
    int device = -1;  // devices may differ in their table
    DType out;
    bool fast, vec;
    Choice choice;
  };
  thread_local Entry cache[8];
  thread_local int next = 0;
  const bool fast = wants_fast(p);
  const bool vec = p.scale_a == ScaleKind::kPerToken || p.scale_b == ScaleKind::kPerChannel;
  for (const Entry& e : cache)
    if (e.m == p.m && e.n == p.n && e.k == p.k && e.device == p.device.index && e.out == p.out_dtype &&
        e.fast == fast && e.vec == vec)
      return e.choice;
  Entry& e = cache[next];
  next = (next + 1) % 8;
  e = {p.m, p.n, p.k, p.device.index, p.out_dtype, fast, vec, choose_from_table(p)};
  return e.choice;
}

// options.kernel: "name" or "name:swizzle=4,raster=m,splits=2" (gemv configurations: "name:prefetch=2048").
Choice parse_kernel(const ScaledMmProblem& p) {
  std::string spec = p.kernel;
  std::string name = spec.substr(0, spec.find(':'));
  Choice c;
  c.config = find_config(name.c_str());
  W8A8_CHECK(c.config >= 0, "options.kernel: '", name, "' is not a cutlass configuration of this build");
  if (spec.find(':') == std::string::npos) return c;
  std::string rest = spec.substr(spec.find(':') + 1);
  while (!rest.empty()) {
    const std::string item = rest.substr(0, rest.find(','));
    rest = rest.find(',') == std::string::npos ? "" : rest.substr(rest.find(',') + 1);
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "swizzle") c.knobs.swizzle = std::atoi(value.c_str());
    else if (key == "splits") c.knobs.splits = std::atoi(value.c_str());
    else if (key == "promote") c.knobs.promote = std::atoi(value.c_str());
    else if (key == "prefetch") c.knobs.prefetch = std::atoi(value.c_str());
    else if (key == "pdl" && (value == "0" || value == "1")) c.knobs.pdl = value == "1";
    else if (key == "raster" && (value == "m" || value == "n" || value == "h"))
      c.knobs.raster = value == "m" ? Raster::along_m : value == "n" ? Raster::along_n : Raster::heuristic;
    else W8A8_FAIL(ErrorKind::kValue, "options.kernel: expected name[:swizzle=1|2|4|8,raster=m|n|h,splits=N,promote=4|8|..,pdl=0|1,prefetch=BYTES], got '", spec, "'");
  }
  W8A8_CHECK(c.knobs.swizzle == 1 || c.knobs.swizzle == 2 || c.knobs.swizzle == 4 || c.knobs.swizzle == 8,
             "options.kernel: swizzle must be 1, 2, 4 or 8, got ", c.knobs.swizzle, " in '", spec, "'");
  const ConfigInfo& info = kConfigs[c.config];
  W8A8_CHECK(c.knobs.splits == 1 || info.tiles == Tiles::streamk, "options.kernel: splits applies to stream-K "
             "configurations only, got '", spec, "'");
  W8A8_CHECK(c.knobs.promote == 4 || info.promote_knob(), "options.kernel: promote applies to the pingpong and coop "
             "(CUTLASS-promoted) configurations only, got '", spec, "'");
  W8A8_CHECK(!info.gemv() || (c.knobs.swizzle == 1 && c.knobs.raster == Raster::heuristic),
             "options.kernel: gemv configurations take pdl and prefetch only (no tile scheduler), got '", spec, "'");
  W8A8_CHECK(c.knobs.prefetch == 0 || info.gemv(), "options.kernel: prefetch applies to gemv configurations only, got '",
             spec, "'");
  W8A8_CHECK(c.knobs.prefetch >= 0 && c.knobs.prefetch % 16 == 0 && c.knobs.prefetch <= (1 << 20),
             "options.kernel: prefetch must be a multiple of 16 bytes in [0, 1048576], got ", c.knobs.prefetch, " in '",
             spec, "'");
  W8A8_CHECK(c.knobs.promote >= 4 && c.knobs.promote % 4 == 0 && c.knobs.promote <= 64,
             "options.kernel: promote must be a multiple of 4 in [4, 64], got ", c.knobs.promote, " in '", spec, "'");
  W8A8_CHECK(c.knobs.splits >= 1 && c.knobs.splits <= 64, "options.kernel: splits must be in [1, 64], got ",
             c.knobs.splits, " in '", spec, "'");
  return c;
}

Support can_implement(const ScaledMmProblem& p) {
  if (!p.device.is_cuda()) return Support::no("cutlass runs CUDA tensors only");
  if (p.device.index < 0 || p.device.index >= 64) return Support::no("cutlass: device index beyond 63");
  if (device_info(p.device.index).major != 9) return Support::no("cutlass: kernels built for sm_90a only");
  if (p.a_dtype != DType::kFloat8E4M3FN) return Support::no("cutlass: e4m3fn operands only");
  if (p.blockwise()) return Support::no("cutlass: no blockwise kernels (cuBLASLt runs them)");
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
    if (p.accumulation != Accumulation::kDefault && kConfigs[c].fast_accum() != wants_fast(p))
      return Support::no(std::string("cutlass: kernel ") + kConfigs[c].name + " has the other accumulation");
    return Support::yes();
  }
  if (default_config(out_of(p.out_dtype), wants_fast(p), p.m) < 0)
    return Support::no(std::string("cutlass: no ") + accumulation_name(p.accumulation) + " kernel for " +
                       dtype_name(p.out_dtype) + " output in this build");
  return Support::yes();
}

Support prefers(const ScaledMmProblem& p) {
  if (p.kernel) return Support::yes();
  const Choice c = choose(p);
  if (c.config < 0 || !c.measured) return Support::defer_to(ScaledMmBackend::kCublasLt, c.why);
  return Support::runs_kernel(kConfigs[c.config].name, std::string("kernel ") + kConfigs[c.config].name + ", " + c.why);
}

void run(const ScaledMmArgs& x) {
  const ScaledMmProblem& p = x.problem;
  if (p.m == 0 || p.n == 0) return;
  Choice c = p.kernel ? parse_kernel(p) : choose(p);
  if (c.config < 0) c.config = default_config(out_of(p.out_dtype), wants_fast(p), p.m);  // explicit request
  const int64_t lda = p.m == 1 ? p.k : x.a.stride(0), ldd = p.m == 1 ? p.n : x.out.stride(0);
  Fp8GemmCall call{int(p.m), int(p.n), int(p.k), x.a.data(), lda, x.b.data(), x.b.stride(1), x.out.data(), ldd,
                   x.scale_a.data_as<const float>(), p.scale_a == ScaleKind::kPerToken,
                   x.scale_b.data_as<const float>(), p.scale_b == ScaleKind::kPerChannel,
                   x.bias ? x.bias->data() : nullptr, device_info(p.device.index).sm_count, c.knobs, x.stream};
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, kConfigs[c.config].run(call), "cutlass: CUTLASS's can_implement refused ",
                  kConfigs[c.config].name, " for ", p.str());
}

std::vector<std::string> kernels() {
  std::vector<std::string> names;
  for (const ConfigInfo& c : kConfigs) names.push_back(c.name);
  return names;
}

const Backend kBackend{ScaledMmBackend::kCutlass, "cutlass", can_implement, run, prefers, kernels};

}  // namespace

const Backend& backend() { return kBackend; }

}  // namespace w8a8::smm::cutlass_sm90
