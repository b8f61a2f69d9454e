// tacrt-gemm-threads-check MODEL_A.tacm MODEL_B.tacm
//
// BLAS threads are a per-session setting that leaves the process's alone
// (SessionOptions::gemmThreads). This program stands between the compiled
// kernels and OpenBLAS: it defines cblas_sgemm itself (exported, so the
// code object binds to it), records OpenBLAS's thread count at every call
// and forwards to the real one. MODEL_A must have BLAS GEMM kernels.
// Checks, each printed; exit 1 on any failure:
//   - loading a model leaves the process's count (set to 3 here) alone;
//   - a session with gemmThreads=2 runs every GEMM with 2 threads, one with
//     the default (1) with 1, and the process's 3 is back after each run;
//   - loading another model afterwards changes neither session's count;
//   - both sessions' outputs agree (the count changes speed, not results);
//   - a session with threads=2 (its own pool splits the GEMMs' rows) runs
//     every GEMM with 1 BLAS thread, leaves the process's 3 alone, and its
//     outputs agree with the one-thread session's.
#include "RandomInputs.h"
#include "tacrt/tacrt.hpp"

#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <vector>

using namespace tac::rt;

namespace {
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float *,
                         int, const float *, int, float, float *, int);
SgemmFn realSgemm;
int (*getThreads)();
void (*setThreads)(int);

std::mutex seenMutex;
std::set<int> seen; // thread counts OpenBLAS had at the calls since clear
int calls = 0;
} // namespace

extern "C" void cblas_sgemm(int order, int ta, int tb, int m, int n, int k,
                            float alpha, const float *a, int lda,
                            const float *b, int ldb, float beta, float *c,
                            int ldc) {
  {
    std::lock_guard<std::mutex> lock(seenMutex);
    seen.insert(getThreads());
    ++calls;
  }
  realSgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

namespace {
bool failed = false;

void expect(bool ok, const std::string &what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  failed |= !ok;
}

/// Runs `session` once on input set 0; every GEMM must have seen `threads`.
std::vector<Tensor> runExpecting(Session &session, int threads,
                                 const std::string &name) {
  {
    std::lock_guard<std::mutex> lock(seenMutex);
    seen.clear();
    calls = 0;
  }
  std::vector<Tensor> out;
  Status st = session.run(tacrt_test::makeRandomInputs(session.model(), 0), out);
  if (!st) {
    expect(false, name + ": " + st.message());
    return out;
  }
  std::string counts;
  for (int t : seen)
    counts += (counts.empty() ? "" : ",") + std::to_string(t);
  expect(calls > 0 && seen == std::set<int>{threads},
         name + ": " + std::to_string(calls) + " GEMM calls ran with " +
             counts + " threads (expected " + std::to_string(threads) + ")");
  expect(getThreads() == 3,
         name + ": the process's count is back to 3 (it is " +
             std::to_string(getThreads()) + ")");
  return out;
}

Expected<std::unique_ptr<Session>> sessionWith(const ModelRef &model,
                                               int gemmThreads,
                                               int threads = 0) {
  SessionOptions options;
  options.gemmThreads = gemmThreads;
  options.threads = threads;
  return Session::create(model, options);
}

/// The largest |a - b| over the float32 outputs; infinity when the outputs
/// differ in number or size.
double maxDifference(const std::vector<Tensor> &a,
                     const std::vector<Tensor> &b) {
  double worst = 0;
  if (a.size() != b.size())
    return INFINITY;
  for (size_t o = 0; o < a.size(); ++o) {
    if (a[o].byteSize() != b[o].byteSize())
      return INFINITY;
    if (a[o].dtype() != DType::F32)
      continue;
    size_t n = a[o].byteSize() / sizeof(float);
    for (size_t i = 0; i < n; ++i)
      worst = std::max(worst, static_cast<double>(std::fabs(
                                  a[o].dataAs<float>()[i] -
                                  b[o].dataAs<float>()[i])));
  }
  return worst;
}
} // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: tacrt-gemm-threads-check MODEL_A.tacm "
                         "MODEL_B.tacm\n");
    return 2;
  }
  // The runtime's default (1) only holds without these variables.
  unsetenv("OPENBLAS_NUM_THREADS");
  unsetenv("OMP_NUM_THREADS");
  // The BLAS the code objects link (libblas.so.3), opened here first so
  // that this program's cblas_sgemm can forward to it.
  void *blas = dlopen("libblas.so.3", RTLD_NOW | RTLD_GLOBAL);
  if (blas) {
    realSgemm = reinterpret_cast<SgemmFn>(dlsym(blas, "cblas_sgemm"));
    getThreads = reinterpret_cast<int (*)()>(
        dlsym(blas, "openblas_get_num_threads"));
    setThreads = reinterpret_cast<void (*)(int)>(
        dlsym(blas, "openblas_set_num_threads"));
  }
  if (!realSgemm || !getThreads || !setThreads) {
    std::printf("FAIL libblas.so.3 is missing or not OpenBLAS (no "
                "cblas_sgemm or openblas_{get,set}_num_threads)\n");
    return 1;
  }
  setThreads(3);

  Expected<ModelRef> a = Model::load(argv[1]);
  if (!a) {
    std::printf("FAIL %s\n", a.status().message().c_str());
    return 1;
  }
  expect(getThreads() == 3, "loading '" + std::string(argv[1]) +
                                "' leaves the process's count at 3 (it is " +
                                std::to_string(getThreads()) + ")");
  auto two = sessionWith(*a, 2);
  auto one = sessionWith(*a, 0);
  if (!two || !one) {
    std::printf("FAIL %s\n",
                (!two ? two.status() : one.status()).message().c_str());
    return 1;
  }
  std::vector<Tensor> outTwo = runExpecting(**two, 2, "gemmThreads=2");
  std::vector<Tensor> outOne = runExpecting(**one, 1, "default session");

  Expected<ModelRef> b = Model::load(argv[2]);
  if (!b) {
    std::printf("FAIL %s\n", b.status().message().c_str());
    return 1;
  }
  expect(getThreads() == 3, "loading '" + std::string(argv[2]) +
                                "' leaves the process's count at 3");
  runExpecting(**two, 2, "gemmThreads=2 after another model loaded");
  runExpecting(**one, 1, "default session after another model loaded");

  double worst = maxDifference(outOne, outTwo);
  expect(worst <= 1e-5, "1 and 2 GEMM threads agree (max |diff| " +
                            std::to_string(worst) + ")");

  // The session's own pool: GEMM rows split across it, one BLAS thread per
  // call, the process's count untouched.
  auto pooled = sessionWith(*a, 0, 2);
  if (!pooled) {
    std::printf("FAIL %s\n", pooled.status().message().c_str());
    return 1;
  }
  std::vector<Tensor> outPooled =
      runExpecting(**pooled, 1, "threads=2 (the pool splits the GEMMs)");
  worst = maxDifference(outOne, outPooled);
  expect(worst <= 1e-4, "1 and 2 session threads agree (max |diff| " +
                            std::to_string(worst) + ")");
  auto negative = sessionWith(*a, -1);
  expect(!negative && negative.status().code() == ErrorCode::InvalidArgument,
         "gemmThreads=-1 is refused: " +
             (negative ? std::string("accepted") : negative.status().message()));
  return failed ? 1 : 0;
}
