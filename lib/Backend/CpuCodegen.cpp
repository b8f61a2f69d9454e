//===- CpuCodegen.cpp - kernels to a native shared object ----------------===//
//
// The kernel functions go through MLIR's LLVM lowering with the bare-pointer
// calling convention (each memref argument is one pointer to its first
// element), LLVM's O3 pipeline tuned for one CPU level, and the system C
// compiler driver as linker. Each kernel gets an exported wrapper with the
// runtime's uniform ABI, `void symbol(void *const *args)`.
//
//===----------------------------------------------------------------------===//

#include "PackedGemmObject.h"
#include "PackedGemmSource.h"
#include "ParallelLoops.h"
#include "tac/Backend/Backend.h"
#include "tac/Pipelines/Pipelines.h"

#include "dialects/Tac/TacDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;
using namespace mlir::tac;

namespace {

// CPU features the runtime can check with __builtin_cpu_supports, by their
// LLVM name (the same spelling).
constexpr const char *kCheckableFeatures[] = {
    "sse4.1", "sse4.2",   "popcnt",   "avx",      "avx2",    "fma",  "bmi",
    "bmi2",   "avx512f",  "avx512bw", "avx512dq", "avx512vl", "avx512cd"};

// AArch64 features the runtime checks in the kernel's hardware capabilities
// (getauxval), by their LLVM name. NEON is part of the base architecture.
constexpr const char *kCheckableAArch64Features[] = {
    "fullfp16", "dotprod", "sve", "sve2", "bf16", "i8mm"};

std::unique_ptr<llvm::TargetMachine> makeTargetMachine(const CpuTarget &target,
                                                       std::string &error) {
  static bool initialised = [] {
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
    return true;
  }();
  (void)initialised;
  llvm::Triple triple(target.triple);
  const llvm::Target *llvmTarget =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!llvmTarget)
    return nullptr;
  llvm::TargetOptions options;
  return std::unique_ptr<llvm::TargetMachine>(llvmTarget->createTargetMachine(
      triple, target.cpu, target.llvmFeatures, options, llvm::Reloc::PIC_,
      std::nullopt, llvm::CodeGenOptLevel::Aggressive));
}

/// Orders each linalg op's loops so the innermost one walks the output's
/// contiguous dimension with reductions just outside it (matmul i,j,k
/// becomes i,k,j): LLVM then vectorises the inner loop without reassociating
/// float sums. Ops whose inputs would be read across rows stay as they are.
SmallVector<unsigned> vectorisableLoopOrder(linalg::LinalgOp op) {
  if (op.getNumDpsInits() == 0 || op.getNumLoops() < 2 ||
      op.getNumReductionLoops() == 0)
    return {};
  AffineMap output = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  if (output.getNumResults() == 0)
    return {};
  auto last = dyn_cast<AffineDimExpr>(output.getResults().back());
  if (!last || !linalg::isParallelIterator(
                   op.getIteratorTypesArray()[last.getPosition()]))
    return {};
  unsigned inner = last.getPosition();
  bool contiguousInput = false, stridedInput = false;
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(input);
    for (auto [i, expr] : llvm::enumerate(map.getResults()))
      if (expr.isFunctionOfDim(inner)) {
        bool isLast = i + 1 == map.getNumResults() && isa<AffineDimExpr>(expr);
        contiguousInput |= isLast;
        stridedInput |= !isLast;
      }
  }
  if (!contiguousInput || stridedInput)
    return {};
  SmallVector<unsigned> order;
  auto iterators = op.getIteratorTypesArray();
  for (unsigned d = 0; d < op.getNumLoops(); ++d)
    if (d != inner && linalg::isParallelIterator(iterators[d]))
      order.push_back(d);
  for (unsigned d = 0; d < op.getNumLoops(); ++d)
    if (linalg::isReductionIterator(iterators[d]))
      order.push_back(d);
  order.push_back(inner);
  return order;
}

// The BLAS bridge linked into every kernel object that has GEMM kernels:
// the kernels pass raw addresses as 64-bit integers (the same registers as
// pointers in the x86-64 C ABI). OpenBLAS has one process-wide thread count,
// which NumPy or PyTorch may share; the bridge never changes it for good.
// Each runtime session tells the bridge, on the thread that runs it, how
// many threads its GEMMs may use (tac_use_gemm_threads); a GEMM that wants
// another count than the process has sets it for its own calls and puts the
// process's back (docs/runtime.md, "Threads").
constexpr const char *kBlasBridge = R"c(
#include <dlfcn.h>
#include <stdint.h>
void cblas_sgemm(int, int, int, int, int, int, float, const float *, int,
                 const float *, int, float, float *, int);
/* The calling thread's session's count; 0: the process's setting. */
static __thread int tac_gemm_threads;
static void (*tac_blas_set_threads)(int);
static int (*tac_blas_get_threads)(void);
__attribute__((constructor)) static void tac_find_blas_threads(void) {
  tac_blas_set_threads =
      (void (*)(int))dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
  tac_blas_get_threads =
      (int (*)(void))dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
}
/* The runtime's session, before it runs on this thread: 1 when the BLAS
   has thread control (OpenBLAS), 0 when the count cannot be honoured. */
int tac_use_gemm_threads(int threads) {
  tac_gemm_threads = threads;
  return tac_blas_set_threads && tac_blas_get_threads;
}
/* Rows per BLAS call: OpenBLAS multiplies skinny matrices (m*n*k up to
   about 1e6) with an unpacked kernel that is up to 3x faster per row than
   its packed path on transformer shapes (docs/backend.md). A GEMM over many
   rows (a batch) against a small weight is therefore split into row chunks
   that stay in that regime; large weights keep one call. */
static int64_t tac_rows_per_call(int64_t m, int64_t n, int64_t k) {
  const int64_t small = 1000000, least = 16;
  if (m * n * k <= small || n * k * least > small)
    return m;
  return small / (n * k);
}
/* One GEMM call's operands: outer x batch products of m rows each. */
struct tac_gemm {
  const float *a, *b;
  float *c;
  int64_t batch, m, n, k, ta, tb, lda, ldb, ldc, sa, sb, sc, oa, ob, oc;
  int64_t chunk; /* rows per BLAS call */
  float beta;
};
/* Rows [begin, end) of the flattened (outer, batch, row) range, in BLAS
   calls of at most `chunk` rows that never cross a matrix. A is row-major
   (rows lda apart) or transposed (rows are columns). */
static void tac_gemm_rows(void *job, int64_t begin, int64_t end) {
  const struct tac_gemm *g = (const struct tac_gemm *)job;
  int64_t aRow = g->ta ? 1 : g->lda;
  while (begin < end) {
    int64_t matrix = begin / g->m, r = begin % g->m;
    int64_t o = matrix / g->batch, i = matrix % g->batch;
    int64_t rows = g->m - r < g->chunk ? g->m - r : g->chunk;
    if (rows > end - begin)
      rows = end - begin;
    cblas_sgemm(101, g->ta ? 112 : 111, g->tb ? 112 : 111, (int)rows,
                (int)g->n, (int)g->k, 1.0f,
                g->a + o * g->oa + i * g->sa + r * aRow, (int)g->lda,
                g->b + o * g->ob + i * g->sb, (int)g->ldb, g->beta,
                g->c + o * g->oc + i * g->sc + r * g->ldc, (int)g->ldc);
    begin += rows;
  }
}
void tac_parallel_for(void (*)(void *, int64_t, int64_t), void *, int64_t,
                      int64_t);
/* outer x batch GEMMs: the outer loop's strides are oa, ob, oc. */
void tac_sgemm(int64_t a, int64_t b, int64_t c, int64_t batch, int64_t m,
               int64_t n, int64_t k, int64_t ta, int64_t tb, int64_t lda,
               int64_t ldb, int64_t ldc, int64_t sa, int64_t sb, int64_t sc,
               float beta, int64_t outer, int64_t oa, int64_t ob, int64_t oc) {
  /* The session's thread count for these calls, the process's put back. */
  int want = tac_gemm_threads, had = 0;
  if (want > 0 && tac_blas_set_threads && tac_blas_get_threads) {
    had = tac_blas_get_threads();
    if (had == want)
      had = 0;
    else
      tac_blas_set_threads(want);
  }
  struct tac_gemm g = {(const float *)a, (const float *)b, (float *)c,
                       batch, m, n, k, ta, tb, lda, ldb, ldc, sa, sb, sc,
                       oa, ob, oc, tac_rows_per_call(m, n, k), beta};
  /* One BLAS thread per call: the rows go to the session's thread pool
     (inline without one); more BLAS threads: BLAS splits each call. */
  if (want == 1)
    tac_parallel_for(tac_gemm_rows, &g, outer * batch * m, 2 * n * k);
  else
    tac_gemm_rows(&g, 0, outer * batch * m);
  if (had)
    tac_blas_set_threads(had);
}
)c";

/// x / c for a constant c becomes x * (1 / c): a division costs several
/// multiplications' time (GELU's x / sqrt(2) was one of its kernel's two
/// vector divisions). The result may differ from the division's by an ulp,
/// as ONNX Runtime's own GELU (it multiplies by 1/sqrt(2)) does.
struct DivideByConstantAsMultiply : OpRewritePattern<arith::DivFOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(arith::DivFOp op,
                                PatternRewriter &rewriter) const override {
    FloatAttr divisor;
    if (!matchPattern(op.getRhs(), m_Constant(&divisor)))
      return failure();
    APFloat value = divisor.getValue();
    if (!value.isFiniteNonZero())
      return failure();
    APFloat reciprocal(value.getSemantics(), 1);
    if (reciprocal.divide(value, APFloat::rmNearestTiesToEven) &
        (APFloat::opOverflow | APFloat::opUnderflow))
      return failure(); // 1/c out of range: keep the division
    Value factor = arith::ConstantOp::create(
        rewriter, op.getLoc(), FloatAttr::get(divisor.getType(), reciprocal));
    rewriter.replaceOpWithNewOp<arith::MulFOp>(op, op.getLhs(), factor,
                                               op.getFastmathAttr());
    return success();
  }
};

/// f32 erf as x P(x^2) / Q(x^2) on x clamped to [-3.92, 3.92] (beyond it
/// erf is +-1 in f32): 11 multiply-adds, two clamping compares and one
/// division. MLIR's polynomial approximation splits the range in three and
/// blends every coefficient (18 blends per vector in GELU's kernel); this
/// one cut 2-5.5% off the bench models at batch 1 (bench/ablation.py's
/// "+erf" row, docs/bench.md). The coefficients
/// are a least-squares fit of erf (weighted towards the largest error),
/// 1.4e-9 off in exact arithmetic; evaluated in f32, within 4e-7 of erf
/// (test/E2E/check_math_accuracy.py). NaN stays NaN: the clamp's compares
/// are false for it.
struct ErfAsRational : OpRewritePattern<math::ErfOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::ErfOp op,
                                PatternRewriter &rewriter) const override {
    Type type = op.getType();
    if (!getElementTypeOrSelf(type).isF32())
      return failure(); // other widths keep MLIR's approximation
    static constexpr float kClamp = 3.92f;
    static constexpr float kNumerator[] = {
        1.128379225730896f,     0.18470194935798645f,
        0.05427836254239082f,   0.0038323982153087854f,
        0.00038036814657971263f, 4.717709089163691e-06f,
        -1.3335577975226443e-08f};
    static constexpr float kDenominator[] = {
        1.0f, 0.4970213770866394f, 0.1137758269906044f,
        0.015430976636707783f, 0.001305028679780662f,
        6.341810512822121e-05f};
    Location loc = op.getLoc();
    auto constant = [&](float value) -> Value {
      TypedAttr attr = rewriter.getF32FloatAttr(value);
      if (auto shaped = dyn_cast<ShapedType>(type))
        attr = SplatElementsAttr::get(shaped, attr);
      return arith::ConstantOp::create(rewriter, loc, attr);
    };
    auto clampAt = [&](Value x, float bound, arith::CmpFPredicate beyond) {
      Value limit = constant(bound);
      Value outside = arith::CmpFOp::create(rewriter, loc, beyond, x, limit);
      return arith::SelectOp::create(rewriter, loc, outside, limit, x)
          .getResult();
    };
    Value x = clampAt(op.getOperand(), kClamp, arith::CmpFPredicate::OGT);
    x = clampAt(x, -kClamp, arith::CmpFPredicate::OLT);
    Value x2 = arith::MulFOp::create(rewriter, loc, x, x);
    auto contract = arith::FastMathFlagsAttr::get(
        rewriter.getContext(), arith::FastMathFlags::contract);
    auto horner = [&](ArrayRef<float> coefficients) {
      Value sum = constant(coefficients.back());
      // multiply-adds where the target has them (contract), else both
      for (float c : llvm::reverse(coefficients.drop_back()))
        sum = arith::AddFOp::create(
            rewriter, loc,
            arith::MulFOp::create(rewriter, loc, sum, x2, contract),
            constant(c), contract);
      return sum;
    };
    Value numerator = arith::MulFOp::create(rewriter, loc, x,
                                            horner(kNumerator));
    rewriter.replaceOpWithNewOp<arith::DivFOp>(op, numerator,
                                               horner(kDenominator));
    return success();
  }
};

// A/B switch for measuring ErfAsRational on its own (hidden).
static llvm::cl::opt<bool> clMlirErf(
    "tac-mlir-erf", llvm::cl::Hidden,
    llvm::cl::desc("Approximate f32 erf with MLIR's polynomials instead of "
                   "tac's (to measure what tac's saves)"));

/// Which C bridges the GEMM kernels call.
struct GemmCalls {
  bool blas = false, tac = false;
};

/// The address of `memref`'s first element as an i64 (every memref of the
/// kernel module starts at offset 0).
Value addressOf(OpBuilder &builder, Location loc, Value memref) {
  Value pointer =
      memref::ExtractAlignedPointerAsIndexOp::create(builder, loc, memref);
  return arith::IndexCastOp::create(builder, loc, builder.getI64Type(),
                                    pointer);
}

/// Calls the C bridge's `name` with `args` at the builder's point,
/// declaring it in `module` (private, no results) on its first use.
void callBridge(OpBuilder &builder, Location loc, ModuleOp module,
                func::FuncOp &callee, StringRef name, ValueRange args) {
  if (!callee) {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToEnd(module.getBody());
    callee = func::FuncOp::create(
        builder, loc, name,
        FunctionType::get(module.getContext(), TypeRange(args), {}));
    callee.setPrivate();
  }
  func::CallOp::create(builder, loc, callee, args);
}

/// Gives every kernel that is one GEMM (and whose calls never overlap its
/// operands, as the libraries require) a body that calls tac_sgemm_packed
/// when its weight is packed (KernelTable::packedWeights), else `library`
/// (tac_sgemm: the BLAS bridge; tac_sgemm_pack_b: tac's GEMM; both take
/// the same arguments) when given.
GemmCalls callLibrariesForGemms(ModuleOp kernelModule,
                                const KernelTable &kernels,
                                std::optional<StringRef> library) {
  MLIRContext *context = kernelModule.getContext();
  Location loc = kernelModule.getLoc();
  OpBuilder builder(context);
  func::FuncOp sgemm;
  func::FuncOp packedSgemm[3]; // per WeightPrecision
  func::FuncOp recordingSgemm; // f32, noting A's ranges (--calibration)
  func::FuncOp smoothedSgemm;  // int8 with A-multipliers (--calibration)
  GemmCalls calls;
  for (auto [i, symbol] : llvm::enumerate(kernels.symbols)) {
    if (kernels.mayAlias[i])
      continue;
    std::optional<PackedWeight> packed;
    if (i < kernels.packedWeights.size())
      packed = kernels.packedWeights[i];
    if (!packed && !library)
      continue;
    auto kernel = kernelModule.lookupSymbol<func::FuncOp>(symbol);
    GemmOuterLoop outer;
    std::optional<format::GemmDesc> gemm = recogniseGemm(kernel, &outer);
    if (!gemm)
      continue;
    Block &body = kernel.getBody().front();
    while (!body.empty())
      body.back().erase();
    builder.setInsertionPointToStart(&body);
    auto address = [&](uint32_t arg) -> Value {
      return addressOf(builder, loc, kernel.getArgument(arg));
    };
    auto constant = [&](int64_t value) -> Value {
      return arith::ConstantOp::create(builder, loc,
                                       builder.getI64IntegerAttr(value));
    };
    const format::GemmDesc &g = *gemm;
    Value beta = arith::ConstantOp::create(builder, loc,
                                           builder.getF32FloatAttr(g.beta));
    // Both callees start (a, b, c, batch, m, n, k, ta).
    SmallVector<Value> args = {address(g.aArg), address(g.bArg),
                               address(g.cArg), constant(g.batch),
                               constant(g.m),   constant(g.n),
                               constant(g.k),   constant(g.aTrans)};
    if (packed) {
      // tac_sgemm_packed(..., lda, ldc, sa, sc, beta, outer, oa, oc, bBatch,
      //                  bOuter)
      args.append({constant(g.lda), constant(g.ldc), constant(g.strideA),
                   constant(g.strideC), beta, constant(outer.count),
                   constant(outer.strideA), constant(outer.strideC),
                   constant(packed->batchStride),
                   constant(packed->outerStride)});
      // One entry per weight precision, all with these arguments.
      static constexpr const char *kEntries[] = {
          "tac_sgemm_packed", "tac_sgemm_packed_bf16", "tac_sgemm_packed_int8"};
      auto which = static_cast<size_t>(packed->precision);
      if (packed->record)
        callBridge(builder, loc, kernelModule, recordingSgemm,
                   "tac_sgemm_packed_recording", args);
      else if (packed->smoothed)
        callBridge(builder, loc, kernelModule, smoothedSgemm,
                   "tac_sgemm_packed_int8_smoothed", args);
      else
        callBridge(builder, loc, kernelModule, packedSgemm[which],
                   kEntries[which], args);
      calls.tac = true;
    } else {
      // tac_sgemm / tac_sgemm_pack_b(..., tb, lda, ldb, ldc, sa, sb, sc,
      //                              beta, outer, oa, ob, oc)
      args.append({constant(g.bTrans), constant(g.lda), constant(g.ldb),
                   constant(g.ldc), constant(g.strideA), constant(g.strideB),
                   constant(g.strideC), beta, constant(outer.count),
                   constant(outer.strideA), constant(outer.strideB),
                   constant(outer.strideC)});
      callBridge(builder, loc, kernelModule, sgemm, *library, args);
      (*library == "tac_sgemm" ? calls.blas : calls.tac) = true;
    }
    func::ReturnOp::create(builder, loc);
  }
  return calls;
}

/// Gives every kernel that is one linalg.softmax (tac-form-softmax) a body
/// that calls tac_softmax_rows, the C bridge's one-pass-per-row softmax
/// (the LLVM lowering has no form of the op). Returns how many it gave one;
/// fails on a softmax the bridge cannot take (the pass forms none).
FailureOr<int> callBridgeForSoftmax(ModuleOp kernelModule,
                                    const KernelTable &kernels) {
  MLIRContext *context = kernelModule.getContext();
  Location loc = kernelModule.getLoc();
  OpBuilder builder(context);
  func::FuncOp bridge;
  int calls = 0;
  for (const std::string &symbol : kernels.symbols) {
    auto kernel = kernelModule.lookupSymbol<func::FuncOp>(symbol);
    Block &body = kernel.getBody().front();
    linalg::SoftmaxOp softmax;
    kernel.walk([&](linalg::SoftmaxOp op) { softmax = op; });
    if (!softmax)
      continue;
    auto inType = dyn_cast<MemRefType>(softmax.getInput().getType());
    auto outType = dyn_cast<MemRefType>(softmax.getOutput().getType());
    SmallVector<int64_t> inStrides, outStrides;
    int64_t inOffset, outOffset;
    if (&body.front() != softmax.getOperation() ||
        body.getOperations().size() != 2 || !inType || !outType ||
        !inType.getElementType().isF32() || inType.getRank() > 5 ||
        !inType.hasStaticShape() ||
        failed(inType.getStridesAndOffset(inStrides, inOffset)) ||
        failed(outType.getStridesAndOffset(outStrides, outOffset)) ||
        llvm::any_of(llvm::concat<int64_t>(inStrides, outStrides),
                     ShapedType::isDynamic))
      return softmax.emitError("tac's CPU softmax takes one static f32 "
                               "softmax of rank <= 5 per kernel"),
             failure();
    // Dimensions other than the softmax's, padded to four with 1s, then
    // the softmax's: the bridge's d0 x d1 x d2 x d3 x n.
    int64_t dim = softmax.getDimension();
    SmallVector<int64_t> dims, xs, ys;
    for (int64_t d = 0; d < inType.getRank(); ++d)
      if (d != dim) {
        dims.push_back(inType.getDimSize(d));
        xs.push_back(inStrides[d]);
        ys.push_back(outStrides[d]);
      }
    while (dims.size() < 4) {
      dims.insert(dims.begin(), 1);
      xs.insert(xs.begin(), 0);
      ys.insert(ys.begin(), 0);
    }
    dims.push_back(inType.getDimSize(dim));
    xs.push_back(inStrides[dim]);
    ys.push_back(outStrides[dim]);

    builder.setInsertionPoint(softmax);
    SmallVector<Value> args = {addressOf(builder, loc, softmax.getInput()),
                               addressOf(builder, loc, softmax.getOutput())};
    for (ArrayRef<int64_t> values : {ArrayRef<int64_t>(dims),
                                     ArrayRef<int64_t>(xs),
                                     ArrayRef<int64_t>(ys)})
      for (int64_t v : values)
        args.push_back(arith::ConstantOp::create(
            builder, loc, builder.getI64IntegerAttr(v)));
    callBridge(builder, loc, kernelModule, bridge, "tac_softmax_rows", args);
    softmax.erase();
    ++calls;
  }
  return calls;
}

/// Gives every kernel that is one tac.attention (tac-form-attention) a body
/// that calls tac_attention, the C bridge's fused attention: per batch,
/// head and block of query rows, Q Kᵀ, scale, mask, softmax and P V with
/// the scores in cache. Each operand is passed as an address and the
/// strides of its logical (batch, head, row, column) dims; a mask's
/// broadcast dims get stride 0. Returns how many kernels call it.
FailureOr<int> callBridgeForAttention(ModuleOp kernelModule,
                                      const KernelTable &kernels) {
  MLIRContext *context = kernelModule.getContext();
  Location loc = kernelModule.getLoc();
  OpBuilder builder(context);
  func::FuncOp bridge;
  int calls = 0;
  for (const std::string &symbol : kernels.symbols) {
    auto kernel = kernelModule.lookupSymbol<func::FuncOp>(symbol);
    mlir::tac::AttentionOp attention;
    kernel.walk([&](mlir::tac::AttentionOp op) { attention = op; });
    if (!attention)
      continue;
    Block &body = kernel.getBody().front();
    if (&body.front() != attention.getOperation() ||
        body.getOperations().size() != 2)
      return attention.emitError("tac's CPU attention takes one "
                                 "tac.attention per kernel"),
             failure();
    builder.setInsertionPoint(attention);
    auto constant = [&](int64_t value) -> Value {
      return arith::ConstantOp::create(builder, loc,
                                       builder.getI64IntegerAttr(value));
    };
    auto address = [&](Value memref) -> Value {
      return memref ? addressOf(builder, loc, memref) : constant(0);
    };
    // Appends the strides of `memref`'s logical dims to `strides`; 0
    // along size-1 dims (a mask's broadcast ones) and for no memref.
    auto addStrides = [&](SmallVectorImpl<Value> &strides, Value memref,
                          std::optional<ArrayRef<int64_t>> dims) -> bool {
      if (!memref) {
        for (int i = 0; i < 4; ++i)
          strides.push_back(constant(0));
        return true;
      }
      auto type = cast<MemRefType>(memref.getType());
      SmallVector<int64_t> all;
      int64_t offset;
      if (failed(type.getStridesAndOffset(all, offset)) ||
          llvm::any_of(all, ShapedType::isDynamic))
        return false;
      for (int64_t dim : *dims)
        strides.push_back(
            constant(type.getDimSize(dim) == 1 ? 0 : all[dim]));
      return true;
    };
    // The select mask's strides come last (tac_attention's es0..es3).
    SmallVector<Value> strides, keepStrides;
    if (!addStrides(strides, attention.getQuery(), attention.getQueryDims()) ||
        !addStrides(strides, attention.getKey(), attention.getKeyDims()) ||
        !addStrides(strides, attention.getValue(), attention.getValueDims()) ||
        !addStrides(strides, attention.getMask(), attention.getMaskDims()) ||
        !addStrides(strides, attention.getInit(), attention.getResultDims()) ||
        !addStrides(keepStrides, attention.getKeep(), attention.getKeepDims()))
      return attention.emitError("tac's CPU attention needs static "
                                 "strides"),
             failure();
    mlir::tac::AttentionOp::Sizes sizes = attention.getSizes();
    SmallVector<Value> args = {
        address(attention.getQuery()), address(attention.getKey()),
        address(attention.getValue()), address(attention.getMask()),
        address(attention.getInit()),  constant(sizes.batch),
        constant(sizes.heads),         constant(sizes.rows),
        constant(sizes.keys),          constant(sizes.features),
        constant(sizes.valueFeatures),
        arith::ConstantOp::create(builder, loc, attention.getScaleAttr())};
    args.append(strides);
    args.push_back(address(attention.getKeep()));
    args.push_back(arith::ConstantOp::create(
        builder, loc,
        attention.getFillAttr() ? attention.getFillAttr()
                                : builder.getF32FloatAttr(0.0f)));
    args.append(keepStrides);
    callBridge(builder, loc, kernelModule, bridge, "tac_attention", args);
    attention.erase();
    ++calls;
  }
  return calls;
}

} // namespace

FailureOr<CpuTarget>
mlir::tac::resolveCpuTarget(StringRef name,
                            ArrayRef<std::string> extraFeatures) {
  CpuTarget target;
  if (name == "host") {
    target.cpu = llvm::sys::getHostCPUName().str();
    std::string features;
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      features += (features.empty() ? "" : ",") +
                  std::string(feature.second ? "+" : "-") +
                  feature.first().str();
    target.llvmFeatures = features;
#if defined(__aarch64__)
    target.arch = "aarch64";
    target.triple = "aarch64-unknown-linux-gnu";
#endif
  } else if (name == "aarch64" || name.starts_with("aarch64:")) {
    // "aarch64" is the base ARMv8-A (NEON); "aarch64:<cpu>" an LLVM AArch64
    // CPU such as cortex-a78 or neoverse-n1.
    target.arch = "aarch64";
    target.triple = "aarch64-unknown-linux-gnu";
    target.cpu = name == "aarch64" ? "generic" : name.drop_front(8).str();
  } else {
    target.cpu = name.str();
  }
  for (const std::string &feature : extraFeatures)
    target.llvmFeatures += (target.llvmFeatures.empty() ? "" : ",") + feature;
  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine =
      makeTargetMachine(target, error);
  if (!machine)
    return emitError(UnknownLoc::get(nullptr), error), failure();
  const llvm::MCSubtargetInfo *info = machine->getMCSubtargetInfo();
  if (!info->isCPUStringValid(target.cpu))
    return failure();
  for (const std::string &feature : extraFeatures) {
    StringRef key = StringRef(feature).drop_front();
    if ((feature[0] != '+' && feature[0] != '-') ||
        llvm::none_of(info->getAllProcessorFeatures(),
                      [&](const llvm::SubtargetFeatureKV &known) {
                        return key == known.Key;
                      }))
      return failure();
  }
  bool aarch64 = target.arch == "aarch64";
  for (const char *feature :
       aarch64 ? ArrayRef<const char *>(kCheckableAArch64Features)
               : ArrayRef<const char *>(kCheckableFeatures))
    if (info->checkFeatures(std::string("+") + feature))
      target.features.push_back(feature);
  return target;
}

FailureOr<std::vector<uint8_t>>
mlir::tac::compileCpuKernels(ModuleOp module, const KernelTable &kernels,
                             const CpuTarget &target, CpuGemms gemms) {
  Location loc = module.getLoc();
  MLIRContext *context = module.getContext();

  FailureOr<OwningOpRef<ModuleOp>> extracted =
      extractKernelModule(module, kernels);
  if (failed(extracted))
    return failure();
  OwningOpRef<ModuleOp> kernelModule = std::move(*extracted);
  // Packed weights need tac's GEMM on every architecture; the other GEMMs
  // call tac's GEMM packing B as it goes, or the system BLAS, which is this
  // machine's (x86-64): other architectures run generated loops instead.
  std::optional<StringRef> gemmLibrary;
  if (gemms == CpuGemms::Packed)
    gemmLibrary = "tac_sgemm_pack_b";
  else if (gemms == CpuGemms::Blas && target.arch == "x86_64")
    gemmLibrary = "tac_sgemm";
  GemmCalls gemmCalls =
      callLibrariesForGemms(*kernelModule, kernels, gemmLibrary);
  bool linkBlas = gemmCalls.blas;
  FailureOr<int> softmaxCalls = callBridgeForSoftmax(*kernelModule, kernels);
  if (failed(softmaxCalls))
    return failure();
  FailureOr<int> attentionCalls =
      callBridgeForAttention(*kernelModule, kernels);
  if (failed(attentionCalls))
    return failure();
  // tac's C bridge: its GEMMs, its softmax and its attention
  bool linkTacBridge =
      gemmCalls.tac || *softmaxCalls > 0 || *attentionCalls > 0;
  reorderLinalgLoops(*kernelModule, vectorisableLoopOrder);
  // exp/erf/tanh as inline polynomials (about 2 ulp in f32), powers by
  // small constant exponents as multiplications (GPT-2's x^3 in its GELU):
  // scalar libm calls would keep the loops around them from vectorising;
  // and divisions by constants as multiplications.
  {
    RewritePatternSet patterns(context);
    populateMathAlgebraicSimplificationPatterns(patterns);
    patterns.add<DivideByConstantAsMultiply>(context);
    // before MLIR's erf, which other widths still get
    if (!clMlirErf)
      patterns.add<ErfAsRational>(context, /*benefit=*/2);
    populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
      return name == "math.exp" || name == "math.erf" || name == "math.tanh";
    });
    if (failed(applyPatternsGreedily(*kernelModule, std::move(patterns))))
      return emitError(loc, "approximating math functions failed"), failure();
  }
  // Each kernel's outermost parallel loop nest with enough work runs on the
  // session's threads (ParallelLoops.h). Not in kernels some call passes
  // overlapping buffers: their loop order may be what keeps a value from
  // being overwritten before it is read.
  std::vector<std::string> disjointKernels;
  for (auto [symbol, mayAlias] : llvm::zip(kernels.symbols, kernels.mayAlias))
    if (!mayAlias)
      disjointKernels.push_back(symbol);
  std::vector<ParallelLoop> parallelLoops =
      outlineParallelLoops(*kernelModule, disjointKernels, kMinParallelWork);
  // memref.copy never reaches the lowering: the outliner turns strided
  // copies into linalg.copy.
  PassManager pm(context);
  LoopsToLLVMOptions lowering;
  lowering.barePtrCallConv = true;
  buildLoopsToLLVMPipeline(pm, lowering);
  if (failed(pm.run(*kernelModule)))
    return emitError(loc, "lowering the kernels to LLVM failed"), failure();

  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  context->appendDialectRegistry(registry);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*kernelModule, llvmContext, "tac_kernels");
  if (!llvmModule)
    return emitError(loc, "translating the kernels to LLVM IR failed"),
           failure();

  // Uniform entry points: void symbol(void *const *args).
  llvm::Type *ptr = llvm::PointerType::getUnqual(llvmContext);
  auto *entryType = llvm::FunctionType::get(llvm::Type::getVoidTy(llvmContext),
                                            {ptr}, false);
  for (llvm::Function &function : *llvmModule)
    if (!function.isDeclaration())
      function.setLinkage(llvm::GlobalValue::InternalLinkage);
  for (auto [symbol, numArgs, mayAlias] :
       llvm::zip(kernels.symbols, kernels.numArgs, kernels.mayAlias)) {
    llvm::Function *impl = llvmModule->getFunction(symbol);
    if (!impl || impl->arg_size() != numArgs)
      return emitError(loc, "kernel ")
                 << symbol << " lowered to an unexpected signature",
             failure();
    impl->setName(symbol + ".impl");
    if (!mayAlias)
      for (unsigned i = 0; i < numArgs; ++i)
        impl->addParamAttr(i, llvm::Attribute::NoAlias);
    auto *entry = llvm::Function::Create(
        entryType, llvm::GlobalValue::ExternalLinkage, symbol, *llvmModule);
    llvm::IRBuilder<> builder(
        llvm::BasicBlock::Create(llvmContext, "entry", entry));
    SmallVector<llvm::Value *> args;
    for (unsigned i = 0; i < numArgs; ++i)
      args.push_back(builder.CreateLoad(
          ptr, builder.CreateConstInBoundsGEP1_64(ptr, entry->getArg(0), i)));
    builder.CreateCall(impl, args);
    builder.CreateRetVoid();
  }
  if (!defineParallelForks(*llvmModule, parallelLoops))
    return emitError(loc, "outlined parallel loops lowered to unexpected "
                          "signatures"),
           failure();

  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine =
      makeTargetMachine(target, error);
  if (!machine)
    return emitError(loc, error), failure();
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(machine->getTargetTriple());
  for (llvm::Function &function : *llvmModule)
    if (!function.isDeclaration()) {
      function.addFnAttr("target-cpu", target.cpu);
      if (!target.llvmFeatures.empty())
        function.addFnAttr("target-features", target.llvmFeatures);
    }

  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    // No loop unrolling (the vectoriser still interleaves what it
    // vectorises): the kernels' loops have static trip counts, and O3
    // unrolled a short inner loop (a layernorm's row of 96 or 128, a
    // head's 16 or 24) completely before vectorising, then vectorised the
    // loop around it with gathers across rows (224 gathers in ViT-tiny's
    // kernels, 4 without). Without it, `tac-run X.tacm --random
    // --benchmark=4000`, three alternating rounds on a Zen 5: the bundled
    // Fashion-MNIST ViT 9-11% faster (batch 1 and 32), ViT-tiny 2-7%,
    // BERT-, GPT-2-tiny, MiniLM and ViT-Small within 1%; ViT-Small's
    // compile 1.34 -> 0.87 s (docs/backend.md).
    llvm::PipelineTuningOptions tuning;
    tuning.LoopUnrolling = false;
    llvm::PassBuilder builder(machine.get(), tuning);
    builder.registerModuleAnalyses(mam);
    builder.registerCGSCCAnalyses(cgam);
    builder.registerFunctionAnalyses(fam);
    builder.registerLoopAnalyses(lam);
    builder.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager passes =
        builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    passes.run(*llvmModule, mam);
  }

  SmallString<128> objectPath, libraryPath;
  if (llvm::sys::fs::createTemporaryFile("tac-kernels", "o", objectPath) ||
      llvm::sys::fs::createTemporaryFile("tac-kernels", "so", libraryPath))
    return emitError(loc, "cannot create temporary files for the kernels"),
           failure();
  llvm::scope_exit cleanup([&] {
    llvm::sys::fs::remove(objectPath);
    llvm::sys::fs::remove(libraryPath);
  });
  {
    std::error_code ec;
    llvm::raw_fd_ostream out(objectPath, ec);
    if (ec)
      return emitError(loc, "cannot write ") << objectPath << ": "
                                             << ec.message(),
             failure();
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, out, nullptr,
                                     llvm::CodeGenFileType::ObjectFile))
      return emitError(loc, "LLVM cannot emit object code for ")
                 << target.cpu,
             failure();
    codegen.run(*llvmModule);
  }

  // The C compiler driver links the object into a shared object against
  // libm (expf, erff, ...); another architecture's code needs its cross
  // toolchain.
  bool native = target.arch == llvm::Triple(llvm::sys::getProcessTriple())
                                   .getArchName();
  llvm::ErrorOr<std::string> driver =
      native ? llvm::sys::findProgramByName("cc")
             : llvm::sys::findProgramByName(target.arch + "-linux-gnu-gcc");
  if (!driver && native)
    driver = llvm::sys::findProgramByName("gcc");
  if (!driver)
    return emitError(loc, "no C compiler driver ")
               << (native ? "(cc)" : "(" + target.arch + "-linux-gnu-gcc)")
               << " on PATH to link the " << target.arch
               << " kernels; install "
               << (native ? "gcc (apt-get install gcc)"
                          : "the cross toolchain (apt-get install gcc-" +
                                target.arch + "-linux-gnu)"),
           failure();
  SmallVector<StringRef> link = {*driver, "-shared", "-Wl,-z,defs", "-o",
                                 libraryPath, objectPath, "-O2", "-fPIC"};
  // The C bridges: the thread pool's (always: the runtime looks for it),
  // tac's GEMM and BLAS's.
  SmallString<128> threadBridgePath, packedBridgePath, packedBridgeDir,
      blasBridgePath;
  llvm::scope_exit removeBridges([&] {
    for (StringRef path : {threadBridgePath.str(), packedBridgePath.str(),
                           packedBridgeDir.str(), blasBridgePath.str()})
      if (!path.empty())
        llvm::sys::fs::remove(path);
  });
  auto writeBridge = [&](StringRef name, const char *source,
                         SmallString<128> &path) -> LogicalResult {
    if (llvm::sys::fs::createTemporaryFile(name, "c", path))
      return emitError(loc, "cannot create a temporary file for ") << name,
             failure();
    std::error_code ec;
    llvm::raw_fd_ostream bridge(path, ec);
    bridge << source;
    link.push_back(path);
    return success();
  };
  if (failed(writeBridge("tac-threads", kThreadBridge, threadBridgePath)))
    return failure();
  if (linkTacBridge) {
    // This machine's architecture links the object built with tac; others
    // compile the source.
    if (native) {
      if (llvm::sys::fs::createTemporaryFile("tac-gemm", "o",
                                             packedBridgePath))
        return emitError(loc, "cannot create a temporary file for tac-gemm"),
               failure();
      std::error_code ec;
      llvm::raw_fd_ostream object(packedBridgePath, ec);
      if (ec)
        return emitError(loc, "cannot write ") << packedBridgePath << ": "
                                               << ec.message(),
               failure();
      object.write(reinterpret_cast<const char *>(kPackedGemmObject),
                   kPackedGemmObjectSize);
      link.push_back(packedBridgePath);
    } else {
      // The source includes itself by its name, PackedGemm.c.
      SmallString<128> directory;
      if (llvm::sys::fs::createUniqueDirectory("tac-gemm", directory))
        return emitError(loc, "cannot create a temporary directory for "
                              "tac-gemm"),
               failure();
      packedBridgeDir = directory;
      packedBridgePath = directory;
      llvm::sys::path::append(packedBridgePath, "PackedGemm.c");
      std::error_code ec;
      llvm::raw_fd_ostream source(packedBridgePath, ec);
      if (ec)
        return emitError(loc, "cannot write ") << packedBridgePath << ": "
                                               << ec.message(),
               failure();
      source << kPackedGemmSource;
      link.push_back(packedBridgePath);
    }
  }
  if (linkBlas) {
    if (failed(writeBridge("tac-blas", kBlasBridge, blasBridgePath)))
      return failure();
    link.push_back("-lblas");
  }
  link.push_back("-lm");
  if (failed(runTool(*driver, link, loc))) {
    if (linkBlas)
      emitRemark(loc, "GEMM kernels call BLAS (-lblas): install libblas-dev "
                      "(Debian; OpenBLAS through libopenblas0) or compile "
                      "with --gemm=generated");
    return failure();
  }
  auto library = llvm::MemoryBuffer::getFile(libraryPath);
  if (!library)
    return emitError(loc, "cannot read the linked kernels"), failure();
  StringRef bytes = (*library)->getBuffer();
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}
