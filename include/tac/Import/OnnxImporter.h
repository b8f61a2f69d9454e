//===- OnnxImporter.h - ONNX models into MLIR -------------------*- C++ -*-===//
//
// The front door of tac: an ONNX model (binary protobuf or ONNX's text
// format) becomes a module with one function over upstream tensor-level
// dialects (linalg, tensor, arith, math, scf) plus tac ops where the model is
// adaptive (If-gated layers → tac.gate, controller outputs → markers).
//
//===----------------------------------------------------------------------===//

#ifndef TAC_IMPORT_ONNXIMPORTER_H
#define TAC_IMPORT_ONNXIMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <string>
#include <vector>

namespace llvm {
class MemoryBufferRef;
} // namespace llvm

namespace mlir::tac {

struct OnnxImportOptions {
  /// Static shapes for graph inputs, by input name; they replace symbolic
  /// or dynamic dimensions (e.g. the batch).
  llvm::StringMap<SmallVector<int64_t>> inputShapes;
  /// Graph inputs frozen to constants: input name → path of a TensorProto
  /// file. The input is no longer a function argument and its value is known
  /// at import time (for shape operands or masks fixed at deployment).
  llvm::StringMap<std::string> boundInputs;
  /// Initializers with more elements than this become `dense_resource`
  /// blobs; smaller ones stay inline (and can fold at import time).
  int64_t inlineConstantLimit = 16;
  /// Name of the imported function.
  std::string functionName = "main";
};

/// Parses one `--input-shape` value, `name:1x3x224x224` (`name:` alone for a
/// scalar), into `options`. On failure returns a message saying what is
/// wrong with `spec`.
LogicalResult parseInputShape(StringRef spec, OnnxImportOptions &options,
                              std::string &error);

/// Parses one `--bind-input` value, `name=path/to/tensor.pb`.
LogicalResult parseBindInput(StringRef spec, OnnxImportOptions &options,
                             std::string &error);

/// Registers --input-shape, --bind-input and --inline-constant-limit with
/// LLVM's command line (call before parsing it).
void registerOnnxImportCLOptions();
/// Fills `options` from those command-line options; on failure `error` says
/// which value is malformed.
LogicalResult getOnnxImportOptionsFromCL(OnnxImportOptions &options,
                                         std::string &error);

/// True for file names tac treats as ONNX: `.onnx`, `.onnxtext`, `.onnxtxt`.
bool isOnnxFileName(StringRef path);

/// Imports the ONNX model in `buffer` (binary or text, detected from the
/// content; the buffer identifier is the file name used in locations and to
/// find external data). Errors go to the context's diagnostic handler; all
/// unsupported ops of the model are reported in one run. Returns null on
/// failure.
OwningOpRef<ModuleOp> importOnnxModel(llvm::MemoryBufferRef buffer,
                                      MLIRContext *context,
                                      const OnnxImportOptions &options);

/// One row of the importer's op table: an op of the default ONNX domain and
/// the schema versions (`since_version`) the importer handles.
struct OnnxOpSupport {
  std::string opType;
  std::vector<int> sinceVersions;
};

/// The importer's op table, sorted by op type.
std::vector<OnnxOpSupport> getSupportedOnnxOps();

/// ONNX's specification as the importer knows it: every op of the default
/// domain with all its since_versions up to getMaxOnnxOpset(), sorted by op
/// type. The version of an op in force at opset N is the largest one <= N.
std::vector<OnnxOpSupport> getOnnxSpecVersions();

/// The newest default-domain opset the importer knows (models declaring a
/// later one are rejected).
int64_t getMaxOnnxOpset();

/// Registers the dialects imported IR uses.
void registerOnnxImportDialects(DialectRegistry &registry);

} // namespace mlir::tac

#endif // TAC_IMPORT_ONNXIMPORTER_H
