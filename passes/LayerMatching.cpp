//===- LayerMatching.cpp - structural equivalence of layers ---------------===//
//
// See LayerMatching.h for the definitions and the algorithm.
//
//===----------------------------------------------------------------------===//

#include "passes/LayerMatching.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/OperationSupport.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <limits>

using namespace mlir;
using namespace mlir::tac;

SmallVector<Capture> LayerCorrespondence::getWeightSlots() const {
  SmallVector<Capture> slots;
  for (const Capture &capture : captures)
    if (capture.kind == CaptureKind::Weight)
      slots.push_back(capture);
  return slots;
}

/// Whether `op` is a constant: ConstantLike, no operands, no regions.
static bool isConstantOp(Operation *op) {
  return op && op->hasTrait<OpTrait::ConstantLike>() &&
         op->getNumOperands() == 0 && op->getNumRegions() == 0;
}

/// The attribute of a constant-defined value, or null.
static Attribute getConstantAttr(Value value) {
  Operation *def = value.getDefiningOp();
  if (!isConstantOp(def))
    return {};
  Attribute attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return {};
  return attr;
}

namespace {

/// Walks two layers in lockstep and records their correspondence.
class Matcher {
public:
  explicit Matcher(LayerCorrespondence &out) : out(out) {}

  /// Maps a value defined inside `a` to its counterpart in `b`.
  void map(Value a, Value b) {
    out.values[a] = b;
    bDefined.insert(b);
  }

  bool matchRegion(Region &a, Region &b, StringRef where);
  bool matchOps(ArrayRef<Operation *> a, ArrayRef<Operation *> b,
                StringRef where);

private:
  bool fail(const Twine &message) {
    out.reason = message.str();
    return false;
  }
  /// "op #k ('name')" for messages.
  std::string describe(Operation *op) const {
    return ("op #" + Twine(opCount) + " ('" + op->getName().getStringRef() +
            "')")
        .str();
  }
  bool matchOp(Operation *a, Operation *b);
  bool matchOperand(Value a, Value b, Operation *user, unsigned index);
  bool matchAttributes(Operation *a, Operation *b);

  LayerCorrespondence &out;
  /// Values defined inside `b` (counterparts of values defined inside `a`).
  DenseSet<Value> bDefined;
  /// Blocks of `a` mapped to blocks of `b`.
  DenseMap<Block *, Block *> blocks;
  /// Non-constant ops compared so far (for messages).
  unsigned opCount = 0;
};

} // namespace

bool Matcher::matchOperand(Value a, Value b, Operation *user, unsigned index) {
  auto where = [&] {
    return describe(user) + " operand #" + std::to_string(index);
  };
  if (a.getType() != b.getType()) {
    std::string s;
    llvm::raw_string_ostream os(s);
    os << where() << " has type " << a.getType() << " in one layer and "
       << b.getType() << " in the other";
    return fail(s);
  }
  // A value defined inside `a`: its counterpart must be at the same place.
  if (auto it = out.values.find(a); it != out.values.end()) {
    if (it->second != b)
      return fail(where() + " reads values defined at different places of "
                            "the two layers");
    return true;
  }
  if (bDefined.contains(b))
    return fail(where() + " reads a value from outside in one layer and one "
                          "defined inside in the other");

  // A capture (a value from outside, or a constant).
  Attribute aAttr = getConstantAttr(a), bAttr = getConstantAttr(b);
  if (auto it = out.captureIndex.find(a); it != out.captureIndex.end()) {
    Capture &capture = out.captures[it->second];
    if (capture.b == b)
      return true;
    if (aAttr && bAttr && getConstantAttr(capture.b) == bAttr)
      return true;
    return fail(where() + " reads a value that another use pairs with a "
                          "different value of the other layer (one value "
                          "in one layer, two in the other)");
  }
  CaptureKind kind;
  if (a == b)
    kind = CaptureKind::Shared;
  else if (aAttr && bAttr)
    kind = aAttr == bAttr ? CaptureKind::EqualConstant : CaptureKind::Weight;
  else
    return fail(where() + " reads different values from outside that are "
                          "not both constants (only constants may differ "
                          "between layers)");
  out.captureIndex[a] = out.captures.size();
  out.captures.push_back({a, b, kind});
  return true;
}

bool Matcher::matchAttributes(Operation *a, Operation *b) {
  // Discardable attributes.
  if (a->getRawDictionaryAttrs() != b->getRawDictionaryAttrs()) {
    DictionaryAttr da = a->getRawDictionaryAttrs(),
                   db = b->getRawDictionaryAttrs();
    for (NamedAttribute attr : da)
      if (db.get(attr.getName()) != attr.getValue())
        return fail(describe(a) + " has a different attribute '" +
                    attr.getName().getValue() + "'");
    for (NamedAttribute attr : db)
      if (!da.get(attr.getName()))
        return fail(describe(a) + " has an attribute '" +
                    attr.getName().getValue() + "' in one layer only");
    return fail(describe(a) + " has different attributes");
  }
  // Inherent attributes (properties).
  if (!a->getName().compareOpProperties(a->getPropertiesStorage(),
                                        b->getPropertiesStorage())) {
    auto da = dyn_cast_or_null<DictionaryAttr>(a->getPropertiesAsAttribute());
    auto db = dyn_cast_or_null<DictionaryAttr>(b->getPropertiesAsAttribute());
    if (da && db)
      for (NamedAttribute attr : da)
        if (db.get(attr.getName()) != attr.getValue())
          return fail(describe(a) + " has a different attribute '" +
                      attr.getName().getValue() + "'");
    return fail(describe(a) + " has different properties");
  }
  return true;
}

bool Matcher::matchOp(Operation *a, Operation *b) {
  ++opCount;
  if (a->getName() != b->getName())
    return fail(describe(a) + " is '" + b->getName().getStringRef() +
                "' in the other layer");
  if (a->getNumOperands() != b->getNumOperands() ||
      a->getNumResults() != b->getNumResults() ||
      a->getNumRegions() != b->getNumRegions() ||
      a->getNumSuccessors() != b->getNumSuccessors())
    return fail(describe(a) + " has a different number of operands, "
                              "results, regions or successors");
  for (auto [i, types] :
       llvm::enumerate(llvm::zip(a->getResultTypes(), b->getResultTypes()))) {
    auto [ta, tb] = types;
    if (ta != tb) {
      std::string s;
      llvm::raw_string_ostream os(s);
      os << describe(a) << " result #" << i << " has type " << ta
         << " in one layer and " << tb << " in the other";
      return fail(s);
    }
  }
  if (!matchAttributes(a, b))
    return false;
  for (unsigned i = 0, e = a->getNumOperands(); i < e; ++i)
    if (!matchOperand(a->getOperand(i), b->getOperand(i), a, i))
      return false;
  for (unsigned i = 0, e = a->getNumSuccessors(); i < e; ++i)
    if (blocks.lookup(a->getSuccessor(i)) != b->getSuccessor(i))
      return fail(describe(a) + " branches to different blocks");
  std::string where = describe(a);
  for (auto [ra, rb] : llvm::zip(a->getRegions(), b->getRegions()))
    if (!matchRegion(ra, rb, where))
      return false;
  for (auto [ra, rb] : llvm::zip(a->getResults(), b->getResults()))
    map(ra, rb);
  return true;
}

/// The non-constant ops of `block`, in order.
static SmallVector<Operation *> nonConstantOps(Block &block) {
  SmallVector<Operation *> ops;
  for (Operation &op : block)
    if (!isConstantOp(&op))
      ops.push_back(&op);
  return ops;
}

bool Matcher::matchOps(ArrayRef<Operation *> a, ArrayRef<Operation *> b,
                       StringRef where) {
  // Op by op first: the first difference makes the better message.
  for (auto [oa, ob] : llvm::zip(a, b))
    if (!matchOp(oa, ob))
      return false;
  if (a.size() != b.size())
    return fail(where + " has " + Twine(a.size()) + " ops in one layer and " +
                Twine(b.size()) + " in the other (constants not counted)");
  return true;
}

bool Matcher::matchRegion(Region &a, Region &b, StringRef where) {
  if (a.getBlocks().size() != b.getBlocks().size())
    return fail(where + " has regions with different numbers of blocks");
  for (auto [ba, bb] : llvm::zip(a, b)) {
    if (ba.getNumArguments() != bb.getNumArguments())
      return fail(where + " has blocks with different numbers of arguments");
    for (auto [xa, xb] : llvm::zip(ba.getArguments(), bb.getArguments())) {
      if (xa.getType() != xb.getType()) {
        std::string s;
        llvm::raw_string_ostream os(s);
        os << where << " has a block argument of type " << xa.getType()
           << " in one layer and " << xb.getType() << " in the other";
        return fail(s);
      }
      map(xa, xb);
    }
    blocks[&ba] = &bb;
  }
  for (auto [ba, bb] : llvm::zip(a, b))
    if (!matchOps(nonConstantOps(ba), nonConstantOps(bb), where))
      return false;
  return true;
}

bool mlir::tac::areLayersEquivalent(Region &a, Region &b,
                                    LayerCorrespondence &out) {
  out = LayerCorrespondence();
  Matcher matcher(out);
  return matcher.matchRegion(a, b, "the layer body");
}

bool mlir::tac::areOpRangesEquivalent(ArrayRef<Operation *> aOps,
                                      ArrayRef<Operation *> bOps,
                                      ValueRange aInputs, ValueRange bInputs,
                                      ValueRange aOutputs, ValueRange bOutputs,
                                      LayerCorrespondence &out) {
  out = LayerCorrespondence();
  if (aInputs.size() != bInputs.size() || aOutputs.size() != bOutputs.size()) {
    out.reason = "the layers have different numbers of inputs or outputs";
    return false;
  }
  Matcher matcher(out);
  for (auto [a, b] : llvm::zip(aInputs, bInputs)) {
    if (a.getType() != b.getType()) {
      out.reason = "the layers' inputs have different types";
      return false;
    }
    matcher.map(a, b);
  }
  auto nonConstant = [](Operation *op) { return !isConstantOp(op); };
  SmallVector<Operation *> a =
      llvm::to_vector(llvm::make_filter_range(aOps, nonConstant));
  SmallVector<Operation *> b =
      llvm::to_vector(llvm::make_filter_range(bOps, nonConstant));
  if (!matcher.matchOps(a, b, "the layer"))
    return false;
  for (auto [i, pair] : llvm::enumerate(llvm::zip(aOutputs, bOutputs))) {
    auto [oa, ob] = pair;
    if (out.values.lookup(oa) != ob) {
      out.reason = "output #" + std::to_string(i) +
                   " is computed at different places of the two layers";
      return false;
    }
  }
  return true;
}

//===----------------------------------------------------------------------===//
// findRepeatedLayers
//===----------------------------------------------------------------------===//

/// A structural fingerprint of an op and its nested ops: names, types,
/// attributes; not operands' identities.
static llvm::hash_code fingerprint(Operation *op) {
  llvm::hash_code hash = OperationEquivalence::computeHash(
      op, OperationEquivalence::ignoreHashValue,
      OperationEquivalence::ignoreHashValue,
      OperationEquivalence::IgnoreLocations);
  for (Region &region : op->getRegions())
    for (Block &block : region) {
      hash = llvm::hash_combine(hash, block.getNumArguments());
      for (Operation &nested : block)
        if (!isConstantOp(&nested))
          hash = llvm::hash_combine(hash, fingerprint(&nested));
    }
  return hash;
}

namespace {
/// A run of equal-fingerprint groups: `count` groups of `period` segments
/// starting at segment `start`.
struct Candidate {
  unsigned period, start, count;
  size_t coverage; // non-constant ops covered
};
} // namespace

/// Tries to find the run with `excluded` values treated as captures.
static std::optional<RepeatedLayers>
findWithExclusions(Block &body, ArrayRef<Operation *> ops,
                   const DenseMap<Operation *, unsigned> &position,
                   const DenseSet<Value> &excluded, unsigned minLayers,
                   Value &widestUse) {
  unsigned n = ops.size();
  // Live ranges: a value defined by op d and last used by top-level op u is
  // live at positions d+1..u (position p is just before ops[p]).
  SmallVector<SmallVector<Value>> starts(n + 1), ends(n + 2);
  widestUse = {};
  size_t widest = 0;
  auto addValue = [&](Value value, int def) {
    if (excluded.contains(value))
      return;
    int first = std::numeric_limits<int>::max(), last = def;
    for (Operation *user : value.getUsers()) {
      Operation *top = body.findAncestorOpInBlock(*user);
      if (!top)
        continue;
      int at = static_cast<int>(position.lookup(top));
      first = std::min(first, at);
      last = std::max(last, at);
    }
    if (last == def)
      return;
    starts[def + 1].push_back(value);
    ends[last + 1].push_back(value);
    // The state is used near where it is defined and again at the end of
    // its segment; a value all layers read is used all over the run.
    if (static_cast<size_t>(last - first) > widest) {
      widest = last - first;
      widestUse = value;
    }
  };
  // Block arguments are live from the start: the state may enter as one.
  for (BlockArgument arg : body.getArguments())
    addValue(arg, -1);
  for (unsigned d = 0; d < n; ++d) {
    if (isConstantOp(ops[d]))
      continue;
    for (Value result : ops[d]->getResults())
      addValue(result, d);
  }
  // Cut points: positions where exactly one value is live.
  SmallVector<unsigned> cuts;
  SmallVector<Value> cutValue;
  DenseSet<Value> live;
  for (unsigned p = 0; p <= n; ++p) {
    for (Value v : ends[p])
      live.erase(v);
    for (Value v : starts[p])
      live.insert(v);
    if (live.size() != 1)
      continue;
    // Only constants since the previous cut: the same cut, keep the first.
    if (!cuts.empty() &&
        llvm::all_of(llvm::seq(cuts.back(), p),
                     [&](unsigned q) { return isConstantOp(ops[q]); }))
      continue;
    cuts.push_back(p);
    cutValue.push_back(*live.begin());
  }
  if (cuts.size() < 3)
    return std::nullopt;

  // Segments between consecutive cut points.
  unsigned numSegments = cuts.size() - 1;
  SmallVector<SmallVector<Operation *>> segOps(numSegments);
  SmallVector<llvm::hash_code> segHash(numSegments);
  for (unsigned s = 0; s < numSegments; ++s) {
    llvm::hash_code hash = llvm::hash_value(0);
    for (unsigned p = cuts[s]; p < cuts[s + 1]; ++p) {
      if (isConstantOp(ops[p]))
        continue;
      segOps[s].push_back(ops[p]);
      hash = llvm::hash_combine(hash, fingerprint(ops[p]));
    }
    segHash[s] = llvm::hash_combine(hash, segOps[s].size());
  }

  // Candidate runs by fingerprint.
  SmallVector<Candidate> candidates;
  unsigned maxPeriod = std::min(8u, numSegments / 2);
  for (unsigned period = 1; period <= maxPeriod; ++period) {
    for (unsigned start = 0; start + 2 * period <= numSegments; ++start) {
      bool empty = true;
      for (unsigned t = 0; t < period; ++t)
        empty &= segOps[start + t].empty();
      if (empty)
        continue;
      unsigned count = 1;
      while (start + (count + 1) * period <= numSegments) {
        bool same = true;
        for (unsigned t = 0; t < period && same; ++t)
          same = segHash[start + count * period + t] == segHash[start + t];
        if (!same)
          break;
        ++count;
      }
      if (count < minLayers)
        continue;
      size_t coverage = 0;
      for (unsigned s = start; s < start + count * period; ++s)
        coverage += segOps[s].size();
      candidates.push_back({period, start, count, coverage});
    }
  }
  llvm::stable_sort(candidates, [](const Candidate &x, const Candidate &y) {
    if (x.coverage != y.coverage)
      return x.coverage > y.coverage;
    if (x.count != y.count)
      return x.count > y.count;
    // A post-norm prologue ends like a layer ends (a LayerNorm): of two
    // rotations of the same run, the later start is the natural one.
    return x.start > y.start;
  });

  // Builds layer `k` of a candidate.
  auto layerOf = [&](const Candidate &c, unsigned k) {
    LayerRange layer;
    unsigned first = c.start + k * c.period;
    for (unsigned s = first; s < first + c.period; ++s)
      llvm::append_range(layer.ops, segOps[s]);
    layer.input = cutValue[first];
    layer.output = cutValue[first + c.period];
    return layer;
  };
  // A layer is well formed when its output is its own and nothing else it
  // defines is used after it.
  auto wellFormed = [&](const LayerRange &layer) {
    if (layer.ops.empty() || !layer.output.getDefiningOp() ||
        !llvm::is_contained(layer.ops, layer.output.getDefiningOp()))
      return false;
    unsigned first = position.lookup(layer.ops.front());
    unsigned last = position.lookup(layer.ops.back());
    for (Operation *op : layer.ops)
      for (Value result : op->getResults()) {
        if (result == layer.output)
          continue;
        for (Operation *user : result.getUsers()) {
          Operation *top = body.findAncestorOpInBlock(*user);
          if (!top)
            return false;
          unsigned at = position.lookup(top);
          if (at < first || at > last)
            return false;
        }
      }
    return true;
  };

  std::optional<RepeatedLayers> best;
  size_t bestCoverage = 0;
  for (const Candidate &c : candidates) {
    if (best && c.coverage <= bestCoverage)
      break;
    RepeatedLayers run;
    run.period = c.period;
    LayerRange first = layerOf(c, 0);
    if (!wellFormed(first))
      continue;
    run.layers.push_back(first);
    run.matches.emplace_back();
    for (unsigned k = 1; k < c.count; ++k) {
      LayerRange layer = layerOf(c, k);
      LayerCorrespondence match;
      if (!wellFormed(layer) ||
          !areOpRangesEquivalent(first.ops, layer.ops, first.input, layer.input,
                                 first.output, layer.output, match))
        break;
      run.layers.push_back(std::move(layer));
      run.matches.push_back(std::move(match));
    }
    if (run.layers.size() < minLayers)
      continue;
    size_t coverage = 0;
    for (const LayerRange &layer : run.layers)
      coverage += layer.ops.size();
    if (!best || coverage > bestCoverage) {
      bestCoverage = coverage;
      best = std::move(run);
    }
  }
  return best;
}

std::optional<RepeatedLayers>
mlir::tac::findRepeatedLayers(Block &body, unsigned minLayers) {
  minLayers = std::max(minLayers, 2u);
  SmallVector<Operation *> ops;
  DenseMap<Operation *, unsigned> position;
  for (Operation &op : body) {
    position[&op] = ops.size();
    ops.push_back(&op);
  }
  DenseSet<Value> excluded;
  for (unsigned attempt = 0; attempt < 6; ++attempt) {
    Value widestUse;
    if (std::optional<RepeatedLayers> run = findWithExclusions(
            body, ops, position, excluded, minLayers, widestUse))
      return run;
    if (!widestUse)
      break;
    excluded.insert(widestUse);
  }
  return std::nullopt;
}
