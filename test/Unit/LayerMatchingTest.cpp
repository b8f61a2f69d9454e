//===- LayerMatchingTest.cpp - passes/LayerMatching.h ---------------------===//
//
// The layer matcher on adaptive-block layers and the repeated-layer finder
// on straight-line functions (residual MLPs, pre-norm blocks of two residual
// segments, a shared non-constant capture).
//
//===----------------------------------------------------------------------===//

#include "passes/LayerMatching.h"

#include "dialects/Tac/TacDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::tac;

namespace {

class LayerMatchingTest : public ::testing::Test {
protected:
  LayerMatchingTest() {
    context.loadDialect<TacDialect, arith::ArithDialect, func::FuncDialect,
                        linalg::LinalgDialect, math::MathDialect,
                        tensor::TensorDialect>();
  }

  OwningOpRef<ModuleOp> parse(StringRef source) {
    return parseSourceString<ModuleOp>(source, &context);
  }

  func::FuncOp firstFunc(ModuleOp module) {
    return *module.getOps<func::FuncOp>().begin();
  }

  AdaptiveBlockOp firstBlock(ModuleOp module) {
    AdaptiveBlockOp found;
    module.walk([&](AdaptiveBlockOp op) {
      if (!found)
        found = op;
    });
    return found;
  }

  MLIRContext context;
};

TEST_F(LayerMatchingTest, LayersWithDifferentWeightsAreEquivalent) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @f(%sel: index, %x: tensor<4xf32>, %m: tensor<4xf32>) -> tensor<4xf32> {
      %w0 = arith.constant dense<1.0> : tensor<4xf32>
      %w1 = arith.constant dense<2.0> : tensor<4xf32>
      %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<4xf32>)
      layer (%h) {
        %a = arith.mulf %h, %w0 : tensor<4xf32>
        %b = arith.addf %a, %m : tensor<4xf32>
        %c = arith.addf %b, %w0 : tensor<4xf32>
        tac.yield %c : tensor<4xf32>
      }
      layer (%h) {
        %a = arith.mulf %h, %w1 : tensor<4xf32>
        %b = arith.addf %a, %m : tensor<4xf32>
        %c = arith.addf %b, %w1 : tensor<4xf32>
        tac.yield %c : tensor<4xf32>
      }
      return %y : tensor<4xf32>
    })mlir");
  ASSERT_TRUE(module);
  AdaptiveBlockOp block = firstBlock(*module);
  LayerCorrespondence match;
  ASSERT_TRUE(
      areLayersEquivalent(block.getLayers()[0], block.getLayers()[1], match))
      << match.reason;
  // %w0 (one slot, read twice) and the shared %m.
  ASSERT_EQ(match.captures.size(), 2u);
  EXPECT_EQ(match.captures[0].kind, CaptureKind::Weight);
  EXPECT_EQ(match.captures[1].kind, CaptureKind::Shared);
  ASSERT_EQ(match.getWeightSlots().size(), 1u);
  // Layer arguments correspond.
  Value arg0 = block.getLayers()[0].front().getArgument(0);
  Value arg1 = block.getLayers()[1].front().getArgument(0);
  EXPECT_EQ(match.values.lookup(arg0), arg1);
}

TEST_F(LayerMatchingTest, DifferentOpsAreNotEquivalent) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @f(%sel: index, %x: tensor<4xf32>) -> tensor<4xf32> {
      %w = arith.constant dense<1.0> : tensor<4xf32>
      %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<4xf32>)
      layer (%h) {
        %a = arith.mulf %h, %w : tensor<4xf32>
        tac.yield %a : tensor<4xf32>
      }
      layer (%h) {
        %a = arith.addf %h, %w : tensor<4xf32>
        tac.yield %a : tensor<4xf32>
      }
      return %y : tensor<4xf32>
    })mlir");
  ASSERT_TRUE(module);
  AdaptiveBlockOp block = firstBlock(*module);
  LayerCorrespondence match;
  EXPECT_FALSE(
      areLayersEquivalent(block.getLayers()[0], block.getLayers()[1], match));
  EXPECT_EQ(match.reason, "op #1 ('arith.mulf') is 'arith.addf' in the other "
                          "layer");
}

// A prologue, three residual layers (one segment each), an epilogue.
TEST_F(LayerMatchingTest, FindsResidualLayers) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
      %w0 = arith.constant dense<1.0> : tensor<4xf32>
      %w1 = arith.constant dense<2.0> : tensor<4xf32>
      %w2 = arith.constant dense<3.0> : tensor<4xf32>
      %p = math.exp %x : tensor<4xf32>
      %a0 = arith.mulf %p, %w0 : tensor<4xf32>
      %t0 = math.tanh %a0 : tensor<4xf32>
      %r0 = arith.addf %p, %t0 : tensor<4xf32>
      %a1 = arith.mulf %r0, %w1 : tensor<4xf32>
      %t1 = math.tanh %a1 : tensor<4xf32>
      %r1 = arith.addf %r0, %t1 : tensor<4xf32>
      %a2 = arith.mulf %r1, %w2 : tensor<4xf32>
      %t2 = math.tanh %a2 : tensor<4xf32>
      %r2 = arith.addf %r1, %t2 : tensor<4xf32>
      %e = math.exp %r2 : tensor<4xf32>
      return %e : tensor<4xf32>
    })mlir");
  ASSERT_TRUE(module);
  func::FuncOp func = firstFunc(*module);
  std::optional<RepeatedLayers> run = findRepeatedLayers(func.front());
  ASSERT_TRUE(run);
  EXPECT_EQ(run->period, 1u);
  ASSERT_EQ(run->layers.size(), 3u);
  for (const LayerRange &layer : run->layers)
    EXPECT_EQ(layer.ops.size(), 3u);
  EXPECT_EQ(run->layers[0].input.getDefiningOp()->getName().getStringRef(),
            "math.exp");
  EXPECT_EQ(run->layers[0].output, run->layers[1].input);
  EXPECT_EQ(run->layers[1].output, run->layers[2].input);
  EXPECT_EQ(run->layers[2].output,
            cast<func::ReturnOp>(func.front().getTerminator())
                .getOperand(0)
                .getDefiningOp()
                ->getOperand(0));
  ASSERT_EQ(run->matches.size(), 3u);
  EXPECT_EQ(run->matches[1].getWeightSlots().size(), 1u);
}

// Pre-norm style: two residual segments per layer (a "norm + attention"
// and an "MLP"), the state entering as a function argument, and a
// non-constant value every layer reads (a mask computed from an argument).
TEST_F(LayerMatchingTest, FindsTwoSegmentLayersWithSharedCapture) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @f(%x: tensor<4xf32>, %m: tensor<4xf32>) -> tensor<4xf32> {
      %ca = arith.constant dense<1.0> : tensor<4xf32>
      %cb = arith.constant dense<2.0> : tensor<4xf32>
      %cc = arith.constant dense<3.0> : tensor<4xf32>
      %cd = arith.constant dense<4.0> : tensor<4xf32>
      %bias = math.exp %m : tensor<4xf32>
      %a0 = arith.mulf %x, %ca : tensor<4xf32>
      %b0 = arith.addf %a0, %bias : tensor<4xf32>
      %r0 = arith.addf %x, %b0 : tensor<4xf32>
      %m0 = math.tanh %r0 : tensor<4xf32>
      %n0 = arith.mulf %m0, %cb : tensor<4xf32>
      %s0 = arith.addf %r0, %n0 : tensor<4xf32>
      %a1 = arith.mulf %s0, %cc : tensor<4xf32>
      %b1 = arith.addf %a1, %bias : tensor<4xf32>
      %r1 = arith.addf %s0, %b1 : tensor<4xf32>
      %m1 = math.tanh %r1 : tensor<4xf32>
      %n1 = arith.mulf %m1, %cd : tensor<4xf32>
      %s1 = arith.addf %r1, %n1 : tensor<4xf32>
      return %s1 : tensor<4xf32>
    })mlir");
  ASSERT_TRUE(module);
  func::FuncOp func = firstFunc(*module);
  std::optional<RepeatedLayers> run = findRepeatedLayers(func.front());
  ASSERT_TRUE(run);
  EXPECT_EQ(run->period, 2u);
  ASSERT_EQ(run->layers.size(), 2u);
  EXPECT_EQ(run->layers[0].input, func.getArgument(0));
  EXPECT_EQ(run->layers[0].ops.size(), 6u);
  EXPECT_EQ(run->layers[1].output, func.front().getTerminator()->getOperand(0));
  // The mask-derived bias is a shared capture, the constants two slots.
  EXPECT_EQ(run->matches[1].getWeightSlots().size(), 2u);
}

TEST_F(LayerMatchingTest, NoRepeatedLayers) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
      %a = math.exp %x : tensor<4xf32>
      %b = math.tanh %a : tensor<4xf32>
      %c = arith.addf %a, %b : tensor<4xf32>
      return %c : tensor<4xf32>
    })mlir");
  ASSERT_TRUE(module);
  EXPECT_FALSE(findRepeatedLayers(firstFunc(*module).front()));
}

} // namespace
