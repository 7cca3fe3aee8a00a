// scaled_mm on the CPU: every backend (cpu, unfused, auto) against the float64 reference of
// tests/common/reference.h, with section 7's tolerances.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "common/reference.h"
#include "cpu/quant_test_util.h"  // EXPECT_W8A8_ERROR
#include "scaled_mm/cpu/cpu_backend.h"
#include "scaled_mm/cpu/kernels.h"
#include "w8a8/error.h"
#include "w8a8/scaled_mm.h"

namespace w8a8 {
namespace {

using testref::matches_reference;

constexpr DType kOutDtypes[] = {DType::kBFloat16, DType::kFloat16, DType::kFloat32};

// scale_a / scale_b granularity.
enum class Pairing { kTensorTensor, kTensorChannel, kTokenTensor, kTokenChannel };
constexpr Pairing kPairings[] = {Pairing::kTensorTensor, Pairing::kTensorChannel, Pairing::kTokenTensor,
                                 Pairing::kTokenChannel};
const char* pairing_name(Pairing p) {
  switch (p) {
    case Pairing::kTensorTensor: return "tensor x tensor";
    case Pairing::kTensorChannel: return "tensor x channel";
    case Pairing::kTokenTensor: return "token x tensor";
    default: return "token x channel";
  }
}

// FP8 operands: A [M, K] (row stride K + a_pad), B [K, N] = the transpose of a row-major [N, K]
// weight whose row stride is K + w_pad.
struct Operands {
  Tensor a_storage, w_storage;
  TensorView a, b;
};

Operands make_operands(int64_t M, int64_t N, int64_t K, DType fp8, std::mt19937& gen, int64_t a_pad = 0,
                       int64_t w_pad = 0) {
  Operands o;
  o.a_storage = Tensor::empty({M, K + a_pad}, fp8);
  o.w_storage = Tensor::empty({N, K + w_pad}, fp8);
  o.a = o.a_storage.narrow(1, 0, K);
  o.b = o.w_storage.narrow(1, 0, K).t();
  testref::fill_random_fp8(o.a, gen);
  testref::fill_random_fp8(o.b, gen);
  return o;
}

Tensor make_scale_a(Pairing p, int64_t M, std::mt19937& gen, int variant) {
  const bool per_tensor = p == Pairing::kTensorTensor || p == Pairing::kTensorChannel;
  if (per_tensor) return testref::random_scales(variant % 2 ? Dims{1, 1} : Dims{1}, gen);
  return testref::random_scales({M, 1}, gen);
}
Tensor make_scale_b(Pairing p, int64_t N, std::mt19937& gen, int variant) {
  const bool per_tensor = p == Pairing::kTensorTensor || p == Pairing::kTokenTensor;
  if (per_tensor) return testref::random_scales(variant % 2 ? Dims{1} : Dims{1, 1}, gen);
  return testref::random_scales(variant % 2 ? Dims{N, 1} : Dims{1, N}, gen);
}

// Runs one configuration into a poisoned output (row stride N + out_pad) and checks every element
// against the reference (ref_nobias + bias), and that the padding was not written.
void run_and_check(const TensorView& a, const TensorView& b, const TensorView& sa, const TensorView& sb,
                   const std::vector<double>& ref_nobias, DType out_dtype, bool with_bias, ScaledMmBackend backend,
                   std::mt19937& gen, int64_t out_pad = 0) {
  const int64_t M = a.size(0), N = b.size(1);
  SCOPED_TRACE(std::string("backend=") + backend_name(backend) + " out=" + dtype_name(out_dtype) +
               (with_bias ? " +bias" : ""));
  std::optional<Tensor> bias;
  std::vector<double> ref = ref_nobias;
  if (with_bias) {
    bias = testref::random_bias(N, out_dtype, gen);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) ref[size_t(m * N + n)] += testref::at1(*bias, n);
  }
  Tensor storage = Tensor::empty({M, N + out_pad}, out_dtype);
  testref::poison(storage);
  const TensorView out = storage.narrow(1, 0, N);
  std::optional<TensorView> bias_view;
  if (bias) bias_view = *bias;
  ASSERT_NO_THROW(scaled_mm(out, a, b, sa, sb, bias_view, {backend}));
  EXPECT_TRUE(matches_reference(out, ref, testref::cpu_tolerance(out_dtype)));
  if (out_pad > 0) {
    const size_t es = storage.element_size();
    for (int64_t m = 0; m < M; ++m) {
      const uint8_t* gap = static_cast<const uint8_t*>(storage.data()) + size_t(m * (N + out_pad) + N) * es;
      for (size_t i = 0; i < size_t(out_pad) * es; ++i)
        ASSERT_EQ(gap[i], 0xFF) << "row " << m << ": padding past N was written";
    }
  }
}

// All scale pairings x out dtypes x bias for one operand set.
void check_all_pairings(const Operands& o, ScaledMmBackend backend, std::mt19937& gen, int64_t out_pad = 0) {
  const int64_t M = o.a.size(0), N = o.b.size(1);
  int variant = 0;
  for (Pairing p : kPairings) {
    SCOPED_TRACE(pairing_name(p));
    const Tensor sa = make_scale_a(p, M, gen, variant);
    const Tensor sb = make_scale_b(p, N, gen, variant++);
    const std::vector<double> ref = testref::scaled_mm(o.a, o.b, sa, sb, std::nullopt, false);
    for (DType dt : kOutDtypes)
      for (bool with_bias : {false, true}) run_and_check(o.a, o.b, sa, sb, ref, dt, with_bias, backend, gen, out_pad);
  }
}

// ---- every M of section 7, each backend -----------------------------------------------------------
class ScaledMmShapes : public ::testing::TestWithParam<std::tuple<ScaledMmBackend, int64_t>> {};

TEST_P(ScaledMmShapes, AllPairingsDtypesBias) {
  const auto [backend, M] = GetParam();
  std::mt19937 gen(uint32_t(1000 + M * 7 + int(backend)));
  // N and K not multiples of 128 (K a multiple of 16, as CUTLASS-shaped callers have).
  const Operands o = make_operands(M, 200, 272, DType::kFloat8E4M3FN, gen);
  check_all_pairings(o, backend, gen);
}

INSTANTIATE_TEST_SUITE_P(
    Cpu, ScaledMmShapes,
    ::testing::Combine(::testing::Values(ScaledMmBackend::kCpu, ScaledMmBackend::kUnfused, ScaledMmBackend::kAuto),
                       ::testing::Values<int64_t>(1, 2, 3, 4, 15, 16, 17, 33, 64, 127, 128, 129, 300, 777)),
    [](const ::testing::TestParamInfo<ScaledMmShapes::ParamType>& info) {
      return std::string(backend_name(std::get<0>(info.param))) + "_M" + std::to_string(std::get<1>(info.param));
    });

// ---- layouts: strided A, padded weight rows, strided out ------------------------------------------
TEST(ScaledMmCpu, StridedOperandsAndOutput) {
  std::mt19937 gen(7);
  for (int64_t M : {1, 5, 16, 17, 130}) {
    SCOPED_TRACE("M=" + std::to_string(M));
    const Operands o = make_operands(M, 72, 160, DType::kFloat8E4M3FN, gen, /*a_pad=*/13, /*w_pad=*/5);
    ASSERT_GT(o.a.stride(0), o.a.size(1));
    ASSERT_EQ(o.b.stride(0), 1);
    ASSERT_EQ(o.b.stride(1), 165);
    for (ScaledMmBackend backend : {ScaledMmBackend::kCpu, ScaledMmBackend::kUnfused})
      check_all_pairings(o, backend, gen, /*out_pad=*/3);
  }
}

// K not a multiple of 16 (no backend alignment rule on the CPU), tiny K.
TEST(ScaledMmCpu, OddK) {
  std::mt19937 gen(8);
  for (int64_t K : {1, 7, 100, 129})
    for (int64_t M : {1, 3, 5, 20}) {
      SCOPED_TRACE("M=" + std::to_string(M) + " K=" + std::to_string(K));
      const Operands o = make_operands(M, 37, K, DType::kFloat8E4M3FN, gen);
      check_all_pairings(o, ScaledMmBackend::kCpu, gen);
    }
}

// The large-M path with tiny panels: several panels of M and of N.
TEST(ScaledMmCpu, PanelLoops) {
  struct PanelGuard {
    explicit PanelGuard(int64_t bytes) { smm::cpu::set_panel_bytes(bytes); }
    ~PanelGuard() { smm::cpu::set_panel_bytes(0); }
  } guard(16 * 1024);  // 15 rows of K = 272 per panel
  std::mt19937 gen(9);
  const Operands o = make_operands(129, 200, 272, DType::kFloat8E4M3FN, gen);
  check_all_pairings(o, ScaledMmBackend::kCpu, gen, 2);
  // Small K: the [Mp, Np] fp32 product panel is what the budget bounds.
  const Operands small_k = make_operands(129, 200, 16, DType::kFloat8E4M3FN, gen);
  check_all_pairings(small_k, ScaledMmBackend::kCpu, gen);
  const Tensor sa = testref::random_scales({129, 3}, gen), sb = testref::random_scales({3, 2}, gen);
  const Operands ob = make_operands(129, 200, 384, DType::kFloat8E4M3FN, gen);
  const std::vector<double> ref = testref::scaled_mm(ob.a, ob.b, sa, sb, std::nullopt, true);
  run_and_check(ob.a, ob.b, sa, sb, ref, DType::kBFloat16, true, ScaledMmBackend::kCpu, gen);
}

// ---- blockwise -------------------------------------------------------------------------------------
class ScaledMmBlockwise : public ::testing::TestWithParam<int64_t> {};

TEST_P(ScaledMmBlockwise, RowAndColumnMajorScales) {
  const int64_t M = GetParam(), N = 200, K = 384;  // N not a multiple of 128: ceil(N/128) = 2
  std::mt19937 gen(uint32_t(50 + M));
  const Operands o = make_operands(M, N, K, DType::kFloat8E4M3FN, gen, M % 2 ? 16 : 0, M % 3 ? 0 : 8);
  for (bool a_col : {false, true})
    for (bool b_col : {false, true}) {
      SCOPED_TRACE(std::string("scale_a ") + (a_col ? "column" : "row") + "-major, scale_b " +
                   (b_col ? "column" : "row") + "-major");
      const Tensor sa_store = testref::random_scales(a_col ? Dims{K / 128, M} : Dims{M, K / 128}, gen);
      const Tensor sb_store = testref::random_scales(b_col ? Dims{2, K / 128} : Dims{K / 128, 2}, gen);
      const TensorView sa = a_col ? sa_store.t() : TensorView(sa_store);
      const TensorView sb = b_col ? sb_store.t() : TensorView(sb_store);
      const std::vector<double> ref = testref::scaled_mm(o.a, o.b, sa, sb, std::nullopt, true);
      for (DType dt : kOutDtypes)
        for (bool with_bias : {false, true})
          for (ScaledMmBackend backend : {ScaledMmBackend::kCpu, ScaledMmBackend::kAuto})
            run_and_check(o.a, o.b, sa, sb, ref, dt, with_bias, backend, gen);
      Tensor out = Tensor::empty({M, N}, DType::kBFloat16);
      try {
        scaled_mm(out, o.a, o.b, sa, sb, std::nullopt, {ScaledMmBackend::kUnfused});
        ADD_FAILURE() << "the unfused backend ran blockwise scales";
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
        EXPECT_NE(std::string(e.what()).find("unfused"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("blockwise"), std::string::npos) << e.what();
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Cpu, ScaledMmBlockwise,
                         ::testing::Values<int64_t>(1, 2, 3, 4, 15, 16, 17, 33, 64, 127, 128, 129, 300));

// K == 128: scale_a [M, 1] reads as per-token or as one block; both give the same product.
TEST(ScaledMmCpu, BlockwiseSingleKBlockMatchesPerToken) {
  std::mt19937 gen(11);
  const Operands o = make_operands(9, 130, 128, DType::kFloat8E4M3FN, gen);
  const Tensor sa = testref::random_scales({9, 1}, gen), sb = testref::random_scales({1, 2}, gen);
  const std::vector<double> ref = testref::scaled_mm(o.a, o.b, sa, sb, std::nullopt, true);
  run_and_check(o.a, o.b, sa, sb, ref, DType::kFloat32, false, ScaledMmBackend::kCpu, gen);
}

// ---- e4m3fnuz operands -------------------------------------------------------------------------------
TEST(ScaledMmCpu, E4m3fnuzOperands) {
  std::mt19937 gen(12);
  for (int64_t M : {1, 4, 16, 17, 64}) {
    SCOPED_TRACE("M=" + std::to_string(M));
    const Operands o = make_operands(M, 100, 256, DType::kFloat8E4M3FNUZ, gen, 3, 7);
    for (ScaledMmBackend backend : {ScaledMmBackend::kCpu, ScaledMmBackend::kUnfused, ScaledMmBackend::kAuto})
      check_all_pairings(o, backend, gen);
    const Tensor sa = testref::random_scales({M, 2}, gen), sb = testref::random_scales({2, 1}, gen);
    const std::vector<double> ref = testref::scaled_mm(o.a, o.b, sa, sb, std::nullopt, true);
    for (DType dt : kOutDtypes) run_and_check(o.a, o.b, sa, sb, ref, dt, true, ScaledMmBackend::kCpu, gen);
  }
}

// ---- NaN codes propagate (0x7F / 0xFF in e4m3fn, 0x80 in e4m3fnuz) ------------------------------------
TEST(ScaledMmCpu, NanCodesPropagate) {
  for (DType fp8 : {DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ})
    for (int64_t M : {1, 6, 40})
      for (ScaledMmBackend backend : {ScaledMmBackend::kCpu, ScaledMmBackend::kUnfused}) {
        SCOPED_TRACE(std::string(dtype_name(fp8)) + " M=" + std::to_string(M) + " " + backend_name(backend));
        std::mt19937 gen(13);
        const int64_t N = 70, K = 96;
        Operands o = make_operands(M, N, K, fp8, gen);
        const uint8_t nan_code = fp8 == DType::kFloat8E4M3FN ? 0xFF : 0x80;
        o.w_storage.data_as<uint8_t>()[5 * K + 3] = nan_code;     // weight row 5
        o.a_storage.data_as<uint8_t>()[(M - 1) * K + 7] = nan_code;  // activation row M - 1
        const Tensor sa = testref::random_scales({1}, gen), sb = testref::random_scales({1, N}, gen);
        Tensor out = Tensor::empty({M, N}, DType::kFloat32);
        scaled_mm(out, o.a, o.b, sa, sb, std::nullopt, {backend});
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            const float v = out.data_as<float>()[m * N + n];
            EXPECT_EQ(std::isnan(v), n == 5 || m == M - 1) << "out[" << m << ", " << n << "] = " << v;
          }
      }
}

// ---- degenerate sizes -------------------------------------------------------------------------------
TEST(ScaledMmCpu, EmptyDimensions) {
  std::mt19937 gen(14);
  const Tensor s = testref::random_scales({1}, gen);
  for (auto [M, N] : {std::pair<int64_t, int64_t>{0, 8}, {3, 0}}) {
    const Operands o = make_operands(M, N, 32, DType::kFloat8E4M3FN, gen);
    Tensor out = scaled_mm(o.a, o.b, s, s, DType::kBFloat16);
    EXPECT_EQ(out.sizes(), (Dims{M, N}));
  }
  // K == 0: the product is empty, out = bias.
  Tensor a = Tensor::empty({3, 0}, DType::kFloat8E4M3FN), w = Tensor::empty({5, 0}, DType::kFloat8E4M3FN);
  const Tensor bias = testref::random_bias(5, DType::kFloat16, gen);
  for (ScaledMmBackend backend : {ScaledMmBackend::kCpu, ScaledMmBackend::kUnfused}) {
    Tensor out = scaled_mm(a, w.t(), s, s, DType::kFloat16, TensorView(bias), {backend});
    for (int64_t m = 0; m < 3; ++m)
      for (int64_t n = 0; n < 5; ++n) EXPECT_EQ(testref::at2(out, m, n), testref::at1(bias, n));
  }
}

// ---- entries ------------------------------------------------------------------------------------------
TEST(ScaledMmCpu, AllocatingEntriesMatchOutEntry) {
  std::mt19937 gen(15);
  for (int64_t M : {2, 40}) {
    const Operands o = make_operands(M, 48, 64, DType::kFloat8E4M3FN, gen);
    const Tensor sa = testref::random_scales({M, 1}, gen), sb = testref::random_scales({48, 1}, gen);
    const Tensor bias = testref::random_bias(48, DType::kBFloat16, gen);
    Tensor out = Tensor::empty({M, 48}, DType::kBFloat16);
    scaled_mm(out, o.a, o.b, sa, sb, TensorView(bias));
    const Tensor r1 = scaled_mm(o.a, o.b, sa, sb, DType::kBFloat16, TensorView(bias));
    const Tensor r2 = cutlass_scaled_mm(o.a, o.b, sa, sb, DType::kBFloat16, TensorView(bias));
    ASSERT_EQ(r1.sizes(), (Dims{M, 48}));
    ASSERT_EQ(r1.dtype(), DType::kBFloat16);
    ASSERT_EQ(r2.sizes(), (Dims{M, 48}));
    EXPECT_EQ(std::memcmp(out.data(), r1.data(), size_t(M * 48 * 2)), 0);
    EXPECT_EQ(std::memcmp(out.data(), r2.data(), size_t(M * 48 * 2)), 0);
  }
}

TEST(ScaledMmCpu, OneDimensionalScaleB) {
  // vLLM's kernels take scale_b with numel == N; [N] contiguous is the same memory as [N, 1], which the
  // reference reads.
  std::mt19937 gen(18);
  for (int64_t M : {1, 17, 129}) {
    const Operands o = make_operands(M, 200, 272, DType::kFloat8E4M3FN, gen);
    for (bool per_token : {false, true}) {
      const Tensor sa = testref::random_scales(per_token ? Dims{M, 1} : Dims{1}, gen);
      const Tensor sb = testref::random_scales({200, 1}, gen);
      const TensorView sb_1d = sb.view({200});
      const std::vector<double> ref = testref::scaled_mm(o.a, o.b, sa, sb, std::nullopt, false);
      for (ScaledMmBackend backend : {ScaledMmBackend::kCpu, ScaledMmBackend::kUnfused, ScaledMmBackend::kAuto})
        for (DType dt : kOutDtypes) run_and_check(o.a, o.b, sa, sb_1d, ref, dt, true, backend, gen);
      const Tensor r1 = cutlass_scaled_mm(o.a, o.b, sa, sb_1d, DType::kFloat32);
      const Tensor r2 = cutlass_scaled_mm(o.a, o.b, sa, sb, DType::kFloat32);
      EXPECT_EQ(std::memcmp(r1.data(), r2.data(), size_t(M * 200 * 4)), 0);
    }
  }
  // Still rejected: a [N] scale of the wrong length, and a strided [N] one.
  const Operands o = make_operands(4, 48, 64, DType::kFloat8E4M3FN, gen);
  const Tensor sa = testref::random_scales({1}, gen), wide = testref::random_scales({96}, gen);
  EXPECT_W8A8_ERROR(scaled_mm(o.a, o.b, sa, wide.narrow(0, 0, 47), DType::kFloat32), ErrorKind::kValue, "scale_b",
                    "[N]");
  const TensorView strided(wide.data(), DType::kFloat32, {48}, {2});
  EXPECT_W8A8_ERROR(scaled_mm(o.a, o.b, sa, strided, DType::kFloat32), ErrorKind::kValue, "scale_b", "contiguous");
}

TEST(ScaledMmCpu, CutlassScaledMmTakesLeadingDimensions) {
  // vLLM's cutlass_scaled_mm views a [..., K] as [-1, K] and returns [..., N]; per-token scale_a has one
  // row per flattened token.
  std::mt19937 gen(19);
  const Operands o = make_operands(12, 40, 64, DType::kFloat8E4M3FN, gen);
  const Tensor sa = testref::random_scales({12, 1}, gen), sb = testref::random_scales({40}, gen);
  const Tensor bias = testref::random_bias(40, DType::kBFloat16, gen);
  const Tensor flat = cutlass_scaled_mm(o.a, o.b, sa, sb, DType::kBFloat16, TensorView(bias));
  Tensor a3 = Tensor::empty({2, 6, 64}, DType::kFloat8E4M3FN);  // contiguous copy of the same rows
  copy_cpu(a3.view({12, 64}), o.a);
  const Tensor out3 = cutlass_scaled_mm(a3, o.b, sa, sb, DType::kBFloat16, TensorView(bias));
  ASSERT_EQ(out3.sizes(), (Dims{2, 6, 40}));
  EXPECT_EQ(std::memcmp(out3.data(), flat.data(), size_t(12 * 40 * 2)), 0);
  const Tensor out4 = cutlass_scaled_mm(a3.view({2, 3, 2, 64}), o.b, sa, sb, DType::kBFloat16, TensorView(bias));
  ASSERT_EQ(out4.sizes(), (Dims{2, 3, 2, 40}));
  EXPECT_EQ(std::memcmp(out4.data(), flat.data(), size_t(12 * 40 * 2)), 0);
  // A 1-D a is one token: [K] -> [N], the [1, K] problem's result.
  const Tensor row0 = a3.view({12, 64}).narrow(0, 0, 1);
  const Tensor one = cutlass_scaled_mm(row0.view({64}), o.b, sa.narrow(0, 0, 1), sb, DType::kBFloat16,
                                       TensorView(bias));
  const Tensor one_2d = cutlass_scaled_mm(row0, o.b, sa.narrow(0, 0, 1), sb, DType::kBFloat16, TensorView(bias));
  ASSERT_EQ(one.sizes(), (Dims{40}));
  EXPECT_EQ(std::memcmp(one.data(), one_2d.data(), size_t(40 * 2)), 0);
  // Leading dimensions that cannot be merged, and a scale_a counting the wrong rows.
  const TensorView gappy(o.a_storage.data(), DType::kFloat8E4M3FN, {2, 3, 64}, {4 * 64, 64, 1});  // a gap row
  EXPECT_W8A8_ERROR(cutlass_scaled_mm(gappy, o.b, sa, sb, DType::kBFloat16), ErrorKind::kValue, "a", "[-1, 64]");
  EXPECT_W8A8_ERROR(cutlass_scaled_mm(a3, o.b, testref::random_scales({6, 1}, gen), sb, DType::kBFloat16),
                    ErrorKind::kValue, "scale_a");
}

TEST(ScaledMmCpu, FastAccumulationRunsOnCpu) {
  std::mt19937 gen(16);
  const Operands o = make_operands(3, 40, 64, DType::kFloat8E4M3FN, gen);
  const Tensor s = testref::random_scales({1}, gen);
  const std::vector<double> ref = testref::scaled_mm(o.a, o.b, s, s, std::nullopt, false);
  Tensor out = Tensor::empty({3, 40}, DType::kFloat32);
  ScaledMmOptions options;
  options.accumulation = Accumulation::kFast;
  scaled_mm(out, o.a, o.b, s, s, std::nullopt, options);
  EXPECT_TRUE(matches_reference(out, ref, 1e-5));
}

// ---- backend choice -----------------------------------------------------------------------------------
TEST(ScaledMmDispatch, ChoosesCpuAndExplains) {
  std::mt19937 gen(17);
  const Operands o = make_operands(4, 32, 64, DType::kFloat8E4M3FN, gen);
  const Tensor s = testref::random_scales({1}, gen);
  Tensor out = Tensor::empty({4, 32}, DType::kBFloat16);
  const BackendChoice c = choose_scaled_mm_backend(out, o.a, o.b, s, s);
  EXPECT_EQ(c.backend, ScaledMmBackend::kCpu);
  EXPECT_NE(c.reason.find("cpu"), std::string::npos) << c.reason;
  EXPECT_NE(c.reason.find("M=4 N=32 K=64"), std::string::npos) << c.reason;
  EXPECT_EQ(c.kernel, "");  // the CPU backend has no named kernels
  const BackendChoice u = choose_scaled_mm_backend(out, o.a, o.b, s, s, std::nullopt, {ScaledMmBackend::kUnfused});
  EXPECT_EQ(u.backend, ScaledMmBackend::kUnfused);
  for (ScaledMmBackend gpu : {ScaledMmBackend::kCutlass, ScaledMmBackend::kCublasLt}) {
    try {
      choose_scaled_mm_backend(out, o.a, o.b, s, s, std::nullopt, {gpu});
      ADD_FAILURE() << backend_name(gpu) << " accepted CPU tensors";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
      EXPECT_NE(std::string(e.what()).find(backend_name(gpu)), std::string::npos) << e.what();
    }
    EXPECT_THROW(scaled_mm(out, o.a, o.b, s, s, std::nullopt, {gpu}), Error);
  }
  // Blockwise: auto still picks the CPU backend.
  const Operands ob = make_operands(4, 32, 256, DType::kFloat8E4M3FN, gen);
  const Tensor sa = testref::random_scales({4, 2}, gen), sb = testref::random_scales({2, 1}, gen);
  EXPECT_EQ(choose_scaled_mm_backend(out, ob.a, ob.b, sa, sb).backend, ScaledMmBackend::kCpu);
}

TEST(ScaledMmDispatch, LogDispatchEnvPrintsChoice) {
  std::mt19937 gen(18);
  const Operands o = make_operands(2, 16, 32, DType::kFloat8E4M3FN, gen);
  const Tensor s = testref::random_scales({1}, gen);
  ::setenv("W8A8_LOG_DISPATCH", "1", 1);
  ::testing::internal::CaptureStderr();
  scaled_mm(o.a, o.b, s, s, DType::kFloat32);
  const std::string log = ::testing::internal::GetCapturedStderr();
  ::unsetenv("W8A8_LOG_DISPATCH");
  EXPECT_NE(log.find("scaled_mm"), std::string::npos) << log;
  EXPECT_NE(log.find("-> cpu"), std::string::npos) << log;
  ::testing::internal::CaptureStderr();
  scaled_mm(o.a, o.b, s, s, DType::kFloat32);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST(ScaledMmNames, RoundTrip) {
  for (ScaledMmBackend b : {ScaledMmBackend::kAuto, ScaledMmBackend::kCpu, ScaledMmBackend::kCutlass,
                            ScaledMmBackend::kCublasLt, ScaledMmBackend::kUnfused})
    EXPECT_EQ(backend_from_name(backend_name(b)), b);
  EXPECT_STREQ(backend_name(ScaledMmBackend::kCublasLt), "cublaslt");
  EXPECT_EQ(backend_from_name("CPU"), ScaledMmBackend::kCpu);
  try {
    backend_from_name("tpu");
    ADD_FAILURE() << "accepted 'tpu'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kValue);
    EXPECT_NE(std::string(e.what()).find("backend"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("tpu"), std::string::npos);
  }
  EXPECT_STREQ(accumulation_name(Accumulation::kDefault), "default");
  EXPECT_STREQ(accumulation_name(Accumulation::kPromoted), "promoted");
  EXPECT_STREQ(accumulation_name(Accumulation::kFast), "fast");
  EXPECT_STREQ(scale_kind_name(ScaleKind::kPerTensor), "per_tensor");
  EXPECT_STREQ(scale_kind_name(ScaleKind::kPerToken), "per_token");
  EXPECT_STREQ(scale_kind_name(ScaleKind::kPerChannel), "per_channel");
  EXPECT_STREQ(scale_kind_name(ScaleKind::kBlock), "block");
}

// ---- the kernels of every instruction set this CPU runs ------------------------------------------------
std::vector<const smm::cpu::Kernels*> all_kernels() {
  const smm::cpu::Kernels* k[3];
  const int n = smm::cpu::available_kernels(k, 3);
  return {k, k + n};
}

TEST(ScaledMmCpuKernels, DequantRowIsExactForEveryCode) {
  for (const smm::cpu::Kernels* kern : all_kernels())
    for (DType fp8 : {DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ}) {
      SCOPED_TRACE(std::string(kern->isa) + " " + dtype_name(fp8));
      const float* table = fp8_decode_table(fp8);
      std::vector<uint8_t> codes(256 + 5);  // a tail past the vectors too
      for (size_t i = 0; i < codes.size(); ++i) codes[i] = uint8_t(i);
      for (float scale : {1.0f, 0.0123f, 300.0f, 3e5f}) {
        std::vector<float> out(codes.size());
        kern->dequant_row(codes.data(), int64_t(codes.size()), out.data(), &scale, 0, int64_t(codes.size()), 1.0f,
                          fp8 == DType::kFloat8E4M3FNUZ);
        for (size_t i = 0; i < codes.size(); ++i) {
          const float want = table[codes[i]] * scale;
          if (std::isnan(want)) {
            EXPECT_TRUE(std::isnan(out[i])) << "code " << int(codes[i]);
          } else {
            EXPECT_EQ(out[i], want) << "code " << int(codes[i]) << " scale " << scale;
          }
        }
      }
    }
}

// One-hot activations pick single weights out: y[m, n] = value(b[n, k_m]) exactly, for every code,
// in both the register (M <= 4) and the L1-tile (M > 4) kernels.
TEST(ScaledMmCpuKernels, DecodeRowsPicksEveryCodeExactly) {
  for (const smm::cpu::Kernels* kern : all_kernels())
    for (DType fp8 : {DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ})
      for (int M : {1, 3, 4, 7, 16}) {
        SCOPED_TRACE(std::string(kern->isa) + " " + dtype_name(fp8) + " M=" + std::to_string(M));
        const bool fnuz = fp8 == DType::kFloat8E4M3FNUZ;
        // Weight row n holds code (n + k) % 256 with NaN codes replaced by 0x01, except one NaN in
        // rows 10 (first k) and 200 (last k).
        const int64_t N = 256 + 3, K = 300;
        const float* table = fp8_decode_table(fp8);
        std::vector<uint8_t> w(size_t(N * K));
        for (int64_t n = 0; n < N; ++n)
          for (int64_t k = 0; k < K; ++k) {
            const uint8_t c = uint8_t((n + k) % 256);
            w[size_t(n * K + k)] = std::isnan(table[c]) ? 0x01 : c;
          }
        const uint8_t nan_code = fnuz ? 0x80 : 0xFF;
        w[size_t(10 * K)] = nan_code;
        w[size_t(200 * K + K - 1)] = nan_code;
        const int64_t ldx = (K + 15) / 16 * 16;
        std::vector<float> x(size_t(M * ldx), 0.0f);
        std::vector<int64_t> pick(static_cast<size_t>(M));
        for (int m = 0; m < M; ++m) {
          pick[size_t(m)] = (m * 37 + 5) % K;
          x[size_t(m * ldx + pick[size_t(m)])] = smm::cpu::kDecodeXFactor;  // value 1
        }
        const float one = 1.0f;
        smm::cpu::DecodeParams p;
        p.x = x.data();
        p.ldx = ldx;
        p.m = M;
        p.k = K;
        p.b = w.data();
        p.ldb = K;
        p.fnuz = fnuz;
        p.sb.base = &one;
        p.sb.seg = K;
        p.wfac = fnuz ? 0x1p59f : 0x1p60f;
        std::vector<float> y(size_t(M * N));
        kern->decode_rows(p, 0, N, y.data(), N);
        for (int64_t n = 0; n < N; ++n) {
          const bool row_nan = n == 10 || n == 200;
          for (int m = 0; m < M; ++m) {
            const float got = y[size_t(m * N + n)];
            if (row_nan) {
              EXPECT_TRUE(std::isnan(got)) << "row " << n;
            } else {
              EXPECT_EQ(got, table[w[size_t(n * K + pick[size_t(m)])]]) << "m " << m << " n " << n;
            }
          }
        }
      }
}

// Random problems through each kernel set against the float64 reference (blockwise and not).
TEST(ScaledMmCpuKernels, DecodeRowsMatchesReference) {
  std::mt19937 gen(19);
  for (const smm::cpu::Kernels* kern : all_kernels())
    for (bool blockwise : {false, true})
      for (int M : {1, 2, 3, 4, 5, 9, 16}) {
        SCOPED_TRACE(std::string(kern->isa) + (blockwise ? " blockwise" : "") + " M=" + std::to_string(M));
        const int64_t N = 133, K = blockwise ? 640 : 200;
        const Operands o = make_operands(M, N, K, DType::kFloat8E4M3FN, gen);
        const Tensor sa = testref::random_scales(blockwise ? Dims{M, K / 128} : Dims{M, 1}, gen);
        const Tensor sb = testref::random_scales(blockwise ? Dims{K / 128, 2} : Dims{1, N}, gen);
        const std::vector<double> ref = testref::scaled_mm(o.a, o.b, sa, sb, std::nullopt, blockwise);
        const int64_t ldx = (K + 15) / 16 * 16;
        std::vector<float> x(size_t(M * ldx), 0.0f);
        for (int m = 0; m < M; ++m)
          kern->dequant_row(o.a.data_as<uint8_t>() + m * K, K, x.data() + m * ldx, sa.data_as<float>() + m * sa.size(1),
                            1, blockwise ? 128 : K, smm::cpu::kDecodeXFactor, false);
        smm::cpu::DecodeParams p;
        p.x = x.data();
        p.ldx = ldx;
        p.m = M;
        p.k = K;
        p.b = static_cast<const uint8_t*>(o.b.data());
        p.ldb = o.b.stride(1);
        p.sb.base = sb.data_as<float>();
        p.sb.row_div = blockwise ? 128 : 1;
        p.sb.row_stride = 1;
        p.sb.kb_stride = blockwise ? 2 : 0;
        p.sb.seg = blockwise ? 128 : K;
        p.wfac = 0x1p60f;
        Tensor y = Tensor::empty({M, N}, DType::kFloat32);
        kern->decode_rows(p, 0, N, y.data_as<float>(), N);
        EXPECT_TRUE(matches_reference(y, ref, 1e-5));
      }
}

}  // namespace
}  // namespace w8a8
