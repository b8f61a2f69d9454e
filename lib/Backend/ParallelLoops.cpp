//===- ParallelLoops.cpp - kernel loops split across the runtime's threads ===//
//
// A kernel's outermost parallel loop nest becomes a body function over a
// range of its (flattened) outer iterations; the kernel calls a fork
// function that hands the body to the runtime's thread pool. The pool splits
// the range into one contiguous piece per thread; every iteration computes
// exactly what it did on one thread (reductions stay inside an iteration),
// so results do not depend on the thread count.
//
//===----------------------------------------------------------------------===//

#include "ParallelLoops.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/LoopLikeInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"

#include <limits>

using namespace mlir;
using namespace mlir::tac;

namespace {

/// a * b, saturating at the largest int64.
int64_t saturatingMul(int64_t a, int64_t b) {
  int64_t product;
  if (__builtin_mul_overflow(a, b, &product))
    return std::numeric_limits<int64_t>::max();
  return product;
}

int64_t saturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  if (__builtin_add_overflow(a, b, &sum))
    return std::numeric_limits<int64_t>::max();
  return sum;
}

/// Iterations of a loop with constant bounds and a positive step.
std::optional<int64_t> tripCount(Value lower, Value upper, Value step) {
  std::optional<int64_t> lb = getConstantIntValue(lower);
  std::optional<int64_t> ub = getConstantIntValue(upper);
  std::optional<int64_t> st = getConstantIntValue(step);
  if (!lb || !ub || !st || *st <= 0)
    return std::nullopt;
  return *ub <= *lb ? 0 : (*ub - *lb + *st - 1) / *st;
}

/// Estimated scalar operations of one execution of `block`: one per op,
/// loops with constant bounds times their trip count (unknown bounds: once).
int64_t blockCost(Block &block) {
  int64_t cost = 0;
  for (Operation &op : block) {
    int64_t opCost = 1;
    if (auto loop = dyn_cast<scf::ForOp>(op)) {
      opCost = saturatingMul(
          tripCount(loop.getLowerBound(), loop.getUpperBound(), loop.getStep())
              .value_or(1),
          blockCost(*loop.getBody()));
    } else if (auto loop = dyn_cast<scf::ParallelOp>(op)) {
      opCost = blockCost(*loop.getBody());
      for (auto [lb, ub, st] : llvm::zip(loop.getLowerBound(),
                                         loop.getUpperBound(), loop.getStep()))
        opCost = saturatingMul(opCost, tripCount(lb, ub, st).value_or(1));
    } else {
      for (Region &region : op.getRegions())
        for (Block &inner : region)
          opCost = saturatingAdd(opCost, blockCost(inner));
    }
    cost = saturatingAdd(cost, opCost);
  }
  return std::max<int64_t>(cost, 1);
}

/// Whether `value` can be recomputed in the outlined body: an argument of
/// the kernel (passed on), or a pure, region-free op over such values
/// (constants, views), added to `clones` after its operands.
bool recomputable(Value value, Block &entry,
                  llvm::SetVector<Operation *> &clones) {
  if (auto arg = dyn_cast<BlockArgument>(value))
    return arg.getOwner() == &entry;
  Operation *def = value.getDefiningOp();
  if (clones.contains(def))
    return true;
  if (def->getNumRegions() != 0 || !isMemoryEffectFree(def))
    return false;
  for (Value operand : def->getOperands())
    if (!recomputable(operand, entry, clones))
      return false;
  clones.insert(def);
  return true;
}

/// Outlines `nest` of `kernel` when it has the work; returns the loop or
/// nullopt (nothing changed).
std::optional<ParallelLoop> outlineNest(func::FuncOp kernel,
                                        scf::ParallelOp nest, unsigned index,
                                        int64_t minWork) {
  if (nest.getNumResults() != 0 || !nest.getInitVals().empty())
    return std::nullopt;
  unsigned dims = nest.getNumLoops();
  SmallVector<int64_t> lower, step, trips;
  for (unsigned d = 0; d < dims; ++d) {
    std::optional<int64_t> lb = getConstantIntValue(nest.getLowerBound()[d]);
    std::optional<int64_t> st = getConstantIntValue(nest.getStep()[d]);
    std::optional<int64_t> n =
        tripCount(nest.getLowerBound()[d], nest.getUpperBound()[d],
                  nest.getStep()[d]);
    if (!lb || !st || !n)
      return std::nullopt;
    lower.push_back(*lb);
    step.push_back(*st);
    trips.push_back(*n);
  }
  // The innermost dimension stays a loop of its own (the one LLVM
  // vectorises) unless the body has loops, which then carry the work.
  bool bodyHasLoops = false;
  nest.getBody()->walk([&](LoopLikeOpInterface) { bodyHasLoops = true; });
  unsigned outer = bodyHasLoops || dims == 1 ? dims : dims - 1;
  int64_t iterations = 1, cost = blockCost(*nest.getBody());
  for (unsigned d = 0; d < dims; ++d) {
    if (d < outer)
      iterations = saturatingMul(iterations, trips[d]);
    else
      cost = saturatingMul(cost, trips[d]);
  }
  if (iterations < 2 || iterations == std::numeric_limits<int64_t>::max() ||
      saturatingMul(iterations, cost) < minWork)
    return std::nullopt;

  Block &entry = kernel.getBody().front();
  llvm::SetVector<Value> captured;
  getUsedValuesDefinedAbove(nest.getRegion(), captured);
  llvm::SetVector<Operation *> clones;
  for (Value value : captured)
    if (!recomputable(value, entry, clones))
      return std::nullopt;

  MLIRContext *context = kernel.getContext();
  Location loc = nest.getLoc();
  OpBuilder builder(context);
  builder.setInsertionPointAfter(kernel);
  Type indexType = builder.getIndexType();
  SmallVector<Type> bodyInputs = {indexType, indexType};
  llvm::append_range(bodyInputs, kernel.getArgumentTypes());
  ParallelLoop loop;
  loop.kernel = kernel.getSymName().str();
  loop.body = loop.kernel + "_par" + std::to_string(index);
  loop.fork = loop.body + "_fork";
  loop.iterations = iterations;
  loop.costPerIteration = cost;

  auto body = func::FuncOp::create(builder, loc, loop.body,
                                   FunctionType::get(context, bodyInputs, {}));
  body.setPrivate();
  Block *bodyEntry = body.addEntryBlock();
  builder.setInsertionPointToStart(bodyEntry);
  IRMapping map;
  for (unsigned i = 0; i < kernel.getNumArguments(); ++i)
    map.map(kernel.getArgument(i), bodyEntry->getArgument(i + 2));
  for (Operation *op : clones)
    builder.clone(*op, map);
  auto constant = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(builder, loc, value);
  };
  Value one = constant(1);
  auto range = scf::ForOp::create(builder, loc, bodyEntry->getArgument(0),
                                  bodyEntry->getArgument(1), one);
  builder.setInsertionPointToStart(range.getBody());
  // Flattened outer index -> one value per outer dimension (row-major).
  Value rest = range.getInductionVar();
  SmallVector<Value> ivs(dims);
  for (unsigned k = outer; k-- > 0;) {
    Value position = rest;
    if (k > 0) {
      Value extent = constant(trips[k]);
      position = arith::RemUIOp::create(builder, loc, rest, extent);
      rest = arith::DivUIOp::create(builder, loc, rest, extent);
    }
    if (step[k] != 1)
      position = arith::MulIOp::create(builder, loc, position,
                                       constant(step[k]));
    if (lower[k] != 0)
      position = arith::AddIOp::create(builder, loc, position,
                                       constant(lower[k]));
    ivs[k] = position;
  }
  auto emitBody = [&](OpBuilder &b) {
    for (unsigned d = 0; d < dims; ++d)
      map.map(nest.getInductionVars()[d], ivs[d]);
    for (Operation &op : nest.getBody()->without_terminator())
      b.clone(op, map);
  };
  if (outer < dims) {
    SmallVector<Value> lbs, ubs, steps;
    for (unsigned d = outer; d < dims; ++d) {
      lbs.push_back(constant(lower[d]));
      ubs.push_back(constant(lower[d] + trips[d] * step[d]));
      steps.push_back(constant(step[d]));
    }
    scf::buildLoopNest(builder, loc, lbs, ubs, steps,
                       [&](OpBuilder &b, Location, ValueRange inner) {
                         for (unsigned d = outer; d < dims; ++d)
                           ivs[d] = inner[d - outer];
                         emitBody(b);
                       });
  } else {
    emitBody(builder);
  }
  builder.setInsertionPointToEnd(bodyEntry);
  func::ReturnOp::create(builder, loc);

  // The kernel calls the fork, defined in LLVM IR (defineParallelForks).
  builder.setInsertionPointAfter(body);
  auto fork = func::FuncOp::create(
      builder, loc, loop.fork,
      FunctionType::get(context, kernel.getArgumentTypes(), {}));
  fork.setPrivate();
  builder.setInsertionPoint(nest);
  func::CallOp::create(builder, loc, fork, kernel.getArguments());
  nest.erase();
  return loop;
}

} // namespace

std::vector<ParallelLoop>
mlir::tac::outlineParallelLoops(ModuleOp kernelModule,
                                llvm::ArrayRef<std::string> kernels,
                                int64_t minWork) {
  std::vector<ParallelLoop> loops;
  PassManager pm(kernelModule.getContext());
  pm.addPass(createConvertLinalgToParallelLoopsPass());
  if (failed(pm.run(kernelModule)))
    return loops; // the loops lowering reports the op it cannot lower
  for (const std::string &symbol : kernels) {
    auto kernel = kernelModule.lookupSymbol<func::FuncOp>(symbol);
    if (!kernel || kernel.isDeclaration())
      continue;
    SmallVector<scf::ParallelOp> nests;
    for (Operation &op : kernel.getBody().front())
      if (auto nest = dyn_cast<scf::ParallelOp>(op))
        nests.push_back(nest);
    unsigned index = 0;
    for (scf::ParallelOp nest : nests)
      if (std::optional<ParallelLoop> loop =
              outlineNest(kernel, nest, index, minWork)) {
        loops.push_back(std::move(*loop));
        ++index;
      }
  }
  return loops;
}

bool mlir::tac::defineParallelForks(llvm::Module &module,
                                    llvm::ArrayRef<ParallelLoop> loops) {
  if (loops.empty())
    return true;
  llvm::LLVMContext &context = module.getContext();
  llvm::Type *ptr = llvm::PointerType::getUnqual(context);
  llvm::Type *i64 = llvm::Type::getInt64Ty(context);
  llvm::Type *voidType = llvm::Type::getVoidTy(context);
  auto *thunkType = llvm::FunctionType::get(voidType, {ptr, i64, i64}, false);
  llvm::FunctionCallee parallelFor = module.getOrInsertFunction(
      "tac_parallel_for",
      llvm::FunctionType::get(voidType, {ptr, ptr, i64, i64}, false));
  for (const ParallelLoop &loop : loops) {
    llvm::Function *fork = module.getFunction(loop.fork);
    llvm::Function *body = module.getFunction(loop.body);
    if (!fork || !body || !fork->isDeclaration() ||
        body->arg_size() != fork->arg_size() + 2 ||
        body->getArg(0)->getType() != i64)
      return false;
    unsigned numArgs = fork->arg_size();
    for (llvm::Argument &arg : fork->args())
      if (arg.getType() != ptr)
        return false;
    for (unsigned i = 0; i < numArgs; ++i) // as the kernel's (never overlap)
      body->addParamAttr(i + 2, llvm::Attribute::NoAlias);

    // thunk(args, begin, end): body(begin, end, args[0], args[1], ...).
    auto *thunk =
        llvm::Function::Create(thunkType, llvm::GlobalValue::InternalLinkage,
                               loop.body + ".thunk", module);
    llvm::IRBuilder<> builder(
        llvm::BasicBlock::Create(context, "entry", thunk));
    SmallVector<llvm::Value *> args = {thunk->getArg(1), thunk->getArg(2)};
    for (unsigned i = 0; i < numArgs; ++i)
      args.push_back(builder.CreateLoad(
          ptr, builder.CreateConstInBoundsGEP1_64(ptr, thunk->getArg(0), i)));
    builder.CreateCall(body, args);
    builder.CreateRetVoid();

    // fork(args...): the pointers into an array, the range to the pool.
    fork->setLinkage(llvm::GlobalValue::InternalLinkage);
    builder.SetInsertPoint(llvm::BasicBlock::Create(context, "entry", fork));
    llvm::Value *array = builder.CreateAlloca(
        ptr, builder.getInt32(std::max(numArgs, 1u)));
    for (unsigned i = 0; i < numArgs; ++i)
      builder.CreateStore(fork->getArg(i),
                          builder.CreateConstInBoundsGEP1_64(ptr, array, i));
    builder.CreateCall(parallelFor,
                       {thunk, array, builder.getInt64(loop.iterations),
                        builder.getInt64(loop.costPerIteration)});
    builder.CreateRetVoid();
  }
  return true;
}

// The calling thread's pool: set by the runtime's session before each run
// on that thread (a session may move between threads); the pool's workers
// never have one, so a body running on a worker never forks again.
const char *const mlir::tac::kThreadBridge = R"c(
#include <stdint.h>
typedef void (*tac_body_fn)(void *context, int64_t begin, int64_t end);
typedef void (*tac_pool_fn)(void *pool, tac_body_fn body, void *context,
                            int64_t iterations, int64_t cost);
static __thread void *tac_pool;
static __thread tac_pool_fn tac_pool_run;
/* The runtime, before a session runs on this thread (NULL: no pool).
   Returns the bridge's version. */
int tac_use_thread_pool(void *pool, tac_pool_fn run) {
  tac_pool = pool;
  tac_pool_run = run;
  return 1;
}
/* body(context, begin, end) over [0, iterations), split across the pool;
   cost: estimated scalar operations per iteration. */
void tac_parallel_for(tac_body_fn body, void *context, int64_t iterations,
                      int64_t cost) {
  if (tac_pool_run && iterations > 1)
    tac_pool_run(tac_pool, body, context, iterations, cost);
  else if (iterations > 0)
    body(context, 0, iterations);
}
)c";
