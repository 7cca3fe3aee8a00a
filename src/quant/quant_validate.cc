// Argument validation shared by every quantization entry. Runs before any memory is touched.
#include "quant/quant_common.h"

namespace w8a8::quant {

namespace {
void check_has_data(const TensorView& t, const char* name) {
  W8A8_CHECK(t.data() != nullptr || t.numel() == 0, name, ": expected a tensor with data, got a null pointer (",
             t.describe(), ")");
}
// Last dimension contiguous (stride 1, or a single column where the stride does not matter).
bool last_dim_contiguous(const TensorView& t) { return t.size(1) <= 1 || t.stride(1) == 1; }
}  // namespace

void check_activation(const TensorView& t, const char* name) {
  W8A8_CHECK_TYPE(is_half_or_float(t.dtype()), name, ": expected a bfloat16, float16 or float32 tensor, got ",
                  t.describe());
  W8A8_CHECK(t.dim() == 2, name, ": expected a 2-D tensor [M, K], got ", t.dim(), "-D ", t.describe());
  W8A8_CHECK(last_dim_contiguous(t), name, ": expected the last dimension contiguous (stride(1) == 1), got ",
             t.describe());
  check_has_data(t, name);
}

void check_fp8_dtype(DType t, const char* name) {
  W8A8_CHECK_TYPE(is_e4m3(t), name, ": expected float8_e4m3fn or float8_e4m3fnuz, got ", dtype_name(t));
}

void check_fp8_output(const TensorView& t, const char* name, int64_t rows, int64_t cols, bool min_rows_only) {
  W8A8_CHECK_TYPE(is_e4m3(t.dtype()), name, ": expected a float8_e4m3fn or float8_e4m3fnuz tensor, got ",
                  t.describe());
  const bool shape_ok = t.dim() == 2 && t.size(1) == cols && (min_rows_only ? t.size(0) >= rows : t.size(0) == rows);
  W8A8_CHECK(shape_ok, name, ": expected shape ", min_rows_only ? "[>= " : "[", rows, ", ", cols, "], got ",
             t.describe());
  W8A8_CHECK(last_dim_contiguous(t) && (t.size(0) <= 1 || t.stride(0) >= cols), name,
             ": expected the last dimension contiguous (stride(1) == 1) and rows that do not overlap "
             "(stride(0) >= ", cols, "), got ", t.describe());
  check_has_data(t, name);
}

void check_one_float(const TensorView& t, const char* name) {
  // A wrong dtype is a type error, a wrong count a value error; the message is the same.
  W8A8_CHECK_TYPE(t.dtype() == DType::kFloat32, name, ": expected one float32 element, got ", t.describe());
  W8A8_CHECK(t.numel() == 1, name, ": expected one float32 element, got ", t.describe());
  check_has_data(t, name);
}

void check_float_column(const TensorView& t, const char* name, int64_t rows) {
  W8A8_CHECK_TYPE(t.dtype() == DType::kFloat32, name, ": expected a float32 tensor [", rows, ", 1], got ",
                  t.describe());
  W8A8_CHECK(t.dim() == 2 && t.size(0) == rows && t.size(1) == 1, name, ": expected shape [", rows, ", 1], got ",
             t.describe());
  W8A8_CHECK(rows <= 1 || t.stride(0) >= 1, name, ": expected rows that do not overlap (stride(0) >= 1), got ",
             t.describe());
  check_has_data(t, name);
}

Device check_devices(std::initializer_list<NamedView> tensors) {
  if (tensors.size() == 0) return Device::cpu();
  const NamedView& first = *tensors.begin();
  const Device device = first.view->device();
  for (const NamedView& t : tensors) {
    if (t.view == nullptr) continue;
    W8A8_CHECK_TYPE(t.view->device() == device, t.name, ": expected a tensor on ", device.str(), " like ",
                    first.name, ", got ", t.view->describe());
  }
#ifndef W8A8_WITH_CUDA
  if (device.is_cuda()) {
    W8A8_FAIL(ErrorKind::kUnsupported, first.name, ": expected a CPU tensor: the CUDA backend is not built ",
              "(configure with -DW8A8_CUDA=ON), got ", first.view->describe());
  }
#endif
  return device;
}

}  // namespace w8a8::quant
