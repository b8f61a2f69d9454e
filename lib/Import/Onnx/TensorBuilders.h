//===- TensorBuilders.h - linalg/tensor building blocks ---------*- C++ -*-===//
//
// Internal to the ONNX importer: the few shapes of IR most ONNX ops reduce
// to. Elementwise ops with NumPy broadcasting become one linalg.generic;
// reductions linalg.reduce; reshapes collapse/expand_shape.
//
//===----------------------------------------------------------------------===//

#ifndef TAC_LIB_IMPORT_ONNX_TENSORBUILDERS_H
#define TAC_LIB_IMPORT_ONNX_TENSORBUILDERS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <optional>
#include <string>

namespace mlir::tac::onnx_import {

/// `[2, 3]`: a static shape as error messages print it.
std::string formatShape(ArrayRef<int64_t> shape);

/// NumPy broadcast of `shapes`; nullopt if they are incompatible.
std::optional<SmallVector<int64_t>>
broadcastShapes(ArrayRef<ArrayRef<int64_t>> shapes);

/// tensor.empty of the given shape.
Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                  Type elementType);
/// A scalar attribute of `elementType` holding `value` (integers truncate).
TypedAttr scalarAttr(Type elementType, double value);
/// arith.constant of a scalar.
Value scalarConstant(OpBuilder &b, Location loc, Type elementType,
                     double value);
/// A tensor of `shape` filled with `value` (linalg.fill).
Value filledTensor(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                   Type elementType, double value);

/// The map from an iteration space of shape `outShape` to an operand of
/// shape `inShape` aligned to its trailing dimensions (NumPy broadcasting):
/// a size-1 dimension broadcast to a larger one reads index 0.
AffineMap broadcastMap(MLIRContext *ctx, ArrayRef<int64_t> inShape,
                       ArrayRef<int64_t> outShape);

/// Converts one scalar between element types with ONNX Cast semantics
/// (signedness from the ONNX types; to i1: x != 0).
Value castElement(OpBuilder &b, Location l, Value x, bool fromUnsigned,
                  Type to, bool toUnsigned);

using ScalarFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;
/// One linalg.generic over `shape` applying `fn` to the elements of
/// `inputs`, each broadcast (NumPy rules) to `shape`.
Value buildElementwise(OpBuilder &b, Location loc, ValueRange inputs,
                       ArrayRef<int64_t> shape, Type resultElementType,
                       ScalarFn fn);

/// One all-parallel linalg.generic over `shape` reading `inputs` through
/// `inputMaps` (one per input) and applying `fn` to their elements.
Value buildParallel(OpBuilder &b, Location loc, ValueRange inputs,
                    ArrayRef<AffineMap> inputMaps, ArrayRef<int64_t> shape,
                    Type resultElementType, ScalarFn fn);

/// Reshapes a static tensor to `shape` (same element count) with
/// tensor.collapse_shape / tensor.expand_shape.
Value reshapeTo(OpBuilder &b, Location loc, Value value,
                ArrayRef<int64_t> shape);

using CombineFn = function_ref<Value(OpBuilder &, Location, Value element,
                                     Value accumulator)>;
/// linalg.reduce of `input` over `axes` (sorted, unique) from `init`; the
/// result drops the reduced dimensions.
Value buildReduce(OpBuilder &b, Location loc, Value input,
                  ArrayRef<int64_t> axes, TypedAttr init, CombineFn combine);

/// Re-inserts size-1 dimensions at `axes` (sorted) of a reduced tensor.
Value keepReducedDims(OpBuilder &b, Location loc, Value reduced,
                      ArrayRef<int64_t> inputShape, ArrayRef<int64_t> axes);

/// linalg.transpose by `permutation`.
Value transposeTensor(OpBuilder &b, Location loc, Value value,
                      ArrayRef<int64_t> permutation);

/// `values` (same element type and rank, equal outside `axis`) joined along
/// `axis`: a tensor.empty filled by one tensor.insert_slice per non-empty
/// value.
Value concatTensors(OpBuilder &b, Location loc, ValueRange values,
                    int64_t axis);

} // namespace mlir::tac::onnx_import

#endif // TAC_LIB_IMPORT_ONNX_TENSORBUILDERS_H
