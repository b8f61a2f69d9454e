// verifyPlanMemory: live arena buffers never share bytes, and every arena
// access lies in a buffer live at that step.
#include "TestUtil.h"

using namespace tac::format;
using namespace tac::rt;
using namespace tacrt_test;
using ::testing::HasSubstr;

TEST(PlanMemory, TheTestPlansAreValid) {
  for (int layers = 1; layers <= 4; ++layers) {
    Status st = verifyPlanMemory(layerPlan("p", 0, layers));
    EXPECT_TRUE(st.ok()) << st.message();
  }
  EXPECT_TRUE(verifyPlanMemory(adaptiveModel().controller).ok());
}

TEST(PlanMemory, NoBuffersNothingToCheck) {
  PlanDesc plan = layerPlan("p", 0, 2);
  plan.buffers.clear();
  EXPECT_TRUE(verifyPlanMemory(plan).ok());
}

TEST(PlanMemory, ReuseAfterDeathIsFine) {
  PlanDesc plan = layerPlan("p", 0, 1);
  // Buffers 0 (steps 0..1) and 2 (steps 2..3) share region 0: not live at
  // the same time.
  ASSERT_EQ(plan.buffers[0].offset, plan.buffers[2].offset);
  EXPECT_TRUE(verifyPlanMemory(plan).ok());
}

TEST(PlanMemory, OverlappingLiveBuffersAreRejected) {
  PlanDesc plan = layerPlan("p", 0, 1);
  // Keep buffer 0 alive one step longer: it now overlaps buffer 2 (the same
  // bytes) at step 2.
  plan.buffers[0].lastStep = 2;
  Status st = verifyPlanMemory(plan);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(),
              HasSubstr("buffer 0 (bytes [0, 16), steps 0..2) and buffer 2 "
                        "(bytes [0, 16), steps 2..3) share bytes while both "
                        "are live"));
}

TEST(PlanMemory, PartialByteOverlapIsRejected) {
  PlanDesc plan = layerPlan("p", 0, 1);
  plan.buffers[1].offset = 8; // [8, 24) overlaps buffer 0 [0, 16) at step 1
  plan.arenaBytes = 48;
  Status st = verifyPlanMemory(plan);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("share bytes while both are live"));
}

TEST(PlanMemory, AccessOutsideEveryLiveBuffer) {
  PlanDesc plan = layerPlan("p", 0, 1);
  plan.buffers[1].firstStep = 2; // step 1 writes region 1 before it is live
  Status st = verifyPlanMemory(plan);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(),
              HasSubstr("step 1 uses arena bytes [16, 32) outside every "
                        "buffer live at that step"));
}

TEST(PlanMemory, BufferRangeChecks) {
  PlanDesc plan = layerPlan("p", 0, 1);
  plan.buffers[0].size = 100;
  EXPECT_THAT(verifyPlanMemory(plan).message(), HasSubstr("ends past the arena"));
  plan = layerPlan("p", 0, 1);
  plan.buffers[0].lastStep = 99;
  EXPECT_THAT(verifyPlanMemory(plan).message(), HasSubstr("step range outside"));
}

TEST(PlanMemory, OutputsMustSurviveTheLastStep) {
  PlanDesc plan = layerPlan("p", 0, 1);
  // Region 1's last value (steps 1..2) is dead when the outputs are read
  // after step 3.
  plan.outputs[0].offset = 16;
  Status st = verifyPlanMemory(plan);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("is not in a buffer live at the last step"));
}

TEST(PlanMemory, LoaderRejectsOverlappingLiveBuffers) {
  ModelDesc desc = adaptiveModel();
  desc.variants[1].buffers[0].lastStep = 2;
  EXPECT_THAT(loadError(desc),
              HasSubstr("variant 1 'main_path1' (path 1): plan 'main_path1': "
                        "memory plan: buffer 0"));
}
