// An in-process tensor-parallel group: one rank per thread, CPU tensors. The collectives meet at a
// barrier; sums run over ranks in rank order in float32 and round once, so results are deterministic.
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "common/elements.h"
#include "w8a8/error.h"
#include "w8a8/parallel.h"

namespace w8a8 {
namespace {

struct GroupState {
  explicit GroupState(int w) : world(w), slots(size_t(w)) {}
  const int world;
  std::mutex mutex;
  std::condition_variable cv;
  int arrived = 0;
  uint64_t generation = 0;
  std::vector<const TensorView*> slots;  // each rank's buffer for the collective in progress

  void barrier() {
    std::unique_lock<std::mutex> lock(mutex);
    const uint64_t gen = generation;
    if (++arrived == world) {
      arrived = 0;
      ++generation;
      cv.notify_all();
    } else {
      cv.wait(lock, [&] { return generation != gen; });
    }
  }
};

void check_buffer(const TensorView& t, const char* name) {
  W8A8_CHECK_TYPE(t.device().is_cpu(), name, ": the local group runs CPU tensors, got ", t.describe());
  W8A8_CHECK(t.is_contiguous(), name, ": expected a contiguous tensor, got ", t.describe());
}

class LocalCommunicator final : public Communicator {
 public:
  LocalCommunicator(std::shared_ptr<GroupState> g, int rank) : g_(std::move(g)), rank_(rank) {}
  int rank() const override { return rank_; }
  int world_size() const override { return g_->world; }

  void all_reduce_sum(const TensorView& buffer, Stream) override {
    check_buffer(buffer, "buffer");
    W8A8_CHECK_TYPE(buffer.dtype() == DType::kFloat32 || buffer.dtype() == DType::kBFloat16 ||
                        buffer.dtype() == DType::kFloat16,
                    "buffer: expected float32, bfloat16 or float16, got ", buffer.describe());
    g_->slots[size_t(rank_)] = &buffer;
    g_->barrier();  // every rank's buffer posted
    std::vector<float> sum(size_t(buffer.numel()), 0.0f);
    for (int r = 0; r < g_->world; ++r) {
      const TensorView& other = *g_->slots[size_t(r)];
      W8A8_CHECK(other.sizes() == buffer.sizes() && other.dtype() == buffer.dtype(),
                 "all_reduce_sum: ranks passed different buffers (", other.describe(), " vs ", buffer.describe(), ")");
      for (int64_t i = 0; i < buffer.numel(); ++i) sum[size_t(i)] += load_float(other, i);
    }
    g_->barrier();  // every rank has read every buffer
    for (int64_t i = 0; i < buffer.numel(); ++i) store_float(buffer, i, sum[size_t(i)]);
  }

  void all_gather(const TensorView& out, const TensorView& in, Stream) override {
    check_buffer(out, "out");
    check_buffer(in, "in");
    W8A8_CHECK(out.dtype() == in.dtype() && out.numel() == in.numel() * g_->world,
               "all_gather: expected out of ", g_->world, " x ", in.numel(), " ", dtype_name(in.dtype()),
               " elements, got ", out.describe());
    g_->slots[size_t(rank_)] = &in;
    g_->barrier();
    const size_t bytes = size_t(in.numel()) * in.element_size();
    for (int r = 0; r < g_->world; ++r) {
      const TensorView& other = *g_->slots[size_t(r)];
      W8A8_CHECK(other.numel() == in.numel() && other.dtype() == in.dtype(),
                 "all_gather: ranks passed different inputs (", other.describe(), " vs ", in.describe(), ")");
      std::memcpy(static_cast<char*>(out.data()) + bytes * size_t(r), other.data(), bytes);
    }
    g_->barrier();
  }

 private:
  std::shared_ptr<GroupState> g_;
  int rank_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_local_group(int world) {
  W8A8_CHECK(world >= 1, "world: expected at least 1 rank, got ", world);
  auto state = std::make_shared<GroupState>(world);
  std::vector<std::unique_ptr<Communicator>> ranks;
  for (int r = 0; r < world; ++r) ranks.push_back(std::make_unique<LocalCommunicator>(state, r));
  return ranks;
}

}  // namespace w8a8
