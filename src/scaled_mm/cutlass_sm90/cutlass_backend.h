// w8a8's Hopper kernels as a scaled_mm backend (-DW8A8_CUTLASS=ON builds): first in the registry, it runs a
// problem where the measured selection table (selection.h) has one of its configurations faster and defers
// to cuBLASLt elsewhere; ScaledMmOptions::backend = kCutlass (and ::kernel) select it explicitly.
#pragma once

#include "scaled_mm/backend.h"

namespace w8a8::smm::cutlass_sm90 {

const Backend& backend();

}  // namespace w8a8::smm::cutlass_sm90
