//===- EstimateCost.cpp ------------------------------------------------------------===//
//
// Declared in Passes.td; the implementation is in progress.
//
//===----------------------------------------------------------------------===//

#include "dialects/Tac/TacDialect.h"
#include "passes/Passes.h"

namespace mlir::tac {
#define GEN_PASS_DEF_TACESTIMATECOST
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;
using namespace mlir::tac;

namespace {
struct TacEstimateCost : mlir::tac::impl::TacEstimateCostBase<TacEstimateCost> {
  using Base::Base;
  void runOnOperation() override {
    getOperation().emitError() << "--tac-estimate-cost is not implemented yet";
    signalPassFailure();
  }
};
} // namespace
