//===- LowerToSCF.cpp - tac ops to scf/tensor/arith -----------------------===//
//
// The reference lowering: every tac op expressed with upstream ops, layer
// bodies cloned where a path needs them. See Passes.td for the mapping.
//
//===----------------------------------------------------------------------===//

#include "dialects/Tac/TacDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::tac {
#define GEN_PASS_DEF_TACLOWERTOSCF
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;
using namespace mlir::tac;

/// Clones the ops of a layer body at the rewriter's insertion point, its
/// arguments bound to `args`, and returns the values it yields.
static SmallVector<Value> cloneLayer(PatternRewriter &rewriter, Block &layer,
                                     ValueRange args) {
  IRMapping mapping;
  mapping.map(layer.getArguments(), args);
  for (Operation &op : layer.without_terminator())
    rewriter.clone(op, mapping);
  auto yield = cast<YieldOp>(layer.getTerminator());
  return llvm::map_to_vector(yield.getValues(), [&](Value value) {
    return mapping.lookupOrDefault(value);
  });
}

/// Converts a selector to `index` (integers are read as unsigned).
static Value toIndex(PatternRewriter &rewriter, Location loc, Value selector) {
  if (selector.getType().isIndex())
    return selector;
  return arith::IndexCastUIOp::create(rewriter, loc, rewriter.getIndexType(),
                                      selector);
}

/// Builds an scf.index_switch on `selector` with one region per path: cases
/// 0..N-2 and the default region for the last path (which also takes every
/// out-of-range value). `emitPath(i, state)` fills the region of path i and
/// returns its results.
static scf::IndexSwitchOp buildPathSwitch(
    PatternRewriter &rewriter, Location loc, Value selector,
    PathSetAttr paths, ValueRange inputs,
    function_ref<SmallVector<Value>(size_t, ValueRange)> emitPath) {
  size_t numPaths = paths.getNumPaths();
  SmallVector<int64_t> cases = llvm::to_vector(
      llvm::seq<int64_t>(0, static_cast<int64_t>(numPaths) - 1));
  auto switchOp = scf::IndexSwitchOp::create(
      rewriter, loc, inputs.getTypes(), toIndex(rewriter, loc, selector),
      cases, cases.size());
  OpBuilder::InsertionGuard guard(rewriter);
  for (size_t i = 0; i < numPaths; ++i) {
    Region &region = i + 1 == numPaths ? switchOp.getDefaultRegion()
                                       : switchOp.getCaseRegions()[i];
    rewriter.createBlock(&region);
    scf::YieldOp::create(rewriter, loc, emitPath(i, inputs));
  }
  return switchOp;
}

namespace {

struct GateToIf : OpRewritePattern<GateOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GateOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto ifOp = scf::IfOp::create(rewriter, loc, op.getResultTypes(),
                                  op.getCondition(), /*addThenBlock=*/false,
                                  /*addElseBlock=*/false);
    rewriter.createBlock(&ifOp.getThenRegion());
    scf::YieldOp::create(
        rewriter, loc, cloneLayer(rewriter, op.getBody().front(), op.getInputs()));
    rewriter.createBlock(&ifOp.getElseRegion());
    scf::YieldOp::create(rewriter, loc, op.getInputs());
    rewriter.replaceOp(op, ifOp.getResults());
    return success();
  }
};

struct AdaptiveBlockToSwitch : OpRewritePattern<AdaptiveBlockOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AdaptiveBlockOp op,
                                PatternRewriter &rewriter) const override {
    PathSetAttr paths = op.getPaths();
    auto emitPath = [&](size_t path, ValueRange inputs) {
      SmallVector<Value> state(inputs);
      for (int64_t layer : paths.getPath(path))
        state = cloneLayer(rewriter, op.getLayers()[layer].front(), state);
      return state;
    };
    auto switchOp = buildPathSwitch(rewriter, op.getLoc(), op.getSelector(),
                                    paths, op.getInputs(), emitPath);
    rewriter.replaceOp(op, switchOp.getResults());
    return success();
  }
};

struct LayerStackToLoops : OpRewritePattern<LayerStackOp> {
  using OpRewritePattern::OpRewritePattern;

  /// Runs layer `position` (relative to the stack's begin) on `state`.
  static SmallVector<Value> emitLayer(PatternRewriter &rewriter,
                                      LayerStackOp op, OpFoldResult position,
                                      ValueRange state) {
    Location loc = op.getLoc();
    SmallVector<Value> args(state);
    for (Value weight : op.getWeights())
      args.push_back(op.sliceWeight(rewriter, loc, weight, position, 1,
                                    /*dropLayerDim=*/true));
    return cloneLayer(rewriter, op.getBody().front(), args);
  }

  /// Runs the layers [first, first + count) (relative positions) as a loop.
  static SmallVector<Value> emitLoop(PatternRewriter &rewriter,
                                     LayerStackOp op, int64_t first,
                                     int64_t count, ValueRange state) {
    Location loc = op.getLoc();
    Value lower = arith::ConstantIndexOp::create(rewriter, loc, first);
    Value upper = arith::ConstantIndexOp::create(rewriter, loc, first + count);
    Value step = arith::ConstantIndexOp::create(rewriter, loc, 1);
    auto forOp = scf::ForOp::create(rewriter, loc, lower, upper, step, state);
    OpBuilder::InsertionGuard guard(rewriter);
    Block *body = forOp.getBody();
    if (!body->empty())
      rewriter.eraseOp(&body->back());
    rewriter.setInsertionPointToEnd(body);
    scf::YieldOp::create(rewriter, loc,
                         emitLayer(rewriter, op, forOp.getInductionVar(),
                                   forOp.getRegionIterArgs()));
    return llvm::to_vector_of<Value>(forOp.getResults());
  }

  LogicalResult matchAndRewrite(LayerStackOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<PathSetAttr> paths = op.getPaths();
    if (!paths) {
      rewriter.replaceOp(op, emitLoop(rewriter, op, 0, op.getNumLayers(),
                                      op.getInputs()));
      return success();
    }
    int64_t begin = op.getBegin();
    auto emitPath = [&](size_t pathIndex, ValueRange inputs) {
      ArrayRef<int64_t> path = paths->getPath(pathIndex);
      bool contiguous = true;
      for (auto [k, layer] : llvm::enumerate(path))
        contiguous &= layer == path.front() + static_cast<int64_t>(k);
      if (contiguous && path.size() > 1)
        return emitLoop(rewriter, op, path.front() - begin, path.size(),
                        inputs);
      SmallVector<Value> state(inputs);
      for (int64_t layer : path)
        state = emitLayer(rewriter, op, rewriter.getIndexAttr(layer - begin),
                          state);
      return state;
    };
    auto switchOp = buildPathSwitch(rewriter, op.getLoc(), op.getSelector(),
                                    *paths, op.getInputs(), emitPath);
    rewriter.replaceOp(op, switchOp.getResults());
    return success();
  }
};

/// Controller markers are identities once the controller is code.
template <typename MarkerOp>
struct EraseMarker : OpRewritePattern<MarkerOp> {
  using OpRewritePattern<MarkerOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(MarkerOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, op->getOperand(0));
    return success();
  }
};

struct TacLowerToSCF : mlir::tac::impl::TacLowerToSCFBase<TacLowerToSCF> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<GateToIf, AdaptiveBlockToSwitch, LayerStackToLoops,
                 EraseMarker<PredictorOutputOp>, EraseMarker<PolicyOutputOp>>(
        &getContext());
    GreedyRewriteConfig config;
    // Lower only: folding here would hide the mapping from tests.
    config.enableFolding(false);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns),
                                     config)))
      return signalPassFailure();

    // Attributes of the tac dialect (a function's #tac.paths) go too, so
    // the result parses without the tac dialect (e.g. in mlir-runner).
    getOperation()->walk([](Operation *op) {
      for (NamedAttribute attr : llvm::to_vector(op->getDiscardableAttrs()))
        if (isa<TacDialect>(attr.getValue().getDialect()))
          op->removeDiscardableAttr(attr.getName());
    });

    WalkResult leftover = getOperation()->walk([](Operation *op) {
      if (isa<TacDialect>(op->getDialect())) {
        op->emitError() << "'" << op->getName()
                        << "' was not lowered by --tac-lower-to-scf";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (leftover.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
