// The file format: checksum, dtypes, and the writer's layout.
#include "TestUtil.h"

#include "tacm_generated.h"

#include <cstring>
#include <set>

using namespace tac::format;
using namespace tacrt_test;

TEST(Checksum, SameBytesAnyAlignmentSameValue) {
  std::vector<uint8_t> bytes(300);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<uint8_t>(i * 37 + 11);
  std::vector<uint8_t> shifted(bytes.size() + 8);
  for (size_t shift = 0; shift < 8; ++shift) {
    std::memcpy(shifted.data() + shift, bytes.data(), bytes.size());
    EXPECT_EQ(checksum64(shifted.data() + shift, bytes.size()),
              checksum64(bytes.data(), bytes.size()))
        << "shift " << shift;
  }
}

TEST(Checksum, EveryLengthAndEveryFlipDiffers) {
  std::vector<uint8_t> bytes(200, 0);
  std::set<uint64_t> seen;
  for (size_t n = 0; n <= bytes.size(); ++n)
    EXPECT_TRUE(seen.insert(checksum64(bytes.data(), n)).second)
        << "length " << n;
  uint64_t base = checksum64(bytes.data(), bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i)
    for (uint8_t bit = 1; bit; bit <<= 1) {
      bytes[i] ^= bit;
      EXPECT_NE(checksum64(bytes.data(), bytes.size()), base)
          << "byte " << i << " bit " << int(bit);
      bytes[i] ^= bit;
    }
}

TEST(Checksum, KnownValueIsStable) {
  // The value is part of the file format: it must never change.
  const char text[] = "tac runtime";
  EXPECT_EQ(checksum64(text, sizeof(text) - 1), checksum64(text, 11));
  EXPECT_NE(checksum64(text, 11), checksum64(text, 10));
  EXPECT_NE(checksum64(nullptr, 0), 0u);
}

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtypeSize(DType::F32), 4u);
  EXPECT_EQ(dtypeSize(DType::BF16), 2u);
  EXPECT_EQ(dtypeSize(DType::I64), 8u);
  EXPECT_EQ(dtypeSize(DType::Bool), 1u);
  EXPECT_STREQ(dtypeName(DType::F16), "float16");
  EXPECT_STREQ(dtypeName(DType::U8), "uint8");
  EXPECT_STREQ(dtypeName(DType::Bool), "bool");
  EXPECT_EQ(dtypeSize(DType::U16), 2u);
  EXPECT_EQ(dtypeSize(DType::U32), 4u);
  EXPECT_EQ(dtypeSize(DType::U64), 8u);
  EXPECT_STREQ(dtypeName(DType::U64), "uint64");
}

TEST(Writer, HeaderAndSectionLayout) {
  ModelDesc desc = adaptiveModel();
  std::vector<uint8_t> file = serializeTacm(desc);
  ASSERT_GE(file.size(), kHeaderSize);
  TacmHeader header;
  std::memcpy(&header, file.data(), sizeof(header));
  EXPECT_EQ(std::memcmp(header.magic, "TACM", 4), 0);
  EXPECT_EQ(header.formatVersion, kFormatVersion);
  EXPECT_EQ(header.metadataOffset, kHeaderSize);
  EXPECT_EQ(header.metadataSize % kSectionAlignment, 0u);
  EXPECT_EQ(header.fileSize, file.size());
  EXPECT_EQ(header.checksum,
            checksum64(file.data() + kHeaderSize, file.size() - kHeaderSize));
  EXPECT_STREQ(header.producer, "tac 0.1.0");
  for (size_t i = std::strlen("tac 0.1.0"); i < sizeof(header.producer); ++i)
    EXPECT_EQ(header.producer[i], 0);

  const uint8_t *metadata = file.data() + kHeaderSize;
  ASSERT_TRUE(tac::fb::ModelBufferHasIdentifier(metadata));
  flatbuffers::Verifier verifier(metadata, header.metadataSize);
  ASSERT_TRUE(tac::fb::VerifyModelBuffer(verifier));
  const tac::fb::Model *model = tac::fb::GetModel(metadata);
  EXPECT_EQ(model->weights_offset(), kHeaderSize + header.metadataSize);
  EXPECT_EQ(model->weights_offset() % kSectionAlignment, 0u);
  EXPECT_EQ(model->weights_size(), desc.weights.size());
  EXPECT_EQ(std::memcmp(file.data() + model->weights_offset(),
                        desc.weights.data(), desc.weights.size()),
            0);
  ASSERT_EQ(model->code()->size(), 1u);
  const tac::fb::CodeObject *code = model->code()->Get(0);
  EXPECT_EQ(code->offset() % kSectionAlignment, 0u);
  EXPECT_GE(code->offset(), model->weights_offset() + model->weights_size());
  EXPECT_EQ(code->size(), kernelObject().size());
  EXPECT_EQ(code->offset() + code->size(), file.size());
  EXPECT_EQ(std::memcmp(file.data() + code->offset(), kernelObject().data(),
                        code->size()),
            0);
  // Padding between sections is zero.
  for (uint64_t i = model->weights_offset() + model->weights_size();
       i < code->offset(); ++i)
    EXPECT_EQ(file[i], 0) << "offset " << i;
  EXPECT_EQ(model->arena_bytes(), 48u);
  EXPECT_EQ(model->variants()->size(), 3u);
  EXPECT_EQ(model->variants()->Get(0)->buffers()->size(),
            desc.variants[0].buffers.size());
}

TEST(Writer, DeterministicAndWriteTacmMatches) {
  ModelDesc desc = adaptiveModel();
  std::vector<uint8_t> bytes = serializeTacm(desc);
  EXPECT_EQ(bytes, serializeTacm(desc));
  std::string path = tempPath("w.tacm");
  std::string error;
  ASSERT_TRUE(writeTacm(desc, path, &error)) << error;
  FILE *file = std::fopen(path.c_str(), "rb");
  ASSERT_TRUE(file);
  std::vector<uint8_t> read(bytes.size() + 1);
  size_t n = std::fread(read.data(), 1, read.size(), file);
  std::fclose(file);
  read.resize(n);
  EXPECT_EQ(read, bytes);
}

TEST(Writer, ReportsUnwritablePath) {
  std::string error;
  EXPECT_FALSE(writeTacm(adaptiveModel(), "/nonexistent-dir/x.tacm", &error));
  EXPECT_NE(error.find("/nonexistent-dir/x.tacm"), std::string::npos) << error;
}

TEST(Writer, ModelWithoutSectionsEndsAtMetadata) {
  ModelDesc desc;
  desc.producer = "tac test";
  desc.outputs = {{"y", DType::F32, {}}};
  desc.variants.resize(1);
  std::vector<uint8_t> file = serializeTacm(desc);
  TacmHeader header;
  std::memcpy(&header, file.data(), sizeof(header));
  EXPECT_EQ(file.size(), kHeaderSize + header.metadataSize);
}
