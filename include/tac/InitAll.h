//===- InitAll.h - what every tac tool registers ----------------*- C++ -*-===//
//
// One place lists the dialects, interfaces and passes tac's tools know, so
// tac-opt, tac-compile and tests see the same world.
//
//===----------------------------------------------------------------------===//

#ifndef TAC_INITALL_H
#define TAC_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace mlir::tac {

/// Registers the tac dialect, the upstream dialects the pipeline uses (func,
/// arith, math, tensor, linalg, tosa, scf, cf, affine, vector, bufferization,
/// memref, gpu, nvvm, llvm) and their external interface models
/// (bufferization, inlining).
void registerAllDialects(DialectRegistry &registry);

/// Registers the tac passes and pipelines and the upstream passes (all of
/// MLIR's, so any upstream pipeline step can be tried from tac-opt).
void registerAllPasses();

} // namespace mlir::tac

#endif // TAC_INITALL_H
