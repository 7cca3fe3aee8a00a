// The NCCL communicator (builds with -DW8A8_NCCL=ON): the caller's ncclComm_t, collectives on the given stream.
#include "w8a8/error.h"
#include "w8a8/parallel.h"

#ifdef W8A8_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace w8a8 {

#ifdef W8A8_WITH_NCCL
namespace {

#define W8A8_NCCL_CHECK(expr)                                                                         \
  do {                                                                                                \
    const ncclResult_t r_ = (expr);                                                                   \
    W8A8_CHECK_KIND(ErrorKind::kRuntime, r_ == ncclSuccess, #expr, " failed: ", ncclGetErrorString(r_)); \
  } while (0)

ncclDataType_t nccl_type(DType t, const char* name) {
  switch (t) {
    case DType::kFloat32: return ncclFloat32;
    case DType::kBFloat16: return ncclBfloat16;
    case DType::kFloat16: return ncclFloat16;
    default: break;
  }
  W8A8_FAIL(ErrorKind::kType, name, ": expected float32, bfloat16 or float16 for NCCL, got ", dtype_name(t));
}

void check_device_buffer(const TensorView& t, const char* name) {
  W8A8_CHECK_TYPE(t.device().is_cuda(), name, ": NCCL collectives run CUDA tensors, got ", t.describe());
  W8A8_CHECK(t.is_contiguous(), name, ": expected a contiguous tensor, got ", t.describe());
}

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(ncclComm_t comm) : comm_(comm) {
    W8A8_NCCL_CHECK(ncclCommUserRank(comm_, &rank_));
    W8A8_NCCL_CHECK(ncclCommCount(comm_, &world_));
  }
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  void all_reduce_sum(const TensorView& buffer, Stream stream) override {
    check_device_buffer(buffer, "buffer");
    W8A8_NCCL_CHECK(ncclAllReduce(buffer.data(), buffer.data(), size_t(buffer.numel()),
                                  nccl_type(buffer.dtype(), "buffer"), ncclSum, comm_, resolve_stream(stream)));
  }
  void all_gather(const TensorView& out, const TensorView& in, Stream stream) override {
    check_device_buffer(out, "out");
    check_device_buffer(in, "in");
    W8A8_CHECK(out.dtype() == in.dtype() && out.numel() == in.numel() * world_,
               "all_gather: expected out of ", world_, " x ", in.numel(), " elements, got ", out.describe());
    // Bytes, so any dtype (FP8 included) can be gathered.
    W8A8_NCCL_CHECK(ncclAllGather(in.data(), out.data(), size_t(in.numel()) * in.element_size(), ncclUint8, comm_,
                                  resolve_stream(stream)));
  }

 private:
  ncclComm_t comm_;
  int rank_ = 0, world_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> nccl_communicator(void* nccl_comm) {
  W8A8_CHECK(nccl_comm != nullptr, "nccl_comm: expected an initialized ncclComm_t, got null");
  return std::make_unique<NcclCommunicator>(static_cast<ncclComm_t>(nccl_comm));
}
bool nccl_built() { return true; }

#else

std::unique_ptr<Communicator> nccl_communicator(void*) {
  W8A8_FAIL(ErrorKind::kUnsupported, "nccl_communicator: this build has no NCCL (configure with -DW8A8_NCCL=ON)");
}
bool nccl_built() { return false; }

#endif

}  // namespace w8a8
