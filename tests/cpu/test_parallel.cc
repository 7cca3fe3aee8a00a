// Tensor-parallel FP8 linear layers on the CPU: the sharding math, and column / row-parallel layers run by
// an in-process group of 1, 2 and 4 ranks (one thread each) against the single-device layer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <cstdlib>
#include <exception>
#include <functional>
#include <random>
#include <thread>
#include <unistd.h>
#include <vector>

#include "common/reference.h"
#include "cpu/op_test_helpers.h"
#include "w8a8/checkpoint.h"
#include "w8a8/error.h"
#include "w8a8/io.h"
#include "w8a8/formats.h"
#include "w8a8/parallel.h"
#include "w8a8/quant.h"
#include "w8a8/weights.h"

namespace w8a8 {
namespace {

using testref::same_bytes;

Tensor random_fp8(int64_t n, int64_t k, std::mt19937& g) {
  Tensor w = Tensor::empty({n, k}, DType::kFloat8E4M3FN);
  testref::fill_random_fp8(w, g);
  return w;
}

// Runs fn(rank, comm) on one thread per rank of a local group; rethrows the first failure.
void run_group(int world, const std::function<void(int, Communicator&)>& fn) {
  auto group = make_local_group(world);
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      try {
        fn(r, *group[size_t(r)]);
      } catch (...) {
        errors[size_t(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// ---- sharding math ------------------------------------------------------------------------------------------
TEST(Sharding, RangesSplitEvenlyAndRespectBlocks) {
  EXPECT_EQ(shard_range(1024, 4, 3).begin, 768);
  EXPECT_EQ(shard_range(1024, 4, 3).size, 256);
  EXPECT_EQ(shard_range(512, 1, 0).size, 512);
  EXPECT_THROW(shard_range(1000, 3, 0), Error);        // uneven
  EXPECT_THROW(shard_range(384, 2, 0, 128), Error);    // 192 per rank is not whole blocks
  EXPECT_THROW(shard_range(512, 2, 2), Error);         // rank out of range
  try {
    shard_range(1000, 3, 0);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kValue);
    EXPECT_NE(std::string(e.what()).find("does not split evenly over 3 ranks"), std::string::npos) << e.what();
  }
}

TEST(Sharding, ColumnAndRowShardsAreSlicesOfTheCheckpoint) {
  std::mt19937 g(1);
  const int64_t N = 512, K = 1024;
  Tensor w = random_fp8(N, K, g);
  Tensor per_channel = testref::random_scales({N, 1}, g);
  Tensor blocks = testref::random_scales({N / 128, K / 128}, g);
  Tensor per_tensor = testref::random_scales({1}, g);
  Tensor bias = testref::random_bias(N, DType::kBFloat16, g);
  for (int world : {1, 2, 4})
    for (int rank = 0; rank < world; ++rank) {
      const int64_t n = N / world, k = K / world;
      // Column: rows of the weight, of per-channel scales, of block rows, of the bias.
      WeightShard c = shard_weight(ParallelKind::kColumn, w, per_channel, TensorView(bias), world, rank);
      EXPECT_TRUE(same_bytes(c.weight, w.narrow(0, rank * n, n)));
      EXPECT_TRUE(same_bytes(c.weight_scale, per_channel.narrow(0, rank * n, n)));
      ASSERT_TRUE(c.bias.has_value());
      EXPECT_TRUE(same_bytes(*c.bias, bias.narrow(0, rank * n, n)));
      WeightShard cb = shard_weight(ParallelKind::kColumn, w, blocks, std::nullopt, world, rank);
      EXPECT_TRUE(same_bytes(cb.weight_scale, blocks.narrow(0, rank * n / 128, n / 128)));
      EXPECT_FALSE(cb.bias.has_value());
      // Row: columns of the weight and of block columns; per-channel scales whole; bias on rank 0 only.
      WeightShard r = shard_weight(ParallelKind::kRow, w, per_channel, TensorView(bias), world, rank);
      EXPECT_TRUE(same_bytes(r.weight, w.narrow(1, rank * k, k)));
      EXPECT_TRUE(same_bytes(r.weight_scale, per_channel));
      EXPECT_EQ(r.bias.has_value(), rank == 0);
      WeightShard rb = shard_weight(ParallelKind::kRow, w, blocks, std::nullopt, world, rank);
      EXPECT_TRUE(same_bytes(rb.weight_scale, blocks.narrow(1, rank * k / 128, k / 128)));
      WeightShard rt = shard_weight(ParallelKind::kRow, w, per_tensor, std::nullopt, world, rank);
      EXPECT_TRUE(same_bytes(rt.weight_scale, per_tensor));
    }
  // Block scales need whole blocks per rank; scales must fit a known layout.
  EXPECT_THROW(shard_weight(ParallelKind::kColumn, w, blocks, std::nullopt, 8, 0), Error);
  EXPECT_THROW(shard_weight(ParallelKind::kColumn, w, testref::random_scales({3}, g), std::nullopt, 2, 0), Error);
}

// A merged q|k|v weight with one scale per part: each rank gets its slice of every part, requantized to the
// largest of the parts' scales, so dequantized values stay those of the checkpoint (to FP8 rounding).
TEST(Sharding, MergedColumnParallelRequantizesToTheRankMaxScale) {
  std::mt19937 g(2);
  const std::vector<int64_t> widths = {256, 128, 128};
  const int64_t N = 512, K = 256;
  Tensor w = random_fp8(N, K, g);
  Tensor scales = Tensor::empty({3}, DType::kFloat32);
  scales.data_as<float>()[0] = 0.02f;
  scales.data_as<float>()[1] = 0.05f;
  scales.data_as<float>()[2] = 0.01f;
  for (int world : {1, 2, 4})
    for (int rank = 0; rank < world; ++rank) {
      WeightShard s = shard_merged_column_parallel(w, scales, widths, std::nullopt, world, rank);
      ASSERT_EQ(s.weight.size(0), N / world);
      ASSERT_EQ(s.weight_scale.numel(), 1);
      EXPECT_EQ(s.weight_scale.data_as<float>()[0], 0.05f);
      int64_t local_row = 0, src = 0;
      for (size_t p = 0; p < widths.size(); ++p) {
        const int64_t part = widths[p] / world;
        for (int64_t i = 0; i < part; ++i)
          for (int64_t j = 0; j < K; j += 17) {
            const double orig = e4m3fn_to_float(w.data_as<uint8_t>()[(src + rank * part + i) * K + j]) *
                                double(scales.data_as<float>()[p]);
            const double now = e4m3fn_to_float(s.weight.data_as<uint8_t>()[(local_row + i) * K + j]) * 0.05;
            EXPECT_NEAR(now, orig, std::fabs(orig) * 0.0625 + 0.05 * 0.002) << "part " << p << " row " << i;
          }
        local_row += part;
        src += widths[p];
      }
    }
  EXPECT_THROW(shard_merged_column_parallel(w, scales, {256, 128, 127}, std::nullopt, 2, 0), Error);
  EXPECT_THROW(shard_merged_column_parallel(w, scales, {256, 130, 126}, std::nullopt, 4, 0), Error);
}

// ---- layers -----------------------------------------------------------------------------------------------
struct Layer {
  Tensor w, scale, bias;
};
Layer make_layer(int64_t N, int64_t K, std::mt19937& g) {
  return {random_fp8(N, K, g), testref::random_scales({N, 1}, g), testref::random_bias(N, DType::kBFloat16, g)};
}

// Each element of `actual` (bf16) is the matching element of `expected` (bf16) or its bf16 neighbour: the
// same products summed in another fp32 order (BLAS splits work by problem size, so a rank's N/world columns may
// be summed in another order than the full layer's) moves a result by at most one bf16 rounding step here.
::testing::AssertionResult within_one_bf16_step(const TensorView& actual, const TensorView& expected) {
  if (actual.sizes() != expected.sizes()) return ::testing::AssertionFailure() << "shapes differ";
  for (int64_t i = 0; i < actual.size(0); ++i)
    for (int64_t j = 0; j < actual.size(1); ++j) {
      const uint16_t a = static_cast<const uint16_t*>(actual.data())[i * actual.stride(0) + j * actual.stride(1)];
      const uint16_t e = static_cast<const uint16_t*>(expected.data())[i * expected.stride(0) + j * expected.stride(1)];
      const bool same_sign = (a & 0x8000) == (e & 0x8000);
      const int step = std::abs(int(a & 0x7fff) - int(e & 0x7fff));
      if (!(same_sign && step <= 1) && !((a & 0x7fff) == 0 && (e & 0x7fff) == 0))
        return ::testing::AssertionFailure() << "element [" << i << ", " << j << "]: " << bf16_to_float(a) << " vs "
                                             << bf16_to_float(e);
    }
  return ::testing::AssertionSuccess();
}

// Column-parallel: every rank's output columns are the single-device layer's (the same quantized activation, the
// same per-element products; bit for bit on one rank, within one bf16 step otherwise); gathered, every rank holds
// the same bytes.
TEST(TensorParallel, ColumnParallelMatchesSingleDevice) {
  std::mt19937 g(3);
  const int64_t N = 256, K = 384;
  Layer L = make_layer(N, K, g);
  for (int64_t M : {1, 5, 64}) {
    Tensor x = op_test::randn({M, K}, DType::kBFloat16, g());
    const Fp8LinearOp op(false, PER_TOKEN);
    Tensor full = op.apply(x, L.w.t(), L.scale, std::nullopt, std::nullopt, std::nullopt, TensorView(L.bias));
    for (int world : {1, 2, 4})
      for (bool gather : {false, true}) {
        std::vector<Tensor> outs(static_cast<size_t>(world));
        run_group(world, [&](int rank, Communicator& comm) {
          WeightShard s = shard_weight(ParallelKind::kColumn, L.w, L.scale, TensorView(L.bias), world, rank);
          TensorParallelFp8Linear layer(ParallelKind::kColumn, comm, op, gather);
          const int64_t n = N / world;
          Tensor out = Tensor::empty({M, gather ? N : n}, DType::kBFloat16);
          layer.apply(out, x, s.weight.t(), s.weight_scale, std::nullopt, s.bias ? std::optional<TensorView>(*s.bias) : std::nullopt);
          const TensorView expected = gather ? TensorView(full) : full.narrow(1, rank * n, n);
          if (world == 1) {
            EXPECT_TRUE(same_bytes(out, expected)) << "M=" << M;
          }
          EXPECT_TRUE(within_one_bf16_step(out, expected)) << "M=" << M << " world=" << world << " rank=" << rank;
          outs[size_t(rank)] = std::move(out);
        });
        for (int r = 1; gather && r < world; ++r) {
          EXPECT_TRUE(same_bytes(outs[size_t(r)], outs[0])) << "M=" << M << " world=" << world << " rank=" << r;
        }
      }
  }
}

// Row-parallel with a static activation scale (every rank quantizes its slice exactly as the single device
// does): the sum of the ranks' partial products is the single-device result to fp32 summation error; with bf16
// output each partial is rounded to bf16 before the sum (vLLM's all-reduce does the same). The bias counts once.
TEST(TensorParallel, RowParallelSumsPartialsToTheSingleDeviceResult) {
  std::mt19937 g(4);
  const int64_t N = 192, K = 512, M = 33;
  Layer L = make_layer(N, K, g);
  Tensor bias32 = Tensor::empty({N}, DType::kFloat32);
  for (int64_t i = 0; i < N; ++i) bias32.data_as<float>()[i] = bf16_to_float(L.bias.data_as<uint16_t>()[i]);
  Tensor x = op_test::randn({M, K}, DType::kFloat32, g());
  Tensor input_scale = Tensor::empty({1}, DType::kFloat32);
  input_scale.data_as<float>()[0] = 0.01f;
  const Fp8LinearOp op(true, PER_TENSOR);
  for (DType out_dtype : {DType::kFloat32, DType::kBFloat16}) {
    const Tensor& bias = out_dtype == DType::kFloat32 ? bias32 : L.bias;
    Tensor full = Tensor::empty({M, N}, out_dtype);
    Tensor xin = out_dtype == DType::kFloat32 ? x : Tensor::empty({M, K}, DType::kBFloat16);
    if (out_dtype == DType::kBFloat16)
      for (int64_t i = 0; i < x.numel(); ++i) xin.data_as<uint16_t>()[i] = float_to_bf16(x.data_as<float>()[i]);
    op.apply(full, xin, L.w.t(), L.scale, TensorView(input_scale), std::nullopt, TensorView(bias));
    for (int world : {1, 2, 4})
      run_group(world, [&](int rank, Communicator& comm) {
        WeightShard s = shard_weight(ParallelKind::kRow, L.w, L.scale, TensorView(bias), world, rank);
        const ShardRange r = shard_range(K, world, rank);
        Tensor xr = Tensor::copy_of(xin.narrow(1, r.begin, r.size));
        TensorParallelFp8Linear layer(ParallelKind::kRow, comm, op);
        Tensor out = Tensor::empty({M, N}, out_dtype);
        layer.apply(out, xr, s.weight.t(), s.weight_scale, TensorView(input_scale),
                    s.bias ? std::optional<TensorView>(*s.bias) : std::nullopt);
        const double tol = out_dtype == DType::kFloat32 ? 1e-5 : 8e-3;
        const std::vector<float> ref = op_test::values(full);
        EXPECT_LE(op_test::rel_error(out, {ref.begin(), ref.end()}), tol)
            << dtype_name(out_dtype) << " world=" << world << " rank=" << rank;
        if (world == 1) {
          EXPECT_TRUE(same_bytes(out, full));
        }
      });
  }
}

namespace fs = std::filesystem;

// A fresh input folder (removed after the test) and the tensors of two modules to split: q_proj (column-parallel,
// per-channel scales) and o_proj (row-parallel, per-tensor scale and a bias).
class ShardCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::temp_directory_path() /
           ("w8a8-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
            std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root / "in");
  }
  void TearDown() override { fs::remove_all(root); }
  fs::path root;
  std::mt19937 g{5};
  Tensor q = random_fp8(256, 128, g), o = random_fp8(128, 256, g);
  Tensor q_scale = testref::random_scales({256, 1}, g), o_scale = testref::random_scales({1}, g);
  Tensor o_bias = testref::random_bias(128, DType::kBFloat16, g);
};

// w8a8 shard: column modules split rows (with per-channel scales), row modules split columns (bias on rank 0),
// everything else replicated; other files copied; the input scale shared.
TEST_F(ShardCheckpoint, SplitsModulesAndReplicatesTheRest) {
  Tensor norm = testref::random_bias(128, DType::kBFloat16, g), in_scale = testref::random_scales({1}, g);
  const std::vector<std::pair<std::string, Tensor*>> tensors = {
      {"layers.0.self_attn.q_proj.weight", &q},     {"layers.0.self_attn.q_proj.weight_scale", &q_scale},
      {"layers.0.self_attn.q_proj.input_scale", &in_scale}, {"layers.0.self_attn.o_proj.weight", &o},
      {"layers.0.self_attn.o_proj.weight_scale", &o_scale}, {"layers.0.self_attn.o_proj.bias", &o_bias},
      {"norm.weight", &norm}};
  {
    std::vector<SafetensorsSpec> specs;
    for (const auto& [name, t] : tensors) specs.push_back({name, t->dtype(), t->sizes()});
    SafetensorsWriter w((root / "in" / "model.safetensors").string(), specs);
    for (const auto& [name, t] : tensors) w.write(name, *t);
    w.commit();
    std::ofstream(root / "in" / "config.json") << "{}\n";
  }
  ShardCheckpointOptions opt;
  opt.input = (root / "in").string();
  opt.output = (root / "out").string();
  opt.world = 2;
  const ShardCheckpointReport r = shard_checkpoint(opt);
  ASSERT_EQ(r.ranks.size(), 2u);
  EXPECT_EQ(r.column_modules, std::vector<std::string>{"layers.0.self_attn.q_proj"});
  EXPECT_EQ(r.row_modules, std::vector<std::string>{"layers.0.self_attn.o_proj"});
  for (int rank = 0; rank < 2; ++rank) {
    const fs::path dir = root / "out" / ("rank-" + std::to_string(rank));
    EXPECT_TRUE(fs::exists(dir / "config.json"));
    SafetensorsFile f = SafetensorsFile::open((dir / "model.safetensors").string());
    EXPECT_TRUE(same_bytes(f.tensor("layers.0.self_attn.q_proj.weight"), q.narrow(0, rank * 128, 128)));
    EXPECT_TRUE(same_bytes(f.tensor("layers.0.self_attn.q_proj.weight_scale"), q_scale.narrow(0, rank * 128, 128)));
    EXPECT_TRUE(same_bytes(f.tensor("layers.0.self_attn.q_proj.input_scale"), in_scale));
    EXPECT_TRUE(same_bytes(f.tensor("layers.0.self_attn.o_proj.weight"), o.narrow(1, rank * 128, 128)));
    EXPECT_TRUE(same_bytes(f.tensor("layers.0.self_attn.o_proj.weight_scale"), o_scale));
    EXPECT_EQ(f.contains("layers.0.self_attn.o_proj.bias"), rank == 0);
    EXPECT_TRUE(same_bytes(f.tensor("norm.weight"), norm));
  }
  // An existing output folder is refused.
  EXPECT_THROW(shard_checkpoint(opt), Error);
}

// A sharded input whose scales and bias live in another file than their weights (the index says where): each
// rank keeps that layout, and gets an index of its own that SafetensorsCheckpoint opens (the row-parallel bias
// is on rank 0 only, so a copied index would name a tensor rank 1 lacks).
TEST_F(ShardCheckpoint, ScalesAndBiasStayInTheirFileAndEachRankHasItsIndex) {
  save_safetensors((root / "in" / "model-00001-of-00002.safetensors").string(),
                   {{"layers.0.self_attn.q_proj.weight", q}, {"layers.0.self_attn.o_proj.weight", o}});
  save_safetensors((root / "in" / "model-00002-of-00002.safetensors").string(),
                   {{"layers.0.self_attn.q_proj.weight_scale", q_scale},
                    {"layers.0.self_attn.o_proj.weight_scale", o_scale},
                    {"layers.0.self_attn.o_proj.bias", o_bias}});
  std::ofstream(root / "in" / "model.safetensors.index.json")
      << R"({"metadata": {}, "weight_map": {"layers.0.self_attn.q_proj.weight": "model-00001-of-00002.safetensors",
      "layers.0.self_attn.o_proj.weight": "model-00001-of-00002.safetensors",
      "layers.0.self_attn.q_proj.weight_scale": "model-00002-of-00002.safetensors",
      "layers.0.self_attn.o_proj.weight_scale": "model-00002-of-00002.safetensors",
      "layers.0.self_attn.o_proj.bias": "model-00002-of-00002.safetensors"}})";
  ShardCheckpointOptions opt;
  opt.input = (root / "in").string();
  opt.output = (root / "out").string();
  opt.world = 2;
  shard_checkpoint(opt);
  for (int rank = 0; rank < 2; ++rank) {
    const fs::path dir = root / "out" / ("rank-" + std::to_string(rank));
    const SafetensorsCheckpoint ck = SafetensorsCheckpoint::open(dir.string());
    EXPECT_FALSE(ck.index_path().empty());
    const auto file_of = [&](const std::string& name) {
      return fs::path(ck.shards()[ck.shard_of(name)].path()).filename().string();
    };
    EXPECT_EQ(file_of("layers.0.self_attn.q_proj.weight"), "model-00001-of-00002.safetensors");
    EXPECT_EQ(file_of("layers.0.self_attn.q_proj.weight_scale"), "model-00002-of-00002.safetensors");
    EXPECT_EQ(file_of("layers.0.self_attn.o_proj.weight_scale"), "model-00002-of-00002.safetensors");
    EXPECT_TRUE(same_bytes(ck.tensor("layers.0.self_attn.q_proj.weight"), q.narrow(0, rank * 128, 128)));
    EXPECT_TRUE(same_bytes(ck.tensor("layers.0.self_attn.q_proj.weight_scale"), q_scale.narrow(0, rank * 128, 128)));
    EXPECT_TRUE(same_bytes(ck.tensor("layers.0.self_attn.o_proj.weight"), o.narrow(1, rank * 128, 128)));
    EXPECT_EQ(ck.contains("layers.0.self_attn.o_proj.bias"), rank == 0);
    if (rank == 0) {
      EXPECT_EQ(file_of("layers.0.self_attn.o_proj.bias"), "model-00002-of-00002.safetensors");
      EXPECT_TRUE(same_bytes(ck.tensor("layers.0.self_attn.o_proj.bias"), o_bias));
    }
    EXPECT_EQ(ck.index_metadata().at("total_size"), std::to_string(ck.total_tensor_bytes()));
  }
}

TEST(TensorParallel, RejectsMismatchedUse) {
  auto group = make_local_group(1);
  EXPECT_THROW(TensorParallelFp8Linear(ParallelKind::kRow, *group[0], Fp8LinearOp(false, PER_TOKEN), true), Error);
  EXPECT_THROW(make_local_group(0), Error);
  if (!nccl_built()) {
    try {
      nccl_communicator(nullptr);
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    }
  }
}

}  // namespace
}  // namespace w8a8
