// The session thread pool (runtime/lib/ThreadPool.h): every iteration runs
// exactly once, results do not depend on the thread count, small jobs stay
// on the caller, an idle pool costs no CPU time, and a worker put on its
// caller's CPU moves off it.
#include "TestUtil.h"
#include "ThreadPool.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <numeric>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#include <unistd.h>
#endif

using namespace tac::rt;
using namespace tacrt_test;
using ::testing::HasSubstr;

namespace {
/// A lambda as the pool's C body.
template <typename F> void parallelFor(ThreadPool &pool, int64_t n,
                                       int64_t cost, F &&f) {
  pool.parallelFor(
      [](void *context, int64_t begin, int64_t end) {
        (*static_cast<F *>(context))(begin, end);
      },
      &f, n, cost);
}

/// Enough estimated work per iteration that every thread takes part.
constexpr int64_t kHeavy = ThreadPool::kMinWorkPerThread;

double processCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/// An elementwise kernel over [begin, end).
void elementwise(const std::vector<float> &x, std::vector<float> &y,
                 int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i)
    y[i] = std::tanh(x[i]) * 1.5f + std::exp(-x[i] * x[i]);
}
} // namespace

TEST(ThreadPool, EveryIterationRunsExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    for (int64_t n : {0, 1, 2, 3, 7, 64, 1001}) {
      std::vector<std::atomic<int>> hits(n);
      parallelFor(pool, n, kHeavy, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          hits[i].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(hits[i].load(), 1)
            << "threads " << threads << ", n " << n << ", i " << i;
    }
  }
}

TEST(ThreadPool, ElementwiseResultsAreBitIdenticalAtAnyThreadCount) {
  const int64_t n = 100003;
  std::vector<float> x(n), one(n), many(n);
  for (int64_t i = 0; i < n; ++i)
    x[i] = std::sin(0.001f * i) * 3.0f;
  ThreadPool serial(1), pool(4);
  parallelFor(serial, n, kHeavy, [&](int64_t b, int64_t e) {
    elementwise(x, one, b, e);
  });
  parallelFor(pool, n, kHeavy, [&](int64_t b, int64_t e) {
    elementwise(x, many, b, e);
  });
  EXPECT_EQ(std::memcmp(one.data(), many.data(), n * sizeof(float)), 0);
}

TEST(ThreadPool, ReductionsAgreeWithinTolerance) {
  // Row sums (one row per iteration, as the kernels split them) are exact;
  // a total split into per-piece partial sums differs only by rounding.
  const int64_t rows = 512, cols = 1000;
  std::vector<float> x(rows * cols);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = std::cos(0.37f * i);
  auto rowSums = [&](ThreadPool &pool) {
    std::vector<float> sums(rows);
    parallelFor(pool, rows, cols, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        sums[r] = std::accumulate(&x[r * cols], &x[(r + 1) * cols], 0.0f);
    });
    return sums;
  };
  auto total = [&](ThreadPool &pool) {
    std::vector<float> partial(rows, 0.0f);
    parallelFor(pool, rows, cols, [&](int64_t b, int64_t e) {
      float sum = 0;
      for (int64_t i = b * cols; i < e * cols; ++i)
        sum += x[i];
      partial[b] = sum;
    });
    return std::accumulate(partial.begin(), partial.end(), 0.0f);
  };
  ThreadPool serial(1), pool(3);
  EXPECT_EQ(rowSums(serial), rowSums(pool));
  float one = total(serial), many = total(pool);
  EXPECT_NEAR(one, many, 1e-3f * std::max(1.0f, std::fabs(one)));
}

TEST(ThreadPool, SmallJobsStayOnTheCaller) {
  ThreadPool pool(4);
  EXPECT_EQ(pool.threadsFor(1000, 1), 1);
  EXPECT_EQ(pool.threadsFor(2, kHeavy), 2);
  EXPECT_EQ(pool.threadsFor(1000, kHeavy), 4);
  std::thread::id caller = std::this_thread::get_id();
  bool elsewhere = false;
  parallelFor(pool, 1000, 1, [&](int64_t, int64_t) {
    elsewhere |= std::this_thread::get_id() != caller;
  });
  EXPECT_FALSE(elsewhere);
  // A heavy job is cut into one piece per thread; workers take pieces as
  // they arrive (the caller runs those of a worker not yet scheduled), so
  // within a few jobs some piece runs on a worker.
  bool helped = false;
  for (int job = 0; job < 100 && !helped; ++job) {
    std::atomic<int> pieces{0}, others{0};
    parallelFor(pool, 1000, kHeavy, [&](int64_t, int64_t) {
      pieces.fetch_add(1);
      if (std::this_thread::get_id() != caller)
        others.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    });
    EXPECT_EQ(pieces.load(), 4);
    helped = others.load() > 0;
  }
  EXPECT_TRUE(helped);
}

TEST(ThreadPool, ManyJobsInARowLoseNoWakeUp) {
  // Back-to-back jobs (workers spinning) and jobs after a pause (workers
  // asleep): every one completes, bounded by the test's timeout.
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int job = 0; job < 4000; ++job) {
    parallelFor(pool, 3, kHeavy, [&](int64_t b, int64_t e) {
      sum.fetch_add(e - b);
    });
    if (job % 400 == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(sum.load(), 3 * 4000);
}

TEST(ThreadPool, AnIdlePoolBurnsNoCpu) {
  ThreadPool pool(4);
  std::vector<float> x(1 << 16, 1.0f), y(x.size());
  parallelFor(pool, x.size(), kHeavy, [&](int64_t b, int64_t e) {
    elementwise(x, y, b, e);
  });
  // Past the workers' bounded spin, 200 ms idle cost (nearly) nothing:
  // spinning workers would burn 3 x 200 ms.
  double before = processCpuSeconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  double used = processCpuSeconds() - before;
  EXPECT_LT(used, 0.02) << "an idle pool of 4 used " << used * 1e3
                        << " ms of CPU in 200 ms";
}

#if defined(__linux__)
TEST(ThreadPool, AWorkerOnItsCallersCpuMovesOff) {
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  if (CPU_COUNT(&allowed) < 2)
    GTEST_SKIP() << "one CPU allowed: a worker has nowhere to move";
  int cpu = 0;
  while (!CPU_ISSET(cpu, &allowed))
    ++cpu;
  ThreadPool pool(2); // the worker may run on every allowed CPU
  std::thread::id caller = std::this_thread::get_id();
  // Find the worker's thread id, then pin it and the caller to one CPU,
  // as the scheduler did on a VM: the worker must leave before its piece.
  std::atomic<pid_t> worker{0};
  std::atomic<int> workerCpu{-1};
  auto job = [&](int64_t, int64_t) {
    if (std::this_thread::get_id() != caller) {
      worker = gettid();
      workerCpu = sched_getcpu();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  };
  for (int tries = 0; tries < 200 && worker == 0; ++tries)
    parallelFor(pool, 2, kHeavy, [&](int64_t b, int64_t e) { job(b, e); });
  ASSERT_NE(worker.load(), 0) << "no piece ran on the worker";
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  ASSERT_EQ(sched_setaffinity(worker, sizeof one, &one), 0);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  bool moved = false, ran = false;
  for (int tries = 0; tries < 200 && !moved; ++tries) {
    workerCpu = -1;
    parallelFor(pool, 2, kHeavy, [&](int64_t b, int64_t e) { job(b, e); });
    ran |= workerCpu >= 0;
    moved = workerCpu >= 0 && workerCpu != cpu;
  }
  sched_setaffinity(0, sizeof allowed, &allowed);
  ASSERT_TRUE(ran) << "no piece ran on the worker after pinning";
  EXPECT_TRUE(moved) << "the worker stayed on its caller's CPU " << cpu;
}
#endif

TEST(ThreadPool, SessionThreadCountsAreChecked) {
  ModelRef model = loadOrDie(adaptiveModel());
  ASSERT_TRUE(model);
  for (int bad : {-1, 256}) {
    SessionOptions options;
    options.threads = bad;
    auto session = Session::create(model, options);
    ASSERT_FALSE(session.ok()) << bad;
    EXPECT_EQ(session.status().code(), ErrorCode::InvalidArgument);
    EXPECT_THAT(session.status().message(),
                HasSubstr("threads must be between 1 and 255"));
  }
  // A file whose code object has no thread bridge (the test kernels) runs
  // on the calling thread whatever the count.
  SessionOptions options;
  options.threads = 2;
  auto session = Session::create(model, options);
  ASSERT_TRUE(session.ok()) << session.status().message();
  alignas(64) float x[4] = {0.5f, 0.5f, 0.5f, 1.0f};
  std::vector<Tensor> outputs;
  EXPECT_TRUE((*session)->run({Tensor::view(x, DType::F32, {1, 4})}, outputs)
                  .ok());
}
