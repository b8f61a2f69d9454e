/* classify.c: a complete application of the tac runtime's C API.
 *
 *   tacrt-classify model.tacm [VALUE]
 *
 * Loads a compiled model, fills every float input with VALUE (default 0.5;
 * other element types with zeros), runs it once with automatic dispatch and
 * prints the path the controller chose, its cost and the first values of
 * each output. Build: cc classify.c -ltacrt.
 */
#include <tacrt/tacrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
  fprintf(stderr, "classify: %s: %s\n", what, tac_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s model.tacm [VALUE]\n", argv[0]);
    return 2;
  }
  float value = argc == 3 ? strtof(argv[2], NULL) : 0.5f;

  tac_model *model = NULL;
  if (tac_model_load(argv[1], &model) != TAC_OK)
    return fail("cannot load the model");
  printf("model: %s (%s), %u paths\n", argv[1], tac_model_producer(model),
         tac_model_num_paths(model));

  /* One buffer per input and output, sized from the model's signature. */
  size_t num_inputs = tac_model_num_inputs(model);
  size_t num_outputs = tac_model_num_outputs(model);
  tac_tensor *inputs = calloc(num_inputs + 1, sizeof(tac_tensor));
  tac_tensor *outputs = calloc(num_outputs + 1, sizeof(tac_tensor));
  for (size_t i = 0; i < num_inputs; ++i) {
    tac_tensor *t = &inputs[i];
    t->dtype = tac_model_input_dtype(model, i);
    t->rank = tac_model_input_rank(model, i);
    t->shape = tac_model_input_shape(model, i);
    t->byte_size = tac_model_input_byte_size(model, i);
    t->data = calloc(1, t->byte_size + 1); /* calloc: aligned, zeroed */
    if (t->dtype == TAC_F32)
      for (size_t e = 0; e < t->byte_size / sizeof(float); ++e)
        ((float *)t->data)[e] = value;
  }
  for (size_t o = 0; o < num_outputs; ++o) {
    outputs[o].byte_size = tac_model_output_byte_size(model, o);
    outputs[o].data = calloc(1, outputs[o].byte_size + 1);
  }

  tac_session *session = NULL;
  if (tac_session_create(model, &session) != TAC_OK)
    return fail("cannot create a session");
  tac_run_info info;
  tac_run_options options;
  tac_run_options_init(&options); /* automatic dispatch */
  if (tac_session_run(session, inputs, num_inputs, outputs, num_outputs,
                      &options, &info) != TAC_OK)
    return fail("the run failed");

  printf("path: %d", info.path);
  if (info.rounded)
    printf(" (the policy chose %d, not compiled: rounded up)",
           info.requested_path);
  printf("\nlayers: %zu\nflops: %llu (controller %llu)\ntime: %.1f us\n",
         info.num_layers, (unsigned long long)info.flops,
         (unsigned long long)info.controller_flops, info.time_us);
  for (size_t o = 0; o < num_outputs; ++o) {
    printf("%s:", tac_model_output_name(model, o));
    if (tac_model_output_dtype(model, o) == TAC_F32) {
      const float *y = outputs[o].data;
      size_t n = outputs[o].byte_size / sizeof(float);
      for (size_t e = 0; e < n && e < 8; ++e)
        printf(" %g", y[e]);
    } else {
      printf(" (%s)", tac_dtype_name(tac_model_output_dtype(model, o)));
    }
    printf("\n");
  }

  tac_session_free(session);
  tac_model_free(model);
  for (size_t i = 0; i < num_inputs; ++i)
    free(inputs[i].data);
  for (size_t o = 0; o < num_outputs; ++o)
    free(outputs[o].data);
  free(inputs);
  free(outputs);
  return 0;
}
