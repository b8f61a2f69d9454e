//===- OutlineKernels.cpp - split bufferized functions into host + kernels ===//
//
// After bufferization a function is a sequence of allocations, views and
// compute ops over memrefs. This pass leaves the part a static plan can
// replay (allocations, views, weights, index arithmetic, constant loops,
// contiguous copies) in the function and moves every compute op into a
// kernel function the host calls. The plan builder (lib/Backend) then
// replays the host part at compile time into a flat list of steps.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/EquivalenceClasses.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::tac {
#define GEN_PASS_DEF_TACOUTLINEKERNELS
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;

namespace {

bool isContiguous(Value memref) {
  auto type = dyn_cast<MemRefType>(memref.getType());
  return type && memref::isStaticShapeAndContiguousRowMajor(type);
}

/// Ops a plan replays without computing anything.
bool isStructuralHostOp(Operation *op) {
  if (isa<memref::AllocOp, memref::AllocaOp, memref::DeallocOp,
          memref::SubViewOp, memref::ExpandShapeOp, memref::CollapseShapeOp,
          memref::CastOp, memref::ReinterpretCastOp, memref::GetGlobalOp,
          scf::ForOp, scf::YieldOp, func::ReturnOp, func::CallOp,
          arith::ConstantOp>(op))
    return true;
  // A copy between contiguous buffers is a plan step (a memcpy).
  if (auto copy = dyn_cast<memref::CopyOp>(op))
    return isContiguous(copy.getSource()) && isContiguous(copy.getTarget());
  return false;
}

/// Every value `op` reads that is defined outside it, in first-use order.
SetVector<Value> valuesUsedBy(Operation *op) {
  SetVector<Value> used(op->operand_begin(), op->operand_end());
  getUsedValuesDefinedAbove(op->getRegions(), used);
  return used;
}

/// What a memref value is a view of: a memref.alloc of this function, or
/// storage no alloc can overlap (the function's arguments, globals).
struct MemRefRoot {
  Operation *allocation = nullptr;
  bool foreign = false; // an argument or a global: never an allocation
};

/// The root of `memref` through view ops; neither field set when it is not
/// known (a loop-carried value, an unknown view).
MemRefRoot rootOf(Value memref) {
  while (Operation *def = memref.getDefiningOp()) {
    if (isa<memref::AllocOp>(def))
      return {def, false};
    if (isa<memref::GetGlobalOp>(def))
      return {nullptr, true};
    if (!isa<memref::SubViewOp, memref::ExpandShapeOp, memref::CollapseShapeOp,
             memref::CastOp, memref::ReinterpretCastOp>(def))
      return {};
    memref = def->getOperand(0);
  }
  auto arg = cast<BlockArgument>(memref);
  return {nullptr, isa<func::FuncOp>(arg.getOwner()->getParentOp())};
}

/// Moves each fill of an allocation down to just before the first op that
/// touches that allocation, when that op writes the very buffer the fill
/// writes (its DPS init) and every op passed over provably touches other
/// storage only. The fill then joins that op's kernel (merge-fills), and a
/// GEMM starts from beta = 0 instead of a zeroed buffer: attention's scores
/// were zeroed before the op that scales Q, an extra pass over them.
void sinkFillsToConsumers(Block &block) {
  SmallVector<linalg::FillOp> fills;
  for (Operation &op : block)
    if (auto fill = dyn_cast<linalg::FillOp>(op))
      if (fill.hasPureBufferSemantics())
        fills.push_back(fill);
  for (linalg::FillOp fill : fills) {
    Value target = fill.getDpsInits()[0];
    Operation *allocation = rootOf(target).allocation;
    if (!allocation)
      continue;
    Operation *consumer = nullptr;
    for (Operation *op = fill->getNextNode(); op; op = op->getNextNode()) {
      if (op->getNumRegions() != 0 && !isa<linalg::LinalgOp>(op))
        break; // loops and other region ops: not looked into
      bool touches = false, unknown = false;
      for (Value value : valuesUsedBy(op)) {
        if (!isa<MemRefType>(value.getType()))
          continue;
        MemRefRoot root = rootOf(value);
        touches |= root.allocation == allocation;
        unknown |= !root.allocation && !root.foreign;
      }
      if (touches) {
        auto dps = dyn_cast<DestinationStyleOpInterface>(op);
        if (dps && llvm::is_contained(dps.getDpsInits(), target))
          consumer = op;
        break;
      }
      if (unknown)
        break; // might reach the fill's buffer through an alias
    }
    if (consumer && consumer != fill->getNextNode())
      fill->moveBefore(consumer);
  }
}

struct OutlineKernels
    : mlir::tac::impl::TacOutlineKernelsBase<OutlineKernels> {
  using TacOutlineKernelsBase::TacOutlineKernelsBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable table(module);
    symbols = &table;
    kernelByText.clear();
    nextKernel = 0;
    SmallVector<func::FuncOp> hosts;
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isExternal() && !func.isPrivate())
        hosts.push_back(func);
    for (func::FuncOp func : hosts)
      if (failed(outlineBlock(func.getBody().front())))
        return signalPassFailure();
  }

private:
  SymbolTable *symbols = nullptr; // valid during runOnOperation
  llvm::StringMap<StringAttr> kernelByText;
  unsigned nextKernel = 0;

  LogicalResult outlineBlock(Block &block) {
    if (mergeFills)
      sinkFillsToConsumers(block);
    // Values host code can compute: arguments, loop indices and the results
    // of host ops (including index arithmetic over those).
    DenseSet<Value> host(block.args_begin(), block.args_end());
    SmallVector<Operation *> ops;
    DenseMap<Operation *, unsigned> position;
    for (Operation &op : block) {
      position[&op] = ops.size();
      ops.push_back(&op);
    }
    auto isHost = [&](Operation *op) {
      if (isStructuralHostOp(op))
        return true;
      // Pure scalar arithmetic over host values (e.g. an offset from a loop
      // index) stays on the host.
      return op->getDialect() &&
             op->getDialect()->getNamespace() == "arith" &&
             op->getNumRegions() == 0 &&
             llvm::all_of(op->getOperands(),
                          [&](Value v) { return host.contains(v); }) &&
             llvm::all_of(op->getResultTypes(), [](Type t) {
               return t.isIntOrIndex();
             });
    };

    llvm::EquivalenceClasses<Operation *> groups;
    SmallVector<Operation *> compute;
    for (Operation *op : ops) {
      if (isHost(op)) {
        host.insert(op->result_begin(), op->result_end());
        if (auto loop = dyn_cast<scf::ForOp>(op))
          if (failed(outlineBlock(*loop.getBody())))
            return failure();
        continue;
      }
      if (llvm::any_of(op->getResultTypes(), llvm::IsaPred<MemRefType>))
        return op->emitError("tac plans do not know this view op; only "
                             "subview, expand_shape, collapse_shape, cast "
                             "and reinterpret_cast may make views");
      // A fill that initialises the very next op's output joins that op's
      // kernel: one call instead of two, and a GEMM kernel can then start
      // from beta = 0 instead of a zeroed buffer. Only when nothing sits
      // between them (a copy into the buffer would otherwise be lost).
      if (mergeFills && !compute.empty() && op->getPrevNode() == compute.back())
        if (auto fill = dyn_cast<linalg::FillOp>(compute.back()))
          if (auto consumer = dyn_cast<DestinationStyleOpInterface>(op))
            if (llvm::is_contained(consumer.getDpsInits(),
                                   fill.getDpsInits()[0])) {
              groups.insert(op);
              groups.unionSets(op, fill);
            }
      compute.push_back(op);
      groups.insert(op);
      for (Value value : valuesUsedBy(op)) {
        if (isa<MemRefType>(value.getType()))
          continue;
        Operation *def = value.getDefiningOp();
        if (def && isa<arith::ConstantOp>(def))
          continue; // cloned into the kernel
        if (def && def->getBlock() == &block && !host.contains(value)) {
          groups.unionSets(op, def); // a scalar flows between compute ops
          continue;
        }
        return op->emitError("compute op reads the scalar ")
               << value << ", which a static plan cannot pass to a kernel "
               << "(only buffers and constants can)";
      }
    }
    // Host code must not depend on computed scalars: a plan is fixed at
    // compile time.
    for (Operation *op : compute)
      for (OpResult result : op->getResults())
        for (OpOperand &use : result.getUses()) {
          Operation *user = block.findAncestorOpInBlock(*use.getOwner());
          if (user && isHost(user) && !isa<func::ReturnOp>(user))
            return use.getOwner()->emitError(
                       "host code depends on a value computed at run time (")
                   << result << "); tac plans need static control flow "
                   << "and view offsets";
          if (isa<func::ReturnOp, scf::YieldOp>(use.getOwner()))
            return op->emitError("a computed scalar is returned; "
                                 "run tac-prepare-plan-functions first");
        }

    // Grow each group to a contiguous run: a kernel runs where its last op
    // was, so no other compute op may sit between its ops.
    struct Span {
      unsigned begin, end;
      SmallVector<Operation *> ops;
    };
    SmallVector<Span> spans;
    for (auto it = groups.begin(); it != groups.end(); ++it) {
      if (!(*it)->isLeader())
        continue;
      Span span{~0u, 0, {}};
      for (auto member = groups.member_begin(**it);
           member != groups.member_end(); ++member) {
        span.begin = std::min(span.begin, position[*member]);
        span.end = std::max(span.end, position[*member]);
      }
      spans.push_back(span);
    }
    llvm::sort(spans, [](const Span &a, const Span &b) {
      return a.begin < b.begin;
    });
    SmallVector<Span> merged;
    for (Span &span : spans) {
      if (!merged.empty() && span.begin <= merged.back().end)
        merged.back().end = std::max(merged.back().end, span.end);
      else
        merged.push_back(span);
    }
    DenseSet<Operation *> isCompute(compute.begin(), compute.end());
    for (Span &span : merged) {
      for (unsigned i = span.begin; i <= span.end; ++i)
        if (isCompute.contains(ops[i]))
          span.ops.push_back(ops[i]);
      if (failed(outlineGroup(span.ops)))
        return failure();
    }
    return success();
  }

  LogicalResult outlineGroup(ArrayRef<Operation *> group) {
    DenseSet<Operation *> inGroup(group.begin(), group.end());
    SetVector<Value> buffers;
    SetVector<Operation *> constants;
    for (Operation *op : group)
      for (Value value : valuesUsedBy(op)) {
        Operation *def = value.getDefiningOp();
        if (def && inGroup.contains(def))
          continue;
        if (isa<MemRefType>(value.getType()))
          buffers.insert(value);
        else
          constants.insert(def); // checked by outlineBlock
      }

    Operation *last = group.back();
    MLIRContext *context = last->getContext();
    ModuleOp module = getOperation();
    OpBuilder builder(context);
    builder.setInsertionPointToEnd(module.getBody());
    auto type = FunctionType::get(
        context, llvm::to_vector(ValueRange(buffers.getArrayRef()).getTypes()),
        {});
    auto kernel =
        func::FuncOp::create(builder, last->getLoc(), "tac_kernel", type);
    kernel.setPrivate();
    Block *body = kernel.addEntryBlock();
    builder.setInsertionPointToStart(body);
    IRMapping mapping;
    for (auto [value, arg] : llvm::zip(buffers, body->getArguments()))
      mapping.map(value, arg);
    for (Operation *constant : constants)
      builder.clone(*constant, mapping);
    for (Operation *op : group) {
      // A strided copy becomes loops in the kernel (memref.copy would call a
      // runtime library the kernels do not link).
      if (auto copy = dyn_cast<memref::CopyOp>(op)) {
        linalg::CopyOp::create(builder, copy.getLoc(),
                               mapping.lookup(copy.getSource()),
                               mapping.lookup(copy.getTarget()));
        continue;
      }
      builder.clone(*op, mapping);
    }
    func::ReturnOp::create(builder, last->getLoc());

    // Share identical kernels: the same layer in several variants compiles
    // once.
    std::string text;
    {
      llvm::raw_string_ostream os(text);
      kernel.print(os, OpPrintingFlags().useLocalScope());
    }
    StringAttr symbol;
    auto found = kernelByText.find(text);
    if (found != kernelByText.end()) {
      kernel.erase();
      symbol = found->second;
    } else {
      kernel.setName(("tac_kernel_" + Twine(nextKernel++)).str());
      symbol = symbols->insert(kernel);
      kernelByText[text] = symbol;
      ++numKernels;
    }

    OpBuilder host(last->getContext());
    host.setInsertionPointAfter(last);
    func::CallOp::create(host, last->getLoc(), symbol, TypeRange(),
                         buffers.getArrayRef());
    for (Operation *op : llvm::reverse(group))
      op->erase();
    ++numLaunches;
    return success();
  }
};

} // namespace
