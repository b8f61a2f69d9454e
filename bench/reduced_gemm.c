/* tac's GEMM by a packed weight in f32, bf16 and int8
 * (lib/Backend/Bridges/PackedGemm.c: tac_sgemm_packed, _bf16, _int8) on
 * the benchmark models' weight-GEMM shapes, one thread. Per shape: the best
 * of 7 rounds, each round timing the three back to back for about 0.2 GOP;
 * GOP/s counts 2 M K N. The weights are random, packed in each entry's
 * layout as the compiler stores them (int8 with scales and column sums);
 * the int8 time includes quantising A, which the entry does per call.
 *
 *   cc -O2 bench/reduced_gemm.c lib/Backend/Bridges/PackedGemm.c \
 *      -o /tmp/reduced_gemm && /tmp/reduced_gemm
 *
 * runs the code this CPU's features choose. Built with the file's test
 * hooks, it runs the code named (PackedGemm.c's
 * tac_packed_gemm_use_for_testing: "avx512vnni" is f32 and bf16 by
 * AVX-512 widening, int8 by VNNI; "avx512bf16" is bf16 by vdpbf16ps, int8
 * by AVX2; "avx2" all AVX2):
 *
 *   cc -O2 -DTAC_PACKED_GEMM_TESTING bench/reduced_gemm.c \
 *      lib/Backend/Bridges/PackedGemm.c -o /tmp/reduced_gemm_isa &&
 *   /tmp/reduced_gemm_isa avx512bf16
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENTRY(name)                                                            \
  void name(int64_t a, int64_t b, int64_t c, int64_t batch, int64_t m,        \
            int64_t n, int64_t k, int64_t ta, int64_t lda, int64_t ldc,       \
            int64_t sa, int64_t sc, float beta, int64_t outer, int64_t oa,    \
            int64_t oc, int64_t bBatch, int64_t bOuter);
ENTRY(tac_sgemm_packed)
ENTRY(tac_sgemm_packed_bf16)
ENTRY(tac_sgemm_packed_int8)
int tac_packed_gemm_use_for_testing(const char *isa);

/* The kernels' thread-pool hook: one thread here. */
void tac_parallel_for(void (*body)(void *, int64_t, int64_t), void *context,
                      int64_t iterations, int64_t cost) {
  (void)cost;
  body(context, 0, iterations);
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static float uniform(void) { return (float)rand() / RAND_MAX * 2.0f - 1.0f; }

int main(int argc, char **argv) {
  if (argc > 1) {
#ifdef TAC_PACKED_GEMM_TESTING
    if (!tac_packed_gemm_use_for_testing(argv[1])) {
      fprintf(stderr, "this CPU cannot run the %s code\n", argv[1]);
      return 1;
    }
#else
    fprintf(stderr, "choosing the code (%s) needs -DTAC_PACKED_GEMM_TESTING\n",
            argv[1]);
    return 2;
#endif
  }
  /* M x K x N: ViT-Small (197 tokens) and MiniLM (128 tokens) at batch 1
     and 32: qkv, fc1, fc2; and a one-row product. */
  static const struct { const char *name; int m, k, n; } shapes[] = {
      {"one row", 1, 384, 1152},         {"ViT-S qkv", 197, 384, 1152},
      {"ViT-S fc1", 197, 384, 1536},     {"ViT-S fc2", 197, 1536, 384},
      {"MiniLM fc1", 128, 384, 1536},    {"MiniLM fc2", 128, 1536, 384},
      {"ViT-S fc1 b32", 6304, 384, 1536}, {"MiniLM fc2 b32", 4096, 1536, 384},
  };
  printf("| shape | MxKxN | f32 us | bf16 us | int8 us | f32 GOP/s | bf16 GOP/s "
         "| int8 GOP/s | int8 / f32 |\n");
  printf("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; ++s) {
    int64_t M = shapes[s].m, K = shapes[s].k, N = shapes[s].n;
    int64_t panels = (N + 15) / 16, width = panels * 16;
    int64_t k8 = (K + 7) / 8 * 8;
    float *a = malloc(M * K * sizeof(float)), *c = malloc(M * N * sizeof(float));
    float *f32 = aligned_alloc(64, width * K * sizeof(float));
    uint16_t *bf16 = aligned_alloc(64, width * K * sizeof(uint16_t));
    uint8_t *int8 = aligned_alloc(64, width * 8 + width * k8);
    for (int64_t i = 0; i < M * K; ++i)
      a[i] = uniform();
    for (int64_t i = 0; i < width * K; ++i) {
      f32[i] = uniform();
      uint32_t bits;
      memcpy(&bits, &f32[i], 4);
      bf16[i] = (uint16_t)(bits >> 16);
    }
    /* int8: scales 1/63, column sums to match, values in [-63, 63] */
    memset(int8, 0, width * 8 + width * k8);
    for (int64_t j = 0; j < width; ++j)
      ((float *)int8)[j] = 1.0f / 63;
    int8_t *q = (int8_t *)(int8 + width * 8);
    for (int64_t p = 0; p < panels; ++p)
      for (int64_t kk = 0; kk < K; ++kk)
        for (int64_t j = 0; j < 16; ++j) {
          int8_t v = (int8_t)(rand() % 127 - 63);
          q[p * k8 * 16 + kk / 4 * 64 + j * 4 + kk % 4] = v;
          ((int32_t *)(int8 + width * 4))[p * 16 + j] += v;
        }
    const void *weights[3] = {f32, bf16, int8};
    void (*entry[3])(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                     int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                     float, int64_t, int64_t, int64_t, int64_t, int64_t) = {
        tac_sgemm_packed, tac_sgemm_packed_bf16, tac_sgemm_packed_int8};
    double ops = 2.0 * M * K * N, best[3] = {1e30, 1e30, 1e30};
    int reps = (int)(2e8 / ops) + 1;
    for (int round = 0; round < 7; ++round)
      for (int e = 0; e < 3; ++e) {
        double t0 = now_us();
        for (int r = 0; r < reps; ++r)
          entry[e]((int64_t)a, (int64_t)weights[e], (int64_t)c, 1, M, N, K, 0,
                   K, N, 0, 0, 0.0f, 1, 0, 0, 0, 0);
        double us = (now_us() - t0) / reps;
        if (us < best[e])
          best[e] = us;
      }
    printf("| %s | %ldx%ldx%ld | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | "
           "%.2f |\n",
           shapes[s].name, (long)M, (long)K, (long)N, best[0], best[1], best[2],
           ops / best[0] / 1e3, ops / best[1] / 1e3, ops / best[2] / 1e3,
           best[2] / best[0]);
    free(a);
    free(c);
    free(f32);
    free(bf16);
    free(int8);
  }
  return 0;
}
