// safetensors reader/writer: round trips of every dtype, alignment, sharded checkpoints, and every
// malformed-file case giving one clear w8a8::Error line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "w8a8/error.h"
#include "w8a8/io.h"

namespace fs = std::filesystem;
using namespace w8a8;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "w8a8_st_XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char(v >> (8 * i));
  return s;
}

// A file from a header text and `data_bytes` bytes of data.
std::string make_file(const std::string& header, size_t data_bytes) {
  return le64(header.size()) + header + std::string(data_bytes, '\x11');
}


// Parses a buffer and returns the error message ("" when it parsed).
std::string parse_error(const std::string& bytes) {
  try {
    SafetensorsFile::from_buffer(bytes.data(), bytes.size(), "t.safetensors");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kValue) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
    return e.what();
  }
  return "";
}

#define EXPECT_PARSE_ERROR(bytes, substring)                                        \
  do {                                                                              \
    const std::string msg_ = parse_error(bytes);                                    \
    EXPECT_NE(msg_, "") << "expected an error containing: " << substring;           \
    EXPECT_NE(msg_.find(substring), std::string::npos) << "message: " << msg_;      \
    EXPECT_NE(msg_.find("t.safetensors"), std::string::npos) << "names the file: " << msg_; \
  } while (0)

}  // namespace

TEST(Safetensors, DtypeNames) {
  EXPECT_STREQ(safetensors_dtype_name(DType::kFloat8E4M3FN), "F8_E4M3");
  EXPECT_STREQ(safetensors_dtype_name(DType::kBFloat16), "BF16");
  EXPECT_EQ(safetensors_dtype_from_name("F8_E5M2"), DType::kFloat8E5M2);
  EXPECT_EQ(safetensors_dtype_from_name("I64"), DType::kInt64);
  EXPECT_THROW(safetensors_dtype_from_name("BOOL"), Error);
  EXPECT_THROW(safetensors_dtype_from_name("bfloat16"), Error);  // torch names are not safetensors names
  EXPECT_THROW(safetensors_dtype_name(DType::kFloat8E4M3FNUZ), Error);
}

TEST(Safetensors, RoundTripEveryDtype) {
  TempDir dir;
  const DType dtypes[] = {DType::kFloat8E4M3FN, DType::kFloat8E5M2, DType::kBFloat16, DType::kFloat16,
                          DType::kFloat32,      DType::kFloat64,    DType::kInt8,     DType::kUInt8,
                          DType::kInt32,        DType::kInt64};
  std::mt19937 rng(1);
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<std::pair<std::string, TensorView>> tensors;
  int i = 0;
  for (DType t : dtypes) {
    const Dims shape{int64_t(3 + i), int64_t(5 + 2 * i)};  // odd sizes so alignment depends on the writer
    std::vector<uint8_t> buf(size_t(shape.product()) * dtype_size(t));
    for (uint8_t& b : buf) b = uint8_t(rng());
    buffers.push_back(std::move(buf));
    tensors.emplace_back(std::string("t.") + dtype_name(t), TensorView(buffers.back().data(), t, shape));
    ++i;
  }
  std::vector<uint8_t> scalar_buf(4, 7);
  tensors.emplace_back("scalar", TensorView(scalar_buf.data(), DType::kFloat32, Dims{}));
  tensors.emplace_back("empty", TensorView(nullptr, DType::kBFloat16, Dims{0, 4}));

  const std::string path = dir.file("all.safetensors");
  save_safetensors(path, tensors, {{"format", "pt"}, {"note", "w8a8 \"test\""}});

  SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "w8a8 \"test\"");
  EXPECT_EQ(f.header().data_offset % 8, 0u) << "header padded to 8 bytes";
  EXPECT_EQ(f.entries().size(), tensors.size());
  EXPECT_EQ(f.file_size(), fs::file_size(path));
  for (const auto& [name, src] : tensors) {
    ASSERT_TRUE(f.contains(name)) << name;
    TensorView v = f.tensor(name);
    EXPECT_EQ(v.dtype(), src.dtype()) << name;
    EXPECT_EQ(v.sizes(), src.sizes()) << name;
    EXPECT_TRUE(v.is_contiguous());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % dtype_size(v.dtype()), 0u) << name << " aligned";
    const size_t n = size_t(src.numel()) * src.element_size();
    if (n) {
      EXPECT_EQ(std::memcmp(v.data(), src.data(), n), 0) << name;
    }
  }
  // release() drops pages; views read the same bytes again.
  const SafetensorsEntry& e = f.entry("t.float64");
  f.release(e);
  EXPECT_EQ(std::memcmp(f.tensor("t.float64").data(), buffers[5].data(), buffers[5].size()), 0);
  EXPECT_THROW(f.entry("nope"), Error);
  // No temporary file left behind.
  int files = 0;
  for (const auto& de : fs::directory_iterator(dir.path)) files += de.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(Safetensors, WriterStridedInputAndOrder) {
  TempDir dir;
  std::vector<float> a(6);
  for (int i = 0; i < 6; ++i) a[i] = float(i);
  TensorView m(a.data(), DType::kFloat32, Dims{2, 3});
  const std::string path = dir.file("t.safetensors");
  SafetensorsWriter w(path, {{"b", DType::kFloat32, Dims{3, 2}}, {"a", DType::kUInt8, Dims{1}}});
  EXPECT_FALSE(fs::exists(path)) << "nothing at the final name before commit";
  uint8_t one = 1;
  w.write("a", TensorView(&one, DType::kUInt8, Dims{1}));
  w.write("b", m.t());  // a transposed (non-contiguous) view is written in logical order
  w.commit();
  SafetensorsFile f = SafetensorsFile::open(path);
  const float* b = f.tensor("b").data_as<float>();
  const float expected[] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(b[i], expected[i]);
  // Larger elements first: b (4 bytes) before a (1 byte).
  EXPECT_EQ(f.entries()[0].name, "b");
  EXPECT_EQ(f.entries()[1].name, "a");
}

TEST(Safetensors, WriterInPieces) {
  TempDir dir;
  std::vector<uint8_t> data(1000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7);
  const std::string path = dir.file("t.safetensors");
  SafetensorsWriter w(path, {{"x", DType::kUInt8, Dims{10, 100}}});
  w.write_range("x", data.data() + 600, 400, 600);  // any order
  EXPECT_THROW(w.commit(), Error);                   // incomplete
  w.write_range("x", data.data(), 600, 0);
  EXPECT_THROW(w.write_range("x", data.data(), 1, 0), Error);      // more than declared
  EXPECT_THROW(w.write_range("x", data.data(), 10, 995), Error);   // outside the tensor
  w.commit();
  SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(std::memcmp(f.tensor("x").data(), data.data(), data.size()), 0);
  // prefetch / release of a part keep the bytes readable.
  f.prefetch(f.entry("x"), 100, 200);
  f.release(f.entry("x"), 100, 5000);
  EXPECT_EQ(std::memcmp(f.tensor("x").data(), data.data(), data.size()), 0);
}

TEST(Safetensors, WriterMisuse) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  float x = 1;
  {
    SafetensorsWriter w(path, {{"x", DType::kFloat32, Dims{1}}, {"y", DType::kFloat32, Dims{1}}});
    EXPECT_THROW(w.write("z", TensorView(&x, DType::kFloat32, Dims{1})), Error);         // undeclared
    EXPECT_THROW(w.write("x", TensorView(&x, DType::kFloat16, Dims{1})), Error);         // dtype
    EXPECT_THROW(w.write("x", TensorView(&x, DType::kFloat32, Dims{1, 1})), Error);      // shape
    w.write("x", TensorView(&x, DType::kFloat32, Dims{1}));
    EXPECT_THROW(w.write("x", TensorView(&x, DType::kFloat32, Dims{1})), Error);         // twice
    EXPECT_THROW(w.commit(), Error);                                                     // y missing
  }
  // The abandoned writer removed its temporary file and never created the final one.
  EXPECT_TRUE(fs::is_empty(dir.path));
  EXPECT_THROW(SafetensorsWriter(path, {{"x", DType::kFloat32, Dims{1}}, {"x", DType::kFloat32, Dims{1}}}), Error);
  EXPECT_THROW(SafetensorsWriter(path, {{"__metadata__", DType::kFloat32, Dims{1}}}), Error);
  EXPECT_THROW(SafetensorsWriter(path, {{"q", DType::kFloat8E4M3FNUZ, Dims{1}}}), Error);
  EXPECT_THROW(SafetensorsWriter(dir.file("no/such/dir/x.safetensors"), {}), Error);
}

TEST(Safetensors, ParsesHandWrittenHeader) {
  // Offsets, metadata and key order as another writer may produce them; no padding.
  const std::string h =
      R"({"b":{"dtype":"F16","shape":[2],"data_offsets":[4,8]},"__metadata__":{"k":"v"},)"
      R"("a":{"dtype":"I32","shape":[],"data_offsets":[0,4]}})";
  const std::string bytes = make_file(h, 8);
  SafetensorsFile f = SafetensorsFile::from_buffer(bytes.data(), bytes.size());
  ASSERT_EQ(f.entries().size(), 2u);
  EXPECT_EQ(f.entries()[0].name, "a");  // data order
  EXPECT_EQ(f.tensor("a").dim(), 0);
  EXPECT_EQ(f.tensor("b").sizes(), (Dims{2}));
  EXPECT_EQ(f.metadata().at("k"), "v");
  // Trailing spaces after the JSON are the standard padding.
  const std::string padded = make_file(R"({"__metadata__":null}   )", 0);
  EXPECT_EQ(parse_error(padded), "");
  EXPECT_EQ(parse_error(make_file("{}", 0)), "");
}

TEST(SafetensorsMalformed, BadHeaderLength) {
  EXPECT_PARSE_ERROR(std::string("\x01\x02\x03", 3), "fewer than the 8-byte header length");
  EXPECT_PARSE_ERROR(std::string(), "fewer than the 8-byte header length");
  EXPECT_PARSE_ERROR(le64(0), "too small");
  EXPECT_PARSE_ERROR(le64(1000) + "{}", "truncated file: the header length says 1000");
  EXPECT_PARSE_ERROR(le64(~uint64_t(0)) + "{}", "exceeds the limit");
}

TEST(SafetensorsMalformed, HugeHeader) {
  // A header length over 100 MB is refused before anything is read or allocated.
  EXPECT_PARSE_ERROR(le64(kSafetensorsMaxHeaderBytes + 1) + std::string(64, ' '), "exceeds the limit of 100000000");
}

TEST(SafetensorsMalformed, BadJson) {
  EXPECT_PARSE_ERROR(make_file("{\"a\": ", 0), "bad JSON header");
  EXPECT_PARSE_ERROR(make_file("[1, 2]", 0), "does not start with '{'");
  EXPECT_PARSE_ERROR(make_file("{} x", 0), "bad JSON header");
  EXPECT_PARSE_ERROR(make_file(std::string("{}\0\0", 4), 0), "bad JSON header");
  EXPECT_PARSE_ERROR(make_file("{\"a\": \"\xff\xfe\"}", 0), "bad JSON header");  // invalid UTF-8
  EXPECT_PARSE_ERROR(make_file(R"({"a": 5})", 0), "is not an object");
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"shape": [1], "data_offsets": [0, 1]}})", 1), "no string 'dtype'");
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "U8", "data_offsets": [0, 1]}})", 1), "no array 'shape'");
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "U8", "shape": [1]}})", 1), "data_offsets");
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0]}})", 1), "data_offsets");
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}})", 1),
                     "shape entries must be integers >= 0");
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "U8", "shape": [1.5], "data_offsets": [0, 1]}})", 1),
                     "shape entries must be integers >= 0");
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, -1]}})", 1),
                     "data_offsets must be integers");
  EXPECT_PARSE_ERROR(make_file(R"({"__metadata__": {"k": 1}})", 0), "is not a string");
  EXPECT_PARSE_ERROR(make_file(R"({"__metadata__": [1]})", 0), "__metadata__ must be an object");
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},)"
                               R"( "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})",
                               2),
                     "listed twice");
}

TEST(SafetensorsMalformed, UnknownDtype) {
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "BOOL", "shape": [1], "data_offsets": [0, 1]}})", 1),
                     "unknown dtype 'BOOL'");
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "float32", "shape": [1], "data_offsets": [0, 4]}})", 4),
                     "unknown dtype");
}

TEST(SafetensorsMalformed, Offsets) {
  // Out of range (the data section is shorter than the offsets say).
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8),
                     "offsets out of range");
  // Not matching shape x dtype size.
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}})", 12),
                     "needs 16");
  // End before begin.
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "U8", "shape": [0], "data_offsets": [4, 0]}})", 4),
                     "end before they begin");
  // Overlapping.
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},)"
                               R"( "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}})",
                               6),
                     "overlaps");
  // A hole between tensors.
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},)"
                               R"( "b": {"dtype": "U8", "shape": [2], "data_offsets": [4, 6]}})",
                               6),
                     "unused bytes before tensor 'b'");
  // Bytes after the last tensor.
  EXPECT_PARSE_ERROR(make_file(R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}})", 5),
                     "3 bytes after the last tensor");
  // Shapes whose byte size overflows 64 bits.
  EXPECT_PARSE_ERROR(
      make_file(R"({"a": {"dtype": "F64", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})", 8),
      "overflows");
  EXPECT_PARSE_ERROR(
      make_file(R"({"a": {"dtype": "U8", "shape": [18446744073709551615], "data_offsets": [0, 8]}})", 8),
      "overflows");
  // More dimensions than a TensorView holds.
  EXPECT_PARSE_ERROR(
      make_file(R"({"a": {"dtype": "U8", "shape": [1,1,1,1,1,1,1,1,1], "data_offsets": [0, 1]}})", 1),
      "dimensions");
}

TEST(SafetensorsMalformed, TruncatedFileOnDisk) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  std::vector<float> x(100, 1.0f);
  save_safetensors(path, {{"x", TensorView(x.data(), DType::kFloat32, Dims{100})}});
  fs::resize_file(path, fs::file_size(path) - 10);
  try {
    SafetensorsFile::open(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kValue);
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  fs::resize_file(path, 20);  // inside the header
  EXPECT_THROW(SafetensorsFile::open(path), Error);
  fs::resize_file(path, 0);
  EXPECT_THROW(SafetensorsFile::open(path), Error);
  EXPECT_THROW(SafetensorsFile::open(dir.file("missing.safetensors")), Error);
  EXPECT_THROW(SafetensorsFile::open(dir.path.string()), Error);  // a folder
}

TEST(SafetensorsMalformed, RandomCorruptionNeverCrashes) {
  // Flip bytes of a valid file's header: every outcome is a parse or an Error, never a crash.
  std::vector<float> x(16, 2.0f);
  std::vector<uint16_t> y(8, 3);
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  save_safetensors(path, {{"x", TensorView(x.data(), DType::kFloat32, Dims{4, 4})},
                          {"y", TensorView(y.data(), DType::kBFloat16, Dims{8})}},
                   {{"format", "pt"}});
  std::ifstream in(path, std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::mt19937 rng(7);
  int errors = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = good;
    const int flips = 1 + int(rng() % 3);
    for (int k = 0; k < flips; ++k) bad[rng() % std::min<size_t>(bad.size(), 200)] = char(rng());
    if (rng() % 4 == 0) bad.resize(rng() % bad.size());
    try {
      SafetensorsFile f = SafetensorsFile::from_buffer(bad.data(), bad.size());
      for (const SafetensorsEntry& e : f.entries()) EXPECT_LE(f.header().data_offset + e.end, bad.size());
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}

TEST(SafetensorsCheckpoint, ShardedIndex) {
  TempDir dir;
  std::vector<float> a(6, 1.0f), b(4, 2.0f), c(2, 3.0f);
  save_safetensors(dir.file("model-00001-of-00002.safetensors"),
                   {{"layer.0.weight", TensorView(a.data(), DType::kFloat32, Dims{2, 3})},
                    {"layer.0.bias", TensorView(c.data(), DType::kFloat32, Dims{2})}});
  save_safetensors(dir.file("model-00002-of-00002.safetensors"),
                   {{"layer.1.weight", TensorView(b.data(), DType::kFloat32, Dims{2, 2})}});
  std::ofstream(dir.file("model.safetensors.index.json"))
      << R"({"metadata": {"total_size": 48}, "weight_map": {)"
      << R"("layer.0.weight": "model-00001-of-00002.safetensors", "layer.0.bias": "model-00001-of-00002.safetensors",)"
      << R"("layer.1.weight": "model-00002-of-00002.safetensors"}})";
  SafetensorsCheckpoint ck = SafetensorsCheckpoint::open(dir.path.string());
  EXPECT_EQ(ck.shards().size(), 2u);
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"layer.0.bias", "layer.0.weight", "layer.1.weight"}));
  EXPECT_EQ(ck.shard_of("layer.1.weight"), 1u);
  EXPECT_EQ(ck.tensor("layer.1.weight").data_as<float>()[3], 2.0f);
  EXPECT_EQ(ck.index_metadata().at("total_size"), "48");
  EXPECT_EQ(ck.total_tensor_bytes(), 48u);
  // The index file itself opens the same checkpoint.
  EXPECT_EQ(SafetensorsCheckpoint::open(dir.file("model.safetensors.index.json")).names().size(), 3u);

  // A weight_map entry that its shard lacks.
  std::ofstream(dir.file("model.safetensors.index.json"))
      << R"({"weight_map": {"layer.0.weight": "model-00002-of-00002.safetensors"}})";
  EXPECT_THROW(SafetensorsCheckpoint::open(dir.path.string()), Error);
  // A missing shard, and a shard name that leaves the folder.
  std::ofstream(dir.file("model.safetensors.index.json")) << R"({"weight_map": {"x": "nope.safetensors"}})";
  EXPECT_THROW(SafetensorsCheckpoint::open(dir.path.string()), Error);
  std::ofstream(dir.file("model.safetensors.index.json")) << R"({"weight_map": {"x": "../x.safetensors"}})";
  EXPECT_THROW(SafetensorsCheckpoint::open(dir.path.string()), Error);
  std::ofstream(dir.file("model.safetensors.index.json")) << R"({"weight_map": )";
  EXPECT_THROW(SafetensorsCheckpoint::open(dir.path.string()), Error);
  // Without the index: every *.safetensors in the folder.
  fs::remove(dir.file("model.safetensors.index.json"));
  EXPECT_EQ(SafetensorsCheckpoint::open(dir.path.string()).names().size(), 3u);
  // A tensor in two files.
  save_safetensors(dir.file("model-dup.safetensors"),
                   {{"layer.1.weight", TensorView(b.data(), DType::kFloat32, Dims{2, 2})}});
  EXPECT_THROW(SafetensorsCheckpoint::open(dir.path.string()), Error);
}

TEST(SafetensorsCheckpoint, MissingOrEmpty) {
  TempDir dir;
  EXPECT_THROW(SafetensorsCheckpoint::open(dir.path.string()), Error);
  EXPECT_THROW(SafetensorsCheckpoint::open(dir.file("nope")), Error);
  std::vector<float> a(2, 1.0f);
  save_safetensors(dir.file("single.safetensors"), {{"w", TensorView(a.data(), DType::kFloat32, Dims{2})}});
  EXPECT_EQ(SafetensorsCheckpoint::open(dir.file("single.safetensors")).names().size(), 1u);
}
