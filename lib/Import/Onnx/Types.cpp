//===- Types.cpp - ONNX element types and tensors -------------------------===//

#include "ImportState.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::tac::onnx_import;
using onnx::TensorProto;

FailureOr<Type> mlir::tac::onnx_import::convertElementType(int32_t onnxType,
                                                           MLIRContext *ctx) {
  Builder b(ctx);
  switch (onnxType) {
  case TensorProto::FLOAT: return b.getF32Type();
  case TensorProto::DOUBLE: return b.getF64Type();
  case TensorProto::FLOAT16: return b.getF16Type();
  case TensorProto::BFLOAT16: return b.getBF16Type();
  case TensorProto::BOOL: return b.getI1Type();
  case TensorProto::INT8: case TensorProto::UINT8: return b.getIntegerType(8);
  case TensorProto::INT16: case TensorProto::UINT16: return b.getIntegerType(16);
  case TensorProto::INT32: case TensorProto::UINT32: return b.getIntegerType(32);
  case TensorProto::INT64: case TensorProto::UINT64: return b.getIntegerType(64);
  default: return failure();
  }
}

std::string mlir::tac::onnx_import::onnxTypeName(int32_t onnxType) {
  if (TensorProto::DataType_IsValid(onnxType))
    return TensorProto::DataType_Name(
        static_cast<TensorProto::DataType>(onnxType));
  // Added to onnx.proto after libonnx 1.12 (IR versions 9 and later).
  static const char *const newer[] = {
      "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ",
      "UINT4",        "INT4",           "FLOAT4E2M1", "FLOAT8E8M0",
      "UINT2",        "INT2"};
  if (onnxType >= 17 && onnxType < 17 + static_cast<int32_t>(std::size(newer)))
    return newer[onnxType - 17];
  return "type #" + std::to_string(onnxType);
}

bool mlir::tac::onnx_import::isOnnxFloat(int32_t t) {
  return t == TensorProto::FLOAT || t == TensorProto::DOUBLE ||
         t == TensorProto::FLOAT16 || t == TensorProto::BFLOAT16;
}
bool mlir::tac::onnx_import::isOnnxUnsigned(int32_t t) {
  return t == TensorProto::UINT8 || t == TensorProto::UINT16 ||
         t == TensorProto::UINT32 || t == TensorProto::UINT64;
}
int32_t mlir::tac::onnx_import::onnxTypeOf(Type t) {
  if (t.isF32()) return TensorProto::FLOAT;
  if (t.isF64()) return TensorProto::DOUBLE;
  if (t.isF16()) return TensorProto::FLOAT16;
  if (t.isBF16()) return TensorProto::BFLOAT16;
  if (t.isInteger(1)) return TensorProto::BOOL;
  if (t.isInteger(8)) return TensorProto::INT8;
  if (t.isInteger(16)) return TensorProto::INT16;
  if (t.isInteger(32)) return TensorProto::INT32;
  if (t.isInteger(64)) return TensorProto::INT64;
  return TensorProto::UNDEFINED;
}

namespace {
/// Bytes of one element in ONNX's raw_data layout.
int64_t rawElementSize(int32_t t) {
  switch (t) {
  case TensorProto::BOOL: case TensorProto::INT8: case TensorProto::UINT8:
    return 1;
  case TensorProto::INT16: case TensorProto::UINT16: case TensorProto::FLOAT16:
  case TensorProto::BFLOAT16:
    return 2;
  case TensorProto::INT32: case TensorProto::UINT32: case TensorProto::FLOAT:
    return 4;
  default:
    return 8;
  }
}

/// Appends `value` as `size` little-endian bytes (the host is little-endian,
/// as ONNX's raw_data).
template <typename T>
void appendBytes(std::string &bytes, T value, int64_t size) {
  bytes.append(reinterpret_cast<const char *>(&value), size);
}

/// The tensor's contents in raw_data layout, from whichever field holds them.
LogicalResult collectBytes(const TensorProto &tensor, StringRef modelDir,
                           int64_t numElements, std::string &bytes,
                           std::string &error) {
  int32_t t = tensor.data_type();
  int64_t elementSize = rawElementSize(t);
  int64_t expected = 0;
  if (__builtin_mul_overflow(numElements, elementSize, &expected)) {
    error = "its size in bytes overflows 64 bits";
    return failure();
  }
  if (tensor.data_location() == TensorProto::EXTERNAL) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto &entry : tensor.external_data()) {
      if (entry.key() == "location")
        location = entry.value();
      else if (entry.key() == "offset" &&
               StringRef(entry.value()).getAsInteger(10, offset))
        return error = "its external data offset '" + entry.value() +
                       "' is not a number", failure();
      else if (entry.key() == "length" &&
               StringRef(entry.value()).getAsInteger(10, length))
        return error = "its external data length '" + entry.value() +
                       "' is not a number", failure();
    }
    if (location.empty()) {
      error = "its external data has no 'location'";
      return failure();
    }
    if (offset < 0)
      return error = "its external data offset " + std::to_string(offset) +
                     " is negative", failure();
    // External data lives in the model's directory (ONNX Runtime's rule
    // too): a model from elsewhere must not read /etc/passwd or ../secrets.
    if (llvm::sys::path::is_absolute(location) ||
        llvm::is_contained(llvm::make_range(llvm::sys::path::begin(location),
                                            llvm::sys::path::end(location)),
                           ".."))
      return error = "its external data location '" + location +
                     "' leaves the model's directory; external data must be "
                     "a relative path inside it (no absolute path, no '..')",
             failure();
    SmallString<256> path(modelDir.empty() ? StringRef(".") : modelDir);
    llvm::sys::path::append(path, location);
    SmallString<256> realDir, realFile;
    if (!llvm::sys::fs::real_path(path, realFile) &&
        !llvm::sys::fs::real_path(modelDir.empty() ? StringRef(".") : modelDir,
                                  realDir) &&
        !StringRef(realFile).starts_with(
            (realDir + llvm::sys::path::get_separator()).str()))
      return error = "its external data location '" + location +
                     "' resolves (through a symbolic link) to '" +
                     realFile.str().str() +
                     "', outside the model's directory; copy the data next "
                     "to the model",
             failure();
    if (length < 0)
      length = expected;
    auto file = llvm::MemoryBuffer::getFileSlice(path, length, offset);
    if (!file) {
      error = "cannot read its external data from '" + path.str().str() +
              "' (offset " + std::to_string(offset) + ", length " +
              std::to_string(length) + "): " + file.getError().message();
      return failure();
    }
    bytes.assign((*file)->getBufferStart(), (*file)->getBufferSize());
  } else if (tensor.has_raw_data()) {
    bytes = tensor.raw_data();
  } else {
    switch (t) {
    case TensorProto::FLOAT:
      for (float v : tensor.float_data()) appendBytes(bytes, v, 4);
      break;
    case TensorProto::DOUBLE:
      for (double v : tensor.double_data()) appendBytes(bytes, v, 8);
      break;
    case TensorProto::INT64:
      for (int64_t v : tensor.int64_data()) appendBytes(bytes, v, 8);
      break;
    case TensorProto::UINT32: case TensorProto::UINT64:
      for (uint64_t v : tensor.uint64_data()) appendBytes(bytes, v, elementSize);
      break;
    default: // int32_data holds every narrower type, float16 as bits too.
      for (int32_t v : tensor.int32_data()) appendBytes(bytes, v, elementSize);
      break;
    }
  }
  if (static_cast<int64_t>(bytes.size()) != expected) {
    error = "it holds " + std::to_string(bytes.size()) + " bytes of data, but " +
            std::to_string(numElements) + " elements of " + onnxTypeName(t) +
            " need " + std::to_string(expected);
    return failure();
  }
  return success();
}
} // namespace

FailureOr<ElementsAttr> mlir::tac::onnx_import::convertTensorProto(
    const TensorProto &tensor, MLIRContext *ctx, StringRef modelDir,
    int64_t inlineLimit, DenseElementsAttr &known, std::string &error) {
  known = {};
  FailureOr<Type> elementType = convertElementType(tensor.data_type(), ctx);
  if (failed(elementType)) {
    error = "its element type " + onnxTypeName(tensor.data_type()) +
            " is not supported";
    return failure();
  }
  SmallVector<int64_t> shape(tensor.dims().begin(), tensor.dims().end());
  int64_t numElements = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      error = "it has a negative dimension";
      return failure();
    }
    if (__builtin_mul_overflow(numElements, d, &numElements)) {
      error = "its dimensions' product overflows 64 bits";
      return failure();
    }
  }
  std::string bytes;
  if (failed(collectBytes(tensor, modelDir, numElements, bytes, error)))
    return failure();
  auto type = RankedTensorType::get(shape, *elementType);

  if (elementType->isInteger(1)) {
    // MLIR packs booleans; ONNX stores one byte each.
    SmallVector<bool> values(bytes.begin(), bytes.end());
    for (bool &v : values) v = v != 0;
    known = DenseElementsAttr::get(type, ArrayRef<bool>(values));
    return cast<ElementsAttr>(known);
  }
  if (numElements <= inlineLimit) {
    bool splat = false;
    if (!DenseElementsAttr::isValidRawBuffer(type, ArrayRef<char>(bytes.data(), bytes.size()), splat)) {
      error = "its data does not match its type";
      return failure();
    }
    known = DenseElementsAttr::getFromRawBuffer(
        type, ArrayRef<char>(bytes.data(), bytes.size()));
    return cast<ElementsAttr>(known);
  }
  std::string blobName = tensor.name().empty() ? "onnx_tensor" : tensor.name();
  AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
      ArrayRef<char>(bytes.data(), bytes.size()), alignof(uint64_t));
  return cast<ElementsAttr>(
      DenseResourceElementsAttr::get(type, blobName, std::move(blob)));
}
