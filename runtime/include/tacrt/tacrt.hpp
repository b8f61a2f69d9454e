// tacrt.hpp: the C++ API of libtacrt, the tac runtime. It loads a compiled
// .tacm file and runs it on the CPU: the controller picks a path per input
// and the runtime runs that path's variant. No LLVM/MLIR inside; no
// exceptions: every fallible call returns a Status or an Expected<T>.
//
//   auto model = tac::rt::Model::load("model.tacm");
//   if (!model) { std::cerr << model.status().message(); return 1; }
//   auto session = tac::rt::Session::create(*model);
//   std::vector<tac::rt::Tensor> outputs;             // session allocates
//   tac::rt::RunInfo info;
//   tac::rt::Status st = (*session)->run({tac::rt::Tensor::view(x, ...)},
//                                        outputs, {}, &info);
//
// See docs/runtime.md for the dispatch rules and the error messages.
#ifndef TACRT_TACRT_HPP
#define TACRT_TACRT_HPP

#include "tacrt/dtype.h"
#include "tacrt/export.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tac::rt {

using format::DType;
using format::dtypeName;
using format::dtypeSize;

/// The runtime's version ("0.1.0") and the .tacm format it reads.
TACRT_API const char *version();
TACRT_API uint32_t formatVersion();

//===----------------------------------------------------------------------===//
// Status / Expected
//===----------------------------------------------------------------------===//

enum class ErrorCode {
  Ok = 0,
  InvalidArgument, // the caller passed something wrong (inputs, options)
  InvalidFile,     // the .tacm file is missing, damaged or inconsistent
  Unsupported,     // valid file, but this machine/runtime cannot run it
  OutOfMemory,
  Internal,        // the model misbehaved at run time (e.g. a bad path)
};

/// Ok, or an error code with a message that says what is wrong and what to
/// do about it.
class [[nodiscard]] TACRT_API Status {
public:
  Status() = default;
  static Status success() { return Status(); }
  static Status error(ErrorCode code, std::string message) {
    return Status(code, std::move(message));
  }
  bool ok() const { return code_ == ErrorCode::Ok; }
  explicit operator bool() const { return ok(); }
  ErrorCode code() const { return code_; }
  const std::string &message() const { return message_; }

private:
  Status(ErrorCode code, std::string message)
      : code_(code), message_(std::move(message)) {}
  ErrorCode code_ = ErrorCode::Ok;
  std::string message_;
};

/// A value or the Status saying why there is none.
template <typename T> class [[nodiscard]] Expected {
public:
  Expected(T value) : value_(std::move(value)) {}
  Expected(Status status) : status_(std::move(status)) {}
  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Status &status() const { return status_; }
  T &value() { return *value_; }
  const T &value() const { return *value_; }
  T &operator*() { return *value_; }
  const T &operator*() const { return *value_; }
  T *operator->() { return &*value_; }
  const T *operator->() const { return &*value_; }

private:
  std::optional<T> value_;
  Status status_;
};

//===----------------------------------------------------------------------===//
// Tensors
//===----------------------------------------------------------------------===//

/// Bytes of a dense tensor, or nullopt when the shape has a negative
/// dimension or the size overflows.
TACRT_API std::optional<uint64_t> tensorBytes(DType dtype,
                                    const std::vector<int64_t> &shape);
/// "float32[1, 4]"
TACRT_API std::string describeType(DType dtype, const std::vector<int64_t> &shape);

/// The name, element type and static shape of a model input or output.
struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t byteSize = 0;
};

/// A dense, C-order tensor: either a view of caller memory or a buffer it
/// owns (shared between copies).
class TACRT_API Tensor {
public:
  Tensor() = default;
  /// Views `data` (not copied, not freed): caller memory, aligned to at least
  /// the element size.
  static Tensor view(void *data, DType dtype, std::vector<int64_t> shape);
  static Tensor view(const void *data, DType dtype,
                     std::vector<int64_t> shape) {
    return view(const_cast<void *>(data), dtype, std::move(shape));
  }
  /// Allocates a zeroed, 64-byte aligned tensor; fails for bad shapes or
  /// when memory runs out.
  static Expected<Tensor> allocate(DType dtype, std::vector<int64_t> shape);

  void *data() { return data_; }
  const void *data() const { return data_; }
  template <typename T> T *dataAs() { return static_cast<T *>(data_); }
  template <typename T> const T *dataAs() const {
    return static_cast<const T *>(data_);
  }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  /// Bytes of the tensor (0 when the shape is invalid).
  uint64_t byteSize() const;

private:
  void *data_ = nullptr;
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
  std::shared_ptr<void> storage_; // set when the tensor owns its bytes
};

//===----------------------------------------------------------------------===//
// Model
//===----------------------------------------------------------------------===//

/// One compiled path: what it runs and what it costs.
struct VariantInfo {
  std::string name;            // the function it came from, "main_path3"
  int32_t path = -1;           // -1: the one variant of a static model
  std::vector<int32_t> layers; // the layers it runs
  uint64_t flops = 0;
  uint64_t arenaBytes = 0;
};

/// SHA-256 of `size` bytes as 64 lowercase hex digits (what sha256sum
/// prints for a file).
TACRT_API std::string sha256Hex(const void *data, size_t size);

/// What the caller requires of a file before any of it is used. A .tacm
/// holds native code that load() maps executable (docs/runtime.md, "Trust"):
/// pinning the digest of a file you built or reviewed refuses any other.
/// Both checks run on the raw bytes, before the file is parsed.
struct LoadOptions {
  /// The file's SHA-256, 64 hex digits (`sha256sum model.tacm`); empty:
  /// any file.
  std::string requireSha256;
  /// The header's producer, e.g. "tac 0.1.0"; empty: any producer.
  std::string requireProducer;
  /// false: verify the whole file but never map its code (no session can
  /// be created): checking a file from elsewhere, fuzzing the loader.
  bool mapCode = true;
};

class Model;
struct ModelImpl; // the loaded file behind a Model: opaque, not exported
using ModelRef = std::shared_ptr<const Model>;

/// A verified, loaded .tacm file. Immutable after load: one Model serves any
/// number of Sessions on any threads.
class TACRT_API Model {
public:
  /// Maps, verifies and prepares `path`. Every check failure (size, magic,
  /// version, checksum, FlatBuffer, plan consistency, memory plan, CPU
  /// features, missing kernel symbols) is an error Status naming the problem.
  static Expected<ModelRef> load(const std::string &path,
                                 const LoadOptions &options = {});
  /// The same checks on a .tacm file held in memory (what tac.compile()
  /// returns); the bytes are copied. `name` stands for the path in messages.
  static Expected<ModelRef> loadFromMemory(const void *data, size_t size,
                                           const std::string &name = "<memory>",
                                           const LoadOptions &options = {});
  ~Model();
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  const std::string &filePath() const;
  const std::string &producer() const;
  const std::vector<TensorSpec> &inputs() const;
  const std::vector<TensorSpec> &outputs() const;
  /// Size of the model's path set; the variants may cover fewer paths.
  uint32_t numPaths() const;
  bool hasController() const;
  uint64_t controllerFlops() const;
  /// The compiled variants, sorted by path.
  const std::vector<VariantInfo> &variants() const;
  /// The variant compiled for `path`, or null.
  const VariantInfo *findVariant(int32_t path) const;
  /// The arena a session allocates (max over controller and variants).
  uint64_t arenaBytes() const;
  /// Row counts the plans were compiled for, ascending: always 1, plus
  /// tac-compile --batch-sizes. A batch of any size runs in these pieces.
  std::vector<uint32_t> batchSizes() const;
  /// Which code object was loaded: its index and LLVM CPU name.
  size_t codeObjectIndex() const;
  const std::string &codeObjectCpu() const;
  /// The bytes of that CPU code object (a shared object; empty when the file
  /// has no CPU code for this machine): to inspect the native code a file
  /// holds, or to find the libraries it links (ldd).
  std::vector<uint8_t> cpuCodeObject() const;
  /// Whether the file holds CPU code / CUDA code (tac-compile --target).
  bool hasCpuCode() const;
  bool hasCudaCode() const;

private:
  friend struct ModelImpl;
  TACRT_HIDDEN Model();
  std::unique_ptr<ModelImpl> impl_;
};

//===----------------------------------------------------------------------===//
// Session
//===----------------------------------------------------------------------===//

enum class Dispatch {
  Auto,   // the controller picks the path
  Fixed,  // RunOptions::path
  Budget, // the controller's pick, capped at RunOptions::budgetFlops
};

struct RunOptions {
  Dispatch dispatch = Dispatch::Auto;
  int32_t path = -1;        // Fixed
  uint64_t budgetFlops = 0; // Budget: variant FLOPs allowed per run

  static RunOptions automatic() { return RunOptions(); }
  static RunOptions fixed(int32_t path) {
    RunOptions o;
    o.dispatch = Dispatch::Fixed;
    o.path = path;
    return o;
  }
  static RunOptions budget(uint64_t flops) {
    RunOptions o;
    o.dispatch = Dispatch::Budget;
    o.budgetFlops = flops;
    return o;
  }
};

/// What one run did. For a batch of several rows, the scalar fields
/// describe row 0 except flops, controllerFlops and timeUs, which cover the
/// whole batch; `paths` and `requestedPaths` have one entry per row.
struct RunInfo {
  int32_t path = -1;           // the variant that ran
  int32_t requestedPath = -1;  // what the policy (or Fixed) asked for
  bool rounded = false;        // requested path not compiled: rounded up
  bool budgetLimited = false;  // the budget forced a cheaper variant
  uint64_t flops = 0;          // variant + controller (when it ran), all rows
  uint64_t controllerFlops = 0; // 0 when the controller did not run
  double timeUs = 0;           // controller + variant, microseconds
  std::vector<int32_t> layers; // the layers that ran
  uint32_t rows = 1;                  // rows in the batch
  std::vector<int32_t> paths;         // per row: the variant that ran
  std::vector<int32_t> requestedPaths; // per row: what was asked for
  double groupingUs = 0; // of timeUs: padding, grouping rows by path,
                         // gathering them and scattering outputs (batches)
};

/// How many rows a tensor of `shape` holds for a model tensor `spec` (one
/// row): `spec` itself is 1 row; N rows are `spec` with its leading 1
/// replaced by N, or `spec` with a leading N added. nullopt: neither.
TACRT_API std::optional<uint64_t> rowsOf(const std::vector<int64_t> &shape,
                               const std::vector<int64_t> &spec);
/// The shape of `rows` rows of model tensor `spec` (spec itself for 1).
TACRT_API std::vector<int64_t> batchShape(const std::vector<int64_t> &spec,
                                uint64_t rows);
/// "float32[N, 28, 28]": the type of N rows of model tensor `spec`.
TACRT_API std::string describeRows(DType dtype, const std::vector<int64_t> &spec);

/// Where a session runs.
enum class Device { Cpu, Cuda };

/// How a CUDA session picks the variant when the controller decides
/// (Dispatch::Auto): Host reads the controller's path back (4-8 bytes) and
/// launches that variant's graph; Device runs one graph holding the
/// controller, a select kernel and a SWITCH conditional node over the
/// variants (no host round trip; needs a CUDA 12.8+ driver).
enum class GpuDispatch { Host, Device };

struct SessionOptions {
  Device device = Device::Cpu;
  int cudaDevice = 0;                   // ordinal
  GpuDispatch dispatch = GpuDispatch::Host;
  bool cudaGraphs = true;  // false: replay each plan on the stream per run
  bool cublas = true;      // GEMM kernels through cuBLASLt when available
  bool allowTf32 = false;  // cuBLASLt may round GEMM inputs to TF32
  /// GpuDispatch::Device: GEMMs inside the SWITCH node's bodies through
  /// cuBLASLt (true) or the generated kernels (false). With true, a driver
  /// that refuses cuBLASLt's kernels there makes the session fall back to
  /// the generated ones, and deviceSummary() says so.
  bool cublasInSwitch = true;
  /// CPU: threads this session runs on, the calling thread included: a pool
  /// of threads - 1 workers of its own splits the generated kernels'
  /// parallel loops and the BLAS GEMMs' rows. 0: 1 (everything on the
  /// calling thread). Workers sleep between runs (docs/runtime.md,
  /// "Threads"); at most 255.
  int threads = 0;
  /// CPU: threads each BLAS GEMM call may use itself. 0: 1 when `threads`
  /// is above 1 (the pool splits the GEMMs instead); otherwise 1, or the
  /// process's BLAS setting when OPENBLAS_NUM_THREADS or OMP_NUM_THREADS is
  /// set. Per session: the process's BLAS setting is left as it was.
  int gemmThreads = 0;
};

/// Whether a CUDA device can be used here; `why` gets the reason when not
/// ("no CUDA driver (libcuda.so.1 not found)", "no CUDA device").
TACRT_API bool cudaAvailable(std::string *why = nullptr);

/// Per-thread execution state: one 64-byte aligned arena (CPU), or on CUDA
/// the device buffers, kernels and one captured graph per plan. A Session
/// is not thread-safe; create one per thread (they share the Model).
class TACRT_API Session {
public:
  static Expected<std::unique_ptr<Session>> create(ModelRef model);
  static Expected<std::unique_ptr<Session>>
  create(ModelRef model, const SessionOptions &options);
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  /// Runs one input set, or a batch of N rows (rowsOf: every input with the
  /// same N). `inputs` match model->inputs() in order and dtype. `outputs` is
  /// either empty (the session allocates one tensor per model output, of
  /// batchShape(spec, N)) or has one tensor per output: caller views of the
  /// right dtype and shape are written in place, empty Tensor() entries are
  /// allocated. In a batch every row takes its own path: rows are grouped by
  /// path and each group runs at the compiled batch sizes (docs/runtime.md).
  Status run(const std::vector<Tensor> &inputs, std::vector<Tensor> &outputs,
             const RunOptions &options = {}, RunInfo *info = nullptr);

  const Model &model() const;

  /// The same run with raw pointers (what the C API uses): `inputs[i]` has
  /// model->inputs()[i]'s bytes, `outputs[i]` room for output i.
  Status runRaw(const void *const *inputs, void *const *outputs,
                const RunOptions &options, RunInfo *info);
  /// `rows` rows with raw pointers: `inputs[i]` holds rows x input i's bytes
  /// back to back, `outputs[o]` room for rows x output o's bytes.
  Status runRows(uint64_t rows, const void *const *inputs,
                 void *const *outputs, const RunOptions &options,
                 RunInfo *info);

  /// Which device this session runs on, and (CUDA) a one-line summary of
  /// its setup: device name, graphs, GEMMs through cuBLASLt, dispatch.
  Device device() const;
  std::string deviceSummary() const;

private:
  struct Impl; // the arena, the thread pool or the CUDA executor
  TACRT_HIDDEN explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// For tac-compile --calibration, whose first build is an f32 file whose
/// GEMMs by packed weights also note the largest |A| of each k
/// (docs/precision.md, "Calibration"): what `model`'s sessions have noted
/// so far, keyed by the packed matrix's offset in the weights, k values
/// each; taking them clears them. An error when the model's CPU code is
/// not such a build or ran out of memory while noting.
TACRT_API Expected<std::map<uint64_t, std::vector<float>>>
takeRecordedGemmInputs(const Model &model);

} // namespace tac::rt

#endif // TACRT_TACRT_HPP
