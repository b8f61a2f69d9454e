//===- QuantizeLookupTables.cpp - reduced-precision embedding tables ------===//
//
// A model's largest weight is often a table it only looks rows up in: a
// word embedding (Gather in ONNX) is 47 of MiniLM's 90 MB. No GEMM reads it,
// so packGemmWeights leaves it f32. Under tac-compile --precision this
// stores such tables in the precision asked for and widens each value as it
// is looked up:
//
//   bf16: the f32's top 16 bits (rounded to nearest even), widened by a
//         shift;
//   int8: per row (every dim but the last), symmetric, 8 bits: the row's
//         largest magnitude / 127 as its scale, kept in f32.
//
// A table qualifies when it is an f32 constant of rank >= 2 and at least
// kMinBytes whose every use is a tensor.extract. Tables a controller reads
// stay f32 in every function, so that the path a row takes, and what the
// variants recompute of the controller, never change.
//
//===----------------------------------------------------------------------===//

#include "tac/Backend/Backend.h"

#include "dialects/Tac/TacDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cmath>
#include <cstring>
#include <map>
#include <set>

using namespace mlir;
using namespace mlir::tac;

namespace {

/// Smaller tables are not worth a conversion per lookup.
constexpr int64_t kMinBytes = 64 * 1024;

/// The f32 values of a constant, or nothing when they cannot be read.
std::optional<std::vector<float>> valuesOf(Attribute value, int64_t count) {
  std::vector<float> out(count);
  if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
    if (!dense.getElementType().isF32())
      return std::nullopt;
    llvm::copy(dense.getValues<float>(), out.begin());
    return out;
  }
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || blob->getData().size() != count * sizeof(float))
      return std::nullopt;
    std::memcpy(out.data(), blob->getData().data(), count * sizeof(float));
    return out;
  }
  return std::nullopt;
}

/// A table in reduced precision: the stored values, and for int8 the
/// per-row scales.
struct ReducedTable {
  DenseElementsAttr values, scales;
};

ReducedTable reduce(RankedTensorType type, ArrayRef<float> table,
                    WeightPrecision precision) {
  MLIRContext *context = type.getContext();
  ArrayRef<int64_t> shape = type.getShape();
  if (precision == WeightPrecision::BF16) {
    std::vector<int16_t> halves(table.size());
    for (auto [i, value] : llvm::enumerate(table))
      halves[i] = int16_t(roundToBf16(value));
    return {DenseElementsAttr::get(
                RankedTensorType::get(shape, IntegerType::get(context, 16)),
                ArrayRef<int16_t>(halves)),
            {}};
  }
  int64_t width = shape.back(), rows = table.size() / width;
  std::vector<int8_t> values(table.size());
  std::vector<float> scales(rows);
  for (int64_t r = 0; r < rows; ++r) {
    ArrayRef<float> row = table.slice(r * width, width);
    float largest = 0;
    for (float x : row)
      largest = std::max(largest, std::abs(x));
    // (non-finite values never get here: int8 tables holding one are refused)
    float scale = largest > 0 ? largest / 127 : 1.0f;
    for (int64_t c = 0; c < width; ++c)
      values[r * width + c] =
          int8_t(std::clamp<long>(std::lround(row[c] / scale), -127, 127));
    scales[r] = scale;
  }
  return {DenseElementsAttr::get(
              RankedTensorType::get(shape, IntegerType::get(context, 8)),
              ArrayRef<int8_t>(values)),
          DenseElementsAttr::get(
              RankedTensorType::get(shape.drop_back(), Float32Type::get(context)),
              ArrayRef<float>(scales))};
}

/// Whether `constant` is a lookup table: large f32, rank >= 2, only read by
/// tensor.extract.
bool isLookupTable(arith::ConstantOp constant) {
  auto type = dyn_cast<RankedTensorType>(constant.getType());
  if (!type || !type.hasStaticShape() || type.getRank() < 2 ||
      !type.getElementType().isF32() ||
      type.getNumElements() * 4 < kMinBytes || constant->use_empty())
    return false;
  return llvm::all_of(constant->getUses(), [](OpOperand &use) {
    auto extract = dyn_cast<tensor::ExtractOp>(use.getOwner());
    return extract && use.getOperandNumber() == 0;
  });
}

bool isController(func::FuncOp func) {
  auto role = func->getAttrOfType<StringAttr>(TacDialect::kRoleAttrName);
  return role && role.getValue() == "controller";
}

} // namespace

LogicalResult mlir::tac::quantizeLookupTables(ModuleOp module,
                                              WeightPrecision precision) {
  if (precision == WeightPrecision::F32)
    return success();
  std::set<const void *> controllerTables;
  module.walk([&](arith::ConstantOp constant) {
    auto func = constant->getParentOfType<func::FuncOp>();
    if (func && isController(func))
      controllerTables.insert(constant.getValue().getAsOpaquePointer());
  });
  std::map<const void *, ReducedTable> reduced; // one copy per table
  SmallVector<arith::ConstantOp> tables;
  module.walk([&](arith::ConstantOp constant) {
    if (isLookupTable(constant) &&
        !controllerTables.count(constant.getValue().getAsOpaquePointer()))
      tables.push_back(constant);
  });
  for (arith::ConstantOp constant : tables) {
    auto type = cast<RankedTensorType>(constant.getType());
    const void *key = constant.getValue().getAsOpaquePointer();
    auto found = reduced.find(key);
    if (found == reduced.end()) {
      std::optional<std::vector<float>> values =
          valuesOf(constant.getValue(), type.getNumElements());
      if (!values)
        continue; // not readable here: stays f32
      if (precision == WeightPrecision::Int8 &&
          !llvm::all_of(*values, [](float x) { return std::isfinite(x); }))
        return constant.emitError("--precision=int8: this lookup table holds a "
                                  "NaN or an infinity, which int8 cannot "
                                  "store; fix the model's weights, or use "
                                  "--precision=bf16 or f32");
      found = reduced.emplace(key, reduce(type, *values, precision)).first;
    }
    const ReducedTable &table = found->second;
    OpBuilder builder(constant);
    Location loc = constant.getLoc();
    Value stored = arith::ConstantOp::create(builder, loc, table.values);
    Value scales;
    if (table.scales)
      scales = arith::ConstantOp::create(builder, loc, table.scales);
    for (OpOperand &use : llvm::make_early_inc_range(constant->getUses())) {
      auto extract = cast<tensor::ExtractOp>(use.getOwner());
      builder.setInsertionPoint(extract);
      Location at = extract.getLoc();
      SmallVector<Value> indices(extract.getIndices());
      Value element = tensor::ExtractOp::create(builder, at, stored, indices);
      Value widened;
      if (scales) { // int8: value * its row's scale
        Value scale = tensor::ExtractOp::create(
            builder, at, scales, ArrayRef<Value>(indices).drop_back());
        Value asFloat = arith::SIToFPOp::create(builder, at,
                                                builder.getF32Type(), element);
        widened = arith::MulFOp::create(builder, at, asFloat, scale);
      } else { // bf16: the f32 whose top half these bits are
        Value word = arith::ExtUIOp::create(builder, at, builder.getI32Type(),
                                            element);
        Value shift = arith::ConstantOp::create(builder, at,
                                                builder.getI32IntegerAttr(16));
        Value bits = arith::ShLIOp::create(builder, at, word, shift);
        widened =
            arith::BitcastOp::create(builder, at, builder.getF32Type(), bits);
      }
      extract.replaceAllUsesWith(widened);
      extract.erase();
    }
    constant.erase();
  }
  return success();
}
