//===- ImportState.h - what ONNX op handlers see ----------------*- C++ -*-===//
//
// Internal to the ONNX importer. A GraphImporter walks one ONNX graph (the
// model's, or an If branch) and, for each node, hands a NodeContext to the
// handler registered for the node's op type and schema version. Handlers
// build upstream MLIR ops and define the node's outputs.
//
//===----------------------------------------------------------------------===//

#ifndef TAC_LIB_IMPORT_ONNX_IMPORTSTATE_H
#define TAC_LIB_IMPORT_ONNX_IMPORTSTATE_H

#include "tac/Import/OnnxImporter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/StringMap.h"

// onnx_pb.h defines ONNX_API, then includes onnx/onnx-ml.pb.h.
#include <onnx/onnx_pb.h>

#include <functional>
#include <map>
#include <optional>

namespace mlir::tac::onnx_import {

class GraphImporter;
class ModelImporter;

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

/// A tensor of the ONNX graph as imported.
struct OnnxValue {
  /// The MLIR value: always a ranked tensor with a static shape. Null only
  /// inside the graph's table for a known value not yet used as a value.
  Value value;
  /// The ONNX element type (onnx::TensorProto_DataType): MLIR integers are
  /// signless, so signedness lives here.
  int32_t onnxType = 0;
  /// The contents when known at import time (constants, folded shape
  /// arithmetic); null otherwise.
  DenseElementsAttr known;

  RankedTensorType getType() const {
    return value ? cast<RankedTensorType>(value.getType())
                 : cast<RankedTensorType>(known.getType());
  }
  ArrayRef<int64_t> getShape() const { return getType().getShape(); }
  int64_t getRank() const { return getType().getRank(); }
  Type getElementType() const { return getType().getElementType(); }
};

//===----------------------------------------------------------------------===//
// Element types (Types.cpp)
//===----------------------------------------------------------------------===//

/// The MLIR element type of an ONNX element type; failure for types tac does
/// not support (string, complex, ...).
FailureOr<Type> convertElementType(int32_t onnxType, MLIRContext *context);
/// "FLOAT", "INT64", ... for messages.
std::string onnxTypeName(int32_t onnxType);
bool isOnnxFloat(int32_t onnxType);
bool isOnnxUnsigned(int32_t onnxType);
/// The ONNX element type that `type` imports from, for values a handler
/// creates (signed for integers, except i1 which is BOOL).
int32_t onnxTypeOf(Type elementType);

/// Converts a TensorProto (inline or external data) into an attribute:
/// DenseElementsAttr up to `inlineLimit` elements, else a dense_resource
/// blob. `modelDir` resolves external data. `known` receives the contents
/// when inline.
FailureOr<ElementsAttr> convertTensorProto(const onnx::TensorProto &tensor,
                                           MLIRContext *context,
                                           StringRef modelDir,
                                           int64_t inlineLimit,
                                           DenseElementsAttr &known,
                                           std::string &error);

//===----------------------------------------------------------------------===//
// Node context
//===----------------------------------------------------------------------===//

/// What a handler sees of the node it imports.
class NodeContext {
public:
  NodeContext(GraphImporter &graph, const onnx::NodeProto &node,
              std::string name, int sinceVersion, int64_t opset,
              Location loc);

  GraphImporter &graph;
  const onnx::NodeProto &node;
  /// The node's name, or "<op type>#<index>" for an unnamed node.
  const std::string name;
  OpBuilder &builder;
  /// The schema version in force (`since_version` of the op's schema).
  const int sinceVersion;
  /// The model's opset for the node's domain.
  const int64_t opset;
  const Location loc;

  MLIRContext *getContext() const { return builder.getContext(); }
  const std::string &opType() const { return node.op_type(); }

  // Inputs. ONNX marks an omitted optional input with an empty name.
  size_t numInputs() const { return node.input_size(); }
  bool hasInput(size_t i) const;
  /// The i-th input; reports an error if it is absent. Without
  /// `materialize`, a value known at import time may come back with a null
  /// `value` (use it to fold without leaving dead constants).
  FailureOr<OnnxValue> input(size_t i, bool materialize = true);
  /// The i-th input's contents, which must be known at import time (shape
  /// operands, axes); reports an error naming `what` otherwise.
  FailureOr<DenseElementsAttr> knownInput(size_t i, StringRef what);
  /// Known integer input as int64 values (shapes, axes, indices).
  FailureOr<SmallVector<int64_t>> knownIntsInput(size_t i, StringRef what);

  // Outputs.
  size_t numOutputs() const { return node.output_size(); }
  bool hasOutput(size_t i) const;
  /// Defines output `i` (ignored when the node leaves it unnamed).
  void setOutput(size_t i, Value value, int32_t onnxType);
  /// Defines output `i` as a constant known at import time; the constant is
  /// materialised at the function entry.
  void setKnownOutput(size_t i, DenseElementsAttr contents, int32_t onnxType);

  // Attributes.
  const onnx::AttributeProto *attr(StringRef name) const;
  int64_t intAttr(StringRef name, int64_t defaultValue) const;
  float floatAttr(StringRef name, float defaultValue) const;
  std::string stringAttr(StringRef name, StringRef defaultValue) const;
  std::optional<SmallVector<int64_t>> intsAttr(StringRef name) const;

  /// Starts an error located at the node, prefixed with its op and name.
  InFlightDiagnostic emitError();
  /// emitError() << message, as a failure.
  LogicalResult fail(const Twine &message);

  /// Normalises an axis in [-rank, rank) to [0, rank); reports otherwise.
  FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank,
                                   StringRef what = "axis");
};

//===----------------------------------------------------------------------===//
// Op table (OpTable.cpp)
//===----------------------------------------------------------------------===//

using OpHandler = std::function<LogicalResult(NodeContext &)>;

class OpTable {
public:
  /// Registers `handler` for `opType` at each schema version in `versions`.
  void add(StringRef opType, std::initializer_list<int> versions,
           OpHandler handler);
  /// The handler for (opType, sinceVersion) in the default domain, or null.
  const OpHandler *lookup(StringRef opType, int sinceVersion) const;
  /// The versions of `opType` with a handler, ascending; empty if none.
  std::vector<int> versions(StringRef opType) const;
  std::vector<OnnxOpSupport> list() const;

  static const OpTable &get();

private:
  std::map<std::string, std::map<int, OpHandler>> handlers;
};

//===----------------------------------------------------------------------===//
// ONNX's specification (SpecVersions.cpp)
//===----------------------------------------------------------------------===//

/// Every since_version of `opType` in ONNX's default domain up to
/// getMaxOnnxOpset(), ascending; empty for an op ONNX does not define.
ArrayRef<int> onnxSpecVersions(StringRef opType);
/// The since_version of `opType` in force at `opset`: the largest one not
/// above it; nullopt if ONNX defines no such op at that opset.
std::optional<int> onnxSinceVersion(StringRef opType, int64_t opset);

//===----------------------------------------------------------------------===//
// Model-local functions (Functions.cpp)
//===----------------------------------------------------------------------===//

/// Replaces every call of one of `model`'s local functions (in the graph,
/// its If branches and function bodies) by the function's body; reports at
/// `fileLoc` and fails on recursion, calls that do not fit the function,
/// and functions that import other opsets than the model.
LogicalResult inlineLocalFunctions(onnx::ModelProto &model, Location fileLoc);

// Each file of handlers registers its ops.
void registerElementwiseOps(OpTable &table);
void registerShapeOps(OpTable &table);
void registerNNOps(OpTable &table);
void registerResizeOps(OpTable &table);
void registerControlFlowOps(OpTable &table);

//===----------------------------------------------------------------------===//
// Graph importer (OnnxImporter.cpp)
//===----------------------------------------------------------------------===//

/// Imports the nodes of one graph at the builder's insertion point. Scopes
/// nest: an If branch sees the values of the graphs that enclose it.
class GraphImporter {
public:
  GraphImporter(ModelImporter &model, GraphImporter *parent,
                const onnx::GraphProto &graph);

  ModelImporter &model;
  GraphImporter *const parent;
  const onnx::GraphProto &graph;
  OpBuilder &builder;

  /// Looks a tensor up by name in this graph and the enclosing ones. With
  /// `materialize`, initializers and folded values get their constant op on
  /// first use; without, only `known` may be read.
  FailureOr<OnnxValue> lookup(StringRef name, Location useLoc,
                              bool materialize = true);
  /// Defines (or, for bindings of a branch, shadows) a name in this scope.
  void define(StringRef name, OnnxValue value);
  /// Imports every node of the graph, in order.
  LogicalResult importNodes();
  /// The values of the graph's outputs, after importNodes().
  FailureOr<SmallVector<OnnxValue>> getOutputs();

  /// Imports `branch` (an If branch) into `block` (which the caller created,
  /// with the insertion point set inside it), with `bindings` shadowing outer
  /// names. Returns the branch's output values.
  FailureOr<SmallVector<OnnxValue>>
  importBranch(const onnx::GraphProto &branch, Block *block,
               ArrayRef<std::pair<std::string, OnnxValue>> bindings);

  /// A node's name, or "<op type>#<index in its graph>" when unnamed.
  static std::string nodeName(const onnx::NodeProto &node, int index);

private:
  LogicalResult importNode(const onnx::NodeProto &node, int index);

  llvm::StringMap<OnnxValue> values;
  llvm::StringMap<const onnx::TensorProto *> initializers;
};

/// Model-wide state: the module, options, opsets, constant placement.
class ModelImporter {
public:
  ModelImporter(MLIRContext *context, const OnnxImportOptions &options,
                StringRef fileName);

  /// Imports `model` into a new module, or reports and returns null.
  OwningOpRef<ModuleOp> import(const onnx::ModelProto &model);

  MLIRContext *context;
  const OnnxImportOptions &options;
  std::string fileName, modelDir;
  OpBuilder builder;
  /// Opset per domain ("" for the default ONNX domain).
  llvm::StringMap<int64_t> opsets;
  /// The tensors the controller metadata names.
  std::string predictorOutput, policyOutput;
  /// Set when a metadata-named tensor has the wrong type (reported).
  bool markerError = false;

  /// Creates `arith.constant contents` at the function entry (constants
  /// dominate every use, in branches too).
  Value materializeConstant(ElementsAttr contents, Location loc);
  /// Location for model-level messages.
  Location fileLoc();
  /// Location of a node: its name in the model file.
  Location nodeLoc(const onnx::NodeProto &node, int index);

private:
  LogicalResult checkSupport(const onnx::GraphProto &graph, int &unsupported);
  /// The value of a graph input frozen by --bind-input.
  FailureOr<OnnxValue> bindInput(const onnx::ValueInfoProto &input);
  LogicalResult readMetadata(const onnx::ModelProto &model,
                             func::FuncOp func);

  Block *entryBlock = nullptr;
  Operation *lastConstant = nullptr;
};

} // namespace mlir::tac::onnx_import

#endif // TAC_LIB_IMPORT_ONNX_IMPORTSTATE_H
