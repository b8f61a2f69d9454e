// The CPU executor and path dispatch, through the C++ API.
#include "TestUtil.h"
// The runtime's internal dispatch helpers (runtime/lib).
#include "GemmAlignment.h"
#include "ModelImpl.h"
#include "SelectVariant.h"

#include <cstddef>
#include <cstring>
#include <thread>

using namespace tac::format;
using namespace tac::rt;
using namespace tacrt_test;
using ::testing::HasSubstr;

namespace {
/// One session over the adaptive (or given) model.
class ExecutorTest : public ::testing::Test {
protected:
  void SetUp() override { useModel(adaptiveModel()); }

  void useModel(const ModelDesc &desc) {
    model = loadOrDie(desc);
    ASSERT_TRUE(model);
    auto created = Session::create(model);
    ASSERT_TRUE(created.ok()) << created.status().message();
    session = std::move(*created);
  }

  /// Runs x (float32[1,4]) and returns the status; y and info hold results.
  Status run(const Vec4 &x, const RunOptions &options) {
    input = x;
    std::vector<Tensor> outputs;
    Status st = session->run({Tensor::view(input.data(), DType::F32, {1, 4})},
                             outputs, options, &info);
    if (st.ok())
      std::memcpy(y.data(), outputs[0].data(), sizeof(y));
    return st;
  }

  void expectOutput(const Vec4 &x, int layers) {
    Vec4 want = reference(x, layers);
    for (int i = 0; i < 4; ++i)
      EXPECT_FLOAT_EQ(y[i], want[i]) << "element " << i;
  }

  ModelRef model;
  std::unique_ptr<Session> session;
  alignas(64) Vec4 input{};
  Vec4 y{};
  RunInfo info;
};

// Inputs whose sum (the policy's score) picks a given path.
const Vec4 kEasy = {0.1f, 0.1f, 0.1f, 0.1f};     // sum 0.4 -> path 0
const Vec4 kMedium = {0.5f, 0.5f, 0.25f, 0.25f}; // sum 1.5 -> path 1
const Vec4 kHarder = {0.5f, 0.5f, 0.5f, 1.0f};   // sum 2.5 -> path 2
const Vec4 kHard = {1.0f, 1.0f, 1.0f, 0.5f};     // sum 3.5 -> path 3
} // namespace

TEST_F(ExecutorTest, FixedPathsComputeTheirLayers) {
  for (int path : {0, 1, 3}) {
    ASSERT_TRUE(run(kHard, RunOptions::fixed(path)).ok());
    expectOutput(kHard, path + 1);
    EXPECT_EQ(info.path, path);
    EXPECT_EQ(info.requestedPath, path);
    EXPECT_FALSE(info.rounded);
    EXPECT_EQ(info.controllerFlops, 0u) << "fixed runs skip the controller";
    EXPECT_EQ(info.flops, kLayerFlops * (path + 1));
    EXPECT_EQ(info.layers.size(), size_t(path + 1));
  }
}

TEST_F(ExecutorTest, FixedUncompiledPathListsCompiledOnes) {
  Status st = run(kEasy, RunOptions::fixed(2));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), ErrorCode::InvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("path 2 is not compiled"));
  EXPECT_THAT(st.message(), HasSubstr("compiled paths: 0, 1, 3"));
}

TEST_F(ExecutorTest, AutoFollowsTheController) {
  struct Case {
    Vec4 x;
    int path;
  } cases[] = {{kEasy, 0}, {kMedium, 1}, {kHard, 3}};
  for (const Case &c : cases) {
    ASSERT_TRUE(run(c.x, {}).ok());
    EXPECT_EQ(info.path, c.path);
    EXPECT_EQ(info.requestedPath, c.path);
    EXPECT_FALSE(info.rounded);
    EXPECT_FALSE(info.budgetLimited);
    EXPECT_EQ(info.controllerFlops, kControllerFlops);
    EXPECT_EQ(info.flops, kLayerFlops * (c.path + 1) + kControllerFlops);
    EXPECT_GE(info.timeUs, 0.0);
    expectOutput(c.x, c.path + 1);
  }
}

TEST_F(ExecutorTest, AutoRoundsUpToTheNextCompiledPath) {
  ASSERT_TRUE(run(kHarder, {}).ok());
  EXPECT_EQ(info.requestedPath, 2);
  EXPECT_EQ(info.path, 3);
  EXPECT_TRUE(info.rounded);
  expectOutput(kHarder, 4);
}

TEST_F(ExecutorTest, RoundsToTheDeepestWhenNothingDeeperExists) {
  ModelDesc desc = adaptiveModel();
  desc.variants.pop_back(); // paths 0 and 1 only
  useModel(desc);
  ASSERT_TRUE(run(kHard, {}).ok());
  EXPECT_EQ(info.requestedPath, 3);
  EXPECT_EQ(info.path, 1);
  EXPECT_TRUE(info.rounded);
}

TEST_F(ExecutorTest, BudgetThatFitsChangesNothing) {
  ASSERT_TRUE(run(kHard, RunOptions::budget(1000)).ok());
  EXPECT_EQ(info.path, 3);
  EXPECT_FALSE(info.budgetLimited);
  ASSERT_TRUE(run(kEasy, RunOptions::budget(kLayerFlops)).ok());
  EXPECT_EQ(info.path, 0);
  EXPECT_FALSE(info.budgetLimited);
}

TEST_F(ExecutorTest, BudgetPicksTheDeepestVariantThatFits) {
  // Path 3 costs 48 FLOPs, path 1 24: a 30-FLOP budget runs path 1.
  ASSERT_TRUE(run(kHard, RunOptions::budget(30)).ok());
  EXPECT_EQ(info.requestedPath, 3);
  EXPECT_EQ(info.path, 1);
  EXPECT_TRUE(info.budgetLimited);
  EXPECT_EQ(info.flops, 2 * kLayerFlops + kControllerFlops);
  expectOutput(kHard, 2);
  // Rounded (2 -> 3) and then limited.
  ASSERT_TRUE(run(kHarder, RunOptions::budget(kLayerFlops)).ok());
  EXPECT_TRUE(info.rounded);
  EXPECT_TRUE(info.budgetLimited);
  EXPECT_EQ(info.path, 0);
}

TEST_F(ExecutorTest, BudgetBelowTheCheapestVariant) {
  Status st = run(kEasy, RunOptions::budget(5));
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(),
              HasSubstr("no variant fits the budget of 5 FLOPs: the cheapest "
                        "(path 0) costs 12 FLOPs"));
}

TEST_F(ExecutorTest, ControllerOutOfRangePathIsAnError) {
  ModelDesc desc = adaptiveModel();
  // Overwrite the policy's path with the int64 7 stored in the weights.
  StepDesc copy;
  copy.kind = StepKind::Copy;
  copy.args = {{Space::Arena, 0, 0, 8}, {Space::Weights, 0, 32, 8}};
  copy.bytes = 8;
  desc.controller.steps.push_back(copy);
  desc.controller.buffers = {{0, 8, 0, 1}, {8, 4, 0, 1}};
  useModel(desc);
  Status st = run(kEasy, {});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), ErrorCode::Internal);
  EXPECT_THAT(st.message(), HasSubstr("chose path 7, outside the model's "
                                      "paths 0..3"));
}

TEST_F(ExecutorTest, StaticModelRunsInEveryMode) {
  useModel(staticModel());
  for (const RunOptions &options :
       {RunOptions(), RunOptions::fixed(-1), RunOptions::budget(100)}) {
    ASSERT_TRUE(run(kMedium, options).ok());
    EXPECT_EQ(info.path, -1);
    EXPECT_EQ(info.controllerFlops, 0u);
    EXPECT_EQ(info.flops, kLayerFlops);
    expectOutput(kMedium, 1);
  }
  Status st = run(kMedium, RunOptions::fixed(0));
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("compiled paths: -1 (a static model"));
}

TEST_F(ExecutorTest, InputValidation) {
  std::vector<Tensor> outputs;
  Status st = session->run({}, outputs);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "expected 1 inputs (x), got 0");

  alignas(64) double d[4] = {};
  st = session->run({Tensor::view(d, DType::F64, {1, 4})}, outputs);
  EXPECT_EQ(st.message(), "input 0 'x': expected float32[1, 4] (or N rows: "
                          "float32[N, 4]), got float64[1, 4]");
  alignas(64) float f[8] = {};
  st = session->run({Tensor::view(f, DType::F32, {2, 3})}, outputs);
  EXPECT_EQ(st.message(), "input 0 'x': expected float32[1, 4] (or N rows: "
                          "float32[N, 4]), got float32[2, 3]");
  st = session->run({Tensor::view(f, DType::F32, {0, 4})}, outputs);
  EXPECT_EQ(st.message(),
            "input 0 'x' has 0 rows; a batch needs at least one row");
  st = session->run(
      {Tensor::view(reinterpret_cast<char *>(f) + 2, DType::F32, {1, 4})},
      outputs);
  EXPECT_THAT(st.message(), HasSubstr("not aligned"));
  st = session->run({Tensor::view(static_cast<void *>(nullptr), DType::F32,
                                  {1, 4})},
                    outputs);
  EXPECT_THAT(st.message(), HasSubstr("input 0 'x' has no data"));
}

TEST_F(ExecutorTest, CallerOwnedOutputsAreWrittenInPlace) {
  alignas(64) Vec4 x = kMedium;
  alignas(64) float out[4] = {-1, -1, -1, -1};
  std::vector<Tensor> outputs = {Tensor::view(out, DType::F32, {1, 4})};
  ASSERT_TRUE(session
                  ->run({Tensor::view(x.data(), DType::F32, {1, 4})}, outputs,
                        RunOptions::fixed(1))
                  .ok());
  EXPECT_EQ(outputs[0].data(), out);
  Vec4 want = reference(x, 2);
  for (int i = 0; i < 4; ++i)
    EXPECT_FLOAT_EQ(out[i], want[i]);

  std::vector<Tensor> wrong = {Tensor::view(out, DType::F32, {4})};
  Status st = session->run({Tensor::view(x.data(), DType::F32, {1, 4})}, wrong);
  EXPECT_EQ(st.message(),
            "output 0 'y': expected float32[1, 4], got float32[4]");
  // A batch's outputs have one row per input row.
  alignas(64) float rows2[8] = {};
  std::vector<Tensor> oneRow = {Tensor::view(out, DType::F32, {1, 4})};
  st = session->run({Tensor::view(rows2, DType::F32, {2, 4})}, oneRow);
  EXPECT_EQ(st.message(),
            "output 0 'y': expected float32[2, 4] for 2 rows, got float32[1, 4]");
  std::vector<Tensor> two(2);
  st = session->run({Tensor::view(x.data(), DType::F32, {1, 4})}, two);
  EXPECT_THAT(st.message(), HasSubstr("expected 1 output tensors"));
}

TEST(Executor, SessionsOnTwoThreadsShareOneModel) {
  ModelRef model = loadOrDie(adaptiveModel());
  ASSERT_TRUE(model);
  auto worker = [&](Vec4 x, int path, int *failures) {
    auto session = Session::create(model);
    if (!session) {
      ++*failures;
      return;
    }
    alignas(64) Vec4 in = x;
    Vec4 want = reference(x, path + 1);
    for (int iteration = 0; iteration < 2000; ++iteration) {
      std::vector<Tensor> outputs;
      RunInfo info;
      Status st = (*session)->run({Tensor::view(in.data(), DType::F32, {1, 4})},
                                  outputs, {}, &info);
      const float *y = st.ok() ? outputs[0].dataAs<float>() : nullptr;
      if (!st.ok() || info.path != path || y[0] != want[0] ||
          y[1] != want[1] || y[2] != want[2] || y[3] != want[3])
        ++*failures;
    }
  };
  int failuresA = 0, failuresB = 0;
  std::thread a(worker, kEasy, 0, &failuresA);
  std::thread b(worker, kHard, 3, &failuresB);
  a.join();
  b.join();
  EXPECT_EQ(failuresA, 0);
  EXPECT_EQ(failuresB, 0);
}

TEST_F(ExecutorTest, CarriedControllerResultsReachTheVariant) {
  useModel(carriedModel());
  for (RunOptions options : {RunOptions::automatic(), RunOptions::fixed(1)}) {
    ASSERT_TRUE(run(kMedium, options).ok());
    // The controller ran in every mode (the variant needs its result).
    EXPECT_EQ(info.controllerFlops, kControllerFlops);
    for (int i = 0; i < 4; ++i) {
      float relu = kMedium[i] > 0 ? kMedium[i] : 0;
      EXPECT_FLOAT_EQ(y[i], (kMedium[i] + kMedium[i]) * relu) << i;
    }
  }
}

TEST(Loader, CarriedResultOutOfBoundsIsRejected) {
  ModelDesc desc = carriedModel();
  // Read 32 bytes of a 16-byte carried result.
  desc.variants[0].steps[1].args[2].size = 32;
  EXPECT_THAT(loadError(writeModel(desc)),
              HasSubstr("carried controller result 0 bytes"));
  desc = carriedModel();
  desc.variants[0].steps[1].args[2].index = 2; // no such carried result
  EXPECT_THAT(loadError(writeModel(desc)), HasSubstr("input index 2 out of range"));
}

TEST(Executor, TensorAllocate) {
  auto t = Tensor::allocate(DType::I64, {2, 3});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->byteSize(), 48u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data()) % 64, 0u);
  EXPECT_FALSE(Tensor::allocate(DType::F32, {-1}).ok());
  EXPECT_FALSE(Tensor::allocate(DType::F32, {1LL << 40, 1LL << 40}).ok());
}

// A batch runs every row on its own path (grouped by path inside the
// runtime) with the same results as one-row runs, in the caller's order.
TEST_F(ExecutorTest, BatchRowsTakeTheirOwnPaths) {
  const std::vector<Vec4> xs = {kHard, kEasy, kMedium, kHard, kHarder, kEasy};
  alignas(64) float batch[6][4];
  for (size_t r = 0; r < xs.size(); ++r)
    std::memcpy(batch[r], xs[r].data(), sizeof(Vec4));
  std::vector<Tensor> outputs;
  RunInfo batchInfo;
  ASSERT_TRUE(session
                  ->run({Tensor::view(batch, DType::F32, {6, 4})}, outputs, {},
                        &batchInfo)
                  .ok());
  ASSERT_EQ(outputs[0].shape(), (std::vector<int64_t>{6, 4}));
  ASSERT_EQ(batchInfo.rows, 6u);
  ASSERT_EQ(batchInfo.paths.size(), 6u);
  uint64_t flops = 0;
  for (size_t r = 0; r < xs.size(); ++r) {
    ASSERT_TRUE(run(xs[r], {}).ok());
    EXPECT_EQ(batchInfo.paths[r], info.path) << "row " << r;
    EXPECT_EQ(batchInfo.requestedPaths[r], info.requestedPath) << "row " << r;
    flops += info.flops;
    for (int i = 0; i < 4; ++i)
      EXPECT_FLOAT_EQ(outputs[0].dataAs<float>()[r * 4 + i], y[i])
          << "row " << r << " element " << i;
  }
  EXPECT_EQ(batchInfo.flops, flops) << "a batch costs the sum of its rows";
  EXPECT_EQ(batchInfo.path, batchInfo.paths[0]);

  // A fixed path applies to every row.
  ASSERT_TRUE(session
                  ->run({Tensor::view(batch, DType::F32, {6, 4})}, outputs,
                        RunOptions::fixed(3), &batchInfo)
                  .ok());
  for (int32_t path : batchInfo.paths)
    EXPECT_EQ(path, 3);
  EXPECT_EQ(model->batchSizes(), (std::vector<uint32_t>{1}));
}

TEST_F(ExecutorTest, BadBatchesWriteNothing) {
  alignas(64) float batch[3][4] = {};
  alignas(64) float out[3][4];
  for (auto &row : out)
    for (float &v : row)
      v = -7;
  std::vector<Tensor> outputs = {Tensor::view(out, DType::F32, {3, 4})};
  // A fixed path that is not compiled fails before any row runs.
  Status st = session->run({Tensor::view(batch, DType::F32, {3, 4})}, outputs,
                           RunOptions::fixed(2));
  EXPECT_FALSE(st.ok());
  // Rows of two inputs must agree; here the output has too few rows.
  std::vector<Tensor> short2 = {Tensor::view(out, DType::F32, {2, 4})};
  st = session->run({Tensor::view(batch, DType::F32, {3, 4})}, short2);
  EXPECT_FALSE(st.ok());
  for (auto &row : out)
    for (float v : row)
      EXPECT_EQ(v, -7) << "a failed batch must not write the outputs";
  EXPECT_EQ(session->runRows(0, nullptr, nullptr, {}, nullptr).message(),
            "a batch needs at least one row (got 0)");
}

// On-device dispatch decides with the select kernel's arithmetic
// (SelectVariant.h) over deviceSwitchTable; both run here on the host. The
// table must round up exactly as host dispatch does, and every path outside
// the model's range must select no variant (the host then reports it).
TEST(DeviceDispatch, SwitchTableMatchesHostRounding) {
  ModelRef model = loadOrDie(adaptiveModel()); // paths 0..3, variants 0, 1, 3
  ASSERT_TRUE(model);
  std::vector<int32_t> table =
      deviceSwitchTable(model->variants(), model->numPaths());
  ASSERT_EQ(table.size(), 4u);
  EXPECT_EQ(table, (std::vector<int32_t>{0, 1, 2, 2}));
  for (long long path = -3; path < 7; ++path) {
    int variant = tacSelectVariant(path, table.data(),
                                   static_cast<int>(table.size()));
    if (path < 0 || path >= 4) {
      EXPECT_EQ(variant, -1) << "path " << path;
      continue;
    }
    bool rounded = false;
    EXPECT_EQ(variant,
              static_cast<int>(roundUpVariant(model->variants(),
                                              static_cast<int32_t>(path),
                                              rounded)))
        << "path " << path;
    EXPECT_EQ(rounded, path == 2) << "path " << path;
  }
  // The slot the host reads: the path as chosen, then the variant.
  static_assert(sizeof(TacSelection) == 16, "the host copies 16 bytes");
  static_assert(offsetof(TacSelection, variant) == 8, "layout the kernel writes");
}

// cuBLASLt is told each GEMM operand's real alignment (it assumes 256 bytes
// otherwise): the largest power of two dividing every address it takes.
TEST(GemmAlignment, LargestPowerOfTwoOfEveryAddress) {
  EXPECT_EQ(gemmOperandAlignment(0, 0, 1), 256u);      // a buffer's start
  EXPECT_EQ(gemmOperandAlignment(4096, 0, 1), 256u);   // capped at 256
  EXPECT_EQ(gemmOperandAlignment(64, 0, 1), 64u);      // one head in QKV
  EXPECT_EQ(gemmOperandAlignment(4096 + 192, 0, 1), 64u);
  EXPECT_EQ(gemmOperandAlignment(4, 0, 1), 4u);        // one float in
  EXPECT_EQ(gemmOperandAlignment(0, 400, 1), 256u);    // one entry: no stride
  EXPECT_EQ(gemmOperandAlignment(0, 400, 3), 16u);     // entries 400 B apart
  EXPECT_EQ(gemmOperandAlignment(0, 3072, 12), 256u);  // 12 heads of 64x12 floats
  EXPECT_EQ(gemmOperandAlignment(128, 3072, 12), 128u);
  EXPECT_EQ(gemmOperandAlignment(256, 32, 2), 32u);
}
