//===- RuntimeModule.cpp - tac._runtime: libtacrt for Python --------------===//
//
// The compiled half of tac.InferenceSession. Inputs are read in place
// through the buffer protocol when they are C-contiguous (anything else is
// converted once by NumPy); outputs are NumPy arrays the runtime writes
// directly. The GIL is released while a model runs.
//
// Thread safety: one Session object serves concurrent run() calls. A
// tac::rt::Session is single-threaded, so each call borrows an idle one
// from a pool (creating one when all are busy); every borrowed session has
// its own arena, and they share the loaded model.
//
//===----------------------------------------------------------------------===//

#include "tacrt/tacrt.hpp"

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace nb = nanobind;
using namespace tac::rt;

namespace {

/// Raises the tac.errors exception for `status`'s code.
[[noreturn]] void raise(const Status &status) {
  const char *name = "TacError";
  switch (status.code()) {
  case ErrorCode::InvalidArgument:
    name = "InvalidArgumentError";
    break;
  case ErrorCode::InvalidFile:
    name = "InvalidModelError";
    break;
  case ErrorCode::Unsupported:
    name = "UnsupportedError";
    break;
  default:
    break;
  }
  nb::object cls = nb::module_::import_("tac.errors").attr(name);
  PyErr_SetString(cls.ptr(), status.message().c_str());
  throw nb::python_error();
}

[[noreturn]] void raiseInvalid(const std::string &message) {
  raise(Status::error(ErrorCode::InvalidArgument, message));
}

/// ONNX Runtime's type strings: "tensor(float)" (its names are tac's but
/// for float and double).
std::string onnxTypeName(DType type) {
  const char *name = type == DType::F32   ? "float"
                     : type == DType::F64 ? "double"
                                          : dtypeName(type);
  return std::string("tensor(") + name + ")";
}

/// NumPy's name of the element type arrays for `type` have (NumPy has no
/// bfloat16: its arrays carry the bits as uint16).
const char *numpyName(DType type) {
  return type == DType::BF16 ? "uint16" : dtypeName(type);
}

/// A model input or output, shaped like ONNX Runtime's NodeArg.
struct NodeArg {
  std::string name;
  std::vector<int64_t> shape;
  std::string type;
  std::string dtype;
};

NodeArg nodeArg(const TensorSpec &spec) {
  return {spec.name, spec.shape, onnxTypeName(spec.dtype),
          numpyName(spec.dtype)};
}

/// An input's C-contiguous buffer, read in place and released when the run
/// ends.
struct HeldBuffer {
  Py_buffer view{};
  bool held = false;
  HeldBuffer() = default;
  HeldBuffer(const HeldBuffer &) = delete;
  HeldBuffer &operator=(const HeldBuffer &) = delete;
  ~HeldBuffer() {
    if (held)
      PyBuffer_Release(&view);
  }
  /// Views `object` if it exports a C-contiguous buffer (NumPy arrays do).
  bool take(PyObject *object) {
    held = PyObject_GetBuffer(object, &view,
                              PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) == 0;
    if (!held)
      PyErr_Clear();
    return held;
  }
};

/// The tac dtype of a buffer's struct format ("f", "<q", "?"): native byte
/// order, one item; uint16 is read as `expected` when that is bfloat16.
std::optional<DType> dtypeOfFormat(const char *format, Py_ssize_t itemsize,
                                   DType expected) {
  if (!format)
    format = "B";
  if (*format == '<' || *format == '=' || *format == '@')
    ++format;
  if (format[0] == 0 || format[1] != 0)
    return std::nullopt;
  DType type;
  switch (format[0]) {
  case 'f': type = DType::F32; break;
  case 'd': type = DType::F64; break;
  case 'e': type = DType::F16; break;
  case 'b': type = DType::I8; break;
  case 'h': type = DType::I16; break;
  case 'i': type = DType::I32; break;
  case 'l': case 'q': type = DType::I64; break;
  case 'B': type = DType::U8; break;
  case 'H': type = DType::U16; break;
  case 'I': type = DType::U32; break;
  case 'L': case 'Q': type = DType::U64; break;
  case '?': type = DType::Bool; break;
  default: return std::nullopt;
  }
  if (static_cast<Py_ssize_t>(dtypeSize(type)) != itemsize)
    return std::nullopt;
  if (type == DType::U16 && expected == DType::BF16)
    return DType::BF16;
  return type;
}
class PySession {
public:
  PySession(ModelRef model, const std::string &device, int cudaDevice,
            const std::string &gpuDispatch, std::optional<int> threads)
      : model_(std::move(model)) {
    if (device == "cuda")
      options_.device = Device::Cuda;
    else if (device != "cpu")
      raiseInvalid("unknown device '" + device + "'; use \"cpu\" or \"cuda\"");
    options_.cudaDevice = cudaDevice;
    if (gpuDispatch == "device")
      options_.dispatch = GpuDispatch::Device;
    else if (gpuDispatch != "host")
      raiseInvalid("unknown gpu_dispatch '" + gpuDispatch +
                   "'; use \"host\" or \"device\"");
    if (threads)
      options_.threads = *threads; // the session's pool (and its GEMMs)
    // One session now: a file that cannot run here (no CUDA, no CPU code)
    // fails at construction, not at the first run.
    idle_.push_back(create());
    inputs_.reserve(model_->inputs().size());
    for (const TensorSpec &spec : model_->inputs())
      inputs_.push_back(nodeArg(spec));
    for (const TensorSpec &spec : model_->outputs())
      outputs_.push_back(nodeArg(spec));
    deviceSummary_ = idle_.front()->deviceSummary();
    // What every run needs from Python, looked up once.
    nb::object numpy = nb::module_::import_("numpy");
    empty_ = numpy.attr("empty");
    for (const TensorSpec &spec : model_->inputs())
      inputKeys_.push_back(nb::str(spec.name.c_str()));
    for (const TensorSpec &spec : model_->outputs()) {
      outDtypes_.push_back(numpy.attr("dtype")(numpyName(spec.dtype)));
      nb::list dims;
      for (int64_t d : spec.shape)
        dims.append(d);
      outShapes_.push_back(nb::tuple(dims));
    }
  }

  const Model &model() const { return *model_; }
  const std::vector<NodeArg> &inputs() const { return inputs_; }
  const std::vector<NodeArg> &outputs() const { return outputs_; }
  const std::string &deviceSummary() const { return deviceSummary_; }
  std::string device() const {
    return options_.device == Device::Cuda ? "cuda" : "cpu";
  }

  /// Runs `feed` (input name -> array); returns every output, in order.
  std::vector<nb::object> run(nb::dict feed, const RunOptions &options,
                              RunInfo *info) {
    const std::vector<TensorSpec> &specs = model_->inputs();
    // Buffers are held, and converted inputs kept, until the run ends.
    std::vector<HeldBuffer> held(specs.size());
    std::vector<nb::object> converted(specs.size());
    std::vector<Tensor> tensors;
    tensors.reserve(specs.size());
    for (size_t i = 0; i < specs.size(); ++i) {
      const TensorSpec &spec = specs[i];
      PyObject *value = PyDict_GetItem(feed.ptr(), inputKeys_[i].ptr());
      if (!value)
        raiseInvalid("missing input '" + spec.name + "' (" +
                     describeRows(spec.dtype, spec.shape) +
                     "); the model's inputs are " + inputNames());
      HeldBuffer &buffer = held[i];
      if (!buffer.take(value)) {
        converted[i] = toContiguous(nb::handle(value), spec, i);
        if (!buffer.take(converted[i].ptr()))
          raiseInvalid("input " + std::to_string(i) + " '" + spec.name +
                       "': expected a NumPy array of " +
                       describeRows(spec.dtype, spec.shape) + ", got " +
                       nb::cast<std::string>(nb::str(nb::handle(value).type())));
      }
      std::optional<DType> type = dtypeOfFormat(
          buffer.view.format, buffer.view.itemsize, spec.dtype);
      if (!type)
        raiseInvalid("input " + std::to_string(i) + " '" + spec.name +
                     "': expected " + describeType(spec.dtype, spec.shape) +
                     ", got an array of a type tac has no equivalent for");
      std::vector<int64_t> shape(buffer.view.shape,
                                 buffer.view.shape + buffer.view.ndim);
      tensors.push_back(Tensor::view(buffer.view.buf, *type, std::move(shape)));
    }

    // Every input was found; more keys than inputs means unknown names.
    if (static_cast<size_t>(PyDict_Size(feed.ptr())) != specs.size())
      for (auto [key, value] : feed) {
        if (!nb::isinstance<nb::str>(key))
          raiseInvalid("input feed keys must be input names (str)");
        std::string name = nb::cast<std::string>(key);
        bool known = false;
        for (const TensorSpec &spec : specs)
          known |= spec.name == name;
        if (!known)
          raiseInvalid("unknown input '" + name +
                       "'; the model's inputs are " + inputNames());
      }

    std::optional<uint64_t> rows =
        specs.empty() ? std::optional<uint64_t>(1)
                      : rowsOf(tensors[0].shape(), specs[0].shape);
    std::vector<nb::object> results;
    std::vector<Tensor> outputs;
    if (rows && *rows > 0) {
      const std::vector<TensorSpec> &outSpecs = model_->outputs();
      for (size_t o = 0; o < outSpecs.size(); ++o) {
        std::vector<int64_t> shape = batchShape(outSpecs[o].shape, *rows);
        results.push_back(emptyArray(o, *rows, shape));
        outputs.push_back(Tensor::view(dataOf(results.back()),
                                       outSpecs[o].dtype, std::move(shape)));
      }
    }
    // else: run() names the input whose shape is wrong.

    std::unique_ptr<Session> session = borrow();
    Status status;
    {
      nb::gil_scoped_release release;
      status = session->run(tensors, outputs, options, info);
    }
    giveBack(std::move(session));
    if (!status)
      raise(status);
    return results;
  }

private:
  /// numpy.empty for output `o` (fresh, writable, C order; NumPy's
  /// allocator aligns to at least the element size, what views need).
  nb::object emptyArray(size_t o, uint64_t rows,
                        const std::vector<int64_t> &shape) {
    if (rows == 1)
      return empty_(outShapes_[o], outDtypes_[o]);
    nb::list dims;
    for (int64_t d : shape)
      dims.append(d);
    return empty_(nb::tuple(dims), outDtypes_[o]);
  }

  static void *dataOf(const nb::object &array) {
    Py_buffer view;
    if (PyObject_GetBuffer(array.ptr(), &view,
                           PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) != 0)
      throw nb::python_error();
    void *data = view.buf;
    PyBuffer_Release(&view); // the array keeps the memory alive
    return data;
  }

  std::unique_ptr<Session> create() {
    Expected<std::unique_ptr<Session>> session =
        Session::create(model_, options_);
    if (!session)
      raise(session.status());
    return std::move(*session);
  }

  std::unique_ptr<Session> borrow() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_.empty()) {
        std::unique_ptr<Session> s = std::move(idle_.back());
        idle_.pop_back();
        return s;
      }
    }
    return create();
  }

  void giveBack(std::unique_ptr<Session> session) {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(session));
  }

  std::string inputNames() const {
    std::string names;
    for (const TensorSpec &spec : model_->inputs())
      names += (names.empty() ? "" : ", ") + spec.name;
    return names.empty() ? "(none)" : names;
  }

  /// `value` (a strided array, a list, a scalar) as a C-contiguous NumPy
  /// array: arrays keep their dtype (a wrong one is an error, not a silent
  /// cast); lists and scalars become the model's dtype.
  nb::object toContiguous(nb::handle value, const TensorSpec &spec,
                          size_t index) {
    nb::object numpy = nb::module_::import_("numpy");
    try {
      return nb::hasattr(value, "dtype")
                 ? numpy.attr("ascontiguousarray")(value)
                 : numpy.attr("ascontiguousarray")(value, numpyName(spec.dtype));
    } catch (nb::python_error &e) {
      raiseInvalid("input " + std::to_string(index) + " '" + spec.name +
                   "': cannot make an array of " +
                   describeRows(spec.dtype, spec.shape) + " from " +
                   nb::cast<std::string>(nb::str(value.type())) + " (" +
                   e.what() + ")");
    }
  }

  ModelRef model_;
  SessionOptions options_;
  nb::object empty_;                       // numpy.empty
  std::vector<nb::object> inputKeys_;      // input names as str
  std::vector<nb::object> outDtypes_, outShapes_; // numpy dtype, one-row shape
  std::vector<NodeArg> inputs_, outputs_;
  std::string deviceSummary_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Session>> idle_;
};

ModelRef loadModel(nb::handle source, const LoadOptions &options) {
  Expected<ModelRef> model = Status();
  if (nb::isinstance<nb::bytes>(source)) {
    nb::bytes bytes = nb::borrow<nb::bytes>(source);
    const void *data = bytes.c_str();
    size_t size = bytes.size();
    nb::gil_scoped_release release;
    model = Model::loadFromMemory(data, size, "<compiled model>", options);
  } else {
    std::string path = nb::cast<std::string>(source);
    nb::gil_scoped_release release;
    model = Model::load(path, options);
  }
  if (!model)
    raise(model.status());
  return *model;
}

RunOptions runOptions(std::optional<int32_t> path,
                      std::optional<double> budgetFlops) {
  if (path && budgetFlops)
    raiseInvalid("pass path or budget_flops, not both");
  if (path)
    return RunOptions::fixed(*path);
  if (budgetFlops) {
    if (!(*budgetFlops >= 0))
      raiseInvalid("budget_flops must be >= 0");
    return RunOptions::budget(static_cast<uint64_t>(*budgetFlops));
  }
  return RunOptions::automatic();
}

} // namespace

NB_MODULE(_runtime, m) {
  m.doc() = "libtacrt bindings behind tac.InferenceSession (use tac, not "
            "this module)";
  m.def("version", []() { return std::string(version()); },
        "The runtime's version.");
  m.def(
      "cuda_available",
      []() {
        std::string why;
        bool ok = cudaAvailable(&why);
        return std::make_pair(ok, why);
      },
      "(True, '') when a CUDA device can be used, else (False, why).");

  nb::class_<NodeArg>(m, "NodeArg",
                      "A model input or output: name, shape, ONNX type "
                      "string and NumPy dtype name.")
      .def_ro("name", &NodeArg::name)
      .def_ro("shape", &NodeArg::shape,
              "Shape of one row (a batch of N rows replaces a leading 1 by "
              "N, or prepends N).")
      .def_ro("type", &NodeArg::type, "ONNX Runtime style: 'tensor(float)'.")
      .def_ro("dtype", &NodeArg::dtype, "NumPy dtype name: 'float32'.")
      .def("__repr__", [](const NodeArg &a) {
        std::string shape;
        for (int64_t d : a.shape)
          shape += (shape.empty() ? "" : ", ") + std::to_string(d);
        return "NodeArg(name='" + a.name + "', type='" + a.type +
               "', shape=[" + shape + "])";
      });

  nb::class_<VariantInfo>(m, "VariantInfo",
                          "One compiled path: its function name, path "
                          "number, layers, FLOPs and arena bytes.")
      .def_ro("name", &VariantInfo::name)
      .def_ro("path", &VariantInfo::path)
      .def_ro("layers", &VariantInfo::layers)
      .def_ro("flops", &VariantInfo::flops)
      .def_ro("arena_bytes", &VariantInfo::arenaBytes)
      .def("__repr__", [](const VariantInfo &v) {
        return "VariantInfo(path=" + std::to_string(v.path) + ", flops=" +
               std::to_string(v.flops) + ", layers=" +
               std::to_string(v.layers.size()) + ")";
      });

  nb::class_<RunInfo>(m, "RunInfo",
                      "What one run did. For a batch, paths/requested_paths "
                      "have one entry per row and flops, controller_flops "
                      "and time_us cover all rows; the scalar path fields "
                      "describe row 0.")
      .def_ro("path", &RunInfo::path, "The variant that ran (row 0).")
      .def_ro("requested_path", &RunInfo::requestedPath,
              "What the policy (or path=) asked for (row 0).")
      .def_ro("rounded", &RunInfo::rounded,
              "The requested path was not compiled and was rounded up.")
      .def_ro("budget_limited", &RunInfo::budgetLimited,
              "budget_flops forced a cheaper variant.")
      .def_ro("flops", &RunInfo::flops,
              "Variant + controller FLOPs, all rows (tac's cost model).")
      .def_ro("controller_flops", &RunInfo::controllerFlops)
      .def_ro("time_us", &RunInfo::timeUs,
              "Controller + variants, microseconds.")
      .def_ro("layers", &RunInfo::layers, "The layers that ran (row 0).")
      .def_ro("rows", &RunInfo::rows)
      .def_ro("paths", &RunInfo::paths, "Per row: the variant that ran.")
      .def_ro("requested_paths", &RunInfo::requestedPaths)
      .def_ro("grouping_us", &RunInfo::groupingUs,
              "Of time_us: grouping rows by path, padding, gathering and "
              "scattering (batches).")
      .def("__repr__", [](const RunInfo &i) {
        return "RunInfo(path=" + std::to_string(i.path) +
               ", rows=" + std::to_string(i.rows) +
               ", flops=" + std::to_string(i.flops) +
               ", time_us=" + std::to_string(i.timeUs) + ")";
      });

  nb::class_<PySession>(m, "Session",
                        "A loaded model and its execution state; see "
                        "tac.InferenceSession.")
      .def(
          "__init__",
          [](PySession *self, nb::handle source, const std::string &device,
             std::optional<int> threads, int cudaDevice,
             const std::string &gpuDispatch, const std::string &requireSha256,
             const std::string &requireProducer) {
            LoadOptions load;
            load.requireSha256 = requireSha256;
            load.requireProducer = requireProducer;
            new (self) PySession(loadModel(source, load), device, cudaDevice,
                                 gpuDispatch, threads);
          },
          nb::arg("source"), nb::arg("device") = "cpu",
          nb::arg("threads") = nb::none(), nb::arg("cuda_device") = 0,
          nb::arg("gpu_dispatch") = "host", nb::arg("require_sha256") = "",
          nb::arg("require_producer") = "",
          "source: a .tacm path (str) or compiled bytes.")
      .def("get_inputs", &PySession::inputs, nb::rv_policy::copy,
           "The model's inputs (one row each).")
      .def("get_outputs", &PySession::outputs, nb::rv_policy::copy,
           "The model's outputs (one row each).")
      .def(
          "run",
          [](PySession &s, std::optional<std::vector<std::string>> names,
             nb::dict feed, nb::handle runOptions) {
            if (!runOptions.is_none())
              raiseInvalid("tac has no RunOptions; use run_adaptive(feed, "
                           "path=..., budget_flops=...) to steer the path");
            std::vector<nb::object> all =
                s.run(feed, RunOptions::automatic(), nullptr);
            if (!names || names->empty())
              return all;
            std::vector<nb::object> picked;
            for (const std::string &name : *names) {
              size_t o = 0;
              while (o < s.outputs().size() && s.outputs()[o].name != name)
                ++o;
              if (o == s.outputs().size()) {
                std::string known;
                for (const NodeArg &a : s.outputs())
                  known += (known.empty() ? "" : ", ") + a.name;
                raiseInvalid("unknown output '" + name +
                             "'; the model's outputs are " + known);
              }
              picked.push_back(all[o]);
            }
            return picked;
          },
          nb::arg("output_names").none(), nb::arg("input_feed"),
          nb::arg("run_options") = nb::none(),
          nb::sig("def run(self, output_names: collections.abc.Sequence[str] "
                  "| None, input_feed: dict[str, numpy.typing.ArrayLike]"
                  ", run_options: None = None) -> "
                  "list[numpy.typing.NDArray]"),
          "ONNX Runtime's run: output_names (None: all) and a dict of "
          "input name -> array (one row, or N rows). Returns the arrays. "
          "The controller picks each row's path.")
      .def(
          "run_adaptive",
          [](PySession &s, nb::dict feed, std::optional<int32_t> path,
             std::optional<double> budgetFlops) {
            RunInfo info;
            std::vector<nb::object> outputs =
                s.run(feed, runOptions(path, budgetFlops), &info);
            return std::make_pair(std::move(outputs), std::move(info));
          },
          nb::arg("input_feed"), nb::arg("path") = nb::none(),
          nb::arg("budget_flops") = nb::none(),
          nb::sig("def run_adaptive(self, input_feed: "
                  "dict[str, numpy.typing.ArrayLike], "
                  "path: int | None = None, budget_flops: float | None = "
                  "None) -> tuple[list[numpy.typing.NDArray], RunInfo]"),
          "Runs like run(None, feed) and also returns the RunInfo. path=K "
          "runs path K's variant (rounded up to a compiled one); "
          "budget_flops=X caps the controller's choice at X FLOPs per row.")
      .def_prop_ro("device", &PySession::device)
      .def_prop_ro("device_summary", &PySession::deviceSummary)
      .def_prop_ro("num_paths",
                   [](const PySession &s) { return s.model().numPaths(); })
      .def_prop_ro("has_controller",
                   [](const PySession &s) { return s.model().hasController(); })
      .def_prop_ro("controller_flops",
                   [](const PySession &s) {
                     return s.model().controllerFlops();
                   })
      .def_prop_ro("variants",
                   [](const PySession &s) { return s.model().variants(); })
      .def_prop_ro("batch_sizes",
                   [](const PySession &s) { return s.model().batchSizes(); })
      .def_prop_ro("producer",
                   [](const PySession &s) { return s.model().producer(); })
      .def_prop_ro("arena_bytes",
                   [](const PySession &s) { return s.model().arenaBytes(); });
}
