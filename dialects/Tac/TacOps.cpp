//===- TacOps.cpp - tac operations: builders, syntax, verifiers -----------===//
//
// Canonicalization patterns live apart, in TacCanonicalize.cpp.
//
//===----------------------------------------------------------------------===//

#include "dialects/Tac/TacDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/Sequence.h"
#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace mlir::tac;

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

/// Checks that an op whose results mirror its inputs (the "state" of a layer)
/// has one result per input, of the same type.
static LogicalResult verifyStateTypes(Operation *op, TypeRange inputs,
                                      TypeRange results) {
  if (inputs.size() != results.size())
    return op->emitOpError() << "has " << inputs.size() << " inputs but "
                             << results.size()
                             << " results; expected one result per input";
  for (auto [i, pair] : llvm::enumerate(llvm::zip(inputs, results))) {
    auto [input, result] = pair;
    if (input != result)
      return op->emitOpError()
             << "result #" << i << " has type " << result << ", but input #"
             << i << " has type " << input << "; expected matching types";
  }
  return success();
}

/// Checks that `block` takes exactly `expected` arguments. `what` names the
/// block in messages ("body", "layer 2").
static LogicalResult verifyBlockArguments(Operation *op, Block &block,
                                          TypeRange expected, StringRef what,
                                          StringRef expectedWhat) {
  if (block.getNumArguments() != expected.size())
    return op->emitOpError()
           << what << " has " << block.getNumArguments()
           << " arguments, but expected " << expected.size() << " ("
           << expectedWhat << ")";
  for (auto [i, pair] :
       llvm::enumerate(llvm::zip(block.getArgumentTypes(), expected))) {
    auto [actual, want] = pair;
    if (actual != want)
      return op->emitOpError() << what << " argument #" << i << " has type "
                               << actual << ", but expected " << want;
  }
  return success();
}

/// `(%arg = %operand : type, ...)`: binds a region argument to each operand.
/// The argument's type is the operand's type unless `argTypeOf` maps it.
static ParseResult
parseBindings(OpAsmParser &parser, SmallVectorImpl<OpAsmParser::Argument> &args,
              SmallVectorImpl<OpAsmParser::UnresolvedOperand> &operands,
              SmallVectorImpl<Type> &types) {
  return parser.parseCommaSeparatedList(
      OpAsmParser::Delimiter::Paren, [&]() -> ParseResult {
        OpAsmParser::Argument &arg = args.emplace_back();
        OpAsmParser::UnresolvedOperand &operand = operands.emplace_back();
        Type &type = types.emplace_back();
        if (parser.parseArgument(arg) || parser.parseEqual() ||
            parser.parseOperand(operand) || parser.parseColonType(type))
          return failure();
        arg.type = type;
        return success();
      });
}

static void printBindings(OpAsmPrinter &p, ValueRange args,
                          ValueRange operands) {
  p << '(';
  llvm::interleaveComma(llvm::zip(args, operands), p, [&](auto pair) {
    auto [arg, operand] = pair;
    p << arg << " = " << operand << " : " << operand.getType();
  });
  p << ')';
}

/// custom<BoundRegion>: `(%arg = %input : type, ...) attributes {...}
/// { body }`, the state bindings of a one-region op whose results have the
/// inputs' types.
static ParseResult
parseBoundRegion(OpAsmParser &parser,
                 SmallVectorImpl<OpAsmParser::UnresolvedOperand> &inputs,
                 SmallVectorImpl<Type> &inputTypes,
                 SmallVectorImpl<Type> &resultTypes, NamedAttrList &attrs,
                 Region &body) {
  SmallVector<OpAsmParser::Argument> args;
  if (parseBindings(parser, args, inputs, inputTypes) ||
      parser.parseOptionalAttrDictWithKeyword(attrs))
    return failure();
  resultTypes.assign(inputTypes.begin(), inputTypes.end());
  return parser.parseRegion(body, args);
}

static void printBoundRegion(OpAsmPrinter &p, Operation *op, ValueRange inputs,
                             TypeRange, TypeRange, DictionaryAttr attrs,
                             Region &body) {
  printBindings(p, body.getArguments(), inputs);
  p.printOptionalAttrDictWithKeyword(attrs.getValue());
  p << ' ';
  p.printRegion(body, /*printEntryBlockArgs=*/false);
}

/// custom<StateOperands>: `(%input : type, ...)`; the results have the
/// inputs' types.
static ParseResult
parseStateOperands(OpAsmParser &parser,
                   SmallVectorImpl<OpAsmParser::UnresolvedOperand> &inputs,
                   SmallVectorImpl<Type> &inputTypes,
                   SmallVectorImpl<Type> &resultTypes) {
  if (parser.parseCommaSeparatedList(
          OpAsmParser::Delimiter::Paren, [&]() -> ParseResult {
            return failure(parser.parseOperand(inputs.emplace_back()) ||
                           parser.parseColonType(inputTypes.emplace_back()));
          }))
    return failure();
  resultTypes.assign(inputTypes.begin(), inputTypes.end());
  return success();
}

static void printStateOperands(OpAsmPrinter &p, Operation *, ValueRange inputs,
                               TypeRange, TypeRange) {
  p << '(';
  llvm::interleaveComma(inputs, p, [&](Value input) {
    p << input << " : " << input.getType();
  });
  p << ')';
}

/// custom<Layers>: `layer (%a, ...) { ... }` per region, each argument
/// typed as the state (`stateTypes`).
static ParseResult
parseLayers(OpAsmParser &parser,
            SmallVectorImpl<std::unique_ptr<Region>> &layers,
            ArrayRef<Type> stateTypes) {
  while (succeeded(parser.parseOptionalKeyword("layer"))) {
    SmallVector<OpAsmParser::Argument> args;
    SMLoc argsLoc = parser.getCurrentLocation();
    if (parser.parseArgumentList(args, OpAsmParser::Delimiter::Paren))
      return failure();
    if (args.size() != stateTypes.size())
      return parser.emitError(argsLoc)
             << "layer " << layers.size() << " names " << args.size()
             << " arguments, but the block has " << stateTypes.size()
             << " inputs; expected one argument per input";
    for (auto [arg, type] : llvm::zip(args, stateTypes))
      arg.type = type;
    if (parser.parseRegion(*layers.emplace_back(std::make_unique<Region>()),
                           args))
      return failure();
  }
  return success();
}

static void printLayers(OpAsmPrinter &p, Operation *,
                        MutableArrayRef<Region> layers, TypeRange) {
  for (Region &layer : layers) {
    p.printNewline();
    p << "layer (";
    llvm::interleaveComma(layer.getArguments(), p,
                          [&](BlockArgument arg) { p << arg; });
    p << ") ";
    p.printRegion(layer, /*printEntryBlockArgs=*/false);
  }
}

/// Parses the selector clause `%sel : type paths #tac.paths<...>`.
static ParseResult parseSelectorAndPaths(OpAsmParser &parser,
                                         OperationState &result,
                                         StringAttr pathsName) {
  OpAsmParser::UnresolvedOperand selector;
  Type selectorType;
  PathSetAttr paths;
  if (parser.parseOperand(selector) || parser.parseColonType(selectorType) ||
      parser.resolveOperand(selector, selectorType, result.operands) ||
      parser.parseKeyword("paths") || parser.parseAttribute(paths))
    return failure();
  result.addAttribute(pathsName, paths);
  return success();
}

/// Checks every index of `paths` against the layer range [begin, end).
static LogicalResult verifyPathsInRange(Operation *op, PathSetAttr paths,
                                        int64_t begin, int64_t end,
                                        StringRef holder) {
  for (size_t i = 0; i < paths.getNumPaths(); ++i)
    for (int64_t layer : paths.getPath(i))
      if (layer < begin || layer >= end)
        return op->emitOpError()
               << "path " << i << " refers to layer " << layer << ", but "
               << holder << "; expected indices in [" << begin << ", " << end
               << ")";
  return success();
}

/// The successor that leaves `op`: control returns to its parent with the
/// op's results.
static RegionSuccessor exitSuccessor(Operation *op) {
  return RegionSuccessor(op, op->getResults());
}

/// The path a constant selector operand picks, if `selector` is constant.
static std::optional<size_t> getConstantPath(PathSetAttr paths,
                                             Attribute selector) {
  if (auto value = dyn_cast_if_present<IntegerAttr>(selector))
    return paths.resolveSelector(value.getValue());
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// GateOp
//===----------------------------------------------------------------------===//

void GateOp::build(OpBuilder &builder, OperationState &state, Value condition,
                   ValueRange inputs) {
  state.addOperands(condition);
  state.addOperands(inputs);
  state.addTypes(inputs.getTypes());
  Block *body = new Block();
  state.addRegion()->push_back(body);
  for (Value input : inputs)
    body->addArgument(input.getType(), input.getLoc());
}

LogicalResult GateOp::verify() {
  if (getInputs().empty())
    return emitOpError() << "has no inputs; expected at least one value to "
                            "pass through or transform";
  if (failed(verifyStateTypes(*this, getInputs().getTypes(),
                              getResultTypes())))
    return failure();
  // Block arguments are checked here, not in verifyRegions(): the region
  // branch interface's generic checks run first there.
  return verifyBlockArguments(*this, getBody().front(), getInputs().getTypes(),
                              "body", "one per input, typed as the inputs");
}

LogicalResult GateOp::fold(FoldAdaptor adaptor,
                           SmallVectorImpl<OpFoldResult> &results) {
  // A gate that is statically off passes its inputs through. The "on" case
  // needs to move the body and is a canonicalization pattern.
  auto condition = dyn_cast_if_present<IntegerAttr>(adaptor.getCondition());
  if (!condition || !condition.getValue().isZero())
    return failure();
  llvm::append_range(results, getInputs());
  return success();
}

// Control flow: the body runs at most once on the inputs; when it does not,
// the inputs themselves become the results.

OperandRange GateOp::getEntrySuccessorOperands(RegionSuccessor) {
  return getInputs();
}

void GateOp::getSuccessorRegions(RegionBranchPoint point,
                                 SmallVectorImpl<RegionSuccessor> &regions) {
  if (point.isParent())
    regions.emplace_back(&getBody(), getBody().getArguments());
  regions.push_back(exitSuccessor(*this));
}

void GateOp::getEntrySuccessorRegions(ArrayRef<Attribute> operands,
                                      SmallVectorImpl<RegionSuccessor> &regions) {
  auto condition = dyn_cast_if_present<IntegerAttr>(operands.front());
  if (!condition)
    return getSuccessorRegions(RegionBranchPoint::parent(), regions);
  if (condition.getValue().isOne())
    regions.emplace_back(&getBody(), getBody().getArguments());
  else
    regions.push_back(exitSuccessor(*this));
}

void GateOp::getRegionInvocationBounds(
    ArrayRef<Attribute> operands, SmallVectorImpl<InvocationBounds> &bounds) {
  auto condition = dyn_cast_if_present<IntegerAttr>(operands.front());
  if (!condition) {
    bounds.emplace_back(0, 1);
    return;
  }
  unsigned runs = condition.getValue().isOne() ? 1 : 0;
  bounds.emplace_back(runs, runs);
}

//===----------------------------------------------------------------------===//
// AdaptiveBlockOp
//===----------------------------------------------------------------------===//

void AdaptiveBlockOp::build(OpBuilder &builder, OperationState &state,
                            Value selector, ValueRange inputs,
                            PathSetAttr paths, unsigned numLayers) {
  state.addOperands(selector);
  state.addOperands(inputs);
  state.addAttribute(getPathsAttrName(state.name), paths);
  state.addTypes(inputs.getTypes());
  for (unsigned i = 0; i < numLayers; ++i) {
    Block *layer = new Block();
    state.addRegion()->push_back(layer);
    for (Value input : inputs)
      layer->addArgument(input.getType(), input.getLoc());
  }
}

LogicalResult AdaptiveBlockOp::verify() {
  if (getInputs().empty())
    return emitOpError() << "has no inputs; expected at least one state value";
  if (failed(verifyStateTypes(*this, getInputs().getTypes(),
                              getResultTypes())))
    return failure();
  if (getLayers().empty())
    return emitOpError() << "has no layers; expected at least one layer region";
  if (failed(verifyPathsInRange(*this, getPaths(), 0, getNumLayers(),
                                "the block has " +
                                    std::to_string(getNumLayers()) +
                                    " layers")))
    return failure();
  for (auto [i, layer] : llvm::enumerate(getLayers()))
    if (failed(verifyBlockArguments(*this, layer.front(),
                                    getInputs().getTypes(),
                                    "layer " + std::to_string(i),
                                    "one per input, typed as the inputs")))
      return failure();
  return success();
}

// Control flow follows the path set: from the entry (or from layer `i`),
// control goes to the next layer of every path that starts there (or runs
// `i`), or leaves the block where such a path ends.

OperandRange AdaptiveBlockOp::getEntrySuccessorOperands(RegionSuccessor) {
  return getInputs();
}

/// Successors of layer `from` (std::nullopt: the entry) over the paths
/// `pathIndices`.
static void getLayerSuccessors(AdaptiveBlockOp op, std::optional<unsigned> from,
                               ArrayRef<size_t> pathIndices,
                               SmallVectorImpl<RegionSuccessor> &regions) {
  llvm::SmallSetVector<int64_t, 8> next;
  bool exits = false;
  for (size_t p : pathIndices) {
    ArrayRef<int64_t> path = op.getPaths().getPath(p);
    const int64_t *at = path.begin();
    if (from) {
      at = llvm::find(path, int64_t(*from));
      if (at == path.end())
        continue;
      ++at;
    }
    if (at == path.end())
      exits = true;
    else
      next.insert(*at);
  }
  for (int64_t layer : next) {
    Region &region = op.getLayers()[layer];
    regions.emplace_back(&region, region.getArguments());
  }
  if (exits)
    regions.push_back(exitSuccessor(op));
}

void AdaptiveBlockOp::getSuccessorRegions(
    RegionBranchPoint point, SmallVectorImpl<RegionSuccessor> &regions) {
  std::optional<unsigned> from;
  if (!point.isParent())
    from = point.getTerminatorPredecessorOrNull()
               ->getParentRegion()
               ->getRegionNumber();
  SmallVector<size_t> all =
      llvm::to_vector(llvm::seq<size_t>(0, getPaths().getNumPaths()));
  getLayerSuccessors(*this, from, all, regions);
}

void AdaptiveBlockOp::getEntrySuccessorRegions(
    ArrayRef<Attribute> operands, SmallVectorImpl<RegionSuccessor> &regions) {
  std::optional<size_t> chosen = getConstantPath(getPaths(), operands.front());
  if (!chosen)
    return getSuccessorRegions(RegionBranchPoint::parent(), regions);
  getLayerSuccessors(*this, std::nullopt, {*chosen}, regions);
}

void AdaptiveBlockOp::getRegionInvocationBounds(
    ArrayRef<Attribute> operands, SmallVectorImpl<InvocationBounds> &bounds) {
  // A path runs a layer at most once: a layer runs once if every possible
  // path holds it, at most once if some does, never otherwise.
  PathSetAttr paths = getPaths();
  SmallVector<size_t> possible;
  if (std::optional<size_t> chosen = getConstantPath(paths, operands.front()))
    possible.push_back(*chosen);
  else
    possible = llvm::to_vector(llvm::seq<size_t>(0, paths.getNumPaths()));
  for (unsigned layer = 0; layer < getNumLayers(); ++layer) {
    unsigned holding = llvm::count_if(possible, [&](size_t p) {
      return llvm::is_contained(paths.getPath(p), int64_t(layer));
    });
    bounds.emplace_back(holding == possible.size() ? 1 : 0, holding ? 1 : 0);
  }
}

//===----------------------------------------------------------------------===//
// LayerStackOp
//===----------------------------------------------------------------------===//

RankedTensorType LayerStackOp::getSliceType(RankedTensorType stacked) {
  return RankedTensorType::get(stacked.getShape().drop_front(),
                               stacked.getElementType(),
                               stacked.getEncoding());
}

/// The body's argument types: the state types, then one slice per weight
/// (a null type for a weight of rank 0, which verify() has rejected).
static SmallVector<Type> getStackBodyTypes(TypeRange inputTypes,
                                           TypeRange weightTypes) {
  SmallVector<Type> types(inputTypes.begin(), inputTypes.end());
  for (Type weight : weightTypes) {
    auto ranked = dyn_cast<RankedTensorType>(weight);
    types.push_back(ranked && ranked.getRank() > 0
                        ? Type(LayerStackOp::getSliceType(ranked))
                        : Type());
  }
  return types;
}

Value LayerStackOp::sliceWeight(OpBuilder &builder, Location loc,
                                Value weight, OpFoldResult first,
                                int64_t count, bool dropLayerDim) {
  auto type = cast<RankedTensorType>(weight.getType());
  SmallVector<OpFoldResult> offsets(type.getRank(), builder.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(builder, loc, weight);
  SmallVector<OpFoldResult> strides(type.getRank(), builder.getIndexAttr(1));
  offsets[0] = first;
  sizes[0] = builder.getIndexAttr(count);
  if (dropLayerDim)
    return tensor::ExtractSliceOp::create(builder, loc, getSliceType(type),
                                          weight, offsets, sizes, strides);
  return tensor::ExtractSliceOp::create(builder, loc, weight, offsets, sizes,
                                        strides);
}

void LayerStackOp::build(OpBuilder &builder, OperationState &state,
                         int64_t begin, int64_t end, ValueRange inputs,
                         ValueRange weights, Value selector,
                         PathSetAttr paths) {
  state.addOperands(inputs);
  state.addOperands(weights);
  if (selector)
    state.addOperands(selector);
  Properties &props = state.getOrAddProperties<Properties>();
  props.operandSegmentSizes = {static_cast<int32_t>(inputs.size()),
                               static_cast<int32_t>(weights.size()),
                               selector ? 1 : 0};
  props.begin = builder.getI64IntegerAttr(begin);
  props.end = builder.getI64IntegerAttr(end);
  props.paths = paths;
  state.addTypes(inputs.getTypes());
  Block *body = new Block();
  state.addRegion()->push_back(body);
  for (Value input : inputs)
    body->addArgument(input.getType(), input.getLoc());
  for (Value weight : weights) {
    auto stacked = cast<RankedTensorType>(weight.getType());
    body->addArgument(getSliceType(stacked), weight.getLoc());
  }
}

// layers [b, e) (%h = %x : T) weights (%w = %W : S) select %s : T paths #p
//   attributes {...} { body }
ParseResult LayerStackOp::parse(OpAsmParser &parser, OperationState &result) {
  Builder &builder = parser.getBuilder();
  int64_t begin = 0, end = 0;
  if (parser.parseKeyword("layers") || parser.parseLSquare() ||
      parser.parseInteger(begin) || parser.parseComma() ||
      parser.parseInteger(end) || parser.parseRParen())
    return failure();
  result.addAttribute(getBeginAttrName(result.name),
                      builder.getI64IntegerAttr(begin));
  result.addAttribute(getEndAttrName(result.name),
                      builder.getI64IntegerAttr(end));

  SmallVector<OpAsmParser::Argument> stateArgs, weightArgs;
  SmallVector<OpAsmParser::UnresolvedOperand> inputs, weights;
  SmallVector<Type> inputTypes, weightTypes;
  SMLoc inputsLoc = parser.getCurrentLocation();
  if (parseBindings(parser, stateArgs, inputs, inputTypes) ||
      parser.resolveOperands(inputs, inputTypes, inputsLoc, result.operands))
    return failure();

  if (succeeded(parser.parseOptionalKeyword("weights"))) {
    SMLoc weightsLoc = parser.getCurrentLocation();
    if (parseBindings(parser, weightArgs, weights, weightTypes) ||
        parser.resolveOperands(weights, weightTypes, weightsLoc,
                               result.operands))
      return failure();
    for (auto [i, arg] : llvm::enumerate(weightArgs)) {
      auto stacked = dyn_cast<RankedTensorType>(arg.type);
      if (!stacked || stacked.getRank() == 0)
        return parser.emitError(weightsLoc)
               << "stacked weight #" << i << " has type " << arg.type
               << "; expected a ranked tensor of rank >= 1";
      arg.type = getSliceType(stacked);
    }
  }

  bool hasSelector = succeeded(parser.parseOptionalKeyword("select"));
  if (hasSelector &&
      parseSelectorAndPaths(parser, result, getPathsAttrName(result.name)))
    return failure();
  result.getOrAddProperties<Properties>().operandSegmentSizes = {
      static_cast<int32_t>(inputs.size()), static_cast<int32_t>(weights.size()),
      hasSelector ? 1 : 0};

  if (parser.parseOptionalAttrDictWithKeyword(result.attributes))
    return failure();
  result.addTypes(inputTypes);

  SmallVector<OpAsmParser::Argument> bodyArgs(stateArgs);
  llvm::append_range(bodyArgs, weightArgs);
  return parser.parseRegion(*result.addRegion(), bodyArgs);
}

void LayerStackOp::print(OpAsmPrinter &p) {
  Block &body = getBody().front();
  unsigned numInputs = getInputs().size();
  p << " layers [" << getBegin() << ", " << getEnd() << ") ";
  printBindings(p, body.getArguments().take_front(numInputs), getInputs());
  if (!getWeights().empty()) {
    p << " weights ";
    printBindings(p, body.getArguments().drop_front(numInputs), getWeights());
  }
  if (getSelector()) {
    p << " select " << getSelector() << " : " << getSelector().getType()
      << " paths ";
    p.printAttribute(*getPaths());
  }
  p.printOptionalAttrDictWithKeyword(
      (*this)->getAttrs(), {getBeginAttrName(), getEndAttrName(),
                            getPathsAttrName(), getOperandSegmentSizesAttrName()});
  p << ' ';
  p.printRegion(getBody(), /*printEntryBlockArgs=*/false);
}

LogicalResult LayerStackOp::verify() {
  int64_t begin = getBegin(), end = getEnd();
  if (begin < 0 || begin > end)
    return emitOpError() << "has layer range [" << begin << ", " << end
                         << "); expected 0 <= begin <= end";
  if (getInputs().empty())
    return emitOpError() << "has no inputs; expected at least one state value";
  if (failed(verifyStateTypes(*this, getInputs().getTypes(),
                              getResultTypes())))
    return failure();

  int64_t numLayers = end - begin;
  for (auto [i, weight] : llvm::enumerate(getWeights())) {
    auto stacked = cast<RankedTensorType>(weight.getType());
    if (stacked.getRank() == 0)
      return emitOpError() << "stacked weight #" << i << " has type "
                           << stacked
                           << "; expected rank >= 1 with leading dimension "
                           << numLayers << " (the layer count)";
    if (stacked.isDynamicDim(0))
      return emitOpError() << "stacked weight #" << i
                           << " has a dynamic leading dimension; expected "
                           << numLayers << " (the layer count of [" << begin
                           << ", " << end << "))";
    if (stacked.getDimSize(0) != numLayers)
      return emitOpError() << "stacked weight #" << i
                           << " has leading dimension " << stacked.getDimSize(0)
                           << ", but the stack folds " << numLayers
                           << " layers [" << begin << ", " << end
                           << "); expected " << numLayers;
  }

  if (getSelector() && !getPaths())
    return emitOpError() << "has a selector but no path set; expected both "
                            "(select %s : T paths #tac.paths<...>) or neither";
  if (!getSelector() && getPaths())
    return emitOpError() << "has a path set but no selector; expected both "
                            "or neither";
  if (getPaths() &&
      failed(verifyPathsInRange(*this, *getPaths(), begin, end,
                                "the stack folds layers [" +
                                    std::to_string(begin) + ", " +
                                    std::to_string(end) + ")")))
    return failure();
  SmallVector<Type> expected =
      getStackBodyTypes(getInputs().getTypes(), getWeights().getTypes());
  return verifyBlockArguments(
      *this, getBody().front(), expected, "body",
      "the state, typed as the inputs, then one slice of each stacked weight "
      "without its leading dimension");
}

LogicalResult LayerStackOp::fold(FoldAdaptor,
                                 SmallVectorImpl<OpFoldResult> &results) {
  // A stack over no layers is the identity on its state.
  if (getBegin() != getEnd())
    return failure();
  llvm::append_range(results, getInputs());
  return success();
}

// Control flow: the body runs once per layer of the range (or of the
// selected path), the state flowing from one run to the next; the weight
// slices are not forwarded values (like a loop's induction variable).

OperandRange LayerStackOp::getEntrySuccessorOperands(RegionSuccessor) {
  return getInputs();
}

/// The layer counts the stack may run: the range's, or each possible path's.
static SmallVector<int64_t> getPossibleLayerCounts(LayerStackOp op,
                                                   Attribute selector) {
  if (!op.getPaths())
    return {op.getNumLayers()};
  PathSetAttr paths = *op.getPaths();
  if (std::optional<size_t> chosen = getConstantPath(paths, selector))
    return {int64_t(paths.getPath(*chosen).size())};
  return llvm::map_to_vector(llvm::seq<size_t>(0, paths.getNumPaths()),
                             [&](size_t p) {
                               return int64_t(paths.getPath(p).size());
                             });
}

/// Successors given the possible layer counts: from the entry, the body if
/// some count is positive and the exit if some is 0; from the body, the body
/// again if some count exceeds 1, and always the exit.
static void getStackSuccessors(LayerStackOp op, bool fromEntry,
                               ArrayRef<int64_t> counts,
                               SmallVectorImpl<RegionSuccessor> &regions) {
  int64_t least = fromEntry ? 1 : 2;
  if (llvm::any_of(counts, [&](int64_t n) { return n >= least; }))
    regions.emplace_back(&op.getBody(), op.getBody().getArguments().take_front(
                                            op.getInputs().size()));
  if (!fromEntry || llvm::is_contained(counts, 0))
    regions.push_back(exitSuccessor(op));
}

void LayerStackOp::getSuccessorRegions(
    RegionBranchPoint point, SmallVectorImpl<RegionSuccessor> &regions) {
  getStackSuccessors(*this, point.isParent(),
                     getPossibleLayerCounts(*this, Attribute()), regions);
}

void LayerStackOp::getEntrySuccessorRegions(
    ArrayRef<Attribute> operands, SmallVectorImpl<RegionSuccessor> &regions) {
  Attribute selector = getSelector() ? operands.back() : Attribute();
  getStackSuccessors(*this, /*fromEntry=*/true,
                     getPossibleLayerCounts(*this, selector), regions);
}

void LayerStackOp::getRegionInvocationBounds(
    ArrayRef<Attribute> operands, SmallVectorImpl<InvocationBounds> &bounds) {
  Attribute selector = getSelector() ? operands.back() : Attribute();
  SmallVector<int64_t> counts = getPossibleLayerCounts(*this, selector);
  bounds.emplace_back(*llvm::min_element(counts), *llvm::max_element(counts));
}

//===----------------------------------------------------------------------===//
// YieldOp
//===----------------------------------------------------------------------===//

LogicalResult YieldOp::verify() {
  Operation *parent = (*this)->getParentOp();
  TypeRange expected = parent->getResultTypes();
  if (getValues().size() != expected.size())
    return emitOpError() << "yields " << getValues().size()
                         << " values, but the parent '" << parent->getName()
                         << "' has " << expected.size()
                         << " results; expected one value per result";
  for (auto [i, pair] :
       llvm::enumerate(llvm::zip(getValues().getTypes(), expected))) {
    auto [actual, want] = pair;
    if (actual != want)
      return emitOpError() << "operand #" << i << " has type " << actual
                           << ", but the parent's result #" << i
                           << " has type " << want
                           << "; expected matching types";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

namespace {
/// Size of logical dimension `logical` (batch, head, row, column) of
/// `operand`, whose `*_dims` attribute is `dims`.
int64_t logicalSize(Value operand, ArrayRef<int64_t> dims, unsigned logical) {
  return cast<ShapedType>(operand.getType()).getDimSize(dims[logical]);
}
} // namespace

AttentionOp::Sizes AttentionOp::getSizes() {
  ArrayRef<int64_t> q = getQueryDims(), k = getKeyDims(), v = getValueDims();
  return {logicalSize(getQuery(), q, 0), logicalSize(getQuery(), q, 1),
          logicalSize(getQuery(), q, 2), logicalSize(getKey(), k, 2),
          logicalSize(getQuery(), q, 3), logicalSize(getValue(), v, 3)};
}

LogicalResult AttentionOp::verify() {
  struct Operand {
    StringRef name;
    Value value;
    std::optional<ArrayRef<int64_t>> dims;
  };
  SmallVector<Operand> operands = {{"query", getQuery(), getQueryDims()},
                                   {"key", getKey(), getKeyDims()},
                                   {"value", getValue(), getValueDims()},
                                   {"init", getInit(), getResultDims()}};
  if (getMask()) {
    if (!getMaskDims())
      return emitOpError("has a mask but no mask_dims; give the mask's "
                         "dimension for each of batch, head, row, column");
    operands.push_back({"mask", getMask(), *getMaskDims()});
  } else if (getMaskDims()) {
    return emitOpError("has mask_dims but no mask");
  }
  if (getKeep()) {
    if (!getKeepDims() || !getFill())
      return emitOpError("has a keep mask but no keep_dims or no fill; give "
                         "the mask's dimension for each of batch, head, row, "
                         "column and the value masked scores become");
    operands.push_back({"keep", getKeep(), *getKeepDims()});
  } else if (getKeepDims() || getFill()) {
    return emitOpError("has keep_dims or fill but no keep mask");
  }
  for (const Operand &operand : operands) {
    auto type = cast<ShapedType>(operand.value.getType());
    if (type.getRank() != 4)
      return emitOpError() << "expects a rank-4 " << operand.name
                           << ", got rank " << type.getRank();
    if (!type.hasStaticShape())
      return emitOpError() << "expects a static shape for " << operand.name;
    SmallVector<int64_t> sorted(*operand.dims);
    llvm::sort(sorted);
    if (sorted != SmallVector<int64_t>{0, 1, 2, 3})
      return emitOpError() << operand.name
                           << "'s dims must be a permutation of 0..3";
  }
  Sizes sizes = getSizes();
  // What each operand's logical dimensions must be (0 = the mask's may
  // also be 1).
  auto check = [&](const Operand &operand,
                   std::array<int64_t, 4> want) -> LogicalResult {
    for (unsigned l = 0; l < 4; ++l) {
      int64_t got = logicalSize(operand.value, *operand.dims, l);
      bool broadcast =
          (operand.name == "mask" || operand.name == "keep") && got == 1;
      if (got != want[l] && !broadcast)
        return emitOpError() << operand.name << "'s logical dimension " << l
                             << " (batch, head, row, column) has size " << got
                             << ", expected " << want[l];
    }
    return success();
  };
  if (failed(check(operands[1], {sizes.batch, sizes.heads, sizes.keys,
                                 sizes.features})) ||
      failed(check(operands[2], {sizes.batch, sizes.heads, sizes.keys,
                                 sizes.valueFeatures})) ||
      failed(check(operands[3], {sizes.batch, sizes.heads, sizes.rows,
                                 sizes.valueFeatures})) ||
      llvm::any_of(ArrayRef<Operand>(operands).drop_front(4),
                   [&](const Operand &operand) {
                     return failed(check(operand, {sizes.batch, sizes.heads,
                                                   sizes.rows, sizes.keys}));
                   }))
    return failure();
  bool tensors = isa<RankedTensorType>(getInit().getType());
  for (const Operand &operand : operands)
    if (isa<RankedTensorType>(operand.value.getType()) != tensors)
      return emitOpError("expects all operands to be tensors or all memrefs");
  if (tensors ? getResult().size() != 1 || getResult()[0].getType() !=
                                               getInit().getType()
              : !getResult().empty())
    return emitOpError("returns init's type on tensors and nothing on "
                       "memrefs");
  return success();
}

void AttentionOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  for (OpOperand &operand : getOperation()->getOpOperands()) {
    if (!isa<MemRefType>(operand.get().getType()))
      continue;
    effects.emplace_back(MemoryEffects::Read::get(), &operand,
                         SideEffects::DefaultResource::get());
    if (isDpsInit(&operand))
      effects.emplace_back(MemoryEffects::Write::get(), &operand,
                           SideEffects::DefaultResource::get());
  }
}

#define GET_OP_CLASSES
#include "dialects/Tac/TacOps.cpp.inc"
