//===- ArenaPlanner.h - place live ranges in one arena ----------*- C++ -*-===//
//
// The one arena planner of tac. Both clients describe their buffers as
// (size, live range) and get offsets back:
//
// - the cost model (passes/ArenaLiveness.cpp) plans a function's
//   intermediate tensors, positions being ops in execution order; its arena
//   is `tac.arena_bytes` and `peak_activation_bytes`;
// - the plan builder (lib/Backend/PlanBuilder.cpp) plans the memref.allocs
//   of a host plan, positions being the plan's steps; its arena is the one
//   the runtime allocates (`arena_bytes` of each plan in the .tacm).
//
// The planner only places: what is live when is the client's business. Its
// guarantee, which the compiler's and the loader's `verifyPlanMemory` check
// on every plan, is that two buffers whose live ranges intersect never share
// a byte. Offsets and the arena size are multiples of the alignment.
//
//===----------------------------------------------------------------------===//

#ifndef TAC_ANALYSIS_ARENAPLANNER_H
#define TAC_ANALYSIS_ARENAPLANNER_H

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace mlir::tac {

/// One buffer to place: `size` bytes live over the positions
/// [firstPos, lastPos] (both inclusive). A buffer of size 0 takes no bytes
/// (it gets offset 0 and conflicts with nothing).
struct ArenaRequest {
  int64_t size = 0;
  int64_t firstPos = 0;
  int64_t lastPos = 0;
};

struct ArenaLayout {
  /// Offset of each request, in request order.
  std::vector<int64_t> offsets;
  /// Bytes of the arena: max over buffers of offset + aligned size.
  int64_t arenaBytes = 0;
  /// Max over positions of the (aligned) bytes live at once: a lower bound
  /// on `arenaBytes`, equal when placement leaves no gaps.
  int64_t maxLiveBytes = 0;
};

/// Places `requests` in one arena. Sizes are rounded up to `alignment`
/// (a power of two or any positive number; 1 gives exact byte counts), so
/// every offset is a multiple of it.
///
/// The heuristic: place the buffers one at a time, each at the best-fitting
/// (smallest) gap left by the already placed buffers whose live ranges
/// intersect it, else on top of them; try four orders (largest first,
/// program order, longest lived first, largest size × lifetime first) and
/// keep the smallest arena (ties keep the earlier order).
ArenaLayout placeArena(llvm::ArrayRef<ArenaRequest> requests,
                       int64_t alignment = 1);

/// Two requests, by index, that are live at the same position and overlap
/// in `layout` (aligned sizes); std::nullopt when the layout is sound.
std::optional<std::pair<size_t, size_t>>
findArenaConflict(llvm::ArrayRef<ArenaRequest> requests,
                  const ArenaLayout &layout, int64_t alignment = 1);

} // namespace mlir::tac

#endif // TAC_ANALYSIS_ARENAPLANNER_H
