// tacm_format.h: the .tacm file layout shared by the writer (tac-compile) and
// the reader (libtacrt). Plain C++ and FlatBuffers only: no LLVM/MLIR. Not
// installed: applications see the file only through libtacrt's API.
//
// File layout (all integers little-endian):
//   [0, 64)            TacmHeader
//   [64, 64+meta)      the FlatBuffer (runtime/schema/tacm.fbs, root Model)
//   weights, code      sections at 64-byte aligned absolute offsets named in
//                      the FlatBuffer; padding bytes are zero
// The header checksum covers every byte after the header, so a flipped byte
// anywhere is caught before anything is parsed or executed.
#ifndef TACRT_TACM_FORMAT_H
#define TACRT_TACM_FORMAT_H

#include "tacrt/dtype.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tac::format {

inline constexpr char kMagic[4] = {'T', 'A', 'C', 'M'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kHeaderSize = 64;
inline constexpr size_t kSectionAlignment = 64;

struct TacmHeader {
  char magic[4];           // "TACM"
  uint32_t formatVersion;  // kFormatVersion of the writer
  uint64_t metadataOffset; // == kHeaderSize
  uint64_t metadataSize;
  uint64_t fileSize;       // total bytes; detects truncation
  uint64_t checksum;       // checksum64 of bytes [kHeaderSize, fileSize)
  char producer[24];       // "tac 0.1.0", NUL-padded
};
static_assert(sizeof(TacmHeader) == kHeaderSize, "header is 64 bytes");

/// A fast 64-bit checksum (not cryptographic) over `size` bytes.
uint64_t checksum64(const void *data, size_t size);

// ---- Writer-side description (what tac-compile fills in) ----------------


struct TensorSpecDesc {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
};

enum class Space : uint8_t { Arena = 0, Weights = 1, Input = 2 };

struct BufferRefDesc {
  Space space = Space::Arena;
  uint32_t index = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
};

enum class StepKind : uint8_t { Kernel = 0, Copy = 1 };

struct StepDesc {
  StepKind kind = StepKind::Kernel;
  uint32_t kernel = 0;
  std::vector<BufferRefDesc> args;
  uint64_t bytes = 0;
};

/// One arena allocation: bytes [offset, offset+size) hold one value from step
/// firstStep through lastStep, inclusive (see ArenaBuffer in tacm.fbs).
struct ArenaBufferDesc {
  uint64_t offset = 0;
  uint64_t size = 0;
  uint32_t firstStep = 0;
  uint32_t lastStep = 0;
};

struct PlanDesc {
  std::string name;
  int32_t path = -1;
  std::vector<int32_t> layers;
  std::vector<StepDesc> steps;
  uint64_t arenaBytes = 0;
  std::vector<BufferRefDesc> outputs;
  uint64_t flops = 0, bytesMoved = 0, paramBytes = 0, peakActivationBytes = 0;
  /// The compiler's arena allocation; the loader rejects plans whose live
  /// buffers overlap. Empty: not described, and not checked.
  std::vector<ArenaBufferDesc> buffers;
};

struct KernelDesc {
  std::string symbol;
  uint32_t numArgs = 0;
  /// A GEMM of tac's own (tacm.fbs, Kernel.gemm_precision): "f32", "bf16",
  /// "int8" by a weight so stored, "dynamic-f32" when both operands are
  /// computed at run time, "attention-f32" for a fused attention kernel
  /// (two such products); empty for every other kernel.
  std::string gemmPrecision;
};

struct CodeObjectDesc {
  std::string arch = "x86_64";
  std::string cpu;
  std::vector<std::string> features;
  std::vector<uint8_t> bytes; // the shared object
};

/// One launch of a GPU kernel entry (GpuLaunch in tacm.fbs).
struct GpuLaunchDesc {
  std::string entry;
  uint32_t grid[3] = {1, 1, 1};
  uint32_t block[3] = {1, 1, 1};
  uint32_t sharedBytes = 0;
  std::vector<uint32_t> args; // step argument index per pointer parameter
};

/// A (batched) f32 matrix product a kernel computes (GpuGemm in tacm.fbs).
struct GemmDesc {
  uint32_t aArg = 0, bArg = 1, cArg = 2;
  uint32_t batch = 1;
  uint64_t m = 0, n = 0, k = 0;
  bool aTrans = false, bTrans = false;
  uint64_t lda = 0, ldb = 0, ldc = 0;
  uint64_t strideA = 0, strideB = 0, strideC = 0;
  float beta = 1.0f;
};

/// The GPU form of one kernel (GpuKernel in tacm.fbs).
struct GpuKernelDesc {
  std::vector<GpuLaunchDesc> launches;
  bool hasGemm = false;
  GemmDesc gemm;
};

/// A CUDA code object: "fatbin" or "ptx" bytes.
struct GpuCodeObjectDesc {
  std::string format = "fatbin";
  std::vector<std::string> archs;
  std::vector<uint8_t> bytes;
};

/// The controller and variants compiled for `batch` rows per run
/// (tac-compile --batch-sizes; tacm.fbs BatchBucket).
struct BatchBucketDesc {
  uint32_t batch = 1;
  PlanDesc controller;            // when the model has one
  std::vector<PlanDesc> variants; // parallel to ModelDesc::variants
  /// Carried controller results computed from weights only: one value for
  /// all rows, not one per row.
  std::vector<uint32_t> sharedCarried;
};

struct ModelDesc {
  std::string producer;
  std::vector<TensorSpecDesc> inputs, outputs;
  std::vector<KernelDesc> kernels;
  std::vector<CodeObjectDesc> code;
  std::vector<uint8_t> weights;
  bool hasController = false;
  PlanDesc controller;
  uint32_t controllerPathOutput = 0;
  uint32_t numPaths = 0;
  /// The controller's last `carriedResults` outputs are extra inputs of
  /// every variant (tacm.fbs, Model.carried_results).
  uint32_t carriedResults = 0;
  std::vector<PlanDesc> variants;
  /// Extra batch sizes, ascending, each > 1 (the plans above run one row).
  std::vector<BatchBucketDesc> buckets;
  /// CUDA (empty: a CPU-only file): parallel to `kernels`, and the code.
  std::vector<GpuKernelDesc> gpuKernels;
  std::vector<GpuCodeObjectDesc> gpuCode;
};

/// Where variants' arena starts when the controller carries results (its
/// arena stays intact while the variant runs).
inline uint64_t variantArenaOffset(uint64_t controllerArenaBytes) {
  return (controllerArenaBytes + kSectionAlignment - 1) / kSectionAlignment *
         kSectionAlignment;
}

/// Serialises `model` to `path`. Returns false and sets `error` on failure.
bool writeTacm(const ModelDesc &model, const std::string &path,
               std::string *error);
/// Serialises `model` into bytes (what writeTacm writes).
std::vector<uint8_t> serializeTacm(const ModelDesc &model);

} // namespace tac::format

namespace tac::rt {
class Status;
/// Checks a plan's arena allocation (PlanDesc::buffers): every buffer lies in
/// [0, arenaBytes) with firstStep <= lastStep < steps; no two buffers whose
/// step ranges intersect share bytes; every Arena BufferRef a step uses (and
/// every Arena output, used at the last step) lies inside a buffer live at
/// that step. A plan without buffers passes (nothing to check). The loader
/// runs it on every plan; the compiler before writing a file.
Status verifyPlanMemory(const format::PlanDesc &plan);
} // namespace tac::rt

#endif // TACRT_TACM_FORMAT_H
