// The linear ops' fused decode path: the bf16 / fp16 activation quantized inside the GEMM kernel (one launch), with
// scaled_fp8_quant's rule (Fp8LinearOp) or per_token_group_quant_fp8's (W8A8BlockFp8LinearOp, 1x128 groups), so the
// product uses exactly the codes and scales of the unfused path.
//
// Whether it runs is decided here, per call and without allocating: the process-wide policy
// (set_fused_activation_quant: auto follows what was measured, on / off force it), then the first registered backend
// whose fused_quant_refusal() is empty. The caller runs the unfused path (quantize, then scaled_mm) otherwise.
#pragma once

#include <string>

#include "scaled_mm/backend.h"

namespace w8a8::smm {

// Whether the call would run fused (tests, printing).
bool fused_quant_chosen(const FusedQuantArgs& args);
// Runs the call on the fused path and returns true, or launches nothing and returns false. args.out without data
// stands for a fresh contiguous output: it is allocated into *fresh_out, only when the call runs fused.
bool run_fused_quant_if_chosen(FusedQuantArgs args, Tensor* fresh_out = nullptr);
// What the decision is for this call, and why (printing, tests).
std::string fused_quant_decision(const FusedQuantArgs& args);

}  // namespace w8a8::smm
