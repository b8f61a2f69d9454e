//===- KernelModule.cpp - the kernel functions both backends compile ------===//
//
// Both backends compile the same kernel functions (tac-outline-kernels) from
// a module of their own, with every argument seen from its view's first
// element, and choose each linalg op's loop order for their hardware.
//
//===----------------------------------------------------------------------===//

#include "tac/Backend/Backend.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::tac;

void mlir::tac::reorderLinalgLoops(
    ModuleOp module,
    function_ref<SmallVector<unsigned>(linalg::LinalgOp)> chooseOrder) {
  IRRewriter rewriter(module.getContext());
  SmallVector<linalg::LinalgOp> ops;
  module.walk([&](linalg::LinalgOp op) { ops.push_back(op); });
  for (linalg::LinalgOp op : ops) {
    SmallVector<unsigned> order = chooseOrder(op);
    if (order.empty() ||
        llvm::equal(order, llvm::seq<unsigned>(0, op.getNumLoops())))
      continue;
    rewriter.setInsertionPoint(op);
    auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
    if (!generic) {
      FailureOr<linalg::GenericOp> general =
          linalg::generalizeNamedOp(rewriter, op);
      if (failed(general))
        continue;
      generic = *general;
    }
    (void)linalg::interchangeGenericOp(rewriter, generic, order);
  }
}

FailureOr<OwningOpRef<ModuleOp>>
mlir::tac::extractKernelModule(ModuleOp module, const KernelTable &kernels) {
  Location loc = module.getLoc();
  OwningOpRef<ModuleOp> kernelModule = ModuleOp::create(loc);
  OpBuilder builder(module.getContext());
  builder.setInsertionPointToEnd(kernelModule->getBody());
  for (const std::string &symbol : kernels.symbols) {
    auto kernel = module.lookupSymbol<func::FuncOp>(symbol);
    if (!kernel)
      return emitError(loc, "kernel @") << symbol << " not found";
    auto copy = cast<func::FuncOp>(builder.clone(*kernel));
    copy.setPublic();
    // The runtime passes a pointer to each view's first element: the kernel
    // sees every argument at offset 0.
    SmallVector<Type> inputs;
    for (BlockArgument arg : copy.getArguments()) {
      auto type = cast<MemRefType>(arg.getType());
      SmallVector<int64_t> strides;
      int64_t offset;
      if (succeeded(type.getStridesAndOffset(strides, offset)) && offset != 0) {
        type = MemRefType::get(
            type.getShape(), type.getElementType(),
            StridedLayoutAttr::get(type.getContext(), 0, strides),
            type.getMemorySpace());
        arg.setType(type);
      }
      inputs.push_back(type);
    }
    copy.setType(FunctionType::get(module.getContext(), inputs, {}));
  }
  return kernelModule;
}
