/* The C-API side of bench/python_overhead.py: times tac_session_run on one
 * input set, call by call, in the calling process. Built by that script as
 * a shared object and called once per round (the per-run cost is C only).
 *
 *   int tac_bench_c_loop(const char *tacm, const void *const *inputs,
 *                        int calls, double *ns);   // ns[calls] per call
 */
#include "tacrt/tacrt.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int tac_bench_c_loop(const char *tacm, const void *const *inputs, int calls,
                     double *ns) {
  tac_model *model = NULL;
  tac_session *session = NULL;
  if (tac_model_load(tacm, &model) != TAC_OK ||
      tac_session_create(model, &session) != TAC_OK) {
    fprintf(stderr, "c_api_loop: %s\n", tac_last_error());
    tac_model_free(model);
    return 1;
  }
  size_t ni = tac_model_num_inputs(model), no = tac_model_num_outputs(model);
  tac_tensor *in = calloc(ni, sizeof(tac_tensor));
  tac_tensor *out = calloc(no, sizeof(tac_tensor));
  for (size_t i = 0; i < ni; ++i) {
    in[i].data = (void *)inputs[i];
    in[i].dtype = tac_model_input_dtype(model, i);
    in[i].rank = tac_model_input_rank(model, i);
    in[i].shape = tac_model_input_shape(model, i);
    in[i].byte_size = tac_model_input_byte_size(model, i);
  }
  for (size_t o = 0; o < no; ++o) {
    out[o].byte_size = tac_model_output_byte_size(model, o);
    out[o].data = aligned_alloc(64, (out[o].byte_size + 63) / 64 * 64 + 64);
  }
  int status = 0;
  for (int c = -50; c < calls && status == 0; ++c) { /* 50 warm-up calls */
    double t0 = now_ns();
    if (tac_session_run(session, in, ni, out, no, NULL, NULL) != TAC_OK) {
      fprintf(stderr, "c_api_loop: %s\n", tac_last_error());
      status = 1;
    }
    if (c >= 0)
      ns[c] = now_ns() - t0;
  }
  for (size_t o = 0; o < no; ++o)
    free(out[o].data);
  free(in);
  free(out);
  tac_session_free(session);
  tac_model_free(model);
  return status;
}
