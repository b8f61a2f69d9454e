//===- PreparePlanFunctions.cpp - shape functions for the plan backend ----===//
//
// The kernels + plan backend needs every function result to be a buffer it
// can point at after the last step: scalars become rank-0 tensors and
// results that no op writes into (slices, constants, arguments) are copied
// into fresh tensors. Dispatch functions are dropped: the runtime dispatches.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "llvm/ADT/BitVector.h"

namespace mlir::tac {
#define GEN_PASS_DEF_TACPREPAREPLANFUNCTIONS
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;

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
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> dispatchers, functions;
    for (auto func : module.getOps<func::FuncOp>())
      (func->hasAttr("tac.variants") ? dispatchers : functions).push_back(func);
    for (func::FuncOp dispatch : dispatchers) {
      if (func::FuncOp dropped = prepareDispatch(module, dispatch))
        llvm::erase(functions, dropped), dropped.erase();
      dispatch.erase();
    }
    for (func::FuncOp func : functions)
      if (!func.isExternal() && !func.isPrivate() && failed(prepare(func)))
        return signalPassFailure();
  }

  /// The runtime dispatches: record the path count on every variant and
  /// mark the controller. A controller that only forwards an index argument
  /// (`depths=` mode: the caller picks the depth) is dropped; the runtime then
  /// runs the path the caller asks for, or the deepest.
  /// Returns the controller when it is to be dropped.
  func::FuncOp prepareDispatch(ModuleOp module, func::FuncOp dispatch) {
    OpBuilder builder(dispatch);
    // The dispatch table lists one variant per path.
    if (auto variants = dispatch->getAttrOfType<ArrayAttr>("tac.variants"))
      for (auto symbol : variants.getAsRange<FlatSymbolRefAttr>())
        if (auto variant = module.lookupSymbol<func::FuncOp>(symbol))
          variant->setAttr("tac.num_paths",
                           builder.getI64IntegerAttr(variants.size()));
    auto controllerName =
        dispatch->getAttrOfType<FlatSymbolRefAttr>("tac.controller");
    auto controller = controllerName
                          ? module.lookupSymbol<func::FuncOp>(controllerName)
                          : func::FuncOp();
    if (!controller)
      return {};
    auto ret = cast<func::ReturnOp>(controller.getBody().front().getTerminator());
    if (ret.getNumOperands() > 0 && isa<BlockArgument>(ret.getOperand(0)))
      return controller;
    controller->setAttr("tac.role", builder.getStringAttr("controller"));
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
