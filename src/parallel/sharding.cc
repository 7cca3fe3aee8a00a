// Splitting an FP8 linear layer's weight, scales and bias across the ranks of a tensor-parallel group.
#include <algorithm>
#include <numeric>

#include "w8a8/error.h"
#include "w8a8/parallel.h"
#include "w8a8/weights.h"

namespace w8a8 {
namespace {

constexpr int64_t kBlock = 128;

enum class ScaleLayout { kPerTensor, kPerChannel, kBlock };

void check_group(int world, int rank) {
  W8A8_CHECK(world >= 1, "world: expected at least 1 rank, got ", world);
  W8A8_CHECK(rank >= 0 && rank < world, "rank: expected 0 <= rank < world = ", world, ", got ", rank);
}

void check_weight(const TensorView& weight) {
  W8A8_CHECK(weight.dim() == 2, "weight: expected a 2-D [N, K] tensor, got ", weight.describe());
  W8A8_CHECK_TYPE(is_fp8(weight.dtype()), "weight: expected an FP8 tensor, got ", weight.describe());
  W8A8_CHECK_TYPE(weight.device().is_cpu(), "weight: expected a CPU tensor (checkpoint sharding), got ",
                  weight.describe());
}

ScaleLayout scale_layout(const TensorView& scale, int64_t n, int64_t k) {
  W8A8_CHECK_TYPE(scale.dtype() == DType::kFloat32, "weight_scale: expected float32, got ", scale.describe());
  W8A8_CHECK_TYPE(scale.device().is_cpu(), "weight_scale: expected a CPU tensor, got ", scale.describe());
  if (scale.numel() == 1) return ScaleLayout::kPerTensor;
  if ((scale.dim() == 1 && scale.size(0) == n) || (scale.dim() == 2 && scale.size(0) == n && scale.size(1) == 1))
    return ScaleLayout::kPerChannel;
  if (scale.dim() == 2 && scale.size(0) == (n + kBlock - 1) / kBlock && scale.size(1) == (k + kBlock - 1) / kBlock)
    return ScaleLayout::kBlock;
  W8A8_FAIL(ErrorKind::kValue, "weight_scale: expected one element, [N] / [N, 1] = [", n,
            ", 1] per channel, or [ceil(N/128), ceil(K/128)] = [", (n + kBlock - 1) / kBlock, ", ",
            (k + kBlock - 1) / kBlock, "] blocks, got ", scale.describe());
}

Tensor contiguous(const TensorView& v) { return Tensor::copy_of(v); }

}  // namespace

const char* parallel_kind_name(ParallelKind kind) { return kind == ParallelKind::kColumn ? "column" : "row"; }

ShardRange shard_range(int64_t extent, int world, int rank, int64_t granule) {
  check_group(world, rank);
  W8A8_CHECK(extent >= 0, "extent: expected >= 0, got ", extent);
  W8A8_CHECK(extent % world == 0, "extent: ", extent, " does not split evenly over ", world, " ranks");
  const int64_t part = extent / world;
  W8A8_CHECK(granule <= 1 || part % granule == 0, "extent: each rank's part (", part, " of ", extent,
             ") must be a multiple of ", granule, " (the 128x128 weight blocks travel whole)");
  return {part * rank, part};
}

WeightShard shard_weight(ParallelKind kind, const TensorView& weight, const TensorView& weight_scale,
                         const std::optional<TensorView>& bias, int world, int rank) {
  check_group(world, rank);
  check_weight(weight);
  const int64_t n = weight.size(0), k = weight.size(1);
  const ScaleLayout layout = scale_layout(weight_scale, n, k);
  if (bias) {
    W8A8_CHECK(bias->dim() == 1 && bias->size(0) == n, "bias: expected [N] = [", n, "], got ", bias->describe());
    W8A8_CHECK_TYPE(bias->device().is_cpu(), "bias: expected a CPU tensor, got ", bias->describe());
  }
  const int64_t granule = layout == ScaleLayout::kBlock ? kBlock : 1;
  WeightShard s;
  if (kind == ParallelKind::kColumn) {
    const ShardRange r = shard_range(n, world, rank, granule);
    s.weight = contiguous(weight.narrow(0, r.begin, r.size));
    switch (layout) {
      case ScaleLayout::kPerTensor: s.weight_scale = contiguous(weight_scale); break;
      case ScaleLayout::kPerChannel:
        s.weight_scale = contiguous(weight_scale.view({n, 1}).narrow(0, r.begin, r.size));
        break;
      case ScaleLayout::kBlock:
        s.weight_scale = contiguous(weight_scale.narrow(0, r.begin / kBlock, (r.size + kBlock - 1) / kBlock));
        break;
    }
    if (bias) s.bias = contiguous(bias->narrow(0, r.begin, r.size));
  } else {
    const ShardRange r = shard_range(k, world, rank, granule);
    s.weight = contiguous(weight.narrow(1, r.begin, r.size));
    switch (layout) {
      case ScaleLayout::kPerTensor: s.weight_scale = contiguous(weight_scale); break;
      case ScaleLayout::kPerChannel: s.weight_scale = contiguous(weight_scale.view({n, 1})); break;
      case ScaleLayout::kBlock:
        s.weight_scale = contiguous(weight_scale.narrow(1, r.begin / kBlock, (r.size + kBlock - 1) / kBlock));
        break;
    }
    if (bias && rank == 0) s.bias = contiguous(*bias);  // added once, by rank 0
  }
  return s;
}

WeightShard shard_merged_column_parallel(const TensorView& weight, const TensorView& weight_scale,
                                         const std::vector<int64_t>& logical_widths,
                                         const std::optional<TensorView>& bias, int world, int rank) {
  check_group(world, rank);
  check_weight(weight);
  const int64_t n = weight.size(0), k = weight.size(1);
  W8A8_CHECK(!logical_widths.empty(), "logical_widths: expected at least one part");
  W8A8_CHECK_TYPE(weight_scale.dtype() == DType::kFloat32 && weight_scale.device().is_cpu(),
                  "weight_scale: expected a float32 CPU tensor, got ", weight_scale.describe());
  W8A8_CHECK(weight_scale.numel() == int64_t(logical_widths.size()), "weight_scale: expected one scale per part (",
             logical_widths.size(), "), got ", weight_scale.describe());
  W8A8_CHECK(std::accumulate(logical_widths.begin(), logical_widths.end(), int64_t(0)) == n,
             "logical_widths: expected widths summing to N = ", n);
  if (bias) W8A8_CHECK(bias->dim() == 1 && bias->size(0) == n, "bias: expected [N] = [", n, "], got ", bias->describe());
  int64_t local_n = 0;
  std::vector<int64_t> local_widths;
  for (int64_t w : logical_widths) {
    W8A8_CHECK(w >= 0 && w % world == 0, "logical_widths: part width ", w, " does not split evenly over ", world,
               " ranks");
    local_widths.push_back(w / world);
    local_n += w / world;
  }
  Tensor local = Tensor::empty({local_n, k}, weight.dtype());
  std::optional<Tensor> local_bias;
  if (bias) local_bias = Tensor::empty({local_n}, bias->dtype());
  Tensor local_scales = contiguous(weight_scale.view({int64_t(logical_widths.size())}));
  int64_t src = 0, dst = 0;
  for (size_t p = 0; p < logical_widths.size(); ++p) {
    const int64_t part = local_widths[p], begin = src + part * rank;
    copy_cpu(local.narrow(0, dst, part), weight.narrow(0, begin, part));
    if (bias) copy_cpu(local_bias->narrow(0, dst, part), bias->narrow(0, begin, part));
    src += logical_widths[p];
    dst += part;
  }
  auto [max_scale, requantized] = requantize_with_max_scale(local, local_scales, local_widths);
  return {std::move(requantized), std::move(max_scale), std::move(local_bias)};
}

}  // namespace w8a8
