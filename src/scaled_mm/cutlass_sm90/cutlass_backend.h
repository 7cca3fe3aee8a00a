// w8a8's Hopper CUTLASS backend (WORK IN PROGRESS, issue 6): registered only in -DW8A8_CUTLASS=ON builds,
// and last in the preference order, so the automatic choice never takes it until it is verified and tuned;
// ScaledMmOptions::backend = kCutlass selects it explicitly (tests, benchmarks).
#pragma once

#include "scaled_mm/backend.h"

namespace w8a8::smm::cutlass_sm90 {

const Backend& backend();

}  // namespace w8a8::smm::cutlass_sm90
