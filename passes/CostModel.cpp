//===- CostModel.cpp - FLOPs, bytes and activation memory -----------------===//
//
// See CostModel.h for the API and docs/passes/estimate-cost.md for the
// conventions. Three parts:
//
// - per-op costs (`estimateOpCost`) and the walk that multiplies them by how
//   often an op runs on the full path (`CostWalker`);
// - the arena plan (`Planner`): number the ops in execution order, compute
//   each value's last use, decide which values share a buffer (views,
//   destination-passing and elementwise in-place reuse, loop-carried
//   state), then place the buffers greedily by size;
// - the module level: one entry per function, the variant comparison, the
//   attributes and the report table.
//
//===----------------------------------------------------------------------===//

#include "passes/CostModel.h"

#include "dialects/Tac/TacDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/CastInterfaces.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Format.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <tuple>

using namespace mlir;
using namespace mlir::tac;

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

/// Bytes of a static tensor/memref type; 0 otherwise.
static int64_t bytesOf(Type type) { return getShapedBytes(type).value_or(0); }

static bool isTensorLike(Type type) {
  return isa<TensorType, BaseMemRefType>(type);
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

/// Ops whose result is a view of their first operand: no data moves, and
/// the result shares its source's buffer.
static bool isViewOp(Operation *op) {
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

namespace {
/// The layers an adaptive block or a selectable stack runs: the statically
/// selected path when the selector is a constant, otherwise the last (full)
/// path.
struct ChosenPath {
  ArrayRef<int64_t> layers;
  bool isStatic;
};
} // namespace

static ChosenPath choosePath(PathSetAttr paths, Value selector) {
  if (std::optional<size_t> index = paths.getStaticPath(selector))
    return {paths.getPath(*index), true};
  return {paths.getPath(paths.getNumPaths() - 1), false};
}

/// Whether a gate's body runs on the costed path (a constant false condition
/// skips it), and whether that is static.
static std::pair<bool, bool> gateRuns(GateOp gate) {
  APInt value;
  if (matchPattern(gate.getCondition(), m_ConstantInt(&value)))
    return {!value.isZero(), true};
  return {true, false};
}

/// Region-holding ops whose regions are walked as control flow. Linalg
/// payloads and tensor ops' scalar regions are part of a leaf op.
static bool isControlOp(Operation *op) {
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

//===----------------------------------------------------------------------===//
// The arena plan
//===----------------------------------------------------------------------===//

std::optional<ArenaPlan::Slot> ArenaPlan::lookup(Value value) const {
  auto it = bufferOf.find(value);
  if (it == bufferOf.end())
    return std::nullopt;
  const Buffer &buffer = buffers[it->second];
  return Slot{buffer.offset, buffer.size};
}

namespace {
class Planner {
public:
  Planner(func::FuncOp func, const CostOptions &options)
      : func(func), alignment(std::max<int64_t>(options.alignment, 1)) {}

  ArenaPlan run() {
    for (Block &block : func.getBody())
      for (Operation &op : block)
        number(&op);
    for (Block &block : func.getBody())
      for (Operation &op : block)
        process(&op);
    place();
    return std::move(plan);
  }

private:
  static constexpr int kExternal = -1; // outside the arena
  static constexpr int kEmpty = -2;    // tensor.empty: no contents yet

  func::FuncOp func;
  int64_t alignment;
  ArenaPlan plan;

  //--- Phase 1: positions in execution order ------------------------------//

  llvm::DenseMap<Operation *, int64_t> pos, endPos;
  int64_t nextPos = 0;

  /// The regions of `op` that run on the planned path, in order.
  static SmallVector<Region *> executedRegions(Operation *op) {
    SmallVector<Region *> regions;
    if (!isControlOp(op))
      return regions;
    if (auto gate = dyn_cast<GateOp>(op)) {
      if (gateRuns(gate).first)
        regions.push_back(&gate.getBody());
      return regions;
    }
    if (auto block = dyn_cast<AdaptiveBlockOp>(op)) {
      for (int64_t layer :
           choosePath(block.getPaths(), block.getSelector()).layers)
        if (layer < block.getNumLayers())
          regions.push_back(&block.getLayers()[layer]);
      return regions;
    }
    for (Region &region : op->getRegions())
      regions.push_back(&region);
    return regions;
  }

  void number(Operation *op) {
    pos[op] = nextPos++;
    for (Region *region : executedRegions(op))
      for (Block &block : *region)
        for (Operation &inner : block)
          number(&inner);
    endPos[op] = nextPos - 1;
  }

  //--- Liveness -------------------------------------------------------------//

  llvm::DenseMap<Value, int64_t> lastUseCache;

  int64_t defPos(Value value) {
    if (Operation *def = value.getDefiningOp())
      return pos.lookup(def);
    Operation *parent = cast<BlockArgument>(value).getOwner()->getParentOp();
    auto it = pos.find(parent);
    return it == pos.end() ? 0 : it->second;
  }

  /// The last position at which `value` is needed: a use nested in a
  /// region op keeps it live until that op ends (a loop body re-reads it).
  int64_t lastUse(Value value) {
    auto cached = lastUseCache.find(value);
    if (cached != lastUseCache.end())
      return cached->second;
    Block *block = value.getParentBlock();
    int64_t last = defPos(value);
    for (OpOperand &use : value.getUses()) {
      Operation *ancestor = block->findAncestorOpInBlock(*use.getOwner());
      if (!ancestor) {
        // Used from another block (unstructured control flow): keep it
        // live to the end of the function.
        last = std::max(last, nextPos - 1);
        continue;
      }
      auto it = endPos.find(ancestor);
      if (it != endPos.end())
        last = std::max(last, it->second);
    }
    lastUseCache[value] = last;
    return last;
  }

  //--- Phase 2: which values share a buffer --------------------------------//

  llvm::DenseMap<Value, int> where;

  int storageOf(Value value) {
    auto it = where.find(value);
    return it == where.end() ? kExternal : it->second;
  }

  /// `value` lives in `storage` (or outside the arena / empty).
  void alias(Value value, int storage) {
    if (storage == kExternal)
      return;
    where[value] = storage;
    if (storage == kEmpty)
      return;
    ArenaPlan::Buffer &buffer = plan.buffers[storage];
    buffer.values.push_back(value);
    buffer.lastPos = std::max(buffer.lastPos, lastUse(value));
  }

  /// A new buffer of `size` bytes, live from `start` (counted in the naive
  /// plan).
  int newBuffer(int64_t size, int64_t start) {
    if (size == 0)
      return kExternal;
    plan.naiveBytes += size;
    ArenaPlan::Buffer buffer;
    buffer.size = size;
    buffer.firstPos = start;
    buffer.lastPos = start;
    plan.buffers.push_back(std::move(buffer));
    return plan.buffers.size() - 1;
  }

  /// A new buffer for `value`, live from `start`.
  int fresh(Value value, int64_t start) {
    int storage = newBuffer(bytesOf(value.getType()), start);
    alias(value, storage);
    return storage;
  }

  /// `value` (an op result) reuses `storage` in place.
  void reuse(Value value, int storage) {
    plan.naiveBytes += bytesOf(value.getType());
    alias(value, storage);
  }

  /// Whether `use` passes the initial state into `loop`.
  static bool isStateOperand(Operation *loop, OpOperand &use) {
    if (use.getOwner() != loop)
      return false;
    if (auto forOp = dyn_cast<scf::ForOp>(loop))
      return use.getOperandNumber() >= forOp.getNumControlOperands();
    return use.getOperandNumber() < cast<LayerStackOp>(loop).getInputs().size();
  }

  /// Loop (scf.for, tac.layer_stack) whose carried state a buffer holds.
  llvm::DenseMap<int, Operation *> carriedBy;

  /// Whether `storage` is an arena buffer that nothing needs after `at`.
  /// Inside the loop that carries it, a state buffer is free once the
  /// iteration has read the state for the last time: the next state may be
  /// computed over it (its value at the loop's end is the yielded one).
  bool diesAt(int storage, int64_t at) {
    if (storage < 0)
      return false;
    const ArenaPlan::Buffer &buffer = plan.buffers[storage];
    if (buffer.lastPos <= at)
      return true;
    Operation *loop = carriedBy.lookup(storage);
    if (!loop || at <= pos.lookup(loop) || at > endPos.lookup(loop))
      return false;
    return llvm::all_of(buffer.values, [&](Value value) {
      if (value.getDefiningOp() == loop)
        return true; // the loop's result: read after the loop
      Operation *def = value.getDefiningOp();
      if (!def)
        def = cast<BlockArgument>(value).getOwner()->getParentOp();
      if (def != loop && !loop->isProperAncestor(def)) {
        // Defined before the loop: free unless the body reads it (beyond
        // passing it in as the initial state).
        return llvm::all_of(value.getUses(), [&](OpOperand &use) {
          return !loop->isAncestor(use.getOwner()) || isStateOperand(loop, use);
        });
      }
      return lastUse(value) <= at;
    });
  }

  bool sameSize(int storage, Value value) {
    return plan.buffers[storage].size == bytesOf(value.getType());
  }

  void processRegion(Region &region) {
    for (Block &block : region)
      for (Operation &op : block)
        process(&op);
  }

  void process(Operation *op) {
    int64_t at = pos.lookup(op);
    if (isa<arith::ConstantOp>(op))
      return;
    if (isa<tensor::EmptyOp>(op)) {
      for (Value result : op->getResults())
        alias(result, kEmpty);
      return;
    }
    if (isViewOp(op)) {
      for (Value result : op->getResults())
        if (isTensorLike(result.getType()))
          alias(result, storageOf(op->getOperand(0)));
      return;
    }
    if (auto gate = dyn_cast<GateOp>(op))
      return processGate(gate);
    if (auto block = dyn_cast<AdaptiveBlockOp>(op))
      return processAdaptiveBlock(block);
    if (auto stack = dyn_cast<LayerStackOp>(op))
      return processLoop(op, stack.getInputs(),
                         stack.getBody().front().getArguments().take_front(
                             stack.getInputs().size()),
                         stack.getBody());
    if (auto forOp = dyn_cast<scf::ForOp>(op))
      return processLoop(op, forOp.getInitArgs(), forOp.getRegionIterArgs(),
                         forOp.getRegion());
    if (isControlOp(op)) {
      // scf.if, scf.index_switch, scf.while, unknown region ops: results in
      // buffers of their own, live across the op; region arguments are not
      // tracked.
      for (Value result : op->getResults())
        if (isTensorLike(result.getType()))
          fresh(result, at);
      for (Region *region : executedRegions(op))
        processRegion(*region);
      return;
    }
    if (auto dps = dyn_cast<DestinationStyleOpInterface>(op))
      return processDestinationStyle(dps, at);
    if (isComputeOp(op) && op->getNumResults() == 1 &&
        isTensorLike(op->getResult(0).getType())) {
      // arith/math on whole tensors: elementwise, may run in place.
      Value result = op->getResult(0);
      for (Value operand : op->getOperands()) {
        int storage = storageOf(operand);
        if (operand.getType() == result.getType() && diesAt(storage, at) &&
            sameSize(storage, result)) {
          reuse(result, storage);
          return;
        }
      }
      fresh(result, at);
      return;
    }
    for (Value result : op->getResults())
      if (isTensorLike(result.getType()))
        fresh(result, at);
  }

  void processGate(GateOp gate) {
    if (!gateRuns(gate).first) {
      for (auto [result, input] : llvm::zip(gate.getResults(), gate.getInputs()))
        alias(result, storageOf(input));
      return;
    }
    Block &body = gate.getBody().front();
    for (auto [arg, input] : llvm::zip(body.getArguments(), gate.getInputs()))
      alias(arg, storageOf(input));
    processRegion(gate.getBody());
    for (auto [result, yielded] :
         llvm::zip(gate.getResults(), body.getTerminator()->getOperands()))
      alias(result, storageOf(yielded));
  }

  void processAdaptiveBlock(AdaptiveBlockOp block) {
    SmallVector<Value> state(block.getInputs());
    for (Region *layer : executedRegions(block)) {
      Block &body = layer->front();
      for (auto [arg, value] : llvm::zip(body.getArguments(), state))
        alias(arg, storageOf(value));
      processRegion(*layer);
      state.assign(body.getTerminator()->operand_begin(),
                   body.getTerminator()->operand_end());
    }
    for (auto [result, value] : llvm::zip(block.getResults(), state))
      alias(result, storageOf(value));
  }

  /// scf.for and tac.layer_stack: each carried tensor lives in one buffer
  /// for the whole loop (the init's, if the loop is its last use), shared
  /// by the iteration argument and the result; the body's yielded value is
  /// a separate buffer (state is double-buffered).
  void processLoop(Operation *op, ValueRange inits, ValueRange iterArgs,
                   Region &body) {
    int64_t at = pos.lookup(op);
    for (auto [init, arg, result] :
         llvm::zip(inits, iterArgs, op->getResults())) {
      if (!isTensorLike(result.getType()))
        continue;
      int storage = storageOf(init);
      if (diesAt(storage, endPos.lookup(op)) && sameSize(storage, result))
        plan.naiveBytes += bytesOf(result.getType());
      else
        storage = newBuffer(bytesOf(result.getType()), at);
      alias(arg, storage);
      alias(result, storage);
      if (storage >= 0)
        carriedBy[storage] = op;
    }
    processRegion(body);
  }

  void processDestinationStyle(DestinationStyleOpInterface dps, int64_t at) {
    Operation *op = dps.getOperation();
    auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
    llvm::SmallDenseSet<int> taken;

    // A fill of a fresh tensor that only serves as other ops' destination
    // (a matmul's zeroed accumulator, shared by CSE among several matmuls)
    // is redone in each consumer's own buffer rather than kept alive.
    if (auto fill = dyn_cast<linalg::FillOp>(op)) {
      Value result = fill->getResult(0);
      bool onlyDestinations =
          storageOf(fill.getDpsInits()[0]) == kEmpty &&
          llvm::all_of(result.getUses(), [](OpOperand &use) {
            auto user = dyn_cast<DestinationStyleOpInterface>(use.getOwner());
            return user && user.isDpsInit(&use);
          });
      if (onlyDestinations) {
        plan.naiveBytes += bytesOf(result.getType());
        alias(result, kEmpty);
        return;
      }
    }

    // Whether every operand of `op` held in `storage` is read with the same
    // indexing map as `init` (so writing element i after reading element i
    // is safe).
    auto readsAlign = [&](int storage, OpOperand &init) {
      for (OpOperand &operand : op->getOpOperands()) {
        if (&operand == &init || storageOf(operand.get()) != storage)
          continue;
        if (!linalgOp || linalgOp.getMatchingIndexingMap(&operand) !=
                             linalgOp.getMatchingIndexingMap(&init))
          return false;
      }
      return true;
    };

    for (OpResult result : op->getResults()) {
      if (!isTensorLike(result.getType()))
        continue;
      OpOperand *init = dps.getTiedOpOperand(result);
      int storage = init ? storageOf(init->get()) : kExternal;
      // Destination passing: the result is written into its init's buffer
      // when nothing reads that buffer later.
      if (init && diesAt(storage, at) && !taken.contains(storage) &&
          sameSize(storage, result) && readsAlign(storage, *init)) {
        taken.insert(storage);
        reuse(result, storage);
        continue;
      }
      // Elementwise in place: a parallel linalg op that does not read its
      // init may write over an input read with the same map that dies here.
      bool reused = false;
      if (init && linalgOp &&
          linalgOp.getNumLoops() == linalgOp.getNumParallelLoops() &&
          !linalgOp.payloadUsesValueFromOperand(init)) {
        for (OpOperand *input : linalgOp.getDpsInputOperands()) {
          int candidate = storageOf(input->get());
          if (!diesAt(candidate, at) || taken.contains(candidate) ||
              !sameSize(candidate, result) ||
              bytesOf(input->get().getType()) != bytesOf(result.getType()) ||
              !readsAlign(candidate, *init))
            continue;
          taken.insert(candidate);
          reuse(result, candidate);
          reused = true;
          break;
        }
      }
      if (!reused)
        fresh(result, at);
    }
  }

  //--- Phase 3: offsets -----------------------------------------------------//

  int64_t alignUp(int64_t bytes) const {
    return (bytes + alignment - 1) / alignment * alignment;
  }

  /// Places the buffers in `order`, each at the best-fitting gap among the
  /// already placed buffers whose lifetimes overlap it, else on top of
  /// them. Returns the offsets and the arena size.
  std::pair<std::vector<int64_t>, int64_t>
  placeInOrder(ArrayRef<unsigned> order) const {
    const std::vector<ArenaPlan::Buffer> &buffers = plan.buffers;
    std::vector<int64_t> offsets(buffers.size(), 0);
    int64_t arena = 0;
    SmallVector<unsigned> placed;
    for (unsigned index : order) {
      const ArenaPlan::Buffer &buffer = buffers[index];
      int64_t size = alignUp(buffer.size);
      SmallVector<std::pair<int64_t, int64_t>> busy;
      for (unsigned other : placed) {
        const ArenaPlan::Buffer &o = buffers[other];
        if (o.firstPos <= buffer.lastPos && buffer.firstPos <= o.lastPos)
          busy.push_back({offsets[other], alignUp(o.size)});
      }
      llvm::sort(busy);
      int64_t cursor = 0, best = -1, bestGap = 0;
      for (auto [offset, busySize] : busy) {
        int64_t gap = offset - cursor;
        if (gap >= size && (best < 0 || gap < bestGap)) {
          best = cursor;
          bestGap = gap;
        }
        cursor = std::max(cursor, offset + busySize);
      }
      offsets[index] = best >= 0 ? best : cursor;
      arena = std::max(arena, offsets[index] + size);
      placed.push_back(index);
    }
    return {std::move(offsets), arena};
  }

  /// Best of a few greedy orders (largest first, program order, longest
  /// lived first, largest size × lifetime first); ties keep the earlier.
  void place() {
    std::vector<ArenaPlan::Buffer> &buffers = plan.buffers;
    auto length = [&](unsigned i) {
      return buffers[i].lastPos - buffers[i].firstPos + 1;
    };
    using Key = std::function<std::tuple<int64_t, int64_t, int64_t>(unsigned)>;
    Key keys[] = {
        [&](unsigned i) {
          return std::tuple{-buffers[i].size, buffers[i].firstPos, 0};
        },
        [&](unsigned i) {
          return std::tuple{buffers[i].firstPos, -buffers[i].size, 0};
        },
        [&](unsigned i) {
          return std::tuple{-length(i), -buffers[i].size, buffers[i].firstPos};
        },
        [&](unsigned i) {
          return std::tuple{-buffers[i].size * length(i), buffers[i].firstPos,
                            0};
        },
    };
    std::vector<int64_t> bestOffsets;
    int64_t bestArena = -1;
    for (const Key &key : keys) {
      SmallVector<unsigned> order = llvm::to_vector(
          llvm::seq<unsigned>(0, static_cast<unsigned>(buffers.size())));
      llvm::stable_sort(order,
                        [&](unsigned a, unsigned b) { return key(a) < key(b); });
      auto [offsets, arena] = placeInOrder(order);
      if (bestArena < 0 || arena < bestArena) {
        bestArena = arena;
        bestOffsets = std::move(offsets);
      }
    }
    plan.arenaBytes = std::max<int64_t>(bestArena, 0);
    for (auto [index, buffer] : llvm::enumerate(buffers))
      buffer.offset = bestOffsets[index];

    for (auto [index, buffer] : llvm::enumerate(buffers))
      for (Value value : buffer.values)
        plan.bufferOf[value] = index;

    std::vector<int64_t> delta(nextPos + 1, 0);
    for (const ArenaPlan::Buffer &buffer : buffers) {
      delta[buffer.firstPos] += buffer.size;
      delta[buffer.lastPos + 1] -= buffer.size;
    }
    int64_t live = 0;
    for (int64_t change : delta) {
      live += change;
      plan.maxLiveBytes = std::max(plan.maxLiveBytes, live);
    }
  }
};
} // namespace

ArenaPlan mlir::tac::planArena(func::FuncOp func, const CostOptions &options) {
  if (func.isExternal())
    return ArenaPlan();
  return Planner(func, options).run();
}

int64_t mlir::tac::planArenaAcrossVariants(ArrayRef<func::FuncOp> funcs,
                                           const CostOptions &options) {
  int64_t arena = 0;
  for (func::FuncOp func : funcs)
    arena = std::max(arena, planArena(func, options).arenaBytes);
  return arena;
}

//===----------------------------------------------------------------------===//
// Function and module costs
//===----------------------------------------------------------------------===//

int64_t FunctionCost::getNumUnmodelledOps() const {
  int64_t count = 0;
  for (const auto &entry : unmodelledOps)
    count += entry.second;
  return count;
}

static constexpr llvm::StringLiteral kFlops = "flops",
                                     kBytesMoved = "bytes_moved",
                                     kParamBytes = "param_bytes",
                                     kPeak = "peak_activation_bytes",
                                     kNaive = "naive_activation_bytes";

DictionaryAttr FunctionCost::toAttribute(MLIRContext *context) const {
  Builder builder(context);
  auto entry = [&](StringRef name, int64_t value) {
    return builder.getNamedAttr(name, builder.getI64IntegerAttr(value));
  };
  return builder.getDictionaryAttr(
      {entry(kFlops, flops), entry(kBytesMoved, bytesMoved),
       entry(kParamBytes, paramBytes), entry(kPeak, peakActivationBytes),
       entry(kNaive, naiveActivationBytes)});
}

std::optional<FunctionCost> FunctionCost::fromAttribute(DictionaryAttr attr) {
  if (!attr)
    return std::nullopt;
  FunctionCost cost;
  for (auto [name, field] :
       {std::pair{kFlops, &cost.flops}, {kBytesMoved, &cost.bytesMoved},
        {kParamBytes, &cost.paramBytes}, {kPeak, &cost.peakActivationBytes},
        {kNaive, &cost.naiveActivationBytes}}) {
    auto value = attr.getAs<IntegerAttr>(name);
    if (!value)
      return std::nullopt;
    *field = value.getInt();
  }
  return cost;
}

FunctionCost mlir::tac::estimateFunctionCost(func::FuncOp func,
                                             const CostOptions &options) {
  FunctionCost cost;
  if (func.isExternal())
    return cost;
  llvm::SmallPtrSet<Operation *, 4> active;
  active.insert(func);
  llvm::SetVector<Operation *> callees;
  CostWalker walker{cost, &active, &callees};
  walker.visitRegion(func.getBody(), 1);
  cost.paramBytes = computeParamBytes(func);
  for (Operation *callee : callees)
    if (callee != func.getOperation())
      cost.paramBytes += computeParamBytes(cast<func::FuncOp>(callee));
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
    if (auto path = func->getAttrOfType<IntegerAttr>(kPathAttrName))
      entry.path = path.getInt();
    entry.cost = estimateFunctionCost(func, options);
    indexOf[entry.name] = result.functions.size();
    result.functions.push_back(std::move(entry));
  });

  // Each variant is compared with the last variant of its dispatch table
  // (`tac.variants`); without tables, with the variant of the highest path.
  llvm::StringMap<std::string> fullOf;
  for (FunctionCostEntry &entry : result.functions) {
    auto variants = entry.func->getAttrOfType<ArrayAttr>(kVariantsAttrName);
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
    func->setAttr(kCostAttrName, entry.cost.toAttribute(context));
    if (entry.cost.fullPathOnly)
      func->setAttr(kCostNoteAttrName, builder.getStringAttr(kFullPathNote));
    else
      func->removeAttr(kCostNoteAttrName);
  }
  module->setAttr(kArenaBytesAttrName,
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
