// Tensors without a framework: a non-owning strided view and an owning tensor.
//
// TensorView is what every w8a8 entry point takes: a pointer, a dtype, sizes and strides
// (in elements), and the device the memory lives on. Tensor owns its memory and shares it
// with the views made from it. Views are checked: an impossible view throws w8a8::Error.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>

#include "w8a8/dtype.h"

struct CUstream_st;  // cudaStream_t without the CUDA headers

namespace w8a8 {

// A CUDA stream (cudaStream_t converts implicitly). Entry points take one; nullptr means the
// calling thread's current stream, which set_current_stream sets (default: CUDA's default stream).
using Stream = CUstream_st*;
Stream current_stream();
void set_current_stream(Stream stream);
inline Stream resolve_stream(Stream stream) { return stream != nullptr ? stream : current_stream(); }

enum class DeviceType : uint8_t { kCPU, kCUDA };

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;
  static Device cpu() { return {}; }
  static Device cuda(int index = 0) { return {DeviceType::kCUDA, index}; }
  bool is_cpu() const { return type == DeviceType::kCPU; }
  bool is_cuda() const { return type == DeviceType::kCUDA; }
  bool operator==(const Device& o) const { return type == o.type && (is_cpu() || index == o.index); }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};

// Fixed-capacity list of sizes or strides: views never allocate.
class Dims {
 public:
  static constexpr int kMaxRank = 8;
  Dims() = default;
  Dims(std::initializer_list<int64_t> values);
  Dims(const int64_t* values, int rank);
  int size() const { return rank_; }
  int64_t operator[](int i) const { return v_[i]; }
  int64_t& operator[](int i) { return v_[i]; }
  const int64_t* begin() const { return v_; }
  const int64_t* end() const { return v_ + rank_; }
  void push_back(int64_t x);
  int64_t product() const;
  bool operator==(const Dims& o) const;
  bool operator!=(const Dims& o) const { return !(*this == o); }
  std::string str() const;  // "[2, 3]"

 private:
  int64_t v_[kMaxRank] = {};
  int rank_ = 0;
};

std::ostream& operator<<(std::ostream& os, const Dims& d);

class TensorView {
 public:
  TensorView() = default;
  // Contiguous (row-major) view of memory the caller owns.
  TensorView(void* data, DType dtype, Dims sizes, Device device = Device::cpu());
  TensorView(void* data, DType dtype, Dims sizes, Dims strides, Device device = Device::cpu());

  void* data() const { return data_; }
  template <class T>
  T* data_as() const { return static_cast<T*>(data_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  const Dims& sizes() const { return sizes_; }
  const Dims& strides() const { return strides_; }
  int dim() const { return sizes_.size(); }
  int64_t size(int d) const;    // negative d counts from the end
  int64_t stride(int d) const;  // in elements
  int64_t numel() const { return sizes_.product(); }
  size_t element_size() const { return dtype_size(dtype_); }
  bool defined() const { return data_ != nullptr || numel() == 0; }
  bool is_contiguous() const;
  // Bytes from the first to one past the last element that the view can touch.
  size_t span_bytes() const;
  std::string describe() const;  // "bfloat16[4, 8] strides [8, 1] on cpu"

  // Same memory, other shape; -1 infers one size. Throws when the strides make it impossible
  // (torch's .view rule: only dimensions that are laid out as one can merge).
  TensorView view(Dims sizes) const;
  TensorView narrow(int d, int64_t start, int64_t length) const;
  TensorView transpose(int d0, int d1) const;
  TensorView t() const { return transpose(0, 1); }
  // Same bits as another dtype of the same element size (e4m3fn -> e4m3fnuz, fp8 -> uint8).
  TensorView reinterpret(DType dtype) const;

 protected:
  void* data_ = nullptr;
  DType dtype_ = DType::kFloat32;
  Dims sizes_;
  Dims strides_;
  Device device_;
};

// Device allocation is pluggable so that the CPU-only core never links CUDA.
struct Allocator {
  void* (*allocate)(size_t bytes, Device device);
  void (*deallocate)(void* ptr, Device device);
};
void register_allocator(DeviceType type, Allocator allocator);

class Tensor : public TensorView {
 public:
  Tensor() = default;
  static Tensor empty(Dims sizes, DType dtype, Device device = Device::cpu());
  static Tensor zeros(Dims sizes, DType dtype, Device device = Device::cpu());
  // A contiguous copy of any view (CPU to CPU here; other devices through the backend that owns them).
  static Tensor copy_of(const TensorView& src);
  // A Tensor that refers to memory it does not own (a caller's output buffer, say).
  static Tensor borrow(const TensorView& v) { return Tensor(v, nullptr); }

  Tensor view(Dims sizes) const { return Tensor(TensorView::view(sizes), storage_); }
  Tensor narrow(int d, int64_t start, int64_t length) const {
    return Tensor(TensorView::narrow(d, start, length), storage_);
  }
  Tensor transpose(int d0, int d1) const { return Tensor(TensorView::transpose(d0, d1), storage_); }
  Tensor t() const { return transpose(0, 1); }
  Tensor reinterpret(DType dtype) const { return Tensor(TensorView::reinterpret(dtype), storage_); }
  // A contiguous copy on another device (synchronous for device-to-host copies).
  Tensor to(Device device, Stream stream = nullptr) const;

 private:
  Tensor(const TensorView& v, std::shared_ptr<void> storage) : TensorView(v), storage_(std::move(storage)) {}
  std::shared_ptr<void> storage_;
};

// Copies elements between two views of the same shape and dtype on the CPU (any strides).
void copy_cpu(const TensorView& dst, const TensorView& src);
// Copies between any devices: CPU to CPU with any strides; otherwise both views contiguous, or both 2-D with
// contiguous rows (a pitched copy).
// Asynchronous on stream except when the destination is host memory.
void copy(const TensorView& dst, const TensorView& src, Stream stream = nullptr);

}  // namespace w8a8
