//===- OnnxImporter.cpp - ONNX models into MLIR ---------------------------===//
//
// Loads a model (binary protobuf or ONNX text), checks that every op is in
// the importer's table (reporting all that are not), builds one function
// whose arguments are the graph inputs, and imports the nodes in order.
//
//===----------------------------------------------------------------------===//

#include "ImportState.h"

#include "dialects/Tac/TacDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <limits>

#include <onnx/defs/parser.h>

using namespace mlir;
using namespace mlir::tac;
using namespace mlir::tac::onnx_import;

static constexpr const char *kPredictorKey = "tac.predictor_output";
static constexpr const char *kPolicyKey = "tac.policy_output";
static constexpr const char *kPathsKey = "tac.paths";

//===----------------------------------------------------------------------===//
// Public helpers
//===----------------------------------------------------------------------===//

LogicalResult mlir::tac::parseInputShape(StringRef spec,
                                         OnnxImportOptions &options,
                                         std::string &error) {
  auto [name, dims] = spec.rsplit(':');
  if (name.empty() || !spec.contains(':')) {
    error = "'" + spec.str() +
            "' is not NAME:DIMS (e.g. input:1x3x224x224, or input: for a "
            "scalar)";
    return failure();
  }
  SmallVector<int64_t> shape;
  if (!dims.empty()) {
    SmallVector<StringRef> parts;
    dims.split(parts, 'x');
    for (StringRef part : parts) {
      int64_t d;
      if (part.trim().getAsInteger(10, d) || d < 0) {
        error = "dimension '" + part.str() + "' of '" + spec.str() +
                "' is not a non-negative integer";
        return failure();
      }
      shape.push_back(d);
    }
  }
  options.inputShapes[name] = shape;
  return success();
}

LogicalResult mlir::tac::parseBindInput(StringRef spec,
                                        OnnxImportOptions &options,
                                        std::string &error) {
  auto [name, path] = spec.split('=');
  if (name.empty() || path.empty()) {
    error = "'" + spec.str() + "' is not NAME=FILE.pb";
    return failure();
  }
  options.boundInputs[name] = path.str();
  return success();
}

bool mlir::tac::isOnnxFileName(StringRef path) {
  return path.ends_with(".onnx") || path.ends_with(".onnxtext") ||
         path.ends_with(".onnxtxt");
}

void mlir::tac::registerOnnxImportDialects(DialectRegistry &registry) {
  registry.insert<arith::ArithDialect, func::FuncDialect,
                  linalg::LinalgDialect, math::MathDialect, scf::SCFDialect,
                  tensor::TensorDialect, TacDialect>();
}

//===----------------------------------------------------------------------===//
// NodeContext
//===----------------------------------------------------------------------===//

NodeContext::NodeContext(GraphImporter &graph, const onnx::NodeProto &node,
                         std::string name, int sinceVersion, int64_t opset,
                         Location loc)
    : graph(graph), node(node), name(std::move(name)), builder(graph.builder),
      sinceVersion(sinceVersion), opset(opset), loc(loc) {}

bool NodeContext::hasInput(size_t i) const {
  return i < numInputs() && !node.input(i).empty();
}

FailureOr<OnnxValue> NodeContext::input(size_t i, bool materialize) {
  if (!hasInput(i))
    return emitError() << "expects input #" << i << ", which is missing",
           failure();
  return graph.lookup(node.input(i), loc, materialize);
}

FailureOr<DenseElementsAttr> NodeContext::knownInput(size_t i,
                                                     StringRef what) {
  if (!hasInput(i))
    return emitError() << "expects its " << what << " as input #" << i
                       << ", which is missing",
           failure();
  FailureOr<OnnxValue> value =
      graph.lookup(node.input(i), loc, /*materialize=*/false);
  if (failed(value))
    return failure();
  if (!value->known)
    return emitError() << "needs its " << what << " (input #" << i << " '"
                       << node.input(i)
                       << "') at compile time, but it is only known at run "
                          "time; tac compiles static shapes: if it derives "
                          "from a graph input's shape, fix that shape with "
                          "--input-shape; if it is a graph input itself, "
                          "freeze it with --bind-input="
                       << node.input(i) << "=FILE.pb",
           failure();
  return value->known;
}

FailureOr<SmallVector<int64_t>> NodeContext::knownIntsInput(size_t i,
                                                            StringRef what) {
  FailureOr<DenseElementsAttr> known = knownInput(i, what);
  if (failed(known))
    return failure();
  if (!known->getElementType().isInteger())
    return emitError() << "expects its " << what
                       << " to be integers, but it is "
                       << known->getElementType(),
           failure();
  SmallVector<int64_t> ints;
  bool isUnsigned = isOnnxUnsigned(
      graph.lookup(node.input(i), loc, /*materialize=*/false)->onnxType);
  for (const APInt &v : known->getValues<APInt>())
    ints.push_back(isUnsigned ? static_cast<int64_t>(v.getZExtValue())
                              : v.getSExtValue());
  return ints;
}

bool NodeContext::hasOutput(size_t i) const {
  return i < numOutputs() && !node.output(i).empty();
}

void NodeContext::setOutput(size_t i, Value value, int32_t onnxType) {
  if (hasOutput(i))
    graph.define(node.output(i), OnnxValue{value, onnxType, {}});
}

void NodeContext::setKnownOutput(size_t i, DenseElementsAttr contents,
                                 int32_t onnxType) {
  if (!hasOutput(i))
    return;
  // Materialised by lookup() when something needs the value itself, so
  // folded shape arithmetic leaves no dead constants.
  graph.define(node.output(i), OnnxValue{Value(), onnxType, contents});
}

const onnx::AttributeProto *NodeContext::attr(StringRef name) const {
  for (const onnx::AttributeProto &a : node.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t NodeContext::intAttr(StringRef name, int64_t defaultValue) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->i() : defaultValue;
}

float NodeContext::floatAttr(StringRef name, float defaultValue) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->f() : defaultValue;
}

std::string NodeContext::stringAttr(StringRef name,
                                    StringRef defaultValue) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->s() : defaultValue.str();
}

std::optional<SmallVector<int64_t>>
NodeContext::intsAttr(StringRef name) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return std::nullopt;
  return SmallVector<int64_t>(a->ints().begin(), a->ints().end());
}

InFlightDiagnostic NodeContext::emitError() {
  InFlightDiagnostic diag = mlir::emitError(loc);
  diag << "'" << node.op_type() << "' node '" << name << "': ";
  return diag;
}

LogicalResult NodeContext::fail(const Twine &message) {
  return emitError() << message, failure();
}

FailureOr<int64_t> NodeContext::normalizeAxis(int64_t axis, int64_t rank,
                                              StringRef what) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    return emitError() << what << " " << axis << " is out of range for rank "
                       << rank << "; expected a value in [" << -rank << ", "
                       << rank << ")",
           failure();
  return axis < 0 ? axis + rank : axis;
}

//===----------------------------------------------------------------------===//
// GraphImporter
//===----------------------------------------------------------------------===//

GraphImporter::GraphImporter(ModelImporter &model, GraphImporter *parent,
                             const onnx::GraphProto &graph)
    : model(model), parent(parent), graph(graph), builder(model.builder) {
  for (const onnx::TensorProto &tensor : graph.initializer())
    initializers[tensor.name()] = &tensor;
}

std::string GraphImporter::nodeName(const onnx::NodeProto &node, int index) {
  return node.name().empty() ? node.op_type() + "#" + std::to_string(index)
                             : node.name();
}

Location ModelImporter::nodeLoc(const onnx::NodeProto &node, int index) {
  return NameLoc::get(
      StringAttr::get(context, GraphImporter::nodeName(node, index)),
      fileLoc());
}

FailureOr<OnnxValue> GraphImporter::lookup(StringRef name, Location useLoc,
                                            bool materialize) {
  for (GraphImporter *scope = this; scope; scope = scope->parent) {
    auto found = scope->values.find(name);
    if (found != scope->values.end()) {
      // Values known at import time become constants on first real use.
      if (!found->second.value && materialize)
        found->second.value =
            model.materializeConstant(found->second.known, useLoc);
      return found->second;
    }
    auto init = scope->initializers.find(name);
    if (init != scope->initializers.end()) {
      DenseElementsAttr known;
      std::string error;
      FailureOr<ElementsAttr> contents = convertTensorProto(
          *init->second, model.context, model.modelDir,
          model.options.inlineConstantLimit, known, error);
      if (failed(contents))
        return mlir::emitError(useLoc)
                   << "initializer '" << name << "' cannot be imported: "
                   << error,
               failure();
      // Inline initializers stay lazy like folded values; blobs (not known
      // at import time) are materialised now.
      OnnxValue imported{Value(), init->second->data_type(), known};
      if (!known)
        imported.value = model.materializeConstant(*contents, useLoc);
      scope->values[name] = imported;
      return scope->lookup(name, useLoc, materialize);
    }
  }
  return mlir::emitError(useLoc)
             << "tensor '" << name
             << "' is used but never defined: no graph input, initializer "
                "or earlier node output has that name",
         failure();
}

void GraphImporter::define(StringRef name, OnnxValue value) {
  if ((name == model.predictorOutput || name == model.policyOutput) &&
      !value.value)
    value.value = model.materializeConstant(value.known, model.fileLoc());
  // Controller markers wrap the tensors the metadata names.
  if (name == model.predictorOutput) {
    if (!isa<FloatType>(value.getElementType())) {
      mlir::emitError(value.value.getLoc())
          << "metadata 'tac.predictor_output' names '" << name
          << "', which is " << onnxTypeName(value.onnxType)
          << "; the complexity predictor's output must be floating-point";
      model.markerError = true;
    } else {
      value.value = PredictorOutputOp::create(builder, value.value.getLoc(),
                                              value.value);
      value.known = {};
    }
  } else if (name == model.policyOutput) {
    if (!value.getElementType().isSignlessInteger() ||
        value.getElementType().isInteger(1)) {
      mlir::emitError(value.value.getLoc())
          << "metadata 'tac.policy_output' names '" << name << "', which is "
          << onnxTypeName(value.onnxType)
          << "; the policy's choice must be an integer tensor";
      model.markerError = true;
    } else {
      value.value =
          PolicyOutputOp::create(builder, value.value.getLoc(), value.value);
      value.known = {};
    }
  }
  values[name] = value;
}

LogicalResult GraphImporter::importNode(const onnx::NodeProto &node,
                                        int index) {
  Location loc = model.nodeLoc(node, index);
  StringRef domain = node.domain() == "ai.onnx" ? StringRef() : StringRef(node.domain());
  int64_t opset = model.opsets.lookup(domain);
  std::optional<int> version =
      domain.empty() ? onnxSinceVersion(node.op_type(), opset) : std::nullopt;
  const OpHandler *handler =
      version ? OpTable::get().lookup(node.op_type(), *version) : nullptr;
  if (!handler) // checkSupport reported it already.
    return failure();
  NodeContext context(*this, node, nodeName(node, index), *version, opset,
                      loc);
  if (failed((*handler)(context)) || model.markerError)
    return failure();
  for (int i = 0; i < node.output_size(); ++i)
    if (!node.output(i).empty() && !values.count(node.output(i)))
      return context.emitError()
                 << "output #" << i << " '" << node.output(i)
                 << "' is not produced by tac's importer for this op",
             failure();
  return success();
}

LogicalResult GraphImporter::importNodes() {
  for (auto [index, node] : llvm::enumerate(graph.node()))
    if (failed(importNode(node, index)))
      return failure();
  return success();
}

FailureOr<SmallVector<OnnxValue>> GraphImporter::getOutputs() {
  SmallVector<OnnxValue> outputs;
  for (const onnx::ValueInfoProto &output : graph.output()) {
    FailureOr<OnnxValue> value = lookup(output.name(), model.fileLoc());
    if (failed(value))
      return failure();
    outputs.push_back(*value);
  }
  return outputs;
}

FailureOr<SmallVector<OnnxValue>> GraphImporter::importBranch(
    const onnx::GraphProto &branch, Block *block,
    ArrayRef<std::pair<std::string, OnnxValue>> bindings) {
  GraphImporter child(model, this, branch);
  for (const auto &[name, value] : bindings)
    child.values[name] = value;
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToEnd(block);
  if (failed(child.importNodes()))
    return failure();
  return child.getOutputs();
}

//===----------------------------------------------------------------------===//
// ModelImporter
//===----------------------------------------------------------------------===//

ModelImporter::ModelImporter(MLIRContext *context,
                             const OnnxImportOptions &options,
                             StringRef fileName)
    : context(context), options(options), fileName(fileName.str()),
      modelDir(llvm::sys::path::parent_path(fileName).str()),
      builder(context) {}

Location ModelImporter::fileLoc() {
  return FileLineColLoc::get(context, fileName, 0, 0);
}

Value ModelImporter::materializeConstant(ElementsAttr contents,
                                         Location loc) {
  OpBuilder::InsertionGuard guard(builder);
  if (lastConstant)
    builder.setInsertionPointAfter(lastConstant);
  else
    builder.setInsertionPointToStart(entryBlock);
  auto constant =
      arith::ConstantOp::create(builder, loc, cast<TypedAttr>(contents));
  lastConstant = constant;
  return constant;
}

/// Reports every node whose op the importer cannot handle, in this graph and
/// its subgraphs.
LogicalResult ModelImporter::checkSupport(const onnx::GraphProto &graph,
                                          int &unsupported) {
  for (auto [index, node] : llvm::enumerate(graph.node())) {
    for (const onnx::AttributeProto &attr : node.attribute()) {
      if (attr.has_g())
        (void)checkSupport(attr.g(), unsupported);
      for (const onnx::GraphProto &g : attr.graphs())
        (void)checkSupport(g, unsupported);
    }
    StringRef domain = node.domain() == "ai.onnx" ? StringRef() : StringRef(node.domain());
    Location loc = nodeLoc(node, index);
    std::string where = "node '" + GraphImporter::nodeName(node, index) + "'";
    auto opset = opsets.find(domain);
    if (opset == opsets.end()) {
      ++unsupported;
      mlir::emitError(loc) << "unsupported op '" << node.op_type()
                           << "' of domain '" << node.domain() << "' at "
                           << where
                           << ": the model imports no opset for that domain";
      continue;
    }
    StringRef opType = node.op_type();
    std::optional<int> version =
        domain.empty() ? onnxSinceVersion(opType, opset->second)
                       : std::nullopt;
    if (version && OpTable::get().lookup(opType, *version))
      continue;
    ++unsupported;
    InFlightDiagnostic diag = mlir::emitError(loc);
    diag << "unsupported op '" << opType << "' (domain '"
         << (domain.empty() ? "ai.onnx" : domain) << "', opset "
         << opset->second;
    if (version)
      diag << ", op version " << *version;
    diag << ") at " << where;
    if (!domain.empty()) {
      diag << ": tac imports only the default ONNX domain";
      continue;
    }
    if (!version) {
      diag << ": ONNX defines no such op at this opset";
      ArrayRef<int> spec = onnxSpecVersions(opType);
      if (!spec.empty())
        diag << " (it was added at opset " << spec.front() << ")";
      continue;
    }
    std::vector<int> handled = OpTable::get().versions(opType);
    if (handled.empty())
      diag << ": see docs/importer.md for the ops and versions tac imports";
    else if (*version > handled.back())
      diag << ": op version " << *version << " of '" << opType
           << "' is newer than tac imports; the newest it supports is "
           << handled.back();
    else
      diag << ": tac imports '" << opType << "' at op versions "
           << llvm::join(llvm::map_range(handled,
                                         [](int v) { return std::to_string(v); }),
                         ", ")
           << "; re-export the model at a newer opset or convert it with "
              "onnx.version_converter";
  }
  return success(unsupported == 0);
}

/// Parses the `tac.paths` value: a JSON list of lists of layer indices.
static FailureOr<SmallVector<SmallVector<int64_t>>>
parsePaths(StringRef text, std::string &error) {
  llvm::Expected<llvm::json::Value> json = llvm::json::parse(text);
  if (!json) {
    error = llvm::toString(json.takeError());
    return failure();
  }
  SmallVector<SmallVector<int64_t>> paths;
  const llvm::json::Array *outer = json->getAsArray();
  if (!outer) {
    error = "expected a list of paths";
    return failure();
  }
  for (const llvm::json::Value &p : *outer) {
    const llvm::json::Array *inner = p.getAsArray();
    if (!inner) {
      error = "expected each path to be a list of layer indices";
      return failure();
    }
    SmallVector<int64_t> &path = paths.emplace_back();
    for (const llvm::json::Value &i : *inner) {
      std::optional<int64_t> index = i.getAsInteger();
      if (!index) {
        error = "expected integer layer indices";
        return failure();
      }
      path.push_back(*index);
    }
  }
  return paths;
}

LogicalResult ModelImporter::readMetadata(const onnx::ModelProto &model,
                                          func::FuncOp func) {
  for (const onnx::StringStringEntryProto &entry : model.metadata_props()) {
    if (entry.key() == kPredictorKey)
      predictorOutput = entry.value();
    else if (entry.key() == kPolicyKey)
      policyOutput = entry.value();
    else if (entry.key() == kPathsKey) {
      std::string error;
      auto paths = parsePaths(entry.value(), error);
      if (failed(paths))
        return mlir::emitError(fileLoc())
                   << "metadata '" << kPathsKey << "' = '" << entry.value()
                   << "' is not a list of layer index lists such as "
                      "[[0, 1], [0, 1, 2, 3]]: "
                   << error,
               failure();
      auto emit = [&] { return mlir::emitError(fileLoc()); };
      SmallVector<DenseI64ArrayAttr> attrs;
      for (const SmallVector<int64_t> &path : *paths)
        attrs.push_back(DenseI64ArrayAttr::get(context, path));
      PathSetAttr set = PathSetAttr::getChecked(
          emit, context, ArrayRef<DenseI64ArrayAttr>(attrs));
      if (!set)
        return failure();
      func->setAttr(TacDialect::kPathsAttrName, set);
    }
  }
  return success();
}

FailureOr<OnnxValue>
ModelImporter::bindInput(const onnx::ValueInfoProto &input) {
  Location loc =
      NameLoc::get(StringAttr::get(context, input.name()), fileLoc());
  std::string path = options.boundInputs.lookup(input.name());
  auto file = llvm::MemoryBuffer::getFile(path);
  if (!file)
    return mlir::emitError(loc) << "--bind-input: cannot read '" << path
                                << "': " << file.getError().message(),
           failure();
  onnx::TensorProto tensor;
  if ((*file)->getBufferSize() > static_cast<size_t>(INT_MAX) ||
      !tensor.ParseFromArray((*file)->getBufferStart(),
                             static_cast<int>((*file)->getBufferSize())))
    return mlir::emitError(loc) << "--bind-input: '" << path
                                << "' is not an ONNX TensorProto file",
           failure();
  const auto &declared = input.type().tensor_type();
  if (declared.elem_type() != tensor.data_type())
    return mlir::emitError(loc)
               << "--bind-input gives '" << input.name() << "' a "
               << onnxTypeName(tensor.data_type())
               << " tensor, but the model declares "
               << onnxTypeName(declared.elem_type()),
           failure();
  if (declared.has_shape()) {
    bool mismatch = declared.shape().dim_size() != tensor.dims_size();
    for (int i = 0; !mismatch && i < tensor.dims_size(); ++i)
      mismatch = declared.shape().dim(i).has_dim_value() &&
                 declared.shape().dim(i).dim_value() != tensor.dims(i);
    if (mismatch)
      return mlir::emitError(loc)
                 << "--bind-input gives '" << input.name()
                 << "' a tensor whose shape contradicts the model's",
             failure();
  }
  DenseElementsAttr known;
  std::string error;
  // A bound input is known at import time whatever its size: that is its
  // purpose (shape operands, masks fixed at deployment).
  FailureOr<ElementsAttr> contents = convertTensorProto(
      tensor, context, modelDir, std::numeric_limits<int64_t>::max(), known,
      error);
  if (failed(contents))
    return mlir::emitError(loc) << "--bind-input: '" << path
                                << "' cannot be imported: " << error,
           failure();
  return OnnxValue{Value(), tensor.data_type(), known};
}

/// The static type of a graph input, with --input-shape applied.
static FailureOr<RankedTensorType>
getInputType(const onnx::ValueInfoProto &input,
             const OnnxImportOptions &options, MLIRContext *context,
             Location loc, int32_t &onnxType) {
  if (!input.type().has_tensor_type())
    return mlir::emitError(loc) << "graph input '" << input.name()
                                << "' is not a tensor; tac imports tensors "
                                   "only",
           failure();
  const onnx::TypeProto::Tensor &tensor = input.type().tensor_type();
  onnxType = tensor.elem_type();
  FailureOr<Type> element = convertElementType(onnxType, context);
  if (failed(element))
    return mlir::emitError(loc)
               << "graph input '" << input.name() << "' has element type "
               << onnxTypeName(onnxType) << ", which tac does not support",
           failure();

  auto given = options.inputShapes.find(input.name());
  SmallVector<int64_t> shape;
  if (given != options.inputShapes.end()) {
    shape = given->second;
    if (tensor.has_shape()) {
      const auto &dims = tensor.shape().dim();
      if (static_cast<size_t>(dims.size()) != shape.size())
        return mlir::emitError(loc)
                   << "--input-shape gives '" << input.name() << "' rank "
                   << shape.size() << ", but the model declares rank "
                   << dims.size(),
               failure();
      for (auto [i, dim] : llvm::enumerate(dims))
        if (dim.has_dim_value() && dim.dim_value() != shape[i])
          return mlir::emitError(loc)
                     << "--input-shape gives '" << input.name()
                     << "' dimension " << i << " = " << shape[i]
                     << ", but the model fixes it to " << dim.dim_value(),
                 failure();
    }
  } else {
    if (!tensor.has_shape())
      return mlir::emitError(loc)
                 << "graph input '" << input.name()
                 << "' has no shape; give one with --input-shape="
                 << input.name() << ":D0xD1x...",
             failure();
    for (auto [i, dim] : llvm::enumerate(tensor.shape().dim())) {
      if (!dim.has_dim_value() || dim.dim_value() < 0)
        return mlir::emitError(loc)
                   << "graph input '" << input.name() << "' has dynamic "
                   << "dimension " << i
                   << (dim.dim_param().empty()
                           ? std::string()
                           : " ('" + dim.dim_param() + "')")
                   << "; tac compiles static shapes: fix it with "
                      "--input-shape="
                   << input.name() << ":D0xD1x...",
               failure();
      shape.push_back(dim.dim_value());
    }
  }
  return RankedTensorType::get(shape, *element);
}

OwningOpRef<ModuleOp> ModelImporter::import(const onnx::ModelProto &model) {
  if (!model.has_graph())
    return mlir::emitError(fileLoc())
               << "the file is not an ONNX model: it has no graph",
           nullptr;
  for (const onnx::OperatorSetIdProto &opset : model.opset_import())
    opsets[opset.domain() == "ai.onnx" ? "" : opset.domain()] =
        opset.version();
  if (!opsets.count(""))
    return mlir::emitError(fileLoc())
               << "the model imports no opset of the default ONNX domain",
           nullptr;
  int64_t opset = opsets.lookup(""), maxOpset = getMaxOnnxOpset();
  if (opset > maxOpset || opset < 1)
    return mlir::emitError(fileLoc())
               << "the model imports opset " << opset
               << " of the default ONNX domain; tac knows ONNX's ops at "
                  "opsets 1 to "
               << maxOpset
               << " (convert the model with onnx.version_converter, or "
                  "re-export it at opset "
               << maxOpset << " or below)",
           nullptr;

  const onnx::GraphProto &graph = model.graph();
  int unsupported = 0;
  if (failed(checkSupport(graph, unsupported))) {
    mlir::emitError(fileLoc())
        << unsupported
        << (unsupported == 1 ? " node of the model uses an op"
                             : " nodes of the model use ops")
        << " tac cannot import (listed above)";
    return nullptr;
  }

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc());
  builder.setInsertionPointToEnd(module->getBody());

  // Graph inputs are the inputs that no initializer provides.
  llvm::StringSet<> initializerNames;
  for (const onnx::TensorProto &tensor : graph.initializer())
    initializerNames.insert(tensor.name());
  llvm::StringSet<> inputNameSet;
  for (const onnx::ValueInfoProto &input : graph.input())
    if (!initializerNames.contains(input.name()))
      inputNameSet.insert(input.name());
  for (const auto &entry : options.inputShapes)
    if (!inputNameSet.contains(entry.getKey()))
      return mlir::emitError(fileLoc())
                 << "--input-shape names '" << entry.getKey()
                 << "', which is not a graph input",
             nullptr;
  for (const auto &entry : options.boundInputs)
    if (!inputNameSet.contains(entry.getKey()))
      return mlir::emitError(fileLoc())
                 << "--bind-input names '" << entry.getKey()
                 << "', which is not a graph input",
             nullptr;

  SmallVector<Type> argTypes;
  SmallVector<int32_t> argOnnxTypes;
  SmallVector<Attribute> inputNames;
  SmallVector<std::pair<std::string, OnnxValue>> boundValues;
  for (const onnx::ValueInfoProto &input : graph.input()) {
    if (initializerNames.contains(input.name()))
      continue;
    if (options.boundInputs.count(input.name())) {
      FailureOr<OnnxValue> bound = bindInput(input);
      if (failed(bound))
        return nullptr;
      boundValues.emplace_back(input.name(), *bound);
      continue;
    }
    int32_t onnxType = 0;
    auto type = getInputType(input, options, context,
                             NameLoc::get(StringAttr::get(context, input.name()),
                                          fileLoc()),
                             onnxType);
    if (failed(type))
      return nullptr;
    argTypes.push_back(*type);
    argOnnxTypes.push_back(onnxType);
    inputNames.push_back(StringAttr::get(context, input.name()));
  }

  auto func = func::FuncOp::create(builder, fileLoc(), options.functionName,
                                   builder.getFunctionType(argTypes, {}));
  func->setAttr(TacDialect::kInputNamesAttrName, builder.getArrayAttr(inputNames));
  entryBlock = func.addEntryBlock();
  if (failed(readMetadata(model, func)))
    return nullptr;

  GraphImporter top(*this, nullptr, graph);
  builder.setInsertionPointToEnd(entryBlock);
  for (auto [i, name] : llvm::enumerate(inputNames))
    top.define(cast<StringAttr>(name).getValue(),
               OnnxValue{entryBlock->getArgument(i), argOnnxTypes[i], {}});
  for (auto &[name, value] : boundValues)
    top.define(name, value);
  if (markerError || failed(top.importNodes()))
    return nullptr;
  FailureOr<SmallVector<OnnxValue>> outputs = top.getOutputs();
  if (failed(outputs))
    return nullptr;

  SmallVector<Value> results;
  SmallVector<Attribute> outputNames;
  for (auto [output, value] : llvm::zip(graph.output(), *outputs)) {
    const auto &declared = output.type().tensor_type();
    FailureOr<Type> declaredElement =
        convertElementType(declared.elem_type(), context);
    if (output.type().has_tensor_type() && declared.elem_type() != 0 &&
        declared.elem_type() != value.onnxType &&
        (failed(declaredElement) ||
         *declaredElement != value.getElementType()))
      return mlir::emitError(fileLoc())
                 << "graph output '" << output.name() << "' is declared "
                 << onnxTypeName(declared.elem_type()) << " but computes "
                 << onnxTypeName(value.onnxType),
             nullptr;
    if (output.type().has_tensor_type() && declared.has_shape()) {
      const auto &dims = declared.shape().dim();
      bool mismatch = dims.size() != value.getRank();
      for (int i = 0; !mismatch && i < dims.size(); ++i)
        mismatch = dims[i].has_dim_value() &&
                   dims[i].dim_value() != value.getShape()[i];
      if (mismatch)
        return mlir::emitError(fileLoc())
                   << "graph output '" << output.name()
                   << "' computes shape " << value.getType()
                   << ", which contradicts the shape the model declares",
               nullptr;
    }
    results.push_back(value.value);
    outputNames.push_back(StringAttr::get(context, output.name()));
  }
  func::ReturnOp::create(builder, fileLoc(), results);
  func.setType(builder.getFunctionType(argTypes, ValueRange(results).getTypes()));
  func->setAttr(TacDialect::kOutputNamesAttrName, builder.getArrayAttr(outputNames));
  // MLIR integers are signless; the compiled file's signature keeps ONNX's
  // unsigned types (attributes only where one occurs).
  SmallVector<int64_t> unsignedInputs, unsignedOutputs;
  for (auto [i, type] : llvm::enumerate(argOnnxTypes))
    if (isOnnxUnsigned(type))
      unsignedInputs.push_back(i);
  for (auto [i, value] : llvm::enumerate(*outputs))
    if (isOnnxUnsigned(value.onnxType))
      unsignedOutputs.push_back(i);
  if (!unsignedInputs.empty())
    func->setAttr(TacDialect::kUnsignedInputsAttrName,
                  builder.getDenseI64ArrayAttr(unsignedInputs));
  if (!unsignedOutputs.empty())
    func->setAttr(TacDialect::kUnsignedOutputsAttrName,
                  builder.getDenseI64ArrayAttr(unsignedOutputs));

  if (!predictorOutput.empty() && !func->walk([](PredictorOutputOp) {
        return WalkResult::interrupt();
      }).wasInterrupted())
    return mlir::emitError(fileLoc())
               << "metadata '" << kPredictorKey << "' names '"
               << predictorOutput << "', which no node produces",
           nullptr;
  if (!policyOutput.empty() && !func->walk([](PolicyOutputOp) {
        return WalkResult::interrupt();
      }).wasInterrupted())
    return mlir::emitError(fileLoc())
               << "metadata '" << kPolicyKey << "' names '" << policyOutput
               << "', which no node produces",
           nullptr;

  if (failed(verify(*module)))
    return mlir::emitError(fileLoc())
               << "internal error: the imported module does not verify "
                  "(please report this with the model)",
           nullptr;
  return module;
}

//===----------------------------------------------------------------------===//
// Entry point
//===----------------------------------------------------------------------===//

/// ONNX text starts with '<' (the model header) after blanks and comments.
static bool looksLikeOnnxText(StringRef data) {
  StringRef rest = data.ltrim();
  while (rest.starts_with("#")) {
    rest = rest.drop_until([](char c) { return c == '\n'; }).ltrim();
  }
  return rest.starts_with("<");
}

OwningOpRef<ModuleOp> mlir::tac::importOnnxModel(
    llvm::MemoryBufferRef buffer, MLIRContext *context,
    const OnnxImportOptions &options) {
  GOOGLE_PROTOBUF_VERIFY_VERSION;
  StringRef fileName = buffer.getBufferIdentifier();
  Location fileLoc = FileLineColLoc::get(context, fileName, 0, 0);
  context->loadDialect<arith::ArithDialect, func::FuncDialect,
                       linalg::LinalgDialect, math::MathDialect,
                       scf::SCFDialect, tensor::TensorDialect, TacDialect>();

  onnx::ModelProto model;
  StringRef data = buffer.getBuffer();
  if (data.empty())
    return mlir::emitError(fileLoc) << "the file is empty, not an ONNX model",
           nullptr;
  if (looksLikeOnnxText(data)) {
    std::string text = data.str();
    std::string error;
    try {
      onnx::Status status = onnx::OnnxParser::Parse(model, text.c_str());
      if (!status.IsOK())
        error = status.ErrorMessage();
    } catch (const std::exception &e) {
      // libonnx's parser throws std::stof/stoi errors on malformed numbers.
      error = e.what();
      if (StringRef(error).starts_with("sto"))
        error = "a number is malformed (" + error + ")";
    }
    if (!error.empty())
      return mlir::emitError(fileLoc)
                 << "cannot parse the ONNX text model: " << error,
             nullptr;
  } else if (data.size() > static_cast<size_t>(INT_MAX) ||
             !model.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return mlir::emitError(fileLoc)
               << "cannot parse the file as an ONNX model: the protobuf is "
                  "malformed or truncated",
           nullptr;
  }
  ModelImporter importer(context, options, fileName);
  try {
    if (failed(inlineLocalFunctions(model, fileLoc)))
      return nullptr;
    return importer.import(model);
  } catch (const std::exception &e) {
    return mlir::emitError(fileLoc)
               << "internal error while importing: " << e.what(),
           nullptr;
  }
}
