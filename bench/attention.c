/* tac's fused attention (tac_attention, lib/Backend/Bridges/PackedGemm.c)
 * against the unfused sequence the compiler emits for the same shapes, one
 * thread: K^T materialised by a copy (scale folded into it, so it costs no
 * pass of its own), S = Q K^T (tac_sgemm_pack_b, Q read in place), the mask
 * added to S when there is one (an elementwise kernel), tac_softmax_rows on
 * S, O = P V (tac_sgemm_pack_b, V read in place). Q, K and V are slices of
 * one [b][s][3][heads][d] QKV buffer (the merged QKV GEMM's output) and O
 * is written as [b][s][heads][d], both for both forms. "core" is the
 * unfused sequence without the copy and the mask pass (its two GEMMs and
 * the softmax alone). Per shape: the best of 15 rounds, each round timing
 * the forms back to back for about 50 ms each; checks that the outputs
 * agree (max |fused - unfused|).
 *
 *   cc -O2 -Wno-psabi bench/attention.c lib/Backend/Bridges/PackedGemm.c \
 *      -o /tmp/attention -lm && /tmp/attention
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void tac_attention(int64_t q, int64_t k, int64_t v, int64_t mask,
                   int64_t out, int64_t batch, int64_t heads, int64_t sq,
                   int64_t sk, int64_t d, int64_t dv, float scale,
                   int64_t qs0, int64_t qs1, int64_t qs2, int64_t qs3,
                   int64_t ks0, int64_t ks1, int64_t ks2, int64_t ks3,
                   int64_t vs0, int64_t vs1, int64_t vs2, int64_t vs3,
                   int64_t ms0, int64_t ms1, int64_t ms2, int64_t ms3,
                   int64_t os0, int64_t os1, int64_t os2, int64_t os3,
                   int64_t keep, float fill, int64_t es0, int64_t es1,
                   int64_t es2, int64_t es3);
void tac_sgemm_pack_b(int64_t a, int64_t b, int64_t c, int64_t batch,
                      int64_t m, int64_t n, int64_t k, int64_t ta,
                      int64_t tb, int64_t lda, int64_t ldb, int64_t ldc,
                      int64_t sa, int64_t sb, int64_t sc, float beta,
                      int64_t outer, int64_t oa, int64_t ob, int64_t oc);
void tac_softmax_rows(int64_t x, int64_t y, int64_t d0, int64_t d1,
                      int64_t d2, int64_t d3, int64_t n, int64_t xs0,
                      int64_t xs1, int64_t xs2, int64_t xs3, int64_t xs4,
                      int64_t ys0, int64_t ys1, int64_t ys2, int64_t ys3,
                      int64_t ys4);
/* The kernels' thread-pool hook: one thread here. */
void tac_parallel_for(void (*body)(void *, int64_t, int64_t), void *context,
                      int64_t iterations, int64_t cost) {
  (void)cost;
  body(context, 0, iterations);
}

#define A(p) ((int64_t)(p))

struct shape {
  const char *name;
  int64_t batch, heads, s, d;
  int mask;
};

struct buffers {
  const struct shape *sh;
  float *qkv, *mask, *kt, *scores, *fused, *unfused;
  float scale;
};

static void run_fused(const struct buffers *x) {
  const struct shape *sh = x->sh;
  const int64_t s = sh->s, h = sh->heads, d = sh->d, row = 3 * h * d;
  tac_attention(A(x->qkv), A(x->qkv + h * d), A(x->qkv + 2 * h * d),
                sh->mask ? A(x->mask) : 0, A(x->fused), sh->batch, h, s, s, d,
                d, x->scale, s * row, d, row, 1, s * row, d, row, 1, s * row,
                d, row, 1, 0, 0, 0, 1, s * h * d, d, h * d, 1, 0, 0.0f, 0, 0,
                0, 0);
}

/* core: the GEMMs and the softmax only (K^T as the last full run left it) */
static void run_unfused(const struct buffers *x, int core) {
  const struct shape *sh = x->sh;
  const int64_t s = sh->s, h = sh->heads, d = sh->d, row = 3 * h * d;
  const int64_t B = sh->batch;
  if (!core) /* K^T [b][h][d][s], times the scale */
    for (int64_t b = 0; b < B; ++b)
      for (int64_t hh = 0; hh < h; ++hh)
        for (int64_t j = 0; j < s; ++j) {
          const float *from = x->qkv + b * s * row + j * row + h * d + hh * d;
          float *to = x->kt + (b * h + hh) * d * s + j;
          for (int64_t e = 0; e < d; ++e)
            to[e * s] = from[e] * x->scale;
        }
  /* S[b][h] = Q[b][h] K^T[b][h]: batch h, outer B */
  tac_sgemm_pack_b(A(x->qkv), A(x->kt), A(x->scores), h, s, s, d, 0, 0, row,
                   s, s, d, d * s, s * s, 0.0f, B, s * row, h * d * s,
                   h * s * s);
  if (!core && sh->mask)
    for (int64_t r = 0; r < B * h * s; ++r)
      for (int64_t j = 0; j < s; ++j)
        x->scores[r * s + j] += x->mask[j];
  tac_softmax_rows(A(x->scores), A(x->scores), 1, B, h, s, s, 0, h * s * s,
                   s * s, s, 1, 0, h * s * s, s * s, s, 1);
  /* O[b][:, h, :] = P[b][h] V[b][h] */
  tac_sgemm_pack_b(A(x->scores), A(x->qkv + 2 * h * d), A(x->unfused), h, s,
                   d, s, 0, 0, s, row, h * d, s * s, d, d, 0.0f, B,
                   h * s * s, s * row, s * h * d);
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* Best time per call of `form` (0 fused, 1 unfused, 2 core) in one round
   of `reps` calls. */
static double time_round(const struct buffers *x, int form, int reps) {
  double start = now_us();
  for (int r = 0; r < reps; ++r) {
    if (form == 0)
      run_fused(x);
    else
      run_unfused(x, form == 2);
  }
  return (now_us() - start) / reps;
}

int main(void) {
  static const struct shape shapes[] = {
      {"ViT-Small", 1, 6, 197, 64, 0},
      {"ViT-Small b32", 32, 6, 197, 64, 0},
      {"MiniLM (mask)", 1, 12, 128, 32, 1},
      {"MiniLM b32 (mask)", 32, 12, 128, 32, 1},
  };
  printf("| shape | b x heads x s x d | fused us | unfused us | core us "
         "| fused / unfused | fused / core | max |diff| |\n");
  printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
  int failed = 0;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
    const struct shape *sh = &shapes[i];
    const int64_t B = sh->batch, h = sh->heads, s = sh->s, d = sh->d;
    struct buffers x = {sh, 0, 0, 0, 0, 0, 0, 1.0f / sqrtf((float)d)};
    const int64_t qkvFloats = B * s * 3 * h * d, outFloats = B * s * h * d;
    x.qkv = malloc(4 * qkvFloats);
    x.mask = malloc(4 * s);
    x.kt = malloc(4 * B * h * d * s);
    x.scores = malloc(4 * B * h * s * s);
    x.fused = malloc(4 * outFloats);
    x.unfused = malloc(4 * outFloats);
    for (int64_t j = 0; j < qkvFloats; ++j)
      x.qkv[j] = (float)(rand() % 2001 - 1000) / 500.0f;
    for (int64_t j = 0; j < s; ++j) /* padding past 100 tokens */
      x.mask[j] = j < 100 ? 0.0f : -10000.0f;
    run_fused(&x);
    run_unfused(&x, 0);
    double diff = 0;
    for (int64_t j = 0; j < outFloats; ++j) {
      double e = fabs((double)x.fused[j] - x.unfused[j]);
      diff = e > diff || e != e ? e : diff;
    }
    const double flops = 4.0 * B * h * s * s * d;
    int reps = (int)(2e9 / flops) + 1; /* ~50 ms at 40 GFLOP/s */
    double best[3] = {1e30, 1e30, 1e30};
    for (int round = 0; round < 15; ++round)
      for (int form = 0; form < 3; ++form) {
        double t = time_round(&x, form, reps);
        best[form] = t < best[form] ? t : best[form];
      }
    printf("| %s | %ldx%ldx%ldx%ld | %.1f | %.1f | %.1f | %.2f | %.2f | "
           "%.2g |\n",
           sh->name, (long)B, (long)h, (long)s, (long)d, best[0], best[1],
           best[2], best[0] / best[1], best[0] / best[2], diff);
    if (!(diff < 1e-4))
      failed = 1;
    free(x.qkv);
    free(x.mask);
    free(x.kt);
    free(x.scores);
    free(x.fused);
    free(x.unfused);
  }
  if (failed)
    printf("outputs differ\n");
  return failed;
}
