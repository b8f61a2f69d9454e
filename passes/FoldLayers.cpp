//===- FoldLayers.cpp - identical layers to one body over stacked weights -===//
//
// For each tac.adaptive_block whose layers are all equivalent to layer 0 up
// to their weights (LayerMatching.h), builds a tac.layer_stack over
// [0, N) with the same selector and path set. Its body is layer 0's body;
// each weight slot (a constant that differs between layers) becomes a body
// argument, fed by a new constant stacking the N layers' values along a new
// leading dimension, byte for byte. Captures that are the same value in
// every layer, or equal constants, stay captured.
//
//===----------------------------------------------------------------------===//

#include "dialects/Tac/TacDialect.h"
#include "passes/LayerMatching.h"
#include "passes/Passes.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/SetVector.h"

#include "llvm/Support/Debug.h"

#include <cstring>

#define DEBUG_TYPE "tac-fold-layers"

namespace mlir::tac {
#define GEN_PASS_DEF_TACFOLDLAYERS
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;
using namespace mlir::tac;

/// The attribute of a constant-defined value, or null.
static Attribute constantAttr(Value value) {
  Attribute attr;
  if (value.getDefiningOp() && matchPattern(value, m_Constant(&attr)))
    return attr;
  return {};
}

/// The loaded bytes of a resource-backed constant, or std::nullopt.
static std::optional<ArrayRef<char>> resourceBytes(Attribute attr) {
  auto resource = dyn_cast<DenseResourceElementsAttr>(attr);
  if (!resource)
    return std::nullopt;
  AsmResourceBlob *blob = resource.getRawHandle().getBlob();
  if (!blob)
    return std::nullopt;
  return blob->getData();
}

/// Whether two constants hold the same value (same attribute, or resources
/// of the same type with the same bytes).
static bool sameConstant(Attribute a, Attribute b) {
  if (a == b)
    return true;
  auto ta = dyn_cast<TypedAttr>(a), tb = dyn_cast<TypedAttr>(b);
  if (!ta || !tb || ta.getType() != tb.getType())
    return false;
  std::optional<ArrayRef<char>> da = resourceBytes(a), db = resourceBytes(b);
  return da && db && *da == *db;
}

/// Appends the row-major bytes of a dense int/float constant to `out`
/// (splats expanded). Not for i1, which is stored bit-packed.
static void appendDenseBytes(DenseElementsAttr attr, std::vector<char> &out) {
  ArrayRef<char> raw = attr.getRawData();
  if (!attr.isSplat()) {
    out.insert(out.end(), raw.begin(), raw.end());
    return;
  }
  for (int64_t i = 0, e = attr.getNumElements(); i < e; ++i)
    out.insert(out.end(), raw.begin(), raw.end());
}

/// Stacks the per-layer constants `attrs` (all of type `sliceType`) along a
/// new leading dimension into a constant of type `stackedType`, keeping the
/// bytes. Scalars (integer, float, index attributes) stack into a tensor of
/// rank 1. Returns failure with `reason` set when a kind is not supported.
static FailureOr<TypedAttr> stackConstants(ArrayRef<Attribute> attrs,
                                           RankedTensorType stackedType,
                                           std::string &reason) {
  Type elementType = stackedType.getElementType();

  // Scalars: one element per layer.
  if (llvm::all_of(attrs,
                   [](Attribute a) { return isa<IntegerAttr, FloatAttr>(a); }))
    return cast<TypedAttr>(DenseElementsAttr::get(stackedType, attrs));

  // All inline dense int/float constants: a new inline constant.
  if (llvm::all_of(attrs, [](Attribute a) {
        return isa<DenseIntOrFPElementsAttr>(a);
      })) {
    if (elementType.isInteger(1)) {
      // i1 is bit-packed: go through the values, not the bytes.
      SmallVector<bool> bits;
      bits.reserve(stackedType.getNumElements());
      for (Attribute a : attrs)
        llvm::append_range(bits, cast<DenseElementsAttr>(a).getValues<bool>());
      return cast<TypedAttr>(DenseElementsAttr::get(stackedType, bits));
    }
    std::vector<char> bytes;
    for (Attribute a : attrs)
      appendDenseBytes(cast<DenseElementsAttr>(a), bytes);
    return cast<TypedAttr>(
        DenseElementsAttr::getFromRawBuffer(stackedType, bytes));
  }

  // Resources (possibly mixed with inline constants): a new resource blob.
  std::string name;
  size_t alignment = 1;
  SmallVector<ArrayRef<char>> parts;
  std::vector<std::vector<char>> inlineParts;
  inlineParts.reserve(attrs.size());
  for (Attribute a : attrs) {
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(a)) {
      AsmResourceBlob *blob = resource.getRawHandle().getBlob();
      if (!blob) {
        reason = "the weight blob '" + resource.getRawHandle().getKey().str() +
                 "' has no data (elided or not loaded)";
        return failure();
      }
      if (name.empty())
        name = resource.getRawHandle().getKey().str();
      alignment = std::max(alignment, blob->getDataAlignment());
      parts.push_back(blob->getData());
      continue;
    }
    auto dense = dyn_cast<DenseIntOrFPElementsAttr>(a);
    if (!dense || elementType.isInteger(1)) {
      reason = "a weight is a constant of a kind that cannot be stacked "
               "(only dense int/float and dense_resource constants, and "
               "i1 only when all layers use the same kind)";
      return failure();
    }
    inlineParts.emplace_back();
    appendDenseBytes(dense, inlineParts.back());
    parts.push_back(inlineParts.back());
  }
  size_t total = 0;
  for (ArrayRef<char> part : parts) {
    if (part.size() != parts.front().size()) {
      reason = "the layers' weight blobs of one slot have different sizes (" +
               std::to_string(parts.front().size()) + " and " +
               std::to_string(part.size()) + " bytes)";
      return failure();
    }
    total += part.size();
  }
  AsmResourceBlob blob = HeapAsmResourceBlob::allocate(total, alignment);
  char *data = blob.getMutableData().data();
  for (ArrayRef<char> part : parts) {
    if (!part.empty())
      std::memcpy(data, part.data(), part.size());
    data += part.size();
  }
  return cast<TypedAttr>(DenseResourceElementsAttr::get(
      stackedType, name + "_stacked", std::move(blob)));
}

namespace {

/// One weight slot of a block being folded.
struct Slot {
  /// Layer 0's value (the one the body reads).
  Value layer0Value;
  /// Each layer's value.
  SmallVector<Value> values;
  /// The stacked constant.
  TypedAttr stacked;
  /// Whether layer 0's value is a scalar (read through tensor.extract).
  bool scalar = false;
};

struct TacFoldLayers : mlir::tac::impl::TacFoldLayersBase<TacFoldLayers> {
  using Base::Base;

  /// Folds `op` if its layers are all equivalent; leaves it otherwise (with a
  /// remark saying why when it was a candidate).
  void foldBlock(AdaptiveBlockOp op);

  void runOnOperation() override {
    SmallVector<AdaptiveBlockOp> blocks;
    // Post-order: inner blocks fold first, so an outer block compares
    // folded stacks.
    getOperation()->walk([&](AdaptiveBlockOp op) { blocks.push_back(op); });
    for (AdaptiveBlockOp op : blocks)
      foldBlock(op);
  }
};

} // namespace

void TacFoldLayers::foldBlock(AdaptiveBlockOp op) {
  int64_t numLayers = op.getNumLayers();
  if (numLayers < 2 || numLayers < minLayers)
    return;
  auto notFolded = [&](const Twine &why) {
    ++numNotFolded;
    op.emitRemark() << "--tac-fold-layers: block of " << numLayers
                    << " layers not folded: " << why;
  };

  // Every layer against layer 0.
  Region &layer0 = op.getLayers()[0];
  SmallVector<LayerCorrespondence> matches(numLayers);
  for (int64_t i = 1; i < numLayers; ++i)
    if (!areLayersEquivalent(layer0, op.getLayers()[i], matches[i]))
      return notFolded("layer " + Twine(i) +
                       " differs from layer 0: " + matches[i].reason);

  // Captures are keyed by layer 0's values in its walk order, so every
  // correspondence lists the same keys in the same order.
  ArrayRef<Capture> keys = matches[1].captures;
  for (int64_t i = 2; i < numLayers; ++i) {
    ArrayRef<Capture> other = matches[i].captures;
    if (other.size() != keys.size() ||
        !llvm::all_of(llvm::zip(keys, other), [](auto pair) {
          return std::get<0>(pair).a == std::get<1>(pair).a;
        }))
      return notFolded("internal: layers' captures do not line up");
  }

  // Weight slots: captures whose values differ between layers.
  SmallVector<Slot> slots;
  for (auto [k, key] : llvm::enumerate(keys)) {
    Slot slot;
    slot.layer0Value = key.a;
    slot.values.push_back(key.a);
    for (int64_t i = 1; i < numLayers; ++i)
      slot.values.push_back(matches[i].captures[k].b);
    if (llvm::all_equal(slot.values))
      continue; // a shared capture
    SmallVector<Attribute> attrs;
    for (Value value : slot.values)
      attrs.push_back(constantAttr(value));
    if (llvm::is_contained(attrs, Attribute()))
      return notFolded("internal: a differing capture is not a constant");
    if (llvm::all_of(
            attrs, [&](Attribute a) { return sameConstant(attrs.front(), a); }))
      continue; // equal constants: layer 0's serves all
    Type type = key.a.getType();
    RankedTensorType stackedType;
    if (auto tensor = dyn_cast<RankedTensorType>(type)) {
      SmallVector<int64_t> shape{numLayers};
      llvm::append_range(shape, tensor.getShape());
      stackedType = RankedTensorType::get(shape, tensor.getElementType(),
                                          tensor.getEncoding());
    } else if (isa<IntegerType, FloatType, IndexType>(type)) {
      stackedType = RankedTensorType::get({numLayers}, type);
      slot.scalar = true;
    } else {
      std::string s;
      llvm::raw_string_ostream os(s);
      os << "weight slot " << slots.size() << " has type " << type
         << ", which cannot be stacked";
      return notFolded(s);
    }
    std::string reason;
    FailureOr<TypedAttr> stacked = stackConstants(attrs, stackedType, reason);
    if (failed(stacked))
      return notFolded("weight slot " + Twine(slots.size()) + ": " + reason);
    slot.stacked = *stacked;
    slots.push_back(std::move(slot));
  }

  // Build the stack. Nothing above changed the IR.
  IRRewriter rewriter(op);
  Location loc = op.getLoc();
  SmallVector<Value> weights;
  for (Slot &slot : slots)
    weights.push_back(arith::ConstantOp::create(
        rewriter, slot.layer0Value.getLoc(), slot.stacked));
  auto stack = LayerStackOp::create(rewriter, loc, /*begin=*/0,
                                    /*end=*/numLayers, op.getInputs(), weights,
                                    op.getSelector(), op.getPaths());
  stack->setDiscardableAttrs(op->getDiscardableAttrDictionary());
  Block &body = stack.getBody().front();
  unsigned numInputs = op.getInputs().size();

  // Slot reads inside layer 0 become reads of the slice arguments.
  rewriter.setInsertionPointToStart(&body);
  for (auto [j, slot] : llvm::enumerate(slots)) {
    Value slice = body.getArgument(numInputs + j);
    if (slot.scalar)
      slice = tensor::ExtractOp::create(rewriter, slot.layer0Value.getLoc(),
                                        slice, ValueRange());
    rewriter.replaceUsesWithIf(slot.layer0Value, slice, [&](OpOperand &use) {
      return layer0.isAncestor(use.getOwner()->getParentRegion());
    });
  }
  rewriter.mergeBlocks(&layer0.front(), &body,
                       body.getArguments().take_front(numInputs));

  // Constants the other layers read (weights, duplicated constants) may now
  // be dead; those inside the other layers go with the block.
  llvm::SetVector<Operation *> maybeDead;
  for (int64_t i = 1; i < numLayers; ++i)
    for (const Capture &capture : matches[i].captures)
      if (Operation *def = capture.b.getDefiningOp();
          def && def->hasTrait<OpTrait::ConstantLike>() &&
          !op->isProperAncestor(def))
        maybeDead.insert(def);
  for (Slot &slot : slots)
    if (Operation *def = slot.layer0Value.getDefiningOp())
      maybeDead.insert(def);
  rewriter.replaceOp(op, stack.getResults());
  for (Operation *def : maybeDead)
    if (def->use_empty())
      rewriter.eraseOp(def);
  ++numStacks;
  numFoldedLayers += numLayers;
  LLVM_DEBUG(llvm::dbgs() << "folded " << numLayers << " layers into a stack "
                          << "over " << slots.size() << " stacked weights\n");
}
