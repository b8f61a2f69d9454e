/* tacrt.h: the C API of libtacrt, the tac runtime (link with -ltacrt).
 *
 * Load a compiled .tacm model once, create one session per thread, run.
 * Every function returns a tac_status; on failure tac_last_error() holds a
 * message (per thread) saying what is wrong and what to do. Nothing throws.
 *
 *   tac_model *model;
 *   if (tac_model_load("model.tacm", &model) != TAC_OK) {
 *     fprintf(stderr, "%s\n", tac_last_error()); return 1;
 *   }
 *   tac_session *session;
 *   tac_session_create(model, &session);
 *   tac_tensor in = {x, TAC_F32, 2, shape, sizeof x};
 *   tac_tensor out = {y, TAC_F32, 0, NULL, sizeof y};
 *   tac_run_info info;
 *   tac_session_run(session, &in, 1, &out, 1, NULL, &info);
 *   printf("path %d\n", info.path);
 *   tac_session_free(session); tac_model_free(model);
 *
 * See docs/runtime.md.
 */
#ifndef TACRT_TACRT_H
#define TACRT_TACRT_H

#include "tacrt/export.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tac_status {
  TAC_OK = 0,
  TAC_ERROR_INVALID_ARGUMENT = 1, /* a bad argument, input or option */
  TAC_ERROR_INVALID_FILE = 2,     /* the .tacm file is missing or damaged */
  TAC_ERROR_UNSUPPORTED = 3,      /* cannot run here (format, CPU) */
  TAC_ERROR_OUT_OF_MEMORY = 4,
  TAC_ERROR_INTERNAL = 5          /* the model misbehaved at run time */
} tac_status;

/* Element types; the values are the .tacm DType values. */
typedef enum tac_dtype {
  TAC_F32 = 0, TAC_F16, TAC_BF16, TAC_F64, TAC_I8, TAC_I16, TAC_I32,
  TAC_I64, TAC_U8, TAC_BOOL, TAC_U16, TAC_U32, TAC_U64
} tac_dtype;

typedef enum tac_dispatch {
  TAC_DISPATCH_AUTO = 0,   /* the controller picks the path */
  TAC_DISPATCH_FIXED = 1,  /* run tac_run_options.path */
  TAC_DISPATCH_BUDGET = 2  /* the controller's pick, capped at budget_flops */
} tac_dispatch;

/* A dense C-order tensor in caller memory. For inputs, dtype/rank/shape
 * must match the model's input and byte_size its size. For outputs only
 * data and byte_size are read: byte_size must be at least the output's
 * size; rank/shape may be 0/NULL. */
typedef struct tac_tensor {
  void *data;
  tac_dtype dtype;
  size_t rank;
  const int64_t *shape;
  size_t byte_size;
} tac_tensor;

/* How one run picks its variant. Fill it with tac_run_options_init, then
 * change fields: struct_size tells the runtime which version of this
 * struct the caller was compiled with. */
typedef struct tac_run_options {
  uint32_t struct_size;
  tac_dispatch dispatch; /* TAC_DISPATCH_AUTO */
  int32_t path;          /* TAC_DISPATCH_FIXED */
  uint64_t budget_flops; /* TAC_DISPATCH_BUDGET */
} tac_run_options;

typedef struct tac_run_info {
  int32_t path;           /* the variant that ran (-1: static model) */
  int32_t requested_path; /* what the policy (or FIXED) asked for */
  int rounded;            /* 1: requested path not compiled, rounded up */
  int budget_limited;     /* 1: the budget forced a cheaper variant */
  uint64_t flops;         /* variant + controller (when it ran) */
  uint64_t controller_flops;
  double time_us;         /* controller + variant */
  const int32_t *layers;  /* the layers that ran; owned by the model */
  size_t num_layers;
} tac_run_info;

typedef struct tac_model tac_model;
typedef struct tac_session tac_session;

/* The message of this thread's last failed call ("" if none). Valid until
 * this thread's next failing call. */
TACRT_API const char *tac_last_error(void);
/* "0.1.0" */
TACRT_API const char *tac_version(void);
TACRT_API const char *tac_dtype_name(tac_dtype dtype);

TACRT_API tac_status tac_model_load(const char *path, tac_model **model);
/* tac_model_load that refuses the file unless its SHA-256 (64 hex digits,
 * as sha256sum prints) and its producer ("tac 0.1.0") are the given ones;
 * NULL: any. A .tacm holds native code (docs/runtime.md, "Trust"). */
TACRT_API tac_status tac_model_load_pinned(const char *path, const char *sha256,
                                 const char *producer, tac_model **model);
/* The same from a .tacm file held in memory (the bytes are copied). */
TACRT_API tac_status tac_model_load_memory(const void *data, size_t size,
                                 tac_model **model);
TACRT_API void tac_model_free(tac_model *model);

TACRT_API size_t tac_model_num_inputs(const tac_model *model);
TACRT_API size_t tac_model_num_outputs(const tac_model *model);
/* Index out of range: NULL / TAC_F32 / 0 / NULL, and tac_last_error set. */
TACRT_API const char *tac_model_input_name(const tac_model *model, size_t index);
TACRT_API tac_dtype tac_model_input_dtype(const tac_model *model, size_t index);
TACRT_API size_t tac_model_input_rank(const tac_model *model, size_t index);
TACRT_API const int64_t *tac_model_input_shape(const tac_model *model, size_t index);
TACRT_API size_t tac_model_input_byte_size(const tac_model *model, size_t index);
TACRT_API const char *tac_model_output_name(const tac_model *model, size_t index);
TACRT_API tac_dtype tac_model_output_dtype(const tac_model *model, size_t index);
TACRT_API size_t tac_model_output_rank(const tac_model *model, size_t index);
TACRT_API const int64_t *tac_model_output_shape(const tac_model *model, size_t index);
TACRT_API size_t tac_model_output_byte_size(const tac_model *model, size_t index);

TACRT_API const char *tac_model_producer(const tac_model *model);
TACRT_API uint32_t tac_model_num_paths(const tac_model *model);
TACRT_API size_t tac_model_num_variants(const tac_model *model);
TACRT_API int32_t tac_model_variant_path(const tac_model *model, size_t index);
TACRT_API uint64_t tac_model_variant_flops(const tac_model *model, size_t index);
TACRT_API uint64_t tac_model_controller_flops(const tac_model *model);

/* A session holds a reference to the model: freeing the model first is
 * allowed. One session per thread. tac_session_create makes a CPU session
 * with the defaults of tac_session_options_init. */
TACRT_API tac_status tac_session_create(tac_model *model, tac_session **session);

typedef enum tac_device { TAC_DEVICE_CPU = 0, TAC_DEVICE_CUDA = 1 } tac_device;
typedef enum tac_gpu_dispatch {
  TAC_GPU_DISPATCH_HOST = 0,  /* the host reads the path, launches a graph */
  TAC_GPU_DISPATCH_DEVICE = 1 /* one graph with a SWITCH node (CUDA 12.8+) */
} tac_gpu_dispatch;

/* Where and how a session runs (docs/runtime.md). Fill it with
 * tac_session_options_init, then change fields: struct_size tells the
 * runtime which version of this struct the caller was compiled with. */
typedef struct tac_session_options {
  uint32_t struct_size;
  tac_device device;             /* TAC_DEVICE_CPU */
  int cuda_device;               /* 0: the CUDA device ordinal */
  tac_gpu_dispatch gpu_dispatch; /* TAC_GPU_DISPATCH_HOST */
  int cuda_graphs;               /* 1: one CUDA Graph per plan; 0: replay */
  int cublas;                    /* 1: GEMMs through cuBLASLt if present */
  int allow_tf32;                /* 0: cuBLASLt keeps FP32 inputs */
  int cublas_in_switch;          /* 1: device dispatch's bodies use cuBLASLt;
                                  * 0: the generated GEMM kernels */
  /* CPU: threads each BLAS GEMM call may use itself; 0: 1 when threads is
   * above 1, otherwise 1 or the process's BLAS setting when
   * OPENBLAS_NUM_THREADS or OMP_NUM_THREADS is set. The process's BLAS
   * setting is never changed for good. */
  int gemm_threads;
  /* CPU: threads the session runs on, the caller included (a pool of its
   * own splits the kernels' parallel loops and the GEMMs' rows; its workers
   * sleep between runs); 0: 1. At most 255. */
  int threads;
} tac_session_options;

TACRT_API void tac_session_options_init(tac_session_options *options);
/* The defaults: TAC_DISPATCH_AUTO. */
TACRT_API void tac_run_options_init(tac_run_options *options);
/* options NULL: the defaults. Errors name what is wrong (no CUDA device, a
 * CPU-only file on CUDA, GEMM threads the BLAS cannot honour, ...). */
TACRT_API tac_status tac_session_create_with_options(tac_model *model,
                                           const tac_session_options *options,
                                           tac_session **session);
TACRT_API void tac_session_free(tac_session *session);

/* Runs one input set, or a batch of N rows: each input's shape is the
 * model's with its leading 1 replaced by N (or a leading N added), its
 * byte_size N times the model's, and each output buffer has room for N rows.
 * Every row takes its own path (docs/runtime.md). options NULL:
 * TAC_DISPATCH_AUTO; info may be NULL. For a batch, info describes row 0
 * except flops, controller_flops and time_us (the whole batch); the path of
 * every row is tac_session_last_paths. */
TACRT_API tac_status tac_session_run(tac_session *session, const tac_tensor *inputs,
                           size_t num_inputs, tac_tensor *outputs,
                           size_t num_outputs, const tac_run_options *options,
                           tac_run_info *info);
/* The path each row of the session's last successful run took (owned by
 * the session, valid until its next run); *rows gets their count. */
TACRT_API const int32_t *tac_session_last_paths(const tac_session *session,
                                      size_t *rows);
/* The row counts the model's plans were compiled for (1, then
 * tac-compile --batch-sizes), ascending; index out of range: 0. */
TACRT_API uint32_t tac_model_num_batch_sizes(const tac_model *model);
TACRT_API uint32_t tac_model_batch_size(const tac_model *model, uint32_t index);

#ifdef __cplusplus
}
#endif

#endif /* TACRT_TACRT_H */
