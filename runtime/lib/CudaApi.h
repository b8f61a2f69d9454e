// The few CUDA driver and cuBLASLt entry points the CUDA executor uses,
// declared here (both are stable C ABIs) and resolved at run time with
// dlopen/dlsym: libtacrt links neither libcuda nor cuBLAS, needs no CUDA
// headers to build, and every binary starts on a machine without a driver.
// The values below are CUDA 13's (cuda.h, cublasLt.h); test/Cuda checks
// them against the toolkit headers when the toolkit is installed.
#ifndef TACRT_LIB_CUDAAPI_H
#define TACRT_LIB_CUDAAPI_H

#include "tacrt/tacrt.hpp"

#include <cstddef>
#include <cstdint>

namespace tac::rt::cuda {

// ---- Driver types --------------------------------------------------------
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUgraphConditionalHandle = unsigned long long;
struct CUctx_st;
struct CUlib_st;
struct CUkern_st;
struct CUfunc_st;
struct CUstream_st;
struct CUgraph_st;
struct CUgraphExec_st;
struct CUgraphNode_st;
using CUcontext = CUctx_st *;
using CUlibrary = CUlib_st *;
using CUkernel = CUkern_st *;
using CUfunction = CUfunc_st *;
using CUstream = CUstream_st *;
using CUgraph = CUgraph_st *;
using CUgraphExec = CUgraphExec_st *;
using CUgraphNode = CUgraphNode_st *;

struct CUgraphEdgeData {
  unsigned char from_port, to_port, type, reserved[5];
};

inline constexpr CUresult CUDA_SUCCESS = 0;
inline constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
inline constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
inline constexpr unsigned CU_STREAM_NON_BLOCKING = 1;
inline constexpr int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;
inline constexpr int CU_GRAPH_NODE_TYPE_CONDITIONAL = 13;
inline constexpr int CU_GRAPH_COND_TYPE_SWITCH = 2;
inline constexpr unsigned CU_GRAPH_COND_ASSIGN_DEFAULT = 1;
inline constexpr unsigned long long CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD = 2;

struct CUDA_CONDITIONAL_NODE_PARAMS {
  CUgraphConditionalHandle handle;
  int type;
  unsigned size;
  CUgraph *phGraph_out;
  CUcontext ctx;
};

struct CUgraphNodeParams {
  int type;
  int reserved0[3];
  union {
    long long reserved1[29];
    CUDA_CONDITIONAL_NODE_PARAMS conditional;
  };
  long long reserved2;
};
static_assert(sizeof(CUgraphNodeParams) == 256, "CUgraphNodeParams layout");

struct CUDA_GRAPH_INSTANTIATE_PARAMS {
  uint64_t flags;
  CUstream hUploadStream;
  CUgraphNode hErrNode_out;
  int result_out;
};

// ---- cuBLASLt types -------------------------------------------------------
using cublasStatus_t = int;
struct cublasLtContext;
using cublasLtHandle_t = cublasLtContext *;
struct cublasLtMatmulDescOpaque_t;
using cublasLtMatmulDesc_t = cublasLtMatmulDescOpaque_t *;
struct cublasLtMatrixLayoutOpaque_t;
using cublasLtMatrixLayout_t = cublasLtMatrixLayoutOpaque_t *;
struct cublasLtMatmulPreferenceOpaque_t;
using cublasLtMatmulPreference_t = cublasLtMatmulPreferenceOpaque_t *;
struct cublasLtMatmulAlgo_t {
  uint64_t data[8];
};
struct cublasLtMatmulHeuristicResult_t {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  cublasStatus_t state;
  float wavesCount;
  int reserved[4];
};

inline constexpr cublasStatus_t CUBLAS_STATUS_SUCCESS = 0;
inline constexpr int CUBLAS_COMPUTE_32F = 68;
inline constexpr int CUBLAS_COMPUTE_32F_FAST_TF32 = 77;
inline constexpr int CUDA_R_32F = 0;
inline constexpr int CUBLAS_OP_N = 0;
inline constexpr int CUBLAS_OP_T = 1;
inline constexpr int CUBLASLT_MATMUL_DESC_TRANSA = 3;
inline constexpr int CUBLASLT_MATMUL_DESC_TRANSB = 4;
inline constexpr int CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5;
inline constexpr int CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6;
inline constexpr int CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1;
inline constexpr int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5;
inline constexpr int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6;
inline constexpr int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7;
inline constexpr int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8;

/// The resolved driver entry points (ABI names: cuMemAlloc is cuMemAlloc_v2
/// and so on, as cuda.h maps them for CUDA 13).
struct Driver {
  void *handle = nullptr;
  int version = 0; // cuDriverGetVersion
#define TACRT_CU(name, ...) CUresult (*name)(__VA_ARGS__) = nullptr;
#include "CudaApi.def"
#undef TACRT_CU
  /// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)" for `result`.
  std::string describe(CUresult result) const;
};

struct Blas {
  void *handle = nullptr;
#define TACRT_BLAS(name, ...) cublasStatus_t (*name)(__VA_ARGS__) = nullptr;
#include "CudaApi.def"
#undef TACRT_BLAS
};

/// dlopens `library`, resolves every entry point and runs cuInit(0). Fails
/// with "no CUDA driver (<library> not found)" when it cannot be opened.
Status loadDriver(const char *library, Driver &out);
/// The process-wide driver (libcuda.so.1, or $TACRT_LIBCUDA), loaded once.
Expected<const Driver *> driver();
/// Whether a CUDA device is usable here; `why` says why not ("no CUDA
/// driver (libcuda.so.1 not found)", "no CUDA device").
bool deviceAvailable(std::string *why = nullptr);
/// cuBLASLt (libcublasLt.so.13, else libcublasLt.so), or an error.
Expected<const Blas *> blas();

} // namespace tac::rt::cuda

#endif // TACRT_LIB_CUDAAPI_H
