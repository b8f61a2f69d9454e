//===- Pipelines.h - tac's phased pass pipelines ----------------*- C++ -*-===//
//
// Every pass pipeline tac runs, built in one place by typed builders with
// options structs: tac-compile (through lib/Driver, one builder per
// CompilePhase), tac-opt's named pipelines (--tac-adaptive, --tac-kernels,
// --tac-reference-cpu) and the CPU code generator call the same builders,
// so a pipeline is spelled once. Nothing here parses pipeline text, so no
// caller depends on global pass registration.
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

/// The adaptive half of a compile (CompilePhase::Adaptive and ::Variants);
/// also tac-opt's --tac-adaptive options.
struct AdaptivePipelineOptions
    : public PassPipelineOptions<AdaptivePipelineOptions> {
  ListOption<int64_t> depths{
      *this, "depths",
      llvm::cl::desc("Static models: truncated depths to compile as "
                     "variants (tac-form-adaptive-blocks)")};
  Option<bool> fold{*this, "fold",
                    llvm::cl::desc("Fold identical layers (tac-fold-layers)"),
                    llvm::cl::init(true)};
  Option<bool> foldConstants{
      *this, "fold-constants",
      llvm::cl::desc("Evaluate weight-only ops at compile time "
                     "(tac-fold-constants)"),
      llvm::cl::init(true)};
  Option<bool> report{*this, "report",
                      llvm::cl::desc("Print the per-variant cost table"),
                      llvm::cl::init(false)};
};

/// CompilePhase::Adaptive: evaluate weight-only ops (tac-fold-constants),
/// form adaptive blocks (and depth variants of a static model), clean the
/// selector arithmetic, fold identical layers.
void buildAdaptiveBlocksPipeline(OpPassManager &pm,
                                 const AdaptivePipelineOptions &options);

/// CompilePhase::Variants: one static function per path, each costed.
void buildVariantsPipeline(OpPassManager &pm,
                           const AdaptivePipelineOptions &options);

/// Both phases above: an imported adaptive model becomes a controller, one
/// static function per path and a dispatch table (`--tac-adaptive`).
void buildAdaptivePipeline(OpPassManager &pm,
                           const AdaptivePipelineOptions &options);

/// CompilePhase::Kernels options.
struct KernelsPipelineOptions {
  /// Variants take what the controller computed as extra arguments
  /// (tac-prepare-plan-functions share-controller) and are costed again.
  bool shareController = true;
  /// Initialising fills join their consumers' kernels (tac-outline-kernels
  /// merge-fills).
  bool mergeFills = true;
  /// Reduction combiners may be reassociated, so row reductions vectorise
  /// (tac-reassociate-reductions).
  bool reassociateReductions = true;
  /// Softmax chains become linalg.softmax (tac-form-softmax), which only
  /// the CPU code generator lowers.
  bool formSoftmax = false;
  /// Attention chains become tac.attention (tac-form-attention, after
  /// tac-form-softmax), which only the CPU code generator lowers.
  bool formAttention = false;
  /// Extra row counts (each > 1) to compile every plan function for
  /// (tac-batch-rows), beside the one-row functions.
  SmallVector<int64_t> batchSizes;

  /// What a file for these targets supports: the CUDA backend takes
  /// neither shared controller values, merged fills nor linalg.softmax yet.
  static KernelsPipelineOptions forTargets(bool cuda);
};

/// CompilePhase::Kernels: tensor IR after the adaptive passes -> bufferized
/// host functions calling `@tac_kernel_<n>` functions, the input of the
/// plan builder and both code generators (lib/Backend). `--tac-kernels`.
void buildKernelsPipeline(OpPassManager &pm,
                          const KernelsPipelineOptions &options = {});

/// Loops, memrefs, math and arith to the LLVM dialect: the tail of the
/// reference lowering and the CPU kernel lowering. `barePtrCallConv`: one
/// pointer per memref argument (the kernels' ABI).
struct LoopsToLLVMOptions {
  bool barePtrCallConv = false;
};
void buildLoopsToLLVMPipeline(OpPassManager &pm,
                              const LoopsToLLVMOptions &options = {});

/// The reference lowering of tac and upstream tensor IR to the LLVM dialect
/// (plain loops; the oracle for optimised backends): `--tac-reference-cpu`.
void buildReferenceCpuPipeline(OpPassManager &pm);

/// Registers the pipelines with tac-opt (`--tac-adaptive`, `--tac-kernels`,
/// `--tac-reference-cpu`).
void registerTacPipelines();

} // namespace mlir::tac

#endif // TAC_PIPELINES_PIPELINES_H
