// tac's GEMM (lib/Backend/Bridges/PackedGemm.c), with B packed beforehand
// (tac_sgemm_packed) and packed as it goes (tac_sgemm_pack_b, B plain or
// transposed), against a plain double-precision product: odd shapes around every tile edge (rows
// not a multiple of 6, columns not of 16, k past one 256-step), A plain and
// transposed, beta 0 and 1, batches and outer loops with shared and
// per-matrix weights, each instruction set this machine runs, and work
// split into uneven pieces as a thread pool would.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

extern "C" {
void tac_sgemm_packed(int64_t a, int64_t b, int64_t c, int64_t batch,
                      int64_t m, int64_t n, int64_t k, int64_t ta,
                      int64_t lda, int64_t ldc, int64_t sa, int64_t sc,
                      float beta, int64_t outer, int64_t oa, int64_t oc,
                      int64_t bBatch, int64_t bOuter);
void tac_sgemm_pack_b(int64_t a, int64_t b, int64_t c, int64_t batch,
                      int64_t m, int64_t n, int64_t k, int64_t ta,
                      int64_t tb, int64_t lda, int64_t ldb, int64_t ldc,
                      int64_t sa, int64_t sb, int64_t sc, float beta,
                      int64_t outer, int64_t oa, int64_t ob, int64_t oc);
int tac_packed_gemm_use_for_testing(const char *isa);

// The kernel's thread-pool hook: three uneven pieces, in reverse order, so
// a piece starts and ends inside row blocks and panel pairs.
void tac_parallel_for(void (*body)(void *, int64_t, int64_t), void *context,
                      int64_t iterations, int64_t) {
  int64_t first = iterations / 3, second = iterations * 3 / 4;
  body(context, second, iterations);
  body(context, first, second);
  body(context, 0, first);
}
}

namespace {

constexpr int64_t kPanel = 16;

struct Shape {
  int64_t m, n, k;
  bool ta;
  float beta;
  int64_t batch = 1, outer = 1;
  bool bPerBatch = false, bPerOuter = false;
};

/// The layout PackedGemm.c documents: per matrix, ceil(n/16) panels of
/// k x 16 floats, zero past n.
std::vector<float> packWeights(const std::vector<float> &b, int64_t k,
                               int64_t n, int64_t matrices) {
  int64_t panels = (n + kPanel - 1) / kPanel;
  std::vector<float> out;
  for (int64_t mat = 0; mat < matrices; ++mat)
    for (int64_t p = 0; p < panels; ++p)
      for (int64_t kk = 0; kk < k; ++kk)
        for (int64_t j = 0; j < kPanel; ++j) {
          int64_t col = p * kPanel + j;
          out.push_back(col < n ? b[mat * k * n + kk * n + col] : 0.0f);
        }
  return out;
}

/// Max |tac - reference| over C for one shape, run by the current ISA:
/// B packed beforehand, or (`runtimeB`) handed over as it is, transposed
/// when `bTrans`.
double maxError(const Shape &s, std::mt19937 &rng, bool runtimeB = false,
                bool bTrans = false) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  int64_t matrices = s.outer * s.batch;
  int64_t bOuterMats = s.bPerOuter ? s.outer : 1;
  int64_t bBatchMats = s.bPerBatch ? s.batch : 1;
  // A: each matrix m x k (or k x m when transposed), with a wider leading
  // dimension than needed; C: n + 3 columns apart.
  int64_t aRows = s.ta ? s.k : s.m, aCols = s.ta ? s.m : s.k;
  int64_t lda = aCols + 2, ldc = s.n + 3;
  int64_t aMatrix = aRows * lda, cMatrix = s.m * ldc;
  std::vector<float> a(matrices * aMatrix), b(bOuterMats * bBatchMats * s.k *
                                              s.n),
      c(matrices * cMatrix);
  for (float &x : a)
    x = dist(rng);
  for (float &x : b)
    x = dist(rng);
  for (float &x : c)
    x = dist(rng);
  std::vector<float> cBefore = c;
  std::vector<float> packed =
      packWeights(b, s.k, s.n, bOuterMats * bBatchMats);
  int64_t bBatch = s.bPerBatch ? 1 : 0;
  int64_t bOuter = s.bPerOuter ? bBatchMats : 0;
  if (!runtimeB) {
    tac_sgemm_packed(reinterpret_cast<int64_t>(a.data()),
                     reinterpret_cast<int64_t>(packed.data()),
                     reinterpret_cast<int64_t>(c.data()), s.batch, s.m, s.n,
                     s.k, s.ta, lda, ldc, aMatrix, cMatrix, s.beta, s.outer,
                     s.batch * aMatrix, s.batch * cMatrix, bBatch, bOuter);
  } else {
    // B as the kernels pass it: each matrix k x n with a wider leading
    // dimension (n x k when transposed).
    int64_t ldb = (bTrans ? s.k : s.n) + 1;
    int64_t bMatrix = (bTrans ? s.n : s.k) * ldb;
    std::vector<float> plain(bOuterMats * bBatchMats * bMatrix, -7.0f);
    for (int64_t mat = 0; mat < bOuterMats * bBatchMats; ++mat)
      for (int64_t kk = 0; kk < s.k; ++kk)
        for (int64_t col = 0; col < s.n; ++col)
          plain[mat * bMatrix + (bTrans ? col * ldb + kk : kk * ldb + col)] =
              b[mat * s.k * s.n + kk * s.n + col];
    tac_sgemm_pack_b(reinterpret_cast<int64_t>(a.data()),
                     reinterpret_cast<int64_t>(plain.data()),
                     reinterpret_cast<int64_t>(c.data()), s.batch, s.m, s.n,
                     s.k, s.ta, bTrans, lda, ldb, ldc, aMatrix,
                     bBatch * bMatrix, cMatrix, s.beta, s.outer,
                     s.batch * aMatrix, bOuter * bMatrix, s.batch * cMatrix);
  }
  double worst = 0;
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.batch; ++i) {
      int64_t mat = o * s.batch + i;
      const float *am = a.data() + mat * aMatrix;
      const float *bm =
          b.data() + ((s.bPerOuter ? o : 0) * bBatchMats + (s.bPerBatch ? i : 0)) *
                         s.k * s.n;
      for (int64_t r = 0; r < s.m; ++r)
        for (int64_t col = 0; col < ldc; ++col) {
          int64_t at = mat * cMatrix + r * ldc + col;
          double want = cBefore[at]; // padding columns stay as they were
          if (col < s.n) {
            want = s.beta != 0 ? want : 0.0;
            for (int64_t kk = 0; kk < s.k; ++kk)
              want += double(s.ta ? am[kk * lda + r] : am[r * lda + kk]) *
                      bm[kk * s.n + col];
          }
          worst = std::max(worst, std::abs(want - c[at]));
        }
    }
  return worst;
}

std::string describe(const Shape &s) {
  return std::to_string(s.m) + "x" + std::to_string(s.k) + "x" +
         std::to_string(s.n) + (s.ta ? " A^T" : "") +
         " beta=" + std::to_string(int(s.beta)) +
         " batch=" + std::to_string(s.batch) + (s.bPerBatch ? "(B each)" : "") +
         " outer=" + std::to_string(s.outer) + (s.bPerOuter ? "(B each)" : "");
}

std::vector<Shape> shapes() {
  std::vector<Shape> all;
  for (int64_t m : {1, 2, 5, 6, 7, 13, 17, 40})
    for (int64_t n : {1, 15, 16, 17, 33, 48, 70})
      for (int64_t k : {1, 3, 64, 257, 600})
        all.push_back({m, n, k, (m + n + k) % 2 == 1, (m * n) % 3 == 0 ? 1.0f
                                                                     : 0.0f});
  all.push_back({17, 64, 16, false, 0.0f, 3, 1, true});
  all.push_back({9, 20, 30, true, 1.0f, 2, 3, false, true});
  all.push_back({9, 20, 30, false, 0.0f, 2, 3, true, true});
  all.push_back({4, 35, 7, false, 0.0f, 3, 2, false, false});
  // More rows than one row block (65536 / k floats of A).
  all.push_back({700, 40, 300, false, 0.0f});
  return all;
}

void checkIsa(const char *isa) {
  if (!tac_packed_gemm_use_for_testing(isa))
    GTEST_SKIP() << "this CPU cannot run the " << isa << " code";
  std::mt19937 rng(7);
  for (const Shape &s : shapes()) {
    double tolerance = 2e-6 * s.k + 1e-6;
    EXPECT_LE(maxError(s, rng), tolerance) << isa << ": " << describe(s);
    EXPECT_LE(maxError(s, rng, /*runtimeB=*/true), tolerance)
        << isa << ", B packed as it goes: " << describe(s);
    EXPECT_LE(maxError(s, rng, /*runtimeB=*/true, /*bTrans=*/true), tolerance)
        << isa << ", B transposed, packed as it goes: " << describe(s);
  }
}

TEST(PackedGemm, Generic) { checkIsa("generic"); }
TEST(PackedGemm, Avx2) { checkIsa("avx2"); }
TEST(PackedGemm, Avx512) { checkIsa("avx512"); }
// The AVX-512 code's two-panel tiles, at a width every machine runs.
TEST(PackedGemm, TwoPanelTiles) { checkIsa("wide_for_testing"); }

} // namespace
