// safetensors reader (mmap, zero copy, strict validation) and streaming writer.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "w8a8/error.h"
#include "w8a8/io.h"

namespace w8a8 {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct StName {
  const char* name;
  DType dtype;
};
constexpr StName kStNames[] = {
    {"F8_E4M3", DType::kFloat8E4M3FN}, {"F8_E5M2", DType::kFloat8E5M2}, {"BF16", DType::kBFloat16},
    {"F16", DType::kFloat16},          {"F32", DType::kFloat32},        {"F64", DType::kFloat64},
    {"I8", DType::kInt8},              {"U8", DType::kUInt8},           {"I32", DType::kInt32},
    {"I64", DType::kInt64},
};
constexpr const char* kKnownList = "F8_E4M3, F8_E5M2, BF16, F16, F32, F64, I8, U8, I32, I64";

#define ST_FAIL(...) W8A8_FAIL(::w8a8::ErrorKind::kValue, __VA_ARGS__)

uint64_t read_le64(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

void write_le64(uint8_t* b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[i] = uint8_t(v >> (8 * i));
}

// nlohmann's messages start with "[json.exception.parse_error.101] ": keep the readable part.
std::string json_message(const std::exception& e) {
  std::string m = e.what();
  if (!m.empty() && m[0] == '[') {
    const size_t close = m.find("] ");
    if (close != std::string::npos) m = m.substr(close + 2);
  }
  for (char& c : m)
    if (c == '\n' || c == '\r') c = ' ';
  return m;
}

std::string quoted(const std::string& s) {
  // Names come from untrusted files: keep messages on one line and printable.
  std::string out = "'";
  for (unsigned char c : s.substr(0, 200)) {
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  if (s.size() > 200) out += "...";
  return out + "'";
}

std::string sys_error() { return std::strerror(errno); }

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  for (const StName& n : kStNames)
    if (n.dtype == dtype) return n.name;
  W8A8_FAIL(ErrorKind::kType, "dtype: safetensors cannot store ", dtype_name(dtype), " (it stores ", kKnownList,
            ")");
}

DType safetensors_dtype_from_name(const std::string& name) {
  for (const StName& n : kStNames)
    if (name == n.name) return n.dtype;
  W8A8_FAIL(ErrorKind::kType, "dtype: unknown safetensors dtype ", quoted(name), " (known: ", kKnownList, ")");
}

// ---- header parsing ---------------------------------------------------------------------------
SafetensorsHeader parse_safetensors_header(const void* prefix, size_t prefix_size, uint64_t file_size,
                                           const std::string& what) {
  if (file_size < 8 || prefix_size < 8)
    ST_FAIL(what, ": not a safetensors file: ", std::min<uint64_t>(file_size, prefix_size),
            " bytes, fewer than the 8-byte header length");
  SafetensorsHeader h;
  const uint64_t n = read_le64(prefix);
  if (n > kSafetensorsMaxHeaderBytes)
    ST_FAIL(what, ": header length ", n, " exceeds the limit of ", kSafetensorsMaxHeaderBytes,
            " bytes (not a safetensors file, or a corrupt one)");
  if (n < 2) ST_FAIL(what, ": header length ", n, " is too small for a JSON object");
  if (8 + n > file_size)
    ST_FAIL(what, ": truncated file: the header length says ", n, " bytes of JSON but the file has only ",
            file_size, " bytes");
  if (8 + n > prefix_size)
    ST_FAIL(what, ": header of ", n, " bytes is not within the ", prefix_size, " bytes given");
  h.header_bytes = n;
  h.data_offset = 8 + n;
  const uint64_t data_size = file_size - h.data_offset;

  const char* text = static_cast<const char*>(prefix) + 8;
  if (text[0] != '{') ST_FAIL(what, ": bad header: the JSON header does not start with '{'");
  // nlohmann stops at a NUL byte and would ignore what follows it.
  if (const void* nul = std::memchr(text, 0, n))
    ST_FAIL(what, ": bad JSON header: NUL byte at offset ", static_cast<const char*>(nul) - text);

  // Duplicate top-level names are an error (nlohmann would keep the last one silently).
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key) {
      const std::string& k = parsed.get_ref<const std::string&>();
      if (!seen.insert(k).second && duplicate.empty()) duplicate = k;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text, text + n, cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const std::exception& e) {
    ST_FAIL(what, ": bad JSON header: ", json_message(e));
  }
  if (!duplicate.empty()) ST_FAIL(what, ": bad header: tensor ", quoted(duplicate), " is listed twice");
  if (!j.is_object()) ST_FAIL(what, ": bad header: expected a JSON object");

  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (v.is_null()) continue;
      if (!v.is_object()) ST_FAIL(what, ": bad header: __metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          ST_FAIL(what, ": bad header: __metadata__ value ", quoted(m.key()), " is not a string");
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string t = "tensor " + quoted(name);
    if (!v.is_object()) ST_FAIL(what, ": bad header: ", t, " is not an object");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) ST_FAIL(what, ": bad header: ", t, " has no string 'dtype'");
    if (sh == v.end() || !sh->is_array()) ST_FAIL(what, ": bad header: ", t, " has no array 'shape'");
    if (off == v.end() || !off->is_array() || off->size() != 2)
      ST_FAIL(what, ": bad header: ", t, " has no 'data_offsets' [begin, end]");

    SafetensorsEntry e;
    e.name = name;
    const std::string dname = dt->get<std::string>();
    bool known = false;
    for (const StName& sn : kStNames)
      if (dname == sn.name) {
        e.dtype = sn.dtype;
        known = true;
      }
    if (!known) ST_FAIL(what, ": ", t, ": unknown dtype ", quoted(dname), " (w8a8 reads ", kKnownList, ")");
    if (sh->size() > size_t(Dims::kMaxRank))
      ST_FAIL(what, ": ", t, ": ", sh->size(), " dimensions, more than the ", Dims::kMaxRank, " supported");
    uint64_t numel = 1;
    for (const json& d : *sh) {
      if (!d.is_number_unsigned()) ST_FAIL(what, ": bad header: ", t, ": shape entries must be integers >= 0");
      const uint64_t s = d.get<uint64_t>();
      if (s > uint64_t(INT64_MAX) || __builtin_mul_overflow(numel, s, &numel))
        ST_FAIL(what, ": bad header: ", t, ": shape ", sh->dump(), " overflows");
      e.shape.push_back(int64_t(s));
    }
    uint64_t nbytes = 0;
    if (__builtin_mul_overflow(numel, uint64_t(dtype_size(e.dtype)), &nbytes) || nbytes > uint64_t(INT64_MAX))
      ST_FAIL(what, ": bad header: ", t, ": shape ", sh->dump(), " overflows");
    const json& b = (*off)[0];
    const json& en = (*off)[1];
    if (!b.is_number_unsigned() || !en.is_number_unsigned())
      ST_FAIL(what, ": bad header: ", t, ": data_offsets must be integers >= 0");
    e.begin = b.get<uint64_t>();
    e.end = en.get<uint64_t>();
    if (e.end < e.begin)
      ST_FAIL(what, ": bad offsets: ", t, ": data_offsets [", e.begin, ", ", e.end, "] end before they begin");
    if (e.end - e.begin != nbytes)
      ST_FAIL(what, ": bad offsets: ", t, ": data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin,
              " bytes but shape ", e.shape.str(), " of ", dname, " needs ", nbytes);
    if (e.end > data_size)
      ST_FAIL(what, ": truncated file or offsets out of range: ", t, " ends at byte ", e.end,
              " of the data section, which has only ", data_size, " bytes (file size ", file_size, ")");
    h.entries.push_back(std::move(e));
  }

  // The data section is exactly the tensors, back to back (what the reference implementation checks).
  std::sort(h.entries.begin(), h.entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry& e : h.entries) {
    if (e.begin < expected)
      ST_FAIL(what, ": bad offsets: tensor ", quoted(e.name), " [", e.begin, ", ", e.end, "] overlaps tensor ",
              quoted(prev->name), " [", prev->begin, ", ", prev->end, "]");
    if (e.begin > expected)
      ST_FAIL(what, ": bad offsets: ", e.begin - expected, " unused bytes before tensor ", quoted(e.name),
              " (data_offsets must be contiguous)");
    expected = e.end;
    prev = &e;
  }
  if (expected != data_size)
    ST_FAIL(what, ": bad offsets: the data section has ", data_size - expected,
            " bytes after the last tensor (a corrupt or mismatched header)");
  return h;
}

// ---- SafetensorsFile ----------------------------------------------------------------------------
struct SafetensorsFile::Impl {
  std::string path;
  const uint8_t* base = nullptr;
  uint64_t size = 0;
  bool mapped = false;
  SafetensorsHeader header;
  std::unordered_map<std::string, size_t> index;

  ~Impl() {
    if (mapped && base) munmap(const_cast<uint8_t*>(base), size);
  }
  void build_index() {
    for (size_t i = 0; i < header.entries.size(); ++i) index.emplace(header.entries[i].name, i);
  }
};

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ST_FAIL(path, ": cannot open: ", sys_error());
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const std::string err = sys_error();
    ::close(fd);
    ST_FAIL(path, ": cannot stat: ", err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    ST_FAIL(path, ": not a regular file");
  }
  auto impl = std::make_shared<Impl>();
  impl->path = path;
  impl->size = uint64_t(st.st_size);
  if (impl->size < 8) {
    ::close(fd);
    parse_safetensors_header("", 0, impl->size, path);  // throws the "too small" message
  }
  void* p = mmap(nullptr, impl->size, PROT_READ, MAP_PRIVATE, fd, 0);
  const std::string err = sys_error();
  ::close(fd);
  if (p == MAP_FAILED) W8A8_FAIL(ErrorKind::kRuntime, path, ": cannot map the file: ", err);
  impl->base = static_cast<const uint8_t*>(p);
  impl->mapped = true;
  impl->header = parse_safetensors_header(impl->base, impl->size, impl->size, path);
  impl->build_index();
  SafetensorsFile f;
  f.impl_ = std::move(impl);
  return f;
}

SafetensorsFile SafetensorsFile::from_buffer(const void* data, size_t size, const std::string& what) {
  auto impl = std::make_shared<Impl>();
  impl->path = what;
  impl->base = static_cast<const uint8_t*>(data);
  impl->size = size;
  impl->header = parse_safetensors_header(data, size, size, what);
  impl->build_index();
  SafetensorsFile f;
  f.impl_ = std::move(impl);
  return f;
}

const std::string& SafetensorsFile::path() const {
  W8A8_CHECK(impl_, "SafetensorsFile: not opened");
  return impl_->path;
}
uint64_t SafetensorsFile::file_size() const {
  W8A8_CHECK(impl_, "SafetensorsFile: not opened");
  return impl_->size;
}
const SafetensorsHeader& SafetensorsFile::header() const {
  W8A8_CHECK(impl_, "SafetensorsFile: not opened");
  return impl_->header;
}
std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const SafetensorsEntry& e : header().entries) out.push_back(e.name);
  return out;
}
bool SafetensorsFile::contains(const std::string& name) const {
  W8A8_CHECK(impl_, "SafetensorsFile: not opened");
  return impl_->index.count(name) != 0;
}
const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  W8A8_CHECK(impl_, "SafetensorsFile: not opened");
  auto it = impl_->index.find(name);
  W8A8_CHECK(it != impl_->index.end(), impl_->path, ": no tensor ", quoted(name));
  return impl_->header.entries[it->second];
}
const uint8_t* SafetensorsFile::bytes(const SafetensorsEntry& e) const {
  W8A8_CHECK(impl_, "SafetensorsFile: not opened");
  return impl_->base + impl_->header.data_offset + e.begin;
}
TensorView SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  return TensorView(const_cast<uint8_t*>(bytes(e)), e.dtype, e.shape);
}
namespace {
// The whole pages that cover [offset, offset + length) of a tensor, clipped to the tensor.
std::pair<void*, size_t> page_range(const uint8_t* data, const SafetensorsEntry& e, uint64_t offset,
                                    uint64_t length) {
  static const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  if (offset >= e.nbytes()) return {nullptr, 0};
  length = std::min(length, e.nbytes() - offset);
  const uintptr_t lo = reinterpret_cast<uintptr_t>(data + offset) & ~(page - 1);
  const uintptr_t hi = reinterpret_cast<uintptr_t>(data + offset + length);
  return {reinterpret_cast<void*>(lo), size_t(hi - lo)};
}
}  // namespace

void SafetensorsFile::prefetch(const SafetensorsEntry& e, uint64_t offset, uint64_t length) const {
  W8A8_CHECK(impl_, "SafetensorsFile: not opened");
  if (!impl_->mapped) return;
  const auto [p, n] = page_range(bytes(e), e, offset, length);
  if (n == 0) return;
#ifdef MADV_POPULATE_READ
  if (madvise(p, n, MADV_POPULATE_READ) == 0) return;
#endif
  madvise(p, n, MADV_WILLNEED);  // older kernels: read-ahead only
}

void SafetensorsFile::release(const SafetensorsEntry& e, uint64_t offset, uint64_t length) const {
  W8A8_CHECK(impl_, "SafetensorsFile: not opened");
  if (!impl_->mapped) return;
  const auto [p, n] = page_range(bytes(e), e, offset, length);
  // The mapping is clean and read-only: dropped pages are read again from the file if touched.
  if (n) madvise(p, n, MADV_DONTNEED);
}

// ---- SafetensorsWriter --------------------------------------------------------------------------
struct SafetensorsWriter::Impl {
  struct Slot {
    SafetensorsSpec spec;
    uint64_t offset = 0;  // absolute, in the file
    uint64_t nbytes = 0;
    uint64_t bytes_written = 0;
    bool written = false;
  };
  std::string path, tmp_path;
  int fd = -1;
  uint64_t size = 0;
  std::unordered_map<std::string, Slot> slots;
  std::mutex mu;
  bool committed = false;

  ~Impl() {
    if (fd >= 0) ::close(fd);
    if (!committed && !tmp_path.empty()) ::unlink(tmp_path.c_str());
  }

  void pwrite_all(const void* data, size_t n, uint64_t offset) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      const size_t chunk = std::min<size_t>(n, size_t(1) << 30);
      const ssize_t w = ::pwrite(fd, p, chunk, off_t(offset));
      if (w < 0) {
        if (errno == EINTR) continue;
        W8A8_FAIL(ErrorKind::kRuntime, tmp_path, ": write failed: ", sys_error());
      }
      p += w;
      n -= size_t(w);
      offset += uint64_t(w);
    }
  }
};

SafetensorsWriter::SafetensorsWriter(const std::string& path, const std::vector<SafetensorsSpec>& tensors,
                                     const std::map<std::string, std::string>& metadata)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  std::vector<SafetensorsSpec> order = tensors;
  std::set<std::string> names;
  for (const SafetensorsSpec& s : order) {
    W8A8_CHECK(s.name != "__metadata__", path, ": a tensor cannot be named __metadata__");
    W8A8_CHECK(names.insert(s.name).second, path, ": tensor ", quoted(s.name), " declared twice");
    safetensors_dtype_name(s.dtype);  // throws for dtypes safetensors cannot store
    for (int64_t d : s.shape) W8A8_CHECK(d >= 0, path, ": tensor ", quoted(s.name), " has a negative size");
  }
  // Largest elements first, then by name: every tensor lands aligned to its element size.
  std::stable_sort(order.begin(), order.end(), [](const SafetensorsSpec& a, const SafetensorsSpec& b) {
    if (dtype_size(a.dtype) != dtype_size(b.dtype)) return dtype_size(a.dtype) > dtype_size(b.dtype);
    return a.name < b.name;
  });
  json header = json::object();
  if (!metadata.empty()) {
    json md = json::object();
    for (const auto& kv : metadata) md[kv.first] = kv.second;
    header["__metadata__"] = md;
  }
  uint64_t offset = 0;
  std::vector<Impl::Slot> slots;
  for (const SafetensorsSpec& s : order) {
    Impl::Slot slot;
    slot.spec = s;
    slot.nbytes = uint64_t(s.shape.product()) * dtype_size(s.dtype);
    slot.offset = offset;
    json shape = json::array();
    for (int64_t d : s.shape) shape.push_back(d);
    header[s.name] = {{"dtype", safetensors_dtype_name(s.dtype)},
                      {"shape", shape},
                      {"data_offsets", {offset, offset + slot.nbytes}}};
    offset += slot.nbytes;
    slots.push_back(std::move(slot));
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  const uint64_t data_offset = 8 + text.size();
  m.size = data_offset + offset;
  for (Impl::Slot& s : slots) {
    s.offset += data_offset;
    m.slots.emplace(s.spec.name, std::move(s));
  }

  const fs::path final_path(path);
  const fs::path dir = final_path.has_parent_path() ? final_path.parent_path() : fs::path(".");
  static std::atomic<unsigned> counter{0};
  m.tmp_path = (dir / ("." + final_path.filename().string() + ".tmp-" + std::to_string(getpid()) + "-" +
                       std::to_string(counter++)))
                   .string();
  m.fd = ::open(m.tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (m.fd < 0) {
    const std::string err = sys_error();
    m.tmp_path.clear();
    W8A8_FAIL(ErrorKind::kRuntime, path, ": cannot create the file: ", err);
  }
  std::vector<uint8_t> head(data_offset);
  write_le64(head.data(), text.size());
  std::memcpy(head.data() + 8, text.data(), text.size());
  m.pwrite_all(head.data(), head.size(), 0);
  if (::ftruncate(m.fd, off_t(m.size)) != 0)
    W8A8_FAIL(ErrorKind::kRuntime, m.tmp_path, ": cannot size the file: ", sys_error());
}

SafetensorsWriter::~SafetensorsWriter() = default;

void SafetensorsWriter::write_bytes(const std::string& name, const void* data, size_t size) {
  Impl& m = *impl_;
  auto it = m.slots.find(name);
  W8A8_CHECK(it != m.slots.end(), m.path, ": tensor ", quoted(name), " was not declared");
  W8A8_CHECK(size == it->second.nbytes, m.path, ": tensor ", quoted(name), ": expected ", it->second.nbytes,
             " bytes, got ", size);
  write_range(name, data, size, 0);
}

void SafetensorsWriter::write_range(const std::string& name, const void* data, size_t size, uint64_t offset) {
  Impl& m = *impl_;
  W8A8_CHECK(!m.committed, m.path, ": write after commit");
  auto it = m.slots.find(name);
  W8A8_CHECK(it != m.slots.end(), m.path, ": tensor ", quoted(name), " was not declared");
  Impl::Slot& s = it->second;
  W8A8_CHECK(offset <= s.nbytes && size <= s.nbytes - offset, m.path, ": tensor ", quoted(name), ": bytes [",
             offset, ", ", offset + size, ") outside its ", s.nbytes, " bytes");
  {
    std::lock_guard<std::mutex> lock(m.mu);
    W8A8_CHECK(!s.written && s.bytes_written + size <= s.nbytes, m.path, ": tensor ", quoted(name),
               " written twice");
    s.bytes_written += size;
    s.written = s.bytes_written == s.nbytes;
  }
  if (size) m.pwrite_all(data, size, s.offset + offset);
}

void SafetensorsWriter::write(const std::string& name, const TensorView& data) {
  Impl& m = *impl_;
  auto it = m.slots.find(name);
  W8A8_CHECK(it != m.slots.end(), m.path, ": tensor ", quoted(name), " was not declared");
  const SafetensorsSpec& spec = it->second.spec;
  W8A8_CHECK_TYPE(data.dtype() == spec.dtype, m.path, ": tensor ", quoted(name), ": declared ",
                  dtype_name(spec.dtype), ", got ", dtype_name(data.dtype()));
  W8A8_CHECK(data.sizes() == spec.shape, m.path, ": tensor ", quoted(name), ": declared shape ",
             spec.shape.str(), ", got ", data.sizes().str());
  W8A8_CHECK_TYPE(data.device().is_cpu(), m.path, ": tensor ", quoted(name), " must be on the CPU");
  if (data.numel() == 0) {
    write_bytes(name, nullptr, 0);
  } else if (data.is_contiguous()) {
    write_bytes(name, data.data(), size_t(data.numel()) * data.element_size());
  } else {
    Tensor c = Tensor::copy_of(data);
    write_bytes(name, c.data(), size_t(c.numel()) * c.element_size());
  }
}

void SafetensorsWriter::commit(bool sync) {
  Impl& m = *impl_;
  W8A8_CHECK(!m.committed, m.path, ": committed twice");
  for (const auto& kv : m.slots)
    W8A8_CHECK(kv.second.written, m.path, ": tensor ", quoted(kv.first), " was declared but never written");
  if (sync && ::fsync(m.fd) != 0) W8A8_FAIL(ErrorKind::kRuntime, m.tmp_path, ": fsync failed: ", sys_error());
  if (::close(m.fd) != 0) {
    m.fd = -1;
    W8A8_FAIL(ErrorKind::kRuntime, m.tmp_path, ": close failed: ", sys_error());
  }
  m.fd = -1;
  if (::rename(m.tmp_path.c_str(), m.path.c_str()) != 0)
    W8A8_FAIL(ErrorKind::kRuntime, m.path, ": cannot rename the finished file into place: ", sys_error());
  m.committed = true;
}

uint64_t SafetensorsWriter::file_size() const { return impl_->size; }
const std::string& SafetensorsWriter::path() const { return impl_->path; }

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, TensorView>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsSpec> specs;
  for (const auto& t : tensors) specs.push_back({t.first, t.second.dtype(), t.second.sizes()});
  SafetensorsWriter w(path, specs, metadata);
  for (const auto& t : tensors) w.write(t.first, t.second);
  w.commit();
}

// ---- SafetensorsCheckpoint ----------------------------------------------------------------------
namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::string& path) {
  SafetensorsCheckpoint c;
  std::error_code ec;
  const fs::path p(path);
  if (!fs::exists(p, ec)) ST_FAIL(path, ": no such file or folder");
  std::vector<fs::path> files;
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  fs::path index;
  fs::path dir;
  if (fs::is_directory(p, ec)) {
    dir = p;
    std::vector<fs::path> st, idx;
    for (const fs::directory_entry& de : fs::directory_iterator(p, ec)) {
      if (!de.is_regular_file(ec)) continue;
      const std::string name = de.path().filename().string();
      if (name.empty() || name[0] == '.') continue;
      if (ends_with(name, ".safetensors.index.json")) idx.push_back(de.path());
      else if (ends_with(name, ".safetensors")) st.push_back(de.path());
    }
    std::sort(st.begin(), st.end());
    std::sort(idx.begin(), idx.end());
    if (fs::exists(p / "model.safetensors.index.json", ec)) {
      index = p / "model.safetensors.index.json";
    } else if (fs::exists(p / "model.safetensors", ec)) {
      files.push_back(p / "model.safetensors");
    } else if (idx.size() == 1) {
      index = idx[0];
    } else if (idx.size() > 1) {
      ST_FAIL(path, ": several index files (", idx[0].filename().string(), ", ", idx[1].filename().string(),
              "): give the one to use");
    } else {
      files = st;
    }
    if (index.empty() && files.empty())
      ST_FAIL(path, ": no safetensors weights (expected model.safetensors, or model.safetensors.index.json "
                    "and its shards)");
  } else if (ends_with(p.filename().string(), ".index.json")) {
    index = p;
    dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  } else {
    files.push_back(p);
  }

  if (!index.empty()) {
    json j;
    try {
      std::ifstream in(index);
      if (!in) ST_FAIL(index.string(), ": cannot open");
      j = json::parse(in);
    } catch (const json::exception& e) {
      ST_FAIL(index.string(), ": bad JSON: ", json_message(e));
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      ST_FAIL(index.string(), ": bad index: expected an object with a 'weight_map' object");
    std::set<std::string> shard_names;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        ST_FAIL(index.string(), ": bad index: weight_map[", quoted(it.key()), "] is not a file name");
      const std::string f = it.value().get<std::string>();
      if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f == "." ||
          f == "..")
        ST_FAIL(index.string(), ": bad index: shard name ", quoted(f), " is not a plain file name");
      weight_map[it.key()] = f;
      shard_names.insert(f);
    }
    if (j.contains("metadata") && j["metadata"].is_object())
      for (auto it = j["metadata"].begin(); it != j["metadata"].end(); ++it)
        c.index_metadata_[it.key()] = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
    for (const std::string& f : shard_names) files.push_back(dir / f);
    c.index_path_ = index.string();
    if (files.empty()) ST_FAIL(index.string(), ": the index lists no tensors");
  }

  std::map<std::string, size_t> by_file;
  for (const fs::path& f : files) {
    if (!fs::exists(f, ec)) ST_FAIL(f.string(), ": shard listed in ", index.string(), " is missing");
    by_file[f.filename().string()] = c.shards_.size();
    c.shards_.push_back(SafetensorsFile::open(f.string()));
  }
  for (size_t i = 0; i < c.shards_.size(); ++i)
    for (const SafetensorsEntry& e : c.shards_[i].entries()) {
      auto [it, inserted] = c.where_.emplace(e.name, i);
      if (!inserted)
        ST_FAIL(path, ": tensor ", quoted(e.name), " is in both ", c.shards_[it->second].path(), " and ",
                c.shards_[i].path());
    }
  for (const auto& kv : weight_map) {
    const size_t shard = by_file.at(kv.second);
    auto it = c.where_.find(kv.first);
    if (it == c.where_.end() || it->second != shard)
      ST_FAIL(index.string(), ": tensor ", quoted(kv.first), " is mapped to ", kv.second, " but that shard ",
              it == c.where_.end() ? "does not hold it (nor does any other)" : "does not hold it");
  }
  return c;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  for (const auto& kv : where_) out.push_back(kv.first);
  return out;
}
size_t SafetensorsCheckpoint::shard_of(const std::string& name) const {
  auto it = where_.find(name);
  W8A8_CHECK(it != where_.end(), "checkpoint: no tensor ", quoted(name));
  return it->second;
}
TensorView SafetensorsCheckpoint::tensor(const std::string& name) const { return shards_[shard_of(name)].tensor(name); }
const SafetensorsEntry& SafetensorsCheckpoint::entry(const std::string& name) const {
  return shards_[shard_of(name)].entry(name);
}
uint64_t SafetensorsCheckpoint::total_tensor_bytes() const {
  uint64_t total = 0;
  for (const SafetensorsFile& f : shards_)
    for (const SafetensorsEntry& e : f.entries()) total += e.nbytes();
  return total;
}

}  // namespace w8a8
