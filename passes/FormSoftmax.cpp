//===- FormSoftmax.cpp - one linalg.softmax per imported softmax ----------===//
//
// The importer writes Softmax as four ops over the whole tensor: a max
// reduction, exp(x - max), a sum reduction and a division. As four kernels
// they pass over the tensor five times (attention's scores: 0.9 MB per layer
// of ViT-Small at batch 1, 30 MB at batch 32). Where the CPU code generator
// runs them, they become one linalg.softmax, which it lowers to one pass
// per row in cache (tac_softmax_rows, docs/backend.md).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::tac {
#define GEN_PASS_DEF_TACFORMSOFTMAX
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;

namespace {

/// The one op of `block` before its yield, when it yields that op's result
/// and is of type OpTy; else null.
template <typename OpTy>
OpTy onlyYielded(Block &block) {
  if (block.getOperations().size() != 2)
    return nullptr;
  auto op = dyn_cast<OpTy>(&block.front());
  auto yield = dyn_cast<linalg::YieldOp>(block.getTerminator());
  if (!op || !yield || yield.getNumOperands() != 1 ||
      yield.getOperand(0) != op->getResult(0))
    return nullptr;
  return op;
}

/// Whether `op`'s two operands are exactly the block arguments a and b,
/// in either order when `commutes`.
bool readsArguments(Operation *op, Block &block, unsigned a, unsigned b,
                    bool commutes) {
  Value x = op->getOperand(0), y = op->getOperand(1);
  Value first = block.getArgument(a), second = block.getArgument(b);
  return (x == first && y == second) ||
         (commutes && x == second && y == first);
}

/// The dimension a map drops from the rank-`rank` identity, when it is the
/// identity with exactly one dimension dropped.
std::optional<int64_t> droppedDim(AffineMap map, int64_t rank) {
  if (map.getNumDims() != rank || map.getNumResults() != rank - 1 ||
      !map.isProjectedPermutation())
    return std::nullopt;
  std::optional<int64_t> dropped;
  int64_t next = 0;
  for (int64_t d = 0; d < rank; ++d) {
    if (next < rank - 1 &&
        map.getResult(next) == getAffineDimExpr(d, map.getContext())) {
      ++next;
      continue;
    }
    if (dropped)
      return std::nullopt;
    dropped = d;
  }
  return next == rank - 1 ? dropped : std::nullopt;
}

/// An all-parallel generic of two inputs, the first read whole and the
/// second with one dimension reduced away: that dimension.
std::optional<int64_t> rowwiseBinary(linalg::GenericOp op) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      op.getNumReductionLoops() != 0 || op.getNumResults() != 1)
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  int64_t rank = op.getNumLoops();
  if (!maps[0].isIdentity() || !maps[2].isIdentity())
    return std::nullopt;
  return droppedDim(maps[1], rank);
}

/// A reduction over `dim` alone, from a fill of a constant, whose body
/// combines with CombineOp: its input; else null. Either a linalg.reduce
/// (the importer's) or the linalg.generic tac-batch-rows makes of one.
template <typename CombineOp>
Value reductionInput(Value result, int64_t dim,
                     function_ref<bool(FloatAttr)> acceptInit) {
  Operation *op = result.getDefiningOp();
  Block *body = nullptr;
  Value input, init;
  if (auto reduce = dyn_cast_or_null<linalg::ReduceOp>(op)) {
    if (reduce.getNumDpsInputs() != 1 ||
        reduce.getDimensions() != ArrayRef<int64_t>{dim})
      return nullptr;
    body = &reduce.getCombiner().front();
    input = reduce.getDpsInputs()[0];
    init = reduce.getDpsInits()[0];
  } else if (auto generic = dyn_cast_or_null<linalg::GenericOp>(op)) {
    int64_t rank = generic.getNumLoops();
    SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
    if (generic.getNumDpsInputs() != 1 || generic.getNumDpsInits() != 1 ||
        generic.getNumReductionLoops() != 1 || dim >= rank ||
        generic.getIteratorTypesArray()[dim] != utils::IteratorType::reduction ||
        !maps[0].isIdentity() || droppedDim(maps[1], rank) != dim)
      return nullptr;
    body = generic.getBody();
    input = generic.getDpsInputs()[0];
    init = generic.getDpsInits()[0];
  } else {
    return nullptr;
  }
  auto combine = onlyYielded<CombineOp>(*body);
  if (!combine || !readsArguments(combine, *body, 0, 1, /*commutes=*/true))
    return nullptr;
  auto fill = init.getDefiningOp<linalg::FillOp>();
  FloatAttr value;
  if (!fill || !matchPattern(fill.getInputs()[0], m_Constant(&value)) ||
      !acceptInit(value))
    return nullptr;
  return input;
}

/// div(E, sum(E)) with E = exp(X - max(X)), every reduction over the same
/// dimension and every intermediate read only inside the pattern, becomes
/// linalg.softmax of X. f32 only (the C lowering's type), rank <= 5 (its
/// four row dimensions: the importer's rank 4 and tac-batch-rows' rows).
struct FormSoftmaxPattern : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::GenericOp div,
                                PatternRewriter &rewriter) const override {
    auto type = dyn_cast<RankedTensorType>(div.getResultTypes()[0]);
    if (!type || !type.getElementType().isF32() || type.getRank() > 5 ||
        !type.hasStaticShape())
      return failure();
    std::optional<int64_t> dim = rowwiseBinary(div);
    auto divide = onlyYielded<arith::DivFOp>(*div.getBody());
    if (!dim || !divide ||
        !readsArguments(divide, *div.getBody(), 0, 1, /*commutes=*/false))
      return failure();
    Value expValue = div.getDpsInputs()[0], sumValue = div.getDpsInputs()[1];
    auto exp = expValue.getDefiningOp<linalg::GenericOp>();
    if (!exp || rowwiseBinary(exp) != dim)
      return failure();
    // exp(x - max)
    Block &expBody = *exp.getBody();
    if (expBody.getOperations().size() != 3)
      return failure();
    auto sub = dyn_cast<arith::SubFOp>(&expBody.front());
    auto expOp = dyn_cast<math::ExpOp>(sub ? sub->getNextNode() : nullptr);
    auto expYield = dyn_cast<linalg::YieldOp>(expBody.getTerminator());
    if (!sub || !expOp || expOp.getOperand() != sub.getResult() ||
        expYield.getOperand(0) != expOp.getResult() ||
        !readsArguments(sub, expBody, 0, 1, /*commutes=*/false))
      return failure();
    Value x = exp.getDpsInputs()[0], maxValue = exp.getDpsInputs()[1];
    Value summed = reductionInput<arith::AddFOp>(
        sumValue, *dim, [](FloatAttr a) { return a.getValue().isZero(); });
    Value maxed = reductionInput<arith::MaximumFOp>(
        maxValue, *dim, [](FloatAttr a) {
          // -inf, or the lowest finite float: the same result for every
          // input (a row of -inf gives NaN either way)
          const APFloat &v = a.getValue();
          return v.isNegative() && (v.isInfinity() || v.isLargest());
        });
    if (summed != expValue || maxed != x)
      return failure();
    // Every intermediate feeds only the pattern.
    if (!maxValue.hasOneUse() || !sumValue.hasOneUse() ||
        llvm::any_of(expValue.getUsers(), [&](Operation *user) {
          return user != div && user != sumValue.getDefiningOp();
        }))
      return failure();
    rewriter.replaceOpWithNewOp<linalg::SoftmaxOp>(
        div, div.getResultTypes(), x, div.getDpsInits()[0], *dim);
    return success();
  }
};

struct FormSoftmax : mlir::tac::impl::TacFormSoftmaxBase<FormSoftmax> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FormSoftmaxPattern>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
