//===- Shape.cpp - ONNX shape and data-movement ops -----------------------===//
//
// Constants, shapes and ops that move data without arithmetic. Shapes are
// static, so Shape is a constant and the shape arithmetic PyTorch emits
// (Shape → Gather → Unsqueeze → Concat → Reshape) folds at import time.
//
// Every op here folds on the host when its data operand is known at import
// time and the result is small (kFoldLimit elements); the folds are index
// arithmetic over the elements as attributes, so they work for any element
// type. Otherwise:
//   Reshape, Flatten, Squeeze, Unsqueeze  tensor.collapse_shape/expand_shape
//   Concat                                tensor.insert_slice chain
//   Split                                 tensor.extract_slice per output
//   Slice                                 tensor.extract_slice (+ one
//                                         linalg.generic reversing the axes
//                                         that negative steps walk back)
//   Gather                                extract_slices for known indices,
//                                         else linalg.generic + tensor.extract
//   Expand                                linalg.generic broadcast
//   Transpose                             linalg.transpose
//   ConstantOfShape                       splat constant or linalg.fill
//
//===----------------------------------------------------------------------===//

#include "../ImportState.h"
#include "../TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/Support/CheckedArithmetic.h"

#include <numeric>

using namespace mlir;
using namespace mlir::tac::onnx_import;
using onnx::TensorProto;

namespace {

/// Largest result that folds on the host; bigger results are computed by
/// the generated code.
constexpr int64_t kFoldLimit = 4096;
/// A Gather with at most this many known indices (that are not one strided
/// range) becomes one extract/insert_slice pair per index; more indices
/// become one linalg.generic reading them from a constant.
constexpr int64_t kMaxStaticGatherSlices = 16;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Product of `dims`; nullopt on overflow.
std::optional<int64_t> product(ArrayRef<int64_t> dims) {
  int64_t p = 1;
  for (int64_t d : dims) {
    std::optional<int64_t> next = llvm::checkedMul(p, d);
    if (!next)
      return std::nullopt;
    p = *next;
  }
  return p;
}

/// Row-major strides of `shape`.
SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * shape[d + 1];
  return strides;
}

int64_t flatIndex(ArrayRef<int64_t> index, ArrayRef<int64_t> shape) {
  int64_t flat = 0;
  for (auto [i, d] : llvm::zip(index, shape))
    flat = flat * d + i;
  return flat;
}

/// Element `flat` (row-major) of a known tensor, for any element type.
Attribute knownAt(DenseElementsAttr known, int64_t flat) {
  if (known.isSplat())
    return known.getSplatValue<Attribute>();
  return *(known.getValues<Attribute>().begin() + flat);
}

Attribute knownAt(DenseElementsAttr known, ArrayRef<int64_t> index) {
  return knownAt(known, flatIndex(index, known.getType().getShape()));
}

/// Whether a result of `shape` is small enough to fold.
bool foldableSize(ArrayRef<int64_t> shape) {
  std::optional<int64_t> count = product(shape);
  return count && *count <= kFoldLimit;
}

/// Host data movement: a constant of `shape` whose element at each index is
/// `element(index)`.
DenseElementsAttr
buildKnown(ArrayRef<int64_t> shape, Type elementType,
           function_ref<Attribute(ArrayRef<int64_t>)> element) {
  auto type = RankedTensorType::get(shape, elementType);
  int64_t count = type.getNumElements();
  int64_t rank = shape.size();
  SmallVector<Attribute> values;
  values.reserve(count);
  SmallVector<int64_t> index(rank, 0);
  for (int64_t flat = 0; flat < count; ++flat) {
    values.push_back(element(index));
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++index[d] < shape[d])
        break;
      index[d] = 0;
    }
  }
  return DenseElementsAttr::get(type, values);
}

DenseElementsAttr int64Tensor(MLIRContext *ctx, ArrayRef<int64_t> values) {
  return DenseElementsAttr::get(
      RankedTensorType::get({static_cast<int64_t>(values.size())},
                            IntegerType::get(ctx, 64)),
      values);
}

/// Normalises an axis of a tensor of rank `rank` (>= 1) to [0, rank).
FailureOr<int64_t> normalizeAxisOf(NodeContext &n, int64_t axis, int64_t rank,
                                   StringRef what = "axis") {
  if (rank == 0)
    return n.emitError() << what << " " << axis
                         << " is invalid: the input is a scalar (rank 0)",
           failure();
  return n.normalizeAxis(axis, rank, what);
}

/// Normalises a list of axes and checks that none repeats; sorted if `sort`.
FailureOr<SmallVector<int64_t>> normalizeAxes(NodeContext &n,
                                              ArrayRef<int64_t> axes,
                                              int64_t rank, bool sort,
                                              StringRef what = "axis") {
  SmallVector<int64_t> result;
  for (int64_t axis : axes) {
    FailureOr<int64_t> a = normalizeAxisOf(n, axis, rank, what);
    if (failed(a))
      return failure();
    if (llvm::is_contained(result, *a))
      return n.emitError() << "axes " << formatShape(axes) << " name axis " << *a
                           << " more than once",
             failure();
    result.push_back(*a);
  }
  if (sort)
    llvm::sort(result);
  return result;
}

/// An input that must be a 1-D tensor of integers known at import time.
FailureOr<SmallVector<int64_t>> known1DInts(NodeContext &n, size_t i,
                                            StringRef what) {
  FailureOr<SmallVector<int64_t>> ints = n.knownIntsInput(i, what);
  if (failed(ints))
    return failure();
  FailureOr<OnnxValue> v = n.input(i, /*materialize=*/false);
  if (failed(v))
    return failure();
  if (v->getRank() != 1)
    return n.emitError() << "expects its " << what
                         << " to be a 1-D tensor, but it has shape "
                         << formatShape(v->getShape()),
           failure();
  return ints;
}

/// Input `i` (which the handler already looked up) as an MLIR value,
/// materialising a known one as a constant.
Value valueOf(NodeContext &n, size_t i) {
  FailureOr<OnnxValue> v = n.input(i);
  assert(succeeded(v) && "input looked up before");
  return v->value;
}

/// True if an offset equals (or passes) its dimension's size: valid for an
/// empty slice in ONNX, out of bounds for tensor.extract/insert_slice.
bool offsetAtEnd(RankedTensorType type, ArrayRef<int64_t> offsets) {
  for (auto [offset, dim] : llvm::zip(offsets, type.getShape()))
    if (offset >= dim)
      return true;
  return false;
}

Value extractSlice(OpBuilder &b, Location loc, Value source,
                   RankedTensorType resultType, ArrayRef<int64_t> offsets,
                   ArrayRef<int64_t> sizes, ArrayRef<int64_t> strides) {
  // An empty slice may start at the end of a dimension, which
  // tensor.extract_slice's verifier refuses (offset out of bounds).
  if (resultType.getNumElements() == 0 &&
      offsetAtEnd(cast<RankedTensorType>(source.getType()), offsets))
    return tensor::EmptyOp::create(b, loc, resultType.getShape(),
                                   resultType.getElementType());
  return tensor::ExtractSliceOp::create(b, loc, resultType, source,
                                        ValueRange{}, ValueRange{},
                                        ValueRange{}, offsets, sizes, strides);
}

Value insertSlice(OpBuilder &b, Location loc, Value source, Value dest,
                  ArrayRef<int64_t> offsets, ArrayRef<int64_t> sizes) {
  // Nothing to insert, at an offset tensor.insert_slice would refuse.
  if (cast<RankedTensorType>(source.getType()).getNumElements() == 0 &&
      offsetAtEnd(cast<RankedTensorType>(dest.getType()), offsets))
    return dest;
  SmallVector<int64_t> strides(offsets.size(), 1);
  return tensor::InsertSliceOp::create(b, loc, source, dest, ValueRange{},
                                       ValueRange{}, ValueRange{}, offsets,
                                       sizes, strides);
}

/// Defines output 0 as input 0 (`x`) reshaped to `shape`, folding a known
/// input.
void setReshaped(NodeContext &n, const OnnxValue &x, ArrayRef<int64_t> shape) {
  if (DenseElementsAttr known = x.known; known && foldableSize(shape)) {
    n.setKnownOutput(
        0, known.reshape(RankedTensorType::get(shape, x.getElementType())),
        x.onnxType);
    return;
  }
  n.setOutput(0, reshapeTo(n.builder, n.loc, valueOf(n, 0), shape), x.onnxType);
}

//===----------------------------------------------------------------------===//
// Identity, Constant, Shape
//===----------------------------------------------------------------------===//

LogicalResult importIdentity(NodeContext &n) {
  FailureOr<OnnxValue> x = n.input(0, /*materialize=*/false);
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
    // Known contents become a constant op only where a value is needed.
    if (known) {
      n.setKnownOutput(0, known, value->t().data_type());
      return success();
    }
    if (n.hasOutput(0)) {
      Value v = n.graph.model.materializeConstant(*contents, n.loc);
      n.graph.define(n.node.output(0),
                     OnnxValue{v, value->t().data_type(), known});
    }
    return success();
  }
  // The scalar and list forms.
  if (const onnx::AttributeProto *f = n.attr("value_float")) {
    n.setKnownOutput(0,
                     DenseElementsAttr::get(
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
    n.setKnownOutput(0,
                     DenseElementsAttr::get(
                         RankedTensorType::get({}, b.getI64Type()), i->i()),
                     TensorProto::INT64);
    return success();
  }
  if (const onnx::AttributeProto *is = n.attr("value_ints")) {
    SmallVector<int64_t> values(is->ints().begin(), is->ints().end());
    n.setKnownOutput(0, int64Tensor(n.getContext(), values),
                     TensorProto::INT64);
    return success();
  }
  return n.fail("has no value attribute tac supports (value, value_float(s), "
                "value_int(s)); string and sparse constants are not "
                "supported");
}

LogicalResult importShape(NodeContext &n) {
  FailureOr<OnnxValue> x = n.input(0, /*materialize=*/false);
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
  n.setKnownOutput(0, int64Tensor(n.getContext(), dims), TensorProto::INT64);
  return success();
}

//===----------------------------------------------------------------------===//
// Reshape, Flatten, Squeeze, Unsqueeze
//===----------------------------------------------------------------------===//

LogicalResult importReshape(NodeContext &n) {
  FailureOr<OnnxValue> x = n.input(0, /*materialize=*/false);
  if (failed(x))
    return failure();
  FailureOr<SmallVector<int64_t>> target = known1DInts(n, 1, "target shape");
  if (failed(target))
    return failure();
  int64_t allowZero = n.sinceVersion >= 14 ? n.intAttr("allowzero", 0) : 0;
  if (allowZero != 0 && allowZero != 1)
    return n.fail("attribute allowzero = " + Twine(allowZero) +
                  " is invalid; expected 0 or 1");
  ArrayRef<int64_t> in = x->getShape();
  SmallVector<int64_t> shape;
  int64_t inferred = -1;
  bool hasZero = false;
  for (auto [i, d] : llvm::enumerate(*target)) {
    if (d == -1) {
      if (inferred >= 0)
        return n.fail("target shape " + formatShape(*target) +
                      " has more than one -1");
      inferred = i;
      shape.push_back(1);
    } else if (d == 0 && !allowZero) {
      if (static_cast<int64_t>(i) >= x->getRank())
        return n.fail("target shape " + formatShape(*target) + " has 0 at " +
                      "position " + Twine(i) +
                      " (copy the input's dimension), but the input " +
                      formatShape(in) + " has rank " + Twine(x->getRank()));
      shape.push_back(in[i]);
    } else if (d < -1) {
      return n.fail("target shape " + formatShape(*target) + " has dimension " +
                    Twine(d) + "; expected -1, 0 or a positive size");
    } else {
      hasZero |= d == 0;
      shape.push_back(d);
    }
  }
  if (allowZero && hasZero && inferred >= 0)
    return n.fail("target shape " + formatShape(*target) +
                  " has both 0 and -1, which allowzero = 1 forbids");
  int64_t count = x->getType().getNumElements();
  std::optional<int64_t> rest = product(shape);
  if (!rest)
    return n.fail("target shape " + formatShape(*target) +
                  " has more elements than fit in 64 bits");
  if (inferred >= 0) {
    if (*rest == 0 || count % *rest != 0)
      return n.fail("cannot infer the -1 of target shape " + formatShape(*target) +
                    " for input shape " + formatShape(in) + " (" + Twine(count) +
                    " elements)");
    shape[inferred] = count / *rest;
  } else if (*rest != count) {
    return n.fail("cannot reshape input shape " + formatShape(in) + " (" +
                  Twine(count) + " elements) to " + formatShape(shape) + " (" +
                  Twine(*rest) + " elements)");
  }
  setReshaped(n, *x, shape);
  return success();
}

LogicalResult importFlatten(NodeContext &n) {
  FailureOr<OnnxValue> x = n.input(0, /*materialize=*/false);
  if (failed(x))
    return failure();
  int64_t rank = x->getRank(), axis = n.intAttr("axis", 1);
  if (axis < -rank || axis > rank)
    return n.fail("attribute axis = " + Twine(axis) +
                  " is out of range for rank " + Twine(rank) +
                  "; expected a value in [" + Twine(-rank) + ", " +
                  Twine(rank) + "]");
  if (axis < 0)
    axis += rank;
  ArrayRef<int64_t> in = x->getShape();
  std::optional<int64_t> outer = product(in.take_front(axis));
  std::optional<int64_t> inner = product(in.drop_front(axis));
  if (!outer || !inner)
    return n.fail("input shape " + formatShape(in) +
                  " has more elements than fit in 64 bits");
  setReshaped(n, *x, {*outer, *inner});
  return success();
}

LogicalResult importSqueeze(NodeContext &n) {
  FailureOr<OnnxValue> x = n.input(0, /*materialize=*/false);
  if (failed(x))
    return failure();
  std::optional<SmallVector<int64_t>> axesList;
  if (n.sinceVersion >= 13) {
    if (n.hasInput(1)) {
      FailureOr<SmallVector<int64_t>> axes = known1DInts(n, 1, "axes");
      if (failed(axes))
        return failure();
      axesList = *axes;
    }
  } else {
    axesList = n.intsAttr("axes");
  }
  ArrayRef<int64_t> in = x->getShape();
  SmallVector<int64_t> axes;
  if (axesList) {
    FailureOr<SmallVector<int64_t>> normalized =
        normalizeAxes(n, *axesList, x->getRank(), /*sort=*/true);
    if (failed(normalized))
      return failure();
    axes = *normalized;
    for (int64_t a : axes)
      if (in[a] != 1)
        return n.fail("cannot squeeze axis " + Twine(a) + " of input shape " +
                      formatShape(in) + ": its size is " + Twine(in[a]) +
                      ", not 1");
  } else {
    for (auto [i, d] : llvm::enumerate(in))
      if (d == 1)
        axes.push_back(i);
  }
  SmallVector<int64_t> shape;
  for (auto [i, d] : llvm::enumerate(in))
    if (!llvm::is_contained(axes, static_cast<int64_t>(i)))
      shape.push_back(d);
  setReshaped(n, *x, shape);
  return success();
}

LogicalResult importUnsqueeze(NodeContext &n) {
  FailureOr<OnnxValue> x = n.input(0, /*materialize=*/false);
  if (failed(x))
    return failure();
  SmallVector<int64_t> axesList;
  if (n.sinceVersion >= 13) {
    FailureOr<SmallVector<int64_t>> axes = known1DInts(n, 1, "axes");
    if (failed(axes))
      return failure();
    axesList = *axes;
  } else {
    std::optional<SmallVector<int64_t>> axes = n.intsAttr("axes");
    if (!axes)
      return n.fail("misses its required attribute 'axes'");
    axesList = *axes;
  }
  int64_t outRank = x->getRank() + static_cast<int64_t>(axesList.size());
  FailureOr<SmallVector<int64_t>> axes =
      normalizeAxes(n, axesList, outRank, /*sort=*/true, "result axis");
  if (failed(axes))
    return failure();
  SmallVector<int64_t> shape;
  ArrayRef<int64_t> in = x->getShape();
  for (int64_t i = 0, next = 0; i < outRank; ++i)
    shape.push_back(llvm::is_contained(*axes, i) ? 1 : in[next++]);
  setReshaped(n, *x, shape);
  return success();
}

//===----------------------------------------------------------------------===//
// Concat, Split
//===----------------------------------------------------------------------===//

LogicalResult importConcat(NodeContext &n) {
  if (!n.attr("axis"))
    return n.fail("misses its required attribute 'axis'");
  if (n.numInputs() == 0)
    return n.fail("has no inputs; Concat needs at least one");
  SmallVector<OnnxValue> inputs;
  for (size_t i = 0; i < n.numInputs(); ++i) {
    FailureOr<OnnxValue> v = n.input(i, /*materialize=*/false);
    if (failed(v))
      return failure();
    inputs.push_back(*v);
  }
  const OnnxValue &first = inputs.front();
  int64_t rank = first.getRank();
  FailureOr<int64_t> axis = normalizeAxisOf(n, n.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(first.getShape());
  shape[*axis] = 0;
  bool allKnown = true;
  for (auto [i, v] : llvm::enumerate(inputs)) {
    if (v.getElementType() != first.getElementType())
      return n.fail("input #" + Twine(i) + " has element type " +
                    onnxTypeName(v.onnxType) + ", but input #0 has " +
                    onnxTypeName(first.onnxType) +
                    "; ONNX requires them to match");
    bool match = v.getRank() == rank;
    for (int64_t d = 0; match && d < rank; ++d)
      match = d == *axis || v.getShape()[d] == first.getShape()[d];
    if (!match)
      return n.fail(
          "input #" + Twine(i) + " has shape " + formatShape(v.getShape()) +
          ", which does not match input #0 " + formatShape(first.getShape()) +
          " outside axis " + Twine(*axis));
    shape[*axis] += v.getShape()[*axis];
    allKnown &= static_cast<bool>(v.known);
  }

  if (inputs.size() == 1) {
    if (n.hasOutput(0))
      n.graph.define(n.node.output(0), first);
    return success();
  }
  if (allKnown && foldableSize(shape)) {
    // Which input each position along the axis comes from.
    SmallVector<int64_t> source, offset;
    for (auto [i, v] : llvm::enumerate(inputs))
      for (int64_t k = 0; k < v.getShape()[*axis]; ++k) {
        source.push_back(i);
        offset.push_back(k);
      }
    SmallVector<int64_t> at;
    DenseElementsAttr folded =
        buildKnown(shape, first.getElementType(), [&](ArrayRef<int64_t> index) {
          at.assign(index.begin(), index.end());
          int64_t p = index[*axis];
          at[*axis] = offset[p];
          return knownAt(inputs[source[p]].known, at);
        });
    n.setKnownOutput(0, folded, first.onnxType);
    return success();
  }
  SmallVector<Value> values;
  for (size_t i = 0; i < inputs.size(); ++i)
    values.push_back(valueOf(n, i));
  n.setOutput(0, concatTensors(n.builder, n.loc, values, *axis),
              first.onnxType);
  return success();
}

LogicalResult importSplit(NodeContext &n) {
  FailureOr<OnnxValue> x = n.input(0, /*materialize=*/false);
  if (failed(x))
    return failure();
  FailureOr<int64_t> axis =
      normalizeAxisOf(n, n.intAttr("axis", 0), x->getRank());
  if (failed(axis))
    return failure();
  int64_t numOutputs = n.numOutputs();
  if (numOutputs == 0)
    return n.fail("has no outputs");
  int64_t dim = x->getShape()[*axis];
  SmallVector<int64_t> sizes;
  if (n.sinceVersion >= 13) {
    if (n.hasInput(1)) {
      FailureOr<SmallVector<int64_t>> split = known1DInts(n, 1, "split sizes");
      if (failed(split))
        return failure();
      sizes = *split;
    }
  } else if (std::optional<SmallVector<int64_t>> split = n.intsAttr("split")) {
    sizes = *split;
  }
  // Opset 18: `num_outputs` parts of ceil(dim / num_outputs), the last one
  // smaller when the axis does not divide evenly.
  if (const onnx::AttributeProto *parts =
          n.sinceVersion >= 18 ? n.attr("num_outputs") : nullptr) {
    if (n.hasInput(1))
      return n.fail("has both split sizes (input #1) and 'num_outputs'; "
                    "ONNX allows one of them");
    int64_t count = parts->i();
    if (count != numOutputs)
      return n.fail("'num_outputs' is " + Twine(count) + ", but the node has " +
                    Twine(numOutputs) + " outputs");
    int64_t chunk = dim / count + (dim % count != 0 ? 1 : 0);
    int64_t last = dim - chunk * (count - 1);
    if (last < 0)
      return n.fail("cannot split axis " + Twine(*axis) + " of size " +
                    Twine(dim) + " into " + Twine(count) +
                    " parts of " + Twine(chunk) + " with a smaller last one");
    sizes.assign(count - 1, chunk);
    sizes.push_back(last);
  }
  if (sizes.empty()) {
    if (dim % numOutputs != 0)
      return n.fail("cannot split axis " + Twine(*axis) + " of size " +
                    Twine(dim) + " into " + Twine(numOutputs) +
                    " equal parts; give the split sizes");
    sizes.assign(numOutputs, dim / numOutputs);
  } else {
    if (static_cast<int64_t>(sizes.size()) != numOutputs)
      return n.fail("split sizes " + formatShape(sizes) + " have " +
                    Twine(sizes.size()) + " entries, but the node has " +
                    Twine(numOutputs) + " outputs");
    if (llvm::any_of(sizes, [](int64_t s) { return s < 0; }))
      return n.fail("split sizes " + formatShape(sizes) +
                    " have a negative entry");
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s > dim - sum) { // also keeps the sum from overflowing
        sum = -1;
        break;
      }
      sum += s;
    }
    if (sum != dim)
      return n.fail("split sizes " + formatShape(sizes) +
                    " do not add up to the size " + Twine(dim) + " of axis " +
                    Twine(*axis) + " of input shape " +
                    formatShape(x->getShape()));
  }
  int64_t rank = x->getRank();
  SmallVector<int64_t> offsets(rank, 0), strides(rank, 1);
  for (auto [i, size] : llvm::enumerate(sizes)) {
    SmallVector<int64_t> shape(x->getShape());
    shape[*axis] = size;
    if (x->known && foldableSize(shape)) {
      SmallVector<int64_t> at;
      int64_t start = offsets[*axis];
      n.setKnownOutput(i,
                       buildKnown(shape, x->getElementType(),
                                  [&](ArrayRef<int64_t> index) {
                                    at.assign(index.begin(), index.end());
                                    at[*axis] += start;
                                    return knownAt(x->known, at);
                                  }),
                       x->onnxType);
    } else if (size == dim) {
      if (n.hasOutput(i))
        n.graph.define(n.node.output(i), *x);
    } else {
      auto type = RankedTensorType::get(shape, x->getElementType());
      n.setOutput(i,
                  extractSlice(n.builder, n.loc, valueOf(n, 0), type, offsets,
                               shape, strides),
                  x->onnxType);
    }
    offsets[*axis] += size;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Slice
//===----------------------------------------------------------------------===//

/// Reverses `value` along `axes` (one linalg.generic reading index
/// size - 1 - i).
Value reverseAxes(OpBuilder &b, Location loc, Value value,
                  ArrayRef<int64_t> axes) {
  auto type = cast<RankedTensorType>(value.getType());
  MLIRContext *ctx = b.getContext();
  int64_t rank = type.getRank();
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < rank; ++d) {
    AffineExpr e = getAffineDimExpr(d, ctx);
    if (llvm::is_contained(axes, d))
      e = getAffineConstantExpr(type.getDimSize(d) - 1, ctx) - e;
    exprs.push_back(e);
  }
  SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, exprs, ctx),
                                 AffineMap::getMultiDimIdentityMap(rank, ctx)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  Value init = emptyTensor(b, loc, type.getShape(), type.getElementType());
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{value}, ValueRange{init}, maps, iterators,
             [](OpBuilder &nested, Location nestedLoc, ValueRange args) {
               linalg::YieldOp::create(nested, nestedLoc, args[0]);
             })
      .getResult(0);
}

LogicalResult importSlice(NodeContext &n) {
  FailureOr<OnnxValue> x = n.input(0, /*materialize=*/false);
  if (failed(x))
    return failure();
  FailureOr<SmallVector<int64_t>> starts = known1DInts(n, 1, "starts");
  if (failed(starts))
    return failure();
  FailureOr<SmallVector<int64_t>> ends = known1DInts(n, 2, "ends");
  if (failed(ends))
    return failure();
  size_t count = starts->size();
  if (ends->size() != count)
    return n.fail("starts " + formatShape(*starts) + " and ends " +
                  formatShape(*ends) + " have different lengths");
  SmallVector<int64_t> axesList, steps(count, 1);
  if (n.hasInput(3)) {
    FailureOr<SmallVector<int64_t>> axes = known1DInts(n, 3, "axes");
    if (failed(axes))
      return failure();
    if (axes->size() != count)
      return n.fail("axes " + formatShape(*axes) + " and starts " +
                    formatShape(*starts) + " have different lengths");
    axesList = *axes;
  } else {
    axesList = llvm::to_vector(llvm::seq<int64_t>(0, count));
  }
  if (n.hasInput(4)) {
    FailureOr<SmallVector<int64_t>> s = known1DInts(n, 4, "steps");
    if (failed(s))
      return failure();
    if (s->size() != count)
      return n.fail("steps " + formatShape(*s) + " and starts " +
                    formatShape(*starts) + " have different lengths");
    steps = *s;
  }
  FailureOr<SmallVector<int64_t>> axes =
      normalizeAxes(n, axesList, x->getRank(), /*sort=*/false);
  if (failed(axes))
    return failure();

  int64_t rank = x->getRank();
  ArrayRef<int64_t> in = x->getShape();
  // Per axis: the first element taken and the step (negative walks back),
  // the result size, and the positive-stride window extract_slice takes.
  SmallVector<int64_t> first(rank, 0), step(rank, 1), shape(in);
  SmallVector<int64_t> offsets(rank, 0), strides(rank, 1), reversed;
  for (size_t i = 0; i < count; ++i) {
    int64_t a = (*axes)[i], dim = in[a], s = steps[i];
    if (s == 0)
      return n.fail("steps " + formatShape(steps) + " have a 0 for axis " +
                    Twine(a) + "; steps must be nonzero");
    if (s == std::numeric_limits<int64_t>::min())
      return n.fail("step " + Twine(s) + " for axis " + Twine(a) +
                    " is out of range");
    int64_t start = (*starts)[i], end = (*ends)[i];
    if (start < 0)
      start += dim;
    if (end < 0)
      end += dim;
    int64_t size;
    if (dim == 0) {
      size = 0;
    } else if (s > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      size = end > start ? (end - start - 1) / s + 1 : 0;
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      size = start > end ? (start - end - 1) / (-s) + 1 : 0;
    }
    first[a] = size ? start : 0;
    step[a] = s;
    shape[a] = size;
    if (s > 0 || size <= 1) {
      offsets[a] = first[a];
      strides[a] = size > 1 ? s : 1;
    } else {
      offsets[a] = start - (size - 1) * (-s);
      strides[a] = -s;
      reversed.push_back(a);
    }
  }

  if (x->known && foldableSize(shape)) {
    SmallVector<int64_t> at(rank);
    n.setKnownOutput(0,
                     buildKnown(shape, x->getElementType(),
                                [&](ArrayRef<int64_t> index) {
                                  for (int64_t d = 0; d < rank; ++d)
                                    at[d] = first[d] + index[d] * step[d];
                                  return knownAt(x->known, at);
                                }),
                     x->onnxType);
    return success();
  }
  Value result = valueOf(n, 0);
  if (shape != in) {
    auto type = RankedTensorType::get(shape, x->getElementType());
    result =
        extractSlice(n.builder, n.loc, result, type, offsets, shape, strides);
  }
  if (!reversed.empty())
    result = reverseAxes(n.builder, n.loc, result, reversed);
  n.setOutput(0, result, x->onnxType);
  return success();
}

//===----------------------------------------------------------------------===//
// Gather
//===----------------------------------------------------------------------===//

/// Gather with indices read at run time: one linalg.generic over the result
/// whose body reads the index, makes a negative one count from the end,
/// clamps it into the axis (out-of-range indices are undefined in ONNX; the
/// clamp keeps the read in bounds) and extracts the element.
Value gatherAtRunTime(OpBuilder &b, Location loc, Value data, Value indices,
                      int64_t axis, ArrayRef<int64_t> resultShape) {
  MLIRContext *ctx = b.getContext();
  auto dataType = cast<RankedTensorType>(data.getType());
  auto indicesType = cast<RankedTensorType>(indices.getType());
  int64_t rank = resultShape.size(), q = indicesType.getRank();
  int64_t dim = dataType.getDimSize(axis);
  SmallVector<AffineExpr> indexExprs;
  for (int64_t d = 0; d < q; ++d)
    indexExprs.push_back(getAffineDimExpr(axis + d, ctx));
  SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, indexExprs, ctx),
                                 AffineMap::getMultiDimIdentityMap(rank, ctx)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  Value init = emptyTensor(b, loc, resultShape, dataType.getElementType());
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{indices}, ValueRange{init},
             maps, iterators,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value i = arith::IndexCastOp::create(nb, l, nb.getIndexType(),
                                                    args[0]);
               Value zero = arith::ConstantIndexOp::create(nb, l, 0);
               Value size = arith::ConstantIndexOp::create(nb, l, dim);
               Value last = arith::ConstantIndexOp::create(nb, l, dim - 1);
               Value negative = arith::CmpIOp::create(
                   nb, l, arith::CmpIPredicate::slt, i, zero);
               Value wrapped = arith::AddIOp::create(nb, l, i, size);
               i = arith::SelectOp::create(nb, l, negative, wrapped, i);
               i = arith::MaxSIOp::create(nb, l, i, zero);
               i = arith::MinSIOp::create(nb, l, i, last);
               SmallVector<Value> at;
               for (int64_t d = 0; d < dataType.getRank(); ++d) {
                 if (d < axis)
                   at.push_back(linalg::IndexOp::create(nb, l, d));
                 else if (d == axis)
                   at.push_back(i);
                 else
                   at.push_back(linalg::IndexOp::create(nb, l, d - 1 + q));
               }
               Value element = tensor::ExtractOp::create(nb, l, data, at);
               linalg::YieldOp::create(nb, l, element);
             })
      .getResult(0);
}

LogicalResult importGather(NodeContext &n) {
  FailureOr<OnnxValue> data = n.input(0, /*materialize=*/false);
  FailureOr<OnnxValue> indices = n.input(1, /*materialize=*/false);
  if (failed(data) || failed(indices))
    return failure();
  if (indices->onnxType != TensorProto::INT64 &&
      indices->onnxType != TensorProto::INT32)
    return n.fail("indices must be INT32 or INT64, but are " +
                  onnxTypeName(indices->onnxType));
  FailureOr<int64_t> axis =
      normalizeAxisOf(n, n.intAttr("axis", 0), data->getRank());
  if (failed(axis))
    return failure();
  ArrayRef<int64_t> in = data->getShape(), indShape = indices->getShape();
  int64_t dim = in[*axis];
  SmallVector<int64_t> shape(in.take_front(*axis));
  shape.append(indShape.begin(), indShape.end());
  shape.append(in.begin() + *axis + 1, in.end());
  Type element = data->getElementType();
  auto resultType = RankedTensorType::get(shape, element);
  int64_t numIndices = indices->getType().getNumElements();

  if (numIndices == 0 || resultType.getNumElements() == 0) {
    n.setOutput(0, emptyTensor(n.builder, n.loc, shape, element),
                data->onnxType);
    return success();
  }
  if (dim == 0)
    return n.fail("cannot gather from axis " + Twine(*axis) +
                  " of input shape " + formatShape(in) + ": it is empty");

  if (!indices->known) {
    n.setOutput(0,
                gatherAtRunTime(n.builder, n.loc, valueOf(n, 0), valueOf(n, 1),
                                *axis, shape),
                data->onnxType);
    return success();
  }

  // Known indices: check and normalise them.
  SmallVector<int64_t> idx;
  for (const APInt &v : indices->known.getValues<APInt>()) {
    int64_t i = v.getSExtValue();
    if (i < -dim || i >= dim)
      return n.fail("index " + Twine(i) + " is out of range for axis " +
                    Twine(*axis) + " of size " + Twine(dim) +
                    "; expected a value in [" + Twine(-dim) + ", " +
                    Twine(dim - 1) + "]");
    idx.push_back(i < 0 ? i + dim : i);
  }

  int64_t q = indShape.size();
  if (data->known && foldableSize(shape)) {
    SmallVector<int64_t> at;
    n.setKnownOutput(
        0,
        buildKnown(shape, element,
                   [&](ArrayRef<int64_t> index) {
                     at.assign(index.begin(), index.begin() + *axis);
                     at.push_back(
                         idx[flatIndex(index.slice(*axis, q), indShape)]);
                     at.append(index.begin() + *axis + q, index.end());
                     return knownAt(data->known, at);
                   }),
        data->onnxType);
    return success();
  }

  int64_t rank = data->getRank();
  SmallVector<int64_t> offsets(rank, 0), sizes(in), strides(rank, 1);
  // One index, or indices that form one increasing strided range: one
  // extract_slice (and a reshape to the indices' shape).
  int64_t stride = idx.size() > 1 ? idx[1] - idx[0] : 1;
  bool isRange = stride > 0;
  for (size_t k = 1; isRange && k < idx.size(); ++k)
    isRange = idx[k] - idx[k - 1] == stride;
  if (isRange) {
    offsets[*axis] = idx[0];
    sizes[*axis] = numIndices;
    strides[*axis] = numIndices > 1 ? stride : 1;
    // A scalar index drops the axis (a rank-reducing extract_slice).
    auto sliceType =
        q == 0 ? resultType : RankedTensorType::get(sizes, element);
    Value slice = valueOf(n, 0);
    if (ArrayRef<int64_t>(sizes) != in)
      slice = extractSlice(n.builder, n.loc, slice, sliceType, offsets, sizes,
                           strides);
    n.setOutput(0, reshapeTo(n.builder, n.loc, slice, shape), data->onnxType);
    return success();
  }
  if (numIndices <= kMaxStaticGatherSlices) {
    // One slice per index, inserted at the index's position.
    SmallVector<int64_t> pieceShape(in.take_front(*axis));
    pieceShape.append(in.begin() + *axis + 1, in.end());
    auto pieceType = RankedTensorType::get(pieceShape, element);
    sizes[*axis] = 1;
    Value result = emptyTensor(n.builder, n.loc, shape, element);
    SmallVector<int64_t> insertSizes(in.take_front(*axis));
    insertSizes.append(q, 1);
    insertSizes.append(in.begin() + *axis + 1, in.end());
    SmallVector<int64_t> indStrides = stridesOf(indShape);
    for (auto [k, i] : llvm::enumerate(idx)) {
      offsets[*axis] = i;
      Value piece = extractSlice(n.builder, n.loc, valueOf(n, 0), pieceType,
                                 offsets, sizes, strides);
      SmallVector<int64_t> insertOffsets(*axis, 0);
      for (int64_t d = 0; d < q; ++d)
        insertOffsets.push_back((k / indStrides[d]) % indShape[d]);
      insertOffsets.append(rank - *axis - 1, 0);
      result = insertSlice(n.builder, n.loc, piece, result, insertOffsets,
                           insertSizes);
    }
    n.setOutput(0, result, data->onnxType);
    return success();
  }
  n.setOutput(0,
              gatherAtRunTime(n.builder, n.loc, valueOf(n, 0), valueOf(n, 1),
                              *axis, shape),
              data->onnxType);
  return success();
}

//===----------------------------------------------------------------------===//
// Expand, Transpose, ConstantOfShape
//===----------------------------------------------------------------------===//

LogicalResult importExpand(NodeContext &n) {
  FailureOr<OnnxValue> x = n.input(0, /*materialize=*/false);
  if (failed(x))
    return failure();
  FailureOr<SmallVector<int64_t>> target = known1DInts(n, 1, "shape");
  if (failed(target))
    return failure();
  for (int64_t d : *target)
    if (d < 0)
      return n.fail("shape " + formatShape(*target) + " has a negative dimension");
  std::optional<SmallVector<int64_t>> shape =
      broadcastShapes({x->getShape(), *target});
  if (!shape)
    return n.fail("input shape " + formatShape(x->getShape()) +
                  " does not broadcast to shape " + formatShape(*target));
  if (!product(*shape))
    return n.fail("shape " + formatShape(*shape) +
                  " has more elements than fit in 64 bits");
  ArrayRef<int64_t> in = x->getShape();
  int64_t offset = shape->size() - in.size();
  if (x->known && foldableSize(*shape)) {
    SmallVector<int64_t> at(in.size());
    n.setKnownOutput(0,
                     buildKnown(*shape, x->getElementType(),
                                [&](ArrayRef<int64_t> index) {
                                  for (auto [j, d] : llvm::enumerate(in))
                                    at[j] = d == 1 ? 0 : index[offset + j];
                                  return knownAt(x->known, at);
                                }),
                     x->onnxType);
    return success();
  }
  if (ArrayRef<int64_t>(*shape) == in) {
    if (n.hasOutput(0))
      n.graph.define(n.node.output(0), *x);
    return success();
  }
  Value result = buildElementwise(
      n.builder, n.loc, ValueRange{valueOf(n, 0)}, *shape, x->getElementType(),
      [](OpBuilder &, Location, ValueRange a) { return a[0]; });
  n.setOutput(0, result, x->onnxType);
  return success();
}

LogicalResult importTranspose(NodeContext &n) {
  FailureOr<OnnxValue> x = n.input(0, /*materialize=*/false);
  if (failed(x))
    return failure();
  int64_t rank = x->getRank();
  SmallVector<int64_t> perm;
  if (std::optional<SmallVector<int64_t>> p = n.intsAttr("perm")) {
    perm = *p;
    SmallVector<int64_t> sorted(perm);
    llvm::sort(sorted);
    if (sorted != llvm::to_vector(llvm::seq<int64_t>(0, rank)))
      return n.fail("attribute perm = " + formatShape(perm) +
                    " is not a permutation of the " + Twine(rank) +
                    " axes of input shape " + formatShape(x->getShape()));
  } else {
    perm = llvm::to_vector(llvm::reverse(llvm::seq<int64_t>(0, rank)));
  }
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(x->getShape()[p]);
  if (x->known && foldableSize(shape)) {
    SmallVector<int64_t> at(rank);
    n.setKnownOutput(0,
                     buildKnown(shape, x->getElementType(),
                                [&](ArrayRef<int64_t> index) {
                                  for (int64_t d = 0; d < rank; ++d)
                                    at[perm[d]] = index[d];
                                  return knownAt(x->known, at);
                                }),
                     x->onnxType);
    return success();
  }
  if (perm == llvm::to_vector(llvm::seq<int64_t>(0, rank))) {
    if (n.hasOutput(0))
      n.graph.define(n.node.output(0), *x);
    return success();
  }
  n.setOutput(0, transposeTensor(n.builder, n.loc, valueOf(n, 0), perm),
              x->onnxType);
  return success();
}

//===----------------------------------------------------------------------===//
// Pad
//===----------------------------------------------------------------------===//

/// Pad 11-23: pads known at import ([begin..., end...], negative ones crop),
/// optional `axes` (18), modes constant (tensor.pad), edge, reflect and wrap
/// (19; a linalg.generic reading the source at the mapped index).
LogicalResult importPad(NodeContext &n) {
  OpBuilder &b = n.builder;
  Location loc = n.loc;
  FailureOr<OnnxValue> x = n.input(0);
  if (failed(x))
    return failure();
  std::string mode = n.stringAttr("mode", "constant");
  if (mode != "constant" && mode != "edge" && mode != "reflect" &&
      !(mode == "wrap" && n.sinceVersion >= 19))
    return n.fail("mode '" + mode + "' is not one of ONNX's Pad modes at op "
                  "version " + Twine(n.sinceVersion) +
                  " (constant, reflect, edge" +
                  (n.sinceVersion >= 19 ? ", wrap" : "") + ")");
  int64_t rank = x->getRank();
  FailureOr<SmallVector<int64_t>> pads = known1DInts(n, 1, "pads");
  if (failed(pads))
    return failure();
  SmallVector<int64_t> axes = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  if (n.sinceVersion >= 18 && n.hasInput(3)) {
    FailureOr<SmallVector<int64_t>> given = known1DInts(n, 3, "axes");
    if (failed(given))
      return failure();
    FailureOr<SmallVector<int64_t>> normalized =
        normalizeAxes(n, *given, rank, /*sort=*/false);
    if (failed(normalized))
      return failure();
    axes = *normalized;
  }
  int64_t count = axes.size();
  if (static_cast<int64_t>(pads->size()) != 2 * count)
    return n.fail("pads " + formatShape(*pads) + " have " +
                  Twine(pads->size()) + " entries; expected 2 x " +
                  Twine(count) + " (a begin and an end per padded axis)");
  SmallVector<int64_t> begin(rank, 0), end(rank, 0);
  for (auto [i, axis] : llvm::enumerate(axes)) {
    begin[axis] = (*pads)[i];
    end[axis] = (*pads)[i + count];
  }

  // Negative pads crop first.
  ArrayRef<int64_t> inShape = x->getShape();
  SmallVector<int64_t> offsets(rank), cropped(rank), strides(rank, 1);
  for (int64_t d = 0; d < rank; ++d) {
    offsets[d] = std::max<int64_t>(0, -begin[d]);
    cropped[d] = inShape[d] - offsets[d] - std::max<int64_t>(0, -end[d]);
    if (cropped[d] < 0)
      return n.fail("pads " + formatShape(*pads) + " remove more than the " +
                    Twine(inShape[d]) + " elements of axis " + Twine(d));
    begin[d] = std::max<int64_t>(0, begin[d]);
    end[d] = std::max<int64_t>(0, end[d]);
  }
  Type element = x->getElementType();
  Value source = x->value;
  if (ArrayRef<int64_t>(cropped) != inShape)
    source = extractSlice(b, loc, source,
                          RankedTensorType::get(cropped, element), offsets,
                          cropped, strides);
  SmallVector<int64_t> outShape(rank);
  for (int64_t d = 0; d < rank; ++d)
    outShape[d] = begin[d] + cropped[d] + end[d];
  auto outType = RankedTensorType::get(outShape, element);
  if (outShape == cropped) {
    n.setOutput(0, source, x->onnxType);
    return success();
  }

  // constant: tensor.pad with the value when it is known (or absent: zero);
  // a run-time constant_value goes the generic way below, as an operand (a
  // batch of rows may carry a value per row).
  std::optional<OnnxValue> padValue;
  if (mode == "constant") {
    TypedAttr constant = cast<TypedAttr>(b.getZeroAttr(element));
    if (n.hasInput(2)) {
      FailureOr<OnnxValue> c = n.input(2, /*materialize=*/false);
      if (failed(c))
        return failure();
      if (c->getElementType() != element)
        return n.fail("constant_value has element type " +
                      onnxTypeName(c->onnxType) + ", the data " +
                      onnxTypeName(x->onnxType));
      if (c->getType().getNumElements() != 1)
        return n.fail("constant_value must hold one element, but has "
                      "shape " +
                      formatShape(c->getShape()));
      if (c->known)
        constant = cast<TypedAttr>(knownAt(c->known, 0));
      else
        padValue = *n.input(2);
    }
    if (!padValue) {
      SmallVector<OpFoldResult> low, high;
      for (int64_t d = 0; d < rank; ++d) {
        low.push_back(b.getIndexAttr(begin[d]));
        high.push_back(b.getIndexAttr(end[d]));
      }
      Value value = arith::ConstantOp::create(b, loc, constant);
      n.setOutput(0, tensor::PadOp::create(b, loc, outType, source, low, high,
                                           value),
                  x->onnxType);
      return success();
    }
  }

  // edge, reflect, wrap (and constant with a run-time value): each output
  // element reads the source at a mapped index; ONNX's reflect does not
  // repeat the edge and needs pads < size.
  for (int64_t d = 0; d < rank; ++d) {
    if (begin[d] == 0 && end[d] == 0)
      continue;
    if (cropped[d] == 0)
      return n.fail("cannot pad axis " + Twine(d) + " of size 0 in mode '" +
                    mode + "'" +
                    (padValue ? " with a run-time constant_value" : ""));
    if (mode == "reflect" && std::max(begin[d], end[d]) > cropped[d] - 1)
      return n.fail("reflect pads of " + Twine(std::max(begin[d], end[d])) +
                    " on axis " + Twine(d) + " of size " + Twine(cropped[d]) +
                    " exceed its size - 1");
  }
  MLIRContext *ctx = n.getContext();
  Value init = emptyTensor(b, loc, outShape, element);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  if (padValue) {
    // The one element of the value, for every output element.
    inputs.push_back(padValue->value);
    maps.push_back(AffineMap::get(
        rank, 0,
        SmallVector<AffineExpr>(padValue->getRank(),
                                getAffineConstantExpr(0, ctx)),
        ctx));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
  Value result =
      linalg::GenericOp::create(
          b, loc, outType, inputs, ValueRange{init}, maps, iterators,
          [&](OpBuilder &nb, Location l, ValueRange args) {
            auto index = [&](int64_t v) {
              return arith::ConstantIndexOp::create(nb, l, v).getResult();
            };
            Value inside; // constant mode: all indices within the source
            SmallVector<Value> at;
            for (int64_t d = 0; d < rank; ++d) {
              Value i = linalg::IndexOp::create(nb, l, d);
              if (begin[d] == 0 && end[d] == 0) {
                at.push_back(i);
                continue;
              }
              int64_t size = cropped[d];
              i = arith::SubIOp::create(nb, l, i, index(begin[d]));
              if (mode == "constant") {
                // Negative indices compare as large unsigned ones.
                Value in = arith::CmpIOp::create(
                    nb, l, arith::CmpIPredicate::ult, i, index(size));
                inside = inside ? arith::AndIOp::create(nb, l, inside, in)
                                      .getResult()
                                : in;
              }
              if (mode == "edge" || mode == "constant") {
                i = arith::MaxSIOp::create(nb, l, i, index(0));
                i = arith::MinSIOp::create(nb, l, i, index(size - 1));
              } else if (mode == "reflect") {
                // |i|, then 2 (size - 1) - i past the end.
                Value neg = arith::SubIOp::create(nb, l, index(0), i);
                i = arith::MaxSIOp::create(nb, l, i, neg);
                Value back =
                    arith::SubIOp::create(nb, l, index(2 * (size - 1)), i);
                i = arith::MinSIOp::create(nb, l, i, back);
              } else { // wrap: ((i mod size) + size) mod size
                Value r = arith::RemSIOp::create(nb, l, i, index(size));
                r = arith::AddIOp::create(nb, l, r, index(size));
                i = arith::RemSIOp::create(nb, l, r, index(size));
              }
              at.push_back(i);
            }
            Value read = tensor::ExtractOp::create(nb, l, source, at);
            if (inside)
              read = arith::SelectOp::create(nb, l, inside, read, args[0]);
            linalg::YieldOp::create(nb, l, read);
          })
          .getResult(0);
  n.setOutput(0, result, x->onnxType);
  return success();
}

LogicalResult importConstantOfShape(NodeContext &n) {
  FailureOr<SmallVector<int64_t>> shape = known1DInts(n, 0, "shape");
  if (failed(shape))
    return failure();
  for (int64_t d : *shape)
    if (d < 0)
      return n.fail("shape " + formatShape(*shape) + " has a negative dimension");
  if (!product(*shape))
    return n.fail("shape " + formatShape(*shape) +
                  " has more elements than fit in 64 bits");
  TypedAttr value = n.builder.getF32FloatAttr(0.0f);
  int32_t onnxType = TensorProto::FLOAT;
  if (const onnx::AttributeProto *attr = n.attr("value")) {
    if (!attr->has_t())
      return n.fail("attribute value must be a one-element tensor");
    DenseElementsAttr known;
    std::string error;
    FailureOr<ElementsAttr> contents =
        convertTensorProto(attr->t(), n.getContext(), n.graph.model.modelDir,
                           /*inlineLimit=*/1, known, error);
    if (failed(contents))
      return n.fail("attribute value cannot be imported: " + error);
    if (!known || known.getNumElements() != 1)
      return n.fail("attribute value must hold exactly one element, but it "
                    "has shape " +
                    formatShape(cast<ShapedType>(contents->getType()).getShape()));
    value = cast<TypedAttr>(knownAt(known, 0));
    onnxType = attr->t().data_type();
  }
  auto type = RankedTensorType::get(*shape, value.getType());
  if (foldableSize(*shape)) {
    n.setKnownOutput(0, DenseElementsAttr::get(type, Attribute(value)),
                     onnxType);
    return success();
  }
  Value scalar = arith::ConstantOp::create(n.builder, n.loc, value);
  Value init = emptyTensor(n.builder, n.loc, *shape, value.getType());
  n.setOutput(
      0, linalg::FillOp::create(n.builder, n.loc, scalar, init).getResult(0),
      onnxType);
  return success();
}

} // namespace

void mlir::tac::onnx_import::registerShapeOps(OpTable &table) {
  table.add("Identity", {13, 14, 16, 19, 21, 23}, importIdentity);
  table.add("Constant", {13, 19, 21, 23}, importConstant);
  table.add("Shape", {13, 15, 19, 21, 23}, importShape);
  table.add("Reshape", {13, 14, 19, 21, 23}, importReshape);
  table.add("Flatten", {13, 21, 23}, importFlatten);
  // 11: axes (and Split's sizes) as attributes rather than inputs.
  table.add("Squeeze", {11, 13, 21, 23}, importSqueeze);
  table.add("Unsqueeze", {11, 13, 21, 23}, importUnsqueeze);
  table.add("Concat", {13}, importConcat);
  table.add("Split", {11, 13, 18}, importSplit);
  table.add("Slice", {13}, importSlice);
  table.add("Gather", {13}, importGather);
  table.add("Expand", {13}, importExpand);
  table.add("Transpose", {13, 21, 23}, importTranspose);
  table.add("ConstantOfShape", {9, 20, 21, 23}, importConstantOfShape);
  table.add("Pad", {11, 13, 18, 19, 21, 23}, importPad);
}
