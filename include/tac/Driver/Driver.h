//===- Driver.h - ONNX/MLIR in, .tacm out: the compiler as a library -*- C++ -*-===//
//
// What tac-compile does, callable from other front ends (the Python
// extension): import, form adaptive blocks and fold layers, specialise
// paths and estimate cost, lower to kernels, build the .tacm description.
// tac-compile and tac.compile() share this code, so one set of options
// means the same in both. Errors go to the MLIRContext's diagnostic handler
// (or, for option and plan checks, into `error`).
//
//===----------------------------------------------------------------------===//

#ifndef TAC_DRIVER_DRIVER_H
#define TAC_DRIVER_DRIVER_H

#include "tac/Backend/Backend.h"
#include "tac/Import/OnnxImporter.h"
#include "tacm_format.h"

#include "tacrt/tacrt.hpp"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace llvm {
class SourceMgr;
class raw_ostream;
} // namespace llvm

namespace mlir::tac {

namespace format = ::tac::format;

/// The phases of a compile, in order; a compile can stop after any of them.
enum class CompilePhase { Import, Adaptive, Variants, Kernels, Tacm };

struct CompileOptions {
  /// Code to put in the .tacm (tac-compile --target=cpu|cuda|cpu,cuda).
  bool cpu = true;
  bool cuda = false;
  /// CUDA chips (empty: the backend's default) and PTX-only embedding.
  std::vector<std::string> cudaArchs;
  bool cudaPtxOnly = false;
  /// CPU levels to compile kernels for, best first (empty: host,x86-64).
  std::vector<std::string> cpus;
  /// How CPU GEMM kernels compute (tac-compile --gemm).
  CpuGemms cpuGemms = CpuGemms::Packed;
  /// How GEMM weights are stored (tac-compile --precision).
  WeightPrecision precision = WeightPrecision::F32;
  /// int8 only (tac-compile --calibration): model inputs, by name, each N
  /// rows of the input (rt::rowsOf); an f32 build runs them first to find
  /// the activations' per-channel ranges (docs/precision.md, "Calibration").
  std::vector<std::pair<std::string, ::tac::rt::Tensor>> calibration;
  /// Fold identical layers into one body over stacked weights.
  bool fold = true;
  /// Adaptive models: the paths to compile (empty: all).
  std::vector<int64_t> paths;
  /// Row counts to compile besides 1 (CPU only); any order, duplicates ok.
  std::vector<int64_t> batchSizes;
  /// Static models: truncated depths to compile as variants.
  std::vector<int64_t> depths;
  /// ONNX import: input shapes, bound inputs, constant inlining.
  OnnxImportOptions import;
  /// tac-estimate-cost prints its per-variant cost table on stdout.
  bool costReport = false;
  /// Written into the file ("tac 0.1.0").
  std::string producer;
};

/// Parses target names ("cpu", "cuda") into `options`; empty keeps cpu.
LogicalResult parseTargets(ArrayRef<std::string> targets,
                           CompileOptions &options, std::string &error);

/// Checks option combinations before any work: CUDA-only flags without a
/// CUDA target, batch sizes outside 1..65536, batch sizes with CUDA.
LogicalResult verifyCompileOptions(const CompileOptions &options,
                                   std::string &error);

/// Told when each phase starts and ends (progress displays).
struct CompileProgress {
  std::function<void(StringRef phase)> started;
  std::function<void(StringRef phase, double seconds)> finished;
};

/// Imports the main buffer of `sourceMgr` (ONNX when `isOnnx`, else MLIR
/// text) and runs the compiler up to and including `last` (at most
/// Kernels). Returns null on failure; the diagnostics say why.
OwningOpRef<ModuleOp> compileModule(llvm::SourceMgr &sourceMgr, bool isOnnx,
                                    MLIRContext &context,
                                    const CompileOptions &options,
                                    CompilePhase last,
                                    const CompileProgress &progress = {});

/// The .tacm description of a module compiled to CompilePhase::Kernels,
/// with every plan's memory checked (a compiler bug is caught here, not at
/// the user's first load). `ptxOut` receives (chip, PTX) for CUDA targets.
FailureOr<format::ModelDesc>
buildTacm(ModuleOp module, const CompileOptions &options,
          std::vector<std::pair<std::string, std::string>> *ptxOut = nullptr,
          const CompileProgress &progress = {});

/// The cost and bucket tables tac-compile --report prints after writing.
void printCompileReport(const format::ModelDesc &model, llvm::raw_ostream &os);

} // namespace mlir::tac

#endif // TAC_DRIVER_DRIVER_H
