// One configuration of configs.h (one instantiation per translation unit keeps 2-core builds parallel).
#include "scaled_mm/cutlass_sm90/launcher.cuh"

W8A8_DEFINE_SM90_FP8(sm90_fp8_bf16_128x128x128_c2x1_pingpong_fastaccum, cutlass::bfloat16_t, 128, 128, 128, 2, 1,
                     cutlass::gemm::KernelTmaWarpSpecializedPingpongFP8FastAccum,
                     cutlass::epilogue::TmaWarpSpecialized)
