// The CUDA executor of one Session (docs/cuda.md): device buffers, kernels,
// cuBLASLt GEMMs and one instantiated CUDA Graph per plan.
#ifndef TACRT_LIB_CUDAEXECUTOR_H
#define TACRT_LIB_CUDAEXECUTOR_H

#include "CudaApi.h"
#include "ModelImpl.h"

namespace tac::rt {

/// A model's weights on one device: uploaded once, shared by every CUDA
/// session of the model there, freed with the last of them.
struct DeviceWeights {
  const cuda::Driver *cu = nullptr;
  cuda::CUdevice device = 0;
  cuda::CUcontext context = nullptr; // the device's primary context, retained
  cuda::CUdeviceptr pointer = 0;
  DeviceWeights() = default;
  DeviceWeights(const DeviceWeights &) = delete;
  DeviceWeights &operator=(const DeviceWeights &) = delete;
  ~DeviceWeights();
};

class CudaExecutor {
public:
  /// Loads the model's GPU code, uploads the weights, allocates the arena
  /// and captures + instantiates one graph per plan (and, for
  /// GpuDispatch::Device, the SWITCH graph).
  static Expected<std::unique_ptr<CudaExecutor>>
  create(const Model &model, const SessionOptions &options);
  ~CudaExecutor();
  CudaExecutor(const CudaExecutor &) = delete;
  CudaExecutor &operator=(const CudaExecutor &) = delete;

  /// Copies the inputs to the device (once per run).
  Status copyIn(const void *const *inputs);
  /// Runs the controller and returns its path (reads 8 bytes back).
  Status runController(int64_t &path);
  /// Runs variant `index`, copies its outputs to the host, waits.
  Status runVariant(size_t index, void *const *outputs);
  /// GpuDispatch::Device: controller, select and the chosen variant in one
  /// graph launch; returns the variant index the device chose (-1: the
  /// controller's path was out of range) and the path value.
  Status runDeviceDispatch(void *const *outputs, int32_t &variant,
                           int64_t &path);
  bool deviceDispatch() const { return switchExec_ != nullptr; }
  std::string summary() const { return summary_; }

private:
  explicit CudaExecutor(const Model &model) : model_(model) {}
  Status init(const SessionOptions &options);
  Status check(cuda::CUresult result, const char *what) const;
  cuda::CUdeviceptr resolve(const format::BufferRefDesc &ref) const;
  Status setUpGemms(const SessionOptions &options);
  /// The model's weights on this device: the ones another session uploaded,
  /// or uploaded now.
  Status shareWeights(int ordinal);
  /// Enqueues every step of `plan` on the stream (captured or not).
  /// useBlas false: GEMM kernels that have generated launches use them.
  Status enqueue(const ExecPlan &plan, bool useBlas = true);
  Status capture(const ExecPlan &plan, cuda::CUgraphExec &exec);
  Status instantiate(cuda::CUgraph graph, cuda::CUgraphExec &exec);
  /// The select kernel's buffers, then the SWITCH graph (captureSwitchGraph).
  Status buildSwitchGraph(const SessionOptions &options);
  Status captureSwitchGraph(int32_t tableSize, bool blasInBodies);
  /// Whether every GEMM on cuBLASLt also has generated kernels in the file.
  bool everyGemmHasKernels() const;
  Status launchPlan(const ExecPlan &plan, cuda::CUgraphExec exec);

  struct Gemm {
    bool ready = false;
    cuda::cublasLtMatmulDesc_t desc = nullptr;
    cuda::cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cuda::cublasLtMatmulAlgo_t algo{};
  };

  const Model &model_;
  const ModelImpl *m_ = nullptr;
  const cuda::Driver *cu_ = nullptr;
  const cuda::Blas *blas_ = nullptr;
  cuda::CUdevice device_ = 0;
  cuda::CUcontext context_ = nullptr;
  cuda::CUstream stream_ = nullptr;
  cuda::CUlibrary library_ = nullptr;
  cuda::CUlibrary selectLibrary_ = nullptr;
  cuda::CUfunction selectFn_ = nullptr;
  // functions_[kernel][launch]
  std::vector<std::vector<cuda::CUfunction>> functions_;
  std::shared_ptr<DeviceWeights> sharedWeights_;
  cuda::CUdeviceptr arena_ = 0, scratch_ = 0, workspace_ = 0;
  uint64_t scratchBytes_ = 0, workspaceBytes_ = 0;
  std::vector<cuda::CUdeviceptr> inputs_;
  // GpuDispatch::Device: each output staged at a fixed place, the path
  // table, the chosen variant.
  std::vector<cuda::CUdeviceptr> staged_;
  cuda::CUdeviceptr table_ = 0, chosen_ = 0; // chosen_: a TacSelection
  void *host_ = nullptr; // pinned, 64 bytes: the path / a TacSelection
  cuda::cublasLtHandle_t blasHandle_ = nullptr;
  std::vector<Gemm> gemms_; // parallel to the kernels
  bool graphs_ = true;
  cuda::CUgraphExec controllerExec_ = nullptr;
  std::vector<cuda::CUgraphExec> variantExecs_;
  cuda::CUgraphExec switchExec_ = nullptr;
  bool blasInSwitch_ = false;  // the SWITCH bodies' GEMMs on cuBLASLt
  std::string switchFallback_; // why cuBLASLt in the bodies was given up
  std::string summary_;
};

} // namespace tac::rt

#endif // TACRT_LIB_CUDAEXECUTOR_H
