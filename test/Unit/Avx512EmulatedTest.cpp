// tac's AVX512-VNNI int8 block (PackedGemm.c, tac_int8_block_avx512vnni)
// and AVX512_BF16 bf16 code (tac_bf16_pieces_dot) on machines without
// them: this executable links its own PackedGemm.c compiled with
// TAC_AVX512_EMULATED, where those parts' intrinsics are SIMDe's portable
// ones.
//
// int8: tac_sgemm_packed_int8 (and the smoothed layout) give bit-identical
// C with the VNNI block and with the generic code, over rows 1..9 and more
// (every tile height and remainder), columns around the 16-column panels
// and panel pairs, k not a multiple of 8, beta 0 and 1, and extreme values
// (A bytes 0 and 127, weights -63 and 63, sums past 2^24 where the
// conversion to f32 rounds).
//
// bf16: tac_sgemm_packed_bf16 against a double-precision product of A and
// B both rounded to bf16 (the instruction multiplies bf16 pairs; its sums
// are f32 in an order of its own, so the check is a bound, not bits), over
// every tile height, odd k (a half pair at the end) and k past one
// 256-step, A plain and transposed, beta 0 and 1, split pieces.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" {
#define PACKED_ENTRY(name)                                                     \
  void name(int64_t a, int64_t b, int64_t c, int64_t batch, int64_t m,        \
            int64_t n, int64_t k, int64_t ta, int64_t lda, int64_t ldc,       \
            int64_t sa, int64_t sc, float beta, int64_t outer, int64_t oa,    \
            int64_t oc, int64_t bBatch, int64_t bOuter);
PACKED_ENTRY(tac_sgemm_packed_bf16)
PACKED_ENTRY(tac_sgemm_packed_int8)
PACKED_ENTRY(tac_sgemm_packed_int8_smoothed)
#undef PACKED_ENTRY
int tac_packed_gemm_use_for_testing(const char *isa);

// Three uneven pieces in reverse order, as PackedGemmTest.cpp's (pieces
// start inside row blocks and panel pairs, so a block may get one panel),
// or with gWhole one piece: every panel pair of a row block together.
static bool gWhole = false;
void tac_parallel_for(void (*body)(void *, int64_t, int64_t), void *context,
                      int64_t iterations, int64_t) {
  if (gWhole) {
    body(context, 0, iterations);
    return;
  }
  int64_t first = iterations / 3, second = iterations * 3 / 4;
  body(context, second, iterations);
  body(context, first, second);
  body(context, 0, first);
}
}

namespace {

constexpr int64_t kPanel = 16;

/// How the weights' int8 values are drawn.
enum class Weights { Random, Extreme, Top };

/// A k x n weight in PackedGemm.c's int8 layout, its int8 values drawn as
/// `kind` says (Extreme: -63 or 63; Top: all 63), the column scales random
/// and the column sums the true ones; with `smoothed`, k A-multipliers.
std::vector<uint8_t> packWeights(int64_t k, int64_t n, Weights kind,
                                 bool smoothed, std::mt19937 &rng) {
  int64_t panels = (n + kPanel - 1) / kPanel, width = panels * kPanel;
  int64_t k4 = (k + 7) / 8 * 8;
  int64_t extra = smoothed ? k4 * 4 : 0;
  std::vector<uint8_t> out(width * 8 + extra + panels * k4 * kPanel, 0);
  auto *scale = reinterpret_cast<float *>(out.data());
  auto *colsum = reinterpret_cast<int32_t *>(out.data() + width * 4);
  auto *multiplier = reinterpret_cast<float *>(out.data() + width * 8);
  auto *q = reinterpret_cast<int8_t *>(out.data() + width * 8 + extra);
  std::uniform_real_distribution<float> scales(1e-3f, 2e-2f);
  std::uniform_real_distribution<float> multipliers(0.25f, 4.0f);
  std::uniform_int_distribution<int> values(-63, 63), coin(0, 1);
  for (int64_t kk = 0; kk < k4 && smoothed; ++kk)
    multiplier[kk] = kk < k ? multipliers(rng) : 1.0f;
  for (int64_t col = 0; col < n; ++col) {
    scale[col] = scales(rng);
    for (int64_t kk = 0; kk < k; ++kk) {
      int v = kind == Weights::Top       ? 63
              : kind == Weights::Extreme ? (coin(rng) ? 63 : -63)
                                         : values(rng);
      q[(col / kPanel) * k4 * kPanel + (kk / 4) * 4 * kPanel +
        (col % kPanel) * 4 + kk % 4] = int8_t(v);
      colsum[col] += v;
    }
  }
  return out;
}

/// m x k of A: random in [-1, 1] (each row's min and max quantise to 0 and
/// 127), or with `twoLevel` only -1 and 3 (every byte 0 or 127), or with
/// `positive` only 0 and 1 (zero point 0, bytes 0 and 127).
std::vector<float> makeA(int64_t m, int64_t k, int mode, std::mt19937 &rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::uniform_int_distribution<int> coin(0, 1);
  std::vector<float> a(m * k);
  for (float &x : a)
    x = mode == 0 ? dist(rng) : mode == 1 ? (coin(rng) ? 3.0f : -1.0f)
                                          : (coin(rng) ? 1.0f : 0.0f);
  return a;
}

/// C from the int8 entry with the code for `isa` (false when it cannot
/// run here), C starting from `initial` (beta = 1 adds to it).
bool run(const char *isa, bool smoothed, const std::vector<float> &a,
         const std::vector<uint8_t> &packed, int64_t m, int64_t n, int64_t k,
         float beta, const std::vector<float> &initial,
         std::vector<float> &c) {
  if (!tac_packed_gemm_use_for_testing(isa))
    return false;
  c = initial;
  (smoothed ? tac_sgemm_packed_int8_smoothed : tac_sgemm_packed_int8)(
      reinterpret_cast<int64_t>(a.data()),
      reinterpret_cast<int64_t>(packed.data()),
      reinterpret_cast<int64_t>(c.data()), 1, m, n, k, 0, k, n, 0, 0, beta,
      1, 0, 0, 0, 0);
  return true;
}

/// Whether two results hold the same bits (NaN: both NaN).
::testing::AssertionResult sameBits(const std::vector<float> &want,
                                    const std::vector<float> &got,
                                    int64_t n) {
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i]) && std::isnan(got[i]))
      continue;
    uint32_t w, g;
    std::memcpy(&w, &want[i], 4);
    std::memcpy(&g, &got[i], 4);
    if (w != g)
      return ::testing::AssertionFailure()
             << "row " << i / n << " col " << i % n << ": generic " << want[i]
             << ", VNNI " << got[i];
  }
  return ::testing::AssertionSuccess();
}

std::string describe(int64_t m, int64_t n, int64_t k, bool smoothed,
                     float beta, int weights, int aMode) {
  return "m " + std::to_string(m) + " n " + std::to_string(n) + " k " +
         std::to_string(k) + (smoothed ? " smoothed" : "") + " beta " +
         std::to_string(int(beta)) + " weights " + std::to_string(weights) +
         " A " + std::to_string(aMode);
}

/// One shape, split as gWhole says: the VNNI block's C bit for bit as the
/// generic code's (and as the AVX2 code's, which quantises A with the same
/// code the VNNI choice uses).
void checkSplit(int64_t m, int64_t n, int64_t k, bool smoothed, float beta,
                Weights weights, int aMode, std::mt19937 &rng) {
  std::vector<uint8_t> packed = packWeights(k, n, weights, smoothed, rng);
  std::vector<float> a = makeA(m, k, aMode, rng);
  std::vector<float> initial(m * n);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (float &x : initial)
    x = dist(rng);
  std::vector<float> generic, avx2, vnni;
  std::string what =
      describe(m, n, k, smoothed, beta, int(weights), aMode);
  ASSERT_TRUE(run("generic", smoothed, a, packed, m, n, k, beta, initial,
                  generic));
  ASSERT_TRUE(run("avx512vnni", smoothed, a, packed, m, n, k, beta, initial,
                  vnni));
  EXPECT_TRUE(sameBits(generic, vnni, n)) << what;
  if (run("avx2", smoothed, a, packed, m, n, k, beta, initial, avx2)) {
    EXPECT_TRUE(sameBits(avx2, vnni, n)) << "against AVX2: " << what;
  }
}

/// One shape, split into pieces and whole.
void checkShape(int64_t m, int64_t n, int64_t k, bool smoothed, float beta,
                Weights weights, int aMode, std::mt19937 &rng) {
  for (bool whole : {false, true}) {
    gWhole = whole;
    checkSplit(m, n, k, smoothed, beta, weights, aMode, rng);
  }
  gWhole = false;
}

class Int8VnniEmulated : public ::testing::Test {
protected:
  void SetUp() override {
    if (!tac_packed_gemm_use_for_testing("avx512vnni"))
      GTEST_SKIP() << "the emulated VNNI code needs AVX2 (its quantiser)";
  }
  void TearDown() override { tac_packed_gemm_use_for_testing("generic"); }
};

// Every tile height (8, 4, 2, 1 and their sums) against single panels and
// pairs, a partial last panel in either place, k around the groups of 4
// and the padding to 8.
TEST_F(Int8VnniEmulated, MatchesGenericOnOddShapes) {
  std::mt19937 rng(11);
  for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 17, 37})
    for (int64_t n : {1, 5, 16, 17, 31, 32, 33, 47, 70})
      for (int64_t k : {1, 3, 4, 7, 9, 13, 64, 100})
        for (bool smoothed : {false, true})
          for (float beta : {0.0f, 1.0f})
            checkShape(m, n, k, smoothed, beta, Weights::Random, 0, rng);
}

// A bytes only 0 and 127, weights only -63 and 63 (and all 63 against
// bytes of 127: the largest sums, past 2^24 at k = 2100).
TEST_F(Int8VnniEmulated, MatchesGenericAtExtremes) {
  std::mt19937 rng(12);
  for (int64_t m : {1, 3, 8, 9})
    for (int64_t n : {7, 16, 40, 100})
      for (int64_t k : {5, 36, 300, 2100})
        for (float beta : {0.0f, 1.0f}) {
          checkShape(m, n, k, false, beta, Weights::Extreme, 1, rng);
          checkShape(m, n, k, true, beta, Weights::Extreme, 2, rng);
          checkShape(m, n, k, false, beta, Weights::Top, 2, rng);
          checkShape(m, n, k, false, beta, Weights::Top, 1, rng);
        }
}

// Large enough for several row blocks and pieces that split panel pairs.
TEST_F(Int8VnniEmulated, MatchesGenericOnLargerShapes) {
  std::mt19937 rng(13);
  for (int64_t m : {50, 197})
    for (int64_t n : {100, 384})
      for (float beta : {0.0f, 1.0f})
        checkShape(m, n, 384, beta != 0.0f, beta, Weights::Random, 0, rng);
  checkShape(2000, 40, 300, false, 1.0f, Weights::Random, 0, rng); // 3 blocks
}

// A row of A holding a NaN gives a row of NaN with either block.
TEST_F(Int8VnniEmulated, NanRowsStayNan) {
  const int64_t m = 9, n = 33, k = 20;
  std::mt19937 rng(14);
  std::vector<uint8_t> packed = packWeights(k, n, Weights::Random, false, rng);
  std::vector<float> a = makeA(m, k, 0, rng);
  a[5 * k + 3] = std::nanf("");
  std::vector<float> initial(m * n, 0.0f), generic, vnni;
  ASSERT_TRUE(run("generic", false, a, packed, m, n, k, 0.0f, initial,
                  generic));
  ASSERT_TRUE(run("avx512vnni", false, a, packed, m, n, k, 0.0f, initial,
                  vnni));
  EXPECT_TRUE(sameBits(generic, vnni, n));
  for (int64_t col = 0; col < n; ++col)
    EXPECT_TRUE(std::isnan(vnni[5 * n + col])) << "col " << col;
}

// ---- bf16 by AVX512_BF16 ----

uint16_t toBf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return uint16_t((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

double fromBf16(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float x;
  std::memcpy(&x, &bits, 4);
  return x;
}

/// One m x k (A, transposed when ta) by k x n product through the bf16
/// entry, against double sums of the bf16-rounded operands: each element
/// within f32 accumulation's bound, 2^-22 * (k + 2) * sum |a b|.
void checkBf16(int64_t m, int64_t n, int64_t k, int64_t ta, float beta,
               std::mt19937 &rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  int64_t panels = (n + kPanel - 1) / kPanel;
  std::vector<float> a(m * k), b(k * n), c(m * n);
  for (float &x : a)
    x = dist(rng) * 3.0f;
  for (float &x : b)
    x = dist(rng);
  for (float &x : c)
    x = dist(rng);
  std::vector<uint16_t> packed(panels * k * kPanel, 0);
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < kPanel && p * kPanel + j < n; ++j)
        packed[(p * k + kk) * kPanel + j] = toBf16(b[kk * n + p * kPanel + j]);
  std::vector<float> before = c;
  tac_sgemm_packed_bf16(reinterpret_cast<int64_t>(a.data()),
                        reinterpret_cast<int64_t>(packed.data()),
                        reinterpret_cast<int64_t>(c.data()), 1, m, n, k, ta,
                        ta ? m : k, n, 0, 0, beta, 1, 0, 0, 0, 0);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t col = 0; col < n; ++col) {
      double want = beta != 0 ? before[r * n + col] : 0.0, size = std::abs(want);
      for (int64_t kk = 0; kk < k; ++kk) {
        double term = fromBf16(toBf16(ta ? a[kk * m + r] : a[r * k + kk])) *
                      fromBf16(toBf16(b[kk * n + col]));
        want += term;
        size += std::abs(term);
      }
      ASSERT_LE(std::abs(c[r * n + col] - want),
                std::ldexp(double(k + 2) * size, -22) + 1e-30)
          << "m " << m << " n " << n << " k " << k << " ta " << ta
          << " beta " << beta << " at " << r << ", " << col;
    }
}

class Bf16Emulated : public ::testing::Test {
protected:
  void SetUp() override {
    if (!tac_packed_gemm_use_for_testing("avx512bf16"))
      GTEST_SKIP() << "the emulated AVX512_BF16 code needs AVX2 (the rest)";
  }
  void TearDown() override { tac_packed_gemm_use_for_testing("generic"); }
};

TEST_F(Bf16Emulated, MatchesRoundedProductOnOddShapes) {
  std::mt19937 rng(21);
  for (bool whole : {false, true}) {
    gWhole = whole;
    for (int64_t m : {1, 2, 5, 6, 7, 13})
      for (int64_t n : {1, 16, 17, 33, 70})
        for (int64_t k : {1, 2, 3, 17, 64, 257, 300})
          for (int64_t ta : {0, 1})
            for (float beta : {0.0f, 1.0f})
              checkBf16(m, n, k, ta, beta, rng);
  }
  gWhole = false;
}

TEST_F(Bf16Emulated, MatchesRoundedProductOnLargerShapes) {
  std::mt19937 rng(22);
  for (int64_t m : {50, 197})
    checkBf16(m, 384, 384, 0, 1.0f, rng);
  checkBf16(1000, 40, 300, 1, 0.0f, rng); // 3 row blocks of bf16 A
}

} // namespace
