// The weight utilities on CUDA tensors against the CPU's results, bit for bit: same dtype, shape, strides and
// bytes, on fresh random inputs (NaN codes and 0x80 included), contiguous and column-major weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gpu/gpu_test_util.h"
#include "w8a8/error.h"
#include "w8a8/formats.h"
#include "w8a8/weights.h"

namespace w8a8 {
namespace {

using gputest::to_gpu;

// The bytes a view covers (its span), on the host.
std::vector<uint8_t> span_on_host(const TensorView& t) {
  std::vector<uint8_t> v(t.span_bytes());
  if (v.empty()) return v;
  if (t.device().is_cpu()) {
    std::memcpy(v.data(), t.data(), v.size());
  } else {
    EXPECT_EQ(cudaMemcpy(v.data(), t.data(), v.size(), cudaMemcpyDeviceToHost), cudaSuccess);
  }
  return v;
}

// A device result against the CPU's: the same dtype, shape and strides (both dense, so the span is every
// element) and the same bytes.
::testing::AssertionResult same_result(const TensorView& gpu, const TensorView& cpu) {
  if (!gpu.device().is_cuda()) return ::testing::AssertionFailure() << "not on the GPU: " << gpu.describe();
  if (gpu.dtype() != cpu.dtype() || gpu.sizes() != cpu.sizes() || gpu.strides() != cpu.strides())
    return ::testing::AssertionFailure() << gpu.describe() << " vs " << cpu.describe();
  const std::vector<uint8_t> g = span_on_host(gpu), c = span_on_host(cpu);
  if (g.size() != c.size()) return ::testing::AssertionFailure() << "spans " << g.size() << " vs " << c.size();
  for (size_t i = 0; i < g.size(); ++i)
    if (g[i] != c[i])
      return ::testing::AssertionFailure() << "byte " << i << ": 0x" << std::hex << int(g[i]) << " vs 0x" << int(c[i])
                                           << " (" << cpu.describe() << ")";
  return ::testing::AssertionSuccess();
}

// A device copy of a CPU view with the same strides: the whole span travels, gaps included.
struct DeviceCopy {
  Tensor storage;
  TensorView view;
};
DeviceCopy device_copy(const TensorView& cpu) {
  DeviceCopy d;
  if (cpu.numel() == 0) {
    d.view = TensorView(nullptr, cpu.dtype(), cpu.sizes(), cpu.strides(), Device::cuda());
    return d;
  }
  const int64_t span = int64_t(cpu.span_bytes() / cpu.element_size());
  d.storage = to_gpu(TensorView(cpu.data(), cpu.dtype(), {span}));
  d.view = TensorView(d.storage.data(), cpu.dtype(), cpu.sizes(), cpu.strides(), Device::cuda());
  return d;
}

// Random FP8 codes: every byte value can occur (NaN codes and 0x80 included), and 0x80, 0x7F, 0xFF surely do.
Tensor random_codes(Dims sizes, DType dtype, std::mt19937& gen) {
  Tensor t = Tensor::empty(sizes, dtype);
  uint8_t* p = t.data_as<uint8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = uint8_t(gen());
  const uint8_t specials[] = {0x80, 0x7F, 0xFF, 0x00};
  for (int64_t i = 0; i < std::min<int64_t>(t.numel(), 4); ++i) p[(i * 7919) % t.numel()] = specials[i];
  return t;
}

// Random positive scales of a float dtype, never zero.
Tensor random_scales(Dims sizes, DType dtype, std::mt19937& gen) {
  Tensor t = Tensor::empty(sizes, dtype);
  std::uniform_real_distribution<float> d(1e-3f, 0.2f);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const float v = d(gen);
    if (dtype == DType::kFloat32) t.data_as<float>()[i] = v;
    if (dtype == DType::kFloat16) t.data_as<uint16_t>()[i] = float_to_fp16(v);
    if (dtype == DType::kBFloat16) t.data_as<uint16_t>()[i] = float_to_bf16(v);
  }
  return t;
}

// Random bf16 / fp16 / fp32 values over several binades, some NaN.
Tensor random_floats(Dims sizes, DType dtype, std::mt19937& gen) {
  Tensor t = Tensor::empty(sizes, dtype);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::uniform_int_distribution<int> e(-12, 12);
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v = std::ldexp(d(gen), e(gen));
    if (i % 97 == 13) v = std::numeric_limits<float>::quiet_NaN();
    if (i % 97 == 14) v = -std::numeric_limits<float>::quiet_NaN();
    if (dtype == DType::kFloat32) t.data_as<float>()[i] = v;
    if (dtype == DType::kFloat16) t.data_as<uint16_t>()[i] = float_to_fp16(v);
    if (dtype == DType::kBFloat16) t.data_as<uint16_t>()[i] = float_to_bf16(v);
  }
  return t;
}

const DType kScaleDtypes[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};

// ---- per_tensor_dequantize --------------------------------------------------------------------------------
TEST(GpuWeights, PerTensorDequantizeMatchesCpu) {
  W8A8_REQUIRE_GPU();
  std::mt19937 gen(101);
  const int64_t N = 67, K = 200;
  for (DType in : {DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ, DType::kBFloat16, DType::kFloat16, DType::kFloat32}) {
    const Tensor w = is_fp8(in) ? random_codes({N, K}, in, gen) : random_floats({N, K}, in, gen);
    // Layouts: contiguous [N, K], the transposed [K, N] view, and a row-padded slice (not dense).
    const TensorView layouts[] = {w, w.t(), w.narrow(1, 3, K - 10)};
    for (const TensorView& t : layouts) {
      SCOPED_TRACE(t.describe());
      const DeviceCopy tg = device_copy(t);
      // A Python float.
      ASSERT_TRUE(same_result(per_tensor_dequantize(tg.view, 0.037f), per_tensor_dequantize(t, 0.037f)));
      // Scales of every dtype and a broadcastable shape: one element (0-dim, [1], [1, 1]), per row of t
      // ([rows, 1]), per column ([1, cols] and [cols]).
      for (DType sd : kScaleDtypes)
        for (const Dims& shape : {Dims{}, Dims{1}, Dims{1, 1}, Dims{t.size(0), 1}, Dims{1, t.size(1)},
                                  Dims{t.size(1)}}) {
          SCOPED_TRACE(std::string(dtype_name(sd)) + shape.str());
          const Tensor s = random_scales(shape, sd, gen);
          const Tensor sg = to_gpu(s);
          const Tensor cpu = per_tensor_dequantize(t, s);
          ASSERT_TRUE(same_result(per_tensor_dequantize(tg.view, sg), cpu));
          // A 0-dim CPU scale with a GPU tensor (torch lets a CPU scalar meet a CUDA tensor).
          if (shape.size() == 0) {
            ASSERT_TRUE(same_result(per_tensor_dequantize(tg.view, s), cpu));
          }
        }
    }
  }
}

TEST(GpuWeights, PerTensorDequantizeRejectsMixedDevices) {
  W8A8_REQUIRE_GPU();
  std::mt19937 gen(102);
  const Tensor w = random_codes({4, 8}, DType::kFloat8E4M3FN, gen);
  const Tensor s = random_scales({4, 1}, DType::kFloat32, gen);
  try {
    per_tensor_dequantize(to_gpu(w), s);  // a CPU [4, 1] scale with a GPU tensor
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kType);
    EXPECT_NE(std::string(e.what()).find("inv_scale"), std::string::npos) << e.what();
  }
}

// ---- requantize_with_max_scale -------------------------------------------------------------------------------
TEST(GpuWeights, RequantizeWithMaxScaleMatchesCpu) {
  W8A8_REQUIRE_GPU();
  std::mt19937 gen(103);
  const std::vector<int64_t> widths = {96, 0, 160, 37};
  const int64_t N = 293, K = 4096 + 8;
  for (DType wd : {DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ})
    for (DType sd : kScaleDtypes)
      for (bool fused : {false, true}) {
        const Tensor w = random_codes({N, K}, wd, gen);
        Tensor s = random_scales({4}, sd, gen);
        if (fused) {  // only the first scale loaded: the rest keep float32's min
          const float unset = -std::numeric_limits<float>::max();
          for (int64_t i = 1; i < 4; ++i) {
            if (sd == DType::kFloat32) s.data_as<float>()[i] = unset;
            if (sd == DType::kFloat16) s.data_as<uint16_t>()[i] = float_to_fp16(unset);
            if (sd == DType::kBFloat16) s.data_as<uint16_t>()[i] = float_to_bf16(unset);
          }
        }
        // Contiguous, and column-major (the same [N, K] values stored as [K, N]).
        Tensor kn = Tensor::empty({K, N}, wd);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t k = 0; k < K; ++k) kn.data_as<uint8_t>()[k * N + n] = w.data_as<uint8_t>()[n * K + k];
        for (const TensorView& t : std::vector<TensorView>{w, kn.t()}) {
          SCOPED_TRACE(std::string(dtype_name(wd)) + " scales " + dtype_name(sd) + (fused ? " fused " : " unfused ") +
                       t.describe());
          const DeviceCopy tg = device_copy(t);
          const auto [m_cpu, q_cpu] = requantize_with_max_scale(t, s, widths);
          const auto [m_gpu, q_gpu] = requantize_with_max_scale(tg.view, to_gpu(s), widths);
          ASSERT_TRUE(same_result(m_gpu, m_cpu));
          ASSERT_TRUE(same_result(q_gpu, q_cpu));
          if (!fused) {  // the requantization really happened: some code changed
            const std::vector<uint8_t> before = span_on_host(t), after = span_on_host(q_cpu);
            EXPECT_NE(before, after);
          }
        }
      }
}

TEST(GpuWeights, RequantizeRejectsScalesOnAnotherDevice) {
  W8A8_REQUIRE_GPU();
  std::mt19937 gen(104);
  const Tensor w = random_codes({4, 8}, DType::kFloat8E4M3FN, gen);
  try {
    requantize_with_max_scale(to_gpu(w), random_scales({2}, DType::kFloat32, gen), {2, 2});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kType);
    EXPECT_NE(std::string(e.what()).find("weight_scale"), std::string::npos) << e.what();
  }
}

// ---- convert_to_channelwise --------------------------------------------------------------------------------
TEST(GpuWeights, ConvertToChannelwiseMatchesCpu) {
  W8A8_REQUIRE_GPU();
  std::mt19937 gen(105);
  const std::vector<int64_t> widths = {1000, 0, 3, 517};
  for (DType sd : kScaleDtypes) {
    const Tensor s1 = random_scales({4}, sd, gen), s2 = random_scales({4, 1}, sd, gen);
    const Tensor wide = random_scales({4, 3}, sd, gen);
    // [S], [S, 1], and a strided [S, 1] column of a wider tensor.
    for (const TensorView& s : std::vector<TensorView>{s1, s2, wide.narrow(1, 1, 1)}) {
      SCOPED_TRACE(s.describe());
      const DeviceCopy sg = device_copy(s);
      ASSERT_TRUE(same_result(convert_to_channelwise(sg.view, widths), convert_to_channelwise(s, widths)));
    }
  }
}

// ---- normalize_e4m3fn_to_e4m3fnuz ---------------------------------------------------------------------------
TEST(GpuWeights, NormalizeMatchesCpuAndKeepsLayout) {
  W8A8_REQUIRE_GPU();
  std::mt19937 gen(106);
  const int64_t N = 300, K = 1000;
  const Tensor w = random_codes({N, K}, DType::kFloat8E4M3FN, gen);
  const Tensor ws = random_scales({N, 1}, DType::kBFloat16, gen), ws1 = random_scales({1}, DType::kFloat32, gen);
  const Tensor is = random_scales({1}, DType::kFloat16, gen);
  // Contiguous [N, K], the column-major [K, N] view cutlass_scaled_mm takes as b, and every other column.
  const TensorView every_other(w.data(), DType::kFloat8E4M3FN, {N, K / 2}, {K, 2});
  for (const TensorView& t : std::vector<TensorView>{w, w.t(), every_other.t()}) {
    SCOPED_TRACE(t.describe());
    const DeviceCopy tg = device_copy(t);
    for (const Tensor& s : {ws, ws1}) {
      const auto [wq_cpu, s_cpu, i_cpu] = normalize_e4m3fn_to_e4m3fnuz(t, s, TensorView(is));
      const auto [wq_gpu, s_gpu, i_gpu] = normalize_e4m3fn_to_e4m3fnuz(tg.view, to_gpu(s), TensorView(to_gpu(is)));
      ASSERT_TRUE(same_result(wq_gpu, wq_cpu));
      ASSERT_TRUE(same_result(s_gpu, s_cpu));
      ASSERT_TRUE(i_gpu.has_value() && i_cpu.has_value());
      ASSERT_TRUE(same_result(*i_gpu, *i_cpu));
      if (t.stride(0) == 1) {
        EXPECT_EQ(wq_gpu.stride(0), 1) << "a column-major weight must stay column-major";
      }
    }
    // The CPU result itself: 0x80 gone, every other code kept.
    const auto [wq, unused_s, unused_i] = normalize_e4m3fn_to_e4m3fnuz(t, ws1);
    for (int64_t r = 0; r < t.size(0); ++r)
      for (int64_t c = 0; c < t.size(1); ++c) {
        const uint8_t in = t.data_as<uint8_t>()[r * t.stride(0) + c * t.stride(1)];
        ASSERT_EQ(wq.data_as<uint8_t>()[r * wq.stride(0) + c * wq.stride(1)], in == 0x80 ? 0x00 : in);
      }
  }
}

// ---- all_close_1d ------------------------------------------------------------------------------------------
TEST(GpuWeights, AllClose1dMatchesCpu) {
  W8A8_REQUIRE_GPU();
  std::mt19937 gen(107);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<std::vector<float>> cases = {
      {0.5f, 0.5f, 0.5f}, {1.0f, 1.0f + 5e-6f}, {1.0f, 1.0f + 5e-5f}, {0.0f, 5e-9f}, {0.0f, 1e-7f}, {nan}, {},
      {0.25f, 0.25f, 0.26f}};
  for (const auto& values : cases) {
    Tensor x = Tensor::empty({int64_t(values.size()) * 2}, DType::kFloat32);
    for (size_t i = 0; i < values.size(); ++i) {
      x.data_as<float>()[2 * i] = values[i];
      x.data_as<float>()[2 * i + 1] = float(gen());  // the gaps of the strided view
    }
    const TensorView strided(x.data(), DType::kFloat32, {int64_t(values.size())}, {2});
    const DeviceCopy xg = device_copy(strided);
    EXPECT_EQ(all_close_1d(xg.view), all_close_1d(strided)) << values.size();
  }
  for (DType sd : {DType::kFloat16, DType::kBFloat16}) {
    const Tensor s = random_scales({5}, sd, gen);
    EXPECT_EQ(all_close_1d(to_gpu(s)), all_close_1d(s));
  }
}

}  // namespace
}  // namespace w8a8
