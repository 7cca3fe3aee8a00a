// w8a8 info: the build, the platform, vLLM's capability queries and the backends Fp8LinearOp picks.
#include <cstdio>
#include <memory>
#include <thread>
#include <tuple>

#include "w8a8/error.h"

#include "cli.h"
#include "w8a8/dispatch.h"
#include "w8a8/linear.h"
#include "w8a8/platform.h"
#include "w8a8/scaled_mm.h"

namespace w8a8::cli {

namespace {

struct InfoArgs {
  bool json = false;
  std::string shape;              // "M,N,K": what runs for this problem, and why
  std::string scales = "token-channel";
  std::string out = "bfloat16";
  std::string accumulation = "default";
  std::string device;             // "cpu" or "cuda[:N]"; default: the GPU where there is one
};

// `--scales` names, as the Python package's choose_scaled_mm_backend_for_shape takes them.
std::pair<ScaleKind, ScaleKind> scale_kinds(const std::string& s) {
  if (s == "tensor") return {ScaleKind::kPerTensor, ScaleKind::kPerTensor};
  if (s == "token-channel") return {ScaleKind::kPerToken, ScaleKind::kPerChannel};
  if (s == "mixed") return {ScaleKind::kPerTensor, ScaleKind::kPerChannel};
  if (s == "block") return {ScaleKind::kBlock, ScaleKind::kBlock};
  W8A8_FAIL(ErrorKind::kValue, "--scales: expected tensor, token-channel, mixed or block, got '", s, "'");
}

nlohmann::json choice_json(const BackendChoice& c) {
  return {{"backend", backend_name(c.backend)}, {"kernel", c.kernel}, {"knobs", c.knobs},
          {"accumulation", accumulation_name(c.accumulation)}, {"measured_us", c.measured_us}, {"reason", c.reason}};
}

// `w8a8 info --shape M,N,K`: the one decision for that problem (and which of vLLM's strategies the op names).
int run_shape(const InfoArgs& a) {
  ScaledMmShape shape;
  char extra = 0;
  W8A8_CHECK(std::sscanf(a.shape.c_str(), "%ld,%ld,%ld%c", &shape.m, &shape.n, &shape.k, &extra) == 3,
             "--shape: expected M,N,K, got '", a.shape, "'");
  std::tie(shape.scale_a, shape.scale_b) = scale_kinds(a.scales);
  shape.out_dtype = dtype_from_name(a.out == "bf16" ? "bfloat16" : a.out == "fp16" ? "float16"
                                                                 : a.out == "fp32" ? "float32" : a.out);
  const Platform& p = current_platform();
  const std::string dev = a.device.empty() ? (p.is_cuda ? "cuda" : "cpu") : a.device;
  W8A8_CHECK(dev == "cpu" || dev.rfind("cuda", 0) == 0, "--device: expected cpu or cuda[:N], got '", dev, "'");
  shape.device = dev == "cpu" ? Device::cpu() : Device::cuda(dev.size() > 5 ? std::stoi(dev.substr(5)) : 0);
  ScaledMmOptions options;
  if (a.accumulation == "promoted") options.accumulation = Accumulation::kPromoted;
  else if (a.accumulation == "fast") options.accumulation = Accumulation::kFast;
  else W8A8_CHECK(a.accumulation == "default", "--accumulation: expected default, promoted or fast, got '",
                  a.accumulation, "'");
  const BackendChoice c = choose_scaled_mm_backend(shape, options);
  std::string strategy = "W8A8BlockFp8LinearOp";
  if (shape.scale_a != ScaleKind::kBlock) {
    const Fp8LinearOp op(false, shape.scale_a == ScaleKind::kPerToken ? PER_TOKEN : PER_TENSOR);
    strategy = scaled_mm_fn_name(dispatch_w8a8_scaled_mm(op.preferred_backend(),
                                                         shape.scale_b == ScaleKind::kPerTensor,
                                                         shape.scale_a == ScaleKind::kPerTensor));
  }
  if (a.json) {
    print_json({{"shape", {{"M", shape.m}, {"N", shape.n}, {"K", shape.k}}}, {"scales", a.scales},
                {"out", dtype_name(shape.out_dtype)}, {"device", shape.device.str()},
                {"fp8_linear_strategy", strategy}, {"choice", choice_json(c)}});
    return kExitOk;
  }
  std::printf("M=%ld N=%ld K=%ld, %s scales, %s out, on %s\n", long(shape.m), long(shape.n), long(shape.k),
              a.scales.c_str(), dtype_name(shape.out_dtype), shape.device.str().c_str());
  std::printf("  runs:     %s%s%s%s, %s accumulation\n", backend_name(c.backend), c.kernel.empty() ? "" : " ",
              c.kernel.c_str(), c.knobs.empty() ? "" : (" [" + c.knobs + "]").c_str(),
              accumulation_name(c.accumulation));
  if (c.measured_us > 0) std::printf("  measured: %.1f us at the row's shape\n", c.measured_us);
  std::printf("  why:      %s\n  layer:    Fp8LinearOp's strategy %s (vLLM's name; it runs this decision)\n",
              c.reason.c_str(), strategy.c_str());
  return kExitOk;
}

// Why Fp8LinearOp's constructor picks its preferred backend (spec section 4), in words.
std::string preferred_backend_reason(const Platform& p, const Capability& fp8) {
  if (p.is_rocm) return "ROCm platform";
  if (p.is_cuda && fp8.supported) return "CUDA device with a fused FP8 GEMM (" + fp8.reason + "); no FlashInfer";
  if (p.is_cuda) return "CUDA device without a fused FP8 GEMM (" + fp8.reason + "): the unfused path";
  return "no CUDA device (" + (p.reason.empty() ? std::string("none found") : p.reason) +
         "): w8a8's CPU backend";
}

int run_info(const InfoArgs& a) {
  using nlohmann::json;
  if (!a.shape.empty()) return run_shape(a);
  const Platform& p = current_platform();
  const Capability caps[] = {cutlass_fp8_capability(), cutlass_block_fp8_capability(),
                             cutlass_group_gemm_capability(), sparse_cutlass_capability()};
  const char* cap_names[] = {"cutlass_fp8_supported", "cutlass_block_fp8_supported", "cutlass_group_gemm_supported",
                             "sparse_cutlass_supported"};

  // Fp8LinearOp as vLLM's FP8 layers build it: dynamic per-token and static per-tensor activations.
  struct OpCase {
    const char* name;
    bool is_static;
    GroupShape shape;
    bool per_tensor_weights;
  } ops[] = {{"dynamic per-token activations, per-channel weights", false, PER_TOKEN, false},
             {"dynamic per-tensor activations, per-tensor weights", false, PER_TENSOR, true},
             {"static per-tensor activations, per-tensor weights", true, PER_TENSOR, true}};
  json op_json = json::array();
  std::string preferred;
  for (const OpCase& c : ops) {
    const Fp8LinearOp op(c.is_static, c.shape);
    preferred = op.preferred_backend();
    const bool per_tensor_act = c.shape.is_per_tensor();
    const W8A8ScaledMmFn fn = dispatch_w8a8_scaled_mm(op.preferred_backend(), c.per_tensor_weights, per_tensor_act);
    op_json.push_back({{"case", c.name},
                       {"preferred_backend", op.preferred_backend()},
                       {"output_padding", op.output_padding() ? json(*op.output_padding()) : json(nullptr)},
                       {"scaled_mm_fn", scaled_mm_fn_name(fn)}});
  }
  const std::string why = preferred_backend_reason(p, caps[0]);

  // What scaled_mm itself runs for a CPU problem (per-token x per-channel, bf16 out).
  std::string cpu_choice;
  try {
    ScaledMmShape shape;
    shape.m = 16;
    shape.n = shape.k = 256;
    shape.scale_a = ScaleKind::kPerToken;
    shape.scale_b = ScaleKind::kPerChannel;
    cpu_choice = choose_scaled_mm_backend(shape).str();
  } catch (const std::exception& e) {
    cpu_choice = std::string("unavailable: ") + e.what();
  }

  // On a CUDA device: what scaled_mm runs for N = K = 8192 at a few M (the measured table or the tuning cache at
  // work), and the kernel configurations this build has. Shapes only: nothing is allocated.
  json gpu_choices = json::array();
  const std::vector<std::string> kernels = scaled_mm_kernels(ScaledMmBackend::kCutlass);
  if (p.is_cuda) {
    for (int64_t M : {int64_t(1), int64_t(16), int64_t(128), int64_t(1024), int64_t(8192)})
      for (const char* scales : {"tensor", "token-channel"})
        for (Accumulation acc : {Accumulation::kPromoted, Accumulation::kFast}) {
          ScaledMmShape shape;
          shape.m = M;
          shape.n = shape.k = 8192;
          std::tie(shape.scale_a, shape.scale_b) = scale_kinds(scales);
          shape.device = Device::cuda();
          try {
            const BackendChoice c = choose_scaled_mm_backend(shape, ScaledMmOptions{ScaledMmBackend::kAuto, acc});
            json j = choice_json(c);
            j["M"] = M;
            j["N"] = j["K"] = 8192;
            j["scales"] = scales;
            gpu_choices.push_back(j);
          } catch (const std::exception& e) {
            gpu_choices.push_back({{"error", e.what()}});
          }
        }
  }

#ifdef W8A8_CLI_CUDA_BUILD
  const bool cuda_option = true;
#else
  const bool cuda_option = false;
#endif
  const json build = {{"version", W8A8_VERSION},
                      {"build_type", W8A8_BUILD_TYPE},
                      {"compiler", __VERSION__},
                      {"cuda_backends", p.cuda_built},
                      {"cuda_option", cuda_option},
                      {"native_cpu_tuning", W8A8_CLI_NATIVE != 0},
                      {"hardware_threads", std::thread::hardware_concurrency()},
                      {"backends", build_info().backends},
                      {"cuda_archs", build_info().archs},
                      {"cutlass_version", build_info().cutlass_version}};
  if (a.json) {
    json capj = json::object();
    for (int i = 0; i < 4; ++i) capj[cap_names[i]] = {{"supported", caps[i].supported}, {"reason", caps[i].reason}};
    print_json({{"build", build},
                {"platform",
                 {{"cuda_built", p.cuda_built},
                  {"is_cuda", p.is_cuda},
                  {"is_rocm", p.is_rocm},
                  {"device_count", p.device_count},
                  {"capability", p.capability},
                  {"device_name", p.device_name},
                  {"reason", p.reason}}},
                {"capabilities", capj},
                {"fp8_linear_op", {{"preferred_backend", preferred}, {"why", why}, {"cases", op_json}}},
                {"scaled_mm_cpu_problem", cpu_choice},
                {"scaled_mm_gpu_choices", gpu_choices},
                {"cutlass_kernels", kernels},
                {"accumulation_default", "promoted (fp32 accumulation)"}});
    return kExitOk;
  }
  std::printf("w8a8 %s (%s build, %s)\n", W8A8_VERSION, W8A8_BUILD_TYPE, __VERSION__);
  std::printf("  CUDA backends built: %s; hardware threads: %u\n", p.cuda_built ? "yes" : "no",
              std::thread::hardware_concurrency());
  std::printf("  backends: %s", build_info().backends.c_str());
  if (!build_info().archs.empty()) std::printf("; CUDA archs: %s", build_info().archs.c_str());
  if (!build_info().cutlass_version.empty()) std::printf("; CUTLASS %s", build_info().cutlass_version.c_str());
  std::printf("\n");
  std::printf("\nPlatform\n");
  std::printf("  device: %s", p.device_name.c_str());
  if (p.is_cuda) std::printf(" (sm_%d), %d CUDA device%s", p.capability, p.device_count, p.device_count == 1 ? "" : "s");
  std::printf("\n");
  if (!p.is_cuda && !p.reason.empty()) std::printf("  no CUDA: %s\n", p.reason.c_str());
  std::printf("\nCapability queries (vLLM's conditions and kernels in this build)\n");
  for (int i = 0; i < 4; ++i)
    std::printf("  %-29s %-5s %s\n", cap_names[i], caps[i].supported ? "yes" : "no", caps[i].reason.c_str());
  std::printf("\nFp8LinearOp\n");
  std::printf("  preferred backend: %s\n  why: %s\n", preferred.c_str(), why.c_str());
  for (const json& c : op_json)
    std::printf("  %-52s -> %s%s\n", c["case"].get<std::string>().c_str(), c["scaled_mm_fn"].get<std::string>().c_str(),
                c["output_padding"].is_null()
                    ? ""
                    : (", pads to " + std::to_string(c["output_padding"].get<int64_t>()) + " rows").c_str());
  std::printf("\nscaled_mm on CPU tensors (M=16, N=K=256, per-token x per-channel, bf16 out)\n  %s\n", cpu_choice.c_str());
  std::printf("  accumulation default: promoted (fp32)\n");
  if (!gpu_choices.empty()) {
    std::printf("\nscaled_mm on the GPU (N = K = 8192, bf16 out): the measured choice\n");
    for (const json& c : gpu_choices) {
      if (c.contains("error")) {
        std::printf("  unavailable: %s\n", c["error"].get<std::string>().c_str());
        continue;
      }
      std::printf("  M=%-5ld %-13s %-8s -> %s %s%s\n", long(c["M"].get<int64_t>()),
                  c["scales"].get<std::string>().c_str(), c["accumulation"].get<std::string>().c_str(),
                  c["backend"].get<std::string>().c_str(), c["kernel"].get<std::string>().c_str(),
                  c["knobs"].get<std::string>().empty() ? "" : (" [" + c["knobs"].get<std::string>() + "]").c_str());
    }
  }
  std::printf("\ncutlass kernel configurations in this build: %zu\n", kernels.size());
  for (const std::string& k : kernels) std::printf("  %s\n", k.c_str());
  return kExitOk;
}

}  // namespace

void register_info(CLI::App& app, Runner& run) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "info",
      "Show the build (version, compiler, CUDA backends), the platform (devices, compute capability),\n"
      "vLLM's capability queries with the reason for each answer, and which backend Fp8LinearOp\n"
      "would pick here and why.");
  cmd->add_flag("--json", args->json, "Print JSON on stdout");
  cmd->add_option("--shape", args->shape, "M,N,K: print what runs for this problem and why (table row, measured "
                  "time, fallback reason)");
  cmd->add_option("--scales", args->scales, "With --shape: tensor, token-channel (default), mixed or block");
  cmd->add_option("--out", args->out, "With --shape: output dtype bf16 (default), fp16 or fp32");
  cmd->add_option("--accumulation", args->accumulation, "With --shape: default (promoted), promoted or fast");
  cmd->add_option("--device", args->device, "With --shape: cpu or cuda[:N] (default: the GPU where there is one)");
  run_when_chosen(cmd, run, args, run_info);
}

}  // namespace w8a8::cli
