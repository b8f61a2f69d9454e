/* Time per row of a many-row GEMM against a small weight, called in row
 * chunks of different sizes (the CPU BLAS bridge's chunking rule,
 * docs/backend.md "GEMMs in batches"). One thread; best of 7 runs of 20.
 *
 *   cc -O2 bench/gemm_row_chunks.c -o /tmp/gemm_row_chunks \
 *      /usr/lib/x86_64-linux-gnu/libopenblas.so.0 && /tmp/gemm_row_chunks
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void cblas_sgemm(int, int, int, int, int, int, float, const float *, int,
                 const float *, int, float, float *, int);
void openblas_set_num_threads(int);

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(void) {
  openblas_set_num_threads(1);
  enum { M = 544 }; /* 32 rows x 17 tokens, the bundled ViT at batch 32 */
  const int shapes[][2] = {{192, 64}, {64, 64}, {128, 64}, {64, 128}};
  /* the last column: the bridge's rule, 10^6 / (n k) rows per call */
  int chunks[] = {16, 32, 64, 128, 256, M, 0};
  float *a = calloc((size_t)M * 256, 4), *b = calloc(256 * 256, 4),
        *c = calloc((size_t)M * 256, 4);
  printf("M=%d, us per whole GEMM by rows per call\n", M);
  for (int s = 0; s < 4; ++s) {
    int n = shapes[s][0], k = shapes[s][1];
    printf("n=%d k=%d:", n, k);
    chunks[6] = 1000000 / (n * k);
    for (int ci = 0; ci < 7; ++ci) {
      int chunk = chunks[ci];
      double best = 1e18;
      for (int t = 0; t < 7; ++t) {
        double t0 = now_us();
        for (int r = 0; r < 20; ++r)
          for (int m = 0; m < M; m += chunk) {
            int rows = M - m < chunk ? M - m : chunk;
            cblas_sgemm(101, 111, 111, rows, n, k, 1.0f, a + m * k, k, b, n,
                        0.0f, c + m * n, n);
          }
        double dt = (now_us() - t0) / 20;
        if (dt < best)
          best = dt;
      }
      printf(" %s%d: %.0f |", ci == 6 ? "rule " : "", chunk, best);
    }
    printf("\n");
  }
  free(a);
  free(b);
  free(c);
  return 0;
}
