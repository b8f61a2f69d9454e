// dtype.h: the element types of tensors, shared by libtacrt's API and the
// .tacm file format.
#ifndef TACRT_DTYPE_H
#define TACRT_DTYPE_H

#include "tacrt/export.h"

#include <cstddef>
#include <cstdint>

namespace tac::format {

enum class DType : uint8_t { F32 = 0, F16, BF16, F64, I8, I16, I32, I64, U8, Bool,
                            U16, U32, U64 };
TACRT_API size_t dtypeSize(DType type);
TACRT_API const char *dtypeName(DType type);

} // namespace tac::format

#endif // TACRT_DTYPE_H
