//===- TacDialect.h - the tac dialect ---------------------------*- C++ -*-===//
//
// One header for everything the tac dialect declares: the dialect, its
// attributes and its operations.
//
//===----------------------------------------------------------------------===//

#ifndef TAC_DIALECT_TAC_TACDIALECT_H
#define TAC_DIALECT_TAC_TACDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/Tac/TacDialect.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/Tac/TacAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialects/Tac/TacOps.h.inc"

namespace mlir {
class DialectRegistry;
namespace tac {
/// One-shot bufferization of tac.attention (TacBufferization.cpp).
void registerBufferizableOpInterfaceExternalModels(DialectRegistry &registry);
} // namespace tac
} // namespace mlir

#endif // TAC_DIALECT_TAC_TACDIALECT_H
