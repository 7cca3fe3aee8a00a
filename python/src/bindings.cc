// w8a8._w8a8: the nanobind extension behind the `w8a8` Python package. The only place Python appears in C++.
//
// Arrays cross as (ndarray, dtype name) pairs: the Python layer views FP8 / bf16 arrays as same-size integer
// arrays (numpy's and older torch's DLPack lack those codes) and names the real dtype; the ndarray brings the
// pointer, shape, strides (elements) and device, zero-copy. Results come back as (array, dtype name, data
// pointer) triples in the caller's framework (0: numpy, 1: torch); the array owns the w8a8::Tensor it views.
// Streams cross as integers (torch.cuda.current_stream().cuda_stream), 0 meaning w8a8's current stream.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "w8a8/dispatch.h"
#include "w8a8/error.h"
#include "w8a8/linear.h"
#include "w8a8/platform.h"
#include "w8a8/quant.h"
#include "w8a8/scaled_mm.h"
#include "w8a8/tensor.h"
#include "w8a8/tune.h"
#include "w8a8/weights.h"
#include "w8a8/parallel.h"
#include "w8a8/checkpoint.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using w8a8::DType;
using w8a8::Tensor;
using w8a8::TensorView;

using Arr = std::tuple<nb::ndarray<nb::ro>, std::string>;
using OptArr = std::optional<Arr>;

w8a8::Stream to_stream(uintptr_t s) { return reinterpret_cast<w8a8::Stream>(s); }

w8a8::Device device_of(const nb::ndarray<nb::ro>& a) {
  switch (a.device_type()) {
    case nb::device::cpu::value:
    case nb::device::cuda_host::value: return w8a8::Device::cpu();
    case nb::device::cuda::value:
    case nb::device::cuda_managed::value: return w8a8::Device::cuda(a.device_id());
    default:
      W8A8_FAIL(w8a8::ErrorKind::kType, "array: expected a CPU or CUDA array, got DLPack device type ",
                a.device_type());
  }
}

TensorView view_of(const Arr& arg, const char* name) {
  const auto& [a, dtype_name] = arg;
  const DType dtype = w8a8::dtype_from_name(dtype_name);
  W8A8_CHECK_TYPE(a.itemsize() == w8a8::dtype_size(dtype), name, ": element size ", a.itemsize(),
                  " does not match dtype ", dtype_name);
  W8A8_CHECK(a.ndim() <= size_t(w8a8::Dims::kMaxRank), name, ": expected at most ", w8a8::Dims::kMaxRank,
             " dimensions, got ", a.ndim());
  w8a8::Dims sizes(a.shape_ptr(), int(a.ndim()));
  w8a8::Dims strides;
  for (size_t i = 0; i < a.ndim(); ++i) strides.push_back(a.stride(i));
  return TensorView(const_cast<void*>(a.data()), dtype, sizes, strides, device_of(a));
}

std::optional<TensorView> opt_view(const OptArr& arg, const char* name) {
  if (!arg) return std::nullopt;
  return view_of(*arg, name);
}

// The DLPack type that carries a dtype's bits across (torch has no uint16: bf16 travels as int16).
nb::dlpack::dtype raw_dtype(DType t, int framework) {
  switch (t) {
    case DType::kFloat8E4M3FN:
    case DType::kFloat8E4M3FNUZ:
    case DType::kFloat8E5M2:
    case DType::kUInt8: return nb::dtype<uint8_t>();
    case DType::kInt8: return nb::dtype<int8_t>();
    case DType::kBFloat16: return framework == 1 ? nb::dtype<int16_t>() : nb::dtype<uint16_t>();
    case DType::kFloat16: return {uint8_t(nb::dlpack::dtype_code::Float), 16, 1};
    case DType::kFloat32: return nb::dtype<float>();
    case DType::kFloat64: return nb::dtype<double>();
    case DType::kInt32: return nb::dtype<int32_t>();
    case DType::kInt64: return nb::dtype<int64_t>();
  }
  return nb::dtype<uint8_t>();
}

// (array, dtype name, data pointer): the array owns a copy of the Tensor (sharing its storage).
nb::tuple out_of(Tensor t, int framework) {
  const DType dtype = t.dtype();
  const uintptr_t ptr = reinterpret_cast<uintptr_t>(t.data());
  const int rank = t.dim();
  size_t shape[w8a8::Dims::kMaxRank];
  int64_t strides[w8a8::Dims::kMaxRank];
  for (int i = 0; i < rank; ++i) {
    shape[i] = size_t(t.size(i));
    strides[i] = t.stride(i);
  }
  const bool cuda = t.device().is_cuda();
  const int device_type = cuda ? nb::device::cuda::value : nb::device::cpu::value;
  const int device_id = cuda ? t.device().index : 0;
  void* data = t.data();
  auto* owned = new Tensor(std::move(t));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  nb::object arr;
  if (framework == 1) {
    arr = nb::cast(nb::ndarray<nb::pytorch>(data, size_t(rank), shape, owner, strides, raw_dtype(dtype, 1),
                                            device_type, device_id));
  } else {
    arr = nb::cast(nb::ndarray<nb::numpy>(data, size_t(rank), shape, owner, strides, raw_dtype(dtype, 0),
                                          device_type, device_id));
  }
  return nb::make_tuple(arr, std::string(w8a8::dtype_name(dtype)), ptr);
}

nb::tuple out_pair(std::pair<Tensor, Tensor> r, int fw) {
  return nb::make_tuple(out_of(std::move(r.first), fw), out_of(std::move(r.second), fw));
}

// A rank's shard as (weight, weight_scale, bias or None) in the caller's array type.
nb::tuple shard_tuple(w8a8::WeightShard s, int fw) {
  nb::object b = nb::none();
  if (s.bias) b = out_of(std::move(*s.bias), fw);
  return nb::make_tuple(out_of(std::move(s.weight), fw), out_of(std::move(s.weight_scale), fw), b);
}

const w8a8::W8A8ScaledMmFn kScaledMmFns[] = {
    w8a8::cutlass_w8a8_scaled_mm,          w8a8::flashinfer_w8a8_scaled_mm,
    w8a8::rocm_per_tensor_w8a8_scaled_mm,  w8a8::torch_per_tensor_w8a8_scaled_mm,
    w8a8::torch_per_token_w8a8_scaled_mm,  w8a8::torch_channelwise_w8a8_scaled_mm,
    w8a8::cpu_w8a8_scaled_mm,
};

w8a8::W8A8ScaledMmFn scaled_mm_fn_by_name(const std::string& name) {
  for (auto fn : kScaledMmFns)
    if (name == w8a8::scaled_mm_fn_name(fn)) return fn;
  W8A8_FAIL(w8a8::ErrorKind::kValue, "fn: unknown scaled-mm strategy '", name, "'");
}

w8a8::ScaledMmOptions mm_options(const std::string& backend, const std::string& accumulation) {
  w8a8::ScaledMmOptions o;
  o.backend = w8a8::backend_from_name(backend);
  if (accumulation == "default") o.accumulation = w8a8::Accumulation::kDefault;
  else if (accumulation == "promoted") o.accumulation = w8a8::Accumulation::kPromoted;
  else if (accumulation == "fast") o.accumulation = w8a8::Accumulation::kFast;
  else
    W8A8_FAIL(w8a8::ErrorKind::kValue, "accumulation: expected 'default', 'promoted' or 'fast', got '",
              accumulation, "'");
  return o;
}

w8a8::GroupShape group_shape(std::pair<int64_t, int64_t> gs) { return {gs.first, gs.second}; }

w8a8::Accumulation accumulation_of(const std::string& name) { return mm_options("auto", name).accumulation; }

// A BackendChoice as a dict: backend, kernel, knobs, accumulation, measured_us, reason.
nb::dict choice_dict(const w8a8::BackendChoice& c) {
  nb::dict d;
  d["backend"] = std::string(w8a8::backend_name(c.backend));
  d["kernel"] = c.kernel;
  d["knobs"] = c.knobs;
  d["accumulation"] = std::string(w8a8::accumulation_name(c.accumulation));
  d["measured_us"] = c.measured_us;
  d["reason"] = c.reason;
  return d;
}

// `w8a8 info --scales` names: tensor, token-channel, mixed (per-tensor a, per-channel b), block.
std::pair<w8a8::ScaleKind, w8a8::ScaleKind> scale_kinds(const std::string& scales) {
  using w8a8::ScaleKind;
  if (scales == "tensor") return {ScaleKind::kPerTensor, ScaleKind::kPerTensor};
  if (scales == "token-channel") return {ScaleKind::kPerToken, ScaleKind::kPerChannel};
  if (scales == "mixed") return {ScaleKind::kPerTensor, ScaleKind::kPerChannel};
  if (scales == "block") return {ScaleKind::kBlock, ScaleKind::kBlock};
  W8A8_FAIL(w8a8::ErrorKind::kValue, "scales: expected 'tensor', 'token-channel', 'mixed' or 'block', got '", scales,
            "'");
}

}  // namespace

NB_MODULE(_w8a8, m) {
  m.def("set_leak_warnings", [](bool on) { nb::set_leak_warnings(on); });
  m.doc() = "w8a8's C++ library (FP8 W8A8 linear layers); use the `w8a8` package, not this module.";

  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const w8a8::Error& e) {
      PyObject* type = PyExc_RuntimeError;
      switch (e.kind()) {
        case w8a8::ErrorKind::kValue: type = PyExc_ValueError; break;
        case w8a8::ErrorKind::kType: type = PyExc_TypeError; break;
        case w8a8::ErrorKind::kUnsupported: type = PyExc_NotImplementedError; break;
        case w8a8::ErrorKind::kRuntime: type = PyExc_RuntimeError; break;
      }
      PyErr_SetString(type, e.what());
    }
  });

#ifdef W8A8_WITH_CUDA
  m.attr("cuda_built") = true;
#else
  m.attr("cuda_built") = false;
#endif

  // ---- quantization --------------------------------------------------------------------------
  m.def("scaled_fp8_quant",
        [](const Arr& input, const OptArr& scale, std::optional<int64_t> num_token_padding, const OptArr& scale_ub,
           bool use_per_token_if_dynamic, const OptArr& output, const std::string& fp8_dtype, int fw,
           uintptr_t stream) {
          return out_pair(w8a8::scaled_fp8_quant(view_of(input, "input"), opt_view(scale, "scale"),
                                                 num_token_padding, opt_view(scale_ub, "scale_ub"),
                                                 use_per_token_if_dynamic, opt_view(output, "output"),
                                                 w8a8::dtype_from_name(fp8_dtype), to_stream(stream)),
                          fw);
        },
        "input"_a, "scale"_a.none(), "num_token_padding"_a.none(), "scale_ub"_a.none(),
        "use_per_token_if_dynamic"_a, "output"_a.none(), "fp8_dtype"_a, "fw"_a, "stream"_a);
  m.def("per_token_group_quant_fp8",
        [](const Arr& x, int64_t group_size, bool column_major_scales, bool use_ue8m0, double eps,
           const std::string& fp8_dtype, int fw, uintptr_t stream) {
          return out_pair(w8a8::per_token_group_quant_fp8(view_of(x, "x"), group_size, column_major_scales,
                                                          use_ue8m0, eps, w8a8::dtype_from_name(fp8_dtype),
                                                          to_stream(stream)),
                          fw);
        });
  m.def("per_block_quant_fp8", [](const Arr& w, int64_t block_n, int64_t block_k, const std::string& fp8_dtype,
                                  int fw, uintptr_t stream) {
    return out_pair(w8a8::per_block_quant_fp8(view_of(w, "weight"), block_n, block_k,
                                              w8a8::dtype_from_name(fp8_dtype), to_stream(stream)),
                    fw);
  });
  // Allocation-free entries (torch.library ops write into torch-allocated outputs).
  m.def("static_scaled_fp8_quant", [](const Arr& out, const Arr& input, const Arr& scale, uintptr_t stream) {
    w8a8::static_scaled_fp8_quant(view_of(out, "out"), view_of(input, "input"), view_of(scale, "scale"),
                                  to_stream(stream));
  });
  m.def("dynamic_scaled_fp8_quant", [](const Arr& out, const Arr& input, const Arr& scale, uintptr_t stream) {
    w8a8::dynamic_scaled_fp8_quant(view_of(out, "out"), view_of(input, "input"), view_of(scale, "scale"),
                                   to_stream(stream));
  });
  m.def("dynamic_per_token_scaled_fp8_quant",
        [](const Arr& out, const Arr& input, const Arr& scale, const OptArr& scale_ub, uintptr_t stream) {
          w8a8::dynamic_per_token_scaled_fp8_quant(view_of(out, "out"), view_of(input, "input"),
                                                   view_of(scale, "scale"), opt_view(scale_ub, "scale_ub"),
                                                   to_stream(stream));
        });
  m.def("per_token_group_quant_fp8_into", [](const Arr& out, const Arr& scale, const Arr& input, int64_t group_size,
                                             double eps, bool use_ue8m0, uintptr_t stream) {
    w8a8::per_token_group_quant_fp8_into(view_of(out, "out"), view_of(scale, "scale_out"), view_of(input, "input"),
                                         group_size, eps, use_ue8m0, to_stream(stream));
  });

  nb::class_<w8a8::QuantFP8>(m, "QuantFP8")
      .def("__init__",
           [](w8a8::QuantFP8* self, bool is_static, std::pair<int64_t, int64_t> gs,
              std::optional<int64_t> num_token_padding, bool column_major_scales, bool use_ue8m0,
              const std::string& fp8_dtype) {
             new (self) w8a8::QuantFP8(is_static, group_shape(gs), num_token_padding, column_major_scales,
                                       use_ue8m0, w8a8::dtype_from_name(fp8_dtype));
           },
           "is_static"_a, "group_shape"_a, "num_token_padding"_a.none(), "column_major_scales"_a, "use_ue8m0"_a,
           "fp8_dtype"_a)
      .def("__call__",
           [](const w8a8::QuantFP8& q, const Arr& x, const OptArr& scale, const OptArr& scale_ub, int fw,
              uintptr_t stream) {
             return out_pair(q(view_of(x, "x"), opt_view(scale, "scale"), opt_view(scale_ub, "scale_ub"),
                               to_stream(stream)),
                             fw);
           },
           "x"_a, "scale"_a.none(), "scale_ub"_a.none(), "fw"_a, "stream"_a)
      .def_prop_ro("is_static", &w8a8::QuantFP8::is_static)
      .def_prop_ro("group_shape",
                   [](const w8a8::QuantFP8& q) { return std::make_pair(q.group_shape().row, q.group_shape().col); })
      .def_prop_ro("num_token_padding", &w8a8::QuantFP8::num_token_padding)
      .def_prop_ro("fp8_dtype", [](const w8a8::QuantFP8& q) { return std::string(w8a8::dtype_name(q.fp8_dtype())); });

  // ---- scaled GEMM -----------------------------------------------------------------------------
  m.def("scaled_mm",
        [](const Arr& a, const Arr& b, const Arr& sa, const Arr& sb, const std::string& out_dtype,
           const OptArr& bias, const std::string& backend, const std::string& accumulation, int fw,
           uintptr_t stream, const std::string& kernel) {
          w8a8::ScaledMmOptions options = mm_options(backend, accumulation);
          options.kernel = kernel;
          return out_of(w8a8::scaled_mm(view_of(a, "a"), view_of(b, "b"), view_of(sa, "scale_a"),
                                        view_of(sb, "scale_b"), w8a8::dtype_from_name(out_dtype),
                                        opt_view(bias, "bias"), options, to_stream(stream)),
                        fw);
        },
        "a"_a, "b"_a, "scale_a"_a, "scale_b"_a, "out_dtype"_a, "bias"_a.none(), "backend"_a, "accumulation"_a,
        "fw"_a, "stream"_a, "kernel"_a = "");
  m.def("scaled_mm_kernels", [](const std::string& backend) {
    return w8a8::scaled_mm_kernels(w8a8::backend_from_name(backend));
  });
  m.def("scaled_mm_into",
        [](const Arr& out, const Arr& a, const Arr& b, const Arr& sa, const Arr& sb, const OptArr& bias,
           const std::string& backend, const std::string& accumulation, uintptr_t stream) {
          w8a8::scaled_mm(view_of(out, "out"), view_of(a, "a"), view_of(b, "b"), view_of(sa, "scale_a"),
                          view_of(sb, "scale_b"), opt_view(bias, "bias"), mm_options(backend, accumulation),
                          to_stream(stream));
        },
        "out"_a, "a"_a, "b"_a, "scale_a"_a, "scale_b"_a, "bias"_a.none(), "backend"_a, "accumulation"_a,
        "stream"_a);
  m.def("cutlass_scaled_mm",
        [](const Arr& a, const Arr& b, const Arr& sa, const Arr& sb, const std::string& out_dtype,
           const OptArr& bias, int fw, uintptr_t stream) {
          return out_of(w8a8::cutlass_scaled_mm(view_of(a, "a"), view_of(b, "b"), view_of(sa, "scale_a"),
                                                view_of(sb, "scale_b"), w8a8::dtype_from_name(out_dtype),
                                                opt_view(bias, "bias"), to_stream(stream)),
                        fw);
        },
        "a"_a, "b"_a, "scale_a"_a, "scale_b"_a, "out_dtype"_a, "bias"_a.none(), "fw"_a, "stream"_a);
  m.def("choose_scaled_mm_backend",
        [](const Arr& out, const Arr& a, const Arr& b, const Arr& sa, const Arr& sb, const OptArr& bias,
           const std::string& backend, const std::string& accumulation) {
          auto c = w8a8::choose_scaled_mm_backend(view_of(out, "out"), view_of(a, "a"), view_of(b, "b"),
                                                  view_of(sa, "scale_a"), view_of(sb, "scale_b"),
                                                  opt_view(bias, "bias"), mm_options(backend, accumulation));
          return choice_dict(c);
        },
        "out"_a, "a"_a, "b"_a, "scale_a"_a, "scale_b"_a, "bias"_a.none(), "backend"_a, "accumulation"_a);
  m.def("choose_scaled_mm_backend_for_shape",
        [](int64_t m_, int64_t n, int64_t k, const std::string& scales, const std::string& out_dtype, bool bias,
           const std::string& device, const std::string& backend, const std::string& accumulation) {
          w8a8::ScaledMmShape shape;
          shape.m = m_;
          shape.n = n;
          shape.k = k;
          std::tie(shape.scale_a, shape.scale_b) = scale_kinds(scales);
          shape.out_dtype = w8a8::dtype_from_name(out_dtype);
          shape.bias = bias;
          W8A8_CHECK(device == "cpu" || device.rfind("cuda", 0) == 0, "device: expected 'cpu' or 'cuda[:N]', got '",
                     device, "'");
          shape.device = device == "cpu" ? w8a8::Device::cpu()
                                         : w8a8::Device::cuda(device.size() > 5 ? std::stoi(device.substr(5)) : 0);
          return choice_dict(w8a8::choose_scaled_mm_backend(shape, mm_options(backend, accumulation)));
        },
        "m"_a, "n"_a, "k"_a, "scales"_a, "out_dtype"_a, "bias"_a, "device"_a, "backend"_a, "accumulation"_a);
  m.def("tune_scaled_mm",
        [](const std::vector<std::tuple<int64_t, int64_t, int64_t>>& shapes, const std::string& cache_path,
           const std::string& measurements_path, int reps, bool promoted, bool fast, bool per_tensor, bool rowwise,
           bool verbose, int device) {
          w8a8::TuneOptions o;
          for (const auto& [m_, n, k] : shapes) o.shapes.push_back({m_, n, k});
          o.cache_path = cache_path;
          o.measurements_path = measurements_path;
          o.reps = reps;
          o.promoted = promoted;
          o.fast = fast;
          o.per_tensor = per_tensor;
          o.rowwise = rowwise;
          if (verbose) o.progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
          w8a8::TuneResult r;
          {
            nb::gil_scoped_release release;
            r = w8a8::tune_scaled_mm(o, device);
          }
          nb::list chosen;
          for (const w8a8::TuneRow& row : r.chosen) {
            nb::dict d;
            d["M"] = row.m;
            d["N"] = row.n;
            d["K"] = row.k;
            d["accumulation"] = row.fast ? "fast" : "promoted";
            d["scales"] = row.vec ? "token-channel" : "tensor";
            d["kernel"] = row.kernel;
            d["us"] = row.us;
            d["alt_us"] = row.alt_us;
            chosen.append(d);
          }
          nb::dict out;
          out["device"] = r.device;
          out["cache_path"] = r.cache_path;
          out["chosen"] = chosen;
          out["measurements"] = r.measured.size();
          return out;
        },
        "shapes"_a, "cache_path"_a, "measurements_path"_a, "reps"_a, "promoted"_a, "fast"_a, "per_tensor"_a,
        "rowwise"_a, "verbose"_a, "device"_a);
  m.def("tune_grid", [] {
    std::vector<std::tuple<int64_t, int64_t, int64_t>> g;
    for (const w8a8::TuneShape& s : w8a8::tune_grid()) g.emplace_back(s.m, s.n, s.k);
    return g;
  });
  m.def("check_backend_name",
        [](const std::string& name) { return std::string(w8a8::backend_name(w8a8::backend_from_name(name))); });

  // ---- dispatch and the linear op ----------------------------------------------------------------
  m.def("dispatch_w8a8_scaled_mm", [](const std::string& preferred_backend, bool per_tensor_weights,
                                      bool per_tensor_activations) {
    return std::string(w8a8::scaled_mm_fn_name(
        w8a8::dispatch_w8a8_scaled_mm(preferred_backend, per_tensor_weights, per_tensor_activations)));
  });
  m.def("run_scaled_mm_fn",
        [](const std::string& fn, const Arr& qinput, const Arr& weight, const std::string& out_dtype,
           const Arr& sa, const Arr& sb, const OptArr& bias, int64_t num_rows, const std::vector<int64_t>& shape,
           int fw, uintptr_t stream) {
          W8A8_CHECK(shape.size() <= size_t(w8a8::Dims::kMaxRank), "output_shape: expected at most ",
                     w8a8::Dims::kMaxRank, " dimensions, got ", shape.size());
          const w8a8::Dims output_shape(shape.data(), int(shape.size()));
          return out_of(scaled_mm_fn_by_name(fn)(view_of(qinput, "qinput"), view_of(weight, "weight"),
                                                 w8a8::dtype_from_name(out_dtype), view_of(sa, "scale_a"),
                                                 view_of(sb, "scale_b"), opt_view(bias, "bias"), num_rows,
                                                 output_shape, to_stream(stream)),
                        fw);
        });

  nb::class_<w8a8::Fp8LinearOp>(m, "Fp8LinearOp")
      .def("__init__",
           [](w8a8::Fp8LinearOp* self, bool act_quant_static, std::pair<int64_t, int64_t> gs,
              std::optional<bool> pad_output, bool force_fp8_e4m3fnuz, const std::string& accumulation) {
             new (self) w8a8::Fp8LinearOp(act_quant_static, group_shape(gs), pad_output, force_fp8_e4m3fnuz,
                                          accumulation_of(accumulation));
           },
           "act_quant_static"_a, "act_quant_group_shape"_a, "pad_output"_a.none(), "force_fp8_e4m3fnuz"_a,
           "accumulation"_a = "default")
      .def("apply",
           [](const w8a8::Fp8LinearOp& op, const Arr& input, const Arr& weight, const Arr& weight_scale,
              const std::optional<std::string>& out_dtype, const OptArr& input_scale, const OptArr& input_scale_ub,
              const OptArr& bias, int fw, uintptr_t stream) {
             std::optional<DType> od;
             if (out_dtype) od = w8a8::dtype_from_name(*out_dtype);
             return out_of(op.apply(view_of(input, "input"), view_of(weight, "weight"),
                                    view_of(weight_scale, "weight_scale"), od, opt_view(input_scale, "input_scale"),
                                    opt_view(input_scale_ub, "input_scale_ub"), opt_view(bias, "bias"),
                                    to_stream(stream)),
                           fw);
           },
           "input"_a, "weight"_a, "weight_scale"_a, "out_dtype"_a.none(), "input_scale"_a.none(),
           "input_scale_ub"_a.none(), "bias"_a.none(), "fw"_a, "stream"_a)
      // The allocation-free, graph-capturable variant: writes out [..., N].
      .def("apply_into",
           [](const w8a8::Fp8LinearOp& op, const Arr& out, const Arr& input, const Arr& weight,
              const Arr& weight_scale, const OptArr& input_scale, const OptArr& input_scale_ub, const OptArr& bias,
              uintptr_t stream) {
             op.apply(view_of(out, "out"), view_of(input, "input"), view_of(weight, "weight"),
                      view_of(weight_scale, "weight_scale"), opt_view(input_scale, "input_scale"),
                      opt_view(input_scale_ub, "input_scale_ub"), opt_view(bias, "bias"), to_stream(stream));
           },
           "out"_a, "input"_a, "weight"_a, "weight_scale"_a, "input_scale"_a.none(), "input_scale_ub"_a.none(),
           "bias"_a.none(), "stream"_a)
      .def_prop_ro("preferred_backend", &w8a8::Fp8LinearOp::preferred_backend)
      .def_prop_ro("output_padding", &w8a8::Fp8LinearOp::output_padding)
      .def_prop_ro("act_quant_static", &w8a8::Fp8LinearOp::act_quant_static)
      .def_prop_ro("act_quant_group_shape",
                   [](const w8a8::Fp8LinearOp& op) {
                     return std::make_pair(op.act_quant_group_shape().row, op.act_quant_group_shape().col);
                   })
      .def_prop_ro("quant_fp8", [](const w8a8::Fp8LinearOp& op) { return op.quant_fp8(); })
      .def_prop_ro("accumulation",
                   [](const w8a8::Fp8LinearOp& op) { return std::string(w8a8::accumulation_name(op.accumulation())); });

  nb::class_<w8a8::W8A8BlockFp8LinearOp>(m, "W8A8BlockFp8LinearOp")
      .def("__init__",
           [](w8a8::W8A8BlockFp8LinearOp* self, std::pair<int64_t, int64_t> weight_group_shape,
              std::pair<int64_t, int64_t> act_quant_group_shape) {
             new (self) w8a8::W8A8BlockFp8LinearOp(group_shape(weight_group_shape), group_shape(act_quant_group_shape));
           },
           "weight_group_shape"_a, "act_quant_group_shape"_a)
      .def("apply",
           [](const w8a8::W8A8BlockFp8LinearOp& op, const Arr& input, const Arr& weight, const Arr& weight_scale,
              const OptArr& input_scale, const OptArr& bias, int fw, uintptr_t stream) {
             return out_of(op.apply(view_of(input, "input"), view_of(weight, "weight"),
                                    view_of(weight_scale, "weight_scale"), opt_view(input_scale, "input_scale"),
                                    opt_view(bias, "bias"), to_stream(stream)),
                           fw);
           },
           "input"_a, "weight"_a, "weight_scale"_a, "input_scale"_a.none(), "bias"_a.none(), "fw"_a, "stream"_a)
      .def("apply_into",
           [](const w8a8::W8A8BlockFp8LinearOp& op, const Arr& out, const Arr& input, const Arr& weight,
              const Arr& weight_scale, const OptArr& bias, uintptr_t stream) {
             op.apply_into(view_of(out, "out"), view_of(input, "input"), view_of(weight, "weight"),
                           view_of(weight_scale, "weight_scale"), opt_view(bias, "bias"), to_stream(stream));
           },
           "out"_a, "input"_a, "weight"_a, "weight_scale"_a, "bias"_a.none(), "stream"_a)
      .def_prop_ro("weight_group_shape",
                   [](const w8a8::W8A8BlockFp8LinearOp& op) {
                     return std::make_pair(op.weight_group_shape().row, op.weight_group_shape().col);
                   })
      .def_prop_ro("act_quant_group_shape", [](const w8a8::W8A8BlockFp8LinearOp& op) {
        return std::make_pair(op.act_quant_group_shape().row, op.act_quant_group_shape().col);
      });

  // ---- tensor-parallel sharding (CPU) --------------------------------------------------------------
  m.def("shard_weight",
        [](const std::string& kind, const Arr& weight, const Arr& weight_scale, const OptArr& bias, int world,
           int rank, int fw) {
          W8A8_CHECK(kind == "column" || kind == "row", "kind: expected 'column' or 'row', got '", kind, "'");
          return shard_tuple(w8a8::shard_weight(kind == "column" ? w8a8::ParallelKind::kColumn
                                                                 : w8a8::ParallelKind::kRow,
                                                view_of(weight, "weight"), view_of(weight_scale, "weight_scale"),
                                                opt_view(bias, "bias"), world, rank),
                             fw);
        });
  m.def("shard_merged_column_parallel",
        [](const Arr& weight, const Arr& weight_scale, const std::vector<int64_t>& logical_widths, const OptArr& bias,
           int world, int rank, int fw) {
          return shard_tuple(w8a8::shard_merged_column_parallel(view_of(weight, "weight"),
                                                                view_of(weight_scale, "weight_scale"),
                                                                logical_widths, opt_view(bias, "bias"), world, rank),
                             fw);
        });
  m.def("shard_checkpoint",
        [](const std::string& input, const std::string& output, int world,
           const std::optional<std::vector<std::string>>& column, const std::optional<std::vector<std::string>>& row) {
          w8a8::ShardCheckpointOptions o;
          o.input = input;
          o.output = output;
          o.world = world;
          if (column) o.column = *column;
          if (row) o.row = *row;
          const w8a8::ShardCheckpointReport r = w8a8::shard_checkpoint(o);
          nb::dict d;
          d["ranks"] = r.ranks;
          d["column_parallel"] = r.column_modules;
          d["row_parallel"] = r.row_modules;
          d["replicated_tensors"] = r.replicated_tensors;
          return d;
        },
        "input"_a, "output"_a, "world"_a, "column"_a.none() = nb::none(), "row"_a.none() = nb::none());

  // ---- weight utilities (CPU and CUDA tensors; stream: the caller's current stream for CUDA) -------------
  m.def("requantize_with_max_scale",
        [](const Arr& weight, const Arr& weight_scale, const std::vector<int64_t>& logical_widths, int fw,
           uintptr_t stream) {
          return out_pair(w8a8::requantize_with_max_scale(view_of(weight, "weight"),
                                                          view_of(weight_scale, "weight_scale"), logical_widths,
                                                          to_stream(stream)),
                          fw);
        });
  m.def("convert_to_channelwise",
        [](const Arr& weight_scale, const std::vector<int64_t>& logical_widths, int fw, uintptr_t stream) {
          return out_of(w8a8::convert_to_channelwise(view_of(weight_scale, "weight_scale"), logical_widths,
                                                     to_stream(stream)),
                        fw);
        });
  m.def("normalize_e4m3fn_to_e4m3fnuz",
        [](const Arr& weight, const Arr& weight_scale, const OptArr& input_scale, int fw, uintptr_t stream) {
          auto [w, ws, is] = w8a8::normalize_e4m3fn_to_e4m3fnuz(view_of(weight, "weight"),
                                                                view_of(weight_scale, "weight_scale"),
                                                                opt_view(input_scale, "input_scale"),
                                                                to_stream(stream));
          nb::object is_out = nb::none();
          if (is) is_out = out_of(std::move(*is), fw);
          return nb::make_tuple(out_of(std::move(w), fw), out_of(std::move(ws), fw), is_out);
        },
        "weight"_a, "weight_scale"_a, "input_scale"_a.none(), "fw"_a, "stream"_a);
  m.def("per_tensor_dequantize", [](const Arr& tensor, const Arr& inv_scale, int fw, uintptr_t stream) {
    return out_of(w8a8::per_tensor_dequantize(view_of(tensor, "tensor"), view_of(inv_scale, "inv_scale"),
                                              to_stream(stream)),
                  fw);
  });
  m.def("per_tensor_dequantize_float", [](const Arr& tensor, float inv_scale, int fw, uintptr_t stream) {
    return out_of(w8a8::per_tensor_dequantize(view_of(tensor, "tensor"), inv_scale, to_stream(stream)), fw);
  });
  m.def("all_close_1d",
        [](const Arr& x, uintptr_t stream) { return w8a8::all_close_1d(view_of(x, "x"), to_stream(stream)); });

  // ---- platform ------------------------------------------------------------------------------------
  m.def("cutlass_fp8_supported", &w8a8::cutlass_fp8_supported);
  m.def("cutlass_block_fp8_supported", &w8a8::cutlass_block_fp8_supported);
  m.def("cutlass_group_gemm_supported", &w8a8::cutlass_group_gemm_supported);
  m.def("sparse_cutlass_supported", &w8a8::sparse_cutlass_supported);
  m.def("set_fused_activation_quant", [](const std::string& policy) {
    using P = w8a8::FusedActivationQuant;
    W8A8_CHECK(policy == "auto" || policy == "on" || policy == "off",
               "policy: expected 'auto', 'on' or 'off', got '", policy, "'");
    w8a8::set_fused_activation_quant(policy == "on" ? P::kOn : policy == "off" ? P::kOff : P::kAuto);
  });
  m.def("fused_activation_quant", [] {
    const w8a8::FusedActivationQuant p = w8a8::fused_activation_quant();
    return std::string(p == w8a8::FusedActivationQuant::kOn    ? "on"
                       : p == w8a8::FusedActivationQuant::kOff ? "off"
                                                               : "auto");
  });
  m.def("capabilities", [] {
    nb::dict d;
    auto put = [&](const char* name, const w8a8::Capability& c) { d[name] = nb::make_tuple(c.supported, c.reason); };
    put("cutlass_fp8", w8a8::cutlass_fp8_capability());
    put("cutlass_block_fp8", w8a8::cutlass_block_fp8_capability());
    put("cutlass_group_gemm", w8a8::cutlass_group_gemm_capability());
    put("sparse_cutlass", w8a8::sparse_cutlass_capability());
    return d;
  });
  m.def("build_info", [] {
    const w8a8::BuildInfo& b = w8a8::build_info();
    nb::dict d;
    d["backends"] = b.backends;
    d["archs"] = b.archs;
    d["cutlass_version"] = b.cutlass_version;
    d["cutlass_kernels"] = b.cutlass_kernels;
    return d;
  });
  m.def("platform", [] {
    const w8a8::Platform& p = w8a8::current_platform();
    nb::dict d;
    d["cuda_built"] = p.cuda_built;
    d["is_cuda"] = p.is_cuda;
    d["is_rocm"] = p.is_rocm;
    d["device_count"] = p.device_count;
    d["capability"] = p.capability;
    d["device_name"] = p.device_name;
    d["reason"] = p.reason;
    return d;
  });
}
