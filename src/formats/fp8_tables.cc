#include <array>

#include "w8a8/error.h"
#include "w8a8/formats.h"

namespace w8a8 {
namespace {
template <float (*Decode)(uint8_t)>
const std::array<float, 256>& table() {
  static const std::array<float, 256> t = [] {
    std::array<float, 256> out{};
    for (int c = 0; c < 256; ++c) out[c] = Decode(uint8_t(c));
    return out;
  }();
  return t;
}
}  // namespace

const float* fp8_decode_table(DType t) {
  switch (t) {
    case DType::kFloat8E4M3FN: return table<e4m3fn_to_float>().data();
    case DType::kFloat8E4M3FNUZ: return table<e4m3fnuz_to_float>().data();
    case DType::kFloat8E5M2: return table<e5m2_to_float>().data();
    default: break;
  }
  W8A8_FAIL(ErrorKind::kType, "fp8_decode_table: expected an FP8 dtype, got ", dtype_name(t));
}

}  // namespace w8a8
