// Checkpoint schemes and formats: the quantization_config keys, per-weight quantization checked
// bit-exactly against an independent computation of each scheme, which tensors are quantized, and
// `quantize_checkpoint` end to end (round trip through the reader, refusals, nothing half written).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "w8a8/checkpoint.h"
#include "w8a8/error.h"
#include "w8a8/formats.h"
#include "w8a8/io.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace w8a8;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "w8a8_ck_XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A float weight stored in `dtype`, with values spread over several orders of magnitude per row.
struct HostWeight {
  DType dtype;
  int64_t N, K;
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // the exact stored values, as fp32 (fp64 inputs rounded like the library)
  TensorView view() { return TensorView(bytes.data(), dtype, Dims{N, K}); }
};

HostWeight make_weight(DType dtype, int64_t N, int64_t K, uint32_t seed) {
  HostWeight w{dtype, N, K, std::vector<uint8_t>(size_t(N * K) * dtype_size(dtype)), std::vector<float>(size_t(N * K))};
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (int64_t n = 0; n < N; ++n) {
    const float row_scale = std::ldexp(1.0f, int(n % 9) - 6);  // rows from 2^-6 to 2^2
    for (int64_t k = 0; k < K; ++k) {
      const float v = g(rng) * row_scale * 0.05f;
      const size_t i = size_t(n * K + k);
      switch (dtype) {
        case DType::kBFloat16: {
          const uint16_t h = float_to_bf16(v);
          std::memcpy(&w.bytes[2 * i], &h, 2);
          w.values[i] = bf16_to_float(h);
          break;
        }
        case DType::kFloat16: {
          const uint16_t h = float_to_fp16(v);
          std::memcpy(&w.bytes[2 * i], &h, 2);
          w.values[i] = fp16_to_float(h);
          break;
        }
        case DType::kFloat64: {
          const double d = double(v) * (1.0 + 1e-9);
          std::memcpy(&w.bytes[8 * i], &d, 8);
          w.values[i] = float(d);
          break;
        }
        default:
          std::memcpy(&w.bytes[4 * i], &v, 4);
          w.values[i] = v;
      }
    }
  }
  return w;
}

// ---- the independent reference of each scheme (spec section 2), from formats.h only ----
constexpr float kMax = 448.0f;
constexpr float kMinScale = 1.0f / (448.0f * 512.0f);

struct RefQuant {
  std::vector<uint8_t> q;
  std::vector<float> scale;
  Dims scale_shape;
};

RefQuant reference_quant(const std::vector<float>& w, int64_t N, int64_t K, QuantScheme scheme) {
  RefQuant r;
  r.q.resize(size_t(N * K));
  auto scale_of = [](float amax) { return std::max(amax / kMax, kMinScale); };
  if (scheme == QuantScheme::kFp8Dynamic) {
    r.scale_shape = Dims{N, 1};
    for (int64_t n = 0; n < N; ++n) {
      float amax = 0;
      for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(w[size_t(n * K + k)]));
      const float s = scale_of(amax), inv = 1.0f / s;
      r.scale.push_back(s);
      for (int64_t k = 0; k < K; ++k) r.q[size_t(n * K + k)] = quantize_e4m3fn(w[size_t(n * K + k)] * inv);
    }
  } else if (scheme == QuantScheme::kFp8Block) {
    const int64_t nb = cdiv(N, 128), kb = cdiv(K, 128);
    r.scale_shape = Dims{nb, kb};
    r.scale.resize(size_t(nb * kb));
    for (int64_t bn = 0; bn < nb; ++bn)
      for (int64_t bk = 0; bk < kb; ++bk) {
        float amax = 0;
        for (int64_t n = bn * 128; n < std::min(N, bn * 128 + 128); ++n)
          for (int64_t k = bk * 128; k < std::min(K, bk * 128 + 128); ++k)
            amax = std::max(amax, std::fabs(w[size_t(n * K + k)]));
        const float s = scale_of(amax), inv = 1.0f / s;
        r.scale[size_t(bn * kb + bk)] = s;
        for (int64_t n = bn * 128; n < std::min(N, bn * 128 + 128); ++n)
          for (int64_t k = bk * 128; k < std::min(K, bk * 128 + 128); ++k)
            r.q[size_t(n * K + k)] = quantize_e4m3fn(w[size_t(n * K + k)] * inv);
      }
  } else {
    r.scale_shape = Dims{1};
    float amax = 0;
    for (float v : w) amax = std::max(amax, std::fabs(v));
    const float s = scale_of(amax), inv = 1.0f / s;
    r.scale.push_back(s);
    for (size_t i = 0; i < w.size(); ++i) r.q[i] = quantize_e4m3fn(w[i] * inv);
  }
  return r;
}

void expect_matches_reference(const TensorView& q, const TensorView& scale, const RefQuant& ref,
                              const std::string& what) {
  ASSERT_EQ(q.dtype(), DType::kFloat8E4M3FN) << what;
  ASSERT_EQ(scale.sizes(), ref.scale_shape) << what;
  Tensor s = to_float32(scale);
  for (size_t i = 0; i < ref.scale.size(); ++i)
    ASSERT_EQ(s.data_as<float>()[i], ref.scale[i]) << what << " scale " << i;
  const auto* qb = static_cast<const uint8_t*>(q.data());
  for (size_t i = 0; i < ref.q.size(); ++i)
    ASSERT_EQ(int(qb[i]), int(ref.q[i])) << what << " code " << i << " of " << ref.q.size();
}

double rel_err(const float* a, const std::vector<float>& ref) {
  double e = 0, r = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    e += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    r += double(ref[i]) * ref[i];
  }
  return std::sqrt(e / r);
}

const QuantScheme kSchemes[] = {QuantScheme::kFp8Dynamic, QuantScheme::kFp8Static, QuantScheme::kFp8Tensor,
                                QuantScheme::kFp8Block};

}  // namespace

// ---- names and configs ---------------------------------------------------------------------------
TEST(Checkpoint, Names) {
  for (QuantScheme s : kSchemes) EXPECT_EQ(quant_scheme_from_name(quant_scheme_name(s)), s);
  EXPECT_THROW(quant_scheme_from_name("fp8"), Error);
  EXPECT_EQ(checkpoint_format_from_name("fp8"), CheckpointFormat::kHfFp8);
  EXPECT_EQ(checkpoint_format_from_name("compressed-tensors"), CheckpointFormat::kCompressedTensors);
  EXPECT_THROW(checkpoint_format_from_name("gguf"), Error);
  EXPECT_NO_THROW(check_scheme_format(QuantScheme::kFp8Block, CheckpointFormat::kHfFp8));
  EXPECT_THROW(check_scheme_format(QuantScheme::kFp8Dynamic, CheckpointFormat::kHfFp8), Error);
  EXPECT_EQ(weight_scale_name("a.b", CheckpointFormat::kHfFp8), "a.b.weight_scale_inv");
  EXPECT_EQ(weight_scale_name("a.b", CheckpointFormat::kCompressedTensors), "a.b.weight_scale");
}

TEST(Checkpoint, CompressedTensorsConfigKeys) {
  const std::set<std::string> allowed = {"num_bits", "type",     "symmetric", "strategy", "dynamic",
                                         "group_size", "block_structure", "observer", "actorder"};
  struct Expect {
    QuantScheme scheme;
    const char* w_strategy;
    const char* a_strategy;
    bool a_dynamic;
  } cases[] = {{QuantScheme::kFp8Dynamic, "channel", "token", true},
               {QuantScheme::kFp8Static, "tensor", "tensor", false},
               {QuantScheme::kFp8Tensor, "tensor", "tensor", true},
               {QuantScheme::kFp8Block, "block", "group", true}};
  for (const Expect& c : cases) {
    const json qc = json::parse(quantization_config_json(c.scheme, CheckpointFormat::kCompressedTensors, {"lm_head"}));
    SCOPED_TRACE(quant_scheme_name(c.scheme));
    EXPECT_EQ(qc["quant_method"], "compressed-tensors");
    EXPECT_EQ(qc["format"], "float-quantized");
    EXPECT_EQ(qc["quantization_status"], "compressed");
    EXPECT_EQ(qc["ignore"], json::array({"lm_head"}));
    const json& g = qc["config_groups"]["group_0"];
    EXPECT_EQ(g["targets"], json::array({"Linear"}));
    for (const char* which : {"weights", "input_activations"}) {
      const json& a = g[which];
      for (auto it = a.begin(); it != a.end(); ++it) EXPECT_TRUE(allowed.count(it.key())) << it.key();
      EXPECT_EQ(a["num_bits"], 8);
      EXPECT_EQ(a["type"], "float");
      EXPECT_EQ(a["symmetric"], true);
    }
    EXPECT_EQ(g["weights"]["strategy"], c.w_strategy);
    EXPECT_EQ(g["weights"]["dynamic"], false);
    EXPECT_EQ(g["input_activations"]["strategy"], c.a_strategy);
    EXPECT_EQ(g["input_activations"]["dynamic"], c.a_dynamic);
    if (c.scheme == QuantScheme::kFp8Block) {
      EXPECT_EQ(g["weights"]["block_structure"], json::array({128, 128}));
      EXPECT_EQ(g["input_activations"]["group_size"], 128);
    }
    if (c.scheme == QuantScheme::kFp8Static) {
      EXPECT_EQ(g["input_activations"]["observer"], "static_minmax");
    }
  }
}

TEST(Checkpoint, HfFp8ConfigKeys) {
  const json qc = json::parse(quantization_config_json(QuantScheme::kFp8Block, CheckpointFormat::kHfFp8, {"lm_head"}));
  EXPECT_EQ(qc, json::parse(R"({"quant_method": "fp8", "activation_scheme": "dynamic",
                                "weight_block_size": [128, 128], "modules_to_not_convert": ["lm_head"]})"));
  EXPECT_THROW(quantization_config_json(QuantScheme::kFp8Static, CheckpointFormat::kHfFp8, {}), Error);
}

// ---- per-weight math -----------------------------------------------------------------------------
TEST(Checkpoint, QuantizeWeightMatchesIndependentReference) {
  const DType dtypes[] = {DType::kBFloat16, DType::kFloat16, DType::kFloat32, DType::kFloat64};
  const std::pair<int64_t, int64_t> shapes[] = {{1, 1}, {3, 17}, {130, 200}, {256, 384}, {129, 129}};
  uint32_t seed = 0;
  for (DType dt : dtypes)
    for (auto [N, K] : shapes)
      for (QuantScheme scheme : kSchemes) {
        HostWeight w = make_weight(dt, N, K, ++seed);
        const std::string what = std::string(dtype_name(dt)) + " [" + std::to_string(N) + ", " +
                                  std::to_string(K) + "] " + quant_scheme_name(scheme);
        QuantizedWeight q = quantize_weight(w.view(), scheme);
        expect_matches_reference(q.weight, q.weight_scale, reference_quant(w.values, N, K, scheme), what);
        // Dequantized within FP8 error of the input (e4m3: 3 mantissa bits, relative step 2^-4).
        Tensor deq = dequantize_weight(q.weight, q.weight_scale);
        const double err = rel_err(deq.data_as<float>(), w.values);
        EXPECT_LT(err, scheme == QuantScheme::kFp8Dynamic || scheme == QuantScheme::kFp8Block ? 0.04 : 0.08) << what;
      }
}

TEST(Checkpoint, QuantizeWeightUnalignedInput) {
  // A mapped bf16 tensor may start at an odd address: the result is the same.
  HostWeight w = make_weight(DType::kBFloat16, 9, 33, 5);
  std::vector<uint8_t> shifted(w.bytes.size() + 1);
  std::memcpy(shifted.data() + 1, w.bytes.data(), w.bytes.size());
  TensorView unaligned(shifted.data() + 1, DType::kBFloat16, Dims{9, 33});
  for (QuantScheme scheme : kSchemes) {
    QuantizedWeight q = quantize_weight(unaligned, scheme);
    expect_matches_reference(q.weight, q.weight_scale, reference_quant(w.values, 9, 33, scheme), "unaligned");
  }
}

TEST(Checkpoint, DequantizeAcceptsHalfScales) {
  // llm-compressor writes scales in the weight's dtype: bf16 scales read as fp32.
  uint8_t q[4] = {0x38, 0xB8, 0x40, 0x00};  // 1, -1, 2, 0 in e4m3fn
  const uint16_t s = float_to_bf16(0.5f);
  Tensor d = dequantize_weight(TensorView(q, DType::kFloat8E4M3FN, Dims{2, 2}),
                               TensorView(const_cast<uint16_t*>(&s), DType::kBFloat16, Dims{1}));
  EXPECT_EQ(d.data_as<float>()[0], 0.5f);
  EXPECT_EQ(d.data_as<float>()[1], -0.5f);
  EXPECT_EQ(d.data_as<float>()[2], 1.0f);
  float bad[3] = {1, 1, 1};
  EXPECT_THROW(dequantize_weight(TensorView(q, DType::kFloat8E4M3FN, Dims{2, 2}),
                                 TensorView(bad, DType::kFloat32, Dims{3})),
               Error);
}

TEST(Checkpoint, PlanTensor) {
  const QuantScheme d = QuantScheme::kFp8Dynamic;
  auto plan = [&](const std::string& name, DType t, Dims shape, QuantScheme s = QuantScheme::kFp8Dynamic,
                  std::vector<std::string> ignore = {}) { return plan_tensor(name, t, shape, s, ignore); };
  EXPECT_TRUE(plan("model.layers.0.mlp.down_proj.weight", DType::kBFloat16, {64, 128}).quantize);
  EXPECT_EQ(plan("model.layers.0.mlp.down_proj.weight", DType::kBFloat16, {64, 128}).module,
            "model.layers.0.mlp.down_proj");
  EXPECT_FALSE(plan("model.layers.0.mlp.down_proj.bias", DType::kBFloat16, {64}).quantize);
  EXPECT_FALSE(plan("model.layers.0.mlp.down_proj.bias", DType::kBFloat16, {64}).listed_in_ignore);
  EXPECT_FALSE(plan("model.norm.weight", DType::kBFloat16, {64}).listed_in_ignore);  // 1-D: not a Linear
  EXPECT_FALSE(plan("x.weight", DType::kInt64, {2, 2}).quantize);
  EXPECT_FALSE(plan("x.weight", DType::kFloat8E4M3FN, {2, 2}).quantize);
  EXPECT_FALSE(plan("x.weight", DType::kFloat32, {2, 2, 2}).quantize);
  for (const char* name : {"model.embed_tokens.weight", "embeddings.word_embeddings.weight", "transformer.wte.weight",
                           "lm_head.weight", "model.layers.0.input_layernorm.weight"}) {
    const TensorPlan p = plan(name, DType::kBFloat16, {64, 128});
    EXPECT_FALSE(p.quantize) << name;
    EXPECT_TRUE(p.listed_in_ignore) << name;
  }
  EXPECT_EQ(plan("lm_head.weight", DType::kBFloat16, {64, 128}).reason, "lm_head");
  const TensorPlan ign = plan("model.layers.3.self_attn.q_proj.weight", DType::kBFloat16, {64, 128}, d,
                              {"layers\\.[0-9]\\.self_attn"});
  EXPECT_FALSE(ign.quantize);
  EXPECT_TRUE(ign.listed_in_ignore);
  EXPECT_EQ(ign.module, "model.layers.3.self_attn.q_proj");
  EXPECT_THROW(plan("a.weight", DType::kBFloat16, {2, 2}, d, {"("}), Error);
  // Block: K must be a multiple of 128 (1x128 activation groups); N need not be.
  EXPECT_TRUE(plan("a.weight", DType::kBFloat16, {100, 256}, QuantScheme::kFp8Block).quantize);
  EXPECT_FALSE(plan("a.weight", DType::kBFloat16, {100, 200}, QuantScheme::kFp8Block).quantize);
  EXPECT_TRUE(plan("a.weight", DType::kBFloat16, {100, 200}, QuantScheme::kFp8Tensor).quantize);
}

// ---- the pipeline ------------------------------------------------------------------------------
namespace {

struct TinyModel {
  TempDir dir;
  fs::path model;
  std::map<std::string, HostWeight> weights;  // every float tensor
  int64_t hidden = 256, inter = 384, vocab = 100;

  explicit TinyModel(bool sharded, DType dt = DType::kBFloat16) {
    model = dir.path / "model";
    fs::create_directories(model / "1_Pooling");
    uint32_t seed = 100;
    auto add = [&](const std::string& name, int64_t N, int64_t K) {
      weights.emplace(name, make_weight(dt, N, K, ++seed));
    };
    add("model.embed_tokens.weight", vocab, hidden);
    for (int l = 0; l < 2; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      add(p + "self_attn.q_proj.weight", hidden, hidden);
      add(p + "self_attn.o_proj.weight", hidden, hidden);
      add(p + "mlp.up_proj.weight", inter, hidden);
      add(p + "mlp.down_proj.weight", hidden, inter);
      add(p + "mlp.odd_proj.weight", 130, 200);  // K not a multiple of 128
    }
    add("lm_head.weight", vocab, hidden);
    std::vector<std::pair<std::string, TensorView>> a, b;
    for (auto& [name, w] : weights)
      (sharded && name.find("layers.1") != std::string::npos ? b : a).emplace_back(name, w.view());
    norm.assign(size_t(hidden) * dtype_size(dt), 0x3f);
    a.emplace_back("model.norm.weight", TensorView(norm.data(), dt, Dims{hidden}));
    bias.assign(size_t(hidden) * 4, 0x01);
    a.emplace_back("model.layers.0.self_attn.q_proj.bias", TensorView(bias.data(), DType::kFloat32, Dims{hidden}));
    a.emplace_back("model.rotary.inv_freq_ids", TensorView(ids, DType::kInt64, Dims{4}));
    if (sharded) {
      save_safetensors((model / "model-00001-of-00002.safetensors").string(), a, {{"format", "pt"}});
      save_safetensors((model / "model-00002-of-00002.safetensors").string(), b, {{"format", "pt"}});
      json wm = json::object();
      for (auto& t : a) wm[t.first] = "model-00001-of-00002.safetensors";
      for (auto& t : b) wm[t.first] = "model-00002-of-00002.safetensors";
      std::ofstream(model / "model.safetensors.index.json") << json{{"metadata", {{"total_size", 1}}}, {"weight_map", wm}}.dump();
    } else {
      save_safetensors((model / "model.safetensors").string(), a, {{"format", "pt"}});
    }
    std::ofstream(model / "config.json") << R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 256})";
    std::ofstream(model / "tokenizer.json") << R"({"version": "1.0"})";
    std::ofstream(model / "1_Pooling" / "config.json") << R"({"pooling_mode_mean_tokens": true})";
    std::ofstream(model / "pytorch_model.bin") << "not copied";
    std::ofstream(model / ".gitattributes") << "not copied";
  }
  std::vector<uint8_t> norm, bias;
  int64_t ids[4] = {1, 2, 3, 4};
};

QuantizeOptions options_for(const TinyModel& m, const fs::path& out, QuantScheme s,
                            CheckpointFormat f = CheckpointFormat::kCompressedTensors) {
  QuantizeOptions o;
  o.input = m.model.string();
  o.output = out.string();
  o.scheme = s;
  o.format = f;
  o.threads = 2;
  return o;
}

bool no_temporaries(const fs::path& dir) {
  for (const auto& de : fs::directory_iterator(dir))
    if (de.path().filename().string().find("w8a8-") != std::string::npos) return false;
  return true;
}

}  // namespace

TEST(QuantizeCheckpoint, RoundTripEverySchemeAndFormat) {
  for (bool sharded : {false, true}) {
    TinyModel m(sharded);
    struct Case {
      QuantScheme s;
      CheckpointFormat f;
    } cases[] = {{QuantScheme::kFp8Dynamic, CheckpointFormat::kCompressedTensors},
                 {QuantScheme::kFp8Tensor, CheckpointFormat::kCompressedTensors},
                 {QuantScheme::kFp8Static, CheckpointFormat::kCompressedTensors},
                 {QuantScheme::kFp8Block, CheckpointFormat::kCompressedTensors},
                 {QuantScheme::kFp8Block, CheckpointFormat::kHfFp8}};
    // Calibration activations for fp8-static: sample inputs of every Linear.
    std::map<std::string, std::vector<float>> calib;
    std::vector<std::pair<std::string, TensorView>> calib_views;
    std::mt19937 rng(3);
    std::normal_distribution<float> g(0.0f, 2.0f);
    for (auto& [name, w] : m.weights) {
      const std::string mod = name.substr(0, name.size() - 7);
      auto& v = calib[mod];
      v.resize(size_t(5 * w.K));
      for (float& x : v) x = g(rng);
      calib_views.emplace_back(mod, TensorView(v.data(), DType::kFloat32, Dims{5, w.K}));
    }
    const fs::path calib_file = m.dir.path / "calib.safetensors";
    save_safetensors(calib_file.string(), calib_views);

    for (const Case& c : cases) {
      const std::string label = std::string(quant_scheme_name(c.s)) + "/" + checkpoint_format_name(c.f) +
                                (sharded ? "/sharded" : "");
      SCOPED_TRACE(label);
      const fs::path out = m.dir.path / ("out-" + std::to_string(int(c.s)) + "-" + std::to_string(int(c.f)));
      QuantizeOptions o = options_for(m, out, c.s, c.f);
      if (c.s == QuantScheme::kFp8Static) o.calibration = calib_file.string();
      size_t progress_calls = 0;
      o.on_progress = [&](const QuantizeProgress& p) {
        ++progress_calls;
        EXPECT_LE(p.bytes_done, p.bytes_total);
      };
      const QuantizeReport r = quantize_checkpoint(o);
      EXPECT_EQ(progress_calls, r.tensors.size());
      EXPECT_TRUE(no_temporaries(m.dir.path));

      // Files: shards kept, other files copied, weights in other formats and hidden files not.
      EXPECT_TRUE(fs::exists(out / "tokenizer.json"));
      EXPECT_TRUE(fs::exists(out / "1_Pooling" / "config.json"));
      EXPECT_FALSE(fs::exists(out / "pytorch_model.bin"));
      EXPECT_FALSE(fs::exists(out / ".gitattributes"));
      EXPECT_EQ(fs::exists(out / "model.safetensors.index.json"), sharded);

      // config.json keeps the model's keys and gains quantization_config.
      json cfg = json::parse(std::ifstream(out / "config.json"));
      EXPECT_EQ(cfg["hidden_size"], 256);
      const json& qc = cfg["quantization_config"];
      EXPECT_EQ(qc, json::parse(quantization_config_json(c.s, c.f, r.ignore)));
      const std::vector<std::string> ignore = qc[c.f == CheckpointFormat::kHfFp8 ? "modules_to_not_convert" : "ignore"];
      std::vector<std::string> expected_ignore = {"lm_head", "model.embed_tokens"};
      if (c.s == QuantScheme::kFp8Block)
        expected_ignore = {"lm_head", "model.embed_tokens", "model.layers.0.mlp.odd_proj", "model.layers.1.mlp.odd_proj"};
      EXPECT_EQ(ignore, expected_ignore);

      SafetensorsCheckpoint ck = SafetensorsCheckpoint::open(out.string());
      EXPECT_EQ(ck.shards().size(), sharded ? 2u : 1u);
      const CheckpointInfo info = detect_checkpoint(out.string(), ck);
      EXPECT_EQ(info.format, checkpoint_format_name(c.f));
      EXPECT_EQ(info.scheme, quant_scheme_name(c.s));
      EXPECT_EQ(info.source, "config.json");

      size_t quantized = 0;
      for (auto& [name, w] : m.weights) {
        const std::string mod = name.substr(0, name.size() - 7);
        const bool kept = std::find(expected_ignore.begin(), expected_ignore.end(), mod) != expected_ignore.end();
        if (kept) {
          TensorView v = ck.tensor(name);
          EXPECT_EQ(v.dtype(), w.dtype) << name;
          EXPECT_EQ(std::memcmp(v.data(), w.bytes.data(), w.bytes.size()), 0) << name;
          EXPECT_FALSE(ck.contains(mod + ".weight_scale")) << name;
          continue;
        }
        ++quantized;
        const Fp8LinearWeights lw = load_fp8_linear(ck, mod);
        const QuantScheme ref_scheme = c.s;
        expect_matches_reference(lw.weight, lw.weight_scale, reference_quant(w.values, w.N, w.K, ref_scheme), name);
        EXPECT_EQ(ck.contains(mod + ".weight_scale_inv"), c.f == CheckpointFormat::kHfFp8);
        EXPECT_EQ(ck.entry(weight_scale_name(mod, c.f)).dtype, DType::kFloat32);
        // Static: input_scale = max(amax / 448, MIN_SCALE) of the calibration activations.
        EXPECT_EQ(lw.input_scale.has_value(), c.s == QuantScheme::kFp8Static) << name;
        if (lw.input_scale) {
          float amax = 0;
          for (float x : calib[mod]) amax = std::max(amax, std::fabs(x));
          EXPECT_EQ(lw.input_scale->data_as<float>()[0], std::max(amax / kMax, kMinScale)) << name;
          EXPECT_EQ(ck.entry(mod + ".input_scale").shape, (Dims{1}));
        }
        // The shard of each quantized weight is the shard of its input.
        EXPECT_EQ(ck.shard_of(name), ck.shard_of(weight_scale_name(mod, c.f)));
        Tensor deq = dequantize_weight(lw.weight, lw.weight_scale);
        EXPECT_LT(rel_err(deq.data_as<float>(), w.values), 0.08) << name;
      }
      EXPECT_EQ(quantized, r.quantized);
      // Tensors that are not weights are byte-identical.
      EXPECT_EQ(ck.tensor("model.rotary.inv_freq_ids").data_as<int64_t>()[3], 4);
      EXPECT_EQ(ck.tensor("model.norm.weight").dtype(), DType::kBFloat16);
      EXPECT_EQ(ck.tensor("model.layers.0.self_attn.q_proj.bias").dtype(), DType::kFloat32);

      // The report: every tensor; quantized ones with errors in the expected range.
      for (const TensorReport& t : r.tensors) {
        if (!t.quantized) continue;
        EXPECT_GT(t.scale_max, 0.0f) << t.tensor;
        EXPECT_LE(t.scale_min, t.scale_max) << t.tensor;
        EXPECT_GT(t.weight_rel_err, 0.0) << t.tensor;
        EXPECT_LT(t.weight_rel_err, 0.08) << t.tensor;
        EXPECT_GT(t.output_rel_err, 0.0) << t.tensor;
        EXPECT_LE(t.output_rel_err, 6e-2) << t.tensor;  // spec section 7, end to end
        EXPECT_EQ(t.input_scale.has_value(), c.s == QuantScheme::kFp8Static);
      }
    }
  }
}

TEST(QuantizeCheckpoint, Refusals) {
  TinyModel m(false);
  const fs::path out = m.dir.path / "out";
  auto expect_value_error = [&](QuantizeOptions o, const std::string& substring) {
    try {
      quantize_checkpoint(o);
      ADD_FAILURE() << "expected an error containing " << substring;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kValue) << e.what();
      EXPECT_NE(std::string(e.what()).find(substring), std::string::npos) << e.what();
    }
    EXPECT_TRUE(no_temporaries(m.dir.path));
  };
  QuantizeOptions o = options_for(m, m.model / "fp8", QuantScheme::kFp8Dynamic);
  expect_value_error(o, "inside the input folder");
  o = options_for(m, m.model, QuantScheme::kFp8Dynamic);
  expect_value_error(o, "inside the input folder");
  o = options_for(m, m.dir.path, QuantScheme::kFp8Dynamic);
  o.overwrite = true;
  expect_value_error(o, "contains the input");
  o = options_for(m, out, QuantScheme::kFp8Static);
  expect_value_error(o, "--calibration");
  o = options_for(m, out, QuantScheme::kFp8Dynamic, CheckpointFormat::kHfFp8);
  expect_value_error(o, "fp8-block");
  o = options_for(m, out, QuantScheme::kFp8Dynamic);
  o.ignore = {"[unclosed"};
  expect_value_error(o, "not a valid regular expression");
  o = options_for(m, out, QuantScheme::kFp8Dynamic);
  o.input = (m.dir.path / "nope").string();
  expect_value_error(o, "does not exist");
  o = options_for(m, out, QuantScheme::kFp8Static);
  save_safetensors((m.dir.path / "calib.safetensors").string(), {});
  o.calibration = (m.dir.path / "calib.safetensors").string();
  expect_value_error(o, "has no activations for");
  EXPECT_FALSE(fs::exists(out));

  // An existing output is kept unless --overwrite.
  fs::create_directories(out);
  std::ofstream(out / "keep.txt") << "x";
  expect_value_error(options_for(m, out, QuantScheme::kFp8Dynamic), "already exists");
  EXPECT_TRUE(fs::exists(out / "keep.txt"));
  o = options_for(m, out, QuantScheme::kFp8Dynamic);
  o.overwrite = true;
  quantize_checkpoint(o);
  EXPECT_FALSE(fs::exists(out / "keep.txt"));
  EXPECT_TRUE(fs::exists(out / "model.safetensors"));
  EXPECT_TRUE(no_temporaries(m.dir.path));

  // The output of a quantization is refused as an input.
  expect_value_error(options_for(m, out, QuantScheme::kFp8Dynamic), "already exists");
  QuantizeOptions again = options_for(m, m.dir.path / "again", QuantScheme::kFp8Dynamic);
  again.input = out.string();
  expect_value_error(again, "already quantized");
}

TEST(QuantizeCheckpoint, MalformedInputIsAValueError) {
  TinyModel m(false);
  // Truncate the weights: the reader's error comes out unchanged, nothing is written.
  fs::resize_file(m.model / "model.safetensors", fs::file_size(m.model / "model.safetensors") - 1);
  QuantizeOptions o = options_for(m, m.dir.path / "out", QuantScheme::kFp8Dynamic);
  try {
    quantize_checkpoint(o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kValue);
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(m.dir.path / "out"));
}

TEST(QuantizeCheckpoint, CancelLeavesNothing) {
  TinyModel m(true);
  std::atomic<bool> cancel{false};
  QuantizeOptions o = options_for(m, m.dir.path / "out", QuantScheme::kFp8Dynamic);
  o.cancel = &cancel;
  o.threads = 1;
  o.on_progress = [&](const QuantizeProgress& p) {
    if (p.tensors_done == 3) cancel = true;
  };
  EXPECT_THROW(quantize_checkpoint(o), Error);
  EXPECT_FALSE(fs::exists(m.dir.path / "out"));
  EXPECT_TRUE(no_temporaries(m.dir.path));
}

TEST(QuantizeCheckpoint, SingleFileInputAndFloat32) {
  TinyModel m(false, DType::kFloat32);
  QuantizeOptions o = options_for(m, m.dir.path / "out", QuantScheme::kFp8Tensor);
  o.input = (m.model / "model.safetensors").string();
  o.ignore = {"o_proj$"};
  const QuantizeReport r = quantize_checkpoint(o);
  EXPECT_FALSE(r.notes.empty());  // no config.json taken from a lone file
  EXPECT_TRUE(fs::exists(m.dir.path / "out" / "model.safetensors"));
  EXPECT_FALSE(fs::exists(m.dir.path / "out" / "tokenizer.json"));
  json cfg = json::parse(std::ifstream(m.dir.path / "out" / "config.json"));
  const std::vector<std::string> ignore = cfg["quantization_config"]["ignore"];
  EXPECT_EQ(ignore, (std::vector<std::string>{"lm_head", "model.embed_tokens", "model.layers.0.self_attn.o_proj",
                                              "model.layers.1.self_attn.o_proj"}));
  SafetensorsCheckpoint ck = SafetensorsCheckpoint::open((m.dir.path / "out").string());
  EXPECT_EQ(ck.tensor("model.layers.0.self_attn.o_proj.weight").dtype(), DType::kFloat32);
  const CheckpointInfo info = detect_checkpoint((m.dir.path / "out").string(), ck);
  EXPECT_EQ(info.scheme, "fp8-tensor");
}

TEST(QuantizeCheckpoint, DetectFromTensorsAlone) {
  TinyModel m(false);
  QuantizeOptions o = options_for(m, m.dir.path / "out", QuantScheme::kFp8Block, CheckpointFormat::kHfFp8);
  quantize_checkpoint(o);
  fs::remove(m.dir.path / "out" / "config.json");
  SafetensorsCheckpoint ck = SafetensorsCheckpoint::open((m.dir.path / "out").string());
  const CheckpointInfo info = detect_checkpoint((m.dir.path / "out").string(), ck);
  EXPECT_EQ(info.source, "tensors");
  EXPECT_EQ(info.format, "fp8");
  EXPECT_EQ(info.scheme, "fp8-block");
  EXPECT_EQ(info.quantized_layers, 8u);
  SafetensorsCheckpoint orig = SafetensorsCheckpoint::open(m.model.string());
  EXPECT_EQ(detect_checkpoint(m.model.string(), orig).format, "unquantized");
}
