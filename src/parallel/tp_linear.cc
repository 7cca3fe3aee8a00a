// A rank's FP8 linear layer in a tensor-parallel group: the local Fp8LinearOp, then the collective.
#ifdef W8A8_WITH_CUDA
#include "cuda/scratch.h"
#endif
#include "w8a8/error.h"
#include "w8a8/parallel.h"

namespace w8a8 {
namespace {

// [..., C] viewed as [rows, C] (the leading dimensions of a contiguous tensor).
TensorView as_rows(const TensorView& t, const char* name) {
  W8A8_CHECK(t.dim() >= 1, name, ": expected at least one dimension, got ", t.describe());
  W8A8_CHECK(t.is_contiguous(), name, ": expected a contiguous tensor, got ", t.describe());
  const int64_t cols = t.size(t.dim() - 1);
  return t.view({cols == 0 ? 0 : t.numel() / cols, cols});
}

}  // namespace

TensorParallelFp8Linear::TensorParallelFp8Linear(ParallelKind kind, Communicator& comm, Fp8LinearOp op,
                                                 bool gather_output)
    : kind_(kind), comm_(&comm), op_(std::move(op)), gather_output_(gather_output) {
  W8A8_CHECK(!gather_output || kind == ParallelKind::kColumn,
             "gather_output: only column-parallel layers gather their output (got a row-parallel layer)");
  W8A8_CHECK(comm.world_size() >= 1 && comm.rank() >= 0 && comm.rank() < comm.world_size(),
             "comm: expected 0 <= rank < world_size, got rank ", comm.rank(), " of ", comm.world_size());
}

void TensorParallelFp8Linear::apply(const TensorView& out, const TensorView& input, const TensorView& weight,
                                    const TensorView& weight_scale, const std::optional<TensorView>& input_scale,
                                    const std::optional<TensorView>& bias, Stream stream) const {
  const int world = comm_->world_size();
  if (kind_ == ParallelKind::kRow) {
    // Partial product of this rank's K slice; rank 0 adds the bias; the sum over ranks completes it.
    const std::optional<TensorView> rank_bias = comm_->rank() == 0 ? bias : std::nullopt;
    op_.apply(out, input, weight, weight_scale, input_scale, std::nullopt, rank_bias, stream);
    comm_->all_reduce_sum(out, stream);
    return;
  }
  if (!gather_output_) {
    op_.apply(out, input, weight, weight_scale, input_scale, std::nullopt, bias, stream);
    return;
  }
  // Column-parallel with the full output: the local [rows, N_local] block, gathered as [world, rows, N_local],
  // then each rank's block copied into its columns of out [rows, N].
  W8A8_CHECK(weight.dim() == 2, "weight: expected a 2-D [K, N_local] tensor, got ", weight.describe());
  const int64_t n_local = weight.size(1);
  const TensorView out2 = as_rows(out, "out");
  W8A8_CHECK(out2.size(1) == n_local * world, "out: expected [..., N] with N = world x N_local = ", world, " x ",
             n_local, ", got ", out.describe());
  const int64_t rows = out2.size(0);
  // With one row (decode) or one rank the gathered [world, rows, N_local] blocks are out's own layout: gather
  // straight into it. Otherwise they are gathered beside it and copied into their columns.
  const bool gather_into_out = rows == 1 || world == 1;
  Dims local_sizes = out.sizes();
  local_sizes[out.dim() - 1] = n_local;
  Tensor local, gathered;
  bool in_scratch = false;
#ifdef W8A8_WITH_CUDA
  if (out.device().is_cuda()) {  // per-stream scratch: allocation-free after the first call, graph-capturable
    const size_t block_bytes = size_t(rows * n_local) * dtype_size(out.dtype());
    cuda::ScratchCarver carve;
    carve.reserve(block_bytes);
    if (!gather_into_out) carve.reserve(block_bytes * size_t(world));
    carve.bind(cuda::stream_scratch(carve.total(), resolve_stream(stream), cuda::ScratchSlot::kParallel));
    local = Tensor::borrow(TensorView(carve.take<uint8_t>(block_bytes), out.dtype(), local_sizes, out.device()));
    if (!gather_into_out)
      gathered = Tensor::borrow(TensorView(carve.take<uint8_t>(block_bytes * size_t(world)), out.dtype(),
                                           {int64_t(world), rows, n_local}, out.device()));
    in_scratch = true;
  }
#endif
  if (!in_scratch) {
    local = Tensor::empty(local_sizes, out.dtype(), out.device());
    if (!gather_into_out) gathered = Tensor::empty({int64_t(world), rows, n_local}, out.dtype(), out.device());
  }
  op_.apply(local, input, weight, weight_scale, input_scale, std::nullopt, bias, stream);
  if (gather_into_out) {
    comm_->all_gather(out2, local, stream);
    return;
  }
  comm_->all_gather(gathered, local, stream);
  const TensorView blocks = gathered.view({int64_t(world) * rows, n_local});
  for (int r = 0; r < world; ++r)
    copy(out2.narrow(1, int64_t(r) * n_local, n_local), blocks.narrow(0, int64_t(r) * rows, rows), stream);
}

}  // namespace w8a8
