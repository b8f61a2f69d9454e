/* Measured FP32 peak of this machine: independent FMA chains in registers,
 * no memory traffic, on 1 thread and on 2 (and on every online CPU when
 * there are more). The ISA is chosen by the CPU's flags at run time:
 * AVX-512F (if present), AVX2 + FMA, else SSE (mul + add, no FMA). Every
 * variant the CPU supports is run; "best" is the fastest of them.
 *
 *   cc -O2 -pthread bench/peak_fp32.c -o /tmp/peak_fp32 && /tmp/peak_fp32
 *
 * Prints one JSON object (bench/run_bench.py reads it): per ISA and thread
 * count the GFLOP/s (a fused multiply-add is 2 FLOPs), best of 7 runs of
 * about 0.1 s each.
 *
 * Why the accumulator counts: an FMA has a latency of 4-5 cycles and a core
 * has up to 2 FMA pipes, so at least 10 chains must be in flight to keep both
 * pipes busy. AVX2 has 16 vector registers: 12 chains + 2 operands. AVX-512
 * has 32: 24 chains + 2 operands. Each chain computes acc = acc * a + b with
 * a just below 1, so the values stay finite. Compile with -O2 (the chain
 * loop must be unrolled into registers; the run checks the rate, not this).
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Each kernel runs `iters` iterations and returns a checksum (so the work is
 * not dead); FLOPs = iters * chains * lanes * 2. */
typedef float (*kernel_fn)(long iters);

/* One kernel per ISA: CHAINS accumulators, each acc = acc * a + b per
 * iteration (STEP), summed at the end (ADD, then FIRST takes one lane). */
#define DEFINE_KERNEL(NAME, TARGET, VEC, CHAINS, SET1, STEP, ADD, FIRST)       \
  TARGET static float NAME(long iters) {                                       \
    VEC a = SET1(0.9999999f), b = SET1(1e-7f);                                 \
    VEC c[CHAINS];                                                             \
    for (int i = 0; i < CHAINS; ++i)                                           \
      c[i] = SET1((float)i * 0.01f);                                           \
    for (long n = 0; n < iters; ++n) {                                         \
      /* fully unrolled, so every c[i] stays in a register */                  \
      _Pragma("GCC unroll 32") for (int i = 0; i < CHAINS; ++i)                \
        c[i] = STEP(c[i], a, b);                                               \
      __asm__ volatile("" : "+x"(a), "+x"(b)); /* keep a, b opaque */          \
    }                                                                          \
    VEC s = c[0];                                                              \
    for (int i = 1; i < CHAINS; ++i)                                           \
      s = ADD(s, c[i]);                                                        \
    return FIRST(s);                                                           \
  }

#define SSE_STEP(c, a, b) _mm_add_ps(_mm_mul_ps(c, a), b)
DEFINE_KERNEL(kernel_sse, , __m128, 12, _mm_set1_ps, SSE_STEP, _mm_add_ps,
              _mm_cvtss_f32)
DEFINE_KERNEL(kernel_avx2, __attribute__((target("avx2,fma"))), __m256, 12,
              _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_cvtss_f32)
DEFINE_KERNEL(kernel_avx512, __attribute__((target("avx512f"))), __m512, 24,
              _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_cvtss_f32)

struct isa {
  const char *name;
  kernel_fn fn;
  int chains, lanes;
};

struct job {
  kernel_fn fn;
  long iters;
  pthread_barrier_t *start;
  volatile float sink;
};

static void *worker(void *p) {
  struct job *j = p;
  pthread_barrier_wait(j->start);
  j->sink = j->fn(j->iters);
  return NULL;
}

/* Wall time of `threads` threads each running `iters` iterations. */
static double timed_run(kernel_fn fn, long iters, int threads) {
  pthread_t tid[256];
  struct job jobs[256];
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
  for (int t = 0; t < threads; ++t) {
    jobs[t] = (struct job){fn, iters, &start, 0};
    pthread_create(&tid[t], NULL, worker, &jobs[t]);
  }
  pthread_barrier_wait(&start);
  double t0 = now_s();
  for (int t = 0; t < threads; ++t)
    pthread_join(tid[t], NULL);
  double dt = now_s() - t0;
  pthread_barrier_destroy(&start);
  return dt;
}

/* GFLOP/s: best of 7 runs of about 0.1 s each. */
static double measure(const struct isa *isa, int threads) {
  long iters = 1 << 16;
  while (timed_run(isa->fn, iters, 1) < 0.02)
    iters *= 2;
  iters = (long)(iters * 0.1 / timed_run(isa->fn, iters, 1)) + 1;
  double best = 0;
  for (int r = 0; r < 7; ++r) {
    double dt = timed_run(isa->fn, iters, threads);
    double gflops =
        2.0 * isa->chains * isa->lanes * (double)iters * threads / dt / 1e9;
    if (gflops > best)
      best = gflops;
  }
  return best;
}

int main(void) {
  __builtin_cpu_init();
  struct isa isas[3];
  int n = 0;
  if (__builtin_cpu_supports("avx512f"))
    isas[n++] = (struct isa){"avx512", kernel_avx512, 24, 16};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    isas[n++] = (struct isa){"avx2_fma", kernel_avx2, 12, 8};
  isas[n++] = (struct isa){"sse", kernel_sse, 12, 4};

  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus < 1)
    cpus = 1;
  if (cpus > 256)
    cpus = 256;
  int counts[3] = {1, 2, (int)cpus}, ncounts = cpus > 2 ? 3 : 2;

  printf("{\"cpus\": %ld, \"isas\": {", cpus);
  double best[3] = {0, 0, 0};
  const char *bestIsa[3] = {"", "", ""};
  for (int i = 0; i < n; ++i) {
    printf("%s\"%s\": {", i ? ", " : "", isas[i].name);
    for (int c = 0; c < ncounts; ++c) {
      double g = measure(&isas[i], counts[c]);
      printf("%s\"%d\": %.2f", c ? ", " : "", counts[c], g);
      if (g > best[c]) {
        best[c] = g;
        bestIsa[c] = isas[i].name;
      }
    }
    printf("}");
  }
  printf("}, \"best\": {");
  for (int c = 0; c < ncounts; ++c)
    printf("%s\"%d\": {\"gflops\": %.2f, \"isa\": \"%s\"}", c ? ", " : "",
           counts[c], best[c], bestIsa[c]);
  printf("}}\n");
  return 0;
}
