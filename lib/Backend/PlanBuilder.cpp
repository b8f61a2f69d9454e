//===- PlanBuilder.cpp - replay host code into a flat plan ----------------===//
//
// A host function (after tac-outline-kernels) allocates, makes views, loops
// a constant number of times and calls kernels. Replaying it at compile time
// with concrete loop indices yields the flat list of steps the runtime
// executes: every view becomes (space, byte offset, extent), every loop is
// unrolled into steps that share one kernel, and every memref.alloc
// executed becomes one arena buffer. Buffers are then placed in one arena
// by liveness over the step list, so buffers that are never live at the
// same step share bytes; the placement is the one arena planner of tac
// (tac/Analysis/ArenaPlanner.h), shared with the cost model.
//
//===----------------------------------------------------------------------===//

#include "tac/Backend/Backend.h"

#include "dialects/Tac/TacDialect.h"

#include "tac/Analysis/ArenaPlanner.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <variant>

using namespace mlir;
using namespace mlir::tac;
using format::BufferRefDesc;
using format::Space;

namespace {

constexpr uint64_t kAlign = format::kSectionAlignment;

uint64_t alignUp(uint64_t value) { return (value + kAlign - 1) / kAlign * kAlign; }

/// Bytes one element of `type` occupies in memory (i1 takes a byte).
uint64_t elementBytes(Type type) {
  return std::max<uint64_t>(1, (type.getIntOrFloatBitWidth() + 7) / 8);
}

/// A memref value during replay: a root (arena buffer, weight, input) plus
/// the byte offset of its first element and its static strides.
struct View {
  Space space = Space::Arena;
  uint32_t root = 0; // arena buffer id or input number
  int64_t byteOffset = 0;
  MemRefType type;
  SmallVector<int64_t> strides;
};

struct ArenaBuffer {
  uint64_t size = 0;
  int64_t first = -1, last = -1; // steps using it
  uint64_t offset = 0;
};

struct PendingRef {
  View view;
  uint64_t extent;
};

class PlanBuilder {
public:
  PlanBuilder(func::FuncOp func, WeightTable &weights, KernelTable &kernels)
      : func(func), weights(weights), kernels(kernels) {}

  FailureOr<format::PlanDesc> build();

private:
  func::FuncOp func;
  WeightTable &weights;
  KernelTable &kernels;
  DenseMap<Value, View> views;
  DenseMap<Value, int64_t> ints;
  std::vector<ArenaBuffer> buffers;
  // Steps with unresolved arena refs (resolved after placement).
  struct PendingStep {
    format::StepKind kind;
    uint32_t kernel = 0;
    std::vector<PendingRef> args;
    uint64_t bytes = 0;
  };
  std::vector<PendingStep> steps;
  std::vector<PendingRef> outputs;

  LogicalResult replay(Block &block);
  LogicalResult replayOp(Operation *op);
  FailureOr<View> viewOf(Value value, Operation *user);
  FailureOr<int64_t> intOf(OpFoldResult value, Operation *user);
  FailureOr<View> derive(const View &source, Value result, int64_t extraBytes,
                         Operation *op);
  FailureOr<PendingRef> refTo(Value value, Operation *user);
  void use(const PendingRef &ref, int64_t step);
  BufferRefDesc resolve(const PendingRef &ref) const;
  void placeBuffers(uint64_t &arenaBytes);
};

FailureOr<View> PlanBuilder::viewOf(Value value, Operation *user) {
  auto it = views.find(value);
  if (it == views.end())
    return user->emitError("tac plan: no buffer known for operand ") << value;
  return it->second;
}

FailureOr<int64_t> PlanBuilder::intOf(OpFoldResult value, Operation *user) {
  if (std::optional<int64_t> constant = getConstantIntValue(value))
    return *constant;
  auto it = ints.find(cast<Value>(value));
  if (it == ints.end())
    return user->emitError("tac plan: index ")
           << cast<Value>(value) << " is not known at compile time";
  return it->second;
}

/// Strides of a memref type; the plan needs them static.
FailureOr<SmallVector<int64_t>> staticStrides(MemRefType type, Operation *op) {
  SmallVector<int64_t> strides;
  int64_t offset;
  // An empty view touches no bytes; its strides do not matter.
  if (type.hasStaticShape() && type.getNumElements() == 0)
    return SmallVector<int64_t>(type.getRank(), 0);
  if (failed(type.getStridesAndOffset(strides, offset)) ||
      llvm::any_of(strides, ShapedType::isDynamic) || !type.hasStaticShape())
    return op->emitError("tac plan: view type ")
           << type << " needs a static shape and static strides";
  return strides;
}

FailureOr<View> PlanBuilder::derive(const View &source, Value result,
                                    int64_t extraBytes, Operation *op) {
  auto type = cast<MemRefType>(result.getType());
  FailureOr<SmallVector<int64_t>> strides = staticStrides(type, op);
  if (failed(strides))
    return failure();
  View view = source;
  view.byteOffset += extraBytes;
  view.type = type;
  view.strides = *strides;
  return view;
}

/// Bytes from a view's first element to the end of its last one.
uint64_t extentOf(const View &view) {
  uint64_t lastElement = 0;
  for (auto [size, stride] : llvm::zip(view.type.getShape(), view.strides)) {
    if (size == 0)
      return 0;
    lastElement += (size - 1) * stride;
  }
  return (lastElement + 1) * elementBytes(view.type.getElementType());
}

FailureOr<PendingRef> PlanBuilder::refTo(Value value, Operation *user) {
  FailureOr<View> view = viewOf(value, user);
  if (failed(view))
    return failure();
  return PendingRef{*view, extentOf(*view)};
}

void PlanBuilder::use(const PendingRef &ref, int64_t step) {
  if (ref.view.space != Space::Arena)
    return;
  ArenaBuffer &buffer = buffers[ref.view.root];
  if (buffer.first < 0)
    buffer.first = step;
  buffer.last = std::max(buffer.last, step);
}

LogicalResult PlanBuilder::replay(Block &block) {
  for (Operation &op : block)
    if (failed(replayOp(&op)))
      return failure();
  return success();
}

LogicalResult PlanBuilder::replayOp(Operation *op) {
  MLIRContext *context = op->getContext();
  if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
    if (auto value = dyn_cast<IntegerAttr>(constant.getValue()))
      ints[constant] = value.getValue().getSExtValue();
    return success(); // float constants only feed kernels (cloned there)
  }
  if (op->getDialect() && op->getDialect()->getNamespace() == "arith") {
    // Index arithmetic the outliner left on the host: fold it with the
    // operands' known values.
    SmallVector<Attribute> operands;
    for (Value operand : op->getOperands()) {
      auto it = ints.find(operand);
      if (it == ints.end())
        return op->emitError("tac plan: operand ")
               << operand << " is not known at compile time";
      operands.push_back(IntegerAttr::get(operand.getType(), it->second));
    }
    SmallVector<OpFoldResult> results;
    if (failed(op->fold(operands, results)) ||
        results.size() != op->getNumResults())
      return op->emitError("tac plan: cannot evaluate this index arithmetic");
    for (auto [result, folded] : llvm::zip(op->getResults(), results)) {
      auto attr = dyn_cast_if_present<IntegerAttr>(
          dyn_cast_if_present<Attribute>(folded));
      if (!attr)
        return op->emitError("tac plan: cannot evaluate this index arithmetic");
      ints[result] = attr.getValue().getSExtValue();
    }
    return success();
  }
  if (isa<memref::AllocOp, memref::AllocaOp>(op)) {
    Value result = op->getResult(0);
    auto type = cast<MemRefType>(result.getType());
    FailureOr<SmallVector<int64_t>> strides = staticStrides(type, op);
    if (failed(strides))
      return failure();
    ArenaBuffer buffer;
    buffer.size = alignUp(type.getNumElements() *
                          elementBytes(type.getElementType()));
    buffers.push_back(buffer);
    views[result] = View{Space::Arena, uint32_t(buffers.size() - 1), 0, type,
                         *strides};
    return success();
  }
  if (isa<memref::DeallocOp>(op))
    return success(); // the arena plan already reuses the bytes
  if (auto global = dyn_cast<memref::GetGlobalOp>(op)) {
    FailureOr<uint64_t> offset = weights.offsetOf(global.getName(), op->getLoc());
    if (failed(offset))
      return failure();
    auto type = global.getType();
    FailureOr<SmallVector<int64_t>> strides = staticStrides(type, op);
    if (failed(strides))
      return failure();
    views[global] = View{Space::Weights, 0, int64_t(*offset), type, *strides};
    return success();
  }
  if (auto subview = dyn_cast<memref::SubViewOp>(op)) {
    FailureOr<View> source = viewOf(subview.getSource(), op);
    if (failed(source))
      return failure();
    int64_t elements = 0;
    for (auto [offset, stride] :
         llvm::zip(subview.getMixedOffsets(), source->strides)) {
      FailureOr<int64_t> value = intOf(offset, op);
      if (failed(value))
        return failure();
      elements += *value * stride;
    }
    FailureOr<View> view = derive(
        *source, subview.getResult(),
        elements * int64_t(elementBytes(source->type.getElementType())), op);
    if (failed(view))
      return failure();
    views[subview.getResult()] = *view;
    return success();
  }
  if (isa<memref::ExpandShapeOp, memref::CollapseShapeOp, memref::CastOp>(op)) {
    FailureOr<View> source = viewOf(op->getOperand(0), op);
    if (failed(source))
      return failure();
    FailureOr<View> view = derive(*source, op->getResult(0), 0, op);
    if (failed(view))
      return failure();
    views[op->getResult(0)] = *view;
    return success();
  }
  if (auto cast = dyn_cast<memref::ReinterpretCastOp>(op)) {
    FailureOr<View> source = viewOf(cast.getSource(), op);
    if (failed(source))
      return failure();
    FailureOr<int64_t> offset = intOf(cast.getMixedOffsets()[0], op);
    if (failed(offset))
      return failure();
    // The new offset counts from the root's start, not from the source view.
    View base = *source;
    base.byteOffset = 0;
    FailureOr<View> view = derive(
        base, cast.getResult(),
        *offset * int64_t(elementBytes(source->type.getElementType())), op);
    if (failed(view))
      return failure();
    views[cast.getResult()] = *view;
    return success();
  }
  if (auto copy = dyn_cast<memref::CopyOp>(op)) {
    FailureOr<PendingRef> target = refTo(copy.getTarget(), op);
    FailureOr<PendingRef> source = refTo(copy.getSource(), op);
    if (failed(target) || failed(source))
      return failure();
    int64_t step = steps.size();
    use(*target, step);
    use(*source, step);
    steps.push_back({format::StepKind::Copy, 0, {*target, *source},
                     std::min(target->extent, source->extent)});
    return success();
  }
  if (auto call = dyn_cast<func::CallOp>(op)) {
    StringRef symbol = call.getCallee();
    auto [it, inserted] =
        kernels.index.try_emplace(symbol, kernels.symbols.size());
    if (inserted) {
      kernels.symbols.push_back(symbol.str());
      kernels.numArgs.push_back(call.getNumOperands());
      kernels.mayAlias.push_back(false);
    }
    PendingStep step{format::StepKind::Kernel, it->second, {}, 0};
    for (Value operand : call.getOperands()) {
      FailureOr<PendingRef> ref = refTo(operand, op);
      if (failed(ref))
        return failure();
      use(*ref, steps.size());
      // Kernels assume their arguments do not overlap unless a call says
      // otherwise. Views of different live buffers never overlap.
      for (const PendingRef &other : step.args)
        if (other.view.space == ref->view.space &&
            other.view.root == ref->view.root &&
            other.view.byteOffset < ref->view.byteOffset + int64_t(ref->extent) &&
            ref->view.byteOffset < other.view.byteOffset + int64_t(other.extent))
          kernels.mayAlias[it->second] = true;
      step.args.push_back(*ref);
    }
    steps.push_back(std::move(step));
    return success();
  }
  if (auto loop = dyn_cast<scf::ForOp>(op)) {
    FailureOr<int64_t> lower = intOf(loop.getLowerBound(), op);
    FailureOr<int64_t> upper = intOf(loop.getUpperBound(), op);
    FailureOr<int64_t> stepSize = intOf(loop.getStep(), op);
    if (failed(lower) || failed(upper) || failed(stepSize))
      return failure();
    if (*stepSize <= 0)
      return op->emitError("tac plan: loop step must be positive");
    SmallVector<Value> carried(loop.getInitArgs());
    Block *body = loop.getBody();
    // Reads every source first: a yield may pass the iteration arguments on
    // in another order.
    auto bind = [&](ValueRange from, ValueRange to) -> LogicalResult {
      SmallVector<std::variant<View, int64_t>> values;
      for (Value value : from) {
        if (isa<MemRefType>(value.getType())) {
          FailureOr<View> view = viewOf(value, op);
          if (failed(view))
            return failure();
          values.push_back(*view);
          continue;
        }
        auto it = ints.find(value);
        if (it == ints.end())
          return op->emitError("tac plan: loop-carried value ")
                 << value << " is not known at compile time";
        values.push_back(it->second);
      }
      for (auto [value, target] : llvm::zip(values, to)) {
        if (auto *view = std::get_if<View>(&value))
          views[target] = *view;
        else
          ints[target] = std::get<int64_t>(value);
      }
      return success();
    };
    // Each iteration starts from the previous one's yielded values; the
    // loop's results are the last ones (the init values if it never runs).
    for (int64_t i = *lower; i < *upper; i += *stepSize) {
      ints[loop.getInductionVar()] = i;
      if (failed(bind(carried, loop.getRegionIterArgs())) ||
          failed(replay(*body)))
        return failure();
      carried = llvm::to_vector(body->getTerminator()->getOperands());
    }
    if (failed(bind(carried, loop.getResults())))
      return failure();
    return success();
  }
  if (isa<scf::YieldOp>(op))
    return success(); // read by the loop above
  if (auto ret = dyn_cast<func::ReturnOp>(op)) {
    for (Value value : ret.getOperands()) {
      FailureOr<PendingRef> ref = refTo(value, op);
      if (failed(ref))
        return failure();
      auto type = cast<MemRefType>(value.getType());
      if (!type.getLayout().isIdentity() &&
          ref->extent != type.getNumElements() *
                             elementBytes(type.getElementType()))
        return op->emitError("tac plan: result is not contiguous; run "
                             "tac-prepare-plan-functions before bufferizing");
      outputs.push_back(*ref);
    }
    return success();
  }
  (void)context;
  return op->emitError("tac plan: '")
         << op->getName() << "' cannot run in a host plan; it should have "
         << "been outlined into a kernel (tac-outline-kernels)";
}

/// Places the buffers used by some step with the planner the cost model
/// uses too (tac/Analysis/ArenaPlanner.h); positions are steps, and every
/// offset is a multiple of the section alignment.
void PlanBuilder::placeBuffers(uint64_t &arenaBytes) {
  std::vector<uint32_t> placed;
  SmallVector<ArenaRequest> requests;
  for (uint32_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].first >= 0 && buffers[i].size > 0) {
      placed.push_back(i);
      requests.push_back({int64_t(buffers[i].size), buffers[i].first,
                          buffers[i].last});
    }
  ArenaLayout layout = placeArena(requests, kAlign);
  for (auto [id, offset] : llvm::zip(placed, layout.offsets))
    buffers[id].offset = uint64_t(offset);
  arenaBytes = uint64_t(layout.arenaBytes);
}

BufferRefDesc PlanBuilder::resolve(const PendingRef &ref) const {
  BufferRefDesc desc;
  desc.space = ref.view.space;
  desc.size = ref.extent;
  if (ref.view.space == Space::Arena)
    desc.offset = buffers[ref.view.root].offset + ref.view.byteOffset;
  else
    desc.offset = ref.view.byteOffset;
  desc.index = ref.view.space == Space::Input ? ref.view.root : 0;
  return desc;
}

FailureOr<format::PlanDesc> PlanBuilder::build() {
  for (auto [i, arg] : llvm::enumerate(func.getArguments())) {
    auto type = dyn_cast<MemRefType>(arg.getType());
    if (!type)
      return func.emitError("tac plan: argument #")
             << i << " is not a buffer (" << arg.getType() << ")";
    FailureOr<SmallVector<int64_t>> strides = staticStrides(type, func);
    if (failed(strides))
      return failure();
    views[arg] = View{Space::Input, uint32_t(i), 0, type, *strides};
  }
  if (failed(replay(func.getBody().front())))
    return failure();
  // Results stay live to the end: the runtime copies them out afterwards.
  for (const PendingRef &ref : outputs)
    use(ref, int64_t(steps.size()));

  format::PlanDesc plan;
  plan.name = func.getSymName().str();
  placeBuffers(plan.arenaBytes);
  for (const PendingStep &pending : steps) {
    format::StepDesc step;
    step.kind = pending.kind;
    step.kernel = pending.kernel;
    step.bytes = pending.bytes;
    for (const PendingRef &ref : pending.args)
      step.args.push_back(resolve(ref));
    plan.steps.push_back(std::move(step));
  }
  for (const PendingRef &ref : outputs)
    plan.outputs.push_back(resolve(ref));
  for (const ArenaBuffer &buffer : buffers)
    if (buffer.first >= 0 && buffer.size > 0) {
      // Results stay live past the last step: clamp to it for the record.
      uint32_t last = std::min<int64_t>(buffer.last,
                                        std::max<int64_t>(0, steps.size() - 1));
      plan.buffers.push_back({buffer.offset, buffer.size,
                              uint32_t(buffer.first), last});
    }

  if (auto path = func->getAttrOfType<IntegerAttr>(TacDialect::kPathAttrName))
    plan.path = path.getInt();
  if (auto layers = func->getAttrOfType<DenseI64ArrayAttr>(TacDialect::kLayersAttrName))
    for (int64_t layer : layers.asArrayRef())
      plan.layers.push_back(int32_t(layer));
  if (auto cost = func->getAttrOfType<CostAttr>(TacDialect::kCostAttrName)) {
    plan.flops = cost.getFlops();
    plan.bytesMoved = cost.getBytesMoved();
    plan.paramBytes = cost.getParamBytes();
    plan.peakActivationBytes = cost.getPeakActivationBytes();
  }
  return plan;
}

} // namespace

FailureOr<format::PlanDesc> mlir::tac::buildPlan(func::FuncOp func,
                                                 WeightTable &weights,
                                                 KernelTable &kernels) {
  return PlanBuilder(func, weights, kernels).build();
}

FailureOr<uint64_t> WeightTable::offsetOf(StringRef name, Location loc) {
  auto found = offsets.find(name);
  if (found != offsets.end())
    return found->second;
  auto global = module.lookupSymbol<memref::GlobalOp>(name);
  if (!global || !global.getInitialValue())
    return emitError(loc, "tac plan: global '")
           << name << "' has no initial value to store as a weight";
  auto type = global.getType();
  Type element = type.getElementType();
  uint64_t count = type.getNumElements();
  uint64_t size = count * elementBytes(element);
  uint64_t offset = alignUp(bytes.size());
  bytes.resize(offset + size, 0);
  uint8_t *out = bytes.data() + offset;
  Attribute initial = *global.getInitialValue();
  if (auto dense = dyn_cast<DenseElementsAttr>(initial)) {
    if (element.isInteger(1)) {
      for (auto [i, bit] : llvm::enumerate(dense.getValues<bool>()))
        out[i] = bit;
    } else {
      ArrayRef<char> raw = dense.getRawData();
      uint64_t elementSize = elementBytes(element);
      if (dense.isSplat()) {
        for (uint64_t i = 0; i < count; ++i)
          std::memcpy(out + i * elementSize, raw.data(), elementSize);
      } else {
        if (raw.size() != size)
          return emitError(loc, "tac plan: global '")
                 << name << "' holds " << raw.size() << " bytes, expected "
                 << size;
        std::memcpy(out, raw.data(), size);
      }
    }
  } else if (auto resource = dyn_cast<DenseResourceElementsAttr>(initial)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || element.isInteger(1) || blob->getData().size() != size)
      return emitError(loc, "tac plan: weight '")
             << name << "' has no data of the expected " << size
             << " bytes";
    std::memcpy(out, blob->getData().data(), size);
  } else {
    return emitError(loc, "tac plan: global '")
           << name << "' has an initial value tac cannot store";
  }
  offsets[name] = offset;
  return offset;
}
