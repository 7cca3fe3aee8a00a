// Fp8LinearOp's construction-time choices, as pure functions of the platform (testable with any).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "w8a8/dtype.h"
#include "w8a8/platform.h"

namespace w8a8::linear_detail {

// vLLM: "rocm" on ROCm; on CUDA, unless force_fp8_e4m3fnuz, where FP8 CUTLASS is supported:
// "flashinfer" if FlashInfer is available and capability >= 100, else "cutlass"; otherwise "torch".
// w8a8 adds "cpu" when there is no CUDA device. FlashInfer is never available in w8a8.
std::string choose_preferred_backend(const Platform& platform, bool cutlass_fp8_supported, bool force_fp8_e4m3fnuz,
                                     bool flashinfer_available = false);

// pad_output nullopt: pad only for the "torch" backend (vLLM also requires no torch.compile; w8a8
// has none). 17 rows when padding.
std::optional<int64_t> choose_output_padding(const std::string& preferred_backend, std::optional<bool> pad_output);

// vLLM's current_platform.fp8_dtype(): e4m3fnuz on ROCm, e4m3fn elsewhere. force_fp8_e4m3fnuz only
// changes the backend choice, never this.
DType platform_fp8_dtype(const Platform& platform);

}  // namespace w8a8::linear_detail
