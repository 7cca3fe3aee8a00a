// w8a8 tune on the device: a small grid measured into a cache that the selection reads back as this device's
// table, one row per (shape, accumulation, scale kind), each naming cuBLASLt or a configuration of this build.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>

#include "gpu_test_util.h"
#include "scaled_mm/cutlass_sm90/selection.h"
#include "w8a8/error.h"
#include "w8a8/platform.h"
#include "w8a8/scaled_mm.h"
#include "w8a8/tune.h"

namespace {

using namespace w8a8;

TEST(GpuTune, WritesACacheTheSelectionReadsBack) {
  W8A8_REQUIRE_GPU();
  const std::vector<std::string> kernels = scaled_mm_kernels(ScaledMmBackend::kCutlass);
  if (kernels.empty() || current_platform().capability != 90) {
    EXPECT_THROW(tune_scaled_mm(TuneOptions{}), Error);
    GTEST_SKIP() << "no w8a8 kernels for this device in this build";
  }
  TuneOptions o;
  o.shapes = {{1, 4096, 4096}, {256, 4096, 4096}};
  o.reps = 3;
  o.cache_path = ::testing::TempDir() + "w8a8_gpu_tune_cache.json";
  o.measurements_path = ::testing::TempDir() + "w8a8_gpu_tune_measurements.json";
  const TuneResult r = tune_scaled_mm(o);
  EXPECT_EQ(r.cache_path, o.cache_path);
  ASSERT_EQ(r.chosen.size(), 2u * 2u * 2u);  // shapes x accumulations x scale kinds
  const std::set<std::string> built(kernels.begin(), kernels.end());
  for (const TuneRow& row : r.chosen) {
    SCOPED_TRACE(row.kernel + " M=" + std::to_string(row.m));
    EXPECT_GT(row.us, 0.0);
    const std::string name = row.kernel.substr(0, row.kernel.find(':'));
    EXPECT_TRUE(name == "cublaslt" || built.count(name)) << name;
    if (name != "cublaslt") {
      EXPECT_EQ(name.find("_fast") != std::string::npos, row.fast);
      EXPECT_LT(row.us * 1.01, row.alt_us);  // chosen only when >= 1 % faster than cuBLASLt
    }
  }
  EXPECT_GT(r.measured.size(), r.chosen.size());
  const auto table = smm::cutlass_sm90::load_tune_cache(o.cache_path, r.device, kernels);
  ASSERT_TRUE(table.measured_here) << table.note;
  EXPECT_EQ(table.end - table.begin, 8);
  std::remove(o.cache_path.c_str());
  std::remove(o.measurements_path.c_str());
  TuneOptions bad;
  bad.shapes = {{1, 100, 4096}};
  EXPECT_THROW(tune_scaled_mm(bad), Error);
}

}  // namespace
