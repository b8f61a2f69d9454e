//===- CostModel.h - FLOPs, bytes and activation memory ---------*- C++ -*-===//
//
// The cost model behind `tac-estimate-cost`, as a library: `tac-compile
// --report` and the runtime's budget mode read the same numbers, and the
// lowering reuses the arena plan (value → offset, size).
//
// Every number is static: shapes must be static (the importer guarantees
// it); what cannot be counted is counted as 0 and listed (`unmodelledOps`,
// `dynamicLoops`) rather than guessed. The conventions are documented in
// docs/passes/estimate-cost.md; in short:
//
// - FLOPs: a linalg op costs (its iteration-space size) × (the compute ops of
//   its payload), so a matmul M×K×N is 2·M·K·N (multiply + add) and an
//   elementwise op one FLOP per compute op per element. Compute ops are the
//   arith and math ops except constants and casts; each counts 1.
// - bytes moved: per op, the tensor operands it reads plus the results it
//   writes; views (reshapes, slices, casts) move nothing, and a linalg
//   `outs` operand is read only when its payload uses it.
// - activation memory: a liveness-based plan of the function's intermediate
//   tensors in one arena, with in-place reuse; inputs and constants live
//   outside the arena, returned values inside it. The buffers are placed by
//   the planner the backend's plan builder uses too
//   (tac/Analysis/ArenaPlanner.h).
//
// Implemented in OpCost.cpp (sizes, op and function FLOPs/bytes),
// ArenaLiveness.cpp (buffers and live ranges) and CostReport.cpp (module
// costs, attributes, the table).
//
//===----------------------------------------------------------------------===//

#ifndef TAC_PASSES_COSTMODEL_H
#define TAC_PASSES_COSTMODEL_H

#include "dialects/Tac/TacDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlir::tac {

/// The pass writes TacDialect::kCostAttrName, kCostNoteAttrName and
/// kArenaBytesAttrName, and reads kPathAttrName and kVariantsAttrName
/// (written by tac-specialize-paths).
///
/// The note attached to functions that still hold adaptive structure.
inline constexpr llvm::StringLiteral kFullPathNote =
    "full path; specialise paths for per-path costs";

struct CostOptions {
  /// Arena offsets (and buffer sizes, for placement) are rounded up to this
  /// many bytes. 1 (the pass's setting) gives exact byte counts; a lowering
  /// that needs aligned buffers plans with its own alignment.
  int64_t alignment = 1;
};

//===----------------------------------------------------------------------===//
// Sizes and per-op costs
//===----------------------------------------------------------------------===//

/// Bytes one element of `type` occupies: ceil(bit width / 8) for integers
/// and floats (so i1 is 1 byte), 8 for index, twice the part for complex;
/// 0 for anything else.
int64_t getElementBytes(Type type);

/// Bytes of a statically shaped tensor or memref (elements × element
/// bytes); std::nullopt for a dynamic shape or a type that is not shaped.
std::optional<int64_t> getShapedBytes(Type type);

/// True for the scalar ops that count as one FLOP: arith ops other than
/// `arith.constant` and casts (arithmetic, comparisons, select, min/max,
/// bitwise), and every math op (transcendentals included).
bool isComputeOp(Operation *op);

/// The cost of one execution of an op that holds no control flow (a linalg
/// op, a tensor op, an arith op, ...). Region-holding control ops
/// (tac.gate, scf.for, ...) are costed by `estimateFunctionCost` from their
/// bodies.
struct OpCost {
  int64_t flops = 0;
  int64_t bytes = 0;
  /// False for ops the model does not know (0 FLOPs, bytes still counted)
  /// and for linalg ops with dynamic loop ranges.
  bool modelled = true;
};
OpCost estimateOpCost(Operation *op);

//===----------------------------------------------------------------------===//
// Activation memory: the arena plan
//===----------------------------------------------------------------------===//

/// A plan of a function's intermediate tensors in one arena. Positions
/// number the function's ops in execution order (nested ops included;
/// linalg payloads excluded); a buffer is live over [firstPos, lastPos].
struct ArenaPlan {
  struct Buffer {
    int64_t offset = 0;
    int64_t size = 0;
    int64_t firstPos = 0;
    int64_t lastPos = 0;
    /// Every value stored in this buffer: the producer, the values that
    /// reuse it in place, views of it, loop-carried arguments.
    SmallVector<Value, 2> values;
  };
  std::vector<Buffer> buffers;
  /// Value → index into `buffers`. Values absent from the map live outside
  /// the arena: function arguments, constants, `tensor.empty`.
  llvm::DenseMap<Value, unsigned> bufferOf;

  /// Bytes of the arena: max over buffers of offset + size (aligned).
  int64_t arenaBytes = 0;
  /// One buffer per value an op writes: the plan without any reuse.
  int64_t naiveBytes = 0;
  /// Max over positions of the bytes live at once: a lower bound on
  /// `arenaBytes` (equal when placement leaves no gaps).
  int64_t maxLiveBytes = 0;

  struct Slot {
    int64_t offset;
    int64_t size;
  };
  /// Where `value` lives in the arena (the whole buffer holding it: a slice
  /// view gets its source's buffer); std::nullopt outside the arena.
  std::optional<Slot> lookup(Value value) const;
};

/// Plans the arena of `func`'s body. For functions that still hold tac ops
/// the full path is planned (every gate on; adaptive blocks and selectable
/// stacks on their last path).
ArenaPlan planArena(func::FuncOp func, const CostOptions &options = {});

/// All variants share one arena sized to the largest plan: the max of
/// `planArena(f).arenaBytes` over `funcs`.
int64_t planArenaAcrossVariants(ArrayRef<func::FuncOp> funcs,
                                const CostOptions &options = {});

//===----------------------------------------------------------------------===//
// Function and module costs
//===----------------------------------------------------------------------===//

struct FunctionCost {
  int64_t flops = 0;
  int64_t bytesMoved = 0;
  int64_t paramBytes = 0;
  int64_t peakActivationBytes = 0;
  int64_t naiveActivationBytes = 0;
  /// The function still holds tac.gate / tac.adaptive_block / a selectable
  /// tac.layer_stack: the numbers are those of the full path.
  bool fullPathOnly = false;
  /// Op name → static occurrences of ops the model does not know.
  std::map<std::string, int64_t> unmodelledOps;
  /// Loops whose trip count is not static (counted as one iteration).
  int64_t dynamicLoops = 0;

  int64_t getNumUnmodelledOps() const;
  /// The five counts as a #tac.cost.
  CostAttr toAttribute(MLIRContext *context) const;
  /// Reads back what `toAttribute` wrote (the five numbers only).
  static std::optional<FunctionCost> fromAttribute(CostAttr attr);
};

/// The cost of `func`'s body (see the conventions above). Loops with static
/// trip counts multiply their bodies; `scf.if`/`scf.index_switch` count
/// their costliest branch.
FunctionCost estimateFunctionCost(func::FuncOp func,
                                  const CostOptions &options = {});

struct FunctionCostEntry {
  func::FuncOp func;
  std::string name;
  /// The `tac.path` attribute, for variants.
  std::optional<int64_t> path;
  FunctionCost cost;
  /// For variants: name of the full (last) path's function this one is
  /// compared with, and FLOPs as a fraction of it.
  std::string fullPathFunction;
  std::optional<double> fractionOfFull;
};

struct ModuleCost {
  /// Every function with a body, in module order.
  std::vector<FunctionCostEntry> functions;
  /// Max peak activation over the variants (functions with `tac.path`), or
  /// over all functions when there are none.
  int64_t arenaBytes = 0;
  bool arenaOverVariants = false;
};

ModuleCost estimateModuleCost(ModuleOp module, const CostOptions &options = {});

/// Sets `tac.cost` (and `tac.cost_note` where the cost is the full path's)
/// on every function of `cost`, and `tac.arena_bytes` on `module`.
void attachCostAttributes(ModuleOp module, const ModuleCost &cost);

/// Prints the cost table (format in docs/passes/estimate-cost.md).
void printCostReport(const ModuleCost &cost, llvm::raw_ostream &os);

} // namespace mlir::tac

#endif // TAC_PASSES_COSTMODEL_H
