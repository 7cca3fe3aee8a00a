#include "w8a8/dtype.h"

#include "w8a8/error.h"

namespace w8a8 {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kFloat8E4M3FN: return "float8_e4m3fn";
    case DType::kFloat8E4M3FNUZ: return "float8_e4m3fnuz";
    case DType::kFloat8E5M2: return "float8_e5m2";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat16: return "float16";
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kInt8: return "int8";
    case DType::kUInt8: return "uint8";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
  }
  return "unknown";
}

DType dtype_from_name(const std::string& name) {
  struct Alias { const char* name; DType type; };
  static const Alias aliases[] = {
      {"float8_e4m3fn", DType::kFloat8E4M3FN}, {"F8_E4M3", DType::kFloat8E4M3FN},
      {"float8_e4m3fnuz", DType::kFloat8E4M3FNUZ}, {"F8_E4M3FNUZ", DType::kFloat8E4M3FNUZ},
      {"float8_e5m2", DType::kFloat8E5M2}, {"F8_E5M2", DType::kFloat8E5M2},
      {"bfloat16", DType::kBFloat16}, {"BF16", DType::kBFloat16},
      {"float16", DType::kFloat16}, {"F16", DType::kFloat16}, {"half", DType::kFloat16},
      {"float32", DType::kFloat32}, {"F32", DType::kFloat32}, {"float", DType::kFloat32},
      {"float64", DType::kFloat64}, {"F64", DType::kFloat64},
      {"int8", DType::kInt8}, {"I8", DType::kInt8},
      {"uint8", DType::kUInt8}, {"U8", DType::kUInt8},
      {"int32", DType::kInt32}, {"I32", DType::kInt32},
      {"int64", DType::kInt64}, {"I64", DType::kInt64},
  };
  for (const Alias& a : aliases)
    if (name == a.name) return a.type;
  W8A8_FAIL(ErrorKind::kType, "dtype: expected a known dtype name (e.g. float8_e4m3fn, bfloat16, F8_E4M3), got '",
            name, "'");
}

}  // namespace w8a8
