//===- ArenaPlanner.cpp - place live ranges in one arena ------------------===//
//
// See ArenaPlanner.h. Greedy interval-graph colouring by offsets: for each
// buffer, the busy byte ranges are those of the placed buffers live at the
// same time; the buffer takes the smallest gap between them that fits, or
// goes on top. Several orders are tried because no single greedy order wins
// on every model (see docs/backend.md, "Plans and the arena").
//
//===----------------------------------------------------------------------===//

#include "tac/Analysis/ArenaPlanner.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/Sequence.h"
#include "llvm/ADT/SmallVector.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <map>
#include <tuple>

using namespace mlir::tac;

namespace {
int64_t alignUp(int64_t bytes, int64_t alignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

/// Places the requests in `order`; returns the offsets and the arena size.
std::pair<std::vector<int64_t>, int64_t>
placeInOrder(llvm::ArrayRef<ArenaRequest> requests,
             llvm::ArrayRef<unsigned> order, int64_t alignment) {
  std::vector<int64_t> offsets(requests.size(), 0);
  int64_t arena = 0;
  llvm::SmallVector<unsigned> placed;
  for (unsigned index : order) {
    const ArenaRequest &buffer = requests[index];
    int64_t size = alignUp(buffer.size, alignment);
    if (size == 0)
      continue;
    llvm::SmallVector<std::pair<int64_t, int64_t>> busy;
    for (unsigned other : placed) {
      const ArenaRequest &o = requests[other];
      if (o.firstPos <= buffer.lastPos && buffer.firstPos <= o.lastPos)
        busy.push_back({offsets[other], alignUp(o.size, alignment)});
    }
    llvm::sort(busy);
    int64_t cursor = 0, best = -1, bestGap = 0;
    for (auto [offset, busySize] : busy) {
      int64_t gap = offset - cursor;
      if (gap >= size && (best < 0 || gap < bestGap)) {
        best = cursor;
        bestGap = gap;
      }
      cursor = std::max(cursor, offset + busySize);
    }
    offsets[index] = best >= 0 ? best : cursor;
    arena = std::max(arena, offsets[index] + size);
    placed.push_back(index);
  }
  return {std::move(offsets), arena};
}
} // namespace

ArenaLayout mlir::tac::placeArena(llvm::ArrayRef<ArenaRequest> requests,
                                  int64_t alignment) {
  alignment = std::max<int64_t>(alignment, 1);
  ArenaLayout layout;
  auto length = [&](unsigned i) {
    return requests[i].lastPos - requests[i].firstPos + 1;
  };
  using Key = std::function<std::tuple<int64_t, int64_t, int64_t>(unsigned)>;
  Key keys[] = {
      [&](unsigned i) {
        return std::tuple{-requests[i].size, requests[i].firstPos, 0};
      },
      [&](unsigned i) {
        return std::tuple{requests[i].firstPos, -requests[i].size, 0};
      },
      [&](unsigned i) {
        return std::tuple{-length(i), -requests[i].size, requests[i].firstPos};
      },
      [&](unsigned i) {
        return std::tuple{-requests[i].size * length(i), requests[i].firstPos,
                          0};
      },
  };
  int64_t bestArena = -1;
  for (const Key &key : keys) {
    llvm::SmallVector<unsigned> order = llvm::to_vector(
        llvm::seq<unsigned>(0, static_cast<unsigned>(requests.size())));
    llvm::stable_sort(order,
                      [&](unsigned a, unsigned b) { return key(a) < key(b); });
    auto [offsets, arena] = placeInOrder(requests, order, alignment);
    if (bestArena < 0 || arena < bestArena) {
      bestArena = arena;
      layout.offsets = std::move(offsets);
    }
  }
  layout.arenaBytes = std::max<int64_t>(bestArena, 0);

  // Bytes live at once: +size where a range starts, -size after it ends.
  std::map<int64_t, int64_t> delta;
  for (const ArenaRequest &request : requests) {
    int64_t size = alignUp(request.size, alignment);
    delta[request.firstPos] += size;
    delta[request.lastPos + 1] -= size;
  }
  int64_t live = 0;
  for (auto [position, change] : delta) {
    live += change;
    layout.maxLiveBytes = std::max(layout.maxLiveBytes, live);
  }
  assert(!findArenaConflict(requests, layout, alignment) &&
         "arena planner placed two live buffers on the same bytes");
  return layout;
}

std::optional<std::pair<size_t, size_t>>
mlir::tac::findArenaConflict(llvm::ArrayRef<ArenaRequest> requests,
                             const ArenaLayout &layout, int64_t alignment) {
  alignment = std::max<int64_t>(alignment, 1);
  for (size_t a = 0; a < requests.size(); ++a) {
    int64_t sizeA = alignUp(requests[a].size, alignment);
    if (sizeA == 0)
      continue;
    for (size_t b = a + 1; b < requests.size(); ++b) {
      int64_t sizeB = alignUp(requests[b].size, alignment);
      if (sizeB == 0)
        continue;
      bool liveTogether = requests[a].firstPos <= requests[b].lastPos &&
                          requests[b].firstPos <= requests[a].lastPos;
      bool shareBytes = layout.offsets[a] < layout.offsets[b] + sizeB &&
                        layout.offsets[b] < layout.offsets[a] + sizeA;
      if (liveTogether && shareBytes)
        return std::pair{a, b};
    }
  }
  return std::nullopt;
}
