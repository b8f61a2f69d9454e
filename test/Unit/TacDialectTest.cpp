//===- TacDialectTest.cpp - tac IR built through the C++ API --------------===//
//
// Builds tac IR with the op builders, as passes and the importer do, and
// checks what the verifier accepts and the exact messages it reports.
//
//===----------------------------------------------------------------------===//

#include "dialects/Tac/TacDialect.h"
#include "tac/InitAll.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::tac;

namespace {

class TacDialectTest : public ::testing::Test {
protected:
  TacDialectTest() : context(makeRegistry()), builder(&context) {
    context.loadAllAvailableDialects();
    module = ModuleOp::create(builder.getUnknownLoc());
    builder.setInsertionPointToEnd(module->getBody());
    handler.emplace(&context, [this](Diagnostic &diag) {
      messages.push_back(diag.str());
      return success();
    });
  }

  static DialectRegistry makeRegistry() {
    DialectRegistry registry;
    registerAllDialects(registry);
    return registry;
  }

  /// A function `@f(argTypes...)` whose entry block is the insertion point.
  func::FuncOp makeFunction(TypeRange argTypes) {
    auto func = func::FuncOp::create(builder, builder.getUnknownLoc(), "f",
                                     builder.getFunctionType(argTypes, {}));
    builder.setInsertionPointToStart(func.addEntryBlock());
    return func;
  }

  /// Verifies `op`; returns the first diagnostic, or "" if it verified.
  std::string verifyMessage(Operation *op) {
    messages.clear();
    if (succeeded(verify(op)))
      return "";
    return messages.empty() ? "<failure without a message>" : messages.front();
  }

  RankedTensorType tensorType(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, builder.getF32Type());
  }

  Location loc() { return builder.getUnknownLoc(); }

  MLIRContext context;
  OpBuilder builder;
  OwningOpRef<ModuleOp> module;
  std::optional<ScopedDiagnosticHandler> handler;
  std::vector<std::string> messages;
};

TEST_F(TacDialectTest, GateBuiltWithBuilderVerifies) {
  Type t = tensorType({2, 8});
  func::FuncOp func = makeFunction({builder.getI1Type(), t, t});
  Block &entry = func.front();
  auto gate = GateOp::create(builder, loc(), entry.getArgument(0),
                             ValueRange{entry.getArgument(1)});
  {
    OpBuilder::InsertionGuard guard(builder);
    Block &body = gate.getBody().front();
    ASSERT_EQ(body.getNumArguments(), 1u);
    EXPECT_EQ(body.getArgument(0).getType(), t);
    builder.setInsertionPointToStart(&body);
    Value sum = arith::AddFOp::create(builder, loc(), body.getArgument(0),
                                      entry.getArgument(2));
    YieldOp::create(builder, loc(), ValueRange{sum});
  }
  func::ReturnOp::create(builder, loc());
  EXPECT_EQ(gate.getResult(0).getType(), t);
  EXPECT_EQ(verifyMessage(*module), "");
}

TEST_F(TacDialectTest, GateYieldOfWrongTypeIsRejected) {
  Type t = tensorType({4});
  Type other = RankedTensorType::get({4}, builder.getF16Type());
  func::FuncOp func = makeFunction({builder.getI1Type(), t, other});
  Block &entry = func.front();
  auto gate = GateOp::create(builder, loc(), entry.getArgument(0),
                             ValueRange{entry.getArgument(1)});
  {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(&gate.getBody().front());
    YieldOp::create(builder, loc(), ValueRange{entry.getArgument(2)});
  }
  func::ReturnOp::create(builder, loc());
  EXPECT_EQ(verifyMessage(*module),
            "'tac.yield' op operand #0 has type 'tensor<4xf16>', but the "
            "parent's result #0 has type 'tensor<4xf32>'; expected matching "
            "types");
}

TEST_F(TacDialectTest, PathSetRejectsRepeatsAndDuplicates) {
  auto emitError = [&] { return mlir::emitError(loc()); };
  messages.clear();
  EXPECT_FALSE(PathSetAttr::getChecked(
      emitError, &context,
      ArrayRef<DenseI64ArrayAttr>{builder.getDenseI64ArrayAttr({0, 1, 0})}));
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.back(),
            "path 0 visits layer 0 twice; expected each layer at most once");

  EXPECT_FALSE(PathSetAttr::getChecked(
      emitError, &context,
      ArrayRef<DenseI64ArrayAttr>{builder.getDenseI64ArrayAttr({1}),
                                  builder.getDenseI64ArrayAttr({1})}));
  EXPECT_EQ(messages.back(),
            "path 1 duplicates path 0; expected distinct paths");

  PathSetAttr ok = PathSetAttr::get(
      &context, ArrayRef<SmallVector<int64_t>>{{}, {0, 1}, {0, 1, 2, 3}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok.getNumPaths(), 3u);
  EXPECT_EQ(ok.getMaxLayerIndex(), 3);
  EXPECT_TRUE(ok.getPath(0).empty());
}

TEST_F(TacDialectTest, SelectorOutOfRangeResolvesToLastPath) {
  PathSetAttr paths =
      PathSetAttr::get(&context, ArrayRef<SmallVector<int64_t>>{{0}, {0, 1}});
  EXPECT_EQ(paths.resolveSelector(APInt(64, 0)), 0u);
  EXPECT_EQ(paths.resolveSelector(APInt(64, 1)), 1u);
  EXPECT_EQ(paths.resolveSelector(APInt(64, 2)), 1u);
  // -1 read as unsigned is out of range, too.
  EXPECT_EQ(paths.resolveSelector(APInt(64, -1, /*isSigned=*/true)), 1u);
  EXPECT_EQ(paths.resolveSelector(APInt(1, 1)), 1u);

  makeFunction({});
  Value c5 = arith::ConstantIndexOp::create(builder, loc(), 5);
  Value c0 = arith::ConstantIndexOp::create(builder, loc(), 0);
  EXPECT_EQ(paths.getStaticPath(c5), std::optional<size_t>(1));
  EXPECT_EQ(paths.getStaticPath(c0), std::optional<size_t>(0));
}

TEST_F(TacDialectTest, AdaptiveBlockPathOutOfRangeIsRejected) {
  Type t = tensorType({4});
  func::FuncOp func = makeFunction({builder.getIndexType(), t});
  Block &entry = func.front();
  PathSetAttr paths =
      PathSetAttr::get(&context, ArrayRef<SmallVector<int64_t>>{{0}, {0, 2}});
  auto block = AdaptiveBlockOp::create(builder, loc(), entry.getArgument(0),
                                       ValueRange{entry.getArgument(1)}, paths,
                                       /*numLayers=*/2);
  ASSERT_EQ(block.getNumLayers(), 2u);
  for (Region &layer : block.getLayers()) {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(&layer.front());
    YieldOp::create(builder, loc(), layer.front().getArguments());
  }
  func::ReturnOp::create(builder, loc());
  EXPECT_EQ(verifyMessage(*module),
            "'tac.adaptive_block' op path 1 refers to layer 2, but the block "
            "has 2 layers; expected indices in [0, 2)");
}

TEST_F(TacDialectTest, LayerStackBuilderSlicesWeightsAndChecksLayerCount) {
  Type state = tensorType({16, 64});
  RankedTensorType stacked = tensorType({12, 64, 64});
  EXPECT_EQ(LayerStackOp::getSliceType(stacked), tensorType({64, 64}));

  func::FuncOp func = makeFunction({state, stacked});
  Block &entry = func.front();
  // 12 stacked slices but the range [0, 6) folds 6 layers.
  auto stack = LayerStackOp::create(builder, loc(), /*begin=*/0, /*end=*/6,
                                    ValueRange{entry.getArgument(0)},
                                    ValueRange{entry.getArgument(1)},
                                    /*selector=*/Value(), PathSetAttr());
  Block &body = stack.getBody().front();
  ASSERT_EQ(body.getNumArguments(), 2u);
  EXPECT_EQ(stack.getWeightSliceArgs()[0].getType(), tensorType({64, 64}));
  {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(&body);
    YieldOp::create(builder, loc(), ValueRange{body.getArgument(0)});
  }
  func::ReturnOp::create(builder, loc());
  EXPECT_EQ(verifyMessage(*module),
            "'tac.layer_stack' op stacked weight #0 has leading dimension 12, "
            "but the stack folds 6 layers [0, 6); expected 6");

  stack->setAttr("end", builder.getI64IntegerAttr(12));
  EXPECT_EQ(stack.getNumLayers(), 12);
  EXPECT_EQ(verifyMessage(*module), "");
}

TEST_F(TacDialectTest, ParsedIrPrintsBackIdentically) {
  const char *source = R"mlir(
func.func @f(%sel: index, %x: tensor<4xf32>, %w: tensor<2x4xf32>) -> tensor<4xf32> {
  %y = tac.layer_stack layers [0, 2) (%h = %x : tensor<4xf32>) weights (%wi = %w : tensor<2x4xf32>) select %sel : index paths #tac.paths<[0], [0, 1]> {
    %r = arith.mulf %h, %wi : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}
)mlir";
  OwningOpRef<ModuleOp> parsed = parseSourceString<ModuleOp>(source, &context);
  ASSERT_TRUE(parsed) << (messages.empty() ? "" : messages.front());
  std::string first, second;
  llvm::raw_string_ostream(first) << *parsed;
  OwningOpRef<ModuleOp> reparsed =
      parseSourceString<ModuleOp>(first, &context);
  ASSERT_TRUE(reparsed);
  llvm::raw_string_ostream(second) << *reparsed;
  EXPECT_EQ(first, second);
  EXPECT_NE(first.find("paths #tac.paths<[0], [0, 1]>"), std::string::npos);
}

} // namespace
