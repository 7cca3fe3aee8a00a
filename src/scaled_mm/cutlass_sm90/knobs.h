// The run-time knobs of a Hopper kernel configuration (no new instantiation): what the selection table stores
// beside a configuration's name. Host-only, free of CUTLASS and of the build's configuration list.
#pragma once

namespace w8a8::smm::cutlass_sm90 {

enum class Raster { heuristic, along_m, along_n };

// Tile order, split-K, promotion interval, PDL and the gemv prefetch.
struct Knobs {
  int swizzle = 1;  // 1, 2, 4 or 8: tiles grouped for L2 reuse
  Raster raster = Raster::heuristic;
  int splits = 1;  // stream-K configurations: > 1 forces split-K with that many pieces
  // Promoted schedules: WGMMA k-steps (32 deep) between promotions to fp32, a multiple of 4 (one 128-deep
  // k-tile). Each promotion drains the WGMMA pipeline, so longer intervals run faster and round more.
  int promote = 4;
  // Programmatic dependent launch: the kernel's prologue overlaps the previous kernel's tail (it waits
  // for that kernel's results before reading memory).
  bool pdl = true;
  // gemv configurations: bytes of each of the CTA's weight rows prefetched into L2 before that wait (L2 is
  // coherent, so this is safe whatever the previous kernel writes); 0: none.
  int prefetch = 0;
};

}  // namespace w8a8::smm::cutlass_sm90
