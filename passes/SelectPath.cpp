//===- SelectPath.cpp - fix every path set to one path --------------------===//

#include "dialects/Tac/TacDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::tac {
#define GEN_PASS_DEF_TACSELECTPATH
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;
using namespace mlir::tac;

namespace {

struct TacSelectPath : mlir::tac::impl::TacSelectPathBase<TacSelectPath> {
  using Base::Base;

  /// Replaces `selector` of `op` by the constant index of the chosen path.
  /// Reports and fails if `path` is out of range for `paths`.
  LogicalResult fixSelector(Operation *op, PathSetAttr paths,
                            OpOperand &selector) {
    int64_t numPaths = paths.getNumPaths(), requested = path;
    if (requested < -1 || requested >= numPaths)
      return op->emitError() << "--tac-select-path: path " << requested
                             << " is out of range for this path set of "
                             << numPaths << " paths; expected -1 (the last) or "
                             << "a value in [0, " << numPaths << ")";
    int64_t chosen = requested == -1 ? numPaths - 1 : requested;
    OpBuilder builder(op);
    Type type = selector.get().getType();
    Value constant =
        type.isIndex()
            ? Value(arith::ConstantIndexOp::create(builder, op->getLoc(), chosen))
            : Value(arith::ConstantIntOp::create(builder, op->getLoc(), type,
                                                 chosen));
    selector.set(constant);
    constants.push_back(constant.getDefiningOp());
    return success();
  }

  /// Selector constants this pass created.
  SmallVector<Operation *> constants;

  void runOnOperation() override {
    SmallVector<Operation *> selected;
    WalkResult walk = getOperation()->walk([&](Operation *op) {
      if (auto block = dyn_cast<AdaptiveBlockOp>(op)) {
        if (failed(fixSelector(op, block.getPaths(),
                               block.getSelectorMutable())))
          return WalkResult::interrupt();
        selected.push_back(op);
      } else if (auto stack = dyn_cast<LayerStackOp>(op)) {
        if (std::optional<PathSetAttr> paths = stack.getPaths()) {
          if (failed(fixSelector(op, *paths, stack.getSelectorMutable()[0])))
            return WalkResult::interrupt();
          selected.push_back(op);
        }
      }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    RewritePatternSet patterns(&getContext());
    AdaptiveBlockOp::getCanonicalizationPatterns(patterns, &getContext());
    LayerStackOp::getCanonicalizationPatterns(patterns, &getContext());
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
    // Only the ops whose selector was fixed (and what they create) change;
    // the rest of the IR is left as it was.
    // The new constants are listed too, so the driver erases those that the
    // folds leave dead.
    llvm::append_range(selected, constants);
    constants.clear();
    (void)applyOpPatternsGreedily(selected, std::move(patterns), config);
  }
};

} // namespace
