// The unfused backend's epilogue on the CPU. vLLM's order of operations, each step in fp32:
// output = acc * x_scale; output = output * weight_scale.t(); output = output + bias; .to(out_dtype).
#include <cstdint>
#include <cstring>

#include "scaled_mm/unfused/unfused.h"
#include "w8a8/formats.h"

namespace w8a8::smm::unfused {
namespace {

template <class Store>
void epilogue_rows(const TensorView& acc, const TensorView& scale_a, const TensorView& scale_b, const float* bias,
                   Store store) {
  const int64_t M = acc.size(0), N = acc.size(1);
  const float* sa = scale_a.data_as<const float>();
  const float* sb = scale_b.data_as<const float>();
  const bool per_token = scale_a.numel() > 1, per_channel = scale_b.numel() > 1;  // contiguous when > 1
  const bool parallel = M * N >= (int64_t(1) << 16) && M > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t m = 0; m < M; ++m) {
    const float* row = acc.data_as<const float>() + m * N;
    const float s = per_token ? sa[m] : sa[0];
    for (int64_t n = 0; n < N; ++n) {
      float v = row[n] * s;
      v = v * (per_channel ? sb[n] : sb[0]);
      if (bias != nullptr) v = v + bias[n];
      store(m, n, v);
    }
  }
}

}  // namespace

void epilogue_cpu(const TensorView& out, const TensorView& acc, const TensorView& scale_a, const TensorView& scale_b,
                  const std::optional<TensorView>& bias, Stream) {
  const int64_t N = out.size(1), ldo = out.stride(0);
  // The bias in fp32 (bf16 / fp16 widen exactly), as torch promotes fp32 + bf16.
  Tensor bias32;
  if (bias) {
    bias32 = Tensor::empty({N}, DType::kFloat32);
    float* b = bias32.data_as<float>();
    for (int64_t n = 0; n < N; ++n) {
      const char* p = static_cast<const char*>(bias->data()) + n * bias->stride(0) * int64_t(bias->element_size());
      uint16_t h;
      switch (bias->dtype()) {
        case DType::kFloat32: std::memcpy(&b[n], p, 4); break;
        case DType::kBFloat16: std::memcpy(&h, p, 2); b[n] = bf16_to_float(h); break;
        default: std::memcpy(&h, p, 2); b[n] = fp16_to_float(h); break;
      }
    }
  }
  const float* b = bias ? bias32.data_as<const float>() : nullptr;
  switch (out.dtype()) {
    case DType::kFloat32: {
      float* o = out.data_as<float>();
      epilogue_rows(acc, scale_a, scale_b, b, [&](int64_t m, int64_t n, float v) { o[m * ldo + n] = v; });
      break;
    }
    case DType::kBFloat16: {
      uint16_t* o = out.data_as<uint16_t>();
      epilogue_rows(acc, scale_a, scale_b, b,
                    [&](int64_t m, int64_t n, float v) { o[m * ldo + n] = float_to_bf16(v); });
      break;
    }
    default: {
      uint16_t* o = out.data_as<uint16_t>();
      epilogue_rows(acc, scale_a, scale_b, b,
                    [&](int64_t m, int64_t n, float v) { o[m * ldo + n] = float_to_fp16(v); });
      break;
    }
  }
}

}  // namespace w8a8::smm::unfused
