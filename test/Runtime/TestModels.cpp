#include "TestModels.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifndef TACRT_TEST_KERNELS
#error "TACRT_TEST_KERNELS must name the kernel shared object"
#endif

namespace tacrt_test {
using namespace tac::format;

const Vec4 kScale = {0.5f, -1.0f, 2.0f, 1.0f};
const Vec4 kBias = {0.25f, 0.5f, -0.5f, 1.0f};

namespace {
constexpr uint64_t kVec = 16; // bytes of one float32[4]
// Weight section: kScale at 0, kBias at 16, int64 7 at 32 (tests use it
// as a bad path).
constexpr uint64_t kScaleOffset = 0, kBiasOffset = 16;

BufferRefDesc arena(uint64_t offset, uint64_t size = kVec) {
  return {Space::Arena, 0, offset, size};
}
BufferRefDesc weights(uint64_t offset, uint64_t size = kVec) {
  return {Space::Weights, 0, offset, size};
}
BufferRefDesc input(uint32_t index, uint64_t size = kVec) {
  return {Space::Input, index, 0, size};
}
StepDesc kernelStep(uint32_t kernel, std::vector<BufferRefDesc> args) {
  StepDesc step;
  step.kind = StepKind::Kernel;
  step.kernel = kernel;
  step.args = std::move(args);
  return step;
}

ModelDesc baseModel() {
  ModelDesc model;
  model.producer = "tac 0.1.0";
  model.inputs = {{"x", DType::F32, {1, 4}}};
  model.outputs = {{"y", DType::F32, {1, 4}}};
  model.kernels = {{"tac_test_mul", 3},
                   {"tac_test_add", 3},
                   {"tac_test_relu", 2},
                   {"tac_test_policy", 3}};
  CodeObjectDesc code;
  code.cpu = "x86-64";
  code.features = {"sse2"};
  code.bytes = kernelObject();
  model.code = {code};
  model.weights.resize(40);
  std::memcpy(model.weights.data() + kScaleOffset, kScale.data(), kVec);
  std::memcpy(model.weights.data() + kBiasOffset, kBias.data(), kVec);
  int64_t bad = 7;
  std::memcpy(model.weights.data() + 32, &bad, 8);
  return model;
}
} // namespace

const std::vector<uint8_t> &kernelObject() {
  static const std::vector<uint8_t> bytes = [] {
    std::vector<uint8_t> out;
    FILE *file = std::fopen(TACRT_TEST_KERNELS, "rb");
    if (!file) {
      std::fprintf(stderr, "cannot open the test kernels '%s'\n",
                   TACRT_TEST_KERNELS);
      std::abort();
    }
    uint8_t buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), file)) > 0)
      out.insert(out.end(), buf, buf + n);
    std::fclose(file);
    return out;
  }();
  return bytes;
}

PlanDesc layerPlan(const std::string &name, int32_t path, int numLayers) {
  // Arena: two 16-byte ping-pong regions and the output region. Step k
  // writes region k % 2 and reads the other (or the input / weights), so the
  // value it writes lives over steps [k, k+1].
  const uint64_t region[2] = {0, kVec}, outRegion = 2 * kVec;
  PlanDesc plan;
  plan.name = name;
  plan.path = path;
  plan.arenaBytes = 3 * kVec;
  BufferRefDesc current = input(0);
  uint32_t step = 0;
  auto emit = [&](uint32_t kernel, std::vector<BufferRefDesc> sources) {
    BufferRefDesc out = arena(region[step % 2]);
    std::vector<BufferRefDesc> args = {out};
    args.insert(args.end(), sources.begin(), sources.end());
    plan.steps.push_back(kernelStep(kernel, args));
    plan.buffers.push_back({out.offset, out.size, step, step + 1});
    current = out;
    ++step;
  };
  for (int layer = 0; layer < numLayers; ++layer) {
    emit(Mul, {current, weights(kScaleOffset)});
    emit(Add, {current, weights(kBiasOffset)});
    emit(Relu, {current});
    plan.layers.push_back(layer);
  }
  StepDesc copy;
  copy.kind = StepKind::Copy;
  copy.args = {arena(outRegion), current};
  copy.bytes = kVec;
  plan.steps.push_back(copy);
  plan.buffers.push_back({outRegion, kVec, step, step});
  plan.outputs = {arena(outRegion)};
  plan.flops = kLayerFlops * numLayers;
  plan.paramBytes = 2 * kVec;
  return plan;
}

ModelDesc adaptiveModel() {
  ModelDesc model = baseModel();
  model.hasController = true;
  PlanDesc &c = model.controller;
  c.name = "controller";
  c.arenaBytes = 16;
  c.steps = {kernelStep(Policy, {arena(0, 8), arena(8, 4), input(0)})};
  c.buffers = {{0, 8, 0, 0}, {8, 4, 0, 0}};
  c.outputs = {arena(8, 4), arena(0, 8)};
  c.flops = kControllerFlops;
  model.controllerPathOutput = 1;
  model.numPaths = 4;
  for (int path : {0, 1, 3})
    model.variants.push_back(
        layerPlan("main_path" + std::to_string(path), path, path + 1));
  return model;
}

ModelDesc carriedModel() {
  ModelDesc model = adaptiveModel();
  PlanDesc &c = model.controller;
  c.arenaBytes = 32;
  c.steps.push_back(kernelStep(Relu, {arena(16), input(0)}));
  c.buffers = {{0, 8, 0, 1}, {8, 4, 0, 1}, {16, 16, 1, 1}};
  c.outputs.push_back(arena(16));
  model.carriedResults = 1;
  for (PlanDesc &v : model.variants) {
    v.arenaBytes = 32;
    v.steps = {kernelStep(Add, {arena(16), input(0), input(0)}),
               kernelStep(Mul, {arena(0), arena(16), input(1)})};
    v.buffers = {{16, 16, 0, 1}, {0, 16, 1, 1}};
    v.outputs = {arena(0)};
  }
  return model;
}

ModelDesc staticModel() {
  ModelDesc model = baseModel();
  model.numPaths = 0;
  model.variants = {layerPlan("main", -1, 1)};
  return model;
}

Vec4 reference(Vec4 x, int numLayers) {
  for (int layer = 0; layer < numLayers; ++layer)
    for (int i = 0; i < 4; ++i) {
      float v = x[i] * kScale[i] + kBias[i];
      x[i] = v > 0 ? v : 0;
    }
  return x;
}

void writeFile(const std::string &path, const std::vector<uint8_t> &bytes) {
  FILE *file = std::fopen(path.c_str(), "wb");
  // An empty vector's data() may be null, which fwrite must not get.
  if (!file || (!bytes.empty() &&
                std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size())) {
    std::fprintf(stderr, "cannot write '%s'\n", path.c_str());
    std::abort();
  }
  std::fclose(file);
}

} // namespace tacrt_test
