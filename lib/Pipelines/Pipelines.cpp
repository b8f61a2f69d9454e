//===- Pipelines.cpp - named tac pass pipelines ---------------------------===//

#include "tac/Pipelines/Pipelines.h"

#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::tac;

void mlir::tac::buildAdaptivePipeline(OpPassManager &pm,
                                      const AdaptivePipelineOptions &options) {
  pm.addPass(createTacFormAdaptiveBlocks());
  // Clean the selector arithmetic and fold constant gates before folding.
  pm.addPass(createCanonicalizerPass());
  if (options.fold)
    pm.addPass(createTacFoldLayers());
  pm.addPass(createTacSpecializePaths());
  TacEstimateCostOptions cost;
  cost.report = options.report;
  pm.addPass(createTacEstimateCost(cost));
}

void mlir::tac::registerTacPipelines() {
  PassPipelineRegistration<AdaptivePipelineOptions>(
      "tac-adaptive",
      "Form adaptive blocks, fold layers, specialise paths, estimate cost",
      buildAdaptivePipeline);
}
