// vLLM's dispatch table (spec section 4) and each strategy run on CPU tensors with token padding.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "op_test_helpers.h"
#include "w8a8/dispatch.h"

namespace {

using namespace w8a8;
using namespace op_test;

struct Row {
  const char* backend;
  bool per_tensor_weights;
  bool per_tensor_activations;
  W8A8ScaledMmFn expected;
};

// Every row of the seed's table, plus w8a8's "cpu". USE_ROWWISE_TORCH_SCALED_MM is false (no ROCm
// build), so per-token x per-channel on "torch" and "rocm" takes the channelwise fallback.
const Row kTable[] = {
    {"rocm", true, true, &rocm_per_tensor_w8a8_scaled_mm},
    {"rocm", true, false, &torch_channelwise_w8a8_scaled_mm},
    {"rocm", false, true, &torch_channelwise_w8a8_scaled_mm},
    {"rocm", false, false, &torch_channelwise_w8a8_scaled_mm},
    {"flashinfer", true, true, &flashinfer_w8a8_scaled_mm},
    {"flashinfer", true, false, &cutlass_w8a8_scaled_mm},
    {"flashinfer", false, true, &cutlass_w8a8_scaled_mm},
    {"flashinfer", false, false, &cutlass_w8a8_scaled_mm},
    {"cutlass", true, true, &cutlass_w8a8_scaled_mm},
    {"cutlass", true, false, &cutlass_w8a8_scaled_mm},
    {"cutlass", false, true, &cutlass_w8a8_scaled_mm},
    {"cutlass", false, false, &cutlass_w8a8_scaled_mm},
    {"torch", true, true, &torch_per_tensor_w8a8_scaled_mm},
    {"torch", true, false, &torch_channelwise_w8a8_scaled_mm},
    {"torch", false, true, &torch_channelwise_w8a8_scaled_mm},
    {"torch", false, false, &torch_channelwise_w8a8_scaled_mm},
    {"cpu", true, true, &cpu_w8a8_scaled_mm},
    {"cpu", true, false, &cpu_w8a8_scaled_mm},
    {"cpu", false, true, &cpu_w8a8_scaled_mm},
    {"cpu", false, false, &cpu_w8a8_scaled_mm},
};

TEST(Dispatch, TableEveryRow) {
  for (const Row& r : kTable) {
    const W8A8ScaledMmFn fn = dispatch_w8a8_scaled_mm(r.backend, r.per_tensor_weights, r.per_tensor_activations);
    EXPECT_EQ(fn, r.expected) << r.backend << " per_tensor_weights=" << r.per_tensor_weights
                              << " per_tensor_activations=" << r.per_tensor_activations << ": got "
                              << scaled_mm_fn_name(fn) << ", expected " << scaled_mm_fn_name(r.expected);
  }
}

TEST(Dispatch, UnknownBackendNamesTheArgumentAndTheChoices) {
  for (const char* bad : {"", "CUTLASS", "cublaslt", "triton"}) {
    EXPECT_THROW(dispatch_w8a8_scaled_mm(bad, true, true), Error);
    EXPECT_W8A8_ERROR(dispatch_w8a8_scaled_mm(bad, true, false), ErrorKind::kValue, "preferred_backend");
    try {
      dispatch_w8a8_scaled_mm(bad, false, false);
    } catch (const Error& e) {
      const std::string m = e.what();
      for (const char* name : {"\"rocm\"", "\"flashinfer\"", "\"cutlass\"", "\"torch\"", "\"cpu\""})
        EXPECT_NE(m.find(name), std::string::npos) << m;
      EXPECT_NE(m.find(std::string("\"") + bad + "\""), std::string::npos) << m;
    }
  }
}

TEST(Dispatch, FunctionNames) {
  EXPECT_STREQ(scaled_mm_fn_name(&cutlass_w8a8_scaled_mm), "cutlass_w8a8_scaled_mm");
  EXPECT_STREQ(scaled_mm_fn_name(&flashinfer_w8a8_scaled_mm), "flashinfer_w8a8_scaled_mm");
  EXPECT_STREQ(scaled_mm_fn_name(&rocm_per_tensor_w8a8_scaled_mm), "rocm_per_tensor_w8a8_scaled_mm");
  EXPECT_STREQ(scaled_mm_fn_name(&torch_per_tensor_w8a8_scaled_mm), "torch_per_tensor_w8a8_scaled_mm");
  EXPECT_STREQ(scaled_mm_fn_name(&torch_per_token_w8a8_scaled_mm), "torch_per_token_w8a8_scaled_mm");
  EXPECT_STREQ(scaled_mm_fn_name(&torch_channelwise_w8a8_scaled_mm), "torch_channelwise_w8a8_scaled_mm");
  EXPECT_STREQ(scaled_mm_fn_name(&cpu_w8a8_scaled_mm), "cpu_w8a8_scaled_mm");
  EXPECT_STREQ(scaled_mm_fn_name(nullptr), "unknown");
}

// A padded problem: qinput [P, K] whose rows >= num_rows are padding (non-zero codes, scale 1),
// as the strategies receive it from a QuantFP8 with num_token_padding.
struct Problem {
  int64_t rows, padded, k, n;
  RefQuant a;  // rows x k
  RefWeight w;
  Tensor qinput, scale_a, scale_b;
  std::optional<Tensor> bias;
  std::vector<double> bias_values;
  DType out_dtype;

  Problem(int64_t rows_, int64_t padded_, int64_t k_, int64_t n_, bool per_token, bool per_channel, bool with_bias,
          DType out, uint32_t seed)
      : rows(rows_), padded(padded_), k(k_), n(n_), out_dtype(out) {
    const std::vector<float> x = values(randn({rows, k}, DType::kFloat32, seed));
    a = per_token ? ref_quant_per_row(x, rows, k) : ref_quant_dynamic_per_tensor(x, rows, k);
    w = make_weight(n, k, per_channel, seed + 1);
    qinput = fp8_tensor(a, padded, /*filler=*/0x30);
    scale_a = scale_tensor(a, padded);
    scale_b = scale_tensor(w.q);
    if (with_bias) {
      bias = randn({n}, out, seed + 2, 0.5f);
      for (float v : values(*bias)) bias_values.push_back(v);
    }
  }
  std::vector<double> reference() const {
    return ref_matmul(
        rows, n, k, [&](int64_t m, int64_t kk) { return a.dq(m, kk); },
        [&](int64_t nn, int64_t kk) { return w.q.dq(nn, kk); }, bias_values);
  }
  Tensor run(W8A8ScaledMmFn fn, const Dims& output_shape) const {
    return fn(qinput, w.weight(), out_dtype, scale_a, scale_b,
              bias ? std::optional<TensorView>(*bias) : std::nullopt, rows, output_shape, nullptr);
  }
};

struct Granularity {
  bool per_token, per_channel;
};

void check_strategy(W8A8ScaledMmFn fn, const std::vector<Granularity>& granularities) {
  uint32_t seed = 1000;
  for (const Granularity g : granularities)
    for (int64_t rows : {int64_t(1), int64_t(2), int64_t(3), int64_t(15), int64_t(16), int64_t(17), int64_t(33)})
      for (DType out : {DType::kBFloat16, DType::kFloat16, DType::kFloat32})
        for (bool with_bias : {false, true}) {
          const int64_t padded = std::max<int64_t>(rows, 17);
          const Problem p(rows, padded, 112, 40, g.per_token, g.per_channel, with_bias, out, ++seed);
          SCOPED_TRACE(std::string(scaled_mm_fn_name(fn)) + " rows=" + std::to_string(rows) + " padded=" +
                       std::to_string(padded) + (g.per_token ? " per-token" : " per-tensor") +
                       (g.per_channel ? " x per-channel" : " x per-tensor") + " out=" + dtype_name(out) +
                       (with_bias ? " +bias" : ""));
          // 2-D output shape.
          const Tensor out2 = p.run(fn, {rows, 40});
          ASSERT_EQ(out2.sizes(), (Dims{rows, 40}));
          ASSERT_EQ(out2.dtype(), out);
          expect_gemm_close(out2, p.reference(), out);
          // 3-D output shape (the narrowed rows viewed as [1, rows, N]).
          const Tensor out3 = p.run(fn, {1, rows, 40});
          ASSERT_EQ(out3.sizes(), (Dims{1, rows, 40}));
          expect_gemm_close(out3, p.reference(), out);
        }
}

const std::vector<Granularity> kAll = {{false, false}, {false, true}, {true, false}, {true, true}};

TEST(Dispatch, CpuStrategy) { check_strategy(&cpu_w8a8_scaled_mm, kAll); }
TEST(Dispatch, CutlassStrategyOnCpuTensors) { check_strategy(&cutlass_w8a8_scaled_mm, kAll); }
TEST(Dispatch, TorchPerTensorStrategy) { check_strategy(&torch_per_tensor_w8a8_scaled_mm, {{false, false}}); }
TEST(Dispatch, TorchPerTokenStrategy) { check_strategy(&torch_per_token_w8a8_scaled_mm, {{true, true}}); }
TEST(Dispatch, TorchChannelwiseStrategy) {
  check_strategy(&torch_channelwise_w8a8_scaled_mm, {{true, true}, {false, true}, {true, false}});
}

TEST(Dispatch, StrategiesTakeOneDimensionalScaleB) {
  // vLLM's kernels accept any scale_b of N elements: a [N] per-channel scale is the same N floats as
  // [N, 1], so every strategy that runs per-channel weights gives the [N, 1] result.
  uint32_t seed = 1500;
  for (W8A8ScaledMmFn fn : {&cpu_w8a8_scaled_mm, &cutlass_w8a8_scaled_mm, &torch_per_token_w8a8_scaled_mm,
                            &torch_channelwise_w8a8_scaled_mm})
    for (bool per_token : {false, true}) {
      if (fn == &torch_per_token_w8a8_scaled_mm && !per_token) continue;  // its row of the table only
      SCOPED_TRACE(std::string(scaled_mm_fn_name(fn)) + (per_token ? " per-token" : " per-tensor"));
      Problem p(5, 17, 112, 40, per_token, true, true, DType::kBFloat16, ++seed);
      const Tensor ref_out = p.run(fn, {5, 40});
      p.scale_b = p.scale_b.view({40});
      const Tensor out = p.run(fn, {5, 40});
      expect_gemm_close(out, p.reference(), DType::kBFloat16);
      EXPECT_EQ(std::memcmp(out.data(), ref_out.data(), size_t(5 * 40 * 2)), 0);
    }
}

TEST(Dispatch, UnavailableStrategiesThrow) {
  const Problem p(3, 17, 32, 16, false, false, false, DType::kBFloat16, 7);
  EXPECT_W8A8_ERROR(p.run(&flashinfer_w8a8_scaled_mm, {3, 16}), ErrorKind::kUnsupported, "unavailable in w8a8");
  EXPECT_W8A8_ERROR(p.run(&rocm_per_tensor_w8a8_scaled_mm, {3, 16}), ErrorKind::kUnsupported,
                    "unavailable in w8a8");
}

TEST(Dispatch, StrategiesRejectBadRowsAndShapes) {
  const Problem p(3, 17, 32, 16, true, true, false, DType::kBFloat16, 9);
  for (W8A8ScaledMmFn fn : {&cutlass_w8a8_scaled_mm, &torch_per_tensor_w8a8_scaled_mm, &torch_per_token_w8a8_scaled_mm,
                            &torch_channelwise_w8a8_scaled_mm, &cpu_w8a8_scaled_mm}) {
    SCOPED_TRACE(scaled_mm_fn_name(fn));
    // num_rows beyond the padded rows, or negative.
    EXPECT_W8A8_ERROR(fn(p.qinput, p.w.weight(), DType::kBFloat16, p.scale_a, p.scale_b, std::nullopt, 18, {18, 16},
                         nullptr),
                      ErrorKind::kValue, "num_rows");
    EXPECT_W8A8_ERROR(fn(p.qinput, p.w.weight(), DType::kBFloat16, p.scale_a, p.scale_b, std::nullopt, -1, {1, 16},
                         nullptr),
                      ErrorKind::kValue, "num_rows");
    // output_shape of another element count.
    EXPECT_W8A8_ERROR(fn(p.qinput, p.w.weight(), DType::kBFloat16, p.scale_a, p.scale_b, std::nullopt, 3, {4, 16},
                         nullptr),
                      ErrorKind::kValue, "output_shape");
    // qinput not 2-D.
    EXPECT_W8A8_ERROR(fn(p.qinput.view({1, 17, 32}), p.w.weight(), DType::kBFloat16, p.scale_a, p.scale_b,
                         std::nullopt, 3, {3, 16}, nullptr),
                      ErrorKind::kValue, "qinput");
  }
}

}  // namespace
