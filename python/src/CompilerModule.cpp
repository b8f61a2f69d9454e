//===- CompilerModule.cpp - tac._compiler: the compiler for Python --------===//
//
// tac.compile() runs the same driver as tac-compile (lib/Driver), in
// process, with the GIL released. Diagnostics are collected into the error
// message instead of printed; progress is reported to a Python callable.
// The MLIR-facing code stays in the driver library so this file needs no
// MLIR class with RTTI (LLVM is built without it).
//
//===----------------------------------------------------------------------===//

#include "tac/Driver/Driver.h"
#include "tac/InitAll.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <map>
#include <mutex>

namespace nb = nanobind;
using namespace mlir;
namespace mt = mlir::tac;

namespace {

[[noreturn]] void raiseCompileError(const std::string &message) {
  nb::object cls = nb::module_::import_("tac.errors").attr("CompileError");
  PyErr_SetString(cls.ptr(), message.c_str());
  throw nb::python_error();
}

const DialectRegistry &registry() {
  static DialectRegistry *r = [] {
    auto *r = new DialectRegistry();
    mt::registerAllDialects(*r);
    return r;
  }();
  return *r;
}

/// "import", "adaptive", "variants", "kernels", "tacm".
mt::CompilePhase parsePhase(const std::string &name) {
  static const std::map<std::string, mt::CompilePhase> phases = {
      {"import", mt::CompilePhase::Import},
      {"adaptive", mt::CompilePhase::Adaptive},
      {"variants", mt::CompilePhase::Variants},
      {"kernels", mt::CompilePhase::Kernels},
      {"tacm", mt::CompilePhase::Tacm}};
  auto it = phases.find(name);
  if (it == phases.end())
    raiseCompileError("unknown compile_to='" + name +
                      "'; use import, adaptive, variants, kernels or tacm");
  return it->second;
}

struct Result {
  nb::bytes data;   // the .tacm file, or MLIR text for an earlier phase
  std::string report;
  std::string warnings;
};

/// Compiles `source` (file contents; `name` locates external data and names
/// the model in messages). Called with the GIL held; releases it while the
/// compiler runs and takes it back for each progress call.
Result compile(nb::bytes source, const std::string &name, bool isOnnx,
               const std::string &compileTo, std::vector<std::string> targets,
               std::vector<std::string> cudaArchs, bool cudaPtxOnly,
               std::vector<std::string> cpus, const std::string &gemm,
               const std::string &precision, bool fold, std::vector<int64_t> paths,
               std::vector<int64_t> batchSizes, std::vector<int64_t> depths,
               std::map<std::string, std::vector<int64_t>> inputShapes,
               std::map<std::string, std::string> bindInputs,
               std::vector<std::tuple<std::string, std::string,
                                      std::vector<int64_t>, nb::bytes>>
                   calibration,
               bool report, nb::object progress) {
  mt::CompileOptions options;
  std::string error;
  if (failed(mt::parseTargets(targets, options, error)))
    raiseCompileError(error);
  options.cudaArchs = std::move(cudaArchs);
  options.cudaPtxOnly = cudaPtxOnly;
  options.cpus = std::move(cpus);
  if (gemm != "packed" && gemm != "blas" && gemm != "generated")
    raiseCompileError("unknown gemm='" + gemm +
                      "'; use packed, blas or generated");
  options.cpuGemms = gemm == "packed" ? mt::CpuGemms::Packed
                     : gemm == "blas" ? mt::CpuGemms::Blas
                                      : mt::CpuGemms::Generated;
  if (precision == "f32" || precision == "fp32")
    options.precision = mt::WeightPrecision::F32;
  else if (precision == "bf16")
    options.precision = mt::WeightPrecision::BF16;
  else if (precision == "int8")
    options.precision = mt::WeightPrecision::Int8;
  else
    raiseCompileError("unknown precision='" + precision +
                      "'; use f32, bf16 or int8");
  options.fold = fold;
  options.paths = std::move(paths);
  options.batchSizes = std::move(batchSizes);
  options.depths = std::move(depths);
  for (const auto &[input, shape] : inputShapes) {
    for (int64_t d : shape)
      if (d < 0)
        raiseCompileError("input_shapes['" + input +
                          "']: dimensions must be >= 0");
    options.import.inputShapes[input] =
        SmallVector<int64_t>(shape.begin(), shape.end());
  }
  for (const auto &[input, path] : bindInputs)
    if (failed(mt::parseBindInput(input + "=" + path, options.import, error)))
      raiseCompileError(error);
  // (name, NumPy dtype name, shape, C-order bytes) per calibration input.
  for (const auto &[input, dtypeName, shape, bytes] : calibration) {
    std::optional<::tac::rt::DType> dtype;
    for (int d = 0; d <= static_cast<int>(::tac::rt::DType::U64); ++d)
      if (dtypeName == ::tac::rt::dtypeName(static_cast<::tac::rt::DType>(d)))
        dtype = static_cast<::tac::rt::DType>(d);
    if (!dtype)
      raiseCompileError("calibration['" + input + "']: the model's inputs "
                        "have no dtype " + dtypeName);
    ::tac::rt::Expected<::tac::rt::Tensor> tensor =
        ::tac::rt::Tensor::allocate(*dtype, shape);
    if (!tensor || tensor->byteSize() != bytes.size())
      raiseCompileError("calibration['" + input + "']: cannot hold a " +
                        dtypeName + " array of that shape");
    std::memcpy(tensor->data(), bytes.c_str(), bytes.size());
    options.calibration.push_back({input, std::move(*tensor)});
  }
  options.producer = "tac " TAC_VERSION;
  if (failed(mt::verifyCompileOptions(options, error)))
    raiseCompileError(error);
  mt::CompilePhase last = parsePhase(compileTo);

  // Progress calls come from the compiling thread; each takes the GIL. A
  // Python exception inside one is kept and re-raised after the compile.
  std::optional<nb::python_error> progressError;
  mt::CompileProgress hooks;
  if (!progress.is_none()) {
    auto call = [&](std::string phase, std::optional<double> seconds) {
      nb::gil_scoped_acquire acquire;
      if (progressError)
        return;
      try {
        progress(phase, seconds);
      } catch (nb::python_error &e) {
        progressError.emplace(std::move(e));
      }
    };
    hooks.started = [call](StringRef phase) { call(phase.str(), std::nullopt); };
    hooks.finished = [call](StringRef phase, double s) { call(phase.str(), s); };
  }

  std::string text(source.c_str(), source.size());
  std::string diagnostics, warnings, reportText;
  std::vector<uint8_t> tacm;
  std::string mlirText;
  bool ok = false;
  {
    nb::gil_scoped_release release;
    // MLIR contexts are independent, but LLVM's target and pass registries
    // are global: one compile at a time per process.
    static std::mutex compileMutex;
    std::lock_guard<std::mutex> lock(compileMutex);
    MLIRContext context(registry());
    context.disableMultithreading(); // the caller owns the threads
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      std::string line;
      llvm::raw_string_ostream os(line);
      Location loc = diag.getLocation();
      if (auto file = dyn_cast<FileLineColLoc>(loc)) {
        os << file.getFilename().getValue();
        if (file.getLine())
          os << ":" << file.getLine() << ":" << file.getColumn();
        os << ": ";
      } else if (!isa<UnknownLoc>(loc)) {
        os << loc << ": ";
      }
      switch (diag.getSeverity()) {
      case DiagnosticSeverity::Error: os << "error: "; break;
      case DiagnosticSeverity::Warning: os << "warning: "; break;
      case DiagnosticSeverity::Note: os << "note: "; break;
      case DiagnosticSeverity::Remark: os << "remark: "; break;
      }
      os << diag;
      for (const Diagnostic &note : diag.getNotes())
        os << "\n  note: " << note;
      os << "\n";
      os.flush();
      (diag.getSeverity() == DiagnosticSeverity::Error ? diagnostics
                                                       : warnings) += line;
      return success();
    });
    llvm::SourceMgr sourceMgr;
    sourceMgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(text, name), llvm::SMLoc());
    mt::CompilePhase upTo =
        last == mt::CompilePhase::Tacm ? mt::CompilePhase::Kernels : last;
    OwningOpRef<ModuleOp> module =
        mt::compileModule(sourceMgr, isOnnx, context, options, upTo, hooks);
    if (module && last == mt::CompilePhase::Tacm) {
      FailureOr<mt::format::ModelDesc> desc =
          mt::buildTacm(*module, options, nullptr, hooks);
      if (succeeded(desc)) {
        tacm = mt::format::serializeTacm(*desc);
        if (report) {
          llvm::raw_string_ostream os(reportText);
          mt::printCompileReport(*desc, os);
        }
        ok = true;
      }
    } else if (module) {
      llvm::raw_string_ostream os(mlirText);
      module->print(os);
      ok = true;
    }
  }
  if (progressError)
    throw std::move(*progressError);
  if (!ok)
    raiseCompileError("compiling " + name + " failed:\n" +
                      (diagnostics.empty() ? "(no diagnostic)\n" : diagnostics));
  Result result;
  result.data = last == mt::CompilePhase::Tacm
                    ? nb::bytes(tacm.data(), tacm.size())
                    : nb::bytes(mlirText.data(), mlirText.size());
  result.report = std::move(reportText);
  result.warnings = std::move(warnings);
  return result;
}

} // namespace

NB_MODULE(_compiler, m) {
  m.doc() = "The tac compiler behind tac.compile (use tac, not this module)";
  nb::class_<Result>(m, "Result")
      .def_ro("data", &Result::data)
      .def_ro("report", &Result::report)
      .def_ro("warnings", &Result::warnings);
  m.def("compile", &compile, nb::arg("source"), nb::arg("name"),
        nb::arg("is_onnx"), nb::arg("compile_to"), nb::arg("targets"),
        nb::arg("cuda_archs"), nb::arg("cuda_ptx_only"), nb::arg("cpus"),
        nb::arg("gemm"), nb::arg("precision"), nb::arg("fold"), nb::arg("paths"),
        nb::arg("batch_sizes"), nb::arg("depths"), nb::arg("input_shapes"),
        nb::arg("bind_inputs"), nb::arg("calibration"), nb::arg("report"),
        nb::arg("progress").none());
  m.def("supported_onnx_ops", []() {
    std::vector<std::pair<std::string, std::vector<int>>> ops;
    for (const mt::OnnxOpSupport &op : mt::getSupportedOnnxOps())
      ops.emplace_back(op.opType, op.sinceVersions);
    return ops;
  }, "The importer's op table: (op type, since_versions) pairs.");
}
