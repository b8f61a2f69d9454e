// CudaApi.h declares the CUDA driver and cuBLASLt values libtacrt uses
// without the toolkit's headers; with the toolkit installed, check each one
// against cuda.h / cublasLt.h at compile time (this program only has to
// build; running it prints one line).
#include "CudaApi.h" // first: cuda.h #defines cuMemAlloc & co.

// cuda.h makes this one a macro: take the value before including it.
constexpr unsigned kTacAssignDefault =
    tac::rt::cuda::CU_GRAPH_COND_ASSIGN_DEFAULT;

#include <cstddef>
#include <cstdio>
#include <cublasLt.h>
#include <cuda.h>

namespace t = tac::rt::cuda;

static_assert(t::CUDA_SUCCESS == CUDA_SUCCESS);
static_assert(t::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR ==
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
static_assert(t::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR ==
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
static_assert(t::CU_STREAM_NON_BLOCKING == CU_STREAM_NON_BLOCKING);
static_assert(t::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL ==
              CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
static_assert(t::CU_GRAPH_NODE_TYPE_CONDITIONAL ==
              CU_GRAPH_NODE_TYPE_CONDITIONAL);
static_assert(t::CU_GRAPH_COND_TYPE_SWITCH == CU_GRAPH_COND_TYPE_SWITCH);
static_assert(kTacAssignDefault == CU_GRAPH_COND_ASSIGN_DEFAULT);
static_assert(t::CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD ==
              CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD);
static_assert(sizeof(t::CUgraphNodeParams) == sizeof(CUgraphNodeParams));
static_assert(offsetof(t::CUgraphNodeParams, conditional) ==
              offsetof(CUgraphNodeParams, conditional));
static_assert(sizeof(t::CUDA_CONDITIONAL_NODE_PARAMS) ==
              sizeof(CUDA_CONDITIONAL_NODE_PARAMS));
static_assert(offsetof(t::CUDA_CONDITIONAL_NODE_PARAMS, phGraph_out) ==
              offsetof(CUDA_CONDITIONAL_NODE_PARAMS, phGraph_out));
static_assert(offsetof(t::CUDA_CONDITIONAL_NODE_PARAMS, ctx) ==
              offsetof(CUDA_CONDITIONAL_NODE_PARAMS, ctx));
static_assert(sizeof(t::CUDA_GRAPH_INSTANTIATE_PARAMS) ==
              sizeof(CUDA_GRAPH_INSTANTIATE_PARAMS));
static_assert(sizeof(t::CUgraphEdgeData) == sizeof(CUgraphEdgeData));
static_assert(t::CUBLAS_COMPUTE_32F == CUBLAS_COMPUTE_32F);
static_assert(t::CUBLAS_COMPUTE_32F_FAST_TF32 == CUBLAS_COMPUTE_32F_FAST_TF32);
static_assert(t::CUDA_R_32F == CUDA_R_32F);
static_assert(t::CUBLAS_OP_N == CUBLAS_OP_N && t::CUBLAS_OP_T == CUBLAS_OP_T);
static_assert(t::CUBLASLT_MATMUL_DESC_TRANSA == CUBLASLT_MATMUL_DESC_TRANSA);
static_assert(t::CUBLASLT_MATMUL_DESC_TRANSB == CUBLASLT_MATMUL_DESC_TRANSB);
static_assert(t::CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT ==
              CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT);
static_assert(t::CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET ==
              CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET);
static_assert(t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES ==
              CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES);
static_assert(sizeof(t::cublasLtMatmulAlgo_t) == sizeof(cublasLtMatmulAlgo_t));
static_assert(sizeof(t::cublasLtMatmulHeuristicResult_t) ==
              sizeof(cublasLtMatmulHeuristicResult_t));

int main() {
  std::printf("CudaApi.h matches CUDA %d headers\n", CUDA_VERSION);
  return 0;
}
