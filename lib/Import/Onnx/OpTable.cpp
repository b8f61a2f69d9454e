//===- OpTable.cpp - dispatch by op type and schema version ---------------===//
//
// A handler is registered per (op type, since_version) of the default ONNX
// domain. The importer computes which version is in force at the model's
// opset from ONNX's specification (SpecVersions.cpp), so a new op version
// slots in as one more entry.
//
//===----------------------------------------------------------------------===//

#include "ImportState.h"

using namespace mlir;
using namespace mlir::tac;
using namespace mlir::tac::onnx_import;

void OpTable::add(StringRef opType, std::initializer_list<int> versions,
                  OpHandler handler) {
  for (int version : versions)
    handlers[opType.str()][version] = handler;
}

const OpHandler *OpTable::lookup(StringRef opType, int sinceVersion) const {
  auto op = handlers.find(opType.str());
  if (op == handlers.end())
    return nullptr;
  auto handler = op->second.find(sinceVersion);
  return handler == op->second.end() ? nullptr : &handler->second;
}

std::vector<int> OpTable::versions(StringRef opType) const {
  std::vector<int> result;
  auto op = handlers.find(opType.str());
  if (op != handlers.end())
    for (const auto &entry : op->second)
      result.push_back(entry.first);
  return result;
}

std::vector<OnnxOpSupport> OpTable::list() const {
  std::vector<OnnxOpSupport> rows;
  for (const auto &[opType, versions] : handlers) {
    OnnxOpSupport &row = rows.emplace_back();
    row.opType = opType;
    for (const auto &entry : versions)
      row.sinceVersions.push_back(entry.first);
  }
  return rows;
}

const OpTable &OpTable::get() {
  static const OpTable table = [] {
    OpTable t;
    registerElementwiseOps(t);
    registerShapeOps(t);
    registerNNOps(t);
    registerResizeOps(t);
    registerControlFlowOps(t);
    return t;
  }();
  return table;
}

std::vector<OnnxOpSupport> mlir::tac::getSupportedOnnxOps() {
  return OpTable::get().list();
}
