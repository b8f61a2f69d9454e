//===- FoldConstants.cpp - evaluate weight-only computations ---------------===//
//
// Everything a model computes from its weights alone (a transposed weight, a
// reshaped weight, a bias scaled by a constant) is the same on every call,
// so it is computed here once and stored as a constant: the kernel that did
// it disappears from every plan. Folding never makes the file needlessly
// bigger: a folded result replaces the constants it was computed from when
// nothing else reads them, and an op whose result would add more than
// `max-growth` bytes beyond what it frees is left alone.
//
//===----------------------------------------------------------------------===//

#include "passes/ConstantData.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <cstring>

namespace mlir::tac {
#define GEN_PASS_DEF_TACFOLDCONSTANTS
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;
using namespace mlir::tac;

std::optional<int64_t> mlir::tac::elementBytes(Type type) {
  if (!type.isIntOrFloat() || type.isInteger(1))
    return std::nullopt;
  unsigned bits = type.getIntOrFloatBitWidth();
  if (bits % 8)
    return std::nullopt;
  return bits / 8;
}

std::optional<ConstantData> mlir::tac::constantData(Value value) {
  Attribute attr;
  if (!value.getDefiningOp() || !matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || !type.hasStaticShape() || !elementBytes(type.getElementType()))
    return std::nullopt;
  ConstantData data;
  data.type = type;
  if (auto dense = dyn_cast<DenseIntOrFPElementsAttr>(attr)) {
    data.bytes = dense.getRawData();
    data.splat = dense.isSplat();
    return data;
  }
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt;
    data.bytes = blob->getData();
    data.resource = resource.getRawHandle();
    if (static_cast<int64_t>(data.bytes.size()) !=
        type.getNumElements() * *elementBytes(type.getElementType()))
      return std::nullopt;
    return data;
  }
  return std::nullopt;
}

TypedAttr mlir::tac::makeConstant(RankedTensorType type, ArrayRef<char> bytes,
                       std::optional<DenseResourceElementsHandle> like) {
  if (!like)
    return cast<TypedAttr>(DenseElementsAttr::getFromRawBuffer(type, bytes));
  AsmResourceBlob *old = like->getBlob();
  size_t alignment = old ? old->getDataAlignment() : alignof(float);
  AsmResourceBlob blob = HeapAsmResourceBlob::allocate(bytes.size(), alignment);
  if (!bytes.empty())
    std::memcpy(blob.getMutableData().data(), bytes.data(), bytes.size());
  return cast<TypedAttr>(DenseResourceElementsAttr::get(
      type, like->getKey().str() + "_folded", std::move(blob)));
}

namespace {

/// One step of a linalg payload over f32 slots.
struct Step {
  enum Kind { Add, Sub, Mul, Div, Max, Min, Neg, Sqrt, Rsqrt, Exp, Tanh, Erf,
              Pow, Const } kind;
  unsigned a = 0, b = 0, out = 0;
  float value = 0;
};

/// Compiles a payload whose values are all f32 into steps over slots (the
/// block arguments first). std::nullopt for anything else.
std::optional<SmallVector<Step>> compilePayload(Block &body,
                                                unsigned &yieldSlot) {
  DenseMap<Value, unsigned> slot;
  for (BlockArgument arg : body.getArguments()) {
    if (!arg.getType().isF32())
      return std::nullopt;
    slot[arg] = arg.getArgNumber();
  }
  unsigned next = body.getNumArguments();
  SmallVector<Step> steps;
  for (Operation &op : body.without_terminator()) {
    if (op.getNumResults() != 1 || !op.getResult(0).getType().isF32() ||
        op.getNumRegions())
      return std::nullopt;
    Step step;
    if (auto cst = dyn_cast<arith::ConstantOp>(op)) {
      step.kind = Step::Const;
      step.value = cast<FloatAttr>(cst.getValue()).getValue().convertToFloat();
    } else {
      step.kind =
          llvm::TypeSwitch<Operation *, Step::Kind>(&op)
              .Case<arith::AddFOp>([](auto) { return Step::Add; })
              .Case<arith::SubFOp>([](auto) { return Step::Sub; })
              .Case<arith::MulFOp>([](auto) { return Step::Mul; })
              .Case<arith::DivFOp>([](auto) { return Step::Div; })
              .Case<arith::MaximumFOp, arith::MaxNumFOp>(
                  [](auto) { return Step::Max; })
              .Case<arith::MinimumFOp, arith::MinNumFOp>(
                  [](auto) { return Step::Min; })
              .Case<arith::NegFOp>([](auto) { return Step::Neg; })
              .Case<math::SqrtOp>([](auto) { return Step::Sqrt; })
              .Case<math::RsqrtOp>([](auto) { return Step::Rsqrt; })
              .Case<math::ExpOp>([](auto) { return Step::Exp; })
              .Case<math::TanhOp>([](auto) { return Step::Tanh; })
              .Case<math::ErfOp>([](auto) { return Step::Erf; })
              .Case<math::PowFOp>([](auto) { return Step::Pow; })
              .Default([](Operation *) { return Step::Const; });
      if (step.kind == Step::Const)
        return std::nullopt; // not an op folding knows
      for (auto [i, operand] : llvm::enumerate(op.getOperands())) {
        auto it = slot.find(operand);
        if (it == slot.end() || i > 1)
          return std::nullopt; // a value from outside the payload
        (i == 0 ? step.a : step.b) = it->second;
      }
    }
    step.out = next;
    slot[op.getResult(0)] = next++;
    steps.push_back(step);
  }
  Operation *yield = body.getTerminator();
  if (yield->getNumOperands() != 1 || !slot.count(yield->getOperand(0)))
    return std::nullopt;
  yieldSlot = slot[yield->getOperand(0)];
  return steps;
}

float runSteps(ArrayRef<Step> steps, MutableArrayRef<float> slots,
               unsigned yieldSlot) {
  for (const Step &s : steps) {
    float a = slots[s.a], b = slots[s.b], r = 0;
    switch (s.kind) {
    case Step::Add: r = a + b; break;
    case Step::Sub: r = a - b; break;
    case Step::Mul: r = a * b; break;
    case Step::Div: r = a / b; break;
    case Step::Max: r = std::fmax(a, b); break;
    case Step::Min: r = std::fmin(a, b); break;
    case Step::Neg: r = -a; break;
    case Step::Sqrt: r = std::sqrt(a); break;
    case Step::Pow: r = std::pow(a, b); break;
    case Step::Rsqrt: r = 1.0f / std::sqrt(a); break;
    case Step::Exp: r = std::exp(a); break;
    case Step::Tanh: r = std::tanh(a); break;
    case Step::Erf: r = std::erf(a); break;
    case Step::Const: r = s.value; break;
    }
    slots[s.out] = r;
  }
  return slots[yieldSlot];
}

/// Per indexing map result: the loop it reads (>= 0) or, when negative, the
/// constant index -1 - value. std::nullopt for other affine expressions.
std::optional<SmallVector<int64_t>> simpleMap(AffineMap map) {
  SmallVector<int64_t> out;
  for (AffineExpr e : map.getResults()) {
    if (auto dim = dyn_cast<AffineDimExpr>(e))
      out.push_back(dim.getPosition());
    else if (auto c = dyn_cast<AffineConstantExpr>(e); c && c.getValue() >= 0)
      out.push_back(-1 - c.getValue());
    else
      return std::nullopt;
  }
  return out;
}

struct FoldConstants
    : mlir::tac::impl::TacFoldConstantsBase<FoldConstants> {
  using Base::Base;

  /// Bytes of the constants `op` reads that nothing else reads (they go
  /// away when `op` is folded).
  int64_t freedBytes(Operation *op) {
    int64_t freed = 0;
    llvm::SmallPtrSet<Operation *, 4> seen;
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (!def || !seen.insert(def).second)
        continue;
      std::optional<ConstantData> data = constantData(operand);
      if (data && llvm::all_of(def->getUsers(),
                               [&](Operation *u) { return u == op; }))
        freed += data->storedBytes();
    }
    return freed;
  }

  bool worthFolding(Operation *op, int64_t resultBytes) {
    return resultBytes - freedBytes(op) <= static_cast<int64_t>(maxGrowth);
  }

  /// A reshape of a constant: the same bytes under the new type (a resource
  /// keeps its blob; nothing is copied).
  FailureOr<TypedAttr> foldReshape(Operation *op, Value source) {
    std::optional<ConstantData> data = constantData(source);
    auto type = dyn_cast<RankedTensorType>(op->getResult(0).getType());
    if (!data || !type || !type.hasStaticShape())
      return failure();
    if (!worthFolding(op, data->splat ? 0 : data->storedBytes()))
      return failure();
    if (data->resource)
      return cast<TypedAttr>(DenseResourceElementsAttr::get(type, *data->resource));
    Attribute attr;
    matchPattern(source, m_Constant(&attr));
    return cast<TypedAttr>(cast<DenseElementsAttr>(attr).reshape(type));
  }

  /// A parallel linalg op (transpose, broadcast, copy, elementwise generic)
  /// whose tensor inputs are all constants, evaluated point by point.
  FailureOr<TypedAttr> foldLinalg(linalg::LinalgOp op) {
    if (isa<linalg::FillOp>(op) || !op.hasPureTensorSemantics() ||
        op->getNumResults() != 1 || op.getNumDpsInits() != 1 ||
        op.getNumParallelLoops() != op.getNumLoops() ||
        op.getDpsInputs().empty())
      return failure();
    auto resultType = dyn_cast<RankedTensorType>(op->getResult(0).getType());
    if (!resultType || !resultType.hasStaticShape())
      return failure();
    std::optional<int64_t> outBytes = elementBytes(resultType.getElementType());
    if (!outBytes)
      return failure();
    OpOperand *init = op.getDpsInitOperand(0);
    if (op.payloadUsesValueFromOperand(init))
      return failure(); // reads its output: not a pure function of inputs

    SmallVector<ConstantData> inputs;
    std::optional<DenseResourceElementsHandle> like;
    for (OpOperand *in : op.getDpsInputOperands()) {
      std::optional<ConstantData> data = constantData(in->get());
      if (!data)
        return failure();
      if (data->resource && !like)
        like = data->resource;
      inputs.push_back(*data);
    }
    int64_t resultBytes = resultType.getNumElements() * *outBytes;
    if (!worthFolding(op, resultBytes))
      return failure();

    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    SmallVector<SmallVector<int64_t>> access;
    for (AffineMap map : maps) {
      std::optional<SmallVector<int64_t>> simple = simpleMap(map);
      if (!simple || map.getNumSymbols())
        return failure();
      access.push_back(*simple);
    }
    if (!maps.back().isPermutation())
      return failure(); // every result element written exactly once

    // Data movement (the payload yields an input unchanged) copies bytes of
    // any element type; computation is f32 only.
    Block &body = op->getRegion(0).front();
    Value yielded = body.getTerminator()->getNumOperands() == 1
                        ? body.getTerminator()->getOperand(0)
                        : Value();
    auto movedArg = dyn_cast_or_null<BlockArgument>(yielded);
    bool move = movedArg && movedArg.getOwner() == &body &&
                movedArg.getArgNumber() < inputs.size() &&
                inputs[movedArg.getArgNumber()].type.getElementType() ==
                    resultType.getElementType();
    unsigned yieldSlot = 0;
    std::optional<SmallVector<Step>> steps;
    if (!move) {
      steps = compilePayload(body, yieldSlot);
      if (!steps)
        return failure();
    }

    // Row-major strides of each operand (a splat input reads element 0).
    SmallVector<SmallVector<int64_t>> strides;
    for (auto [i, data] : llvm::enumerate(inputs)) {
      SmallVector<int64_t> s(data.type.getRank(), 0);
      if (!data.splat)
        for (int64_t d = data.type.getRank() - 1, acc = 1; d >= 0; --d) {
          s[d] = acc;
          acc *= data.type.getDimSize(d);
        }
      strides.push_back(s);
    }
    SmallVector<int64_t> outStrides(resultType.getRank(), 0);
    for (int64_t d = resultType.getRank() - 1, acc = 1; d >= 0; --d) {
      outStrides[d] = acc;
      acc *= resultType.getDimSize(d);
    }
    auto offset = [](ArrayRef<int64_t> acc, ArrayRef<int64_t> stride,
                     ArrayRef<int64_t> point) {
      int64_t o = 0;
      for (auto [a, s] : llvm::zip(acc, stride))
        o += (a >= 0 ? point[a] : -1 - a) * s;
      return o;
    };

    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    if (llvm::any_of(ranges, [](int64_t r) { return r < 0; }))
      return failure();
    std::vector<char> out(resultBytes);
    SmallVector<int64_t> point(ranges.size(), 0);
    SmallVector<float> slots(body.getNumArguments() + (steps ? steps->size() : 0));
    int64_t total = resultType.getNumElements();
    for (int64_t n = 0; n < total; ++n) {
      int64_t o = offset(access.back(), outStrides, point);
      if (move) {
        unsigned i = movedArg.getArgNumber();
        int64_t from = offset(access[i], strides[i], point);
        std::memcpy(out.data() + o * *outBytes,
                    inputs[i].bytes.data() + from * *outBytes, *outBytes);
      } else {
        for (auto [i, data] : llvm::enumerate(inputs))
          std::memcpy(&slots[i],
                      data.bytes.data() +
                          offset(access[i], strides[i], point) * sizeof(float),
                      sizeof(float));
        float r = runSteps(*steps, slots, yieldSlot);
        std::memcpy(out.data() + o * sizeof(float), &r, sizeof(float));
      }
      for (int64_t d = ranges.size() - 1; d >= 0; --d) {
        if (++point[d] < ranges[d])
          break;
        point[d] = 0;
      }
    }
    return makeConstant(resultType, out, like);
  }

  /// The weight of `op` when it is a plain GEMM x · W with W a constant
  /// matrix and a zero-filled output (the form an ONNX MatMul imports to).
  static std::optional<ConstantData> concatenableWeight(linalg::MatmulOp op) {
    if (!op.hasPureTensorSemantics() ||
        op.getIndexingMapsArray() != linalg::MatmulOp::getDefaultIndexingMaps(
                                         op.getContext()))
      return std::nullopt;
    auto fill = op.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
    if (!fill || !matchPattern(fill.getDpsInputs()[0], m_AnyZeroFloat()))
      return std::nullopt;
    std::optional<ConstantData> w = constantData(op.getDpsInputs()[1]);
    if (!w || w->splat || !w->type.getElementType().isF32())
      return std::nullopt;
    return w;
  }

  /// Whether two values are the same LHS: the same value, or the results of
  /// equivalent ops (two collapse_shapes of one tensor, as an importer
  /// emits one per MatMul).
  static bool sameValue(Value a, Value b) {
    if (a == b)
      return true;
    Operation *da = a.getDefiningOp(), *db = b.getDefiningOp();
    return da && db && da->getNumRegions() == 0 && isMemoryEffectFree(da) &&
           OperationEquivalence::isEquivalentTo(
               da, db, OperationEquivalence::IgnoreLocations);
  }

  /// GEMMs of one block that multiply the same input by different constant
  /// weights (a transformer's Q, K and V projections, when exported as
  /// three MatMuls) become one GEMM against the weights concatenated along
  /// N, and each result a slice of it: the input is read once, by one
  /// larger GEMM. The weights are moved, not copied, when only these GEMMs
  /// read them.
  void concatenateGemms() {
    SmallVector<SmallVector<linalg::MatmulOp>> groups;
    getOperation()->walk([&](Block *block) {
      SmallVector<linalg::MatmulOp> gemms;
      for (Operation &op : *block)
        if (auto mm = dyn_cast<linalg::MatmulOp>(op))
          if (concatenableWeight(mm))
            gemms.push_back(mm);
      llvm::SmallPtrSet<Operation *, 8> grouped;
      for (auto [i, first] : llvm::enumerate(gemms)) {
        if (grouped.count(first))
          continue;
        SmallVector<linalg::MatmulOp> group{first};
        for (linalg::MatmulOp other : ArrayRef(gemms).drop_front(i + 1))
          if (!grouped.count(other) &&
              sameValue(first.getDpsInputs()[0], other.getDpsInputs()[0]) &&
              cast<RankedTensorType>(other.getDpsInputs()[1].getType())
                      .getDimSize(0) ==
                  cast<RankedTensorType>(first.getDpsInputs()[1].getType())
                      .getDimSize(0)) {
            group.push_back(other);
            grouped.insert(other);
          }
        if (group.size() > 1)
          groups.push_back(group);
      }
    });
    for (SmallVector<linalg::MatmulOp> &group : groups) {
      SmallVector<ConstantData> weights;
      int64_t k = 0, n = 0, added = 0;
      for (linalg::MatmulOp mm : group) {
        weights.push_back(*concatenableWeight(mm));
        k = weights.back().type.getDimSize(0);
        n += weights.back().type.getDimSize(1);
        added += weights.back().storedBytes() - freedBytes(mm);
      }
      if (added > static_cast<int64_t>(maxGrowth))
        continue; // a weight other ops read too would be duplicated
      std::vector<char> bytes(k * n * sizeof(float));
      for (int64_t row = 0, at = 0; row < k; ++row)
        for (const ConstantData &w : weights) {
          int64_t cols = w.type.getDimSize(1) * sizeof(float);
          std::memcpy(bytes.data() + at, w.bytes.data() + row * cols, cols);
          at += cols;
        }
      linalg::MatmulOp first = group.front();
      auto lhsType = cast<RankedTensorType>(first.getDpsInputs()[0].getType());
      int64_t m = lhsType.getDimSize(0);
      auto weightType = RankedTensorType::get({k, n}, lhsType.getElementType());
      auto outType = RankedTensorType::get({m, n}, lhsType.getElementType());
      std::optional<DenseResourceElementsHandle> like;
      for (const ConstantData &w : weights)
        if (w.resource && !like)
          like = w.resource;
      OpBuilder b(first);
      Location loc = first.getLoc();
      Value weight = arith::ConstantOp::create(
          b, loc, makeConstant(weightType, bytes, like));
      auto fill = first.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
      Value empty = tensor::EmptyOp::create(b, loc, outType.getShape(),
                                            outType.getElementType());
      Value zero = linalg::FillOp::create(b, loc, fill.getDpsInputs()[0],
                                          empty)
                       .getResult(0);
      Value all = linalg::MatmulOp::create(
                      b, loc, outType,
                      ValueRange{first.getDpsInputs()[0], weight}, zero)
                      .getResult(0);
      // Every slice first: the builder inserts before `first`, which the
      // loop below erases.
      SmallVector<Value> slices;
      int64_t offset = 0;
      for (linalg::MatmulOp mm : group) {
        int64_t cols = cast<RankedTensorType>(mm.getResult(0).getType())
                           .getDimSize(1);
        slices.push_back(tensor::ExtractSliceOp::create(
            b, loc, all, ArrayRef<OpFoldResult>{b.getIndexAttr(0),
                                                b.getIndexAttr(offset)},
            ArrayRef<OpFoldResult>{b.getIndexAttr(m), b.getIndexAttr(cols)},
            ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)}));
        offset += cols;
      }
      for (auto [mm, slice] : llvm::zip(group, slices)) {
        SmallVector<Operation *> defs;
        for (Value operand : mm->getOperands())
          if (Operation *def = operand.getDefiningOp())
            defs.push_back(def);
        mm.getResult(0).replaceAllUsesWith(slice);
        mm->erase();
        eraseIfDead(defs);
      }
      ++numConcatenated;
    }
  }

  /// Erases the ops of `defs` (and, transitively, their operands' defining
  /// ops) that nothing reads any more and that have no side effects.
  static void eraseIfDead(ArrayRef<Operation *> defs) {
    llvm::SetVector<Operation *> work(defs.begin(), defs.end());
    while (!work.empty()) {
      Operation *op = work.pop_back_val();
      if (!op->use_empty() || !isMemoryEffectFree(op) || op->getNumRegions())
        continue;
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp())
          work.insert(def);
      op->erase();
    }
  }

  /// The scalar of a 0-d or splat f32 constant, else std::nullopt.
  static std::optional<FloatAttr> scalarConstant(Value v) {
    DenseElementsAttr attr;
    if (!matchPattern(v, m_Constant(&attr)) || !attr.isSplat() ||
        !attr.getElementType().isF32())
      return std::nullopt;
    return attr.getSplatValue<FloatAttr>();
  }

  /// A GEMM's result scaled by a constant (`(A · B) * s` or `(A · B) / s`,
  /// the attention scale applied to Q · Kᵀ) becomes `A · (B * s)` with the
  /// scale on the smaller operand: fewer multiplies, and where that operand
  /// is a weight the folding below computes `B * s` once. The GEMM's result
  /// may pass through reshapes on the way, each read only by the next.
  void moveScalesIntoGemms() {
    SmallVector<linalg::GenericOp> scales;
    getOperation()->walk([&](linalg::GenericOp op) {
      if (op.getNumDpsInputs() == 2 && op.getNumDpsInits() == 1 &&
          op.getNumParallelLoops() == op.getNumLoops() &&
          op.hasPureTensorSemantics())
        scales.push_back(op);
    });
    for (linalg::GenericOp op : scales) {
      Block &body = op.getRegion().front();
      if (body.getOperations().size() != 2 ||
          !isa<arith::MulFOp, arith::DivFOp>(body.front()))
        continue;
      Operation &combine = body.front();
      if (body.getTerminator()->getOperand(0) != combine.getResult(0) ||
          combine.getOperand(0) == combine.getOperand(1))
        continue;
      // Which input is the scaled tensor (read through the identity map)
      // and which the scalar; a division scales by its divisor only.
      bool div = isa<arith::DivFOp>(combine);
      int tensorIn = -1;
      for (int i : {0, 1}) {
        auto arg = dyn_cast<BlockArgument>(combine.getOperand(i));
        if (!arg || arg.getOwner() != &body || (div && i == 1))
          continue;
        unsigned other = 1 - arg.getArgNumber();
        if (arg.getArgNumber() < 2 &&
            scalarConstant(op.getDpsInputs()[other]) &&
            op.getIndexingMapsArray()[arg.getArgNumber()].isIdentity() &&
            op.getIndexingMapsArray()[2].isIdentity())
          tensorIn = arg.getArgNumber();
      }
      if (tensorIn < 0 || op.payloadUsesValueFromOperand(op.getDpsInitOperand(0)))
        continue;
      Value scaled = op.getDpsInputs()[tensorIn];
      Value scalar = op.getDpsInputs()[1 - tensorIn];
      // Back through single-use reshapes to a zero-initialised GEMM.
      Value v = scaled;
      while (v.hasOneUse() &&
             isa_and_nonnull<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(
                 v.getDefiningOp()))
        v = v.getDefiningOp()->getOperand(0);
      auto gemm = v.getDefiningOp<linalg::LinalgOp>();
      if (!gemm || !v.hasOneUse() ||
          !isa<linalg::MatmulOp, linalg::BatchMatmulOp>(gemm) ||
          !gemm.hasPureTensorSemantics())
        continue;
      auto fill = gemm.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
      if (!fill || !matchPattern(fill.getDpsInputs()[0], m_AnyZeroFloat()))
        continue;
      // Scale the smaller operand.
      OpOperand *operand = gemm.getDpsInputOperand(0);
      auto t0 = dyn_cast<RankedTensorType>(gemm.getDpsInputs()[0].getType());
      auto t1 = dyn_cast<RankedTensorType>(gemm.getDpsInputs()[1].getType());
      if (!t0 || !t1 || !t0.hasStaticShape() || !t1.hasStaticShape() ||
          !t0.getElementType().isF32() || !t1.getElementType().isF32())
        continue;
      if (t1.getNumElements() < t0.getNumElements())
        operand = gemm.getDpsInputOperand(1);
      auto type = cast<RankedTensorType>(operand->get().getType());
      OpBuilder b(gemm);
      Location loc = op.getLoc();
      FloatAttr scale = *scalarConstant(scalar);
      Value empty = tensor::EmptyOp::create(b, loc, type.getShape(),
                                            type.getElementType());
      AffineMap id = b.getMultiDimIdentityMap(type.getRank());
      SmallVector<utils::IteratorType> parallel(type.getRank(),
                                                utils::IteratorType::parallel);
      Value newOperand =
          linalg::GenericOp::create(
              b, loc, type, ValueRange{operand->get()}, ValueRange{empty},
              ArrayRef<AffineMap>{id, id}, parallel,
              [&](OpBuilder &nb, Location nl, ValueRange args) {
                // The scale lives in the payload, so folding can evaluate it.
                Value c = arith::ConstantOp::create(nb, nl, scale);
                Value r = div ? arith::DivFOp::create(nb, nl, args[0], c)
                                    .getResult()
                              : arith::MulFOp::create(nb, nl, args[0], c)
                                    .getResult();
                linalg::YieldOp::create(nb, nl, r);
              })
              .getResult(0);
      operand->set(newOperand);
      op.getResult(0).replaceAllUsesWith(scaled);
      op.erase();
      ++numScalesMoved;
    }
  }

  void runOnOperation() override {
    if (moveScales)
      moveScalesIntoGemms();
    if (concatenate)
      concatenateGemms();
    bool changed = true;
    while (changed) {
      changed = false;
      SmallVector<Operation *> ops;
      getOperation()->walk([&](Operation *op) {
        if (isa<linalg::LinalgOp, tensor::ExpandShapeOp,
                tensor::CollapseShapeOp>(op))
          ops.push_back(op);
      });
      for (Operation *op : ops) {
        FailureOr<TypedAttr> folded = failure();
        if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op))
          folded = foldReshape(op, expand.getSrc());
        else if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op))
          folded = foldReshape(op, collapse.getSrc());
        else
          folded = foldLinalg(cast<linalg::LinalgOp>(op));
        if (failed(folded))
          continue;
        OpBuilder builder(op);
        Value cst =
            arith::ConstantOp::create(builder, op->getLoc(), *folded);
        llvm::SetVector<Operation *> defs;
        for (Value operand : op->getOperands())
          if (Operation *def = operand.getDefiningOp())
            defs.insert(def);
        op->getResult(0).replaceAllUsesWith(cst);
        op->erase();
        // The constants (and empty tensors) only the folded op read.
        for (Operation *def : defs)
          if (def->use_empty() && isa<arith::ConstantOp, tensor::EmptyOp>(def))
            def->erase();
        ++numFolded;
        changed = true;
      }
    }
  }
};

} // namespace
