// libFuzzer: the ONNX importer on mutated models (binary protobuf and ONNX
// text, detected from the content as tac-translate does). Every input must
// import or produce diagnostics, never crash or hang. External data is
// resolved against a directory holding nothing.
#include "tac/Import/OnnxImporter.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/MemoryBuffer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::DialectRegistry *registry = [] {
    auto *r = new mlir::DialectRegistry();
    mlir::tac::registerOnnxImportDialects(*r);
    return r;
  }();
  mlir::MLIRContext context(*registry);
  context.disableMultithreading();
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
