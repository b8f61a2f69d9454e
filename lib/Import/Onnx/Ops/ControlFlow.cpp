//===- ControlFlow.cpp - ONNX If: tac.gate or scf.if ----------------------===//
//
// The adaptive ONNX convention marks a skippable layer as an If whose else
// branch returns the layer's input unchanged. Such an If becomes tac.gate:
// the then branch is the gate's region, with the gated input bound to the
// region's argument (other outer-scope values are captured as they are).
// Any other If becomes scf.if with both branches imported.
//
//===----------------------------------------------------------------------===//

#include "../ImportState.h"

#include "dialects/Tac/TacDialect.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mlir::tac;
using namespace mlir::tac::onnx_import;

namespace {

/// For an else branch that only forwards outer values, the outer names it
/// returns, one per output; nullopt otherwise. Accepts Identity nodes and
/// outputs that name outer values directly.
std::optional<SmallVector<std::string>>
getPassThroughNames(const onnx::GraphProto &elseBranch) {
  llvm::StringMap<std::string> identityOf;
  for (const onnx::NodeProto &node : elseBranch.node()) {
    if (node.op_type() != "Identity" || node.input_size() != 1 ||
        node.output_size() != 1)
      return std::nullopt;
    identityOf[node.output(0)] = node.input(0);
  }
  llvm::StringSet<> local;
  for (const onnx::TensorProto &t : elseBranch.initializer())
    local.insert(t.name());
  SmallVector<std::string> names;
  for (const onnx::ValueInfoProto &output : elseBranch.output()) {
    std::string name = output.name();
    auto identity = identityOf.find(name);
    if (identity != identityOf.end())
      name = identity->second;
    if (identityOf.count(name) || local.contains(name))
      return std::nullopt; // chains or branch-local constants: not a skip
    names.push_back(name);
  }
  return names;
}

/// The If condition as an i1 scalar (ONNX allows a one-element tensor).
FailureOr<Value> conditionScalar(NodeContext &n, const OnnxValue &cond) {
  if (!cond.getElementType().isInteger(1) || cond.getType().getNumElements() != 1)
    return n.fail("condition must be a single BOOL, but is " +
                  std::to_string(cond.getType().getNumElements()) +
                  " element(s) of " + onnxTypeName(cond.onnxType)),
           failure();
  SmallVector<Value> zeros;
  if (cond.getRank() > 0)
    zeros.assign(cond.getRank(),
                 arith::ConstantIndexOp::create(n.builder, n.loc, 0));
  return tensor::ExtractOp::create(n.builder, n.loc, cond.value, zeros)
      .getResult();
}

const onnx::GraphProto *branch(NodeContext &n, StringRef name) {
  const onnx::AttributeProto *a = n.attr(name);
  return a && a->has_g() ? &a->g() : nullptr;
}

/// Checks that both branches produce the same types, position by position.
LogicalResult checkBranchTypes(NodeContext &n, ArrayRef<OnnxValue> thenValues,
                               ArrayRef<OnnxValue> elseValues) {
  if (thenValues.size() != elseValues.size())
    return n.fail("then branch has " + std::to_string(thenValues.size()) +
                  " outputs, else branch " + std::to_string(elseValues.size()));
  for (auto [i, pair] : llvm::enumerate(llvm::zip(thenValues, elseValues))) {
    auto [t, e] = pair;
    if (t.value.getType() != e.value.getType())
      return n.emitError() << "output #" << i << " is " << t.value.getType()
                           << " in the then branch but " << e.value.getType()
                           << " in the else branch; tac needs both branches "
                              "to produce the same static type",
             failure();
  }
  return success();
}

LogicalResult importIf(NodeContext &n) {
  FailureOr<OnnxValue> cond = n.input(0);
  if (failed(cond))
    return failure();
  const onnx::GraphProto *thenBranch = branch(n, "then_branch");
  const onnx::GraphProto *elseBranch = branch(n, "else_branch");
  if (!thenBranch || !elseBranch)
    return n.fail("needs both then_branch and else_branch graphs");
  if (thenBranch->output_size() != n.numOutputs() ||
      elseBranch->output_size() != n.numOutputs())
    return n.fail("branches must have one output per If output (" +
                  std::to_string(n.numOutputs()) + ")");
  FailureOr<Value> condition = conditionScalar(n, *cond);
  if (failed(condition))
    return failure();

  std::optional<SmallVector<std::string>> skipped =
      getPassThroughNames(*elseBranch);
  if (skipped) {
    // tac.gate: the inputs are the values the else branch forwards.
    SmallVector<OnnxValue> inputs;
    SmallVector<Value> inputValues;
    for (const std::string &name : *skipped) {
      FailureOr<OnnxValue> v = n.graph.lookup(name, n.loc);
      if (failed(v))
        return failure();
      inputs.push_back(*v);
      inputValues.push_back(v->value);
    }
    auto gate = GateOp::create(n.builder, n.loc, *condition, inputValues);
    Block *body = &gate.getBody().front();
    SmallVector<std::pair<std::string, OnnxValue>> bindings;
    for (auto [i, name] : llvm::enumerate(*skipped)) {
      OnnxValue bound = inputs[i];
      bound.value = body->getArgument(i);
      bound.known = {};
      bindings.emplace_back(name, bound);
    }
    auto outputs = n.graph.importBranch(*thenBranch, body, bindings);
    if (failed(outputs))
      return failure();
    if (failed(checkBranchTypes(n, *outputs, inputs)))
      return failure();
    OpBuilder::InsertionGuard guard(n.builder);
    n.builder.setInsertionPointToEnd(body);
    SmallVector<Value> yielded;
    for (const OnnxValue &v : *outputs)
      yielded.push_back(v.value);
    YieldOp::create(n.builder, n.loc, yielded);
    for (size_t i = 0; i < n.numOutputs(); ++i)
      n.setOutput(i, gate.getResult(i), inputs[i].onnxType);
    return success();
  }

  // Any other If: scf.if over both branches. Result types come from the
  // imported then branch, so import it into a detached block first.
  auto thenBlock = std::make_unique<Block>();
  auto thenValues = n.graph.importBranch(*thenBranch, thenBlock.get(), {});
  if (failed(thenValues))
    return failure();
  auto elseBlock = std::make_unique<Block>();
  auto elseValues = n.graph.importBranch(*elseBranch, elseBlock.get(), {});
  if (failed(elseValues))
    return failure();
  if (failed(checkBranchTypes(n, *thenValues, *elseValues)))
    return failure();
  SmallVector<Type> types;
  for (const OnnxValue &v : *thenValues)
    types.push_back(v.value.getType());
  auto ifOp = scf::IfOp::create(n.builder, n.loc, types, *condition,
                                /*addThenBlock=*/false, /*addElseBlock=*/false);
  auto fill = [&](Region &region, std::unique_ptr<Block> block,
                  ArrayRef<OnnxValue> values) {
    Block *owned = block.release();
    region.push_back(owned);
    OpBuilder::InsertionGuard guard(n.builder);
    n.builder.setInsertionPointToEnd(owned);
    SmallVector<Value> yielded;
    for (const OnnxValue &v : values)
      yielded.push_back(v.value);
    scf::YieldOp::create(n.builder, n.loc, yielded);
  };
  fill(ifOp.getThenRegion(), std::move(thenBlock), *thenValues);
  fill(ifOp.getElseRegion(), std::move(elseBlock), *elseValues);
  for (size_t i = 0; i < n.numOutputs(); ++i)
    n.setOutput(i, ifOp.getResult(i), (*thenValues)[i].onnxType);
  return success();
}

} // namespace

void mlir::tac::onnx_import::registerControlFlowOps(OpTable &table) {
  table.add("If", {13, 16, 19, 21, 23}, importIf);
}
