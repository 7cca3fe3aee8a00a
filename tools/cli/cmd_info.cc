// w8a8 info: the build, the platform, vLLM's capability queries and the backends Fp8LinearOp picks.
#include <cstdio>
#include <memory>
#include <thread>

#include "cli.h"
#include "w8a8/dispatch.h"
#include "w8a8/linear.h"
#include "w8a8/platform.h"
#include "w8a8/scaled_mm.h"

namespace w8a8::cli {

namespace {

struct InfoArgs {
  bool json = false;
};

// Why Fp8LinearOp's constructor picks its preferred backend (spec section 4), in words.
std::string preferred_backend_reason(const Platform& p, const Capability& fp8) {
  if (p.is_rocm) return "ROCm platform";
  if (p.is_cuda && fp8.supported) return "CUDA device with FP8 CUTLASS support (" + fp8.reason + "); no FlashInfer";
  if (p.is_cuda) return "CUDA device without FP8 CUTLASS (" + fp8.reason + "): cuBLASLt and the unfused path";
  return "no CUDA device (" + (p.reason.empty() ? std::string("none found") : p.reason) +
         "): w8a8's CPU backend";
}

int run_info(const InfoArgs& a) {
  using nlohmann::json;
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
    const int64_t M = 16, N = 256, K = 256;
    Tensor qa = Tensor::zeros({M, K}, DType::kFloat8E4M3FN);
    Tensor qb = Tensor::zeros({N, K}, DType::kFloat8E4M3FN);
    Tensor sa = Tensor::zeros({M, 1}, DType::kFloat32);
    Tensor sb = Tensor::zeros({N, 1}, DType::kFloat32);
    Tensor out = Tensor::zeros({M, N}, DType::kBFloat16);
    const BackendChoice c = choose_scaled_mm_backend(out, qa, qb.t(), sa, sb);
    cpu_choice = std::string(backend_name(c.backend)) + ": " + c.reason;
  } catch (const std::exception& e) {
    cpu_choice = std::string("unavailable: ") + e.what();
  }

  // On a CUDA device: what scaled_mm runs for the harness's N = K = 8192 at a few M (the measured
  // selection table at work), and the kernel configurations this build has.
  json gpu_choices = json::array();
  const std::vector<std::string> kernels = scaled_mm_kernels(ScaledMmBackend::kCutlass);
  if (p.is_cuda) {
    try {
      const int64_t N = 8192, K = 8192, max_m = 8192;
      Tensor qb = Tensor::empty({N, K}, DType::kFloat8E4M3FN, Device::cuda());
      Tensor sb1 = Tensor::empty({1}, DType::kFloat32, Device::cuda());
      Tensor sbv = Tensor::empty({N, 1}, DType::kFloat32, Device::cuda());
      // Allocated once at the largest M; each M's operands are its leading rows (same strides and alignment).
      Tensor qa_max = Tensor::empty({max_m, K}, DType::kFloat8E4M3FN, Device::cuda());
      Tensor sav_max = Tensor::empty({max_m, 1}, DType::kFloat32, Device::cuda());
      Tensor out_max = Tensor::empty({max_m, N}, DType::kBFloat16, Device::cuda());
      for (int64_t M : {int64_t(1), int64_t(16), int64_t(128), int64_t(1024), max_m}) {
        const TensorView qa = qa_max.narrow(0, 0, M), sav = sav_max.narrow(0, 0, M), out = out_max.narrow(0, 0, M);
        for (bool rowwise : {false, true})
          for (Accumulation acc : {Accumulation::kPromoted, Accumulation::kFast}) {
            const BackendChoice c = choose_scaled_mm_backend(out, qa, qb.t(), rowwise ? sav : sb1, rowwise ? sbv : sb1,
                                                             std::nullopt, ScaledMmOptions{ScaledMmBackend::kAuto, acc});
            gpu_choices.push_back({{"M", M}, {"N", N}, {"K", K}, {"scales", rowwise ? "rowwise" : "per_tensor"},
                                   {"accumulation", accumulation_name(acc)}, {"backend", backend_name(c.backend)},
                                   {"kernel", c.kernel}, {"reason", c.reason}});
          }
      }
    } catch (const std::exception& e) {
      gpu_choices.push_back({{"error", e.what()}});
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
                      {"hardware_threads", std::thread::hardware_concurrency()}};
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
      std::printf("  M=%-5ld %-10s %-8s -> %s %s\n", long(c["M"].get<int64_t>()), c["scales"].get<std::string>().c_str(),
                  c["accumulation"].get<std::string>().c_str(), c["backend"].get<std::string>().c_str(),
                  c["kernel"].get<std::string>().c_str());
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
  run_when_chosen(cmd, run, args, run_info);
}

}  // namespace w8a8::cli
