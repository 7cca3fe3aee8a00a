#include "scaled_mm/cutlass_sm90/selection.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "w8a8/error.h"

namespace w8a8::smm::cutlass_sm90 {
namespace {

#define W8A8_SM90_PICK(device, fast, vec, m, n, k, config, swizzle, raster, splits, promote, pdl, prefetch, us, \
                       alt_us)                                                                                    \
  Pick{device, fast, vec, m, n, k, config, Knobs{swizzle, Raster::raster, splits, promote, pdl, prefetch}, us, alt_us},
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

bool parse_int(const std::string& s, int& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (*end != '\0' || v < INT32_MIN || v > INT32_MAX) return false;
  out = int(v);
  return true;
}

// A tuning cache's rows, owned (the checked-in table's are static).
struct CacheRows {
  std::string device;
  std::deque<std::string> names;  // stable c_str() for Pick::config
  std::vector<Pick> rows;
};

}  // namespace

bool Pick::defers() const { return std::strcmp(config, "cublaslt") == 0; }

DeviceTable table_for_device(const std::string& device_name) {
  for (const Pick& p : kPicks)
    if (device_name == p.device) return block_of(p.device, true);
  return block_of(kPicks[0].device, false);
}

DeviceTable table_for_device(const std::string& device_name, const std::vector<std::string>& build_kernels) {
  const std::string path = default_tune_cache_path();
  DeviceTable cached = load_tune_cache(path, device_name, build_kernels);
  if (cached.measured_here) return cached;
  DeviceTable t = table_for_device(device_name);
  t.note = cached.note;
  return t;
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

bool parse_kernel_spec(const std::string& spec, std::string& name, Knobs& knobs, std::string& error) {
  const auto colon = spec.find(':');
  name = spec.substr(0, colon);
  knobs = Knobs{};
  std::string rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string item = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    bool ok = true;
    if (key == "swizzle") ok = parse_int(value, knobs.swizzle);
    else if (key == "splits") ok = parse_int(value, knobs.splits);
    else if (key == "promote") ok = parse_int(value, knobs.promote);
    else if (key == "prefetch") ok = parse_int(value, knobs.prefetch);
    else if (key == "pdl" && (value == "0" || value == "1")) knobs.pdl = value == "1";
    else if (key == "raster" && (value == "m" || value == "n" || value == "h"))
      knobs.raster = value == "m" ? Raster::along_m : value == "n" ? Raster::along_n : Raster::heuristic;
    else ok = false;
    if (!ok) {
      error = "expected name[:swizzle=1|2|4|8,raster=m|n|h,splits=N,promote=4|8|..,pdl=0|1,prefetch=BYTES], got '" +
              spec + "'";
      return false;
    }
  }
  const Knobs& k = knobs;
  if (!(k.swizzle == 1 || k.swizzle == 2 || k.swizzle == 4 || k.swizzle == 8))
    error = "swizzle must be 1, 2, 4 or 8, got " + std::to_string(k.swizzle);
  else if (k.prefetch < 0 || k.prefetch % 16 != 0 || k.prefetch > (1 << 20))
    error = "prefetch must be a multiple of 16 bytes in [0, 1048576], got " + std::to_string(k.prefetch);
  else if (k.promote < 4 || k.promote % 4 != 0 || k.promote > 64)
    error = "promote must be a multiple of 4 in [4, 64], got " + std::to_string(k.promote);
  else if (k.splits < 1 || k.splits > 64)
    error = "splits must be in [1, 64], got " + std::to_string(k.splits);
  else
    return true;
  error += " in '" + spec + "'";
  return false;
}

std::string knobs_str(const Knobs& k) {
  const Knobs d;
  std::string s;
  auto add = [&s](const std::string& item) { s += (s.empty() ? "" : ",") + item; };
  if (k.swizzle != d.swizzle) add("swizzle=" + std::to_string(k.swizzle));
  if (k.raster != d.raster) add(std::string("raster=") + (k.raster == Raster::along_m ? "m" : "n"));
  if (k.splits != d.splits) add("splits=" + std::to_string(k.splits));
  if (k.promote != d.promote) add("promote=" + std::to_string(k.promote));
  if (k.pdl != d.pdl) add(std::string("pdl=") + (k.pdl ? "1" : "0"));
  if (k.prefetch != d.prefetch) add("prefetch=" + std::to_string(k.prefetch));
  return s;
}

std::string default_tune_cache_path() {
  if (const char* p = std::getenv("W8A8_TUNE_CACHE"); p != nullptr && p[0] != '\0') return p;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && x[0] != '\0')
    return std::string(x) + "/w8a8/tune.json";
  if (const char* h = std::getenv("HOME"); h != nullptr && h[0] != '\0') return std::string(h) + "/.cache/w8a8/tune.json";
  return "";
}

void write_tune_cache(const std::string& path, const std::string& device_name,
                      const std::vector<std::string>& build_kernels, const std::vector<CacheRow>& rows) {
  W8A8_CHECK(!path.empty(), "cache_path: no path given and neither W8A8_TUNE_CACHE, XDG_CACHE_HOME nor HOME is set");
  nlohmann::json j;
  j["w8a8_tune_cache"] = 1;
  j["device"] = device_name;
  j["kernels"] = build_kernels;
  j["rows"] = nlohmann::json::array();
  for (const CacheRow& r : rows)
    j["rows"].push_back({{"fast", r.fast}, {"vec", r.vec}, {"M", r.m}, {"N", r.n}, {"K", r.k}, {"kernel", r.kernel},
                         {"us", r.us}, {"alt_us", r.alt_us}});
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  W8A8_CHECK_KIND(ErrorKind::kRuntime, !ec, "cache_path: cannot create the folder of '", path, "': ", ec.message());
  // Written beside and renamed: a reader never sees half a cache.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    W8A8_CHECK_KIND(ErrorKind::kRuntime, bool(out), "cache_path: cannot write '", tmp, "'");
    out << j.dump(1) << "\n";
    W8A8_CHECK_KIND(ErrorKind::kRuntime, bool(out), "cache_path: writing '", tmp, "' failed");
  }
  std::filesystem::rename(tmp, path, ec);
  W8A8_CHECK_KIND(ErrorKind::kRuntime, !ec, "cache_path: cannot rename '", tmp, "' to '", path, "': ", ec.message());
}

DeviceTable load_tune_cache(const std::string& path, const std::string& device_name,
                            const std::vector<std::string>& build_kernels) {
  DeviceTable t;
  t.source = "tuning cache " + path;
  auto refuse = [&](const std::string& why) {
    t.measured_here = false;
    t.note = "tuning cache " + path + " not used: " + why;
    return t;
  };
  if (path.empty()) return t;
  std::ifstream in(path);
  if (!in) return t;  // no cache: nothing to say
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    return refuse(std::string("not valid JSON (") + e.what() + ")");
  }
  try {
    if (!j.is_object() || j.value("w8a8_tune_cache", 0) != 1)
      return refuse("not a w8a8 tuning cache (expected \"w8a8_tune_cache\": 1)");
    auto rows = std::make_shared<CacheRows>();
    rows->device = j.at("device").get<std::string>();
    if (rows->device != device_name)
      return refuse("made on " + rows->device + ", this device is " + device_name + " (run `w8a8 tune` here)");
    const auto kernels = j.at("kernels").get<std::vector<std::string>>();
    if (std::set<std::string>(kernels.begin(), kernels.end()) !=
        std::set<std::string>(build_kernels.begin(), build_kernels.end()))
      return refuse("made by a build with other kernel configurations (" + std::to_string(kernels.size()) +
                    " listed, this build has " + std::to_string(build_kernels.size()) + "; run `w8a8 tune` again)");
    const std::set<std::string> built(build_kernels.begin(), build_kernels.end());
    for (const auto& r : j.at("rows")) {
      std::string name, error;
      Knobs knobs;
      const std::string spec = r.at("kernel").get<std::string>();
      if (!parse_kernel_spec(spec, name, knobs, error)) return refuse("row kernel " + error);
      if (name != "cublaslt" && built.count(name) == 0)
        return refuse("a row names '" + name + "', not a configuration of this build");
      const int64_t m = r.at("M").get<int64_t>(), n = r.at("N").get<int64_t>(), k = r.at("K").get<int64_t>();
      if (m < 1 || n < 1 || k < 1 || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX)
        return refuse("a row has M, N or K out of range");
      rows->names.push_back(name);
      rows->rows.push_back(Pick{nullptr, r.at("fast").get<bool>(), r.at("vec").get<bool>(), int(m), int(n), int(k),
                                rows->names.back().c_str(), knobs, r.value("us", 0.0), r.value("alt_us", 0.0)});
    }
    if (rows->rows.empty()) return refuse("it has no rows");
    for (Pick& p : rows->rows) p.device = rows->device.c_str();
    t.device = rows->device.c_str();
    t.begin = rows->rows.data();
    t.end = rows->rows.data() + rows->rows.size();
    t.measured_here = true;
    t.storage = rows;
    return t;
  } catch (const std::exception& e) {
    return refuse(std::string("malformed (") + e.what() + ")");
  }
}

}  // namespace w8a8::smm::cutlass_sm90
