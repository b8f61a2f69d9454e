// The session thread pool: one job at a time, one contiguous piece per
// thread, workers that spin briefly and then sleep, never beside the caller
// on its CPU.
#include "ThreadPool.h"

#include <algorithm>
#include <chrono>
#include <limits>

#if defined(__linux__)
#include <sched.h>
#endif

namespace tac::rt {

namespace {
/// state_'s fields: the job number above the piece count (< 256) above the
/// pieces claimed, so a thread reads and claims with one atomic word.
constexpr int kJobShift = 16, kPiecesShift = 8;
constexpr uint64_t kByte = 0xff;
uint64_t jobOf(uint64_t state) { return state >> kJobShift; }
int piecesOf(uint64_t state) { return int((state >> kPiecesShift) & kByte); }
int claimedOf(uint64_t state) { return int(state & kByte); }

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Spins until `ready()` or kSpinMicroseconds have passed; returns ready().
template <typename Ready> bool spinFor(Ready ready) {
  auto start = std::chrono::steady_clock::now();
  for (int spins = 1;; ++spins) {
    if (ready())
      return true;
    cpuRelax();
    if (spins % 64 == 0 &&
        std::chrono::steady_clock::now() - start >
            std::chrono::microseconds(ThreadPool::kSpinMicroseconds))
      return ready();
  }
}

/// The CPU the calling thread runs on, or -1 where that is unknown.
int currentCpu() {
#if defined(__linux__)
  return sched_getcpu();
#else
  return -1;
#endif
}

/// The CPUs a worker may run on, as it started (the process's).
struct AllowedCpus {
  bool known = false;
#if defined(__linux__)
  cpu_set_t cpus;
  AllowedCpus() { known = sched_getaffinity(0, sizeof cpus, &cpus) == 0; }
#endif
};

/// Moves the calling worker off `cpu`, its caller's. Seen on a 2-vCPU VM:
/// a worker woken after 50 ms of idling landed on the caller's CPU, the
/// other CPU stayed idle, and MiniLM at 2 threads ran at one thread's
/// speed (bench/interference.py, step 6).
void leaveCpu(int cpu, const AllowedCpus &allowed) {
#if defined(__linux__)
  if (!allowed.known)
    return;
  cpu_set_t others;
  CPU_ZERO(&others);
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (c != cpu && CPU_ISSET(c, &allowed.cpus))
      CPU_SET(c, &others);
  if (CPU_COUNT(&others) > 0) // with one CPU allowed, sharing is the only way
    sched_setaffinity(0, sizeof others, &others);
#else
  (void)cpu;
  (void)allowed;
#endif
}
} // namespace

ThreadPool::ThreadPool(int threads) {
  int workers = std::clamp(threads, 1, int(kByte)) - 1;
  workers_.reserve(workers);
  for (int i = 0; i < workers; ++i)
    workers_.emplace_back([this] { work(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread &worker : workers_)
    worker.join();
}

int ThreadPool::threadsFor(int64_t iterations, int64_t cost) const {
  int64_t work;
  if (__builtin_mul_overflow(iterations, std::max<int64_t>(cost, 1), &work))
    work = std::numeric_limits<int64_t>::max();
  int64_t useful = std::max<int64_t>(work / kMinWorkPerThread, 1);
  return static_cast<int>(
      std::min<int64_t>({threads(), useful, std::max<int64_t>(iterations, 1)}));
}

void ThreadPool::claimPieces(uint64_t job) {
  uint64_t state = state_.load(std::memory_order_acquire);
  while (jobOf(state) == job && claimedOf(state) < piecesOf(state)) {
    if (!state_.compare_exchange_weak(state, state + 1,
                                      std::memory_order_acq_rel,
                                      std::memory_order_acquire))
      continue; // another thread claimed first: state holds the new word
    int piece = claimedOf(state), pieces = piecesOf(state);
    int64_t share = iterations_ / pieces, extra = iterations_ % pieces;
    int64_t begin = share * piece + std::min<int64_t>(piece, extra);
    int64_t end = begin + share + (piece < extra ? 1 : 0);
    if (begin < end)
      body_(context_, begin, end);
    if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == pieces) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      done_.notify_one();
    }
    state = state_.load(std::memory_order_acquire);
  }
}

void ThreadPool::parallelFor(Body body, void *context, int64_t iterations,
                             int64_t cost) {
  int pieces = threadsFor(iterations, cost);
  if (pieces <= 1) {
    if (iterations > 0)
      body(context, 0, iterations);
    return;
  }
  body_ = body;
  context_ = context;
  iterations_ = iterations;
  finished_.store(0, std::memory_order_relaxed);
  uint64_t job = jobOf(state_.load(std::memory_order_relaxed)) + 1;
  // seq_cst with sleeping_ (and the workers' increment of it before they
  // re-check the word): either a worker sees the new job or we see it asleep.
  state_.store(job << kJobShift | uint64_t(pieces) << kPiecesShift,
               std::memory_order_seq_cst);
  if (sleeping_.load(std::memory_order_seq_cst) > 0) {
    // Read by the workers this wakes (after they take the mutex); one that
    // saw the job as it went to sleep may read the last wake's CPU.
    callerCpu_.store(currentCpu(), std::memory_order_relaxed);
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  // The caller claims pieces too: a worker that is late finds none left.
  claimPieces(job);
  auto finished = [&] {
    return finished_.load(std::memory_order_acquire) == pieces;
  };
  if (!spinFor(finished)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, finished);
  }
}

void ThreadPool::work() {
  const AllowedCpus allowed;
  uint64_t seen = 0;
  for (;;) {
    uint64_t job = 0;
    auto fresh = [&] {
      job = jobOf(state_.load(std::memory_order_acquire));
      return job != seen;
    };
    if (!spinFor(fresh)) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleeping_.fetch_add(1, std::memory_order_seq_cst);
      wake_.wait(lock, [&] { return stop_ || fresh(); });
      sleeping_.fetch_sub(1, std::memory_order_relaxed);
      if (stop_)
        return;
      // Where the scheduler put us on waking: a spinning worker stays on
      // its CPU, so only a woken one is checked (no cost between kernels).
      int cpu = currentCpu();
      if (cpu >= 0 && cpu == callerCpu_.load(std::memory_order_relaxed))
        leaveCpu(cpu, allowed);
    }
    seen = job;
    claimPieces(job);
  }
}

void ThreadPool::run(void *pool, Body body, void *context, int64_t iterations,
                     int64_t cost) {
  static_cast<ThreadPool *>(pool)->parallelFor(body, context, iterations,
                                               cost);
}

} // namespace tac::rt
