// Tensors, sessions and the CPU plan executor with path dispatch.
#include "CudaExecutor.h"
#include "ModelImpl.h"

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

Session::Session(ModelRef model, void *arena)
    : model_(std::move(model)), arena_(arena) {}

Session::~Session() { std::free(arena_); }

bool cudaAvailable(std::string *why) { return cuda::deviceAvailable(why); }

std::string Session::deviceSummary() const {
  return cuda_ ? "cuda: " + cuda_->summary() : std::string("cpu");
}

Expected<std::unique_ptr<Session>>
Session::create(ModelRef model, const SessionOptions &options) {
  if (!model)
    return Status::error(ErrorCode::InvalidArgument,
                         "Session::create: no model (load one first)");
  if (options.device == Device::Cpu)
    return create(std::move(model));
  Expected<std::unique_ptr<CudaExecutor>> executor =
      CudaExecutor::create(*model, options);
  if (!executor)
    return executor.status();
  std::unique_ptr<Session> session(new Session(std::move(model), nullptr));
  session->cuda_ = std::move(*executor);
  return session;
}

Expected<std::unique_ptr<Session>> Session::create(ModelRef model) {
  if (!model)
    return Status::error(ErrorCode::InvalidArgument,
                         "Session::create: no model (load one first)");
  if (!model->hasCpuCode())
    return Status::error(ErrorCode::Unsupported,
                         "'" + model->filePath() +
                             "' holds no CPU code (compiled with "
                             "--target=cuda): run it on CUDA (--device=cuda) "
                             "or recompile with --target=cpu,cuda");
  uint64_t bytes = model->arenaBytes();
  void *arena = allocateAligned(bytes);
  if (!arena)
    return Status::error(ErrorCode::OutOfMemory,
                         "out of memory allocating the " +
                             std::to_string(bytes) + "-byte arena '" +
                             model->filePath() +
                             "' needs; free memory or use fewer sessions");
  size_t maxArgs = 0;
  const Model::Impl &m = *model->impl_;
  auto widest = [&](const ExecPlan &plan) {
    for (const ExecStep &step : plan.steps)
      maxArgs = std::max<size_t>(maxArgs, step.numArgs);
  };
  widest(m.controller);
  for (const ExecPlan &plan : m.variants)
    widest(plan);
  std::unique_ptr<Session> session(new Session(std::move(model), arena));
  session->args_.resize(maxArgs);
  return session;
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
             std::vector<void *> &args) {
  for (const ExecStep &step : plan.steps) {
    const format::BufferRefDesc *refs = plan.args.data() + step.firstArg;
    if (step.kind == format::StepKind::Copy) {
      // memmove: the compiler may copy between overlapping views.
      std::memmove(bases.resolve(refs[0]), bases.resolve(refs[1]), step.bytes);
      continue;
    }
    for (uint32_t a = 0; a < step.numArgs; ++a)
      args[a] = bases.resolve(refs[a]);
    step.fn(args.data());
  }
}

/// The controller chose a path outside the model's path set.
Status badPolicyPath(const Model::Impl &m, int64_t value) {
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

/// Index of the variant for `path`, rounding up to the nearest deeper
/// compiled path, else the deepest; sets `rounded` when it is not `path`.
size_t roundUp(const std::vector<VariantInfo> &variants, int32_t path,
               bool &rounded) {
  for (size_t i = 0; i < variants.size(); ++i)
    if (variants[i].path >= path) {
      rounded = variants[i].path != path;
      return i;
    }
  rounded = true;
  return variants.size() - 1;
}
} // namespace

Status Session::run(const std::vector<Tensor> &inputs,
                    std::vector<Tensor> &outputs, const RunOptions &options,
                    RunInfo *info) {
  const std::vector<TensorSpec> &specs = model_->inputs();
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
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor &t = inputs[i];
    const TensorSpec &spec = specs[i];
    if (t.dtype() != spec.dtype || t.shape() != spec.shape)
      return Status::error(ErrorCode::InvalidArgument,
                           "input " + std::to_string(i) + " '" + spec.name +
                               "': expected " +
                               describeType(spec.dtype, spec.shape) + ", got " +
                               describeType(t.dtype(), t.shape()));
    inputData[i] = t.data();
  }

  const std::vector<TensorSpec> &outSpecs = model_->outputs();
  if (!outputs.empty() && outputs.size() != outSpecs.size())
    return Status::error(ErrorCode::InvalidArgument,
                         "expected " + std::to_string(outSpecs.size()) +
                             " output tensors (or none, to have the session "
                             "allocate them), got " +
                             std::to_string(outputs.size()));
  outputs.resize(outSpecs.size());
  std::vector<void *> outputData(outputs.size());
  for (size_t o = 0; o < outputs.size(); ++o) {
    const TensorSpec &spec = outSpecs[o];
    if (!outputs[o].data()) {
      Expected<Tensor> t = Tensor::allocate(spec.dtype, spec.shape);
      if (!t)
        return t.status();
      outputs[o] = std::move(*t);
    } else if (outputs[o].dtype() != spec.dtype ||
               outputs[o].shape() != spec.shape) {
      return Status::error(ErrorCode::InvalidArgument,
                           "output " + std::to_string(o) + " '" + spec.name +
                               "': expected " +
                               describeType(spec.dtype, spec.shape) +
                               ", got " +
                               describeType(outputs[o].dtype(),
                                            outputs[o].shape()));
    }
    outputData[o] = outputs[o].data();
  }
  return runRaw(inputData.data(), outputData.data(), options, info);
}

Status Session::runRaw(const void *const *inputs, void *const *outputs,
                       const RunOptions &options, RunInfo *info) {
  const Model::Impl &m = *model_->impl_;
  const std::vector<VariantInfo> &variants = m.variantInfo;
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

  RunInfo result;
  Bases bases{static_cast<uint8_t *>(arena_), m.weights, inputs};
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

  if (options.dispatch == Dispatch::Fixed) {
    const VariantInfo *v = model_->findVariant(options.path);
    if (!v)
      return Status::error(
          ErrorCode::InvalidArgument,
          "path " + std::to_string(options.path) + " is not compiled into '" +
              m.filePath + "'; compiled paths: " + compiledPaths(*model_) +
              (variants.front().path == -1
                   ? " (a static model: its one variant has path -1)"
                   : ""));
    chosen = static_cast<size_t>(v - variants.data());
    result.requestedPath = options.path;
  } else if (options.dispatch == Dispatch::Budget) {
    // Fail before doing any work when nothing fits.
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

  int64_t value = -1;
  if (runController) {
    auto start = std::chrono::steady_clock::now();
    if (cuda_) {
      if (Status st = cuda_->runController(value); !st)
        return st;
    } else {
      execute(m.controller, bases, args_);
      std::memcpy(&value,
                  bases.resolve(m.controller.outputs[m.controllerPathOutput]),
                  sizeof(value));
    }
    controllerUs = microsecondsSince(start);
    result.controllerFlops = m.controller.flops;
  }
  if (needPolicy) {
    int32_t policyPath;
    if (m.hasController) {
      if (value < 0 || value >= static_cast<int64_t>(m.numPaths))
        return badPolicyPath(m, value);
      policyPath = static_cast<int32_t>(value);
    } else {
      // No controller: the full model (deepest variant) is the default.
      policyPath = variants.back().path;
    }
    result.requestedPath = policyPath;
    chosen = roundUp(variants, policyPath, result.rounded);
    if (options.dispatch == Dispatch::Budget &&
        variants[chosen].flops > options.budgetFlops) {
      for (size_t i = variants.size(); i-- > 0;)
        if (variants[i].flops <= options.budgetFlops) {
          chosen = i;
          break;
        }
      result.budgetLimited = true;
    }
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
    execute(plan, variantBases, args_);
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
  }
  return Status::success();
}

} // namespace tac::rt
