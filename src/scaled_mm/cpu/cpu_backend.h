// The CPU backend: dequantize + OpenBLAS sgemm for large M, an FP8-reading decode kernel for small M.
#pragma once

#include "scaled_mm/backend.h"

namespace w8a8::smm::cpu {

const Backend& backend();

// acc[M, N] (fp32, rows contiguous) = A @ B with unit scales: the base GEMM of the unfused path.
void gemm_unit_scales(const TensorView& acc, const TensorView& a, const TensorView& b);

// Up to this M the backend reads the weight's FP8 bytes directly (no dequantized copy).
constexpr int64_t kDecodeMaxM = 16;

// Bytes of fp32 per dequantized panel of A or B in the large-M path (default 32 MiB). Tests shrink
// it to exercise the panel loops; 0 restores the default.
void set_panel_bytes(int64_t bytes);

}  // namespace w8a8::smm::cpu
