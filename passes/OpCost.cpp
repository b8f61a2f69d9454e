//===- OpCost.cpp - FLOPs and bytes of ops and functions ------------------===//
//
// The first part of the cost model (CostModel.h; conventions in
// docs/passes/estimate-cost.md): sizes, per-op costs (`estimateOpCost`), and
// the walk that multiplies them by how often an op runs on the full path
// (`CostWalker`), plus the parameter bytes a function reads.
//
//===----------------------------------------------------------------------===//

#include "passes/CostModelInternal.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/CastInterfaces.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringSet.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::tac;
using namespace mlir::tac::costmodel;

//===----------------------------------------------------------------------===//
// Sizes and per-op costs
//===----------------------------------------------------------------------===//

int64_t mlir::tac::getElementBytes(Type type) {
  if (type.isIndex())
    return 8;
  if (type.isIntOrFloat())
    return (static_cast<int64_t>(type.getIntOrFloatBitWidth()) + 7) / 8;
  if (auto complex = dyn_cast<ComplexType>(type))
    return 2 * getElementBytes(complex.getElementType());
  return 0;
}

std::optional<int64_t> mlir::tac::getShapedBytes(Type type) {
  if (!isa<TensorType, BaseMemRefType>(type))
    return std::nullopt;
  auto shaped = cast<ShapedType>(type);
  if (!shaped.hasStaticShape())
    return std::nullopt;
  return shaped.getNumElements() * getElementBytes(shaped.getElementType());
}

bool mlir::tac::isComputeOp(Operation *op) {
  Dialect *dialect = op->getDialect();
  if (!dialect)
    return false;
  StringRef ns = dialect->getNamespace();
  if (ns == "math")
    return true;
  if (ns != "arith")
    return false;
  return !isa<arith::ConstantOp>(op) && !isa<CastOpInterface>(op);
}

bool costmodel::isViewOp(Operation *op) {
  return isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp,
             tensor::ExtractSliceOp, tensor::CastOp, tensor::BitcastOp,
             tensor::ReshapeOp, PredictorOutputOp, PolicyOutputOp>(op);
}

/// Cost of a linalg op: iteration space × payload compute ops; bytes of the
/// inputs, of the inits the payload reads, and of the results (the inits'
/// types, so memref forms count too).
static OpCost estimateLinalgCost(linalg::LinalgOp op) {
  OpCost cost;
  for (OpOperand *input : op.getDpsInputOperands()) {
    Type type = input->get().getType();
    if (!isTensorLike(type))
      continue;
    std::optional<int64_t> bytes = getShapedBytes(type);
    cost.modelled &= bytes.has_value();
    cost.bytes += bytes.value_or(0);
  }
  for (OpOperand &init : op.getDpsInitsMutable()) {
    std::optional<int64_t> bytes = getShapedBytes(init.get().getType());
    cost.modelled &= bytes.has_value();
    int64_t size = bytes.value_or(0);
    if (op.payloadUsesValueFromOperand(&init))
      cost.bytes += size;
    cost.bytes += size;
  }

  // The loop ranges come from inverting the operand-to-loop maps; a generic
  // whose maps do not invert has no static iteration space for us.
  if (!op.getShapesToLoopsMap()) {
    cost.modelled = false;
    return cost;
  }
  int64_t iterations = 1;
  for (int64_t range : op.getStaticLoopRanges()) {
    if (ShapedType::isDynamic(range)) {
      cost.modelled = false;
      return cost;
    }
    iterations *= range;
  }
  int64_t perIteration = 0;
  for (Region &region : op->getRegions())
    region.walk([&](Operation *inner) {
      if (isComputeOp(inner))
        ++perIteration;
    });
  cost.flops = iterations * perIteration;
  return cost;
}

OpCost mlir::tac::estimateOpCost(Operation *op) {
  OpCost cost;
  if (op->hasTrait<OpTrait::IsTerminator>() ||
      isa<arith::ConstantOp, tensor::EmptyOp, tensor::DimOp, tensor::RankOp>(
          op) ||
      isViewOp(op))
    return cost;
  if (auto extract = dyn_cast<tensor::ExtractOp>(op)) {
    cost.bytes = getElementBytes(extract.getType());
    return cost;
  }
  if (auto insert = dyn_cast<tensor::InsertOp>(op)) {
    cost.bytes = getElementBytes(insert.getScalar().getType());
    return cost;
  }
  if (auto insert = dyn_cast<tensor::InsertSliceOp>(op)) {
    // Read the source, write it into the destination in place.
    std::optional<int64_t> bytes = getShapedBytes(insert.getSourceType());
    cost.modelled = bytes.has_value();
    cost.bytes = 2 * bytes.value_or(0);
    return cost;
  }
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
    return estimateLinalgCost(linalgOp);

  bool shaped = llvm::any_of(op->getOperandTypes(), isTensorLike) ||
                llvm::any_of(op->getResultTypes(), isTensorLike);
  if (!shaped) {
    // Scalar work outside a payload (controller arithmetic, loop bounds).
    cost.flops = isComputeOp(op) ? 1 : 0;
    return cost;
  }
  for (Type type : llvm::concat<Type>(op->getOperandTypes(),
                                      op->getResultTypes())) {
    if (!isTensorLike(type))
      continue;
    std::optional<int64_t> bytes = getShapedBytes(type);
    cost.modelled &= bytes.has_value();
    cost.bytes += bytes.value_or(0);
  }
  if (isComputeOp(op)) {
    // arith/math applied elementwise to whole tensors.
    auto result = op->getNumResults() == 1
                      ? dyn_cast<ShapedType>(op->getResult(0).getType())
                      : ShapedType();
    if (result && result.hasStaticShape())
      cost.flops = result.getNumElements();
    else
      cost.modelled = false;
    return cost;
  }
  StringRef ns = op->getDialect() ? op->getDialect()->getNamespace() : "";
  if (ns == "arith" || ns == "math")
    return cost; // casts and constants: data conversion, 0 FLOPs
  if (isa<tensor::PadOp, tensor::ConcatOp, tensor::SplatOp,
          tensor::FromElementsOp>(op))
    return cost;
  cost.modelled = false;
  return cost;
}

//===----------------------------------------------------------------------===//
// Which part of adaptive structure runs (shared by costs and the plan)
//===----------------------------------------------------------------------===//

costmodel::ChosenPath costmodel::choosePath(PathSetAttr paths, Value selector) {
  if (std::optional<size_t> index = paths.getStaticPath(selector))
    return {paths.getPath(*index), true};
  return {paths.getPath(paths.getNumPaths() - 1), false};
}

std::pair<bool, bool> costmodel::gateRuns(GateOp gate) {
  APInt value;
  if (matchPattern(gate.getCondition(), m_ConstantInt(&value)))
    return {!value.isZero(), true};
  return {true, false};
}

bool costmodel::isControlOp(Operation *op) {
  if (op->getNumRegions() == 0 || isa<linalg::LinalgOp>(op))
    return false;
  Dialect *dialect = op->getDialect();
  return !(dialect && isa<tensor::TensorDialect, linalg::LinalgDialect>(dialect));
}

//===----------------------------------------------------------------------===//
// FLOPs and bytes of a function
//===----------------------------------------------------------------------===//

namespace {
struct CostWalker {
  FunctionCost &cost;
  /// Functions being walked (the caller chain), to stop at recursion.
  llvm::SmallPtrSet<Operation *, 4> *active = nullptr;
  /// Callees reached through func.call, for their constants.
  llvm::SetVector<Operation *> *callees = nullptr;

  void visitRegion(Region &region, int64_t times) {
    for (Block &block : region)
      for (Operation &op : block)
        visit(&op, times);
  }

  void visit(Operation *op, int64_t times) {
    if (auto gate = dyn_cast<GateOp>(op)) {
      auto [runs, isStatic] = gateRuns(gate);
      cost.fullPathOnly |= !isStatic;
      if (runs)
        visitRegion(gate.getBody(), times);
      return;
    }
    if (auto block = dyn_cast<AdaptiveBlockOp>(op)) {
      ChosenPath path = choosePath(block.getPaths(), block.getSelector());
      cost.fullPathOnly |= !path.isStatic;
      for (int64_t layer : path.layers)
        if (layer < block.getNumLayers())
          visitRegion(block.getLayers()[layer], times);
      return;
    }
    if (auto stack = dyn_cast<LayerStackOp>(op)) {
      int64_t layers = stack.getNumLayers();
      if (std::optional<PathSetAttr> paths = stack.getPaths()) {
        ChosenPath path = choosePath(*paths, stack.getSelector());
        cost.fullPathOnly |= !path.isStatic;
        layers = path.layers.size();
      }
      visitRegion(stack.getBody(), times * std::max<int64_t>(layers, 0));
      return;
    }
    if (auto forOp = dyn_cast<scf::ForOp>(op)) {
      int64_t trips = 1;
      if (std::optional<APInt> count = forOp.getStaticTripCount())
        trips = std::max<int64_t>(count->getSExtValue(), 0);
      else
        ++cost.dynamicLoops;
      visitRegion(forOp.getRegion(), times * trips);
      return;
    }
    if (isa<scf::IfOp, scf::IndexSwitchOp>(op)) {
      // The costliest branch: an upper bound for budgeting.
      FunctionCost best;
      bool first = true;
      for (Region &region : op->getRegions()) {
        FunctionCost branch;
        CostWalker walker{branch, active, callees};
        walker.visitRegion(region, times);
        for (auto &[name, count] : branch.unmodelledOps)
          cost.unmodelledOps[name] += count;
        cost.dynamicLoops += branch.dynamicLoops;
        cost.fullPathOnly |= branch.fullPathOnly;
        if (first || branch.flops > best.flops ||
            (branch.flops == best.flops && branch.bytesMoved > best.bytesMoved))
          best = branch;
        first = false;
      }
      cost.flops += best.flops;
      cost.bytesMoved += best.bytesMoved;
      return;
    }
    if (isControlOp(op)) {
      // scf.while runs an unknown number of times: counted once. Unknown
      // region ops: their bodies once, the op itself listed.
      if (isa<scf::WhileOp>(op))
        ++cost.dynamicLoops;
      else if (!isa<scf::ExecuteRegionOp>(op))
        ++cost.unmodelledOps[op->getName().getStringRef().str()];
      for (Region &region : op->getRegions())
        visitRegion(region, times);
      return;
    }
    if (auto call = dyn_cast<func::CallOp>(op)) {
      // A call costs its callee's body (weights helpers, shared
      // subgraphs); a recursive or external callee is not modelled.
      auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
          op, call.getCalleeAttr());
      if (callee && !callee.isExternal() && active &&
          active->insert(callee).second) {
        if (callees)
          callees->insert(callee);
        visitRegion(callee.getBody(), times);
        active->erase(callee);
        return;
      }
    }
    OpCost opCost = estimateOpCost(op);
    cost.flops += opCost.flops * times;
    cost.bytesMoved += opCost.bytes * times;
    if (!opCost.modelled)
      ++cost.unmodelledOps[op->getName().getStringRef().str()];
  }
};
} // namespace

/// Bytes of the distinct tensor constants `func` uses. A constant read only
/// through static `tensor.extract_slice`s counts the distinct slices (at
/// most the whole constant): a variant reading one layer of a stacked
/// weight touches that layer's bytes.
static int64_t computeParamBytes(func::FuncOp func) {
  llvm::MapVector<Attribute, SmallVector<arith::ConstantOp, 1>> byValue;
  func.walk([&](arith::ConstantOp constant) {
    if (!isTensorLike(constant.getType()) || constant->use_empty())
      return;
    byValue[constant.getValue()].push_back(constant);
  });
  int64_t total = 0;
  for (auto &[value, constants] : byValue) {
    int64_t whole = bytesOf(constants.front().getType());
    bool onlyStaticSlices = true;
    llvm::StringSet<> seen;
    int64_t sliced = 0;
    for (arith::ConstantOp constant : constants) {
      for (Operation *user : constant->getUsers()) {
        auto slice = dyn_cast<tensor::ExtractSliceOp>(user);
        if (!slice || !slice.getOffsets().empty() ||
            !slice.getSizes().empty() || !slice.getStrides().empty()) {
          onlyStaticSlices = false;
          break;
        }
        std::string key;
        llvm::raw_string_ostream os(key);
        llvm::interleaveComma(slice.getStaticOffsets(), os);
        os << ';';
        llvm::interleaveComma(slice.getStaticSizes(), os);
        os << ';';
        llvm::interleaveComma(slice.getStaticStrides(), os);
        if (seen.insert(key).second)
          sliced += bytesOf(slice.getType());
      }
      if (!onlyStaticSlices)
        break;
    }
    total += onlyStaticSlices ? std::min(whole, sliced) : whole;
  }
  return total;
}

void costmodel::countFunctionWork(func::FuncOp func, FunctionCost &cost) {
  llvm::SmallPtrSet<Operation *, 4> active;
  active.insert(func);
  llvm::SetVector<Operation *> callees;
  CostWalker walker{cost, &active, &callees};
  walker.visitRegion(func.getBody(), 1);
  cost.paramBytes = computeParamBytes(func);
  for (Operation *callee : callees)
    if (callee != func.getOperation())
      cost.paramBytes += computeParamBytes(cast<func::FuncOp>(callee));
}
