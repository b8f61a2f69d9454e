//===- TacDialect.cpp - tac dialect registration --------------------------===//

#include "dialects/Tac/TacDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::tac;

#include "dialects/Tac/TacDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/Tac/TacAttrs.cpp.inc"

/// What a `tac.*` discardable attribute must hold, and on what.
namespace {
enum class Holder { Function, Module };
struct AttrRule {
  StringRef name;
  Holder holder;
  /// Describes the expected value for messages ("an integer", ...).
  StringRef expected;
  bool (*accepts)(Attribute);
};
} // namespace

static bool isInteger(Attribute attr) { return isa<IntegerAttr>(attr); }
static bool isString(Attribute attr) { return isa<StringAttr>(attr); }
static bool isIndexArray(Attribute attr) {
  return isa<DenseI64ArrayAttr>(attr);
}
static bool isStringArray(Attribute attr) {
  auto array = dyn_cast<ArrayAttr>(attr);
  return array && llvm::all_of(array, isString);
}
static bool isSymbolArray(Attribute attr) {
  auto array = dyn_cast<ArrayAttr>(attr);
  return array && llvm::all_of(array, llvm::IsaPred<FlatSymbolRefAttr>);
}
static bool isSymbol(Attribute attr) { return isa<FlatSymbolRefAttr>(attr); }
static bool isPathSet(Attribute attr) { return isa<PathSetAttr>(attr); }
static bool isCost(Attribute attr) { return isa<CostAttr>(attr); }

static ArrayRef<AttrRule> getAttrRules() {
  using D = TacDialect;
  static const AttrRule rules[] = {
      {D::kInputNamesAttrName, Holder::Function, "an array of strings",
       isStringArray},
      {D::kOutputNamesAttrName, Holder::Function, "an array of strings",
       isStringArray},
      {D::kUnsignedInputsAttrName, Holder::Function, "array<i64>",
       isIndexArray},
      {D::kUnsignedOutputsAttrName, Holder::Function, "array<i64>",
       isIndexArray},
      {D::kPathsAttrName, Holder::Function, "#tac.paths", isPathSet},
      {D::kPathAttrName, Holder::Function, "an integer", isInteger},
      {D::kLayersAttrName, Holder::Function, "array<i64>", isIndexArray},
      {D::kVariantsAttrName, Holder::Function, "an array of symbols",
       isSymbolArray},
      {D::kControllerAttrName, Holder::Function, "a symbol", isSymbol},
      {D::kRoleAttrName, Holder::Function, "a string", isString},
      {D::kCarriedResultsAttrName, Holder::Function, "an integer", isInteger},
      {D::kNumPathsAttrName, Holder::Function, "an integer", isInteger},
      {D::kBatchAttrName, Holder::Function, "an integer", isInteger},
      {D::kSharedCarriedAttrName, Holder::Function, "array<i64>",
       isIndexArray},
      {D::kCostAttrName, Holder::Function, "#tac.cost", isCost},
      {D::kCostNoteAttrName, Holder::Function, "a string", isString},
      {D::kArenaBytesAttrName, Holder::Module, "an integer", isInteger},
  };
  return rules;
}

LogicalResult TacDialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attribute) {
  StringRef name = attribute.getName().strref();
  const AttrRule *rule = llvm::find_if(
      getAttrRules(), [&](const AttrRule &r) { return r.name == name; });
  if (rule == getAttrRules().end())
    return op->emitError() << "unknown tac attribute '" << name
                           << "'; the tac dialect declares its attributes "
                              "(see the dialect reference)";
  bool onFunction = isa<FunctionOpInterface>(op);
  bool onModule = isa<ModuleOp>(op);
  if ((rule->holder == Holder::Function && !onFunction) ||
      (rule->holder == Holder::Module && !onModule))
    return op->emitError()
           << "'" << name << "' is set on '" << op->getName() << "'; expected it on a "
           << (rule->holder == Holder::Function ? "function" : "module");
  if (!rule->accepts(attribute.getValue()))
    return op->emitError() << "'" << name << "' is " << attribute.getValue()
                           << "; expected " << rule->expected;
  return success();
}

void TacDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/Tac/TacAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/Tac/TacOps.cpp.inc"
      >();
}
