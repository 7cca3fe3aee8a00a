// Element types that w8a8 tensors carry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace w8a8 {

enum class DType : uint8_t {
  kFloat8E4M3FN,
  kFloat8E4M3FNUZ,
  kFloat8E5M2,
  kBFloat16,
  kFloat16,
  kFloat32,
  kFloat64,
  kInt8,
  kUInt8,
  kInt32,
  kInt64,
};

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::kFloat8E4M3FN:
    case DType::kFloat8E4M3FNUZ:
    case DType::kFloat8E5M2:
    case DType::kInt8:
    case DType::kUInt8: return 1;
    case DType::kBFloat16:
    case DType::kFloat16: return 2;
    case DType::kFloat32:
    case DType::kInt32: return 4;
    case DType::kFloat64:
    case DType::kInt64: return 8;
  }
  return 0;
}

constexpr bool is_fp8(DType t) {
  return t == DType::kFloat8E4M3FN || t == DType::kFloat8E4M3FNUZ || t == DType::kFloat8E5M2;
}
// The FP8 formats that quantization and scaled GEMM accept as operands.
constexpr bool is_e4m3(DType t) { return t == DType::kFloat8E4M3FN || t == DType::kFloat8E4M3FNUZ; }
// Activation / output types of the linear layer.
constexpr bool is_half_or_float(DType t) {
  return t == DType::kBFloat16 || t == DType::kFloat16 || t == DType::kFloat32;
}

// torch-style names: "float8_e4m3fn", "bfloat16", ...
const char* dtype_name(DType t);
// Inverse of dtype_name; also accepts safetensors names ("F8_E4M3", "BF16", ...). Throws on unknown names.
DType dtype_from_name(const std::string& name);

}  // namespace w8a8
