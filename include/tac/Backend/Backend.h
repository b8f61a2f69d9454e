//===- Backend.h - kernels + plans, CPU code, the .tacm file -----*- C++ -*-===//
//
// The back half of tac-compile: from the adaptive passes' output (the
// controller and one function per variant, at tensor level) to a .tacm
// file the runtime executes:
//
//   buildKernelsPipeline   (tac/Pipelines) tensor IR -> fused linalg ->
//                          bufferized host functions calling kernels
//   buildPlan              replays one host function at compile time into a
//                          flat plan of steps over arena/weight/input offsets,
//                          with a liveness-based arena
//   compileCpuKernels      kernels -> LLVM -> native shared object
//   buildModelDesc         everything above, as the file's description
//
//===----------------------------------------------------------------------===//

#ifndef TAC_BACKEND_BACKEND_H
#define TAC_BACKEND_BACKEND_H

#include "tacm_format.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringMap.h"

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace mlir {
class OpPassManager;
namespace linalg {
class LinalgOp;
} // namespace linalg
namespace func {
class FuncOp;
} // namespace func
} // namespace mlir

namespace mlir::tac {

namespace format = ::tac::format;

/// The weight section: each memref.global's bytes at a 64-byte aligned
/// offset, added the first time a plan reads it.
class WeightTable {
public:
  explicit WeightTable(ModuleOp module) : module(module) {}
  /// The byte offset of global `name`, serialising it on first use.
  FailureOr<uint64_t> offsetOf(StringRef name, Location loc);
  std::vector<uint8_t> takeBytes() { return std::move(bytes); }

private:
  ModuleOp module;
  llvm::StringMap<uint64_t> offsets;
  std::vector<uint8_t> bytes;
};

/// How GEMM weights are stored (tac-compile --precision, docs/precision.md):
/// f32; bf16 (widened to f32 as they are multiplied); or int8 per output
/// channel, with each row of the other operand quantised to uint8 when the
/// GEMM runs and the products summed in int32.
enum class WeightPrecision { F32, BF16, Int8 };

/// "f32", "bf16", "int8".
llvm::StringRef precisionName(WeightPrecision precision);

/// The bf16 bits of `value`, rounded to nearest even (a NaN stays a NaN).
uint16_t roundToBf16(float value);

/// How a GEMM kernel reads its weight when packGemmWeights stored it packed
/// (PackedGemm.c): how many packed matrices apart consecutive outer-loop
/// and batch matrices are (0: all share one), and in which precision.
struct PackedWeight {
  int64_t outerStride = 0, batchStride = 0;
  WeightPrecision precision = WeightPrecision::F32;
  /// f32 only: call PackedGemm.c's recording entry, which also notes each
  /// k's largest |A| (tac-compile --calibration's first build).
  bool record = false;
  /// int8 only: the matrices hold A-multipliers (tac_sgemm_packed_int8_
  /// smoothed; a --calibration build).
  bool smoothed = false;
};

/// One packed GEMM matrix, the same in every build of a module: the offset
/// of its weight before packing, its k and n, and its index (outer matrix
/// major) within a stacked weight.
using PackedMatrixKey = std::tuple<uint64_t, uint64_t, uint64_t, int64_t>;

/// Per packed matrix, the largest |A[r][k]| the calibration inputs gave
/// each k (tac-compile --calibration).
using ActivationRanges = std::map<PackedMatrixKey, std::vector<float>>;

/// What packGemmWeights does for tac-compile --calibration (docs/precision.md,
/// "Calibration"): a first, f32 build records the activation ranges, a
/// second, int8 build moves each channel's range into the weights.
struct GemmCalibration {
  /// First build: every packed f32 GEMM calls the recording entry, and
  /// `recorded` receives each packed matrix's offset in the final weights.
  bool record = false;
  std::map<uint64_t, PackedMatrixKey> recorded;
  /// Second build: the ranges the first one's runs recorded.
  const ActivationRanges *ranges = nullptr;
  /// Out, second build: int8 matrices that had ranges, of all int8 ones.
  int64_t calibratedMatrices = 0, int8Matrices = 0;
};

/// The kernel symbols plans call, numbered in first-use order.
struct KernelTable {
  std::vector<std::string> symbols;
  std::vector<uint32_t> numArgs;
  /// Whether some call passes overlapping buffers (no `noalias` then).
  std::vector<bool> mayAlias;
  /// Per kernel, when every call's B operand is a packed weight; empty
  /// until packGemmWeights runs.
  std::vector<std::optional<PackedWeight>> packedWeights;
  llvm::StringMap<uint32_t> index;
};

/// Replays host function `func` (after buildKernelsPipeline) into a plan.
FailureOr<format::PlanDesc> buildPlan(func::FuncOp func, WeightTable &weights,
                                      KernelTable &kernels);

/// Interchanges every linalg op's loops into the order `chooseOrder` gives
/// (new position -> old loop; empty: leave the op), generalising named ops
/// first. Each backend picks the order its code generation wants.
void reorderLinalgLoops(
    ModuleOp module,
    function_ref<SmallVector<unsigned>(linalg::LinalgOp)> chooseOrder);

/// Runs an external tool (the C compiler driver, ptxas, fatbinary); on
/// failure the error names it and quotes its output.
LogicalResult runTool(StringRef program, ArrayRef<StringRef> args,
                      Location loc);

/// A module holding a public copy of every kernel in `kernels`, each
/// argument at offset 0 (the runtime passes each view's first element).
FailureOr<OwningOpRef<ModuleOp>> extractKernelModule(ModuleOp module,
                                                     const KernelTable &kernels);

/// The (batched) GEMM a kernel computes when its only op is an f32
/// multiply-add contraction over plainly strided operands: row-major
/// A (M x K) times B (K x N) accumulated into C, each input possibly
/// transposed. Both backends call a library for these (BLAS, cuBLASLt).
/// With `outer`, a batch whose dims do not collapse into one strided run
/// (per-row attention over a slice of a fused QKV tensor) may instead split
/// off its outermost dim: the GEMM batch then repeats `outer->count` times,
/// `outer->stride*` elements apart (the CPU's BLAS bridge loops over it).
struct GemmOuterLoop {
  int64_t count = 1;
  int64_t strideA = 0, strideB = 0, strideC = 0;
};
std::optional<format::GemmDesc>
recogniseGemm(func::FuncOp kernel, GemmOuterLoop *outer = nullptr);

/// Stores the weight operand (B) of every CPU GEMM kernel whose calls all
/// multiply by a constant weight in the layout tac's own GEMM micro-kernel
/// streams (PackedGemm.c: panels of 16 columns), points the plans' steps at
/// the packed copies, drops weight bytes no step reads any more, and
/// records the packed kernels in `kernels.packedWeights` (and each GEMM's
/// precision in `model.kernels`). Weights are stored in `precision`, except
/// those of kernels a controller calls: they stay f32, so that precision
/// never changes which path runs. GEMMs of two computed operands stay f32.
/// For CPU-only files: CUDA kernels read the same weights unpacked.
LogicalResult packGemmWeights(ModuleOp module, format::ModelDesc &model,
                              KernelTable &kernels,
                              WeightPrecision precision = WeightPrecision::F32,
                              GemmCalibration *calibration = nullptr);

/// Under a reduced precision, stores every lookup table (a large f32
/// constant only read element by element: embeddings, ONNX Gather) in that
/// precision, widening each value as it is read: bf16 by a shift, int8 by
/// its row's f32 scale. For the tensor-level IR, before
/// buildKernelsPipeline; tables a controller reads stay f32.
LogicalResult quantizeLookupTables(ModuleOp module, WeightPrecision precision);

/// One CPU level to compile the kernels for.
struct CpuTarget {
  std::string arch = "x86_64";       // the runtime's name for the machine
  std::string triple = "x86_64-unknown-linux-gnu";
  std::string cpu;                   // LLVM CPU name ("x86-64-v3", "skylake")
  std::string llvmFeatures;          // "+avx2,+fma,..."
  std::vector<std::string> features; // names the runtime checks
};

/// Resolves "host" (this machine's CPU and features), an LLVM x86-64 CPU
/// name, "aarch64" (ARMv8-A with NEON) or "aarch64:<LLVM AArch64 CPU>" into
/// a target; `extraFeatures` ("+sve", "-avx512f") are LLVM feature
/// switches on top. Fails on an unknown CPU or feature.
FailureOr<CpuTarget> resolveCpuTarget(StringRef name,
                                      ArrayRef<std::string> extraFeatures = {});

/// How CPU kernels that are one GEMM (recogniseGemm) compute it.
enum class CpuGemms {
  /// tac's micro-kernel (PackedGemm.c): by weights packed at compile time
  /// (packGemmWeights), other operands packed as they are multiplied.
  Packed,
  /// The system BLAS (cblas_sgemm) on x86-64; generated loops elsewhere.
  Blas,
  /// Generated loops, like every other kernel.
  Generated,
};

/// Compiles every `tac_kernel_*` function of `module` (after
/// buildKernelsPipeline) into a shared object exporting
/// `void <symbol>(void *const *args)` for each symbol in `kernels`, its
/// GEMM kernels computed as `gemms` says. Kernels with a packed weight
/// (KernelTable::packedWeights) call tac's micro-kernel whatever `gemms`.
FailureOr<std::vector<uint8_t>>
compileCpuKernels(ModuleOp module, const KernelTable &kernels,
                  const CpuTarget &target, CpuGemms gemms = CpuGemms::Packed);

/// What the CUDA backend compiles for (docs/cuda.md).
struct CudaTarget {
  /// Chips with a cubin each; the newest also gets embedded PTX.
  std::vector<std::string> chips = {"sm_80", "sm_87", "sm_90"};
  /// PTX ISA feature: the NVPTX default (+ptx60) aborts for sm_90.
  std::string ptxFeatures = "+ptx80";
  /// CUDA toolkit (libdevice, ptxas, fatbinary); empty: $CUDA_HOME, else
  /// /usr/local/cuda.
  std::string toolkitPath;
  /// Embed the oldest chip's PTX only (no ptxas/fatbinary).
  bool ptxOnly = false;
};

/// The CUDA form of a KernelTable.
struct CudaKernels {
  std::vector<format::GpuKernelDesc> kernels; // parallel to KernelTable
  std::vector<format::GpuCodeObjectDesc> code;
  /// (chip, PTX text) per chip, in CudaTarget::chips order.
  std::vector<std::pair<std::string, std::string>> ptx;
  /// Remarks for the user (e.g. PTX only because ptxas is missing).
  std::vector<std::string> notes;
};

/// Compiles every kernel in `kernels` (functions of `module` after
/// buildKernelsPipeline) to CUDA: launch descriptions, GEMM descriptions for
/// cuBLASLt, and a fatbin (or PTX) holding every entry.
FailureOr<CudaKernels> compileCudaKernels(ModuleOp module,
                                          const KernelTable &kernels,
                                          const CudaTarget &target);

struct BackendOptions {
  /// Code to produce: CPU shared objects, CUDA kernels, or both.
  bool cpu = true;
  bool cuda = false;
  CudaTarget cudaTarget;
  /// Filled with the PTX per chip when `cuda` (for --dump-ptx and tests).
  std::vector<std::pair<std::string, std::string>> *ptxOut = nullptr;
  std::vector<std::string> cpus = {"host", "x86-64"};
  /// How CPU GEMM kernels compute (docs/backend.md, "GEMMs"); Packed means
  /// Blas in files that also hold CUDA kernels (they share the weights).
  CpuGemms cpuGemms = CpuGemms::Packed;
  /// How GEMM weights are stored; reduced precision needs CpuGemms::Packed
  /// and a CPU-only file.
  WeightPrecision precision = WeightPrecision::F32;
  /// tac-compile --calibration's two builds (packGemmWeights).
  GemmCalibration *calibration = nullptr;
  std::string producer;
  /// Paths to compile (empty: all).
  std::vector<int64_t> paths;
};

/// The whole .tacm description of `module` (after buildKernelsPipeline).
FailureOr<format::ModelDesc> buildModelDesc(ModuleOp module,
                                            const BackendOptions &options);

/// Prints one row per plan: path, layers, FLOPs, arena bytes, steps, the
/// bytes of weights it reads, and its GEMM steps per precision.
void printPlanReport(const format::ModelDesc &model, llvm::raw_ostream &os);

/// Prints what each extra batch size adds to the file: its plans' metadata
/// bytes, the kernels only its plans use, and the whole file's size.
void printBucketReport(const format::ModelDesc &model, llvm::raw_ostream &os);

} // namespace mlir::tac

#endif // TAC_BACKEND_BACKEND_H
