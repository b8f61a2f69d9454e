//===- Pipelines.cpp - tac's phased pass pipelines ------------------------===//

#include "tac/Pipelines/Pipelines.h"

#include "passes/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/CommandLine.h"

using namespace mlir;
using namespace mlir::tac;

// A/B switches for measuring optimisations on their own (hidden;
// the options structs are the API).
static llvm::cl::opt<bool> clNoFoldConstants(
    "tac-no-fold-constants", llvm::cl::Hidden,
    llvm::cl::desc("Skip tac-fold-constants (to measure what it saves)"));
static llvm::cl::opt<bool> clNoFormSoftmax(
    "tac-no-form-softmax", llvm::cl::Hidden,
    llvm::cl::desc("Skip tac-form-softmax (to measure what it saves)"));
static llvm::cl::opt<bool> clNoFormAttention(
    "tac-no-form-attention", llvm::cl::Hidden,
    llvm::cl::desc("Skip tac-form-attention (to measure what it saves)"));
static llvm::cl::opt<bool> clStrictReductions(
    "tac-strict-reductions", llvm::cl::Hidden,
    llvm::cl::desc("Skip tac-reassociate-reductions (to measure what it "
                   "saves)"));

void mlir::tac::buildAdaptiveBlocksPipeline(
    OpPassManager &pm, const AdaptivePipelineOptions &options) {
  // Weight-only work first, so layers are compared (and stacked) with their
  // folded weights.
  if (options.foldConstants && !clNoFoldConstants)
    pm.addPass(createTacFoldConstants());
  TacFormAdaptiveBlocksOptions form;
  form.depths.assign(options.depths.begin(), options.depths.end());
  pm.addPass(createTacFormAdaptiveBlocks(form));
  // Clean the selector arithmetic and fold constant gates before folding.
  pm.addPass(createCanonicalizerPass());
  if (options.fold)
    pm.addPass(createTacFoldLayers());
}

void mlir::tac::buildVariantsPipeline(OpPassManager &pm,
                                      const AdaptivePipelineOptions &options) {
  pm.addPass(createTacSpecializePaths());
  TacEstimateCostOptions cost;
  cost.report = options.report;
  pm.addPass(createTacEstimateCost(cost));
}

void mlir::tac::buildAdaptivePipeline(OpPassManager &pm,
                                      const AdaptivePipelineOptions &options) {
  buildAdaptiveBlocksPipeline(pm, options);
  buildVariantsPipeline(pm, options);
}

KernelsPipelineOptions KernelsPipelineOptions::forTargets(bool cuda) {
  KernelsPipelineOptions options;
  options.shareController = !cuda;
  options.mergeFills = !cuda;
  options.formSoftmax = !cuda;
  options.formAttention = !cuda;
  return options;
}

void mlir::tac::buildKernelsPipeline(OpPassManager &pm,
                                     const KernelsPipelineOptions &options) {
  TacPreparePlanFunctionsOptions prepare;
  prepare.shareController = options.shareController;
  pm.addPass(createTacPreparePlanFunctions(prepare));
  pm.addPass(createTacLowerToSCF());
  // The plans' FLOPs and memory come from #tac.cost, which tac-lower-to-scf
  // strips with the dialect's other attributes (so its output parses
  // without tac): cost the lowered functions here. With a shared
  // controller this also counts what the variants no longer redo, so a
  // run's FLOPs are controller + variant.
  pm.addPass(createTacEstimateCost());
  pm.addPass(createConvertElementwiseToLinalgPass());
  pm.addPass(createTacConvToGemm());
  if (!options.batchSizes.empty()) {
    TacBatchRowsOptions batch;
    batch.sizes.assign(options.batchSizes.begin(), options.batchSizes.end());
    pm.addPass(createTacBatchRows(batch));
  }
  // Before fusion, whose reshape folding may change the chain's shapes.
  if (options.formSoftmax && !clNoFormSoftmax)
    pm.addPass(createTacFormSoftmax());
  if (options.formSoftmax && options.formAttention && !clNoFormSoftmax &&
      !clNoFormAttention)
    pm.addPass(createTacFormAttention());
  pm.addPass(createTacFuseElementwise());
  // After fusion, so the reductions that fusion formed are marked too.
  if (options.reassociateReductions && !clStrictReductions)
    pm.addPass(createTacReassociateReductions());
  pm.addPass(createCanonicalizerPass());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.allowReturnAllocsFromLoops = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addPass(createCanonicalizerPass());
  TacOutlineKernelsOptions outline;
  outline.mergeFills = options.mergeFills;
  pm.addPass(createTacOutlineKernels(outline));
}

void mlir::tac::buildLoopsToLLVMPipeline(OpPassManager &pm,
                                         const LoopsToLLVMOptions &options) {
  pm.addPass(createConvertLinalgToLoopsPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass()); // what expanding the metadata made
  pm.addPass(createConvertMathToFuncs());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  // Reduction max/min marked by tac-reassociate-reductions stay LLVM
  // intrinsics, which LLVM vectorises as reductions (arith-expand would
  // make compare-and-select chains of them).
  TacReassociateReductionsOptions minMax;
  minMax.minMaxToLLVM = true;
  pm.addPass(createTacReassociateReductions(minMax));
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  ConvertFuncToLLVMPassOptions func;
  func.useBarePtrCallConv = options.barePtrCallConv;
  pm.addPass(createConvertFuncToLLVMPass(func));
  pm.addPass(createReconcileUnrealizedCastsPass());
}

/// The reference lowering to LLVM: every loop scalar, no tiling or
/// vectorisation. Slow, simple, and the oracle the optimised backends are
/// checked against (with mlir-runner). One definition for every script.
void mlir::tac::buildReferenceCpuPipeline(OpPassManager &pm) {
  pm.addPass(createTacLowerToSCF());
  pm.addPass(createConvertElementwiseToLinalgPass());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  buildLoopsToLLVMPipeline(pm);
}

void mlir::tac::registerTacPipelines() {
  PassPipelineRegistration<>(
      "tac-reference-cpu",
      "Lower tac and upstream tensor IR to the LLVM dialect with plain loops "
      "(the reference semantics; run the result with mlir-runner)",
      buildReferenceCpuPipeline);
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
