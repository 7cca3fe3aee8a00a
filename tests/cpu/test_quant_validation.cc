// Rejections of the allocation-free entries: every message names the argument, says what was
// expected and what was given.
#include <gtest/gtest.h>

#include "cpu/quant_test_util.h"
#include "w8a8/quant.h"

namespace w8a8::test {
namespace {

struct Args {
  Input in = make_input(4, 8, DType::kBFloat16, 61);
  Output out = make_output(4, 8, DType::kFloat8E4M3FN);
  Tensor one = Tensor::zeros({1}, DType::kFloat32);
  Tensor column = Tensor::zeros({4, 1}, DType::kFloat32);
};

TEST(QuantValidation, Input) {
  Args a;
  Tensor i8 = Tensor::empty({4, 8}, DType::kInt8);
  EXPECT_W8A8_ERROR(static_scaled_fp8_quant(a.out.view, i8, a.one), ErrorKind::kType, "input",
                    "bfloat16, float16 or float32", "int8[4, 8]");
  Tensor fp8_in = Tensor::empty({4, 8}, DType::kFloat8E4M3FN);
  EXPECT_W8A8_ERROR(dynamic_scaled_fp8_quant(a.out.view, fp8_in, a.one), ErrorKind::kType, "input",
                    "float8_e4m3fn[4, 8]");
  Tensor r3 = Tensor::empty({1, 4, 8}, DType::kFloat32);
  EXPECT_W8A8_ERROR(dynamic_per_token_scaled_fp8_quant(a.out.view, r3, a.column), ErrorKind::kValue, "input",
                    "2-D", "3-D");
  Tensor wide = Tensor::empty({8, 8}, DType::kFloat32);
  const TensorView col_strided(wide.data(), DType::kFloat32, {4, 8}, {1, 8});  // column-major
  EXPECT_W8A8_ERROR(static_scaled_fp8_quant(a.out.view, col_strided, a.one), ErrorKind::kValue, "input",
                    "stride(1) == 1", "strides [1, 8]");
  const TensorView null_in(nullptr, DType::kFloat32, {4, 8});
  EXPECT_W8A8_ERROR(static_scaled_fp8_quant(a.out.view, null_in, a.one), ErrorKind::kValue, "input", "null");
}

TEST(QuantValidation, Output) {
  Args a;
  Tensor bf = Tensor::empty({4, 8}, DType::kBFloat16);
  EXPECT_W8A8_ERROR(static_scaled_fp8_quant(bf, a.in.view, a.one), ErrorKind::kType, "out",
                    "float8_e4m3fn or float8_e4m3fnuz", "bfloat16[4, 8]");
  Tensor e5 = Tensor::empty({4, 8}, DType::kFloat8E5M2);
  EXPECT_W8A8_ERROR(dynamic_scaled_fp8_quant(e5, a.in.view, a.one), ErrorKind::kType, "out", "float8_e5m2");
  const Output short_out = make_output(3, 8, DType::kFloat8E4M3FN);
  EXPECT_W8A8_ERROR(static_scaled_fp8_quant(short_out.view, a.in.view, a.one), ErrorKind::kValue, "out",
                    "[>= 4, 8]", "[3, 8]");
  const Output narrow = make_output(4, 7, DType::kFloat8E4M3FN);
  EXPECT_W8A8_ERROR(dynamic_per_token_scaled_fp8_quant(narrow.view, a.in.view, a.column), ErrorKind::kValue, "out",
                    "[4, 7]");
  Tensor buf = Tensor::empty({64}, DType::kFloat8E4M3FN);
  const TensorView overlapping(buf.data(), DType::kFloat8E4M3FN, {4, 8}, {4, 1});
  EXPECT_W8A8_ERROR(static_scaled_fp8_quant(overlapping, a.in.view, a.one), ErrorKind::kValue, "out",
                    "stride(0) >= 8");
  const TensorView transposed(buf.data(), DType::kFloat8E4M3FN, {4, 8}, {1, 4});
  EXPECT_W8A8_ERROR(static_scaled_fp8_quant(transposed, a.in.view, a.one), ErrorKind::kValue, "out",
                    "stride(1) == 1");
}

TEST(QuantValidation, Scales) {
  Args a;
  Tensor two = Tensor::empty({2}, DType::kFloat32);
  EXPECT_W8A8_ERROR(static_scaled_fp8_quant(a.out.view, a.in.view, two), ErrorKind::kValue,
                    "scale: expected one float32 element, got float32[2]");
  Tensor half = Tensor::empty({1}, DType::kFloat16);
  EXPECT_W8A8_ERROR(static_scaled_fp8_quant(a.out.view, a.in.view, half), ErrorKind::kType, "scale", "float16[1]");
  EXPECT_W8A8_ERROR(dynamic_scaled_fp8_quant(a.out.view, a.in.view, two), ErrorKind::kValue, "scale_out",
                    "one float32 element");
  // Per-token scales: [M_out, 1] float32.
  EXPECT_W8A8_ERROR(dynamic_per_token_scaled_fp8_quant(a.out.view, a.in.view, a.one), ErrorKind::kValue,
                    "scale_out", "[4, 1]", "float32[1]");
  Tensor col5 = Tensor::empty({5, 1}, DType::kFloat32);
  EXPECT_W8A8_ERROR(dynamic_per_token_scaled_fp8_quant(a.out.view, a.in.view, col5), ErrorKind::kValue,
                    "scale_out", "[4, 1]", "[5, 1]");
  Tensor col_bf = Tensor::empty({4, 1}, DType::kBFloat16);
  EXPECT_W8A8_ERROR(dynamic_per_token_scaled_fp8_quant(a.out.view, a.in.view, col_bf), ErrorKind::kType,
                    "scale_out", "bfloat16[4, 1]");
  const TensorView col_overlap(a.column.data(), DType::kFloat32, {4, 1}, {0, 1});
  EXPECT_W8A8_ERROR(dynamic_per_token_scaled_fp8_quant(a.out.view, a.in.view, col_overlap), ErrorKind::kValue,
                    "scale_out", "overlap");
  Tensor ub2 = Tensor::empty({2, 1}, DType::kFloat32);
  EXPECT_W8A8_ERROR(dynamic_per_token_scaled_fp8_quant(a.out.view, a.in.view, a.column, TensorView(ub2)),
                    ErrorKind::kValue,
                    "scale_ub: expected one float32 element, got float32[2, 1] strides [1, 1] on cpu");
  // With padded output rows, the scales must cover them.
  const Output padded = make_output(6, 8, DType::kFloat8E4M3FN);
  EXPECT_W8A8_ERROR(dynamic_per_token_scaled_fp8_quant(padded.view, a.in.view, a.column), ErrorKind::kValue,
                    "scale_out", "[6, 1]");
}

TEST(QuantValidation, Devices) {
  Args a;
  uint8_t dummy[256] = {};
  const TensorView out_gpu(dummy, DType::kFloat8E4M3FN, {4, 8}, Device::cuda(0));
  EXPECT_W8A8_ERROR(static_scaled_fp8_quant(out_gpu, a.in.view, a.one), ErrorKind::kType, "out", "cuda:0", "cpu");
  const TensorView in_gpu(dummy, DType::kBFloat16, {4, 8}, Device::cuda(0));
  const TensorView scale_gpu(dummy, DType::kFloat32, {1}, Device::cuda(0));
  const TensorView col_gpu(dummy, DType::kFloat32, {4, 1}, Device::cuda(0));
#ifndef W8A8_WITH_CUDA  // in a CUDA build these fake device pointers would reach the kernels
  EXPECT_W8A8_ERROR(static_scaled_fp8_quant(out_gpu, in_gpu, scale_gpu), ErrorKind::kUnsupported, "input",
                    "CUDA backend is not built");
  EXPECT_W8A8_ERROR(dynamic_scaled_fp8_quant(out_gpu, in_gpu, scale_gpu), ErrorKind::kUnsupported, "CUDA backend");
  EXPECT_W8A8_ERROR(dynamic_per_token_scaled_fp8_quant(out_gpu, in_gpu, col_gpu), ErrorKind::kUnsupported,
                    "CUDA backend");
#endif
  EXPECT_W8A8_ERROR(dynamic_per_token_scaled_fp8_quant(out_gpu, in_gpu, col_gpu, a.one), ErrorKind::kType,
                    "scale_ub", "cuda:0");
  const TensorView in_gpu1(dummy, DType::kBFloat16, {4, 8}, Device::cuda(1));
  EXPECT_W8A8_ERROR(static_scaled_fp8_quant(out_gpu, in_gpu1, scale_gpu), ErrorKind::kType, "out", "cuda:1");
#ifndef W8A8_WITH_CUDA
  const TensorView grp_scale_gpu(dummy, DType::kFloat32, {4, 1}, Device::cuda(0));
  EXPECT_W8A8_ERROR(per_token_group_quant_fp8_into(out_gpu, grp_scale_gpu, in_gpu, 8), ErrorKind::kUnsupported,
                    "CUDA backend");
  const TensorView block_scale_gpu(dummy, DType::kFloat32, {1, 1}, Device::cuda(0));
  EXPECT_W8A8_ERROR(per_block_quant_fp8_into(out_gpu, block_scale_gpu, in_gpu), ErrorKind::kUnsupported,
                    "CUDA backend");
#endif
}

TEST(QuantValidation, NothingWrittenOnError) {
  // Validation happens before any write: a rejected call leaves the output and scales as they were.
  Args a;
  std::memset(a.out.storage.data(), 0x11, size_t(a.out.storage.numel()));
  a.column.data_as<float>()[0] = 42.0f;
  Tensor ub2 = Tensor::empty({2}, DType::kFloat32);
  EXPECT_THROW(dynamic_per_token_scaled_fp8_quant(a.out.view, a.in.view, a.column, TensorView(ub2)), Error);
  EXPECT_EQ(a.out.code(0, 0), 0x11);
  EXPECT_EQ(a.column.data_as<float>()[0], 42.0f);
}

}  // namespace
}  // namespace w8a8::test
