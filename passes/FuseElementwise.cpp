//===- FuseElementwise.cpp - elementwise fusion that keeps reductions lean ===//
//
// Upstream's linalg-fuse-elementwise-ops fuses a producer into any consumer,
// including a contraction: an elementwise GELU feeding a matmul is then
// recomputed once per output column (N times the work, and transcendental
// calls in the inner loop). tac fuses elementwise producers only into
// consumers whose loops are all parallel, so every fused op does the work
// of one pass over its output.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::tac {
#define GEN_PASS_DEF_TACFUSEELEMENTWISE
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;

namespace {

/// Fuse into all-parallel consumers only, and only a producer nothing else
/// reads (fusing a shared producer would recompute it per consumer).
bool intoParallelConsumer(OpOperand *fused) {
  Operation *producer = fused->get().getDefiningOp();
  auto consumer = dyn_cast<linalg::LinalgOp>(fused->getOwner());
  return producer && producer->hasOneUse() && consumer &&
         consumer.getNumReductionLoops() == 0;
}

/// A reshape moves across an elementwise producer when that lets the
/// producer fuse with the reshape's one consumer (a GEMM's 2-D bias add and
/// the 3-D GELU or residual add after it): producer and consumer have
/// all-parallel loops and nothing else reads either value. A reshape that
/// feeds anything else (attention's per-head slices) stays: moving it would
/// only give the producer the consumer's shape (a bias add over heads of
/// 24, split per slice). Otherwise as intoParallelConsumer.
bool reshapeIntoParallel(OpOperand *fused) {
  Operation *reshape = fused->getOwner();
  if (!isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(reshape))
    return intoParallelConsumer(fused);
  auto producer = fused->get().getDefiningOp<linalg::LinalgOp>();
  if (!producer || !producer->hasOneUse() ||
      producer.getNumReductionLoops() != 0 || !reshape->hasOneUse())
    return false;
  auto consumer = dyn_cast<linalg::LinalgOp>(*reshape->getUsers().begin());
  return consumer && consumer.getNumReductionLoops() == 0;
}

struct FuseElementwise
    : mlir::tac::impl::TacFuseElementwiseBase<FuseElementwise> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    RewritePatternSet patterns(context);
    linalg::populateElementwiseOpsFusionPatterns(patterns, intoParallelConsumer);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns,
                                                      reshapeIntoParallel);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, context);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, context);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, context);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, context);
    context->getLoadedDialect<linalg::LinalgDialect>()
        ->getCanonicalizationPatterns(patterns);
    int64_t before = countLinalgOps();
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    numFused += std::max<int64_t>(0, before - countLinalgOps());
  }

private:
  int64_t countLinalgOps() {
    int64_t count = 0;
    getOperation()->walk([&](linalg::LinalgOp) { ++count; });
    return count;
  }
};

} // namespace
