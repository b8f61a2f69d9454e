//===- tac-translate.cpp - translations into and out of MLIR --------------===//
//
//   tac-translate --import-onnx model.onnx [--input-shape=x:1x3x224x224]
//                 [--bind-input=mask=mask.pb] [--inline-constant-limit=N]
//   tac-translate --import-onnx model.onnxtext -o model.mlir
//   tac-translate --list-onnx-ops        the importer's op table
//   tac-translate --list-onnx-spec       ONNX's op versions the importer knows
//
//===----------------------------------------------------------------------===//

#include "tac/Import/OnnxImporter.h"
#include "tac/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace mlir;

static void printOpTable(const std::vector<tac::OnnxOpSupport> &rows) {
  for (const tac::OnnxOpSupport &row : rows) {
    llvm::outs() << row.opType << ":";
    for (int version : row.sinceVersions)
      llvm::outs() << " " << version;
    llvm::outs() << "\n";
  }
}

int main(int argc, char **argv) {
  tac::registerOnnxImportCLOptions();
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--list-onnx-ops") == 0) {
      printOpTable(tac::getSupportedOnnxOps());
      return 0;
    } else if (std::strcmp(argv[i], "--list-onnx-spec") == 0) {
      // Every default-domain op with its since_versions up to the newest
      // opset the importer knows (the last line names that opset).
      printOpTable(tac::getOnnxSpecVersions());
      llvm::outs() << "max-opset: " << tac::getMaxOnnxOpset() << "\n";
      return 0;
    }

  TranslateToMLIRRegistration importOnnx(
      "import-onnx", "Import an ONNX model (.onnx or ONNX text) into MLIR",
      [](llvm::SourceMgr &sourceMgr,
         MLIRContext *context) -> OwningOpRef<Operation *> {
        const llvm::MemoryBuffer *buffer =
            sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
        tac::OnnxImportOptions options;
        std::string error;
        if (failed(tac::getOnnxImportOptionsFromCL(options, error))) {
          emitError(FileLineColLoc::get(context, buffer->getBufferIdentifier(),
                                        0, 0))
              << error;
          return nullptr;
        }
        OwningOpRef<ModuleOp> module =
            tac::importOnnxModel(buffer->getMemBufferRef(), context, options);
        if (!module)
          return nullptr;
        return OwningOpRef<Operation *>(module.release());
      },
      [](DialectRegistry &registry) {
        tac::registerOnnxImportDialects(registry);
      });

  return failed(mlirTranslateMain(argc, argv, "tac translation driver\n"))
             ? 1
             : 0;
}
