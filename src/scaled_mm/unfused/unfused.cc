#include "scaled_mm/unfused/unfused.h"

#include <string>

#include "w8a8/error.h"

namespace w8a8::smm::unfused {
namespace {

DeviceOps g_ops[2] = {};  // by DeviceType

const DeviceOps& ops_for(const Device& d) { return g_ops[int(d.type)]; }

Support can_implement(const ScaledMmProblem& p) {
  if (p.blockwise())
    return Support::no("blockwise scales cannot be applied after the product (per-tensor, per-token and "
                       "per-channel only)");
  const DeviceOps& ops = ops_for(p.device);
  if (ops.base_gemm == nullptr || ops.epilogue == nullptr)
    return Support::no("no base GEMM for " + p.device.str() + " in this build");
  return Support::yes();
}

void run(const ScaledMmArgs& x) {
  const ScaledMmProblem& p = x.problem;
  if (p.m == 0 || p.n == 0) return;
  const DeviceOps& ops = ops_for(p.device);
  Tensor acc = ops.scratch != nullptr
                   ? Tensor::borrow(TensorView(ops.scratch(size_t(p.m * p.n) * sizeof(float), x.stream),
                                               DType::kFloat32, {p.m, p.n}, p.device))
                   : Tensor::empty({p.m, p.n}, DType::kFloat32, p.device);
  ops.base_gemm(acc, x.a, x.b, x.stream);
  ops.epilogue(x.out, acc, x.scale_a, x.scale_b, x.bias, x.stream);
}

const Backend kBackend{ScaledMmBackend::kUnfused, "unfused", can_implement, run};

}  // namespace

void set_device_ops(DeviceType type, const DeviceOps& ops) { g_ops[int(type)] = ops; }

const Backend& backend() { return kBackend; }

}  // namespace w8a8::smm::unfused
