//===- Functions.cpp - inline ONNX model-local functions ------------------===//
//
// ModelProto.functions (IR version 8 and later; PyTorch's dynamo exporter
// writes them) define ops of a custom domain by a body of nodes. Before
// anything else looks at the graph, every node that calls such a function
// is replaced by the function's body, at the protobuf level: the body's
// formal inputs and outputs become the call's actual tensors, every other
// tensor of the body gets a name unique to the call, attribute references
// (`ref_attr_name`) take the call's attribute or the function's default,
// and calls inside bodies (nested functions) and inside If branches are
// inlined the same way. A function that calls itself, directly or not, is
// an error.
//
//===----------------------------------------------------------------------===//

#include "ImportState.h"

#include "llvm/ADT/StringExtras.h"

#include <google/protobuf/unknown_field_set.h>

#include <functional>
#include <set>

using namespace mlir;
using namespace mlir::tac;
using namespace mlir::tac::onnx_import;

namespace {

/// FunctionProto.attribute_proto (field 11, attributes with default values)
/// is newer than libonnx 1.12's classes, which keep it as an unknown field.
constexpr int kAttributeProtoField = 11;
/// FunctionProto.overload (13) and NodeProto.overload (8), IR version 10:
/// functions of one domain and name told apart, and the one a node calls.
constexpr int kFunctionOverloadField = 13, kNodeOverloadField = 8;

/// The string of an unknown length-delimited field, or "".
std::string unknownString(const google::protobuf::Message &message,
                          int number) {
  const auto &unknown = message.GetReflection()->GetUnknownFields(message);
  for (int i = 0; i < unknown.field_count(); ++i)
    if (unknown.field(i).number() == number &&
        unknown.field(i).type() ==
            google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED)
      return unknown.field(i).length_delimited();
  return "";
}
/// Functions that call others several times grow exponentially with the
/// nesting depth; inlining stops there.
constexpr int64_t kMaxInlinedNodes = 1000000;

struct Function {
  const onnx::FunctionProto *proto;
  /// Defaults of the attributes that have one.
  std::map<std::string, onnx::AttributeProto> defaults;
};

class Inliner {
public:
  Inliner(const onnx::ModelProto &model, Location fileLoc)
      : fileLoc(fileLoc) {
    for (const onnx::OperatorSetIdProto &opset : model.opset_import())
      opsets[canonical(opset.domain())] = opset.version();
  }

  LogicalResult collect(const onnx::ModelProto &model);
  /// Replaces, in `graph` and its subgraphs, every call of a local function
  /// by its body.
  LogicalResult inlineGraph(onnx::GraphProto &graph);

private:
  static std::string canonical(const std::string &domain) {
    return domain == "ai.onnx" ? std::string() : domain;
  }
  static std::string key(const std::string &domain, const std::string &name,
                         const std::string &overload) {
    return canonical(domain) + "::" + name + "::" + overload;
  }
  const Function *find(const onnx::NodeProto &node) const {
    auto it = functions.find(key(node.domain(), node.op_type(),
                                 unknownString(node, kNodeOverloadField)));
    return it == functions.end() ? nullptr : &it->second;
  }
  std::string displayName(const onnx::FunctionProto &f) const {
    return f.domain().empty() ? f.name() : f.domain() + "." + f.name();
  }
  LogicalResult fail(const Twine &message) {
    return mlir::emitError(fileLoc) << message, failure();
  }

  /// Appends to `out` the nodes that replace `nodes`, each call inlined
  /// (recursively); `callName` prefixes the names of inlined nodes.
  LogicalResult expand(const google::protobuf::RepeatedPtrField<
                           onnx::NodeProto> &nodes,
                       const std::string &callName,
                       google::protobuf::RepeatedPtrField<onnx::NodeProto> &out);
  LogicalResult expandCall(const onnx::NodeProto &call, const Function &fn,
                           const std::string &callName,
                           google::protobuf::RepeatedPtrField<onnx::NodeProto> &out);
  LogicalResult inlineSubgraphs(onnx::NodeProto &node);

  Location fileLoc;
  std::map<std::string, int64_t> opsets;
  std::map<std::string, Function> functions;
  /// The functions being inlined, outermost first (recursion check).
  std::vector<const Function *> stack;
  int calls = 0;
  int64_t nodesMade = 0;
};

LogicalResult Inliner::collect(const onnx::ModelProto &model) {
  for (const onnx::FunctionProto &f : model.functions()) {
    std::string overload = unknownString(f, kFunctionOverloadField);
    Function &fn = functions[key(f.domain(), f.name(), overload)];
    if (fn.proto)
      return fail("the model defines local function '" + displayName(f) +
                  "'" + (overload.empty() ? "" : " (overload '" + overload + "')") +
                  " twice");
    fn.proto = &f;
    const auto &unknown = f.GetReflection()->GetUnknownFields(f);
    for (int i = 0; i < unknown.field_count(); ++i) {
      const google::protobuf::UnknownField &field = unknown.field(i);
      onnx::AttributeProto attr;
      if (field.number() != kAttributeProtoField)
        continue;
      if (field.type() !=
              google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED ||
          !attr.ParseFromString(field.length_delimited()))
        return fail("local function '" + displayName(f) +
                    "' has a malformed attribute default (attribute_proto)");
      fn.defaults[attr.name()] = attr;
    }
    // The body is imported at the model's opsets: a function that imports
    // another version of a domain would mean other ops.
    for (const onnx::OperatorSetIdProto &opset : f.opset_import()) {
      auto modelOpset = opsets.find(canonical(opset.domain()));
      if (modelOpset != opsets.end() && modelOpset->second != opset.version())
        return fail("local function '" + displayName(f) + "' imports opset " +
                    Twine(opset.version()) + " of domain '" +
                    (opset.domain().empty() ? "ai.onnx" : opset.domain()) +
                    "', but the model imports opset " +
                    Twine(modelOpset->second) +
                    "; tac inlines functions at the model's opsets");
      if (modelOpset == opsets.end())
        opsets[canonical(opset.domain())] = opset.version();
    }
  }
  return success();
}

LogicalResult Inliner::inlineSubgraphs(onnx::NodeProto &node) {
  for (onnx::AttributeProto &attr : *node.mutable_attribute()) {
    if (attr.has_g() && failed(inlineGraph(*attr.mutable_g())))
      return failure();
    for (onnx::GraphProto &g : *attr.mutable_graphs())
      if (failed(inlineGraph(g)))
        return failure();
  }
  return success();
}

LogicalResult Inliner::inlineGraph(onnx::GraphProto &graph) {
  google::protobuf::RepeatedPtrField<onnx::NodeProto> out;
  if (failed(expand(graph.node(), "", out)))
    return failure();
  graph.mutable_node()->Swap(&out);
  return success();
}

LogicalResult Inliner::expand(
    const google::protobuf::RepeatedPtrField<onnx::NodeProto> &nodes,
    const std::string &callName,
    google::protobuf::RepeatedPtrField<onnx::NodeProto> &out) {
  for (auto [index, node] : llvm::enumerate(nodes)) {
    std::string name = GraphImporter::nodeName(node, index);
    if (!callName.empty())
      name = callName + "/" + name;
    if (const Function *fn = find(node)) {
      if (failed(expandCall(node, *fn, name, out)))
        return failure();
      continue;
    }
    if (++nodesMade > kMaxInlinedNodes)
      return fail("inlining the model's local functions makes more than " +
                  Twine(kMaxInlinedNodes) + " nodes; tac does not import "
                  "models that large");
    onnx::NodeProto *copy = out.Add();
    *copy = node;
    if (!callName.empty())
      copy->set_name(name);
    // Calls inside If branches (of the graph or of an inlined body).
    if (failed(inlineSubgraphs(*copy)))
      return failure();
  }
  return success();
}

LogicalResult Inliner::expandCall(
    const onnx::NodeProto &call, const Function &fn,
    const std::string &callName,
    google::protobuf::RepeatedPtrField<onnx::NodeProto> &out) {
  const onnx::FunctionProto &f = *fn.proto;
  std::string where = "node '" + callName + "' calls local function '" +
                      displayName(f) + "'";
  if (llvm::is_contained(stack, &fn)) {
    std::string chain;
    for (const Function *s : stack)
      chain += displayName(*s->proto) + " -> ";
    return fail(where + ", which is already being inlined (" + chain +
                displayName(f) +
                "); tac inlines functions and cannot inline recursion");
  }
  if (call.input_size() > f.input_size() ||
      call.output_size() > f.output_size())
    return fail(where + " with " + Twine(call.input_size()) + " inputs and " +
                Twine(call.output_size()) + " outputs, but the function has " +
                Twine(f.input_size()) + " and " + Twine(f.output_size()));
  std::set<std::string> declared(f.attribute().begin(), f.attribute().end());
  for (const auto &[name, attr] : fn.defaults)
    declared.insert(name);
  std::map<std::string, const onnx::AttributeProto *> actual;
  for (const onnx::AttributeProto &attr : call.attribute()) {
    if (!declared.count(attr.name()))
      return fail(where + " with attribute '" + attr.name() +
                  "', which the function does not declare");
    actual[attr.name()] = &attr;
  }

  // Formal parameters become the call's tensors (an omitted optional input
  // or output is ""); the body's other tensors get a prefix of their own.
  std::map<std::string, std::string> bound;
  for (int i = 0; i < f.input_size(); ++i)
    bound[f.input(i)] = i < call.input_size() ? call.input(i) : "";
  std::string prefix = "__inlined" + std::to_string(calls++) + "/" +
                       displayName(f) + "/";
  for (int i = 0; i < f.output_size(); ++i)
    bound[f.output(i)] = i < call.output_size() && !call.output(i).empty()
                             ? call.output(i)
                             : prefix + f.output(i);
  auto rename = [&](const std::string &name) -> std::string {
    if (name.empty())
      return name;
    auto it = bound.find(name);
    return it != bound.end() ? it->second : prefix + name;
  };

  // The body with names and attribute references resolved, inside its
  // subgraphs (If/Loop bodies) too: a reference there also names one of the
  // function's attributes.
  std::function<LogicalResult(onnx::NodeProto &)> resolveNode;
  auto resolveGraph = [&](onnx::GraphProto &graph) -> LogicalResult {
    for (onnx::ValueInfoProto &v : *graph.mutable_input())
      v.set_name(rename(v.name()));
    for (onnx::ValueInfoProto &v : *graph.mutable_output())
      v.set_name(rename(v.name()));
    for (onnx::ValueInfoProto &v : *graph.mutable_value_info())
      v.set_name(rename(v.name()));
    for (onnx::TensorProto &t : *graph.mutable_initializer())
      t.set_name(rename(t.name()));
    for (onnx::NodeProto &node : *graph.mutable_node())
      if (failed(resolveNode(node)))
        return failure();
    return success();
  };
  resolveNode = [&](onnx::NodeProto &node) -> LogicalResult {
    for (std::string &s : *node.mutable_input())
      s = rename(s);
    for (std::string &s : *node.mutable_output())
      s = rename(s);
    google::protobuf::RepeatedPtrField<onnx::AttributeProto> attrs;
    for (onnx::AttributeProto &attr : *node.mutable_attribute()) {
      if (!attr.ref_attr_name().empty()) {
        const onnx::AttributeProto *value = nullptr;
        auto a = actual.find(attr.ref_attr_name());
        if (a != actual.end())
          value = a->second;
        else if (auto d = fn.defaults.find(attr.ref_attr_name());
                 d != fn.defaults.end())
          value = &d->second;
        else if (!declared.count(attr.ref_attr_name()))
          return fail("local function '" + displayName(f) +
                      "' refers to attribute '" + attr.ref_attr_name() +
                      "', which it does not declare");
        if (!value)
          continue; // Unset without a default: the op's own default applies.
        onnx::AttributeProto *resolved = attrs.Add();
        *resolved = *value;
        resolved->set_name(attr.name());
        continue;
      }
      if (attr.has_g() && failed(resolveGraph(*attr.mutable_g())))
        return failure();
      for (onnx::GraphProto &g : *attr.mutable_graphs())
        if (failed(resolveGraph(g)))
          return failure();
      *attrs.Add() = attr;
    }
    node.mutable_attribute()->Swap(&attrs);
    return success();
  };
  google::protobuf::RepeatedPtrField<onnx::NodeProto> body;
  for (const onnx::NodeProto &node : f.node()) {
    onnx::NodeProto *copy = body.Add();
    *copy = node;
    if (failed(resolveNode(*copy)))
      return failure();
  }
  stack.push_back(&fn);
  LogicalResult result = expand(body, callName, out);
  stack.pop_back();
  return result;
}

} // namespace

LogicalResult mlir::tac::onnx_import::inlineLocalFunctions(
    onnx::ModelProto &model, Location fileLoc) {
  if (model.functions_size() == 0)
    return success();
  Inliner inliner(model, fileLoc);
  if (failed(inliner.collect(model)))
    return failure();
  return inliner.inlineGraph(*model.mutable_graph());
}
