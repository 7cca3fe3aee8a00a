// FP8 W8A8 checkpoints: the quantization schemes, the two output formats (compressed-tensors and
// Hugging Face fine-grained fp8, spec section 6), the streaming `quantize` pipeline behind
// `w8a8 quantize`, and the reading side (detecting a checkpoint's scheme, loading a quantized Linear).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "w8a8/io.h"
#include "w8a8/tensor.h"

namespace w8a8 {

enum class QuantScheme : uint8_t {
  kFp8Dynamic,  // "fp8-dynamic": per-channel weight scales [N, 1], dynamic per-token activations
  kFp8Static,   // "fp8-static":  per-tensor weight scale [1], static per-tensor input_scale [1] (calibrated)
  kFp8Tensor,   // "fp8-tensor":  per-tensor weight scale [1], dynamic per-tensor activations
  kFp8Block,    // "fp8-block":   128x128 weight blocks [ceil(N/128), ceil(K/128)], dynamic 1x128 groups
};
enum class CheckpointFormat : uint8_t {
  kCompressedTensors,  // "compressed-tensors": quant_method compressed-tensors, X.weight_scale (+ X.input_scale)
  kHfFp8,              // "fp8": transformers' fine-grained FP8, X.weight_scale_inv, fp8-block only
};

const char* quant_scheme_name(QuantScheme s);  // "fp8-dynamic", ...
QuantScheme quant_scheme_from_name(const std::string& name);  // throws kValue, listing the names
const char* checkpoint_format_name(CheckpointFormat f);  // "compressed-tensors", "fp8"
CheckpointFormat checkpoint_format_from_name(const std::string& name);
// Throws kValue when the format cannot express the scheme (fp8 stores 128x128 blocks only).
void check_scheme_format(QuantScheme scheme, CheckpointFormat format);

// The config.json "quantization_config" object (JSON text, exact keys of spec section 6).
// `ignore` lists the module names left unquantized.
std::string quantization_config_json(QuantScheme scheme, CheckpointFormat format,
                                     const std::vector<std::string>& ignore);
// Name of the weight scale tensor of a module: "X.weight_scale" or "X.weight_scale_inv".
std::string weight_scale_name(const std::string& module, CheckpointFormat format);

// One weight [N, K] (bf16/fp16/fp32/fp64, any alignment) quantized with the scheme's weight rule
// through the library's quantization (per-channel: dynamic per-token quantization of [N, K];
// per-tensor: dynamic per-tensor; block: per_block_quant_fp8 128x128). weight is e4m3fn [N, K];
// weight_scale fp32 shaped as stored: [1], [N, 1] or [ceil(N/128), ceil(K/128)].
struct QuantizedWeight {
  Tensor weight;
  Tensor weight_scale;
};
QuantizedWeight quantize_weight(const TensorView& weight, QuantScheme scheme);
// W ≈ q · scale, as fp32 [N, K]. The layout follows the scale's shape: one element (per tensor),
// [N, 1] (per channel) or [ceil(N/128), ceil(K/128)] (blocks). Scales may be fp32, bf16 or fp16.
Tensor dequantize_weight(const TensorView& weight, const TensorView& weight_scale);
// Any float tensor (fp32/bf16/fp16/fp64) as a contiguous fp32 copy (reading scales in any dtype).
Tensor to_float32(const TensorView& t);

// Whether `w8a8 quantize` converts a tensor, and if not, why.
struct TensorPlan {
  bool quantize = false;
  bool listed_in_ignore = false;  // a 2-D float .weight left alone: goes to the config's ignore list
  std::string module;             // name without ".weight" (empty when not a .weight)
  std::string reason;             // why it stays as it is ("embedding", "lm_head", "--ignore 're'", ...)
};
// name, dtype and shape of the tensor; ignore: ECMAScript regexes searched in the module name.
TensorPlan plan_tensor(const std::string& name, DType dtype, const Dims& shape, QuantScheme scheme,
                       const std::vector<std::string>& ignore);

struct QuantizeProgress {
  size_t tensors_done = 0, tensors_total = 0;
  uint64_t bytes_done = 0, bytes_total = 0;  // input tensor bytes
  double seconds = 0;
};

struct QuantizeOptions {
  std::string input;   // model folder (or one .safetensors file / an index file)
  std::string output;  // output folder; must not exist (unless overwrite) and not be inside the input
  QuantScheme scheme = QuantScheme::kFp8Dynamic;
  CheckpointFormat format = CheckpointFormat::kCompressedTensors;
  std::vector<std::string> ignore;  // regexes of module names to leave unquantized
  // fp8-static: a safetensors file with, for each quantized module X, a tensor "X" of sample
  // inputs [..., K] (any float dtype); input_scale = max(amax / 448, MIN_SCALE).
  std::string calibration;
  int threads = 0;  // 0: all cores
  bool overwrite = false;
  bool sync = false;           // fsync every file before the final rename (durable across power loss)
  // The error estimates of the report. The weight error is measured on eval_weight_rows evenly spaced
  // rows of each weight (all rows when N is smaller; 0: always all), the output error on eval_rows
  // activation rows and eval_features output features among those rows.
  int eval_rows = 8;
  int eval_features = 128;
  int eval_weight_rows = 1024;
  uint64_t seed = 0;
  std::function<void(const QuantizeProgress&)> on_progress;  // called from worker threads, serialised
  const std::atomic<bool>* cancel = nullptr;                 // set to stop early (nothing is written)
};

// What happened to one tensor.
struct TensorReport {
  std::string tensor;  // input tensor name
  std::string module;  // for .weight tensors
  DType dtype = DType::kFloat32;
  Dims shape;
  bool quantized = false;
  bool listed_in_ignore = false;
  std::string reason;  // why it was kept
  std::string shard;   // output file
  // quantized only:
  float scale_min = 0, scale_max = 0;
  std::optional<float> input_scale;  // fp8-static
  double weight_rel_err = 0;  // ‖deq(q) − W‖ / ‖W‖ (on the sampled rows)
  double output_rel_err = 0;  // ‖deq(q(x)) deq(q)ᵀ − x Wᵀ‖ / ‖x Wᵀ‖ on random (or calibration) rows x
  uint64_t bytes_in = 0, bytes_out = 0;
};

struct QuantizeReport {
  std::string input, output;
  QuantScheme scheme = QuantScheme::kFp8Dynamic;
  CheckpointFormat format = CheckpointFormat::kCompressedTensors;
  std::vector<TensorReport> tensors;  // every tensor, sorted by name
  std::vector<std::string> ignore;    // the ignore list written to the config
  std::vector<std::string> shards;    // output safetensors file names
  std::vector<std::string> copied;    // other files copied (relative paths)
  std::vector<std::string> notes;     // warnings worth showing (no config.json, ...)
  uint64_t bytes_in = 0;              // input tensor bytes
  uint64_t bytes_out = 0;             // output safetensors bytes
  size_t quantized = 0;
  int threads = 1;
  double seconds = 0;      // wall clock
  double cpu_seconds = 0;  // user + system time of the process during the call
};

// Quantizes a checkpoint, streaming tensor by tensor over a memory mapping: resident memory stays
// near `threads` x the largest tensor. Writes into a temporary folder next to the output and
// renames it when complete: an error or a cancel leaves nothing at the output path.
// Errors: kValue for bad input (missing model, malformed files, refused output path, bad options),
// kRuntime for failures while writing.
QuantizeReport quantize_checkpoint(const QuantizeOptions& options);

// ---- tensor-parallel shards -------------------------------------------------------------------
struct ShardCheckpointOptions {
  std::string input;   // FP8 checkpoint folder (w8a8 quantize's output, or any with .safetensors files)
  std::string output;  // writes output/rank-<r>/ for every rank; must not exist
  int world = 2;
  // Substrings of module names (matched at a "." boundary at the end of the name): column-parallel modules
  // split N, row-parallel modules split K; every other tensor is copied to every rank. Defaults: Llama /
  // Mistral / Qwen and BERT names.
  std::vector<std::string> column = {"q_proj", "k_proj", "v_proj", "qkv_proj", "gate_proj", "up_proj",
                                     "gate_up_proj", "query", "key", "value", "intermediate.dense"};
  std::vector<std::string> row = {"o_proj", "down_proj", "attention.output.dense", "output.dense"};
};
struct ShardCheckpointReport {
  std::vector<std::string> column_modules, row_modules;  // FP8 modules split
  size_t replicated_tensors = 0;                          // tensors copied whole to every rank
  std::vector<std::string> ranks;                         // output folders
};
// Splits an FP8 checkpoint into per-rank checkpoints: for each FP8 module X of a column / row pattern, X.weight
// with its scale (X.weight_scale or X.weight_scale_inv) and X.bias as shard_weight splits them (X.input_scale
// is shared); other files (config.json, tokenizer) copied into every rank's folder. Unquantized 2-D weights
// are copied whole (replicated). Errors: kValue for bad input or options, kRuntime for write failures.
ShardCheckpointReport shard_checkpoint(const ShardCheckpointOptions& options);

// ---- reading quantized checkpoints -------------------------------------------------------------
struct CheckpointInfo {
  std::string format;  // "compressed-tensors", "fp8", "unquantized" or "unknown"
  std::string scheme;  // "fp8-dynamic", "fp8-static", "fp8-tensor", "fp8-block", "" when unquantized/unknown
  std::string source;  // "config.json" or "tensors"
  std::vector<std::string> ignore;  // the config's ignore list (or modules_to_not_convert)
  size_t quantized_layers = 0;      // tensors with an FP8 weight and a scale
};
// Looks at config.json's quantization_config where there is one, else at the tensors.
CheckpointInfo detect_checkpoint(const std::string& path, const SafetensorsCheckpoint& weights);

// A quantized Linear as stored: the FP8 weight [N, K] (a view over the mapping), its scale as
// fp32 (converted from bf16/fp16 if needed) and the static input scale when there is one.
struct Fp8LinearWeights {
  TensorView weight;
  Tensor weight_scale;
  std::optional<Tensor> input_scale;
};
Fp8LinearWeights load_fp8_linear(const SafetensorsCheckpoint& weights, const std::string& module);

}  // namespace w8a8
