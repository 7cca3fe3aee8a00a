// Tensor-parallel FP8 linear layers: the weight split across the ranks of a group, partial results
// combined by collectives that the caller's communicator provides (NCCL in production; an in-process
// group of threads for tests and CPU runs).
//
//   column-parallel: weight split along N (output features); each rank computes its N/world outputs,
//                    optionally all-gathered into the full [.., N] output.
//   row-parallel:    weight split along K (input features); each rank multiplies its K/world slice of the
//                    input and an all-reduce sums the partial outputs (in the output dtype, as vLLM's
//                    RowParallelLinear does); the bias is added by rank 0 only.
//
// Scales travel with their weights: per-tensor scales are shared, per-channel scales split with N, 128x128
// block scales split with their blocks (a rank's slice must then be a multiple of 128).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "w8a8/linear.h"
#include "w8a8/tensor.h"

namespace w8a8 {

enum class ParallelKind : uint8_t { kColumn, kRow };
const char* parallel_kind_name(ParallelKind kind);  // "column", "row"

// Rank `rank`'s part of [0, extent) split into `world` equal parts. extent must divide evenly, and each
// part must be a multiple of `granule` (128 when 128x128 block scales travel with the weight).
struct ShardRange {
  int64_t begin = 0, size = 0;
};
ShardRange shard_range(int64_t extent, int world, int rank, int64_t granule = 1);

// One rank's shard of an FP8 linear layer (contiguous CPU copies of the checkpoint tensors).
struct WeightShard {
  Tensor weight;                // [N_local, K_local] FP8
  Tensor weight_scale;          // one element, [N_local, 1], or [ceil(N_local/128), K_local/128]
  std::optional<Tensor> bias;   // column: [N_local]; row: the full [N] on rank 0, none elsewhere
};

// weight [N, K] FP8 (CPU); weight_scale one element, [N] / [N, 1] per channel, or [ceil(N/128), K/128]
// blocks; bias [N] or none.
WeightShard shard_weight(ParallelKind kind, const TensorView& weight, const TensorView& weight_scale,
                         const std::optional<TensorView>& bias, int world, int rank);

// A merged column-parallel weight made of logical parts (q|k|v, gate|up) with one per-tensor scale per part
// (weight_scale [S], logical_widths summing to N): every part is split across the ranks, and a rank's parts
// are requantized to their largest scale (vLLM's requantize_with_max_scale), so each rank holds one
// per-tensor scale. Each width must divide by world.
WeightShard shard_merged_column_parallel(const TensorView& weight, const TensorView& weight_scale,
                                         const std::vector<int64_t>& logical_widths,
                                         const std::optional<TensorView>& bias, int world, int rank);

// The collectives of a tensor-parallel group. Calls are collective: every rank makes the same calls in the
// same order, with buffers of the same shapes.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // buffer (contiguous; float32, bfloat16 or float16) := the sum over ranks, in place.
  virtual void all_reduce_sum(const TensorView& buffer, Stream stream) = 0;
  // out (contiguous, world_size() times in's elements, same dtype) := every rank's `in`, in rank order.
  virtual void all_gather(const TensorView& out, const TensorView& in, Stream stream) = 0;
};

// An in-process group of `world` ranks for CPU tensors, one rank per thread (tests, CPU inference): the
// collectives meet at a barrier and sum in rank order, so results do not depend on thread timing.
std::vector<std::unique_ptr<Communicator>> make_local_group(int world);

// NCCL (builds with -DW8A8_NCCL=ON): wraps the caller's ncclComm_t (created with the usual unique-id
// bootstrap; not owned, must outlive the communicator). Throws kUnsupported in builds without NCCL.
std::unique_ptr<Communicator> nccl_communicator(void* nccl_comm);
bool nccl_built();

// A rank's FP8 linear layer over its shard. The op quantizes activations as Fp8LinearOp does.
class TensorParallelFp8Linear {
 public:
  // gather_output: column-parallel only; out is then the full [..., N].
  TensorParallelFp8Linear(ParallelKind kind, Communicator& comm, Fp8LinearOp op, bool gather_output = false);

  // input [..., K_local] for row-parallel (the rank's slice of the features), [..., K] for column-parallel;
  // weight [K_local, N_local] column-major (the shard's [N_local, K_local] weight seen transposed);
  // weight_scale and bias as WeightShard holds them; out [..., N_local] (column) or [..., N] (row, gathered
  // column). Collective: every rank calls it. On the GPU it allocates nothing after its first call (the gathered
  // column path keeps its local and gathered blocks in the stream's scratch), so it can be captured in a CUDA graph.
  void apply(const TensorView& out, const TensorView& input, const TensorView& weight,
             const TensorView& weight_scale, const std::optional<TensorView>& input_scale = std::nullopt,
             const std::optional<TensorView>& bias = std::nullopt, Stream stream = nullptr) const;

  ParallelKind kind() const { return kind_; }
  bool gather_output() const { return gather_output_; }

 private:
  ParallelKind kind_;
  Communicator* comm_;
  Fp8LinearOp op_;
  bool gather_output_;
};

}  // namespace w8a8
