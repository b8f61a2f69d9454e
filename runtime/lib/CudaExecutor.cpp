// The CUDA executor (docs/cuda.md). Everything a run needs is prepared when
// the session is created: the GPU code object loaded with
// cuLibraryLoadData, weights uploaded once, one device arena (the model's
// largest plan), cuBLASLt descriptors, algorithms and workspace chosen, and
// each plan captured on the session's stream into a CUDA Graph and
// instantiated with the upload flag. A run is then: inputs copied in,
// controller graph, 8-byte path read, the variant's graph, outputs copied
// out -- or, with GpuDispatch::Device, one graph launch for all of it.
#include "CudaExecutor.h"
#include "GemmAlignment.h"
#include "SelectVariant.h"

#include <algorithm>
#include <cstring>

#ifdef TACRT_HAVE_SELECT_KERNEL
#include "tacrt_select_fatbin.h" // tacrt_select_fatbin[], from CudaSelect.cu
#endif

namespace tac::rt {

using namespace cuda;

namespace {
Status unsupported(const std::string &message) {
  return Status::error(ErrorCode::Unsupported, message);
}
} // namespace

Status CudaExecutor::check(CUresult result, const char *what) const {
  if (result == CUDA_SUCCESS)
    return Status::success();
  ErrorCode code = result == 2 /*CUDA_ERROR_OUT_OF_MEMORY*/
                       ? ErrorCode::OutOfMemory
                       : ErrorCode::Internal;
  return Status::error(code, std::string("CUDA: ") + what + " failed: " +
                                 cu_->describe(result));
}

#define TACRT_CHECK(call, what)                                                \
  if (Status st_ = check((call), what); !st_)                                  \
    return st_;

Expected<std::unique_ptr<CudaExecutor>>
CudaExecutor::create(const Model &model, const SessionOptions &options) {
  std::unique_ptr<CudaExecutor> executor(new CudaExecutor(model));
  if (Status st = executor->init(options); !st)
    return st;
  return executor;
}

CudaExecutor::~CudaExecutor() {
  if (!cu_)
    return;
  if (context_)
    cu_->cuCtxSetCurrent(context_);
  if (stream_)
    cu_->cuStreamSynchronize(stream_);
  if (switchExec_)
    cu_->cuGraphExecDestroy(switchExec_);
  if (controllerExec_)
    cu_->cuGraphExecDestroy(controllerExec_);
  for (CUgraphExec exec : variantExecs_)
    if (exec)
      cu_->cuGraphExecDestroy(exec);
  if (blas_) {
    for (Gemm &g : gemms_) {
      if (g.desc)
        blas_->cublasLtMatmulDescDestroy(g.desc);
      for (cublasLtMatrixLayout_t l : {g.a, g.b, g.c})
        if (l)
          blas_->cublasLtMatrixLayoutDestroy(l);
    }
    if (blasHandle_)
      blas_->cublasLtDestroy(blasHandle_);
  }
  for (CUdeviceptr p : inputs_)
    if (p)
      cu_->cuMemFree(p);
  for (CUdeviceptr p : staged_)
    if (p)
      cu_->cuMemFree(p);
  for (CUdeviceptr p : {arena_, scratch_, workspace_, table_, chosen_})
    if (p)
      cu_->cuMemFree(p);
  if (host_)
    cu_->cuMemFreeHost(host_);
  if (library_)
    cu_->cuLibraryUnload(library_);
  if (selectLibrary_)
    cu_->cuLibraryUnload(selectLibrary_);
  if (stream_)
    cu_->cuStreamDestroy(stream_);
  if (context_)
    cu_->cuDevicePrimaryCtxRelease(device_);
}

DeviceWeights::~DeviceWeights() {
  if (!cu || !context)
    return;
  cu->cuCtxSetCurrent(context);
  if (pointer)
    cu->cuMemFree(pointer);
  cu->cuDevicePrimaryCtxRelease(device);
}

Status CudaExecutor::shareWeights(int ordinal) {
  ModelImpl &m = ModelImpl::of(model_);
  std::lock_guard<std::mutex> lock(m.deviceWeightsMutex);
  std::weak_ptr<DeviceWeights> &slot = m.deviceWeights[ordinal];
  if ((sharedWeights_ = slot.lock()))
    return Status::success();
  auto weights = std::make_shared<DeviceWeights>();
  weights->cu = cu_;
  weights->device = device_;
  TACRT_CHECK(cu_->cuDevicePrimaryCtxRetain(&weights->context, device_),
              "cuDevicePrimaryCtxRetain");
  TACRT_CHECK(cu_->cuMemAlloc(&weights->pointer,
                              std::max<uint64_t>(m.weightsSize, 256)),
              "allocating the weights");
  if (m.weightsSize) {
    TACRT_CHECK(cu_->cuMemcpyHtoDAsync(weights->pointer, m.weights,
                                       m.weightsSize, stream_),
                "uploading the weights");
    TACRT_CHECK(cu_->cuStreamSynchronize(stream_), "uploading the weights");
  }
  slot = weights;
  sharedWeights_ = std::move(weights);
  return Status::success();
}

CUdeviceptr CudaExecutor::resolve(const format::BufferRefDesc &ref) const {
  switch (ref.space) {
  case format::Space::Arena:
    return arena_ + ref.offset;
  case format::Space::Weights:
    return sharedWeights_->pointer + ref.offset;
  case format::Space::Input:
    return inputs_[ref.index] + ref.offset;
  }
  return 0;
}

Status CudaExecutor::init(const SessionOptions &options) {
  m_ = &ModelImpl::of(model_);
  const ModelImpl &m = *m_;
  if (!m.gpuCode)
    return unsupported("'" + m.filePath +
                       "' holds no CUDA code; recompile it with tac-compile "
                       "--target=cuda (or cpu,cuda)");
  Expected<const Driver *> d = driver();
  if (!d)
    return d.status();
  cu_ = *d;
  int count = 0;
  TACRT_CHECK(cu_->cuDeviceGetCount(&count), "cuDeviceGetCount");
  if (count == 0)
    return unsupported("no CUDA device");
  if (options.cudaDevice < 0 || options.cudaDevice >= count)
    return Status::error(ErrorCode::InvalidArgument,
                         "CUDA device " + std::to_string(options.cudaDevice) +
                             " does not exist (" + std::to_string(count) +
                             " device(s))");
  TACRT_CHECK(cu_->cuDeviceGet(&device_, options.cudaDevice), "cuDeviceGet");
  TACRT_CHECK(cu_->cuDevicePrimaryCtxRetain(&context_, device_),
              "cuDevicePrimaryCtxRetain");
  TACRT_CHECK(cu_->cuCtxSetCurrent(context_), "cuCtxSetCurrent");
  char name[256] = {};
  cu_->cuDeviceGetName(name, sizeof(name) - 1, device_);
  int major = 0, minor = 0;
  cu_->cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                            device_);
  cu_->cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                            device_);
  TACRT_CHECK(cu_->cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING),
              "cuStreamCreate");

  // Kernels.
  if (CUresult r = cu_->cuLibraryLoadData(&library_, m.gpuCode, nullptr,
                                          nullptr, 0, nullptr, nullptr, 0);
      r != CUDA_SUCCESS) {
    std::string archs;
    for (const std::string &a : m.gpuArchs)
      archs += (archs.empty() ? "" : ", ") + a;
    return unsupported("cannot load the CUDA kernels of '" + m.filePath +
                       "' (" + m.gpuCodeFormat + " for " + archs +
                       ") on " + name + " (sm_" + std::to_string(major) +
                       std::to_string(minor) + "): " + cu_->describe(r) +
                       "; recompile with --cuda-arch=sm_" +
                       std::to_string(major) + std::to_string(minor));
  }
  functions_.resize(m.gpuKernels.size());
  for (size_t k = 0; k < m.gpuKernels.size(); ++k)
    for (const format::GpuLaunchDesc &launch : m.gpuKernels[k].launches) {
      CUkernel kernel = nullptr;
      CUfunction fn = nullptr;
      if (CUresult r = cu_->cuLibraryGetKernel(&kernel, library_,
                                               launch.entry.c_str());
          r != CUDA_SUCCESS)
        return Status::error(ErrorCode::InvalidFile,
                             "'" + m.filePath + "': kernel entry '" +
                                 launch.entry + "' is missing from its CUDA "
                                 "code object: " + cu_->describe(r));
      TACRT_CHECK(cu_->cuKernelGetFunction(&fn, kernel), "cuKernelGetFunction");
      functions_[k].push_back(fn);
    }

  // Memory: the weights once per model and device, one arena, inputs,
  // overlap scratch.
  if (Status st = shareWeights(options.cudaDevice); !st)
    return st;
  uint64_t arenaBytes = std::max<uint64_t>(m.arenaBytes, 256);
  TACRT_CHECK(cu_->cuMemAlloc(&arena_, arenaBytes), "allocating the arena");
  for (const TensorSpec &input : m.inputs) {
    CUdeviceptr p = 0;
    TACRT_CHECK(cu_->cuMemAlloc(&p, std::max<uint64_t>(input.byteSize, 256)),
                "allocating an input buffer");
    inputs_.push_back(p);
  }
  TACRT_CHECK(cu_->cuMemAllocHost(&host_, 64), "cuMemAllocHost");
  auto overlapScratch = [&](const ExecPlan &plan) {
    for (const ExecStep &step : plan.steps) {
      if (step.kind != format::StepKind::Copy)
        continue;
      const format::BufferRefDesc *refs = plan.args.data() + step.firstArg;
      CUdeviceptr dst = resolve(refs[0]), src = resolve(refs[1]);
      if (dst < src + step.bytes && src < dst + step.bytes)
        scratchBytes_ = std::max(scratchBytes_, step.bytes);
    }
  };
  if (m.hasController)
    overlapScratch(m.controller);
  for (const ExecPlan &plan : m.variants)
    overlapScratch(plan);
  if (scratchBytes_)
    TACRT_CHECK(cu_->cuMemAlloc(&scratch_, scratchBytes_),
                "allocating copy scratch");

  if (Status st = setUpGemms(options); !st)
    return st;
  TACRT_CHECK(cu_->cuStreamSynchronize(stream_), "setting up the session");

  // One graph per plan.
  graphs_ = options.cudaGraphs;
  if (graphs_) {
    if (m.hasController)
      if (Status st = capture(m.controller, controllerExec_); !st)
        return st;
    variantExecs_.assign(m.variants.size(), nullptr);
    for (size_t v = 0; v < m.variants.size(); ++v)
      if (Status st = capture(m.variants[v], variantExecs_[v]); !st)
        return st;
  }
  if (options.dispatch == GpuDispatch::Device) {
    if (!m.hasController)
      return Status::error(ErrorCode::InvalidArgument,
                           "on-device dispatch needs a model with a "
                           "controller; '" + m.filePath +
                               "' is static: use --dispatch=host");
    if (Status st = buildSwitchGraph(options); !st)
      return st;
  }

  size_t numGemms = 0, blasGemms = 0, launches = 0;
  for (size_t k = 0; k < m.gpuKernels.size(); ++k) {
    numGemms += m.gpuKernels[k].hasGemm;
    blasGemms += gemms_.size() > k && gemms_[k].ready;
    launches += m.gpuKernels[k].launches.size();
  }
  summary_ = std::string(name) + " (sm_" + std::to_string(major) +
             std::to_string(minor) + "), driver " +
             std::to_string(cu_->version) + ", " +
             (graphs_ ? "CUDA graphs" : "stream replay") + ", " +
             std::to_string(blasGemms) + "/" + std::to_string(numGemms) +
             " GEMMs on cuBLASLt" + (options.allowTf32 ? " (TF32)" : "") +
             ", dispatch " +
             (!switchExec_ ? std::string("host")
              : blasInSwitch_
                  ? std::string("device (SWITCH node)")
                  : "device (SWITCH node, generated GEMMs in its bodies" +
                        (switchFallback_.empty()
                             ? std::string(")")
                             : "; cuBLASLt there failed: " + switchFallback_ +
                                   ")"));
  return Status::success();
}

Status CudaExecutor::setUpGemms(const SessionOptions &options) {
  const ModelImpl &m = *m_;
  gemms_.assign(m.gpuKernels.size(), Gemm());
  bool any = std::any_of(m.gpuKernels.begin(), m.gpuKernels.end(),
                         [](const auto &k) { return k.hasGemm; });
  if (!any || !options.cublas)
    return Status::success();
  Expected<const Blas *> b = blas();
  if (!b) {
    bool noLaunches = std::any_of(
        m.gpuKernels.begin(), m.gpuKernels.end(),
        [](const auto &k) { return k.hasGemm && k.launches.empty(); });
    if (noLaunches)
      return b.status();
    return Status::success(); // the generated kernels run the GEMMs
  }
  blas_ = *b;
  if (blas_->cublasLtCreate(&blasHandle_) != CUBLAS_STATUS_SUCCESS)
    return Status::error(ErrorCode::Internal, "cublasLtCreate failed");
  // Algorithms may use up to 32 MiB of workspace; the session allocates
  // what the chosen ones need (often nothing), once for all its GEMMs. It
  // is not shared between sessions: they run concurrently on their own
  // streams, and a workspace is scratch memory of the running GEMM.
  const uint64_t maxWorkspace = 32u << 20;
  cublasLtMatmulPreference_t pref = nullptr;
  if (blas_->cublasLtMatmulPreferenceCreate(&pref) != CUBLAS_STATUS_SUCCESS)
    return Status::error(ErrorCode::Internal,
                         "cublasLtMatmulPreferenceCreate failed");
  uint64_t ws = maxWorkspace;
  blas_->cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));

  // Each operand's alignment over every step that calls the kernel (all
  // plans a CUDA session runs), for the MIN_ALIGNMENT preferences.
  struct Alignment {
    uint32_t a = 256, b = 256, c = 256;
  };
  std::vector<Alignment> alignment(m.gpuKernels.size());
  auto alignPlan = [&](const ExecPlan &plan) {
    for (const ExecStep &step : plan.steps) {
      if (step.kind != format::StepKind::Kernel ||
          !m.gpuKernels[step.kernel].hasGemm)
        continue;
      const format::GemmDesc &g = m.gpuKernels[step.kernel].gemm;
      const format::BufferRefDesc *refs = plan.args.data() + step.firstArg;
      Alignment &al = alignment[step.kernel];
      al.a = std::min(al.a, gemmOperandAlignment(refs[g.aArg].offset,
                                                 g.strideA * 4, g.batch));
      al.b = std::min(al.b, gemmOperandAlignment(refs[g.bArg].offset,
                                                 g.strideB * 4, g.batch));
      al.c = std::min(al.c, gemmOperandAlignment(refs[g.cArg].offset,
                                                 g.strideC * 4, g.batch));
    }
  };
  if (m.hasController)
    alignPlan(m.controller);
  for (const ExecPlan &plan : m.variants)
    alignPlan(plan);

  // Row-major C (M x N) = A B is column-major C^T (N x M) = B^T A^T: cuBLAS
  // "A" is our B, "B" is our A, and the result is an N x M matrix.
  for (size_t k = 0; k < m.gpuKernels.size(); ++k) {
    if (!m.gpuKernels[k].hasGemm)
      continue;
    const format::GemmDesc &g = m.gpuKernels[k].gemm;
    Gemm &out = gemms_[k];
    uint32_t prefs[4][2] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment[k].b},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment[k].a},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment[k].c},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment[k].c}};
    for (auto [attribute, bytes] : prefs)
      blas_->cublasLtMatmulPreferenceSetAttribute(
          pref, static_cast<int>(attribute), &bytes, sizeof(bytes));
    int computeType =
        options.allowTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    bool ok = blas_->cublasLtMatmulDescCreate(&out.desc, computeType,
                                              CUDA_R_32F) ==
              CUBLAS_STATUS_SUCCESS;
    int32_t opA = g.bTrans ? CUBLAS_OP_T : CUBLAS_OP_N;
    int32_t opB = g.aTrans ? CUBLAS_OP_T : CUBLAS_OP_N;
    ok = ok && blas_->cublasLtMatmulDescSetAttribute(
                   out.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA,
                   sizeof(opA)) == CUBLAS_STATUS_SUCCESS;
    ok = ok && blas_->cublasLtMatmulDescSetAttribute(
                   out.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB,
                   sizeof(opB)) == CUBLAS_STATUS_SUCCESS;
    // Stored shapes (column-major): B row-major K x N is N x K (ld ldb);
    // B column-major is K x N. A row-major M x K is K x M; else M x K.
    uint64_t aRows = g.bTrans ? g.k : g.n, aCols = g.bTrans ? g.n : g.k;
    uint64_t bRows = g.aTrans ? g.m : g.k, bCols = g.aTrans ? g.k : g.m;
    ok = ok && blas_->cublasLtMatrixLayoutCreate(&out.a, CUDA_R_32F, aRows,
                                                 aCols, g.ldb) ==
                   CUBLAS_STATUS_SUCCESS;
    ok = ok && blas_->cublasLtMatrixLayoutCreate(&out.b, CUDA_R_32F, bRows,
                                                 bCols, g.lda) ==
                   CUBLAS_STATUS_SUCCESS;
    ok = ok && blas_->cublasLtMatrixLayoutCreate(&out.c, CUDA_R_32F, g.n, g.m,
                                                 g.ldc) ==
                   CUBLAS_STATUS_SUCCESS;
    if (ok && g.batch > 1) {
      int32_t batch = static_cast<int32_t>(g.batch);
      int64_t strides[3] = {static_cast<int64_t>(g.strideB),
                            static_cast<int64_t>(g.strideA),
                            static_cast<int64_t>(g.strideC)};
      cublasLtMatrixLayout_t layouts[3] = {out.a, out.b, out.c};
      for (int i = 0; i < 3 && ok; ++i)
        ok = blas_->cublasLtMatrixLayoutSetAttribute(
                 layouts[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch,
                 sizeof(batch)) == CUBLAS_STATUS_SUCCESS &&
             blas_->cublasLtMatrixLayoutSetAttribute(
                 layouts[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                 &strides[i], sizeof(strides[i])) == CUBLAS_STATUS_SUCCESS;
    }
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    ok = ok && blas_->cublasLtMatmulAlgoGetHeuristic(
                   blasHandle_, out.desc, out.a, out.b, out.c, out.c, pref, 1,
                   &result, &found) == CUBLAS_STATUS_SUCCESS &&
         found > 0;
    if (ok) {
      out.algo = result.algo;
      out.ready = true;
      workspaceBytes_ = std::max<uint64_t>(workspaceBytes_,
                                           result.workspaceSize);
    } else if (m.gpuKernels[k].launches.empty()) {
      blas_->cublasLtMatmulPreferenceDestroy(pref);
      return unsupported("cuBLASLt has no algorithm for GEMM kernel '" +
                         m.kernelSymbols[k] + "' and the file has no "
                         "fallback kernel for it");
    }
  }
  blas_->cublasLtMatmulPreferenceDestroy(pref);
  if (workspaceBytes_)
    TACRT_CHECK(cu_->cuMemAlloc(&workspace_, workspaceBytes_),
                "allocating the cuBLASLt workspace");
  return Status::success();
}

Status CudaExecutor::enqueue(const ExecPlan &plan, bool useBlas) {
  const ModelImpl &m = *m_;
  CUdeviceptr pointers[64];
  void *params[64];
  for (const ExecStep &step : plan.steps) {
    const format::BufferRefDesc *refs = plan.args.data() + step.firstArg;
    if (step.kind == format::StepKind::Copy) {
      CUdeviceptr dst = resolve(refs[0]), src = resolve(refs[1]);
      if (step.bytes == 0)
        continue;
      if (dst < src + step.bytes && src < dst + step.bytes) {
        TACRT_CHECK(cu_->cuMemcpyDtoDAsync(scratch_, src, step.bytes, stream_),
                    "a copy step");
        src = scratch_;
      }
      TACRT_CHECK(cu_->cuMemcpyDtoDAsync(dst, src, step.bytes, stream_),
                  "a copy step");
      continue;
    }
    const format::GpuKernelDesc &kernel = m.gpuKernels[step.kernel];
    const Gemm &gemm = gemms_[step.kernel];
    if (gemm.ready && (useBlas || kernel.launches.empty())) {
      const format::GemmDesc &g = kernel.gemm;
      float alpha = 1.0f, beta = g.beta;
      CUdeviceptr a = resolve(refs[g.aArg]), b = resolve(refs[g.bArg]),
                  c = resolve(refs[g.cArg]);
      if (blas_->cublasLtMatmul(
              blasHandle_, gemm.desc, &alpha, reinterpret_cast<void *>(b),
              gemm.a, reinterpret_cast<void *>(a), gemm.b, &beta,
              reinterpret_cast<void *>(c), gemm.c,
              reinterpret_cast<void *>(c), gemm.c, &gemm.algo,
              reinterpret_cast<void *>(workspace_), workspaceBytes_,
              stream_) != CUBLAS_STATUS_SUCCESS)
        return Status::error(ErrorCode::Internal,
                             "cublasLtMatmul failed for kernel '" +
                                 m.kernelSymbols[step.kernel] + "'");
      continue;
    }
    for (size_t l = 0; l < kernel.launches.size(); ++l) {
      const format::GpuLaunchDesc &launch = kernel.launches[l];
      if (launch.args.size() > 64)
        return unsupported("a GPU launch with more than 64 parameters");
      for (size_t a = 0; a < launch.args.size(); ++a) {
        pointers[a] = resolve(refs[launch.args[a]]);
        params[a] = &pointers[a];
      }
      TACRT_CHECK(cu_->cuLaunchKernel(
                      functions_[step.kernel][l], launch.grid[0],
                      launch.grid[1], launch.grid[2], launch.block[0],
                      launch.block[1], launch.block[2], launch.sharedBytes,
                      stream_, params, nullptr),
                  "cuLaunchKernel");
    }
  }
  return Status::success();
}

Status CudaExecutor::instantiate(CUgraph graph, CUgraphExec &exec) {
  CUDA_GRAPH_INSTANTIATE_PARAMS params{};
  params.flags = CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD;
  params.hUploadStream = stream_;
  CUresult r = cu_->cuGraphInstantiateWithParams(&exec, graph, &params);
  cu_->cuGraphDestroy(graph);
  return check(r, "cuGraphInstantiateWithParams");
}

Status CudaExecutor::capture(const ExecPlan &plan, CUgraphExec &exec) {
  TACRT_CHECK(cu_->cuStreamBeginCapture(stream_,
                                        CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
              "cuStreamBeginCapture");
  Status enqueued = enqueue(plan);
  CUgraph graph = nullptr;
  CUresult r = cu_->cuStreamEndCapture(stream_, &graph);
  if (!enqueued) {
    if (graph)
      cu_->cuGraphDestroy(graph);
    return enqueued;
  }
  TACRT_CHECK(r, "cuStreamEndCapture");
  return instantiate(graph, exec);
}

Status CudaExecutor::buildSwitchGraph(const SessionOptions &options) {
#ifndef TACRT_HAVE_SELECT_KERNEL
  return unsupported(
      "on-device dispatch needs the select kernel, and this libtacrt was "
      "built without nvcc (no CUDA toolkit at build time); use "
      "--dispatch=host or rebuild with the CUDA toolkit installed");
#else
  const ModelImpl &m = *m_;
  if (CUresult r = cu_->cuLibraryLoadData(&selectLibrary_, tacrt_select_fatbin,
                                          nullptr, nullptr, 0, nullptr,
                                          nullptr, 0);
      r != CUDA_SUCCESS)
    return unsupported("cannot load the on-device select kernel: " +
                       cu_->describe(r) + "; use --dispatch=host");
  CUkernel kernel = nullptr;
  TACRT_CHECK(cu_->cuLibraryGetKernel(&kernel, selectLibrary_,
                                      "tac_select_variant"),
              "cuLibraryGetKernel(tac_select_variant)");
  TACRT_CHECK(cu_->cuKernelGetFunction(&selectFn_, kernel),
              "cuKernelGetFunction");
  // path -> variant index, rounding up as the host dispatch does.
  std::vector<int32_t> table = deviceSwitchTable(m.variantInfo, m.numPaths);
  TACRT_CHECK(cu_->cuMemAlloc(&table_, table.size() * 4), "cuMemAlloc");
  TACRT_CHECK(cu_->cuMemcpyHtoDAsync(table_, table.data(), table.size() * 4,
                                     stream_),
              "cuMemcpyHtoDAsync");
  TACRT_CHECK(cu_->cuMemAlloc(&chosen_, sizeof(TacSelection)), "cuMemAlloc");
  for (const TensorSpec &output : m.outputs) {
    CUdeviceptr p = 0;
    TACRT_CHECK(cu_->cuMemAlloc(&p, std::max<uint64_t>(output.byteSize, 256)),
                "allocating an output buffer");
    staged_.push_back(p);
  }
  TACRT_CHECK(cu_->cuStreamSynchronize(stream_), "cuStreamSynchronize");

  // GEMMs in the SWITCH bodies: cuBLASLt unless asked otherwise; should the
  // driver refuse cuBLASLt's captured kernels inside a conditional body,
  // the generated kernels take over where the file has them.
  bool blasInBodies = options.cublasInSwitch && blas_ != nullptr;
  int32_t tableSize = static_cast<int32_t>(table.size());
  Status built = captureSwitchGraph(tableSize, blasInBodies);
  if (!built && blasInBodies && everyGemmHasKernels()) {
    switchFallback_ = built.message();
    blasInBodies = false;
    built = captureSwitchGraph(tableSize, false);
  }
  blasInSwitch_ = blasInBodies;
  return built;
#endif
}

bool CudaExecutor::everyGemmHasKernels() const {
  for (size_t k = 0; k < m_->gpuKernels.size(); ++k)
    if (gemms_[k].ready && m_->gpuKernels[k].launches.empty())
      return false;
  return true;
}

Status CudaExecutor::captureSwitchGraph(int32_t tableSize, bool blasInBodies) {
  const ModelImpl &m = *m_;
  CUgraph graph = nullptr;
  TACRT_CHECK(cu_->cuGraphCreate(&graph, 0), "cuGraphCreate");
  auto fail = [&](Status st) {
    cu_->cuGraphDestroy(graph);
    return st;
  };
  CUgraphConditionalHandle handle = 0;
  if (Status st = check(cu_->cuGraphConditionalHandleCreate(
                            &handle, graph, context_, 0,
                            CU_GRAPH_COND_ASSIGN_DEFAULT),
                        "cuGraphConditionalHandleCreate (needs a CUDA 12.8+ "
                        "driver)");
      !st)
    return fail(st);

  // Controller + select kernel, captured into the graph.
  if (Status st = check(cu_->cuStreamBeginCaptureToGraph(
                            stream_, graph, nullptr, nullptr, 0,
                            CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                        "cuStreamBeginCaptureToGraph");
      !st)
    return fail(st);
  Status enqueued = enqueue(m.controller);
  CUdeviceptr path = resolve(m.controller.outputs[m.controllerPathOutput]);
  void *params[] = {&handle, &path, &table_, &tableSize, &chosen_};
  if (enqueued)
    enqueued = check(cu_->cuLaunchKernel(selectFn_, 1, 1, 1, 1, 1, 1, 0,
                                         stream_, params, nullptr),
                     "launching the select kernel");
  std::vector<CUgraphNode> deps;
  if (enqueued) {
    int status = 0;
    const CUgraphNode *nodes = nullptr;
    size_t numNodes = 0;
    enqueued = check(cu_->cuStreamGetCaptureInfo(stream_, &status, nullptr,
                                                 nullptr, &nodes, nullptr,
                                                 &numNodes),
                     "cuStreamGetCaptureInfo");
    if (enqueued)
      deps.assign(nodes, nodes + numNodes);
  }
  CUgraph captured = nullptr;
  CUresult ended = cu_->cuStreamEndCapture(stream_, &captured);
  if (!enqueued)
    return fail(enqueued);
  if (Status st = check(ended, "cuStreamEndCapture"); !st)
    return fail(st);

  // The SWITCH node: body i is variant i plus copies of its outputs to the
  // staging buffers.
  CUgraphNodeParams node{};
  node.type = CU_GRAPH_NODE_TYPE_CONDITIONAL;
  node.conditional.handle = handle;
  node.conditional.type = CU_GRAPH_COND_TYPE_SWITCH;
  node.conditional.size = static_cast<unsigned>(m.variants.size());
  node.conditional.ctx = context_;
  CUgraphNode switchNode = nullptr;
  if (Status st = check(cu_->cuGraphAddNode(&switchNode, graph, deps.data(),
                                            nullptr, deps.size(), &node),
                        "adding the SWITCH node (needs a CUDA 12.8+ driver)");
      !st)
    return fail(st);
  for (size_t v = 0; v < m.variants.size(); ++v) {
    CUgraph body = node.conditional.phGraph_out[v];
    if (Status st = check(cu_->cuStreamBeginCaptureToGraph(
                              stream_, body, nullptr, nullptr, 0,
                              CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                          "capturing a SWITCH body");
        !st)
      return fail(st);
    Status st = enqueue(m.variants[v], blasInBodies);
    for (size_t o = 0; st && o < m.variants[v].outputs.size(); ++o)
      st = check(cu_->cuMemcpyDtoDAsync(staged_[o],
                                        resolve(m.variants[v].outputs[o]),
                                        m.variants[v].outputs[o].size, stream_),
                 "staging an output");
    CUgraph out = nullptr;
    CUresult r = cu_->cuStreamEndCapture(stream_, &out);
    if (!st)
      return fail(st);
    if (Status e = check(r, "cuStreamEndCapture (SWITCH body)"); !e)
      return fail(e);
  }
  return instantiate(graph, switchExec_);
}

Status CudaExecutor::copyIn(const void *const *inputs) {
  TACRT_CHECK(cu_->cuCtxSetCurrent(context_), "cuCtxSetCurrent");
  for (size_t i = 0; i < m_->inputs.size(); ++i)
    if (m_->inputs[i].byteSize)
      TACRT_CHECK(cu_->cuMemcpyHtoDAsync(inputs_[i], inputs[i],
                                         m_->inputs[i].byteSize, stream_),
                  "copying an input to the device");
  return Status::success();
}

Status CudaExecutor::launchPlan(const ExecPlan &plan, CUgraphExec exec) {
  if (graphs_)
    return check(cu_->cuGraphLaunch(exec, stream_), "cuGraphLaunch");
  return enqueue(plan);
}

Status CudaExecutor::runController(int64_t &path) {
  const ModelImpl &m = *m_;
  if (Status st = launchPlan(m.controller, controllerExec_); !st)
    return st;
  TACRT_CHECK(cu_->cuMemcpyDtoHAsync(
                  host_, resolve(m.controller.outputs[m.controllerPathOutput]),
                  8, stream_),
              "reading the controller's path");
  TACRT_CHECK(cu_->cuStreamSynchronize(stream_), "running the controller");
  std::memcpy(&path, host_, 8);
  return Status::success();
}

Status CudaExecutor::runVariant(size_t index, void *const *outputs) {
  const ExecPlan &plan = m_->variants[index];
  if (Status st = launchPlan(plan, graphs_ ? variantExecs_[index] : nullptr);
      !st)
    return st;
  for (size_t o = 0; o < plan.outputs.size(); ++o)
    if (plan.outputs[o].size)
      TACRT_CHECK(cu_->cuMemcpyDtoHAsync(outputs[o], resolve(plan.outputs[o]),
                                         plan.outputs[o].size, stream_),
                  "copying an output to the host");
  TACRT_CHECK(cu_->cuStreamSynchronize(stream_), "running the variant");
  return Status::success();
}

Status CudaExecutor::runDeviceDispatch(void *const *outputs, int32_t &variant,
                                       int64_t &path) {
  const ModelImpl &m = *m_;
  TACRT_CHECK(cu_->cuGraphLaunch(switchExec_, stream_),
              "cuGraphLaunch (device dispatch)");
  // The select kernel's slot, not the controller's output: the variant that
  // ran after it may have reused that arena memory.
  TACRT_CHECK(cu_->cuMemcpyDtoHAsync(host_, chosen_, sizeof(TacSelection),
                                     stream_),
              "reading the path and the chosen variant");
  for (size_t o = 0; o < m.outputs.size(); ++o)
    if (m.outputs[o].byteSize)
      TACRT_CHECK(cu_->cuMemcpyDtoHAsync(outputs[o], staged_[o],
                                         m.outputs[o].byteSize, stream_),
                  "copying an output to the host");
  TACRT_CHECK(cu_->cuStreamSynchronize(stream_), "running the graph");
  TacSelection selection;
  std::memcpy(&selection, host_, sizeof selection);
  path = selection.path;
  variant = selection.variant;
  return Status::success();
}

} // namespace tac::rt
