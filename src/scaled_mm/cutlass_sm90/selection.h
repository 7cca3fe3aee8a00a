// The measured choice of Hopper kernel configuration: selection_table.inc's rows (one block per device that
// `w8a8-bench --tune` ran on), or a tuning cache that `w8a8 tune` wrote on the user's machine, and the
// nearest-shape lookup over them. Host-only and CUTLASS-free, so the CPU tests check the decisions against the
// checked-in table (golden tests) and the cache rules without a GPU.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scaled_mm/cutlass_sm90/knobs.h"

namespace w8a8::smm::cutlass_sm90 {

// One table row, measured on `device` at (m, n, k) with this accumulation (fast or promoted) and scales (vec: a
// per-token or per-channel vector among them): run `config` with the knobs. Config "cublaslt" means cuBLASLt
// measured faster there (the cutlass backend defers to it). us: the chosen one's time; alt_us: the best other's
// (cuBLASLt when a configuration is chosen, the best configuration when cuBLASLt is); 0 where not measured.
struct Pick {
  const char* device;
  bool fast, vec;
  int m, n, k;
  const char* config;
  Knobs knobs;
  double us = 0, alt_us = 0;
  bool defers() const;  // config == "cublaslt"
};

// The rows a device uses: a tuning cache made on it, else its block of the checked-in table, else the block of
// the table's first device (the reference card, an H100: the same SMs and clocks as its siblings, so its picks
// are the best guess until that device is tuned); `measured_here` tells whether the rows are the device's own.
struct DeviceTable {
  const char* device = nullptr;  // the device the rows were measured on
  const Pick* begin = nullptr;
  const Pick* end = nullptr;
  bool measured_here = false;
  std::string source = "selection table";  // or "tuning cache PATH"
  std::string note;  // why a tuning cache was not used ("" when none was found or it was used)
  std::shared_ptr<const void> storage;  // keeps a cache's rows alive
};
// The checked-in table's rows for this device.
DeviceTable table_for_device(const std::string& device_name);
// With the user's tuning cache (W8A8_TUNE_CACHE, else default_tune_cache_path()) first: used when it was made on
// this device for this build's configurations (`build_kernels`), else refused with a note and the table used.
DeviceTable table_for_device(const std::string& device_name, const std::vector<std::string>& build_kernels);

// The nearest measured row, |log2 M/m| + |log2 N/n| + |log2 K/k|, among the rows of this accumulation and
// scale kind (of any scale kind when the table has none of this one); nullptr when the table has no row of this
// accumulation. M = 0 counts as 1.
const Pick* nearest_pick(const DeviceTable& table, bool fast, bool vec, int64_t m, int64_t n, int64_t k);

// Every row of every device of the checked-in table, for tests and `w8a8 info`.
const Pick* all_picks_begin();
const Pick* all_picks_end();

// "name" or "name:swizzle=4,raster=m,splits=2,promote=8,pdl=0,prefetch=2048": the name and the knobs; false with
// `error` set when an item is not a knob or a value is out of its range (the configuration is not checked here).
bool parse_kernel_spec(const std::string& spec, std::string& name, Knobs& knobs, std::string& error);
// The knobs that differ from the defaults, in parse_kernel_spec's syntax ("" for none).
std::string knobs_str(const Knobs& knobs);

// ---- the tuning cache (`w8a8 tune` writes it; the cutlass backend reads it at its first use of a device) ----
// JSON: {"w8a8_tune_cache": 1, "device": NAME, "kernels": [configuration names of the build],
//        "rows": [{"fast", "vec", "M", "N", "K", "kernel": "cublaslt" | "name[:knobs]", "us", "alt_us"}]}
std::string default_tune_cache_path();  // $W8A8_TUNE_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/w8a8/tune.json
// One row of a cache: "cublaslt" or "configuration[:knobs]" for (fast, vec, m, n, k) with its and the best other
// candidate's measured time.
struct CacheRow {
  bool fast, vec;
  int64_t m, n, k;
  std::string kernel;
  double us, alt_us;
};
// Writes the cache (creating its folder); throws w8a8::Error naming the path when it cannot.
void write_tune_cache(const std::string& path, const std::string& device_name,
                      const std::vector<std::string>& build_kernels, const std::vector<CacheRow>& rows);
// The cache at `path` as this device's table; measured_here false and `note` set when it cannot be used (missing,
// corrupt, another device, another build's configuration list, a row naming no configuration of the build).
DeviceTable load_tune_cache(const std::string& path, const std::string& device_name,
                            const std::vector<std::string>& build_kernels);

}  // namespace w8a8::smm::cutlass_sm90
