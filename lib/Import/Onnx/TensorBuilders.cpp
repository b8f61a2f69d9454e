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

AffineMap mlir::tac::onnx_import::broadcastMap(MLIRContext *ctx,
                                               ArrayRef<int64_t> inShape,
                                               ArrayRef<int64_t> outShape) {
  int64_t rank = outShape.size();
  int64_t offset = rank - static_cast<int64_t>(inShape.size());
  SmallVector<AffineExpr> exprs;
  for (auto [i, d] : llvm::enumerate(inShape)) {
    int64_t outDim = offset + i;
    exprs.push_back(d == 1 && outShape[outDim] != 1
                        ? getAffineConstantExpr(0, ctx)
                        : getAffineDimExpr(outDim, ctx));
  }
  return AffineMap::get(rank, 0, exprs, ctx);
}

Value mlir::tac::onnx_import::castElement(OpBuilder &b, Location l, Value x,
                                          bool fromUnsigned, Type to,
                                          bool toUnsigned) {
  Type from = x.getType();
  if (from == to)
    return x;
  if (to.isInteger(1)) { // nonzero → true
    Value zero = arith::ConstantOp::create(b, l, b.getZeroAttr(from));
    if (isa<FloatType>(from))
      return arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNE, x, zero);
    return arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, x, zero);
  }
  if (auto toFloat = dyn_cast<FloatType>(to)) {
    if (auto fromFloat = dyn_cast<FloatType>(from)) {
      if (fromFloat.getWidth() < toFloat.getWidth())
        return arith::ExtFOp::create(b, l, to, x);
      return arith::TruncFOp::create(b, l, to, x);
    }
    if (fromUnsigned || from.isInteger(1))
      return arith::UIToFPOp::create(b, l, to, x);
    return arith::SIToFPOp::create(b, l, to, x);
  }
  // to integer
  if (isa<FloatType>(from)) {
    if (toUnsigned)
      return arith::FPToUIOp::create(b, l, to, x);
    return arith::FPToSIOp::create(b, l, to, x);
  }
  unsigned fromWidth = from.getIntOrFloatBitWidth();
  unsigned toWidth = to.getIntOrFloatBitWidth();
  if (fromWidth > toWidth)
    return arith::TruncIOp::create(b, l, to, x);
  if (fromUnsigned || from.isInteger(1))
    return arith::ExtUIOp::create(b, l, to, x);
  return arith::ExtSIOp::create(b, l, to, x);
}

Value mlir::tac::onnx_import::buildElementwise(OpBuilder &b, Location loc,
                                               ValueRange inputs,
                                               ArrayRef<int64_t> shape,
                                               Type resultElementType,
                                               ScalarFn fn) {
  SmallVector<AffineMap> maps;
  for (Value input : inputs)
    maps.push_back(broadcastMap(
        b.getContext(), cast<RankedTensorType>(input.getType()).getShape(),
        shape));
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

std::string mlir::tac::onnx_import::formatShape(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape))
    s += (i ? ", " : "") + std::to_string(d);
  return s + "]";
}

Value mlir::tac::onnx_import::concatTensors(OpBuilder &b, Location loc,
                                            ValueRange values, int64_t axis) {
  auto first = cast<RankedTensorType>(values.front().getType());
  SmallVector<int64_t> shape(first.getShape());
  shape[axis] = 0;
  for (Value v : values)
    shape[axis] += cast<RankedTensorType>(v.getType()).getDimSize(axis);
  Value result = emptyTensor(b, loc, shape, first.getElementType());
  SmallVector<int64_t> offsets(shape.size(), 0), strides(shape.size(), 1);
  for (Value v : values) {
    auto type = cast<RankedTensorType>(v.getType());
    if (type.getNumElements() != 0)
      result = tensor::InsertSliceOp::create(b, loc, v, result, ValueRange{},
                                             ValueRange{}, ValueRange{},
                                             offsets, type.getShape(), strides);
    offsets[axis] += type.getDimSize(axis);
  }
  return result;
}
