//===- Pipelines.h - named tac pass pipelines -------------------*- C++ -*-===//
//
// The pipelines tac-opt registers and tac-compile runs, built in one place.
//
//===----------------------------------------------------------------------===//

#ifndef TAC_PIPELINES_PIPELINES_H
#define TAC_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"
#include "mlir/Support/LLVM.h"

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace mlir::tac {

struct AdaptivePipelineOptions
    : public PassPipelineOptions<AdaptivePipelineOptions> {
  Option<bool> fold{*this, "fold",
                    llvm::cl::desc("Fold identical layers (tac-fold-layers)"),
                    llvm::cl::init(true)};
  Option<bool> report{*this, "report",
                      llvm::cl::desc("Print the per-variant cost table"),
                      llvm::cl::init(false)};
};

/// form adaptive blocks → fold layers → specialise paths → estimate cost:
/// an imported adaptive model becomes a controller, one static function per
/// path and a dispatch table, each variant with its cost.
void buildAdaptivePipeline(OpPassManager &pm,
                           const AdaptivePipelineOptions &options);

/// The reference lowering of tac and upstream tensor IR to the LLVM dialect
/// (plain loops; the oracle for optimised backends): `--tac-reference-cpu`.
LogicalResult buildReferenceCpuPipeline(OpPassManager &pm);

/// Tensor IR after the adaptive passes -> bufferized host functions calling
/// `@tac_kernel_<n>` functions, the input of the plan builder and the CPU
/// code generator (lib/Backend).
/// `cpuOnly`: the file holds CPU code only, so variants may take what the
/// controller computed as extra arguments (tac-prepare-plan-functions
/// share-controller) and initialising fills may join their consumers'
/// kernels (tac-outline-kernels merge-fills); the CUDA backend supports
/// neither yet.
/// `batchSizes`: extra row counts (each > 1) to compile every plan function
/// for (tac-batch-rows), beside the one-row functions.
void buildKernelsPipeline(OpPassManager &pm, bool cpuOnly = true,
                          ArrayRef<int64_t> batchSizes = {});

/// Registers the pipelines with tac-opt (`--tac-adaptive`,
/// `--tac-reference-cpu`).
void registerTacPipelines();

} // namespace mlir::tac

#endif // TAC_PIPELINES_PIPELINES_H
