// Fp8LinearOp end to end against an independent float64 reference (spec sections 4 and 7).
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "linear/backend_choice.h"
#include "op_test_helpers.h"
#include "w8a8/linear.h"
#include "w8a8/platform.h"

namespace {

using namespace w8a8;
using namespace op_test;

// kStaticPerToken: a static op (PER_TENSOR group shape) given an [M, 1] input_scale, which
// scaled_fp8_quant accepts as static per-token.
enum class Act { kStaticPerTensor, kDynamicPerTensor, kDynamicPerToken, kStaticPerToken };
const char* act_name(Act a) {
  switch (a) {
    case Act::kStaticPerTensor: return "static_per_tensor";
    case Act::kDynamicPerTensor: return "dynamic_per_tensor";
    case Act::kDynamicPerToken: return "dynamic_per_token";
    case Act::kStaticPerToken: return "static_per_token";
  }
  return "?";
}

struct Case {
  Act act = Act::kDynamicPerTensor;
  bool per_channel_weight = false;
  bool weight_scale_1d = false;  // [N] instead of [N, 1]
  int64_t m = 16;
  std::optional<bool> pad;
  bool bias = false;
  DType in_dtype = DType::kBFloat16;
  std::optional<DType> out_dtype;
  bool three_d = false;
  bool scale_ub = false;
  bool fp8_input = false;  // quantize in the test, pass FP8 + input_scale
  int64_t k = 200, n = 88;

  std::string str() const {
    std::string s = std::string(act_name(act)) + (per_channel_weight ? " w=channel" : " w=tensor") +
                    (weight_scale_1d ? "[N]" : "") + " M=" + std::to_string(m) +
                    " pad=" + (pad ? (*pad ? "true" : "false") : "none") + (bias ? " +bias" : "") + " in=" +
                    dtype_name(in_dtype) + " out=" + (out_dtype ? dtype_name(*out_dtype) : "default") +
                    (three_d ? " 3-D" : "") + (scale_ub ? " +ub" : "") + (fp8_input ? " fp8-input" : "") +
                    " K=" + std::to_string(k) + " N=" + std::to_string(n);
    return s;
  }
};

Dims input_shape(const Case& c) {
  if (!c.three_d) return {c.m, c.k};
  if (c.m % 3 == 0) return {c.m / 3, 3, c.k};
  return {c.m, 1, c.k};
}

void run_case(const Case& c, uint32_t seed) {
  SCOPED_TRACE(c.str());
  const int64_t M = c.m, K = c.k, N = c.n;
  const RefWeight w = make_weight(N, K, c.per_channel_weight, seed * 7 + 1);
  const Tensor weight_scale = weight_scale_tensor(w, c.weight_scale_1d);
  const DType out_dtype = c.out_dtype.value_or(c.in_dtype);

  // The activation, in its own dtype; x holds its exact values.
  const Tensor input_hp = randn(input_shape(c), c.in_dtype, seed * 7 + 2);
  const std::vector<float> x = values(input_hp);

  std::optional<Tensor> bias;
  std::vector<double> bias_values;
  if (c.bias) {
    bias = randn({N}, out_dtype, seed * 7 + 3, 0.5f);
    for (float v : values(*bias)) bias_values.push_back(v);
  }

  // Reference quantization of the activation.
  RefQuant xq;
  std::optional<Tensor> input_scale, input_scale_ub;
  float ub = 0;
  switch (c.act) {
    case Act::kStaticPerTensor: {
      const float s = amax(x, 0, x.size()) / kFp8Max * 1.25f;  // a calibrated scale with headroom
      input_scale = scalar_tensor(s);
      xq = ref_quant_static(x, M, K, s);
      break;
    }
    case Act::kStaticPerToken: {
      std::vector<float> scales;
      for (int64_t r = 0; r < M; ++r)
        scales.push_back(std::max(amax(x, size_t(r * K), size_t((r + 1) * K)) / kFp8Max * 1.1f, kMinScale));
      xq = ref_quant_with_scales(x, M, K, scales);
      input_scale = scale_tensor(xq);  // [M, 1] (or [1] at M = 1)
      if (M == 1) input_scale = input_scale->view({1, 1});
      break;
    }
    case Act::kDynamicPerTensor: xq = ref_quant_dynamic_per_tensor(x, M, K); break;
    case Act::kDynamicPerToken:
      if (c.scale_ub) {
        // Clips the rows with the largest amax (they then saturate): exercised, not hidden.
        std::vector<float> row_amax;
        for (int64_t r = 0; r < M; ++r) row_amax.push_back(amax(x, size_t(r * K), size_t((r + 1) * K)));
        std::sort(row_amax.begin(), row_amax.end());
        ub = row_amax[row_amax.size() / 2];
        input_scale_ub = scalar_tensor(ub);
        xq = ref_quant_per_row(x, M, K, ub);
      } else {
        xq = ref_quant_per_row(x, M, K);
      }
      break;
  }

  const Fp8LinearOp op(c.act == Act::kStaticPerTensor || c.act == Act::kStaticPerToken,
                       c.act == Act::kDynamicPerToken ? PER_TOKEN : PER_TENSOR, c.pad);
  const std::optional<int64_t> expected_padding =
      c.pad.value_or(op.preferred_backend() == "torch") ? std::optional<int64_t>(17) : std::nullopt;
  EXPECT_EQ(op.output_padding(), expected_padding);
  EXPECT_EQ(op.quant_fp8().num_token_padding(), expected_padding);

  Tensor out;
  if (c.fp8_input) {
    Tensor q = fp8_tensor(xq).view(input_shape(c));
    Tensor s = scale_tensor(xq);
    out = op.apply(q, w.weight(), weight_scale, out_dtype, TensorView(s), std::nullopt,
                   bias ? std::optional<TensorView>(*bias) : std::nullopt);
  } else {
    out = op.apply(input_hp, w.weight(), weight_scale, c.out_dtype,
                   input_scale ? std::optional<TensorView>(*input_scale) : std::nullopt,
                   input_scale_ub ? std::optional<TensorView>(*input_scale_ub) : std::nullopt,
                   bias ? std::optional<TensorView>(*bias) : std::nullopt);
  }

  // Shape input.shape[:-1] + [N], out_dtype, padding undone.
  Dims expected_shape = input_shape(c);
  expected_shape[expected_shape.size() - 1] = N;
  ASSERT_EQ(out.sizes(), expected_shape);
  ASSERT_EQ(out.dtype(), out_dtype);

  // Against the float64 product of the dequantized operands (quantization error excluded).
  const std::vector<double> ref = ref_matmul(
      M, N, K, [&](int64_t m, int64_t k) { return xq.dq(m, k); }, [&](int64_t n, int64_t k) { return w.q.dq(n, k); },
      bias_values);
  expect_gemm_close(out, ref, out_dtype);

  // End to end against the unquantized product (spec section 7: <= 6e-2), unless scale_ub clips.
  // A statistical bound: it needs enough outputs (a handful of dot products can cancel to almost
  // nothing, leaving FP8 rounding as a large relative error).
  if (!c.scale_ub && M * N >= 64) {
    const std::vector<double> exact = ref_matmul(
        M, N, K, [&](int64_t m, int64_t k) { return double(x[size_t(m * K + k)]); },
        [&](int64_t n, int64_t k) { return double(w.w[size_t(n * K + k)]); }, bias_values);
    EXPECT_LE(rel_error(out, exact), 6e-2);
  }
}

const int64_t kMs[] = {1, 2, 3, 15, 16, 17, 33, 129};
const std::optional<bool> kPads[] = {std::nullopt, true, false};

TEST(Linear, PlatformChoicesOnThisBuild) {
  const Fp8LinearOp op(false);
  if (!current_platform().is_cuda) {
    EXPECT_EQ(op.preferred_backend(), "cpu");
  }
  EXPECT_EQ(op.output_padding().has_value(), op.preferred_backend() == "torch");  // pad only for "torch"
  EXPECT_EQ(op.quant_fp8().fp8_dtype(), DType::kFloat8E4M3FN);
  EXPECT_FALSE(op.quant_fp8().is_static());
  EXPECT_EQ(op.quant_fp8().group_shape(), PER_TENSOR);
  EXPECT_FALSE(op.act_quant_static());

  EXPECT_EQ(op.preferred_backend(),
            linear_detail::choose_preferred_backend(current_platform(), cutlass_fp8_supported(), false));

  const Fp8LinearOp padded(true, PER_TENSOR, true);
  EXPECT_EQ(padded.output_padding(), std::optional<int64_t>(17));
  EXPECT_EQ(padded.quant_fp8().num_token_padding(), std::optional<int64_t>(17));
  EXPECT_TRUE(padded.quant_fp8().is_static());

  const Fp8LinearOp per_token(false, PER_TOKEN, false);
  EXPECT_FALSE(per_token.output_padding().has_value());
  EXPECT_EQ(per_token.act_quant_group_shape(), PER_TOKEN);
  EXPECT_EQ(per_token.quant_fp8().group_shape(), PER_TOKEN);

  // force_fp8_e4m3fnuz changes only the backend choice; quantization stays the platform's e4m3fn.
  const Fp8LinearOp forced(false, PER_TENSOR, std::nullopt, true);
  EXPECT_EQ(forced.quant_fp8().fp8_dtype(), DType::kFloat8E4M3FN);
  if (!current_platform().is_cuda) {
    EXPECT_EQ(forced.preferred_backend(), "cpu");
  }
}

TEST(Linear, PreferredBackendRule) {
  using linear_detail::choose_preferred_backend;
  Platform cpu;
  Platform rocm;
  rocm.is_rocm = true;
  Platform h100;
  h100.cuda_built = h100.is_cuda = true;
  h100.capability = 90;
  Platform b200 = h100;
  b200.capability = 100;
  Platform a100 = h100;
  a100.capability = 80;

  EXPECT_EQ(choose_preferred_backend(rocm, false, false), "rocm");
  EXPECT_EQ(choose_preferred_backend(rocm, true, true), "rocm");
  EXPECT_EQ(choose_preferred_backend(h100, true, false), "cutlass");
  EXPECT_EQ(choose_preferred_backend(h100, true, false, /*flashinfer=*/true), "cutlass");
  EXPECT_EQ(choose_preferred_backend(b200, true, false, /*flashinfer=*/true), "flashinfer");
  EXPECT_EQ(choose_preferred_backend(b200, true, false, /*flashinfer=*/false), "cutlass");
  EXPECT_EQ(choose_preferred_backend(h100, true, /*force_fp8_e4m3fnuz=*/true), "torch");
  EXPECT_EQ(choose_preferred_backend(h100, false, false), "torch");  // no CUTLASS FP8 kernels for it
  EXPECT_EQ(choose_preferred_backend(a100, false, false), "torch");
  EXPECT_EQ(choose_preferred_backend(cpu, false, false), "cpu");
  EXPECT_EQ(choose_preferred_backend(cpu, false, true), "cpu");

  using linear_detail::choose_output_padding;
  EXPECT_EQ(choose_output_padding("torch", std::nullopt), std::optional<int64_t>(17));
  for (const char* b : {"cutlass", "cpu", "flashinfer", "rocm"})
    EXPECT_EQ(choose_output_padding(b, std::nullopt), std::nullopt) << b;
  EXPECT_EQ(choose_output_padding("cutlass", true), std::optional<int64_t>(17));
  EXPECT_EQ(choose_output_padding("cpu", true), std::optional<int64_t>(17));
  EXPECT_EQ(choose_output_padding("torch", false), std::nullopt);

  EXPECT_EQ(linear_detail::platform_fp8_dtype(cpu), DType::kFloat8E4M3FN);
  EXPECT_EQ(linear_detail::platform_fp8_dtype(h100), DType::kFloat8E4M3FN);
  EXPECT_EQ(linear_detail::platform_fp8_dtype(rocm), DType::kFloat8E4M3FNUZ);
}

TEST(Linear, StaticPerTensor) {
  uint32_t seed = 100;
  for (int64_t m : kMs)
    for (auto pad : kPads)
      for (bool per_channel : {false, true})
        for (bool bias : {false, true}) {
          Case c;
          c.act = Act::kStaticPerTensor;
          c.m = m;
          c.pad = pad;
          c.per_channel_weight = per_channel;
          c.bias = bias;
          run_case(c, ++seed);
        }
}

TEST(Linear, DynamicPerTensor) {
  uint32_t seed = 200;
  for (int64_t m : kMs)
    for (auto pad : kPads)
      for (bool per_channel : {false, true})
        for (bool bias : {false, true}) {
          Case c;
          c.act = Act::kDynamicPerTensor;
          c.m = m;
          c.pad = pad;
          c.per_channel_weight = per_channel;
          c.bias = bias;
          c.in_dtype = DType::kFloat16;
          run_case(c, ++seed);
        }
}

TEST(Linear, DynamicPerToken) {
  uint32_t seed = 300;
  for (int64_t m : kMs)
    for (auto pad : kPads)
      for (bool per_channel : {false, true})
        for (bool bias : {false, true}) {
          Case c;
          c.act = Act::kDynamicPerToken;
          c.m = m;
          c.pad = pad;
          c.per_channel_weight = per_channel;
          c.bias = bias;
          run_case(c, ++seed);
        }
}

TEST(Linear, StaticPerTokenInputScale) {
  uint32_t seed = 350;
  for (int64_t m : kMs)
    for (auto pad : kPads)
      for (bool per_channel : {false, true}) {
        Case c;
        c.act = Act::kStaticPerToken;
        c.m = m;
        c.pad = pad;
        c.per_channel_weight = per_channel;
        c.bias = m % 2 == 1;
        c.three_d = m == 15;
        run_case(c, ++seed);
      }
}

TEST(Linear, DynamicPerTokenScaleUb) {
  uint32_t seed = 400;
  for (int64_t m : kMs)
    for (auto pad : kPads) {
      Case c;
      c.act = Act::kDynamicPerToken;
      c.m = m;
      c.pad = pad;
      c.per_channel_weight = true;
      c.scale_ub = true;
      run_case(c, ++seed);
    }
}

TEST(Linear, ThreeDimensionalInputs) {
  uint32_t seed = 500;
  for (Act act : {Act::kStaticPerTensor, Act::kDynamicPerTensor, Act::kDynamicPerToken})
    for (int64_t m : kMs)
      for (auto pad : kPads) {
        Case c;
        c.act = act;
        c.m = m;
        c.pad = pad;
        c.three_d = true;
        c.per_channel_weight = act == Act::kDynamicPerToken;
        c.bias = m % 2 == 1;
        run_case(c, ++seed);
      }
}

TEST(Linear, OutDtypes) {
  uint32_t seed = 600;
  const DType float_types[] = {DType::kBFloat16, DType::kFloat16, DType::kFloat32};
  for (DType in : float_types)
    for (DType out : float_types)
      for (Act act : {Act::kStaticPerTensor, Act::kDynamicPerToken})
        for (int64_t m : {int64_t(3), int64_t(33)})
          for (auto pad : kPads) {
            Case c;
            c.act = act;
            c.m = m;
            c.pad = pad;
            c.in_dtype = in;
            c.out_dtype = out;
            c.bias = true;
            c.per_channel_weight = act == Act::kDynamicPerToken;
            run_case(c, ++seed);
          }
  // out_dtype left out: the input's dtype.
  for (DType in : float_types) {
    Case c;
    c.in_dtype = in;
    c.m = 17;
    c.bias = true;
    run_case(c, ++seed);
  }
}

TEST(Linear, WeightScaleShapes) {
  uint32_t seed = 700;
  for (bool one_d : {false, true})
    for (Act act : {Act::kStaticPerTensor, Act::kDynamicPerTensor, Act::kDynamicPerToken})
      for (auto pad : kPads) {
        Case c;
        c.act = act;
        c.m = 15;
        c.pad = pad;
        c.per_channel_weight = true;
        c.weight_scale_1d = one_d;
        run_case(c, ++seed);
      }
}

TEST(Linear, Fp8InputWithInputScale) {
  uint32_t seed = 800;
  for (Act act : {Act::kStaticPerTensor, Act::kDynamicPerTensor, Act::kDynamicPerToken})
    for (int64_t m : kMs)
      for (auto pad : kPads)
        for (DType out : {DType::kBFloat16, DType::kFloat16, DType::kFloat32}) {
          Case c;
          c.act = act;  // how the test quantized it: per-tensor [1] or per-token [M, 1] input_scale
          c.m = m;
          c.pad = pad;
          c.fp8_input = true;
          c.out_dtype = out;
          c.bias = m % 2 == 0;
          c.per_channel_weight = m % 3 == 0;
          c.three_d = m == 33;
          run_case(c, ++seed);
        }
}

TEST(Linear, OtherSizes) {
  uint32_t seed = 900;
  struct KN { int64_t k, n; };
  for (KN kn : {KN{16, 16}, KN{1, 5}, KN{129, 3}, KN{384, 130}})
    for (Act act : {Act::kStaticPerTensor, Act::kDynamicPerTensor, Act::kDynamicPerToken})
      for (int64_t m : {int64_t(1), int64_t(17), int64_t(40)}) {
        Case c;
        c.act = act;
        c.m = m;
        c.k = kn.k;
        c.n = kn.n;
        c.pad = m == 1;
        c.per_channel_weight = act != Act::kDynamicPerTensor;
        c.bias = true;
        c.in_dtype = DType::kFloat32;
        run_case(c, ++seed);
      }
}

// The padded product's extra rows never reach the output: the result is [M, N] and, being the
// leading rows of a contiguous [max(17, M), N] product, is itself contiguous.
TEST(Linear, PaddingIsUndone) {
  const RefWeight w = make_weight(24, 32, true, 11);
  const Tensor ws = weight_scale_tensor(w);
  for (int64_t m : {int64_t(1), int64_t(5), int64_t(16), int64_t(17), int64_t(18)}) {
    const Tensor x = randn({m, 32}, DType::kBFloat16, uint32_t(m));
    const Fp8LinearOp padded(false, PER_TOKEN, true), unpadded(false, PER_TOKEN, false);
    const Tensor a = padded.apply(x, w.weight(), ws);
    const Tensor b = unpadded.apply(x, w.weight(), ws);
    ASSERT_EQ(a.sizes(), (Dims{m, 24}));
    ASSERT_TRUE(a.is_contiguous());
    for (int64_t i = 0; i < a.numel(); ++i) EXPECT_EQ(get(a, i), get(b, i)) << "m=" << m << " i=" << i;
  }
}

TEST(Linear, EmptyAndOneDimensionalInputs) {
  const RefWeight w = make_weight(24, 32, true, 12);
  const Tensor ws = weight_scale_tensor(w);
  for (auto pad : kPads)
    for (GroupShape g : {PER_TENSOR, PER_TOKEN}) {
      const Fp8LinearOp op(false, g, pad);
      const Tensor empty = op.apply(Tensor::empty({0, 32}, DType::kBFloat16), w.weight(), ws);
      EXPECT_EQ(empty.sizes(), (Dims{0, 24}));
      const Tensor empty3 = op.apply(Tensor::empty({2, 0, 32}, DType::kFloat16), w.weight(), ws);
      EXPECT_EQ(empty3.sizes(), (Dims{2, 0, 24}));
      EXPECT_EQ(empty3.dtype(), DType::kFloat16);
      // [K] -> [N], as input.view(-1, K) and input.shape[:-1] + [N] give.
      const Tensor x = randn({32}, DType::kFloat32, 13);
      const Tensor y = op.apply(x, w.weight(), ws);
      ASSERT_EQ(y.sizes(), (Dims{24}));
      const Tensor y2 = op.apply(x.view({1, 32}), w.weight(), ws);
      for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(get(y, i), get(y2, i));
    }
}

// ---- rejections -------------------------------------------------------------------------
struct ErrorFixture {
  RefWeight w = make_weight(24, 32, true, 5);
  Tensor ws = weight_scale_tensor(w);
  Tensor x = randn({4, 32}, DType::kBFloat16, 6);
};

TEST(Linear, RejectsBadConstruction) {
  EXPECT_W8A8_ERROR(Fp8LinearOp(false, GroupShape{1, 128}), ErrorKind::kValue, "act_quant_group_shape");
  EXPECT_W8A8_ERROR(Fp8LinearOp(false, PER_CHANNEL), ErrorKind::kValue, "act_quant_group_shape");
  EXPECT_W8A8_ERROR(Fp8LinearOp(true, PER_TOKEN), ErrorKind::kValue, "act_quant_group_shape");
}

TEST(Linear, RejectsBadWeight) {
  ErrorFixture f;
  const Fp8LinearOp op(false);
  // Not 2-D.
  EXPECT_W8A8_ERROR(op.apply(f.x, f.w.w_nk.view({24 * 32}), f.ws), ErrorKind::kValue, "weight");
  // Not FP8.
  Tensor w_bf16 = randn({24, 32}, DType::kBFloat16, 1);
  EXPECT_W8A8_ERROR(op.apply(f.x, w_bf16.t(), f.ws), ErrorKind::kType, "weight");
  // e5m2 is no operand format.
  EXPECT_W8A8_ERROR(op.apply(f.x, f.w.w_nk.reinterpret(DType::kFloat8E5M2).t(), f.ws), ErrorKind::kType, "weight");
  // Row-major [K, N] (stride(0) != 1).
  Tensor w_kn = Tensor::zeros({32, 24}, DType::kFloat8E4M3FN);
  EXPECT_W8A8_ERROR(op.apply(f.x, w_kn, f.ws), ErrorKind::kValue, "column-major");
  // e4m3fnuz weight while this platform quantizes to e4m3fn.
  EXPECT_W8A8_ERROR(op.apply(f.x, f.w.w_nk.reinterpret(DType::kFloat8E4M3FNUZ).t(), f.ws), ErrorKind::kType,
                    "weight");
  // Weight on another device.
  TensorView w_cuda(f.w.w_nk.data(), DType::kFloat8E4M3FN, {24, 32}, Device::cuda());
  EXPECT_W8A8_ERROR(op.apply(f.x, w_cuda.t(), f.ws), ErrorKind::kType, "like weight");
}

TEST(Linear, RejectsBadWeightScale) {
  ErrorFixture f;
  const Fp8LinearOp op(false);
  EXPECT_W8A8_ERROR(op.apply(f.x, f.w.weight(), randn({24, 1}, DType::kBFloat16, 1)), ErrorKind::kType,
                    "weight_scale");
  EXPECT_W8A8_ERROR(op.apply(f.x, f.w.weight(), scalar_tensor(1.0f, {25, 1})), ErrorKind::kValue, "weight_scale");
  EXPECT_W8A8_ERROR(op.apply(f.x, f.w.weight(), scalar_tensor(1.0f, {2})), ErrorKind::kValue, "weight_scale");
  EXPECT_W8A8_ERROR(op.apply(f.x, f.w.weight(), scalar_tensor(1.0f, {24, 2})), ErrorKind::kValue, "weight_scale");
  Tensor wide = scalar_tensor(1.0f, {24, 2});
  EXPECT_W8A8_ERROR(op.apply(f.x, f.w.weight(), wide.narrow(1, 0, 1)), ErrorKind::kValue, "weight_scale");
}

TEST(Linear, RejectsBadInput) {
  ErrorFixture f;
  const Fp8LinearOp op(false);
  // Last dimension != K.
  EXPECT_W8A8_ERROR(op.apply(randn({4, 31}, DType::kBFloat16, 1), f.w.weight(), f.ws), ErrorKind::kValue, "input");
  // 0-D.
  Tensor scalar = randn({}, DType::kBFloat16, 1);
  EXPECT_W8A8_ERROR(op.apply(scalar, f.w.weight(), f.ws), ErrorKind::kValue, "input");
  // Wrong dtypes.
  EXPECT_W8A8_ERROR(op.apply(Tensor::zeros({4, 32}, DType::kInt8), f.w.weight(), f.ws), ErrorKind::kType, "input");
  EXPECT_W8A8_ERROR(op.apply(Tensor::zeros({4, 32}, DType::kFloat8E5M2), f.w.weight(), f.ws, DType::kBFloat16,
                             TensorView(scalar_tensor(1.0f))),
                    ErrorKind::kType, "input");
  // Leading dimensions that cannot merge into one: [2, 3, K] with a gap between the first two.
  Tensor big = randn({2, 4, 32}, DType::kBFloat16, 2);
  EXPECT_W8A8_ERROR(op.apply(big.narrow(1, 0, 3), f.w.weight(), f.ws), ErrorKind::kValue, "input: cannot be viewed");
  // Input on another device.
  TensorView x_cuda(f.x.data(), DType::kBFloat16, {4, 32}, Device::cuda());
  EXPECT_W8A8_ERROR(op.apply(x_cuda, f.w.weight(), f.ws), ErrorKind::kType, "input");
}

TEST(Linear, RejectsBadOutDtypeAndBias) {
  ErrorFixture f;
  const Fp8LinearOp op(false);
  EXPECT_W8A8_ERROR(op.apply(f.x, f.w.weight(), f.ws, DType::kFloat8E4M3FN), ErrorKind::kType, "out_dtype");
  EXPECT_W8A8_ERROR(op.apply(f.x, f.w.weight(), f.ws, DType::kInt32), ErrorKind::kType, "out_dtype");
  Tensor bias_short = randn({23}, DType::kBFloat16, 1);
  EXPECT_W8A8_ERROR(op.apply(f.x, f.w.weight(), f.ws, std::nullopt, std::nullopt, std::nullopt, TensorView(bias_short)),
                    ErrorKind::kValue, "bias");
  Tensor bias_2d = randn({1, 24}, DType::kBFloat16, 1);
  EXPECT_W8A8_ERROR(op.apply(f.x, f.w.weight(), f.ws, std::nullopt, std::nullopt, std::nullopt, TensorView(bias_2d)),
                    ErrorKind::kValue, "bias");
  Tensor bias_f32 = randn({24}, DType::kFloat32, 1);
  EXPECT_W8A8_ERROR(op.apply(f.x, f.w.weight(), f.ws, std::nullopt, std::nullopt, std::nullopt, TensorView(bias_f32)),
                    ErrorKind::kType, "bias");
}

TEST(Linear, RejectsBadScaleArguments) {
  ErrorFixture f;
  const Fp8LinearOp dynamic(false), static_op(true), per_token(false, PER_TOKEN);
  const Tensor one = scalar_tensor(0.01f);
  // Static without input_scale; dynamic with one.
  EXPECT_W8A8_ERROR(static_op.apply(f.x, f.w.weight(), f.ws), ErrorKind::kValue, "input_scale");
  EXPECT_W8A8_ERROR(dynamic.apply(f.x, f.w.weight(), f.ws, std::nullopt, TensorView(one)), ErrorKind::kValue,
                    "input_scale");
  // input_scale of the wrong dtype or shape.
  Tensor half_scale = randn({1}, DType::kFloat16, 1);
  EXPECT_W8A8_ERROR(static_op.apply(f.x, f.w.weight(), f.ws, std::nullopt, TensorView(half_scale)), ErrorKind::kType,
                    "input_scale");
  EXPECT_W8A8_ERROR(static_op.apply(f.x, f.w.weight(), f.ws, std::nullopt, TensorView(scalar_tensor(1.0f, {2}))),
                    ErrorKind::kValue, "input_scale");
  // input_scale_ub: dynamic per-token only, one float32 element.
  EXPECT_W8A8_ERROR(dynamic.apply(f.x, f.w.weight(), f.ws, std::nullopt, std::nullopt, TensorView(one)),
                    ErrorKind::kValue, "input_scale_ub");
  EXPECT_W8A8_ERROR(static_op.apply(f.x, f.w.weight(), f.ws, std::nullopt, TensorView(one), TensorView(one)),
                    ErrorKind::kValue, "input_scale_ub");
  EXPECT_W8A8_ERROR(per_token.apply(f.x, f.w.weight(), f.ws, std::nullopt, std::nullopt,
                                    TensorView(scalar_tensor(1.0f, {2}))),
                    ErrorKind::kValue, "input_scale_ub");
  EXPECT_W8A8_ERROR(per_token.apply(f.x, f.w.weight(), f.ws, std::nullopt, std::nullopt,
                                    TensorView(randn({1}, DType::kBFloat16, 1))),
                    ErrorKind::kType, "input_scale_ub");
}

TEST(Linear, RejectsBadFp8InputArguments) {
  ErrorFixture f;
  const Fp8LinearOp op(false);
  const Tensor xq = Tensor::zeros({4, 32}, DType::kFloat8E4M3FN);
  const Tensor one = scalar_tensor(0.01f);
  // FP8 input needs input_scale and an out_dtype.
  EXPECT_W8A8_ERROR(op.apply(xq, f.w.weight(), f.ws, DType::kBFloat16), ErrorKind::kValue, "input_scale");
  EXPECT_W8A8_ERROR(op.apply(xq, f.w.weight(), f.ws, std::nullopt, TensorView(one)), ErrorKind::kType, "out_dtype");
  // input_scale_ub is for this op's own quantization.
  EXPECT_W8A8_ERROR(op.apply(xq, f.w.weight(), f.ws, DType::kBFloat16, TensorView(one), TensorView(one)),
                    ErrorKind::kValue, "input_scale_ub");
  // Scale shapes: one element or [M, 1].
  EXPECT_W8A8_ERROR(op.apply(xq, f.w.weight(), f.ws, DType::kBFloat16, TensorView(scalar_tensor(1.0f, {5, 1}))),
                    ErrorKind::kValue, "input_scale");
  EXPECT_W8A8_ERROR(op.apply(xq, f.w.weight(), f.ws, DType::kBFloat16, TensorView(scalar_tensor(1.0f, {4}))),
                    ErrorKind::kValue, "input_scale");
  EXPECT_W8A8_ERROR(op.apply(xq, f.w.weight(), f.ws, DType::kBFloat16, TensorView(randn({1}, DType::kFloat16, 1))),
                    ErrorKind::kType, "input_scale");
  // FP8 input of another format than the weight.
  EXPECT_W8A8_ERROR(op.apply(xq.reinterpret(DType::kFloat8E4M3FNUZ), f.w.weight(), f.ws, DType::kBFloat16,
                             TensorView(one)),
                    ErrorKind::kType, "weight");
}

}  // namespace
