//===- TacAttrs.cpp - tac attributes --------------------------------------===//

#include "dialects/Tac/TacDialect.h"

#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/DenseSet.h"

using namespace mlir;
using namespace mlir::tac;

//===----------------------------------------------------------------------===//
// PathSetAttr
//===----------------------------------------------------------------------===//

PathSetAttr PathSetAttr::get(MLIRContext *context,
                             ArrayRef<SmallVector<int64_t>> paths) {
  SmallVector<DenseI64ArrayAttr> attrs;
  attrs.reserve(paths.size());
  for (const SmallVector<int64_t> &path : paths)
    attrs.push_back(DenseI64ArrayAttr::get(context, path));
  return PathSetAttr::get(context, attrs);
}

LogicalResult
PathSetAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                    ArrayRef<DenseI64ArrayAttr> paths) {
  if (paths.empty())
    return emitError() << "path set must hold at least one path, but is empty";
  for (auto [i, path] : llvm::enumerate(paths)) {
    if (!path)
      return emitError() << "path " << i << " is null";
    llvm::SmallDenseSet<int64_t> seen;
    for (int64_t layer : path.asArrayRef()) {
      if (layer < 0)
        return emitError() << "path " << i
                           << " has layer index " << layer
                           << "; expected a non-negative index";
      if (!seen.insert(layer).second)
        return emitError() << "path " << i << " visits layer " << layer
                           << " twice; expected each layer at most once";
    }
    for (size_t j = 0; j < i; ++j)
      if (paths[j] == path)
        return emitError() << "path " << i << " duplicates path " << j
                           << "; expected distinct paths";
  }
  return success();
}

size_t PathSetAttr::resolveSelector(const APInt &selector) const {
  if (selector.getActiveBits() > 64 || selector.getZExtValue() >= getNumPaths())
    return getNumPaths() - 1;
  return static_cast<size_t>(selector.getZExtValue());
}

std::optional<size_t> PathSetAttr::getStaticPath(Value selector) const {
  if (getNumPaths() == 1)
    return 0;
  APInt value;
  if (selector && matchPattern(selector, m_ConstantInt(&value)))
    return resolveSelector(value);
  return std::nullopt;
}

int64_t PathSetAttr::getMaxLayerIndex() const {
  int64_t maxIndex = -1;
  for (DenseI64ArrayAttr path : getPaths())
    for (int64_t layer : path.asArrayRef())
      maxIndex = std::max(maxIndex, layer);
  return maxIndex;
}

// #tac.paths<[0, 1], [0, 1, 2]>
Attribute PathSetAttr::parse(AsmParser &parser, Type) {
  MLIRContext *context = parser.getContext();
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<SmallVector<int64_t>> paths;
  auto parsePath = [&]() -> ParseResult {
    SmallVector<int64_t> &path = paths.emplace_back();
    return parser.parseCommaSeparatedList(
        AsmParser::Delimiter::Square, [&]() -> ParseResult {
          return parser.parseInteger(path.emplace_back());
        });
  };
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::LessGreater,
                                     parsePath))
    return {};
  SmallVector<DenseI64ArrayAttr> attrs;
  for (const SmallVector<int64_t> &path : paths)
    attrs.push_back(DenseI64ArrayAttr::get(context, path));
  return parser.getChecked<PathSetAttr>(loc, context,
                                        ArrayRef<DenseI64ArrayAttr>(attrs));
}

void PathSetAttr::print(AsmPrinter &printer) const {
  printer << '<';
  llvm::interleaveComma(getPaths(), printer, [&](DenseI64ArrayAttr path) {
    printer << '[';
    llvm::interleaveComma(path.asArrayRef(), printer);
    printer << ']';
  });
  printer << '>';
}

//===----------------------------------------------------------------------===//
// CostAttr
//===----------------------------------------------------------------------===//

LogicalResult CostAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               int64_t flops, int64_t bytesMoved,
                               int64_t paramBytes, int64_t peakActivationBytes,
                               int64_t naiveActivationBytes) {
  for (auto [name, value] :
       {std::pair<StringRef, int64_t>{"flops", flops},
        {"bytes_moved", bytesMoved},
        {"param_bytes", paramBytes},
        {"peak_activation_bytes", peakActivationBytes},
        {"naive_activation_bytes", naiveActivationBytes}})
    if (value < 0)
      return emitError() << "cost field '" << name << "' is " << value
                         << "; expected a non-negative count";
  return success();
}
