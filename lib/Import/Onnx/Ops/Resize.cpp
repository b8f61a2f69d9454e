//===- Resize.cpp - ONNX Resize -------------------------------------------===//
//
// Resize (11, 13, 18, 19) is separable: along each resized axis, output
// index o reads a few input indices (1 for nearest, 2 for linear, 4 for
// cubic, more with antialias) with weights. Shapes are static, so the
// importer computes those taps and weights on the host, exactly as ONNX's
// reference does (in double), and emits one linalg.generic over the output
// whose body reads the input with tensor.extract at every combination of
// taps and sums the weighted values. Nearest reads one element and copies
// it (any element type).
//
//===----------------------------------------------------------------------===//

#include "../ImportState.h"
#include "../TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <sstream>

using namespace mlir;
using namespace mlir::tac::onnx_import;

namespace {

/// The taps of one resized axis: for each output index, `n` input indices
/// (clamped into the axis) and their weights.
struct AxisTaps {
  int64_t n = 0;
  std::vector<int64_t> index; // [out][n]
  std::vector<double> weight; // [out][n]
  /// tf_crop_and_resize: the outputs whose source is outside the input,
  /// which take extrapolation_value.
  std::vector<int8_t> outside;
};

/// The largest resized axis: its tables are built on the host.
constexpr int64_t kMaxAxis = int64_t(1) << 24;

struct ResizeParams {
  std::string mode, coordinates, nearestMode;
  double cubicA = -0.75;
  bool excludeOutside = false, antialias = false;
};

/// Source coordinate of output index y (ONNX's _compute_x_ori).
double sourceCoordinate(const ResizeParams &p, double y, double scale,
                        int64_t inWidth, int64_t outWidthInt,
                        double roiStart, double roiEnd) {
  double outWidth = scale * static_cast<double>(inWidth);
  if (p.coordinates == "tf_crop_and_resize")
    return (outWidth == 1 ? (roiEnd - roiStart) * (inWidth - 1) / 2
                          : y * (roiEnd - roiStart) * (inWidth - 1) /
                                (outWidth - 1)) +
           roiStart * (inWidth - 1);
  if (p.coordinates == "align_corners")
    return outWidth == 1 ? 0.0 : y * (inWidth - 1) / (outWidth - 1);
  if (p.coordinates == "asymmetric")
    return y / scale;
  if (p.coordinates == "pytorch_half_pixel")
    return outWidth == 1 ? -0.5 : (y + 0.5) / scale - 0.5;
  if (p.coordinates == "half_pixel_symmetric") {
    double adjustment = outWidthInt / outWidth;
    double offset = inWidth / 2.0 * (1 - adjustment);
    return offset + (y + 0.5) / scale - 0.5;
  }
  return (y + 0.5) / scale - 0.5; // half_pixel
}

/// The filter's coefficients at `ratio` in (0, 1] (ONNX's *_coeffs).
std::vector<double> coefficients(const ResizeParams &p, double ratio,
                                 double scale) {
  if (p.mode == "nearest") {
    if (ratio == std::floor(ratio))
      return {0, 1};
    if (p.nearestMode == "round_prefer_ceil")
      return {double(ratio < 0.5), double(ratio >= 0.5)};
    if (p.nearestMode == "floor")
      return {1, 0};
    if (p.nearestMode == "ceil")
      return {0, 1};
    return {double(ratio <= 0.5), double(ratio > 0.5)}; // round_prefer_floor
  }
  if (p.mode == "linear") {
    if (!p.antialias)
      return {1 - ratio, ratio};
    double s = std::min(scale, 1.0);
    int64_t start = static_cast<int64_t>(std::floor(-1 / s) + 1);
    int64_t footprint = 2 - 2 * start;
    std::vector<double> c;
    double sum = 0;
    for (int64_t i = start; i < start + footprint; ++i) {
      double v = std::clamp(1 - std::abs((i - ratio) * s), 0.0, 1.0);
      c.push_back(v);
      sum += v;
    }
    for (double &v : c)
      v /= sum;
    return c;
  }
  double a = p.cubicA; // cubic
  if (!p.antialias) {
    double r1 = ratio + 1, r2 = 1 - ratio, r3 = 2 - ratio;
    return {((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a,
            ((a + 2) * ratio - (a + 3)) * ratio * ratio + 1,
            ((a + 2) * r2 - (a + 3)) * r2 * r2 + 1,
            ((a * r3 - 5 * a) * r3 + 8 * a) * r3 - 4 * a};
  }
  double s = std::min(scale, 1.0);
  auto coeff = [&](double x) {
    x = std::abs(x);
    if (x <= 1)
      return (a + 2) * x * x * x - (a + 3) * x * x + 1;
    if (x < 2)
      return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a;
    return 0.0;
  };
  int64_t start = static_cast<int64_t>(std::floor(-2 / s) + 1);
  std::vector<double> c;
  double sum = 0;
  for (int64_t i = start; i < 2 - start; ++i) {
    c.push_back(coeff(s * (i - ratio)));
    sum += c.back();
  }
  for (double &v : c)
    v /= sum;
  return c;
}

/// ONNX's _interpolate_1d_along_axis, as index and weight tables.
AxisTaps axisTaps(const ResizeParams &p, int64_t inWidth, int64_t outWidth,
                  double scale, double roiStart, double roiEnd) {
  AxisTaps taps;
  for (int64_t o = 0; o < outWidth; ++o) {
    double x = sourceCoordinate(p, static_cast<double>(o), scale, inWidth,
                                outWidth, roiStart, roiEnd);
    if (p.coordinates == "tf_crop_and_resize")
      taps.outside.push_back(x < 0 || x > inWidth - 1);
    double xFloor = std::floor(x);
    double ratio = x == xFloor ? 1.0 : x - xFloor;
    std::vector<double> c = coefficients(p, ratio, scale);
    int64_t n = static_cast<int64_t>(c.size());
    taps.n = n;
    // The n indices nearest x (ties to the smaller), in the input padded
    // by ceil(n / 2) on each side.
    int64_t pad = (n + 1) / 2;
    double xPadded = x + pad;
    int64_t pPadded = static_cast<int64_t>(std::floor(xPadded));
    double frac = xPadded - pPadded;
    int64_t offset = n % 2 == 0 ? (frac == 0 ? -(n / 2) : -(n / 2) + 1)
                                : (frac <= 0.5 ? -((n - 1) / 2)
                                               : -((n - 1) / 2) + 1);
    int64_t start = pPadded + offset - pad;
    if (p.excludeOutside) {
      double sum = 0;
      for (int64_t t = 0; t < n; ++t) {
        int64_t i = start + t;
        if (i < 0 || i >= inWidth)
          c[t] = 0;
        sum += c[t];
      }
      if (sum != 0)
        for (double &v : c)
          v /= sum;
    }
    for (int64_t t = 0; t < n; ++t) {
      taps.index.push_back(std::clamp<int64_t>(start + t, 0, inWidth - 1));
      taps.weight.push_back(c[t]);
    }
  }
  // Nearest: keep the one tap of weight 1.
  if (p.mode == "nearest") {
    AxisTaps one;
    one.n = 1;
    one.outside = taps.outside;
    for (int64_t o = 0; o < outWidth; ++o)
      for (int64_t t = 0; t < taps.n; ++t)
        if (taps.weight[o * taps.n + t] != 0) {
          one.index.push_back(taps.index[o * taps.n + t]);
          one.weight.push_back(1);
          break;
        }
    return one;
  }
  return taps;
}

std::string listString(ArrayRef<double> values) {
  std::string s = "[";
  for (auto [i, v] : llvm::enumerate(values)) {
    std::ostringstream os;
    os << v;
    s += (i ? ", " : "") + os.str();
  }
  return s + "]";
}

LogicalResult importResize(NodeContext &n) {
  OpBuilder &b = n.builder;
  Location loc = n.loc;
  MLIRContext *ctx = n.getContext();
  FailureOr<OnnxValue> x = n.input(0);
  if (failed(x))
    return failure();
  ArrayRef<int64_t> shape = x->getShape();
  int64_t rank = x->getRank();
  ResizeParams p;
  p.mode = n.stringAttr("mode", "nearest");
  p.coordinates = n.stringAttr("coordinate_transformation_mode", "half_pixel");
  p.nearestMode = n.stringAttr("nearest_mode", "round_prefer_floor");
  p.cubicA = n.floatAttr("cubic_coeff_a", -0.75f);
  p.excludeOutside = n.intAttr("exclude_outside", 0) != 0;
  p.antialias = n.intAttr("antialias", 0) != 0;
  std::string policy = n.stringAttr("keep_aspect_ratio_policy", "stretch");
  if (p.mode != "nearest" && p.mode != "linear" && p.mode != "cubic")
    return n.fail("mode '" + p.mode +
                  "' is not one of nearest, linear, cubic");
  static const char *const coordinateModes[] = {
      "half_pixel",    "half_pixel_symmetric", "pytorch_half_pixel",
      "align_corners", "asymmetric",           "tf_crop_and_resize"};
  if (!llvm::is_contained(coordinateModes, p.coordinates) ||
      (p.coordinates == "half_pixel_symmetric" && n.sinceVersion < 19))
    return n.fail("coordinate_transformation_mode '" + p.coordinates +
                  "' is not defined at op version " + Twine(n.sinceVersion));
  if (p.mode == "nearest" &&
      !llvm::is_contained({"round_prefer_floor", "round_prefer_ceil",
                           "floor", "ceil"},
                          p.nearestMode))
    return n.fail("nearest_mode '" + p.nearestMode + "' is not one of "
                  "round_prefer_floor, round_prefer_ceil, floor, ceil");
  if (p.antialias && p.mode == "nearest")
    return n.fail("antialias applies to linear and cubic modes only");
  if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller")
    return n.fail("keep_aspect_ratio_policy '" + policy +
                  "' is not one of stretch, not_larger, not_smaller");
  Type element = x->getElementType();
  if (p.mode != "nearest" && !isa<FloatType>(element))
    return n.fail("mode '" + p.mode + "' needs a floating-point X, but it is " +
                  onnxTypeName(x->onnxType));

  // The resized axes (18's `axes`, else all).
  SmallVector<int64_t> axes;
  if (std::optional<SmallVector<int64_t>> attr = n.intsAttr("axes")) {
    for (int64_t a : *attr) {
      FailureOr<int64_t> axis = n.normalizeAxis(a, rank, "axes entry");
      if (failed(axis))
        return failure();
      if (llvm::is_contained(axes, *axis))
        return n.fail("axes repeats axis " + Twine(*axis));
      axes.push_back(*axis);
    }
  } else {
    axes = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  }
  // Scales (input #2) or sizes (input #3), known at import; an empty
  // scales tensor means sizes.
  std::vector<double> scale(rank, 1.0);
  SmallVector<int64_t> outShape(shape);
  bool haveScales = false;
  if (n.hasInput(2)) {
    FailureOr<DenseElementsAttr> s = n.knownInput(2, "scales");
    if (failed(s))
      return failure();
    if (!isa<FloatType>(s->getElementType()))
      return n.fail("scales must be floating-point");
    haveScales = s->getNumElements() != 0;
    if (haveScales) {
      SmallVector<double> values;
      for (const APFloat &v : s->getValues<APFloat>())
        values.push_back(v.convertToDouble());
      if (values.size() != axes.size())
        return n.fail("scales " + listString(values) + " have " +
                      Twine(values.size()) + " entries for " +
                      Twine(axes.size()) + " resized axes");
      for (auto [i, a] : llvm::enumerate(axes)) {
        if (!(values[i] > 0) ||
            !(values[i] * static_cast<double>(shape[a]) <= kMaxAxis))
          return n.fail("scales " + listString(values) +
                        " must all be positive and give axes of at most " +
                        Twine(kMaxAxis) + " elements");
        scale[a] = values[i];
        outShape[a] =
            static_cast<int64_t>(values[i] * static_cast<double>(shape[a]));
      }
    }
  }
  if (n.hasInput(3)) {
    if (haveScales)
      return n.fail("has both scales (input #2) and sizes (input #3); ONNX "
                    "allows one of them");
    FailureOr<SmallVector<int64_t>> sizes = n.knownIntsInput(3, "sizes");
    if (failed(sizes))
      return failure();
    if (sizes->size() != axes.size())
      return n.fail("sizes have " + Twine(sizes->size()) + " entries for " +
                    Twine(axes.size()) + " resized axes");
    for (auto [i, a] : llvm::enumerate(axes)) {
      if ((*sizes)[i] <= 0 || (*sizes)[i] > kMaxAxis || shape[a] == 0)
        return n.fail("sizes must be in [1, " + Twine(kMaxAxis) +
                      "] and the resized axes of X non-empty");
      outShape[a] = (*sizes)[i];
      scale[a] = static_cast<double>((*sizes)[i]) / shape[a];
    }
    if (policy != "stretch" && !axes.empty()) {
      double s = scale[axes[0]];
      for (int64_t a : axes)
        s = policy == "not_larger" ? std::min(s, scale[a])
                                   : std::max(s, scale[a]);
      for (int64_t a : axes) {
        scale[a] = s;
        if (!(s * shape[a] + 0.5 <= kMaxAxis))
          return n.fail("keep_aspect_ratio_policy '" + policy +
                        "' makes an axis of more than " + Twine(kMaxAxis) +
                        " elements");
        outShape[a] = static_cast<int64_t>(s * shape[a] + 0.5);
      }
    }
  } else if (!haveScales) {
    return n.fail("needs scales (input #2) or sizes (input #3)");
  }

  // tf_crop_and_resize's region of interest (input #1, known at import):
  // starts then ends, for the resized axes.
  std::vector<double> roiStart(rank, 0.0), roiEnd(rank, 1.0);
  bool crop = p.coordinates == "tf_crop_and_resize";
  if (crop) {
    FailureOr<DenseElementsAttr> roi = n.knownInput(1, "roi");
    if (failed(roi))
      return failure();
    if (!isa<FloatType>(roi->getElementType()) ||
        roi->getNumElements() != 2 * static_cast<int64_t>(axes.size()))
      return n.fail("roi must hold " + Twine(2 * axes.size()) +
                    " floats (starts, then ends, of the resized axes)");
    SmallVector<double> values;
    for (const APFloat &v : roi->getValues<APFloat>())
      values.push_back(v.convertToDouble());
    for (auto [i, a] : llvm::enumerate(axes)) {
      roiStart[a] = values[i];
      roiEnd[a] = values[axes.size() + i];
    }
  }
  // An axis resized to nothing (a scale that rounds its size down to 0)
  // has no taps: the output is empty and reads nothing.
  if (llvm::is_contained(outShape, 0)) {
    n.setOutput(0, tensor::EmptyOp::create(b, loc, outShape, element),
                x->onnxType);
    return success();
  }
  // Taps of each axis that changes; others read their own index.
  SmallVector<std::optional<AxisTaps>> taps(rank);
  for (int64_t a = 0; a < rank; ++a)
    if (outShape[a] != shape[a] || std::abs(scale[a] - 1.0) > 1e-9 ||
        (crop && (roiStart[a] != 0.0 || roiEnd[a] != 1.0)))
      taps[a] = axisTaps(p, shape[a], outShape[a], scale[a], roiStart[a],
                         roiEnd[a]);

  // Index and weight tables, one per axis and tap, as constants at the
  // function entry; the body reads them at its output index.
  struct Tap {
    Value index, weight; // null index: the output index itself
  };
  SmallVector<SmallVector<Tap>> tables(rank);
  SmallVector<Value> outside(rank);
  for (int64_t a = 0; a < rank; ++a) {
    if (!taps[a]) {
      tables[a].push_back({});
      continue;
    }
    const AxisTaps &t = *taps[a];
    if (llvm::is_contained(t.outside, 1)) {
      SmallVector<bool> flags(t.outside.begin(), t.outside.end());
      outside[a] = n.graph.model.materializeConstant(
          DenseElementsAttr::get(
              RankedTensorType::get({outShape[a]}, b.getI1Type()),
              ArrayRef(flags)),
          loc);
    }
    for (int64_t k = 0; k < t.n; ++k) {
      SmallVector<int64_t> idx;
      SmallVector<APFloat> w;
      for (int64_t i = 0; i < outShape[a]; ++i) {
        idx.push_back(t.index[i * t.n + k]);
        APFloat v(t.weight[i * t.n + k]);
        bool lost;
        v.convert(isa<FloatType>(element)
                      ? cast<FloatType>(element).getFloatSemantics()
                      : APFloat::IEEEdouble(),
                  APFloat::rmNearestTiesToEven, &lost);
        w.push_back(v);
      }
      Tap tap;
      tap.index = n.graph.model.materializeConstant(
          DenseElementsAttr::get(
              RankedTensorType::get({outShape[a]}, b.getI64Type()),
              ArrayRef(idx)),
          loc);
      if (p.mode != "nearest")
        tap.weight = n.graph.model.materializeConstant(
            DenseElementsAttr::get(
                RankedTensorType::get({outShape[a]}, element), ArrayRef(w)),
            loc);
      tables[a].push_back(tap);
    }
  }

  Value source = x->value;
  Value result = buildParallel(
      b, loc, ValueRange{}, {}, outShape, element,
      [&](OpBuilder &nb, Location l, ValueRange) -> Value {
        // For each axis: per tap, the index (a value) and the weight.
        SmallVector<SmallVector<Value>> index(rank), weight(rank);
        for (int64_t a = 0; a < rank; ++a) {
          Value o = linalg::IndexOp::create(nb, l, a);
          for (const Tap &tap : tables[a]) {
            if (!tap.index) {
              index[a].push_back(o);
              weight[a].push_back(nullptr);
              continue;
            }
            Value i = tensor::ExtractOp::create(nb, l, tap.index, o);
            index[a].push_back(
                arith::IndexCastOp::create(nb, l, nb.getIndexType(), i));
            weight[a].push_back(
                tap.weight ? tensor::ExtractOp::create(nb, l, tap.weight, o)
                                 .getResult()
                           : Value());
          }
        }
        // Sum over every combination of taps.
        Value sum;
        SmallVector<int64_t> choice(rank, 0);
        while (true) {
          SmallVector<Value> at;
          Value w;
          for (int64_t a = 0; a < rank; ++a) {
            at.push_back(index[a][choice[a]]);
            if (Value wa = weight[a][choice[a]])
              w = w ? arith::MulFOp::create(nb, l, w, wa).getResult() : wa;
          }
          Value v = tensor::ExtractOp::create(nb, l, source, at);
          if (w)
            v = arith::MulFOp::create(nb, l, v, w);
          sum = sum ? arith::AddFOp::create(nb, l, sum, v).getResult() : v;
          int64_t a = rank - 1;
          while (a >= 0 && ++choice[a] == static_cast<int64_t>(index[a].size()))
            choice[a--] = 0;
          if (a < 0)
            break;
        }
        for (int64_t a = 0; a < rank; ++a)
          if (outside[a])
            sum = arith::SelectOp::create(
                nb, l,
                tensor::ExtractOp::create(nb, l, outside[a],
                                          ValueRange{linalg::IndexOp::create(nb, l, a)}),
                scalarConstant(nb, l, element,
                               n.floatAttr("extrapolation_value", 0.0f)),
                sum);
        return sum;
      });
  n.setOutput(0, result, x->onnxType);
  return success();
}

} // namespace

void mlir::tac::onnx_import::registerResizeOps(OpTable &table) {
  table.add("Resize", {11, 13, 18, 19}, importResize);
}
