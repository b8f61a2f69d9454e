//===- FormAdaptiveBlocks.cpp - gate chains → adaptive blocks -------------===//
//
// A chain of tac.gate ops (each gate's inputs are the previous gate's
// results) becomes one tac.adaptive_block whose layers are the gates'
// regions. The path set comes from the function's `tac.paths` attribute or
// is derived by evaluating the gate conditions over the values the policy
// can produce; the selector is computed from the gate conditions at run time
// so the block computes what the gates did.
//
//===----------------------------------------------------------------------===//

#include "dialects/Tac/TacDialect.h"
#include "passes/LayerMatching.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include "llvm/Support/Debug.h"

#include <set>

#define DEBUG_TYPE "tac-form-adaptive-blocks"

namespace mlir::tac {
#define GEN_PASS_DEF_TACFORMADAPTIVEBLOCKS
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;
using namespace mlir::tac;

namespace {

/// A gate condition of the form `policy <pred> constant`.
struct Threshold {
  Value policy; // the compared integer scalar or one-element tensor
  arith::CmpIPredicate predicate;
  int64_t constant;

  bool holds(int64_t v) const {
    uint64_t u = static_cast<uint64_t>(v), c = static_cast<uint64_t>(constant);
    switch (predicate) {
    case arith::CmpIPredicate::eq: return v == constant;
    case arith::CmpIPredicate::ne: return v != constant;
    case arith::CmpIPredicate::slt: return v < constant;
    case arith::CmpIPredicate::sle: return v <= constant;
    case arith::CmpIPredicate::sgt: return v > constant;
    case arith::CmpIPredicate::sge: return v >= constant;
    case arith::CmpIPredicate::ult: return u < c;
    case arith::CmpIPredicate::ule: return u <= c;
    case arith::CmpIPredicate::ugt: return u > c;
    case arith::CmpIPredicate::uge: return u >= c;
    }
    return false;
  }
};

/// The single integer of a constant scalar or one-element tensor.
std::optional<int64_t> constantInt(Value v) {
  APInt value;
  if (matchPattern(v, m_ConstantInt(&value)))
    return value.getSExtValue();
  DenseIntElementsAttr dense;
  if (matchPattern(v, m_Constant(&dense)) && dense.getNumElements() == 1)
    return (*dense.begin()).getSExtValue();
  return std::nullopt;
}

/// A one-element tensor or scalar: the shapes a policy's choice takes.
bool isScalarLike(Value v) {
  if (v.getType().isIntOrIndex())
    return true;
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.hasStaticShape() && t.getNumElements() == 1;
}

/// Swaps the operands of a predicate: (a pred b) == (b swapped(pred) a).
arith::CmpIPredicate swapped(arith::CmpIPredicate p) {
  using P = arith::CmpIPredicate;
  switch (p) {
  case P::slt: return P::sgt;
  case P::sle: return P::sge;
  case P::sgt: return P::slt;
  case P::sge: return P::sle;
  case P::ult: return P::ugt;
  case P::ule: return P::uge;
  case P::ugt: return P::ult;
  case P::uge: return P::ule;
  default: return p;
  }
}

/// Recognises `cond = policy <pred> constant` in its scalar form
/// (arith.cmpi) or the imported tensor form (tensor.extract of a
/// linalg.generic whose body is one cmpi of its two inputs).
std::optional<Threshold> matchThreshold(Value cond) {
  auto fromPair = [](Value lhs, Value rhs,
                     arith::CmpIPredicate p) -> std::optional<Threshold> {
    if (auto c = constantInt(rhs); c && isScalarLike(lhs))
      return Threshold{lhs, p, *c};
    if (auto c = constantInt(lhs); c && isScalarLike(rhs))
      return Threshold{rhs, swapped(p), *c};
    return std::nullopt;
  };
  if (auto cmp = cond.getDefiningOp<arith::CmpIOp>())
    return fromPair(cmp.getLhs(), cmp.getRhs(), cmp.getPredicate());
  auto extract = cond.getDefiningOp<tensor::ExtractOp>();
  if (!extract)
    return std::nullopt;
  auto generic = extract.getTensor().getDefiningOp<linalg::GenericOp>();
  if (!generic || generic.getNumDpsInputs() != 2 ||
      generic->getNumResults() != 1)
    return std::nullopt;
  Block &body = generic.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto cmp = yield.getValues()[0].getDefiningOp<arith::CmpIOp>();
  if (!cmp || &body.front() != cmp.getOperation())
    return std::nullopt;
  auto lhsArg = dyn_cast<BlockArgument>(cmp.getLhs());
  auto rhsArg = dyn_cast<BlockArgument>(cmp.getRhs());
  if (!lhsArg || !rhsArg || lhsArg.getOwner() != &body ||
      rhsArg.getOwner() != &body || lhsArg.getArgNumber() > 1 ||
      rhsArg.getArgNumber() > 1)
    return std::nullopt;
  Value lhs = generic.getDpsInputs()[lhsArg.getArgNumber()];
  Value rhs = generic.getDpsInputs()[rhsArg.getArgNumber()];
  return fromPair(lhs, rhs, cmp.getPredicate());
}

constexpr size_t kMaxValueSet = 256;

/// The values an integer scalar-like value can take, when a simple analysis
/// bounds them: constants, booleans, argmax indices, and elementwise
/// add/sub/mul/select/casts of such values. nullopt when unbounded.
std::optional<std::set<int64_t>> possibleValues(Value v, int depth = 0) {
  if (depth > 32)
    return std::nullopt;
  Type element = getElementTypeOrSelf(v.getType());
  if (element.isInteger(1))
    return std::set<int64_t>{0, 1};
  DenseIntElementsAttr dense;
  if (matchPattern(v, m_Constant(&dense))) {
    std::set<int64_t> values;
    for (const APInt &x : dense)
      values.insert(x.getSExtValue());
    return values;
  }
  if (auto c = constantInt(v))
    return std::set<int64_t>{*c};
  Operation *def = v.getDefiningOp();
  if (!def)
    return std::nullopt;
  // Markers and shape-only ops keep the values.
  if (isa<PolicyOutputOp, tensor::ExtractOp, tensor::CollapseShapeOp,
          tensor::ExpandShapeOp, tensor::ExtractSliceOp>(def))
    return possibleValues(def->getOperand(0), depth + 1);
  if (isa<arith::ExtSIOp, arith::ExtUIOp, arith::IndexCastOp,
          arith::IndexCastUIOp>(def))
    return possibleValues(def->getOperand(0), depth + 1);
  auto combine = [&](Operation *op, ArrayRef<Value> operands)
      -> std::optional<std::set<int64_t>> {
    SmallVector<std::set<int64_t>> sets;
    for (Value operand : operands) {
      auto s = possibleValues(operand, depth + 1);
      if (!s)
        return std::nullopt;
      sets.push_back(*s);
    }
    std::set<int64_t> out;
    auto apply = [&](int64_t a, int64_t b, int64_t c) -> std::optional<int64_t> {
      if (isa<arith::AddIOp>(op)) return a + b;
      if (isa<arith::SubIOp>(op)) return a - b;
      if (isa<arith::MulIOp>(op)) return a * b;
      if (isa<arith::SelectOp>(op)) return a ? b : c;
      if (isa<arith::ExtUIOp, arith::ExtSIOp>(op)) return a;
      return std::nullopt;
    };
    std::set<int64_t> zero{0};
    const std::set<int64_t> &s0 = sets[0];
    const std::set<int64_t> &s1 = sets.size() > 1 ? sets[1] : zero;
    const std::set<int64_t> &s2 = sets.size() > 2 ? sets[2] : zero;
    for (int64_t a : s0)
      for (int64_t b : s1)
        for (int64_t c : s2) {
          auto r = apply(a, b, c);
          if (!r)
            return std::nullopt;
          out.insert(*r);
          if (out.size() > kMaxValueSet)
            return std::nullopt;
        }
    return out;
  };
  if (isa<arith::AddIOp, arith::SubIOp, arith::MulIOp, arith::SelectOp>(def))
    return combine(def, SmallVector<Value>(def->getOperands()));
  // The importer's elementwise form: a linalg.generic over one-element
  // tensors whose body is one op of its block arguments.
  if (auto generic = dyn_cast<linalg::GenericOp>(def)) {
    Block &body = generic.getRegion().front();
    auto yield = cast<linalg::YieldOp>(body.getTerminator());
    if (generic->getNumResults() != 1)
      return std::nullopt;
    Value result = yield.getValues()[0];
    // argmax: the index result of a two-output reduction ranges over the
    // reduced extent.
    if (auto arg = dyn_cast<BlockArgument>(result))
      return arg.getOwner() == &body && arg.getArgNumber() <
                                            generic.getNumDpsInputs()
                 ? possibleValues(generic.getDpsInputs()[arg.getArgNumber()],
                                  depth + 1)
                 : std::nullopt;
    Operation *scalar = result.getDefiningOp();
    if (!scalar || scalar->getBlock() != &body || &body.front() != scalar)
      return std::nullopt;
    SmallVector<Value> operands;
    for (Value operand : scalar->getOperands()) {
      auto arg = dyn_cast<BlockArgument>(operand);
      if (!arg || arg.getOwner() != &body ||
          arg.getArgNumber() >= generic.getNumDpsInputs())
        return std::nullopt;
      operands.push_back(generic.getDpsInputs()[arg.getArgNumber()]);
    }
    if (isa<arith::CmpIOp, arith::CmpFOp>(scalar))
      return std::set<int64_t>{0, 1};
    return combine(scalar, operands);
  }
  return std::nullopt;
}

struct TacFormAdaptiveBlocks
    : mlir::tac::impl::TacFormAdaptiveBlocksBase<TacFormAdaptiveBlocks> {
  using Base::Base;

  /// Maximal chains of gates in program order: each gate's inputs are the
  /// previous gate's results, which nothing else uses.
  SmallVector<SmallVector<GateOp>> findChains(func::FuncOp func) {
    SmallVector<SmallVector<GateOp>> chains;
    llvm::DenseSet<Operation *> taken;
    for (GateOp gate : func.getBody().front().getOps<GateOp>()) {
      if (taken.contains(gate))
        continue;
      SmallVector<GateOp> chain{gate};
      taken.insert(gate);
      while (true) {
        GateOp last = chain.back();
        GateOp next;
        for (Operation *user : last->getUsers())
          if (auto g = dyn_cast<GateOp>(user);
              g && g->getBlock() == last->getBlock() &&
              llvm::equal(g.getInputs(), last.getResults()))
            next = g;
        bool onlyUser = next && llvm::all_of(last->getUsers(), [&](Operation *u) {
                          return u == next.getOperation();
                        });
        if (!next || !onlyUser || taken.contains(next))
          break;
        chain.push_back(next);
        taken.insert(next);
      }
      chains.push_back(chain);
    }
    return chains;
  }

  /// The path set from the gate conditions, or failure (reported).
  FailureOr<SmallVector<SmallVector<int64_t>>>
  derivePaths(ArrayRef<GateOp> chain) {
    SmallVector<Threshold> thresholds;
    for (auto [i, constGate] : llvm::enumerate(chain)) {
      GateOp gate = constGate;
      std::optional<Threshold> t = matchThreshold(gate.getCondition());
      if (!t)
        return gate.emitError()
                   << "cannot derive the path set: the condition of gate " << i
                   << " of this chain is not `policy <cmp> constant` over an "
                      "integer scalar; give the paths explicitly with the "
                      "function attribute tac.paths (the ONNX metadata key "
                      "tac.paths), e.g. [[0], [0, 1]]",
               failure();
      if (!thresholds.empty() && t->policy != thresholds.front().policy)
        return gate.emitError()
                   << "cannot derive the path set: gate " << i
                   << " compares a different value than gate 0; all gates "
                      "of a chain must depend on one policy choice, or give "
                      "tac.paths explicitly",
               failure();
      thresholds.push_back(*t);
    }
    // Candidate policy values: what the analysis proves it can be, or the
    // values around every threshold (patterns change only there).
    std::set<int64_t> candidates;
    if (auto values = possibleValues(thresholds.front().policy)) {
      candidates = *values;
    } else {
      for (const Threshold &t : thresholds)
        for (int64_t d : {-1, 0, 1})
          candidates.insert(t.constant + d);
    }
    SmallVector<SmallVector<int64_t>> paths;
    for (int64_t v : candidates) {
      SmallVector<int64_t> path;
      for (auto [i, t] : llvm::enumerate(thresholds))
        if (t.holds(v))
          path.push_back(i);
      if (!llvm::is_contained(paths, path))
        paths.push_back(path);
    }
    // Cheapest first; the full depth (if reachable) last.
    llvm::stable_sort(paths, [](const auto &a, const auto &b) {
      return a.size() < b.size();
    });
    return paths;
  }

  /// The selector: the index of the path whose membership pattern matches
  /// the gate conditions; none matching gives N (the out-of-range rule:
  /// the last path).
  Value buildSelector(OpBuilder &b, Location loc, ArrayRef<GateOp> chain,
                      PathSetAttr paths) {
    Value trueValue = arith::ConstantIntOp::create(b, loc, 1, 1);
    int64_t numPaths = paths.getNumPaths();
    Value selector = arith::ConstantIndexOp::create(b, loc, numPaths);
    for (int64_t k = numPaths - 1; k >= 0; --k) {
      ArrayRef<int64_t> path = paths.getPath(k);
      Value match = trueValue;
      for (auto [i, constGate] : llvm::enumerate(chain)) {
        Value cond = GateOp(constGate).getCondition();
        if (!llvm::is_contained(path, static_cast<int64_t>(i)))
          cond = arith::XOrIOp::create(b, loc, cond, trueValue);
        match = arith::AndIOp::create(b, loc, match, cond);
      }
      Value index = arith::ConstantIndexOp::create(b, loc, k);
      selector = arith::SelectOp::create(b, loc, match, index, selector);
    }
    return selector;
  }

  LogicalResult formChain(func::FuncOp func, ArrayRef<GateOp> chain,
                          bool onlyChain) {
    MLIRContext *ctx = &getContext();
    PathSetAttr paths;
    if (auto given = func->getAttrOfType<PathSetAttr>(TacDialect::kPathsAttrName)) {
      if (!onlyChain)
        return func.emitError()
               << "the function's tac.paths attribute is ambiguous: it has "
                  "several gate chains; form blocks one chain per function",
               failure();
      if (given.getMaxLayerIndex() >= static_cast<int64_t>(chain.size()))
        return func.emitError()
                   << "tac.paths refers to layer " << given.getMaxLayerIndex()
                   << ", but the gate chain has " << chain.size()
                   << " gates (layers 0.." << chain.size() - 1 << ")",
               failure();
      paths = given;
    } else {
      auto derived = derivePaths(chain);
      if (failed(derived))
        return failure();
      paths = PathSetAttr::get(ctx, ArrayRef<SmallVector<int64_t>>(*derived));
    }

    GateOp last = chain.back();
    GateOp first = chain.front();
    OpBuilder b(last);
    Location loc = last.getLoc();
    Value selector = buildSelector(b, loc, chain, paths);
    auto block = AdaptiveBlockOp::create(b, loc, selector,
                                         first.getInputs(), paths,
                                         chain.size());
    for (auto [i, constGate] : llvm::enumerate(chain))
      block.getLayers()[i].takeBody(GateOp(constGate).getBody());
    last.replaceAllUsesWith(block.getResults());
    for (GateOp gate : llvm::reverse(chain))
      GateOp(gate).erase();
    ++numBlocks;
    numBlockLayers += chain.size();
    LLVM_DEBUG(llvm::dbgs() << "@" << func.getSymName() << ": " << chain.size()
                            << " gates form a block of " << paths.getNumPaths()
                            << " paths\n");
    return success();
  }

  /// Static model: the detected run of repeated layers becomes a block whose
  /// paths are the requested prefixes (the full run last), selected by a
  /// new trailing `index` argument of the function.
  LogicalResult formTruncatedDepths(func::FuncOp func) {
    Block &body = func.getBody().front();
    std::optional<RepeatedLayers> run = findRepeatedLayers(body, 2);
    if (!run)
      return func.emitError()
             << "--tac-form-adaptive-blocks depths=: found no run of at "
                "least 2 structurally identical consecutive layers (residual "
                "form, one state value between layers) in this function",
             failure();
    int64_t numLayers = run->layers.size();
    std::set<int64_t> wanted(depths.begin(), depths.end());
    wanted.insert(numLayers);
    SmallVector<SmallVector<int64_t>> paths;
    for (int64_t depth : wanted) {
      if (depth < 0 || depth > numLayers)
        return func.emitError()
                   << "--tac-form-adaptive-blocks depths=: depth " << depth
                   << " is out of range; the function has " << numLayers
                   << " repeated layers, so depths must be in [0, "
                   << numLayers << "]",
               failure();
      paths.push_back(llvm::to_vector(llvm::seq<int64_t>(0, depth)));
    }
    PathSetAttr pathSet =
        PathSetAttr::get(&getContext(), ArrayRef<SmallVector<int64_t>>(paths));

    // Constants between the layers belong to no layer: hoist them above the
    // first one so every layer region still sees them.
    Operation *firstOp = run->layers.front().ops.front();
    Operation *lastOp = run->layers.back().ops.back();
    for (Operation &op : llvm::make_early_inc_range(llvm::make_range(
             Block::iterator(firstOp), std::next(Block::iterator(lastOp)))))
      if (op.hasTrait<OpTrait::ConstantLike>())
        op.moveBefore(firstOp);

    // The selector: a new trailing index argument.
    unsigned argIndex = func.getNumArguments();
    if (failed(func.insertArgument(argIndex, IndexType::get(&getContext()),
                                   {}, func.getLoc())))
      return failure();
    Value selector = func.getArgument(argIndex);
    if (auto names = func->getAttrOfType<ArrayAttr>(TacDialect::kInputNamesAttrName)) {
      SmallVector<Attribute> extended(names.begin(), names.end());
      extended.push_back(StringAttr::get(&getContext(), "tac.path"));
      func->setAttr(TacDialect::kInputNamesAttrName, ArrayAttr::get(&getContext(), extended));
    }

    Value input = run->layers.front().input;
    Value output = run->layers.back().output;
    OpBuilder b(firstOp);
    auto block = AdaptiveBlockOp::create(b, firstOp->getLoc(), selector,
                                         ValueRange{input}, pathSet,
                                         numLayers);
    for (auto [i, layer] : llvm::enumerate(run->layers)) {
      Block &region = block.getLayers()[i].front();
      for (Operation *op : layer.ops)
        op->moveBefore(&region, region.end());
      layer.input.replaceUsesWithIf(region.getArgument(0), [&](OpOperand &use) {
        return block.getLayers()[i].isAncestor(use.getOwner()->getParentRegion());
      });
      OpBuilder yb = OpBuilder::atBlockEnd(&region);
      YieldOp::create(yb, layer.ops.back()->getLoc(), ValueRange{layer.output});
    }
    output.replaceUsesWithIf(block.getResult(0), [&](OpOperand &use) {
      return !block->isAncestor(use.getOwner());
    });
    ++numBlocks;
    numBlockLayers += numLayers;
    LLVM_DEBUG(llvm::dbgs() << "@" << func.getSymName() << ": a run of "
                            << numLayers << " layers forms a block of "
                            << pathSet.getNumPaths() << " depths\n");
    return success();
  }

  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      SmallVector<SmallVector<GateOp>> chains = findChains(func);
      if (chains.empty()) {
        if (!depths.empty() && failed(formTruncatedDepths(func)))
          return signalPassFailure();
        continue;
      }
      for (const SmallVector<GateOp> &chain : chains)
        if (failed(formChain(func, chain, chains.size() == 1)))
          return signalPassFailure();
    }
  }
};

} // namespace
