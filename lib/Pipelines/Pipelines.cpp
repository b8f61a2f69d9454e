//===- Pipelines.cpp - named tac pass pipelines ---------------------------===//

#include "tac/Pipelines/Pipelines.h"

#include "passes/Passes.h"

#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
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

void mlir::tac::buildKernelsPipeline(OpPassManager &pm, bool cpuOnly,
                                     ArrayRef<int64_t> batchSizes) {
  bool shareController = cpuOnly;
  TacPreparePlanFunctionsOptions prepare;
  prepare.shareController = shareController;
  pm.addPass(createTacPreparePlanFunctions(prepare));
  // Variants no longer do the work they share with the controller: cost
  // them again, so a run's FLOPs are controller + variant.
  if (shareController)
    pm.addPass(createTacEstimateCost());
  pm.addPass(createTacLowerToSCF());
  pm.addPass(createConvertElementwiseToLinalgPass());
  pm.addPass(createTacConvToGemm());
  if (!batchSizes.empty()) {
    TacBatchRowsOptions batch;
    batch.sizes.assign(batchSizes.begin(), batchSizes.end());
    pm.addPass(createTacBatchRows(batch));
  }
  pm.addPass(createTacFuseElementwise());
  pm.addPass(createCanonicalizerPass());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.allowReturnAllocsFromLoops = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addPass(createCanonicalizerPass());
  TacOutlineKernelsOptions outline;
  outline.mergeFills = cpuOnly;
  pm.addPass(createTacOutlineKernels(outline));
}

/// The reference lowering to LLVM: every loop scalar, no tiling or
/// vectorisation. Slow, simple, and the oracle the optimised backends are
/// checked against (with mlir-runner). One definition for every script.
static constexpr const char *kReferenceCpuPipeline =
    "tac-lower-to-scf,convert-elementwise-to-linalg,"
    "one-shot-bufferize{bufferize-function-boundaries "
    "allow-return-allocs-from-loops},"
    "convert-linalg-to-loops,convert-scf-to-cf,expand-strided-metadata,"
    "lower-affine,convert-math-to-funcs,convert-math-to-llvm,"
    "convert-math-to-libm,finalize-memref-to-llvm,convert-arith-to-llvm,"
    "convert-cf-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts";

LogicalResult mlir::tac::buildReferenceCpuPipeline(OpPassManager &pm) {
  return parsePassPipeline(kReferenceCpuPipeline, pm);
}

void mlir::tac::registerTacPipelines() {
  PassPipelineRegistration<>(
      "tac-reference-cpu",
      "Lower tac and upstream tensor IR to the LLVM dialect with plain loops "
      "(the reference semantics; run the result with mlir-runner)",
      [](OpPassManager &pm) {
        if (failed(buildReferenceCpuPipeline(pm)))
          llvm::report_fatal_error("tac-reference-cpu: malformed pipeline");
      });
  PassPipelineRegistration<>(
      "tac-kernels",
      "Fuse, bufferize and outline kernels: the host functions a plan "
      "replays, calling one kernel function per fused op",
      [](OpPassManager &pm) { buildKernelsPipeline(pm); });
  PassPipelineRegistration<AdaptivePipelineOptions>(
      "tac-adaptive",
      "Form adaptive blocks, fold layers, specialise paths, estimate cost",
      buildAdaptivePipeline);
}
