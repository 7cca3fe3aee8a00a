// w8a8 shard: split an FP8 checkpoint into tensor-parallel per-rank checkpoints.
#include <cstdio>
#include <memory>

#include "cli.h"
#include "w8a8/checkpoint.h"

namespace w8a8::cli {
namespace {

struct ShardArgs {
  ShardCheckpointOptions options;
  std::vector<std::string> column, row;
  bool json = false;
};

int run_shard(ShardArgs& a) {
  if (!a.column.empty()) a.options.column = a.column;
  if (!a.row.empty()) a.options.row = a.row;
  const ShardCheckpointReport r = shard_checkpoint(a.options);
  if (a.json) {
    print_json({{"ranks", r.ranks},
                {"column_parallel", r.column_modules},
                {"row_parallel", r.row_modules},
                {"replicated_tensors", r.replicated_tensors}});
    return kExitOk;
  }
  std::printf("%zu ranks in %s: %zu column-parallel and %zu row-parallel FP8 modules split, %zu tensors replicated\n",
              r.ranks.size(), a.options.output.c_str(), r.column_modules.size(), r.row_modules.size(),
              r.replicated_tensors);
  return kExitOk;
}

}  // namespace

void register_shard(CLI::App& app, Runner& run) {
  auto args = std::make_shared<ShardArgs>();
  CLI::App* cmd = app.add_subcommand(
      "shard",
      "Split an FP8 checkpoint into tensor-parallel checkpoints OUT/rank-<r>/ (column-parallel modules split\n"
      "their output features, row-parallel modules their input features; scales and bias travel with the\n"
      "weight, the bias of a row-parallel module goes to rank 0; everything else is copied to every rank).");
  cmd->add_option("input", args->options.input, "FP8 checkpoint folder (w8a8 quantize's output)")->required();
  cmd->add_option("-o,--output", args->options.output, "Output folder (must not exist)")->required();
  cmd->add_option("-w,--world", args->options.world, "Number of ranks")->required();
  cmd->add_option("--column", args->column,
                  "Module name endings that are column-parallel (repeatable; default: q_proj k_proj v_proj "
                  "qkv_proj gate_proj up_proj gate_up_proj query key value intermediate.dense)");
  cmd->add_option("--row", args->row,
                  "Module name endings that are row-parallel (repeatable; default: o_proj down_proj "
                  "attention.output.dense output.dense)");
  cmd->add_flag("--json", args->json, "Print JSON on stdout");
  run_when_chosen(cmd, run, args, run_shard);
}

}  // namespace w8a8::cli
