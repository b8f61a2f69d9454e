//===- tac-opt.cpp - mlir-opt for tac -------------------------------------===//
//
// Parses MLIR, runs the passes named on the command line, prints the result.
// Knows the tac dialect and passes plus the upstream ones (see InitAll.h).
//
//===----------------------------------------------------------------------===//

#include "tac/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::tac::registerAllDialects(registry);
  mlir::tac::registerAllPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "tac modular optimizer driver\n", registry));
}
