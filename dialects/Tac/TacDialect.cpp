//===- TacDialect.cpp - tac dialect registration --------------------------===//

#include "dialects/Tac/TacDialect.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::tac;

#include "dialects/Tac/TacDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/Tac/TacAttrs.cpp.inc"

void TacDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/Tac/TacAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/Tac/TacOps.cpp.inc"
      >();
}
