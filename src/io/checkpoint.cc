// Quantization schemes and checkpoint formats: names, quantization_config, per-weight quantization,
// which tensors are quantized, and reading quantized checkpoints back.
#include "w8a8/checkpoint.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "w8a8/error.h"
#include "w8a8/formats.h"
#include "w8a8/quant.h"

namespace w8a8 {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr int64_t kBlock = 128;
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t dot = s.find('.', start);
    out.push_back(s.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

json quant_args(const char* strategy, bool dynamic, json group_size = nullptr, json block_structure = nullptr) {
  // Exactly the keys compressed-tensors' QuantizationArgs accepts (it forbids unknown ones).
  return {{"num_bits", 8},           {"type", "float"},         {"symmetric", true},
          {"strategy", strategy},    {"dynamic", dynamic},      {"group_size", group_size},
          {"block_structure", block_structure}};
}
}  // namespace

// ---- names ---------------------------------------------------------------------------------------
const char* quant_scheme_name(QuantScheme s) {
  switch (s) {
    case QuantScheme::kFp8Dynamic: return "fp8-dynamic";
    case QuantScheme::kFp8Static: return "fp8-static";
    case QuantScheme::kFp8Tensor: return "fp8-tensor";
    case QuantScheme::kFp8Block: return "fp8-block";
  }
  return "unknown";
}

QuantScheme quant_scheme_from_name(const std::string& name) {
  for (QuantScheme s : {QuantScheme::kFp8Dynamic, QuantScheme::kFp8Static, QuantScheme::kFp8Tensor,
                        QuantScheme::kFp8Block})
    if (name == quant_scheme_name(s)) return s;
  W8A8_FAIL(ErrorKind::kValue, "scheme: expected fp8-dynamic, fp8-static, fp8-tensor or fp8-block, got '", name,
            "'");
}

const char* checkpoint_format_name(CheckpointFormat f) {
  return f == CheckpointFormat::kHfFp8 ? "fp8" : "compressed-tensors";
}

CheckpointFormat checkpoint_format_from_name(const std::string& name) {
  if (name == "compressed-tensors") return CheckpointFormat::kCompressedTensors;
  if (name == "fp8") return CheckpointFormat::kHfFp8;
  W8A8_FAIL(ErrorKind::kValue, "format: expected compressed-tensors or fp8, got '", name, "'");
}

void check_scheme_format(QuantScheme scheme, CheckpointFormat format) {
  W8A8_CHECK(format != CheckpointFormat::kHfFp8 || scheme == QuantScheme::kFp8Block,
             "format: the Hugging Face fine-grained fp8 format stores 128x128 weight blocks with dynamic "
             "activations only: use --scheme fp8-block with it, or --format compressed-tensors for ",
             quant_scheme_name(scheme));
}

std::string weight_scale_name(const std::string& module, CheckpointFormat format) {
  return module + (format == CheckpointFormat::kHfFp8 ? ".weight_scale_inv" : ".weight_scale");
}

std::string quantization_config_json(QuantScheme scheme, CheckpointFormat format,
                                     const std::vector<std::string>& ignore) {
  check_scheme_format(scheme, format);
  if (format == CheckpointFormat::kHfFp8) {
    json qc = {{"quant_method", "fp8"},
               {"activation_scheme", "dynamic"},
               {"weight_block_size", {kBlock, kBlock}},
               {"modules_to_not_convert", ignore}};
    return qc.dump();
  }
  json weights, inputs;
  switch (scheme) {
    case QuantScheme::kFp8Dynamic:
      weights = quant_args("channel", false);
      inputs = quant_args("token", true);
      break;
    case QuantScheme::kFp8Static:
      weights = quant_args("tensor", false);
      inputs = quant_args("tensor", false);
      inputs["observer"] = "static_minmax";
      break;
    case QuantScheme::kFp8Tensor:
      weights = quant_args("tensor", false);
      inputs = quant_args("tensor", true);
      break;
    case QuantScheme::kFp8Block:
      weights = quant_args("block", false, nullptr, {kBlock, kBlock});
      inputs = quant_args("group", true, kBlock);
      break;
  }
  json qc = {{"quant_method", "compressed-tensors"},
             {"format", "float-quantized"},
             {"quantization_status", "compressed"},
             {"ignore", ignore},
             {"config_groups",
              {{"group_0", {{"targets", {"Linear"}}, {"weights", weights}, {"input_activations", inputs}}}}}};
  return qc.dump();
}

// ---- per-weight math -----------------------------------------------------------------------------
Tensor to_float32(const TensorView& t) {
  W8A8_CHECK_TYPE(t.device().is_cpu(), "to_float32: expected a CPU tensor, got ", t.describe());
  const DType d = t.dtype();
  W8A8_CHECK_TYPE(d == DType::kFloat32 || d == DType::kBFloat16 || d == DType::kFloat16 || d == DType::kFloat64,
                  "to_float32: expected a float tensor, got ", t.describe());
  Tensor out = Tensor::empty(t.sizes(), DType::kFloat32);
  const int64_t n = t.numel();
  if (n == 0) return out;
  // Bring the source into contiguous, aligned memory first (a mapped tensor may be unaligned).
  Tensor src_copy;
  const uint8_t* src = static_cast<const uint8_t*>(t.data());
  if (!t.is_contiguous()) {
    src_copy = Tensor::copy_of(t);
    src = static_cast<const uint8_t*>(src_copy.data());
  }
  float* dst = out.data_as<float>();
  for (int64_t i = 0; i < n; ++i) {
    switch (d) {
      case DType::kFloat32: std::memcpy(&dst[i], src + 4 * i, 4); break;
      case DType::kFloat64: {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        dst[i] = float(v);
        break;
      }
      case DType::kBFloat16: {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_float(h);
        break;
      }
      default: {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = fp16_to_float(h);
        break;
      }
    }
  }
  return out;
}

QuantizedWeight quantize_weight(const TensorView& weight, QuantScheme scheme) {
  W8A8_CHECK(weight.dim() == 2, "weight: expected a 2-D [N, K] tensor, got ", weight.describe());
  TensorView w = weight;
  Tensor prepared;
  const bool aligned = reinterpret_cast<uintptr_t>(weight.data()) % weight.element_size() == 0;
  if (!is_half_or_float(weight.dtype())) {
    prepared = to_float32(weight);  // fp64 (checked there)
    w = prepared;
  } else if (!aligned || (weight.numel() > 0 && weight.stride(1) != 1)) {
    prepared = Tensor::empty(weight.sizes(), weight.dtype());
    if (weight.is_contiguous()) {
      std::memcpy(prepared.data(), weight.data(), size_t(weight.numel()) * weight.element_size());
    } else {
      copy_cpu(prepared, weight);
    }
    w = prepared;
  }
  const int64_t N = w.size(0), K = w.size(1);
  QuantizedWeight out;
  switch (scheme) {
    case QuantScheme::kFp8Dynamic: {
      // Per-channel weight scales are dynamic per-token quantization of the [N, K] weight.
      auto [q, s] = scaled_fp8_quant(w, std::nullopt, std::nullopt, std::nullopt, /*use_per_token_if_dynamic=*/true);
      out.weight = std::move(q);
      out.weight_scale = Tensor::copy_of(s).view({N, 1});
      break;
    }
    case QuantScheme::kFp8Static:
    case QuantScheme::kFp8Tensor: {
      auto [q, s] = scaled_fp8_quant(w);
      out.weight = std::move(q);
      out.weight_scale = Tensor::copy_of(s).view({1});
      break;
    }
    case QuantScheme::kFp8Block: {
      auto [q, s] = per_block_quant_fp8(w, kBlock, kBlock);
      out.weight = std::move(q);
      out.weight_scale = Tensor::copy_of(s).view({ceil_div(N, kBlock), ceil_div(K, kBlock)});
      break;
    }
  }
  return out;
}

Tensor dequantize_weight(const TensorView& weight, const TensorView& weight_scale) {
  W8A8_CHECK(weight.dim() == 2, "weight: expected a 2-D [N, K] FP8 tensor, got ", weight.describe());
  W8A8_CHECK_TYPE(is_fp8(weight.dtype()), "weight: expected an FP8 tensor, got ", weight.describe());
  const int64_t N = weight.size(0), K = weight.size(1);
  Tensor scale = to_float32(weight_scale);
  const float* s = scale.data_as<float>();
  const float* table = fp8_decode_table(weight.dtype());
  Tensor out = Tensor::empty({N, K}, DType::kFloat32);
  float* o = out.data_as<float>();
  const auto* q = static_cast<const uint8_t*>(weight.data());
  const int64_t rs = weight.stride(0), cs = weight.stride(1);
  enum { kTensor, kChannel, kBlocks } layout;
  if (scale.numel() == 1) {
    layout = kTensor;
  } else if (scale.dim() == 2 && scale.size(0) == N && scale.size(1) == 1) {
    layout = kChannel;
  } else if (scale.dim() == 2 && scale.size(0) == ceil_div(N, kBlock) && scale.size(1) == ceil_div(K, kBlock)) {
    layout = kBlocks;
  } else {
    W8A8_FAIL(ErrorKind::kValue, "weight_scale: expected one element, [", N, ", 1] or [", ceil_div(N, kBlock), ", ",
              ceil_div(K, kBlock), "] for a weight [", N, ", ", K, "], got ", weight_scale.describe());
  }
  const int64_t kb = ceil_div(K, kBlock);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const float sc = layout == kTensor ? s[0] : layout == kChannel ? s[n] : s[(n / kBlock) * kb + k / kBlock];
      o[n * K + k] = table[q[n * rs + k * cs]] * sc;
    }
  return out;
}

// ---- which tensors ------------------------------------------------------------------------------
TensorPlan plan_tensor(const std::string& name, DType dtype, const Dims& shape, QuantScheme scheme,
                       const std::vector<std::string>& ignore) {
  TensorPlan p;
  if (!ends_with(name, ".weight")) {
    p.reason = "not a .weight";
    return p;
  }
  p.module = name.substr(0, name.size() - 7);
  const bool is_float = dtype == DType::kBFloat16 || dtype == DType::kFloat16 || dtype == DType::kFloat32 ||
                        dtype == DType::kFloat64;
  if (!is_float) {
    p.reason = std::string("dtype ") + dtype_name(dtype);
    return p;
  }
  if (shape.size() != 2) {
    p.reason = std::to_string(shape.size()) + "-D";
    return p;
  }
  // From here on it is a 2-D float weight: if it stays, the config lists it.
  p.listed_in_ignore = true;
  for (const std::string& seg : split_dots(p.module)) {
    const std::string s = lower(seg);
    if (s.find("embed") != std::string::npos || s == "wte" || s == "wpe" || s == "shared") {
      p.reason = "embedding";
      return p;
    }
    if (s.find("norm") != std::string::npos || s.rfind("ln_", 0) == 0) {
      p.reason = "norm";
      return p;
    }
  }
  const std::vector<std::string> segs = split_dots(p.module);
  if (lower(segs.back()) == "lm_head") {
    p.reason = "lm_head";
    return p;
  }
  for (const std::string& re : ignore) {
    std::regex r;
    try {
      r = std::regex(re, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      W8A8_FAIL(ErrorKind::kValue, "ignore: '", re, "' is not a valid regular expression (", e.what(), ")");
    }
    if (std::regex_search(p.module, r)) {
      p.reason = "--ignore '" + re + "'";
      return p;
    }
  }
  if (shape[0] == 0 || shape[1] == 0) {
    p.reason = "empty";
    return p;
  }
  if (scheme == QuantScheme::kFp8Block && shape[1] % kBlock != 0) {
    // Dynamic 1x128 activation groups need K % 128 == 0.
    p.reason = "K=" + std::to_string(shape[1]) + " not a multiple of 128";
    return p;
  }
  p.quantize = true;
  p.listed_in_ignore = false;
  return p;
}

// ---- reading -----------------------------------------------------------------------------------
namespace {
std::string scheme_from_ct_config(const json& qc) {
  const json* group = nullptr;
  if (qc.contains("config_groups") && qc["config_groups"].is_object() && !qc["config_groups"].empty())
    group = &qc["config_groups"].begin().value();
  if (!group || !group->is_object()) return "";
  auto get = [](const json& o, const char* k) -> std::string {
    return o.is_object() && o.contains(k) && o[k].is_string() ? o[k].get<std::string>() : "";
  };
  const json& w = group->contains("weights") ? (*group)["weights"] : json();
  const json& a = group->contains("input_activations") ? (*group)["input_activations"] : json();
  const std::string ws = get(w, "strategy"), as = get(a, "strategy");
  const bool a_dynamic = a.is_object() && a.contains("dynamic") && a["dynamic"] == true;
  if (w.is_object() && w.contains("type") && w["type"] != "float") return "";
  if (ws == "channel" && as == "token" && a_dynamic) return "fp8-dynamic";
  if (ws == "tensor" && as == "tensor") return a_dynamic ? "fp8-tensor" : "fp8-static";
  if (ws == "block" && as == "group") return "fp8-block";
  return ws.empty() ? "" : "weights " + ws + " / inputs " + (as.empty() ? "none" : as);
}
}  // namespace

CheckpointInfo detect_checkpoint(const std::string& path, const SafetensorsCheckpoint& weights) {
  CheckpointInfo info;
  // Tensors: a module with an FP8 weight and a scale.
  std::string by_tensors_format, by_tensors_scheme;
  for (const std::string& name : weights.names()) {
    if (!ends_with(name, ".weight")) continue;
    const SafetensorsEntry& e = weights.entry(name);
    if (!is_fp8(e.dtype) || e.shape.size() != 2) continue;
    const std::string module = name.substr(0, name.size() - 7);
    const int64_t N = e.shape[0], K = e.shape[1];
    std::string scale;
    if (weights.contains(module + ".weight_scale_inv")) {
      scale = module + ".weight_scale_inv";
      by_tensors_format = "fp8";
    } else if (weights.contains(module + ".weight_scale")) {
      scale = module + ".weight_scale";
      by_tensors_format = "compressed-tensors";
    } else {
      continue;
    }
    ++info.quantized_layers;
    const Dims& s = weights.entry(scale).shape;
    const int64_t numel = s.product();
    if (numel == 1) {
      by_tensors_scheme = weights.contains(module + ".input_scale") ? "fp8-static" : "fp8-tensor";
    } else if (s.size() == 2 && s[0] == N && s[1] == 1) {
      by_tensors_scheme = "fp8-dynamic";
    } else if (s.size() == 2 && s[0] == ceil_div(N, kBlock) && s[1] == ceil_div(K, kBlock)) {
      by_tensors_scheme = "fp8-block";
    }
  }
  // config.json next to the weights.
  fs::path p(path);
  std::error_code ec;
  const fs::path config = fs::is_directory(p, ec) ? p / "config.json" : p.parent_path() / "config.json";
  json qc;
  if (fs::exists(config, ec)) {
    try {
      std::ifstream in(config);
      json cfg = json::parse(in);
      if (cfg.is_object() && cfg.contains("quantization_config")) qc = cfg["quantization_config"];
    } catch (const json::exception&) {
      // A broken config.json: fall back to the tensors.
    }
  }
  if (qc.is_object() && qc.contains("quant_method") && qc["quant_method"].is_string()) {
    info.source = "config.json";
    const std::string method = qc["quant_method"].get<std::string>();
    if (method == "compressed-tensors") {
      info.format = "compressed-tensors";
      info.scheme = scheme_from_ct_config(qc);
      if (qc.contains("ignore") && qc["ignore"].is_array())
        for (const json& x : qc["ignore"])
          if (x.is_string()) info.ignore.push_back(x.get<std::string>());
    } else if (method == "fp8") {
      info.format = "fp8";
      const bool blocks = qc.contains("weight_block_size") && qc["weight_block_size"].is_array();
      const std::string act = qc.value("activation_scheme", std::string("dynamic"));
      info.scheme = blocks ? "fp8-block" : (act == "static" ? "fp8-static" : "fp8-tensor");
      if (qc.contains("modules_to_not_convert") && qc["modules_to_not_convert"].is_array())
        for (const json& x : qc["modules_to_not_convert"])
          if (x.is_string()) info.ignore.push_back(x.get<std::string>());
    } else {
      info.format = method;
      info.scheme = "";
    }
    return info;
  }
  info.source = "tensors";
  if (info.quantized_layers == 0) {
    info.format = "unquantized";
  } else {
    info.format = by_tensors_format;
    info.scheme = by_tensors_scheme;
  }
  return info;
}

Fp8LinearWeights load_fp8_linear(const SafetensorsCheckpoint& weights, const std::string& module) {
  Fp8LinearWeights out;
  const std::string wname = module + ".weight";
  W8A8_CHECK(weights.contains(wname), "checkpoint: no tensor '", wname, "'");
  out.weight = weights.tensor(wname);
  W8A8_CHECK_TYPE(is_fp8(out.weight.dtype()) && out.weight.dim() == 2, "checkpoint: '", wname,
                  "' is not a 2-D FP8 weight: ", out.weight.describe());
  std::string sname = module + ".weight_scale";
  if (!weights.contains(sname)) sname = module + ".weight_scale_inv";
  W8A8_CHECK(weights.contains(sname), "checkpoint: '", module, "' has no weight_scale or weight_scale_inv");
  out.weight_scale = to_float32(weights.tensor(sname));
  const int64_t N = out.weight.size(0), K = out.weight.size(1);
  const Dims& s = out.weight_scale.sizes();
  const bool ok = out.weight_scale.numel() == 1 || (s.size() == 2 && s[0] == N && s[1] == 1) ||
                  (s.size() == 2 && s[0] == ceil_div(N, kBlock) && s[1] == ceil_div(K, kBlock));
  W8A8_CHECK(ok, "checkpoint: '", sname, "' has shape ", s.str(), ", which fits no scale layout of a weight [", N,
             ", ", K, "]");
  if (weights.contains(module + ".input_scale")) {
    Tensor is = to_float32(weights.tensor(module + ".input_scale"));
    W8A8_CHECK(is.numel() == 1, "checkpoint: '", module, ".input_scale' must have one element, got ",
               is.sizes().str());
    out.input_scale = std::move(is);
  }
  return out;
}

}  // namespace w8a8
