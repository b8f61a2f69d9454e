//===- CudaCodegen.cpp - kernels to NVPTX, cubins and a fatbin -----------===//
//
// The same kernel functions the CPU backend compiles (one linalg op each,
// after tac-outline-kernels) become CUDA kernels:
//
//   1. GEMM recognition (recogniseGemm, GemmRecognition.cpp): a kernel that is one
//      f32 contraction with plainly strided operands gets a GpuGemm
//      description (the executor may call cuBLASLt); its generated kernel
//      stays as the fallback.
//   2. Loops: every linalg op has its loops ordered parallel-first, is
//      lowered to one scf.parallel (parallel dims) around scf.for
//      (reductions), and the parallel nest is linearised with the output's
//      last dimension fastest, then tiled by up to 256: blocks along x,
//      threads along x. Consecutive threads touch consecutive elements of
//      the output (coalesced for elementwise ops). Reductions with few,
//      long outputs run as one block per output (mapBlockReduction). A
//      kernel with no parallel loop otherwise runs as one thread.
//   3. gpu.launch (convert-parallel-loops-to-gpu), every pure value the
//      launch uses sunk into it, gpu-kernel-outlining: each launch now takes
//      only the kernel function's memref arguments, so a launch is
//      described by (entry, grid, block, argument indices) and the runtime
//      launches it from its own plan (capturable into a CUDA Graph).
//   4. All gpu.funcs in one gpu.module -> NVVM (bare-pointer memrefs: one
//      pointer per argument) -> PTX per chip (gpu-module-to-binary, NVPTX,
//      libdevice from the CUDA toolkit for math functions) -> ptxas cubins
//      -> fatbinary (cubins for every chip + the newest chip's PTX).
//
//===----------------------------------------------------------------------===//

#include "tac/Backend/Backend.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/GPU/Utils/GPUUtils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

#include <cstdlib>

using namespace mlir;
using namespace mlir::tac;

namespace {

constexpr int64_t kMaxBlock = 256;

//===----------------------------------------------------------------------===//
// Loops -> mapped scf.parallel
//===----------------------------------------------------------------------===//

/// Orders every linalg op's loops parallel-first, so its lowering is one
/// scf.parallel around the reduction loops.
SmallVector<unsigned> parallelFirstLoopOrder(linalg::LinalgOp op) {
  auto iterators = op.getIteratorTypesArray();
  SmallVector<unsigned> order;
  for (unsigned d = 0; d < iterators.size(); ++d)
    if (linalg::isParallelIterator(iterators[d]))
      order.push_back(d);
  for (unsigned d = 0; d < iterators.size(); ++d)
    if (!linalg::isParallelIterator(iterators[d]))
      order.push_back(d);
  return order;
}

/// Multi-index of `linear` over `trips` (last fastest).
SmallVector<Value> delinearise(OpBuilder &b, Location loc, Value linear,
                               ArrayRef<int64_t> trips) {
  SmallVector<Value> ivs(trips.size());
  for (size_t i = trips.size(); i-- > 0;) {
    if (i == 0) {
      ivs[i] = linear;
      break;
    }
    Value trip = arith::ConstantIndexOp::create(b, loc, trips[i]);
    ivs[i] = arith::RemUIOp::create(b, loc, linear, trip);
    linear = arith::DivUIOp::create(b, loc, linear, trip);
  }
  return ivs;
}

/// Replaces `loop` by a one-dimensional scf.parallel over the product of
/// its trip counts (all constant), recomputing each original induction
/// variable with the last dimension fastest.
FailureOr<scf::ParallelOp> linearise(RewriterBase &rewriter,
                                     scf::ParallelOp loop, int64_t &total) {
  SmallVector<int64_t> lbs, ubs, steps;
  for (auto [lb, ub, step] : llvm::zip(loop.getLowerBound(),
                                       loop.getUpperBound(), loop.getStep())) {
    APInt l, u, s;
    if (!matchPattern(lb, m_ConstantInt(&l)) ||
        !matchPattern(ub, m_ConstantInt(&u)) ||
        !matchPattern(step, m_ConstantInt(&s)) || s.getSExtValue() <= 0)
      return failure();
    lbs.push_back(l.getSExtValue());
    ubs.push_back(u.getSExtValue());
    steps.push_back(s.getSExtValue());
  }
  SmallVector<int64_t> trips;
  total = 1;
  for (size_t d = 0; d < lbs.size(); ++d) {
    trips.push_back(std::max<int64_t>(0, (ubs[d] - lbs[d] + steps[d] - 1) /
                                             steps[d]));
    total *= trips.back();
  }
  if (!loop.getInitVals().empty())
    return failure();
  Location loc = loop.getLoc();
  rewriter.setInsertionPoint(loop);
  auto cst = [&](int64_t v) {
    return arith::ConstantIndexOp::create(rewriter, loc, v).getResult();
  };
  auto flat = scf::ParallelOp::create(rewriter, loc, ValueRange{cst(0)},
                                      ValueRange{cst(total)},
                                      ValueRange{cst(1)});
  rewriter.setInsertionPointToStart(flat.getBody());
  SmallVector<Value> ivs =
      delinearise(rewriter, loc, flat.getInductionVars()[0], trips);
  for (size_t i = 0; i < ivs.size(); ++i) {
    Value index = ivs[i];
    if (steps[i] != 1)
      index = arith::MulIOp::create(rewriter, loc, index, cst(steps[i]));
    if (lbs[i] != 0)
      index = arith::AddIOp::create(rewriter, loc, index, cst(lbs[i]));
    ivs[i] = index;
  }
  Block *body = loop.getBody();
  Operation *oldYield = body->getTerminator();
  rewriter.eraseOp(oldYield);
  Operation *newYield = flat.getBody()->getTerminator();
  rewriter.inlineBlockBefore(body, newYield, ivs);
  rewriter.eraseOp(loop);
  return flat;
}

/// How gpu.all_reduce combines a block's partial results for `combiner`.
std::optional<gpu::AllReduceOperation> allReduceKind(Operation *combiner) {
  using R = gpu::AllReduceOperation;
  return llvm::TypeSwitch<Operation *, std::optional<R>>(combiner)
      .Case<arith::AddFOp, arith::AddIOp>([](auto) { return R::ADD; })
      .Case([](arith::MulFOp) { return R::MUL; })
      .Case([](arith::MaxNumFOp) { return R::MAXNUMF; })
      .Case([](arith::MinNumFOp) { return R::MINNUMF; })
      .Case([](arith::MaximumFOp) { return R::MAXIMUMF; })
      .Case([](arith::MinimumFOp) { return R::MINIMUMF; })
      .Default([](Operation *) { return std::nullopt; });
}

/// Reductions with few outputs and long reductions (an all-reduction to a
/// scalar, a batch-1 row statistic, a classifier head) would give each
/// output one thread looping over the whole reduction: a handful of busy
/// threads, or one. They run instead as one block per output element: the
/// block's threads stride over the reduction (consecutive threads,
/// consecutive elements), combine their partial results with gpu.all_reduce
/// (warp shuffles and shared memory), and thread 0 folds the result into
/// the output. Outputs beyond kMaxBlockReduceOutputs keep the
/// thread-per-output mapping, which already fills the GPU.
constexpr int64_t kMinBlockReduction = 32;
constexpr int64_t kMaxBlockReduceOutputs = 16384;

LogicalResult mapBlockReduction(func::FuncOp func) {
  SmallVector<linalg::LinalgOp> ops;
  func.walk([&](linalg::LinalgOp op) { ops.push_back(op); });
  if (ops.size() != 1)
    return success();
  linalg::LinalgOp op = ops.front();
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1 ||
      op.getNumReductionLoops() == 0 || op->getNumResults() != 0)
    return success();
  SmallVector<Operation *> combiners;
  Value reduced =
      matchReduction(op.getRegionOutputArgs(), /*redPos=*/0, combiners);
  if (!reduced || combiners.size() != 1)
    return success();
  Operation *combiner = combiners.front();
  // Each thread starts from the combiner's neutral element (0 for add,
  // -inf for max, ...).
  std::optional<gpu::AllReduceOperation> kind = allReduceKind(combiner);
  std::optional<TypedAttr> neutral = arith::getNeutralElement(combiner);
  BlockArgument outArg = op.getRegionOutputArgs().front();
  if (!kind || !neutral || !outArg.getType().isIntOrFloat())
    return success();
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return success();
  auto iterators = op.getIteratorTypesArray();
  SmallVector<unsigned> parallelDims, reductionDims;
  SmallVector<int64_t> parallelTrips, reductionTrips;
  int64_t outputs = 1, length = 1;
  for (unsigned d = 0; d < ranges.size(); ++d) {
    if (linalg::isParallelIterator(iterators[d])) {
      parallelDims.push_back(d);
      parallelTrips.push_back(ranges[d]);
      outputs *= ranges[d];
    } else {
      reductionDims.push_back(d);
      reductionTrips.push_back(ranges[d]);
      length *= ranges[d];
    }
  }
  if (length < kMinBlockReduction || outputs > kMaxBlockReduceOutputs ||
      outputs == 0)
    return success();

  MLIRContext *ctx = func.getContext();
  IRRewriter b(ctx);
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  auto cst = [&](int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v).getResult();
  };
  int64_t threads = std::min<int64_t>(kMaxBlock, (length + 31) / 32 * 32);
  auto map = [&](gpu::Processor p) {
    return gpu::ParallelLoopDimMappingAttr::get(ctx, p, b.getDimIdentityMap(),
                                                b.getDimIdentityMap());
  };
  auto blocks = scf::ParallelOp::create(
      b, loc, ValueRange{cst(0)}, ValueRange{cst(outputs)}, ValueRange{cst(1)});
  b.setInsertionPointToStart(blocks.getBody());
  SmallVector<Value> outerIvs =
      delinearise(b, loc, blocks.getInductionVars()[0], parallelTrips);
  auto lanes = scf::ParallelOp::create(
      b, loc, ValueRange{cst(0)}, ValueRange{cst(threads)}, ValueRange{cst(1)});
  if (failed(gpu::setMappingAttr(blocks, {map(gpu::Processor::BlockX)})) ||
      failed(gpu::setMappingAttr(lanes, {map(gpu::Processor::ThreadX)})))
    return func.emitError("GPU mapping: invalid loop mapping");
  b.setInsertionPointToStart(lanes.getBody());
  Value lane = lanes.getInductionVars()[0];
  Value identity = arith::ConstantOp::create(b, loc, *neutral);

  // Each lane: its partial result over reduction elements lane, lane +
  // threads, ...
  auto strided = scf::ForOp::create(b, loc, lane, cst(length), cst(threads),
                                    ValueRange{identity});
  b.setInsertionPointToStart(strided.getBody());
  SmallVector<Value> innerIvs =
      delinearise(b, loc, strided.getInductionVar(), reductionTrips);
  SmallVector<Value> ivs(ranges.size());
  for (auto [d, iv] : llvm::zip(parallelDims, outerIvs))
    ivs[d] = iv;
  for (auto [d, iv] : llvm::zip(reductionDims, innerIvs))
    ivs[d] = iv;
  auto load = [&](OpOperand &operand) -> Value {
    AffineMap indexing = op.getMatchingIndexingMap(&operand);
    SmallVector<Value> indices;
    for (unsigned r = 0; r < indexing.getNumResults(); ++r)
      indices.push_back(
          affine::AffineApplyOp::create(b, loc, indexing.getSubMap({r}), ivs));
    if (!isa<MemRefType>(operand.get().getType()))
      return operand.get(); // a scalar operand
    return memref::LoadOp::create(b, loc, operand.get(), indices);
  };
  IRMapping mapping;
  Block *body = op.getBlock();
  for (OpOperand *input : op.getDpsInputOperands())
    mapping.map(body->getArgument(input->getOperandNumber()), load(*input));
  for (Operation &bodyOp : body->without_terminator()) {
    if (&bodyOp == combiner)
      continue;
    if (auto index = dyn_cast<linalg::IndexOp>(bodyOp)) {
      mapping.map(index.getResult(), ivs[index.getDim()]);
      continue;
    }
    b.clone(bodyOp, mapping);
  }
  Value partial = strided.getRegionIterArgs()[0];
  auto combine = [&](Value accumulated, Value value) {
    IRMapping operands;
    for (OpOperand &use : combiner->getOpOperands())
      operands.map(use.get(), use.get() == outArg ? accumulated : value);
    return b.clone(*combiner, operands)->getResult(0);
  };
  scf::YieldOp::create(b, loc, combine(partial, mapping.lookup(reduced)));
  b.setInsertionPointAfter(strided);
  Value total = gpu::AllReduceOp::create(
      b, loc, strided.getResult(0),
      gpu::AllReduceOperationAttr::get(ctx, *kind), /*uniform=*/true);
  Value first =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane, cst(0));
  auto store = scf::IfOp::create(b, loc, first, /*withElseRegion=*/false);
  b.setInsertionPointToStart(&store.getThenRegion().front());
  // The output's indexing map reads only parallel dimensions.
  for (unsigned d : reductionDims)
    ivs[d] = cst(0);
  OpOperand &output = *op.getDpsInitOperand(0);
  AffineMap outMap = op.getMatchingIndexingMap(&output);
  SmallVector<Value> outIndices;
  for (unsigned r = 0; r < outMap.getNumResults(); ++r)
    outIndices.push_back(
        affine::AffineApplyOp::create(b, loc, outMap.getSubMap({r}), ivs));
  Value old = memref::LoadOp::create(b, loc, output.get(), outIndices);
  memref::StoreOp::create(b, loc, combine(old, total), output.get(),
                          outIndices);
  b.eraseOp(op);
  return success();
}

LogicalResult mapKernelLoops(func::FuncOp func) {
  IRRewriter rewriter(func.getContext());
  MLIRContext *ctx = func.getContext();
  Block &entry = func.getBody().front();
  // Anything with side effects outside a parallel loop (scalar outputs,
  // all-reduction loops): the whole body runs as one thread.
  bool serial = llvm::any_of(entry.without_terminator(), [](Operation &op) {
    return !isa<scf::ParallelOp>(op) && !isPure(&op);
  });
  if (serial) {
    rewriter.setInsertionPointToStart(&entry);
    Location loc = func.getLoc();
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
    auto single = scf::ParallelOp::create(rewriter, loc, ValueRange{zero},
                                          ValueRange{one}, ValueRange{one});
    Operation *yield = single.getBody()->getTerminator();
    SmallVector<Operation *> toMove;
    for (Operation &op : entry.without_terminator())
      if (&op != single && &op != zero.getDefiningOp() &&
          &op != one.getDefiningOp())
        toMove.push_back(&op);
    for (Operation *op : toMove)
      op->moveBefore(yield);
  }
  SmallVector<scf::ParallelOp> loops;
  for (auto loop : entry.getOps<scf::ParallelOp>())
    if (!loop->hasAttr(gpu::getMappingAttrName())) // not a block reduction
      loops.push_back(loop);
  for (scf::ParallelOp loop : loops) {
    // Nested parallel loops (none after parallelFirstLoopOrder, but be safe)
    // run sequentially inside the thread.
    loop.getBody()->walk([&](scf::ParallelOp nested) {
      SmallVector<gpu::ParallelLoopDimMappingAttr> seq;
      for (unsigned i = 0; i < nested.getNumLoops(); ++i)
        seq.push_back(gpu::ParallelLoopDimMappingAttr::get(
            ctx, gpu::Processor::Sequential, rewriter.getDimIdentityMap(),
            rewriter.getDimIdentityMap()));
      (void)gpu::setMappingAttr(nested, seq);
    });
    int64_t total;
    FailureOr<scf::ParallelOp> flat = linearise(rewriter, loop, total);
    if (failed(flat))
      return func.emitError("GPU mapping: a parallel loop without constant "
                            "bounds");
    if (total == 0) {
      rewriter.eraseOp(*flat);
      continue;
    }
    int64_t tile = std::min<int64_t>(kMaxBlock, (total + 31) / 32 * 32);
    auto [outer, inner] = scf::tileParallelLoop(*flat, {tile},
                                                /*noMinMaxBounds=*/true);
    auto map = [&](gpu::Processor p) {
      return gpu::ParallelLoopDimMappingAttr::get(
          ctx, p, rewriter.getDimIdentityMap(), rewriter.getDimIdentityMap());
    };
    if (failed(gpu::setMappingAttr(outer, {map(gpu::Processor::BlockX)})) ||
        failed(gpu::setMappingAttr(inner, {map(gpu::Processor::ThreadX)})))
      return func.emitError("GPU mapping: invalid loop mapping");
  }
  return success();
}

//===----------------------------------------------------------------------===//
// The kernel module's GPU pipeline
//===----------------------------------------------------------------------===//

/// Orders every linalg op's loops parallel-first and maps reductions with
/// few, long outputs to one block per output.
struct GpuPrepareLoopsPass
    : public PassWrapper<GpuPrepareLoopsPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(GpuPrepareLoopsPass)
  StringRef getArgument() const final { return "tac-gpu-prepare-loops"; }
  void runOnOperation() override {
    reorderLinalgLoops(getOperation(), parallelFirstLoopOrder);
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (failed(mapBlockReduction(func)))
        return signalPassFailure();
  }
};

/// Linearises and maps each kernel's parallel loop to blocks and threads.
struct GpuMapLoopsPass
    : public PassWrapper<GpuMapLoopsPass, OperationPass<func::FuncOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(GpuMapLoopsPass)
  StringRef getArgument() const final { return "tac-gpu-map-loops"; }
  void runOnOperation() override {
    if (failed(mapKernelLoops(getOperation())))
      signalPassFailure();
  }
};

/// Moves every pure value a launch uses into it, so launches take only the
/// kernel function's arguments.
struct GpuSinkIntoLaunchesPass
    : public PassWrapper<GpuSinkIntoLaunchesPass, OperationPass<func::FuncOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(GpuSinkIntoLaunchesPass)
  StringRef getArgument() const final { return "tac-gpu-sink-into-launches"; }
  void runOnOperation() override {
    SmallVector<gpu::LaunchOp> launches;
    getOperation().walk([&](gpu::LaunchOp op) { launches.push_back(op); });
    for (gpu::LaunchOp launch : launches)
      if (failed(sinkOperationsIntoLaunchOp(launch, [](Operation *op) {
            return op->getNumRegions() == 0 && isPure(op);
          }))) {
        launch.emitError("sinking values into a GPU launch failed");
        return signalPassFailure();
      }
  }
};

/// Kernel functions (one linalg op each) -> gpu.launch_func of outlined
/// gpu.funcs with constant grids and blocks (steps 2 and 3 above).
void buildGpuKernelsPipeline(OpPassManager &pm) {
  pm.addPass(std::make_unique<GpuPrepareLoopsPass>());
  OpPassManager &func = pm.nest<func::FuncOp>();
  func.addPass(createConvertLinalgToParallelLoopsPass());
  func.addPass(std::make_unique<GpuMapLoopsPass>());
  func.addPass(createConvertParallelLoopToGpuPass());
  pm.addPass(createCanonicalizerPass());
  pm.nest<func::FuncOp>().addPass(std::make_unique<GpuSinkIntoLaunchesPass>());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createCanonicalizerPass()); // constant launch dimensions
}

/// The gpu.module of every kernel -> NVVM -> PTX per chip (step 4).
void buildNvvmPipeline(OpPassManager &pm, const std::string &toolkit) {
  OpPassManager &gpm = pm.nest<gpu::GPUModuleOp>();
  gpm.addPass(memref::createExpandStridedMetadataPass());
  gpm.addPass(createLowerAffinePass());
  gpm.addPass(createSCFToControlFlowPass());
  ConvertGpuOpsToNVVMOpsOptions nvvm;
  nvvm.useBarePtrCallConv = true;
  gpm.addPass(createConvertGpuOpsToNVVMOps(nvvm));
  gpm.addPass(createCanonicalizerPass());
  gpm.addPass(createReconcileUnrealizedCastsPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa"; // PTX; ptxas/fatbinary run below
  binary.toolkitPath = toolkit;
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

/// The constant value of a launch dimension.
std::optional<uint32_t> constantDim(Value v) {
  APInt value;
  if (!matchPattern(v, m_ConstantInt(&value)) || value.isNegative() ||
      value.getZExtValue() > UINT32_MAX)
    return std::nullopt;
  return static_cast<uint32_t>(value.getZExtValue());
}

std::string toolkitPath(const CudaTarget &target) {
  if (!target.toolkitPath.empty())
    return target.toolkitPath;
  for (const char *var : {"CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"})
    if (const char *value = std::getenv(var); value && *value)
      return value;
  return "/usr/local/cuda";
}

/// A CUDA tool from the toolkit's bin/ or PATH.
std::optional<std::string> findCudaTool(StringRef name,
                                        const std::string &toolkit) {
  SmallString<128> path(toolkit);
  llvm::sys::path::append(path, "bin", name);
  if (llvm::sys::fs::can_execute(path))
    return std::string(path);
  if (llvm::ErrorOr<std::string> found = llvm::sys::findProgramByName(name))
    return *found;
  return std::nullopt;
}

FailureOr<std::vector<uint8_t>> readFile(StringRef path, Location loc) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return emitError(loc, "cannot read ") << path, failure();
  StringRef bytes = (*buffer)->getBuffer();
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

} // namespace

FailureOr<CudaKernels>
mlir::tac::compileCudaKernels(ModuleOp module, const KernelTable &kernels,
                              const CudaTarget &target) {
  Location loc = module.getLoc();
  MLIRContext *context = module.getContext();
  if (target.chips.empty())
    return emitError(loc, "no CUDA architecture to compile for"), failure();
  for (const std::string &chip : target.chips)
    if (unsigned number; !StringRef(chip).starts_with("sm_") ||
                         StringRef(chip).drop_front(3).getAsInteger(10, number))
      return emitError(loc, "unknown CUDA architecture '")
                 << chip << "'; use names such as sm_80, sm_87, sm_90",
             failure();
  {
    DialectRegistry registry;
    registerAllExtensions(registry);
    NVVM::registerNVVMTargetInterfaceExternalModels(registry);
    registerAllToLLVMIRTranslations(registry);
    context->appendDialectRegistry(registry);
    context->loadDialect<gpu::GPUDialect, NVVM::NVVMDialect,
                         LLVM::LLVMDialect, scf::SCFDialect,
                         arith::ArithDialect, memref::MemRefDialect,
                         affine::AffineDialect, cf::ControlFlowDialect>();
  }

  CudaKernels result;
  result.kernels.resize(kernels.symbols.size());

  FailureOr<OwningOpRef<ModuleOp>> extracted =
      extractKernelModule(module, kernels);
  if (failed(extracted))
    return failure();
  OwningOpRef<ModuleOp> kernelModule = std::move(*extracted);
  for (auto [i, symbol] : llvm::enumerate(kernels.symbols)) {
    auto func = kernelModule->lookupSymbol<func::FuncOp>(symbol);
    if (std::optional<format::GemmDesc> gemm = recogniseGemm(func)) {
      result.kernels[i].hasGemm = true;
      result.kernels[i].gemm = *gemm;
    }
  }
  {
    PassManager pm(context);
    buildGpuKernelsPipeline(pm);
    if (failed(pm.run(*kernelModule)))
      return emitError(loc, "mapping the kernels to GPU launches failed"),
             failure();
  }

  // Launch descriptions, per kernel in plan order.
  for (auto [i, symbol] : llvm::enumerate(kernels.symbols)) {
    auto func = kernelModule->lookupSymbol<func::FuncOp>(symbol);
    WalkResult walk = func.walk([&](gpu::LaunchFuncOp op) {
      format::GpuLaunchDesc launch;
      launch.entry = op.getKernelName().str();
      gpu::KernelDim3 grid = op.getGridSizeOperandValues();
      gpu::KernelDim3 block = op.getBlockSizeOperandValues();
      Value dims[6] = {grid.x, grid.y, grid.z, block.x, block.y, block.z};
      for (int d = 0; d < 6; ++d) {
        std::optional<uint32_t> value = constantDim(dims[d]);
        if (!value) {
          op.emitError("GPU launch of @") << symbol << " has a non-constant "
                                                       "grid or block size";
          return WalkResult::interrupt();
        }
        (d < 3 ? launch.grid[d] : launch.block[d - 3]) = *value;
      }
      if (Value shared = op.getDynamicSharedMemorySize()) {
        std::optional<uint32_t> bytes = constantDim(shared);
        if (!bytes) {
          op.emitError("non-constant dynamic shared memory");
          return WalkResult::interrupt();
        }
        launch.sharedBytes = *bytes;
      }
      for (Value operand : op.getKernelOperands()) {
        auto arg = dyn_cast<BlockArgument>(operand);
        if (!arg || arg.getOwner() != &func.getBody().front() ||
            !isa<MemRefType>(arg.getType())) {
          op.emitError("GPU launch of @")
              << symbol << " takes a value that is not one of the kernel's "
              << "buffer arguments: " << operand;
          return WalkResult::interrupt();
        }
        launch.args.push_back(arg.getArgNumber());
      }
      result.kernels[i].launches.push_back(std::move(launch));
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return failure();
  }

  // One gpu.module holding every kernel entry.
  OwningOpRef<ModuleOp> deviceModule = ModuleOp::create(loc);
  {
    OpBuilder builder(context);
    builder.setInsertionPointToEnd(deviceModule->getBody());
    SmallVector<Attribute> targets;
    std::string toolkit = toolkitPath(target);
    for (const std::string &chip : target.chips)
      targets.push_back(NVVM::NVVMTargetAttr::get(
          context, /*optLevel=*/3, "nvptx64-nvidia-cuda", chip,
          target.ptxFeatures));
    auto gpuModule = gpu::GPUModuleOp::create(
        builder, loc, "tac_cuda_kernels", builder.getArrayAttr(targets));
    builder.setInsertionPointToStart(gpuModule.getBody());
    for (auto source : kernelModule->getOps<gpu::GPUModuleOp>())
      for (Operation &op : source.getBody()->without_terminator())
        builder.clone(op);
    deviceModule.get()->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                                builder.getUnitAttr());
    PassManager pm(context);
    buildNvvmPipeline(pm, toolkit);
    if (failed(pm.run(*deviceModule)))
      return emitError(loc, "lowering the GPU kernels to PTX failed (math "
                            "functions need libdevice: set CUDA_HOME to the "
                            "CUDA toolkit)"),
             failure();
  }
  for (auto binary : deviceModule->getOps<gpu::BinaryOp>())
    for (Attribute attr : binary.getObjects()) {
      auto object = cast<gpu::ObjectAttr>(attr);
      auto nvvmTarget = cast<NVVM::NVVMTargetAttr>(object.getTarget());
      result.ptx.push_back(
          {nvvmTarget.getChip().str(), object.getObject().getValue().str()});
    }
  if (result.ptx.size() != target.chips.size())
    return emitError(loc, "expected PTX for ")
               << target.chips.size() << " chips, got " << result.ptx.size(),
           failure();

  // cubins + fatbin when the toolkit's ptxas and fatbinary are here.
  std::string toolkit = toolkitPath(target);
  std::optional<std::string> ptxas = findCudaTool("ptxas", toolkit);
  std::optional<std::string> fatbinary = findCudaTool("fatbinary", toolkit);
  format::GpuCodeObjectDesc object;
  if (!ptxas || !fatbinary || target.ptxOnly) {
    // PTX of the oldest chip: the driver JIT-compiles it for any newer one.
    size_t oldest = 0;
    for (size_t i = 1; i < result.ptx.size(); ++i)
      if (std::stoi(result.ptx[i].first.substr(3)) <
          std::stoi(result.ptx[oldest].first.substr(3)))
        oldest = i;
    object.format = "ptx";
    object.archs = {result.ptx[oldest].first};
    const std::string &text = result.ptx[oldest].second;
    object.bytes.assign(text.begin(), text.end());
    object.bytes.push_back(0); // cuLibraryLoadData takes NUL-terminated PTX
    if (!target.ptxOnly)
      result.notes.push_back("ptxas/fatbinary not found (looked in " +
                             toolkit + "/bin and PATH): embedding " +
                             object.archs[0] +
                             " PTX only; the driver compiles it at load");
    result.code.push_back(std::move(object));
    return result;
  }
  SmallString<128> dir;
  if (llvm::sys::fs::createUniqueDirectory("tac-cuda", dir))
    return emitError(loc, "cannot create a temporary directory"), failure();
  llvm::scope_exit cleanup([&] { llvm::sys::fs::remove_directories(dir); });
  std::vector<std::string> fatArgs = {*fatbinary, "-64", "--create=" +
                                      (dir + "/kernels.fatbin").str()};
  size_t newest = 0;
  for (size_t i = 0; i < result.ptx.size(); ++i) {
    const auto &[chip, text] = result.ptx[i];
    std::string ptxPath = (dir + "/" + chip + ".ptx").str();
    std::string cubinPath = (dir + "/" + chip + ".cubin").str();
    {
      std::error_code ec;
      llvm::raw_fd_ostream out(ptxPath, ec);
      if (ec)
        return emitError(loc, "cannot write ") << ptxPath, failure();
      out << text;
    }
    if (failed(runTool(*ptxas,
                       {*ptxas, "-arch=" + chip, "-O3", "-o", cubinPath,
                        ptxPath},
                       loc)))
      return failure();
    fatArgs.push_back("--image3=kind=elf,sm=" + chip.substr(3) +
                      ",file=" + cubinPath);
    object.archs.push_back(chip);
    if (std::stoi(chip.substr(3)) > std::stoi(result.ptx[newest].first.substr(3)))
      newest = i;
  }
  fatArgs.push_back("--image3=kind=ptx,sm=" +
                    result.ptx[newest].first.substr(3) + ",file=" +
                    (dir + "/" + result.ptx[newest].first + ".ptx").str());
  SmallVector<StringRef> argRefs(fatArgs.begin(), fatArgs.end());
  if (failed(runTool(*fatbinary, argRefs, loc)))
    return failure();
  FailureOr<std::vector<uint8_t>> bytes =
      readFile((dir + "/kernels.fatbin").str(), loc);
  if (failed(bytes))
    return failure();
  object.format = "fatbin";
  object.bytes = std::move(*bytes);
  result.code.push_back(std::move(object));
  return result;
}
