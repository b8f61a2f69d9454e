//===- FuseElementwise.cpp - elementwise fusion that keeps reductions lean ===//
//
// Upstream's linalg-fuse-elementwise-ops fuses a producer into any consumer,
// including a contraction: an elementwise GELU feeding a matmul is then
// recomputed once per output column (N times the work, and transcendental
// calls in the inner loop). tac fuses elementwise producers only into
// consumers whose loops are all parallel, so every fused op does the work
// of one pass over its output.
//
//===----------------------------------------------------------------------===//

#include "passes/ConstantData.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cstring>

namespace mlir::tac {
#define GEN_PASS_DEF_TACFUSEELEMENTWISE
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;

namespace {

/// Fuse into all-parallel consumers only, and only a producer nothing else
/// reads (fusing a shared producer would recompute it per consumer).
bool intoParallelConsumer(OpOperand *fused) {
  Operation *producer = fused->get().getDefiningOp();
  auto consumer = dyn_cast<linalg::LinalgOp>(fused->getOwner());
  return producer && producer->hasOneUse() && consumer &&
         consumer.getNumReductionLoops() == 0;
}

/// A reshape moves across an elementwise producer when that lets the
/// producer fuse with the reshape's one consumer (a GEMM's 2-D bias add and
/// the 3-D GELU or residual add after it): producer and consumer have
/// all-parallel loops and nothing else reads either value. A reshape that
/// feeds anything else (attention's per-head slices) stays: moving it would
/// only give the producer the consumer's shape (a bias add over heads of
/// 24, split per slice). Otherwise as intoParallelConsumer.
bool reshapeIntoParallel(OpOperand *fused) {
  Operation *reshape = fused->getOwner();
  if (!isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(reshape))
    return intoParallelConsumer(fused);
  auto producer = fused->get().getDefiningOp<linalg::LinalgOp>();
  if (!producer || !producer->hasOneUse() ||
      producer.getNumReductionLoops() != 0 || !reshape->hasOneUse())
    return false;
  auto consumer = dyn_cast<linalg::LinalgOp>(*reshape->getUsers().begin());
  return consumer && consumer.getNumReductionLoops() == 0;
}

/// `value` (a constant, through reshapes) transposed as linalg.transpose
/// with `permutation` would, as a constant of `type`; none when `value` is
/// not a constant.
std::optional<Value> transposedConstant(PatternRewriter &rewriter,
                                        Location loc, Value value,
                                        ArrayRef<int64_t> permutation,
                                        RankedTensorType type) {
  auto shape = cast<RankedTensorType>(value.getType()).getShape();
  while (isa_and_nonnull<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(
      value.getDefiningOp()))
    value = value.getDefiningOp()->getOperand(0); // same row-major bytes
  std::optional<tac::ConstantData> data = tac::constantData(value);
  if (!data)
    return std::nullopt;
  const int64_t width = *tac::elementBytes(type.getElementType());
  const int64_t rank = shape.size(), count = type.getNumElements();
  SmallVector<int64_t> inStrides(rank, 1);
  for (int64_t d = rank - 2; d >= 0; --d)
    inStrides[d] = inStrides[d + 1] * shape[d + 1];
  std::vector<char> bytes(count * width);
  SmallVector<int64_t> index(rank, 0); // into the result, row-major
  for (int64_t out = 0; out < count; ++out) {
    int64_t in = 0;
    for (int64_t d = 0; d < rank; ++d)
      in += index[d] * inStrides[permutation[d]];
    std::memcpy(bytes.data() + out * width,
                data->bytes.data() + (data->splat ? 0 : in * width), width);
    for (int64_t d = rank - 1; d >= 0 && ++index[d] == type.getDimSize(d); --d)
      index[d] = 0;
  }
  return arith::ConstantOp::create(
             rewriter, loc, tac::makeConstant(type, bytes, data->resource))
      .getResult();
}

/// A contraction whose only reader transposes its result writes the
/// transposed result itself: its output map takes the permutation, and its
/// initial value (the accumulator it adds to) is transposed instead: a
/// fill is redone on the transposed shape, a constant (a folded bias) is
/// transposed here; any other accumulator leaves the two alone.
/// The GEMM recogniser then reads the contraction as the GEMM with A and B
/// swapped (C^T = B^T A^T): a ViT's patch embedding, weight x patches then
/// a transpose to patches x channels, becomes patches x weight^T, whose
/// weight is packed at compile time, with no transpose kernel.
struct TransposeIntoContraction : OpRewritePattern<linalg::TransposeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::TransposeOp transpose,
                                PatternRewriter &rewriter) const override {
    auto producer = transpose.getInput().getDefiningOp<linalg::GenericOp>();
    if (!producer || !producer->hasOneUse() ||
        producer.getNumDpsInits() != 1 || !producer.hasPureTensorSemantics() ||
        !linalg::isaContractionOpInterface(producer))
      return failure();
    Location loc = producer.getLoc();
    ArrayRef<int64_t> permutation = transpose.getPermutation();
    OpOperand *init = producer.getDpsInitOperand(0);
    Value target = transpose.getInit(), newInit;
    if (auto fill = init->get().getDefiningOp<linalg::FillOp>()) {
      newInit = linalg::FillOp::create(rewriter, loc, fill.getDpsInputs()[0],
                                       target)
                    .getResult(0);
    } else if (std::optional<Value> folded = transposedConstant(
                   rewriter, loc, init->get(), permutation,
                   cast<RankedTensorType>(target.getType()))) {
      newInit = *folded;
    } else {
      return failure();
    }
    SmallVector<AffineMap> maps = producer.getIndexingMapsArray();
    AffineMap output = maps.back();
    SmallVector<AffineExpr> permuted;
    for (int64_t from : permutation)
      permuted.push_back(output.getResult(from));
    maps.back() = AffineMap::get(output.getNumDims(), 0, permuted,
                                 rewriter.getContext());
    auto written = linalg::GenericOp::create(
        rewriter, loc, TypeRange{target.getType()}, producer.getDpsInputs(),
        ValueRange{newInit}, maps, producer.getIteratorTypesArray());
    rewriter.inlineRegionBefore(producer.getRegion(), written.getRegion(),
                                written.getRegion().begin());
    rewriter.replaceOp(transpose, written.getResults());
    rewriter.eraseOp(producer);
    return success();
  }
};

struct FuseElementwise
    : mlir::tac::impl::TacFuseElementwiseBase<FuseElementwise> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    RewritePatternSet patterns(context);
    linalg::populateElementwiseOpsFusionPatterns(patterns, intoParallelConsumer);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns,
                                                      reshapeIntoParallel);
    patterns.add<TransposeIntoContraction>(context);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, context);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, context);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, context);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, context);
    context->getLoadedDialect<linalg::LinalgDialect>()
        ->getCanonicalizationPatterns(patterns);
    int64_t before = countLinalgOps();
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    numFused += std::max<int64_t>(0, before - countLinalgOps());
  }

private:
  int64_t countLinalgOps() {
    int64_t count = 0;
    getOperation()->walk([&](linalg::LinalgOp) { ++count; });
    return count;
  }
};

} // namespace
