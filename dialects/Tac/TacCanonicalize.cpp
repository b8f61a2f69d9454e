//===- TacCanonicalize.cpp - tac folds that move regions ------------------===//
//
// Canonicalization patterns of the tac ops. Folds that only forward values
// (a gate that is off, an empty stack) are `fold` methods in TacOps.cpp;
// the patterns here inline or rebuild regions.
//
//===----------------------------------------------------------------------===//

#include "dialects/Tac/TacDialect.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::tac;

/// Moves the single block of `layer` before `anchor`, feeding it `state`,
/// drops its terminator and returns the values it yielded.
static SmallVector<Value> inlineLayerBefore(PatternRewriter &rewriter,
                                            Operation *anchor, Region &layer,
                                            ValueRange state) {
  Block *block = &layer.front();
  auto yield = cast<YieldOp>(block->getTerminator());
  SmallVector<Value> next;
  for (Value value : yield.getValues()) {
    // A layer may yield one of its own arguments, which inlining replaces.
    auto arg = dyn_cast<BlockArgument>(value);
    next.push_back(arg && arg.getOwner() == block ? state[arg.getArgNumber()]
                                                  : value);
  }
  rewriter.inlineBlockBefore(block, anchor, state);
  rewriter.eraseOp(yield);
  return next;
}

namespace {

/// tac.gate with a constant true condition → its body, inlined.
struct InlineEnabledGate : OpRewritePattern<GateOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GateOp op,
                                PatternRewriter &rewriter) const override {
    if (!matchPattern(op.getCondition(), m_One()))
      return failure();
    rewriter.replaceOp(
        op, inlineLayerBefore(rewriter, op, op.getBody(), op.getInputs()));
    return success();
  }
};

/// tac.adaptive_block whose path is statically known (constant selector or
/// a single path) → that path's layers, inlined in order.
struct InlineKnownPath : OpRewritePattern<AdaptiveBlockOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AdaptiveBlockOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<size_t> path = op.getPaths().getStaticPath(op.getSelector());
    if (!path)
      return failure();
    SmallVector<Value> state(op.getInputs());
    // A path visits each layer at most once, so each region moves once.
    for (int64_t layer : op.getPaths().getPath(*path))
      state = inlineLayerBefore(rewriter, op, op.getLayers()[layer], state);
    rewriter.replaceOp(op, state);
    return success();
  }
};

/// tac.layer_stack whose path is statically known and runs a contiguous
/// ascending range [a, b) → a stack over [a, b) without a selector, reading
/// slices of the stacked weights. An empty path → the inputs.
/// Non-contiguous paths are left to path specialisation.
struct SliceStackToKnownPath : OpRewritePattern<LayerStackOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LayerStackOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<PathSetAttr> paths = op.getPaths();
    if (!paths)
      return failure();
    std::optional<size_t> pathIndex = paths->getStaticPath(op.getSelector());
    if (!pathIndex)
      return failure();
    ArrayRef<int64_t> path = paths->getPath(*pathIndex);
    if (path.empty()) {
      rewriter.replaceOp(op, op.getInputs());
      return success();
    }
    for (auto [k, layer] : llvm::enumerate(path))
      if (layer != path.front() + static_cast<int64_t>(k))
        return rewriter.notifyMatchFailure(op, "path is not a contiguous run");

    int64_t first = path.front(), count = path.size();
    Location loc = op.getLoc();
    SmallVector<Value> slices;
    for (Value weight : op.getWeights())
      slices.push_back(op.sliceWeight(rewriter, loc, weight,
                                      rewriter.getIndexAttr(first - op.getBegin()),
                                      count, /*dropLayerDim=*/false));
    auto stack = LayerStackOp::create(rewriter, loc, first, first + count,
                                      op.getInputs(), slices, Value(),
                                      PathSetAttr());
    // Reuse the original body in place of the builder's empty one.
    rewriter.eraseBlock(&stack.getBody().front());
    rewriter.inlineRegionBefore(op.getBody(), stack.getBody(),
                                stack.getBody().end());
    rewriter.replaceOp(op, stack.getResults());
    return success();
  }
};

} // namespace

void GateOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                         MLIRContext *context) {
  results.add<InlineEnabledGate>(context);
}

void AdaptiveBlockOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                                  MLIRContext *context) {
  results.add<InlineKnownPath>(context);
}

void LayerStackOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                               MLIRContext *context) {
  results.add<SliceStackToKnownPath>(context);
}
