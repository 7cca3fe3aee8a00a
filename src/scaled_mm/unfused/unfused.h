// The unfused backend: vLLM's channelwise fallback (torch_channelwise_w8a8_scaled_mm).
//   acc = A @ B in fp32 with unit scales (the device's base GEMM), into an fp32 temporary;
//   out = cast(acc * scale_a[m] * scale_b[n] + bias), in one epilogue pass.
// It runs per-tensor / per-token / per-channel scales on any device with registered DeviceOps;
// blockwise scales cannot be applied after the product and are left to fused backends.
#pragma once

#include <optional>

#include "scaled_mm/backend.h"

namespace w8a8::smm::unfused {

struct DeviceOps {
  // acc [M, N] fp32 contiguous = A @ B with unit scales.
  void (*base_gemm)(const TensorView& acc, const TensorView& a, const TensorView& b, Stream stream);
  // out = cast(out.dtype, acc * scale_a[m] * scale_b[n] + bias), scales broadcast as in scaled_mm.
  void (*epilogue)(const TensorView& out, const TensorView& acc, const TensorView& scale_a,
                   const TensorView& scale_b, const std::optional<TensorView>& bias, Stream stream);
  // Optional: memory for the fp32 product that stays valid for the call (stream-ordered). Without it the
  // product is a fresh Tensor (fine on the CPU; on a GPU it would allocate, free and synchronize per call).
  void* (*scratch)(size_t bytes, Stream stream) = nullptr;
};

// Makes the backend available on a device type (the registry does it for the CPU).
void set_device_ops(DeviceType type, const DeviceOps& ops);

const Backend& backend();

// The CPU epilogue.
void epilogue_cpu(const TensorView& out, const TensorView& acc, const TensorView& scale_a, const TensorView& scale_b,
                  const std::optional<TensorView>& bias, Stream stream);

}  // namespace w8a8::smm::unfused
