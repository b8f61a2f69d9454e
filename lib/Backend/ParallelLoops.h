//===- ParallelLoops.h - kernel loops split across the runtime's threads --===//
//
// The CPU code generator's threading: each kernel's outermost parallel loop
// nest with enough work is outlined into a body function over a range of
// its iterations, and the kernel calls the runtime's thread pool through
// `tac_parallel_for` (docs/backend.md, "Threads").
//
//===----------------------------------------------------------------------===//

#ifndef TAC_LIB_BACKEND_PARALLELLOOPS_H
#define TAC_LIB_BACKEND_PARALLELLOOPS_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <string>
#include <vector>

namespace llvm {
class Module;
} // namespace llvm

namespace mlir::tac {

/// One outlined loop nest: the kernel calls `fork` (same arguments as the
/// kernel), which hands `body(begin, end, kernel args...)` to the runtime for
/// the iterations [0, iterations).
struct ParallelLoop {
  std::string kernel; // the kernel function it came from
  std::string body;   // func(index begin, index end, kernel args...)
  std::string fork;   // declared func(kernel args...), defined in LLVM IR
  int64_t iterations = 0;
  int64_t costPerIteration = 0; // scalar operations per iteration, estimated
};

/// Least estimated scalar operations of a loop nest worth splitting: below
/// it the nest stays on the calling thread, compiled as it was. Twice what
/// the runtime's pool wants per thread (ThreadPool::kMinWorkPerThread,
/// 256Ki): a nest that could never use a second thread is not outlined.
constexpr int64_t kMinParallelWork = int64_t(1) << 19;

/// Lowers every linalg op of the module to loops (parallel dimensions as
/// scf.parallel) and outlines each top-level scf.parallel nest of `kernels`
/// whose work is at least `minWork`: the outer dimensions (all of them when
/// the body has loops of its own, else all but the innermost, which stays
/// the body's vectorisable loop) become one range the runtime splits.
/// Nests that capture anything but the kernel's arguments and pure,
/// region-free values stay as they are. The caller passes only kernels
/// whose calls never overlap their arguments (the bodies' pointers are
/// marked noalias, and iterations may run in any order).
std::vector<ParallelLoop> outlineParallelLoops(ModuleOp kernelModule,
                                               llvm::ArrayRef<std::string>
                                                   kernels,
                                               int64_t minWork);

/// Defines each loop's `fork` in the translated module: the kernel's
/// argument pointers go into a stack array, and
/// `tac_parallel_for(thunk, array, iterations, cost)` runs `thunk(array,
/// begin, end)` -> `body(begin, end, args...)` on the session's threads.
/// Returns false when a function is missing or has an unexpected type.
bool defineParallelForks(llvm::Module &module,
                         llvm::ArrayRef<ParallelLoop> loops);

/// The C source of the code object's thread bridge: the calling thread's
/// pool (set by the runtime with tac_use_thread_pool before a run) and
/// tac_parallel_for, which runs a body on it or, without one, inline.
extern const char *const kThreadBridge;

} // namespace mlir::tac

#endif // TAC_LIB_BACKEND_PARALLELLOOPS_H
