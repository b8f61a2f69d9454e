// tacrt-concurrency-check [--threads=N] [--runs=N] MODEL.tacm...
//
// One Model per file shared by N threads (default 8), each with its own
// Session, each doing R runs (default 1000) over 16 distinct inputs; every
// output must equal, byte for byte, the single-threaded run of the same
// input. Real compiled kernels (BLAS GEMMs included), not hand-written ones.
// Prints one line per model; exit 1 on any mismatch or error.
#include "RandomInputs.h"
#include "tacrt/tacrt.hpp"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace tac::rt;

namespace {
constexpr int kInputs = 16;

bool sameBytes(const std::vector<Tensor> &a, const std::vector<Tensor> &b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].byteSize() != b[i].byteSize() ||
        std::memcmp(a[i].data(), b[i].data(), a[i].byteSize()) != 0)
      return false;
  return true;
}

bool check(const std::string &path, int threads, int runs) {
  Expected<ModelRef> model = Model::load(path);
  if (!model) {
    std::printf("FAIL %s: %s\n", path.c_str(), model.status().message().c_str());
    return false;
  }
  std::vector<std::vector<Tensor>> inputs, expected;
  std::vector<int32_t> expectedPath;
  {
    auto session = Session::create(*model);
    for (int k = 0; k < kInputs; ++k) {
      inputs.push_back(tacrt_test::makeRandomInputs(**model, k));
      std::vector<Tensor> out;
      RunInfo info;
      if (Status st = (*session)->run(inputs.back(), out, {}, &info); !st) {
        std::printf("FAIL %s: single-threaded run: %s\n", path.c_str(),
                    st.message().c_str());
        return false;
      }
      expected.push_back(std::move(out));
      expectedPath.push_back(info.path);
    }
  }
  std::atomic<int> mismatches{0}, errors{0};
  std::mutex firstMutex;
  std::string first;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      auto session = Session::create(*model);
      if (!session) {
        ++errors;
        return;
      }
      std::vector<Tensor> out;
      for (int r = 0; r < runs; ++r) {
        int k = (t * 7 + r) % kInputs;
        out.clear();
        RunInfo info;
        Status st = (*session)->run(inputs[k], out, {}, &info);
        if (!st || info.path != expectedPath[k] || !sameBytes(out, expected[k])) {
          (st ? mismatches : errors)++;
          std::lock_guard<std::mutex> lock(firstMutex);
          if (first.empty())
            first = "thread " + std::to_string(t) + " run " + std::to_string(r) +
                    " input " + std::to_string(k) + ": " +
                    (st ? "outputs or path differ from the single-threaded run"
                        : st.message());
        }
      }
    });
  for (std::thread &t : pool)
    t.join();
  std::map<int32_t, int> paths;
  for (int32_t p : expectedPath)
    ++paths[p];
  std::string pathText;
  for (auto [p, n] : paths)
    pathText += (pathText.empty() ? "" : " ") + std::to_string(p) + ":" +
                std::to_string(n);
  bool ok = mismatches == 0 && errors == 0;
  std::printf("%s %s: %d threads x %d runs over %d inputs (paths %s): %d "
              "mismatches, %d errors%s%s\n",
              ok ? "ok  " : "FAIL", path.c_str(), threads, runs, kInputs,
              pathText.c_str(), mismatches.load(), errors.load(),
              first.empty() ? "" : "; first: ", first.c_str());
  return ok;
}
} // namespace

int main(int argc, char **argv) {
  int threads = 8, runs = 1000;
  std::vector<std::string> models;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--threads=", 0) == 0)
      threads = std::atoi(arg.c_str() + 10);
    else if (arg.rfind("--runs=", 0) == 0)
      runs = std::atoi(arg.c_str() + 7);
    else
      models.push_back(arg);
  }
  if (models.empty() || threads < 1 || runs < 1) {
    std::fprintf(stderr, "usage: tacrt-concurrency-check [--threads=N] "
                         "[--runs=N] MODEL.tacm...\n");
    return 2;
  }
  bool ok = true;
  for (const std::string &m : models)
    ok &= check(m, threads, runs);
  return ok ? 0 : 1;
}
