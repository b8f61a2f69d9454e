// The C API: a thin layer over the C++ one that turns Status into tac_status
// plus a thread-local message.
#include "tacrt/tacrt.h"
#include "tacrt/tacrt.hpp"

#include <cstring>
#include <optional>

using namespace tac::rt;

struct tac_model {
  ModelRef model;
};
struct tac_session {
  std::unique_ptr<Session> session;
  std::vector<int32_t> lastPaths; // per row of the last successful run
};

static_assert(TAC_BOOL == static_cast<int>(DType::Bool) &&
                  TAC_U64 == static_cast<int>(DType::U64),
              "tac_dtype mirrors the .tacm DType");

namespace {
thread_local std::string lastError;

/// The integer a C caller stored in an enum field or argument. C allows any
/// int there; in C++ reading an enum outside its enumerators' range is
/// undefined, so the API reads the bytes and checks the value itself.
template <typename Enum> int enumValue(const Enum &field) {
  static_assert(sizeof(Enum) == sizeof(int), "C enums are ints");
  int value;
  std::memcpy(&value, &field, sizeof value);
  return value;
}

tac_status fail(ErrorCode code, std::string message) {
  lastError = std::move(message);
  switch (code) {
  case ErrorCode::Ok: return TAC_OK;
  case ErrorCode::InvalidArgument: return TAC_ERROR_INVALID_ARGUMENT;
  case ErrorCode::InvalidFile: return TAC_ERROR_INVALID_FILE;
  case ErrorCode::Unsupported: return TAC_ERROR_UNSUPPORTED;
  case ErrorCode::OutOfMemory: return TAC_ERROR_OUT_OF_MEMORY;
  case ErrorCode::Internal: return TAC_ERROR_INTERNAL;
  }
  return TAC_ERROR_INTERNAL;
}

tac_status fail(const Status &status) {
  return fail(status.code(), status.message());
}

/// An options struct the caller filled: refused unless its struct_size is
/// this header's (it was not filled with its init function, or was compiled
/// against another version of tacrt.h).
template <typename Struct>
tac_status checkStructSize(const Struct &options, const char *name) {
  if (options.struct_size == sizeof(Struct))
    return TAC_OK;
  return fail(ErrorCode::InvalidArgument,
              std::string(name) + ".struct_size is " +
                  std::to_string(options.struct_size) + ", expected " +
                  std::to_string(sizeof(Struct)) + ": fill the options with " +
                  name + "_init (and rebuild against this tacrt.h)");
}

/// The spec `index` of `specs`, or null with the error set.
const TensorSpec *spec(const tac_model *model, size_t index, bool input,
                       const char *function) {
  if (!model) {
    lastError = std::string(function) + ": model is NULL";
    return nullptr;
  }
  const auto &specs = input ? model->model->inputs() : model->model->outputs();
  if (index >= specs.size()) {
    lastError = std::string(function) + ": index " + std::to_string(index) +
                " out of range (the model has " + std::to_string(specs.size()) +
                (input ? " inputs)" : " outputs)");
    return nullptr;
  }
  return &specs[index];
}

/// A load's result as a C handle in `*model` (null on failure).
tac_status adopt(Expected<ModelRef> loaded, tac_model **model) {
  *model = nullptr;
  if (!loaded)
    return fail(loaded.status());
  *model = new tac_model{std::move(*loaded)};
  return TAC_OK;
}
} // namespace

extern "C" {

const char *tac_last_error(void) { return lastError.c_str(); }
const char *tac_version(void) { return version(); }
const char *tac_dtype_name(tac_dtype dtype) {
  int value = enumValue(dtype);
  return value >= 0 && value <= TAC_U64
             ? dtypeName(static_cast<DType>(value))
             : "unknown";
}

tac_status tac_model_load(const char *path, tac_model **model) {
  return tac_model_load_pinned(path, nullptr, nullptr, model);
}

tac_status tac_model_load_pinned(const char *path, const char *sha256,
                                 const char *producer, tac_model **model) {
  if (!path || !model)
    return fail(ErrorCode::InvalidArgument,
                "tac_model_load: path and model must not be NULL");
  LoadOptions options;
  options.requireSha256 = sha256 ? sha256 : "";
  options.requireProducer = producer ? producer : "";
  return adopt(Model::load(path, options), model);
}

tac_status tac_model_load_memory(const void *data, size_t size,
                                 tac_model **model) {
  if ((!data && size) || !model)
    return fail(ErrorCode::InvalidArgument,
                "tac_model_load_memory: data and model must not be NULL");
  return adopt(Model::loadFromMemory(data, size), model);
}

void tac_model_free(tac_model *model) { delete model; }

size_t tac_model_num_inputs(const tac_model *model) {
  return model ? model->model->inputs().size() : 0;
}
size_t tac_model_num_outputs(const tac_model *model) {
  return model ? model->model->outputs().size() : 0;
}

#define TACRT_SPEC_ACCESSORS(kind, isInput)                                    \
  const char *tac_model_##kind##_name(const tac_model *model, size_t index) { \
    const TensorSpec *s = spec(model, index, isInput, __func__);               \
    return s ? s->name.c_str() : nullptr;                                      \
  }                                                                            \
  tac_dtype tac_model_##kind##_dtype(const tac_model *model, size_t index) {  \
    const TensorSpec *s = spec(model, index, isInput, __func__);               \
    return s ? static_cast<tac_dtype>(s->dtype) : TAC_F32;                     \
  }                                                                            \
  size_t tac_model_##kind##_rank(const tac_model *model, size_t index) {      \
    const TensorSpec *s = spec(model, index, isInput, __func__);               \
    return s ? s->shape.size() : 0;                                            \
  }                                                                            \
  const int64_t *tac_model_##kind##_shape(const tac_model *model,             \
                                          size_t index) {                      \
    const TensorSpec *s = spec(model, index, isInput, __func__);               \
    return s ? s->shape.data() : nullptr;                                      \
  }                                                                            \
  size_t tac_model_##kind##_byte_size(const tac_model *model, size_t index) { \
    const TensorSpec *s = spec(model, index, isInput, __func__);               \
    return s ? static_cast<size_t>(s->byteSize) : 0;                           \
  }
TACRT_SPEC_ACCESSORS(input, true)
TACRT_SPEC_ACCESSORS(output, false)
#undef TACRT_SPEC_ACCESSORS

const char *tac_model_producer(const tac_model *model) {
  return model ? model->model->producer().c_str() : "";
}
uint32_t tac_model_num_paths(const tac_model *model) {
  return model ? model->model->numPaths() : 0;
}
size_t tac_model_num_variants(const tac_model *model) {
  return model ? model->model->variants().size() : 0;
}
int32_t tac_model_variant_path(const tac_model *model, size_t index) {
  if (!model || index >= model->model->variants().size())
    return -1;
  return model->model->variants()[index].path;
}
uint64_t tac_model_variant_flops(const tac_model *model, size_t index) {
  if (!model || index >= model->model->variants().size())
    return 0;
  return model->model->variants()[index].flops;
}
uint64_t tac_model_controller_flops(const tac_model *model) {
  return model ? model->model->controllerFlops() : 0;
}

tac_status tac_session_create(tac_model *model, tac_session **session) {
  return tac_session_create_with_options(model, nullptr, session);
}

void tac_session_options_init(tac_session_options *options) {
  if (!options)
    return;
  SessionOptions defaults;
  *options = tac_session_options{};
  options->struct_size = sizeof(tac_session_options);
  options->device = TAC_DEVICE_CPU;
  options->cuda_device = defaults.cudaDevice;
  options->gpu_dispatch = TAC_GPU_DISPATCH_HOST;
  options->cuda_graphs = defaults.cudaGraphs;
  options->cublas = defaults.cublas;
  options->allow_tf32 = defaults.allowTf32;
  options->cublas_in_switch = defaults.cublasInSwitch;
  options->gemm_threads = defaults.gemmThreads;
  options->threads = defaults.threads;
}

void tac_run_options_init(tac_run_options *options) {
  if (!options)
    return;
  *options = tac_run_options{};
  options->struct_size = sizeof(tac_run_options);
  options->dispatch = TAC_DISPATCH_AUTO;
}

tac_status tac_session_create_with_options(tac_model *model,
                                           const tac_session_options *options,
                                           tac_session **session) {
  if (!model || !session)
    return fail(ErrorCode::InvalidArgument,
                "tac_session_create: model and session must not be NULL");
  *session = nullptr;
  SessionOptions o;
  if (options) {
    if (tac_status st = checkStructSize(*options, "tac_session_options"))
      return st;
    int device = enumValue(options->device);
    int dispatch = enumValue(options->gpu_dispatch);
    if (device != TAC_DEVICE_CPU && device != TAC_DEVICE_CUDA)
      return fail(ErrorCode::InvalidArgument,
                  "tac_session_options.device is " + std::to_string(device) +
                      ": use TAC_DEVICE_CPU or TAC_DEVICE_CUDA");
    if (dispatch != TAC_GPU_DISPATCH_HOST && dispatch != TAC_GPU_DISPATCH_DEVICE)
      return fail(ErrorCode::InvalidArgument,
                  "tac_session_options.gpu_dispatch is " +
                      std::to_string(dispatch) +
                      ": use TAC_GPU_DISPATCH_HOST or TAC_GPU_DISPATCH_DEVICE");
    o.device = device == TAC_DEVICE_CUDA ? Device::Cuda : Device::Cpu;
    o.cudaDevice = options->cuda_device;
    o.dispatch = dispatch == TAC_GPU_DISPATCH_DEVICE ? GpuDispatch::Device
                                                     : GpuDispatch::Host;
    o.cudaGraphs = options->cuda_graphs != 0;
    o.cublas = options->cublas != 0;
    o.allowTf32 = options->allow_tf32 != 0;
    o.cublasInSwitch = options->cublas_in_switch != 0;
    o.gemmThreads = options->gemm_threads;
    o.threads = options->threads;
  }
  Expected<std::unique_ptr<Session>> created = Session::create(model->model, o);
  if (!created)
    return fail(created.status());
  *session = new tac_session{std::move(*created)};
  return TAC_OK;
}

void tac_session_free(tac_session *session) { delete session; }

tac_status tac_session_run(tac_session *session, const tac_tensor *inputs,
                           size_t num_inputs, tac_tensor *outputs,
                           size_t num_outputs, const tac_run_options *options,
                           tac_run_info *info) {
  if (!session)
    return fail(ErrorCode::InvalidArgument, "tac_session_run: session is NULL");
  const Model &model = session->session->model();
  const std::vector<TensorSpec> &in = model.inputs();
  const std::vector<TensorSpec> &out = model.outputs();
  if (num_inputs != in.size() || (num_inputs > 0 && !inputs)) {
    std::string names;
    for (const TensorSpec &s : in)
      names += (names.empty() ? "" : ", ") + s.name;
    return fail(ErrorCode::InvalidArgument,
                "expected " + std::to_string(in.size()) + " inputs (" + names +
                    "), got " + std::to_string(num_inputs));
  }
  if (num_outputs != out.size() || (num_outputs > 0 && !outputs))
    return fail(ErrorCode::InvalidArgument,
                "expected " + std::to_string(out.size()) +
                    " output buffers, got " + std::to_string(num_outputs));

  std::vector<const void *> inputData(num_inputs);
  std::optional<uint64_t> rows;
  for (size_t i = 0; i < num_inputs; ++i) {
    const tac_tensor &t = inputs[i];
    const TensorSpec &s = in[i];
    if (t.rank > 0 && !t.shape)
      return fail(ErrorCode::InvalidArgument,
                  "input " + std::to_string(i) + " '" + s.name +
                      "': rank " + std::to_string(t.rank) +
                      " but shape is NULL");
    std::vector<int64_t> shape(t.shape, t.shape + t.rank);
    std::optional<uint64_t> n = rowsOf(shape, s.shape);
    int dtype = enumValue(t.dtype);
    if (dtype != static_cast<int>(s.dtype) || !n)
      return fail(ErrorCode::InvalidArgument,
                  "input " + std::to_string(i) + " '" + s.name +
                      "': expected " + describeType(s.dtype, s.shape) +
                      " (or N rows: " + describeRows(s.dtype, s.shape) +
                      "), got " +
                      (dtype >= 0 && dtype <= TAC_U64
                           ? describeType(static_cast<DType>(dtype), shape)
                           : "dtype " + std::to_string(dtype) +
                                 " (not a tac_dtype)"));
    if (*n == 0 || (rows && *rows != *n))
      return fail(ErrorCode::InvalidArgument,
                  "input " + std::to_string(i) + " '" + s.name + "' has " +
                      std::to_string(*n) +
                      " rows; every input needs the same number of rows, "
                      "at least one");
    rows = n;
    if (t.byte_size != s.byteSize * *n)
      return fail(ErrorCode::InvalidArgument,
                  "input " + std::to_string(i) + " '" + s.name + "': byte_size " +
                      std::to_string(t.byte_size) + ", expected " +
                      std::to_string(s.byteSize * *n));
    inputData[i] = t.data;
  }
  uint64_t n = rows.value_or(1);
  std::vector<void *> outputData(num_outputs);
  for (size_t o = 0; o < num_outputs; ++o) {
    if (outputs[o].byte_size < out[o].byteSize * n)
      return fail(ErrorCode::InvalidArgument,
                  "output " + std::to_string(o) + " '" + out[o].name +
                      "': the buffer has " +
                      std::to_string(outputs[o].byte_size) +
                      " bytes, the output needs " +
                      std::to_string(out[o].byteSize * n) + " (" +
                      describeType(out[o].dtype, batchShape(out[o].shape, n)) +
                      ")");
    outputData[o] = outputs[o].data;
  }

  RunOptions runOptions;
  if (options) {
    if (tac_status st = checkStructSize(*options, "tac_run_options"))
      return st;
    switch (enumValue(options->dispatch)) {
    case TAC_DISPATCH_AUTO: break;
    case TAC_DISPATCH_FIXED: runOptions = RunOptions::fixed(options->path); break;
    case TAC_DISPATCH_BUDGET:
      runOptions = RunOptions::budget(options->budget_flops);
      break;
    default:
      return fail(ErrorCode::InvalidArgument,
                  "tac_run_options.dispatch " +
                      std::to_string(enumValue(options->dispatch)) +
                      " is not a tac_dispatch value (AUTO, FIXED, BUDGET)");
    }
  }
  RunInfo runInfo;
  Status status = session->session->runRows(n, inputData.data(),
                                            outputData.data(), runOptions,
                                            &runInfo);
  if (!status)
    return fail(status);
  session->lastPaths = std::move(runInfo.paths);
  if (info) {
    info->path = runInfo.path;
    info->requested_path = runInfo.requestedPath;
    info->rounded = runInfo.rounded;
    info->budget_limited = runInfo.budgetLimited;
    info->flops = runInfo.flops;
    info->controller_flops = runInfo.controllerFlops;
    info->time_us = runInfo.timeUs;
    // Point into the model (alive as long as the session) rather than the
    // per-run copy.
    const VariantInfo *variant = model.findVariant(runInfo.path);
    info->layers = variant->layers.data();
    info->num_layers = variant->layers.size();
  }
  return TAC_OK;
}

const int32_t *tac_session_last_paths(const tac_session *session,
                                      size_t *rows) {
  if (rows)
    *rows = session ? session->lastPaths.size() : 0;
  return session && !session->lastPaths.empty() ? session->lastPaths.data()
                                                : nullptr;
}

uint32_t tac_model_num_batch_sizes(const tac_model *model) {
  return model ? static_cast<uint32_t>(model->model->batchSizes().size()) : 0;
}

uint32_t tac_model_batch_size(const tac_model *model, uint32_t index) {
  if (!model)
    return 0;
  std::vector<uint32_t> sizes = model->model->batchSizes();
  return index < sizes.size() ? sizes[index] : 0;
}

} // extern "C"
