// The element-wise work of the weight utilities (spec section 5), one definition for the CPU loop and
// the CUDA kernel (weight_kernels.cu), so both devices give the same bits. Arguments are validated by
// weight_utils.cc before they get here. Internal to w8a8.
#pragma once

#include <cstdint>

#include "w8a8/formats.h"
#include "w8a8/tensor.h"

namespace w8a8::weights {

enum class ElementOp : uint8_t {
  kDequantize,  // out = out_dtype(float(fp16(in)) * s)                     (per_tensor_dequantize)
  kRequantize,  // out = fp8(sat(float(fp16(float(fp16(in)) * s)) * inv))   (dequantize to fp16, static quant)
  kFnToFnuz,    // out byte = in byte, 0x80 (-0 in e4m3fn, NaN in e4m3fnuz) -> 0x00
  kCopyBytes,   // out byte = in byte (one-byte elements)
  kDouble,      // out = out_dtype(in * 2)                                   (the doubled scales)
  kToFloat32,   // out = float(in)                                           (convert_to_channelwise)
};

// Where each operand's element lives for every element of the output: `rank` dimensions with one
// stride per operand (0 where an operand broadcasts), ordered by the output's memory order and merged
// where every operand allows, so that a dense result walks memory linearly (most calls end up 1-D).
struct Geometry {
  static constexpr int kOut = 0, kIn = 1, kScale = 2;
  int rank = 0;
  int64_t numel = 0;
  int64_t sizes[Dims::kMaxRank] = {};
  int64_t strides[3][Dims::kMaxRank] = {};
};

// What one element-wise call reads and writes. scale == nullptr: the scalar `s` is the scale.
struct Operands {
  void* out = nullptr;
  DType out_dtype = DType::kFloat32;
  const void* in = nullptr;
  DType in_dtype = DType::kFloat32;
  const void* scale = nullptr;
  DType scale_dtype = DType::kFloat32;
  float s = 1.0f;
  float inv = 1.0f;  // kRequantize: the fp32 reciprocal of the requantization scale
};

// ---- one element -----------------------------------------------------------------------------
// Exact for the dtypes the weight utilities read (FP8, bf16, fp16, fp32), like common/elements.h.
W8A8_HD float load_as_float(const void* base, DType dtype, int64_t offset) {
  switch (dtype) {
    case DType::kFloat32: return static_cast<const float*>(base)[offset];
    case DType::kFloat16: return fp16_to_float(static_cast<const uint16_t*>(base)[offset]);
    case DType::kBFloat16: return bf16_to_float(static_cast<const uint16_t*>(base)[offset]);
    case DType::kFloat8E4M3FN: return e4m3fn_to_float(static_cast<const uint8_t*>(base)[offset]);
    case DType::kFloat8E4M3FNUZ: return e4m3fnuz_to_float(static_cast<const uint8_t*>(base)[offset]);
    case DType::kFloat8E5M2: return e5m2_to_float(static_cast<const uint8_t*>(base)[offset]);
    default: return fp8_detail::bits_float(0x7FC00000u);  // validated away: never reached
  }
}

// v rounded to nearest-even into fp32 / fp16 / bf16; FP8 saturates (quantization).
W8A8_HD void store_from_float(void* base, DType dtype, int64_t offset, float v) {
  switch (dtype) {
    case DType::kFloat32: static_cast<float*>(base)[offset] = v; break;
    case DType::kFloat16: static_cast<uint16_t*>(base)[offset] = float_to_fp16(v); break;
    case DType::kBFloat16: static_cast<uint16_t*>(base)[offset] = float_to_bf16(v); break;
    case DType::kFloat8E4M3FN: static_cast<uint8_t*>(base)[offset] = quantize_e4m3fn(v); break;
    case DType::kFloat8E4M3FNUZ: static_cast<uint8_t*>(base)[offset] = quantize_e4m3fnuz(v); break;
    default: break;
  }
}

// vLLM's tensor.to(torch.float16): the value rounded to fp16 and read back.
W8A8_HD float through_fp16(float v) { return fp16_to_float(float_to_fp16(v)); }

// a * b, a NaN operand (the first one first) returned quiet with its sign and payload, as x86 (and so torch
// on the CPU) does; CUDA's multiply would return its canonical NaN, and the stored bits would differ.
W8A8_HD float mul_keep_nan(float a, float b) {
  if (a != a) return fp8_detail::bits_float(fp8_detail::float_bits(a) | 0x400000u);
  if (b != b) return fp8_detail::bits_float(fp8_detail::float_bits(b) | 0x400000u);
  return a * b;
}

W8A8_HD void apply_element(ElementOp op, const Operands& o, int64_t out_off, int64_t in_off, int64_t scale_off) {
  if (op == ElementOp::kFnToFnuz || op == ElementOp::kCopyBytes) {
    const uint8_t b = static_cast<const uint8_t*>(o.in)[in_off];
    static_cast<uint8_t*>(o.out)[out_off] = b == 0x80 && op == ElementOp::kFnToFnuz ? 0x00 : b;
    return;
  }
  const float x = load_as_float(o.in, o.in_dtype, in_off);
  switch (op) {
    case ElementOp::kDequantize: {
      const float s = o.scale != nullptr ? load_as_float(o.scale, o.scale_dtype, scale_off) : o.s;
      // torch computes fp16 * scale in fp32 (its opmath type) and rounds once to the result dtype.
      store_from_float(o.out, o.out_dtype, out_off, mul_keep_nan(through_fp16(x), s));
      break;
    }
    case ElementOp::kRequantize: {
      const float dq = through_fp16(mul_keep_nan(through_fp16(x), o.s));  // per_tensor_dequantize: fp16
      store_from_float(o.out, o.out_dtype, out_off, mul_keep_nan(dq, o.inv));  // static quant with the max
      break;
    }
    case ElementOp::kDouble: store_from_float(o.out, o.out_dtype, out_off, mul_keep_nan(x, 2.0f)); break;
    case ElementOp::kToFloat32: store_from_float(o.out, DType::kFloat32, out_off, x); break;
    default: break;
  }
}

// Offsets of element i (in the geometry's order) of each operand.
W8A8_HD void element_offsets(const Geometry& g, int64_t i, int64_t& out_off, int64_t& in_off, int64_t& scale_off) {
  out_off = in_off = scale_off = 0;
  for (int d = g.rank - 1; d >= 0; --d) {
    const int64_t c = i % g.sizes[d];
    i /= g.sizes[d];
    out_off += c * g.strides[Geometry::kOut][d];
    in_off += c * g.strides[Geometry::kIn][d];
    scale_off += c * g.strides[Geometry::kScale][d];
  }
}

#ifdef W8A8_WITH_CUDA
namespace cuda {
// Runs apply_element for every element of g on the device (weight_kernels.cu); asynchronous on stream.
void elementwise(ElementOp op, const Geometry& g, const Operands& o, Stream stream);
}  // namespace cuda
#endif

}  // namespace w8a8::weights
