// tac's row softmax (tac_softmax_rows in lib/Backend/Bridges/PackedGemm.c)
// against a double-precision softmax: rows of every length around the
// 8- and 16-wide vectors' edges, softmax along each dimension of a rank-5 tensor
// (strided rows), in place, each instruction set this machine runs, work
// split into uneven pieces (the test's tac_parallel_for, PackedGemmTest.cpp);
// and the four-op form's special values: a NaN in a row or a row of -inf
// gives NaN, -inf entries give 0, huge gaps underflow to 0.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

extern "C" {
void tac_softmax_rows(int64_t x, int64_t y, int64_t d0, int64_t d1,
                      int64_t d2, int64_t d3, int64_t n, int64_t xs0,
                      int64_t xs1, int64_t xs2, int64_t xs3, int64_t xs4,
                      int64_t ys0, int64_t ys1, int64_t ys2, int64_t ys3,
                      int64_t ys4);
int tac_packed_gemm_use_for_testing(const char *isa);
}

namespace {

int64_t address(const float *p) { return reinterpret_cast<int64_t>(p); }

/// Softmax of one row of `n` values at x[j * stride], in double.
std::vector<double> exactRow(const float *x, int64_t stride, int64_t n) {
  double max = -INFINITY;
  for (int64_t j = 0; j < n; ++j)
    max = std::max(max, static_cast<double>(x[j * stride]));
  std::vector<double> e(n);
  double sum = 0;
  for (int64_t j = 0; j < n; ++j)
    sum += e[j] = std::exp(x[j * stride] - max);
  for (double &v : e)
    v /= sum;
  return e;
}

/// Contiguous rows of every length 1..40 and a ViT-Small score row (197),
/// values spread over [-20, 20]: within 1e-6 relative of each value plus
/// 1e-9 absolute; out of place and in place.
void checkRows(const char *isa) {
  if (!tac_packed_gemm_use_for_testing(isa))
    GTEST_SKIP() << "this CPU cannot run the " << isa << " code";
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-20.0f, 20.0f);
  std::vector<int64_t> lengths;
  for (int64_t n = 1; n <= 40; ++n)
    lengths.push_back(n);
  lengths.push_back(197);
  for (int64_t n : lengths)
    for (bool inPlace : {false, true}) {
      const int64_t rows = 5;
      std::vector<float> x(rows * n), y(rows * n, -1.0f);
      for (float &v : x)
        v = dist(rng);
      std::vector<float> original = x;
      float *out = inPlace ? x.data() : y.data();
      tac_softmax_rows(address(x.data()), address(out), 1, 1, 1, rows, n, 0,
                       0, 0, n, 1, 0, 0, 0, n, 1);
      for (int64_t r = 0; r < rows; ++r) {
        std::vector<double> want = exactRow(&original[r * n], 1, n);
        for (int64_t j = 0; j < n; ++j)
          EXPECT_NEAR(out[r * n + j], want[j], 1e-6 * want[j] + 1e-9)
              << isa << " n=" << n << (inPlace ? " in place" : "") << " row "
              << r << " col " << j;
      }
    }
}

/// A 2 x 3 x 4 x 5 x 6 tensor (rank 5, as tac-batch-rows makes of an
/// attention's rank-4 scores), softmax along each dimension in turn: the
/// bridge's d0..d3 are the other four dimensions, with their strides.
void checkEveryDimension(const char *isa) {
  if (!tac_packed_gemm_use_for_testing(isa))
    GTEST_SKIP() << "this CPU cannot run the " << isa << " code";
  const int64_t shape[5] = {2, 3, 4, 5, 6}, strides[5] = {360, 120, 30, 6, 1};
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> dist(-4.0f, 4.0f);
  std::vector<float> x(720);
  for (float &v : x)
    v = dist(rng);
  for (int dim = 0; dim < 5; ++dim) {
    int64_t d[5], s[5], k = 0;
    for (int i = 0; i < 5; ++i)
      if (i != dim) {
        d[k] = shape[i];
        s[k++] = strides[i];
      }
    d[4] = shape[dim];
    s[4] = strides[dim];
    std::vector<float> y(720, -1.0f);
    tac_softmax_rows(address(x.data()), address(y.data()), d[0], d[1], d[2],
                     d[3], d[4], s[0], s[1], s[2], s[3], s[4], s[0], s[1],
                     s[2], s[3], s[4]);
    int64_t rows = d[0] * d[1] * d[2] * d[3];
    for (int64_t row = 0; row < rows; ++row) {
      int64_t base = 0, rest = row;
      for (int i = 3; i >= 0; --i) {
        base += rest % d[i] * s[i];
        rest /= d[i];
      }
      std::vector<double> want = exactRow(&x[base], s[4], d[4]);
      for (int64_t j = 0; j < d[4]; ++j)
        EXPECT_NEAR(y[base + j * s[4]], want[j], 1e-6 * want[j] + 1e-9)
            << isa << " dim " << dim << " row " << row;
    }
  }
}

/// Rows of 19 (two vectors and a tail) holding special values, NaN and
/// infinities placed both in a vector and in the tail.
void checkSpecialValues(const char *isa) {
  if (!tac_packed_gemm_use_for_testing(isa))
    GTEST_SKIP() << "this CPU cannot run the " << isa << " code";
  const int64_t n = 19;
  for (int64_t at : {int64_t{3}, int64_t{17}}) {
    std::vector<float> x(4 * n, 0.5f), y(4 * n, -1.0f);
    x[0 * n + at] = NAN;           // row 0: a NaN
    for (int64_t j = 0; j < n; ++j)
      x[1 * n + j] = -INFINITY;    // row 1: all -inf (fully masked)
    x[2 * n + at] = -INFINITY;     // row 2: one -inf entry
    x[3 * n + at] = 200.0f;        // row 3: the others 199.5 below it
    tac_softmax_rows(address(x.data()), address(y.data()), 1, 1, 1, 4, n, 0,
                     0, 0, n, 1, 0, 0, 0, n, 1);
    for (int64_t j = 0; j < n; ++j) {
      EXPECT_TRUE(std::isnan(y[0 * n + j])) << isa << " NaN row, col " << j;
      EXPECT_TRUE(std::isnan(y[1 * n + j])) << isa << " -inf row, col " << j;
      if (j == at) {
        EXPECT_EQ(y[2 * n + j], 0.0f) << isa;
        EXPECT_EQ(y[3 * n + j], 1.0f) << isa;
      } else {
        EXPECT_NEAR(y[2 * n + j], 1.0f / (n - 1), 1e-7) << isa;
        EXPECT_EQ(y[3 * n + j], 0.0f) << isa;
      }
    }
  }
}

TEST(SoftmaxRows, Generic) { checkRows("generic"); }
TEST(SoftmaxRows, Avx2) { checkRows("avx2"); }
TEST(SoftmaxRows, EveryDimensionGeneric) { checkEveryDimension("generic"); }
TEST(SoftmaxRows, EveryDimensionAvx2) { checkEveryDimension("avx2"); }
TEST(SoftmaxRows, SpecialValuesGeneric) { checkSpecialValues("generic"); }
TEST(SoftmaxRows, SpecialValuesAvx2) { checkSpecialValues("avx2"); }
// AVX-512: 16 lanes and a masked tail (skips where the CPU lacks it)
TEST(SoftmaxRows, Avx512) { checkRows("avx512"); }
TEST(SoftmaxRows, EveryDimensionAvx512) { checkEveryDimension("avx512"); }
TEST(SoftmaxRows, SpecialValuesAvx512) { checkSpecialValues("avx512"); }

} // namespace
