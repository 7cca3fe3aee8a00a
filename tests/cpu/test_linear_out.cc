// Fp8LinearOp::apply(out, ...): the allocation-free variant, on the CPU, against the same float64
// reference as the allocating apply, and its argument checks.
#include <gtest/gtest.h>

#include "cpu/op_test_helpers.h"
#include "w8a8/linear.h"

namespace {

using namespace w8a8;
using namespace op_test;

TEST(LinearOut, MatchesReferenceForEveryActivationScheme) {
  for (int scheme = 0; scheme < 3; ++scheme)
    for (int64_t M : {1, 3, 17, 33}) {
      const int64_t K = 96, N = 40;
      const RefWeight w = make_weight(N, K, /*per_channel=*/scheme != 0, 100 + uint32_t(M));
      const Tensor x = randn({M, K}, DType::kBFloat16, 200 + uint32_t(M));
      const std::vector<float> xv = values(x);
      RefQuant xq;
      std::optional<Tensor> input_scale;
      if (scheme == 0) {
        const float s = amax(xv, 0, xv.size()) / kFp8Max;
        xq = ref_quant_static(xv, M, K, s);
        input_scale = scalar_tensor(s);
      } else if (scheme == 1) {
        xq = ref_quant_dynamic_per_tensor(xv, M, K);
      } else {
        xq = ref_quant_per_row(xv, M, K);
      }
      const Fp8LinearOp op(scheme == 0, scheme == 2 ? PER_TOKEN : PER_TENSOR, /*pad_output=*/true);
      Tensor y = Tensor::empty({M, N}, DType::kBFloat16);
      std::memset(y.data(), 0xFF, y.span_bytes());  // poison: every element must be written
      op.apply(y, x, w.w_nk.t(), weight_scale_tensor(w),
               input_scale ? std::optional<TensorView>(*input_scale) : std::nullopt);
      const std::vector<double> ref = ref_matmul(
          M, N, K, [&](int64_t m, int64_t k) { return xq.dq(m, k); },
          [&](int64_t n, int64_t k) { return w.q.dq(n, k); }, {});
      SCOPED_TRACE("scheme=" + std::to_string(scheme) + " M=" + std::to_string(M));
      expect_gemm_close(y, ref, DType::kBFloat16, gemm_tolerance(DType::kBFloat16));
    }
}

TEST(LinearOut, OutputShapeFollowsTheInput) {
  const int64_t K = 32, N = 16;
  const RefWeight w = make_weight(N, K, true, 7);
  const Fp8LinearOp op(false, PER_TOKEN);
  const Tensor x = randn({2, 3, K}, DType::kFloat32, 8);
  Tensor y = Tensor::empty({2, 3, N}, DType::kFloat32);
  op.apply(y, x, w.w_nk.t(), weight_scale_tensor(w));
  const Tensor y_ref = op.apply(x, w.w_nk.t(), weight_scale_tensor(w));
  ASSERT_EQ(y_ref.sizes(), y.sizes());
  EXPECT_LE(rel_error(y, [&] {
              std::vector<double> r;
              for (int64_t i = 0; i < y_ref.numel(); ++i) r.push_back(get(y_ref, i));
              return r;
            }()),
            1e-6);
  Tensor wrong = Tensor::empty({6, N + 1}, DType::kFloat32);
  try {
    op.apply(wrong, x, w.w_nk.t(), weight_scale_tensor(w));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out: expected shape [2, 3, 16]"), std::string::npos) << e.what();
  }
}

}  // namespace
