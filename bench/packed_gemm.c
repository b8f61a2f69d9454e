/* tac's packed-weight GEMM (lib/Backend/Bridges/PackedGemm.c) against
 * OpenBLAS's and oneDNN's sgemm on the benchmark models' GEMM shapes, one
 * thread, C = A * B with B a weight (tac's B packed beforehand, as the
 * compiler stores it; the libraries get it row-major). Per shape: the best
 * of 7 rounds, each round timing every library back to back for about
 * 0.2 GFLOP; checks that tac's C equals OpenBLAS's. Then the large
 * weights again, each call reading a B no cache holds (best of 5 rounds).
 *
 *   cc -O2 bench/packed_gemm.c lib/Backend/Bridges/PackedGemm.c \
 *      -o /tmp/packed_gemm /usr/lib/x86_64-linux-gnu/libopenblas.so.0 \
 *      -ldl -lm && OMP_NUM_THREADS=1 /tmp/packed_gemm
 *
 * oneDNN is loaded with dlopen (libdnnl.so.2, Debian's libdnnl2); without
 * it its column says "-".
 */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void cblas_sgemm(int, int, int, int, int, int, float, const float *, int,
                 const float *, int, float, float *, int);
void openblas_set_num_threads(int);
void tac_sgemm_packed(int64_t a, int64_t b, int64_t c, int64_t batch,
                      int64_t m, int64_t n, int64_t k, int64_t ta,
                      int64_t lda, int64_t ldc, int64_t sa, int64_t sc,
                      float beta, int64_t outer, int64_t oa, int64_t oc,
                      int64_t bBatch, int64_t bOuter);
/* The kernels' thread-pool hook: one thread here. */
void tac_parallel_for(void (*body)(void *, int64_t, int64_t), void *context,
                      int64_t iterations, int64_t cost) {
  (void)cost;
  body(context, 0, iterations);
}
void tac_sgemm_pack_b(int64_t a, int64_t b, int64_t c, int64_t batch,
                      int64_t m, int64_t n, int64_t k, int64_t ta,
                      int64_t tb, int64_t lda, int64_t ldb, int64_t ldc,
                      int64_t sa, int64_t sb, int64_t sc, float beta,
                      int64_t outer, int64_t oa, int64_t ob, int64_t oc);
/* oneDNN's row-major sgemm (dnnl.h), looked up at run time. */
typedef int (*dnnl_sgemm_fn)(char, char, int64_t, int64_t, int64_t, float,
                             const float *, int64_t, const float *, int64_t,
                             float, float *, int64_t);

/* One GEMM of the tables: M x K by K x N. */
struct gemm_shape {
  const char *name;
  int m, k, n;
};

/* Row-major K x N b in the layout tac's GEMM reads (PackedGemm.c): ceil(N /
   16) panels of K x 16, zero past N. */
static void pack_panels(const float *b, int K, int N, float *packed) {
  for (int p = 0; p < (N + 15) / 16; ++p)
    for (int k = 0; k < K; ++k)
      for (int j = 0; j < 16; ++j) {
        int n = p * 16 + j;
        packed[(long)p * K * 16 + k * 16 + j] = n < N ? b[(long)k * N + n] : 0;
      }
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(void) {
  openblas_set_num_threads(1);
  void *dnnl = dlopen("libdnnl.so.2", RTLD_NOW);
  dnnl_sgemm_fn dnnl_sgemm = dnnl ? (dnnl_sgemm_fn)dlsym(dnnl, "dnnl_sgemm") : 0;
  /* M x K x N: Fashion-MNIST ViT (17 tokens: qkv, fc1, fc2; 32 images),
     MiniLM (128 tokens), ViT-Small (197 tokens), a batch-1 head, the
     small exports (GPT-2-tiny: 20 tokens; ViT-tiny: 17), odd panels. */
  static const struct gemm_shape shapes[] = {
      {"fmnist qkv", 17, 64, 192},     {"fmnist fc1", 17, 64, 128},
      {"fmnist fc2", 17, 128, 64},     {"fmnist qkv b32", 544, 64, 192},
      {"MiniLM qkv", 128, 384, 1152},  {"MiniLM proj", 128, 384, 384},
      {"MiniLM fc1", 128, 384, 1536},  {"MiniLM fc2", 128, 1536, 384},
      {"ViT-S qkv", 197, 384, 1152},   {"ViT-S fc1", 197, 384, 1536},
      {"ViT-S fc2", 197, 1536, 384},   {"head, 1 row", 1, 384, 1536},
      {"GPT-2-tiny qkv", 20, 128, 384}, {"GPT-2-tiny fc1", 20, 128, 512},
      {"GPT-2-tiny fc2", 20, 512, 128}, {"ViT-tiny fc1", 17, 96, 384},
      {"one panel, N = 16", 96, 192, 16}, {"three panels", 17, 96, 48},
  };
  printf("| shape | MxKxN | OpenBLAS us | oneDNN us | tac us | OpenBLAS GFLOP/s "
         "| oneDNN GFLOP/s | tac GFLOP/s | tac / OpenBLAS | tac / oneDNN |\n");
  printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  int failed = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
    int M = shapes[s].m, K = shapes[s].k, N = shapes[s].n, P = (N + 15) / 16;
    float *a = malloc(4L * M * K), *b = malloc(4L * K * N);
    float *c1 = malloc(4L * M * N), *c2 = malloc(4L * M * N),
          *c3 = malloc(4L * M * N);
    float *packed = aligned_alloc(64, 4L * P * K * 16);
    for (long i = 0; i < (long)M * K; ++i)
      a[i] = (float)(rand() % 2001 - 1000) / 1000.0f;
    for (long i = 0; i < (long)K * N; ++i)
      b[i] = (float)(rand() % 2001 - 1000) / 1000.0f;
    pack_panels(b, K, N, packed);
    double flops = 2.0 * M * N * K;
    int reps = (int)(2e8 / flops / 3) + 3;
    double best[3] = {1e18, 1e18, 1e18};
    for (int round = 0; round < 7; ++round) {
      double t0 = now_us();
      for (int r = 0; r < reps; ++r)
        cblas_sgemm(101, 111, 111, M, N, K, 1.0f, a, K, b, N, 0.0f, c1, N);
      double t1 = now_us();
      if (dnnl_sgemm)
        for (int r = 0; r < reps; ++r)
          dnnl_sgemm('N', 'N', M, N, K, 1.0f, a, K, b, N, 0.0f, c3, N);
      double t2 = now_us();
      for (int r = 0; r < reps; ++r)
        tac_sgemm_packed((int64_t)a, (int64_t)packed, (int64_t)c2, 1, M, N, K,
                         0, K, N, 0, 0, 0.0f, 1, 0, 0, 0, 0);
      double t3 = now_us();
      double t[3] = {(t1 - t0) / reps, (t2 - t1) / reps, (t3 - t2) / reps};
      for (int e = 0; e < 3; ++e)
        if (t[e] < best[e])
          best[e] = t[e];
    }
    double err = 0;
    for (long i = 0; i < (long)M * N; ++i)
      err = fmax(err, fabs(c1[i] - c2[i]));
    if (err > 1e-5 * K)
      failed = 1;
    char dnnlUs[32] = "-", dnnlGf[32] = "-", dnnlRatio[32] = "-";
    if (dnnl_sgemm) {
      snprintf(dnnlUs, sizeof dnnlUs, "%.1f", best[1]);
      snprintf(dnnlGf, sizeof dnnlGf, "%.1f", flops / best[1] / 1e3);
      snprintf(dnnlRatio, sizeof dnnlRatio, "%.2f", best[2] / best[1]);
    }
    printf("| %s | %dx%dx%d | %.1f | %s | %.1f | %.1f | %s | %.1f | %.2f | %s |%s\n",
           shapes[s].name, M, K, N, best[0], dnnlUs, best[2],
           flops / best[0] / 1e3, dnnlGf, flops / best[2] / 1e3,
           best[2] / best[0], dnnlRatio, err > 1e-5 * K ? " MISMATCH" : "");
    free(a); free(b); free(c1); free(c2); free(c3); free(packed);
  }

  /* Weights from memory, as a model's are when they outgrow the caches
     (ViT-Small's 88 MB at batch 1): each call takes the next of enough
     copies of B to fill 64 MB, so no call finds its B in L2 or L3. */
  static const struct gemm_shape cold[] = {
      {"ViT-S qkv", 197, 384, 1152}, {"ViT-S fc1", 197, 384, 1536},
      {"ViT-S fc2", 197, 1536, 384}, {"MiniLM fc1", 128, 384, 1536},
      {"MiniLM fc2", 128, 1536, 384}, {"MiniLM qkv b32", 4096, 384, 1152},
  };
  printf("\n| shape, weights from memory | MxKxN | copies of B | OpenBLAS GFLOP/s "
         "| oneDNN GFLOP/s | tac GFLOP/s | tac / oneDNN |\n");
  printf("|---|---|---:|---:|---:|---:|---:|\n");
  for (size_t s = 0; s < sizeof cold / sizeof cold[0]; ++s) {
    int M = cold[s].m, K = cold[s].k, N = cold[s].n, P = (N + 15) / 16;
    long bFloats = (long)P * K * 16;
    int copies = (int)((64L << 20) / (4 * bFloats)) + 1;
    float *a = malloc(4L * M * K), *c = malloc(4L * M * N);
    float **plain = malloc(sizeof(float *) * copies),
          **packed = malloc(sizeof(float *) * copies);
    for (long i = 0; i < (long)M * K; ++i)
      a[i] = (float)(rand() % 2001 - 1000) / 1000.0f;
    for (int i = 0; i < copies; ++i) {
      plain[i] = malloc(4L * K * N);
      packed[i] = aligned_alloc(64, 4L * bFloats);
      for (long j = 0; j < (long)K * N; ++j)
        plain[i][j] = (float)(rand() % 2001 - 1000) / 1000.0f;
      pack_panels(plain[i], K, N, packed[i]);
    }
    double flops = 2.0 * M * N * K;
    int reps = copies * ((int)(3e8 / flops / copies) + 1);
    double best[3] = {1e18, 1e18, 1e18};
    for (int round = 0; round < 5; ++round) {
      double t0 = now_us();
      for (int r = 0; r < reps; ++r)
        cblas_sgemm(101, 111, 111, M, N, K, 1.0f, a, K, plain[r % copies], N,
                    0.0f, c, N);
      double t1 = now_us();
      if (dnnl_sgemm)
        for (int r = 0; r < reps; ++r)
          dnnl_sgemm('N', 'N', M, N, K, 1.0f, a, K, plain[r % copies], N, 0.0f,
                     c, N);
      double t2 = now_us();
      for (int r = 0; r < reps; ++r)
        tac_sgemm_packed((int64_t)a, (int64_t)packed[r % copies], (int64_t)c,
                         1, M, N, K, 0, K, N, 0, 0, 0.0f, 1, 0, 0, 0, 0);
      double t3 = now_us();
      double t[3] = {(t1 - t0) / reps, (t2 - t1) / reps, (t3 - t2) / reps};
      for (int e = 0; e < 3; ++e)
        if (t[e] < best[e])
          best[e] = t[e];
    }
    char dnnlGf[32] = "-", dnnlRatio[32] = "-";
    if (dnnl_sgemm) {
      snprintf(dnnlGf, sizeof dnnlGf, "%.1f", flops / best[1] / 1e3);
      snprintf(dnnlRatio, sizeof dnnlRatio, "%.2f", best[2] / best[1]);
    }
    printf("| %s | %dx%dx%d | %d | %.1f | %s | %.1f | %s |\n", cold[s].name, M,
           K, N, copies, flops / best[0] / 1e3, dnnlGf, flops / best[2] / 1e3,
           dnnlRatio);
    for (int i = 0; i < copies; ++i) {
      free(plain[i]);
      free(packed[i]);
    }
    free(plain); free(packed); free(a); free(c);
  }

  /* Attention's products, B computed at run time: one matrix per head,
     B transposed for Q K^T; tac packs each B as it goes
     (tac_sgemm_pack_b), OpenBLAS gets one call per head (as the BLAS
     bridge makes them). */
  static const struct { const char *name; int heads, m, k, n, tb; } attn[] = {
      {"fmnist Q K^T", 4, 17, 16, 17, 1},   {"fmnist P V", 4, 17, 17, 16, 0},
      {"MiniLM Q K^T", 12, 128, 32, 128, 1}, {"MiniLM P V", 12, 128, 128, 32, 0},
      {"ViT-S Q K^T", 6, 197, 64, 197, 1},   {"ViT-S P V", 6, 197, 197, 64, 0},
  };
  printf("\n| product | heads x MxKxN | OpenBLAS us | tac us | tac / OpenBLAS |\n");
  printf("|---|---|---:|---:|---:|\n");
  for (size_t s = 0; s < sizeof attn / sizeof attn[0]; ++s) {
    int H = attn[s].heads, M = attn[s].m, K = attn[s].k, N = attn[s].n,
        tb = attn[s].tb;
    long sa = (long)M * K, sb = (long)K * N, sc = (long)M * N;
    float *a = malloc(4L * H * sa), *b = malloc(4L * H * sb),
          *c1 = malloc(4L * H * sc), *c2 = malloc(4L * H * sc);
    for (long i = 0; i < H * sa; ++i)
      a[i] = (float)(rand() % 2001 - 1000) / 1000.0f;
    for (long i = 0; i < H * sb; ++i)
      b[i] = (float)(rand() % 2001 - 1000) / 1000.0f;
    int ldb = tb ? K : N;
    double flops = 2.0 * H * M * N * K;
    int reps = (int)(1e8 / flops) + 3;
    double best[2] = {1e18, 1e18};
    for (int round = 0; round < 7; ++round) {
      double t0 = now_us();
      for (int r = 0; r < reps; ++r)
        for (int h = 0; h < H; ++h)
          cblas_sgemm(101, 111, tb ? 112 : 111, M, N, K, 1.0f, a + h * sa, K,
                      b + h * sb, ldb, 0.0f, c1 + h * sc, N);
      double t1 = now_us();
      for (int r = 0; r < reps; ++r)
        tac_sgemm_pack_b((int64_t)a, (int64_t)b, (int64_t)c2, H, M, N, K, 0,
                         tb, K, ldb, N, sa, sb, sc, 0.0f, 1, 0, 0, 0);
      double t2 = now_us();
      double t[2] = {(t1 - t0) / reps, (t2 - t1) / reps};
      for (int e = 0; e < 2; ++e)
        if (t[e] < best[e])
          best[e] = t[e];
    }
    double err = 0;
    for (long i = 0; i < H * sc; ++i)
      err = fmax(err, fabs(c1[i] - c2[i]));
    if (err > 1e-5 * K)
      failed = 1;
    printf("| %s | %dx%dx%dx%d | %.1f | %.1f | %.2f |%s\n", attn[s].name, H, M,
           K, N, best[0], best[1], best[1] / best[0],
           err > 1e-5 * K ? " MISMATCH" : "");
    free(a); free(b); free(c1); free(c2);
  }
  return failed;
}
