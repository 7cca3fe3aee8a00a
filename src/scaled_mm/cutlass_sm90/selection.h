// The measured choice of Hopper kernel configuration: selection_table.inc's rows, one block per device that
// `w8a8-bench --tune` ran on, and the nearest-shape lookup over them. Host-only and CUTLASS-free, so the CPU
// tests check the decisions against the checked-in table (golden tests) without a GPU.
#pragma once

#include <cstdint>
#include <string>

#include "scaled_mm/cutlass_sm90/knobs.h"

namespace w8a8::smm::cutlass_sm90 {

// One table row, measured on `device` at (m, n, k) with this accumulation (fast or promoted) and scales (vec: a
// per-token or per-channel vector among them): run `config` with the knobs. Config "cublaslt" means cuBLASLt
// measured faster there (the cutlass backend defers to it).
struct Pick {
  const char* device;
  bool fast, vec;
  int m, n, k;
  const char* config;
  Knobs knobs;
  bool defers() const;  // config == "cublaslt"
};

// The rows measured on the device of this name (cudaDeviceProp::name). A device the table has no rows for
// takes the rows of the table's first device (the reference card, an H100: the same SMs and clocks as its
// siblings, so its picks are the best guess until that device is tuned); `measured_here` tells which.
struct DeviceTable {
  const char* device = nullptr;  // the device the rows were measured on
  const Pick* begin = nullptr;
  const Pick* end = nullptr;
  bool measured_here = false;
};
DeviceTable table_for_device(const std::string& device_name);

// The nearest measured row, |log2 M/m| + |log2 N/n| + |log2 K/k|, among the rows of this accumulation and
// scale kind (of any scale kind when the table has none of this one); nullptr when the table has no row of this
// accumulation. M = 0 counts as 1.
const Pick* nearest_pick(const DeviceTable& table, bool fast, bool vec, int64_t m, int64_t n, int64_t k);

// Every row of every device, for tests and `w8a8 info`.
const Pick* all_picks_begin();
const Pick* all_picks_end();

}  // namespace w8a8::smm::cutlass_sm90
