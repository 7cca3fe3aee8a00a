// The cutlass backend's measured choice (selection.h over the checked-in selection_table.inc), without a GPU:
// golden decisions at the tuned shapes, the nearest-shape rule between them, the per-device blocks and the
// reference-device fallback, and invariants every generated table must keep.
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

#include "scaled_mm/cutlass_sm90/selection.h"

namespace w8a8::smm::cutlass_sm90 {
namespace {

constexpr const char* kH100 = "NVIDIA H100 80GB HBM3";

std::string pick_name(const DeviceTable& t, bool fast, bool vec, int64_t m, int64_t n, int64_t k) {
  const Pick* p = nearest_pick(t, fast, vec, m, n, k);
  return p ? p->config : "none";
}

TEST(CutlassSelection, H100GoldenDecisionsAtTunedShapes) {
  const DeviceTable t = table_for_device(kH100);
  ASSERT_TRUE(t.measured_here);
  EXPECT_STREQ(t.device, kH100);
  // Decode: the weight-streaming kernel with the L2 prefetch measured best (23.8 us vs cuBLASLt 25.5).
  const Pick* decode = nearest_pick(t, false, false, 1, 8192, 8192);
  ASSERT_NE(decode, nullptr);
  EXPECT_STREQ(decode->config, "bf16_16x8x1024_c1x1_gemv_swap");
  EXPECT_EQ(decode->knobs.prefetch, 2048);
  EXPECT_TRUE(decode->knobs.pdl);
  EXPECT_EQ(decode->m, 1);
  // Per-tensor promoted M = 16: cuBLASLt was faster; rowwise M = 16: the swap-AB kernel.
  EXPECT_TRUE(nearest_pick(t, false, false, 16, 8192, 8192)->defers());
  EXPECT_EQ(pick_name(t, false, true, 16, 8192, 8192), "bf16_64x16x128_c1x1_pingpong_swap");
  // Rowwise promoted 16384^3: 128x192 cooperative with its measured tile order.
  const Pick* big = nearest_pick(t, false, true, 16384, 16384, 16384);
  EXPECT_STREQ(big->config, "bf16_128x192x128_c2x1_coop");
  EXPECT_EQ(big->knobs.swizzle, 4);
  EXPECT_EQ(big->knobs.raster, Raster::along_n);
  // Fast accumulation keeps its own rows.
  EXPECT_EQ(pick_name(t, true, false, 16384, 16384, 16384), "bf16_128x256x128_c2x1_coop_fast");
}

TEST(CutlassSelection, UntunedShapesTakeTheNearestMeasuredRow) {
  const DeviceTable t = table_for_device(kH100);
  // M = 2 and 3 are nearer M = 1 than M = 16 in log2; M = 0 counts as 1.
  for (int64_t m : {0, 2, 3})
    EXPECT_EQ(nearest_pick(t, false, false, m, 8192, 8192), nearest_pick(t, false, false, 1, 8192, 8192)) << m;
  // M = 12 is nearer 16.
  EXPECT_EQ(nearest_pick(t, false, false, 12, 8192, 8192), nearest_pick(t, false, false, 16, 8192, 8192));
  // Off-grid N and K (multiples of 16) find a row of the right accumulation and scale kind.
  const Pick* p = nearest_pick(t, true, true, 3, 8208, 7168);  // log2: M = 3 is 1.58 from 1, 2.42 from 16
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->fast);
  EXPECT_TRUE(p->vec);
  EXPECT_EQ(p->m, 1);
}

TEST(CutlassSelection, AnUntunedDeviceTakesTheReferenceDevicesRows) {
  const DeviceTable h100 = table_for_device(kH100);
  for (const char* other : {"NVIDIA H200", "NVIDIA H100 PCIe", ""}) {
    const DeviceTable t = table_for_device(other);
    EXPECT_FALSE(t.measured_here) << other;
    EXPECT_STREQ(t.device, all_picks_begin()->device) << other;
    EXPECT_EQ(t.begin, h100.begin) << other;
    EXPECT_EQ(t.end, h100.end) << other;
  }
}

TEST(CutlassSelection, EveryGeneratedTableKeepsItsInvariants) {
  std::set<std::string> devices_seen;
  const char* current = nullptr;
  for (const Pick* p = all_picks_begin(); p != all_picks_end(); ++p) {
    SCOPED_TRACE(std::string(p->device) + " " + p->config + " M=" + std::to_string(p->m) + " N=" +
                 std::to_string(p->n) + " K=" + std::to_string(p->k));
    // One contiguous block per device (table_for_device returns a range).
    if (current == nullptr || std::strcmp(current, p->device) != 0) {
      EXPECT_TRUE(devices_seen.insert(p->device).second) << "a device's rows are split into two blocks";
      current = p->device;
    }
    EXPECT_GT(p->m, 0);
    EXPECT_EQ(p->n % 16, 0);
    EXPECT_EQ(p->k % 16, 0);
    // The spec's promoted accuracy (3e-4, fp32 out) held only for promotion every 4 k-steps (one k-tile).
    EXPECT_EQ(p->knobs.promote, 4);
    EXPECT_TRUE(p->knobs.pdl);
    EXPECT_TRUE(p->knobs.swizzle == 1 || p->knobs.swizzle == 2 || p->knobs.swizzle == 4 || p->knobs.swizzle == 8);
    EXPECT_EQ(p->knobs.splits, 1);
    const bool gemv = std::strstr(p->config, "_gemv") != nullptr;
    EXPECT_TRUE(p->knobs.prefetch == 0 || gemv) << "prefetch is a gemv knob";
    // The row's accumulation matches its configuration's.
    if (!p->defers()) {
      EXPECT_EQ(std::strstr(p->config, "_fast") != nullptr, p->fast);
    }
    // The tuned shapes a table must cover: decode at M = 1 for every accumulation and scale kind.
    const DeviceTable t = table_for_device(p->device);
    EXPECT_TRUE(t.measured_here);
    EXPECT_EQ(nearest_pick(t, p->fast, p->vec, 1, p->n, p->k)->m, 1);
  }
  EXPECT_GE(devices_seen.size(), 1u);
}

}  // namespace
}  // namespace w8a8::smm::cutlass_sm90
