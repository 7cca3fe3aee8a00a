// Weight utilities (spec section 5) against hand-computed expectations.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "op_test_helpers.h"
#include "w8a8/weights.h"

namespace {

using namespace w8a8;
using namespace op_test;

Tensor f32(std::vector<float> v, Dims sizes) {
  Tensor t = Tensor::empty(sizes, DType::kFloat32);
  EXPECT_EQ(size_t(t.numel()), v.size());
  std::memcpy(t.data(), v.data(), v.size() * 4);
  return t;
}
Tensor f32(std::vector<float> v) { return f32(v, {int64_t(v.size())}); }

Tensor fp8(std::vector<uint8_t> codes, Dims sizes, DType dtype = DType::kFloat8E4M3FN) {
  Tensor t = Tensor::empty(sizes, dtype);
  EXPECT_EQ(size_t(t.numel()), codes.size());
  std::memcpy(t.data(), codes.data(), codes.size());
  return t;
}
std::vector<uint8_t> codes_of(const TensorView& t) {
  std::vector<uint8_t> v(size_t(t.numel()));
  std::memcpy(v.data(), t.data(), v.size());
  return v;
}
uint16_t half_bits(const TensorView& t, int64_t i) { return t.data_as<uint16_t>()[i]; }

// ---- convert_to_channelwise ----------------------------------------------------------------
TEST(Weights, ConvertToChannelwise) {
  const Tensor s = f32({0.5f, 2.0f, 3.0f});
  const Tensor c = convert_to_channelwise(s, {2, 1, 3});
  ASSERT_EQ(c.sizes(), (Dims{6, 1}));
  ASSERT_EQ(c.dtype(), DType::kFloat32);
  const std::vector<float> expected = {0.5f, 0.5f, 2.0f, 3.0f, 3.0f, 3.0f};
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(c.data_as<float>()[i], expected[size_t(i)]) << i;
}

TEST(Weights, ConvertToChannelwiseZeroWidthShard) {
  const Tensor c = convert_to_channelwise(f32({0.5f, 7.0f, 3.0f}), {2, 0, 1});
  ASSERT_EQ(c.sizes(), (Dims{3, 1}));
  EXPECT_EQ(c.data_as<float>()[0], 0.5f);
  EXPECT_EQ(c.data_as<float>()[1], 0.5f);
  EXPECT_EQ(c.data_as<float>()[2], 3.0f);
  // A strided scale vector and a bf16 one (assigned into float32, as torch does).
  const Tensor wide = f32({1.0f, 9.0f, 2.0f, 9.0f}, {2, 2});
  const Tensor c2 = convert_to_channelwise(wide.narrow(1, 0, 1).view({2}), {1, 2});
  EXPECT_EQ(c2.data_as<float>()[0], 1.0f);
  EXPECT_EQ(c2.data_as<float>()[2], 2.0f);
  Tensor bf = Tensor::empty({1}, DType::kBFloat16);
  bf.data_as<uint16_t>()[0] = float_to_bf16(0.375f);
  EXPECT_EQ(convert_to_channelwise(bf, {2}).data_as<float>()[1], 0.375f);
}

TEST(Weights, ConvertToChannelwiseTakesAnyShapeOfSScales) {
  // vLLM passes weight_scale as [S] or [S, 1] (weight_scale[idx] reads either); any shape holding S
  // scales is read in row-major order.
  const std::vector<int64_t> widths = {3, 1, 2};
  const std::vector<float> expected = {0.25f, 0.25f, 0.25f, 4.0f, 0.5f, 0.5f};
  for (const Dims& shape : {Dims{3}, Dims{3, 1}, Dims{1, 3}, Dims{1, 3, 1}}) {
    const Tensor c = convert_to_channelwise(f32({0.25f, 4.0f, 0.5f}, shape), widths);
    ASSERT_EQ(c.sizes(), (Dims{6, 1})) << shape.str();
    for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(c.data_as<float>()[i], expected[size_t(i)]) << shape.str() << " " << i;
  }
  // A strided [S, 1] column of a wider fp16 tensor: each scale widened exactly.
  Tensor h = Tensor::empty({3, 2}, DType::kFloat16);
  const float hv[] = {0.1f, -1.0f, 0.2f, -1.0f, 0.3f, -1.0f};
  for (int i = 0; i < 6; ++i) h.data_as<uint16_t>()[i] = float_to_fp16(hv[i]);
  const Tensor c = convert_to_channelwise(h.narrow(1, 0, 1), widths);
  for (int64_t i = 0; i < 6; ++i)
    EXPECT_EQ(c.data_as<float>()[i], fp16_to_float(float_to_fp16(hv[2 * (i < 3 ? 0 : i < 4 ? 1 : 2)]))) << i;
}

TEST(Weights, ConvertToChannelwiseRejects) {
  EXPECT_W8A8_ERROR(convert_to_channelwise(f32({1.0f, 2.0f}), {1, 1, 1}), ErrorKind::kValue, "weight_scale");
  EXPECT_W8A8_ERROR(convert_to_channelwise(f32({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2}), {1, 1}), ErrorKind::kValue,
                    "weight_scale");
  EXPECT_W8A8_ERROR(convert_to_channelwise(f32({1.0f, 2.0f}), {1, -1}), ErrorKind::kValue, "logical_widths");
  EXPECT_W8A8_ERROR(convert_to_channelwise(Tensor::zeros({2}, DType::kInt32), {1, 1}), ErrorKind::kType,
                    "weight_scale");
#ifndef W8A8_WITH_CUDA  // in a CUDA build this fake device pointer would reach the kernels
  const Tensor one = f32({1.0f});
  TensorView on_gpu(one.data(), DType::kFloat32, {1}, Device::cuda());
  EXPECT_W8A8_ERROR(convert_to_channelwise(on_gpu, {1}), ErrorKind::kUnsupported, "weight_scale");
#endif
}

// ---- requantize_with_max_scale -------------------------------------------------------------
// e4m3fn codes used below: 0x38 = 1.0, 0x30 = 0.5, 0x40 = 2.0, 0x7E = 448, 0xB8 = -1.0, 0x20 = 0.125,
// 0x28 = 0.25, 0x66 = 56, 0x6E = 112, 0x00 = 0.
TEST(Weights, RequantizeUnfusedCheckpointHandComputed) {
  // Shards of widths 1, 2 (rows), K = 2; scales 0.5, 2.0 -> max 2.0.
  const Tensor w = fp8({0x38, 0x40,  // shard 0 (scale 0.5): 1.0, 2.0 -> 0.5, 1.0 -> / 2 -> 0.25, 0.5
                        0x7E, 0xB8,  // shard 1 (scale 2.0): 448, -1 -> unchanged (max scale is its own)
                        0x30, 0x00},
                       {3, 2});
  const auto [max_scale, out] = requantize_with_max_scale(w, f32({0.5f, 2.0f}), {1, 2});
  ASSERT_EQ(max_scale.sizes(), (Dims{1}));
  ASSERT_EQ(max_scale.dtype(), DType::kFloat32);
  EXPECT_EQ(max_scale.data_as<float>()[0], 2.0f);
  ASSERT_EQ(out.sizes(), (Dims{3, 2}));
  ASSERT_EQ(out.dtype(), DType::kFloat8E4M3FN);
  EXPECT_EQ(codes_of(out), (std::vector<uint8_t>{0x28, 0x30, 0x7E, 0xB8, 0x30, 0x00}));
  // The input is left alone.
  EXPECT_EQ(codes_of(w), (std::vector<uint8_t>{0x38, 0x40, 0x7E, 0xB8, 0x30, 0x00}));
}

TEST(Weights, RequantizeSkipsZeroWidthShards) {
  // The middle shard is empty but its scale (4.0) still counts for the max, as vLLM's max() does.
  const Tensor w = fp8({0x38, 0x7E,   // shard 0 (scale 0.5): 0.5, 224 -> / 4 -> 0.125, 56
                        0x7E, 0x40},  // shard 2 (scale 1.0): 448, 2 -> / 4 -> 112, 0.5
                       {2, 2});
  const auto [max_scale, out] = requantize_with_max_scale(w, f32({0.5f, 4.0f, 1.0f}), {1, 0, 1});
  EXPECT_EQ(max_scale.data_as<float>()[0], 4.0f);
  EXPECT_EQ(codes_of(out), (std::vector<uint8_t>{0x20, 0x66, 0x6E, 0x30}));
  EXPECT_EQ(quantize_e4m3fn(56.0f), 0x66);  // 1.75 * 2^5
  // A zero-width last shard whose scale was loaded: still an unfused checkpoint.
  const auto [m2, out2] = requantize_with_max_scale(w, f32({0.5f, 1.0f, 8.0f}), {1, 1, 0});
  EXPECT_EQ(m2.data_as<float>()[0], 8.0f);
  EXPECT_EQ(codes_of(out2), (std::vector<uint8_t>{quantize_e4m3fn(0.5f * 1 / 8.0f), quantize_e4m3fn(224.0f / 8.0f),
                                                  quantize_e4m3fn(448.0f / 8.0f), quantize_e4m3fn(2.0f / 8.0f)}));
}

TEST(Weights, RequantizeFusedCheckpointIsReturnedAsIs) {
  // Only the first scale was loaded; the others keep the initial float32 min.
  const float unset = -std::numeric_limits<float>::max();
  const Tensor w = fp8({0x38, 0x7E, 0xB8, 0x80, 0x01, 0x7F}, {3, 2});
  const auto [max_scale, out] = requantize_with_max_scale(w, f32({0.5f, unset, unset}), {1, 1, 1});
  EXPECT_EQ(max_scale.data_as<float>()[0], 0.5f);
  EXPECT_EQ(codes_of(out), codes_of(w));
  EXPECT_NE(out.data(), w.data());  // a copy: never aliases the caller's weight
  // The boundary: weight_scale[-1] > finfo(e4m3fn).min (-448) decides; -448 itself means "not loaded".
  const auto [m2, out2] = requantize_with_max_scale(w, f32({0.5f, 0.25f, -448.0f}), {1, 1, 1});
  EXPECT_EQ(m2.data_as<float>()[0], 0.5f);
  EXPECT_EQ(codes_of(out2), codes_of(w));
}

TEST(Weights, RequantizeGoesThroughFp16) {
  // scale 0.1 (inexact): dq = fp16(x * 0.1f), then q = fp8(sat(dq * (1 / max))).
  const std::vector<uint8_t> codes = {0x38, 0x3D, 0x51, 0x77, 0x9A, 0x05};
  const Tensor w = fp8(codes, {3, 2});
  const float s0 = 0.1f, s1 = 0.3f;
  const auto [max_scale, out] = requantize_with_max_scale(w, f32({s0, s1}), {2, 1});
  const std::vector<uint8_t> got = codes_of(out);
  const float inv = 1.0f / s1;
  for (size_t i = 0; i < codes.size(); ++i) {
    const float s = i < 4 ? s0 : s1;
    const float dq = fp16_to_float(float_to_fp16(e4m3fn_to_float(codes[i]) * s));
    EXPECT_EQ(got[i], quantize_e4m3fn(dq * inv)) << i;
  }
  // 0x3D = 1.625: 1.625 * 0.1f = 0.1625000... -> fp16 0.16247559 -> * (1 / 0.3f) = 0.54158... -> 0x31 (0.5625)
  EXPECT_EQ(got[1], 0x31);
}

TEST(Weights, RequantizeLargeRandomMatchesReference) {
  const int64_t K = 96;
  const std::vector<int64_t> widths = {64, 32, 48};
  const int64_t N = 144;
  std::vector<uint8_t> codes(size_t(N * K));
  std::mt19937 gen(3);
  for (auto& c : codes) {
    c = uint8_t(gen());
    if ((c & 0x7F) == 0x7F) c = 0x00;  // keep NaN out of the random part
  }
  const std::vector<float> scales = {0.013f, 0.021f, 0.0071f};
  const auto [max_scale, out] = requantize_with_max_scale(fp8(codes, {N, K}), f32(scales), widths);
  EXPECT_EQ(max_scale.data_as<float>()[0], 0.021f);
  const std::vector<uint8_t> got = codes_of(out);
  const float inv = 1.0f / 0.021f;
  int64_t row = 0;
  for (size_t s = 0; s < widths.size(); ++s)
    for (int64_t r = 0; r < widths[s]; ++r, ++row)
      for (int64_t k = 0; k < K; ++k) {
        const size_t i = size_t(row * K + k);
        const float dq = fp16_to_float(float_to_fp16(e4m3fn_to_float(codes[i]) * scales[s]));
        ASSERT_EQ(got[i], quantize_e4m3fn(dq * inv)) << "row " << row << " k " << k;
      }
}

// A weight_scale of some float dtype holding `values` (rounded to it).
Tensor scales_of(DType dtype, const std::vector<float>& values) {
  Tensor t = Tensor::empty({int64_t(values.size())}, dtype);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kFloat32) t.data_as<float>()[i] = values[i];
    if (dtype == DType::kFloat16) t.data_as<uint16_t>()[i] = float_to_fp16(values[i]);
    if (dtype == DType::kBFloat16) t.data_as<uint16_t>()[i] = float_to_bf16(values[i]);
  }
  return t;
}
float rounded_to(DType dtype, float v) {
  return dtype == DType::kFloat16 ? fp16_to_float(float_to_fp16(v))
                                  : dtype == DType::kBFloat16 ? bf16_to_float(float_to_bf16(v)) : v;
}

TEST(Weights, RequantizeHalfPrecisionScales) {
  // vLLM's max() keeps the scale dtype; the dequantize multiplies by weight_scale[idx] (a 0-dim fp16 /
  // bf16 scale: an fp16 product) and the requantization uses the max's exact value. Reference: the
  // spec's rule written out per element with the scales as their dtype rounds them.
  const int64_t K = 24;
  const std::vector<int64_t> widths = {5, 3, 4};
  const int64_t N = 12;
  std::vector<uint8_t> codes(size_t(N * K));
  std::mt19937 gen(31);
  for (auto& c : codes) c = uint8_t(gen());  // NaN codes included: they stay NaN
  const std::vector<float> raw = {0.0131f, 0.0207f, 0.00713f};
  for (DType dt : {DType::kFloat16, DType::kBFloat16}) {
    const auto [max_scale, out] = requantize_with_max_scale(fp8(codes, {N, K}), scales_of(dt, raw), widths);
    ASSERT_EQ(max_scale.dtype(), dt);
    ASSERT_EQ(max_scale.sizes(), (Dims{1}));
    const float max_value = rounded_to(dt, 0.0207f);
    EXPECT_EQ(max_scale.data_as<uint16_t>()[0], dt == DType::kFloat16 ? float_to_fp16(0.0207f) : float_to_bf16(0.0207f));
    const std::vector<uint8_t> got = codes_of(out);
    const float inv = 1.0f / max_value;
    int64_t row = 0;
    for (size_t s = 0; s < widths.size(); ++s)
      for (int64_t r = 0; r < widths[s]; ++r, ++row)
        for (int64_t k = 0; k < K; ++k) {
          const size_t i = size_t(row * K + k);
          const float dq = fp16_to_float(float_to_fp16(e4m3fn_to_float(codes[i]) * rounded_to(dt, raw[s])));
          ASSERT_EQ(got[i], quantize_e4m3fn(dq * inv)) << dtype_name(dt) << " row " << row << " k " << k;
        }
    // The same codes as float32 scales holding the same values.
    const auto [m32, out32] =
        requantize_with_max_scale(fp8(codes, {N, K}), f32({rounded_to(dt, raw[0]), rounded_to(dt, raw[1]),
                                                           rounded_to(dt, raw[2])}),
                                  widths);
    EXPECT_EQ(codes_of(out32), got);
    // A fused checkpoint (last scale unset: -inf in fp16, float32's min rounds there) is copied as is.
    Tensor unset = scales_of(dt, {0.5f, -std::numeric_limits<float>::max(), -std::numeric_limits<float>::max()});
    const auto [mf, outf] = requantize_with_max_scale(fp8(codes, {N, K}), unset, widths);
    EXPECT_EQ(codes_of(outf), codes);
    EXPECT_EQ(mf.data_as<uint16_t>()[0], unset.data_as<uint16_t>()[0]);
  }
}

TEST(Weights, RequantizeKeepsTheWeightLayout) {
  // A column-major [N, K] weight (the transpose of a contiguous [K, N]): the result has the same
  // strides and the same codes as the contiguous weight gives.
  const int64_t N = 6, K = 10;
  std::vector<uint8_t> codes(size_t(N * K));
  std::mt19937 gen(32);
  for (auto& c : codes) c = uint8_t(gen());
  const Tensor w = fp8(codes, {N, K});
  Tensor kn = Tensor::empty({K, N}, DType::kFloat8E4M3FN);  // the same values stored transposed
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) kn.data_as<uint8_t>()[k * N + n] = codes[size_t(n * K + k)];
  for (bool fused : {false, true}) {
    const Tensor s = fused ? f32({0.02f, -std::numeric_limits<float>::max()}) : f32({0.02f, 0.05f});
    const auto [m1, contiguous] = requantize_with_max_scale(w, s, {2, 4});
    const auto [m2, col] = requantize_with_max_scale(kn.t(), s, {2, 4});
    ASSERT_EQ(col.strides(), (Dims{1, N}));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k)
        ASSERT_EQ(col.data_as<uint8_t>()[k * N + n], contiguous.data_as<uint8_t>()[n * K + k]) << n << " " << k;
  }
}

TEST(Weights, RequantizeRejects) {
  const Tensor w = fp8({0x38, 0x38, 0x38, 0x38}, {2, 2});
  const Tensor s = f32({1.0f, 2.0f});
  EXPECT_W8A8_ERROR(requantize_with_max_scale(randn({2, 2}, DType::kBFloat16, 1), s, {1, 1}), ErrorKind::kType,
                    "weight");
  EXPECT_W8A8_ERROR(requantize_with_max_scale(w.view({4}), s, {1, 1}), ErrorKind::kValue, "weight");
  EXPECT_W8A8_ERROR(requantize_with_max_scale(w, Tensor::zeros({2}, DType::kInt32), {1, 1}), ErrorKind::kType,
                    "weight_scale");
  EXPECT_W8A8_ERROR(requantize_with_max_scale(w, s, {1, 1, 0}), ErrorKind::kValue, "weight_scale");
  EXPECT_W8A8_ERROR(requantize_with_max_scale(w, f32({1.0f, 2.0f}, {2, 1}), {1, 1}), ErrorKind::kValue,
                    "weight_scale");
  EXPECT_W8A8_ERROR(requantize_with_max_scale(w, s, {1, 2}), ErrorKind::kValue, "logical_widths");
  EXPECT_W8A8_ERROR(requantize_with_max_scale(w, s, {3, -1}), ErrorKind::kValue, "logical_widths");
  EXPECT_W8A8_ERROR(requantize_with_max_scale(w, f32({}, {0}), {}), ErrorKind::kValue, "logical_widths");
#ifndef W8A8_WITH_CUDA  // in a CUDA build this fake device pointer would reach the kernels
  TensorView on_gpu(w.data(), DType::kFloat8E4M3FN, {2, 2}, Device::cuda());
  EXPECT_W8A8_ERROR(requantize_with_max_scale(on_gpu, s, {1, 1}), ErrorKind::kUnsupported, "weight");
#else
  // A CPU scale with a (fake) device weight: refused before anything runs.
  TensorView on_gpu(w.data(), DType::kFloat8E4M3FN, {2, 2}, Device::cuda());
  EXPECT_W8A8_ERROR(requantize_with_max_scale(on_gpu, s, {1, 1}), ErrorKind::kType, "weight_scale");
#endif
}

// ---- normalize_e4m3fn_to_e4m3fnuz -----------------------------------------------------------
TEST(Weights, NormalizeE4m3fnToE4m3fnuz) {
  const std::vector<uint8_t> in = {0x80, 0x00, 0x38, 0xB8, 0x7E, 0xFE, 0x01, 0x81};
  const Tensor w = fp8(in, {2, 4});
  const auto [wq, ws, is] = normalize_e4m3fn_to_e4m3fnuz(w, f32({0.25f}), TensorView(f32({3.0f})));
  ASSERT_EQ(wq.dtype(), DType::kFloat8E4M3FNUZ);
  ASSERT_EQ(wq.sizes(), (Dims{2, 4}));
  EXPECT_EQ(codes_of(wq), (std::vector<uint8_t>{0x00, 0x00, 0x38, 0xB8, 0x7E, 0xFE, 0x01, 0x81}));
  EXPECT_EQ(codes_of(w), in);  // the input is left alone
  ASSERT_EQ(ws.dtype(), DType::kFloat32);
  EXPECT_EQ(ws.data_as<float>()[0], 0.5f);
  ASSERT_TRUE(is.has_value());
  EXPECT_EQ(is->data_as<float>()[0], 6.0f);
  // Every code other than 0x80 dequantizes to the same value with the doubled scale.
  for (int c = 0; c < 256; ++c) {
    if (c == 0x80 || (c & 0x7F) == 0x7F) continue;
    EXPECT_EQ(e4m3fnuz_to_float(uint8_t(c)) * 2.0f, e4m3fn_to_float(uint8_t(c))) << c;
  }
}

TEST(Weights, NormalizeScalesKeepShapeAndDtype) {
  const Tensor w = fp8({0x80}, {1, 1});
  Tensor bf = Tensor::empty({3, 1}, DType::kBFloat16);
  for (int i = 0; i < 3; ++i) bf.data_as<uint16_t>()[i] = float_to_bf16(0.1f * float(i + 1));
  const auto [wq, ws, is] = normalize_e4m3fn_to_e4m3fnuz(w, bf);
  EXPECT_FALSE(is.has_value());
  ASSERT_EQ(ws.dtype(), DType::kBFloat16);
  ASSERT_EQ(ws.sizes(), (Dims{3, 1}));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(bf16_to_float(ws.data_as<uint16_t>()[i]), 2.0f * bf16_to_float(bf.data_as<uint16_t>()[i]));
  EXPECT_EQ(codes_of(wq)[0], 0x00);
  const auto [wq2, ws2, is2] = normalize_e4m3fn_to_e4m3fnuz(w, f32({1.5f}, {}));
  EXPECT_EQ(ws2.dim(), 0);
  EXPECT_EQ(ws2.data_as<float>()[0], 3.0f);
}

TEST(Weights, NormalizeKeepsTheWeightLayout) {
  // The transposed [K, N] view (what Fp8LinearOp and cutlass_scaled_mm take as b) stays column-major,
  // with every code mapped, 0x80 included.
  const int64_t N = 5, K = 7;
  std::vector<uint8_t> codes(size_t(N * K));
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = uint8_t(i * 37 + 11);
  codes[3] = 0x80;
  codes[20] = 0x7F;
  codes[21] = 0xFF;
  const Tensor w = fp8(codes, {N, K});
  const auto [wq, ws, is] = normalize_e4m3fn_to_e4m3fnuz(w.t(), f32({0.25f}));
  ASSERT_EQ(wq.sizes(), (Dims{K, N}));
  ASSERT_EQ(wq.strides(), (Dims{1, K}));
  for (int64_t i = 0; i < N * K; ++i) {
    const uint8_t want = codes[size_t(i)] == 0x80 ? 0x00 : codes[size_t(i)];
    EXPECT_EQ(wq.data_as<uint8_t>()[i], want) << i;
  }
  // A view that is not dense (every other column) comes back dense in the same dimension order.
  const Tensor half = Tensor::borrow(TensorView(w.data(), DType::kFloat8E4M3FN, {N, 3}, {K, 2}));
  const auto [wq2, ws2, is2] = normalize_e4m3fn_to_e4m3fnuz(half.t(), f32({0.25f}));
  ASSERT_EQ(wq2.sizes(), (Dims{3, N}));
  ASSERT_EQ(wq2.strides(), (Dims{1, 3}));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < 3; ++j) {
      const uint8_t c = codes[size_t(n * K + 2 * j)];
      EXPECT_EQ(wq2.data_as<uint8_t>()[n * 3 + j], c == 0x80 ? 0x00 : c) << n << " " << j;
    }
}

TEST(Weights, NormalizeRejects) {
  const Tensor w = fp8({0x38}, {1, 1});
  EXPECT_W8A8_ERROR(normalize_e4m3fn_to_e4m3fnuz(w.reinterpret(DType::kFloat8E4M3FNUZ), f32({1.0f})),
                    ErrorKind::kType, "weight");
  EXPECT_W8A8_ERROR(normalize_e4m3fn_to_e4m3fnuz(randn({1, 1}, DType::kFloat16, 1), f32({1.0f})), ErrorKind::kType,
                    "weight");
  EXPECT_W8A8_ERROR(normalize_e4m3fn_to_e4m3fnuz(w, Tensor::zeros({1}, DType::kInt32)), ErrorKind::kType,
                    "weight_scale");
  EXPECT_W8A8_ERROR(normalize_e4m3fn_to_e4m3fnuz(w, f32({1.0f}), TensorView(Tensor::zeros({1}, DType::kInt64))),
                    ErrorKind::kType, "input_scale");
}

// ---- per_tensor_dequantize ------------------------------------------------------------------
TEST(Weights, PerTensorDequantizePromotion) {
  const Tensor w = fp8({0x38, 0x3D, 0xFE, 0x7F}, {2, 2});  // 1.0, 1.625, -448, NaN
  const float s = 0.1f;
  // A 0-dim float32 scale (weight_scale[idx]) and a Python-float-like scale: float16 result.
  for (const Tensor& d : {per_tensor_dequantize(w, f32({s}, {})), per_tensor_dequantize(w, s)}) {
    ASSERT_EQ(d.dtype(), DType::kFloat16);
    ASSERT_EQ(d.sizes(), (Dims{2, 2}));
    EXPECT_EQ(half_bits(d, 0), float_to_fp16(1.0f * s));
    EXPECT_EQ(half_bits(d, 1), float_to_fp16(1.625f * s));  // the scale unrounded, then one rounding
    EXPECT_EQ(half_bits(d, 2), float_to_fp16(-448.0f * s));
    EXPECT_TRUE(std::isnan(fp16_to_float(half_bits(d, 3))));
  }
  EXPECT_EQ(half_bits(per_tensor_dequantize(w, s), 0), 0x2E66);  // fp16(0.1f)
  // A 1-D [1] float32 scale takes part in promotion: float32 result.
  const Tensor d32 = per_tensor_dequantize(w, f32({s}));
  ASSERT_EQ(d32.dtype(), DType::kFloat32);
  EXPECT_EQ(d32.data_as<float>()[1], 1.625f * s);
  EXPECT_EQ(d32.data_as<float>()[2], -448.0f * s);
  EXPECT_EQ(per_tensor_dequantize(w, f32({s}, {1, 1})).dtype(), DType::kFloat32);
  // float16 scale: float16; bfloat16 [1]: float32; bfloat16 0-dim: float16.
  Tensor h = Tensor::empty({1}, DType::kFloat16);
  h.data_as<uint16_t>()[0] = float_to_fp16(0.5f);
  EXPECT_EQ(per_tensor_dequantize(w, h).dtype(), DType::kFloat16);
  Tensor b = Tensor::empty({1}, DType::kBFloat16);
  b.data_as<uint16_t>()[0] = float_to_bf16(0.5f);
  EXPECT_EQ(per_tensor_dequantize(w, b).dtype(), DType::kFloat32);
  EXPECT_EQ(per_tensor_dequantize(w, b.view({})).dtype(), DType::kFloat16);
  // fp16 overflow of the product gives inf, as torch's fp16 arithmetic does.
  const Tensor big = per_tensor_dequantize(w, 1000.0f);
  EXPECT_TRUE(std::isinf(fp16_to_float(half_bits(big, 2))));
}

TEST(Weights, PerTensorDequantizeStridedInput) {
  const Tensor w = fp8({0x38, 0x40, 0x30, 0x48}, {2, 2});  // 1, 2, 0.5, 4
  const Tensor d = per_tensor_dequantize(w.t(), 2.0f);        // [[1, 0.5], [2, 4]] * 2
  ASSERT_EQ(d.sizes(), (Dims{2, 2}));
  // torch keeps a dense input's layout: the transposed view gives a column-major result.
  ASSERT_EQ(d.strides(), (Dims{1, 2}));
  const float expected[2][2] = {{2.0f, 1.0f}, {4.0f, 8.0f}};
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 2; ++c)
      EXPECT_EQ(fp16_to_float(half_bits(d, r * d.stride(0) + c * d.stride(1))), expected[r][c]) << r << c;
  // A row slice with a gap (not dense) comes back dense, rows still the outer dimension.
  const Tensor wide = fp8({0x38, 0x40, 0x30, 0x48, 0x50, 0x58}, {2, 3});
  const Tensor d2 = per_tensor_dequantize(wide.narrow(1, 1, 2), 1.0f);
  ASSERT_EQ(d2.strides(), (Dims{2, 1}));
  const float expected2[] = {2.0f, 0.5f, 8.0f, e4m3fn_to_float(0x58)};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(fp16_to_float(half_bits(d2, i)), expected2[i]) << i;
}

TEST(Weights, PerTensorDequantizeBroadcastsRowScales) {
  // tensor [N, K] * inv_scale [N, 1]: torch scales row n by inv_scale[n]; [1, K] scales columns;
  // a 3-D tensor takes a scale aligned with its last dimensions. Independent reference: the rule
  // float(fp16(x)) * s rounded once to the promoted dtype, written out per element.
  const int64_t N = 3, K = 5;
  std::vector<uint8_t> codes(size_t(2 * N * K));
  std::mt19937 gen(9);
  for (auto& c : codes) {
    c = uint8_t(gen());
    if ((c & 0x7F) == 0x7F) c = 0x3B;
  }
  const Tensor w = fp8(std::vector<uint8_t>(codes.begin(), codes.begin() + N * K), {N, K});
  const std::vector<float> rs = {0.1f, 3.0f, -0.7f}, cs = {0.5f, 0.3f, 7.0f, 1e-3f, 2.0f};
  auto x = [&](int64_t n, int64_t k) { return e4m3fn_to_float(codes[size_t(n * K + k)]); };
  // float32 [N, 1]: a float32 result.
  const Tensor d = per_tensor_dequantize(w, f32(rs, {N, 1}));
  ASSERT_EQ(d.dtype(), DType::kFloat32);
  ASSERT_EQ(d.sizes(), (Dims{N, K}));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) EXPECT_EQ(d.data_as<float>()[n * K + k], x(n, k) * rs[size_t(n)]) << n << k;
  // float16 [N, 1]: a float16 result of the fp16 scale's exact value.
  Tensor h = Tensor::empty({N, 1}, DType::kFloat16);
  for (int64_t n = 0; n < N; ++n) h.data_as<uint16_t>()[n] = float_to_fp16(rs[size_t(n)]);
  const Tensor dh = per_tensor_dequantize(w, h);
  ASSERT_EQ(dh.dtype(), DType::kFloat16);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      EXPECT_EQ(half_bits(dh, n * K + k), float_to_fp16(x(n, k) * fp16_to_float(float_to_fp16(rs[size_t(n)]))));
  // [1, K] and [K]: per column.
  for (const Dims& shape : {Dims{1, K}, Dims{K}}) {
    const Tensor dc = per_tensor_dequantize(w, f32(cs, shape));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) EXPECT_EQ(dc.data_as<float>()[n * K + k], x(n, k) * cs[size_t(k)]);
  }
  // 3-D [2, N, K] with [N, 1]: both batches scaled by row.
  const Tensor w3 = fp8(codes, {2, N, K});
  const Tensor d3 = per_tensor_dequantize(w3, f32(rs, {N, 1}));
  ASSERT_EQ(d3.sizes(), (Dims{2, N, K}));
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k)
        EXPECT_EQ(d3.data_as<float>()[(b * N + n) * K + k],
                  e4m3fn_to_float(codes[size_t((b * N + n) * K + k)]) * rs[size_t(n)]);
  // The column-major [K, N] view with a [1, N] scale (per output channel): layout and values.
  const Tensor dt = per_tensor_dequantize(w.t(), f32(rs, {1, N}));
  ASSERT_EQ(dt.strides(), (Dims{1, K}));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) EXPECT_EQ(dt.data_as<float>()[n * K + k], x(n, k) * rs[size_t(n)]);
}

TEST(Weights, PerTensorDequantizeRejects) {
  const Tensor w = fp8({0x38, 0x38}, {2});
  EXPECT_W8A8_ERROR(per_tensor_dequantize(w, f32({1.0f, 2.0f, 3.0f})), ErrorKind::kValue, "inv_scale");
  // More dimensions than tensor would grow the result (torch would broadcast to [1, 2]).
  EXPECT_W8A8_ERROR(per_tensor_dequantize(w, f32({1.0f}, {1, 1})), ErrorKind::kValue, "inv_scale");
  const Tensor w2 = fp8({0x38, 0x38, 0x38, 0x38, 0x38, 0x38}, {2, 3});
  EXPECT_W8A8_ERROR(per_tensor_dequantize(w2, f32({1.0f, 2.0f, 3.0f}, {3, 1})), ErrorKind::kValue, "inv_scale");
  EXPECT_W8A8_ERROR(per_tensor_dequantize(w2, f32({1.0f, 2.0f}, {1, 2})), ErrorKind::kValue, "inv_scale");
  EXPECT_W8A8_ERROR(per_tensor_dequantize(w, Tensor::zeros({1}, DType::kInt32)), ErrorKind::kType, "inv_scale");
  EXPECT_W8A8_ERROR(per_tensor_dequantize(Tensor::zeros({2}, DType::kInt8), 1.0f), ErrorKind::kType, "tensor");
#ifndef W8A8_WITH_CUDA  // in a CUDA build this fake device pointer would reach the kernels
  TensorView on_gpu(w.data(), DType::kFloat8E4M3FN, {2}, Device::cuda());
  EXPECT_W8A8_ERROR(per_tensor_dequantize(on_gpu, 1.0f), ErrorKind::kUnsupported, "tensor");
#else
  // A CPU [1] scale with a (fake) device tensor: refused before anything runs (only a 0-dim CPU scale may mix).
  TensorView on_gpu(w.data(), DType::kFloat8E4M3FN, {2}, Device::cuda());
  EXPECT_W8A8_ERROR(per_tensor_dequantize(on_gpu, f32({1.0f})), ErrorKind::kType, "inv_scale");
#endif
}

// ---- all_close_1d ---------------------------------------------------------------------------
TEST(Weights, AllClose1d) {
  EXPECT_TRUE(all_close_1d(f32({1.0f, 1.0f, 1.0f})));
  EXPECT_TRUE(all_close_1d(f32({0.5f})));
  EXPECT_TRUE(all_close_1d(f32({}, {0})));
  EXPECT_TRUE(all_close_1d(f32({1.0f, 1.0f + 5e-6f})));   // within rtol 1e-5
  EXPECT_FALSE(all_close_1d(f32({1.0f, 1.0f + 5e-5f})));  // beyond it
  EXPECT_TRUE(all_close_1d(f32({0.0f, 5e-9f})));          // within atol 1e-8
  EXPECT_FALSE(all_close_1d(f32({0.0f, 1e-7f})));
  EXPECT_FALSE(all_close_1d(f32({1.0f, 1.0f, 2.0f})));
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(all_close_1d(f32({inf, inf})));
  EXPECT_FALSE(all_close_1d(f32({inf, -inf})));
  EXPECT_FALSE(all_close_1d(f32({nan})));  // allclose(nan, nan) is false
  EXPECT_FALSE(all_close_1d(f32({1.0f, nan})));
  // Strided and reduced-precision inputs.
  const Tensor m = f32({2.0f, 9.0f, 2.0f, 7.0f}, {2, 2});
  EXPECT_TRUE(all_close_1d(m.narrow(1, 0, 1).view({2})));
  EXPECT_FALSE(all_close_1d(m.narrow(1, 1, 1).view({2})));
  Tensor bf = Tensor::empty({2}, DType::kBFloat16);
  bf.data_as<uint16_t>()[0] = bf.data_as<uint16_t>()[1] = float_to_bf16(0.3f);
  EXPECT_TRUE(all_close_1d(bf));
}

TEST(Weights, AllClose1dRejects) {
  EXPECT_W8A8_ERROR(all_close_1d(f32({1.0f, 1.0f}, {1, 2})), ErrorKind::kValue, "x");
  EXPECT_W8A8_ERROR(all_close_1d(f32({1.0f}, {})), ErrorKind::kValue, "1-D");
  EXPECT_W8A8_ERROR(all_close_1d(Tensor::zeros({2}, DType::kInt32)), ErrorKind::kType, "x");
}

}  // namespace
