/* tac's GEMM over compile-time packed weights: C = A * B (+ C), f32;
 * tac's row softmax (tac_softmax_rows, near the end of the first part); and
 * tac's fused attention (tac_attention).
 *
 * Linked into every CPU code object whose GEMM kernels multiply by a
 * constant weight (docs/backend.md, "GEMMs"). The compiler packs such a
 * weight once, into the layout the micro-kernel streams, and stores the
 * packed copy in the .tacm:
 *
 *   a K x N matrix becomes ceil(N / 16) panels of K x 16 floats; panel p
 *   holds B[k][16 p + j] at p*K*16 + k*16 + j, zero where 16 p + j >= N.
 *   A batch of matrices stores its packed matrices one after another.
 *
 * The micro-kernel keeps a tile of 6 rows x 2 vectors of C in registers
 * and, per k, broadcasts six elements of A against the panel's row: with
 * AVX2 (8 floats a vector) the tile is 6 x 16, one panel; with AVX-512
 * (16 floats) it is 6 x 32, two panels. A is read in place (row-major or
 * transposed), so nothing is packed at run time. The instruction set is
 * chosen once per process from the CPU's features. The per-set part of
 * this file is compiled once per set: the file includes itself (so it must
 * be named PackedGemm.c) with TAC_PACKED_GEMM_ISA defined, under GCC's
 * target pragma (GCC vector extensions; vectors wider than the set's
 * registers would spill).
 *
 * Work is split across the session's threads (tac_parallel_for) by
 * (matrix, block of rows, panel), each piece a whole K.
 *
 * tac_attention computes softmax(scale * Q K^T + mask) V (a score a select
 * mask drops becomes its fill first: GPT-2's causal mask) per (batch, head,
 * block of query rows) with the same micro-kernel: a run of pieces packs
 * K^T (times the scale) and V for its head once, and each block's scores
 * (48 KB, or 6 rows when those are more) go from the first product through
 * the mask and the softmax into the second without leaving the cache.
 * Unfused, the scores tensor (0.9 MB a layer of ViT-Small at batch 1,
 * 30 MB at batch 32) was written and read by three kernels, and K copied
 * to be transposed first; fused, ViT-Small's and MiniLM's attention take
 * 0.58-0.91x the time on one thread (bench/attention.c). Q, K, V, the
 * mask and the output are read and written through their strides, so
 * head-interleaved slices of a QKV tensor need no copies.
 *
 * Reduced precision (tac-compile --precision, docs/precision.md) keeps A
 * and C in f32 and changes how the weight is stored:
 *
 *   bf16 (tac_sgemm_packed_bf16): the same panels, each element the top
 *   16 bits of the f32 (rounded to nearest even); the tile widens them
 *   back to f32 as it loads them, so the sums are f32 as before. Where the
 *   CPU has AVX512_BF16, A is rounded to bf16 too and vdpbf16ps multiplies
 *   in bf16, summing in f32 (tac_bf16_pieces_dot, below).
 *
 *   int8 (tac_sgemm_packed_int8): per matrix, N' = 16 * panels columns
 *   and K' = K rounded up to a multiple of 8: N' f32 column scales, N'
 *   int32 column sums of the quantised weight, then the panels, each
 *   K' / 4 groups of 16 columns x 4 consecutive k (64 bytes; int8 in
 *   [-63, 63], zero past K and N). B[k][n] is scale[n] * q[k][n]. Each
 *   row of A is quantised when the GEMM runs, A[r][k] * m[k] for each k
 *   (to [0, 127], the row's own scale and zero point, the range always
 *   holding 0), the products are summed in int32, and
 *     C[r][n] = scale_a[r] * scale[n] * (sum_k qa[r][k] q[k][n]
 *                                        - zero_a[r] * colsum[n]),
 *   qa[r][k] quantising A[r][k] * m[k], where m[k] = 1, except in
 *   tac_sgemm_packed_int8_smoothed's layout: K' f32 A-multipliers m[k]
 *   between the column sums and the panels. The compiler stores those
 *   when a calibration set gave per-channel ranges of A (tac-compile
 *   --calibration): 1 / s[k], with row k of the weight scaled by s[k].
 *   The product is the same, but an outlier channel's range moves into
 *   the weight instead of spending all 7 bits of every row of A; files
 *   without calibration keep the smaller layout.
 *   Both sides use 7 bits so that AVX2's byte multiply-add (two uint8 x
 *   int8 products summed into int16) never saturates even when two groups'
 *   sums are added in int16 before widening: 4 * 127 * 63 < 32768. That
 *   saves a quarter of the multiplies (the widening vpmaddwd runs once per
 *   8 k, not per 4), which is what bounds this kernel: 224 against 180
 *   GOP/s on AVX2 (docs/precision.md). With AVX512-VNNI, vpdpbusd sums
 *   each group's four products straight into int32 (tiles of 8 rows x 2
 *   panels), giving the same sums and so the same C bit for bit; machines
 *   without it test that code built against SIMDe's portable intrinsics
 *   (TAC_AVX512_EMULATED, test/Unit/Avx512EmulatedTest.cpp).
 */
#include <stdint.h>
#include <string.h>

#ifndef TAC_PACKED_GEMM_ISA
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h> /* the int8 AVX2 code's intrinsics */
#endif

#define TAC_PANEL 16 /* columns per packed panel */
#define TAC_MR 6     /* row blocks are whole multiples of this */
#define TAC_KC 256   /* k per step: one panel's step is 16 KB, kept in L1 */
/* B matrices from this size on come from memory, not a cache, when a
   model's weights outgrow L3 (ViT-Small's 88 MB): the first row block asks
   for their lines a tile column ahead (tac_block). bench/packed_gemm.c's
   "weights from memory" table, one thread on a Zen 5: ViT-Small's and
   MiniLM's GEMMs at batch 1 ran at 217-247 GFLOP/s, 1.09-1.17x oneDNN's
   time, before this and the row blocks below; 237-267, 0.99-1.05x, with
   them (docs/backend.md). */
#define TAC_PREFETCH_B_BYTES (1 << 20)

void tac_parallel_for(void (*)(void *, int64_t, int64_t), void *, int64_t,
                      int64_t);

/* One GEMM call: outer x batch products; the packed B of matrix (o, i) is
   at b + (o * bOuter + i * bBatch) * panels * k * 16, so a weight shared by
   every matrix has both 0. */
struct tac_packed_gemm {
  const float *a;
  const void *b; /* f32, bf16 or int8 (with scales), as the entry says */
  float *c;
  int64_t batch, m, n, k;
  int64_t aRow, aCol; /* A's element (r, k) is at a[r * aRow + k * aCol] */
  int64_t ldc, sa, sc, oa, oc, bBatch, bOuter;
  int64_t panels, rowsPerBlock, rowBlocks;
  int accumulate; /* beta = 1: add to C; 0: overwrite it */
  int smoothed;   /* int8: the matrices hold A-multipliers */
};

/* Piece `begin` of a GEMM's flattened (matrix, row block, panel) range:
   matrix (o, i), rows [r0, r1), panels [p, p + count), count as far as
   `end` or the row block's last panel; rest = matrix * rowBlocks + block
   names the row block (a kernel that prepares A per row block keeps it). */
struct tac_piece {
  int64_t rest, o, i, r0, r1, p, count;
};
static inline struct tac_piece tac_piece_at(const struct tac_packed_gemm *g,
                                            int64_t begin, int64_t end) {
  struct tac_piece t;
  t.p = begin % g->panels;
  t.rest = begin / g->panels;
  int64_t block = t.rest % g->rowBlocks, matrix = t.rest / g->rowBlocks;
  t.count = g->panels - t.p;
  if (t.count > end - begin)
    t.count = end - begin;
  t.o = matrix / g->batch;
  t.i = matrix % g->batch;
  t.r0 = block * g->rowsPerBlock;
  t.r1 = t.r0 + g->rowsPerBlock < g->m ? t.r0 + g->rowsPerBlock : g->m;
  return t;
}

/* A GEMM whose B is computed at run time (attention's products): each
   run of pieces packs the B matrices it needs, one at a time. */
struct tac_runtime_gemm {
  struct tac_packed_gemm g; /* b unused: B is packed per matrix */
  const float *b;
  int64_t tb, ldb, sb, ob; /* B transposed?, leading dim, batch/outer strides */
};

/* B (k x n, transposed when tb) packed into `out`, the layout above:
   rows of a panel are copied whole; a transposed B's columns are read
   along their length. */
static void tac_pack_b(const float *b, int64_t k, int64_t n, int64_t tb,
                       int64_t ldb, float *out) {
  for (int64_t p = 0; p < (n + TAC_PANEL - 1) / TAC_PANEL; ++p) {
    int64_t col0 = p * TAC_PANEL;
    int64_t cols = n - col0 < TAC_PANEL ? n - col0 : TAC_PANEL;
    float *panel = out + p * k * TAC_PANEL;
    if (!tb) {
      /* no memcpy call per 64-byte row of a panel: those calls were 1.9%
         of ViT-Small's int8 time at batch 32 (perf) */
      for (int64_t kk = 0; kk < k; ++kk) {
        const float *from = b + kk * ldb + col0;
        float *to = panel + kk * TAC_PANEL;
        if (cols == TAC_PANEL) { /* a struct copy: inline vector moves */
          struct tac_panel_row {
            float f[TAC_PANEL];
          };
          *(struct tac_panel_row *)to = *(const struct tac_panel_row *)from;
          continue;
        }
        for (int64_t j = 0; j < TAC_PANEL; ++j)
          to[j] = j < cols ? from[j] : 0.0f;
      }
      continue;
    }
    if (cols < TAC_PANEL)
      memset(panel, 0, k * TAC_PANEL * sizeof(float));
    for (int64_t j = 0; j < cols; ++j) {
      const float *column = b + (col0 + j) * ldb;
      for (int64_t kk = 0; kk < k; ++kk)
        panel[kk * TAC_PANEL + j] = column[kk];
    }
  }
}

/* Packed B matrices up to this size live on the stack (attention heads of
   up to 64 x 64); larger ones on the heap, once per run of pieces. */
#define TAC_STACK_B_FLOATS 4096

/* Rows [r0, r1) of one matrix, without a packed B (no memory for one). */
static void tac_plain_rows(const struct tac_runtime_gemm *r, const float *a,
                           const float *b, float *c, int64_t r0, int64_t r1) {
  const struct tac_packed_gemm *g = &r->g;
  for (int64_t row = r0; row < r1; ++row)
    for (int64_t col = 0; col < g->n; ++col) {
      float sum = g->accumulate ? c[row * g->ldc + col] : 0.0f;
      for (int64_t kk = 0; kk < g->k; ++kk)
        sum += a[row * g->aRow + kk * g->aCol] *
               (r->tb ? b[col * r->ldb + kk] : b[kk * r->ldb + col]);
      c[row * g->ldc + col] = sum;
    }
}

/* B (k x n) packed as tac_pack_b does, element (kk, col) at
   b[kk * rowStride + col * colStride] (attention's K^T and V are views
   with any strides): tac_pack_b's copies when either stride is 1. */
static void tac_pack_strided(const float *b, int64_t k, int64_t n,
                             int64_t rowStride, int64_t colStride,
                             float *out) {
  if (colStride == 1) {
    tac_pack_b(b, k, n, 0, rowStride, out);
    return;
  }
  if (rowStride == 1) {
    tac_pack_b(b, k, n, 1, colStride, out);
    return;
  }
  for (int64_t p = 0; p < (n + TAC_PANEL - 1) / TAC_PANEL; ++p)
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < TAC_PANEL; ++j) {
        int64_t col = p * TAC_PANEL + j;
        out[(p * k + kk) * TAC_PANEL + j] =
            col < n ? b[kk * rowStride + col * colStride] : 0.0f;
      }
}

/* One tac_attention call (its arguments, strides by tensor in order b, h,
   row, col) and its split into pieces: (b, h, block of query rows). */
struct tac_attention_job {
  const float *q, *k, *v, *mask; /* mask: NULL when absent */
  float *out;
  int64_t heads, sq, sk, d, dv;
  float scale;
  int64_t qs[4], ks[4], vs[4], ms[4], os[4];
  int64_t rowsPerBlock, rowBlocks;
  int64_t ld; /* the scores block's leading dimension: whole panels */
  /* keep: NULL when absent; a score whose byte is 0 becomes `fill` (a
     causal mask applied by a select), before the mask is added */
  const uint8_t *keep;
  float fill;
  int64_t es[4];
};

/* Defined with the softmax below; the instruction sets' attention uses
   them. */
typedef void (*tac_softmax_contiguous_fn)(const float *, float *, int64_t);
static tac_softmax_contiguous_fn tac_softmax_contiguous;
static void tac_attention_plain(void *job, int64_t begin, int64_t end);
#if defined(__x86_64__)
static void tac_pack_transposed_avx2(const float *b, int64_t k, int64_t n,
                                     int64_t ldb, float *out);
#endif

#define TAC_CAT2(a, b) a##_##b
#define TAC_CAT(a, b) TAC_CAT2(a, b)
#define TAC_ISA_NAME(name) TAC_CAT(name, TAC_PACKED_GEMM_ISA)

#define TAC_PACKED_GEMM_ISA generic
#define TAC_VECTOR_FLOATS 8
#include "PackedGemm.c"
#undef TAC_PACKED_GEMM_ISA
#undef TAC_VECTOR_FLOATS

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define TAC_PACKED_GEMM_ISA avx2
#define TAC_PACKED_GEMM_AVX2 /* intrinsics allowed */
#define TAC_VECTOR_FLOATS 8
#include "PackedGemm.c"
#undef TAC_PACKED_GEMM_ISA
#undef TAC_PACKED_GEMM_AVX2
#undef TAC_VECTOR_FLOATS
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f")
#define TAC_PACKED_GEMM_ISA avx512
#define TAC_PACKED_GEMM_AVX512 /* AVX2 functions may be called */
#define TAC_VECTOR_FLOATS 16
#include "PackedGemm.c"
#undef TAC_PACKED_GEMM_ISA
#undef TAC_PACKED_GEMM_AVX512
#undef TAC_VECTOR_FLOATS
#pragma GCC pop_options
#endif

#ifdef TAC_PACKED_GEMM_TESTING
/* The AVX-512 code's tiling (two panels a tile) at a width any machine
   runs, for tests on machines without AVX-512. */
#define TAC_PACKED_GEMM_ISA wide_for_testing
#define TAC_VECTOR_FLOATS 16
#include "PackedGemm.c"
#undef TAC_PACKED_GEMM_ISA
#undef TAC_VECTOR_FLOATS
#endif

/* ---- int8 weights (tac_sgemm_packed_int8; the layout is at the top) ---- */

#define TAC_INT8_GROUP 4 /* k values per 32-bit lane */
#define TAC_INT8_PAD 8   /* K is padded to whole pairs of groups */
#define TAC_INT8_TOP 127 /* activations are quantised to [0, 127] */
#define TAC_INT8_MR 4    /* rows per AVX2 tile: 8 accumulators + 4 of B + 1s */

static int64_t tac_int8_k4(int64_t k) {
  return (k + TAC_INT8_PAD - 1) / TAC_INT8_PAD * TAC_INT8_PAD;
}

/* Bytes of one packed int8 matrix: scales, column sums, A-multipliers
   (smoothed only), panels. */
static int64_t tac_int8_matrix_bytes(int64_t panels, int64_t k,
                                     int smoothed) {
  return panels * TAC_PANEL * 8 + (smoothed ? tac_int8_k4(k) * 4 : 0) +
         panels * tac_int8_k4(k) * TAC_PANEL;
}

/* The parts of one packed int8 matrix of `panels` panels and k rows at b
   (the layout in the header comment); multiplier is null unless smoothed. */
struct tac_int8_matrix {
  const float *scale;
  const int32_t *colsum;
  const float *multiplier;
  const int8_t *q;
};
static struct tac_int8_matrix tac_int8_parts(const char *b, int64_t panels,
                                             int64_t k, int smoothed) {
  const int64_t width = panels * TAC_PANEL;
  struct tac_int8_matrix m = {
      (const float *)b, (const int32_t *)(b + width * 4),
      smoothed ? (const float *)(b + width * 8) : 0,
      (const int8_t *)(b + width * 8 + (smoothed ? tac_int8_k4(k) * 4 : 0))};
  return m;
}

/* A block of A's rows, quantised: row r's k4 bytes at q + r * k4. */
struct tac_int8_rows {
  uint8_t *q;
  float *scale;
  int32_t *zero;
  int64_t k4;
};

/* Row r's scale and zero point from its range [lo, hi] (lo <= 0 <= hi:
   the range always holds 0, so a zero stays exactly zero). `probe` is the
   sum of the row's values times 0: NaN when one is NaN or infinite, and
   then the scale is NaN, so the row's outputs are NaN as an f32 product's
   would be, not finite numbers made up from the rest of the row. */
static void tac_quantise_params(const struct tac_int8_rows *rows, int64_t r,
                                float lo, float hi, float probe) {
  float scale = (hi - lo) / (float)TAC_INT8_TOP;
  if (probe != probe) {
    rows->scale[r] = __builtin_nanf("");
    rows->zero[r] = 0;
    return;
  }
  if (!(scale > 0.0f))
    scale = 1.0f; /* an all-zero row */
  int32_t zero = (int32_t)(-lo / scale + 0.5f);
  rows->scale[r] = scale;
  rows->zero[r] = zero < 0 ? 0 : zero > TAC_INT8_TOP ? TAC_INT8_TOP : zero;
}

/* Row r's values [from, k) (row[kk * aCol] * multiplier[kk], or without
   multipliers, null, row[kk * aCol]: the same as multiplying by 1), quantised
   with its scale and zero point, and the padding up to k4. Values round
   half up (they are >= -0.5 here); both instruction sets' code rounds this
   way. Always inlined: called from the AVX2 code (GCC stopped inlining it
   there), this SSE code stalled on the switch between the two, twice a
   row: an int8 GEMM of 197 x 384 x 16 took 1.8x the time (AMD EPYC). */
static inline __attribute__((always_inline)) void
tac_quantise_tail(const float *row, int64_t aCol, const float *multiplier,
                  int64_t from, int64_t k, const struct tac_int8_rows *rows,
                  int64_t r) {
  float inverse = 1.0f / rows->scale[r], zero = (float)rows->zero[r];
  uint8_t *q = rows->q + r * rows->k4;
  if (inverse != inverse) /* a NaN row: any bytes do, the scale is NaN */
    from = k;
  for (int64_t kk = from; kk < k; ++kk) {
    float x = multiplier ? row[kk * aCol] * multiplier[kk] : row[kk * aCol];
    float v = x * inverse;
#if defined(__x86_64__)
    /* no fused multiply-add where this is inlined into the AVX2 code (GCC
       fused it there): the generic code rounds the product first */
    __asm__("" : "+x"(v));
#endif
    v += zero + 0.5f;
    q[kk] = v <= 0.0f                    ? 0
            : v >= (float)TAC_INT8_TOP ? TAC_INT8_TOP
                                       : (uint8_t)(int32_t)v;
  }
  for (int64_t kk = k; kk < rows->k4; ++kk)
    q[kk] = 0; /* the weights are zero there */
}

/* Rows [0, count) of A (a: the block's first row), each value times its
   k's multiplier, quantised into rows. */
static void tac_quantise_rows_generic(const struct tac_packed_gemm *g,
                                      const float *a,
                                      const float *multiplier,
                                      const struct tac_int8_rows *rows,
                                      int64_t count) {
  for (int64_t r = 0; r < count; ++r) {
    const float *row = a + r * g->aRow;
    float lo = 0.0f, hi = 0.0f, probe = 0.0f;
    for (int64_t kk = 0; kk < g->k; ++kk) {
      float x = multiplier ? row[kk * g->aCol] * multiplier[kk]
                           : row[kk * g->aCol];
      lo = x < lo ? x : lo;
      hi = x > hi ? x : hi;
      probe += x * 0.0f;
    }
    tac_quantise_params(rows, r, lo, hi, probe);
    tac_quantise_tail(row, g->aCol, multiplier, 0, g->k, rows, r);
  }
}

/* C's rows [0, count) (c: the block's first row) against `panels` panels
   from p0 of matrix `b`. */
static void tac_int8_block_generic(const struct tac_packed_gemm *g,
                                   const struct tac_int8_rows *rows,
                                   int64_t count, const char *b, float *c,
                                   int64_t p0, int64_t panels) {
  const struct tac_int8_matrix parts =
      tac_int8_parts(b, g->panels, g->k, g->smoothed);
  const float *scale = parts.scale;
  const int32_t *colsum = parts.colsum;
  const int8_t *q = parts.q;
  for (int64_t p = p0; p < p0 + panels; ++p) {
    const int8_t *panel = q + p * rows->k4 * TAC_PANEL;
    for (int64_t r = 0; r < count; ++r)
      for (int64_t j = 0; j < TAC_PANEL && p * TAC_PANEL + j < g->n; ++j) {
        int64_t col = p * TAC_PANEL + j;
        const uint8_t *qa = rows->q + r * rows->k4;
        int32_t sum = 0;
        for (int64_t kk = 0; kk < rows->k4; ++kk)
          sum += (int32_t)qa[kk] *
                 panel[kk / TAC_INT8_GROUP * TAC_INT8_GROUP * TAC_PANEL +
                       j * TAC_INT8_GROUP + kk % TAC_INT8_GROUP];
        float v = (float)(sum - rows->zero[r] * colsum[col]) *
                  (rows->scale[r] * scale[col]);
        float *out = c + r * g->ldc + col;
        *out = g->accumulate ? *out + v : v;
      }
  }
}

#if defined(__x86_64__)
/* A function attribute as well as the pragma: clang honours only the
   attribute, and its intrinsics must be inlined into AVX2 code. */
#define TAC_AVX2 __attribute__((target("avx2,fma")))
#pragma GCC push_options
#pragma GCC target("avx2,fma")

/* tac_pack_b's transposed case (B[kk][col] at b[col * ldb + kk]) for full
   panels: 8 x 8 blocks transposed in registers, for the AVX2 and AVX-512
   attention alike. Storing one value at a time, 16 floats apart, took 3
   cycles a value, 6.5% of ViT-Small's attention on AVX2 (perf). */
TAC_AVX2 static void tac_pack_transposed_avx2(const float *b, int64_t k,
                                              int64_t n, int64_t ldb,
                                              float *out) {
  const int64_t full = n / TAC_PANEL, whole = k / 8 * 8;
  for (int64_t p = 0; p < full; ++p) {
    float *panel = out + p * k * TAC_PANEL;
    for (int half = 0; half < 2; ++half) {
      const float *from = b + (p * TAC_PANEL + half * 8) * ldb;
      for (int64_t kk = 0; kk < whole; kk += 8) {
        __m256 r0 = _mm256_loadu_ps(from + kk);
        __m256 r1 = _mm256_loadu_ps(from + ldb + kk);
        __m256 r2 = _mm256_loadu_ps(from + 2 * ldb + kk);
        __m256 r3 = _mm256_loadu_ps(from + 3 * ldb + kk);
        __m256 r4 = _mm256_loadu_ps(from + 4 * ldb + kk);
        __m256 r5 = _mm256_loadu_ps(from + 5 * ldb + kk);
        __m256 r6 = _mm256_loadu_ps(from + 6 * ldb + kk);
        __m256 r7 = _mm256_loadu_ps(from + 7 * ldb + kk);
        __m256 t0 = _mm256_unpacklo_ps(r0, r1);
        __m256 t1 = _mm256_unpackhi_ps(r0, r1);
        __m256 t2 = _mm256_unpacklo_ps(r2, r3);
        __m256 t3 = _mm256_unpackhi_ps(r2, r3);
        __m256 t4 = _mm256_unpacklo_ps(r4, r5);
        __m256 t5 = _mm256_unpackhi_ps(r4, r5);
        __m256 t6 = _mm256_unpacklo_ps(r6, r7);
        __m256 t7 = _mm256_unpackhi_ps(r6, r7);
        r0 = _mm256_shuffle_ps(t0, t2, 0x44);
        r1 = _mm256_shuffle_ps(t0, t2, 0xee);
        r2 = _mm256_shuffle_ps(t1, t3, 0x44);
        r3 = _mm256_shuffle_ps(t1, t3, 0xee);
        r4 = _mm256_shuffle_ps(t4, t6, 0x44);
        r5 = _mm256_shuffle_ps(t4, t6, 0xee);
        r6 = _mm256_shuffle_ps(t5, t7, 0x44);
        r7 = _mm256_shuffle_ps(t5, t7, 0xee);
        float *to = panel + kk * TAC_PANEL + half * 8;
        _mm256_storeu_ps(to, _mm256_permute2f128_ps(r0, r4, 0x20));
        _mm256_storeu_ps(to + TAC_PANEL,
                         _mm256_permute2f128_ps(r1, r5, 0x20));
        _mm256_storeu_ps(to + 2 * TAC_PANEL,
                         _mm256_permute2f128_ps(r2, r6, 0x20));
        _mm256_storeu_ps(to + 3 * TAC_PANEL,
                         _mm256_permute2f128_ps(r3, r7, 0x20));
        _mm256_storeu_ps(to + 4 * TAC_PANEL,
                         _mm256_permute2f128_ps(r0, r4, 0x31));
        _mm256_storeu_ps(to + 5 * TAC_PANEL,
                         _mm256_permute2f128_ps(r1, r5, 0x31));
        _mm256_storeu_ps(to + 6 * TAC_PANEL,
                         _mm256_permute2f128_ps(r2, r6, 0x31));
        _mm256_storeu_ps(to + 7 * TAC_PANEL,
                         _mm256_permute2f128_ps(r3, r7, 0x31));
      }
      for (int64_t j = 0; j < 8; ++j)
        for (int64_t kk = whole; kk < k; ++kk)
          panel[kk * TAC_PANEL + half * 8 + j] = from[j * ldb + kk];
    }
  }
  if (full * TAC_PANEL < n) /* the last, partial panel */
    tac_pack_b(b + full * TAC_PANEL * ldb, k, n - full * TAC_PANEL, 1, ldb,
               out + full * k * TAC_PANEL);
}

/* As tac_quantise_rows_generic, eight values at a time when A's rows are
   contiguous (the rounding is the same: x * m, then the same rule); one
   copy per `scaled` (multipliers or not), so neither tests it per value. */
TAC_AVX2 static inline __attribute__((always_inline)) void
tac_quantise_contiguous_avx2(const struct tac_packed_gemm *g, const float *a,
                             const float *multiplier,
                             const struct tac_int8_rows *rows, int64_t count,
                             const int scaled) {
  const int64_t k = g->k;
  for (int64_t r = 0; r < count; ++r) {
    const float *row = a + r * g->aRow;
    __m256 lo8 = _mm256_setzero_ps(), hi8 = _mm256_setzero_ps();
    __m256 probe8 = _mm256_setzero_ps();
    int64_t kk = 0;
    for (; kk + 8 <= k; kk += 8) {
      __m256 x = _mm256_loadu_ps(row + kk);
      if (scaled)
        x = _mm256_mul_ps(x, _mm256_loadu_ps(multiplier + kk));
      lo8 = _mm256_min_ps(lo8, x);
      hi8 = _mm256_max_ps(hi8, x);
      probe8 = _mm256_add_ps(probe8, _mm256_mul_ps(x, _mm256_setzero_ps()));
    }
    float lanes[8], lo, hi;
    _mm256_storeu_ps(lanes, lo8);
    lo = lanes[0];
    for (int j = 1; j < 8; ++j)
      lo = lanes[j] < lo ? lanes[j] : lo;
    _mm256_storeu_ps(lanes, hi8);
    hi = lanes[0];
    for (int j = 1; j < 8; ++j)
      hi = lanes[j] > hi ? lanes[j] : hi;
    float probe = 0.0f;
    _mm256_storeu_ps(lanes, probe8);
    for (int j = 0; j < 8; ++j)
      probe += lanes[j];
    for (; kk < k; ++kk) {
      float x = scaled ? row[kk] * multiplier[kk] : row[kk];
      lo = x < lo ? x : lo;
      hi = x > hi ? x : hi;
      probe += x * 0.0f;
    }
    tac_quantise_params(rows, r, lo, hi, probe);
    const __m256 inverse = _mm256_set1_ps(1.0f / rows->scale[r]);
    const __m256 offset = _mm256_set1_ps((float)rows->zero[r] + 0.5f);
    const __m256 top = _mm256_set1_ps((float)TAC_INT8_TOP);
    uint8_t *q = rows->q + r * rows->k4;
    for (kk = 0; kk + 8 <= k; kk += 8) {
      __m256 v = _mm256_loadu_ps(row + kk);
      if (scaled)
        v = _mm256_mul_ps(v, _mm256_loadu_ps(multiplier + kk));
      v = _mm256_mul_ps(v, inverse);
      /* no fused multiply-add: the scalar code rounds the product first */
      __asm__("" : "+x"(v));
      v = _mm256_add_ps(v, offset);
      v = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), top);
      __m256i n = _mm256_cvttps_epi32(v);
      __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(n),
                                       _mm256_extracti128_si256(n, 1));
      _mm_storel_epi64((__m128i *)(q + kk), _mm_packus_epi16(words, words));
    }
    tac_quantise_tail(row, 1, scaled ? multiplier : 0, kk, k, rows, r);
  }
}

TAC_AVX2 static void tac_quantise_rows_avx2(const struct tac_packed_gemm *g,
                                   const float *a, const float *multiplier,
                                   const struct tac_int8_rows *rows,
                                   int64_t count) {
  if (g->aCol != 1)
    tac_quantise_rows_generic(g, a, multiplier, rows, count);
  else if (multiplier)
    tac_quantise_contiguous_avx2(g, a, multiplier, rows, count, 1);
  else
    tac_quantise_contiguous_avx2(g, a, 0, rows, count, 0);
}

/* Stores (or adds) 8 columns, or the first `cols` of them. */
TAC_AVX2 static inline __attribute__((always_inline)) void
tac_int8_store_avx2(__m256 v, float *out, int cols, int add) {
  if (cols >= 8) {
    _mm256_storeu_ps(out, add ? _mm256_add_ps(_mm256_loadu_ps(out), v) : v);
    return;
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, v);
  for (int j = 0; j < cols; ++j)
    out[j] = add ? out[j] + lanes[j] : lanes[j];
}

/* A tile of mr (<= TAC_INT8_MR) rows x 16 columns: per group of 4 k, each row's
   four uint8 are broadcast against the panel's 64 bytes and vpmaddubsw
   sums pairs of products into int16; two groups' int16 are added, and
   vpmaddwd (by 1) sums pairs of those into the int32 accumulators. */
TAC_AVX2 static inline __attribute__((always_inline)) void
tac_int8_tile_avx2(const int mr, const struct tac_int8_rows *rows, int64_t r,
                   const int8_t *panel, float *c, int64_t ldc, int cols,
                   int add, const float *scale, const int32_t *colsum) {
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t k4 = rows->k4;
  const uint8_t *qa = rows->q + r * k4;
#define TAC_DECLARE(i) __m256i lo##i = _mm256_setzero_si256(), hi##i = lo##i;
  TAC_DECLARE(0) TAC_DECLARE(1) TAC_DECLARE(2) TAC_DECLARE(3)
#undef TAC_DECLARE
  for (int64_t k = 0; k < k4; k += 2 * TAC_INT8_GROUP) {
    const int8_t *group = panel + k * TAC_PANEL;
    __m256i b0 = _mm256_loadu_si256((const __m256i *)group);
    __m256i b1 = _mm256_loadu_si256((const __m256i *)(group + 32));
    __m256i b2 = _mm256_loadu_si256((const __m256i *)(group + 64));
    __m256i b3 = _mm256_loadu_si256((const __m256i *)(group + 96));
#define TAC_ROW(i)                                                             \
  if (i < mr) {                                                                \
    int32_t four, next;                                                        \
    memcpy(&four, qa + i * k4 + k, 4);                                         \
    memcpy(&next, qa + i * k4 + k + 4, 4);                                     \
    __m256i x = _mm256_set1_epi32(four), y = _mm256_set1_epi32(next);          \
    lo##i = _mm256_add_epi32(                                                  \
        lo##i, _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(x, b0), \
                                                  _mm256_maddubs_epi16(y, b2)),\
                                 ones));                                       \
    hi##i = _mm256_add_epi32(                                                  \
        hi##i, _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(x, b1), \
                                                  _mm256_maddubs_epi16(y, b3)),\
                                 ones));                                       \
  }
    TAC_ROW(0) TAC_ROW(1) TAC_ROW(2) TAC_ROW(3)
#undef TAC_ROW
  }
  const __m256 scaleLo = _mm256_loadu_ps(scale), scaleHi =
                                                     _mm256_loadu_ps(scale + 8);
  const __m256i sumLo = _mm256_loadu_si256((const __m256i *)colsum);
  const __m256i sumHi = _mm256_loadu_si256((const __m256i *)(colsum + 8));
#define TAC_STORE(i)                                                           \
  if (i < mr) {                                                                \
    __m256i zero = _mm256_set1_epi32(rows->zero[r + i]);                       \
    __m256 s = _mm256_set1_ps(rows->scale[r + i]);                             \
    __m256 vlo = _mm256_mul_ps(                                                \
        _mm256_cvtepi32_ps(                                                    \
            _mm256_sub_epi32(lo##i, _mm256_mullo_epi32(zero, sumLo))),         \
        _mm256_mul_ps(s, scaleLo));                                            \
    tac_int8_store_avx2(vlo, c + i * ldc, cols, add);                          \
    if (cols > 8) {                                                            \
      __m256 vhi = _mm256_mul_ps(                                              \
          _mm256_cvtepi32_ps(                                                  \
              _mm256_sub_epi32(hi##i, _mm256_mullo_epi32(zero, sumHi))),       \
          _mm256_mul_ps(s, scaleHi));                                          \
      tac_int8_store_avx2(vhi, c + i * ldc + 8, cols - 8, add);                \
    }                                                                          \
  }
  TAC_STORE(0) TAC_STORE(1) TAC_STORE(2) TAC_STORE(3)
#undef TAC_STORE
}

TAC_AVX2 static void tac_int8_block_avx2(const struct tac_packed_gemm *g,
                                const struct tac_int8_rows *rows,
                                int64_t count, const char *b, float *c,
                                int64_t p0, int64_t panels) {
  const struct tac_int8_matrix parts =
      tac_int8_parts(b, g->panels, g->k, g->smoothed);
  const float *scale = parts.scale;
  const int32_t *colsum = parts.colsum;
  const int8_t *q = parts.q;
  for (int64_t p = p0; p < p0 + panels; ++p) {
    const int8_t *panel = q + p * rows->k4 * TAC_PANEL;
    int64_t col = p * TAC_PANEL;
    int cols = (int)(g->n - col < TAC_PANEL ? g->n - col : TAC_PANEL);
    for (int64_t r = 0; r < count; r += TAC_INT8_MR) {
#define TAC_TILE(MR)                                                           \
  tac_int8_tile_avx2(MR, rows, r, panel, c + r * g->ldc + col, g->ldc, cols,  \
                     g->accumulate, scale + col, colsum + col)
      switch (count - r < TAC_INT8_MR ? count - r : TAC_INT8_MR) {
      case 4: TAC_TILE(4); break;
      case 3: TAC_TILE(3); break;
      case 2: TAC_TILE(2); break;
      default: TAC_TILE(1); break;
      }
#undef TAC_TILE
    }
  }
}

#pragma GCC pop_options
#endif

#if defined(__x86_64__)
/* AVX512-VNNI: vpdpbusd multiplies four uint8 of A by four int8 of a
   column and adds their sum to the column's int32 lane, one instruction
   per group of 4 k where AVX2 takes three and an int16 step. A build with
   TAC_AVX512_EMULATED (tests only) compiles the same code against
   SIMDe's portable intrinsics, so machines without VNNI check it against
   the generic code (test/Unit/Avx512EmulatedTest.cpp). */
#ifdef TAC_AVX512_EMULATED
#include <simde/x86/avx512.h>
#define TAC_VNNI
#define TAC_MM512(name) simde_mm512_##name
typedef simde__m512i tac_m512i;
typedef simde__m512 tac_m512;
/* SIMDe 0.7.4 has no cvtepi32_ps: C's conversion, lane by lane (it rounds
   to nearest, as the instruction does) */
static inline tac_m512 tac_vnni_float(tac_m512i v) {
  int32_t in[16];
  float out[16];
  simde_mm512_storeu_si512(in, v);
  for (int j = 0; j < 16; ++j)
    out[j] = (float)in[j];
  return simde_mm512_loadu_ps(out);
}
/* through memory: the emulation's vector code must not fuse either */
#define TAC_VNNI_UNFUSED(v) __asm__("" : "+m"(v))
#define TAC_DPBUSD(sum, a, b) ((sum) = simde_mm512_dpbusd_epi32(sum, a, b))
#else
#define TAC_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vnni")
#define TAC_MM512(name) _mm512_##name
typedef __m512i tac_m512i;
typedef __m512 tac_m512;
#define tac_vnni_float _mm512_cvtepi32_ps
#define TAC_VNNI_UNFUSED(v) __asm__("" : "+v"(v))
/* sum += the groups' products (a: uint8, b: int8), in place. Through the
   intrinsic, GCC 12 copied every accumulator twice per vpdpbusd in the
   tile's loop (32 register moves per 16 multiplies, which bound it at
   about 60% of VNNI's peak, bench/peak_reduced.c); the instruction itself
   accumulates in place. */
#define TAC_DPBUSD(sum, a, b)                                                  \
  __asm__("vpdpbusd %2, %1, %0" : "+v"(sum) : "v"(a), "v"(b))
#endif

/* One panel's 16 results: (float)(sum - zero * colsum) * (s * scale), as
   the generic code rounds them; stored (or added) whole, or the first
   `cols` of them. */
TAC_VNNI static inline __attribute__((always_inline)) void
tac_int8_store_vnni(tac_m512i sum, tac_m512i zero, const int32_t *colsum,
                    tac_m512 s, const float *scale, float *out, int cols,
                    int add) {
  tac_m512 v = TAC_MM512(mul_ps)(
      tac_vnni_float(TAC_MM512(sub_epi32)(
          sum, TAC_MM512(mullo_epi32)(zero, TAC_MM512(loadu_si512)(colsum)))),
      TAC_MM512(mul_ps)(s, TAC_MM512(loadu_ps)(scale)));
  if (cols >= TAC_PANEL) {
    if (add) {
      TAC_VNNI_UNFUSED(v); /* no fused multiply-add: generic rounds v first */
      v = TAC_MM512(add_ps)(TAC_MM512(loadu_ps)(out), v);
    }
    TAC_MM512(storeu_ps)(out, v);
    return;
  }
  float lanes[TAC_PANEL];
  TAC_MM512(storeu_ps)(lanes, v);
  for (int j = 0; j < cols; ++j)
    out[j] = add ? out[j] + lanes[j] : lanes[j];
}

/* A tile of mr (8, 4, 2 or 1) rows x np (2 or 1) panels: per group of 4 k,
   each row's four uint8 are broadcast and vpdpbusd adds their products
   with each panel's 64 bytes to the row's accumulators. 8 x 2 because 16
   accumulators cover vpdpbusd's latency (about 5 cycles, up to 2 a cycle)
   and take 10 loads per 16 multiply-adds, while 16 + 2 panels + a
   broadcast fit in the 32 registers; columns are cols, from both panels. */
TAC_VNNI static inline __attribute__((always_inline)) void
tac_int8_tile_vnni(const int mr, const int np,
                   const struct tac_int8_rows *rows, int64_t r,
                   const int8_t *panel, float *c, int64_t ldc, int cols,
                   int add, const float *scale, const int32_t *colsum) {
  const int64_t k4 = rows->k4;
  const uint8_t *qa = rows->q + r * k4;
  const int8_t *second = panel + k4 * TAC_PANEL;
#define TAC_DECLARE(i)                                                         \
  tac_m512i lo##i = TAC_MM512(setzero_si512)(), hi##i = lo##i;
  TAC_DECLARE(0) TAC_DECLARE(1) TAC_DECLARE(2) TAC_DECLARE(3)
  TAC_DECLARE(4) TAC_DECLARE(5) TAC_DECLARE(6) TAC_DECLARE(7)
#undef TAC_DECLARE
  for (int64_t k = 0; k < k4; k += TAC_INT8_GROUP) {
    tac_m512i b0 = TAC_MM512(loadu_si512)(panel + k * TAC_PANEL);
    tac_m512i b1 = np > 1 ? TAC_MM512(loadu_si512)(second + k * TAC_PANEL)
                          : b0;
#define TAC_ROW(i)                                                             \
  if (i < mr) {                                                                \
    int32_t four;                                                              \
    memcpy(&four, qa + i * k4 + k, 4);                                         \
    tac_m512i x = TAC_MM512(set1_epi32)(four);                                 \
    TAC_DPBUSD(lo##i, x, b0);                                                  \
    if (np > 1)                                                                \
      TAC_DPBUSD(hi##i, x, b1);                                                \
  }
    TAC_ROW(0) TAC_ROW(1) TAC_ROW(2) TAC_ROW(3)
    TAC_ROW(4) TAC_ROW(5) TAC_ROW(6) TAC_ROW(7)
#undef TAC_ROW
  }
#define TAC_STORE(i)                                                           \
  if (i < mr) {                                                                \
    tac_m512i zero = TAC_MM512(set1_epi32)(rows->zero[r + i]);                 \
    tac_m512 s = TAC_MM512(set1_ps)(rows->scale[r + i]);                       \
    tac_int8_store_vnni(lo##i, zero, colsum, s, scale, c + i * ldc, cols,      \
                        add);                                                  \
    if (np > 1)                                                                \
      tac_int8_store_vnni(hi##i, zero, colsum + TAC_PANEL, s,                  \
                          scale + TAC_PANEL, c + i * ldc + TAC_PANEL,          \
                          cols - TAC_PANEL, add);                              \
  }
  TAC_STORE(0) TAC_STORE(1) TAC_STORE(2) TAC_STORE(3)
  TAC_STORE(4) TAC_STORE(5) TAC_STORE(6) TAC_STORE(7)
#undef TAC_STORE
}

/* As tac_int8_block_generic: pairs of panels (the last may be alone),
   rows in tiles of 8, then 4, 2 and 1. */
TAC_VNNI static void tac_int8_block_avx512vnni(
    const struct tac_packed_gemm *g, const struct tac_int8_rows *rows,
    int64_t count, const char *b, float *c, int64_t p0, int64_t panels) {
  const struct tac_int8_matrix parts =
      tac_int8_parts(b, g->panels, g->k, g->smoothed);
  for (int64_t p = p0; p < p0 + panels; p += 2) {
    const int np = p + 1 < p0 + panels ? 2 : 1;
    const int8_t *panel = parts.q + p * rows->k4 * TAC_PANEL;
    int64_t col = p * TAC_PANEL;
    int cols = (int)(g->n - col < np * TAC_PANEL ? g->n - col
                                                 : np * TAC_PANEL);
    for (int64_t r = 0; r < count;) {
      int64_t left = count - r;
      int mr = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
#define TAC_TILE(MR, NP)                                                       \
  tac_int8_tile_vnni(MR, NP, rows, r, panel, c + r * g->ldc + col, g->ldc,    \
                     cols, g->accumulate, parts.scale + col,                  \
                     parts.colsum + col)
      if (np == 2) {
        switch (mr) {
        case 8: TAC_TILE(8, 2); break;
        case 4: TAC_TILE(4, 2); break;
        case 2: TAC_TILE(2, 2); break;
        default: TAC_TILE(1, 2); break;
        }
      } else {
        switch (mr) {
        case 8: TAC_TILE(8, 1); break;
        case 4: TAC_TILE(4, 1); break;
        case 2: TAC_TILE(2, 1); break;
        default: TAC_TILE(1, 1); break;
        }
      }
#undef TAC_TILE
      r += mr;
    }
  }
}

#ifndef TAC_AVX512_EMULATED
#pragma GCC pop_options
#endif

/* Whether tac_int8_block_avx512vnni runs here (the emulated build's runs
   anywhere). */
static int tac_int8_vnni_usable(void) {
#ifdef TAC_AVX512_EMULATED
  return 1;
#else
  return __builtin_cpu_supports("avx512vnni") &&
         __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512f");
#endif
}

/* ---- bf16 weights by AVX512_BF16 (tac_sgemm_packed_bf16 where the CPU
   has it) ----
   vdpbf16ps multiplies pairs of bf16 (k and k + 1 of A's row, broadcast,
   and of each of the panel's 16 columns) and adds both products to the
   column's f32 lane: one instruction per 2 k where the widening code
   takes two multiply-adds and the widening: 485-507 GOP/s on the models'
   shapes against f32's 250-259 on a Zen 5 core (docs/precision.md). A
   is rounded to bf16 too (nearest even, as the weights are; NaN stays
   NaN), once per row block, into a scratch copy whose row holds k and
   k + 1 side by side. The panels keep the layout above (row k's 16 values,
   then row k + 1's): one vpermw per panel and 2 k interleaves the two rows
   into pairs, 1-4% slower than loading pairs interleaved at compile time
   (bench/reduced_gemm.c, the permute removed, 6-row tiles), so the file
   format stays the same for every CPU. Sums are f32, in a different order
   than the widening code's, so results differ from other CPUs' in the last
   bits and by A's rounding (docs/precision.md). Built against SIMDe under
   TAC_AVX512_EMULATED (tests). */
#ifdef TAC_AVX512_EMULATED
#define TAC_BF16DOT
typedef simde__m512bh tac_m512bh;
#else
#define TAC_BF16DOT __attribute__((target("avx512f,avx512bw,avx512bf16")))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512bf16")
typedef __m512bh tac_m512bh;
#endif

/* 16 floats' bits rounded to bf16 (nearest even; a NaN stays a NaN, made
   quiet) in the low 16 bits of each word. */
typedef uint32_t tac_bf16_words __attribute__((vector_size(64)));
typedef uint16_t tac_bf16_halves __attribute__((vector_size(32)));
TAC_BF16DOT static inline __attribute__((always_inline)) tac_bf16_words
tac_bf16_round_words(tac_bf16_words w) {
  tac_bf16_words rounded = (w + 0x7fffu + ((w >> 16) & 1u)) >> 16;
  tac_bf16_words nan = (tac_bf16_words)((w & 0x7fffffffu) > 0x7f800000u);
  return (rounded & ~nan) | (((w >> 16) | 0x40u) & nan);
}

TAC_BF16DOT static inline uint16_t tac_bf16_round(float x) {
  uint32_t bits;
  memcpy(&bits, &x, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t)((bits >> 16) | 0x40u);
  return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

/* Rows [0, rows) of A (element (r, k) at a[r * aRow + k * aCol]) in bf16:
   row r at out + r * k2, k2 = k rounded up to even, zero past k. */
TAC_BF16DOT static void tac_bf16_round_rows(const float *a, int64_t aRow,
                                            int64_t aCol, int64_t rows,
                                            int64_t k, uint16_t *out) {
  const int64_t k2 = (k + 1) & ~(int64_t)1;
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = a + r * aRow;
    uint16_t *to = out + r * k2;
    int64_t j = 0;
    if (aCol == 1)
      for (; j + 16 <= k; j += 16) {
        tac_bf16_words w;
        memcpy(&w, row + j, sizeof w);
        tac_bf16_halves h = __builtin_convertvector(tac_bf16_round_words(w),
                                                    tac_bf16_halves);
        memcpy(to + j, &h, sizeof h);
      }
    for (; j < k; ++j)
      to[j] = tac_bf16_round(row[j * aCol]);
    if (k2 > k)
      to[k] = 0;
  }
}

TAC_BF16DOT static inline __attribute__((always_inline)) tac_m512
tac_bf16_dot(tac_m512 acc, tac_m512i a, tac_m512i b) {
#ifdef TAC_AVX512_EMULATED
  tac_m512bh x, y;
  memcpy(&x, &a, sizeof x);
  memcpy(&y, &b, sizeof y);
  return simde_mm512_dpbf16_ps(acc, x, y);
#else
  return _mm512_dpbf16_ps(acc, (tac_m512bh)a, (tac_m512bh)b);
#endif
}

/* Rows k and k + 1 of a panel (32 bf16 at b; with `one`, row k only and
   zeros) as 16 pairs, column by column. */
TAC_BF16DOT static inline __attribute__((always_inline)) tac_m512i
tac_bf16_pairs(const uint16_t *b, const int one) {
  const tac_m512i interleave = TAC_MM512(set_epi16)(
      31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
      22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  if (!one)
    return TAC_MM512(permutexvar_epi16)(interleave,
                                        TAC_MM512(loadu_si512)(b));
  uint16_t rows[2 * TAC_PANEL] = {0};
  memcpy(rows, b, TAC_PANEL * sizeof *rows);
  return TAC_MM512(permutexvar_epi16)(interleave,
                                      TAC_MM512(loadu_si512)(rows));
}

/* Stores (or adds) the first `cols` of a row's 16 results. */
TAC_BF16DOT static inline __attribute__((always_inline)) void
tac_bf16_store(tac_m512 v, float *out, int cols, int add) {
  if (cols >= TAC_PANEL) {
    if (add)
      v = TAC_MM512(add_ps)(TAC_MM512(loadu_ps)(out), v);
    TAC_MM512(storeu_ps)(out, v);
    return;
  }
  float lanes[TAC_PANEL];
  TAC_MM512(storeu_ps)(lanes, v);
  for (int j = 0; j < cols; ++j)
    out[j] = add ? out[j] + lanes[j] : lanes[j];
}

/* C[0..mr) x [0..cols) (+)= A x B over kc values of k: a holds the rows
   in bf16 (lda apart, k pairs whole: a zero follows an odd kc's last k),
   b0 and b1 the tile's two panels at its first k (b1 == b0 when there is
   one; its results are then never stored). Up to 12 rows x 2 panels: 24
   accumulators, 2 panel loads and 2 permutes per 24 vdpbf16ps (with 6
   rows, 12: 440 against 485-500 GOP/s on the models' shapes, Zen 5; the
   peak is 513, bench/peak_reduced.c), and 24 + 2 + a broadcast + the
   permute's index fit the 32 registers; one row (a batch-1 head) runs
   four accumulator pairs over alternate pairs of k instead. */
TAC_BF16DOT static inline __attribute__((always_inline)) void
tac_bf16_tile_dot(const int mr, int64_t kc, const uint16_t *a, int64_t lda,
                  const uint16_t *b0, const uint16_t *b1, float *c,
                  int64_t ldc, int cols, int add) {
#define TAC_DECLARE(r)                                                         \
  tac_m512 lo##r = TAC_MM512(setzero_ps)(), hi##r = lo##r;
  TAC_DECLARE(0) TAC_DECLARE(1) TAC_DECLARE(2) TAC_DECLARE(3)
  TAC_DECLARE(4) TAC_DECLARE(5) TAC_DECLARE(6) TAC_DECLARE(7)
  TAC_DECLARE(8) TAC_DECLARE(9) TAC_DECLARE(10) TAC_DECLARE(11)
#undef TAC_DECLARE
  const int64_t whole = kc & ~(int64_t)1;
#define TAC_PAIR(r, acc, j, one)                                               \
  {                                                                            \
    uint32_t two;                                                              \
    memcpy(&two, a + r * lda + (j), 4);                                        \
    tac_m512i x = TAC_MM512(set1_epi32)((int32_t)two);                         \
    lo##acc =                                                                  \
        tac_bf16_dot(lo##acc, x, tac_bf16_pairs(b0 + (j)*TAC_PANEL, one));     \
    hi##acc =                                                                  \
        tac_bf16_dot(hi##acc, x, tac_bf16_pairs(b1 + (j)*TAC_PANEL, one));     \
  }
  if (mr == 1) {
    int64_t j = 0;
    for (; j + 8 <= whole; j += 8) {
      TAC_PAIR(0, 0, j, 0)
      TAC_PAIR(0, 1, j + 2, 0)
      TAC_PAIR(0, 2, j + 4, 0)
      TAC_PAIR(0, 3, j + 6, 0)
    }
    for (; j < whole; j += 2)
      TAC_PAIR(0, 0, j, 0)
    if (kc > whole)
      TAC_PAIR(0, 0, whole, 1)
    lo0 = TAC_MM512(add_ps)(TAC_MM512(add_ps)(lo0, lo1),
                            TAC_MM512(add_ps)(lo2, lo3));
    hi0 = TAC_MM512(add_ps)(TAC_MM512(add_ps)(hi0, hi1),
                            TAC_MM512(add_ps)(hi2, hi3));
  } else {
#define TAC_ROW(r, j)                                                          \
  if (r < mr) {                                                                \
    uint32_t two;                                                              \
    memcpy(&two, a + r * lda + (j), 4);                                        \
    tac_m512i x = TAC_MM512(set1_epi32)((int32_t)two);                         \
    lo##r = tac_bf16_dot(lo##r, x, x0);                                        \
    hi##r = tac_bf16_dot(hi##r, x, x1);                                        \
  }
#define TAC_STEP(j, one)                                                       \
  {                                                                            \
    tac_m512i x0 = tac_bf16_pairs(b0 + (j)*TAC_PANEL, one);                    \
    tac_m512i x1 = tac_bf16_pairs(b1 + (j)*TAC_PANEL, one);                    \
    TAC_ROW(0, j) TAC_ROW(1, j) TAC_ROW(2, j) TAC_ROW(3, j)                    \
    TAC_ROW(4, j) TAC_ROW(5, j) TAC_ROW(6, j) TAC_ROW(7, j)                    \
    TAC_ROW(8, j) TAC_ROW(9, j) TAC_ROW(10, j) TAC_ROW(11, j)                  \
  }
    for (int64_t j = 0; j < whole; j += 2)
      TAC_STEP(j, 0)
    if (kc > whole)
      TAC_STEP(whole, 1)
#undef TAC_STEP
#undef TAC_ROW
  }
#undef TAC_PAIR
#define TAC_STORE(r)                                                           \
  if (r < mr) {                                                                \
    tac_bf16_store(lo##r, c + r * ldc, cols, add);                             \
    if (cols > TAC_PANEL)                                                      \
      tac_bf16_store(hi##r, c + r * ldc + TAC_PANEL, cols - TAC_PANEL, add);   \
  }
  TAC_STORE(0) TAC_STORE(1) TAC_STORE(2) TAC_STORE(3) TAC_STORE(4)
  TAC_STORE(5) TAC_STORE(6) TAC_STORE(7) TAC_STORE(8) TAC_STORE(9)
  TAC_STORE(10) TAC_STORE(11)
#undef TAC_STORE
}

/* Rows [0, rows) of one matrix (a: their bf16 copy) against `count`
   panels from p0, in steps of TAC_KC k as the widening code; tiles of 12
   rows, the rest of a row block (a multiple of 6 but the last) in 6 or
   fewer. */
TAC_BF16DOT static void tac_bf16_block_dot(const struct tac_packed_gemm *g,
                                           const uint16_t *a, int64_t rows,
                                           const uint16_t *b, float *c,
                                           int64_t p0, int64_t count) {
  const int64_t k2 = (g->k + 1) & ~(int64_t)1;
  const int64_t panelStride = g->k * TAC_PANEL;
  for (int64_t k0 = 0; k0 < g->k; k0 += TAC_KC) {
    int64_t kc = g->k - k0 < TAC_KC ? g->k - k0 : TAC_KC;
    int add = g->accumulate || k0 > 0;
    for (int64_t p = p0; p < p0 + count; p += 2) {
      const int np = p + 1 < p0 + count ? 2 : 1;
      const uint16_t *b0 = b + p * panelStride + k0 * TAC_PANEL;
      const uint16_t *b1 = np == 2 ? b0 + panelStride : b0;
      int64_t col = p * TAC_PANEL;
      int cols = (int)(g->n - col < np * TAC_PANEL ? g->n - col
                                                   : np * TAC_PANEL);
      for (int64_t r = 0; r < rows;) {
        const uint16_t *ar = a + r * k2 + k0;
        float *cr = c + r * g->ldc + col;
        const int64_t left = rows - r;
        r += left >= 12 ? 12 : left < TAC_MR ? left : TAC_MR;
#define TAC_TILE(MR)                                                           \
  tac_bf16_tile_dot(MR, kc, ar, k2, b0, b1, cr, g->ldc, cols, add)
        switch (left >= 12 ? 12 : left < TAC_MR ? left : TAC_MR) {
        case 12: TAC_TILE(12); break;
        case 6: TAC_TILE(6); break;
        case 5: TAC_TILE(5); break;
        case 4: TAC_TILE(4); break;
        case 3: TAC_TILE(3); break;
        case 2: TAC_TILE(2); break;
        default: TAC_TILE(1); break;
        }
#undef TAC_TILE
      }
    }
  }
}

/* Pieces [begin, end) of the (matrix, row block, panel) range, as
   tac_pieces: each row block's A is rounded to bf16 once per run of its
   pieces. */
TAC_BF16DOT static void tac_bf16_pieces_dot(void *job, int64_t begin,
                                            int64_t end) {
  const struct tac_packed_gemm *g = (const struct tac_packed_gemm *)job;
  const int64_t k2 = (g->k + 1) & ~(int64_t)1;
  const int64_t matrixHalves = g->panels * g->k * TAC_PANEL;
  uint16_t *rounded =
      malloc((size_t)(g->rowsPerBlock * k2) * sizeof *rounded);
  if (!rounded) { /* the widening code needs no copy: slower, still right */
#ifdef TAC_AVX512_EMULATED
    tac_bf16_pieces_generic(job, begin, end);
#else
    tac_bf16_pieces_avx512(job, begin, end);
#endif
    return;
  }
  int64_t held = -1; /* the (matrix, row block) `rounded` holds */
  while (begin < end) {
    struct tac_piece t = tac_piece_at(g, begin, end);
    if (held != t.rest) {
      tac_bf16_round_rows(g->a + t.o * g->oa + t.i * g->sa + t.r0 * g->aRow,
                          g->aRow, g->aCol, t.r1 - t.r0, g->k, rounded);
      held = t.rest;
    }
    tac_bf16_block_dot(g, rounded, t.r1 - t.r0,
                       (const uint16_t *)g->b +
                           (t.o * g->bOuter + t.i * g->bBatch) * matrixHalves,
                       g->c + t.o * g->oc + t.i * g->sc + t.r0 * g->ldc, t.p,
                       t.count);
    begin += t.count;
  }
  free(rounded);
}

#ifndef TAC_AVX512_EMULATED
#pragma GCC pop_options
#endif

/* Whether tac_bf16_pieces_dot runs here (the emulated build's runs
   anywhere). */
static int tac_bf16_dot_usable(void) {
#ifdef TAC_AVX512_EMULATED
  return 1;
#else
  return __builtin_cpu_supports("avx512bf16") &&
         __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512f");
#endif
}
#endif

typedef void (*tac_int8_quantise_fn)(const struct tac_packed_gemm *,
                                     const float *, const float *,
                                     const struct tac_int8_rows *, int64_t);
typedef void (*tac_int8_block_fn)(const struct tac_packed_gemm *,
                                  const struct tac_int8_rows *, int64_t,
                                  const char *, float *, int64_t, int64_t);
static tac_int8_quantise_fn tac_int8_quantise = tac_quantise_rows_generic;
static tac_int8_block_fn tac_int8_block = tac_int8_block_generic;

/* Pieces [begin, end) of the (matrix, row block, panel) range, as
   tac_pieces: each row block's A is quantised (with its matrix's
   multipliers) once per run of its pieces. */
static void tac_int8_pieces(void *job, int64_t begin, int64_t end) {
  const struct tac_packed_gemm *g = (const struct tac_packed_gemm *)job;
  const int64_t matrixBytes =
      tac_int8_matrix_bytes(g->panels, g->k, g->smoothed);
  struct tac_int8_rows rows;
  rows.k4 = tac_int8_k4(g->k);
  void *memory = malloc((size_t)(g->rowsPerBlock * (rows.k4 + 8)));
  if (!memory) { /* cannot quantise A: say so in C rather than guess */
    for (int64_t r = 0; r < g->m; ++r)
      for (int64_t col = 0; col < g->n; ++col)
        g->c[r * g->ldc + col] = __builtin_nanf("");
    return;
  }
  rows.scale = (float *)memory;
  rows.zero = (int32_t *)(rows.scale + g->rowsPerBlock);
  rows.q = (uint8_t *)(rows.zero + g->rowsPerBlock);
  int64_t quantised = -1; /* the (matrix, row block) rows holds */
  while (begin < end) {
    struct tac_piece t = tac_piece_at(g, begin, end);
    const char *b = (const char *)g->b +
                    (t.o * g->bOuter + t.i * g->bBatch) * matrixBytes;
    if (quantised != t.rest) {
      const float *multiplier = /* null: none */
          tac_int8_parts(b, g->panels, g->k, g->smoothed).multiplier;
      tac_int8_quantise(g, g->a + t.o * g->oa + t.i * g->sa + t.r0 * g->aRow,
                        multiplier, &rows, t.r1 - t.r0);
      quantised = t.rest;
    }
    tac_int8_block(g, &rows, t.r1 - t.r0, b,
                   g->c + t.o * g->oc + t.i * g->sc + t.r0 * g->ldc, t.p,
                   t.count);
    begin += t.count;
  }
  free(memory);
}

/* Softmax over one dimension of an f32 tensor of rank <= 5 (linalg.softmax,
   formed by tac-form-softmax): each row is read once for its max, once to
   write exp(x - max) while summing, and once more to scale by 1 / sum, all
   while it is in L1 (the four-kernel form passed over the whole tensor five
   times). exp here takes x <= 0 (x - max) or NaN: x = n ln2 + r with
   |r| <= ln2 / 2, e^r by its degree-7 Taylor sum (under 1e-8 relative
   before rounding), 2^n into the exponent bits; below ln(FLT_MIN) the
   result is 0 (it would be subnormal, and is divided by a sum >= 1). NaN
   anywhere in a row, or a row of -inf, gives a row of NaN, as the four-op
   form does. */
#define TAC_EXP_LOW -87.33654f     /* ln(FLT_MIN) */
#define TAC_LOG2E 1.44269504f
#define TAC_LN2_HIGH 0.693359375f  /* ln 2 in 9 bits: n * it is exact */
#define TAC_LN2_LOW -2.12194440e-4f /* ln 2 - TAC_LN2_HIGH */

static inline float tac_exp_nonpositive(float x) {
  if (x < TAC_EXP_LOW)
    return 0.0f;
  if (x != x)
    return x;
  float n = __builtin_rintf(x * TAC_LOG2E);
  float r = x - n * TAC_LN2_HIGH - n * TAC_LN2_LOW;
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = ((int32_t)n + 127) << 23; /* n >= -126: a normal power */
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/* One row of n values, x[j * xs] -> y[j * ys] (x == y allowed). */
static void tac_softmax_row_generic(const float *x, int64_t xs, float *y,
                                    int64_t ys, int64_t n) {
  float max = -__builtin_inff();
  for (int64_t j = 0; j < n; ++j)
    max = x[j * xs] > max ? x[j * xs] : max; /* a NaN reaches the sum */
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    float e = tac_exp_nonpositive(x[j * xs] - max);
    y[j * ys] = e;
    sum += e;
  }
  float inverse = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j)
    y[j * ys] *= inverse;
}

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
/* tac_exp_nonpositive, eight at a time. */
TAC_AVX2 static inline __m256 tac_exp_nonpositive_avx2(__m256 x) {
  const __m256 low = _mm256_set1_ps(TAC_EXP_LOW);
  __m256 under = _mm256_cmp_ps(x, low, _CMP_LT_OQ); /* false for NaN */
  x = _mm256_max_ps(low, x); /* a NaN x is kept (max_ps returns it) */
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(TAC_LOG2E)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(TAC_LN2_HIGH), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(TAC_LN2_LOW), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  __m256i bits = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under,
                          _mm256_mul_ps(p, _mm256_castsi256_ps(bits)));
}

TAC_AVX2 static float tac_horizontal_avx2(__m256 v, int max) {
  __m128 h = max ? _mm_max_ps(_mm256_castps256_ps128(v),
                              _mm256_extractf128_ps(v, 1))
                 : _mm_add_ps(_mm256_castps256_ps128(v),
                              _mm256_extractf128_ps(v, 1));
  __m128 s = _mm_movehl_ps(h, h);
  h = max ? _mm_max_ps(h, s) : _mm_add_ps(h, s);
  s = _mm_shuffle_ps(h, h, 1);
  h = max ? _mm_max_ss(h, s) : _mm_add_ss(h, s);
  return _mm_cvtss_f32(h);
}

/* A contiguous row (xs = ys = 1), as tac_softmax_row_generic. */
TAC_AVX2 static void tac_softmax_row_avx2(const float *x, float *y,
                                          int64_t n) {
  int64_t j = 0;
  __m256 max8 = _mm256_set1_ps(-__builtin_inff());
  for (; j + 8 <= n; j += 8)
    max8 = _mm256_max_ps(max8, _mm256_loadu_ps(x + j));
  float max = tac_horizontal_avx2(max8, 1);
  for (; j < n; ++j)
    max = x[j] > max ? x[j] : max;
  const __m256 maxv = _mm256_set1_ps(max);
  __m256 sum8 = _mm256_setzero_ps();
  for (j = 0; j + 8 <= n; j += 8) {
    __m256 e = tac_exp_nonpositive_avx2(
        _mm256_sub_ps(_mm256_loadu_ps(x + j), maxv));
    _mm256_storeu_ps(y + j, e);
    sum8 = _mm256_add_ps(sum8, e);
  }
  float sum = tac_horizontal_avx2(sum8, 0);
  for (; j < n; ++j) {
    float e = tac_exp_nonpositive(x[j] - max);
    y[j] = e;
    sum += e;
  }
  const float inverse = 1.0f / sum;
  const __m256 inverse8 = _mm256_set1_ps(inverse);
  for (j = 0; j + 8 <= n; j += 8)
    _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(y + j), inverse8));
  for (; j < n; ++j)
    y[j] *= inverse;
}
#pragma GCC pop_options
#endif

#if defined(__x86_64__)
/* AVX-512 forms of the softmax row and the int8 quantiser: 16 values a
   step, and the row's tail in one masked step where the AVX2 forms take
   it one value at a time (ViT-Small's 197-long rows: 5 scalar exps after
   24 vectors of 8). The quantiser gives the AVX2 form's bytes exactly;
   the softmax computes each exp as the AVX2 form does but sums them in
   another order, so its rows can differ in the last bit. */
#define TAC_AVX512 __attribute__((target("avx512f")))
#pragma GCC push_options
#pragma GCC target("avx512f")

/* tac_exp_nonpositive, sixteen at a time. */
TAC_AVX512 static inline __m512 tac_exp_nonpositive_avx512(__m512 x) {
  const __m512 low = _mm512_set1_ps(TAC_EXP_LOW);
  __mmask16 under = _mm512_cmp_ps_mask(x, low, _CMP_LT_OQ); /* not NaN */
  x = _mm512_max_ps(low, x); /* a NaN x is kept (max_ps returns it) */
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(TAC_LOG2E)),
                                  _MM_FROUND_TO_NEAREST_INT |
                                      _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(TAC_LN2_HIGH), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(TAC_LN2_LOW), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  __m512i bits = _mm512_slli_epi32(
      _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_maskz_mul_ps((__mmask16)~under, p,
                             _mm512_castsi512_ps(bits));
}

/* The first `count` (< 16) lanes' mask. */
static inline __mmask16 tac_lanes(int64_t count) {
  return (__mmask16)((1u << count) - 1u);
}

/* A contiguous row (xs = ys = 1), as tac_softmax_row_generic. */
TAC_AVX512 static void tac_softmax_row_avx512(const float *x, float *y,
                                              int64_t n) {
  const int64_t whole = n & ~(int64_t)15;
  const __mmask16 tail = tac_lanes(n - whole);
  const __m512 lowest = _mm512_set1_ps(-__builtin_inff());
  __m512 max16 = lowest;
  for (int64_t j = 0; j < whole; j += 16)
    max16 = _mm512_max_ps(max16, _mm512_loadu_ps(x + j));
  max16 = _mm512_max_ps(max16, _mm512_mask_loadu_ps(lowest, tail, x + whole));
  const __m512 maxv = _mm512_set1_ps(_mm512_reduce_max_ps(max16));
  __m512 sum16 = _mm512_setzero_ps();
  for (int64_t j = 0; j < whole; j += 16) {
    __m512 e = tac_exp_nonpositive_avx512(
        _mm512_sub_ps(_mm512_loadu_ps(x + j), maxv));
    _mm512_storeu_ps(y + j, e);
    sum16 = _mm512_add_ps(sum16, e);
  }
  if (tail) {
    __m512 e = tac_exp_nonpositive_avx512(
        _mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + whole), maxv));
    e = _mm512_maskz_mov_ps(tail, e);
    _mm512_mask_storeu_ps(y + whole, tail, e);
    sum16 = _mm512_add_ps(sum16, e);
  }
  const __m512 inverse = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum16));
  for (int64_t j = 0; j < whole; j += 16)
    _mm512_storeu_ps(y + j, _mm512_mul_ps(_mm512_loadu_ps(y + j), inverse));
  _mm512_mask_storeu_ps(
      y + whole, tail,
      _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, y + whole), inverse));
}

/* As tac_quantise_contiguous_avx2, sixteen values at a time and the tail
   in one masked step (the rounding is the same: x * m, the product
   rounded, then the same rule); lanes past k read as 0, which the range
   always holds. */
TAC_AVX512 static inline __attribute__((always_inline)) void
tac_quantise_contiguous_avx512(const struct tac_packed_gemm *g,
                               const float *a, const float *multiplier,
                               const struct tac_int8_rows *rows,
                               int64_t count, const int scaled) {
  const int64_t k = g->k, whole = k & ~(int64_t)15;
  const __mmask16 tail = tac_lanes(k - whole);
  for (int64_t r = 0; r < count; ++r) {
    const float *row = a + r * g->aRow;
    __m512 lo16 = _mm512_setzero_ps(), hi16 = lo16, probe16 = lo16;
#define TAC_RANGE(x)                                                           \
  {                                                                            \
    lo16 = _mm512_min_ps(lo16, x);                                             \
    hi16 = _mm512_max_ps(hi16, x);                                             \
    probe16 = _mm512_add_ps(probe16, _mm512_mul_ps(x, _mm512_setzero_ps()));   \
  }
    for (int64_t kk = 0; kk < whole; kk += 16) {
      __m512 x = _mm512_loadu_ps(row + kk);
      if (scaled)
        x = _mm512_mul_ps(x, _mm512_loadu_ps(multiplier + kk));
      TAC_RANGE(x)
    }
    __m512 last = _mm512_maskz_loadu_ps(tail, row + whole);
    if (scaled)
      last = _mm512_mul_ps(last,
                           _mm512_maskz_loadu_ps(tail, multiplier + whole));
    TAC_RANGE(last)
#undef TAC_RANGE
    tac_quantise_params(rows, r, _mm512_reduce_min_ps(lo16),
                        _mm512_reduce_max_ps(hi16),
                        _mm512_reduce_add_ps(probe16));
    const __m512 inverse = _mm512_set1_ps(1.0f / rows->scale[r]);
    const __m512 offset = _mm512_set1_ps((float)rows->zero[r] + 0.5f);
    const __m512 top = _mm512_set1_ps((float)TAC_INT8_TOP);
    uint8_t *q = rows->q + r * rows->k4;
#define TAC_QUANTISE(x)                                                        \
  ({                                                                           \
    __m512 v = _mm512_mul_ps(x, inverse);                                      \
    /* no fused multiply-add: the scalar code rounds the product first */     \
    __asm__("" : "+v"(v));                                                     \
    v = _mm512_add_ps(v, offset);                                              \
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), top);             \
    _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v));                              \
  })
    for (int64_t kk = 0; kk < whole; kk += 16) {
      __m512 x = _mm512_loadu_ps(row + kk);
      if (scaled)
        x = _mm512_mul_ps(x, _mm512_loadu_ps(multiplier + kk));
      _mm_storeu_si128((__m128i *)(q + kk), TAC_QUANTISE(x));
    }
    __m128i bytes = TAC_QUANTISE(last);
    memcpy(q + whole, &bytes, (size_t)(k - whole));
#undef TAC_QUANTISE
    for (int64_t kk = k; kk < rows->k4; ++kk)
      q[kk] = 0; /* the weights are zero there */
  }
}

TAC_AVX512 static void tac_quantise_rows_avx512(
    const struct tac_packed_gemm *g, const float *a, const float *multiplier,
    const struct tac_int8_rows *rows, int64_t count) {
  if (g->aCol != 1)
    tac_quantise_rows_generic(g, a, multiplier, rows, count);
  else if (multiplier)
    tac_quantise_contiguous_avx512(g, a, multiplier, rows, count, 1);
  else
    tac_quantise_contiguous_avx512(g, a, 0, rows, count, 0);
}
#pragma GCC pop_options
#endif

static void tac_softmax_contiguous_generic(const float *x, float *y,
                                           int64_t n) {
  tac_softmax_row_generic(x, 1, y, 1, n);
}
static tac_softmax_contiguous_fn tac_softmax_contiguous =
    tac_softmax_contiguous_generic;

/* Query row i's score for key j (b, h: the row's q, k, keep and mask). */
static inline float tac_attention_score(const struct tac_attention_job *t,
                                        const float *q, const float *k,
                                        const uint8_t *keep,
                                        const float *mask, int64_t j) {
  float dot = 0.0f;
  for (int64_t e = 0; e < t->d; ++e)
    dot += q[e * t->qs[3]] * k[j * t->ks[2] + e * t->ks[3]];
  float s = t->scale * dot;
  if (keep && !keep[j * t->es[3]])
    s = t->fill;
  return mask ? s + mask[j * t->ms[3]] : s;
}

/* tac_attention's pieces without scratch memory (none could be had): each
   output row sums its weighted values in place, and the scores are
   computed twice (the first time for their max). Slow; the same values up
   to rounding, NaN and -inf rows included. */
static void tac_attention_plain(void *job, int64_t begin, int64_t end) {
  const struct tac_attention_job *t = (const struct tac_attention_job *)job;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t head = item / t->rowBlocks;
    const int64_t b = head / t->heads, h = head % t->heads;
    const int64_t r0 = item % t->rowBlocks * t->rowsPerBlock;
    const int64_t r1 =
        t->sq - r0 < t->rowsPerBlock ? t->sq : r0 + t->rowsPerBlock;
    const float *k = t->k + b * t->ks[0] + h * t->ks[1];
    const float *v = t->v + b * t->vs[0] + h * t->vs[1];
    for (int64_t i = r0; i < r1; ++i) {
      const float *q = t->q + b * t->qs[0] + h * t->qs[1] + i * t->qs[2];
      const float *mask =
          t->mask ? t->mask + b * t->ms[0] + h * t->ms[1] + i * t->ms[2]
                  : NULL;
      const uint8_t *keep =
          t->keep ? t->keep + b * t->es[0] + h * t->es[1] + i * t->es[2]
                  : NULL;
      float *out = t->out + b * t->os[0] + h * t->os[1] + i * t->os[2];
      float max = -__builtin_inff();
      for (int64_t j = 0; j < t->sk; ++j) {
        float s = tac_attention_score(t, q, k, keep, mask, j);
        max = s > max ? s : max; /* a NaN reaches the sum */
      }
      for (int64_t e = 0; e < t->dv; ++e)
        out[e * t->os[3]] = 0.0f;
      float sum = 0.0f;
      for (int64_t j = 0; j < t->sk; ++j) {
        float w = tac_exp_nonpositive(
            tac_attention_score(t, q, k, keep, mask, j) - max);
        sum += w;
        for (int64_t e = 0; e < t->dv; ++e)
          out[e * t->os[3]] += w * v[j * t->vs[2] + e * t->vs[3]];
      }
      const float inverse = 1.0f / sum;
      for (int64_t e = 0; e < t->dv; ++e)
        out[e * t->os[3]] *= inverse;
    }
  }
}

/* Rows (i0, i1, i2, i3) of the tensor, dims[4] the softmax dimension;
   strides in elements. */
struct tac_softmax_job {
  const float *x;
  float *y;
  int64_t dims[5], xStrides[5], yStrides[5];
};

static void tac_softmax_pieces(void *job, int64_t begin, int64_t end) {
  const struct tac_softmax_job *s = (const struct tac_softmax_job *)job;
  for (int64_t row = begin; row < end; ++row) {
    const float *x = s->x;
    float *y = s->y;
    int64_t rest = row;
    for (int d = 3; d >= 0; --d) {
      int64_t i = rest % s->dims[d];
      rest /= s->dims[d];
      x += i * s->xStrides[d];
      y += i * s->yStrides[d];
    }
    if (s->xStrides[4] == 1 && s->yStrides[4] == 1)
      tac_softmax_contiguous(x, y, s->dims[4]);
    else
      tac_softmax_row_generic(x, s->xStrides[4], y, s->yStrides[4],
                              s->dims[4]);
  }
}

/* The kernels' entry: softmax along the last dimension of a
   d0 x d1 x d2 x d3 x n tensor (the tensor's other dimensions in order,
   padded with leading 1s, then the softmax's), x's strides xs0..xs4 and
   y's ys0..ys4 in elements; y may be x. */
void tac_softmax_rows(int64_t x, int64_t y, int64_t d0, int64_t d1,
                      int64_t d2, int64_t d3, int64_t n, int64_t xs0,
                      int64_t xs1, int64_t xs2, int64_t xs3, int64_t xs4,
                      int64_t ys0, int64_t ys1, int64_t ys2, int64_t ys3,
                      int64_t ys4) {
  struct tac_softmax_job s = {(const float *)x,
                              (float *)y,
                              {d0, d1, d2, d3, n},
                              {xs0, xs1, xs2, xs3, xs4},
                              {ys0, ys1, ys2, ys3, ys4}};
  if (d0 <= 0 || d1 <= 0 || d2 <= 0 || d3 <= 0 || n <= 0)
    return;
  /* per row: three passes, exp's twenty-odd operations in the second */
  tac_parallel_for(tac_softmax_pieces, &s, d0 * d1 * d2 * d3, 24 * n);
}

typedef void (*tac_pieces_fn)(void *, int64_t, int64_t);
static tac_pieces_fn tac_packed_pieces = tac_pieces_generic;
static tac_pieces_fn tac_bf16_pieces = tac_bf16_pieces_generic;
static tac_pieces_fn tac_runtime_pieces = tac_runtime_pieces_generic;
static tac_pieces_fn tac_attention_pieces = tac_attention_pieces_generic;
__attribute__((constructor)) static void tac_choose_packed_gemm(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    /* AVX-512 machines run the AVX2 int8 block where they lack VNNI */
    tac_int8_quantise = tac_quantise_rows_avx2;
    tac_int8_block = tac_int8_block_avx2;
    tac_softmax_contiguous = tac_softmax_row_avx2;
#ifndef TAC_AVX512_EMULATED /* tests choose the emulation themselves */
    if (tac_int8_vnni_usable())
      tac_int8_block = tac_int8_block_avx512vnni;
#endif
  }
  if (__builtin_cpu_supports("avx512f")) {
    tac_int8_quantise = tac_quantise_rows_avx512;
    tac_softmax_contiguous = tac_softmax_row_avx512;
    tac_packed_pieces = tac_pieces_avx512;
    tac_bf16_pieces = tac_bf16_pieces_avx512;
    tac_runtime_pieces = tac_runtime_pieces_avx512;
    tac_attention_pieces = tac_attention_pieces_avx512;
#ifndef TAC_AVX512_EMULATED
    if (tac_bf16_dot_usable())
      tac_bf16_pieces = tac_bf16_pieces_dot;
#endif
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    tac_packed_pieces = tac_pieces_avx2;
    tac_bf16_pieces = tac_bf16_pieces_avx2;
    tac_runtime_pieces = tac_runtime_pieces_avx2;
    tac_attention_pieces = tac_attention_pieces_avx2;
  }
#endif
}

#ifdef TAC_PACKED_GEMM_TESTING
/* Runs the code for `isa` ("generic", "avx2", "avx512", "avx512vnni",
   "avx512bf16", "wide_for_testing"; "plain_for_testing": generic, and
   attention as when
   it gets no scratch memory) from now on; 0 when this machine cannot (the
   choice stays). */
int tac_packed_gemm_use_for_testing(const char *isa) {
#define TAC_USE(name)                                                          \
  (tac_packed_pieces = tac_pieces_##name,                                      \
   tac_bf16_pieces = tac_bf16_pieces_##name,                                   \
   tac_runtime_pieces = tac_runtime_pieces_##name,                             \
   tac_attention_pieces = tac_attention_pieces_##name, 1)
  /* int8 and softmax have generic, AVX2 and AVX-512 forms; the portable
     sets use the generic one */
  tac_int8_quantise = tac_quantise_rows_generic;
  tac_int8_block = tac_int8_block_generic;
  tac_softmax_contiguous = tac_softmax_contiguous_generic;
  if (!strcmp(isa, "generic"))
    return TAC_USE(generic);
  if (!strcmp(isa, "wide_for_testing"))
    return TAC_USE(wide_for_testing);
  if (!strcmp(isa, "plain_for_testing")) { /* attention without scratch */
    int used = TAC_USE(generic);
    tac_attention_pieces = tac_attention_plain;
    return used;
  }
#if defined(__x86_64__)
  if (!strcmp(isa, "avx2") && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma")) {
    tac_int8_quantise = tac_quantise_rows_avx2;
    tac_int8_block = tac_int8_block_avx2;
    tac_softmax_contiguous = tac_softmax_row_avx2;
    return TAC_USE(avx2);
  }
  /* "avx512": f32 and bf16 by AVX-512 widening, int8 by the AVX2 block,
     with the AVX-512 quantiser and softmax, as on an AVX-512 CPU without
     VNNI or AVX512_BF16. "avx512vnni" and "avx512bf16": the same with
     int8 by VNNI or bf16 by vdpbf16ps; the emulated build runs those
     wherever AVX2 does, with the AVX2 code for the rest where the CPU has
     no AVX-512. */
  const int avx2 =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const int avx512 = avx2 && __builtin_cpu_supports("avx512f");
  const int vnni = !strcmp(isa, "avx512vnni") && tac_int8_vnni_usable();
  const int dot = !strcmp(isa, "avx512bf16") && tac_bf16_dot_usable();
  if ((!strcmp(isa, "avx512") && avx512) || ((vnni || dot) && avx2)) {
    int used = avx512 ? TAC_USE(avx512) : TAC_USE(avx2);
    tac_int8_quantise = avx512 ? tac_quantise_rows_avx512
                               : tac_quantise_rows_avx2;
    tac_softmax_contiguous = avx512 ? tac_softmax_row_avx512
                                    : tac_softmax_row_avx2;
    tac_int8_block = vnni ? tac_int8_block_avx512vnni : tac_int8_block_avx2;
    if (dot)
      tac_bf16_pieces = tac_bf16_pieces_dot;
    return used;
  }
#endif
#undef TAC_USE
  return 0;
}
#endif

/* The shared part of both entries: g's fields; 0 when there is nothing to
   multiply (C is then as beta leaves it). */
static int tac_gemm_setup(struct tac_packed_gemm *g, int64_t a, int64_t c,
                          int64_t batch, int64_t m, int64_t n, int64_t k,
                          int64_t ta, int64_t lda, int64_t ldc, int64_t sa,
                          int64_t sc, float beta, int64_t outer, int64_t oa,
                          int64_t oc, int64_t aBytes, int wholeK) {
  memset(g, 0, sizeof *g);
  g->a = (const float *)a;
  g->c = (float *)c;
  g->batch = batch;
  g->m = m;
  g->n = n;
  g->k = k;
  g->aRow = ta ? 1 : lda;
  g->aCol = ta ? lda : 1;
  g->ldc = ldc;
  g->sa = sa;
  g->sc = sc;
  g->oa = oa;
  g->oc = oc;
  g->accumulate = beta != 0.0f;
  g->panels = (n + TAC_PANEL - 1) / TAC_PANEL;
  if (m <= 0 || n <= 0 || outer <= 0 || batch <= 0)
    return 0;
  if (k <= 0) { /* an empty sum: C = beta * C */
    if (!g->accumulate)
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < batch; ++i)
          for (int64_t r = 0; r < m; ++r)
            memset(g->c + o * oc + i * sc + r * ldc, 0, n * sizeof(float));
    return 0;
  }
  /* Row blocks whose A rows stay in a 256 KB share of L2 while every
     panel passes over them, of equal size (whole micro-tiles): pieces are
     split across threads by count, so a short last block would leave a
     thread idle. What stays is what one pass over the panels reads: rows
     x TAC_KC values (the f32 and bf16 tiles step through k in TAC_KC) or
     rows x k (the int8 tiles run the whole k, wholeK), aBytes each as the
     kernel reads them (f32 in place, or its bf16 or int8 copy). Each
     block reads all of B, from memory when B is larger than the caches,
     so fewer blocks read less: sized by the whole k, ViT-Small's and
     MiniLM's fc2 (k = 1536) read B five and four times a call at batch
     1; by TAC_KC, once (docs/backend.md, "Row blocks"). */
  int64_t pass = wholeK || k < TAC_KC ? k : TAC_KC;
  int64_t most = 262144 / (aBytes * pass);
  if (most < TAC_MR)
    most = TAC_MR;
  g->rowBlocks = (m + most - 1) / most;
  int64_t rows = (m + g->rowBlocks - 1) / g->rowBlocks;
  rows = (rows + TAC_MR - 1) / TAC_MR * TAC_MR;
  g->rowsPerBlock = rows < m ? rows : m;
  g->rowBlocks = (m + g->rowsPerBlock - 1) / g->rowsPerBlock;
  return 1;
}

/* The kernels' entries for a weight packed at compile time: outer x batch
   GEMMs of m x k (A, transposed when ta) by the packed k x n B. bBatch and
   bOuter: how many packed matrices apart the B of consecutive batch and
   outer matrices are (0: they share one). One entry per weight precision,
   all with these arguments: tac_sgemm_packed (f32), tac_sgemm_packed_bf16,
   tac_sgemm_packed_int8 (A is quantised row by row as the pieces reach
   it) and tac_sgemm_packed_int8_smoothed (the same with A-multipliers);
   they differ only in the pieces they run and the int8 layout. */
/* Bytes per element of A as the bf16 code reads it: its bf16 copy by
   vdpbf16ps, else f32 in place. */
static int64_t tac_bf16_a_bytes(void) {
#if defined(__x86_64__)
  if (tac_bf16_pieces == tac_bf16_pieces_dot)
    return 2;
#endif
  return 4;
}

#define TAC_PACKED_ENTRY(name, pieces, smooth, aBytes, wholeK)                 \
  void name(int64_t a, int64_t b, int64_t c, int64_t batch, int64_t m,        \
            int64_t n, int64_t k, int64_t ta, int64_t lda, int64_t ldc,       \
            int64_t sa, int64_t sc, float beta, int64_t outer, int64_t oa,    \
            int64_t oc, int64_t bBatch, int64_t bOuter) {                     \
    struct tac_packed_gemm g;                                                  \
    if (!tac_gemm_setup(&g, a, c, batch, m, n, k, ta, lda, ldc, sa, sc, beta, \
                        outer, oa, oc, aBytes, wholeK))                        \
      return;                                                                  \
    g.b = (const void *)b;                                                     \
    g.bBatch = bBatch;                                                         \
    g.bOuter = bOuter;                                                         \
    g.smoothed = smooth;                                                       \
    tac_parallel_for(pieces, &g, outer * batch * g.rowBlocks * g.panels,      \
                     2 * g.rowsPerBlock * k * TAC_PANEL);                      \
  }
TAC_PACKED_ENTRY(tac_sgemm_packed, tac_packed_pieces, 0, 4, 0)
TAC_PACKED_ENTRY(tac_sgemm_packed_bf16, tac_bf16_pieces, 0,
                 tac_bf16_a_bytes(), 0)
TAC_PACKED_ENTRY(tac_sgemm_packed_int8, tac_int8_pieces, 0, 1, 1)
TAC_PACKED_ENTRY(tac_sgemm_packed_int8_smoothed, tac_int8_pieces, 1, 1, 1)
#undef TAC_PACKED_ENTRY

/* Calibration (tac-compile --calibration): the compiler builds an f32 file
   whose GEMMs by a packed weight call tac_sgemm_packed_recording, runs it
   on the calibration inputs, and reads back, per packed matrix, the
   largest |A| each k saw (tac_recorded_gemm_inputs), from which it chooses
   the int8 A-multipliers. The records live in one table per process
   (per loaded code object), behind a spinlock: two sessions may run at
   once. */
struct tac_recorded_input {
  const void *matrix; /* the packed f32 B, as the GEMM call addressed it */
  int64_t k;
  float *absmax; /* k values: the largest |A[r][k]| so far, NaNs ignored */
};
static struct tac_recorded_input *tac_recorded;
static int64_t tac_recorded_count, tac_recorded_capacity;
static int tac_recorded_failed; /* memory ran out: records are incomplete */
static char tac_recorded_lock;

static void tac_recorded_acquire(void) {
  while (__atomic_test_and_set(&tac_recorded_lock, __ATOMIC_ACQUIRE))
    ;
}

static void tac_recorded_release(void) {
  __atomic_clear(&tac_recorded_lock, __ATOMIC_RELEASE);
}

/* Folds one product's maxima into the record of (matrix, k), made when it
   is new. Called with the lock held. */
static void tac_recorded_merge(const void *matrix, int64_t k,
                               const float *most) {
  if (tac_recorded_failed)
    return;
  struct tac_recorded_input *record = NULL;
  for (int64_t i = tac_recorded_count - 1; i >= 0 && !record; --i)
    if (tac_recorded[i].matrix == matrix && tac_recorded[i].k == k)
      record = &tac_recorded[i];
  if (!record) {
    if (tac_recorded_count == tac_recorded_capacity) {
      int64_t capacity = tac_recorded_capacity ? 2 * tac_recorded_capacity
                                               : 64;
      struct tac_recorded_input *grown = (struct tac_recorded_input *)realloc(
          tac_recorded, (size_t)capacity * sizeof *grown);
      if (!grown) {
        tac_recorded_failed = 1;
        return;
      }
      tac_recorded = grown;
      tac_recorded_capacity = capacity;
    }
    float *absmax = (float *)calloc((size_t)k, sizeof(float));
    if (!absmax) {
      tac_recorded_failed = 1;
      return;
    }
    record = &tac_recorded[tac_recorded_count++];
    record->matrix = matrix;
    record->k = k;
    record->absmax = absmax;
  }
  for (int64_t kk = 0; kk < k; ++kk)
    if (most[kk] > record->absmax[kk])
      record->absmax[kk] = most[kk];
}

/* tac_sgemm_packed, after recording, per (o, i) product, the largest |A|
   of each k over its m rows, keyed by the product's packed B matrix. */
void tac_sgemm_packed_recording(int64_t a, int64_t b, int64_t c,
                                int64_t batch, int64_t m, int64_t n,
                                int64_t k, int64_t ta, int64_t lda,
                                int64_t ldc, int64_t sa, int64_t sc,
                                float beta, int64_t outer, int64_t oa,
                                int64_t oc, int64_t bBatch, int64_t bOuter) {
  if (m > 0 && n > 0 && k > 0 && batch > 0 && outer > 0) {
    const int64_t aRow = ta ? 1 : lda, aCol = ta ? lda : 1; /* as setup's */
    const int64_t matrixBytes =
        (n + TAC_PANEL - 1) / TAC_PANEL * k * TAC_PANEL * sizeof(float);
    /* each product's maxima are found outside the lock, then merged */
    float *most = (float *)malloc((size_t)k * sizeof(float));
    for (int64_t o = 0; o < outer && most; ++o)
      for (int64_t i = 0; i < batch; ++i) {
        const float *am = (const float *)a + o * oa + i * sa;
        for (int64_t kk = 0; kk < k; ++kk)
          most[kk] = 0.0f;
        /* along A's contiguous dimension */
        if (aCol == 1)
          for (int64_t r = 0; r < m; ++r)
            for (int64_t kk = 0; kk < k; ++kk) {
              float x = __builtin_fabsf(am[r * aRow + kk]);
              most[kk] = x > most[kk] ? x : most[kk]; /* NaN: no change */
            }
        else
          for (int64_t kk = 0; kk < k; ++kk)
            for (int64_t r = 0; r < m; ++r) {
              float x = __builtin_fabsf(am[r * aRow + kk * aCol]);
              most[kk] = x > most[kk] ? x : most[kk];
            }
        tac_recorded_acquire();
        tac_recorded_merge((const char *)b +
                               (o * bOuter + i * bBatch) * matrixBytes,
                           k, most);
        tac_recorded_release();
      }
    if (!most) {
      tac_recorded_acquire();
      tac_recorded_failed = 1;
      tac_recorded_release();
    }
    free(most);
  }
  tac_sgemm_packed(a, b, c, batch, m, n, k, ta, lda, ldc, sa, sc, beta, outer,
                   oa, oc, bBatch, bOuter);
}

/* The number of records (-1 when memory ran out while recording, until
   cleared); when 0 <= index < that, record `index`'s matrix address, k
   and its k maxima (valid until cleared). */
int64_t tac_recorded_gemm_inputs(int64_t index, const void **matrix,
                                 int64_t *k, const float **absmax) {
  tac_recorded_acquire();
  int64_t count = tac_recorded_failed ? -1 : tac_recorded_count;
  if (index >= 0 && index < count) {
    if (matrix)
      *matrix = tac_recorded[index].matrix;
    if (k)
      *k = tac_recorded[index].k;
    if (absmax)
      *absmax = tac_recorded[index].absmax;
  }
  tac_recorded_release();
  return count;
}

/* Frees every record (and forgets a failure). */
void tac_recorded_gemm_inputs_clear(void) {
  tac_recorded_acquire();
  for (int64_t i = 0; i < tac_recorded_count; ++i)
    free(tac_recorded[i].absmax);
  free(tac_recorded);
  tac_recorded = NULL;
  tac_recorded_count = tac_recorded_capacity = 0;
  tac_recorded_failed = 0;
  tac_recorded_release();
}

/* The kernels' entry for a B computed at run time (the BLAS bridge's
   tac_sgemm arguments): B is k x n, transposed when tb, ldb apart, sb
   between batch and ob between outer matrices. Pieces are (matrix, row
   block); a run of pieces packs each matrix's B once. */
void tac_sgemm_pack_b(int64_t a, int64_t b, int64_t c, int64_t batch,
                      int64_t m, int64_t n, int64_t k, int64_t ta,
                      int64_t tb, int64_t lda, int64_t ldb, int64_t ldc,
                      int64_t sa, int64_t sb, int64_t sc, float beta,
                      int64_t outer, int64_t oa, int64_t ob, int64_t oc) {
  struct tac_runtime_gemm r;
  if (!tac_gemm_setup(&r.g, a, c, batch, m, n, k, ta, lda, ldc, sa, sc,
                      beta, outer, oa, oc, 4, 0))
    return;
  r.b = (const float *)b;
  r.tb = tb;
  r.ldb = ldb;
  r.sb = sb;
  r.ob = ob;
  tac_parallel_for(tac_runtime_pieces, &r, outer * batch * r.g.rowBlocks,
                   2 * r.g.rowsPerBlock * k * n);
}

/* Scores blocks up to this many floats (48 KB) stay in L1/L2 between the
   products that write and read them (on one Zen core, blocks of 6 to 200
   rows of ViT-Small's and MiniLM's scores ran within 3% of each other:
   bench/attention.c). */
#define TAC_ATTENTION_SCORES_FLOATS 12288

/* The kernels' entry for attention: out[b][h][i][e] = sum_j P[i][j] *
   v[b][h][j][e], P[i][:] = softmax_j(scale * sum_e' q[b][h][i][e'] *
   k[b][h][j][e'] + mask[b][h][i][j]) (no mask term when mask is 0); with
   keep (bytes, strides es0..es3) a score whose keep[b][h][i][j] is 0 is
   `fill` instead of the product, before the mask is added. Every
   tensor is addressed by its strides in elements (b, h, row, col; 0
   broadcasts), so head-interleaved and transposed views need no copies;
   k is the logical [b][h][j][d] tensor. d <= 0: every score is the mask's
   (a uniform softmax without one); sk <= 0: out is 0, the empty sum the
   unfused P V gives; nothing else is written when a size is <= 0. */
void tac_attention(int64_t q, int64_t k, int64_t v, int64_t mask,
                   int64_t out, int64_t batch, int64_t heads, int64_t sq,
                   int64_t sk, int64_t d, int64_t dv, float scale,
                   int64_t qs0, int64_t qs1, int64_t qs2, int64_t qs3,
                   int64_t ks0, int64_t ks1, int64_t ks2, int64_t ks3,
                   int64_t vs0, int64_t vs1, int64_t vs2, int64_t vs3,
                   int64_t ms0, int64_t ms1, int64_t ms2, int64_t ms3,
                   int64_t os0, int64_t os1, int64_t os2, int64_t os3,
                   int64_t keep, float fill, int64_t es0, int64_t es1,
                   int64_t es2, int64_t es3) {
  if (batch <= 0 || heads <= 0 || sq <= 0 || dv <= 0)
    return;
  if (sk <= 0) {
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < sq; ++i)
          for (int64_t e = 0; e < dv; ++e)
            ((float *)out)[b * os0 + h * os1 + i * os2 + e * os3] = 0.0f;
    return;
  }
  struct tac_attention_job t = {
      (const float *)q, (const float *)k, (const float *)v,
      (const float *)mask, (float *)out, heads, sq, sk, d > 0 ? d : 0, dv,
      scale, {qs0, qs1, qs2, qs3}, {ks0, ks1, ks2, ks3},
      {vs0, vs1, vs2, vs3}, {ms0, ms1, ms2, ms3}, {os0, os1, os2, os3},
      0, 0, (sk + TAC_PANEL - 1) / TAC_PANEL * TAC_PANEL,
      (const uint8_t *)keep, fill, {es0, es1, es2, es3}};
  /* Row blocks of whole micro-tiles whose scores fit the budget, of equal
     size (pieces are split across threads by count), as tac_gemm_setup's. */
  int64_t most = TAC_ATTENTION_SCORES_FLOATS / t.ld / TAC_MR * TAC_MR;
  if (most < TAC_MR)
    most = TAC_MR;
  t.rowBlocks = (sq + most - 1) / most;
  int64_t rows = (sq + t.rowBlocks - 1) / t.rowBlocks;
  rows = (rows + TAC_MR - 1) / TAC_MR * TAC_MR;
  t.rowsPerBlock = rows < sq ? rows : sq;
  t.rowBlocks = (sq + t.rowsPerBlock - 1) / t.rowsPerBlock;
  /* per piece: both products, and the mask and softmax per score */
  tac_parallel_for(tac_attention_pieces, &t, batch * heads * t.rowBlocks,
                   2 * t.rowsPerBlock * sk * (t.d + dv) +
                       30 * t.rowsPerBlock * sk);
}

#else /* TAC_PACKED_GEMM_ISA: the code for one instruction set */

typedef float TAC_ISA_NAME(tac_vec)
    __attribute__((vector_size(TAC_VECTOR_FLOATS * 4)));
/* Loads and stores: C is only 4-byte aligned, and a packed B needs no
   more (unaligned loads of aligned data cost nothing extra). */
typedef float TAC_ISA_NAME(tac_vecu)
    __attribute__((vector_size(TAC_VECTOR_FLOATS * 4), aligned(4)));
#define TAC_VEC TAC_ISA_NAME(tac_vec)
#define TAC_VECU TAC_ISA_NAME(tac_vecu)
/* A vector's worth of bf16 weights, and the same bits widened to 32. */
typedef uint16_t TAC_ISA_NAME(tac_halves)
    __attribute__((vector_size(TAC_VECTOR_FLOATS * 2), aligned(2)));
typedef uint32_t TAC_ISA_NAME(tac_words)
    __attribute__((vector_size(TAC_VECTOR_FLOATS * 4)));
/* Panels per tile: a tile is two vectors wide. */
#define TAC_TILE_PANELS (2 * TAC_VECTOR_FLOATS / TAC_PANEL)

/* Stores (or adds) the first `cols` columns of one vector of a row. */
static inline __attribute__((always_inline)) void
TAC_ISA_NAME(tac_store)(TAC_VEC acc, float *row, int cols, int add) {
  if (cols >= TAC_VECTOR_FLOATS) {
    TAC_VECU *out = (TAC_VECU *)row;
    *out = add ? *out + acc : acc;
    return;
  }
  union {
    TAC_VEC v;
    float f[TAC_VECTOR_FLOATS];
  } tmp = {acc};
  for (int j = 0; j < cols; ++j)
    row[j] = add ? row[j] + tmp.f[j] : tmp.f[j];
}

/* One vector of B from element `index` of b: f32, or (bf16 != 0) bf16
   widened to f32 (its bits become the f32's top half). */
static inline __attribute__((always_inline)) TAC_VEC
TAC_ISA_NAME(tac_load_b)(const void *b, int64_t index, const int bf16) {
  if (!bf16)
    return *(const TAC_VECU *)((const float *)b + index);
#ifdef TAC_PACKED_GEMM_AVX2
  /* Both 128-bit halves get the 8 bf16, and one byte shuffle moves four
     into each half's top halves of 32 bits: a load and a shuffle, off the
     ports that do the multiply-adds (a widening load and a shift would
     take one of them). */
  __m256i both = _mm256_broadcastsi128_si256(
      _mm_loadu_si128((const __m128i *)((const uint16_t *)b + index)));
  const __m256i spread = _mm256_setr_epi8(
      -1, -1, 0, 1, -1, -1, 2, 3, -1, -1, 4, 5, -1, -1, 6, 7,
      -1, -1, 8, 9, -1, -1, 10, 11, -1, -1, 12, 13, -1, -1, 14, 15);
  return (TAC_VEC)_mm256_shuffle_epi8(both, spread);
#endif
  TAC_ISA_NAME(tac_words)
  bits = __builtin_convertvector(
             *(const TAC_ISA_NAME(tac_halves) *)((const uint16_t *)b + index),
             TAC_ISA_NAME(tac_words))
         << 16;
  TAC_VEC v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

/* The tile's rows as named accumulators (an array would stay in memory):
   X(r) for r below TAC_TILE_ROWS, two accumulators a row: at most 8 rows
   under AVX-512 (16 of its 32 vector registers), 6 under AVX2 (12 of 16).
   A block's rows are split into tiles of near-equal height (tac_block).
   On a Zen 5 (docs/backend.md, "Tile rows"), against tiles of 6 with a
   short last one, 8 made M = 20 (GPT-2-tiny: 7 + 7 + 6, not 6 + 6 + 6 +
   2, whose 4 accumulators wait on FMA latency) and N = 16 about 9% faster
   and left M >= 128 within 1%; 12 rows were as fast at M = 20 but 1-3%
   slower at M >= 128. A tile one row taller (TAC_TALL_ROWS, AVX-512: 9)
   is used only where it saves at least a quarter of a block's tiles,
   since each tile saved is one pass less over the panels' B: M = 17
   (ViT-tiny) runs 9 + 8, not 6 + 6 + 5, the model 3% faster; 9-row tiles
   everywhere made MiniLM (M = 128: 15 tiles, not 16) 2-4% slower. */
#if TAC_VECTOR_FLOATS == 16
#define TAC_TILE_ROWS 8
#define TAC_TALL_ROWS 9
#define TAC_EACH_ROW(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8)
#else
#define TAC_TILE_ROWS 6
#define TAC_TALL_ROWS 6 /* AVX2 has no registers for a seventh row */
#define TAC_EACH_ROW(X) X(0) X(1) X(2) X(3) X(4) X(5)
#endif

/* C[0..mr) x [0..cols) (+)= A[0..mr) x B over `kc` values of k; the
   tile's first vector of B streams from b0, its second from b1 (16 floats
   a step each), and lands at c and c + one vector. mr is a constant at
   every call, so the row tests fold away and the 2 x mr accumulators stay in
   registers. cols <= one vector skips the second. bf16: B holds bf16. */
static inline __attribute__((always_inline)) void
TAC_ISA_NAME(tac_tile)(const int mr, int64_t kc, const float *a,
                       int64_t aRow, int64_t aCol, const void *b0,
                       const void *b1, float *c, int64_t ldc, int cols,
                       int add, const int bf16, const int narrow) {
#define TAC_DECLARE(r) TAC_VEC lo##r = {0}, hi##r = {0};
  TAC_EACH_ROW(TAC_DECLARE)
  if (mr == 1) {
    /* One row (a batch-1 head): two accumulators would leave the FMA
       units waiting on each other's latency, so four runs of k each get
       their own pair (lo/hi 0..3), summed at the end. */
    int64_t k = 0;
    for (; k + 4 <= kc; k += 4) {
#define TAC_PHASE(u)                                                           \
  {                                                                            \
    float s = a[(k + u) * aCol];                                               \
    lo##u += s * TAC_ISA_NAME(tac_load_b)(b0, (k + u) * TAC_PANEL, bf16);      \
    if (!narrow)                                                               \
      hi##u += s * TAC_ISA_NAME(tac_load_b)(b1, (k + u) * TAC_PANEL, bf16);    \
  }
      TAC_PHASE(0) TAC_PHASE(1) TAC_PHASE(2) TAC_PHASE(3)
#undef TAC_PHASE
    }
    for (; k < kc; ++k) {
      float s = a[k * aCol];
      lo0 += s * TAC_ISA_NAME(tac_load_b)(b0, k * TAC_PANEL, bf16);
      if (!narrow)
        hi0 += s * TAC_ISA_NAME(tac_load_b)(b1, k * TAC_PANEL, bf16);
    }
    lo0 = (lo0 + lo1) + (lo2 + lo3);
    hi0 = (hi0 + hi1) + (hi2 + hi3);
    TAC_ISA_NAME(tac_store)(lo0, c, cols, add);
    if (cols > TAC_VECTOR_FLOATS)
      TAC_ISA_NAME(tac_store)(hi0, c + TAC_VECTOR_FLOATS,
                              cols - TAC_VECTOR_FLOATS, add);
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    TAC_VEC x0 = TAC_ISA_NAME(tac_load_b)(b0, k * TAC_PANEL, bf16);
    TAC_VEC x1 =
        narrow ? x0 : TAC_ISA_NAME(tac_load_b)(b1, k * TAC_PANEL, bf16);
    const float *ak = a + k * aCol;
#define TAC_FMA(r)                                                             \
  if (r < mr) {                                                                \
    float s = ak[r * aRow];                                                    \
    lo##r += s * x0;                                                           \
    if (!narrow)                                                               \
      hi##r += s * x1;                                                         \
  }
    TAC_EACH_ROW(TAC_FMA)
  }
#define TAC_STORE(r)                                                           \
  if (r < mr) {                                                                \
    TAC_ISA_NAME(tac_store)(lo##r, c + r * ldc, cols, add);                    \
    if (cols > TAC_VECTOR_FLOATS)                                              \
      TAC_ISA_NAME(tac_store)(hi##r, c + r * ldc + TAC_VECTOR_FLOATS,          \
                              cols - TAC_VECTOR_FLOATS, add);                  \
  }
  TAC_EACH_ROW(TAC_STORE)
#undef TAC_DECLARE
#undef TAC_FMA
#undef TAC_STORE
}

/* Rows [r0, r1) of one matrix against `count` panels from panel p0; B's
   elements are bf16 when bf16 != 0, else f32. */
static inline __attribute__((always_inline)) void
TAC_ISA_NAME(tac_block)(const struct tac_packed_gemm *g, const float *a,
                        const void *b, float *c, int64_t r0, int64_t r1,
                        int64_t p0, int64_t count, const int bf16) {
  const int64_t panelStride = g->k * TAC_PANEL;
  const int64_t bytes = bf16 ? 2 : 4; /* per element of B */
  /* The first row block brings B from memory; the next ones find it in
     L3 and gain nothing from asking early. */
  const int prefetch =
      r0 == 0 && g->panels * panelStride * bytes >= TAC_PREFETCH_B_BYTES;
  /* The block's rows in tiles of near-equal height: a short last tile
     would run at the rate of its few accumulators. */
  int64_t tiles = (r1 - r0 + TAC_TILE_ROWS - 1) / TAC_TILE_ROWS;
  const int64_t tallTiles = (r1 - r0 + TAC_TALL_ROWS - 1) / TAC_TALL_ROWS;
  if (4 * (tiles - tallTiles) >= tiles)
    tiles = tallTiles;
  const int64_t kPerLine = 64 / (TAC_PANEL * bytes); /* k steps a line */
  for (int64_t k0 = 0; k0 < g->k; k0 += TAC_KC) {
    int64_t kc = g->k - k0 < TAC_KC ? g->k - k0 : TAC_KC;
    int add = g->accumulate || k0 > 0;
    const float *ak = a + k0 * g->aCol;
    for (int64_t p = p0; p < p0 + count; p += TAC_TILE_PANELS) {
      int64_t col = p * TAC_PANEL;
      const char *b0 =
          (const char *)b + (p * panelStride + k0 * TAC_PANEL) * bytes;
      /* one vector a panel: the panel's two halves; two panels a tile:
         the next panel (when the piece has one) */
      const char *b1 = TAC_TILE_PANELS == 1
                           ? b0 + TAC_VECTOR_FLOATS * bytes
                           : b0 + panelStride * bytes;
      int64_t cols = g->n - col;
      if (TAC_TILE_PANELS == 2 && p + 1 >= p0 + count) {
        b1 = b0; /* read, never stored */
        if (cols > TAC_PANEL)
          cols = TAC_PANEL;
      }
      if (cols > TAC_TILE_PANELS * TAC_PANEL)
        cols = TAC_TILE_PANELS * TAC_PANEL;
      /* The B the next tile column reads (the next panels at this k0, or
         the first ones at the next k0), asked for a share at a time: the
         column's tiles split its lines between them, so the requests
         spread over the time the column takes. Into L1 (prefetcht0)
         rather than L2 (locality 2): bench/packed_gemm.c's "weights from
         memory" rows, built both ways and run twice each on a Zen 5, gave
         L1 -2% to +6% on the batch-1 rows, within that machine's noise;
         its 48 KB L1 holds this column's 32 KB and part of the next (32 KB
         L1s are not measured). */
      const char *next0 = NULL, *next1 = NULL;
      if (prefetch && p + TAC_TILE_PANELS < p0 + count)
        next0 = (const char *)b +
                ((p + TAC_TILE_PANELS) * panelStride + k0 * TAC_PANEL) * bytes;
      else if (prefetch && k0 + TAC_KC < g->k)
        next0 = (const char *)b +
                (p0 * panelStride + (k0 + TAC_KC) * TAC_PANEL) * bytes;
      if (next0)
        next1 = TAC_TILE_PANELS == 2 ? next0 + panelStride * bytes : NULL;
      for (int64_t tile = 0; tile < tiles; ++tile) {
        const int64_t r = r0 + (r1 - r0) * tile / tiles;
        const int64_t mr = r0 + (r1 - r0) * (tile + 1) / tiles - r;
        const float *ar = ak + r * g->aRow;
        float *cr = c + r * g->ldc + col;
        if (next0) {
          const int64_t k1 = kc * tile / tiles;
          for (int64_t kk = k1 - k1 % kPerLine; kk < kc * (tile + 1) / tiles;
               kk += kPerLine) {
            __builtin_prefetch(next0 + kk * TAC_PANEL * bytes, 0, 3);
            if (next1)
              __builtin_prefetch(next1 + kk * TAC_PANEL * bytes, 0, 3);
          }
        }
#define TAC_TILE(MR, NARROW)                                                   \
  TAC_ISA_NAME(tac_tile)(MR, kc, ar, g->aRow, g->aCol, b0, b1, cr, g->ldc,    \
                         (int)cols, add, bf16, NARROW)
#if TAC_TALL_ROWS == 9
#define TAC_TALL_TILES(NARROW)                                                 \
  case 9: TAC_TILE(9, NARROW); break;                                          \
  case 8: TAC_TILE(8, NARROW); break;                                          \
  case 7: TAC_TILE(7, NARROW); break;
#else
#define TAC_TALL_TILES(NARROW)
#endif
#define TAC_TILES(NARROW)                                                      \
  switch (mr) {                                                                \
    TAC_TALL_TILES(NARROW)                                                     \
  case 6: TAC_TILE(6, NARROW); break;                                          \
  case 5: TAC_TILE(5, NARROW); break;                                          \
  case 4: TAC_TILE(4, NARROW); break;                                          \
  case 3: TAC_TILE(3, NARROW); break;                                          \
  case 2: TAC_TILE(2, NARROW); break;                                          \
  default: TAC_TILE(1, NARROW); break;                                         \
  }
        /* A column of one panel under two-panel tiles (the last of an
           odd count, as N = 16) runs the tile's first half only: the
           second would be multiplied and never stored (bench/packed_gemm.c,
           "one panel" and "three panels", docs/backend.md). */
        if (TAC_TILE_PANELS == 2 && cols <= TAC_VECTOR_FLOATS)
          TAC_TILES(1)
        else
          TAC_TILES(0)
#undef TAC_TILES
#undef TAC_TALL_TILES
#undef TAC_TILE
      }
    }
  }
}

/* Pieces [begin, end) of the flattened (matrix, row block, panel) range:
   consecutive pieces of one row block share A's rows, so a thread's
   contiguous range runs as few blocks as possible. */
static inline __attribute__((always_inline)) void
TAC_ISA_NAME(tac_pieces_of)(void *job, int64_t begin, int64_t end,
                            const int bf16) {
  const struct tac_packed_gemm *g = (const struct tac_packed_gemm *)job;
  const int64_t matrixBytes = g->panels * g->k * TAC_PANEL * (bf16 ? 2 : 4);
  while (begin < end) {
    struct tac_piece t = tac_piece_at(g, begin, end);
    TAC_ISA_NAME(tac_block)(g, g->a + t.o * g->oa + t.i * g->sa,
                            (const char *)g->b + (t.o * g->bOuter +
                                                  t.i * g->bBatch) *
                                                     matrixBytes,
                            g->c + t.o * g->oc + t.i * g->sc, t.r0, t.r1, t.p,
                            t.count, bf16);
    begin += t.count;
  }
}

static void TAC_ISA_NAME(tac_pieces)(void *job, int64_t begin, int64_t end) {
  TAC_ISA_NAME(tac_pieces_of)(job, begin, end, 0);
}

static void TAC_ISA_NAME(tac_bf16_pieces)(void *job, int64_t begin,
                                          int64_t end) {
  TAC_ISA_NAME(tac_pieces_of)(job, begin, end, 1);
}

/* Pieces [begin, end) of the flattened (matrix, row block) range of a
   GEMM whose B is packed on the way (tac_sgemm_pack_b): each B matrix is
   packed when the run reaches it (consecutive pieces of a matrix share
   it). */
static void TAC_ISA_NAME(tac_runtime_pieces)(void *job, int64_t begin,
                                             int64_t end) {
  const struct tac_runtime_gemm *r = (const struct tac_runtime_gemm *)job;
  const struct tac_packed_gemm *g = &r->g;
  int64_t floats = g->panels * TAC_PANEL * g->k;
  float onStack[TAC_STACK_B_FLOATS] __attribute__((aligned(64)));
  float *packed = floats <= TAC_STACK_B_FLOATS
                      ? onStack
                      : aligned_alloc(64, (size_t)floats * sizeof(float));
  const float *packedFrom = NULL; /* the B that `packed` holds */
  for (int64_t item = begin; item < end; ++item) {
    int64_t block = item % g->rowBlocks, matrix = item / g->rowBlocks;
    int64_t o = matrix / g->batch, i = matrix % g->batch;
    int64_t r0 = block * g->rowsPerBlock;
    int64_t r1 = r0 + g->rowsPerBlock < g->m ? r0 + g->rowsPerBlock : g->m;
    const float *a = g->a + o * g->oa + i * g->sa;
    const float *b = r->b + o * r->ob + i * r->sb;
    float *c = g->c + o * g->oc + i * g->sc;
    if (!packed) { /* no memory for a packed copy: slower, still right */
      tac_plain_rows(r, a, b, c, r0, r1);
      continue;
    }
    if (packedFrom != b) {
      tac_pack_b(b, g->k, g->n, r->tb, r->ldb, packed);
      packedFrom = b;
    }
    TAC_ISA_NAME(tac_block)(g, a, packed, c, r0, r1, 0, g->panels, 0);
  }
  if (packed != onStack)
    free(packed);
}


/* A row of scores plus its mask, s[j] += mask[j * ms]: whole vectors when
   the mask's row is contiguous, then the tail (GCC's -O2 leaves such
   loops scalar). */
static inline __attribute__((always_inline)) void
TAC_ISA_NAME(tac_add_mask)(float *s, int64_t n, const float *mask,
                           int64_t ms) {
  int64_t j = 0;
  if (ms == 1)
    for (; j + TAC_VECTOR_FLOATS <= n; j += TAC_VECTOR_FLOATS)
      *(TAC_VECU *)(s + j) += *(const TAC_VECU *)(mask + j);
  for (; j < n; ++j)
    s[j] += mask[j * ms];
}

/* Pieces [begin, end) of the flattened (b, h, row block) range of
   tac_attention. A run packs K^T and V when it reaches a new (b, h)
   (consecutive pieces share them), K^T times the scale; per row block,
   S = Q K^T goes into a scores block that stays in cache (Q read in
   place), each row is masked and softmaxed there, and O = S V is written
   to out (through a block of its own when out's columns are not
   contiguous). */
static void TAC_ISA_NAME(tac_attention_pieces)(void *job, int64_t begin,
                                               int64_t end) {
  const struct tac_attention_job *t = (const struct tac_attention_job *)job;
  const int64_t kPanels = (t->sk + TAC_PANEL - 1) / TAC_PANEL;
  const int64_t vPanels = (t->dv + TAC_PANEL - 1) / TAC_PANEL;
  const int64_t kFloats = kPanels * TAC_PANEL * t->d;
  const int64_t vFloats = vPanels * TAC_PANEL * t->sk;
  const int64_t sFloats = t->rowsPerBlock * t->ld;
  const int64_t ldo = vPanels * TAC_PANEL; /* the output block's */
  const int64_t oFloats = t->os[3] == 1 ? 0 : t->rowsPerBlock * ldo;
  const int64_t floats = kFloats + vFloats + sFloats + oFloats;
  float onStack[TAC_STACK_B_FLOATS] __attribute__((aligned(64)));
  float *scratch = floats <= TAC_STACK_B_FLOATS
                       ? onStack
                       : aligned_alloc(64, (size_t)floats * sizeof(float));
  if (!scratch) { /* slower, still right */
    tac_attention_plain(job, begin, end);
    return;
  }
  /* every part a whole number of 64-byte lines */
  float *packedK = scratch, *packedV = packedK + kFloats;
  float *scores = packedV + vFloats, *block = scores + sFloats;
  const float *kFrom = NULL, *vFrom = NULL; /* what the packed copies hold */
  struct tac_packed_gemm qk, pv;
  memset(&qk, 0, sizeof qk);
  memset(&pv, 0, sizeof pv);
  qk.n = t->sk; /* B = K^T: d x sk */
  qk.k = t->d;
  qk.aRow = t->qs[2];
  qk.aCol = t->qs[3];
  qk.ldc = t->ld;
  qk.panels = kPanels;
  pv.n = t->dv; /* B = V: sk x dv */
  pv.k = t->sk;
  pv.aRow = t->ld;
  pv.aCol = 1;
  pv.ldc = oFloats ? ldo : t->os[2];
  pv.panels = vPanels;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t head = item / t->rowBlocks;
    const int64_t b = head / t->heads, h = head % t->heads;
    const int64_t r0 = item % t->rowBlocks * t->rowsPerBlock;
    const int64_t rows =
        t->sq - r0 < t->rowsPerBlock ? t->sq - r0 : t->rowsPerBlock;
    const float *k = t->k + b * t->ks[0] + h * t->ks[1];
    const float *v = t->v + b * t->vs[0] + h * t->vs[1];
    if (k != kFrom) {
#if defined(TAC_PACKED_GEMM_AVX2) || defined(TAC_PACKED_GEMM_AVX512)
      if (t->ks[3] == 1)
        tac_pack_transposed_avx2(k, t->d, t->sk, t->ks[2], packedK);
      else
#endif
        tac_pack_strided(k, t->d, t->sk, t->ks[3], t->ks[2], packedK);
      /* scale (Q K^T) as Q (scale K^T): a pass over d x sk, not over every
         block's scores */
      if (t->scale != 1.0f)
        for (int64_t i = 0; i < kFloats; i += TAC_VECTOR_FLOATS)
          *(TAC_VEC *)(packedK + i) *= t->scale;
      kFrom = k;
    }
    if (v != vFrom) {
      tac_pack_strided(v, t->sk, t->dv, t->vs[2], t->vs[3], packedV);
      vFrom = v;
    }
    qk.m = pv.m = rows;
    if (t->d > 0)
      TAC_ISA_NAME(tac_block)(&qk,
                              t->q + b * t->qs[0] + h * t->qs[1] +
                                  r0 * t->qs[2],
                              packedK, scores, 0, rows, 0, kPanels, 0);
    else /* empty dot products */
      memset(scores, 0, (size_t)(rows * t->ld) * sizeof(float));
    const float *mask =
        t->mask ? t->mask + b * t->ms[0] + h * t->ms[1] + r0 * t->ms[2]
                : NULL;
    const uint8_t *keep =
        t->keep ? t->keep + b * t->es[0] + h * t->es[1] + r0 * t->es[2]
                : NULL;
    for (int64_t r = 0; r < rows; ++r) {
      float *s = scores + r * t->ld;
      if (keep)
        for (int64_t j = 0; j < t->sk; ++j)
          s[j] = keep[r * t->es[2] + j * t->es[3]] ? s[j] : t->fill;
      if (mask)
        TAC_ISA_NAME(tac_add_mask)(s, t->sk, mask + r * t->ms[2], t->ms[3]);
      tac_softmax_contiguous(s, s, t->sk);
    }
    float *out = t->out + b * t->os[0] + h * t->os[1] + r0 * t->os[2];
    TAC_ISA_NAME(tac_block)(&pv, scores, packedV, oFloats ? block : out, 0,
                            rows, 0, vPanels, 0);
    if (oFloats)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t e = 0; e < t->dv; ++e)
          out[r * t->os[2] + e * t->os[3]] = block[r * ldo + e];
  }
  if (scratch != onStack)
    free(scratch);
}

#undef TAC_VEC
#undef TAC_VECU
#undef TAC_TILE_PANELS
#undef TAC_EACH_ROW
#undef TAC_TILE_ROWS
#undef TAC_TALL_ROWS
#endif /* TAC_PACKED_GEMM_ISA */
