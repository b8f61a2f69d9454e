// tac's fused attention (tac_attention in lib/Backend/Bridges/PackedGemm.c)
// against a double-precision softmax(scale * Q K^T + mask) V: ViT-Small's
// and MiniLM's heads, odd sizes around the vector and tile edges, views
// with any strides (head-interleaved Q/K/V slices of one QKV buffer,
// transposed K, V and out, holes between elements, K/V shared across
// heads, a mask broadcast over heads and rows), batches, key lengths past
// the kernel's 256-step, each instruction set this machine runs and the
// path for no scratch memory, work split into uneven pieces (the test's
// tac_parallel_for, PackedGemmTest.cpp); special values: a NaN score row
// or a fully masked row gives NaN, -inf entries weigh 0; d = 0 and sk = 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

extern "C" {
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
int tac_packed_gemm_use_for_testing(const char *isa);
}

namespace {

const char *const kIsas[] = {"generic", "avx2", "avx512", "wide_for_testing",
                             "plain_for_testing"};

int64_t address(const float *p) { return reinterpret_cast<int64_t>(p); }

/// A rank-4 view (b, h, row, col) into its own buffer: `order` lists the
/// logical dimensions outermost first, `gap` is the innermost one's stride
/// (> 1 leaves holes, which hold NaN so that reading one shows). A
/// dimension in `broadcast` has size 1 in memory and stride 0.
struct Tensor {
  std::vector<float> data;
  std::array<int64_t, 4> stride{};
  float &at(int64_t b, int64_t h, int64_t r, int64_t c) {
    return data[b * stride[0] + h * stride[1] + r * stride[2] +
                c * stride[3]];
  }
  float get(int64_t b, int64_t h, int64_t r, int64_t c) const {
    return data[b * stride[0] + h * stride[1] + r * stride[2] +
                c * stride[3]];
  }
};

Tensor makeTensor(std::array<int64_t, 4> dims, std::array<int, 4> order,
                  int64_t gap, std::mt19937 &rng, float lo, float hi,
                  std::array<bool, 4> broadcast = {}) {
  Tensor t;
  for (int i = 0; i < 4; ++i)
    if (broadcast[i])
      dims[i] = 1;
  int64_t running = gap;
  for (int i = 3; i >= 0; --i) {
    t.stride[order[i]] = running;
    running *= dims[order[i]];
  }
  t.data.assign(running, NAN);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t b = 0; b < dims[0]; ++b)
    for (int64_t h = 0; h < dims[1]; ++h)
      for (int64_t r = 0; r < dims[2]; ++r)
        for (int64_t c = 0; c < dims[3]; ++c)
          t.at(b, h, r, c) = dist(rng);
  for (int i = 0; i < 4; ++i)
    if (broadcast[i])
      t.stride[i] = 0;
  return t;
}

constexpr std::array<int, 4> kDense = {0, 1, 2, 3};

struct Attention {
  int64_t batch, heads, sq, sk, d, dv;
  float scale;
  Tensor q, k, v, out;
  bool hasMask = false;
  Tensor mask;
  // A select mask: a score whose keep byte is 0 becomes `fill`.
  std::vector<uint8_t> keep;
  std::array<int64_t, 4> keepStride{};
  float fill = 0.0f;

  Attention(int64_t batch, int64_t heads, int64_t sq, int64_t sk, int64_t d,
            int64_t dv, float scale)
      : batch(batch), heads(heads), sq(sq), sk(sk), d(d), dv(dv),
        scale(scale) {}

  void run() {
    tac_attention(address(q.data.data()), address(k.data.data()),
                  address(v.data.data()),
                  hasMask ? address(mask.data.data()) : 0,
                  address(out.data.data()), batch, heads, sq, sk, d, dv, scale,
                  q.stride[0], q.stride[1], q.stride[2], q.stride[3],
                  k.stride[0], k.stride[1], k.stride[2], k.stride[3],
                  v.stride[0], v.stride[1], v.stride[2], v.stride[3],
                  hasMask ? mask.stride[0] : 0, hasMask ? mask.stride[1] : 0,
                  hasMask ? mask.stride[2] : 0, hasMask ? mask.stride[3] : 0,
                  out.stride[0], out.stride[1], out.stride[2], out.stride[3],
                  keep.empty() ? 0 : reinterpret_cast<int64_t>(keep.data()),
                  fill, keepStride[0], keepStride[1], keepStride[2],
                  keepStride[3]);
  }

  bool kept(int64_t b, int64_t h, int64_t i, int64_t j) const {
    return keep.empty() || keep[b * keepStride[0] + h * keepStride[1] +
                                i * keepStride[2] + j * keepStride[3]];
  }

  /// out[b][h][i][:] in double (NaN: the row is NaN).
  std::vector<double> exactRow(int64_t b, int64_t h, int64_t i) const {
    std::vector<double> s(sk), o(dv, 0.0);
    double max = -INFINITY;
    bool nan = false;
    for (int64_t j = 0; j < sk; ++j) {
      double dot = 0;
      for (int64_t e = 0; e < d; ++e)
        dot += static_cast<double>(q.get(b, h, i, e)) * k.get(b, h, j, e);
      s[j] = (kept(b, h, i, j) ? scale * dot : fill) +
             (hasMask ? mask.get(b, h, i, j) : 0.0);
      nan |= std::isnan(s[j]);
      max = std::max(max, s[j]);
    }
    double sum = 0;
    for (double &x : s)
      sum += x = std::exp(x - max); // all -inf: -inf - -inf is NaN
    for (int64_t j = 0; j < sk; ++j)
      for (int64_t e = 0; e < dv; ++e)
        o[e] += s[j] / sum * v.get(b, h, j, e);
    if (nan)
      std::fill(o.begin(), o.end(), NAN);
    return o;
  }
};

/// A fresh out view with `order` and `gap`, every element (holes too)
/// 12345, so writes outside the view show.
Tensor makeOut(const Attention &a, std::array<int, 4> order, int64_t gap) {
  std::mt19937 unused(0);
  Tensor t = makeTensor({a.batch, a.heads, a.sq, a.dv}, order, gap, unused,
                        0.0f, 0.0f);
  std::fill(t.data.begin(), t.data.end(), 12345.0f);
  return t;
}

/// Runs `a` and compares every output with the double reference: within
/// 1e-5 of the largest |output| (NaN where the reference is), and nothing
/// outside the view written. Returns the failures' count.
int check(Attention &a, const std::string &what) {
  a.run();
  std::vector<std::vector<double>> rows;
  double magnitude = 0;
  for (int64_t b = 0; b < a.batch; ++b)
    for (int64_t h = 0; h < a.heads; ++h)
      for (int64_t i = 0; i < a.sq; ++i) {
        rows.push_back(a.exactRow(b, h, i));
        for (double x : rows.back())
          if (!std::isnan(x))
            magnitude = std::max(magnitude, std::fabs(x));
      }
  const double tolerance = 1e-5 * magnitude + 1e-30;
  int failures = 0;
  std::vector<bool> inView(a.out.data.size(), false);
  size_t row = 0;
  for (int64_t b = 0; b < a.batch; ++b)
    for (int64_t h = 0; h < a.heads; ++h)
      for (int64_t i = 0; i < a.sq; ++i, ++row)
        for (int64_t e = 0; e < a.dv; ++e) {
          double want = rows[row][e];
          float got = a.out.get(b, h, i, e);
          inView[b * a.out.stride[0] + h * a.out.stride[1] +
                 i * a.out.stride[2] + e * a.out.stride[3]] = true;
          bool ok = std::isnan(want) ? std::isnan(got)
                                     : std::fabs(got - want) <= tolerance;
          if (!ok && ++failures <= 5)
            ADD_FAILURE() << what << ": out[" << b << "][" << h << "][" << i
                          << "][" << e << "] = " << got << ", want " << want
                          << " (tolerance " << tolerance << ")";
        }
  for (size_t x = 0; x < inView.size(); ++x)
    if (!inView[x] && a.out.data[x] != 12345.0f && ++failures <= 5)
      ADD_FAILURE() << what << ": wrote outside out's view at " << x;
  return failures;
}

Attention dense(std::mt19937 &rng, int64_t batch, int64_t heads, int64_t sq,
                int64_t sk, int64_t d, int64_t dv, float scale) {
  Attention a(batch, heads, sq, sk, d, dv, scale);
  a.q = makeTensor({batch, heads, sq, d}, kDense, 1, rng, -2.0f, 2.0f);
  a.k = makeTensor({batch, heads, sk, d}, kDense, 1, rng, -2.0f, 2.0f);
  a.v = makeTensor({batch, heads, sk, dv}, kDense, 1, rng, -1.0f, 1.0f);
  a.out = makeOut(a, kDense, 1);
  return a;
}

bool use(const char *isa) { return tac_packed_gemm_use_for_testing(isa); }

#define USE_OR_SKIP(isa)                                                       \
  if (!use(isa))                                                               \
    GTEST_SKIP() << "this CPU cannot run the " << isa << " code";

class FusedAttention : public ::testing::TestWithParam<const char *> {};

/// ViT-Small's heads (6 x 197 x 64, scale 1/8): dense tensors, and Q, K, V
/// as slices of one [197][3][6][64] QKV buffer (head-interleaved: row
/// stride 1152) with out written as [b][i][h][e].
TEST_P(FusedAttention, VitSmall) {
  USE_OR_SKIP(GetParam());
  std::mt19937 rng(1);
  Attention a = dense(rng, 1, 6, 197, 197, 64, 64, 0.125f);
  EXPECT_EQ(check(a, std::string(GetParam()) + " vit dense"), 0);

  std::vector<float> qkv(197 * 3 * 6 * 64);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (float &x : qkv)
    x = dist(rng);
  Attention s(1, 6, 197, 197, 64, 64, 0.125f);
  for (int part = 0; part < 3; ++part) {
    Tensor &t = part == 0 ? s.q : part == 1 ? s.k : s.v;
    t.data = qkv;
    t.stride = {0, 64, 3 * 6 * 64, 1};
    for (int64_t i = 0; i < 197; ++i) // each its own part of a row
      for (int other = 0; other < 3; ++other)
        if (other != part)
          std::fill_n(t.data.begin() + i * 1152 + other * 384, 384, NAN);
    t.data.erase(t.data.begin(), t.data.begin() + part * 384);
  }
  s.out = makeOut(s, {0, 2, 1, 3}, 1);
  EXPECT_EQ(check(s, std::string(GetParam()) + " vit qkv slices"), 0);
}

/// MiniLM-like heads (12 x 128 x 32) at batch 2 with an additive padding
/// mask [b][1][1][sk] (strides b, 0, 0, 1): -10000 and -inf entries.
TEST_P(FusedAttention, BertMask) {
  USE_OR_SKIP(GetParam());
  std::mt19937 rng(2);
  Attention a = dense(rng, 2, 12, 128, 128, 32, 32, 0.17677669f);
  a.hasMask = true;
  a.mask = makeTensor({2, 12, 128, 128}, kDense, 1, rng, 0.0f, 0.0f,
                      {false, true, true, false});
  for (int64_t j = 100; j < 128; ++j)
    a.mask.at(0, 0, 0, j) = -10000.0f;
  for (int64_t j = 70; j < 128; ++j)
    a.mask.at(1, 0, 0, j) = -INFINITY;
  a.mask.at(1, 0, 0, 3) = -INFINITY;
  EXPECT_EQ(check(a, std::string(GetParam()) + " bert"), 0);
}

/// GPT-2's causal mask, applied by a select: keep[i][j] = j <= i broadcast
/// over batch and heads (strides 0), masked scores become the lowest f32;
/// with an additive mask after it; and a fill within the scores' range
/// (masked keys keep a weight of their own, so the fill's value shows),
/// with a row that keeps nothing (every score the fill: uniform weights),
/// keep laid out transposed (column stride != 1).
TEST_P(FusedAttention, SelectMask) {
  USE_OR_SKIP(GetParam());
  std::mt19937 rng(7);
  for (bool additive : {false, true}) {
    Attention a = dense(rng, 2, 3, 20, 20, 64, 64, 0.125f);
    a.keep.assign(20 * 20, 0);
    a.keepStride = {0, 0, 20, 1};
    for (int64_t i = 0; i < 20; ++i)
      for (int64_t j = 0; j <= i; ++j)
        a.keep[i * 20 + j] = 1;
    a.fill = -3.4028234663852886e38f;
    if (additive) {
      a.hasMask = true;
      a.mask = makeTensor({2, 3, 20, 20}, kDense, 1, rng, -1.0f, 0.0f,
                          {false, true, true, false});
    }
    EXPECT_EQ(check(a, std::string(GetParam()) + " causal"), 0);
  }
  Attention a = dense(rng, 1, 2, 7, 9, 5, 3, 0.5f);
  a.keep.assign(9 * 7, 1);
  a.keepStride = {0, 0, 1, 7}; // keep[i][j] at j * 7 + i
  for (int64_t j = 0; j < 9; ++j)
    a.keep[j * 7 + 4] = 0; // row 4 keeps nothing
  a.keep[2 * 7 + 1] = 0;
  a.keep[5 * 7 + 3] = 0;
  a.fill = 0.25f;
  EXPECT_EQ(check(a, std::string(GetParam()) + " finite fill"), 0);
}

/// Sizes around the vector (8, 16) and tile (6 rows, 16 or 32 columns)
/// edges: every sq and sk in 1..40 against a few of the other, and d, dv
/// in {1, 3, 16, 17, 33}; batch 2, heads 3, sq != sk.
TEST_P(FusedAttention, OddSizes) {
  USE_OR_SKIP(GetParam());
  std::mt19937 rng(3);
  const int64_t depths[] = {1, 3, 16, 17, 33};
  int n = 0, failures = 0;
  auto one = [&](int64_t sq, int64_t sk) {
    int64_t d = depths[n % 5], dv = depths[n / 5 % 5];
    ++n;
    Attention a = dense(rng, 2, 3, sq, sk, d, dv, 0.3f);
    failures += check(a, std::string(GetParam()) + " sq " +
                             std::to_string(sq) + " sk " +
                             std::to_string(sk) + " d " + std::to_string(d) +
                             " dv " + std::to_string(dv));
  };
  for (int64_t x = 1; x <= 40; ++x)
    for (int64_t y : {1, 7, 16, 17, 40}) {
      one(x, y);
      one(y, x);
    }
  EXPECT_EQ(failures, 0);
}

/// Views: Q head-interleaved ([b][i][h][d]); K transposed ([b][h][d][j]),
/// with holes (col stride 2), or shared by every head (stride 0); V
/// transposed or with holes; out transposed ([b][h][e][i]) or with holes;
/// a mask [1][1][sq][sk] broadcast over batch and heads.
TEST_P(FusedAttention, StridedViews) {
  USE_OR_SKIP(GetParam());
  std::mt19937 rng(4);
  const std::array<int, 4> interleaved = {0, 2, 1, 3};
  const std::array<int, 4> transposed = {0, 1, 3, 2};
  struct Layout {
    std::array<int, 4> q, k, v, out;
    int64_t qGap, kGap, vGap, outGap;
    bool kShared;
  } layouts[] = {
      {interleaved, kDense, kDense, interleaved, 1, 1, 1, 1, false},
      {kDense, transposed, kDense, kDense, 1, 1, 1, 1, false},
      {kDense, kDense, transposed, kDense, 1, 1, 1, 1, false},
      {kDense, kDense, kDense, transposed, 1, 1, 1, 1, false},
      {kDense, kDense, kDense, kDense, 2, 3, 2, 2, false},
      {transposed, transposed, transposed, transposed, 2, 2, 2, 2, false},
      {interleaved, kDense, interleaved, kDense, 1, 1, 1, 1, true},
  };
  const int64_t shapes[][4] = {{23, 37, 16, 17}, {50, 70, 64, 64},
                               {6, 300, 8, 40}, {13, 9, 300, 5}};
  int failures = 0, n = 0;
  for (const Layout &l : layouts)
    for (const auto &shape : shapes) {
      const int64_t batch = 2, heads = 3, sq = shape[0], sk = shape[1],
                    d = shape[2], dv = shape[3];
      Attention a(batch, heads, sq, sk, d, dv, 0.2f);
      a.q = makeTensor({batch, heads, sq, d}, l.q, l.qGap, rng, -2, 2);
      a.k = makeTensor({batch, heads, sk, d}, l.k, l.kGap, rng, -2, 2,
                       {false, l.kShared, false, false});
      a.v = makeTensor({batch, heads, sk, dv}, l.v, l.vGap, rng, -1, 1,
                       {false, l.kShared, false, false});
      a.out = makeOut(a, l.out, l.outGap);
      if (n++ % 2) {
        a.hasMask = true;
        a.mask = makeTensor({batch, heads, sq, sk}, kDense, 1, rng, -3, 3,
                            {true, true, false, false});
      }
      failures += check(a, std::string(GetParam()) + " layout " +
                               std::to_string(&l - layouts) + " sq " +
                               std::to_string(sq) + " sk " +
                               std::to_string(sk));
    }
  EXPECT_EQ(failures, 0);
}

/// A NaN in one query row makes that row (only) NaN; a fully masked row
/// (-inf everywhere, in a vector and in the tail) is NaN; a NaN in K makes
/// every row NaN, as the unfused ops do.
TEST_P(FusedAttention, SpecialValues) {
  USE_OR_SKIP(GetParam());
  std::mt19937 rng(5);
  Attention a = dense(rng, 1, 2, 19, 21, 17, 18, 0.5f);
  a.q.at(0, 1, 7, 3) = NAN;
  a.hasMask = true;
  a.mask = makeTensor({1, 2, 19, 21}, kDense, 1, rng, -1, 1);
  for (int64_t j = 0; j < 21; ++j)
    a.mask.at(0, 0, 12, j) = -INFINITY;
  a.mask.at(0, 1, 2, 20) = -INFINITY;
  a.mask.at(0, 1, 3, 0) = -INFINITY;
  EXPECT_EQ(check(a, std::string(GetParam()) + " special"), 0);
  for (int64_t e = 0; e < 18; ++e) {
    EXPECT_TRUE(std::isnan(a.out.at(0, 1, 7, e)));
    EXPECT_TRUE(std::isnan(a.out.at(0, 0, 12, e)));
    EXPECT_FALSE(std::isnan(a.out.at(0, 1, 6, e)));
  }

  Attention b = dense(rng, 1, 1, 8, 9, 4, 4, 1.0f);
  b.k.at(0, 0, 5, 2) = NAN;
  EXPECT_EQ(check(b, std::string(GetParam()) + " NaN key"), 0);
  EXPECT_TRUE(std::isnan(b.out.at(0, 0, 3, 1)));
}

/// d = 0: every score is the mask's (uniform without one); sk = 0: out is
/// 0, as the unfused P V's empty sum; other empty sizes write nothing.
TEST_P(FusedAttention, EmptySizes) {
  USE_OR_SKIP(GetParam());
  std::mt19937 rng(6);
  Attention a = dense(rng, 1, 2, 7, 20, 0, 5, 0.5f);
  EXPECT_EQ(check(a, std::string(GetParam()) + " d 0"), 0);
  a.hasMask = true;
  a.mask = makeTensor({1, 2, 7, 20}, kDense, 1, rng, -2, 2);
  EXPECT_EQ(check(a, std::string(GetParam()) + " d 0, mask"), 0);

  Attention e = dense(rng, 1, 2, 7, 0, 4, 5, 0.5f);
  e.run();
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < 7; ++i)
      for (int64_t c = 0; c < 5; ++c)
        EXPECT_EQ(e.out.at(0, h, i, c), 0.0f);

  Attention f = dense(rng, 1, 2, 0, 5, 4, 5, 0.5f);
  f.out.data.assign(4, 12345.0f);
  f.run();
  EXPECT_EQ(f.out.data, std::vector<float>(4, 12345.0f));
}

INSTANTIATE_TEST_SUITE_P(Isa, FusedAttention, ::testing::ValuesIn(kIsas),
                         [](const ::testing::TestParamInfo<const char *> &i) {
                           std::string name = i.param;
                           name.erase(std::remove(name.begin(), name.end(),
                                                  '_'),
                                      name.end());
                           return name;
                         });

} // namespace
