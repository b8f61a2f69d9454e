// GPU tests of the CUDA executor: every variant of each model in
// $TAC_CUDA_MODELS (.tacm files compiled with --target=cpu,cuda, separated by
// ':') matches the CPU backend on seeded random inputs, with CUDA graphs,
// with plain stream replay, with and without cuBLASLt, and the controller
// picks the same path with host and on-device (SWITCH) dispatch. Skipped
// with the reason ("no CUDA device", ...) where there is no GPU.
#include "RandomInputs.h"
#include "tacrt/tacrt.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

using namespace tac;

namespace {

std::vector<std::string> modelPaths() {
  std::vector<std::string> out;
  const char *env = std::getenv("TAC_CUDA_MODELS");
  std::stringstream list(env ? env : "");
  for (std::string path; std::getline(list, path, ':');)
    if (!path.empty())
      out.push_back(path);
  return out;
}

/// |cuda - cpu| <= 1e-4 + 1e-3 |cpu| for every float output element (FP32,
/// TF32 off: only the summation order differs).
void expectClose(const std::vector<rt::Tensor> &cpu,
                 const std::vector<rt::Tensor> &gpu, const std::string &what) {
  ASSERT_EQ(cpu.size(), gpu.size());
  for (size_t o = 0; o < cpu.size(); ++o) {
    if (cpu[o].dtype() != rt::DType::F32) {
      EXPECT_EQ(std::memcmp(cpu[o].data(), gpu[o].data(), cpu[o].byteSize()),
                0)
          << what << " output " << o;
      continue;
    }
    size_t n = cpu[o].byteSize() / 4;
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; ++i) {
      double a = cpu[o].dataAs<float>()[i], b = gpu[o].dataAs<float>()[i];
      double excess = std::fabs(a - b) - (1e-4 + 1e-3 * std::fabs(a));
      if (!(excess <= worst)) { // NaN counts
        worst = std::isnan(excess) ? INFINITY : excess;
        at = i;
      }
    }
    EXPECT_LE(worst, 0.0) << what << " output " << o << " element " << at
                          << ": cpu " << cpu[o].dataAs<float>()[at] << " cuda "
                          << gpu[o].dataAs<float>()[at];
  }
}

class CudaDevice : public ::testing::Test {
protected:
  void SetUp() override {
    std::string why;
    if (!rt::cudaAvailable(&why))
      GTEST_SKIP() << why;
    paths = modelPaths();
    if (paths.empty())
      GTEST_SKIP() << "no models: set TAC_CUDA_MODELS to .tacm files compiled "
                      "with --target=cpu,cuda";
  }
  std::vector<std::string> paths;
};

struct Config {
  const char *name;
  rt::SessionOptions options;
};

std::vector<Config> configs(bool controller) {
  std::vector<Config> out;
  rt::SessionOptions o;
  o.device = rt::Device::Cuda;
  out.push_back({"graphs+cublas", o});
  o.cudaGraphs = false;
  out.push_back({"stream replay", o});
  o.cudaGraphs = true;
  o.cublas = false;
  out.push_back({"graphs, generated GEMM kernels", o});
  if (controller) {
    o.cublas = true;
    o.dispatch = rt::GpuDispatch::Device;
    out.push_back({"device dispatch", o});
    o.cublasInSwitch = false;
    out.push_back({"device dispatch, generated GEMMs in the SWITCH bodies", o});
  }
  return out;
}

TEST_F(CudaDevice, EveryVariantMatchesTheCpu) {
  for (const std::string &path : paths) {
    auto model = rt::Model::load(path);
    ASSERT_TRUE(model.ok()) << model.status().message();
    ASSERT_TRUE((*model)->hasCudaCode() && (*model)->hasCpuCode())
        << path << ": compile it with --target=cpu,cuda";
    auto cpu = rt::Session::create(*model);
    ASSERT_TRUE(cpu.ok()) << cpu.status().message();
    for (const Config &config : configs((*model)->hasController())) {
      auto gpu = rt::Session::create(*model, config.options);
      ASSERT_TRUE(gpu.ok()) << path << " (" << config.name
                            << "): " << gpu.status().message();
      std::printf("[ cuda     ] %s: %s\n", path.c_str(),
                  (*gpu)->deviceSummary().c_str());
      for (const rt::VariantInfo &v : (*model)->variants()) {
        std::vector<rt::Tensor> inputs = tacrt_test::makeRandomInputs(**model, 7), a, b;
        rt::RunOptions fixed = rt::RunOptions::fixed(v.path);
        ASSERT_TRUE((*cpu)->run(inputs, a, fixed).ok());
        rt::Status st = (*gpu)->run(inputs, b, fixed);
        ASSERT_TRUE(st.ok()) << st.message();
        expectClose(a, b, path + " path " + std::to_string(v.path) + " (" +
                              config.name + ")");
      }
    }
  }
}

TEST_F(CudaDevice, DispatchPicksTheCpuPath) {
  for (const std::string &path : paths) {
    auto model = rt::Model::load(path);
    ASSERT_TRUE(model.ok()) << model.status().message();
    if (!(*model)->hasController())
      continue;
    auto cpu = rt::Session::create(*model);
    ASSERT_TRUE(cpu.ok());
    for (const Config &config : configs(true)) {
      auto gpu = rt::Session::create(*model, config.options);
      ASSERT_TRUE(gpu.ok()) << gpu.status().message();
      for (uint64_t seed = 0; seed < 16; ++seed) {
        std::vector<rt::Tensor> inputs = tacrt_test::makeRandomInputs(**model, seed), a, b;
        rt::RunInfo ia, ib;
        ASSERT_TRUE((*cpu)->run(inputs, a, {}, &ia).ok());
        rt::Status st = (*gpu)->run(inputs, b, {}, &ib);
        ASSERT_TRUE(st.ok()) << st.message();
        EXPECT_EQ(ia.path, ib.path) << config.name << " seed " << seed;
        EXPECT_EQ(ia.requestedPath, ib.requestedPath) << config.name;
        EXPECT_EQ(ia.rounded, ib.rounded) << config.name;
        EXPECT_EQ(ia.flops, ib.flops);
        expectClose(a, b, path + " auto (" + config.name + ")");
      }
    }
  }
}

// Sessions of one model on one device share its uploaded weights: two at
// once both match the CPU, and the second still does once the first (which
// uploaded them) is gone.
TEST_F(CudaDevice, SessionsShareTheWeights) {
  for (const std::string &path : paths) {
    auto model = rt::Model::load(path);
    ASSERT_TRUE(model.ok()) << model.status().message();
    auto cpu = rt::Session::create(*model);
    ASSERT_TRUE(cpu.ok()) << cpu.status().message();
    rt::SessionOptions o;
    o.device = rt::Device::Cuda;
    auto first = rt::Session::create(*model, o);
    auto second = rt::Session::create(*model, o);
    ASSERT_TRUE(first.ok() && second.ok());
    rt::RunOptions deepest =
        rt::RunOptions::fixed((*model)->variants().back().path);
    std::vector<rt::Tensor> inputs = tacrt_test::makeRandomInputs(**model, 3), a, b, c;
    ASSERT_TRUE((*cpu)->run(inputs, a, deepest).ok());
    ASSERT_TRUE((*first)->run(inputs, b, deepest).ok());
    expectClose(a, b, path + " (first session)");
    first->reset();
    ASSERT_TRUE((*second)->run(inputs, c, deepest).ok());
    expectClose(a, c, path + " (second session, the first gone)");
  }
}

} // namespace
