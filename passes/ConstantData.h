//===- ConstantData.h - the bytes of constant tensors -----------*- C++ -*-===//
//
// Reading and making constant tensors as raw row-major bytes, for the passes
// that evaluate weight-only work at compile time (tac-fold-constants, and
// tac-fuse-elementwise's transposed accumulators).
//
//===----------------------------------------------------------------------===//

#ifndef TAC_PASSES_CONSTANTDATA_H
#define TAC_PASSES_CONSTANTDATA_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Value.h"

#include <optional>

namespace mlir::tac {

/// The bytes of a constant tensor, row-major (one element when splat).
struct ConstantData {
  ArrayRef<char> bytes;
  bool splat = false;
  RankedTensorType type;
  /// The resource that holds the bytes, if any (reshapes reuse it).
  std::optional<DenseResourceElementsHandle> resource;
  /// Bytes this constant takes in the file.
  int64_t storedBytes() const { return bytes.size(); }
};

/// Bytes per element of the types folding handles (whole bytes; not i1).
std::optional<int64_t> elementBytes(Type type);

/// `value`'s bytes when it is a constant of static shape whose elements
/// are whole bytes (inline or a resource blob).
std::optional<ConstantData> constantData(Value value);

/// A constant of `type` holding `bytes`: a new resource blob when any input
/// was a resource (the weights stay out of the IR text), else inline.
TypedAttr makeConstant(RankedTensorType type, ArrayRef<char> bytes,
                       std::optional<DenseResourceElementsHandle> like);

} // namespace mlir::tac

#endif // TAC_PASSES_CONSTANTDATA_H
