//===- CostModelInternal.h - helpers shared by the cost model -*- C++ -*-===//
//
// Private to the cost model's three files: OpCost.cpp (sizes, per-op and
// per-function FLOPs/bytes), ArenaLiveness.cpp (which tensors share a buffer
// and when each is live; placement is the shared planner in
// lib/Analysis/ArenaPlanner.cpp) and CostReport.cpp (module costs,
// attributes, the report table). Both the FLOP walk and the liveness need
// to agree on which ops are views and which parts of adaptive structure run.
//
//===----------------------------------------------------------------------===//

#ifndef TAC_PASSES_COSTMODELINTERNAL_H
#define TAC_PASSES_COSTMODELINTERNAL_H

#include "passes/CostModel.h"

#include "dialects/Tac/TacDialect.h"

namespace mlir::tac::costmodel {

/// Bytes of a static tensor/memref type; 0 otherwise.
inline int64_t bytesOf(Type type) { return getShapedBytes(type).value_or(0); }

inline bool isTensorLike(Type type) {
  return isa<TensorType, BaseMemRefType>(type);
}

/// Ops whose result is a view of their first operand: no data moves, and
/// the result shares its source's buffer.
bool isViewOp(Operation *op);

/// The layers an adaptive block or a selectable stack runs: the statically
/// selected path when the selector is a constant, otherwise the last (full)
/// path.
struct ChosenPath {
  ArrayRef<int64_t> layers;
  bool isStatic;
};
ChosenPath choosePath(PathSetAttr paths, Value selector);

/// Whether a gate's body runs on the costed path (a constant false condition
/// skips it), and whether that is static.
std::pair<bool, bool> gateRuns(GateOp gate);

/// Region-holding ops whose regions are walked as control flow. Linalg
/// payloads and tensor ops' scalar regions are part of a leaf op.
bool isControlOp(Operation *op);

/// FLOPs, bytes moved, parameter bytes, unmodelled ops and dynamic loops of
/// `func`'s body (everything of FunctionCost but the activation numbers).
void countFunctionWork(func::FuncOp func, FunctionCost &cost);

} // namespace mlir::tac::costmodel

#endif // TAC_PASSES_COSTMODELINTERNAL_H
