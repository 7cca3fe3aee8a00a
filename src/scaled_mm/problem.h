// The scaled GEMM problem: argument validation and classification.
//
// Every public scaled_mm entry validates its arguments here before touching memory, and the
// result (a ScaledMmProblem) is what backends answer capability questions about. Validation
// rejects only what no backend could run; what a particular backend cannot do (alignment, a
// device, a scale layout) is that backend's can_implement's business.
//
// Namespace note: src/scaled_mm/ uses w8a8::smm (w8a8::scaled_mm is the public function).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "w8a8/scaled_mm.h"
#include "w8a8/tensor.h"

namespace w8a8::smm {

struct ScaledMmProblem {
  int64_t m = 0, n = 0, k = 0;
  DType a_dtype = DType::kFloat8E4M3FN;  // e4m3fn or e4m3fnuz; b has the same dtype
  DType out_dtype = DType::kBFloat16;
  // scale_a: kPerTensor (one element), kPerToken ([M, 1]) or kBlock ([M, K/128]).
  // scale_b: kPerTensor (one element), kPerChannel ([1, N] / [N, 1]) or kBlock ([K/128, ceil(N/128)]).
  // Either both are kBlock or neither is.
  ScaleKind scale_a = ScaleKind::kPerTensor;
  ScaleKind scale_b = ScaleKind::kPerTensor;
  // Blockwise scales may be row-major or column-major (stride(0) == 1), e.g. per_token_group_quant's
  // column_major_scales, or weight_scale.t() of a [ceil(N/128), K/128] tensor.
  bool scale_a_column_major = false;
  bool scale_b_column_major = false;
  bool has_bias = false;
  Device device;
  Accumulation accumulation = Accumulation::kDefault;
  // Strides in elements, for backends with alignment rules (A and out rows, B columns).
  int64_t a_row_stride = 0;
  int64_t b_col_stride = 0;
  int64_t out_row_stride = 0;  // 0 until the output is known
  // OR of the addresses of a, b, out, vector scales and bias: backends with alignment rules (TMA wants
  // 16 bytes) test its low bits. The output's address counts once it is known.
  uint64_t address_bits = 0;
  // options.kernel: a named configuration of the chosen backend (tuning, tests); nullptr = its own choice.
  const char* kernel = nullptr;

  static constexpr int64_t kBlockSize = 128;
  bool blockwise() const { return scale_a == ScaleKind::kBlock; }
  int64_t k_blocks() const { return k / kBlockSize; }
  int64_t n_blocks() const { return (n + kBlockSize - 1) / kBlockSize; }
  // "M=1024 N=4096 K=4096 float8_e4m3fn scales per_token x per_channel -> bfloat16 +bias on cpu"
  std::string str() const;
};

// Validates operands, scales and bias for an output of out_dtype; throws w8a8::Error naming the
// argument (kType for dtypes and devices, kValue for shapes and strides).
ScaledMmProblem validate_scaled_mm_inputs(const TensorView& a, const TensorView& b, const TensorView& scale_a,
                                          const TensorView& scale_b, DType out_dtype,
                                          const std::optional<TensorView>& bias, const ScaledMmOptions& options);

// The same plus the output buffer: [M, N] of a supported dtype, rows contiguous, not overlapping.
ScaledMmProblem validate_scaled_mm(const TensorView& out, const TensorView& a, const TensorView& b,
                                   const TensorView& scale_a, const TensorView& scale_b,
                                   const std::optional<TensorView>& bias, const ScaledMmOptions& options);

}  // namespace w8a8::smm
