//===- Shape.cpp - ONNX shape and data-movement ops -----------------------===//
//
// Constants, shapes and ops that move data without arithmetic. Shapes are
// static, so Shape is a constant and the shape arithmetic PyTorch emits
// (Shape → Gather → Unsqueeze → Concat → Reshape) folds at import time.
//
//===----------------------------------------------------------------------===//

#include "../ImportState.h"
#include "../TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::tac::onnx_import;
using onnx::TensorProto;

namespace {

LogicalResult importIdentity(NodeContext &n) {
  FailureOr<OnnxValue> x = n.input(0);
  if (failed(x))
    return failure();
  if (n.hasOutput(0))
    n.graph.define(n.node.output(0), *x);
  return success();
}

LogicalResult importConstant(NodeContext &n) {
  const onnx::AttributeProto *value = n.attr("value");
  Builder &b = n.builder;
  if (value && value->has_t()) {
    DenseElementsAttr known;
    std::string error;
    FailureOr<ElementsAttr> contents = convertTensorProto(
        value->t(), n.getContext(), n.graph.model.modelDir,
        n.graph.model.options.inlineConstantLimit, known, error);
    if (failed(contents))
      return n.fail("its value cannot be imported: " + error);
    if (n.hasOutput(0)) {
      Value v = n.graph.model.materializeConstant(*contents, n.loc);
      n.graph.define(n.node.output(0),
                     OnnxValue{v, value->t().data_type(), known});
    }
    return success();
  }
  // The scalar and list forms.
  if (const onnx::AttributeProto *f = n.attr("value_float")) {
    n.setKnownOutput(0, DenseElementsAttr::get(
                            RankedTensorType::get({}, b.getF32Type()), f->f()),
                     TensorProto::FLOAT);
    return success();
  }
  if (const onnx::AttributeProto *fs = n.attr("value_floats")) {
    SmallVector<float> values(fs->floats().begin(), fs->floats().end());
    n.setKnownOutput(
        0,
        DenseElementsAttr::get(
            RankedTensorType::get({(int64_t)values.size()}, b.getF32Type()),
            ArrayRef<float>(values)),
        TensorProto::FLOAT);
    return success();
  }
  if (const onnx::AttributeProto *i = n.attr("value_int")) {
    n.setKnownOutput(0, DenseElementsAttr::get(
                            RankedTensorType::get({}, b.getI64Type()), i->i()),
                     TensorProto::INT64);
    return success();
  }
  if (const onnx::AttributeProto *is = n.attr("value_ints")) {
    SmallVector<int64_t> values(is->ints().begin(), is->ints().end());
    n.setKnownOutput(
        0,
        DenseElementsAttr::get(
            RankedTensorType::get({(int64_t)values.size()}, b.getI64Type()),
            ArrayRef<int64_t>(values)),
        TensorProto::INT64);
    return success();
  }
  return n.fail("has no value attribute tac supports (value, value_float(s), "
                "value_int(s)); string and sparse constants are not "
                "supported");
}

LogicalResult importShape(NodeContext &n) {
  FailureOr<OnnxValue> x = n.input(0);
  if (failed(x))
    return failure();
  int64_t rank = x->getRank();
  int64_t start = n.intAttr("start", 0), end = n.intAttr("end", rank);
  // Opset 15 slices the shape; negative bounds count from the end, and
  // out-of-range bounds clamp.
  auto clampBound = [rank](int64_t v) {
    if (v < 0)
      v += rank;
    return std::clamp<int64_t>(v, 0, rank);
  };
  start = clampBound(start);
  end = std::max(clampBound(end), start);
  SmallVector<int64_t> dims(x->getShape().begin() + start,
                            x->getShape().begin() + end);
  n.setKnownOutput(
      0,
      DenseElementsAttr::get(
          RankedTensorType::get({(int64_t)dims.size()}, n.builder.getI64Type()),
          ArrayRef<int64_t>(dims)),
      TensorProto::INT64);
  return success();
}

} // namespace

void mlir::tac::onnx_import::registerShapeOps(OpTable &table) {
  table.add("Identity", {13, 14, 16}, importIdentity);
  table.add("Constant", {13}, importConstant);
  table.add("Shape", {13, 15}, importShape);
}
