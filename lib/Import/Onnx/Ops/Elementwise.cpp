//===- Elementwise.cpp - ONNX elementwise ops -----------------------------===//
//
// Unary, binary and ternary elementwise ops with NumPy broadcasting. Each
// becomes one linalg.generic whose body is scalar arith/math; the body is
// chosen by element type (and, for integers, by ONNX signedness). Integer
// and boolean operands known at import time fold on the host, so shape
// arithmetic (Shape → Gather → Mul → Concat → Reshape) stays static.
//
//===----------------------------------------------------------------------===//

#include "../ImportState.h"
#include "../TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>

using namespace mlir;
using namespace mlir::tac::onnx_import;
using onnx::TensorProto;

namespace {

/// How an op computes one element, per element kind. A null function means
/// the op does not accept that kind.
struct ScalarKernel {
  std::function<Value(OpBuilder &, Location, ValueRange)> onFloat;
  std::function<Value(OpBuilder &, Location, ValueRange, bool isUnsigned)>
      onInt;
  std::function<Value(OpBuilder &, Location, ValueRange)> onBool;
  /// Host evaluation for known integer/bool operands (shape arithmetic).
  std::function<std::optional<int64_t>(ArrayRef<int64_t>, bool isUnsigned)>
      fold;
  /// Result is boolean (comparisons) rather than the first input's type.
  bool producesBool = false;
};

/// Largest result that folds on the host; bigger results are computed by
/// the generated code.
constexpr int64_t kFoldLimit = 4096;

/// Host fold of an integer/bool elementwise op over known inputs.
DenseElementsAttr foldElementwise(ArrayRef<OnnxValue> inputs,
                                  ArrayRef<int64_t> shape, Type resultElement,
                                  const ScalarKernel &kernel,
                                  bool isUnsigned) {
  if (!kernel.fold)
    return {};
  int64_t count = 1;
  for (int64_t d : shape)
    count *= d;
  if (count > kFoldLimit)
    return {};
  SmallVector<SmallVector<int64_t>> values;
  for (const OnnxValue &input : inputs) {
    if (!input.known || !input.getElementType().isInteger())
      return {};
    SmallVector<int64_t> &v = values.emplace_back();
    for (const APInt &x : input.known.getValues<APInt>())
      v.push_back(isOnnxUnsigned(input.onnxType) || x.getBitWidth() == 1
                      ? static_cast<int64_t>(x.getZExtValue())
                      : x.getSExtValue());
  }
  int64_t rank = shape.size();
  SmallVector<int64_t> index(rank, 0);
  SmallVector<APInt> result;
  unsigned width = resultElement.getIntOrFloatBitWidth();
  for (int64_t flat = 0; flat < count; ++flat) {
    int64_t rest = flat;
    for (int64_t d = rank - 1; d >= 0; --d) {
      index[d] = rest % shape[d];
      rest /= shape[d];
    }
    SmallVector<int64_t> operands;
    for (auto [input, v] : llvm::zip(inputs, values)) {
      ArrayRef<int64_t> inShape = input.getShape();
      int64_t offset = rank - inShape.size(), pos = 0;
      for (auto [i, d] : llvm::enumerate(inShape))
        pos = pos * d + (d == 1 ? 0 : index[offset + i]);
      operands.push_back(v[pos]);
    }
    std::optional<int64_t> r = kernel.fold(operands, isUnsigned);
    if (!r)
      return {};
    result.push_back(APInt(width, static_cast<uint64_t>(*r), !isUnsigned,
                           /*implicitTrunc=*/true));
  }
  return DenseElementsAttr::get(RankedTensorType::get(shape, resultElement),
                                result);
}

/// Imports an elementwise node: inputs broadcast, kernel by element kind.
LogicalResult importElementwise(NodeContext &n, const ScalarKernel &kernel,
                                size_t numInputs) {
  SmallVector<OnnxValue> inputs;
  for (size_t i = 0; i < numInputs; ++i) {
    FailureOr<OnnxValue> v = n.input(i, /*materialize=*/false);
    if (failed(v))
      return failure();
    inputs.push_back(*v);
  }
  // Where's condition is boolean; its data operands decide the kind.
  const OnnxValue &data = inputs.size() == 3 ? inputs[1] : inputs[0];
  for (size_t i = inputs.size() == 3 ? 2 : 1; i < inputs.size(); ++i)
    if (inputs[i].getElementType() != data.getElementType())
      return n.fail("operands have different element types " +
                    onnxTypeName(data.onnxType) + " and " +
                    onnxTypeName(inputs[i].onnxType) +
                    "; ONNX requires them to match");

  SmallVector<ArrayRef<int64_t>> shapes;
  for (const OnnxValue &v : inputs)
    shapes.push_back(v.getShape());
  std::optional<SmallVector<int64_t>> shape = broadcastShapes(shapes);
  if (!shape) {
    InFlightDiagnostic diag = n.emitError();
    diag << "operand shapes do not broadcast:";
    for (const OnnxValue &v : inputs)
      diag << " " << v.getType();
    return failure();
  }

  Type element = data.getElementType();
  bool isUnsigned = isOnnxUnsigned(data.onnxType);
  Type resultElement =
      kernel.producesBool ? n.builder.getI1Type() : element;
  int32_t resultOnnxType =
      kernel.producesBool ? int32_t(TensorProto::BOOL) : data.onnxType;

  if (DenseElementsAttr folded = foldElementwise(inputs, *shape, resultElement,
                                                 kernel, isUnsigned)) {
    n.setKnownOutput(0, folded, resultOnnxType);
    return success();
  }

  std::function<Value(OpBuilder &, Location, ValueRange)> body;
  if (isa<FloatType>(element) && kernel.onFloat)
    body = kernel.onFloat;
  else if (element.isInteger(1) && kernel.onBool)
    body = kernel.onBool;
  else if (element.isInteger() && !element.isInteger(1) && kernel.onInt)
    body = [&](OpBuilder &b, Location l, ValueRange a) {
      return kernel.onInt(b, l, a, isUnsigned);
    };
  if (!body)
    return n.fail("element type " + onnxTypeName(data.onnxType) +
                  " is not supported for this op");

  SmallVector<Value> values;
  for (size_t i = 0; i < numInputs; ++i)
    values.push_back(n.input(i)->value); // now as real values
  Value result = buildElementwise(n.builder, n.loc, values, *shape,
                                  resultElement, body);
  n.setOutput(0, result, resultOnnxType);
  return success();
}

template <typename FloatOp, typename SignedOp, typename UnsignedOp = SignedOp>
ScalarKernel binaryArith(std::function<std::optional<int64_t>(int64_t, int64_t, bool)> fold) {
  ScalarKernel k;
  k.onFloat = [](OpBuilder &b, Location l, ValueRange a) -> Value {
    return FloatOp::create(b, l, a[0], a[1]);
  };
  k.onInt = [](OpBuilder &b, Location l, ValueRange a, bool isUnsigned) -> Value {
    if (isUnsigned)
      return UnsignedOp::create(b, l, a[0], a[1]);
    return SignedOp::create(b, l, a[0], a[1]);
  };
  k.fold = [fold](ArrayRef<int64_t> v, bool u) { return fold(v[0], v[1], u); };
  return k;
}

template <typename MathOp>
ScalarKernel floatUnary() {
  ScalarKernel k;
  k.onFloat = [](OpBuilder &b, Location l, ValueRange a) -> Value {
    return MathOp::create(b, l, a[0]);
  };
  return k;
}

ScalarKernel comparison(arith::CmpFPredicate f, arith::CmpIPredicate s,
                        arith::CmpIPredicate u,
                        std::function<bool(int64_t, int64_t)> fold) {
  ScalarKernel k;
  k.producesBool = true;
  k.onFloat = [f](OpBuilder &b, Location l, ValueRange a) -> Value {
    return arith::CmpFOp::create(b, l, f, a[0], a[1]);
  };
  k.onInt = [s, u](OpBuilder &b, Location l, ValueRange a, bool isUnsigned) -> Value {
    return arith::CmpIOp::create(b, l, isUnsigned ? u : s, a[0], a[1]);
  };
  k.onBool = [u](OpBuilder &b, Location l, ValueRange a) -> Value {
    return arith::CmpIOp::create(b, l, u, a[0], a[1]);
  };
  k.fold = [fold](ArrayRef<int64_t> v, bool) -> std::optional<int64_t> {
    return fold(v[0], v[1]) ? 1 : 0;
  };
  return k;
}

//===----------------------------------------------------------------------===//
// Cast
//===----------------------------------------------------------------------===//

LogicalResult importCast(NodeContext &n) {
  FailureOr<OnnxValue> x = n.input(0, /*materialize=*/false);
  if (failed(x))
    return failure();
  int32_t toOnnx = static_cast<int32_t>(n.intAttr("to", 0));
  FailureOr<Type> to = convertElementType(toOnnx, n.getContext());
  if (failed(to))
    return n.fail("cannot cast to " + onnxTypeName(toOnnx) +
                  ": tac does not support that element type");
  bool fromUnsigned = isOnnxUnsigned(x->onnxType);
  bool toUnsigned = isOnnxUnsigned(toOnnx);

  // A cast to the type the tensor already has is the tensor itself (PyTorch
  // casts booleans to BOOL before an If, for example).
  if (x->onnxType == toOnnx) {
    if (n.hasOutput(0))
      n.graph.define(n.node.output(0), *x);
    return success();
  }

  // Integer → integer casts of known values fold (shape arithmetic).
  if (x->known && x->getElementType().isInteger() && to->isInteger() &&
      x->known.getNumElements() <= kFoldLimit) {
    SmallVector<APInt> values;
    unsigned width = to->getIntOrFloatBitWidth();
    for (const APInt &v : x->known.getValues<APInt>()) {
      if (to->isInteger(1))
        values.push_back(APInt(1, !v.isZero()));
      else
        values.push_back(fromUnsigned || v.getBitWidth() == 1
                             ? v.zextOrTrunc(width)
                             : v.sextOrTrunc(width));
    }
    n.setKnownOutput(
        0, DenseElementsAttr::get(RankedTensorType::get(x->getShape(), *to),
                                  values),
        toOnnx);
    return success();
  }
  x = n.input(0);
  Value result = buildElementwise(
      n.builder, n.loc, ValueRange{x->value}, x->getShape(), *to,
      [&](OpBuilder &b, Location l, ValueRange a) {
        return castElement(b, l, a[0], fromUnsigned, *to, toUnsigned);
      });
  n.setOutput(0, result, toOnnx);
  return success();
}

} // namespace

void mlir::tac::onnx_import::registerElementwiseOps(OpTable &table) {
  auto binary = [&table](StringRef op, std::initializer_list<int> versions,
                         ScalarKernel kernel) {
    table.add(op, versions, [kernel](NodeContext &n) {
      return importElementwise(n, kernel, 2);
    });
  };
  auto unary = [&table](StringRef op, std::initializer_list<int> versions,
                        ScalarKernel kernel) {
    table.add(op, versions, [kernel](NodeContext &n) {
      return importElementwise(n, kernel, 1);
    });
  };

  binary("Add", {13, 14}, binaryArith<arith::AddFOp, arith::AddIOp>(
      [](int64_t a, int64_t b, bool) -> std::optional<int64_t> { return a + b; }));
  binary("Sub", {13, 14}, binaryArith<arith::SubFOp, arith::SubIOp>(
      [](int64_t a, int64_t b, bool) -> std::optional<int64_t> { return a - b; }));
  binary("Mul", {13, 14}, binaryArith<arith::MulFOp, arith::MulIOp>(
      [](int64_t a, int64_t b, bool) -> std::optional<int64_t> { return a * b; }));
  binary("Div", {13, 14},
         binaryArith<arith::DivFOp, arith::DivSIOp, arith::DivUIOp>(
             [](int64_t a, int64_t b, bool u) -> std::optional<int64_t> {
               if (b == 0)
                 return std::nullopt; // leave division by zero to run time
               return u ? int64_t(uint64_t(a) / uint64_t(b)) : a / b;
             }));

  // Pow: the exponent may have another type than the base.
  table.add("Pow", {13, 15}, [](NodeContext &n) -> LogicalResult {
    FailureOr<OnnxValue> base = n.input(0), exponent = n.input(1);
    if (failed(base) || failed(exponent))
      return failure();
    auto shape = broadcastShapes({base->getShape(), exponent->getShape()});
    if (!shape)
      return n.fail("operand shapes do not broadcast");
    Type element = base->getElementType(), expType = exponent->getElementType();
    bool baseFloat = isa<FloatType>(element), expFloat = isa<FloatType>(expType);
    bool expUnsigned = isOnnxUnsigned(exponent->onnxType);
    if (element.isInteger(1) || expType.isInteger(1))
      return n.fail("Pow does not take BOOL operands");
    Value result = buildElementwise(
        n.builder, n.loc, ValueRange{base->value, exponent->value}, *shape,
        element, [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          if (baseFloat && expFloat) {
            Value e = castElement(b, l, a[1], false, element, false);
            return math::PowFOp::create(b, l, a[0], e);
          }
          if (baseFloat) {
            // An i32 exponent: llvm.powi with an i64 one does not select on x86.
            Value e = castElement(b, l, a[1], expUnsigned, b.getI32Type(), false);
            return math::FPowIOp::create(b, l, a[0], e);
          }
          if (!expFloat) {
            Value e = castElement(b, l, a[1], expUnsigned, element, false);
            return math::IPowIOp::create(b, l, a[0], e);
          }
          // Integer base, float exponent: compute in the exponent's type.
          Value x = castElement(b, l, a[0], isOnnxUnsigned(base->onnxType),
                               expType, false);
          Value p = math::PowFOp::create(b, l, x, a[1]);
          return castElement(b, l, p, false, element,
                            isOnnxUnsigned(base->onnxType));
        });
    n.setOutput(0, result, base->onnxType);
    return success();
  });

  unary("Sqrt", {13}, floatUnary<math::SqrtOp>());
  unary("Exp", {13}, floatUnary<math::ExpOp>());
  unary("Log", {13}, floatUnary<math::LogOp>());
  unary("Erf", {13}, floatUnary<math::ErfOp>());
  unary("Tanh", {13}, floatUnary<math::TanhOp>());

  ScalarKernel reciprocal;
  reciprocal.onFloat = [](OpBuilder &b, Location l, ValueRange a) -> Value {
    Value one = scalarConstant(b, l, a[0].getType(), 1.0);
    return arith::DivFOp::create(b, l, one, a[0]);
  };
  unary("Reciprocal", {13}, reciprocal);

  ScalarKernel neg;
  neg.onFloat = [](OpBuilder &b, Location l, ValueRange a) -> Value {
    return arith::NegFOp::create(b, l, a[0]);
  };
  neg.onInt = [](OpBuilder &b, Location l, ValueRange a, bool) -> Value {
    Value zero = scalarConstant(b, l, a[0].getType(), 0);
    return arith::SubIOp::create(b, l, zero, a[0]);
  };
  neg.fold = [](ArrayRef<int64_t> v, bool) -> std::optional<int64_t> {
    return -v[0];
  };
  unary("Neg", {13}, neg);

  ScalarKernel sigmoid;
  sigmoid.onFloat = [](OpBuilder &b, Location l, ValueRange a) -> Value {
    // 1 / (1 + exp(-x))
    Value one = scalarConstant(b, l, a[0].getType(), 1.0);
    Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, a[0]));
    return arith::DivFOp::create(b, l, one, arith::AddFOp::create(b, l, one, e));
  };
  unary("Sigmoid", {13}, sigmoid);

  // Gelu (20): 0.5 x (1 + erf(x / sqrt(2))); with approximate = "tanh",
  // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), as ONNX defines them.
  auto gelu = [](bool useTanh) {
    ScalarKernel kernel;
    kernel.onFloat = [useTanh](OpBuilder &b, Location l,
                               ValueRange a) -> Value {
      Type t = a[0].getType();
      Value x = a[0], inner;
      if (useTanh) {
        Value cube = arith::MulFOp::create(
            b, l, x, arith::MulFOp::create(b, l, x, x));
        Value poly = arith::AddFOp::create(
            b, l, x,
            arith::MulFOp::create(b, l, scalarConstant(b, l, t, 0.044715),
                                  cube));
        inner = math::TanhOp::create(
            b, l,
            arith::MulFOp::create(
                b, l, scalarConstant(b, l, t, std::sqrt(2.0 / M_PI)), poly));
      } else {
        inner = math::ErfOp::create(
            b, l,
            arith::MulFOp::create(b, l, x,
                                  scalarConstant(b, l, t, M_SQRT1_2)));
      }
      Value one = scalarConstant(b, l, t, 1.0);
      Value half = arith::MulFOp::create(b, l, scalarConstant(b, l, t, 0.5), x);
      return arith::MulFOp::create(b, l, half,
                                   arith::AddFOp::create(b, l, one, inner));
    };
    return kernel;
  };
  table.add("Gelu", {20},
            [erfForm = gelu(false), tanhForm = gelu(true)](
                NodeContext &n) -> LogicalResult {
              std::string approximate = n.stringAttr("approximate", "none");
              if (approximate != "none" && approximate != "tanh")
                return n.fail("approximate is '" + approximate +
                              "'; ONNX defines 'none' and 'tanh'");
              return importElementwise(
                  n, approximate == "tanh" ? tanhForm : erfForm, 1);
            });

  ScalarKernel relu;
  relu.onFloat = [](OpBuilder &b, Location l, ValueRange a) -> Value {
    Value zero = scalarConstant(b, l, a[0].getType(), 0.0);
    return arith::MaximumFOp::create(b, l, a[0], zero);
  };
  relu.onInt = [](OpBuilder &b, Location l, ValueRange a, bool) -> Value {
    Value zero = scalarConstant(b, l, a[0].getType(), 0);
    return arith::MaxSIOp::create(b, l, a[0], zero);
  };
  unary("Relu", {13, 14}, relu);

  binary("Equal", {13, 19},
         comparison(arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq,
                    arith::CmpIPredicate::eq,
                    [](int64_t a, int64_t b) { return a == b; }));
  binary("Less", {13},
         comparison(arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt,
                    arith::CmpIPredicate::ult,
                    [](int64_t a, int64_t b) { return a < b; }));
  binary("Greater", {13},
         comparison(arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt,
                    arith::CmpIPredicate::ugt,
                    [](int64_t a, int64_t b) { return a > b; }));

  ScalarKernel logicalNot;
  logicalNot.onBool = [](OpBuilder &b, Location l, ValueRange a) -> Value {
    Value one = scalarConstant(b, l, b.getI1Type(), 1);
    return arith::XOrIOp::create(b, l, a[0], one);
  };
  logicalNot.fold = [](ArrayRef<int64_t> v, bool) -> std::optional<int64_t> {
    return v[0] ? 0 : 1;
  };
  unary("Not", {1}, logicalNot);

  ScalarKernel logicalAnd;
  logicalAnd.onBool = [](OpBuilder &b, Location l, ValueRange a) -> Value {
    return arith::AndIOp::create(b, l, a[0], a[1]);
  };
  logicalAnd.fold = [](ArrayRef<int64_t> v, bool) -> std::optional<int64_t> {
    return (v[0] && v[1]) ? 1 : 0;
  };
  binary("And", {7}, logicalAnd);

  ScalarKernel where;
  auto select = [](OpBuilder &b, Location l, ValueRange a) -> Value {
    return arith::SelectOp::create(b, l, a[0], a[1], a[2]);
  };
  where.onFloat = select;
  where.onBool = select;
  where.onInt = [select](OpBuilder &b, Location l, ValueRange a, bool) {
    return select(b, l, a);
  };
  where.fold = [](ArrayRef<int64_t> v, bool) -> std::optional<int64_t> {
    return v[0] ? v[1] : v[2];
  };
  table.add("Where", {9, 16}, [where](NodeContext &n) -> LogicalResult {
    FailureOr<OnnxValue> cond = n.input(0);
    if (failed(cond))
      return failure();
    if (!cond->getElementType().isInteger(1))
      return n.fail("condition must be BOOL, but is " +
                    onnxTypeName(cond->onnxType));
    return importElementwise(n, where, 3);
  });

  table.add("Cast", {13, 19, 21, 23}, importCast);
}
