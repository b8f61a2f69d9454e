// Model::load on valid, damaged and inconsistent files: every bad input is a
// clean error that names the problem.
#include "TestUtil.h"

#include "tacm_generated.h"

#include <cstring>
#include <random>

using namespace tac::format;
using namespace tac::rt;
using namespace tacrt_test;
using ::testing::HasSubstr;

namespace {
/// Where each section of a serialised model starts and ends.
struct Sections {
  uint64_t metadataEnd, weightsBegin, weightsEnd, codeBegin, codeEnd;
};

Sections sectionsOf(const std::vector<uint8_t> &file) {
  TacmHeader header;
  std::memcpy(&header, file.data(), sizeof(header));
  const tac::fb::Model *m = tac::fb::GetModel(file.data() + kHeaderSize);
  const tac::fb::CodeObject *code = m->code()->Get(0);
  return {kHeaderSize + header.metadataSize, m->weights_offset(),
          m->weights_offset() + m->weights_size(), code->offset(),
          code->offset() + code->size()};
}
} // namespace

TEST(Loader, LoadsTheAdaptiveModel) {
  ModelRef model = loadOrDie(adaptiveModel());
  ASSERT_TRUE(model);
  EXPECT_EQ(model->producer(), "tac 0.1.0");
  ASSERT_EQ(model->inputs().size(), 1u);
  EXPECT_EQ(model->inputs()[0].name, "x");
  EXPECT_EQ(model->inputs()[0].shape, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(model->inputs()[0].byteSize, 16u);
  EXPECT_EQ(model->outputs()[0].name, "y");
  EXPECT_EQ(model->numPaths(), 4u);
  EXPECT_TRUE(model->hasController());
  EXPECT_EQ(model->controllerFlops(), kControllerFlops);
  ASSERT_EQ(model->variants().size(), 3u);
  EXPECT_EQ(model->variants()[2].path, 3);
  EXPECT_EQ(model->variants()[2].layers, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(model->variants()[2].flops, 4 * kLayerFlops);
  EXPECT_EQ(model->variants()[1].name, "main_path1");
  EXPECT_EQ(model->findVariant(2), nullptr);
  EXPECT_EQ(model->arenaBytes(), 48u);
  EXPECT_EQ(model->codeObjectIndex(), 0u);
}

TEST(Loader, FromMemoryMatchesTheFile) {
  std::vector<uint8_t> file = serializeTacm(adaptiveModel());
  Expected<ModelRef> model =
      Model::loadFromMemory(file.data(), file.size(), "compiled");
  ASSERT_TRUE(model) << model.status().message();
  file.assign(file.size(), 0); // the model keeps its own copy
  EXPECT_EQ((*model)->filePath(), "compiled");
  EXPECT_EQ((*model)->variants().size(), 3u);
  auto session = Session::create(*model);
  ASSERT_TRUE(session);
  float x[4] = {0.5f, 0.5f, 0.5f, 1.0f}, y[4];
  const void *in[] = {x};
  void *out[] = {y};
  RunInfo info;
  ASSERT_TRUE((*session)->runRaw(in, out, RunOptions::fixed(1), &info).ok());
  EXPECT_EQ(info.path, 1);

  std::vector<uint8_t> damaged = serializeTacm(adaptiveModel());
  damaged.resize(damaged.size() / 2);
  Expected<ModelRef> bad =
      Model::loadFromMemory(damaged.data(), damaged.size(), "compiled");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.status().message(), HasSubstr("truncated: 'compiled'"));
}

TEST(Loader, Sha256KnownAnswers) {
  auto hex = [](const std::string &s) { return sha256Hex(s.data(), s.size()); };
  EXPECT_EQ(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 56 bytes: the length no longer fits the first padding block.
  EXPECT_EQ(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Loader, PinnedDigestAndProducer) {
  std::vector<uint8_t> file = serializeTacm(adaptiveModel());
  std::string path = tempPath("pinned.tacm");
  writeFile(path, file);
  LoadOptions options;
  options.requireSha256 = sha256Hex(file.data(), file.size());
  options.requireProducer = "tac 0.1.0";
  EXPECT_TRUE(Model::load(path, options).ok());
  options.requireSha256[0] = options.requireSha256[0] == '0' ? '1' : '0';
  Expected<ModelRef> refused = Model::load(path, options);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.status().code(), ErrorCode::InvalidFile);
  EXPECT_THAT(refused.status().message(), HasSubstr("refused '" + path + "'"));
  options.requireSha256 = "not hex";
  EXPECT_EQ(Model::load(path, options).status().code(),
            ErrorCode::InvalidArgument);
  options.requireSha256.clear();
  options.requireProducer = "tac 9.9";
  EXPECT_THAT(Model::load(path, options).status().message(),
              HasSubstr("produced by 'tac 0.1.0', not the required 'tac 9.9'"));
  options.requireProducer = "tac 0.1.0";
  EXPECT_TRUE(Model::loadFromMemory(file.data(), file.size(), "m", options).ok());
}

TEST(Loader, VerifyOnlyMapsNoCode) {
  std::vector<uint8_t> file = serializeTacm(adaptiveModel());
  LoadOptions options;
  options.mapCode = false;
  Expected<ModelRef> model =
      Model::loadFromMemory(file.data(), file.size(), "m", options);
  ASSERT_TRUE(model) << model.status().message();
  EXPECT_EQ((*model)->variants().size(), 3u);
  auto session = Session::create(*model);
  ASSERT_FALSE(session);
  EXPECT_THAT(session.status().message(), HasSubstr("verified only"));
  // Still every check: a damaged file is refused as before.
  file[file.size() / 2] ^= 0x40;
  EXPECT_FALSE(Model::loadFromMemory(file.data(), file.size(), "m", options));
}

TEST(Loader, MissingFile) {
  EXPECT_THAT(loadError("/nonexistent/model.tacm"),
              HasSubstr("cannot open '/nonexistent/model.tacm'"));
}

TEST(Loader, NotATacmFile) {
  std::string path = tempPath("text.tacm");
  std::string text(100, 'x');
  writeFile(path, std::vector<uint8_t>(text.begin(), text.end()));
  EXPECT_THAT(loadError(path), HasSubstr("is not a .tacm file"));
}

TEST(Loader, VersionMismatchNamesProducer) {
  std::vector<uint8_t> file = serializeTacm(adaptiveModel());
  uint32_t future = kFormatVersion + 1;
  std::memcpy(file.data() + offsetof(TacmHeader, formatVersion), &future, 4);
  std::string path = tempPath("v.tacm");
  writeFile(path, file);
  std::string error = loadError(path);
  EXPECT_THAT(error, HasSubstr("was built by tac 0.1.0 (format 2)"));
  EXPECT_THAT(error, HasSubstr("reads format 1: recompile it with this "
                               "tac-compile"));
}

TEST(Loader, TruncatedAtEverySectionBoundary) {
  std::vector<uint8_t> file = serializeTacm(adaptiveModel());
  Sections s = sectionsOf(file);
  std::vector<uint64_t> lengths = {0, 1, 63, 64, 65, s.metadataEnd - 1,
                                   s.metadataEnd, s.weightsBegin,
                                   s.weightsEnd, s.codeBegin, s.codeEnd - 1};
  std::mt19937 rng(42);
  for (int i = 0; i < 30; ++i)
    lengths.push_back(rng() % file.size());
  for (uint64_t length : lengths) {
    ASSERT_LT(length, file.size());
    std::string path = tempPath("t.tacm");
    writeFile(path, std::vector<uint8_t>(file.begin(), file.begin() + length));
    EXPECT_THAT(loadError(path), HasSubstr("truncated")) << "length " << length;
  }
}

TEST(Loader, AppendedBytesAreRejected) {
  std::vector<uint8_t> file = serializeTacm(adaptiveModel());
  file.push_back(0);
  std::string path = tempPath("x.tacm");
  writeFile(path, file);
  EXPECT_THAT(loadError(path), HasSubstr("bytes were appended"));
}

TEST(Loader, EveryFlippedHeaderAndMetadataByteIsCaught) {
  std::vector<uint8_t> file = serializeTacm(adaptiveModel());
  Sections s = sectionsOf(file);
  std::vector<uint64_t> offsets;
  for (uint64_t i = 0; i < s.metadataEnd; ++i)
    offsets.push_back(i);
  std::mt19937 rng(7);
  for (int i = 0; i < 40; ++i) {
    offsets.push_back(s.weightsBegin + rng() % (s.weightsEnd - s.weightsBegin));
    offsets.push_back(s.codeBegin + rng() % (s.codeEnd - s.codeBegin));
  }
  std::string path = tempPath("f.tacm");
  for (uint64_t offset : offsets)
    for (uint8_t mask : {uint8_t(0x01), uint8_t(0x80), uint8_t(0xff)}) {
      file[offset] ^= mask;
      writeFile(path, file);
      auto model = Model::load(path);
      EXPECT_FALSE(model.ok()) << "flip " << int(mask) << " at " << offset;
      if (!model.ok()) {
        EXPECT_FALSE(model.status().message().empty());
      }
      file[offset] ^= mask;
    }
}

TEST(Loader, ChecksumMismatchMessage) {
  std::vector<uint8_t> file = serializeTacm(adaptiveModel());
  file[sectionsOf(file).weightsBegin] ^= 1;
  std::string path = tempPath("c.tacm");
  writeFile(path, file);
  EXPECT_THAT(loadError(path), HasSubstr("corrupted: checksum mismatch"));
}

// Consistent checksums, inconsistent contents: the semantic checks.
TEST(Loader, KernelIndexOutOfRange) {
  ModelDesc desc = adaptiveModel();
  desc.variants[1].steps[2].kernel = 9;
  EXPECT_THAT(loadError(desc),
              HasSubstr("variant 1 'main_path1' (path 1) step 2: kernel index "
                        "9 out of range (the model has 4 kernels)"));
}

TEST(Loader, KernelArgumentCount) {
  ModelDesc desc = adaptiveModel();
  desc.variants[0].steps[0].args.pop_back();
  EXPECT_THAT(loadError(desc),
              HasSubstr("kernel 'tac_test_mul' takes 3 arguments, the step "
                        "passes 2"));
}

TEST(Loader, ArenaRefOutOfBounds) {
  ModelDesc desc = adaptiveModel();
  desc.variants[0].steps[1].args[0].offset = 40;
  EXPECT_THAT(loadError(desc),
              HasSubstr("step 1 argument 0: arena bytes [40, 56) out of "
                        "bounds (the plan's arena is 48 bytes)"));
}

TEST(Loader, HugeOffsetDoesNotOverflow) {
  ModelDesc desc = adaptiveModel();
  desc.variants[0].steps[1].args[1].offset = ~uint64_t(0) - 4;
  EXPECT_THAT(loadError(desc), HasSubstr("out of bounds"));
}

TEST(Loader, WeightRefOutOfBounds) {
  ModelDesc desc = adaptiveModel();
  desc.variants[0].steps[0].args[2].offset = 32;
  EXPECT_THAT(loadError(desc),
              HasSubstr("weight bytes [32, 48) out of bounds (the weight "
                        "section is 40 bytes)"));
}

TEST(Loader, InputRefs) {
  ModelDesc desc = adaptiveModel();
  desc.controller.steps[0].args[2].index = 1;
  EXPECT_THAT(loadError(desc),
              HasSubstr("controller step 0 argument 2: input index 1 out of "
                        "range (the model has 1 inputs)"));
  desc = adaptiveModel();
  desc.controller.steps[0].args[2].size = 17;
  EXPECT_THAT(loadError(desc),
              HasSubstr("input 'x' bytes [0, 17) out of bounds"));
}

TEST(Loader, OutputsMustMatchTheSignature) {
  ModelDesc desc = adaptiveModel();
  desc.variants[2].outputs.push_back(desc.variants[2].outputs[0]);
  EXPECT_THAT(loadError(desc), HasSubstr("has 2 outputs, the model declares 1"));
  desc = adaptiveModel();
  desc.outputs[0].shape = {1, 2};
  EXPECT_THAT(loadError(desc),
              HasSubstr("output 0 is 16 bytes, but 'y' (float32[1, 2]) is 8"));
}

TEST(Loader, ControllerPathOutput) {
  ModelDesc desc = adaptiveModel();
  desc.controllerPathOutput = 0; // the 4-byte score
  EXPECT_THAT(loadError(desc), HasSubstr("not one int64 (8 bytes)"));
  desc.controllerPathOutput = 5;
  EXPECT_THAT(loadError(desc), HasSubstr("controller_path_output is 5"));
}

TEST(Loader, VariantPaths) {
  ModelDesc desc = adaptiveModel();
  std::swap(desc.variants[0], desc.variants[1]);
  EXPECT_THAT(loadError(desc), HasSubstr("must be sorted by path"));
  desc = adaptiveModel();
  desc.numPaths = 3;
  EXPECT_THAT(loadError(desc),
              HasSubstr("(path 3): path out of range (num_paths is 3)"));
  desc = adaptiveModel();
  desc.variants[0].path = -1;
  EXPECT_THAT(loadError(desc), HasSubstr("static model"));
  desc = adaptiveModel();
  desc.variants.clear();
  EXPECT_THAT(loadError(desc), HasSubstr("no variants"));
}

TEST(Loader, CopySteps) {
  ModelDesc desc = adaptiveModel();
  desc.variants[0].steps.back().bytes = 17;
  EXPECT_THAT(loadError(desc), HasSubstr("copies 17 bytes"));
  desc = adaptiveModel();
  desc.variants[0].steps.back().args.pop_back();
  EXPECT_THAT(loadError(desc), HasSubstr("a copy takes 2 arguments"));
  desc = adaptiveModel();
  desc.variants[0].steps.back().args[0] = {Space::Weights, 0, 0, 16};
  EXPECT_THAT(loadError(desc), HasSubstr("writes into read-only memory"));
}

TEST(Loader, BadSpecs) {
  ModelDesc desc = adaptiveModel();
  desc.inputs[0].shape = {-1, 4};
  EXPECT_THAT(loadError(desc), HasSubstr("dimensions must be static"));
  desc = adaptiveModel();
  desc.inputs[0].name.clear();
  EXPECT_THAT(loadError(desc), HasSubstr("input 0 has no name"));
}

TEST(Loader, MissingKernelSymbol) {
  ModelDesc desc = adaptiveModel();
  desc.kernels[2].symbol = "tac_test_nope";
  EXPECT_THAT(cpuSessionError(desc),
              HasSubstr("kernel symbol 'tac_test_nope' is missing from code "
                        "object 0"));
}

TEST(Loader, CodeObjectSelection) {
  ModelDesc desc = adaptiveModel();
  CodeObjectDesc future = desc.code[0];
  future.cpu = "future";
  future.features = {"sse2", "quantum-simd"};
  desc.code.insert(desc.code.begin(), future);
  ModelRef model = loadOrDie(desc);
  ASSERT_TRUE(model);
  EXPECT_EQ(model->codeObjectIndex(), 1u);

  desc.code.pop_back();
  EXPECT_THAT(loadError(desc),
              HasSubstr("no code object this CPU can run: code object 0 "
                        "(x86_64, future) needs 'quantum-simd', a feature "
                        "this runtime does not know"));
  desc.code[0].arch = "riscv64";
  desc.code[0].features.clear();
  EXPECT_THAT(loadError(desc), HasSubstr("is for riscv64"));
}

TEST(Loader, NotASharedObject) {
  ModelDesc desc = adaptiveModel();
  desc.code[0].bytes.assign(100, 0x42);
  EXPECT_THAT(cpuSessionError(desc), HasSubstr("cannot load code object 0"));
}

// The CPU code object is mapped by the first CPU session, so a file with
// CPU and CUDA code loads on a GPU host that cannot map its CPU half (the
// system BLAS it links is missing there): only CPU sessions fail, each with
// the same message.
TEST(Loader, CpuCodeIsMappedByTheFirstCpuSession) {
  ModelDesc desc = adaptiveModel();
  desc.code[0].bytes.assign(100, 0x42); // cannot be mapped
  ModelRef model = loadOrDie(desc);
  ASSERT_TRUE(model);
  EXPECT_TRUE(model->hasCpuCode());
  auto first = Session::create(model);
  auto second = Session::create(model);
  ASSERT_FALSE(first.ok());
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(first.status().message(), HasSubstr("cannot load code object 0"));
  EXPECT_EQ(first.status().message(), second.status().message());
}

TEST(Loader, ReusedDescriptorNeverReachesAnUnloadedObject) {
  // The test kernels are linked -z nodelete (LLVM's CMake default), so they
  // stay loaded under the name "/proc/self/fd/N" after their Model is gone;
  // the next model's code must still be its own, even at the same N.
  ModelRef first = loadOrDie(adaptiveModel());
  ASSERT_TRUE(first);
  ASSERT_TRUE(Session::create(first).ok()); // maps its code
  first.reset();
  ModelDesc desc = adaptiveModel();
  desc.code[0].bytes.assign(100, 0x42);
  EXPECT_THAT(cpuSessionError(desc), HasSubstr("cannot load code object 0"));
  ModelRef a = loadOrDie(adaptiveModel());
  ModelRef b = loadOrDie(staticModel());
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(Session::create(a).ok() && Session::create(b).ok());
}

// Batch buckets: ascending sizes above 1, one plan per variant with the
// same paths, inputs and outputs of `batch` rows.
TEST(Loader, BatchBuckets) {
  ModelDesc desc = adaptiveModel();
  BatchBucketDesc bucket;
  bucket.batch = 2;
  bucket.controller = desc.controller;
  bucket.variants = desc.variants;
  desc.buckets.push_back(bucket);
  // One-row plans declared as two-row ones: their outputs are too small.
  EXPECT_THAT(loadError(desc), HasSubstr("batch bucket 0 (2 rows)"));
  desc.buckets[0].batch = 1;
  EXPECT_THAT(loadError(desc), HasSubstr("batch sizes must be ascending, above 1"));
  desc.buckets[0].batch = 2;
  desc.buckets[0].variants.pop_back();
  EXPECT_THAT(loadError(desc), HasSubstr("batch bucket 0 (2 rows)"));
}
