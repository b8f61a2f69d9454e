// Tensors, sessions and the CPU plan executor with path dispatch.
#include "CudaExecutor.h"
#include "ModelImpl.h"
#include "ThreadPool.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace tac::rt {

//===----------------------------------------------------------------------===//
// Tensors
//===----------------------------------------------------------------------===//

std::optional<uint64_t> tensorBytes(DType dtype,
                                    const std::vector<int64_t> &shape) {
  uint64_t bytes = dtypeSize(dtype);
  if (bytes == 0)
    return std::nullopt;
  for (int64_t dim : shape) {
    if (dim < 0 ||
        __builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes))
      return std::nullopt;
  }
  return bytes;
}

std::string describeType(DType dtype, const std::vector<int64_t> &shape) {
  std::string out = std::string(dtypeName(dtype)) + "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

Tensor Tensor::view(void *data, DType dtype, std::vector<int64_t> shape) {
  Tensor t;
  t.data_ = data;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  return t;
}

namespace {
/// 64-byte aligned, zeroed memory, or null: allocation failures are
/// reported, never thrown (the library builds without exceptions).
void *allocateAligned(uint64_t bytes) {
  void *p = nullptr;
  size_t rounded = static_cast<size_t>((bytes + 63) / 64 * 64);
  if (rounded < bytes || posix_memalign(&p, 64, rounded == 0 ? 64 : rounded))
    return nullptr;
  std::memset(p, 0, rounded == 0 ? 64 : rounded);
  return p;
}
} // namespace

Expected<Tensor> Tensor::allocate(DType dtype, std::vector<int64_t> shape) {
  std::optional<uint64_t> bytes = tensorBytes(dtype, shape);
  if (!bytes)
    return Status::error(ErrorCode::InvalidArgument,
                         "cannot allocate a tensor of type " +
                             describeType(dtype, shape) +
                             ": dimensions must be >= 0 and the size must "
                             "fit in 64 bits");
  void *p = allocateAligned(*bytes);
  if (!p)
    return Status::error(ErrorCode::OutOfMemory,
                         "out of memory allocating " + std::to_string(*bytes) +
                             " bytes for a " + describeType(dtype, shape) +
                             " tensor");
  Tensor t = view(p, dtype, std::move(shape));
  t.storage_ = std::shared_ptr<void>(p, std::free);
  return t;
}

uint64_t Tensor::byteSize() const {
  return tensorBytes(dtype_, shape_).value_or(0);
}

//===----------------------------------------------------------------------===//
// Session
//===----------------------------------------------------------------------===//

/// A session's state (its pimpl): the model, and either the CPU arena,
/// argument array and batch staging or the CUDA executor.
struct TACRT_HIDDEN Session::Impl {
  explicit Impl(ModelRef model) : model_(std::move(model)) {}
  ~Impl() { std::free(arena_); }
  Impl(const Impl &) = delete;
  Impl &operator=(const Impl &) = delete;

  static Status checkRunnable(const ModelRef &model);
  static Expected<std::unique_ptr<Impl>>
  createCpu(ModelRef model, const SessionOptions &options);
  Status runRaw(const void *const *inputs, void *const *outputs,
                const RunOptions &options, RunInfo *info);
  Status runRows(uint64_t rows, const void *const *inputs,
                 void *const *outputs, const RunOptions &options,
                 RunInfo *info);
  // Tells the code object's bridges this session's GEMM thread count and
  // thread pool on the calling thread (a session may move between threads
  // between runs); the pool is unset again when the run ends.
  struct ThreadsInUse {
    explicit ThreadsInUse(const Impl &session);
    ~ThreadsInUse();
    int (*usePool)(void *, ModelImpl::PoolRun);
  };
  // Batches: allocates staging_ at the first batched run.
  Status prepareBatchBuffers();

  ModelRef model_;
  void *arena_ = nullptr;
  int gemmThreads_ = 0; // 0: the process's BLAS setting
  std::unique_ptr<ThreadPool> pool_; // threads > 1
  // The model's CPU kernels, mapped when the first CPU session was created.
  const KernelFn *kernels_ = nullptr;
  std::vector<void *> args_; // reused pointer array for kernel calls
  std::vector<const void *> variantInputs_; // inputs + carried controller results
  // Batches: rows gathered for one plan run (inputs, then carried results),
  // each sized for the largest bucket; the row -> variant choice.
  std::vector<std::shared_ptr<void>> staging_;
  std::vector<int32_t> rowVariant_, rowRequested_;
  std::unique_ptr<CudaExecutor> cuda_; // set for Device::Cuda
};

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Session::~Session() = default;

const Model &Session::model() const { return *impl_->model_; }

Device Session::device() const {
  return impl_->cuda_ ? Device::Cuda : Device::Cpu;
}

Status Session::runRaw(const void *const *inputs, void *const *outputs,
                       const RunOptions &options, RunInfo *info) {
  return impl_->runRaw(inputs, outputs, options, info);
}

Status Session::runRows(uint64_t rows, const void *const *inputs,
                        void *const *outputs, const RunOptions &options,
                        RunInfo *info) {
  return impl_->runRows(rows, inputs, outputs, options, info);
}

bool cudaAvailable(std::string *why) { return cuda::deviceAvailable(why); }

std::string Session::deviceSummary() const {
  const CudaExecutor *cuda = impl_->cuda_.get();
  return cuda ? "cuda: " + cuda->summary() : std::string("cpu");
}

/// Whether any session may run `model`: there is one, and its code is
/// mapped (not a verify-only load).
Status Session::Impl::checkRunnable(const ModelRef &model) {
  if (!model)
    return Status::error(ErrorCode::InvalidArgument,
                         "Session::create: no model (load one first)");
  if (ModelImpl::of(*model).verifiedOnly)
    return Status::error(ErrorCode::InvalidArgument,
                         "'" + model->filePath() +
                             "' was loaded to be verified only "
                             "(LoadOptions::mapCode = false): load it again "
                             "to run it");
  return Status::success();
}

Expected<std::unique_ptr<Session>>
Session::create(ModelRef model, const SessionOptions &options) {
  if (Status st = Impl::checkRunnable(model); !st)
    return st;
  if (options.threads < 0 || options.threads > 255) // on every device
    return Status::error(ErrorCode::InvalidArgument,
                         "threads must be between 1 and 255 (0: the default, "
                         "1), not " + std::to_string(options.threads));
  std::unique_ptr<Impl> impl;
  if (options.device == Device::Cpu) {
    Expected<std::unique_ptr<Impl>> cpu =
        Impl::createCpu(std::move(model), options);
    if (!cpu)
      return cpu.status();
    impl = std::move(*cpu);
  } else {
    Expected<std::unique_ptr<CudaExecutor>> executor =
        CudaExecutor::create(*model, options);
    if (!executor)
      return executor.status();
    impl = std::make_unique<Impl>(std::move(model));
    impl->cuda_ = std::move(*executor);
  }
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

Expected<std::unique_ptr<Session>> Session::create(ModelRef model) {
  return create(std::move(model), SessionOptions());
}

Expected<std::unique_ptr<Session::Impl>>
Session::Impl::createCpu(ModelRef model, const SessionOptions &options) {
  if (!model->hasCpuCode())
    return Status::error(ErrorCode::Unsupported,
                         "'" + model->filePath() +
                             "' holds no CPU code (compiled with "
                             "--target=cuda): run it on CUDA (--device=cuda) "
                             "or recompile with --target=cpu,cuda");
  // Threads: checked before anything is allocated. One GEMM thread is what
  // a model without BLAS GEMM kernels does anyway; more it cannot honour.
  int threads = options.threads, gemmThreads = options.gemmThreads;
  if (gemmThreads < 0)
    return Status::error(ErrorCode::InvalidArgument,
                         "GEMM threads must be at least 1 (0: the default), "
                         "not " + std::to_string(gemmThreads));
  // The CPU code is mapped by the first CPU session, not at load.
  if (Status st = ModelImpl::of(*model).mapCpuCode(); !st)
    return st;
  bool pooled = threads > 1 && ModelImpl::of(*model).useThreadPool;
  if (gemmThreads == 0) {
    if (pooled) // one BLAS thread per call: the pool splits the rows
      gemmThreads = 1;
    else if (threads > 1) // a file without the thread bridge: BLAS's own
      gemmThreads = threads;
    else
      gemmThreads = std::getenv("OPENBLAS_NUM_THREADS") ||
                            std::getenv("OMP_NUM_THREADS")
                        ? 0
                        : 1;
  }
  int (*use)(int) = ModelImpl::of(*model).useGemmThreads;
  if (options.gemmThreads > 1 && !use)
    return Status::error(ErrorCode::Unsupported,
                         "'" + model->filePath() +
                             "' has no BLAS GEMM kernels (compiled with "
                             "--gemm=packed, the default, or --gemm=generated, "
                             "or without matrix products): its GEMMs use the "
                             "session's threads (--threads) instead");
  if (options.gemmThreads > 1 && !use(0))
    return Status::error(ErrorCode::Unsupported,
                         "the BLAS '" + model->filePath() +
                             "' calls has no thread control (only OpenBLAS's "
                             "openblas_set_num_threads is known); set its own "
                             "environment variable instead");
  uint64_t bytes = model->arenaBytes();
  void *arena = allocateAligned(bytes);
  if (!arena)
    return Status::error(ErrorCode::OutOfMemory,
                         "out of memory allocating the " +
                             std::to_string(bytes) + "-byte arena '" +
                             model->filePath() +
                             "' needs; free memory or use fewer sessions");
  size_t maxArgs = 0;
  const ModelImpl &m = ModelImpl::of(*model);
  auto widest = [&](const ExecPlan &plan) {
    for (const ExecStep &step : plan.steps)
      maxArgs = std::max<size_t>(maxArgs, step.numArgs);
  };
  widest(m.controller);
  for (const ExecPlan &plan : m.variants)
    widest(plan);
  auto session = std::make_unique<Impl>(std::move(model));
  session->arena_ = arena;
  session->args_.resize(maxArgs);
  session->gemmThreads_ = gemmThreads;
  session->kernels_ = m.kernelFns.data();
  if (pooled)
    session->pool_ = std::make_unique<ThreadPool>(threads);
  return session;
}

Session::Impl::ThreadsInUse::ThreadsInUse(const Impl &session)
    : usePool(ModelImpl::of(*session.model_).useThreadPool) {
  const ModelImpl &m = ModelImpl::of(*session.model_);
  if (m.useGemmThreads)
    m.useGemmThreads(session.gemmThreads_);
  if (usePool && session.pool_)
    usePool(session.pool_.get(), &ThreadPool::run);
  else
    usePool = nullptr;
}

Session::Impl::ThreadsInUse::~ThreadsInUse() {
  if (usePool)
    usePool(nullptr, nullptr);
}

namespace {
/// The addresses a plan's references resolve to in one run.
struct Bases {
  uint8_t *arena;
  const uint8_t *weights;
  const void *const *inputs;

  void *resolve(const format::BufferRefDesc &ref) const {
    switch (ref.space) {
    case format::Space::Arena:
      return arena + ref.offset;
    case format::Space::Weights:
      return const_cast<uint8_t *>(weights) + ref.offset;
    case format::Space::Input:
      return static_cast<uint8_t *>(const_cast<void *>(inputs[ref.index])) +
             ref.offset;
    }
    return nullptr;
  }
};

/// Runs every step of a verified plan in order.
void execute(const ExecPlan &plan, const Bases &bases,
             std::vector<void *> &args, const KernelFn *kernels) {
  for (const ExecStep &step : plan.steps) {
    const format::BufferRefDesc *refs = plan.args.data() + step.firstArg;
    if (step.kind == format::StepKind::Copy) {
      // memmove: the compiler may copy between overlapping views.
      std::memmove(bases.resolve(refs[0]), bases.resolve(refs[1]), step.bytes);
      continue;
    }
    for (uint32_t a = 0; a < step.numArgs; ++a)
      args[a] = bases.resolve(refs[a]);
    kernels[step.kernel](args.data());
  }
}

/// The controller chose a path outside the model's path set.
Status badPolicyPath(const ModelImpl &m, int64_t value) {
  return Status::error(ErrorCode::Internal,
                       "the controller of '" + m.filePath + "' chose path " +
                           std::to_string(value) +
                           ", outside the model's paths 0.." +
                           std::to_string(m.numPaths - 1) +
                           "; the model's policy is broken: check its "
                           "export, or run with a fixed path");
}

double microsecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now() - start)
      .count();
}

std::string compiledPaths(const Model &model) {
  std::string out;
  for (const VariantInfo &v : model.variants())
    out += (out.empty() ? "" : ", ") + std::to_string(v.path);
  return out;
}

/// Checks `options` before any work: a Fixed path must be compiled (sets
/// `chosen`), a budget must fit the cheapest variant.
Status checkDispatch(const Model &model, const RunOptions &options,
                     size_t &chosen) {
  const std::vector<VariantInfo> &variants = model.variants();
  if (options.dispatch == Dispatch::Fixed) {
    const VariantInfo *v = model.findVariant(options.path);
    if (!v)
      return Status::error(
          ErrorCode::InvalidArgument,
          "path " + std::to_string(options.path) + " is not compiled into '" +
              model.filePath() + "'; compiled paths: " + compiledPaths(model) +
              (variants.front().path == -1
                   ? " (a static model: its one variant has path -1)"
                   : ""));
    chosen = static_cast<size_t>(v - variants.data());
  } else if (options.dispatch == Dispatch::Budget) {
    const VariantInfo *cheapest = &variants.front();
    for (const VariantInfo &v : variants)
      if (v.flops < cheapest->flops)
        cheapest = &v;
    if (cheapest->flops > options.budgetFlops)
      return Status::error(ErrorCode::InvalidArgument,
                           "no variant fits the budget of " +
                               std::to_string(options.budgetFlops) +
                               " FLOPs: the cheapest (path " +
                               std::to_string(cheapest->path) + ") costs " +
                               std::to_string(cheapest->flops) +
                               " FLOPs; raise the budget");
  }
  return Status::success();
}

/// The variant for the controller's path `value` (Auto/Budget dispatch):
/// rounded up to a compiled path, then capped by the budget.
Status choosePolicyVariant(const ModelImpl &m, const RunOptions &options,
                           int64_t value, size_t &chosen,
                           int32_t &requestedPath, bool &rounded,
                           bool &budgetLimited) {
  const std::vector<VariantInfo> &variants = m.variantInfo;
  int32_t policyPath;
  if (m.hasController) {
    if (value < 0 || value >= static_cast<int64_t>(m.numPaths))
      return badPolicyPath(m, value);
    policyPath = static_cast<int32_t>(value);
  } else {
    // No controller: the full model (deepest variant) is the default.
    policyPath = variants.back().path;
  }
  requestedPath = policyPath;
  chosen = roundUpVariant(variants, policyPath, rounded);
  budgetLimited = false;
  if (options.dispatch == Dispatch::Budget &&
      variants[chosen].flops > options.budgetFlops) {
    for (size_t i = variants.size(); i-- > 0;)
      if (variants[i].flops <= options.budgetFlops) {
        chosen = i;
        break;
      }
    budgetLimited = true;
  }
  return Status::success();
}

/// Every input has data aligned to its element size; every output a buffer.
Status checkBuffers(const ModelImpl &m, const void *const *inputs,
                    void *const *outputs) {
  for (size_t i = 0; i < m.inputs.size(); ++i) {
    if (!inputs[i] && m.inputs[i].byteSize > 0)
      return Status::error(ErrorCode::InvalidArgument,
                           "input " + std::to_string(i) + " '" +
                               m.inputs[i].name + "' has no data");
    size_t align = dtypeSize(m.inputs[i].dtype);
    if (reinterpret_cast<uintptr_t>(inputs[i]) % align != 0)
      return Status::error(ErrorCode::InvalidArgument,
                           "input " + std::to_string(i) + " '" +
                               m.inputs[i].name + "' is not aligned to its " +
                               std::to_string(align) +
                               "-byte element size; pass aligned memory");
  }
  for (size_t o = 0; o < m.outputs.size(); ++o)
    if (!outputs[o] && m.outputs[o].byteSize > 0)
      return Status::error(ErrorCode::InvalidArgument,
                           "output " + std::to_string(o) + " '" +
                               m.outputs[o].name + "' has no buffer");
  return Status::success();
}
} // namespace

std::optional<uint64_t> rowsOf(const std::vector<int64_t> &shape,
                               const std::vector<int64_t> &spec) {
  if (shape == spec)
    return 1;
  if (shape.empty() || shape[0] < 0)
    return std::nullopt;
  bool replacesLeadingOne = !spec.empty() && spec[0] == 1 &&
                            shape.size() == spec.size() &&
                            std::equal(shape.begin() + 1, shape.end(),
                                       spec.begin() + 1);
  bool addsLeading = shape.size() == spec.size() + 1 &&
                     std::equal(shape.begin() + 1, shape.end(), spec.begin());
  if (replacesLeadingOne || addsLeading)
    return static_cast<uint64_t>(shape[0]);
  return std::nullopt;
}

std::vector<int64_t> batchShape(const std::vector<int64_t> &spec,
                                uint64_t rows) {
  if (rows == 1)
    return spec;
  std::vector<int64_t> shape{static_cast<int64_t>(rows)};
  if (!spec.empty() && spec[0] == 1)
    shape.insert(shape.end(), spec.begin() + 1, spec.end());
  else
    shape.insert(shape.end(), spec.begin(), spec.end());
  return shape;
}

std::string describeRows(DType dtype, const std::vector<int64_t> &spec) {
  std::vector<int64_t> shape = batchShape(spec, 2);
  std::string out = std::string(dtypeName(dtype)) + "[N";
  for (size_t i = 1; i < shape.size(); ++i)
    out += ", " + std::to_string(shape[i]);
  return out + "]";
}

Status Session::run(const std::vector<Tensor> &inputs,
                    std::vector<Tensor> &outputs, const RunOptions &options,
                    RunInfo *info) {
  const Model &model = *impl_->model_;
  const std::vector<TensorSpec> &specs = model.inputs();
  if (inputs.size() != specs.size()) {
    std::string names;
    for (const TensorSpec &spec : specs)
      names += (names.empty() ? "" : ", ") + spec.name;
    return Status::error(ErrorCode::InvalidArgument,
                         "expected " + std::to_string(specs.size()) +
                             " inputs (" + names + "), got " +
                             std::to_string(inputs.size()));
  }
  std::vector<const void *> inputData(inputs.size());
  std::optional<uint64_t> rows;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor &t = inputs[i];
    const TensorSpec &spec = specs[i];
    std::optional<uint64_t> n = rowsOf(t.shape(), spec.shape);
    if (t.dtype() != spec.dtype || !n)
      return Status::error(ErrorCode::InvalidArgument,
                           "input " + std::to_string(i) + " '" + spec.name +
                               "': expected " +
                               describeType(spec.dtype, spec.shape) +
                               " (or N rows: " + describeRows(spec.dtype, spec.shape) +
                               "), got " +
                               describeType(t.dtype(), t.shape()));
    if (*n == 0)
      return Status::error(ErrorCode::InvalidArgument,
                           "input " + std::to_string(i) + " '" + spec.name +
                               "' has 0 rows; a batch needs at least one row");
    if (rows && *rows != *n)
      return Status::error(ErrorCode::InvalidArgument,
                           "input " + std::to_string(i) + " '" + spec.name +
                               "' has " + std::to_string(*n) +
                               " rows, the inputs before it " +
                               std::to_string(*rows) +
                               "; every input needs the same number of rows");
    rows = n;
    inputData[i] = t.data();
  }
  uint64_t n = rows.value_or(1);

  const std::vector<TensorSpec> &outSpecs = model.outputs();
  if (!outputs.empty() && outputs.size() != outSpecs.size())
    return Status::error(ErrorCode::InvalidArgument,
                         "expected " + std::to_string(outSpecs.size()) +
                             " output tensors (or none, to have the session "
                             "allocate them), got " +
                             std::to_string(outputs.size()));
  // Check every caller view before allocating or writing anything.
  for (size_t o = 0; o < outputs.size(); ++o) {
    const TensorSpec &spec = outSpecs[o];
    std::vector<int64_t> shape = batchShape(spec.shape, n);
    if (outputs[o].data() &&
        (outputs[o].dtype() != spec.dtype || outputs[o].shape() != shape))
      return Status::error(ErrorCode::InvalidArgument,
                           "output " + std::to_string(o) + " '" + spec.name +
                               "': expected " + describeType(spec.dtype, shape) +
                               (n > 1 ? " for " + std::to_string(n) + " rows"
                                      : std::string()) +
                               ", got " +
                               describeType(outputs[o].dtype(),
                                            outputs[o].shape()));
  }
  outputs.resize(outSpecs.size());
  std::vector<void *> outputData(outputs.size());
  for (size_t o = 0; o < outputs.size(); ++o) {
    if (!outputs[o].data()) {
      Expected<Tensor> t =
          Tensor::allocate(outSpecs[o].dtype, batchShape(outSpecs[o].shape, n));
      if (!t)
        return t.status();
      outputs[o] = std::move(*t);
    }
    outputData[o] = outputs[o].data();
  }
  return runRows(n, inputData.data(), outputData.data(), options, info);
}

Status Session::Impl::runRaw(const void *const *inputs, void *const *outputs,
                             const RunOptions &options, RunInfo *info) {
  const ModelImpl &m = ModelImpl::of(*model_);
  const std::vector<VariantInfo> &variants = m.variantInfo;
  if (Status st = checkBuffers(m, inputs, outputs); !st)
    return st;

  RunInfo result;
  Bases bases{static_cast<uint8_t *>(arena_), m.weights, inputs};
  std::optional<ThreadsInUse> threads;
  if (!cuda_)
    threads.emplace(*this);
  if (cuda_) {
    auto start = std::chrono::steady_clock::now();
    if (Status st = cuda_->copyIn(inputs); !st)
      return st;
    if (cuda_->deviceDispatch() && options.dispatch == Dispatch::Auto) {
      int32_t variant = -1;
      int64_t value = -1;
      if (Status st = cuda_->runDeviceDispatch(outputs, variant, value); !st)
        return st;
      if (variant < 0 || variant >= static_cast<int32_t>(variants.size()))
        return badPolicyPath(m, value);
      if (info) {
        result.requestedPath = static_cast<int32_t>(value);
        result.path = variants[variant].path;
        result.rounded = result.path != result.requestedPath;
        result.controllerFlops = m.controller.flops;
        result.flops = variants[variant].flops + result.controllerFlops;
        result.timeUs = microsecondsSince(start);
        result.layers = variants[variant].layers;
        *info = std::move(result);
        info->paths = {info->path};
        info->requestedPaths = {info->requestedPath};
      }
      return Status::success();
    }
  }
  double controllerUs = 0;
  size_t chosen = 0;
  bool needPolicy = options.dispatch != Dispatch::Fixed;
  // Variants that take the controller's carried results need it to run
  // first, whatever chooses the path.
  bool runController = m.hasController && (needPolicy || m.numCarried > 0);

  if (Status st = checkDispatch(*model_, options, chosen); !st)
    return st;
  if (options.dispatch == Dispatch::Fixed)
    result.requestedPath = options.path;

  int64_t value = -1;
  if (runController) {
    auto start = std::chrono::steady_clock::now();
    if (cuda_) {
      if (Status st = cuda_->runController(value); !st)
        return st;
    } else {
      execute(m.controller, bases, args_, kernels_);
      std::memcpy(&value,
                  bases.resolve(m.controller.outputs[m.controllerPathOutput]),
                  sizeof(value));
    }
    controllerUs = microsecondsSince(start);
    result.controllerFlops = m.controller.flops;
  }
  if (needPolicy) {
    if (Status st = choosePolicyVariant(m, options, value, chosen,
                                        result.requestedPath, result.rounded,
                                        result.budgetLimited);
        !st)
      return st;
  }

  auto start = std::chrono::steady_clock::now();
  const ExecPlan &plan = m.variants[chosen];
  if (cuda_) {
    if (Status st = cuda_->runVariant(chosen, outputs); !st)
      return st;
  } else {
    Bases variantBases = bases;
    if (m.numCarried > 0) {
      // The variant's extra inputs are the controller's carried results; its
      // arena starts after the controller's, which stays intact.
      size_t first = m.controller.outputs.size() - m.numCarried;
      variantInputs_.assign(inputs, inputs + m.inputs.size());
      for (uint32_t j = 0; j < m.numCarried; ++j)
        variantInputs_.push_back(bases.resolve(m.controller.outputs[first + j]));
      variantBases.inputs = variantInputs_.data();
      variantBases.arena += m.variantArenaOffset;
    }
    execute(plan, variantBases, args_, kernels_);
    for (size_t o = 0; o < plan.outputs.size(); ++o)
      std::memcpy(outputs[o], variantBases.resolve(plan.outputs[o]),
                  plan.outputs[o].size);
  }
  double variantUs = microsecondsSince(start);

  if (info) {
    result.path = variants[chosen].path;
    result.flops = variants[chosen].flops + result.controllerFlops;
    result.timeUs = controllerUs + variantUs;
    result.layers = variants[chosen].layers;
    *info = std::move(result);
    info->paths = {info->path};
    info->requestedPaths = {info->requestedPath};
  }
  return Status::success();
}


Status Session::Impl::prepareBatchBuffers() {
  if (!staging_.empty())
    return Status::success();
  const ModelImpl &m = ModelImpl::of(*model_);
  uint64_t most = m.buckets.empty() ? 1 : m.buckets.back().batch;
  std::vector<uint64_t> rowBytes;
  for (const TensorSpec &spec : m.inputs)
    rowBytes.push_back(spec.byteSize);
  rowBytes.insert(rowBytes.end(), m.carriedRowBytes.begin(),
                  m.carriedRowBytes.end());
  for (uint64_t row : rowBytes) {
    uint64_t bytes = 0;
    void *p = __builtin_mul_overflow(row, most, &bytes)
                  ? nullptr
                  : allocateAligned(bytes);
    if (!p) {
      staging_.clear();
      return Status::error(ErrorCode::OutOfMemory,
                           "out of memory allocating " + std::to_string(most) +
                               " staging rows of " + std::to_string(row) +
                               " bytes for batched runs");
    }
    staging_.emplace_back(p, std::free);
  }
  return Status::success();
}

Status Session::Impl::runRows(uint64_t rows, const void *const *inputs,
                              void *const *outputs, const RunOptions &options,
                              RunInfo *info) {
  if (rows == 0)
    return Status::error(ErrorCode::InvalidArgument,
                         "a batch needs at least one row (got 0)");
  if (rows == 1)
    return runRaw(inputs, outputs, options, info);
  const ModelImpl &m = ModelImpl::of(*model_);
  if (Status st = checkBuffers(m, inputs, outputs); !st)
    return st;
  size_t fixedChoice = 0;
  if (Status st = checkDispatch(*model_, options, fixedChoice); !st)
    return st;

  RunInfo result;
  result.rows = static_cast<uint32_t>(rows);
  std::optional<ThreadsInUse> threads;
  if (!cuda_)
    threads.emplace(*this);
  auto rowOf = [](const void *base, uint64_t row, uint64_t bytes) {
    return static_cast<const uint8_t *>(base) + row * bytes;
  };

  if (cuda_) {
    // The CUDA executor runs one-row plans: the rows one after another.
    std::vector<const void *> in(m.inputs.size());
    std::vector<void *> out(m.outputs.size());
    for (uint64_t r = 0; r < rows; ++r) {
      for (size_t i = 0; i < in.size(); ++i)
        in[i] = rowOf(inputs[i], r, m.inputs[i].byteSize);
      for (size_t o = 0; o < out.size(); ++o)
        out[o] = const_cast<uint8_t *>(rowOf(outputs[o], r,
                                             m.outputs[o].byteSize));
      RunInfo one;
      if (Status st = runRaw(in.data(), out.data(), options, &one); !st)
        return st;
      if (r == 0) {
        result.path = one.path;
        result.requestedPath = one.requestedPath;
        result.rounded = one.rounded;
        result.budgetLimited = one.budgetLimited;
        result.layers = one.layers;
      }
      result.flops += one.flops;
      result.controllerFlops += one.controllerFlops;
      result.timeUs += one.timeUs;
      result.paths.push_back(one.path);
      result.requestedPaths.push_back(one.requestedPath);
    }
    if (info)
      *info = std::move(result);
    return Status::success();
  }

  if (Status st = prepareBatchBuffers(); !st)
    return st;
  auto start = std::chrono::steady_clock::now();
  const std::vector<VariantInfo> &variants = m.variantInfo;
  bool needPolicy = options.dispatch != Dispatch::Fixed;
  bool runController = m.hasController && (needPolicy || m.numCarried > 0);
  // Sizes the plans exist for: index 0 is one row, k the bucket k - 1.
  size_t numSizes = m.buckets.size() + 1;
  auto sizeAt = [&](size_t k) -> uint64_t {
    return k == 0 ? 1 : m.buckets[k - 1].batch;
  };
  // The smallest compiled size holding `n` rows, else the largest.
  auto fit = [&](uint64_t n) {
    for (size_t k = 0; k < numSizes; ++k)
      if (sizeAt(k) >= n)
        return k;
    return numSizes - 1;
  };
  // A variant's group of `n` rows: pad up to the smallest size that holds
  // them while at most a quarter of its rows would be padding; otherwise
  // run the largest size that is full and continue with the rest (17 rows
  // with sizes 1,4,16,32 run as 16 + 1, not as 32 with 15 wasted rows).
  auto piece = [&](uint64_t n) {
    size_t up = fit(n);
    if (sizeAt(up) <= n || 4 * (sizeAt(up) - n) <= sizeAt(up))
      return up;
    size_t down = up;
    while (down > 0 && sizeAt(down) > n)
      --down;
    return down;
  };
  uint64_t most = sizeAt(numSizes - 1);
  uint8_t *arena = static_cast<uint8_t *>(arena_);
  const size_t numInputs = m.inputs.size();

  rowVariant_.assign(rows, static_cast<int32_t>(fixedChoice));
  rowRequested_.assign(rows, options.dispatch == Dispatch::Fixed
                                 ? options.path
                                 : -1);
  std::vector<const void *> planInputs(numInputs + m.numCarried);
  double groupingUs = 0;
  std::vector<uint64_t> group;

  // Chunks of at most the largest size: the controller runs once per chunk
  // and its carried results stay in the arena while the chunk's variants run.
  for (uint64_t first = 0; first < rows; first += most) {
    uint64_t n = std::min<uint64_t>(most, rows - first);
    size_t controllerSize = fit(n);
    uint64_t controllerRows = sizeAt(controllerSize);
    const ExecPlan &controllerPlan =
        controllerSize == 0 ? m.controller
                            : m.buckets[controllerSize - 1].controller;
    const int64_t *paths = nullptr; // the controller's, one per row
    if (runController) {
      // Pad a short chunk with copies of its last row (real data: padding
      // cannot produce NaNs); padded rows' results are never read.
      auto stagingStart = std::chrono::steady_clock::now();
      for (size_t i = 0; i < numInputs; ++i) {
        uint64_t bytes = m.inputs[i].byteSize;
        if (n == controllerRows) {
          planInputs[i] = rowOf(inputs[i], first, bytes);
          continue;
        }
        uint8_t *stage = static_cast<uint8_t *>(staging_[i].get());
        std::memcpy(stage, rowOf(inputs[i], first, bytes), n * bytes);
        for (uint64_t r = n; r < controllerRows; ++r)
          std::memcpy(stage + r * bytes, rowOf(inputs[i], first + n - 1, bytes),
                      bytes);
        planInputs[i] = stage;
      }
      groupingUs += microsecondsSince(stagingStart);
      Bases bases{arena, m.weights, planInputs.data()};
      execute(controllerPlan, bases, args_, kernels_);
      paths = static_cast<const int64_t *>(
          bases.resolve(controllerPlan.outputs[m.controllerPathOutput]));
    }
    // Every row's variant, before any variant runs.
    for (uint64_t r = 0; needPolicy && r < n; ++r) {
      size_t chosen = 0;
      bool rounded = false, limited = false;
      if (Status st = choosePolicyVariant(m, options, paths ? paths[r] : -1,
                                          chosen, rowRequested_[first + r],
                                          rounded, limited);
          !st)
        return st;
      rowVariant_[first + r] = static_cast<int32_t>(chosen);
      if (first + r == 0) { // RunInfo's scalar fields describe row 0
        result.rounded = rounded;
        result.budgetLimited = limited;
      }
    }
    size_t firstCarried = controllerPlan.outputs.size() - m.numCarried;

    // Each variant's rows, in order, in pieces of the compiled sizes.
    for (size_t v = 0; v < variants.size(); ++v) {
      auto groupStart = std::chrono::steady_clock::now();
      group.clear();
      for (uint64_t r = 0; r < n; ++r)
        if (rowVariant_[first + r] == static_cast<int32_t>(v))
          group.push_back(r);
      for (size_t done = 0; done < group.size();) {
        uint64_t left = group.size() - done;
        size_t size = piece(left);
        uint64_t planRows = sizeAt(size);
        uint64_t take = std::min(left, planRows);
        const uint64_t *picked = group.data() + done;
        // Rows that are consecutive and fill the plan are read in place.
        bool inPlace = take == planRows &&
                       picked[take - 1] - picked[0] == take - 1;
        auto gather = [&](size_t slot, const void *base, uint64_t bytes) {
          if (inPlace) {
            planInputs[slot] = rowOf(base, picked[0], bytes);
            return;
          }
          uint8_t *stage = static_cast<uint8_t *>(staging_[slot].get());
          for (uint64_t t = 0; t < planRows; ++t)
            std::memcpy(stage + t * bytes,
                        rowOf(base, picked[std::min(t, take - 1)], bytes),
                        bytes);
          planInputs[slot] = stage;
        };
        for (size_t i = 0; i < numInputs; ++i)
          gather(i, rowOf(inputs[i], first, m.inputs[i].byteSize),
                 m.inputs[i].byteSize);
        Bases controllerBases{arena, m.weights, nullptr};
        for (uint32_t j = 0; j < m.numCarried; ++j) {
          const void *carried = controllerBases.resolve(
              controllerPlan.outputs[firstCarried + j]);
          // Weights-only results are one value for every row (the loader
          // checks every size agrees on which).
          bool shared = controllerSize > 0 &&
                        m.buckets[controllerSize - 1].sharedCarried[j];
          if (shared)
            planInputs[numInputs + j] = carried;
          else
            gather(numInputs + j, carried, m.carriedRowBytes[j]);
        }
        const ExecPlan &plan =
            size == 0 ? m.variants[v] : m.buckets[size - 1].variants[v];
        Bases bases{arena + (m.numCarried > 0 ? m.variantArenaOffset : 0),
                    m.weights, planInputs.data()};
        groupingUs += microsecondsSince(groupStart);
        execute(plan, bases, args_, kernels_);
        groupStart = std::chrono::steady_clock::now();
        for (size_t o = 0; o < plan.outputs.size(); ++o) {
          uint64_t bytes = m.outputs[o].byteSize;
          const uint8_t *from =
              static_cast<const uint8_t *>(bases.resolve(plan.outputs[o]));
          uint8_t *to = static_cast<uint8_t *>(outputs[o]) + first * bytes;
          if (inPlace) {
            std::memcpy(to + picked[0] * bytes, from, take * bytes);
            continue;
          }
          for (uint64_t t = 0; t < take; ++t)
            std::memcpy(to + picked[t] * bytes, from + t * bytes, bytes);
        }
        done += take;
      }
      groupingUs += microsecondsSince(groupStart);
    }
  }

  if (info) {
    // Costs per row: the one-row plans' FLOPs (padding rows not counted).
    for (uint64_t r = 0; r < rows; ++r) {
      const VariantInfo &v = variants[rowVariant_[r]];
      result.paths.push_back(v.path);
      result.requestedPaths.push_back(rowRequested_[r] == -1 && !needPolicy
                                          ? v.path
                                          : rowRequested_[r]);
      result.flops += v.flops;
    }
    if (runController)
      result.controllerFlops = m.controller.flops * rows;
    result.flops += result.controllerFlops;
    result.path = result.paths[0];
    result.requestedPath = result.requestedPaths[0];
    result.layers = variants[rowVariant_[0]].layers;
    result.timeUs = microsecondsSince(start);
    result.groupingUs = groupingUs;
    *info = std::move(result);
  }
  return Status::success();
}

size_t roundUpVariant(const std::vector<VariantInfo> &variants, int32_t path,
                      bool &rounded) {
  for (size_t i = 0; i < variants.size(); ++i)
    if (variants[i].path >= path) {
      rounded = variants[i].path != path;
      return i;
    }
  rounded = true;
  return variants.size() - 1;
}

std::vector<int32_t> deviceSwitchTable(const std::vector<VariantInfo> &variants,
                                       uint32_t numPaths) {
  std::vector<int32_t> table(std::max<uint32_t>(numPaths, 1));
  for (size_t p = 0; p < table.size(); ++p) {
    bool rounded = false;
    table[p] = static_cast<int32_t>(
        roundUpVariant(variants, static_cast<int32_t>(p), rounded));
  }
  return table;
}

} // namespace tac::rt
