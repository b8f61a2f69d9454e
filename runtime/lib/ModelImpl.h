// The loaded form of a .tacm model, shared by the loader and the executor.
#ifndef TACRT_LIB_MODELIMPL_H
#define TACRT_LIB_MODELIMPL_H

#include "tacm_format.h"
#include "tacrt/tacrt.hpp"

#include <map>
#include <memory>
#include <mutex>

namespace tac::rt {

using KernelFn = void (*)(void *const *args);

/// One step ready to run: the kernel's address resolved, its arguments a
/// slice of ExecPlan::args.
struct ExecStep {
  format::StepKind kind;
  uint32_t kernel;   // Kernel steps: index into the model's kernels
  uint32_t firstArg; // into ExecPlan::args
  uint32_t numArgs;
  uint64_t bytes;    // Copy steps
};

/// A verified plan in the executor's form.
struct ExecPlan {
  std::vector<ExecStep> steps;
  std::vector<format::BufferRefDesc> args;
  std::vector<format::BufferRefDesc> outputs;
  uint64_t flops = 0;
};

/// A shared object loaded from a code section; unloaded on destruction.
struct NativeCode {
  void *handle = nullptr;
  int fd = -1; // the memfd it was opened from, kept open while loaded
  NativeCode() = default;
  NativeCode(const NativeCode &) = delete;
  NativeCode &operator=(const NativeCode &) = delete;
  ~NativeCode();
};

/// The controller and variants compiled for `batch` rows per run.
struct BatchBucket {
  uint32_t batch = 1;
  ExecPlan controller;           // when the model has one
  std::vector<ExecPlan> variants; // parallel to ModelImpl::variants
  std::vector<bool> sharedCarried; // per carried result: one value, not per row
};

struct DeviceWeights; // CudaExecutor.h

/// The loaded model behind Model (its pimpl): not part of the ABI.
struct ModelImpl {
  /// The model's implementation (the runtime's own code reads it).
  static ModelImpl &of(const Model &model) { return *model.impl_; }
  /// Checks the caller's LoadOptions and the whole file held in
  /// `impl->mapping` (`size` bytes), then wraps it in a Model.
  static Expected<ModelRef> adopt(std::unique_ptr<ModelImpl> impl,
                                  uint64_t size, const LoadOptions &options);

  std::string filePath;
  std::string producer;
  // The read-only mapping of the whole file (weights are read in place).
  void *mapping = nullptr;
  size_t mappingSize = 0;
  const uint8_t *weights = nullptr;
  uint64_t weightsSize = 0;

  std::vector<TensorSpec> inputs, outputs;
  uint32_t numPaths = 0;
  bool hasController = false;
  uint32_t controllerPathOutput = 0;
  // The controller's last numCarried outputs are the variants' extra inputs;
  // variants then use the arena from variantArenaOffset.
  uint32_t numCarried = 0;
  uint64_t variantArenaOffset = 0;
  ExecPlan controller;
  std::vector<ExecPlan> variants; // parallel to variantInfo
  std::vector<VariantInfo> variantInfo;
  uint64_t arenaBytes = 0;
  /// Extra batch sizes (> 1), ascending (tac-compile --batch-sizes).
  std::vector<BatchBucket> buckets;
  /// Bytes of one row of each carried controller result.
  std::vector<uint64_t> carriedRowBytes;

  size_t codeIndex = 0;
  std::string codeCpu;
  bool hasCpuCode = false; // false: a --target=cuda file
  // The CPU code object chosen at load (bytes inside `mapping`), mapped by
  // the first CPU session: a CUDA-only user never loads the libraries it
  // links (the system BLAS).
  const uint8_t *cpuCodeBytes = nullptr;
  uint64_t cpuCodeSize = 0;
  std::string cpuCodeName; // "code object 0 (x86_64, znver3) of 'm.tacm'"
  /// Maps the CPU code object and resolves every kernel, once (thread
  /// safe); a failure is kept and returned to every later caller.
  Status mapCpuCode();
  // Set by mapCpuCode, read-only afterwards:
  NativeCode code;
  std::vector<KernelFn> kernelFns; // parallel to the kernels
  // tac_use_gemm_threads of the code object's BLAS bridge (absent: no BLAS
  // GEMMs): the calling thread's GEMM thread count; 1 when it can be honoured.
  int (*useGemmThreads)(int) = nullptr;
  // tac_use_thread_pool of the code object's thread bridge (absent: a file
  // compiled before kernels had threads): the calling thread's pool and the
  // function its kernels call to run a loop on it (ThreadPool::run).
  using PoolRun = void (*)(void *pool, void (*body)(void *, int64_t, int64_t),
                           void *context, int64_t iterations, int64_t cost);
  int (*useThreadPool)(void *pool, PoolRun run) = nullptr;
  std::mutex codeMutex;
  bool codeMapped = false;
  Status codeStatus;
  bool verifiedOnly = false; // loaded with LoadOptions::mapCode = false

  // CUDA (docs/cuda.md); empty gpuKernels: the file has no CUDA code.
  std::vector<format::GpuKernelDesc> gpuKernels; // parallel to the kernels
  std::vector<std::string> kernelSymbols;
  const uint8_t *gpuCode = nullptr; // the first GPU code object, in place
  uint64_t gpuCodeSize = 0;
  std::string gpuCodeFormat;        // "fatbin" | "ptx"
  std::vector<std::string> gpuArchs;
  // The weights on each CUDA device (by ordinal), uploaded by the first
  // CUDA session there and shared by the others (CudaExecutor.h).
  std::mutex deviceWeightsMutex;
  std::map<int, std::weak_ptr<DeviceWeights>> deviceWeights;

  ~ModelImpl();
};

/// Index of the variant for a policy `path`, rounding up to the nearest
/// deeper compiled path, else the deepest; sets `rounded` when it is not
/// `path`. Host dispatch uses it per run, device dispatch through
/// deviceSwitchTable.
size_t roundUpVariant(const std::vector<VariantInfo> &variants, int32_t path,
                      bool &rounded);
/// The select kernel's table (SelectVariant.h): entry p is
/// roundUpVariant(p) for every path p < numPaths (one entry at least).
std::vector<int32_t> deviceSwitchTable(const std::vector<VariantInfo> &variants,
                                       uint32_t numPaths);

/// Whether this CPU has `feature` (a name __builtin_cpu_supports takes);
/// nullopt for a name this runtime does not know.
std::optional<bool> cpuSupports(const std::string &feature);
/// The architecture this runtime runs on ("x86_64", "aarch64").
const char *hostArch();
/// dlopens a shared object held in memory (memfd, else an unlinked temp
/// file). `what` names it in error messages.
Status loadNativeCode(const uint8_t *bytes, size_t size,
                      const std::string &what, NativeCode &code);

} // namespace tac::rt

#endif // TACRT_LIB_MODELIMPL_H
