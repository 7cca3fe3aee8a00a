// The capability rule, separated from the cached platform so that tests can feed it any device
// and any build.
#pragma once

#include "platform/built_kernels.h"
#include "w8a8/platform.h"

namespace w8a8::platform_detail {

// Supported when the platform has a usable CUDA device whose capability meets the family's
// min_capability (vLLM's condition) and is one of the family's built archs; otherwise says why.
Capability evaluate_capability(const Platform& platform, const KernelFamily& family);

}  // namespace w8a8::platform_detail
