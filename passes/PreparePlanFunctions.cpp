//===- PreparePlanFunctions.cpp - shape functions for the plan backend ----===//
//
// The kernels + plan backend needs every function result to be a buffer it
// can point at after the last step: scalars become rank-0 tensors and
// results that no op writes into (slices, constants, arguments) are copied
// into fresh tensors. Dispatch functions are dropped: the runtime dispatches.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/Tac/TacDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/BitVector.h"

namespace mlir::tac {
#define GEN_PASS_DEF_TACPREPAREPLANFUNCTIONS
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;
using namespace mlir::tac;

namespace {

/// True when `value` is written by a destination-style op, looking through
/// reshapes (which keep a contiguous buffer contiguous).
bool isWrittenByAnOp(Value value) {
  while (Operation *def = value.getDefiningOp()) {
    if (isa<DestinationStyleOpInterface>(def))
      return true;
    if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(def)) {
      value = def->getOperand(0);
      continue;
    }
    return false;
  }
  return false; // a block argument
}

/// A copy of `value` into a fresh tensor of the same type.
Value copyIntoFreshTensor(OpBuilder &builder, Location loc, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  Value empty = tensor::EmptyOp::create(builder, loc, type.getShape(),
                                        type.getElementType());
  return linalg::CopyOp::create(builder, loc, value, empty).getResult(0);
}

struct PreparePlanFunctions
    : mlir::tac::impl::TacPreparePlanFunctionsBase<PreparePlanFunctions> {
  using TacPreparePlanFunctionsBase::TacPreparePlanFunctionsBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> dispatchers, functions;
    for (auto func : module.getOps<func::FuncOp>())
      (func->hasAttr(TacDialect::kVariantsAttrName) ? dispatchers : functions).push_back(func);
    for (func::FuncOp dispatch : dispatchers) {
      if (func::FuncOp dropped = prepareDispatch(module, dispatch))
        llvm::erase(functions, dropped), dropped.erase();
      dispatch.erase();
    }
    for (func::FuncOp func : functions)
      if (!func.isExternal() && !func.isPrivate() && failed(prepare(func)))
        return signalPassFailure();
    if (shareController)
      shareControllerWork(functions);
  }

  /// A variant recomputes the controller's work: the layers before the first
  /// gate, the predictor, the policy. Every value a variant computes exactly
  /// as the controller does is instead returned by the controller (after its
  /// own results) and taken by every variant as an extra argument (after the
  /// model's inputs); the runtime runs the controller first and hands them
  /// over. The controller records how many results it carries in
  /// `tac.carried_results`.
  void shareControllerWork(ArrayRef<func::FuncOp> functions) {
    func::FuncOp controller;
    SmallVector<func::FuncOp> variants;
    for (func::FuncOp func : functions) {
      if (func.isExternal() || func.isPrivate())
        continue;
      auto role = func->getAttrOfType<StringAttr>(TacDialect::kRoleAttrName);
      if (role && role.getValue() == "controller")
        controller = func;
      else if (func->hasAttr(TacDialect::kPathAttrName))
        variants.push_back(func);
    }
    if (!controller || variants.empty())
      return;
    Block &body = controller.getBody().front();
    DenseMap<OperationName, SmallVector<Operation *>> byName;
    DenseMap<Operation *, unsigned> order;
    for (Operation &op : body.without_terminator()) {
      order[&op] = order.size();
      byName[op.getName()].push_back(&op);
    }

    // Constants, empty tensors and fills of them cost nothing to recompute
    // and are interchangeable with any identical one (a function may hold
    // several).
    std::function<bool(Value)> isFree = [&](Value x) {
      Operation *def = x.getDefiningOp();
      if (!def)
        return false;
      if (isa<arith::ConstantOp, tensor::EmptyOp>(def))
        return true;
      return isa<linalg::FillOp>(def) &&
             llvm::all_of(def->getOperands(), isFree);
    };
    std::function<bool(Value, Value)> sameFreeValue = [&](Value a, Value b) {
      if (!isFree(a) || !isFree(b))
        return false;
      DenseMap<Value, Value> nested;
      return OperationEquivalence::isEquivalentTo(
          a.getDefiningOp(), b.getDefiningOp(),
          [&](Value x, Value y) {
            return success(nested.lookup(x) == y || sameFreeValue(x, y));
          },
          [&](Value x, Value y) { nested[x] = y; },
          OperationEquivalence::IgnoreLocations);
    };
    // Per variant: which of its values the controller computes.
    SmallVector<DenseMap<Value, Value>> shared(variants.size());
    SetVector<Value> carried;
    for (auto [v, variant] : llvm::enumerate(variants)) {
      if (variant.getNumArguments() != controller.getNumArguments() ||
          variant.getArgumentTypes() != controller.getArgumentTypes())
        return; // not the same inputs: nothing to share
      DenseMap<Value, Value> &map = shared[v];
      for (auto [a, b] :
           llvm::zip(variant.getArguments(), controller.getArguments()))
        map[a] = b;
      for (Operation &op : variant.getBody().front().without_terminator()) {
        if (llvm::any_of(op.getOperands(),
                         [&](Value x) { return !map.count(x); }))
          continue;
        for (Operation *candidate : byName.lookup(op.getName())) {
          DenseMap<Value, Value> nested;
          auto check = [&](Value a, Value b) {
            return success(map.lookup(a) == b || nested.lookup(a) == b ||
                           sameFreeValue(a, b));
          };
          auto mark = [&](Value a, Value b) { nested[a] = b; };
          if (!OperationEquivalence::isEquivalentTo(
                  &op, candidate, check, mark,
                  OperationEquivalence::IgnoreLocations))
            continue;
          for (auto [a, b] : llvm::zip(op.getResults(),
                                       candidate->getResults()))
            map[a] = b;
          break;
        }
      }
      // The controller's values this variant still reads: carried, unless
      // recomputing them is free (constants, empty tensors).
      for (Operation &op : variant.getBody().front()) {
        if (map.count(op.getNumResults() ? op.getResult(0) : Value()))
          continue; // computed by the controller
        SetVector<Value> used(op.operand_begin(), op.operand_end());
        getUsedValuesDefinedAbove(op.getRegions(), used);
        for (Value x : used)
          if (Value c = map.lookup(x); c && !isFree(c) && !isa<BlockArgument>(x))
            carried.insert(c);
      }
    }
    if (carried.empty())
      return;
    SmallVector<Value> ordered(carried.begin(), carried.end());
    llvm::sort(ordered, [&](Value a, Value b) {
      return order.lookup(a.getDefiningOp()) < order.lookup(b.getDefiningOp());
    });

    // The controller returns them after its own results.
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    OpBuilder builder(ret);
    SmallVector<Value> results(ret.getOperands());
    for (Value value : ordered)
      results.push_back(isWrittenByAnOp(value)
                            ? value
                            : copyIntoFreshTensor(builder, ret.getLoc(), value));
    ret->setOperands(results);
    controller.setType(FunctionType::get(
        controller.getContext(), controller.getArgumentTypes(),
        ValueRange(results).getTypes()));
    controller->setAttr(TacDialect::kCarriedResultsAttrName,
                        builder.getI64IntegerAttr(ordered.size()));

    // Every variant takes them as arguments and drops what it no longer needs.
    for (auto [v, variant] : llvm::enumerate(variants)) {
      Block &entry = variant.getBody().front();
      DenseMap<Value, Value> fromController;
      for (Value value : ordered) {
        BlockArgument arg = entry.addArgument(value.getType(), value.getLoc());
        fromController[value] = arg;
      }
      for (Operation &op : entry) {
        op.walk([&](Operation *nested) {
          for (OpOperand &operand : nested->getOpOperands()) {
            Value c = shared[v].lookup(operand.get());
            if (Value arg = c ? fromController.lookup(c) : Value())
              operand.set(arg);
          }
        });
      }
      variant.setType(FunctionType::get(variant.getContext(),
                                        entry.getArgumentTypes(),
                                        variant.getResultTypes()));
      // Ops whose results nothing reads any more.
      SmallVector<Operation *> ops;
      for (Operation &op : entry.without_terminator())
        ops.push_back(&op);
      for (Operation *op : llvm::reverse(ops))
        if (op->use_empty() && isMemoryEffectFree(op))
          op->erase();
    }
  }

  /// The runtime dispatches: record the path count on every variant and
  /// mark the controller. A controller that only forwards an index argument
  /// (`depths=` mode: the caller picks the depth) is dropped; the runtime then
  /// runs the path the caller asks for, or the deepest.
  /// Returns the controller when it is to be dropped.
  func::FuncOp prepareDispatch(ModuleOp module, func::FuncOp dispatch) {
    OpBuilder builder(dispatch);
    // The dispatch table lists one variant per path.
    if (auto variants = dispatch->getAttrOfType<ArrayAttr>(TacDialect::kVariantsAttrName))
      for (auto symbol : variants.getAsRange<FlatSymbolRefAttr>())
        if (auto variant = module.lookupSymbol<func::FuncOp>(symbol))
          variant->setAttr(TacDialect::kNumPathsAttrName,
                           builder.getI64IntegerAttr(variants.size()));
    auto controllerName =
        dispatch->getAttrOfType<FlatSymbolRefAttr>(TacDialect::kControllerAttrName);
    auto controller = controllerName
                          ? module.lookupSymbol<func::FuncOp>(controllerName)
                          : func::FuncOp();
    if (!controller)
      return {};
    auto ret = cast<func::ReturnOp>(controller.getBody().front().getTerminator());
    if (ret.getNumOperands() > 0 && isa<BlockArgument>(ret.getOperand(0)))
      return controller;
    controller->setAttr(TacDialect::kRoleAttrName, builder.getStringAttr("controller"));
    return {};
  }

  LogicalResult prepare(func::FuncOp func) {
    // Index arguments only select a path; specialised functions ignore them.
    llvm::BitVector unusedIndices(func.getNumArguments());
    for (BlockArgument arg : func.getArguments()) {
      if (!arg.getType().isIndex())
        continue;
      if (!arg.use_empty())
        return func.emitError("argument #")
               << arg.getArgNumber()
               << " is an index the compiled plan cannot take as an input";
      unusedIndices.set(arg.getArgNumber());
    }
    if (unusedIndices.any() && failed(func.eraseArguments(unusedIndices)))
      return failure();

    SmallVector<Type> resultTypes;
    WalkResult walk = func.walk([&](func::ReturnOp ret) {
      OpBuilder builder(ret);
      Location loc = ret.getLoc();
      SmallVector<Value> results;
      for (Value value : ret.getOperands()) {
        Type type = value.getType();
        if (type.isIndex()) {
          value = arith::IndexCastOp::create(builder, loc,
                                             builder.getI64Type(), value);
          type = builder.getI64Type();
        }
        if (type.isIntOrFloat()) {
          value = tensor::FromElementsOp::create(
              builder, loc, RankedTensorType::get({}, type), value);
        } else if (auto tensor = dyn_cast<RankedTensorType>(type)) {
          if (!tensor.hasStaticShape()) {
            ret.emitError("result of type ")
                << tensor << " has a dynamic shape; compile with "
                << "--input-shape so every shape is static";
            return WalkResult::interrupt();
          }
          if (!isWrittenByAnOp(value))
            value = copyIntoFreshTensor(builder, loc, value);
        } else {
          ret.emitError("result of type ")
              << type << " cannot be returned from a compiled plan";
          return WalkResult::interrupt();
        }
        results.push_back(value);
      }
      ret->setOperands(results);
      resultTypes = llvm::to_vector(ValueRange(results).getTypes());
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return failure();
    func.setType(FunctionType::get(func.getContext(),
                                   func.getArgumentTypes(), resultTypes));
    return success();
  }
};

} // namespace
