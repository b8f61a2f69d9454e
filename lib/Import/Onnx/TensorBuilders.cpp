//===- TensorBuilders.cpp - linalg/tensor building blocks -----------------===//

#include "TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"

using namespace mlir;
using namespace mlir::tac::onnx_import;

std::optional<SmallVector<int64_t>>
mlir::tac::onnx_import::broadcastShapes(ArrayRef<ArrayRef<int64_t>> shapes) {
  size_t rank = 0;
  for (ArrayRef<int64_t> shape : shapes)
    rank = std::max(rank, shape.size());
  SmallVector<int64_t> result(rank, 1);
  for (ArrayRef<int64_t> shape : shapes) {
    size_t offset = rank - shape.size();
    for (auto [i, d] : llvm::enumerate(shape)) {
      int64_t &r = result[offset + i];
      if (d == r || d == 1)
        continue;
      if (r != 1)
        return std::nullopt;
      r = d;
    }
  }
  return result;
}

Value mlir::tac::onnx_import::emptyTensor(OpBuilder &b, Location loc,
                                          ArrayRef<int64_t> shape,
                                          Type elementType) {
  return tensor::EmptyOp::create(b, loc, shape, elementType);
}

TypedAttr mlir::tac::onnx_import::scalarAttr(Type elementType, double value) {
  if (auto floatType = dyn_cast<FloatType>(elementType))
    return FloatAttr::get(floatType, value);
  if (elementType.isInteger(1))
    return IntegerAttr::get(elementType, value != 0.0);
  return IntegerAttr::get(elementType, static_cast<int64_t>(value));
}

Value mlir::tac::onnx_import::scalarConstant(OpBuilder &b, Location loc,
                                             Type elementType, double value) {
  return arith::ConstantOp::create(b, loc, scalarAttr(elementType, value));
}

Value mlir::tac::onnx_import::filledTensor(OpBuilder &b, Location loc,
                                           ArrayRef<int64_t> shape,
                                           Type elementType, double value) {
  Value init = emptyTensor(b, loc, shape, elementType);
  Value scalar = scalarConstant(b, loc, elementType, value);
  return linalg::FillOp::create(b, loc, scalar, init).getResult(0);
}

Value mlir::tac::onnx_import::buildElementwise(OpBuilder &b, Location loc,
                                               ValueRange inputs,
                                               ArrayRef<int64_t> shape,
                                               Type resultElementType,
                                               ScalarFn fn) {
  MLIRContext *ctx = b.getContext();
  int64_t rank = shape.size();
  SmallVector<AffineMap> maps;
  for (Value input : inputs) {
    ArrayRef<int64_t> inShape = cast<RankedTensorType>(input.getType()).getShape();
    int64_t offset = rank - static_cast<int64_t>(inShape.size());
    SmallVector<AffineExpr> exprs;
    for (auto [i, d] : llvm::enumerate(inShape)) {
      int64_t outDim = offset + i;
      // A size-1 dimension broadcast to a larger one reads index 0.
      exprs.push_back(d == 1 && shape[outDim] != 1
                          ? getAffineConstantExpr(0, ctx)
                          : getAffineDimExpr(outDim, ctx));
    }
    maps.push_back(AffineMap::get(rank, 0, exprs, ctx));
  }
  return buildParallel(b, loc, inputs, maps, shape, resultElementType, fn);
}

Value mlir::tac::onnx_import::buildParallel(OpBuilder &b, Location loc,
                                            ValueRange inputs,
                                            ArrayRef<AffineMap> inputMaps,
                                            ArrayRef<int64_t> shape,
                                            Type resultElementType,
                                            ScalarFn fn) {
  int64_t rank = shape.size();
  SmallVector<AffineMap> maps(inputMaps);
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, b.getContext()));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  Value init = emptyTensor(b, loc, shape, resultElementType);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value result = fn(nested, nestedLoc, args.drop_back());
        linalg::YieldOp::create(nested, nestedLoc, result);
      });
  return generic.getResult(0);
}

Value mlir::tac::onnx_import::reshapeTo(OpBuilder &b, Location loc,
                                        Value value, ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getShape() == shape)
    return value;
  auto target = RankedTensorType::get(shape, type.getElementType());
  if (target.getRank() < type.getRank())
    if (auto reassociation = getReassociationIndicesForReshape(type, target))
      return tensor::CollapseShapeOp::create(b, loc, target, value,
                                             *reassociation);
  if (target.getRank() > type.getRank())
    if (auto reassociation = getReassociationIndicesForReshape(target, type))
      return tensor::ExpandShapeOp::create(b, loc, target, value,
                                           *reassociation);
  // General case: through a 1-D tensor (a 0-D tensor collapses/expands with
  // an empty reassociation).
  int64_t count = type.getNumElements();
  auto flat = RankedTensorType::get({count}, type.getElementType());
  Value flatValue = value;
  if (type.getRank() == 0) {
    flatValue = tensor::ExpandShapeOp::create(
        b, loc, flat, value, SmallVector<ReassociationIndices>{});
  } else if (type.getRank() != 1) {
    ReassociationIndices all = llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()));
    flatValue = tensor::CollapseShapeOp::create(
        b, loc, flat, value, SmallVector<ReassociationIndices>{all});
  }
  if (target.getRank() == 0)
    return tensor::CollapseShapeOp::create(
        b, loc, target, flatValue, SmallVector<ReassociationIndices>{});
  if (target.getRank() == 1)
    return flatValue;
  ReassociationIndices all = llvm::to_vector(llvm::seq<int64_t>(0, target.getRank()));
  return tensor::ExpandShapeOp::create(b, loc, target, flatValue,
                                       SmallVector<ReassociationIndices>{all});
}

Value mlir::tac::onnx_import::buildReduce(OpBuilder &b, Location loc,
                                          Value input, ArrayRef<int64_t> axes,
                                          TypedAttr init, CombineFn combine) {
  auto type = cast<RankedTensorType>(input.getType());
  SmallVector<int64_t> shape;
  for (auto [i, d] : llvm::enumerate(type.getShape()))
    if (!llvm::is_contained(axes, static_cast<int64_t>(i)))
      shape.push_back(d);
  Value initValue = arith::ConstantOp::create(b, loc, init);
  Value empty = emptyTensor(b, loc, shape, type.getElementType());
  Value filled =
      linalg::FillOp::create(b, loc, initValue, empty).getResult(0);
  auto reduce = linalg::ReduceOp::create(
      b, loc, ValueRange{input}, ValueRange{filled}, axes,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        linalg::YieldOp::create(nested, nestedLoc,
                                combine(nested, nestedLoc, args[0], args[1]));
      });
  return reduce.getResult(0);
}

Value mlir::tac::onnx_import::keepReducedDims(OpBuilder &b, Location loc,
                                              Value reduced,
                                              ArrayRef<int64_t> inputShape,
                                              ArrayRef<int64_t> axes) {
  SmallVector<int64_t> shape(inputShape);
  for (int64_t axis : axes)
    shape[axis] = 1;
  return reshapeTo(b, loc, reduced, shape);
}

Value mlir::tac::onnx_import::transposeTensor(OpBuilder &b, Location loc,
                                              Value value,
                                              ArrayRef<int64_t> permutation) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<int64_t> shape;
  for (int64_t p : permutation)
    shape.push_back(type.getDimSize(p));
  Value init = emptyTensor(b, loc, shape, type.getElementType());
  return linalg::TransposeOp::create(b, loc, value, init, permutation)
      .getResult()[0];
}
