#include "scaled_mm/cutlass_sm90/selection.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace w8a8::smm::cutlass_sm90 {
namespace {

#define W8A8_SM90_PICK(device, fast, vec, m, n, k, config, swizzle, raster, splits, promote, pdl, prefetch) \
  Pick{device, fast, vec, m, n, k, config, Knobs{swizzle, Raster::raster, splits, promote, pdl, prefetch}},
const Pick kPicks[] = {
#include "scaled_mm/cutlass_sm90/selection_table.inc"
};
#undef W8A8_SM90_PICK
constexpr const Pick* kEnd = kPicks + sizeof(kPicks) / sizeof(kPicks[0]);

double log_distance(int64_t a, int64_t b) { return std::fabs(std::log2(double(a) / double(b))); }

// Rows of one device are consecutive (the generator writes a block per device).
DeviceTable block_of(const char* device, bool measured_here) {
  DeviceTable t;
  t.device = device;
  t.measured_here = measured_here;
  t.begin = std::find_if(kPicks, kEnd, [&](const Pick& p) { return std::strcmp(p.device, device) == 0; });
  t.end = std::find_if(t.begin, kEnd, [&](const Pick& p) { return std::strcmp(p.device, device) != 0; });
  return t;
}

}  // namespace

bool Pick::defers() const { return std::strcmp(config, "cublaslt") == 0; }

DeviceTable table_for_device(const std::string& device_name) {
  for (const Pick& p : kPicks)
    if (device_name == p.device) return block_of(p.device, true);
  return block_of(kPicks[0].device, false);
}

const Pick* nearest_pick(const DeviceTable& table, bool fast, bool vec, int64_t m, int64_t n, int64_t k) {
  const bool have_vec = std::any_of(table.begin, table.end, [&](const Pick& r) { return r.fast == fast && r.vec == vec; });
  const Pick* pick = nullptr;
  double best_distance = 1e300;
  for (const Pick* r = table.begin; r != table.end; ++r) {
    if (r->fast != fast || (have_vec && r->vec != vec)) continue;
    const double d = log_distance(std::max<int64_t>(m, 1), r->m) + log_distance(n, r->n) + log_distance(k, r->k);
    if (d < best_distance) best_distance = d, pick = r;
  }
  return pick;
}

const Pick* all_picks_begin() { return kPicks; }
const Pick* all_picks_end() { return kEnd; }

}  // namespace w8a8::smm::cutlass_sm90
