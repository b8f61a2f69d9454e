// tac's GEMM (lib/Backend/Bridges/PackedGemm.c), with B packed beforehand
// (tac_sgemm_packed) and packed as it goes (tac_sgemm_pack_b, B plain or
// transposed), against a plain double-precision product: odd shapes around every tile edge (rows
// not a multiple of 6, columns not of 16, k past one 256-step), A plain and
// transposed, beta 0 and 1, batches and outer loops with shared and
// per-matrix weights, each instruction set this machine runs, and work
// split into uneven pieces as a thread pool would. The same for weights in
// bf16 and int8 (against the values they store, and int8's documented
// quantisation of A), int8's NaN rows, and int8's per-k A-multipliers (an
// outlier column of A smoothed into the weight). The recording entry that
// --calibration's f32 run calls.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

extern "C" {
// The entries by a packed weight, one per precision, all with these
// arguments.
#define PACKED_ENTRY(name)                                                     \
  void name(int64_t a, int64_t b, int64_t c, int64_t batch, int64_t m,        \
            int64_t n, int64_t k, int64_t ta, int64_t lda, int64_t ldc,       \
            int64_t sa, int64_t sc, float beta, int64_t outer, int64_t oa,    \
            int64_t oc, int64_t bBatch, int64_t bOuter);
PACKED_ENTRY(tac_sgemm_packed)
PACKED_ENTRY(tac_sgemm_packed_bf16)
PACKED_ENTRY(tac_sgemm_packed_int8)
PACKED_ENTRY(tac_sgemm_packed_int8_smoothed) // with A-multipliers
PACKED_ENTRY(tac_sgemm_packed_recording) // f32, noting A's ranges
#undef PACKED_ENTRY
int64_t tac_recorded_gemm_inputs(int64_t index, const void **matrix,
                                 int64_t *k, const float **absmax);
void tac_recorded_gemm_inputs_clear(void);
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
  // m: blocks split into tiles of every height up to the 9 rows of the
  // AVX-512 tiling (8 = 8, 13 = 6 + 7, 17 = 8 + 9, 23 = 7 + 8 + 8) and
  // the 6 of AVX2 (13 = 4 + 4 + 5, 23 = 5 + 6 + 6 + 6), one row, and
  // short blocks (the later additions last: the random data of the
  // earlier shapes stays)
  for (int64_t m : {1, 2, 5, 6, 7, 13, 17, 40, 8, 23})
    for (int64_t n : {1, 15, 16, 17, 33, 48, 70})
      for (int64_t k : {1, 3, 64, 257, 600})
        all.push_back({m, n, k, (m + n + k) % 2 == 1, (m * n) % 3 == 0 ? 1.0f
                                                                     : 0.0f});
  all.push_back({17, 64, 16, false, 0.0f, 3, 1, true});
  all.push_back({9, 20, 30, true, 1.0f, 2, 3, false, true});
  all.push_back({9, 20, 30, false, 0.0f, 2, 3, true, true});
  all.push_back({4, 35, 7, false, 0.0f, 3, 2, false, false});
  // More rows than one row block (256 KB of A as one pass over the panels
  // reads it: f32 256 rows at k = 300, one step of 256 k; bf16 by
  // vdpbf16ps 512; int8 873, its tiles run the whole k), A plain and
  // transposed; then a weight over 1 MB (f32), which the first row block
  // asks for a tile column ahead, in two row blocks.
  all.push_back({700, 40, 300, false, 0.0f});
  all.push_back({1200, 40, 300, true, 1.0f});
  all.push_back({260, 520, 520, true, 1.0f});
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

// ---- Reduced-precision weights (PackedGemm.c's bf16 and int8 layouts) ----

uint16_t toBf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return uint16_t((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

float fromBf16(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float x;
  std::memcpy(&x, &bits, 4);
  return x;
}

/// One k x n matrix (row-major) in the int8 layout PackedGemm.c documents,
/// and its dequantised values (what the GEMM multiplies by). With
/// `multiplier` (k values), the smoothed layout: A's column k is multiplied
/// by multiplier[k] as it is quantised (tac_sgemm_packed_int8_smoothed).
std::vector<uint8_t> packInt8(const float *b, int64_t k, int64_t n,
                              std::vector<double> &dequantised,
                              const std::vector<float> &multiplier = {}) {
  int64_t panels = (n + kPanel - 1) / kPanel, width = panels * kPanel;
  int64_t k4 = (k + 7) / 8 * 8;
  int64_t extra = multiplier.empty() ? 0 : k4 * 4; // the multipliers
  std::vector<uint8_t> out(width * 8 + extra + panels * k4 * kPanel, 0);
  auto *scale = reinterpret_cast<float *>(out.data());
  auto *colsum = reinterpret_cast<int32_t *>(out.data() + width * 4);
  auto *multipliers = reinterpret_cast<float *>(out.data() + width * 8);
  auto *q = reinterpret_cast<int8_t *>(out.data() + width * 8 + extra);
  for (int64_t kk = 0; kk < k4 && extra; ++kk)
    multipliers[kk] = kk < int64_t(multiplier.size()) ? multiplier[kk] : 1.0f;
  dequantised.assign(k * n, 0.0);
  for (int64_t col = 0; col < n; ++col) {
    float most = 0;
    for (int64_t kk = 0; kk < k; ++kk)
      most = std::max(most, std::abs(b[kk * n + col]));
    scale[col] = most > 0 ? most / 63.0f : 1.0f;
    for (int64_t kk = 0; kk < k; ++kk) {
      int v = int(std::lround(b[kk * n + col] / scale[col]));
      v = std::clamp(v, -63, 63);
      q[(col / kPanel) * k4 * kPanel + (kk / 4) * 4 * kPanel +
        (col % kPanel) * 4 + kk % 4] = int8_t(v);
      colsum[col] += v;
      dequantised[kk * n + col] = double(scale[col]) * v;
    }
  }
  return out;
}

/// One row of A, each value times its k's multiplier (all 1 when empty),
/// quantised as PackedGemm.c does it, dequantised.
std::vector<double> quantiseRow(std::vector<float> row,
                                const std::vector<float> &multiplier = {}) {
  for (size_t kk = 0; kk < multiplier.size() && kk < row.size(); ++kk)
    row[kk] *= multiplier[kk];
  float lo = 0, hi = 0;
  for (float x : row)
    lo = std::min(lo, x), hi = std::max(hi, x);
  float scale = (hi - lo) / 127.0f;
  if (!(scale > 0))
    scale = 1.0f;
  int zero = std::clamp(int(-lo / scale + 0.5f), 0, 127);
  float inverse = 1.0f / scale;
  std::vector<double> out;
  for (float x : row) {
    float v = x * inverse + (float(zero) + 0.5f);
    int q = v <= 0 ? 0 : v >= 127 ? 127 : int(v);
    out.push_back(double(scale) * (q - zero));
  }
  return out;
}

/// Max |tac - reference| for one shape with weights in bf16 or int8, the
/// reference multiplying by exactly the values the kernel stores (and, for
/// int8, A quantised by the documented rule; for bf16 with `roundA`, as
/// AVX512_BF16's code does, A rounded to bf16), in double; and the error
/// against the f32 product, relative to C's largest value, in `drift`.
double reducedError(const Shape &s, bool int8, bool roundA, std::mt19937 &rng,
                    double &drift) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  int64_t matrices = s.outer * s.batch;
  int64_t bMats = (s.bPerOuter ? s.outer : 1) * (s.bPerBatch ? s.batch : 1);
  int64_t aRows = s.ta ? s.k : s.m, aCols = s.ta ? s.m : s.k;
  int64_t lda = aCols + 2, ldc = s.n + 3;
  int64_t aMatrix = aRows * lda, cMatrix = s.m * ldc;
  std::vector<float> a(matrices * aMatrix), b(bMats * s.k * s.n),
      c(matrices * cMatrix);
  for (float &x : a)
    x = dist(rng) + 0.3f; // a skewed range: a zero point away from 128
  for (float &x : b)
    x = dist(rng);
  for (float &x : c)
    x = dist(rng);
  std::vector<float> cBefore = c;
  std::vector<uint8_t> packed;
  std::vector<std::vector<double>> weights(bMats); // what the kernel uses
  int64_t panels = (s.n + kPanel - 1) / kPanel;
  for (int64_t mat = 0; mat < bMats; ++mat) {
    const float *bm = b.data() + mat * s.k * s.n;
    if (int8) {
      std::vector<uint8_t> one = packInt8(bm, s.k, s.n, weights[mat]);
      packed.insert(packed.end(), one.begin(), one.end());
      continue;
    }
    weights[mat].assign(s.k * s.n, 0.0);
    for (int64_t p = 0; p < panels; ++p)
      for (int64_t kk = 0; kk < s.k; ++kk)
        for (int64_t j = 0; j < kPanel; ++j) {
          int64_t col = p * kPanel + j;
          uint16_t h = col < s.n ? toBf16(bm[kk * s.n + col]) : 0;
          packed.push_back(uint8_t(h));
          packed.push_back(uint8_t(h >> 8));
          if (col < s.n)
            weights[mat][kk * s.n + col] = fromBf16(h);
        }
  }
  int64_t bBatch = s.bPerBatch ? 1 : 0;
  int64_t bOuter = s.bPerOuter ? (s.bPerBatch ? s.batch : 1) : 0;
  auto entry = int8 ? tac_sgemm_packed_int8 : tac_sgemm_packed_bf16;
  entry(reinterpret_cast<int64_t>(a.data()),
        reinterpret_cast<int64_t>(packed.data()),
        reinterpret_cast<int64_t>(c.data()), s.batch, s.m, s.n, s.k, s.ta, lda,
        ldc, aMatrix, cMatrix, s.beta, s.outer, s.batch * aMatrix,
        s.batch * cMatrix, bBatch, bOuter);
  double worst = 0, worstF32 = 0, largest = 1e-30;
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.batch; ++i) {
      int64_t mat = o * s.batch + i;
      int64_t bIndex = (s.bPerOuter ? o : 0) * (s.bPerBatch ? s.batch : 1) +
                       (s.bPerBatch ? i : 0);
      const float *am = a.data() + mat * aMatrix;
      const float *bf = b.data() + bIndex * s.k * s.n;
      for (int64_t r = 0; r < s.m; ++r) {
        std::vector<float> row(s.k);
        for (int64_t kk = 0; kk < s.k; ++kk)
          row[kk] = s.ta ? am[kk * lda + r] : am[r * lda + kk];
        std::vector<double> rowUsed =
            int8 ? quantiseRow(row) : std::vector<double>(row.begin(), row.end());
        if (!int8 && roundA)
          for (double &x : rowUsed)
            x = fromBf16(toBf16(float(x)));
        for (int64_t col = 0; col < ldc; ++col) {
          int64_t at = mat * cMatrix + r * ldc + col;
          double want = cBefore[at], exact = cBefore[at];
          if (col < s.n) {
            want = exact = s.beta != 0 ? want : 0.0;
            for (int64_t kk = 0; kk < s.k; ++kk) {
              want += rowUsed[kk] * weights[bIndex][kk * s.n + col];
              exact += double(row[kk]) * bf[kk * s.n + col];
            }
          }
          worst = std::max(worst, std::abs(want - c[at]));
          worstF32 = std::max(worstF32, std::abs(exact - c[at]));
          largest = std::max(largest, std::abs(exact));
        }
      }
    }
  drift = worstF32 / largest;
  return worst;
}

void checkReduced(const char *isa) {
  if (!tac_packed_gemm_use_for_testing(isa))
    GTEST_SKIP() << "this CPU cannot run the " << isa << " code";
  std::mt19937 rng(11);
  const bool roundA = !std::strcmp(isa, "avx512bf16"); // vdpbf16ps's input
  for (bool int8 : {false, true})
    for (const Shape &s : shapes()) {
      double drift = 0;
      double error = reducedError(s, int8, roundA, rng, drift);
      EXPECT_LE(error, 4e-6 * s.k + 1e-5)
          << isa << (int8 ? " int8: " : " bf16: ") << describe(s);
      // Against the f32 product: quantisation error, bounded loosely (it
      // catches a wrong scale or zero point, not rounding; A rounded too
      // about doubles bf16's, relative to a largest C that may be a sum
      // of 64 terms cancelling).
      EXPECT_LE(drift, int8 ? 0.1 : roundA ? 0.03 : 0.01)
          << isa << (int8 ? " int8" : " bf16") << " vs f32: " << describe(s);
    }
}

/// int8: the code for `isa` gives C bit for bit as the portable code does
/// (the VNNI block's sums are the AVX2 and generic code's, and every
/// quantiser rounds A the same way), over tile heights and remainders,
/// panel pairs and a lone last panel, k around the groups of 4, 8 and the
/// AVX-512 quantiser's 16, several row blocks, beta 0 and 1, plain and
/// smoothed layouts.
void checkInt8SameBits(const char *isa) {
  if (!tac_packed_gemm_use_for_testing(isa))
    GTEST_SKIP() << "this CPU cannot run the " << isa << " code";
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  struct Case {
    int64_t m, n, k;
  };
  for (Case t : {Case{1, 16, 1}, Case{7, 33, 13}, Case{13, 70, 31},
                 Case{25, 48, 64}, Case{12, 17, 100}, Case{2000, 40, 300}})
    for (bool smoothed : {false, true})
      for (float beta : {0.0f, 1.0f}) {
        std::vector<float> a(t.m * t.k), b(t.k * t.n), initial(t.m * t.n),
            multiplier(t.k);
        for (float &x : a)
          x = dist(rng) * 2.0f + 0.5f;
        for (float &x : b)
          x = dist(rng);
        for (float &x : initial)
          x = dist(rng);
        for (float &x : multiplier)
          x = 0.5f + dist(rng) * 0.25f;
        std::vector<double> unused;
        std::vector<uint8_t> packed =
            smoothed ? packInt8(b.data(), t.k, t.n, unused, multiplier)
                     : packInt8(b.data(), t.k, t.n, unused);
        std::vector<float> c[2];
        const char *order[2] = {"generic", isa};
        for (int e = 0; e < 2; ++e) {
          ASSERT_TRUE(tac_packed_gemm_use_for_testing(order[e]));
          c[e] = initial;
          (smoothed ? tac_sgemm_packed_int8_smoothed : tac_sgemm_packed_int8)(
              reinterpret_cast<int64_t>(a.data()),
              reinterpret_cast<int64_t>(packed.data()),
              reinterpret_cast<int64_t>(c[e].data()), 1, t.m, t.n, t.k, 0,
              t.k, t.n, 0, 0, beta, 1, 0, 0, 0, 0);
        }
        ASSERT_EQ(0, std::memcmp(c[0].data(), c[1].data(),
                                 c[0].size() * sizeof(float)))
            << isa << " m " << t.m << " n " << t.n << " k " << t.k
            << (smoothed ? " smoothed" : "") << " beta " << beta;
      }
}

/// int8: a row of A holding a NaN or an infinity gives NaN outputs, as an
/// f32 product would, not numbers made from the row's finite values; the
/// other rows are unaffected.
void checkNonFiniteRows(const char *isa) {
  if (!tac_packed_gemm_use_for_testing(isa))
    GTEST_SKIP() << "this CPU cannot run the " << isa << " code";
  const int64_t m = 7, k = 37, n = 20;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> a(m * k), b(k * n), c(m * n, 0.0f);
  for (float &x : a)
    x = dist(rng);
  for (float &x : b)
    x = dist(rng);
  a[2 * k + 5] = std::nanf("");
  a[4 * k + 30] = INFINITY;
  std::vector<double> weights;
  std::vector<uint8_t> packed = packInt8(b.data(), k, n, weights);
  tac_sgemm_packed_int8(reinterpret_cast<int64_t>(a.data()),
                        reinterpret_cast<int64_t>(packed.data()),
                        reinterpret_cast<int64_t>(c.data()), 1, m, n, k, 0, k,
                        n, 0, 0, 0.0f, 1, 0, 0, 0, 0);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t col = 0; col < n; ++col) {
      float got = c[r * n + col];
      if (r == 2 || r == 4)
        EXPECT_TRUE(std::isnan(got)) << isa << " row " << r << " col " << col;
      else
        EXPECT_TRUE(std::isfinite(got)) << isa << " row " << r << " col " << col;
    }
}

/// bf16: a NaN or an infinity in a row of A (A plain and transposed, where
/// AVX512_BF16's code rounds A by whole vectors and one value at a time)
/// makes that row's outputs NaN or infinite, as in f32; other rows stay
/// finite.
void checkBf16NonFinite(const char *isa) {
  if (!tac_packed_gemm_use_for_testing(isa))
    GTEST_SKIP() << "this CPU cannot run the " << isa << " code";
  const int64_t m = 7, k = 37, n = 20;
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> dist(0.5f, 1.0f);
  std::vector<float> b(k * n);
  for (float &x : b)
    x = dist(rng);
  std::vector<uint8_t> packed;
  for (int64_t p = 0; p < (n + kPanel - 1) / kPanel; ++p)
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < kPanel; ++j) {
        int64_t col = p * kPanel + j;
        uint16_t h = col < n ? toBf16(b[kk * n + col]) : 0;
        packed.push_back(uint8_t(h));
        packed.push_back(uint8_t(h >> 8));
      }
  for (int64_t ta : {0, 1}) {
    std::vector<float> a(m * k), c(m * n, 0.0f);
    for (float &x : a)
      x = dist(rng);
    auto at = [&](int64_t r, int64_t kk) -> float & {
      return ta ? a[kk * m + r] : a[r * k + kk];
    };
    at(2, 5) = std::nanf("");    // in the first vector of 16
    at(4, 36) = INFINITY;        // in the scalar tail
    tac_sgemm_packed_bf16(reinterpret_cast<int64_t>(a.data()),
                          reinterpret_cast<int64_t>(packed.data()),
                          reinterpret_cast<int64_t>(c.data()), 1, m, n, k, ta,
                          ta ? m : k, n, 0, 0, 0.0f, 1, 0, 0, 0, 0);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t col = 0; col < n; ++col) {
        float got = c[r * n + col];
        if (r == 2)
          EXPECT_TRUE(std::isnan(got)) << isa << " ta " << ta << " col " << col;
        else if (r == 4)
          EXPECT_TRUE(std::isinf(got)) << isa << " ta " << ta << " col " << col;
        else
          EXPECT_TRUE(std::isfinite(got))
              << isa << " ta " << ta << " row " << r << " col " << col;
      }
  }
}

/// int8 with per-k A-multipliers (SmoothQuant-style smoothing): each A has
/// outlier columns ~100x the others, which spend most of a row's 7 bits.
/// Packed plainly (no multipliers) and "smoothed" (B's row k scaled by
/// s[k] = sqrt(max |A[:, k]|) / sqrt(max |B[k, :]|), multiplier 1 / s[k]:
/// the same product), both match the documented quantisation of A[r][k] *
/// m[k], and the smoothed one is much closer to the f32 product. A batch of
/// two matrices, each with its own weight and multipliers; outliers in
/// both the AVX2 code's whole vectors and its tail (k = 75); A plain and
/// transposed.
void checkSmoothed(const char *isa) {
  if (!tac_packed_gemm_use_for_testing(isa))
    GTEST_SKIP() << "this CPU cannot run the " << isa << " code";
  const int64_t m = 23, k = 75, n = 37, batch = 2;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (bool ta : {false, true}) {
    int64_t lda = (ta ? m : k) + 1, aMatrix = (ta ? k : m) * lda;
    std::vector<float> a(batch * aMatrix), b(batch * k * n);
    for (float &x : a)
      x = dist(rng);
    for (float &x : b)
      x = dist(rng);
    auto at = [&](int64_t mat, int64_t r, int64_t kk) -> float & {
      return a[mat * aMatrix + (ta ? kk * lda + r : r * lda + kk)];
    };
    for (int64_t mat = 0; mat < batch; ++mat)
      for (int64_t r = 0; r < m; ++r)
        for (int64_t kk : {int64_t(3 + 10 * mat), int64_t(73)})
          at(mat, r, kk) *= 100.0f;
    std::vector<uint8_t> plain, smoothed;
    std::vector<std::vector<double>> plainW(batch), smoothW(batch);
    std::vector<std::vector<float>> multipliers(batch);
    for (int64_t mat = 0; mat < batch; ++mat) {
      const float *bm = b.data() + mat * k * n;
      std::vector<float> scaled(bm, bm + k * n);
      for (int64_t kk = 0; kk < k; ++kk) {
        float aMost = 0, bMost = 0;
        for (int64_t r = 0; r < m; ++r)
          aMost = std::max(aMost, std::abs(at(mat, r, kk)));
        for (int64_t col = 0; col < n; ++col)
          bMost = std::max(bMost, std::abs(bm[kk * n + col]));
        float smooth = std::sqrt(aMost) / std::sqrt(bMost);
        multipliers[mat].push_back(1.0f / smooth);
        for (int64_t col = 0; col < n; ++col)
          scaled[kk * n + col] *= smooth;
      }
      std::vector<uint8_t> one = packInt8(bm, k, n, plainW[mat]);
      plain.insert(plain.end(), one.begin(), one.end());
      one = packInt8(scaled.data(), k, n, smoothW[mat], multipliers[mat]);
      smoothed.insert(smoothed.end(), one.begin(), one.end());
    }
    // per packing: the largest error against the documented rule, and the
    // root mean square error against the f32 product
    double rule[2] = {0, 0}, squares[2] = {0, 0}, largest = 1e-30;
    for (int smooth = 0; smooth < 2; ++smooth) {
      std::vector<float> c(batch * m * n, 0.0f);
      (smooth ? tac_sgemm_packed_int8_smoothed : tac_sgemm_packed_int8)(
          reinterpret_cast<int64_t>(a.data()),
          reinterpret_cast<int64_t>(smooth ? smoothed.data() : plain.data()),
          reinterpret_cast<int64_t>(c.data()), batch, m, n, k, ta, lda, n,
          aMatrix, m * n, 0.0f, 1, 0, 0, 1, 0);
      for (int64_t mat = 0; mat < batch; ++mat) {
        const std::vector<double> &w = smooth ? smoothW[mat] : plainW[mat];
        const float *bm = b.data() + mat * k * n;
        for (int64_t r = 0; r < m; ++r) {
          std::vector<float> row(k);
          for (int64_t kk = 0; kk < k; ++kk)
            row[kk] = at(mat, r, kk);
          std::vector<double> used = smooth
                                         ? quantiseRow(row, multipliers[mat])
                                         : quantiseRow(row);
          for (int64_t col = 0; col < n; ++col) {
            double want = 0, exact = 0;
            for (int64_t kk = 0; kk < k; ++kk) {
              want += used[kk] * w[kk * n + col];
              exact += double(row[kk]) * bm[kk * n + col];
            }
            double got = c[(mat * m + r) * n + col];
            rule[smooth] = std::max(rule[smooth], std::abs(want - got));
            squares[smooth] += (exact - got) * (exact - got);
            largest = std::max(largest, std::abs(exact));
          }
        }
      }
    }
    for (int smooth = 0; smooth < 2; ++smooth)
      EXPECT_LE(rule[smooth], 1e-5 * largest)
          << isa << (ta ? " A^T" : "") << (smooth ? " smoothed" : " plain")
          << ": against the documented quantisation of A * m";
    // The outliers cost the plain packing about 0.7% of C's largest value
    // (root mean square); smoothing leaves a quarter to a third of that
    // (0.24-0.34 over 50 seeds; ignoring the multipliers would be off by
    // the outlier columns' s, ~10x, far more).
    double rms[2] = {std::sqrt(squares[0] / (batch * m * n)) / largest,
                     std::sqrt(squares[1] / (batch * m * n)) / largest};
    EXPECT_LT(rms[1], 0.5 * rms[0])
        << isa << (ta ? " A^T" : "") << ": smoothed " << rms[1] << " vs plain "
        << rms[0] << " of C's largest value (root mean square)";
  }
}

TEST(PackedGemm, Int8MultipliersGeneric) { checkSmoothed("generic"); }
TEST(PackedGemm, Int8MultipliersAvx2) { checkSmoothed("avx2"); }

/// --calibration's recording entry: C as tac_sgemm_packed computes it, and
/// per packed matrix (keyed by its address) and k the largest |A| over the
/// rows of every call that used it, NaNs ignored; clearing empties the
/// table. Three calls over a batch of two matrices: A plain with one
/// weight per batch matrix, A transposed likewise (both holding a NaN), and A
/// plain with matrix 0's weight shared by both (so batch item 1's A counts
/// towards matrix 0's record).
TEST(PackedGemm, RecordingEntry) {
  tac_recorded_gemm_inputs_clear();
  const int64_t m = 9, k = 21, n = 20, batch = 2;
  const int64_t panels = (n + kPanel - 1) / kPanel;
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> b(batch * k * n);
  for (float &x : b)
    x = dist(rng);
  std::vector<float> packed = packWeights(b, k, n, batch);
  std::vector<std::vector<float>> want(batch, std::vector<float>(k, 0.0f));
  struct Call {
    bool ta;
    int64_t bBatch;
  };
  int callIndex = 0;
  for (Call call : {Call{false, 1}, Call{true, 1}, Call{false, 0}}) {
    int64_t lda = (call.ta ? m : k) + 3, aMatrix = (call.ta ? k : m) * lda;
    std::vector<float> a(batch * aMatrix);
    for (float &x : a)
      x = dist(rng) * float(1 + callIndex);
    auto at = [&](int64_t mat, int64_t r, int64_t kk) -> float & {
      return a[mat * aMatrix + (call.ta ? kk * lda + r : r * lda + kk)];
    };
    // NaNs are ignored (each the last value a record sees at its k, so a
    // NaN let through would stay); |A|, not A, counts
    at(1, m - 1, callIndex == 2 ? 9 : 7) = std::nanf("");
    if (callIndex < 2)
      at(1, 2, 11 + callIndex) = -50.0f;
    if (callIndex == 2)
      at(1, 6, 3) = 80.0f; // batch item 1, matrix 0's weight
    for (int64_t mat = 0; mat < batch; ++mat)
      for (int64_t r = 0; r < m; ++r)
        for (int64_t kk = 0; kk < k; ++kk) {
          float &most = want[call.bBatch ? mat : 0][kk];
          float x = std::abs(at(mat, r, kk));
          most = x > most ? x : most;
        }
    std::vector<float> c(batch * m * n), plain;
    for (float &x : c)
      x = dist(rng);
    plain = c;
    float beta = callIndex == 0 ? 1.0f : 0.0f;
    for (bool recording : {false, true})
      (recording ? tac_sgemm_packed_recording : tac_sgemm_packed)(
          reinterpret_cast<int64_t>(a.data()),
          reinterpret_cast<int64_t>(packed.data()),
          reinterpret_cast<int64_t>(recording ? c.data() : plain.data()),
          batch, m, n, k, call.ta, lda, n, aMatrix, m * n, beta, 1, 0, 0,
          call.bBatch, 0);
    for (size_t i = 0; i < c.size(); ++i)
      EXPECT_TRUE(c[i] == plain[i] ||
                  (std::isnan(c[i]) && std::isnan(plain[i])))
          << "call " << callIndex << " element " << i << ": " << c[i]
          << " vs tac_sgemm_packed's " << plain[i];
    ++callIndex;
  }
  ASSERT_EQ(tac_recorded_gemm_inputs(-1, nullptr, nullptr, nullptr), batch);
  for (int64_t index = 0; index < batch; ++index) {
    const void *matrix = nullptr;
    int64_t recordedK = 0;
    const float *absmax = nullptr;
    ASSERT_EQ(tac_recorded_gemm_inputs(index, &matrix, &recordedK, &absmax),
              batch);
    ASSERT_EQ(recordedK, k);
    ASSERT_NE(absmax, nullptr);
    int64_t mat = -1;
    for (int64_t j = 0; j < batch; ++j)
      if (matrix == packed.data() + j * panels * k * kPanel)
        mat = j;
    ASSERT_GE(mat, 0) << "record " << index << ": not a matrix of the calls";
    for (int64_t kk = 0; kk < k; ++kk)
      EXPECT_EQ(absmax[kk], want[mat][kk]) << "matrix " << mat << " k " << kk;
  }
  // Past the end: the count, nothing filled.
  const void *untouched = &want;
  EXPECT_EQ(tac_recorded_gemm_inputs(batch, &untouched, nullptr, nullptr),
            batch);
  EXPECT_EQ(untouched, static_cast<const void *>(&want));
  tac_recorded_gemm_inputs_clear();
  EXPECT_EQ(tac_recorded_gemm_inputs(0, nullptr, nullptr, nullptr), 0);
}

TEST(PackedGemm, Int8NonFiniteRowsGeneric) { checkNonFiniteRows("generic"); }
TEST(PackedGemm, Int8NonFiniteRowsAvx2) { checkNonFiniteRows("avx2"); }

TEST(PackedGemm, Generic) { checkIsa("generic"); }
TEST(PackedGemm, Avx2) { checkIsa("avx2"); }
TEST(PackedGemm, Avx512) { checkIsa("avx512"); }
// The AVX-512 code's two-panel tiles, at a width every machine runs.
TEST(PackedGemm, TwoPanelTiles) { checkIsa("wide_for_testing"); }
TEST(PackedGemm, ReducedGeneric) { checkReduced("generic"); }
TEST(PackedGemm, ReducedAvx2) { checkReduced("avx2"); }
TEST(PackedGemm, ReducedAvx512) { checkReduced("avx512"); }
// The AVX512-VNNI int8 block, natively where the CPU has it (elsewhere
// tac-avx512-emulated-tests runs it through SIMDe).
TEST(PackedGemm, ReducedAvx512Vnni) { checkReduced("avx512vnni"); }
TEST(PackedGemm, Int8SameBitsAvx512Vnni) { checkInt8SameBits("avx512vnni"); }
TEST(PackedGemm, Int8SameBitsAvx512) { checkInt8SameBits("avx512"); }
TEST(PackedGemm, Int8NonFiniteRowsAvx512Vnni) {
  checkNonFiniteRows("avx512vnni");
}
// bf16 by vdpbf16ps, A rounded to bf16 (int8 as "avx512").
TEST(PackedGemm, ReducedAvx512Bf16) { checkReduced("avx512bf16"); }
TEST(PackedGemm, Bf16NonFiniteRowsGeneric) { checkBf16NonFinite("generic"); }
TEST(PackedGemm, Bf16NonFiniteRowsAvx512Bf16) {
  checkBf16NonFinite("avx512bf16");
}
TEST(PackedGemm, ReducedTwoPanelTiles) { checkReduced("wide_for_testing"); }

} // namespace
