//===- ImportOptionsCL.cpp - the importer's command-line options ----------===//
//
// One definition of --input-shape, --bind-input and --inline-constant-limit
// for every tool that imports ONNX (tac-translate, tac-opt, tac-compile).
//
//===----------------------------------------------------------------------===//

#include "tac/Import/OnnxImporter.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/ManagedStatic.h"

using namespace mlir;
using namespace mlir::tac;

namespace {
struct ImportCLOptions {
  llvm::cl::list<std::string> inputShapes{
      "input-shape",
      llvm::cl::desc("ONNX import: static shape of a graph input, "
                     "NAME:D0xD1x... (repeat for several inputs)"),
      llvm::cl::value_desc("name:shape")};
  llvm::cl::list<std::string> bindInputs{
      "bind-input",
      llvm::cl::desc("ONNX import: freeze a graph input to the tensor in an "
                     "ONNX TensorProto file, NAME=FILE.pb (repeatable)"),
      llvm::cl::value_desc("name=file.pb")};
  llvm::cl::opt<int64_t> inlineConstantLimit{
      "inline-constant-limit",
      llvm::cl::desc("ONNX import: initializers with more elements become "
                     "dense_resource blobs"),
      llvm::cl::init(16)};
};
llvm::ManagedStatic<ImportCLOptions> clOptions;
} // namespace

void mlir::tac::registerOnnxImportCLOptions() { *clOptions; }

LogicalResult mlir::tac::getOnnxImportOptionsFromCL(OnnxImportOptions &options,
                                                    std::string &error) {
  if (!clOptions.isConstructed())
    return success();
  options.inlineConstantLimit = clOptions->inlineConstantLimit;
  for (const std::string &spec : clOptions->inputShapes)
    if (failed(parseInputShape(spec, options, error))) {
      error = "--input-shape: " + error;
      return failure();
    }
  for (const std::string &spec : clOptions->bindInputs)
    if (failed(parseBindInput(spec, options, error))) {
      error = "--bind-input: " + error;
      return failure();
    }
  return success();
}
