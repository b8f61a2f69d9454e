//===- GemmRecognition.cpp - kernels that are one (batched) GEMM ----------===//
//
// A kernel whose only op is an f32 multiply-add contraction with plainly
// strided operands is a (batched) GEMM both backends hand to a library:
// BLAS on the CPU, cuBLASLt on CUDA. The description (GemmDesc) is
// row-major: A is M x K, B is K x N, C is M x N, each possibly transposed,
// with leading dimensions and per-batch strides in elements.
//
//===----------------------------------------------------------------------===//

#include "tac/Backend/Backend.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"

#include <array>

using namespace mlir;
using namespace mlir::tac;

namespace {

/// One dimension group (batch, M, N or K) of one operand, collapsed.
struct Group {
  bool present = false; // some dim of size > 1 of the group indexes it
  int64_t stride = 0;   // elements, of the group's linear index
};

/// Collapses the loop dims `dims` (in loop order; the linear index takes the
/// last one fastest) in operand `map`/`type`; fails when they are not one
/// uniformly strided run.
FailureOr<Group> collapse(ArrayRef<unsigned> dims, AffineMap map,
                          MemRefType type, ArrayRef<int64_t> loopSizes) {
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return failure();
  Group group;
  bool absent = false;
  int64_t expected = -1; // stride the next-outer dim must have
  for (unsigned d : llvm::reverse(dims)) {
    if (loopSizes[d] == 1)
      continue;
    std::optional<unsigned> pos = map.getResultPosition(
        getAffineDimExpr(d, map.getContext()));
    // A group is either wholly in the operand or wholly absent.
    if (!pos) {
      if (group.present)
        return failure();
      absent = true;
      continue;
    }
    if (absent)
      return failure();
    int64_t stride = strides[*pos];
    if (ShapedType::isDynamic(stride))
      return failure();
    if (!group.present) {
      group.present = true;
      group.stride = stride;
    } else if (stride != expected) {
      return failure();
    }
    expected = stride * loopSizes[d];
  }
  return group;
}

} // namespace

std::optional<format::GemmDesc>
mlir::tac::recogniseGemm(func::FuncOp func, GemmOuterLoop *outer) {
  linalg::LinalgOp op;
  // A zero fill of the output before the contraction (tac-outline-kernels
  // puts an initialising fill in its consumer's kernel) becomes beta = 0.
  linalg::FillOp zeroFill;
  for (Operation &nested : func.getBody().front()) {
    if (isa<func::ReturnOp, arith::ConstantOp>(nested))
      continue;
    if (auto fill = dyn_cast<linalg::FillOp>(nested); fill && !op && !zeroFill) {
      if (!matchPattern(fill.getDpsInputs()[0], m_AnyZeroFloat()))
        return std::nullopt;
      zeroFill = fill;
      continue;
    }
    auto linalgOp = dyn_cast<linalg::LinalgOp>(nested);
    if (!linalgOp || op)
      return std::nullopt;
    op = linalgOp;
  }
  if (!op || op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      !linalg::isaContractionOpInterface(op) || !op.hasPureBufferSemantics())
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.empty() || dims->n.empty() || dims->k.empty())
    return std::nullopt;
  for (Value v : op->getOperands())
    if (!cast<MemRefType>(v.getType()).getElementType().isF32())
      return std::nullopt;
  for (AffineMap map : op.getIndexingMapsArray())
    if (!map.isProjectedPermutation())
      return std::nullopt;
  SmallVector<int64_t> sizes = op.getStaticLoopRanges();
  if (llvm::any_of(sizes, ShapedType::isDynamic))
    return std::nullopt;

  // Operand roles: A holds M and K, B holds K and N (swap if listed the
  // other way round), C holds M and N.
  OpOperand *a = op.getDpsInputOperand(0), *b = op.getDpsInputOperand(1);
  OpOperand *c = op.getDpsInitOperand(0);
  auto holds = [&](OpOperand *operand, ArrayRef<unsigned> group) {
    AffineMap map = op.getMatchingIndexingMap(operand);
    return llvm::any_of(group, [&](unsigned d) {
      return map.getResultPosition(getAffineDimExpr(d, map.getContext()))
          .has_value();
    });
  };
  if (!holds(a, dims->m) && holds(b, dims->m))
    std::swap(a, b);

  // One reading of the loop dims as batch, M, N and K.
  auto describe = [&](const linalg::ContractionDimensions &dims)
      -> std::optional<format::GemmDesc> {
    auto groupOf = [&](OpOperand *operand,
                       ArrayRef<unsigned> group) -> FailureOr<Group> {
      return collapse(group, op.getMatchingIndexingMap(operand),
                      cast<MemRefType>(operand->get().getType()), sizes);
    };
    auto product = [&](ArrayRef<unsigned> group) {
      int64_t p = 1;
      for (unsigned d : group)
        p *= sizes[d];
      return p;
    };
    SmallVector<unsigned> batchDims(dims.batch.begin(), dims.batch.end());
    llvm::sort(batchDims);
    auto batchGroups = [&](ArrayRef<unsigned> group) {
      return std::array<FailureOr<Group>, 3>{groupOf(a, group), groupOf(b, group),
                                             groupOf(c, group)};
    };
    std::array<FailureOr<Group>, 3> batchGroup = batchGroups(batchDims);
    bool collapses = llvm::all_of(
        batchGroup, [](const FailureOr<Group> &g) { return succeeded(g); });
    if (outer)
      *outer = GemmOuterLoop();
    if (!collapses && outer && batchDims.size() >= 2) {
      // Split off the outermost batch dim as a loop around the GEMM batch.
      unsigned d = batchDims.front();
      auto strideOf = [&](OpOperand *operand) -> std::optional<int64_t> {
        FailureOr<Group> g = collapse({d}, op.getMatchingIndexingMap(operand),
                                      cast<MemRefType>(operand->get().getType()),
                                      sizes);
        if (failed(g))
          return std::nullopt;
        return g->present ? g->stride : 0;
      };
      std::optional<int64_t> sa = strideOf(a), sb = strideOf(b), sc = strideOf(c);
      if (sa && sb && sc && *sc != 0) {
        batchDims.erase(batchDims.begin());
        batchGroup = batchGroups(batchDims);
        collapses = llvm::all_of(
            batchGroup, [](const FailureOr<Group> &g) { return succeeded(g); });
        *outer = {sizes[d], *sa, *sb, *sc};
      }
    }
    if (!collapses)
      return std::nullopt;
    int64_t batch = product(batchDims), m = product(dims.m),
            n = product(dims.n), k = product(dims.k);
    FailureOr<Group> aM = groupOf(a, dims.m), aK = groupOf(a, dims.k),
                     bK = groupOf(b, dims.k), bN = groupOf(b, dims.n),
                     cM = groupOf(c, dims.m), cN = groupOf(c, dims.n),
                     aB = batchGroup[0], bB = batchGroup[1], cB = batchGroup[2];
    for (FailureOr<Group> *g : {&aM, &aK, &bK, &bN, &cM, &cN, &aB, &bB, &cB})
      if (failed(*g))
        return std::nullopt;
    // M and N must be in C, K in A and B (when larger than one).
    if ((m > 1 && (!aM->present || !cM->present)) ||
        (n > 1 && (!bN->present || !cN->present)) ||
        (k > 1 && (!aK->present || !bK->present)) || (batch > 1 && !cB->present))
      return std::nullopt;

    format::GemmDesc g;
    // Operands name kernel arguments (the runtime's step arguments).
    auto argNumber = [](OpOperand *operand) -> std::optional<uint32_t> {
      if (auto arg = dyn_cast<BlockArgument>(operand->get()))
        return arg.getArgNumber();
      return std::nullopt;
    };
    std::optional<uint32_t> aArg = argNumber(a), bArg = argNumber(b),
                            cArg = argNumber(c);
    if (!aArg || !bArg || !cArg || *cArg == *aArg || *cArg == *bArg)
      return std::nullopt;
    g.aArg = *aArg;
    g.bArg = *bArg;
    g.cArg = *cArg;
    g.batch = static_cast<uint32_t>(batch);
    g.m = m;
    g.n = n;
    g.k = k;
    if (zeroFill && zeroFill.getDpsInits()[0] != c->get())
      return std::nullopt; // the fill writes something else
    g.beta = zeroFill ? 0.0f : 1.0f; // linalg contractions accumulate into C
    // A: M x K. Row-major when K is contiguous (or trivially one).
    auto layout = [](int64_t rows, int64_t cols, const Group &r, const Group &cl,
                     bool &trans, uint64_t &ld) -> bool {
      int64_t rs = rows > 1 ? r.stride : cols, cs = cols > 1 ? cl.stride : 1;
      if (cs == 1 && rs >= cols) {
        trans = false;
        ld = rows > 1 ? rs : cols;
        return true;
      }
      rs = rows > 1 ? r.stride : 1;
      cs = cols > 1 ? cl.stride : rows;
      if (rs == 1 && cs >= rows) {
        trans = true;
        ld = cs;
        return true;
      }
      return false;
    };
    if (!layout(m, k, *aM, *aK, g.aTrans, g.lda) ||
        !layout(k, n, *bK, *bN, g.bTrans, g.ldb))
      return std::nullopt;
    bool cTrans;
    if (!layout(m, n, *cM, *cN, cTrans, g.ldc) || cTrans)
      return std::nullopt;
    g.strideA = batch > 1 && aB->present ? aB->stride : 0;
    g.strideB = batch > 1 && bB->present ? bB->stride : 0;
    g.strideC = batch > 1 ? cB->stride : 0;
    return g;
  };
  auto recognise = [&](const linalg::ContractionDimensions &dims)
      -> std::optional<format::GemmDesc> {
    if (std::optional<format::GemmDesc> g = describe(dims))
      return g;
    // A dim only B and C index (or only A and C) counts as N (or M) to
    // linalg, but when it does not collapse with the others it is a batch
    // over which the other operand is shared: an im2col convolution's
    // images against its weight, C[b][o][p] = W[o][k] X[b][k][p].
    auto sharedOver = [&](bool n, bool m) {
      linalg::ContractionDimensions shared = dims;
      for (auto [move, group] : {std::pair{n, &shared.n}, {m, &shared.m}})
        if (move) {
          shared.batch.push_back(group->front());
          group->erase(group->begin());
        }
      llvm::sort(shared.batch);
      return describe(shared);
    };
    bool n = dims.n.size() > 1, m = dims.m.size() > 1;
    for (auto [moveN, moveM] : {std::pair{n, false}, {false, m}, {n, m}})
      if (moveN || moveM)
        if (std::optional<format::GemmDesc> g = sharedOver(moveN, moveM))
          return g;
    return std::nullopt;
  };
  if (std::optional<format::GemmDesc> g = recognise(*dims))
    return g;
  // C written transposed (N x M: a transpose folded into the contraction,
  // tac-fuse-elementwise) is C^T = B^T A^T, the GEMM with M and N, and A
  // and B, swapped.
  linalg::ContractionDimensions swapped = *dims;
  std::swap(swapped.m, swapped.n);
  std::swap(a, b);
  return recognise(swapped);
}

