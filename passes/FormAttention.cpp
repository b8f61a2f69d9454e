//===- FormAttention.cpp - one tac.attention per attention chain ----------===//
//
// The importer writes a transformer layer's attention as separate ops: the
// heads are split by transposes (copies), scores = Q Kᵀ is a batch_matmul
// whose result goes to memory (heads x rows x keys floats: 0.9 MB per layer
// of ViT-Small at batch 1), then scale, mask, softmax, and P V read it back,
// and a last transpose joins the heads. This pass replaces the chain from
// the projected Q, K, V to the joined heads with one tac.attention, which
// reads Q, K and V in place through strides and which the CPU code
// generator lowers to tac's fused kernel (tac_attention): each block of
// scores stays in cache from Q Kᵀ to P V.
//
// Matched, on static f32 tensors (anything else is left as it is):
//
//   S = batch_matmul(Q', K')  on a zero fill       Q', K': [G, rows, d],
//                                                  [G, d, keys]
//   [S = expand_shape S to [B, H, rows, keys]]
//   [S = S * c or S / c]                           c a scalar constant
//   [S = select(keep, S, fill)]                    keep i1, broadcast
//   [S = S + mask]                                 mask broadcast
//   P = softmax(S) along keys (tac-form-softmax's linalg.softmax)
//   [P = collapse_shape P]
//   O = batch_matmul(P, V')  on a zero fill        V': [G, keys, dv]
//
// or the same with the generics tac-batch-rows makes of the products in a
// batch bucket: a batch dim of rows before G ([R, G, ...]; the expand then
// splits G into [1, H]), the rows the op's batch.
//
// Each of Q', K', V' is followed back through collapse_shape (of the same
// batch x head split), transposes (linalg.transpose or tac-batch-rows'
// generic copy; absorbed as a permutation of the operand's dims; a slice
// of a linalg.transpose becomes a slice of its input) and, for Q' only, a
// multiplication or division by a scalar constant (absorbed into the
// scale). A transpose that is the only use of O's 4-d form is absorbed the
// same way.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/Tac/TacDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::tac {
#define GEN_PASS_DEF_TACFORMATTENTION
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;

namespace {

bool isStaticF32(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return type && type.hasStaticShape() && type.getElementType().isF32();
}

/// The value of a float constant or a splat constant tensor (a scale
/// tac-fold-constants computed from constants arrives as one).
std::optional<double> scalarValue(Value value) {
  FloatAttr attr;
  if (matchPattern(value, m_Constant(&attr)))
    return attr.getValueAsDouble();
  DenseFPElementsAttr dense;
  if (matchPattern(value, m_Constant(&dense)) && dense.isSplat())
    return dense.getSplatValue<APFloat>().convertToDouble();
  return std::nullopt;
}

/// The factor of an elementwise generic that multiplies or divides its one
/// tensor input by a scalar constant (captured, or a 0-d constant input):
/// c for x * c, 1 / c for x / c. Sets `input` to the tensor it scales.
std::optional<double> scalarScale(Operation *op, Value &input) {
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!generic || generic.getNumDpsInits() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops() ||
      !generic->hasOneUse())
    return std::nullopt;
  Block &body = generic.getRegion().front();
  if (body.getOperations().size() != 2)
    return std::nullopt;
  Operation *arith = &body.front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  if (!isa<arith::MulFOp, arith::DivFOp>(arith) ||
      yield.getOperand(0) != arith->getResult(0))
    return std::nullopt;
  // Which input is the scaled tensor (identity map, same shape as the
  // result) and what the other operand of the arithmetic is.
  auto constantOf = [&](Value v) -> std::optional<double> {
    auto arg = dyn_cast<BlockArgument>(v);
    if (!arg || arg.getOwner() != &body)
      return scalarValue(v);
    if (arg.getArgNumber() >= generic.getNumDpsInputs())
      return std::nullopt;
    return scalarValue(generic.getDpsInputs()[arg.getArgNumber()]);
  };
  for (auto [i, in] : llvm::enumerate(generic.getDpsInputs())) {
    if (in.getType() != generic.getResult(0).getType() ||
        !generic.getIndexingMapsArray()[i].isIdentity())
      continue;
    Value x = body.getArgument(i);
    Value a = arith->getOperand(0), b = arith->getOperand(1);
    std::optional<double> c;
    if (a == x)
      c = constantOf(b);
    else if (b == x && isa<arith::MulFOp>(arith))
      c = constantOf(a);
    if (!c || *c == 0.0)
      return std::nullopt;
    // Every other input must be the constant just read.
    if (generic.getNumDpsInputs() > 2)
      return std::nullopt;
    input = in;
    return isa<arith::DivFOp>(arith) ? 1.0 / *c : *c;
  }
  return std::nullopt;
}

/// Whether `map` reads a tensor of `type` broadcast: each result is the loop
/// dim of its position, or 0 where the tensor's size is 1.
bool isBroadcastMap(AffineMap map, ShapedType type) {
  if (type.getRank() != map.getNumDims() ||
      map.getNumResults() != type.getRank())
    return false;
  for (auto [d, expr] : llvm::enumerate(map.getResults())) {
    auto dim = dyn_cast<AffineDimExpr>(expr);
    auto zero = dyn_cast<AffineConstantExpr>(expr);
    if (!(dim && dim.getPosition() == d) &&
        !(zero && zero.getValue() == 0 && type.getDimSize(d) == 1))
      return false;
  }
  return true;
}

/// The boolean mask of `op` when it is an elementwise generic selecting
/// `scores` (identity map) where a broadcast i1 tensor holds and a scalar
/// constant elsewhere (GPT-2's causal mask); sets `fill`.
Value selectMask(Operation *op, Value &scores, double &fill) {
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!generic || generic.getNumDpsInits() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops() ||
      !generic->hasOneUse())
    return nullptr;
  Block &body = generic.getRegion().front();
  auto select = dyn_cast<arith::SelectOp>(&body.front());
  if (body.getOperations().size() != 2 || !select ||
      body.getTerminator()->getOperand(0) != select.getResult())
    return nullptr;
  auto inputOf = [&](Value v) -> std::optional<unsigned> {
    auto arg = dyn_cast<BlockArgument>(v);
    if (arg && arg.getOwner() == &body &&
        arg.getArgNumber() < generic.getNumDpsInputs())
      return arg.getArgNumber();
    return std::nullopt;
  };
  std::optional<unsigned> cond = inputOf(select.getCondition());
  std::optional<unsigned> kept = inputOf(select.getTrueValue());
  if (!cond || !kept)
    return nullptr;
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  Value keep = generic.getDpsInputs()[*cond];
  Value candidate = generic.getDpsInputs()[*kept];
  auto keepType = dyn_cast<RankedTensorType>(keep.getType());
  if (!keepType || !keepType.hasStaticShape() ||
      !keepType.getElementType().isInteger(1) ||
      !isBroadcastMap(maps[*cond], keepType) ||
      !maps[*kept].isIdentity() ||
      candidate.getType() != generic.getResult(0).getType())
    return nullptr;
  std::optional<unsigned> other = inputOf(select.getFalseValue());
  std::optional<double> value =
      other ? scalarValue(generic.getDpsInputs()[*other])
            : scalarValue(select.getFalseValue());
  if (!value)
    return nullptr;
  fill = *value;
  scores = candidate;
  return keep;
}

/// The additive mask of `op` when it is an elementwise generic adding a
/// tensor broadcast along some dims (its map's results are each that dim or
/// 0, the 0s where the mask's size is 1) to `scores` (identity map).
Value additiveMask(Operation *op, Value &scores) {
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!generic || generic.getNumDpsInputs() != 2 ||
      generic.getNumDpsInits() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops() ||
      !generic->hasOneUse())
    return nullptr;
  Block &body = generic.getRegion().front();
  auto add = dyn_cast<arith::AddFOp>(&body.front());
  if (body.getOperations().size() != 2 || !add ||
      body.getTerminator()->getOperand(0) != add.getResult())
    return nullptr;
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  for (unsigned s = 0; s < 2; ++s) {
    unsigned m = 1 - s;
    Value candidate = generic.getDpsInputs()[s];
    Value mask = generic.getDpsInputs()[m];
    if (!maps[s].isIdentity() ||
        candidate.getType() != generic.getResult(0).getType() ||
        !isStaticF32(mask) ||
        !((add.getLhs() == body.getArgument(s) &&
           add.getRhs() == body.getArgument(m)) ||
          (add.getRhs() == body.getArgument(s) &&
           add.getLhs() == body.getArgument(m))))
      continue;
    if (!isBroadcastMap(maps[m], cast<RankedTensorType>(mask.getType())))
      continue;
    scores = candidate;
    return mask;
  }
  return nullptr;
}

/// Whether `init` is a tensor filled with 0.0.
bool isZeroFill(Value init) {
  auto fill = init.getDefiningOp<linalg::FillOp>();
  FloatAttr zero;
  return fill && matchPattern(fill.value(), m_Constant(&zero)) &&
         zero.getValue().isZero();
}

/// The batch x head split of a 3-d [G, a, b] value's 4-d source, when it is
/// a collapse_shape [[0, 1], [2], [3]].
Value collapsedFrom(Value value) {
  auto collapse = value.getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse || collapse.getSrcType().getRank() != 4)
    return nullptr;
  SmallVector<ReassociationIndices> groups =
      collapse.getReassociationIndices();
  if (groups != SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}})
    return nullptr;
  return collapse.getSrc();
}

/// An operand of the attention: a rank-4 tensor and, per logical dim
/// (batch, head, row, column), which of its dims holds it.
struct Operand {
  Value value;
  SmallVector<int64_t, 4> dims;
};

/// Follows an operand back through transposes to the tensor they copy,
/// composing their permutations into `dims`; with `scale`, also through
/// scalar scalings (multiplied into it).
/// The permutation of `op` when it copies its input transposed (dim i of
/// the result is the input's dim permutation[i]): a linalg.transpose, or
/// the generic copy tac-batch-rows makes of one. Sets `input`.
std::optional<SmallVector<int64_t>> transposeOf(Operation *op, Value &input) {
  if (auto transpose = dyn_cast_or_null<linalg::TransposeOp>(op)) {
    input = transpose.getInput();
    return llvm::to_vector(transpose.getPermutation());
  }
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!generic || generic.getNumDpsInputs() != 1 ||
      generic.getNumDpsInits() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops())
    return std::nullopt;
  Block &body = generic.getRegion().front();
  if (body.getOperations().size() != 1 ||
      body.getTerminator()->getOperand(0) != body.getArgument(0))
    return std::nullopt;
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  if (!maps[1].isIdentity() || !maps[0].isPermutation())
    return std::nullopt;
  // The input's dim j is loop (= result dim) maps[0]'s j-th result.
  SmallVector<int64_t> permutation(maps[0].getNumResults());
  for (auto [j, expr] : llvm::enumerate(maps[0].getResults()))
    permutation[cast<AffineDimExpr>(expr).getPosition()] = j;
  input = generic.getDpsInputs()[0];
  return permutation;
}

/// A slice of a transpose as the same slice of the transpose's input (a
/// view once bufferized), made at `builder`'s point: ViT's Q, K and V are
/// slices of one transpose of the projected [tokens, 3, heads, d] tensor.
/// Only slices with unit strides that keep each transposed dim whole or
/// take one index of it. Updates `operand` and returns true when it did.
bool sliceBeforeTranspose(OpBuilder &builder, Operand &operand,
                          tensor::ExtractSliceOp slice) {
  auto transpose = slice.getSource().getDefiningOp<linalg::TransposeOp>();
  if (!transpose || !slice.hasUnitStride() ||
      !slice.getSourceType().hasStaticShape())
    return false;
  ArrayRef<int64_t> permutation = transpose.getPermutation();
  ArrayRef<int64_t> sizes = slice.getStaticSizes();
  ArrayRef<int64_t> offsets = slice.getStaticOffsets();
  int64_t rank = slice.getSourceType().getRank();
  for (int64_t t = 0; t < rank; ++t)
    if (ShapedType::isDynamic(sizes[t]) || ShapedType::isDynamic(offsets[t]) ||
        (sizes[t] != 1 && (offsets[t] != 0 ||
                           sizes[t] != slice.getSourceType().getDimSize(t))))
      return false;
  llvm::SmallBitVector dropped = slice.getDroppedDims();
  // The transposed dim t is the input's dim permutation[t]: the same
  // offsets and sizes there, the same dims dropped.
  SmallVector<int64_t> inputOffsets(rank), inputSizes(rank);
  llvm::SmallBitVector inputDropped(rank);
  for (int64_t t = 0; t < rank; ++t) {
    inputOffsets[permutation[t]] = offsets[t];
    inputSizes[permutation[t]] = sizes[t];
    inputDropped[permutation[t]] = dropped[t];
  }
  // Kept dims in order, before and after: the slice's dim r is the
  // transposed dim kept[r], whose input dim is a kept input dim.
  SmallVector<int64_t> kept, position(rank, -1), shape;
  for (int64_t t = 0; t < rank; ++t)
    if (!dropped[t])
      kept.push_back(t);
  for (int64_t p = 0; p < rank; ++p)
    if (!inputDropped[p]) {
      position[p] = shape.size();
      shape.push_back(inputSizes[p]);
    }
  Value input = transpose.getInput();
  auto type = RankedTensorType::get(
      shape, cast<RankedTensorType>(input.getType()).getElementType());
  SmallVector<OpFoldResult> ofrOffsets, ofrSizes, ofrStrides;
  for (int64_t p = 0; p < rank; ++p) {
    ofrOffsets.push_back(builder.getIndexAttr(inputOffsets[p]));
    ofrSizes.push_back(builder.getIndexAttr(inputSizes[p]));
    ofrStrides.push_back(builder.getIndexAttr(1));
  }
  operand.value = tensor::ExtractSliceOp::create(
      builder, slice.getLoc(), type, input, ofrOffsets, ofrSizes, ofrStrides);
  for (int64_t &dim : operand.dims)
    dim = position[permutation[kept[dim]]];
  return true;
}

void absorbProducers(OpBuilder &builder, Operand &operand, double *scale,
                     SmallVectorImpl<Operation *> &passed) {
  while (true) {
    Operation *producer = operand.value.getDefiningOp();
    if (producer)
      passed.push_back(producer);
    if (auto slice = dyn_cast_or_null<tensor::ExtractSliceOp>(producer))
      if (sliceBeforeTranspose(builder, operand, slice)) {
        passed.push_back(slice.getSource().getDefiningOp());
        continue;
      }
    Value transposed;
    if (std::optional<SmallVector<int64_t>> permutation =
            transposeOf(producer, transposed)) {
      for (int64_t &dim : operand.dims)
        dim = (*permutation)[dim];
      operand.value = transposed;
      continue;
    }
    Value input;
    if (scale)
      if (std::optional<double> factor = scalarScale(producer, input)) {
        *scale *= *factor;
        operand.value = input;
        continue;
      }
    return;
  }
}

/// A 3-d batch_matmul operand [G, a, b] as a rank-4 operand split
/// [batch, heads, a, b]: its collapse_shape's source when that is the
/// split, else an expand_shape made at `builder`'s point. `logical` gives
/// the 4-d dims of the logical (batch, head, row, column).
Operand liftOperand(OpBuilder &builder, Value value3d, int64_t batch,
                    int64_t heads, ArrayRef<int64_t> logical, double *scale,
                    SmallVectorImpl<Operation *> &passed) {
  // A scaling of the 3-d form first (the importer scales Q after
  // collapsing it).
  Value input;
  if (scale)
    while (std::optional<double> factor =
               scalarScale(value3d.getDefiningOp(), input)) {
      passed.push_back(value3d.getDefiningOp());
      *scale *= *factor;
      value3d = input;
    }
  Operand operand{nullptr, SmallVector<int64_t, 4>(logical)};
  if (Value source = collapsedFrom(value3d)) {
    passed.push_back(value3d.getDefiningOp());
    auto type = cast<RankedTensorType>(source.getType());
    if (type.getDimSize(0) == batch && type.getDimSize(1) == heads)
      operand.value = source;
  }
  if (!operand.value) {
    auto type = cast<RankedTensorType>(value3d.getType());
    auto expanded = RankedTensorType::get(
        {batch, heads, type.getDimSize(1), type.getDimSize(2)},
        type.getElementType());
    operand.value = tensor::ExpandShapeOp::create(
        builder, value3d.getLoc(), expanded, value3d,
        SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}});
  }
  absorbProducers(builder, operand, scale, passed);
  return operand;
}

/// Erases the ops of `ops` (none nested in another) that nothing uses any
/// more, to a fixed point; the rest stay (a transpose Q shares with
/// another reader, say).
void eraseUnused(ArrayRef<Operation *> ops) {
  llvm::SetVector<Operation *> live(ops.begin(), ops.end());
  live.remove(nullptr);
  bool changed = true;
  while (changed) {
    changed = false;
    for (Operation *op : live.takeVector()) {
      if (op->use_empty() && isMemoryEffectFree(op)) {
        op->erase();
        changed = true;
      } else {
        live.insert(op);
      }
    }
  }
}

DenseI64ArrayAttr dimsAttr(Builder &builder, const Operand &operand) {
  return builder.getDenseI64ArrayAttr(operand.dims);
}

/// How many leading batch dims `op` has when it is a batched matmul
/// C[p.., i, j] += A[p.., i, k] * B[p.., k, j] of static f32 tensors on a
/// zero fill: a linalg.batch_matmul with its default maps (1), or the
/// generic tac-batch-rows makes of one, the rows a batch dim before it (2).
std::optional<int> batchedMatmul(Operation *op) {
  auto linalgOp = dyn_cast_or_null<linalg::LinalgOp>(op);
  if (!linalgOp || linalgOp.getNumDpsInputs() != 2 ||
      linalgOp.getNumDpsInits() != 1 || !isZeroFill(linalgOp.getDpsInits()[0]) ||
      !isStaticF32(linalgOp.getDpsInputs()[0]) ||
      !isStaticF32(linalgOp.getDpsInputs()[1]))
    return std::nullopt;
  if (auto named = dyn_cast<linalg::BatchMatmulOp>(op)) {
    // Broadcast or transposed forms carry explicit, other maps.
    if (!named.getIndexingMaps().empty() &&
        named.getIndexingMapsArray() !=
            linalg::BatchMatmulOp::getDefaultIndexingMaps(op->getContext()))
      return std::nullopt;
    return 1;
  }
  auto generic = dyn_cast<linalg::GenericOp>(op);
  if (!generic || generic.getNumLoops() != 5 ||
      generic.getNumReductionLoops() != 1 ||
      generic.getIteratorTypesArray()[4] != utils::IteratorType::reduction)
    return std::nullopt;
  MLIRContext *context = op->getContext();
  auto map = [&](ArrayRef<unsigned> dims) {
    SmallVector<AffineExpr> exprs;
    for (unsigned d : dims)
      exprs.push_back(getAffineDimExpr(d, context));
    return AffineMap::get(5, 0, exprs, context);
  };
  // loops (r, g, i, j, k)
  if (generic.getIndexingMapsArray() !=
      SmallVector<AffineMap>{map({0, 1, 2, 4}), map({0, 1, 4, 3}),
                             map({0, 1, 2, 3})})
    return std::nullopt;
  Block &body = generic.getRegion().front();
  auto mul = dyn_cast<arith::MulFOp>(&body.front());
  if (body.getOperations().size() != 3 || !mul)
    return std::nullopt;
  auto add = dyn_cast<arith::AddFOp>(mul->getNextNode());
  if (!add || body.getTerminator()->getOperand(0) != add.getResult() ||
      !((mul.getLhs() == body.getArgument(0) &&
         mul.getRhs() == body.getArgument(1)) ||
        (mul.getLhs() == body.getArgument(1) &&
         mul.getRhs() == body.getArgument(0))) ||
      !((add.getLhs() == body.getArgument(2) && add.getRhs() == mul) ||
        (add.getRhs() == body.getArgument(2) && add.getLhs() == mul)))
    return std::nullopt;
  return 2;
}

/// Forms one tac.attention from the chain around `softmax`; false when the
/// chain is not the one above.
bool formAttention(linalg::SoftmaxOp softmax) {
  Value input = softmax.getInput();
  int64_t rank = softmax.getInputOperandType().getRank();
  if (!isStaticF32(input) || rank < 3 || rank > 5 ||
      static_cast<int64_t>(softmax.getDimension()) != rank - 1 ||
      !softmax->hasOneUse())
    return false;

  // Backwards from the softmax: mask, scale, the split of the last batch
  // dim, Q Kᵀ; what the chain passes through is erased at the end where
  // unused.
  SmallVector<Operation *> passed = {softmax};
  Value scores = input;
  Value mask = additiveMask(scores.getDefiningOp(), scores);
  if (mask)
    passed.push_back(input.getDefiningOp());
  double fill = 0.0;
  Operation *selecting = scores.getDefiningOp();
  Value keep = selectMask(selecting, scores, fill);
  if (keep)
    passed.push_back(selecting);
  double scale = 1.0;
  Value unscaled;
  if (std::optional<double> factor =
          scalarScale(scores.getDefiningOp(), unscaled)) {
    passed.push_back(scores.getDefiningOp());
    scale = *factor;
    scores = unscaled;
  }
  // The products' rank: one batch dim (heads; a named batch_matmul) or two
  // (rows and heads; a batch bucket's generic). The softmax may see the
  // last batch dim split in two.
  tensor::ExpandShapeOp split = scores.getDefiningOp<tensor::ExpandShapeOp>();
  int64_t products = rank;
  if (split) {
    products = split.getSrcType().getRank();
    SmallVector<ReassociationIndices> groups;
    for (int64_t d = 0; d < products; ++d)
      groups.push_back(d == products - 3 ? ReassociationIndices{d, d + 1}
                                         : ReassociationIndices{
                                               d < products - 3 ? d : d + 1});
    if (!split->hasOneUse() || rank != products + 1 ||
        split.getReassociationIndices() != groups)
      return false;
    passed.push_back(split);
    scores = split.getSrc();
  }
  Operation *qk = scores.getDefiningOp();
  std::optional<int> batchDims = batchedMatmul(qk);
  if (!batchDims || *batchDims + 2 != products || !qk->hasOneUse())
    return false;
  int64_t batch = 1, heads;
  ArrayRef<int64_t> scoreShape =
      cast<RankedTensorType>(scores.getType()).getShape();
  if (*batchDims == 1) {
    // [G, rows, keys], G split into (batch, heads) or all heads
    batch = split ? split.getResultType().getDimSize(0) : 1;
    heads = split ? split.getResultType().getDimSize(1) : scoreShape[0];
  } else {
    // [rows, G, ...]: batch = the rows; a split of G must be (1, heads)
    // (one image a row), so G is the heads
    if (split && split.getResultType().getDimSize(1) != 1)
      return false;
    batch = scoreShape[0];
    heads = scoreShape[1];
  }

  // Forwards: P V.
  Value probabilities = softmax.getResult()[0];
  Operation *user = *probabilities.getUsers().begin();
  if (split) {
    auto collapse = dyn_cast<tensor::CollapseShapeOp>(user);
    if (!collapse || !collapse->hasOneUse() ||
        collapse.getReassociationIndices() != split.getReassociationIndices())
      return false;
    probabilities = collapse.getResult();
    user = *probabilities.getUsers().begin();
  }
  std::optional<int> pvBatchDims = batchedMatmul(user);
  if (pvBatchDims != batchDims || user->getOperand(0) != probabilities)
    return false;
  Operation *pv = user;
  for (Value extra : {mask, keep}) {
    if (!extra)
      continue;
    // The masks must be defined before P V, where the op goes.
    Operation *def = extra.getDefiningOp();
    if (def && def->getBlock() == pv->getBlock() &&
        !def->isBeforeInBlock(pv))
      return false;
    // In a batch bucket's split form [rows, 1, heads, ...] the masks'
    // second and third dims become one.
    auto type = cast<RankedTensorType>(extra.getType());
    if (*batchDims == 2 && split && type.getDimSize(1) != 1)
      return false;
  }

  OpBuilder builder(pv);
  Location loc = softmax.getLoc();
  auto initOf = [](Operation *op) {
    return cast<DestinationStyleOpInterface>(op).getDpsInits()[0];
  };
  passed.append({qk, initOf(qk).getDefiningOp(), pv,
                 initOf(pv).getDefiningOp()});
  if (probabilities != softmax.getResult()[0])
    passed.push_back(probabilities.getDefiningOp());
  // Q [.., rows, d] -> (b, h, row, d); Kᵀ [.., d, keys] -> key
  // (b, h, key, d) is dims (0, 1, 3, 2); V [.., keys, dv] -> (b, h, key, e).
  // One batch dim: lifted to [batch, heads, ...]; two: already so.
  auto operand = [&](Value value, ArrayRef<int64_t> logical, double *scale) {
    if (*batchDims == 1)
      return liftOperand(builder, value, batch, heads, logical, scale,
                         passed);
    Operand lifted{value, SmallVector<int64_t, 4>(logical)};
    absorbProducers(builder, lifted, scale, passed);
    return lifted;
  };
  Operand query = operand(qk->getOperand(0), {0, 1, 2, 3}, &scale);
  Operand key = operand(qk->getOperand(1), {0, 1, 3, 2}, nullptr);
  Operand value = operand(pv->getOperand(1), {0, 1, 2, 3}, nullptr);
  // The masks in the softmax's rank, as rank 4.
  auto rank4 = [&](Value extra) -> Operand {
    Operand operand{extra, {0, 1, 2, 3}};
    if (!extra || rank == 4)
      return operand;
    auto type = cast<RankedTensorType>(extra.getType());
    ArrayRef<int64_t> s = type.getShape();
    if (rank == 3)
      operand.value = tensor::ExpandShapeOp::create(
          builder, loc,
          RankedTensorType::get({1, s[0], s[1], s[2]}, type.getElementType()),
          extra, SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}});
    else
      operand.value = tensor::CollapseShapeOp::create(
          builder, loc,
          RankedTensorType::get({s[0], s[2], s[3], s[4]},
                                type.getElementType()),
          extra, SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}, {4}});
    return operand;
  };
  Operand maskOperand = rank4(mask);
  Operand keepOperand = rank4(keep);

  // The result: P V's 4-d form, or the transpose that joins the heads
  // (one batch dim only: a batch bucket joins them in its own rank).
  auto pvType = cast<RankedTensorType>(pv->getResult(0).getType());
  SmallVector<int64_t> shape = {batch, heads,
                                pvType.getDimSize(products - 2),
                                pvType.getDimSize(products - 1)};
  Operand result{nullptr, {0, 1, 2, 3}};
  linalg::TransposeOp joinHeads;
  tensor::ExpandShapeOp expandResult;
  if (*batchDims == 1 && pv->hasOneUse())
    if (auto expand = dyn_cast<tensor::ExpandShapeOp>(*pv->user_begin()))
      if (expand->hasOneUse() &&
          expand.getResultType().getShape() == ArrayRef<int64_t>(shape) &&
          expand.getReassociationIndices() ==
              SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}}) {
        expandResult = expand;
        joinHeads = dyn_cast<linalg::TransposeOp>(*expand->user_begin());
      }
  SmallVector<int64_t> resultShape = shape;
  if (joinHeads) {
    // Output dim i holds the 4-d form's dim permutation[i].
    ArrayRef<int64_t> permutation = joinHeads.getPermutation();
    for (auto [i, from] : llvm::enumerate(permutation)) {
      resultShape[i] = shape[from];
      result.dims[from] = i;
    }
  }
  Value init = tensor::EmptyOp::create(builder, loc, resultShape,
                                       builder.getF32Type());
  auto attention = tac::AttentionOp::create(
      builder, loc, TypeRange{init.getType()}, query.value, key.value,
      value.value, maskOperand.value, keepOperand.value, init,
      builder.getF32FloatAttr(static_cast<float>(scale)),
      dimsAttr(builder, query), dimsAttr(builder, key),
      dimsAttr(builder, value),
      mask ? dimsAttr(builder, maskOperand) : DenseI64ArrayAttr(),
      keep ? dimsAttr(builder, keepOperand) : DenseI64ArrayAttr(),
      keep ? builder.getF32FloatAttr(static_cast<float>(fill)) : FloatAttr(),
      dimsAttr(builder, result));

  IRRewriter rewriter(builder);
  if (joinHeads) {
    rewriter.replaceOp(joinHeads, attention.getResult());
    passed.push_back(expandResult);
  } else if (*batchDims == 2) {
    rewriter.replaceAllUsesWith(pv->getResult(0), attention.getResult()[0]);
  } else {
    rewriter.setInsertionPointAfter(attention);
    Value joined = tensor::CollapseShapeOp::create(
        rewriter, loc, pvType, attention.getResult()[0],
        SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}});
    rewriter.replaceAllUsesWith(pv->getResult(0), joined);
  }
  eraseUnused(passed);
  return true;
}

struct TacFormAttention
    : public tac::impl::TacFormAttentionBase<TacFormAttention> {
  void runOnOperation() override {
    SmallVector<linalg::SoftmaxOp> softmaxes;
    getOperation()->walk(
        [&](linalg::SoftmaxOp op) { softmaxes.push_back(op); });
    for (linalg::SoftmaxOp softmax : softmaxes)
      formAttention(softmax);
  }
};

} // namespace
