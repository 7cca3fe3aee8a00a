// safetensors I/O: a zero-copy reader over a read-only memory mapping, a streaming writer, and
// sharded checkpoints (model.safetensors.index.json).
//
// File layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length n,
// n bytes of JSON {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"key": "value"}}, then the data section; offsets are relative to its start.
// Every file is validated the way the reference implementation does before any tensor is handed
// out: a bad header length, a header over 100 MB, bad JSON, an unknown dtype, offsets that overlap,
// leave gaps, fall outside the file or disagree with shape x dtype size, and truncated files all
// throw w8a8::Error (kind kValue) with a one-line message that names the file and the tensor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "w8a8/tensor.h"

namespace w8a8 {

// Largest header the reader accepts (the reference implementation's limit).
constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

// safetensors dtype names: "F8_E4M3", "F8_E5M2", "BF16", "F16", "F32", "F64", "I8", "U8", "I32", "I64".
// safetensors_dtype_name throws for a dtype that safetensors cannot store (e4m3fnuz);
// safetensors_dtype_from_name throws for any other name.
const char* safetensors_dtype_name(DType dtype);
DType safetensors_dtype_from_name(const std::string& name);

// One tensor as the header describes it. Offsets are relative to the start of the data section.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kFloat32;
  Dims shape;
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t nbytes() const { return end - begin; }
};

// The parsed and validated header of a safetensors file of file_size bytes whose first bytes are
// `prefix` (at least the 8-byte length and the header itself). Entries are in data order.
// Exposed on its own for the fuzzer and for tools that only look at headers.
struct SafetensorsHeader {
  uint64_t header_bytes = 0;  // n, the JSON length
  uint64_t data_offset = 0;   // 8 + n
  std::vector<SafetensorsEntry> entries;
  std::map<std::string, std::string> metadata;
};
// `what` names the source in error messages (a path). prefix_size may be less than file_size: only
// the header has to be there. Throws w8a8::Error (kValue) on any malformed input.
SafetensorsHeader parse_safetensors_header(const void* prefix, size_t prefix_size, uint64_t file_size,
                                           const std::string& what = "safetensors");

// A safetensors file mapped read-only. Tensors are views over the mapping (no copy); they stay valid
// while this object (or a copy of it: copies share the mapping) lives. The memory is read-only:
// writing through a view crashes.
class SafetensorsFile {
 public:
  SafetensorsFile() = default;
  // Maps and validates the file. Throws w8a8::Error: kValue for a missing or malformed file,
  // kRuntime when the system refuses (mmap failure).
  static SafetensorsFile open(const std::string& path);
  // Parses a file held in memory (not copied: `data` must outlive the object and its views).
  static SafetensorsFile from_buffer(const void* data, size_t size, const std::string& what = "<memory>");

  const std::string& path() const;
  uint64_t file_size() const;
  const SafetensorsHeader& header() const;
  const std::map<std::string, std::string>& metadata() const { return header().metadata; }
  // Entries in data order.
  const std::vector<SafetensorsEntry>& entries() const { return header().entries; }
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  const SafetensorsEntry& entry(const std::string& name) const;  // throws kValue for an unknown name
  // A contiguous view of the tensor over the mapping. The pointer is aligned to the element size
  // when the writer aligned it (w8a8 and the safetensors package both do); check before casting.
  TensorView tensor(const std::string& name) const;
  // Raw bytes of a tensor.
  const uint8_t* bytes(const SafetensorsEntry& entry) const;
  // Maps the tensor's pages in one call (reading them if they are not cached) instead of one page
  // fault per few pages. Optional: a performance hint.
  // offset / length select a byte range of the tensor (default: all of it).
  void prefetch(const SafetensorsEntry& entry, uint64_t offset = 0, uint64_t length = UINT64_MAX) const;
  // Tells the kernel that the tensor's pages are no longer needed, so a streaming pass over a
  // large file keeps its resident memory near one tensor. Views stay valid (pages are re-read).
  void release(const SafetensorsEntry& entry, uint64_t offset = 0, uint64_t length = UINT64_MAX) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// What a writer stores for one tensor.
struct SafetensorsSpec {
  std::string name;
  DType dtype = DType::kFloat32;
  Dims shape;
};

// Streaming writer. The header is known up front (names, dtypes, shapes), so every tensor has a fixed
// place in the file and can be written in any order, from several threads at once, without holding
// the others in memory. The file is written under a temporary name in the same folder and renamed
// to `path` by commit(); a writer destroyed without commit() removes its temporary file.
// Layout: tensors sorted by element size (largest first) then name, as the safetensors package does,
// so every tensor is aligned to its element size; the header is padded with spaces so that the data
// section starts at a multiple of 8.
class SafetensorsWriter {
 public:
  SafetensorsWriter(const std::string& path, const std::vector<SafetensorsSpec>& tensors,
                    const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // Writes a tensor's data: a CPU view of the declared dtype and shape, any strides. Thread-safe.
  void write(const std::string& name, const TensorView& data);
  // Writes raw bytes (exactly the tensor's size). Thread-safe.
  void write_bytes(const std::string& name, const void* data, size_t size);
  // Writes part of a tensor's bytes at `offset` within it, for streaming large tensors in pieces.
  // The tensor counts as written once its pieces add up to its size. Thread-safe.
  void write_range(const std::string& name, const void* data, size_t size, uint64_t offset);
  // Checks that every tensor was written and renames the file to its final path. With sync, the data
  // is flushed to the disk first (fsync): durable across a power loss, not only an interrupted process.
  void commit(bool sync = false);
  // Final file size in bytes.
  uint64_t file_size() const;
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes a whole file from views (a convenience over SafetensorsWriter).
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, TensorView>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// The weights of a model: one safetensors file, a folder with model.safetensors, a folder with a
// sharded index (model.safetensors.index.json) or an index file itself, or a folder of *.safetensors.
// Every shard is opened (mapped) and validated; a tensor named twice or a weight_map entry that its
// shard lacks is an error.
class SafetensorsCheckpoint {
 public:
  static SafetensorsCheckpoint open(const std::string& path);

  // The files, in the order of their names; paths are absolute-or-as-given.
  const std::vector<SafetensorsFile>& shards() const { return shards_; }
  // Empty when the checkpoint has no index file.
  const std::string& index_path() const { return index_path_; }
  // The index's "metadata" object (JSON text per key; {"total_size": "123"}).
  const std::map<std::string, std::string>& index_metadata() const { return index_metadata_; }
  // Every tensor name, sorted.
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  // Which shard holds the tensor (index into shards()).
  size_t shard_of(const std::string& name) const;
  TensorView tensor(const std::string& name) const;
  const SafetensorsEntry& entry(const std::string& name) const;
  uint64_t total_tensor_bytes() const;

 private:
  std::vector<SafetensorsFile> shards_;
  std::string index_path_;
  std::map<std::string, std::string> index_metadata_;
  std::map<std::string, size_t> where_;
};

}  // namespace w8a8
