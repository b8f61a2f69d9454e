//===- tac-compile.cpp - the tac compiler driver --------------------------===//
//
//   tac-compile model.onnx -o model.tacm [--target=cpu|cuda|cpu,cuda]
//               [--cuda-arch=sm_80,sm_87,sm_90] [--dump-ptx=FILE]
//               [--input-shape=x:1x3x224x224] [--report] [--cpu=host,x86-64]
//               [--compile-to=import|adaptive|variants|kernels] [-o out.mlir]
//
// Runs the compiler phase by phase, reporting each on stderr. By default it
// writes the compiled .tacm file; --compile-to=<phase> stops earlier and
// writes that phase's MLIR instead.
//
//===----------------------------------------------------------------------===//

#include "tac/Import/OnnxImporter.h"
#include "tac/InitAll.h"
#include "tac/Pipelines/Pipelines.h"

#include "tac/Backend/Backend.h"
#include "tacrt/tacrt.hpp"

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
                   "dispatch table and each variant's cost"),
        clEnumValN(Phase::Kernels, "kernels",
                   "bufferized host functions calling fused kernel "
                   "functions (what the plans replay)"),
        clEnumValN(Phase::Tacm, "tacm",
                   "the compiled .tacm file (default; needs -o FILE)")),
    llvm::cl::init(Phase::Tacm));
llvm::cl::list<std::string> targets(
    "target",
    llvm::cl::desc("Code to put in the .tacm: cpu, cuda, or cpu,cuda "
                   "(default: cpu)"),
    llvm::cl::CommaSeparated);
llvm::cl::list<std::string> cudaArchs(
    "cuda-arch",
    llvm::cl::desc("--target=cuda: chips to build cubins for (default: "
                   "sm_80,sm_87,sm_90; the newest also gets PTX)"),
    llvm::cl::CommaSeparated);
llvm::cl::opt<bool> cudaPtxOnly(
    "cuda-ptx-only",
    llvm::cl::desc("--target=cuda: embed PTX of the oldest chip only (no "
                   "ptxas/fatbinary)"),
    llvm::cl::init(false));
llvm::cl::opt<std::string> dumpPtx(
    "dump-ptx",
    llvm::cl::desc("--target=cuda: also write the generated PTX of every "
                   "chip to this file ('-': stdout)"),
    llvm::cl::value_desc("path"), llvm::cl::init(""));
llvm::cl::opt<bool> report("report",
                           llvm::cl::desc("Print the per-variant cost table"),
                           llvm::cl::init(false));
llvm::cl::opt<bool> noFold("no-fold",
                           llvm::cl::desc("Do not fold identical layers"),
                           llvm::cl::init(false));
llvm::cl::list<std::string> cpus(
    "cpu",
    llvm::cl::desc("CPU levels to compile kernels for, best first; the "
                   "runtime picks the first the machine supports ('host' is "
                   "this machine; default: host,x86-64)"),
    llvm::cl::CommaSeparated);
enum class Gemm { Blas, Generated };
llvm::cl::opt<Gemm> gemm(
    "gemm", llvm::cl::desc("How CPU kernels compute matrix products"),
    llvm::cl::values(
        clEnumValN(Gemm::Blas, "blas",
                   "call the system BLAS, cblas_sgemm (default; needs "
                   "libblas-dev to compile, a BLAS such as OpenBLAS to run)"),
        clEnumValN(Gemm::Generated, "generated",
                   "compile them like every other kernel")),
    llvm::cl::init(Gemm::Blas));
llvm::cl::list<int64_t> keepPaths(
    "paths",
    llvm::cl::desc("Adaptive models: compile only these paths (the runtime "
                   "rounds other choices up to the next compiled path)"),
    llvm::cl::CommaSeparated);
llvm::cl::list<int64_t> batchSizes(
    "batch-sizes",
    llvm::cl::desc("Row counts to compile the controller and every variant "
                   "for (e.g. 1,4,16,32; 1 is always compiled). The runtime "
                   "groups a batch's rows by path and runs each group at the "
                   "smallest size that holds it"),
    llvm::cl::CommaSeparated);
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
  mlir::tac::registerAllDialects(registry);
  mlir::tac::registerAllPasses(); // the kernel lowering parses a pipeline
  mlir::tac::registerOnnxImportCLOptions();
  llvm::cl::ParseCommandLineOptions(argc, argv, "tac compiler driver\n");

  bool wantCpu = targets.empty(), wantCuda = false;
  for (const std::string &t : targets) {
    if (t == "cpu")
      wantCpu = true;
    else if (t == "cuda")
      wantCuda = true;
    else {
      llvm::errs() << "error: unknown --target=" << t
                   << "; use cpu, cuda, or cpu,cuda\n";
      return 1;
    }
  }
  if (!wantCuda && (!cudaArchs.empty() || !dumpPtx.empty() || cudaPtxOnly)) {
    llvm::errs() << "error: --cuda-arch, --cuda-ptx-only and --dump-ptx need "
                    "--target=cuda (or cpu,cuda)\n";
    return 1;
  }

  std::vector<int64_t> extraBatchSizes;
  for (int64_t size : batchSizes) {
    if (size < 1 || size > 65536) {
      llvm::errs() << "error: --batch-sizes=" << size
                   << " is not a row count in 1..65536\n";
      return 1;
    }
    if (size > 1 && !llvm::is_contained(extraBatchSizes, size))
      extraBatchSizes.push_back(size);
  }
  llvm::sort(extraBatchSizes);
  if (wantCuda && !extraBatchSizes.empty()) {
    llvm::errs() << "error: --batch-sizes is for CPU code; the CUDA executor "
                    "runs one-row plans (a CUDA session runs a batch row by "
                    "row): drop --batch-sizes or compile with --target=cpu\n";
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

  if (compileTo == Phase::Tacm && outputFile == "-") {
    llvm::errs() << "error: a .tacm file is binary; name it with -o "
                    "model.tacm (or stop earlier with --compile-to=<phase> "
                    "to print MLIR)\n";
    return 1;
  }

  progress.start("import");
  OwningOpRef<ModuleOp> module;
  if (mlir::tac::isOnnxFileName(inputFile)) {
    mlir::tac::OnnxImportOptions options;
    if (failed(mlir::tac::getOnnxImportOptionsFromCL(options, error))) {
      llvm::errs() << "\nerror: " << error << "\n";
      return 1;
    }
    module = mlir::tac::importOnnxModel(input->getMemBufferRef(), &context, options);
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
        mlir::tac::TacFormAdaptiveBlocksOptions form;
        form.depths.assign(depths.begin(), depths.end());
        pm.addPass(mlir::tac::createTacFormAdaptiveBlocks(form));
        pm.addPass(createCanonicalizerPass());
        if (!noFold)
          pm.addPass(mlir::tac::createTacFoldLayers());
      }))
    return 1;
  if (compileTo >= Phase::Variants &&
      !runPhase("specialise paths, estimate cost", [&](PassManager &pm) {
        pm.addPass(mlir::tac::createTacSpecializePaths());
        mlir::tac::TacEstimateCostOptions cost;
        cost.report = report;
        pm.addPass(mlir::tac::createTacEstimateCost(cost));
      }))
    return 1;

  if (compileTo >= Phase::Kernels &&
      !runPhase("fuse, bufferize, outline kernels", [&](PassManager &pm) {
        mlir::tac::buildKernelsPipeline(pm, /*cpuOnly=*/!wantCuda,
                                        extraBatchSizes);
      }))
    return 1;

  if (compileTo == Phase::Tacm) {
    progress.start(wantCuda ? (wantCpu ? "plans, native code, CUDA kernels"
                                       : "plans, CUDA kernels")
                            : "plans, native code");
    mlir::tac::BackendOptions options;
    options.cpu = wantCpu;
    options.cuda = wantCuda;
    if (!cudaArchs.empty())
      options.cudaTarget.chips.assign(cudaArchs.begin(), cudaArchs.end());
    options.cudaTarget.ptxOnly = cudaPtxOnly;
    std::vector<std::pair<std::string, std::string>> ptx;
    options.ptxOut = &ptx;
    if (!cpus.empty())
      options.cpus.assign(cpus.begin(), cpus.end());
    options.paths.assign(keepPaths.begin(), keepPaths.end());
    options.blasGemms = gemm == Gemm::Blas;
    options.producer = "tac " TAC_VERSION;
    FailureOr<mlir::tac::format::ModelDesc> desc = mlir::tac::buildModelDesc(*module, options);
    if (failed(desc)) {
      llvm::errs() << "\n";
      return 1;
    }
    if (!dumpPtx.empty()) {
      std::unique_ptr<llvm::ToolOutputFile> out =
          openOutputFile(dumpPtx, &error);
      if (!out) {
        llvm::errs() << "\nerror: " << error << "\n";
        return 1;
      }
      for (const auto &[chip, text] : ptx)
        out->os() << "// ---- tac: PTX for " << chip << "\n" << text;
      out->keep();
    }
    // The loader rejects plans whose live buffers overlap; catch a compiler
    // bug here, not at the user's first load.
    std::vector<const mlir::tac::format::PlanDesc *> plans;
    if (desc->hasController)
      plans.push_back(&desc->controller);
    for (const auto &variant : desc->variants)
      plans.push_back(&variant);
    for (const auto &bucket : desc->buckets) {
      if (desc->hasController)
        plans.push_back(&bucket.controller);
      for (const auto &variant : bucket.variants)
        plans.push_back(&variant);
    }
    for (const auto *plan : plans)
      if (::tac::rt::Status status = ::tac::rt::verifyPlanMemory(*plan);
          !status.ok()) {
        llvm::errs() << "\nerror: internal: plan " << plan->name
                     << " fails the memory check: " << status.message()
                     << "\n";
        return 1;
      }
    progress.done();
    progress.start("write " + outputFile.getValue());
    if (!mlir::tac::format::writeTacm(*desc, outputFile, &error)) {
      llvm::errs() << "\nerror: " << error << "\n";
      return 1;
    }
    progress.done();
    if (report) {
      mlir::tac::printPlanReport(*desc, llvm::outs());
      if (!desc->buckets.empty())
        mlir::tac::printBucketReport(*desc, llvm::outs());
    }
    return 0;
  }

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
