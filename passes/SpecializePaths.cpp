//===- SpecializePaths.cpp - one static function per path -----------------===//
//
// For a function with adaptive structure: a clone per path with the selector
// fixed (then the select-path folds, the reference lowering of whatever tac
// op is left, and canonicalisation make it static), a controller function
// (the backward slice of the selector), and the dispatch table on the
// original function.
//
//===----------------------------------------------------------------------===//

#include "dialects/Tac/TacDialect.h"
#include "passes/Passes.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

namespace mlir::tac {
#define GEN_PASS_DEF_TACSPECIALIZEPATHS
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;
using namespace mlir::tac;

namespace {

/// An op whose path is chosen at run time, with its selector and path set.
struct AdaptiveSite {
  Operation *op;
  Value selector;
  PathSetAttr paths;
};

SmallVector<AdaptiveSite> findSites(func::FuncOp func) {
  SmallVector<AdaptiveSite> sites;
  func.walk([&](Operation *op) {
    if (auto block = dyn_cast<AdaptiveBlockOp>(op))
      sites.push_back({op, block.getSelector(), block.getPaths()});
    else if (auto stack = dyn_cast<LayerStackOp>(op))
      if (stack.getPaths())
        sites.push_back({op, stack.getSelector(), *stack.getPaths()});
  });
  return sites;
}

struct TacSpecializePaths
    : mlir::tac::impl::TacSpecializePathsBase<TacSpecializePaths> {
  using Base::Base;

  /// `@<f>_path<k>`: the function with every selector fixed to path k, made
  /// static.
  FailureOr<func::FuncOp> buildVariant(func::FuncOp func, int64_t k,
                                       ArrayRef<int64_t> layers,
                                       SymbolTable &symbols,
                                       Operation *after) {
    auto variant = cast<func::FuncOp>(func->clone());
    variant.setSymName((func.getSymName() + "_path" + Twine(k)).str());
    for (StringRef attr : {TacDialect::kPathsAttrName, TacDialect::kVariantsAttrName, TacDialect::kControllerAttrName})
      variant->removeAttr(attr);
    variant->setAttr(TacDialect::kPathAttrName,
                     IntegerAttr::get(IntegerType::get(&getContext(), 64), k));
    variant->setAttr(TacDialect::kLayersAttrName,
                     DenseI64ArrayAttr::get(&getContext(), layers));
    symbols.insert(variant, std::next(Block::iterator(after)));

    OpPassManager pm(func::FuncOp::getOperationName());
    TacSelectPathOptions select;
    select.path = k;
    pm.addPass(createTacSelectPath(select));
    pm.addPass(createTacLowerToSCF()); // stacks over strided paths, gates
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    if (failed(runPipeline(pm, variant)))
      return failure();
    return variant;
  }

  /// `@<f>_controller`: the slice of the function computing the selector;
  /// returns it as `index`, then the predictor's output if marked.
  FailureOr<func::FuncOp> buildController(func::FuncOp func,
                                          SymbolTable &symbols) {
    auto controller = cast<func::FuncOp>(func->clone());
    controller.setSymName((func.getSymName() + "_controller").str());
    for (StringRef attr : {TacDialect::kPathsAttrName, TacDialect::kVariantsAttrName, TacDialect::kControllerAttrName,
                           TacDialect::kOutputNamesAttrName})
      controller->removeAttr(attr);
    symbols.insert(controller, std::next(Block::iterator(func)));

    SmallVector<AdaptiveSite> sites = findSites(controller);
    Block &body = controller.getBody().front();
    Operation *terminator = body.getTerminator();
    OpBuilder b(terminator);
    Value selector = sites.front().selector;
    if (!selector.getType().isIndex())
      selector = arith::IndexCastUIOp::create(b, terminator->getLoc(),
                                              b.getIndexType(), selector);
    SmallVector<Value> results{selector};
    SmallVector<Attribute> names{b.getStringAttr("path")};
    controller.walk([&](PredictorOutputOp marker) {
      if (marker->getBlock() == &body && results.size() == 1) {
        results.push_back(marker.getResult());
        names.push_back(b.getStringAttr("complexity"));
      }
    });
    auto ret = func::ReturnOp::create(b, terminator->getLoc(), results);
    terminator->erase();

    // Keep the backward slice of the new results; erase the rest.
    llvm::SetVector<Operation *> keep;
    BackwardSliceOptions options;
    options.omitUsesFromAbove = false;
    options.inclusive = true;
    for (Value v : results)
      if (Operation *def = v.getDefiningOp())
        (void)getBackwardSlice(def, &keep, options);
    keep.insert(ret);
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(body))) {
      if (keep.contains(&op))
        continue;
      if (!op.use_empty())
        return op.emitError()
                   << "internal error: controller slicing would erase an op "
                      "still in use",
               failure();
      op.erase();
    }
    controller.setType(FunctionType::get(&getContext(),
                                         controller.getArgumentTypes(),
                                         ValueRange(results).getTypes()));
    controller->setAttr(TacDialect::kOutputNamesAttrName, b.getArrayAttr(names));
    return controller;
  }

  LogicalResult specialize(func::FuncOp func, SymbolTable &symbols) {
    SmallVector<AdaptiveSite> sites = findSites(func);
    if (sites.empty())
      return success();
    // One path choice per function: every site must share the selector and
    // the number of paths (path k means path k everywhere).
    const AdaptiveSite &first = sites.front();
    for (const AdaptiveSite &site : sites) {
      if (site.op->getBlock() != &func.getBody().front())
        return site.op->emitError()
                   << "tac-specialize-paths: adaptive ops nested in other "
                      "regions are not supported; keep them at the top "
                      "level of the function",
               failure();
      if (site.selector != first.selector ||
          site.paths.getNumPaths() != first.paths.getNumPaths())
        return site.op->emitError()
                   << "tac-specialize-paths: this function has several "
                      "adaptive ops with different selectors or path "
                      "counts; specialisation needs one path choice per "
                      "function",
               failure();
    }

    // Controller, then the variants in path order, after the function.
    FailureOr<func::FuncOp> controller = buildController(func, symbols);
    if (failed(controller))
      return failure();
    SmallVector<Attribute> variants;
    Operation *after = *controller;
    for (size_t k = 0; k < first.paths.getNumPaths(); ++k) {
      FailureOr<func::FuncOp> variant =
          buildVariant(func, k, first.paths.getPath(k), symbols, after);
      if (failed(variant))
        return failure();
      after = *variant;
      variants.push_back(FlatSymbolRefAttr::get(*variant));
      ++numVariants;
    }
    func->setAttr(TacDialect::kControllerAttrName, FlatSymbolRefAttr::get(*controller));
    func->setAttr(TacDialect::kVariantsAttrName, ArrayAttr::get(&getContext(), variants));
    return success();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> funcs;
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isExternal() && !func->hasAttr(TacDialect::kPathAttrName) &&
          !func->hasAttr(TacDialect::kVariantsAttrName))
        funcs.push_back(func);
    for (func::FuncOp func : funcs)
      if (failed(specialize(func, symbols)))
        return signalPassFailure();
  }
};

} // namespace
