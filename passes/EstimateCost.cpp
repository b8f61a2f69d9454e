//===- EstimateCost.cpp - FLOPs, bytes and peak memory per function -------===//
//
// The pass is a thin shell over the cost-model library (CostModel.h): it
// attaches the numbers as attributes and, with `report`, prints the table.
// Conventions: docs/passes/estimate-cost.md.
//
//===----------------------------------------------------------------------===//

#include "dialects/Tac/TacDialect.h"
#include "passes/CostModel.h"
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
    ModuleOp module = getOperation();
    // Exact byte counts: the runtime plans with its own alignment through
    // the same API.
    CostOptions options;
    options.alignment = 1;
    ModuleCost cost = estimateModuleCost(module, options);
    attachCostAttributes(module, cost);
    if (report) {
      printCostReport(cost, llvm::outs());
      llvm::outs().flush();
    }
  }
};
} // namespace
