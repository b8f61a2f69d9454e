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

#include "../tac-run/TensorFiles.h"
#include "tac/Driver/Driver.h"
#include "tac/Import/OnnxImporter.h"
#include "tac/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

using namespace mlir;

namespace {
using Phase = mlir::tac::CompilePhase;

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
using mlir::tac::CpuGemms;
llvm::cl::opt<CpuGemms> gemm(
    "gemm", llvm::cl::desc("How CPU kernels compute matrix products"),
    llvm::cl::values(
        clEnumValN(CpuGemms::Packed, "packed",
                   "tac's micro-kernel: weights packed at compile time, "
                   "other operands as they are multiplied (default)"),
        clEnumValN(CpuGemms::Blas, "blas",
                   "call the system BLAS, cblas_sgemm (needs libblas-dev to "
                   "compile, a BLAS such as OpenBLAS to run)"),
        clEnumValN(CpuGemms::Generated, "generated",
                   "compile them like every other kernel")),
    llvm::cl::init(CpuGemms::Packed));
using mlir::tac::WeightPrecision;
llvm::cl::opt<WeightPrecision> precision(
    "precision",
    llvm::cl::desc("How GEMM weights are stored (CPU files; "
                   "docs/precision.md). The controller stays f32"),
    llvm::cl::values(
        clEnumValN(WeightPrecision::F32, "f32", "32-bit floats (default)"),
        clEnumValN(WeightPrecision::F32, "fp32", "the same as f32"),
        clEnumValN(WeightPrecision::BF16, "bf16",
                   "bfloat16 weights, f32 arithmetic: half the bytes"),
        clEnumValN(WeightPrecision::Int8, "int8",
                   "int8 weights per output channel, activations quantised "
                   "per row as the model runs, int32 sums")),
    llvm::cl::init(WeightPrecision::F32));
llvm::cl::list<std::string> calibration(
    "calibration",
    llvm::cl::desc("With --precision=int8: NAME=FILE (.npy or ONNX .pb), N "
                   "rows of model input NAME; once per input. An f32 build "
                   "runs them first, and each GEMM's activation channels' "
                   "ranges are moved into its int8 weights "
                   "(docs/precision.md, \"Calibration\")"),
    llvm::cl::value_desc("NAME=FILE"));
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

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  DialectRegistry registry;
  mlir::tac::registerAllDialects(registry);
  mlir::tac::registerOnnxImportCLOptions();
  llvm::cl::ParseCommandLineOptions(argc, argv, "tac compiler driver\n");

  mlir::tac::CompileOptions options;
  std::string error;
  // Option checks are the driver's (tac.compile makes the same); only
  // --dump-ptx is this tool's own.
  if (failed(mlir::tac::parseTargets(targets, options, error))) {
    llvm::errs() << "error: " << error << "\n";
    return 1;
  }
  if (!options.cuda && !dumpPtx.empty()) {
    llvm::errs() << "error: --dump-ptx needs --target=cuda (or cpu,cuda)\n";
    return 1;
  }
  options.cudaArchs.assign(cudaArchs.begin(), cudaArchs.end());
  options.cudaPtxOnly = cudaPtxOnly;
  options.cpus.assign(cpus.begin(), cpus.end());
  options.cpuGemms = gemm;
  options.precision = precision;
  for (const std::string &entry : calibration) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      llvm::errs() << "error: --calibration=" << entry
                   << ": write NAME=FILE, a model input's name and a .npy "
                      "(or ONNX .pb) file of N rows of it\n";
      return 1;
    }
    ::tac::rt::Expected<::tac::rt::Tensor> tensor =
        ::tac::run::readTensorFile(entry.substr(eq + 1));
    if (!tensor) {
      llvm::errs() << "error: --calibration=" << entry << ": "
                   << tensor.status().message() << "\n";
      return 1;
    }
    options.calibration.push_back({entry.substr(0, eq), std::move(*tensor)});
  }
  options.fold = !noFold;
  options.paths.assign(keepPaths.begin(), keepPaths.end());
  options.batchSizes.assign(batchSizes.begin(), batchSizes.end());
  options.depths.assign(depths.begin(), depths.end());
  options.costReport = report;
  options.producer = "tac " TAC_VERSION;
  if (failed(mlir::tac::verifyCompileOptions(options, error))) {
    llvm::errs() << "error: " << error << "\n";
    return 1;
  }
  if (failed(mlir::tac::getOnnxImportOptionsFromCL(options.import, error))) {
    llvm::errs() << "error: " << error << "\n";
    return 1;
  }
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

  MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);

  // "[tac-compile] <phase> ... <seconds> s" on stderr; a failed phase ends
  // its line before the diagnostics.
  mlir::tac::CompileProgress progress;
  progress.started = [](StringRef phase) {
    llvm::errs() << "[tac-compile] " << phase << " ...";
  };
  progress.finished = [](StringRef, double seconds) {
    llvm::errs() << " " << llvm::format("%.2f", seconds) << " s\n";
  };

  Phase last = std::min(compileTo.getValue(), Phase::Kernels);
  OwningOpRef<ModuleOp> module =
      mlir::tac::compileModule(sourceMgr, mlir::tac::isOnnxFileName(inputFile),
                               context, options, last, progress);
  if (!module) {
    llvm::errs() << "\n";
    return 1;
  }

  if (compileTo == Phase::Tacm) {
    std::vector<std::pair<std::string, std::string>> ptx;
    FailureOr<mlir::tac::format::ModelDesc> desc =
        mlir::tac::buildTacm(*module, options, &ptx, progress);
    if (failed(desc)) {
      llvm::errs() << "\n";
      return 1;
    }
    if (!dumpPtx.empty()) {
      std::unique_ptr<llvm::ToolOutputFile> out =
          openOutputFile(dumpPtx, &error);
      if (!out) {
        llvm::errs() << "error: " << error << "\n";
        return 1;
      }
      for (const auto &[chip, text] : ptx)
        out->os() << "// ---- tac: PTX for " << chip << "\n" << text;
      out->keep();
    }
    progress.started("write " + outputFile.getValue());
    auto begin = std::chrono::steady_clock::now();
    if (!mlir::tac::format::writeTacm(*desc, outputFile, &error)) {
      llvm::errs() << "\nerror: " << error << "\n";
      return 1;
    }
    progress.finished("", std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - begin)
                              .count());
    if (report)
      mlir::tac::printCompileReport(*desc, llvm::outs());
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
