//===- tac-opt.cpp - mlir-opt for tac -------------------------------------===//
//
// Parses MLIR, runs the passes named on the command line, prints the result.
// Knows the tac dialect and passes plus the upstream ones (see InitAll.h).
// An ONNX input (.onnx, .onnxtext) is imported on the fly, so every pass and
// pipeline runs straight from an ONNX file:
//
//   tac-opt model.onnx --input-shape=x:1x3x224x224 --canonicalize
//
//===----------------------------------------------------------------------===//

#include "tac/Import/OnnxImporter.h"
#include "tac/InitAll.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;

/// Imports an ONNX file and returns it as MLIR bytecode for MlirOptMain.
static std::unique_ptr<llvm::MemoryBuffer>
importOnnx(std::unique_ptr<llvm::MemoryBuffer> file, DialectRegistry &registry) {
  tac::OnnxImportOptions options;
  std::string error;
  if (failed(tac::getOnnxImportOptionsFromCL(options, error))) {
    llvm::errs() << file->getBufferIdentifier() << ": error: " << error
                 << "\n";
    return nullptr;
  }
  MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module =
      tac::importOnnxModel(file->getMemBufferRef(), &context, options);
  if (!module)
    return nullptr;
  std::string bytes;
  llvm::raw_string_ostream os(bytes);
  if (failed(writeBytecodeToFile(*module, os)))
    return nullptr;
  return llvm::MemoryBuffer::getMemBufferCopy(bytes,
                                              file->getBufferIdentifier());
}

int main(int argc, char **argv) {
  DialectRegistry registry;
  tac::registerAllDialects(registry);
  tac::registerAllPasses();
  tac::registerOnnxImportCLOptions();

  auto [inputFilename, outputFilename] = registerAndParseCLIOptions(
      argc, argv, "tac modular optimizer driver\n", registry);
  MlirOptMainConfig config = MlirOptMainConfig::createFromCLOptions();

  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input =
      openInputFile(inputFilename, &error);
  if (!input) {
    llvm::errs() << error << "\n";
    return 1;
  }
  if (tac::isOnnxFileName(inputFilename)) {
    input = importOnnx(std::move(input), registry);
    if (!input)
      return 1;
  }
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(outputFilename, &error);
  if (!output) {
    llvm::errs() << error << "\n";
    return 1;
  }
  if (failed(MlirOptMain(output->os(), std::move(input), registry, config)))
    return 1;
  output->keep();
  return 0;
}
