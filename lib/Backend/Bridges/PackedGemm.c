/* tac's GEMM over compile-time packed weights: C = A * B (+ C), f32.
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
 */
#include <stdint.h>
#include <string.h>

#ifndef TAC_PACKED_GEMM_ISA
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TAC_PANEL 16 /* columns per packed panel */
#define TAC_MR 6     /* rows per micro-tile */
#define TAC_KC 256   /* k per step: one panel's step is 16 KB, kept in L1 */

void tac_parallel_for(void (*)(void *, int64_t, int64_t), void *, int64_t,
                      int64_t);

/* One GEMM call: outer x batch products; the packed B of matrix (o, i) is
   at b + (o * bOuter + i * bBatch) * panels * k * 16, so a weight shared by
   every matrix has both 0. */
struct tac_packed_gemm {
  const float *a, *b;
  float *c;
  int64_t batch, m, n, k;
  int64_t aRow, aCol; /* A's element (r, k) is at a[r * aRow + k * aCol] */
  int64_t ldc, sa, sc, oa, oc, bBatch, bOuter;
  int64_t panels, rowsPerBlock, rowBlocks;
  int accumulate; /* beta = 1: add to C; 0: overwrite it */
};

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
      for (int64_t kk = 0; kk < k; ++kk) {
        memcpy(panel + kk * TAC_PANEL, b + kk * ldb + col0,
               cols * sizeof(float));
        if (cols < TAC_PANEL)
          memset(panel + kk * TAC_PANEL + cols, 0,
                 (TAC_PANEL - cols) * sizeof(float));
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
#define TAC_VECTOR_FLOATS 8
#include "PackedGemm.c"
#undef TAC_PACKED_GEMM_ISA
#undef TAC_VECTOR_FLOATS
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f")
#define TAC_PACKED_GEMM_ISA avx512
#define TAC_VECTOR_FLOATS 16
#include "PackedGemm.c"
#undef TAC_PACKED_GEMM_ISA
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

typedef void (*tac_pieces_fn)(void *, int64_t, int64_t);
static tac_pieces_fn tac_packed_pieces = tac_pieces_generic;
static tac_pieces_fn tac_runtime_pieces = tac_runtime_pieces_generic;
__attribute__((constructor)) static void tac_choose_packed_gemm(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    tac_packed_pieces = tac_pieces_avx512;
    tac_runtime_pieces = tac_runtime_pieces_avx512;
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    tac_packed_pieces = tac_pieces_avx2;
    tac_runtime_pieces = tac_runtime_pieces_avx2;
  }
#endif
}

#ifdef TAC_PACKED_GEMM_TESTING
/* Runs the code for `isa` ("generic", "avx2", "avx512", "wide_for_testing")
   from now on; 0 when this machine cannot (the choice stays). */
int tac_packed_gemm_use_for_testing(const char *isa) {
#define TAC_USE(name)                                                          \
  (tac_packed_pieces = tac_pieces_##name,                                      \
   tac_runtime_pieces = tac_runtime_pieces_##name, 1)
  if (!strcmp(isa, "generic"))
    return TAC_USE(generic);
  if (!strcmp(isa, "wide_for_testing"))
    return TAC_USE(wide_for_testing);
#if defined(__x86_64__)
  if (!strcmp(isa, "avx2") && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma"))
    return TAC_USE(avx2);
  if (!strcmp(isa, "avx512") && __builtin_cpu_supports("avx512f"))
    return TAC_USE(avx512);
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
                          int64_t oc) {
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
  /* Row blocks whose A rows (rows x k floats) stay in a 256 KB share of
     L2 while every panel passes over them, of equal size (whole
     micro-tiles): pieces are split across threads by count, so a short
     last block would leave a thread idle. */
  int64_t most = 65536 / k;
  if (most < TAC_MR)
    most = TAC_MR;
  g->rowBlocks = (m + most - 1) / most;
  int64_t rows = (m + g->rowBlocks - 1) / g->rowBlocks;
  rows = (rows + TAC_MR - 1) / TAC_MR * TAC_MR;
  g->rowsPerBlock = rows < m ? rows : m;
  g->rowBlocks = (m + g->rowsPerBlock - 1) / g->rowsPerBlock;
  return 1;
}

/* The kernels' entry for a weight packed at compile time: outer x batch
   GEMMs of m x k (A, transposed when ta) by the packed k x n B. bBatch and
   bOuter: how many packed matrices apart the B of consecutive batch and
   outer matrices are (0: they share one). */
void tac_sgemm_packed(int64_t a, int64_t b, int64_t c, int64_t batch,
                      int64_t m, int64_t n, int64_t k, int64_t ta,
                      int64_t lda, int64_t ldc, int64_t sa, int64_t sc,
                      float beta, int64_t outer, int64_t oa, int64_t oc,
                      int64_t bBatch, int64_t bOuter) {
  struct tac_packed_gemm g;
  if (!tac_gemm_setup(&g, a, c, batch, m, n, k, ta, lda, ldc, sa, sc, beta,
                      outer, oa, oc))
    return;
  g.b = (const float *)b;
  g.bBatch = bBatch;
  g.bOuter = bOuter;
  tac_parallel_for(tac_packed_pieces, &g,
                   outer * batch * g.rowBlocks * g.panels,
                   2 * g.rowsPerBlock * k * TAC_PANEL);
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
                      beta, outer, oa, oc))
    return;
  r.b = (const float *)b;
  r.tb = tb;
  r.ldb = ldb;
  r.sb = sb;
  r.ob = ob;
  tac_parallel_for(tac_runtime_pieces, &r, outer * batch * r.g.rowBlocks,
                   2 * r.g.rowsPerBlock * k * n);
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

/* The tile's rows as named accumulators (an array would stay in memory):
   X(r) for r = 0..5. */
#define TAC_EACH_ROW(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* C[0..mr) x [0..cols) (+)= A[0..mr) x B over `kc` values of k; the
   tile's first vector of B streams from b0, its second from b1 (16 floats
   a step each), and lands at c and c + one vector. mr is a constant at
   every call, so the row tests fold away and the 12 accumulators stay in
   registers. cols <= one vector skips the second. */
static inline __attribute__((always_inline)) void
TAC_ISA_NAME(tac_tile)(const int mr, int64_t kc, const float *a,
                       int64_t aRow, int64_t aCol, const float *b0,
                       const float *b1, float *c, int64_t ldc, int cols,
                       int add) {
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
    lo##u += s * *(const TAC_VECU *)(b0 + (k + u) * TAC_PANEL);                \
    hi##u += s * *(const TAC_VECU *)(b1 + (k + u) * TAC_PANEL);                \
  }
      TAC_PHASE(0) TAC_PHASE(1) TAC_PHASE(2) TAC_PHASE(3)
#undef TAC_PHASE
    }
    for (; k < kc; ++k) {
      float s = a[k * aCol];
      lo0 += s * *(const TAC_VECU *)(b0 + k * TAC_PANEL);
      hi0 += s * *(const TAC_VECU *)(b1 + k * TAC_PANEL);
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
    TAC_VEC x0 = *(const TAC_VECU *)(b0 + k * TAC_PANEL);
    TAC_VEC x1 = *(const TAC_VECU *)(b1 + k * TAC_PANEL);
    const float *ak = a + k * aCol;
#define TAC_FMA(r)                                                             \
  if (r < mr) {                                                                \
    float s = ak[r * aRow];                                                    \
    lo##r += s * x0;                                                           \
    hi##r += s * x1;                                                           \
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

/* Rows [r0, r1) of one matrix against `count` panels from panel p0. */
static inline __attribute__((always_inline)) void
TAC_ISA_NAME(tac_block)(const struct tac_packed_gemm *g, const float *a,
                        const float *b, float *c, int64_t r0, int64_t r1,
                        int64_t p0, int64_t count) {
  const int64_t panelStride = g->k * TAC_PANEL;
  for (int64_t k0 = 0; k0 < g->k; k0 += TAC_KC) {
    int64_t kc = g->k - k0 < TAC_KC ? g->k - k0 : TAC_KC;
    int add = g->accumulate || k0 > 0;
    const float *ak = a + k0 * g->aCol;
    for (int64_t p = p0; p < p0 + count; p += TAC_TILE_PANELS) {
      int64_t col = p * TAC_PANEL;
      const float *b0 = b + p * panelStride + k0 * TAC_PANEL;
      /* one vector a panel: the panel's two halves; two panels a tile:
         the next panel (when the piece has one) */
      const float *b1 = TAC_TILE_PANELS == 1 ? b0 + TAC_VECTOR_FLOATS
                                             : b0 + panelStride;
      int64_t cols = g->n - col;
      if (TAC_TILE_PANELS == 2 && p + 1 >= p0 + count) {
        b1 = b0; /* read, never stored */
        if (cols > TAC_PANEL)
          cols = TAC_PANEL;
      }
      if (cols > TAC_TILE_PANELS * TAC_PANEL)
        cols = TAC_TILE_PANELS * TAC_PANEL;
      for (int64_t r = r0; r < r1; r += TAC_MR) {
        const float *ar = ak + r * g->aRow;
        float *cr = c + r * g->ldc + col;
#define TAC_TILE(MR)                                                           \
  TAC_ISA_NAME(tac_tile)(MR, kc, ar, g->aRow, g->aCol, b0, b1, cr, g->ldc,    \
                         (int)cols, add)
        switch (r1 - r < TAC_MR ? r1 - r : TAC_MR) {
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

/* Pieces [begin, end) of the flattened (matrix, row block, panel) range:
   consecutive pieces of one row block share A's rows, so a thread's
   contiguous range runs as few blocks as possible. */
static void TAC_ISA_NAME(tac_pieces)(void *job, int64_t begin, int64_t end) {
  const struct tac_packed_gemm *g = (const struct tac_packed_gemm *)job;
  const int64_t matrixFloats = g->panels * g->k * TAC_PANEL;
  while (begin < end) {
    int64_t p = begin % g->panels, rest = begin / g->panels;
    int64_t block = rest % g->rowBlocks, matrix = rest / g->rowBlocks;
    int64_t count = g->panels - p;
    if (count > end - begin)
      count = end - begin;
    int64_t o = matrix / g->batch, i = matrix % g->batch;
    int64_t r0 = block * g->rowsPerBlock;
    int64_t r1 = r0 + g->rowsPerBlock < g->m ? r0 + g->rowsPerBlock : g->m;
    TAC_ISA_NAME(tac_block)(g, g->a + o * g->oa + i * g->sa,
                            g->b + (o * g->bOuter + i * g->bBatch) *
                                       matrixFloats,
                            g->c + o * g->oc + i * g->sc, r0, r1, p, count);
    begin += count;
  }
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
    TAC_ISA_NAME(tac_block)(g, a, packed, c, r0, r1, 0, g->panels);
  }
  if (packed != onStack)
    free(packed);
}

#undef TAC_VEC
#undef TAC_VECU
#undef TAC_TILE_PANELS
#undef TAC_EACH_ROW
#endif /* TAC_PACKED_GEMM_ISA */
