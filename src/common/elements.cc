// One tensor element as float and back (host code: weight utilities, the in-process tensor-parallel group).
#include "common/elements.h"

#include <cstring>

#include "w8a8/error.h"
#include "w8a8/formats.h"

namespace w8a8 {

// One element as float (exact for every dtype handled; fp64 rounds).
float load_float(const TensorView& t, int64_t offset) {
  const char* p = static_cast<const char*>(t.data()) + offset * int64_t(t.element_size());
  switch (t.dtype()) {
    case DType::kFloat32: {
      float v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case DType::kFloat64: {
      double v;
      std::memcpy(&v, p, 8);
      return float(v);
    }
    case DType::kFloat16: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return fp16_to_float(v);
    }
    case DType::kBFloat16: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return bf16_to_float(v);
    }
    case DType::kFloat8E4M3FN: return e4m3fn_to_float(static_cast<uint8_t>(*p));
    case DType::kFloat8E4M3FNUZ: return e4m3fnuz_to_float(static_cast<uint8_t>(*p));
    case DType::kFloat8E5M2: return e5m2_to_float(static_cast<uint8_t>(*p));
    default: break;
  }
  W8A8_FAIL(ErrorKind::kType, "unsupported dtype ", dtype_name(t.dtype()));
}

// Stores a float rounded to dst's dtype (fp32, fp16 or bf16) at element i of a contiguous tensor.
void store_float(const TensorView& dst, int64_t i, float v) {
  char* p = static_cast<char*>(dst.data()) + i * int64_t(dst.element_size());
  switch (dst.dtype()) {
    case DType::kFloat32: std::memcpy(p, &v, 4); return;
    case DType::kFloat16: {
      const uint16_t h = float_to_fp16(v);
      std::memcpy(p, &h, 2);
      return;
    }
    case DType::kBFloat16: {
      const uint16_t h = float_to_bf16(v);
      std::memcpy(p, &h, 2);
      return;
    }
    default: break;
  }
  W8A8_FAIL(ErrorKind::kType, "unsupported dtype ", dtype_name(dst.dtype()));
}

}  // namespace w8a8
