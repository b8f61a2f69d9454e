//===- LayerMatching.h - structural equivalence of layers -------*- C++ -*-===//
//
// Utilities shared by tac-fold-layers and tac-form-adaptive-blocks: decide
// whether two layer bodies are the same computation up to their weights, and
// find runs of identical consecutive layers in straight-line code.
//
// ## Equivalence up to weights
//
// Two layers (two regions, or two ranges of ops in one block) are equivalent
// when, walking both in order:
//
//  - they hold the same non-constant ops in the same order, with the same op
//    names, attributes (inherent/properties and discardable; locations and
//    so names are ignored), operand and result types, and the same region
//    structure recursively (the bodies of linalg.generic / linalg.reduce,
//    block argument types, successors);
//  - operands correspond: a value defined inside the layer (an op result, a
//    block argument; the entry arguments / entering state by position) maps
//    1:1 to the value at the same place in the other layer;
//  - a value read from outside is either the same SSA value in both layers
//    (a shared capture: a mask, the attention bias, a function argument), or
//    both sides are constants (ConstantLike ops, e.g. `arith.constant`) of
//    the same type: a per-layer weight. Constant ops are not compared by
//    position: a constant defined inside the layer is treated like one
//    captured from outside, so constants may be hoisted or not, duplicated
//    or not.
//
// Every value of layer `a` that is read from outside or is a constant gets
// one entry, a "capture", in first-appearance order. A capture must be used
// consistently: each use of the same value of `a` meets the same value of
// `b`, or a constant with the same attribute. Anything else is not
// equivalent, and the matcher says why in one line.
//
// ## Repeated layers in straight-line code (findRepeatedLayers)
//
//  1. Liveness over the block's top-level ops (uses in nested regions count
//     at their top-level ancestor). Values defined by constants
//     (ConstantLike ops) are not counted: they are captures. Block
//     arguments are, so the state may enter as a function argument. A cut
//     point is a position between two ops where exactly one value is live:
//     the residual stream. The non-constant ops between consecutive cut
//     points form a segment (cut points with only constants between them
//     count as one).
//  2. Segments are grouped with a period p (a pre-norm transformer layer is
//     two residual segments, attention and MLP; p = 1..8). For each p and
//     start segment, consecutive groups whose cheap fingerprints (op names,
//     types, attributes, nested ops) equal the first group's form a
//     candidate run; the run covering the most ops wins (ties: more layers,
//     then the later start: a post-norm prologue ends with a LayerNorm like
//     each layer does, and the later of two rotations is the natural one). Each
//     group of the run is then checked against the first with the full matcher,
//     and must not leak values other than its outgoing state to later code; the
//     run is cut at the first group that fails.
//  3. A non-constant value that every layer reads but no layer defines
//     (BERT's attention bias computed from the mask, a mask argument) is
//     live across every position and hides the cut points. When no run of
//     at least minLayers layers is found, the value whose uses are spread
//     widest (last use - first use; a state's uses are one segment apart)
//     is treated as a capture too and the search repeats (at most 5 extra
//     rounds).
//
// The result lists, per layer, its non-constant ops in order, the state
// entering it and the state leaving it. Constant ops that sit between the
// first and last layer op are in no layer: they have no operands, so a
// caller that moves layers into regions can hoist them first.
//
//===----------------------------------------------------------------------===//

#ifndef TAC_PASSES_LAYERMATCHING_H
#define TAC_PASSES_LAYERMATCHING_H

#include "mlir/IR/Block.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/Region.h"
#include "mlir/IR/Value.h"
#include "mlir/IR/ValueRange.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>
#include <string>

namespace mlir::tac {

/// How a value one layer reads without defining it corresponds to the value
/// at the same place in the other layer.
enum class CaptureKind {
  /// The same SSA value in both layers (a shared capture).
  Shared,
  /// Two constants with the same attribute (a duplicated constant).
  EqualConstant,
  /// Two constants of the same type with different attributes: a per-layer
  /// weight, a slot of the folded layer.
  Weight,
};

/// A value layer `a` reads from outside (or a constant), paired with the
/// value layer `b` reads at its first use.
struct Capture {
  Value a;
  Value b;
  CaptureKind kind;
};

/// What the matcher learns from two equivalent layers.
struct LayerCorrespondence {
  /// Values of `a` read from outside the layer or defined by constants, in
  /// order of first appearance in `a` (a walk in program order, nested
  /// regions included); one entry per distinct value of `a`.
  SmallVector<Capture> captures;
  /// Index in `captures` of each value of `a`.
  DenseMap<Value, unsigned> captureIndex;
  /// Values defined inside `a` (results, block arguments, the entering
  /// state) mapped to the corresponding values of `b`.
  DenseMap<Value, Value> values;
  /// Why the layers are not equivalent, when they are not.
  std::string reason;

  /// The captures of kind Weight (the weight slots), in first-appearance
  /// order.
  SmallVector<Capture> getWeightSlots() const;
};

/// Whether the single-block regions `a` and `b` (layer bodies: a layer of
/// `tac.adaptive_block`, the body of `tac.gate`) are equivalent up to
/// weights. Entry block arguments correspond by position. Fills `out`
/// (`out.reason` says why not on failure).
bool areLayersEquivalent(Region &a, Region &b, LayerCorrespondence &out);

/// Same for two ranges of ops of straight-line code: `aOps` and `bOps` are
/// the ops in order (constant ops among them are ignored), `aInputs[i]` and
/// `bInputs[i]` the values entering each layer (the state), and
/// `aOutputs[i]`/`bOutputs[i]` the values each must produce in
/// correspondence (the leaving state).
bool areOpRangesEquivalent(ArrayRef<Operation *> aOps,
                           ArrayRef<Operation *> bOps, ValueRange aInputs,
                           ValueRange bInputs, ValueRange aOutputs,
                           ValueRange bOutputs, LayerCorrespondence &out);

/// One layer of straight-line code found by findRepeatedLayers.
struct LayerRange {
  /// The layer's non-constant top-level ops, in program order.
  SmallVector<Operation *> ops;
  /// The state entering the layer (defined before it).
  Value input;
  /// The state leaving the layer (a result of one of `ops`).
  Value output;
};

/// The longest run of consecutive, structurally identical layers.
struct RepeatedLayers {
  /// Number of residual segments per layer.
  unsigned period = 0;
  /// The layers, in order: layers[i].output == layers[i + 1].input.
  SmallVector<LayerRange> layers;
  /// The correspondence of each layer i >= 1 with layer 0 (entry 0 empty).
  SmallVector<LayerCorrespondence> matches;
};

/// Finds, in the straight-line `body` (a function body without tac ops),
/// the longest run of at least `minLayers` (>= 2) consecutive layers that
/// are equivalent to the first of the run and each take a single state
/// value and yield the next. Returns std::nullopt when there is none.
std::optional<RepeatedLayers> findRepeatedLayers(Block &body,
                                                 unsigned minLayers = 2);

} // namespace mlir::tac

#endif // TAC_PASSES_LAYERMATCHING_H
