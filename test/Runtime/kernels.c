/* Kernels for the runtime tests, built into a shared object whose bytes the
 * tests embed as a .tacm code object. ABI: void symbol(void *const *args);
 * every tensor is float32[4] unless noted. */
#include <stdint.h>

#define N 4

/* args: out, a, b */
void tac_test_mul(void *const *args) {
  float *out = args[0];
  const float *a = args[1], *b = args[2];
  for (int i = 0; i < N; ++i)
    out[i] = a[i] * b[i];
}

/* args: out, a, b */
void tac_test_add(void *const *args) {
  float *out = args[0];
  const float *a = args[1], *b = args[2];
  for (int i = 0; i < N; ++i)
    out[i] = a[i] + b[i];
}

/* args: out, in */
void tac_test_relu(void *const *args) {
  float *out = args[0];
  const float *in = args[1];
  for (int i = 0; i < N; ++i)
    out[i] = in[i] > 0 ? in[i] : 0;
}

/* The controller. args: path (int64), score (float32), x.
 * score = sum(x); path = floor(score) clamped to [0, 3]. */
void tac_test_policy(void *const *args) {
  int64_t *path = args[0];
  float *score = args[1];
  const float *x = args[2];
  float sum = 0;
  for (int i = 0; i < N; ++i)
    sum += x[i];
  *score = sum;
  *path = sum < 1 ? 0 : sum < 2 ? 1 : sum < 3 ? 2 : 3;
}
