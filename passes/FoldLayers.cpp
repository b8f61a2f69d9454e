//===- FoldLayers.cpp ------------------------------------------------------------===//
//
// Declared in Passes.td; the implementation is in progress.
//
//===----------------------------------------------------------------------===//

#include "dialects/Tac/TacDialect.h"
#include "passes/Passes.h"

namespace mlir::tac {
#define GEN_PASS_DEF_TACFOLDLAYERS
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;
using namespace mlir::tac;

namespace {
struct TacFoldLayers : mlir::tac::impl::TacFoldLayersBase<TacFoldLayers> {
  using Base::Base;
  void runOnOperation() override {
    getOperation().emitError() << "--tac-fold-layers is not implemented yet";
    signalPassFailure();
  }
};
} // namespace
