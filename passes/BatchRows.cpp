//===- BatchRows.cpp - batch-size copies of the plan functions -------------===//
//
// A compiled model runs one row (one input set) per plan. Serving batches
// rows, and each row may take its own path, so the runtime groups rows by
// path and runs each group through a copy of the variant that computes B
// rows at once. This pass makes those copies: every value that depends on a
// model input gains a leading dimension of B rows; values that depend only
// on weights stay as they are and are computed once per call.
//
// The copy is built op by op in a fresh function (a "vmap"): an op none of
// whose operands is batched is cloned unchanged; a batched op is rebuilt
// with the row dimension as its outermost parallel loop. Named linalg ops
// are generalised first (except fills, which the backends recognise).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/Tac/TacDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/ScopeExit.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::tac {
#define GEN_PASS_DEF_TACBATCHROWS
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;
using namespace mlir::tac;

namespace {

/// Values of the original function that depend on a batched argument.
class BatchedValues {
public:
  void markArgument(Value v) { set.insert(v); }
  bool contains(Value v) const { return set.contains(v); }

  void analyse(Block &block) {
    for (Operation &op : block) {
      if (auto loop = dyn_cast<scf::ForOp>(op)) {
        analyseLoop(loop);
        continue;
      }
      if (usesBatched(op))
        for (Value r : op.getResults())
          set.insert(r);
    }
  }

  /// Whether `op` reads a batched value, as an operand or from inside its
  /// regions.
  bool usesBatched(Operation &op) const {
    if (llvm::any_of(op.getOperands(), [&](Value v) { return contains(v); }))
      return true;
    SetVector<Value> above;
    getUsedValuesDefinedAbove(op.getRegions(), above);
    return llvm::any_of(above, [&](Value v) { return contains(v); });
  }

private:
  /// An iteration argument is batched when its initial value or the value
  /// the body yields for it is: iterate to a fixed point.
  void analyseLoop(scf::ForOp loop) {
    for (auto [arg, init] :
         llvm::zip(loop.getRegionIterArgs(), loop.getInitArgs()))
      if (contains(init))
        set.insert(arg);
    for (bool changed = true; changed;) {
      analyse(*loop.getBody());
      changed = false;
      auto yield = cast<scf::YieldOp>(loop.getBody()->getTerminator());
      for (auto [arg, value] :
           llvm::zip(loop.getRegionIterArgs(), yield.getOperands()))
        if (contains(value) && set.insert(arg).second)
          changed = true;
    }
    for (auto [arg, result] :
         llvm::zip(loop.getRegionIterArgs(), loop.getResults()))
      if (contains(arg))
        set.insert(result);
  }

  DenseSet<Value> set;
};

/// The element type a batched scalar of type `t` is stored with: index has
/// no size in memory, so it travels as i64.
Type storedScalarType(Type t) {
  return t.isIndex() ? IntegerType::get(t.getContext(), 64) : t;
}

/// Builds the B-row copy of one function.
class Batcher {
public:
  Batcher(int64_t rows, func::FuncOp original, BatchedValues &batchedOld)
      : rows(rows), original(original), batchedOld(batchedOld),
        builder(original.getContext()) {}

  /// `@<name>_b<rows>` with the arguments marked in `batchedArgs` batched;
  /// result i is batched when `mustBatchResult[i]` or when it depends on a
  /// batched argument. `batchedResults` gets which results are.
  FailureOr<func::FuncOp> build(ArrayRef<bool> batchedArgs,
                                ArrayRef<bool> mustBatchResult,
                                SmallVectorImpl<bool> &batchedResults) {
    Block &oldBody = original.getBody().front();
    SmallVector<Type> argTypes;
    for (auto [arg, batched] : llvm::zip(oldBody.getArguments(), batchedArgs))
      argTypes.push_back(batched ? batchedType(arg.getType()) : arg.getType());

    builder.setInsertionPointAfter(original);
    auto func = func::FuncOp::create(
        builder, original.getLoc(),
        (original.getSymName() + "_b" + Twine(rows)).str(),
        FunctionType::get(original.getContext(), argTypes, {}));
    for (NamedAttribute attr : original->getDiscardableAttrs())
      func->setAttr(attr.getName(), attr.getValue());
    Block *entry = func.addEntryBlock();
    for (auto [oldArg, newArg, batched] :
         llvm::zip(oldBody.getArguments(), entry->getArguments(), batchedArgs)) {
      map.map(oldArg, newArg);
      if (batched)
        batchedNew.insert(newArg);
    }
    builder.setInsertionPointToStart(entry);
    for (Operation &op : oldBody.without_terminator())
      if (failed(visit(op)))
        return failure();

    auto ret = cast<func::ReturnOp>(oldBody.getTerminator());
    SmallVector<Value> results;
    for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
      bool batched = isBatched(value) || mustBatchResult[i];
      FailureOr<Value> v = batched ? asBatched(value, ret.getLoc())
                                   : FailureOr<Value>(map.lookup(value));
      if (failed(v))
        return failure();
      results.push_back(*v);
      batchedResults.push_back(batched);
    }
    func::ReturnOp::create(builder, ret.getLoc(), results);
    func.setType(FunctionType::get(func.getContext(), argTypes,
                                   ValueRange(results).getTypes()));
    return func;
  }

private:
  Type batchedType(Type t) {
    if (auto tensor = dyn_cast<RankedTensorType>(t)) {
      SmallVector<int64_t> shape{rows};
      llvm::append_range(shape, tensor.getShape());
      return RankedTensorType::get(shape, tensor.getElementType());
    }
    return RankedTensorType::get({rows}, storedScalarType(t));
  }

  bool isBatched(Value old) const { return batchedOld.contains(old); }

  /// Identity map over `n` dims, and the map dropping the first of them.
  AffineMap identity(unsigned n) {
    return AffineMap::getMultiDimIdentityMap(n, builder.getContext());
  }
  AffineMap dropFirst(unsigned n) {
    SmallVector<AffineExpr> exprs;
    for (unsigned d = 1; d < n; ++d)
      exprs.push_back(builder.getAffineDimExpr(d));
    return AffineMap::get(n, 0, exprs, builder.getContext());
  }

  /// The batched form of old value `old`: its copy when batched, else its
  /// copy broadcast to every row.
  FailureOr<Value> asBatched(Value old, Location loc) {
    Value v = map.lookup(old);
    if (batchedNew.contains(v))
      return v;
    // An uninitialised or filled tensor: make it at the batched size.
    if (auto empty = v.getDefiningOp<tensor::EmptyOp>()) {
      auto type = cast<RankedTensorType>(batchedType(empty.getType()));
      Value out = tensor::EmptyOp::create(builder, loc, type.getShape(),
                                          type.getElementType());
      batchedNew.insert(out);
      return out;
    }
    if (auto fill = v.getDefiningOp<linalg::FillOp>();
        fill && fill.getDpsInits()[0].getDefiningOp<tensor::EmptyOp>()) {
      auto type = cast<RankedTensorType>(batchedType(fill.result().getType()));
      Value empty = tensor::EmptyOp::create(builder, loc, type.getShape(),
                                            type.getElementType());
      Value out = linalg::FillOp::create(builder, loc, fill.getDpsInputs()[0],
                                         empty)
                      .getResult(0);
      batchedNew.insert(out);
      return out;
    }
    Type type = v.getType();
    auto resultType = cast<RankedTensorType>(batchedType(type));
    Value empty = tensor::EmptyOp::create(builder, loc, resultType.getShape(),
                                          resultType.getElementType());
    Value out;
    if (auto tensor = dyn_cast<RankedTensorType>(type)) {
      unsigned n = tensor.getRank() + 1;
      out = linalg::GenericOp::create(
                builder, loc, resultType, ValueRange{v}, ValueRange{empty},
                ArrayRef<AffineMap>{dropFirst(n), identity(n)},
                SmallVector<utils::IteratorType>(n,
                                                 utils::IteratorType::parallel),
                [](OpBuilder &b, Location l, ValueRange args) {
                  linalg::YieldOp::create(b, l, args[0]);
                })
                .getResult(0);
    } else if (type.isIntOrIndexOrFloat()) {
      Value scalar = v;
      if (type.isIndex())
        scalar = arith::IndexCastOp::create(builder, loc,
                                            resultType.getElementType(), v);
      out = linalg::FillOp::create(builder, loc, scalar, empty).getResult(0);
    } else {
      return emitError(loc, "tac-batch-rows: cannot give every row a copy of "
                            "a value of type ")
             << type;
    }
    batchedNew.insert(out);
    return out;
  }

  LogicalResult visit(Operation &op) {
    if (!batchedOld.usesBatched(op)) {
      builder.clone(op, map);
      return success();
    }
    Location loc = op.getLoc();
    if (auto loop = dyn_cast<scf::ForOp>(op))
      return visitLoop(loop);
    if (auto fill = dyn_cast<linalg::FillOp>(op);
        fill && !isBatched(fill.getDpsInputs()[0]))
      return visitFill(fill);
    if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
      return visitLinalg(linalgOp);
    if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op))
      return visitReshape(op, expand.getSrc(), expand.getResultType(),
                          expand.getReassociationIndices(), /*expand=*/true);
    if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op))
      return visitReshape(op, collapse.getSrc(), collapse.getResultType(),
                          collapse.getReassociationIndices(), /*expand=*/false);
    if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op))
      return visitExtractSlice(slice);
    if (auto insert = dyn_cast<tensor::InsertSliceOp>(op))
      return visitInsertSlice(insert);
    if (auto concat = dyn_cast<tensor::ConcatOp>(op)) {
      SmallVector<Value> inputs;
      for (Value in : concat.getInputs()) {
        FailureOr<Value> v = asBatched(in, loc);
        if (failed(v))
          return failure();
        inputs.push_back(*v);
      }
      return record(op, tensor::ConcatOp::create(builder, loc,
                                                 concat.getDim() + 1, inputs));
    }
    if (auto pad = dyn_cast<tensor::PadOp>(op))
      return visitPad(pad);
    if (auto fromElements = dyn_cast<tensor::FromElementsOp>(op)) {
      // A rank-0 tensor of a batched scalar is that scalar's row tensor.
      if (fromElements.getType().getRank() == 0 &&
          !fromElements.getType().getElementType().isIndex())
        return record(op, map.lookup(fromElements.getElements()[0]));
    }
    if (isa<tensor::ExtractOp>(op) || isScalarOp(op))
      return visitScalar(op);
    return op.emitError("tac-batch-rows: cannot batch '")
           << op.getName() << "' (an op that depends on the model's inputs); "
           << "compile without --batch-sizes";
  }

  /// Maps op's single result to `value`, which holds every row.
  LogicalResult record(Operation &op, Value value) {
    map.map(op.getResult(0), value);
    batchedNew.insert(value);
    return success();
  }

  static bool isScalarOp(Operation &op) {
    if (op.getNumRegions() != 0 || op.getNumResults() != 1 ||
        !isMemoryEffectFree(&op))
      return false;
    auto scalar = [](Type t) { return t.isIntOrIndexOrFloat(); };
    return llvm::all_of(op.getOperandTypes(), scalar) &&
           llvm::all_of(op.getResultTypes(), scalar);
  }

  /// A scalar op (or tensor.extract) with batched operands becomes one
  /// linalg.generic over the rows computing it per row.
  LogicalResult visitScalar(Operation &op) {
    Location loc = op.getLoc();
    Type resultType = op.getResult(0).getType();
    if (!resultType.isIntOrIndexOrFloat())
      return op.emitError("tac-batch-rows: cannot batch '")
             << op.getName() << "' with a non-scalar result";
    SmallVector<Value> inputs;
    SmallVector<unsigned> inputOperand; // operand number of each input
    auto extract = dyn_cast<tensor::ExtractOp>(op);
    for (OpOperand &operand : op.getOpOperands()) {
      if (!isBatched(operand.get()))
        continue;
      if (extract && operand.get() == extract.getTensor())
        continue; // read inside the body at the row's index
      inputs.push_back(map.lookup(operand.get()));
      inputOperand.push_back(operand.getOperandNumber());
    }
    Value source = extract && isBatched(extract.getTensor())
                       ? map.lookup(extract.getTensor())
                       : Value();
    auto outType = cast<RankedTensorType>(batchedType(resultType));
    Value empty = tensor::EmptyOp::create(builder, loc, outType.getShape(),
                                          outType.getElementType());
    SmallVector<AffineMap> maps(inputs.size() + 1, identity(1));
    auto generic = linalg::GenericOp::create(
        builder, loc, outType, inputs, ValueRange{empty}, maps,
        {utils::IteratorType::parallel},
        [&](OpBuilder &b, Location l, ValueRange args) {
          IRMapping local = map;
          for (auto [i, number] : llvm::enumerate(inputOperand)) {
            Value arg = args[i];
            Value old = op.getOperand(number);
            if (old.getType().isIndex())
              arg = arith::IndexCastOp::create(b, l, b.getIndexType(), arg);
            local.map(old, arg);
          }
          Value result;
          if (source) {
            SmallVector<Value> indices{linalg::IndexOp::create(b, l, 0)};
            for (Value index : extract.getIndices())
              indices.push_back(local.lookup(index));
            result = tensor::ExtractOp::create(b, l, source, indices);
          } else {
            result = b.clone(op, local)->getResult(0);
          }
          if (resultType.isIndex())
            result = arith::IndexCastOp::create(b, l, outType.getElementType(),
                                                result);
          linalg::YieldOp::create(b, l, result);
        });
    return record(op, generic.getResult(0));
  }

  /// A fill of a per-row tensor with a shared value.
  LogicalResult visitFill(linalg::FillOp fill) {
    FailureOr<Value> init = asBatched(fill.getDpsInits()[0], fill.getLoc());
    if (failed(init))
      return failure();
    Value out = linalg::FillOp::create(builder, fill.getLoc(),
                                       map.lookup(fill.getDpsInputs()[0]), *init)
                    .getResult(0);
    return record(*fill, out);
  }

  LogicalResult visitLinalg(linalg::LinalgOp op) {
    Location loc = op.getLoc();
    auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
    if (!generic)
      return op.emitError("tac-batch-rows: internal: named op left after "
                          "generalisation");
    unsigned numLoops = generic.getNumLoops() + 1;
    auto shifted = [&](AffineMap m, bool batched) {
      AffineMap s = m.shiftDims(1);
      SmallVector<AffineExpr> exprs;
      if (batched)
        exprs.push_back(builder.getAffineDimExpr(0));
      llvm::append_range(exprs, s.getResults());
      return AffineMap::get(numLoops, 0, exprs, builder.getContext());
    };

    SmallVector<Value> inputs, outputs;
    SmallVector<AffineMap> maps;
    SmallVector<bool> scalarRowInput; // a batched scalar: index-cast in body
    for (OpOperand *in : generic.getDpsInputOperands()) {
      bool batched = isBatched(in->get());
      inputs.push_back(map.lookup(in->get()));
      maps.push_back(shifted(generic.getMatchingIndexingMap(in), batched));
      scalarRowInput.push_back(batched &&
                               !isa<ShapedType>(in->get().getType()));
    }
    // Batched scalars read inside the body become extra inputs; batched
    // tensors read inside it (gathers) are indexed at the row.
    SetVector<Value> above;
    getUsedValuesDefinedAbove(generic.getRegion(), above);
    SmallVector<Value> extraScalars;
    for (Value v : above) {
      if (!isBatched(v))
        continue;
      if (isa<RankedTensorType>(v.getType()))
        continue;
      if (!v.getType().isIntOrIndexOrFloat())
        return op.emitError("tac-batch-rows: cannot batch a value of type ")
               << v.getType() << " read inside the op's body";
      extraScalars.push_back(v);
      inputs.push_back(map.lookup(v));
      maps.push_back(AffineMap::get(numLoops, 0, builder.getAffineDimExpr(0)));
    }
    SmallVector<Type> resultTypes;
    for (OpOperand &init : generic.getDpsInitsMutable()) {
      FailureOr<Value> v = asBatched(init.get(), loc);
      if (failed(v))
        return failure();
      outputs.push_back(*v);
      maps.push_back(shifted(generic.getMatchingIndexingMap(&init), true));
      resultTypes.push_back(v->getType());
    }
    SmallVector<utils::IteratorType> iterators{utils::IteratorType::parallel};
    llvm::append_range(iterators, generic.getIteratorTypesArray());

    Block &oldBody = *generic.getBody();
    unsigned numInputs = generic.getNumDpsInputs();
    LogicalResult status = success();
    auto newOp = linalg::GenericOp::create(
        builder, loc, resultTypes, inputs, outputs, maps, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) {
          IRMapping local = map;
          for (unsigned i = 0; i < numInputs; ++i) {
            Value arg = args[i];
            Type oldType = oldBody.getArgument(i).getType();
            if (scalarRowInput[i] && oldType.isIndex())
              arg = arith::IndexCastOp::create(b, l, oldType, arg);
            local.map(oldBody.getArgument(i), arg);
          }
          for (auto [j, v] : llvm::enumerate(extraScalars)) {
            Value arg = args[numInputs + j];
            if (v.getType().isIndex())
              arg = arith::IndexCastOp::create(b, l, v.getType(), arg);
            local.map(v, arg);
          }
          for (unsigned o = 0; o < generic.getNumDpsInits(); ++o)
            local.map(oldBody.getArgument(numInputs + o),
                      args[numInputs + extraScalars.size() + o]);
          Value row;
          for (Operation &nested : oldBody) {
            if (auto index = dyn_cast<linalg::IndexOp>(nested)) {
              local.map(index.getResult(),
                        linalg::IndexOp::create(b, l, index.getDim() + 1));
              continue;
            }
            if (auto extract = dyn_cast<tensor::ExtractOp>(nested);
                extract && isBatched(extract.getTensor())) {
              if (!row)
                row = linalg::IndexOp::create(b, l, 0);
              SmallVector<Value> indices{row};
              for (Value index : extract.getIndices())
                indices.push_back(local.lookup(index));
              local.map(extract.getResult(),
                        tensor::ExtractOp::create(
                            b, l, map.lookup(extract.getTensor()), indices));
              continue;
            }
            for (Value operand : nested.getOperands())
              if (isBatched(operand) && !local.contains(operand))
                status = nested.emitError("tac-batch-rows: cannot batch a "
                                          "per-row tensor used by '")
                         << nested.getName() << "' inside a linalg body";
            b.clone(nested, local);
          }
        });
    if (failed(status))
      return failure();
    for (auto [oldResult, newResult] :
         llvm::zip(generic.getResults(), newOp.getResults())) {
      map.map(oldResult, newResult);
      batchedNew.insert(newResult);
    }
    return success();
  }

  /// Reshapes keep the row dimension as its own group (a reshape to or from
  /// rank 0 folds its unit dimensions into it).
  LogicalResult visitReshape(Operation &op, Value src,
                             RankedTensorType resultType,
                             SmallVector<ReassociationIndices> groups,
                             bool expand) {
    Location loc = op.getLoc();
    SmallVector<ReassociationIndices> newGroups;
    if (groups.empty()) {
      auto srcType = cast<RankedTensorType>(src.getType());
      int64_t rank = std::max(srcType.getRank(), resultType.getRank());
      ReassociationIndices all;
      for (int64_t d = 0; d <= rank; ++d)
        all.push_back(d);
      newGroups.push_back(all);
    } else {
      newGroups.push_back({0});
      for (const ReassociationIndices &group : groups) {
        ReassociationIndices g;
        for (int64_t d : group)
          g.push_back(d + 1);
        newGroups.push_back(g);
      }
    }
    auto type = cast<RankedTensorType>(batchedType(resultType));
    Value in = map.lookup(src);
    Value out = expand ? tensor::ExpandShapeOp::create(builder, loc, type, in,
                                                       newGroups)
                             .getResult()
                       : tensor::CollapseShapeOp::create(builder, loc, type,
                                                         in, newGroups)
                             .getResult();
    return record(op, out);
  }

  /// Slice positions with the whole row dimension in front.
  void prependRows(SmallVector<OpFoldResult> &offsets,
                   SmallVector<OpFoldResult> &sizes,
                   SmallVector<OpFoldResult> &strides) {
    offsets.insert(offsets.begin(), builder.getIndexAttr(0));
    sizes.insert(sizes.begin(), builder.getIndexAttr(rows));
    strides.insert(strides.begin(), builder.getIndexAttr(1));
  }

  SmallVector<OpFoldResult> mapped(ArrayRef<OpFoldResult> values) {
    SmallVector<OpFoldResult> out;
    for (OpFoldResult v : values)
      out.push_back(isa<Value>(v) ? OpFoldResult(map.lookup(cast<Value>(v)))
                                  : v);
    return out;
  }

  LogicalResult visitExtractSlice(tensor::ExtractSliceOp slice) {
    if (!isBatched(slice.getSource()))
      return slice.emitError("tac-batch-rows: a slice at a per-row position "
                             "is not supported");
    SmallVector<OpFoldResult> offsets = mapped(slice.getMixedOffsets()),
                              sizes = mapped(slice.getMixedSizes()),
                              strides = mapped(slice.getMixedStrides());
    prependRows(offsets, sizes, strides);
    auto type = cast<RankedTensorType>(batchedType(slice.getType()));
    Value out = tensor::ExtractSliceOp::create(builder, slice.getLoc(), type,
                                               map.lookup(slice.getSource()),
                                               offsets, sizes, strides);
    return record(*slice, out);
  }

  LogicalResult visitInsertSlice(tensor::InsertSliceOp insert) {
    Location loc = insert.getLoc();
    FailureOr<Value> src = asBatched(insert.getSource(), loc);
    FailureOr<Value> dest = asBatched(insert.getDest(), loc);
    if (failed(src) || failed(dest))
      return failure();
    SmallVector<OpFoldResult> offsets = mapped(insert.getMixedOffsets()),
                              sizes = mapped(insert.getMixedSizes()),
                              strides = mapped(insert.getMixedStrides());
    prependRows(offsets, sizes, strides);
    Value out = tensor::InsertSliceOp::create(builder, loc, *src, *dest,
                                              offsets, sizes, strides);
    return record(*insert, out);
  }

  /// Padding never pads the row dimension; the padding value must not
  /// depend on the row.
  LogicalResult visitPad(tensor::PadOp pad) {
    if (!isBatched(pad.getSource()))
      return pad.emitError("tac-batch-rows: a per-row padding value is not "
                           "supported");
    SmallVector<OpFoldResult> low = mapped(pad.getMixedLowPad()),
                              high = mapped(pad.getMixedHighPad());
    low.insert(low.begin(), builder.getIndexAttr(0));
    high.insert(high.begin(), builder.getIndexAttr(0));
    auto type = cast<RankedTensorType>(batchedType(pad.getResultType()));
    auto newPad = tensor::PadOp::create(builder, pad.getLoc(), type,
                                        map.lookup(pad.getSource()), low, high,
                                        pad.getNofold());
    // The body yields the padding value for an index: one more index in front.
    Block &oldBody = pad.getRegion().front();
    SmallVector<Type> indexTypes(oldBody.getNumArguments() + 1,
                                 builder.getIndexType());
    SmallVector<Location> locs(indexTypes.size(), pad.getLoc());
    OpBuilder::InsertionGuard guard(builder);
    newPad.getRegion().getBlocks().clear();
    Block *body = builder.createBlock(&newPad.getRegion(), {}, indexTypes, locs);
    IRMapping local = map;
    for (auto [oldArg, newArg] :
         llvm::zip(oldBody.getArguments(), body->getArguments().drop_front()))
      local.map(oldArg, newArg);
    for (Operation &nested : oldBody) {
      for (Value operand : nested.getOperands())
        if (isBatched(operand))
          return pad.emitError("tac-batch-rows: a per-row padding value is "
                               "not supported");
      builder.clone(nested, local);
    }
    return record(*pad, newPad.getResult());
  }

  LogicalResult visitLoop(scf::ForOp loop) {
    Location loc = loop.getLoc();
    SmallVector<Value> inits;
    SmallVector<bool> batched;
    for (auto [arg, init] :
         llvm::zip(loop.getRegionIterArgs(), loop.getInitArgs())) {
      bool b = isBatched(arg);
      FailureOr<Value> v =
          b ? asBatched(init, loc) : FailureOr<Value>(map.lookup(init));
      if (failed(v))
        return failure();
      inits.push_back(*v);
      batched.push_back(b);
    }
    auto newLoop = scf::ForOp::create(
        builder, loc, map.lookup(loop.getLowerBound()),
        map.lookup(loop.getUpperBound()), map.lookup(loop.getStep()), inits);
    map.map(loop.getInductionVar(), newLoop.getInductionVar());
    for (auto [oldArg, newArg, b] : llvm::zip(
             loop.getRegionIterArgs(), newLoop.getRegionIterArgs(), batched)) {
      map.map(oldArg, newArg);
      if (b)
        batchedNew.insert(newArg);
    }
    OpBuilder::InsertionGuard guard(builder);
    Block *body = newLoop.getBody();
    // The builder made an empty yield when there are no iteration values.
    if (!body->empty())
      body->getTerminator()->erase();
    builder.setInsertionPointToEnd(body);
    for (Operation &op : loop.getBody()->without_terminator())
      if (failed(visit(op)))
        return failure();
    auto yield = cast<scf::YieldOp>(loop.getBody()->getTerminator());
    SmallVector<Value> yielded;
    for (auto [value, b] : llvm::zip(yield.getOperands(), batched)) {
      FailureOr<Value> v =
          b ? asBatched(value, yield.getLoc()) : FailureOr<Value>(map.lookup(value));
      if (failed(v))
        return failure();
      yielded.push_back(*v);
    }
    scf::YieldOp::create(builder, yield.getLoc(), yielded);
    for (auto [oldResult, newResult, b] :
         llvm::zip(loop.getResults(), newLoop.getResults(), batched)) {
      map.map(oldResult, newResult);
      if (b)
        batchedNew.insert(newResult);
    }
    return success();
  }

  int64_t rows;
  func::FuncOp original;
  BatchedValues &batchedOld;
  OpBuilder builder;
  IRMapping map;
  DenseSet<Value> batchedNew;
};

/// Generalises every named linalg op but fills of constants (the GEMM
/// recogniser and merge-fills look for linalg.fill; a fill of a computed
/// value may be per row and is batched as a generic).
LogicalResult generaliseNamedOps(func::FuncOp func) {
  SmallVector<linalg::LinalgOp> named;
  func.walk([&](linalg::LinalgOp op) {
    if (isa<linalg::GenericOp>(op.getOperation()))
      return;
    if (auto fill = dyn_cast<linalg::FillOp>(op.getOperation());
        fill && fill.getDpsInputs()[0].getDefiningOp<arith::ConstantOp>())
      return;
    named.push_back(op);
  });
  IRRewriter rewriter(func.getContext());
  for (linalg::LinalgOp op : named) {
    rewriter.setInsertionPoint(op);
    if (failed(linalg::generalizeNamedOp(rewriter, op)))
      return op.emitError("tac-batch-rows: cannot generalise this op");
  }
  return success();
}

/// Multiplies the per-row quantities of `tac.cost` by the row count.
void scaleCost(func::FuncOp func, int64_t rows) {
  auto cost = func->getAttrOfType<CostAttr>(TacDialect::kCostAttrName);
  if (!cost)
    return;
  func->setAttr(TacDialect::kCostAttrName,
                CostAttr::get(func.getContext(), cost.getFlops() * rows,
                              cost.getBytesMoved() * rows,
                              cost.getParamBytes(),
                              cost.getPeakActivationBytes() * rows,
                              cost.getNaiveActivationBytes() * rows));
}

struct BatchRows : mlir::tac::impl::TacBatchRowsBase<BatchRows> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp controller;
    SmallVector<func::FuncOp> functions; // variants, or the static function
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isPrivate() || func.isExternal() || func->hasAttr(TacDialect::kBatchAttrName))
        continue;
      auto role = func->getAttrOfType<StringAttr>(TacDialect::kRoleAttrName);
      if (role && role.getValue() == "controller")
        controller = func;
      else
        functions.push_back(func);
    }
    for (int64_t rows : sizes) {
      if (rows <= 1) {
        module.emitError("tac-batch-rows: batch size ")
            << rows << " must be greater than 1 (batch 1 is the model itself)";
        return signalPassFailure();
      }
      if (failed(batchAll(controller, functions, rows)))
        return signalPassFailure();
    }
  }

  LogicalResult batchAll(func::FuncOp controller,
                         ArrayRef<func::FuncOp> functions, int64_t rows) {
    // Which carried controller results hold one value per row.
    SmallVector<bool> carriedBatched;
    unsigned carried = 0;
    if (controller) {
      if (auto attr =
              controller->getAttrOfType<IntegerAttr>(TacDialect::kCarriedResultsAttrName))
        carried = attr.getInt();
      unsigned own = controller.getNumResults() - carried;
      SmallVector<bool> must(controller.getNumResults(), false);
      std::fill(must.begin(), must.begin() + own, true);
      SmallVector<bool> batchedResults;
      FailureOr<func::FuncOp> copy = batchOne(
          controller, SmallVector<bool>(controller.getNumArguments(), true),
          must, rows, batchedResults);
      if (failed(copy))
        return failure();
      carriedBatched.assign(batchedResults.begin() + own, batchedResults.end());
      SmallVector<int64_t> shared;
      for (auto [j, b] : llvm::enumerate(carriedBatched))
        if (!b)
          shared.push_back(j);
      (*copy)->setAttr(TacDialect::kSharedCarriedAttrName,
                       DenseI64ArrayAttr::get(&getContext(), shared));
    }
    for (func::FuncOp func : functions) {
      unsigned numArgs = func.getNumArguments();
      unsigned fromController =
          controller && func->hasAttr(TacDialect::kPathAttrName) ? carried : 0;
      SmallVector<bool> batchedArgs(numArgs, true);
      for (unsigned j = 0; j < fromController; ++j)
        batchedArgs[numArgs - fromController + j] = carriedBatched[j];
      SmallVector<bool> batchedResults;
      if (failed(batchOne(func, batchedArgs,
                          SmallVector<bool>(func.getNumResults(), true), rows,
                          batchedResults)))
        return failure();
    }
    return success();
  }

  FailureOr<func::FuncOp> batchOne(func::FuncOp func,
                                   ArrayRef<bool> batchedArgs,
                                   ArrayRef<bool> mustBatchResult,
                                   int64_t rows,
                                   SmallVectorImpl<bool> &batchedResults) {
    // Work on a generalised copy; the original stays as the batch-1 plan.
    auto source = cast<func::FuncOp>(func->clone());
    auto erase = llvm::make_scope_exit([&] { source.erase(); });
    func->getBlock()->getOperations().insert(Block::iterator(func), source);
    source.setPrivate();
    if (failed(generaliseNamedOps(source)))
      return failure();
    BatchedValues batched;
    for (auto [arg, b] :
         llvm::zip(source.getBody().front().getArguments(), batchedArgs))
      if (b)
        batched.markArgument(arg);
    batched.analyse(source.getBody().front());
    Batcher batcher(rows, source, batched);
    FailureOr<func::FuncOp> copy =
        batcher.build(batchedArgs, mustBatchResult, batchedResults);
    if (failed(copy))
      return failure();
    (*copy).setSymName((func.getSymName() + "_b" + Twine(rows)).str());
    (*copy).setVisibility(func.getVisibility());
    (*copy)->setAttr(TacDialect::kBatchAttrName, IntegerAttr::get(
                                      IntegerType::get(&getContext(), 64), rows));
    scaleCost(*copy, rows);
    ++numBatched;
    return copy;
  }
};

} // namespace
