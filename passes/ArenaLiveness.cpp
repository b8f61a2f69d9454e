//===- ArenaLiveness.cpp - which tensors share a buffer, and when ---------===//
//
// The second part of the cost model (CostModel.h): the arena plan of a
// function's intermediate tensors. Number the ops in execution order,
// compute each value's last use, decide which values share a buffer (views,
// destination-passing and elementwise in-place reuse, loop-carried state);
// the buffers are then placed by the planner the backend uses too
// (tac/Analysis/ArenaPlanner.h).
//
//===----------------------------------------------------------------------===//

#include "passes/CostModelInternal.h"

#include "tac/Analysis/ArenaPlanner.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::tac;
using namespace mlir::tac::costmodel;


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

  //--- Phase 3: offsets (the shared planner) ------------------------------//

  void place() {
    std::vector<ArenaPlan::Buffer> &buffers = plan.buffers;
    SmallVector<ArenaRequest> requests;
    for (const ArenaPlan::Buffer &buffer : buffers)
      requests.push_back({buffer.size, buffer.firstPos, buffer.lastPos});
    ArenaLayout layout = placeArena(requests, alignment);
    plan.arenaBytes = layout.arenaBytes;
    plan.maxLiveBytes = layout.maxLiveBytes;
    for (auto [index, buffer] : llvm::enumerate(buffers)) {
      buffer.offset = layout.offsets[index];
      for (Value value : buffer.values)
        plan.bufferOf[value] = index;
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
