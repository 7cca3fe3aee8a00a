#include "w8a8/tensor.h"

#include <cstdlib>
#include <cstring>
#include <ostream>
#include <sstream>

#include "w8a8/error.h"

namespace w8a8 {

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

// ---- Dims -------------------------------------------------------------------------------
Dims::Dims(std::initializer_list<int64_t> values) {
  W8A8_CHECK(values.size() <= size_t(kMaxRank), "sizes: expected at most ", kMaxRank, " dimensions, got ",
             values.size());
  for (int64_t x : values) v_[rank_++] = x;
}
Dims::Dims(const int64_t* values, int rank) {
  W8A8_CHECK(rank >= 0 && rank <= kMaxRank, "sizes: expected at most ", kMaxRank, " dimensions, got ", rank);
  for (int i = 0; i < rank; ++i) v_[i] = values[i];
  rank_ = rank;
}
void Dims::push_back(int64_t x) {
  W8A8_CHECK(rank_ < kMaxRank, "sizes: expected at most ", kMaxRank, " dimensions");
  v_[rank_++] = x;
}
int64_t Dims::product() const {
  int64_t p = 1;
  for (int i = 0; i < rank_; ++i) p *= v_[i];
  return p;
}
bool Dims::operator==(const Dims& o) const {
  if (rank_ != o.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (v_[i] != o.v_[i]) return false;
  return true;
}
std::string Dims::str() const {
  std::ostringstream os;
  os << '[';
  for (int i = 0; i < rank_; ++i) os << (i ? ", " : "") << v_[i];
  os << ']';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Dims& d) { return os << d.str(); }

// ---- TensorView ---------------------------------------------------------------------------
namespace {
Dims contiguous_strides(const Dims& sizes) {
  Dims s = sizes;
  int64_t acc = 1;
  for (int i = sizes.size() - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= sizes[i] > 1 ? sizes[i] : 1;
  }
  return s;
}
int wrap_dim(int d, int rank, const char* what) {
  const int w = d < 0 ? d + rank : d;
  W8A8_CHECK(w >= 0 && w < rank, what, ": dimension ", d, " out of range for a ", rank, "-D tensor");
  return w;
}
}  // namespace

TensorView::TensorView(void* data, DType dtype, Dims sizes, Device device)
    : TensorView(data, dtype, sizes, contiguous_strides(sizes), device) {}

TensorView::TensorView(void* data, DType dtype, Dims sizes, Dims strides, Device device)
    : data_(data), dtype_(dtype), sizes_(sizes), strides_(strides), device_(device) {
  W8A8_CHECK(sizes.size() == strides.size(), "strides: expected ", sizes.size(), " strides for sizes ", sizes.str(),
             ", got ", strides.str());
  for (int i = 0; i < sizes.size(); ++i)
    W8A8_CHECK(sizes[i] >= 0, "sizes: expected non-negative sizes, got ", sizes.str());
}

int64_t TensorView::size(int d) const { return sizes_[wrap_dim(d, dim(), "size")]; }
int64_t TensorView::stride(int d) const { return strides_[wrap_dim(d, dim(), "stride")]; }

bool TensorView::is_contiguous() const {
  int64_t expected = 1;
  for (int i = dim() - 1; i >= 0; --i) {
    if (sizes_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= sizes_[i];
  }
  return true;
}

size_t TensorView::span_bytes() const {
  if (numel() == 0) return 0;
  int64_t last = 0;
  for (int i = 0; i < dim(); ++i) last += (sizes_[i] - 1) * strides_[i];
  return size_t(last + 1) * element_size();
}

std::string TensorView::describe() const {
  return std::string(dtype_name(dtype_)) + sizes_.str() + " strides " + strides_.str() + " on " + device_.str();
}

TensorView TensorView::view(Dims new_sizes) const {
  // Infer a -1 size.
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < new_sizes.size(); ++i) {
    if (new_sizes[i] == -1) {
      W8A8_CHECK(infer < 0, "view: only one size may be -1, got ", new_sizes.str());
      infer = i;
    } else {
      W8A8_CHECK(new_sizes[i] >= 0, "view: expected sizes >= 0 or -1, got ", new_sizes.str());
      known *= new_sizes[i];
    }
  }
  if (infer >= 0) {
    W8A8_CHECK(known != 0 && numel() % known == 0, "view: cannot infer the -1 in ", new_sizes.str(),
               " for a tensor of ", numel(), " elements");
    new_sizes[infer] = numel() / known;
  }
  W8A8_CHECK(new_sizes.product() == numel(), "view: shape ", new_sizes.str(), " is invalid for a tensor of size ",
             sizes_.str());

  // torch's stride computation: walk old dimensions in chunks that are laid out contiguously
  // with respect to each other; each chunk can be re-split freely.
  Dims new_strides = new_sizes;
  if (numel() == 0) return TensorView(data_, dtype_, new_sizes, contiguous_strides(new_sizes), device_);
  int view_d = new_sizes.size() - 1;
  int64_t chunk_base_stride = dim() ? strides_[dim() - 1] : 1;
  int64_t tensor_numel = 1, view_numel = 1;
  for (int tensor_d = dim() - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= sizes_[tensor_d];
    const bool chunk_ends = tensor_d == 0 || (sizes_[tensor_d - 1] != 1 &&
                                              strides_[tensor_d - 1] != tensor_numel * chunk_base_stride);
    if (chunk_ends) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_sizes[view_d] == 1)) {
        new_strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_sizes[view_d];
        --view_d;
      }
      W8A8_CHECK(view_numel == tensor_numel, "view: sizes ", new_sizes.str(), " are not compatible with ",
                 describe(), " (the dimensions are not laid out as one; copy first)");
      if (tensor_d > 0) {
        chunk_base_stride = strides_[tensor_d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  W8A8_CHECK(view_d == -1, "view: sizes ", new_sizes.str(), " are not compatible with ", describe());
  return TensorView(data_, dtype_, new_sizes, new_strides, device_);
}

TensorView TensorView::narrow(int d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  W8A8_CHECK(start >= 0 && length >= 0 && start + length <= sizes_[d], "narrow: range [", start, ", ",
             start + length, ") out of bounds for dimension ", d, " of size ", sizes_[d]);
  TensorView v = *this;
  v.sizes_[d] = length;
  if (data_ != nullptr) v.data_ = static_cast<char*>(data_) + start * strides_[d] * int64_t(element_size());
  return v;
}

TensorView TensorView::transpose(int d0, int d1) const {
  d0 = wrap_dim(d0, dim(), "transpose");
  d1 = wrap_dim(d1, dim(), "transpose");
  TensorView v = *this;
  std::swap(v.sizes_[d0], v.sizes_[d1]);
  std::swap(v.strides_[d0], v.strides_[d1]);
  return v;
}

TensorView TensorView::reinterpret(DType dtype) const {
  W8A8_CHECK_TYPE(dtype_size(dtype) == element_size(), "reinterpret: expected a dtype of ", element_size(),
                  " bytes like ", dtype_name(dtype_), ", got ", dtype_name(dtype));
  TensorView v = *this;
  v.dtype_ = dtype;
  return v;
}

// ---- allocation ---------------------------------------------------------------------------
namespace {
void* cpu_allocate(size_t bytes, Device) {
  // 64-byte alignment: whole cache lines and aligned vector loads.
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (p == nullptr) W8A8_FAIL(ErrorKind::kRuntime, "out of host memory allocating ", bytes, " bytes");
  return p;
}
void cpu_deallocate(void* p, Device) { std::free(p); }

}  // namespace

#ifdef W8A8_WITH_CUDA
namespace cuda {
Allocator device_allocator();  // src/cuda/memory.cc
void copy_across_devices(const TensorView& dst, const TensorView& src, Stream stream);
}  // namespace cuda
#endif

namespace {
Allocator g_allocators[2] = {
    {cpu_allocate, cpu_deallocate},
#ifdef W8A8_WITH_CUDA
    cuda::device_allocator(),
#else
    {nullptr, nullptr},
#endif
};
}  // namespace

void register_allocator(DeviceType type, Allocator allocator) { g_allocators[int(type)] = allocator; }

Tensor Tensor::empty(Dims sizes, DType dtype, Device device) {
  const Allocator& a = g_allocators[int(device.type)];
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, a.allocate != nullptr, "device: ", device.str(),
                  " is not available in this build");
  TensorView v(nullptr, dtype, sizes, device);
  const size_t bytes = size_t(v.numel()) * dtype_size(dtype);
  void* p = a.allocate(bytes == 0 ? 1 : bytes, device);
  auto deleter = a.deallocate;
  std::shared_ptr<void> storage(p, [deleter, device](void* q) { deleter(q, device); });
  return Tensor(TensorView(p, dtype, sizes, device), std::move(storage));
}

Tensor Tensor::zeros(Dims sizes, DType dtype, Device device) {
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, device.is_cpu(), "Tensor::zeros: only CPU tensors here, got ",
                  device.str());
  Tensor t = empty(sizes, dtype, device);
  std::memset(t.data(), 0, size_t(t.numel()) * t.element_size());
  return t;
}

Tensor Tensor::copy_of(const TensorView& src) {
  Tensor t = empty(src.sizes(), src.dtype(), src.device());
  copy_cpu(t, src);
  return t;
}

Tensor Tensor::to(Device device, Stream stream) const {
  Tensor t = empty(sizes(), dtype(), device);
  copy(t, *this, stream);
  return t;
}

void copy(const TensorView& dst, const TensorView& src, Stream stream) {
  if (dst.device().is_cpu() && src.device().is_cpu()) return copy_cpu(dst, src);
#ifdef W8A8_WITH_CUDA
  cuda::copy_across_devices(dst, src, stream);
#else
  W8A8_FAIL(ErrorKind::kUnsupported, "copy: ", src.device().str(), " -> ", dst.device().str(),
            " needs the CUDA backend, which this build does not have");
#endif
}

void copy_cpu(const TensorView& dst, const TensorView& src) {
  W8A8_CHECK_KIND(ErrorKind::kUnsupported, dst.device().is_cpu() && src.device().is_cpu(),
                  "copy_cpu: expected CPU tensors, got ", dst.describe(), " and ", src.describe());
  W8A8_CHECK(dst.sizes() == src.sizes(), "copy_cpu: sizes differ: ", dst.sizes().str(), " vs ", src.sizes().str());
  W8A8_CHECK_TYPE(dst.dtype() == src.dtype(), "copy_cpu: dtypes differ: ", dtype_name(dst.dtype()), " vs ",
                  dtype_name(src.dtype()));
  const int64_t n = src.numel();
  if (n == 0) return;
  const size_t es = src.element_size();
  if (dst.is_contiguous() && src.is_contiguous()) {
    std::memcpy(dst.data(), src.data(), size_t(n) * es);
    return;
  }
  const int rank = src.dim();
  int64_t index[Dims::kMaxRank] = {};
  for (int64_t i = 0; i < n; ++i) {
    int64_t so = 0, d_off = 0;
    for (int d = 0; d < rank; ++d) {
      so += index[d] * src.strides()[d];
      d_off += index[d] * dst.strides()[d];
    }
    std::memcpy(static_cast<char*>(dst.data()) + d_off * int64_t(es),
                static_cast<const char*>(src.data()) + so * int64_t(es), es);
    for (int d = rank - 1; d >= 0; --d) {
      if (++index[d] < src.sizes()[d]) break;
      index[d] = 0;
    }
  }
}

}  // namespace w8a8
