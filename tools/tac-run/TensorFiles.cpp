#include "TensorFiles.h"

#include <optional>
#if TAC_RUN_ONNX_TENSORS
#include <onnx/onnx_pb.h>
#endif

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tac::run {

using rt::DType;
using rt::ErrorCode;
using rt::Expected;
using rt::Status;
using rt::Tensor;

namespace {
Status bad(const std::string &message) {
  return Status::error(ErrorCode::InvalidArgument, message);
}

bool readWholeFile(const std::string &path, std::string &bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  bytes = buffer.str();
  return true;
}

//===----------------------------------------------------------------------===//
// float16 / bfloat16 bits
//===----------------------------------------------------------------------===//

uint16_t floatToHalf(float value) {
  uint32_t f;
  std::memcpy(&f, &value, 4);
  uint32_t sign = (f >> 16) & 0x8000;
  int32_t exponent = static_cast<int32_t>((f >> 23) & 0xff) - 127 + 15;
  uint32_t mantissa = f & 0x7fffff;
  if (((f >> 23) & 0xff) == 0xff) // inf / nan
    return static_cast<uint16_t>(sign | 0x7c00 | (mantissa ? 0x200 : 0));
  if (exponent >= 31)
    return static_cast<uint16_t>(sign | 0x7c00);
  if (exponent <= 0) { // subnormal or zero
    if (exponent < -10)
      return static_cast<uint16_t>(sign);
    mantissa |= 0x800000;
    uint32_t shift = static_cast<uint32_t>(14 - exponent);
    uint32_t half = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1);
    uint32_t midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1)))
      ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(exponent) << 10) |
                  (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
    ++half; // may carry into the exponent: still correct
  return static_cast<uint16_t>(half);
}

float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  float magnitude;
  if (exponent == 0)
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 31)
    magnitude = mantissa ? NAN : INFINITY;
  else
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400),
                           static_cast<int>(exponent) - 25);
  return sign ? -magnitude : magnitude;
}

uint16_t floatToBfloat(float value) {
  uint32_t f;
  std::memcpy(&f, &value, 4);
  if (std::isnan(value))
    return 0x7fc0;
  f += 0x7fff + ((f >> 16) & 1); // round to nearest even
  return static_cast<uint16_t>(f >> 16);
}

float bfloatToFloat(uint16_t b) {
  uint32_t f = static_cast<uint32_t>(b) << 16;
  float value;
  std::memcpy(&value, &f, 4);
  return value;
}

//===----------------------------------------------------------------------===//
// .npy
//===----------------------------------------------------------------------===//

constexpr char kNpyMagic[] = "\x93NUMPY";

/// The value text after `'key':` in a .npy header dict.
std::string npyField(const std::string &header, const std::string &key) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos)
    return "";
  at = header.find(':', at);
  if (at == std::string::npos)
    return "";
  size_t begin = header.find_first_not_of(' ', at + 1);
  if (begin == std::string::npos)
    return "";
  char open = header[begin];
  if (open == '\'' || open == '"') {
    size_t end = header.find(open, begin + 1);
    return end == std::string::npos ? "" : header.substr(begin + 1, end - begin - 1);
  }
  if (open == '(') {
    size_t end = header.find(')', begin);
    return end == std::string::npos ? "" : header.substr(begin, end - begin + 1);
  }
  size_t end = header.find_first_of(",}", begin);
  return header.substr(begin, end == std::string::npos ? end : end - begin);
}

/// '<f4' and friends; the byte order must be little-endian or irrelevant.
bool npyDescrToDType(const std::string &descr, DType &dtype) {
  if (descr.size() < 3 || (descr[0] != '<' && descr[0] != '|' && descr[0] != '='))
    return false;
  std::string code = descr.substr(1);
  static const struct {
    const char *code;
    DType dtype;
  } table[] = {{"f2", DType::F16}, {"f4", DType::F32}, {"f8", DType::F64},
               {"i1", DType::I8},  {"i2", DType::I16}, {"i4", DType::I32},
               {"i8", DType::I64}, {"u1", DType::U8},  {"b1", DType::Bool},
               {"u2", DType::U16}, {"u4", DType::U32}, {"u8", DType::U64}};
  for (const auto &entry : table)
    if (code == entry.code) {
      dtype = entry.dtype;
      return true;
    }
  return false;
}

const char *npyDescr(DType dtype) {
  switch (dtype) {
  case DType::F16: return "<f2";
  case DType::BF16: return "<u2"; // NumPy has no bfloat16: raw bits
  case DType::F32: return "<f4";
  case DType::F64: return "<f8";
  case DType::I8: return "|i1";
  case DType::I16: return "<i2";
  case DType::I32: return "<i4";
  case DType::I64: return "<i8";
  case DType::U8: return "|u1";
  case DType::Bool: return "|b1";
  case DType::U16: return "<u2";
  case DType::U32: return "<u4";
  case DType::U64: return "<u8";
  }
  return "|V1";
}

Expected<Tensor> readNpy(const std::string &path, const std::string &bytes) {
  auto fail = [&](const std::string &what) {
    return bad("'" + path + "' is not a readable .npy file: " + what);
  };
  if (bytes.size() < 10 || bytes.compare(0, 6, kNpyMagic) != 0)
    return fail("it lacks the \\x93NUMPY magic");
  uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t headerLength, headerStart;
  if (major == 1) {
    headerLength = static_cast<uint8_t>(bytes[8]) |
                   static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8;
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return fail("the header is cut off");
    headerLength = 0;
    for (int i = 3; i >= 0; --i)
      headerLength = headerLength << 8 | static_cast<uint8_t>(bytes[8 + i]);
    headerStart = 12;
  } else {
    return fail("format version " + std::to_string(major) + " is unknown");
  }
  if (headerStart + headerLength > bytes.size())
    return fail("the header is cut off");
  std::string header = bytes.substr(headerStart, headerLength);

  std::string descr = npyField(header, "descr");
  DType dtype;
  if (!npyDescrToDType(descr, dtype))
    return fail("dtype '" + descr + "' is not supported (use little-endian "
                "float16/32/64, int8/16/32/64, uint8 or bool)");
  if (npyField(header, "fortran_order") != "False")
    return fail("it is Fortran-ordered; save a C-ordered array "
                "(np.ascontiguousarray)");
  std::string shapeText = npyField(header, "shape");
  if (shapeText.size() < 2 || shapeText.front() != '(')
    return fail("the shape is missing");
  std::vector<int64_t> shape;
  std::istringstream dims(shapeText.substr(1, shapeText.size() - 2));
  std::string dim;
  while (std::getline(dims, dim, ',')) {
    size_t begin = dim.find_first_not_of(' ');
    if (begin == std::string::npos)
      continue;
    char *end = nullptr;
    long long value = std::strtoll(dim.c_str() + begin, &end, 10);
    if (value < 0 || (*end && *end != ' ' && *end != 'L'))
      return fail("the shape '" + shapeText + "' is malformed");
    shape.push_back(value);
  }

  // The header's size must match the payload before anything is allocated:
  // a small file must not make the reader reserve what its header claims.
  size_t dataStart = headerStart + headerLength;
  std::optional<uint64_t> need = rt::tensorBytes(dtype, shape);
  if (!need)
    return fail("its shape " + rt::describeType(dtype, shape) +
                " is too large to address");
  if (bytes.size() - dataStart != *need)
    return fail("it holds " + std::to_string(bytes.size() - dataStart) +
                " bytes of data, but " + rt::describeType(dtype, shape) +
                " needs " + std::to_string(*need));
  Expected<Tensor> tensor = Tensor::allocate(dtype, shape);
  if (!tensor)
    return tensor.status();
  std::memcpy(tensor->data(), bytes.data() + dataStart, tensor->byteSize());
  return tensor;
}

//===----------------------------------------------------------------------===//
// TensorProto
//===----------------------------------------------------------------------===//

#if TAC_RUN_ONNX_TENSORS
Expected<Tensor> readTensorProto(const std::string &path,
                                 const std::string &bytes) {
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes))
    return bad("'" + path + "' is neither a .npy file nor an ONNX "
               "TensorProto (.pb); save inputs with numpy.save or "
               "onnx.numpy_helper.from_array");
  if (proto.data_location() == onnx::TensorProto::EXTERNAL)
    return bad("'" + path + "' keeps its data in an external file; save the "
               "tensor with its data inline");
  DType dtype;
  switch (proto.data_type()) {
  case onnx::TensorProto::FLOAT: dtype = DType::F32; break;
  case onnx::TensorProto::FLOAT16: dtype = DType::F16; break;
  case onnx::TensorProto::BFLOAT16: dtype = DType::BF16; break;
  case onnx::TensorProto::DOUBLE: dtype = DType::F64; break;
  case onnx::TensorProto::INT8: dtype = DType::I8; break;
  case onnx::TensorProto::INT16: dtype = DType::I16; break;
  case onnx::TensorProto::INT32: dtype = DType::I32; break;
  case onnx::TensorProto::INT64: dtype = DType::I64; break;
  case onnx::TensorProto::UINT8: dtype = DType::U8; break;
  case onnx::TensorProto::BOOL: dtype = DType::Bool; break;
  case onnx::TensorProto::UINT16: dtype = DType::U16; break;
  case onnx::TensorProto::UINT32: dtype = DType::U32; break;
  case onnx::TensorProto::UINT64: dtype = DType::U64; break;
  default:
    return bad("'" + path + "' holds ONNX data type " +
               std::to_string(proto.data_type()) +
               ", which tac models do not take");
  }
  std::vector<int64_t> shape(proto.dims().begin(), proto.dims().end());
  std::optional<uint64_t> need = rt::tensorBytes(dtype, shape);
  if (!need)
    return bad("'" + path + "': its shape " + rt::describeType(dtype, shape) +
               " is invalid or too large to address");
  size_t bytesWanted = *need;
  size_t count = bytesWanted / rt::dtypeSize(dtype);
  auto mismatch = [&](size_t have) {
    return bad("'" + path + "' holds " + std::to_string(have) +
               " values, but its shape " + rt::describeType(dtype, shape) +
               " needs " + std::to_string(count));
  };
  // The values present must match the shape before anything is allocated.
  size_t have = 0;
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != bytesWanted)
      return mismatch(proto.raw_data().size() / rt::dtypeSize(dtype));
    have = count;
  } else if (dtype == DType::F32) {
    have = proto.float_data_size();
  } else if (dtype == DType::F64) {
    have = proto.double_data_size();
  } else if (dtype == DType::I64) {
    have = proto.int64_data_size();
  } else if (dtype == DType::U32 || dtype == DType::U64) {
    have = proto.uint64_data_size();
  } else {
    have = proto.int32_data_size();
  }
  if (have != count)
    return mismatch(have);
  Expected<Tensor> tensor = Tensor::allocate(dtype, shape);
  if (!tensor)
    return tensor.status();
  uint8_t *out = static_cast<uint8_t *>(tensor->data());
  if (bytesWanted == 0) // an empty tensor: no bytes (and null pointers) to copy
    return tensor;
  if (proto.has_raw_data()) {
    std::memcpy(out, proto.raw_data().data(), bytesWanted);
    return tensor;
  }
  // Typed fields: each ONNX type has its storage field.
  switch (dtype) {
  case DType::F32:
    if (static_cast<size_t>(proto.float_data_size()) != count)
      return mismatch(proto.float_data_size());
    std::memcpy(out, proto.float_data().data(), bytesWanted);
    break;
  case DType::F64:
    if (static_cast<size_t>(proto.double_data_size()) != count)
      return mismatch(proto.double_data_size());
    std::memcpy(out, proto.double_data().data(), bytesWanted);
    break;
  case DType::I64:
    if (static_cast<size_t>(proto.int64_data_size()) != count)
      return mismatch(proto.int64_data_size());
    std::memcpy(out, proto.int64_data().data(), bytesWanted);
    break;
  case DType::U32:
  case DType::U64: {
    if (static_cast<size_t>(proto.uint64_data_size()) != count)
      return mismatch(proto.uint64_data_size());
    size_t width = rt::dtypeSize(dtype);
    for (size_t i = 0; i < count; ++i) {
      uint64_t value = proto.uint64_data(static_cast<int>(i));
      std::memcpy(out + i * width, &value, width); // little-endian low bytes
    }
    break;
  }
  default: {
    // int32_data holds every narrower type, one value per element (the
    // 16-bit floats as their bits).
    if (static_cast<size_t>(proto.int32_data_size()) != count)
      return mismatch(proto.int32_data_size());
    size_t width = rt::dtypeSize(dtype);
    for (size_t i = 0; i < count; ++i) {
      int32_t value = proto.int32_data(static_cast<int>(i));
      std::memcpy(out + i * width, &value, width); // little-endian low bytes
    }
  }
  }
  return tensor;
}
#else
// Built without ONNX's protobuf classes (the runtime-only build for edge
// devices, docs/edge.md): .npy only.
Expected<Tensor> readTensorProto(const std::string &path, const std::string &) {
  return bad("'" + path + "' is not a .npy file, and this tac-run was built "
             "without ONNX TensorProto (.pb) support; save inputs with "
             "numpy.save");
}
#endif
} // namespace

Expected<Tensor> readTensorFile(const std::string &path) {
  std::string bytes;
  if (!readWholeFile(path, bytes))
    return bad("cannot read '" + path + "': " + std::strerror(errno));
  if (bytes.compare(0, 6, kNpyMagic) == 0 ||
      (path.size() >= 4 && path.compare(path.size() - 4, 4, ".npy") == 0))
    return readNpy(path, bytes);
  return readTensorProto(path, bytes);
}

Status writeNpy(const Tensor &tensor, const std::string &path) {
  std::string shape = "(";
  for (int64_t dim : tensor.shape())
    shape += std::to_string(dim) + ", ";
  if (tensor.shape().size() == 1)
    shape.resize(shape.size() - 1); // "(4,)"
  else if (!tensor.shape().empty())
    shape.resize(shape.size() - 2);
  shape += ")";
  std::string header = std::string("{'descr': '") + npyDescr(tensor.dtype()) +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Magic (6) + version (2) + length (2) + header + '\n', padded to 64.
  size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
  header.append(total - 10 - header.size() - 1, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  char prefix[10] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0,
                     static_cast<char>(header.size() & 0xff),
                     static_cast<char>(header.size() >> 8)};
  out.write(prefix, sizeof(prefix));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char *>(tensor.data()),
            static_cast<std::streamsize>(tensor.byteSize()));
  out.close();
  if (!out)
    return bad("cannot write '" + path + "': " + std::strerror(errno));
  return Status::success();
}

Expected<Tensor> randomTensor(const rt::TensorSpec &spec,
                              std::mt19937_64 &rng) {
  Expected<Tensor> tensor = Tensor::allocate(spec.dtype, spec.shape);
  if (!tensor)
    return tensor;
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  size_t count = tensor->byteSize() / rt::dtypeSize(spec.dtype);
  void *data = tensor->data();
  for (size_t i = 0; i < count; ++i) {
    int bit = static_cast<int>(rng() & 1);
    switch (spec.dtype) {
    case DType::F32: static_cast<float *>(data)[i] = unit(rng); break;
    case DType::F64: static_cast<double *>(data)[i] = unit(rng); break;
    case DType::F16: static_cast<uint16_t *>(data)[i] = floatToHalf(unit(rng)); break;
    case DType::BF16: static_cast<uint16_t *>(data)[i] = floatToBfloat(unit(rng)); break;
    case DType::I8: static_cast<int8_t *>(data)[i] = static_cast<int8_t>(bit); break;
    case DType::I16: static_cast<int16_t *>(data)[i] = static_cast<int16_t>(bit); break;
    case DType::I32: static_cast<int32_t *>(data)[i] = bit; break;
    case DType::I64: static_cast<int64_t *>(data)[i] = bit; break;
    case DType::U8:
    case DType::Bool: static_cast<uint8_t *>(data)[i] = static_cast<uint8_t>(bit); break;
    case DType::U16: static_cast<uint16_t *>(data)[i] = static_cast<uint16_t>(bit); break;
    case DType::U32: static_cast<uint32_t *>(data)[i] = static_cast<uint32_t>(bit); break;
    case DType::U64: static_cast<uint64_t *>(data)[i] = static_cast<uint64_t>(bit); break;
    }
  }
  return tensor;
}

std::string formatValues(const Tensor &tensor, size_t limit) {
  size_t count = tensor.byteSize() / rt::dtypeSize(tensor.dtype());
  std::ostringstream out;
  out.precision(6);
  out << '[';
  const void *data = tensor.data();
  for (size_t i = 0; i < count && i < limit; ++i) {
    if (i)
      out << ", ";
    switch (tensor.dtype()) {
    case DType::F32: out << static_cast<const float *>(data)[i]; break;
    case DType::F64: out << static_cast<const double *>(data)[i]; break;
    case DType::F16: out << halfToFloat(static_cast<const uint16_t *>(data)[i]); break;
    case DType::BF16: out << bfloatToFloat(static_cast<const uint16_t *>(data)[i]); break;
    case DType::I8: out << int(static_cast<const int8_t *>(data)[i]); break;
    case DType::I16: out << static_cast<const int16_t *>(data)[i]; break;
    case DType::I32: out << static_cast<const int32_t *>(data)[i]; break;
    case DType::I64: out << static_cast<const int64_t *>(data)[i]; break;
    case DType::U8: out << int(static_cast<const uint8_t *>(data)[i]); break;
    case DType::Bool:
      out << (static_cast<const uint8_t *>(data)[i] ? "true" : "false");
      break;
    case DType::U16: out << static_cast<const uint16_t *>(data)[i]; break;
    case DType::U32: out << static_cast<const uint32_t *>(data)[i]; break;
    case DType::U64: out << static_cast<const uint64_t *>(data)[i]; break;
    }
  }
  if (count > limit)
    out << ", ... (" << count << " values)";
  out << ']';
  return out.str();
}

} // namespace tac::run
