//===- NN.cpp - ONNX contractions, normalisations, reductions -------------===//
//
// The compute-heavy ops of a transformer: MatMul and Gemm become
// linalg.matmul / linalg.batch_matmul (a linalg.generic contraction only for
// the broadcasting remainder); Conv a named linalg convolution behind a
// tensor.pad; Softmax and LayerNormalization their numerically stable
// decompositions into linalg.reduce and linalg.generic; ReduceSum/Mean/Max
// linalg.reduce; ArgMax one linalg.generic reduction with a value and an
// index accumulator.
//
//===----------------------------------------------------------------------===//

#include "../ImportState.h"
#include "../TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;
using namespace mlir::tac::onnx_import;
using onnx::TensorProto;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

bool isFloatElement(Type t) { return isa<FloatType>(t); }
bool isIntElement(Type t) { return t.isInteger() && !t.isInteger(1); }

/// The map from a rank-`rank` iteration space to a tensor that lacks the
/// (sorted) dimensions `dropped`, such as a reduction's result.
AffineMap dropDimsMap(MLIRContext *ctx, int64_t rank,
                      ArrayRef<int64_t> dropped) {
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < rank; ++d)
    if (!llvm::is_contained(dropped, d))
      exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(rank, 0, exprs, ctx);
}

Value addScalar(OpBuilder &b, Location l, Value x, Value y) {
  if (isFloatElement(x.getType()))
    return arith::AddFOp::create(b, l, x, y);
  return arith::AddIOp::create(b, l, x, y);
}

Value mulScalar(OpBuilder &b, Location l, Value x, Value y) {
  if (isFloatElement(x.getType()))
    return arith::MulFOp::create(b, l, x, y);
  return arith::MulIOp::create(b, l, x, y);
}

/// The smallest value of an element type: -inf for floats, the minimum
/// integer (0 for unsigned).
TypedAttr lowestAttr(Type element, bool isUnsigned) {
  if (auto f = dyn_cast<FloatType>(element))
    return FloatAttr::get(
        f, APFloat::getInf(f.getFloatSemantics(), /*Negative=*/true));
  unsigned width = element.getIntOrFloatBitWidth();
  return IntegerAttr::get(element, isUnsigned
                                       ? APInt::getZero(width)
                                       : APInt::getSignedMinValue(width));
}

/// Checks that the operands share an element type.
LogicalResult checkSameElementType(NodeContext &n, const OnnxValue &a,
                                   const OnnxValue &b, StringRef what) {
  if (a.getElementType() == b.getElementType())
    return success();
  return n.fail(Twine(what) + " has element type " +
                onnxTypeName(b.onnxType) + " but input #0 has " +
                onnxTypeName(a.onnxType) + "; ONNX requires them to match");
}

/// Reports element types an op does not accept.
LogicalResult checkElement(NodeContext &n, const OnnxValue &v, bool allowInt,
                           StringRef what = "input #0") {
  Type t = v.getElementType();
  if (isFloatElement(t) || (allowInt && isIntElement(t)))
    return success();
  return n.fail(Twine(what) + " has element type " + onnxTypeName(v.onnxType) +
                "; this op takes " +
                (allowInt ? "float or integer" : "float") + " tensors");
}

/// The node's first inputs, floating-point and all of input #0's element
/// type; `names` says what each is called in messages ("K (input #1)").
FailureOr<SmallVector<OnnxValue>> sameFloatInputs(NodeContext &n,
                                                  ArrayRef<StringRef> names) {
  SmallVector<OnnxValue> values;
  for (size_t i = 0; i < names.size(); ++i) {
    FailureOr<OnnxValue> v = n.input(i);
    if (failed(v) ||
        (i == 0 ? failed(checkElement(n, *v, /*allowInt=*/false))
                : failed(checkSameElementType(n, values[0], *v, names[i]))))
      return failure();
    values.push_back(*v);
  }
  return values;
}

//===----------------------------------------------------------------------===//
// MatMul
//===----------------------------------------------------------------------===//

/// batch + [M, K] x batchB + [K, N] with NumPy batch broadcasting, as one
/// linalg.generic contraction.
Value buildBroadcastContraction(OpBuilder &b, Location loc, Value lhs,
                                Value rhs, ArrayRef<int64_t> batch, int64_t m,
                                int64_t n) {
  MLIRContext *ctx = b.getContext();
  auto lhsShape = cast<RankedTensorType>(lhs.getType()).getShape();
  auto rhsShape = cast<RankedTensorType>(rhs.getType()).getShape();
  int64_t nb = batch.size();
  int64_t rank = nb + 3; // batch..., m, n, k
  AffineExpr dm = getAffineDimExpr(nb, ctx), dn = getAffineDimExpr(nb + 1, ctx),
             dk = getAffineDimExpr(nb + 2, ctx);
  auto operandMap = [&](ArrayRef<int64_t> shape, AffineExpr r, AffineExpr c) {
    ArrayRef<int64_t> opBatch = shape.drop_back(2);
    // Batch dimensions keep their positions in the iteration space.
    SmallVector<AffineExpr> exprs(
        broadcastMap(ctx, opBatch, batch).getResults());
    exprs.push_back(r);
    exprs.push_back(c);
    return AffineMap::get(rank, 0, exprs, ctx);
  };
  SmallVector<AffineExpr> outExprs;
  for (int64_t i = 0; i < nb; ++i)
    outExprs.push_back(getAffineDimExpr(i, ctx));
  outExprs.push_back(dm);
  outExprs.push_back(dn);
  SmallVector<AffineMap> maps = {operandMap(lhsShape, dm, dk),
                                 operandMap(rhsShape, dk, dn),
                                 AffineMap::get(rank, 0, outExprs, ctx)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators.back() = utils::IteratorType::reduction;
  SmallVector<int64_t> outShape(batch);
  outShape.push_back(m);
  outShape.push_back(n);
  Type element = cast<RankedTensorType>(lhs.getType()).getElementType();
  Value init = filledTensor(b, loc, outShape, element, 0.0);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{lhs, rhs}, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nested, Location l, ValueRange args) {
        Value p = mulScalar(nested, l, args[0], args[1]);
        linalg::YieldOp::create(nested, l, addScalar(nested, l, args[2], p));
      });
  return generic.getResult(0);
}

/// ONNX MatMul (NumPy matmul) of two operands of rank >= 1.
FailureOr<Value> buildMatMul(NodeContext &n, const OnnxValue &lhsIn,
                             const OnnxValue &rhsIn) {
  OpBuilder &b = n.builder;
  Location loc = n.loc;
  if (lhsIn.getRank() == 0 || rhsIn.getRank() == 0)
    return n.fail("operands must have rank >= 1, but A is " +
                  formatShape(lhsIn.getShape()) + " and B is " +
                  formatShape(rhsIn.getShape()));
  Value lhs = lhsIn.value, rhs = rhsIn.value;
  // A 1-D operand is promoted to a matrix, and the added dimension removed
  // from the result.
  bool squeezeM = lhsIn.getRank() == 1, squeezeN = rhsIn.getRank() == 1;
  if (squeezeM)
    lhs = reshapeTo(b, loc, lhs, {1, lhsIn.getShape()[0]});
  if (squeezeN)
    rhs = reshapeTo(b, loc, rhs, {rhsIn.getShape()[0], 1});
  auto lhsShape = cast<RankedTensorType>(lhs.getType()).getShape();
  auto rhsShape = cast<RankedTensorType>(rhs.getType()).getShape();
  int64_t m = lhsShape[lhsShape.size() - 2], k = lhsShape.back();
  int64_t k2 = rhsShape[rhsShape.size() - 2], nn = rhsShape.back();
  if (k != k2)
    return n.fail("contraction dimensions differ: A " +
                  formatShape(lhsIn.getShape()) + " has K = " +
                  std::to_string(k) + " but B " +
                  formatShape(rhsIn.getShape()) + " has K = " +
                  std::to_string(k2));
  ArrayRef<int64_t> batchA = lhsShape.drop_back(2),
                    batchB = rhsShape.drop_back(2);
  std::optional<SmallVector<int64_t>> batch =
      broadcastShapes({batchA, batchB});
  if (!batch)
    return n.fail("batch dimensions do not broadcast: A " +
                  formatShape(lhsIn.getShape()) + ", B " +
                  formatShape(rhsIn.getShape()));
  SmallVector<int64_t> resultShape(*batch);
  resultShape.push_back(m);
  resultShape.push_back(nn);
  Type element = lhsIn.getElementType();

  // Size-1 batch dimensions do not change the memory layout, so the
  // element counts decide: B without batch → one matmul over A's rows; both
  // holding the full batch → one batch_matmul; otherwise (a real broadcast)
  // a linalg.generic contraction.
  int64_t countA = ShapedType::getNumElements(batchA), countB = ShapedType::getNumElements(batchB),
          count = ShapedType::getNumElements(*batch);
  Value result;
  if (countB == 1) {
    // [..., M, K] x [K, N] (the transformer weight case): fold A's batch
    // dimensions into its rows.
    Value lhs2 = reshapeTo(b, loc, lhs, {countA * m, k});
    Value rhs2 = reshapeTo(b, loc, rhs, {k, nn});
    Value init = filledTensor(b, loc, {countA * m, nn}, element, 0.0);
    Value mm = linalg::MatmulOp::create(b, loc, TypeRange{init.getType()},
                                        ValueRange{lhs2, rhs2},
                                        ValueRange{init})
                   .getResult(0);
    result = reshapeTo(b, loc, mm, resultShape);
  } else if (countA == count && countB == count) {
    // Equal batch dimensions (attention): one batch dimension.
    Value lhs3 = reshapeTo(b, loc, lhs, {count, m, k});
    Value rhs3 = reshapeTo(b, loc, rhs, {count, k, nn});
    Value init = filledTensor(b, loc, {count, m, nn}, element, 0.0);
    Value bmm = linalg::BatchMatmulOp::create(b, loc, TypeRange{init.getType()},
                                              ValueRange{lhs3, rhs3},
                                              ValueRange{init})
                    .getResult(0);
    result = reshapeTo(b, loc, bmm, resultShape);
  } else {
    result = buildBroadcastContraction(b, loc, lhs, rhs, *batch, m, nn);
  }

  SmallVector<int64_t> finalShape(*batch);
  if (!squeezeM)
    finalShape.push_back(m);
  if (!squeezeN)
    finalShape.push_back(nn);
  return reshapeTo(b, loc, result, finalShape);
}

LogicalResult importMatMul(NodeContext &n) {
  FailureOr<OnnxValue> a = n.input(0), bIn = n.input(1);
  if (failed(a) || failed(bIn))
    return failure();
  if (failed(checkElement(n, *a, /*allowInt=*/true)) ||
      failed(checkSameElementType(n, *a, *bIn, "input #1")))
    return failure();
  FailureOr<Value> result = buildMatMul(n, *a, *bIn);
  if (failed(result))
    return failure();
  n.setOutput(0, *result, a->onnxType);
  return success();
}

//===----------------------------------------------------------------------===//
// Gemm
//===----------------------------------------------------------------------===//

LogicalResult importGemm(NodeContext &n) {
  OpBuilder &b = n.builder;
  Location loc = n.loc;
  FailureOr<OnnxValue> a = n.input(0), bIn = n.input(1);
  if (failed(a) || failed(bIn))
    return failure();
  if (failed(checkElement(n, *a, /*allowInt=*/true)) ||
      failed(checkSameElementType(n, *a, *bIn, "input #1")))
    return failure();
  if (a->getRank() != 2 || bIn->getRank() != 2)
    return n.fail("expects 2-D A and B, but A is " +
                  formatShape(a->getShape()) + " and B is " +
                  formatShape(bIn->getShape()));
  bool transA = n.intAttr("transA", 0) != 0;
  bool transB = n.intAttr("transB", 0) != 0;
  float alpha = n.floatAttr("alpha", 1.0f), beta = n.floatAttr("beta", 1.0f);
  Type element = a->getElementType();
  if (isIntElement(element) &&
      (alpha != std::floor(alpha) || beta != std::floor(beta)))
    return n.fail("alpha " + std::to_string(alpha) + " and beta " +
                  std::to_string(beta) +
                  " must be integral for integer element type " +
                  onnxTypeName(a->onnxType));

  Value lhs = a->value, rhs = bIn->value;
  if (transA)
    lhs = transposeTensor(b, loc, lhs, {1, 0});
  if (transB)
    rhs = transposeTensor(b, loc, rhs, {1, 0});
  auto lhsShape = cast<RankedTensorType>(lhs.getType()).getShape();
  auto rhsShape = cast<RankedTensorType>(rhs.getType()).getShape();
  int64_t m = lhsShape[0], k = lhsShape[1], k2 = rhsShape[0],
          nn = rhsShape[1];
  if (k != k2)
    return n.fail("contraction dimensions differ: op(A) is " +
                  formatShape(lhsShape) + " and op(B) is " +
                  formatShape(rhsShape) + " (transA = " +
                  std::to_string(transA) + ", transB = " +
                  std::to_string(transB) + ")");

  std::optional<OnnxValue> c;
  if (n.hasInput(2)) {
    FailureOr<OnnxValue> cIn = n.input(2);
    if (failed(cIn) || failed(checkSameElementType(n, *a, *cIn, "input #2")))
      return failure();
    std::optional<SmallVector<int64_t>> shape =
        broadcastShapes({ArrayRef<int64_t>{m, nn}, cIn->getShape()});
    if (cIn->getRank() > 2 || !shape ||
        *shape != ArrayRef<int64_t>{m, nn})
      return n.fail("C " + formatShape(cIn->getShape()) +
                    " does not broadcast to the result shape " +
                    formatShape({m, nn}));
    c = *cIn;
  }

  Value init = filledTensor(b, loc, {m, nn}, element, 0.0);
  Value result = linalg::MatmulOp::create(b, loc, TypeRange{init.getType()},
                                          ValueRange{lhs, rhs},
                                          ValueRange{init})
                     .getResult(0);
  if (alpha != 1.0f || c) {
    SmallVector<Value> inputs = {result};
    SmallVector<AffineMap> maps = {
        AffineMap::getMultiDimIdentityMap(2, n.getContext())};
    if (c) {
      inputs.push_back(c->value);
      maps.push_back(broadcastMap(n.getContext(), c->getShape(), {m, nn}));
    }
    result = buildParallel(
        b, loc, inputs, maps, {m, nn}, element,
        [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
          Value v = args[0];
          if (alpha != 1.0f)
            v = mulScalar(nb, l, scalarConstant(nb, l, element, alpha), v);
          if (args.size() > 1) {
            Value cv = args[1];
            if (beta != 1.0f)
              cv = mulScalar(nb, l, scalarConstant(nb, l, element, beta), cv);
            v = addScalar(nb, l, v, cv);
          }
          return v;
        });
  }
  n.setOutput(0, result, a->onnxType);
  return success();
}

//===----------------------------------------------------------------------===//
// Softmax
//===----------------------------------------------------------------------===//

/// Softmax of `x` over `axis`: max `linalg.reduce`, exp(x - max), sum
/// `linalg.reduce`, divide. With `maskedRowsToZero`, a row that is all -inf
/// (Attention's fully masked query) gives zeros instead of NaN: its max is
/// taken as 0 and an empty sum as 1.
Value buildSoftmax(OpBuilder &b, Location loc, Value x, int64_t axis,
                   bool maskedRowsToZero = false) {
  auto type = cast<RankedTensorType>(x.getType());
  ArrayRef<int64_t> shape = type.getShape();
  Type element = type.getElementType();
  MLIRContext *ctx = b.getContext();
  int64_t rank = type.getRank();
  SmallVector<int64_t> axes = {axis};
  AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap reduced = dropDimsMap(ctx, rank, axes);
  TypedAttr lowest = lowestAttr(element, false);

  Value max = buildReduce(b, loc, x, axes, lowest,
                          [](OpBuilder &nb, Location l, Value e, Value acc) {
                            return arith::MaximumFOp::create(nb, l, e, acc);
                          });
  Value exp = buildParallel(
      b, loc, ValueRange{x, max}, {identity, reduced}, shape, element,
      [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
        Value m = args[1];
        if (maskedRowsToZero) {
          Value isLowest = arith::CmpFOp::create(
              nb, l, arith::CmpFPredicate::OEQ, m,
              arith::ConstantOp::create(nb, l, lowest));
          m = arith::SelectOp::create(nb, l, isLowest,
                                      scalarConstant(nb, l, element, 0.0), m);
        }
        Value d = arith::SubFOp::create(nb, l, args[0], m);
        return math::ExpOp::create(nb, l, d);
      });
  Value sum = buildReduce(b, loc, exp, axes, scalarAttr(element, 0.0),
                          [](OpBuilder &nb, Location l, Value e, Value acc) {
                            return arith::AddFOp::create(nb, l, e, acc);
                          });
  return buildParallel(
      b, loc, ValueRange{exp, sum}, {identity, reduced}, shape, element,
      [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
        Value s = args[1];
        if (maskedRowsToZero) {
          Value zero = scalarConstant(nb, l, element, 0.0);
          Value isZero = arith::CmpFOp::create(
              nb, l, arith::CmpFPredicate::OEQ, s, zero);
          s = arith::SelectOp::create(
              nb, l, isZero, scalarConstant(nb, l, element, 1.0), s);
        }
        return arith::DivFOp::create(nb, l, args[0], s);
      });
}

LogicalResult importSoftmax(NodeContext &n) {
  FailureOr<OnnxValue> x = n.input(0);
  if (failed(x) || failed(checkElement(n, *x, /*allowInt=*/false)))
    return failure();
  if (x->getRank() == 0)
    return n.fail("expects an input of rank >= 1, but it is a scalar");
  FailureOr<int64_t> axis =
      n.normalizeAxis(n.intAttr("axis", -1), x->getRank());
  if (failed(axis))
    return failure();
  n.setOutput(0, buildSoftmax(n.builder, n.loc, x->value, *axis), x->onnxType);
  return success();
}

//===----------------------------------------------------------------------===//
// LayerNormalization, RMSNormalization
//===----------------------------------------------------------------------===//

/// `x` converted to element type `to` (float to float), or `x` itself.
Value castTensor(OpBuilder &b, Location loc, Value x, Type to) {
  auto type = cast<RankedTensorType>(x.getType());
  if (type.getElementType() == to)
    return x;
  return buildElementwise(b, loc, ValueRange{x}, type.getShape(), to,
                          [&](OpBuilder &nb, Location l, ValueRange args) {
                            return castElement(nb, l, args[0], false, to,
                                               false);
                          });
}

/// The statistics normalisations share, over the dimensions of `xc` from
/// `axis` on: the mean (null with `rms`), `xc - mean` (`xc` itself with
/// `rms`) and 1 / sqrt(mean of squares of that + epsilon); the mean and
/// the inverse deviation have `xc`'s leading `axis` dimensions.
struct Moments {
  Value mean, centered, invStdDev;
};
Moments buildMoments(OpBuilder &b, Location loc, Value xc, int64_t axis,
                     double epsilon, bool rms) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(xc.getType());
  ArrayRef<int64_t> shape = type.getShape();
  Type compute = type.getElementType();
  int64_t rank = type.getRank();
  SmallVector<int64_t> axes = llvm::to_vector(llvm::seq<int64_t>(axis, rank));
  SmallVector<int64_t> outer(shape.take_front(axis));
  double count =
      static_cast<double>(ShapedType::getNumElements(shape.drop_front(axis)));
  AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap reduced = dropDimsMap(ctx, rank, axes);
  AffineMap outerIdentity = AffineMap::getMultiDimIdentityMap(axis, ctx);
  auto add = [](OpBuilder &nb, Location l, Value e, Value acc) -> Value {
    return arith::AddFOp::create(nb, l, e, acc);
  };
  Moments m;
  m.centered = xc;
  if (!rms) {
    Value sum = buildReduce(b, loc, xc, axes, scalarAttr(compute, 0.0), add);
    m.mean = buildParallel(
        b, loc, ValueRange{sum}, {outerIdentity}, outer, compute,
        [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
          return arith::DivFOp::create(nb, l, args[0],
                                       scalarConstant(nb, l, compute, count));
        });
    m.centered = buildParallel(
        b, loc, ValueRange{xc, m.mean}, {identity, reduced}, shape, compute,
        [](OpBuilder &nb, Location l, ValueRange args) -> Value {
          return arith::SubFOp::create(nb, l, args[0], args[1]);
        });
  }
  Value squares = buildReduce(
      b, loc, m.centered, axes, scalarAttr(compute, 0.0),
      [](OpBuilder &nb, Location l, Value e, Value acc) -> Value {
        Value sq = arith::MulFOp::create(nb, l, e, e);
        return arith::AddFOp::create(nb, l, sq, acc);
      });
  m.invStdDev = buildParallel(
      b, loc, ValueRange{squares}, {outerIdentity}, outer, compute,
      [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
        Value var = arith::DivFOp::create(
            nb, l, args[0], scalarConstant(nb, l, compute, count));
        Value shifted = arith::AddFOp::create(
            nb, l, var, scalarConstant(nb, l, compute, epsilon));
        Value std = math::SqrtOp::create(nb, l, shifted);
        return arith::DivFOp::create(nb, l, scalarConstant(nb, l, compute, 1.0),
                                     std);
      });
  return m;
}

/// LayerNormalization (17), or with `rms` RMSNormalization (23): the same
/// reductions over the axes from `axis` on, without the mean (and bias).
LogicalResult importNormalization(NodeContext &n, bool rms) {
  OpBuilder &b = n.builder;
  Location loc = n.loc;
  MLIRContext *ctx = n.getContext();
  FailureOr<OnnxValue> x = n.input(0), scale = n.input(1);
  if (failed(x) || failed(scale) ||
      failed(checkElement(n, *x, /*allowInt=*/false)) ||
      failed(checkSameElementType(n, *x, *scale, "Scale (input #1)")))
    return failure();
  int64_t rank = x->getRank();
  if (rank == 0)
    return n.fail("expects an input of rank >= 1, but it is a scalar");
  FailureOr<int64_t> axis = n.normalizeAxis(n.intAttr("axis", -1), rank);
  if (failed(axis))
    return failure();
  ArrayRef<int64_t> shape = x->getShape();
  auto checkOperand = [&](const OnnxValue &v, StringRef what) {
    std::optional<SmallVector<int64_t>> s =
        broadcastShapes({shape, v.getShape()});
    if (!s || *s != shape)
      return n.fail(Twine(what) + " " + formatShape(v.getShape()) +
                    " does not broadcast to the input shape " +
                    formatShape(shape));
    return success();
  };
  if (failed(checkOperand(*scale, "Scale")))
    return failure();
  std::optional<OnnxValue> bias;
  if (rms && n.numInputs() > 2)
    return n.fail("takes 2 inputs (X, scale), but the node has " +
                  Twine(n.numInputs()));
  if (n.hasInput(2)) {
    FailureOr<OnnxValue> bIn = n.input(2);
    if (failed(bIn) ||
        failed(checkSameElementType(n, *x, *bIn, "B (input #2)")) ||
        failed(checkOperand(*bIn, "B")))
      return failure();
    bias = *bIn;
  }
  int32_t stashOnnx = static_cast<int32_t>(n.intAttr("stash_type", 1));
  FailureOr<Type> stash = convertElementType(stashOnnx, ctx);
  if (failed(stash) || !isFloatElement(*stash))
    return n.fail("stash_type " + std::to_string(stashOnnx) + " (" +
                  onnxTypeName(stashOnnx) + ") is not a float type");
  double epsilon = n.floatAttr("epsilon", 1e-5f);

  Type element = x->getElementType(), compute = *stash;
  SmallVector<int64_t> axes =
      llvm::to_vector(llvm::seq<int64_t>(*axis, rank));
  AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap reduced = dropDimsMap(ctx, rank, axes);
  Value xc = castTensor(b, loc, x->value, compute);
  Moments moments = buildMoments(b, loc, xc, *axis, epsilon, rms);
  Value mean = moments.mean, centered = moments.centered,
        invStdDev = moments.invStdDev;

  SmallVector<Value> inputs = {centered, invStdDev, scale->value};
  SmallVector<AffineMap> maps = {identity, reduced,
                                 broadcastMap(ctx, scale->getShape(), shape)};
  if (bias) {
    inputs.push_back(bias->value);
    maps.push_back(broadcastMap(ctx, bias->getShape(), shape));
  }
  Value y = buildParallel(
      b, loc, inputs, maps, shape, element,
      [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
        Value normalized = arith::MulFOp::create(nb, l, args[0], args[1]);
        Value v = castElement(nb, l, normalized, false, element, false);
        v = arith::MulFOp::create(nb, l, v, args[2]);
        if (args.size() > 3)
          v = arith::AddFOp::create(nb, l, v, args[3]);
        return v;
      });
  n.setOutput(0, y, x->onnxType);
  if (rms)
    return success();
  int32_t stashType = onnxTypeOf(compute);
  if (n.hasOutput(1))
    n.setOutput(1, keepReducedDims(b, loc, mean, shape, axes), stashType);
  if (n.hasOutput(2))
    n.setOutput(2, keepReducedDims(b, loc, invStdDev, shape, axes), stashType);
  return success();
}

//===----------------------------------------------------------------------===//
// ReduceSum, ReduceMean, ReduceMax
//===----------------------------------------------------------------------===//

enum class ReduceKind { Sum, Mean, Max };

LogicalResult importReduce(NodeContext &n, ReduceKind kind) {
  OpBuilder &b = n.builder;
  Location loc = n.loc;
  FailureOr<OnnxValue> x = n.input(0);
  if (failed(x))
    return failure();
  // ReduceMax takes BOOL from op version 20 (the maximum is a logical or).
  bool isBool = x->getElementType().isInteger(1);
  if (!(isBool && kind == ReduceKind::Max && n.sinceVersion >= 20) &&
      failed(checkElement(n, *x, /*allowInt=*/true)))
    return failure();
  int64_t rank = x->getRank();
  // Opset 13 moved ReduceSum's axes to an input; the others follow at 18.
  bool axesFromInput = kind == ReduceKind::Sum || n.sinceVersion >= 18;
  if (axesFromInput && n.attr("axes"))
    return n.fail("takes axes as input #1 at op version " +
                  std::to_string(n.sinceVersion) +
                  ", but the node has an 'axes' attribute");
  if (!axesFromInput && n.numInputs() > 1)
    return n.fail("takes axes as an attribute at op version " +
                  std::to_string(n.sinceVersion) + ", but the node has " +
                  std::to_string(n.numInputs()) + " inputs");
  SmallVector<int64_t> rawAxes;
  if (axesFromInput) {
    if (n.hasInput(1)) {
      FailureOr<SmallVector<int64_t>> known = n.knownIntsInput(1, "axes");
      if (failed(known))
        return failure();
      rawAxes = *known;
    }
  } else if (std::optional<SmallVector<int64_t>> attr = n.intsAttr("axes")) {
    rawAxes = *attr;
  }
  bool keepdims = n.intAttr("keepdims", 1) != 0;
  if (rawAxes.empty() && axesFromInput &&
      n.intAttr("noop_with_empty_axes", 0) != 0) {
    // The identity.
    if (x->known)
      n.setKnownOutput(0, x->known, x->onnxType);
    else
      n.setOutput(0, x->value, x->onnxType);
    return success();
  }
  SmallVector<int64_t> axes;
  if (rawAxes.empty()) {
    axes = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  } else {
    for (int64_t a : rawAxes) {
      FailureOr<int64_t> axis = n.normalizeAxis(a, rank, "axes entry");
      if (failed(axis))
        return failure();
      if (llvm::is_contained(axes, *axis))
        return n.fail("axes lists dimension " + std::to_string(*axis) +
                      " twice");
      axes.push_back(*axis);
    }
    llvm::sort(axes);
  }
  if (axes.empty() || rank == 0) {
    n.setOutput(0, x->value, x->onnxType);
    return success();
  }

  Type element = x->getElementType();
  bool isFloat = isFloatElement(element);
  bool isUnsigned = isOnnxUnsigned(x->onnxType);
  Value result;
  if (isBool) {
    result = buildReduce(b, loc, x->value, axes, b.getIntegerAttr(b.getI1Type(), 0),
                         [](OpBuilder &nb, Location l, Value e, Value acc) {
                           return arith::OrIOp::create(nb, l, e, acc);
                         });
  } else if (kind == ReduceKind::Max) {
    result = buildReduce(
        b, loc, x->value, axes, lowestAttr(element, isUnsigned),
        [&](OpBuilder &nb, Location l, Value e, Value acc) -> Value {
          if (isFloat)
            return arith::MaximumFOp::create(nb, l, e, acc);
          if (isUnsigned)
            return arith::MaxUIOp::create(nb, l, e, acc);
          return arith::MaxSIOp::create(nb, l, e, acc);
        });
  } else {
    result = buildReduce(b, loc, x->value, axes, scalarAttr(element, 0.0),
                         [](OpBuilder &nb, Location l, Value e, Value acc) {
                           return addScalar(nb, l, e, acc);
                         });
  }
  if (kind == ReduceKind::Mean) {
    int64_t count = 1;
    for (int64_t a : axes)
      count *= x->getShape()[a];
    auto type = cast<RankedTensorType>(result.getType());
    result = buildParallel(
        b, loc, ValueRange{result},
        {AffineMap::getMultiDimIdentityMap(type.getRank(), n.getContext())},
        type.getShape(), element,
        [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
          Value c = scalarConstant(nb, l, element, static_cast<double>(count));
          if (isFloat)
            return arith::DivFOp::create(nb, l, args[0], c);
          if (isUnsigned)
            return arith::DivUIOp::create(nb, l, args[0], c);
          return arith::DivSIOp::create(nb, l, args[0], c);
        });
  }
  if (keepdims)
    result = keepReducedDims(b, loc, result, x->getShape(), axes);
  n.setOutput(0, result, x->onnxType);
  return success();
}

//===----------------------------------------------------------------------===//
// ArgMax
//===----------------------------------------------------------------------===//

//===----------------------------------------------------------------------===//
// RotaryEmbedding
//===----------------------------------------------------------------------===//

/// RotaryEmbedding (23): one linalg.generic over X's shape. Each element of
/// the rotated part (the first `rotary_embedding_dim` of each head) pairs
/// with its partner (the other half, or the other of an interleaved pair):
/// real = cos x1 - sin x2, imag = sin x1 + cos x2, with cos/sin read from
/// the caches at the position (position_ids[b, s], or the caches' own
/// [b, s] rows without them). X is [B, H, S, D] or [B, S, H * D]
/// (`num_heads`).
LogicalResult importRotaryEmbedding(NodeContext &n) {
  OpBuilder &b = n.builder;
  Location loc = n.loc;
  MLIRContext *ctx = n.getContext();
  FailureOr<SmallVector<OnnxValue>> in = sameFloatInputs(
      n, {"X", "cos_cache (input #1)", "sin_cache (input #2)"});
  if (failed(in))
    return failure();
  const OnnxValue *x = &(*in)[0], *cosCache = &(*in)[1],
                  *sinCache = &(*in)[2];
  std::optional<OnnxValue> positions;
  if (n.hasInput(3)) {
    FailureOr<OnnxValue> p = n.input(3);
    if (failed(p))
      return failure();
    if (p->onnxType != onnx::TensorProto::INT64)
      return n.fail("position_ids must be INT64, but are " +
                    onnxTypeName(p->onnxType));
    positions = *p;
  }
  ArrayRef<int64_t> shape = x->getShape();
  int64_t rank = x->getRank();
  if (rank != 3 && rank != 4)
    return n.fail("expects X of rank 3 or 4, but it has shape " +
                  formatShape(shape));
  int64_t batch = shape[0], seq = rank == 4 ? shape[2] : shape[1];
  int64_t headSize = shape[rank - 1];
  if (rank == 3) {
    int64_t heads = n.intAttr("num_heads", 0);
    if (heads <= 0 || shape[2] % heads != 0)
      return n.fail("a rank-3 X needs num_heads dividing its hidden size " +
                    Twine(shape[2]) + ", but num_heads is " + Twine(heads));
    headSize = shape[2] / heads;
  }
  int64_t rot = n.intAttr("rotary_embedding_dim", 0);
  if (rot == 0)
    rot = headSize;
  if (rot < 0 || rot > headSize || rot % 2 != 0)
    return n.fail("rotary_embedding_dim " + Twine(rot) +
                  " must be even and at most the head size " +
                  Twine(headSize));
  int64_t half = rot / 2;
  bool interleaved = n.intAttr("interleaved", 0) != 0;
  // The caches: [max_position, half] with position_ids [B, S], else
  // [B, S, half]. (A scalar cos_cache has no max_position; the rank check
  // below rejects it.)
  SmallVector<int64_t> cacheShape =
      positions ? SmallVector<int64_t>{cosCache->getRank() == 0
                                           ? 0
                                           : cosCache->getShape()[0],
                                       half}
                : SmallVector<int64_t>{batch, seq, half};
  for (const OnnxValue *c : {&*cosCache, &*sinCache})
    if (c->getShape() != ArrayRef<int64_t>(cacheShape) ||
        (positions && c->getRank() != 2))
      return n.fail("the caches must have shape " +
                    (positions ? "[max_position, " + Twine(half) + "]"
                               : Twine(formatShape(cacheShape))) +
                    ", but cos_cache is " + formatShape(cosCache->getShape()) +
                    " and sin_cache " + formatShape(sinCache->getShape()));
  if (positions &&
      positions->getShape() != ArrayRef<int64_t>{batch, seq})
    return n.fail("position_ids must have shape [" + Twine(batch) + ", " +
                  Twine(seq) + "], but have " +
                  formatShape(positions->getShape()));
  int64_t maxPosition = cacheShape[0];
  // position_ids index the caches' rows; with none, every read would be out
  // of bounds (the clamp below needs at least one row).
  if (positions && maxPosition == 0 && batch * seq > 0)
    return n.fail("the caches have no positions (shape " +
                  formatShape(cosCache->getShape()) +
                  "), but position_ids index them; expected at least one row");

  Type element = x->getElementType();
  Value init = emptyTensor(b, loc, shape, element);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  Value xv = x->value, cv = cosCache->value, sv = sinCache->value;
  Value pv = positions ? positions->value : Value();
  Value y =
      linalg::GenericOp::create(
          b, loc, init.getType(), ValueRange{}, ValueRange{init},
          SmallVector<AffineMap>{AffineMap::getMultiDimIdentityMap(rank, ctx)},
          iterators,
          [&](OpBuilder &nb, Location l, ValueRange) {
            auto idx = [&](int64_t v) {
              return arith::ConstantIndexOp::create(nb, l, v).getResult();
            };
            auto cmp = [&](arith::CmpIPredicate p, Value a, Value c) {
              return arith::CmpIOp::create(nb, l, p, a, c).getResult();
            };
            auto select = [&](Value c, Value a, Value e) {
              return arith::SelectOp::create(nb, l, c, a, e).getResult();
            };
            SmallVector<Value> at;
            for (int64_t d = 0; d < rank; ++d)
              at.push_back(linalg::IndexOp::create(nb, l, d));
            Value bi = at[0], si = rank == 4 ? at[2] : at[1];
            // d: the index within the head; base: the head's first element.
            Value last = at[rank - 1], d = last, base = idx(0);
            if (rank == 3) {
              d = arith::RemUIOp::create(nb, l, last, idx(headSize));
              base = arith::SubIOp::create(nb, l, last, d);
            }
            Value rotated = cmp(arith::CmpIPredicate::ult, d, idx(rot));
            Value j, partner, first;
            if (interleaved) {
              j = arith::DivUIOp::create(nb, l, d, idx(2));
              Value odd = arith::RemUIOp::create(nb, l, d, idx(2));
              first = cmp(arith::CmpIPredicate::eq, odd, idx(0));
              Value next = arith::AddIOp::create(nb, l, d, idx(1));
              Value previous = arith::SubIOp::create(nb, l, d, idx(1));
              partner = select(first, next, previous);
            } else {
              first = cmp(arith::CmpIPredicate::ult, d, idx(half));
              Value second = arith::SubIOp::create(nb, l, d, idx(half));
              j = select(first, d, second);
              Value other = arith::AddIOp::create(nb, l, d, idx(half));
              partner = select(first, other, second);
            }
            // Outside the rotated part: the element itself, cache row 0.
            j = select(rotated, j, idx(0));
            partner = select(rotated, partner, d);
            SmallVector<Value> partnerAt = at;
            partnerAt[rank - 1] = arith::AddIOp::create(nb, l, base, partner);
            Value self = tensor::ExtractOp::create(nb, l, xv, at);
            Value other = tensor::ExtractOp::create(nb, l, xv, partnerAt);
            SmallVector<Value> cacheAt;
            if (pv) {
              Value p = tensor::ExtractOp::create(nb, l, pv, ValueRange{bi, si});
              p = arith::IndexCastOp::create(nb, l, nb.getIndexType(), p);
              // Out-of-range positions are clamped, as Gather's indices.
              p = arith::MaxSIOp::create(nb, l, p, idx(0));
              p = arith::MinSIOp::create(nb, l, p, idx(maxPosition - 1));
              cacheAt = {p, j};
            } else {
              cacheAt = {bi, si, j};
            }
            Value c = tensor::ExtractOp::create(nb, l, cv, cacheAt);
            Value s = tensor::ExtractOp::create(nb, l, sv, cacheAt);
            // first: cos x - sin partner; second: sin partner + cos x.
            Value cx = arith::MulFOp::create(nb, l, c, self);
            Value sp = arith::MulFOp::create(nb, l, s, other);
            Value real = arith::SubFOp::create(nb, l, cx, sp);
            Value imag = arith::AddFOp::create(nb, l, sp, cx);
            Value value = select(first, real, imag);
            linalg::YieldOp::create(nb, l, select(rotated, value, self));
          })
          .getResult(0);
  n.setOutput(0, y, x->onnxType);
  return success();
}

LogicalResult importArgMax(NodeContext &n) {
  OpBuilder &b = n.builder;
  Location loc = n.loc;
  MLIRContext *ctx = n.getContext();
  FailureOr<OnnxValue> x = n.input(0);
  if (failed(x) || failed(checkElement(n, *x, /*allowInt=*/true)))
    return failure();
  int64_t rank = x->getRank();
  if (rank == 0)
    return n.fail("expects an input of rank >= 1, but it is a scalar");
  FailureOr<int64_t> axis = n.normalizeAxis(n.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  bool keepdims = n.intAttr("keepdims", 1) != 0;
  bool last = n.intAttr("select_last_index", 0) != 0;
  Type element = x->getElementType();
  bool isFloat = isFloatElement(element);
  bool isUnsigned = isOnnxUnsigned(x->onnxType);
  Type i64 = b.getI64Type();

  SmallVector<int64_t> axes = {*axis};
  SmallVector<int64_t> outShape;
  for (auto [i, d] : llvm::enumerate(x->getShape()))
    if (static_cast<int64_t>(i) != *axis)
      outShape.push_back(d);
  Value valueInit = linalg::FillOp::create(
                        b, loc,
                        arith::ConstantOp::create(b, loc,
                                                  lowestAttr(element, isUnsigned))
                            .getResult(),
                        emptyTensor(b, loc, outShape, element))
                        .getResult(0);
  Value indexInit = filledTensor(b, loc, outShape, i64, 0.0);
  AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap reduced = dropDimsMap(ctx, rank, axes);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators[*axis] = utils::IteratorType::reduction;
  int64_t axisDim = *axis;
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{valueInit.getType(), indexInit.getType()},
      ValueRange{x->value}, ValueRange{valueInit, indexInit},
      {identity, reduced, reduced}, iterators,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value e = args[0], acc = args[1], accIndex = args[2];
        Value index = arith::IndexCastOp::create(
            nb, l, i64, linalg::IndexOp::create(nb, l, axisDim));
        Value take;
        if (isFloat) {
          // NumPy: NaN is the maximum; its first (or last) occurrence wins.
          Value eNaN =
              arith::CmpFOp::create(nb, l, arith::CmpFPredicate::UNO, e, e);
          if (last) {
            Value ge =
                arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGE, e, acc);
            take = arith::OrIOp::create(nb, l, ge, eNaN);
          } else {
            Value gt =
                arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT, e, acc);
            Value accNumber = arith::CmpFOp::create(
                nb, l, arith::CmpFPredicate::ORD, acc, acc);
            Value newNaN = arith::AndIOp::create(nb, l, eNaN, accNumber);
            take = arith::OrIOp::create(nb, l, gt, newNaN);
          }
        } else {
          arith::CmpIPredicate pred =
              isUnsigned ? (last ? arith::CmpIPredicate::uge
                                 : arith::CmpIPredicate::ugt)
                         : (last ? arith::CmpIPredicate::sge
                                 : arith::CmpIPredicate::sgt);
          take = arith::CmpIOp::create(nb, l, pred, e, acc);
        }
        Value newValue = arith::SelectOp::create(nb, l, take, e, acc);
        Value newIndex = arith::SelectOp::create(nb, l, take, index, accIndex);
        linalg::YieldOp::create(nb, l, ValueRange{newValue, newIndex});
      });
  Value result = generic.getResult(1);
  if (keepdims)
    result = keepReducedDims(b, loc, result, x->getShape(), axes);
  n.setOutput(0, result, TensorProto::INT64);
  return success();
}

//===----------------------------------------------------------------------===//
// Conv
//===----------------------------------------------------------------------===//

LogicalResult importConv(NodeContext &n) {
  OpBuilder &b = n.builder;
  Location loc = n.loc;
  FailureOr<OnnxValue> x = n.input(0), w = n.input(1);
  if (failed(x) || failed(w) ||
      failed(checkElement(n, *x, /*allowInt=*/false)) ||
      failed(checkSameElementType(n, *x, *w, "W (input #1)")))
    return failure();
  int64_t rank = x->getRank();
  if (rank < 3 || rank > 5)
    return n.fail("supports 1-D, 2-D and 3-D convolutions (input rank 3 to "
                  "5), but X is " +
                  formatShape(x->getShape()));
  if (w->getRank() != rank)
    return n.fail("W " + formatShape(w->getShape()) + " has rank " +
                  std::to_string(w->getRank()) + " but X " +
                  formatShape(x->getShape()) + " has rank " +
                  std::to_string(rank));
  int64_t spatial = rank - 2;
  ArrayRef<int64_t> xShape = x->getShape(), wShape = w->getShape();
  int64_t batch = xShape[0], channels = xShape[1];
  int64_t filters = wShape[0], groupChannels = wShape[1];
  int64_t group = n.intAttr("group", 1);
  if (group < 1)
    return n.fail("group " + std::to_string(group) + " must be >= 1");
  if (channels != groupChannels * group)
    return n.fail("X " + formatShape(xShape) + " has " +
                  std::to_string(channels) + " channels but W " +
                  formatShape(wShape) + " with group " +
                  std::to_string(group) + " expects " +
                  std::to_string(groupChannels * group));
  if (filters % group != 0)
    return n.fail("W has " + std::to_string(filters) +
                  " output channels, not a multiple of group " +
                  std::to_string(group));
  if (group > 1 && spatial == 3)
    return n.fail("grouped 3-D convolution (group " + std::to_string(group) +
                  ") is not supported");
  SmallVector<int64_t> kernel(wShape.drop_front(2));
  if (llvm::any_of(kernel, [](int64_t k) { return k < 1; }))
    return n.fail("W " + formatShape(wShape) +
                  " has an empty spatial dimension");
  if (auto ks = n.intsAttr("kernel_shape"); ks && ArrayRef<int64_t>(*ks) != ArrayRef<int64_t>(kernel))
    return n.fail("kernel_shape " + formatShape(*ks) +
                  " disagrees with W's spatial dimensions " +
                  formatShape(kernel));
  auto spatialAttr = [&](StringRef name, int64_t dflt,
                         int64_t size) -> FailureOr<SmallVector<int64_t>> {
    std::optional<SmallVector<int64_t>> v = n.intsAttr(name);
    if (!v)
      return SmallVector<int64_t>(size, dflt);
    if (static_cast<int64_t>(v->size()) != size)
      return n.fail(Twine(name) + " " + formatShape(*v) + " has " +
                    std::to_string(v->size()) + " values; expected " +
                    std::to_string(size));
    return *v;
  };
  FailureOr<SmallVector<int64_t>> strides = spatialAttr("strides", 1, spatial);
  FailureOr<SmallVector<int64_t>> dilations =
      spatialAttr("dilations", 1, spatial);
  if (failed(strides) || failed(dilations))
    return failure();
  for (int64_t i = 0; i < spatial; ++i)
    if ((*strides)[i] < 1 || (*dilations)[i] < 1)
      return n.fail("strides " + formatShape(*strides) + " and dilations " +
                    formatShape(*dilations) + " must be >= 1");

  std::string autoPad = n.stringAttr("auto_pad", "NOTSET");
  SmallVector<int64_t> padBegin(spatial, 0), padEnd(spatial, 0);
  SmallVector<int64_t> inSpatial(xShape.drop_front(2));
  if (autoPad == "NOTSET") {
    FailureOr<SmallVector<int64_t>> pads = spatialAttr("pads", 0, 2 * spatial);
    if (failed(pads))
      return failure();
    for (int64_t i = 0; i < spatial; ++i) {
      padBegin[i] = (*pads)[i];
      padEnd[i] = (*pads)[spatial + i];
      if (padBegin[i] < 0 || padEnd[i] < 0)
        return n.fail("pads " + formatShape(*pads) + " must be >= 0");
    }
  } else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
    for (int64_t i = 0; i < spatial; ++i) {
      int64_t out = (inSpatial[i] + (*strides)[i] - 1) / (*strides)[i];
      int64_t effective = (kernel[i] - 1) * (*dilations)[i] + 1;
      int64_t total = std::max<int64_t>(
          0, (out - 1) * (*strides)[i] + effective - inSpatial[i]);
      int64_t small = total / 2, large = total - small;
      padBegin[i] = autoPad == "SAME_UPPER" ? small : large;
      padEnd[i] = autoPad == "SAME_UPPER" ? large : small;
    }
  } else if (autoPad != "VALID") {
    return n.fail("auto_pad '" + autoPad +
                  "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  }

  SmallVector<int64_t> outShape = {batch, filters};
  for (int64_t i = 0; i < spatial; ++i) {
    int64_t padded = inSpatial[i] + padBegin[i] + padEnd[i];
    int64_t effective = (kernel[i] - 1) * (*dilations)[i] + 1;
    if (padded < effective)
      return n.fail("spatial dimension " + std::to_string(i) + " of X " +
                    formatShape(xShape) + " (" + std::to_string(padded) +
                    " with padding) is smaller than the dilated kernel (" +
                    std::to_string(effective) + ")");
    outShape.push_back((padded - effective) / (*strides)[i] + 1);
  }

  Type element = x->getElementType();
  std::optional<OnnxValue> bias;
  if (n.hasInput(2)) {
    FailureOr<OnnxValue> bIn = n.input(2);
    if (failed(bIn) ||
        failed(checkSameElementType(n, *x, *bIn, "B (input #2)")))
      return failure();
    if (bIn->getShape() != ArrayRef<int64_t>{filters})
      return n.fail("B " + formatShape(bIn->getShape()) +
                    " must have shape [" + std::to_string(filters) +
                    "] (W's output channels)");
    bias = *bIn;
  }

  // Zero padding of the spatial dimensions.
  Value input = x->value;
  if (llvm::any_of(padBegin, [](int64_t p) { return p != 0; }) ||
      llvm::any_of(padEnd, [](int64_t p) { return p != 0; })) {
    SmallVector<int64_t> low = {0, 0}, high = {0, 0}, paddedShape;
    low.append(padBegin);
    high.append(padEnd);
    for (int64_t i = 0; i < rank; ++i)
      paddedShape.push_back(xShape[i] + low[i] + high[i]);
    auto paddedType = RankedTensorType::get(paddedShape, element);
    Value zero = scalarConstant(b, loc, element, 0.0);
    SmallVector<OpFoldResult> lowPads, highPads;
    for (int64_t i = 0; i < rank; ++i) {
      lowPads.push_back(b.getIndexAttr(low[i]));
      highPads.push_back(b.getIndexAttr(high[i]));
    }
    input = tensor::PadOp::create(b, loc, paddedType, input, lowPads,
                                  highPads, zero);
  }

  // The accumulator: the bias broadcast along the output channels, or zero.
  Value init;
  if (bias) {
    SmallVector<int64_t> dims = {0};
    for (int64_t i = 0; i < spatial; ++i)
      dims.push_back(2 + i);
    Value empty = emptyTensor(b, loc, outShape, element);
    init = linalg::BroadcastOp::create(b, loc, bias->value, empty, dims)
               .getResult()[0];
  } else {
    init = filledTensor(b, loc, outShape, element, 0.0);
  }

  Value weights = w->value;
  SmallVector<int64_t> strideValues(*strides), dilationValues(*dilations);
  SmallVector<int64_t> convOutShape(outShape);
  // A grouped 1-D convolution runs as a 2-D one of height 1.
  bool lift = spatial == 1 && group > 1;
  if (lift) {
    auto insertUnit = [&](Value v) {
      auto shape = cast<RankedTensorType>(v.getType()).getShape();
      SmallVector<int64_t> s(shape);
      s.insert(s.begin() + 2, 1);
      return reshapeTo(b, loc, v, s);
    };
    input = insertUnit(input);
    weights = insertUnit(weights);
    init = insertUnit(init);
    convOutShape.insert(convOutShape.begin() + 2, 1);
    strideValues.insert(strideValues.begin(), 1);
    dilationValues.insert(dilationValues.begin(), 1);
    spatial = 2;
  }
  Attribute stridesAttr = b.getI64TensorAttr(strideValues);
  Attribute dilationsAttr = b.getI64TensorAttr(dilationValues);

  Value result;
  if (group == 1) {
    // (Named ranges over initializer lists would dangle: build in place.)
    Type type = init.getType();
    SmallVector<Value> ins = {input, weights};
    if (spatial == 1)
      result = linalg::Conv1DNcwFcwOp::create(b, loc, TypeRange{type}, ins,
                                              ValueRange{init}, stridesAttr,
                                              dilationsAttr)
                   .getResult(0);
    else if (spatial == 2)
      result = linalg::Conv2DNchwFchwOp::create(b, loc, TypeRange{type}, ins,
                                                ValueRange{init}, stridesAttr,
                                                dilationsAttr)
                   .getResult(0);
    else
      result = linalg::Conv3DNcdhwFcdhwOp::create(b, loc, TypeRange{type}, ins,
                                                  ValueRange{init},
                                                  stridesAttr, dilationsAttr)
                   .getResult(0);
  } else {
    // N, G, C/G, H, W  *  G, M/G, C/G, kH, kW  ->  N, G, M/G, OH, OW.
    auto inShape = cast<RankedTensorType>(input.getType()).getShape();
    auto kShape = cast<RankedTensorType>(weights.getType()).getShape();
    Value gInput = reshapeTo(b, loc, input,
                             {inShape[0], group, groupChannels, inShape[2],
                              inShape[3]});
    Value gWeights = reshapeTo(b, loc, weights,
                               {group, filters / group, groupChannels,
                                kShape[2], kShape[3]});
    Value gInit = reshapeTo(b, loc, init,
                            {convOutShape[0], group, filters / group,
                             convOutShape[2], convOutShape[3]});
    Value conv =
        linalg::Conv2DNgchwGfchwOp::create(
            b, loc, TypeRange{gInit.getType()}, ValueRange{gInput, gWeights},
            ValueRange{gInit}, stridesAttr, dilationsAttr)
            .getResult(0);
    result = reshapeTo(b, loc, conv, convOutShape);
  }
  if (lift)
    result = reshapeTo(b, loc, result, outShape);
  n.setOutput(0, result, x->onnxType);
  return success();
}

//===----------------------------------------------------------------------===//
// GroupNormalization
//===----------------------------------------------------------------------===//

/// GroupNormalization (18, 21): X [N, C, ...] seen as [N, G, C/G, rest],
/// normalised over the last two with buildMoments; scale and bias are per
/// group at 18 and per channel at 21 (which adds `stash_type`).
LogicalResult importGroupNormalization(NodeContext &n) {
  OpBuilder &b = n.builder;
  Location loc = n.loc;
  MLIRContext *ctx = n.getContext();
  FailureOr<SmallVector<OnnxValue>> in =
      sameFloatInputs(n, {"X", "scale (input #1)", "bias (input #2)"});
  if (failed(in))
    return failure();
  const OnnxValue *x = &(*in)[0], *scale = &(*in)[1], *bias = &(*in)[2];
  ArrayRef<int64_t> shape = x->getShape();
  if (x->getRank() < 2)
    return n.fail("expects X of rank >= 2 ([N, C, ...]), but it has shape " +
                  formatShape(shape));
  int64_t groups = n.intAttr("num_groups", 0), channels = shape[1];
  if (!n.attr("num_groups") || groups <= 0 || channels % groups != 0)
    return n.fail("num_groups " + Twine(groups) +
                  " must be positive and divide the " + Twine(channels) +
                  " channels");
  bool perChannel = n.sinceVersion >= 21;
  int64_t perOperand = perChannel ? channels : groups;
  for (const OnnxValue *v : {&*scale, &*bias})
    if (v->getShape() != ArrayRef<int64_t>{perOperand})
      return n.fail("scale and bias must have shape [" + Twine(perOperand) +
                    "] (one per " + (perChannel ? "channel" : "group") +
                    " at op version " + Twine(n.sinceVersion) +
                    "), but they are " + formatShape(scale->getShape()) +
                    " and " + formatShape(bias->getShape()));
  int32_t stashOnnx = static_cast<int32_t>(n.intAttr("stash_type", 1));
  FailureOr<Type> stash = convertElementType(stashOnnx, ctx);
  if (failed(stash) || !isFloatElement(*stash))
    return n.fail("stash_type " + std::to_string(stashOnnx) + " (" +
                  onnxTypeName(stashOnnx) + ") is not a float type");

  int64_t batch = shape[0], perGroup = channels / groups;
  int64_t rest = ShapedType::getNumElements(shape.drop_front(2));
  // [N, C, ...] -> [N, C, rest] -> [N, G, C/G, rest] -> [N, G, C/G * rest],
  // each step one collapse_shape or expand_shape.
  SmallVector<int64_t> split = {batch, groups, perGroup, rest};
  Value x4 = reshapeTo(b, loc, reshapeTo(b, loc, x->value, {batch, channels, rest}),
                       split);
  Value grouped = reshapeTo(b, loc, x4, {batch, groups, perGroup * rest});
  Moments moments =
      buildMoments(b, loc, castTensor(b, loc, grouped, *stash), /*axis=*/2,
                   n.floatAttr("epsilon", 1e-5f), /*rms=*/false);
  Value centered = reshapeTo(b, loc, moments.centered, split);
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  AffineMap affine =
      perChannel ? AffineMap::get(4, 0, {d(1), d(2)}, ctx)
                 : AffineMap::get(4, 0, {d(1)}, ctx);
  auto operand = [&](const OnnxValue &v) {
    return perChannel ? reshapeTo(b, loc, v.value, {groups, perGroup})
                      : v.value;
  };
  Type element = x->getElementType();
  Value y = buildParallel(
      b, loc, ValueRange{centered, moments.invStdDev, operand(*scale),
                         operand(*bias)},
      {AffineMap::getMultiDimIdentityMap(4, ctx),
       AffineMap::get(4, 0, {d(0), d(1)}, ctx), affine, affine},
      split, element, [&](OpBuilder &nb, Location l, ValueRange args) {
        Value normalized = arith::MulFOp::create(nb, l, args[0], args[1]);
        Value v = castElement(nb, l, normalized, false, element, false);
        v = arith::MulFOp::create(nb, l, v, args[2]);
        return arith::AddFOp::create(nb, l, v, args[3]).getResult();
      });
  Value y3 = reshapeTo(b, loc, y, {batch, channels, rest});
  n.setOutput(0, reshapeTo(b, loc, y3, shape), x->onnxType);
  return success();
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

/// Attention (23): Q, K, V of rank 4 ([B, heads, S, head size]) or rank 3
/// ([B, S, heads * head size] with q_num_heads / kv_num_heads), optional
/// attn_mask (BOOL or float, broadcast to [B, q heads, S, total S]) and
/// past_key/past_value (concatenated before K and V along the sequence).
/// Lowered as the decomposed form is: Q and K each scaled by sqrt(scale),
/// MatMul with K transposed, softcap, mask and causal bias in one
/// linalg.generic, Softmax (a fully masked row gives zeros, as the spec's
/// reference), MatMul with V. Grouped-query attention (q heads a multiple
/// of kv heads) folds the query heads that share a kv head into the
/// MatMul's rows instead of repeating K and V.
LogicalResult importAttention(NodeContext &n) {
  OpBuilder &b = n.builder;
  Location loc = n.loc;
  MLIRContext *ctx = n.getContext();
  FailureOr<SmallVector<OnnxValue>> in =
      sameFloatInputs(n, {"Q", "K (input #1)", "V (input #2)"});
  if (failed(in))
    return failure();
  const OnnxValue *q = &(*in)[0], *k = &(*in)[1], *v = &(*in)[2];
  int64_t qkMode = n.intAttr("qk_matmul_output_mode", 0);
  if (qkMode < 0 || qkMode > 3)
    return n.fail("qk_matmul_output_mode " + Twine(qkMode) +
                  " is not one of 0, 1, 2, 3");
  if (n.hasInput(4) != n.hasInput(5))
    return n.fail("past_key and past_value (inputs #4 and #5) must be given "
                  "together");
  int64_t rank = q->getRank();
  if ((rank != 3 && rank != 4) || k->getRank() != rank ||
      v->getRank() != rank)
    return n.fail("expects Q, K and V all of rank 3 or all of rank 4, but "
                  "they are " +
                  formatShape(q->getShape()) + ", " +
                  formatShape(k->getShape()) + " and " +
                  formatShape(v->getShape()));
  int64_t batch = q->getShape()[0];
  if (k->getShape()[0] != batch || v->getShape()[0] != batch)
    return n.fail("Q, K and V must share the batch size, but they are " +
                  formatShape(q->getShape()) + ", " +
                  formatShape(k->getShape()) + " and " +
                  formatShape(v->getShape()));

  // To [B, heads, S, head size].
  Value q4 = q->value, k4 = k->value, v4 = v->value;
  if (rank == 3) {
    int64_t qHeads = n.intAttr("q_num_heads", 0),
            kvHeads = n.intAttr("kv_num_heads", 0);
    if (qHeads <= 0 || kvHeads <= 0)
      return n.fail("rank-3 Q, K, V need the q_num_heads and kv_num_heads "
                    "attributes (positive), but they are " +
                    Twine(qHeads) + " and " + Twine(kvHeads));
    auto toHeads = [&](const OnnxValue &t, int64_t heads, StringRef what,
                       Value &out) -> LogicalResult {
      ArrayRef<int64_t> s = t.getShape();
      if (s[2] % heads != 0)
        return n.fail(Twine(what) + " hidden size " + Twine(s[2]) +
                      " is not a multiple of its " + Twine(heads) + " heads");
      Value split = reshapeTo(b, loc, t.value, {s[0], s[1], heads, s[2] / heads});
      out = transposeTensor(b, loc, split, {0, 2, 1, 3});
      return success();
    };
    if (failed(toHeads(*q, qHeads, "Q", q4)) ||
        failed(toHeads(*k, kvHeads, "K", k4)) ||
        failed(toHeads(*v, kvHeads, "V", v4)))
      return failure();
  }
  if (n.hasInput(4)) {
    FailureOr<OnnxValue> pastK = n.input(4), pastV = n.input(5);
    if (failed(pastK) || failed(pastV) ||
        failed(checkSameElementType(n, *q, *pastK, "past_key (input #4)")) ||
        failed(checkSameElementType(n, *q, *pastV, "past_value (input #5)")))
      return failure();
    auto append = [&](const OnnxValue &past, Value &cur,
                      StringRef what) -> LogicalResult {
      ArrayRef<int64_t> ps = past.getShape(),
                        cs = cast<RankedTensorType>(cur.getType()).getShape();
      if (past.getRank() != 4 || ps[0] != cs[0] || ps[1] != cs[1] ||
          ps[3] != cs[3])
        return n.fail(Twine(what) + " " + formatShape(ps) +
                      " must be [B, kv heads, past length, head size] "
                      "matching " +
                      formatShape(cs));
      cur = concatTensors(b, loc, ValueRange{past.value, cur}, 2);
      return success();
    };
    if (failed(append(*pastK, k4, "past_key")) ||
        failed(append(*pastV, v4, "past_value")))
      return failure();
  }
  ArrayRef<int64_t> qs = cast<RankedTensorType>(q4.getType()).getShape(),
                    ks = cast<RankedTensorType>(k4.getType()).getShape(),
                    vs = cast<RankedTensorType>(v4.getType()).getShape();
  int64_t qHeads = qs[1], kvHeads = ks[1], qSeq = qs[2], kvSeq = ks[2],
          headSize = qs[3], vHeadSize = vs[3];
  if (ks[3] != headSize || vs[1] != kvHeads || vs[2] != kvSeq)
    return n.fail("K must be [B, kv heads, kv length, " + Twine(headSize) +
                  "] and V [B, kv heads, kv length, v head size], but they "
                  "are " +
                  formatShape(ks) + " and " + formatShape(vs) +
                  " (in the 4-D layout)");
  if (kvHeads == 0 || qHeads % kvHeads != 0)
    return n.fail("the " + Twine(qHeads) + " query heads are not a multiple "
                  "of the " + Twine(kvHeads) + " key/value heads");
  int64_t groupSize = qHeads / kvHeads;
  int64_t pastLength = kvSeq - (rank == 3 ? k->getShape()[1]
                                          : k->getShape()[2]);

  Type element = q->getElementType();
  Type compute = element;
  if (const onnx::AttributeProto *p = n.attr("softmax_precision")) {
    FailureOr<Type> t = convertElementType(static_cast<int32_t>(p->i()), ctx);
    if (failed(t) || !isFloatElement(*t))
      return n.fail("softmax_precision " + Twine(p->i()) + " (" +
                    onnxTypeName(static_cast<int32_t>(p->i())) +
                    ") is not a float type");
    compute = *t;
  }
  double scale = n.attr("scale") ? n.floatAttr("scale", 1.0f)
                                 : 1.0 / std::sqrt(double(headSize));
  double softcap = n.floatAttr("softcap", 0.0f);
  bool causal = n.intAttr("is_causal", 0) != 0;

  // The mask, padded with "masked" up to the total kv length.
  std::optional<OnnxValue> mask;
  SmallVector<int64_t> scoreShape = {batch, qHeads, qSeq, kvSeq};
  if (n.hasInput(3)) {
    FailureOr<OnnxValue> m = n.input(3);
    if (failed(m))
      return failure();
    bool isBool = m->onnxType == TensorProto::BOOL;
    if (!isBool && m->getElementType() != element)
      return n.fail("attn_mask must be BOOL or Q's type " +
                    onnxTypeName(q->onnxType) + ", but it is " +
                    onnxTypeName(m->onnxType));
    ArrayRef<int64_t> ms = m->getShape();
    SmallVector<int64_t> padded(ms);
    if (!padded.empty() && padded.back() < kvSeq)
      padded.back() = kvSeq;
    std::optional<SmallVector<int64_t>> bs =
        broadcastShapes({ArrayRef<int64_t>(padded), scoreShape});
    if (ms.empty() || m->getRank() > 4 || !bs ||
        *bs != ArrayRef<int64_t>(scoreShape))
      return n.fail("attn_mask " + formatShape(ms) +
                    " does not broadcast to the attention scores " +
                    formatShape(scoreShape));
    if (padded != ms) {
      SmallVector<OpFoldResult> low(ms.size(), b.getIndexAttr(0)),
          high(ms.size(), b.getIndexAttr(0));
      high.back() = b.getIndexAttr(kvSeq - ms.back());
      Value fill = isBool ? scalarConstant(b, loc, m->getElementType(), 0.0)
                          : arith::ConstantOp::create(
                                b, loc, lowestAttr(element, false))
                                .getResult();
      m->value = tensor::PadOp::create(
          b, loc, RankedTensorType::get(padded, m->getElementType()),
          m->value, low, high, fill);
    }
    mask = *m;
  }

  // Scores: (Q sqrt(scale)) (K sqrt(scale))^T, the query heads that share
  // a kv head stacked as rows: [B, kv heads, group * S, kv length].
  double rootScale = std::sqrt(scale);
  auto scaled = [&](Value t) {
    auto type = cast<RankedTensorType>(t.getType());
    return buildElementwise(
        b, loc, ValueRange{t}, type.getShape(), element,
        [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
          return arith::MulFOp::create(
              nb, l, args[0], scalarConstant(nb, l, element, rootScale));
        });
  };
  int32_t onnxType = q->onnxType;
  // [B, q heads, ...] <-> [B, kv heads, group * ...] through [B, kv heads,
  // group, ...] (an expand_shape and a collapse_shape, not a flat reshape).
  auto toRows = [&](Value t, int64_t last) {
    Value grouped =
        reshapeTo(b, loc, t, {batch, kvHeads, groupSize, qSeq, last});
    return reshapeTo(b, loc, grouped,
                     {batch, kvHeads, groupSize * qSeq, last});
  };
  auto fromRows = [&](Value t, int64_t last) {
    Value grouped =
        reshapeTo(b, loc, t, {batch, kvHeads, groupSize, qSeq, last});
    return reshapeTo(b, loc, grouped, {batch, qHeads, qSeq, last});
  };
  Value qRows = toRows(scaled(q4), headSize);
  Value kT = transposeTensor(b, loc, scaled(k4), {0, 1, 3, 2});
  FailureOr<Value> qk = buildMatMul(n, OnnxValue{qRows, onnxType, {}},
                                    OnnxValue{kT, onnxType, {}});
  if (failed(qk))
    return failure();
  Value scores4 = fromRows(*qk, kvSeq);

  SmallVector<Value> inputs = {scores4};
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(4, ctx)};
  if (mask) {
    inputs.push_back(mask->value);
    maps.push_back(broadcastMap(ctx, mask->getShape(), scoreShape));
  }
  bool boolMask = mask && mask->onnxType == TensorProto::BOOL;
  auto capped = [&](OpBuilder &nb, Location l, Value s) -> Value {
    if (softcap <= 0)
      return s;
    Value cap = scalarConstant(nb, l, element, softcap);
    Value t =
        math::TanhOp::create(nb, l, arith::DivFOp::create(nb, l, s, cap));
    return arith::MulFOp::create(nb, l, t, cap);
  };
  Value scores = buildParallel(
      b, loc, inputs, maps, scoreShape, compute,
      [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
        Value s = castElement(nb, l, capped(nb, l, args[0]), false, compute,
                              false);
        Value minusInf =
            arith::ConstantOp::create(nb, l, lowestAttr(compute, false));
        if (mask && !boolMask)
          s = arith::AddFOp::create(
              nb, l, s, castElement(nb, l, args[1], false, compute, false));
        if (boolMask)
          s = arith::SelectOp::create(nb, l, args[1], s, minusInf);
        if (causal) {
          // Key j is visible to query i when j <= i + past length.
          Value i = linalg::IndexOp::create(nb, l, 2),
                j = linalg::IndexOp::create(nb, l, 3);
          Value last = arith::AddIOp::create(
              nb, l, i, arith::ConstantIndexOp::create(nb, l, pastLength));
          Value visible = arith::CmpIOp::create(
              nb, l, arith::CmpIPredicate::ule, j, last);
          s = arith::SelectOp::create(nb, l, visible, s, minusInf);
        }
        return s;
      });
  Value probs = castTensor(
      b, loc, buildSoftmax(b, loc, scores, 3, /*maskedRowsToZero=*/true),
      element);

  // Y = probs V: [B, kv heads, group * S, v head size].
  Value pRows = toRows(probs, kvSeq);
  FailureOr<Value> y = buildMatMul(n, OnnxValue{pRows, onnxType, {}},
                                   OnnxValue{v4, onnxType, {}});
  if (failed(y))
    return failure();
  Value y4 = fromRows(*y, vHeadSize);
  if (rank == 3)
    y4 = reshapeTo(b, loc, transposeTensor(b, loc, y4, {0, 2, 1, 3}),
                   {batch, qSeq, qHeads * vHeadSize});
  n.setOutput(0, y4, onnxType);
  n.setOutput(1, k4, onnxType);
  n.setOutput(2, v4, onnxType);
  // qk_matmul_output as ONNX's reference computes it: the scaled (and
  // softcapped) product for modes 0 and 1, with the mask and causal bias
  // added for 2, the softmax for 3.
  if (n.hasOutput(3)) {
    Value qkOut = qkMode == 3   ? probs
                  : qkMode == 2 ? castTensor(b, loc, scores, element)
                                : buildElementwise(
                                      b, loc, ValueRange{scores4}, scoreShape,
                                      element,
                                      [&](OpBuilder &nb, Location l,
                                          ValueRange args) {
                                        return capped(nb, l, args[0]);
                                      });
    n.setOutput(3, qkOut, onnxType);
  }
  return success();
}

} // namespace

void mlir::tac::onnx_import::registerNNOps(OpTable &table) {
  table.add("MatMul", {13}, importMatMul);
  table.add("Gemm", {13}, importGemm);
  table.add("Softmax", {13}, importSoftmax);
  table.add("LayerNormalization", {17}, [](NodeContext &n) {
    return importNormalization(n, /*rms=*/false);
  });
  table.add("RMSNormalization", {23}, [](NodeContext &n) {
    return importNormalization(n, /*rms=*/true);
  });
  table.add("RotaryEmbedding", {23}, importRotaryEmbedding);
  table.add("GroupNormalization", {18, 21}, importGroupNormalization);
  table.add("Attention", {23}, importAttention);
  table.add("ReduceSum", {13}, [](NodeContext &n) {
    return importReduce(n, ReduceKind::Sum);
  });
  table.add("ReduceMean", {13, 18}, [](NodeContext &n) {
    return importReduce(n, ReduceKind::Mean);
  });
  table.add("ReduceMax", {13, 18, 20}, [](NodeContext &n) {
    return importReduce(n, ReduceKind::Max);
  });
  table.add("Conv", {11, 22}, importConv);
  table.add("ArgMax", {13}, importArgMax);
}
