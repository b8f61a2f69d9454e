// The session thread pool: one job at a time, one contiguous piece per
// thread, workers that spin briefly and then sleep.
#include "ThreadPool.h"

#include <algorithm>
#include <chrono>
#include <limits>

namespace tac::rt {

namespace {
/// The job word: a counter above the piece count (pieces < 256), so a
/// worker learns both with one atomic load.
constexpr int kPieceBits = 8;
constexpr uint64_t kPieceMask = (uint64_t(1) << kPieceBits) - 1;

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
} // namespace

ThreadPool::ThreadPool(int threads) {
  int workers = std::clamp(threads, 1, int(kPieceMask)) - 1;
  workers_.reserve(workers);
  for (int i = 0; i < workers; ++i)
    workers_.emplace_back([this, i] { work(i); });
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

void ThreadPool::runPiece(int piece, int pieces) {
  int64_t begin = iterations_ / pieces * piece +
                  std::min<int64_t>(piece, iterations_ % pieces);
  int64_t end = begin + iterations_ / pieces +
                (piece < iterations_ % pieces ? 1 : 0);
  if (begin < end)
    body_(context_, begin, end);
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
  busy_.store(pieces - 1, std::memory_order_relaxed);
  uint64_t next =
      ((generation_.load(std::memory_order_relaxed) >> kPieceBits) + 1)
          << kPieceBits |
      static_cast<uint64_t>(pieces);
  // seq_cst with sleeping_ (and the workers' increment of it before they
  // re-check the word): either a worker sees the new job or we see it asleep.
  generation_.store(next, std::memory_order_seq_cst);
  if (sleeping_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  runPiece(0, pieces);
  auto finished = [&] { return busy_.load(std::memory_order_acquire) == 0; };
  if (!spinFor(finished)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, finished);
  }
}

void ThreadPool::work(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t job = 0;
    auto fresh = [&] {
      job = generation_.load(std::memory_order_acquire);
      return job != seen;
    };
    if (!spinFor(fresh)) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleeping_.fetch_add(1, std::memory_order_seq_cst);
      wake_.wait(lock, [&] { return stop_ || fresh(); });
      sleeping_.fetch_sub(1, std::memory_order_relaxed);
      if (stop_)
        return;
    }
    seen = job;
    // Workers past the job's piece count sit it out; the caller does not
    // wait for them.
    int piece = index + 1, pieces = static_cast<int>(job & kPieceMask);
    if (piece >= pieces)
      continue;
    runPiece(piece, pieces);
    if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      done_.notify_one();
    }
  }
}

void ThreadPool::run(void *pool, Body body, void *context, int64_t iterations,
                     int64_t cost) {
  static_cast<ThreadPool *>(pool)->parallelFor(body, context, iterations,
                                               cost);
}

} // namespace tac::rt
