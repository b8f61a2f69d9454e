// The thread pool of one CPU session: the generated kernels' parallel loops
// and the BLAS GEMMs' rows are split across it (docs/runtime.md, "Threads").
#ifndef TACRT_LIB_THREADPOOL_H
#define TACRT_LIB_THREADPOOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace tac::rt {

/// `threads - 1` worker threads plus the caller. A job's range is split into
/// one contiguous piece per thread that takes part (fewer when the work is
/// small); threads claim pieces as they arrive, so the caller runs the
/// pieces of a worker the system has not scheduled yet instead of waiting
/// for it (the machine may be shared). Which iterations form a piece never
/// depends on timing. Idle workers block on a condition variable after a
/// short bounded spin (kSpinMicroseconds): a pool between runs costs no CPU
/// time. One job at a time: parallelFor is called by the thread that owns
/// the session. A worker woken onto the CPU its caller runs on moves off it
/// (Linux: its affinity becomes the CPUs it started with, less that one):
/// the two would otherwise take turns on one CPU while the other idles.
class ThreadPool {
public:
  using Body = void (*)(void *context, int64_t begin, int64_t end);

  /// How long a worker keeps looking for the next job before it sleeps:
  /// the kernels of one run follow each other within microseconds.
  static constexpr int64_t kSpinMicroseconds = 50;
  /// Least estimated scalar operations (or GEMM flops) per thread worth
  /// waking it for: about 5-10 us of vectorised work on an AVX2 core, 1-2
  /// us of AVX-512 GEMM on a Zen 5. There, with the two vCPUs close (a
  /// cache-line round trip of 80 ns), 2^16 ran vit_tiny, bert_tiny and
  /// gpt2_tiny at batch 1 and two threads 2-5% faster and 2^19 up to 29%
  /// slower (`tac-run X.tacm --random --threads=2 --benchmark=4000`, the
  /// runtime rebuilt with each value); 2^18 stays, since a split costs
  /// more when the vCPUs are far apart (400 ns: docs/bench.md, "What
  /// limits the rest").
  static constexpr int64_t kMinWorkPerThread = int64_t(1) << 18;

  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  /// body(context, begin, end) over [0, iterations), `cost` estimated scalar
  /// operations per iteration; returns when every piece is done.
  void parallelFor(Body body, void *context, int64_t iterations, int64_t cost);

  /// How many threads a job of this size runs on (1: the caller alone).
  int threadsFor(int64_t iterations, int64_t cost) const;

  /// The C entry the code object's thread bridge calls (tac_pool_fn).
  static void run(void *pool, Body body, void *context, int64_t iterations,
                  int64_t cost);

private:
  void work();
  /// Claims and runs pieces of job `job` until none is left.
  void claimPieces(uint64_t job);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_; // workers: a new job or stop
  std::condition_variable done_; // the caller: every piece finished
  // The current job, written by the caller before it publishes state_.
  Body body_ = nullptr;
  void *context_ = nullptr;
  int64_t iterations_ = 0;
  // state_: job number << 16 | pieces << 8 | pieces claimed so far.
  std::atomic<uint64_t> state_{0};
  std::atomic<int> finished_{0}; // pieces of the current job done
  std::atomic<int> sleeping_{0}; // workers blocked on wake_
  std::atomic<int> callerCpu_{-1}; // the caller's CPU when it last woke any
  bool stop_ = false;
};

} // namespace tac::rt

#endif // TACRT_LIB_THREADPOOL_H
