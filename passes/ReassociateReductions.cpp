//===- ReassociateReductions.cpp - let float reductions vectorise ---------===//
//
// A row reduction (softmax's max and sum, layernorm's mean and variance, a
// mean over tokens) lowers to an inner loop that folds each element into one
// accumulator. LLVM keeps that sequential float order unless the combining
// operation may be reassociated, so the loop stays scalar. Marking only the
// combiner (the float op that reads the accumulator) `reassoc` and
// `contract` lets LLVM's loop vectoriser keep one partial result per vector
// lane and combine them at the end; everything else keeps strict IEEE
// semantics. The result may differ from the sequential sum in the last bits
// (summation order), as with any vectorised or threaded reduction.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir::tac {
#define GEN_PASS_DEF_TACREASSOCIATEREDUCTIONS
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;

namespace {

struct ReassociateReductions
    : mlir::tac::impl::TacReassociateReductionsBase<ReassociateReductions> {
  using Base::Base;

  void runOnOperation() override {
    if (minMaxToLLVM)
      return lowerMinMax();
    getOperation()->walk([&](linalg::LinalgOp op) {
      // Contractions (matmul and its generic forms) are GEMMs: the
      // backends hand them to BLAS or order their loops to vectorise
      // without reassociating.
      if (op.getNumReductionLoops() == 0 ||
          linalg::isaContractionOpInterface(op) ||
          op->getNumRegions() != 1 || op->getRegion(0).empty())
        return;
      Block &body = op->getRegion(0).front();
      for (OpOperand &init : op.getDpsInitsMutable()) {
        BlockArgument acc = op.getMatchingBlockArgument(&init);
        for (Operation *user : acc.getUsers()) {
          auto fm = dyn_cast<arith::ArithFastMathInterface>(user);
          if (!fm || user->getBlock() != &body ||
              !isa<FloatType>(user->getResult(0).getType()))
            continue;
          arith::FastMathFlags flags = fm.getFastMathFlagsAttr()
                                           ? fm.getFastMathFlagsAttr().getValue()
                                           : arith::FastMathFlags::none;
          flags = flags | arith::FastMathFlags::reassoc |
                  arith::FastMathFlags::contract;
          user->setAttr(fm.getFastMathAttrName(),
                        arith::FastMathFlagsAttr::get(&getContext(), flags));
          ++numMarked;
        }
      }
    });
  }

  /// arith.maximumf / minimumf marked reassoc become LLVM's maximum /
  /// minimum intrinsics (same NaN-propagating semantics). arith-expand would
  /// otherwise turn them into compare-and-select chains that LLVM does not
  /// recognise as a reduction.
  void lowerMinMax() {
    auto marked = [](arith::ArithFastMathInterface op) {
      return bitEnumContainsAll(op.getFastMathFlagsAttr().getValue(),
                                arith::FastMathFlags::reassoc);
    };
    getOperation()->walk([&](Operation *op) {
      if (!isa<arith::MaximumFOp, arith::MinimumFOp>(op) ||
          !isa<FloatType>(op->getResult(0).getType()) ||
          !marked(cast<arith::ArithFastMathInterface>(op)))
        return;
      OpBuilder b(op);
      Value lhs = op->getOperand(0), rhs = op->getOperand(1);
      Value r = isa<arith::MaximumFOp>(op)
                    ? LLVM::MaximumOp::create(b, op->getLoc(), lhs, rhs)
                          .getResult()
                    : LLVM::MinimumOp::create(b, op->getLoc(), lhs, rhs)
                          .getResult();
      op->getResult(0).replaceAllUsesWith(r);
      op->erase();
      ++numMarked;
    });
  }
};

} // namespace
