//===- ExternalTools.cpp - running the linkers and assemblers -------------===//
//
// The CPU backend links kernels with the C compiler driver and the CUDA
// backend assembles PTX with ptxas and fatbinary: one way to run a tool and
// report its output as a diagnostic.
//
//===----------------------------------------------------------------------===//

#include "tac/Backend/Backend.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"

using namespace mlir;
using namespace mlir::tac;

LogicalResult mlir::tac::runTool(StringRef program, ArrayRef<StringRef> args,
                                 Location loc) {
  SmallString<128> log;
  if (llvm::sys::fs::createTemporaryFile("tac-tool", "log", log))
    return emitError(loc, "cannot create a temporary file for a tool log");
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(log),
                                          StringRef(log)};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(program, args, std::nullopt, redirects, 0,
                                     0, &message);
  auto output = llvm::MemoryBuffer::getFile(log);
  llvm::sys::fs::remove(log);
  if (rc != 0)
    return emitError(loc, "")
           << program << " failed ("
           << (message.empty() ? "exit " + std::to_string(rc) : message)
           << "): " << (output ? (*output)->getBuffer().trim() : "");
  return success();
}
