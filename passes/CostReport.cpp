//===- CostReport.cpp - module costs, attributes and the report -----------===//
//
// The third part of the cost model (CostModel.h): a function's cost is its
// work (OpCost.cpp) plus its arena plan (ArenaLiveness.cpp); the module
// level adds the variant comparison, writes `tac.cost` / `tac.arena_bytes`
// and prints the table (format in docs/passes/estimate-cost.md).
//
//===----------------------------------------------------------------------===//

#include "passes/CostModelInternal.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Format.h"

#include <algorithm>
#include <array>
#include <cstring>

using namespace mlir;
using namespace mlir::tac;
using namespace mlir::tac::costmodel;

//===----------------------------------------------------------------------===//
// Function and module costs
//===----------------------------------------------------------------------===//

int64_t FunctionCost::getNumUnmodelledOps() const {
  int64_t count = 0;
  for (const auto &entry : unmodelledOps)
    count += entry.second;
  return count;
}

CostAttr FunctionCost::toAttribute(MLIRContext *context) const {
  return CostAttr::get(context, flops, bytesMoved, paramBytes,
                       peakActivationBytes, naiveActivationBytes);
}

std::optional<FunctionCost> FunctionCost::fromAttribute(CostAttr attr) {
  if (!attr)
    return std::nullopt;
  FunctionCost cost;
  cost.flops = attr.getFlops();
  cost.bytesMoved = attr.getBytesMoved();
  cost.paramBytes = attr.getParamBytes();
  cost.peakActivationBytes = attr.getPeakActivationBytes();
  cost.naiveActivationBytes = attr.getNaiveActivationBytes();
  return cost;
}

FunctionCost mlir::tac::estimateFunctionCost(func::FuncOp func,
                                             const CostOptions &options) {
  FunctionCost cost;
  if (func.isExternal())
    return cost;
  countFunctionWork(func, cost);
  ArenaPlan plan = planArena(func, options);
  cost.peakActivationBytes = plan.arenaBytes;
  cost.naiveActivationBytes = plan.naiveBytes;
  return cost;
}

ModuleCost mlir::tac::estimateModuleCost(ModuleOp module,
                                         const CostOptions &options) {
  ModuleCost result;
  llvm::StringMap<size_t> indexOf;
  module.walk([&](func::FuncOp func) {
    if (func.isExternal())
      return;
    FunctionCostEntry entry;
    entry.func = func;
    entry.name = func.getSymName().str();
    if (auto path = func->getAttrOfType<IntegerAttr>(TacDialect::kPathAttrName))
      entry.path = path.getInt();
    entry.cost = estimateFunctionCost(func, options);
    indexOf[entry.name] = result.functions.size();
    result.functions.push_back(std::move(entry));
  });

  // Each variant is compared with the last variant of its dispatch table
  // (`tac.variants`); without tables, with the variant of the highest path.
  llvm::StringMap<std::string> fullOf;
  for (FunctionCostEntry &entry : result.functions) {
    auto variants = entry.func->getAttrOfType<ArrayAttr>(TacDialect::kVariantsAttrName);
    if (!variants || variants.empty())
      continue;
    auto last = dyn_cast<FlatSymbolRefAttr>(variants[variants.size() - 1]);
    if (!last)
      continue;
    for (Attribute variant : variants)
      if (auto ref = dyn_cast<FlatSymbolRefAttr>(variant))
        fullOf[ref.getValue()] = last.getValue().str();
  }
  if (fullOf.empty()) {
    const FunctionCostEntry *full = nullptr;
    for (const FunctionCostEntry &entry : result.functions)
      if (entry.path && (!full || *entry.path > *full->path))
        full = &entry;
    if (full)
      for (const FunctionCostEntry &entry : result.functions)
        if (entry.path)
          fullOf[entry.name] = full->name;
  }
  for (FunctionCostEntry &entry : result.functions) {
    auto it = fullOf.find(entry.name);
    if (it == fullOf.end())
      continue;
    auto full = indexOf.find(it->second);
    if (full == indexOf.end())
      continue;
    entry.fullPathFunction = it->second;
    int64_t fullFlops = result.functions[full->second].cost.flops;
    if (fullFlops > 0)
      entry.fractionOfFull =
          static_cast<double>(entry.cost.flops) / static_cast<double>(fullFlops);
  }

  result.arenaOverVariants = llvm::any_of(
      result.functions, [](const FunctionCostEntry &e) { return e.path; });
  for (const FunctionCostEntry &entry : result.functions)
    if (!result.arenaOverVariants || entry.path)
      result.arenaBytes =
          std::max(result.arenaBytes, entry.cost.peakActivationBytes);
  return result;
}

void mlir::tac::attachCostAttributes(ModuleOp module, const ModuleCost &cost) {
  MLIRContext *context = module.getContext();
  Builder builder(context);
  for (const FunctionCostEntry &entry : cost.functions) {
    func::FuncOp func = entry.func;
    func->setAttr(TacDialect::kCostAttrName, entry.cost.toAttribute(context));
    if (entry.cost.fullPathOnly)
      func->setAttr(TacDialect::kCostNoteAttrName, builder.getStringAttr(kFullPathNote));
    else
      func->removeAttr(TacDialect::kCostNoteAttrName);
  }
  module->setAttr(TacDialect::kArenaBytesAttrName,
                  builder.getI64IntegerAttr(cost.arenaBytes));
}

void mlir::tac::printCostReport(const ModuleCost &cost, llvm::raw_ostream &os) {
  static const char *headers[] = {
      "function",       "path",           "flops",     "bytes_moved",
      "param_bytes",    "peak_act_bytes", "naive_act_bytes", "act_saved",
      "flops_vs_full"};
  constexpr size_t numColumns = std::size(headers);
  auto percent = [](double fraction) {
    std::string text;
    llvm::raw_string_ostream(text) << llvm::format("%.1f%%", fraction * 100.0);
    return text;
  };

  std::vector<std::array<std::string, numColumns>> rows;
  for (const FunctionCostEntry &entry : cost.functions) {
    const FunctionCost &c = entry.cost;
    rows.push_back(
        {"@" + entry.name, entry.path ? std::to_string(*entry.path) : "-",
         std::to_string(c.flops), std::to_string(c.bytesMoved),
         std::to_string(c.paramBytes), std::to_string(c.peakActivationBytes),
         std::to_string(c.naiveActivationBytes),
         c.naiveActivationBytes > 0
             ? percent(1.0 - static_cast<double>(c.peakActivationBytes) /
                                 static_cast<double>(c.naiveActivationBytes))
             : "-",
         entry.fractionOfFull ? percent(*entry.fractionOfFull) : "-"});
  }
  std::array<size_t, numColumns> widths;
  for (size_t i = 0; i < numColumns; ++i) {
    widths[i] = strlen(headers[i]);
    for (const auto &row : rows)
      widths[i] = std::max(widths[i], row[i].size());
  }
  auto printRow = [&](auto cell) {
    for (size_t i = 0; i < numColumns; ++i) {
      if (i > 0)
        os << "  ";
      // Name and path left-aligned, numbers right-aligned.
      if (i < 2)
        os << llvm::left_justify(cell(i), widths[i]);
      else
        os << llvm::right_justify(cell(i), widths[i]);
    }
    os << "\n";
  };

  os << "tac-estimate-cost: " << cost.functions.size() << " function"
     << (cost.functions.size() == 1 ? "" : "s") << "\n";
  printRow([&](size_t i) { return StringRef(headers[i]); });
  for (const auto &row : rows)
    printRow([&](size_t i) { return StringRef(row[i]); });

  size_t numVariants = llvm::count_if(
      cost.functions, [](const FunctionCostEntry &e) { return e.path; });
  os << "arena_bytes: " << cost.arenaBytes << " (max peak_act_bytes over ";
  if (cost.arenaOverVariants)
    os << numVariants << " variant" << (numVariants == 1 ? "" : "s") << ")\n";
  else
    os << "all functions)\n";

  int64_t unmodelled = 0;
  for (const FunctionCostEntry &entry : cost.functions)
    unmodelled += entry.cost.getNumUnmodelledOps();
  os << "ops not modelled (0 FLOPs, bytes counted): " << unmodelled << "\n";
  for (const FunctionCostEntry &entry : cost.functions) {
    const FunctionCost &c = entry.cost;
    if (c.getNumUnmodelledOps() > 0) {
      os << "  @" << entry.name << ":";
      for (const auto &[name, count] : c.unmodelledOps)
        os << " " << name << " x" << count;
      os << "\n";
    }
  }
  for (const FunctionCostEntry &entry : cost.functions) {
    if (entry.cost.fullPathOnly)
      os << "note: @" << entry.name << ": " << kFullPathNote << "\n";
    if (entry.cost.dynamicLoops > 0)
      os << "note: @" << entry.name << ": " << entry.cost.dynamicLoops
         << " loop(s) without a static trip count counted once\n";
  }
}
