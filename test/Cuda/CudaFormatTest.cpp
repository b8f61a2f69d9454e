// The CUDA sections of the .tacm format without a GPU: writer round trip,
// CPU-only files unchanged, the loader's checks of gpu_kernels / gpu_code /
// GEMMs, CUDA-only files on the CPU, and the no-driver error path.
#include "../Runtime/TestUtil.h"

#include "CudaApi.h"
#include "tacm_generated.h"

#include <cstring>

using namespace tacrt_test;
using namespace tac;
using ::testing::HasSubstr;

namespace {

/// The adaptive test model plus a GPU form of its 4 kernels and a (fake)
/// PTX code object: enough for the loader, which never JITs it.
format::ModelDesc cudaModel() {
  format::ModelDesc model = adaptiveModel();
  for (const format::KernelDesc &kernel : model.kernels) {
    format::GpuKernelDesc gpu;
    format::GpuLaunchDesc launch;
    launch.entry = kernel.symbol + "_kernel";
    launch.grid[0] = 1;
    launch.block[0] = 32;
    for (uint32_t a = 0; a < kernel.numArgs; ++a)
      launch.args.push_back(a);
    gpu.launches.push_back(launch);
    model.gpuKernels.push_back(gpu);
  }
  format::GpuCodeObjectDesc code;
  code.format = "ptx";
  code.archs = {"sm_80"};
  std::string ptx = ".version 8.0\n.target sm_80\n.address_size 64\n";
  code.bytes.assign(ptx.begin(), ptx.end());
  code.bytes.push_back(0);
  model.gpuCode.push_back(code);
  return model;
}

const fb::Model *root(const std::vector<uint8_t> &file) {
  return fb::GetModel(file.data() + format::kHeaderSize);
}

TEST(CudaFormat, RoundTrip) {
  format::ModelDesc desc = cudaModel();
  desc.gpuKernels[0].hasGemm = true;
  desc.gpuKernels[0].gemm.cArg = 0; // tac_test_mul(out, a, b)
  desc.gpuKernels[0].gemm.aArg = 1;
  desc.gpuKernels[0].gemm.bArg = 2;
  desc.gpuKernels[0].gemm.m = 1;
  desc.gpuKernels[0].gemm.n = 1;
  desc.gpuKernels[0].gemm.k = 1;
  desc.gpuKernels[0].gemm.lda = desc.gpuKernels[0].gemm.ldb =
      desc.gpuKernels[0].gemm.ldc = 1;
  desc.gpuKernels[0].gemm.beta = 0.0f;
  desc.gpuKernels[1].launches[0].grid[2] = 7;
  desc.gpuKernels[1].launches[0].sharedBytes = 128;
  std::vector<uint8_t> file = format::serializeTacm(desc);
  const fb::Model *m = root(file);
  ASSERT_NE(m->gpu_kernels(), nullptr);
  ASSERT_EQ(m->gpu_kernels()->size(), 4u);
  const fb::GpuLaunch *launch = m->gpu_kernels()->Get(1)->launches()->Get(0);
  EXPECT_EQ(launch->entry()->str(), "tac_test_add_kernel");
  EXPECT_EQ(launch->grid()->Get(2), 7u);
  EXPECT_EQ(launch->block()->Get(0), 32u);
  EXPECT_EQ(launch->shared_bytes(), 128u);
  EXPECT_EQ(launch->args()->size(), 3u);
  const fb::GpuGemm *gemm = m->gpu_kernels()->Get(0)->gemm();
  ASSERT_NE(gemm, nullptr);
  EXPECT_EQ(gemm->beta(), 0.0f);
  EXPECT_EQ(m->gpu_kernels()->Get(1)->gemm(), nullptr);
  ASSERT_EQ(m->gpu_code()->size(), 1u);
  const fb::GpuCodeObject *code = m->gpu_code()->Get(0);
  EXPECT_EQ(code->format()->str(), "ptx");
  EXPECT_EQ(code->offset() % format::kSectionAlignment, 0u);
  EXPECT_EQ(std::memcmp(file.data() + code->offset(), ".version 8.0", 12), 0);
  EXPECT_EQ(code->offset() + code->size(), file.size());

  {
    auto model = rt::Model::load(writeModel(desc));
    ASSERT_TRUE(model.ok()) << model.status().message();
    EXPECT_TRUE((*model)->hasCudaCode());
    EXPECT_TRUE((*model)->hasCpuCode());
  }
}

TEST(CudaFormat, CpuOnlyFilesHaveNoCudaFields) {
  std::vector<uint8_t> file = format::serializeTacm(adaptiveModel());
  const fb::Model *m = root(file);
  EXPECT_EQ(m->gpu_kernels(), nullptr);
  EXPECT_EQ(m->gpu_code(), nullptr);
  auto model = rt::Model::load(writeModel(adaptiveModel()));
  ASSERT_TRUE(model.ok()) << model.status().message();
  EXPECT_FALSE((*model)->hasCudaCode());
}

TEST(CudaFormat, CpuAndCudaFileRunsOnTheCpu) {
  rt::ModelRef model = loadOrDie(cudaModel());
  ASSERT_TRUE(model);
  auto session = rt::Session::create(model);
  ASSERT_TRUE(session.ok()) << session.status().message();
  float x[4] = {0.9f, 0.9f, 0.9f, 0.9f};
  std::vector<rt::Tensor> outputs;
  rt::RunInfo info;
  ASSERT_TRUE((*session)->run({rt::Tensor::view(x, rt::DType::F32, {1, 4})},
                              outputs, {}, &info)
                  .ok());
  EXPECT_EQ(info.path, 3);
  Vec4 expected = reference({0.9f, 0.9f, 0.9f, 0.9f}, 4);
  for (int i = 0; i < 4; ++i)
    EXPECT_FLOAT_EQ(outputs[0].dataAs<float>()[i], expected[i]);
}

TEST(CudaFormat, CudaOnlyFileOnTheCpu) {
  format::ModelDesc desc = cudaModel();
  desc.code.clear();
  rt::ModelRef model = loadOrDie(desc);
  ASSERT_TRUE(model);
  EXPECT_FALSE(model->hasCpuCode());
  auto session = rt::Session::create(model);
  ASSERT_FALSE(session.ok());
  EXPECT_THAT(session.status().message(),
              HasSubstr("holds no CPU code (compiled with --target=cuda)"));
}

TEST(CudaLoader, KernelCountMismatch) {
  format::ModelDesc desc = cudaModel();
  desc.gpuKernels.pop_back();
  EXPECT_THAT(loadError(desc),
              HasSubstr("gpu_kernels has 3 entries, but the model has 4 "
                        "kernels"));
}

TEST(CudaLoader, LaunchArgumentOutOfRange) {
  format::ModelDesc desc = cudaModel();
  desc.gpuKernels[2].launches[0].args.push_back(2); // relu takes 2
  EXPECT_THAT(loadError(desc),
              HasSubstr("GPU kernel 2 ('tac_test_relu') launch 0 parameter 2 "
                        "is kernel argument 2, but the kernel takes 2"));
}

TEST(CudaLoader, LaunchShape) {
  format::ModelDesc desc = cudaModel();
  desc.gpuKernels[0].launches[0].block[0] = 2048;
  EXPECT_THAT(loadError(desc), HasSubstr("over CUDA's limits"));
  desc = cudaModel();
  desc.gpuKernels[0].launches[0].grid[1] = 0;
  EXPECT_THAT(loadError(desc), HasSubstr("a grid or block dimension is 0"));
  desc = cudaModel();
  desc.gpuKernels[0].launches[0].entry.clear();
  EXPECT_THAT(loadError(desc), HasSubstr("has no entry name"));
}

TEST(CudaLoader, GemmChecks) {
  format::ModelDesc desc = cudaModel();
  format::GemmDesc &g = desc.gpuKernels[Mul].gemm;
  desc.gpuKernels[Mul].hasGemm = true;
  g.cArg = 0; // tac_test_mul(out, a, b)
  g.aArg = 1;
  g.bArg = 2;
  g.m = 1;
  g.n = 4;
  g.k = 1;
  g.lda = 1;
  g.ldb = 4;
  g.ldc = 4;
  EXPECT_TRUE(rt::Model::load(writeModel(desc)).ok());
  g.n = 8; // C would span 32 bytes of a 16-byte buffer
  g.ldb = g.ldc = 8;
  EXPECT_THAT(loadError(desc), HasSubstr("spans 32 bytes, but its buffer"));
  g.n = 4;
  g.ldc = 2;
  EXPECT_THAT(loadError(desc), HasSubstr("leading dimensions are smaller"));
  g.ldc = 4;
  g.cArg = 1;
  EXPECT_THAT(loadError(desc), HasSubstr("GEMM operands must be distinct"));
  g.cArg = 0;
  g.beta = 0.5f;
  EXPECT_THAT(loadError(desc), HasSubstr("GEMM beta must be 0 or 1"));
  g.beta = 0.0f;
  // (2^32 - 2) x (2^32 + 2) = 2^64 - 4: unchecked, C's extent wraps to 0
  // bytes and fits any buffer.
  g.batch = 0xFFFFFFFFu;
  g.strideC = (uint64_t(1) << 32) + 2;
  EXPECT_THAT(loadError(desc), HasSubstr("GEMM C's extent (batch x stride + "
                                         "rows x leading dimension) overflows"));
}

TEST(CudaLoader, CodeObject) {
  format::ModelDesc desc = cudaModel();
  desc.gpuCode[0].bytes.pop_back(); // no NUL
  EXPECT_THAT(loadError(desc), HasSubstr("(PTX) is not NUL-terminated"));
  desc = cudaModel();
  desc.gpuCode[0].format = "hsaco";
  EXPECT_THAT(loadError(desc), HasSubstr("has format 'hsaco'"));
  desc = cudaModel();
  desc.gpuCode.clear();
  EXPECT_THAT(loadError(desc),
              HasSubstr("GPU kernels but no GPU code object"));
}

TEST(CudaDriver, MissingLibraryIsACleanError) {
  rt::cuda::Driver d;
  rt::Status st = rt::cuda::loadDriver("libcuda-tac-test-absent.so.1", d);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), rt::ErrorCode::Unsupported);
  EXPECT_THAT(st.message(),
              HasSubstr("no CUDA driver (libcuda-tac-test-absent.so.1 not "
                        "found)"));
}

TEST(CudaDriver, SessionWithoutDeviceSaysWhy) {
  std::string why;
  if (rt::cudaAvailable(&why))
    GTEST_SKIP() << "a CUDA device is present: the no-device path is not "
                    "testable here";
  rt::ModelRef model = loadOrDie(cudaModel());
  ASSERT_TRUE(model);
  rt::SessionOptions options;
  options.device = rt::Device::Cuda;
  auto session = rt::Session::create(model, options);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().message().substr(0, 14), why.substr(0, 14));
  EXPECT_THAT(why, ::testing::AnyOf(HasSubstr("no CUDA driver"),
                                    HasSubstr("no CUDA device")));
}

} // namespace
