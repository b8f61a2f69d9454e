/* One core's peak for the instructions tac's packed GEMM multiplies with
 * (lib/Backend/Bridges/PackedGemm.c), each where the CPU has it: f32
 * vfmadd (AVX-512F), bf16 vdpbf16ps (AVX512_BF16) and int8 vpdpbusd
 * (AVX512-VNNI), so docs/precision.md can give each kernel's GOP/s as a
 * share of its own peak. 16 independent accumulators in zmm registers (at
 * least the instructions' latency, 4-6 cycles, times two pipes), no memory
 * traffic, best of 7 runs. An operation is a multiply or an
 * add: vfmadd does 32 per instruction, vdpbf16ps 64, vpdpbusd 128.
 *
 *   cc -O2 bench/peak_reduced.c -o /tmp/peak_reduced && /tmp/peak_reduced
 *
 * Each instruction is issued through inline assembly with the sum as an
 * in-out operand: through GCC 12's _mm512_dpbusd_epi32 the compiler copies
 * accumulators between registers (see PackedGemm.c's TAC_DPBUSD).
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define CHAINS 16

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* `iters` rounds of one `INSN` per chain, the chains as named variables
   (an array's elements went through memory); returns a lane of their
   combination so the work is not dead. The values only need to stay
   finite, not mean anything. */
#define ONE(INSN, c) __asm__(INSN " %2, %1, %0" : "+v"(c) : "v"(a), "v"(b));
#define SIXTEEN(INSN)                                                          \
  ONE(INSN, c0) ONE(INSN, c1) ONE(INSN, c2) ONE(INSN, c3) ONE(INSN, c4)        \
  ONE(INSN, c5) ONE(INSN, c6) ONE(INSN, c7) ONE(INSN, c8) ONE(INSN, c9)        \
  ONE(INSN, c10) ONE(INSN, c11) ONE(INSN, c12) ONE(INSN, c13)                  \
  ONE(INSN, c14) ONE(INSN, c15)
#define DEFINE_PEAK(NAME, TARGET, INSN)                                        \
  __attribute__((target(TARGET))) static float NAME(long iters) {             \
    __m512i a = _mm512_set1_epi32(0x3f800001);                                 \
    __m512i b = _mm512_set1_epi32(0x00010001);                                 \
    __m512i c0 = _mm512_set1_epi32(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0,     \
            c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0,   \
            c12 = c0, c13 = c0, c14 = c0, c15 = c0;                            \
    for (long n = 0; n < iters; ++n) {                                         \
      SIXTEEN(INSN)                                                            \
      __asm__ volatile("" : "+v"(a), "+v"(b));                                 \
    }                                                                          \
    __m512i s = _mm512_xor_si512(                                              \
        _mm512_xor_si512(_mm512_xor_si512(c0, c1), _mm512_xor_si512(c2, c3)), \
        _mm512_xor_si512(_mm512_xor_si512(c4, c5), _mm512_xor_si512(c6, c7))); \
    s = _mm512_xor_si512(s, _mm512_xor_si512(_mm512_xor_si512(c8, c9),        \
                                             _mm512_xor_si512(c10, c11)));     \
    s = _mm512_xor_si512(s, _mm512_xor_si512(_mm512_xor_si512(c12, c13),      \
                                             _mm512_xor_si512(c14, c15)));     \
    return (float)_mm_cvtsi128_si32(_mm512_castsi512_si128(s));                \
  }

DEFINE_PEAK(peak_fma, "avx512f", "vfmadd231ps")
DEFINE_PEAK(peak_bf16, "avx512f,avx512bf16", "vdpbf16ps")
DEFINE_PEAK(peak_vnni, "avx512f,avx512vnni", "vpdpbusd")

static void run(const char *name, const char *feature, int supported,
                float (*fn)(long), double opsPerInsn) {
  if (!supported) {
    printf("| %s | not on this CPU (%s) |\n", name, feature);
    return;
  }
  const long iters = 2000000;
  volatile float sink = fn(iters / 10); /* warm-up: clocks up */
  double best = 0;
  for (int round = 0; round < 7; ++round) {
    double t = now_s();
    sink = fn(iters);
    double rate = iters * (double)CHAINS * opsPerInsn / (now_s() - t) / 1e9;
    best = rate > best ? rate : best;
  }
  (void)sink;
  printf("| %s | %.0f |\n", name, best);
}

int main(void) {
  __builtin_cpu_init();
  int avx512 = __builtin_cpu_supports("avx512f");
  printf("| instruction (1 thread) | peak GOP/s |\n|---|---:|\n");
  run("f32 vfmadd231ps", "avx512f", avx512, peak_fma, 32);
  run("bf16 vdpbf16ps", "avx512_bf16",
      avx512 && __builtin_cpu_supports("avx512bf16"), peak_bf16, 64);
  run("int8 vpdpbusd", "avx512_vnni",
      avx512 && __builtin_cpu_supports("avx512vnni"), peak_vnni, 128);
  return 0;
}
