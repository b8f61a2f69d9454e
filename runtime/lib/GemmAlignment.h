// The byte alignment of a GEMM operand on the device, for cuBLASLt's
// MIN_ALIGNMENT preferences (CudaExecutor::setUpGemms). cuBLASLt assumes
// 256-byte aligned operands unless told otherwise, and may then pick an
// algorithm whose vector loads fault or read wrongly on a slice that starts
// 64 bytes into a buffer (one attention head of a fused QKV projection).
#ifndef TACRT_LIB_GEMMALIGNMENT_H
#define TACRT_LIB_GEMMALIGNMENT_H

#include <cstdint>

namespace tac::rt {

/// The largest power of two, at most 256 (what cuMemAlloc guarantees for a
/// buffer's start), dividing every address an operand takes: `offset` bytes
/// into a buffer, plus i * `strideBytes` for each of `batch` entries.
inline uint32_t gemmOperandAlignment(uint64_t offset, uint64_t strideBytes,
                                     uint64_t batch) {
  uint64_t bits = offset | 256;
  if (batch > 1)
    bits |= strideBytes;
  return static_cast<uint32_t>(bits & (~bits + 1));
}

} // namespace tac::rt

#endif // TACRT_LIB_GEMMALIGNMENT_H
