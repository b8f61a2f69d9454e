// libFuzzer: the ONNX importer on mutated models (binary protobuf and ONNX
// text, detected from the content as tac-translate does). Every input must
// import or produce diagnostics, never crash or hang. External data is
// resolved against a directory holding nothing.
#include "tac/Import/OnnxImporter.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/MemoryBuffer.h"

#include <memory>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::DialectRegistry *registry = [] {
    auto *r = new mlir::DialectRegistry();
    mlir::tac::registerOnnxImportDialects(*r);
    return r;
  }();
  // A context per input would spend most of the time loading dialects; one
  // context serves 1000 inputs, then a fresh one drops what they uniqued
  // (types, attributes, weight blobs), so memory stays bounded.
  static std::unique_ptr<mlir::MLIRContext> shared;
  static unsigned uses = 0;
  if (!shared || ++uses == 1000) {
    shared.reset();
    shared = std::make_unique<mlir::MLIRContext>(*registry);
    shared->disableMultithreading();
    uses = 0;
  }
  mlir::MLIRContext &context = *shared;
  mlir::ScopedDiagnosticHandler quiet(&context, [](mlir::Diagnostic &) {
    return mlir::success();
  });
  llvm::MemoryBufferRef buffer(
      llvm::StringRef(reinterpret_cast<const char *>(data), size),
      "/nonexistent-fuzz-dir/model.onnx");
  mlir::tac::OnnxImportOptions options;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::tac::importOnnxModel(buffer, &context, options);
  return 0;
}
