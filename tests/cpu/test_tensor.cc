#include <gtest/gtest.h>

#include <string>

#include "w8a8/error.h"
#include "w8a8/tensor.h"

namespace w8a8 {
namespace {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(Tensor, EmptyIsContiguousAndOwned) {
  Tensor t = Tensor::empty({2, 3, 4}, DType::kBFloat16);
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.strides(), Dims({12, 4, 1}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.span_bytes(), 48u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  EXPECT_EQ(t.size(-1), 4);
}

TEST(Tensor, ViewFlattensLeadingDimsAndInfers) {
  Tensor t = Tensor::zeros({2, 3, 8}, DType::kFloat32);
  Tensor v = t.view({-1, 8});
  EXPECT_EQ(v.sizes(), Dims({6, 8}));
  EXPECT_EQ(v.data(), t.data());
  EXPECT_EQ(t.view({4, -1, 2}).sizes(), Dims({4, 6, 2}));
}

TEST(Tensor, ViewOfRowStridedTensorKeepsTheStride) {
  // [4, 10] buffer seen as [4, 8] (row stride 10), then as [2, 2, 8]: rows stay separate.
  float buf[40];
  TensorView base(buf, DType::kFloat32, {4, 10});
  TensorView rows = base.narrow(1, 0, 8);
  EXPECT_FALSE(rows.is_contiguous());
  TensorView v = rows.view({2, 2, 8});
  EXPECT_EQ(v.strides(), Dims({20, 10, 1}));
  EXPECT_EQ(v.view({-1, 8}).strides(), Dims({10, 1}));
  EXPECT_NE(error_of([&] { rows.view({32}); }).find("not compatible"), std::string::npos);
}

TEST(Tensor, TransposeNarrowAndReinterpret) {
  uint8_t w[6 * 4];
  TensorView weight(w, DType::kFloat8E4M3FN, {6, 4});
  TensorView b = weight.t();  // [K=4, N=6] column-major, as vLLM passes weights
  EXPECT_EQ(b.sizes(), Dims({4, 6}));
  EXPECT_EQ(b.stride(0), 1);
  EXPECT_EQ(b.stride(1), 4);
  TensorView n = weight.narrow(0, 2, 3);
  EXPECT_EQ(n.data(), static_cast<void*>(w + 8));
  EXPECT_EQ(weight.reinterpret(DType::kFloat8E4M3FNUZ).dtype(), DType::kFloat8E4M3FNUZ);
  EXPECT_NE(error_of([&] { weight.reinterpret(DType::kBFloat16); }).find("reinterpret"), std::string::npos);
  EXPECT_NE(error_of([&] { weight.narrow(0, 5, 2); }).find("out of bounds"), std::string::npos);
  EXPECT_NE(error_of([&] { weight.transpose(0, 2); }).find("out of range"), std::string::npos);
}

TEST(Tensor, CopyOfStridedView) {
  Tensor t = Tensor::empty({3, 4}, DType::kInt32);
  for (int i = 0; i < 12; ++i) t.data_as<int32_t>()[i] = i;
  Tensor c = Tensor::copy_of(t.t());
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.sizes(), Dims({4, 3}));
  for (int r = 0; r < 4; ++r)
    for (int k = 0; k < 3; ++k) EXPECT_EQ(c.data_as<int32_t>()[r * 3 + k], k * 4 + r);
}

TEST(Tensor, ViewsShareStorageBeyondTheOwner) {
  Tensor v;
  {
    Tensor t = Tensor::empty({8}, DType::kFloat32);
    t.data_as<float>()[7] = 42.0f;
    v = t.view({2, 4});
  }
  EXPECT_EQ(v.data_as<float>()[7], 42.0f);  // still alive through the view
}

TEST(Tensor, RejectsBadShapes) {
  EXPECT_NE(error_of([] { Tensor::empty({2, -3}, DType::kFloat32); }).find("non-negative"), std::string::npos);
  Tensor t = Tensor::empty({6}, DType::kFloat32);
  EXPECT_NE(error_of([&] { t.view({4, -1}); }).find("cannot infer"), std::string::npos);
  EXPECT_NE(error_of([&] { t.view({-1, -1}); }).find("only one"), std::string::npos);
  EXPECT_NE(error_of([&] { t.view({7}); }).find("invalid for a tensor"), std::string::npos);
#ifndef W8A8_WITH_CUDA
  EXPECT_THROW(Tensor::empty({1}, DType::kFloat32, Device::cuda()), Error);  // no CUDA allocator in this build
#endif
}

TEST(Errors, KindAndDtypeNames) {
  try {
    dtype_from_name("float7");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kType);
    EXPECT_NE(std::string(e.what()).find("'float7'"), std::string::npos);
  }
  EXPECT_EQ(dtype_from_name("F8_E4M3"), DType::kFloat8E4M3FN);
  EXPECT_EQ(dtype_from_name(dtype_name(DType::kBFloat16)), DType::kBFloat16);
}

}  // namespace
}  // namespace w8a8
