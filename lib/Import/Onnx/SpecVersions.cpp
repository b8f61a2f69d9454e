//===- SpecVersions.cpp - ONNX's op versions, from its specification ------===//
//
// The importer's own record of ONNX's specification: for every op of the
// default domain, the opsets at which it changed (its schemas'
// since_versions), up to getMaxOnnxOpset(). It replaces libonnx's schema
// registry for version resolution: Debian 12's libonnx 1.12 stops at opset
// 17, while exporters emit 18 and later. SpecVersions.inc is generated from
// the onnx source distribution (gen_spec_versions.py).
//
//===----------------------------------------------------------------------===//

#include "ImportState.h"

#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace mlir::tac;
using namespace mlir::tac::onnx_import;

namespace {
struct SpecTable {
  int64_t maxOpset = 0;
  /// Sorted by op type (the .inc is), each op's versions ascending.
  std::vector<std::pair<std::string, std::vector<int>>> ops;
  llvm::StringMap<size_t> index;
};
} // namespace

static const SpecTable &specTable() {
  static const SpecTable table = [] {
    SpecTable t;
#define TAC_ONNX_MAX_OPSET(N) t.maxOpset = N;
#define TAC_ONNX_OP(NAME, ...)                                                 \
  t.index[#NAME] = t.ops.size();                                               \
  t.ops.push_back({#NAME, {__VA_ARGS__}});
#include "SpecVersions.inc"
#undef TAC_ONNX_OP
#undef TAC_ONNX_MAX_OPSET
    return t;
  }();
  return table;
}

ArrayRef<int> onnx_import::onnxSpecVersions(StringRef opType) {
  const SpecTable &table = specTable();
  auto found = table.index.find(opType);
  if (found == table.index.end())
    return {};
  return table.ops[found->second].second;
}

std::optional<int> onnx_import::onnxSinceVersion(StringRef opType,
                                                 int64_t opset) {
  std::optional<int> inForce;
  for (int version : onnxSpecVersions(opType))
    if (version <= opset)
      inForce = version;
  return inForce;
}

int64_t mlir::tac::getMaxOnnxOpset() { return specTable().maxOpset; }

std::vector<OnnxOpSupport> mlir::tac::getOnnxSpecVersions() {
  std::vector<OnnxOpSupport> rows;
  for (const auto &[opType, versions] : specTable().ops)
    rows.push_back({opType, versions});
  return rows;
}
