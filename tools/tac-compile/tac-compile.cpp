//===- tac-compile.cpp - the tac compiler driver --------------------------===//
//
//   tac-compile model.onnx [--input-shape=x:1x3x224x224] [--report]
//               [--compile-to=import|adaptive|variants] [-o out.mlir]
//
// Runs the compiler phase by phase, reporting each on stderr, and writes the
// MLIR of the last phase. The phases after `variants` (kernels, the .tacm
// file) come with the CPU backend; asking for them says so.
//
//===----------------------------------------------------------------------===//

#include "tac/Import/OnnxImporter.h"
#include "tac/InitAll.h"
#include "tac/Pipelines/Pipelines.h"

#include "passes/Passes.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

using namespace mlir;

namespace {
enum class Phase { Import, Adaptive, Variants, Kernels, Tacm };

llvm::cl::opt<std::string> inputFile(llvm::cl::Positional,
                                     llvm::cl::desc("<model.onnx|.onnxtext|.mlir>"),
                                     llvm::cl::Required);
llvm::cl::opt<std::string> outputFile("o", llvm::cl::desc("Output file"),
                                      llvm::cl::value_desc("path"),
                                      llvm::cl::init("-"));
llvm::cl::opt<Phase> compileTo(
    "compile-to", llvm::cl::desc("Stop after this phase and print its MLIR"),
    llvm::cl::values(
        clEnumValN(Phase::Import, "import", "the imported model"),
        clEnumValN(Phase::Adaptive, "adaptive",
                   "adaptive blocks formed and identical layers folded"),
        clEnumValN(Phase::Variants, "variants",
                   "one static function per path, the controller, the "
                   "dispatch table and each variant's cost (default)"),
        clEnumValN(Phase::Kernels, "kernels",
                   "fused kernels and plans (CPU backend, not built yet)"),
        clEnumValN(Phase::Tacm, "tacm",
                   "the compiled .tacm file (CPU backend, not built yet)")),
    llvm::cl::init(Phase::Variants));
llvm::cl::opt<std::string> target("target",
                                  llvm::cl::desc("cpu (cuda: not built yet)"),
                                  llvm::cl::init("cpu"));
llvm::cl::opt<bool> report("report",
                           llvm::cl::desc("Print the per-variant cost table"),
                           llvm::cl::init(false));
llvm::cl::opt<bool> noFold("no-fold",
                           llvm::cl::desc("Do not fold identical layers"),
                           llvm::cl::init(false));
llvm::cl::list<int64_t> depths(
    "depths",
    llvm::cl::desc("Static models: truncated depths to compile as variants "
                   "over the detected repeated layers (e.g. 4,8)"),
    llvm::cl::CommaSeparated);

/// Prints "[tac-compile] <phase> ... <seconds>" on stderr.
class Progress {
public:
  void start(StringRef phase) {
    llvm::errs() << "[tac-compile] " << phase << " ...";
    begin = std::chrono::steady_clock::now();
  }
  void done() {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                             begin)
                   .count();
    llvm::errs() << " " << llvm::format("%.2f", s) << " s\n";
  }

private:
  std::chrono::steady_clock::time_point begin;
};
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  DialectRegistry registry;
  tac::registerAllDialects(registry);
  tac::registerOnnxImportCLOptions();
  llvm::cl::ParseCommandLineOptions(argc, argv, "tac compiler driver\n");

  if (target != "cpu") {
    llvm::errs() << "error: --target=" << target
                 << " is not available yet; the CUDA backend is not built. "
                    "Use --target=cpu.\n";
    return 1;
  }
  if (compileTo == Phase::Kernels || compileTo == Phase::Tacm) {
    llvm::errs() << "error: --compile-to="
                 << (compileTo == Phase::Kernels ? "kernels" : "tacm")
                 << " needs the CPU backend, which is not built yet; stop at "
                    "--compile-to=variants (the default) or run the "
                    "variants with `tac-opt --tac-reference-cpu`.\n";
    return 1;
  }

  MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  Progress progress;

  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input = openInputFile(inputFile, &error);
  if (!input) {
    llvm::errs() << "error: " << error << "\n";
    return 1;
  }

  progress.start("import");
  OwningOpRef<ModuleOp> module;
  if (tac::isOnnxFileName(inputFile)) {
    tac::OnnxImportOptions options;
    if (failed(tac::getOnnxImportOptionsFromCL(options, error))) {
      llvm::errs() << "\nerror: " << error << "\n";
      return 1;
    }
    module = tac::importOnnxModel(input->getMemBufferRef(), &context, options);
  } else {
    sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
    module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  }
  if (!module) {
    llvm::errs() << "\n";
    return 1;
  }
  progress.done();

  auto runPhase = [&](StringRef name,
                      function_ref<void(PassManager &)> build) -> bool {
    progress.start(name);
    PassManager pm(&context);
    build(pm);
    if (failed(pm.run(*module))) {
      llvm::errs() << "\n";
      return false;
    }
    progress.done();
    return true;
  };

  if (compileTo >= Phase::Adaptive &&
      !runPhase("form adaptive blocks, fold layers", [&](PassManager &pm) {
        tac::TacFormAdaptiveBlocksOptions form;
        form.depths.assign(depths.begin(), depths.end());
        pm.addPass(tac::createTacFormAdaptiveBlocks(form));
        pm.addPass(createCanonicalizerPass());
        if (!noFold)
          pm.addPass(tac::createTacFoldLayers());
      }))
    return 1;
  if (compileTo >= Phase::Variants &&
      !runPhase("specialise paths, estimate cost", [&](PassManager &pm) {
        pm.addPass(tac::createTacSpecializePaths());
        tac::TacEstimateCostOptions cost;
        cost.report = report;
        pm.addPass(tac::createTacEstimateCost(cost));
      }))
    return 1;

  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(outputFile, &error);
  if (!output) {
    llvm::errs() << "error: " << error << "\n";
    return 1;
  }
  module->print(output->os());
  output->keep();
  return 0;
}
