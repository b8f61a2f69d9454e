// The .tacm writer and the pieces of the format both sides share: checksum,
// dtype table. See tacm_format.h for the layout.
#include "tacm_format.h"

#include "tacm_generated.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tac::format {

//===----------------------------------------------------------------------===//
// checksum64
//===----------------------------------------------------------------------===//
//
// Four independent multiply-rotate lanes over 32-byte blocks (the xxHash64
// structure) so the multiplies pipeline. Each step is a bijection of the lane
// state for a fixed input word and injective in the word, so any change that
// stays within one 8-byte word (every single-byte flip) always changes the
// result; the value is the same on every host because words are read
// little-endian whatever the alignment.

namespace {
constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kP2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t kP3 = 0x165667B19E3779F9ULL;
constexpr uint64_t kP4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t kP5 = 0x27D4EB2F165667C5ULL;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

inline uint64_t round(uint64_t acc, uint64_t word) {
  return rotl(acc + word * kP2, 31) * kP1;
}

inline uint64_t mergeLane(uint64_t acc, uint64_t lane) {
  return (acc ^ round(0, lane)) * kP1 + kP4;
}
} // namespace

uint64_t checksum64(const void *data, size_t size) {
  const auto *p = static_cast<const uint8_t *>(data);
  const uint8_t *end = p + size;
  uint64_t h;
  if (size >= 32) {
    uint64_t v1 = kP1 + kP2, v2 = kP2, v3 = 0, v4 = 0 - kP1;
    const uint8_t *limit = end - 32;
    do {
      v1 = round(v1, load64(p));
      v2 = round(v2, load64(p + 8));
      v3 = round(v3, load64(p + 16));
      v4 = round(v4, load64(p + 24));
      p += 32;
    } while (p <= limit);
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
    h = mergeLane(h, v1);
    h = mergeLane(h, v2);
    h = mergeLane(h, v3);
    h = mergeLane(h, v4);
  } else {
    h = kP5;
  }
  h += static_cast<uint64_t>(size);
  for (; p + 8 <= end; p += 8)
    h = rotl(h ^ round(0, load64(p)), 27) * kP1 + kP4;
  // The last 0..7 bytes, one at a time: still one bijective step per byte.
  for (; p < end; ++p)
    h = rotl(h ^ (static_cast<uint64_t>(*p) * kP5), 11) * kP1;
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

//===----------------------------------------------------------------------===//
// DType
//===----------------------------------------------------------------------===//

size_t dtypeSize(DType type) {
  switch (type) {
  case DType::F32: case DType::I32: case DType::U32: return 4;
  case DType::F16: case DType::BF16: case DType::I16: case DType::U16: return 2;
  case DType::F64: case DType::I64: case DType::U64: return 8;
  case DType::I8: case DType::U8: case DType::Bool: return 1;
  }
  return 0;
}

const char *dtypeName(DType type) {
  switch (type) {
  case DType::F32: return "float32";
  case DType::F16: return "float16";
  case DType::BF16: return "bfloat16";
  case DType::F64: return "float64";
  case DType::I8: return "int8";
  case DType::I16: return "int16";
  case DType::I32: return "int32";
  case DType::I64: return "int64";
  case DType::U8: return "uint8";
  case DType::Bool: return "bool";
  case DType::U16: return "uint16";
  case DType::U32: return "uint32";
  case DType::U64: return "uint64";
  }
  return "unknown";
}

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

namespace {
uint64_t alignUp(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

fb::BufferRef toFb(const BufferRefDesc &ref) {
  return fb::BufferRef(static_cast<fb::Space>(ref.space), ref.index,
                       ref.offset, ref.size);
}

std::vector<fb::BufferRef> toFb(const std::vector<BufferRefDesc> &refs) {
  std::vector<fb::BufferRef> out;
  out.reserve(refs.size());
  for (const BufferRefDesc &ref : refs)
    out.push_back(toFb(ref));
  return out;
}

flatbuffers::Offset<fb::Plan> buildPlan(flatbuffers::FlatBufferBuilder &fbb,
                                        const PlanDesc &plan) {
  std::vector<flatbuffers::Offset<fb::Step>> steps;
  steps.reserve(plan.steps.size());
  for (const StepDesc &step : plan.steps) {
    std::vector<fb::BufferRef> args = toFb(step.args);
    steps.push_back(fb::CreateStepDirect(fbb,
                                         static_cast<fb::StepKind>(step.kind),
                                         step.kernel, &args, step.bytes));
  }
  std::vector<fb::BufferRef> outputs = toFb(plan.outputs);
  std::vector<fb::ArenaBuffer> buffers;
  buffers.reserve(plan.buffers.size());
  for (const ArenaBufferDesc &b : plan.buffers)
    buffers.emplace_back(b.offset, b.size, b.firstStep, b.lastStep);
  return fb::CreatePlanDirect(fbb, plan.name.c_str(), plan.path, &plan.layers,
                              &steps, plan.arenaBytes, &outputs, plan.flops,
                              plan.bytesMoved, plan.paramBytes,
                              plan.peakActivationBytes, &buffers);
}

std::vector<flatbuffers::Offset<fb::TensorSpec>>
buildSpecs(flatbuffers::FlatBufferBuilder &fbb,
           const std::vector<TensorSpecDesc> &specs) {
  std::vector<flatbuffers::Offset<fb::TensorSpec>> out;
  for (const TensorSpecDesc &spec : specs)
    out.push_back(fb::CreateTensorSpecDirect(
        fbb, spec.name.c_str(), static_cast<fb::DType>(spec.dtype),
        &spec.shape));
  return out;
}

uint64_t modelArenaBytes(const ModelDesc &model) {
  uint64_t variants = 0, controller = 0;
  auto add = [&](const PlanDesc *ctrl, const std::vector<PlanDesc> &plans) {
    for (const PlanDesc &plan : plans)
      variants = std::max(variants, plan.arenaBytes);
    if (ctrl)
      controller = std::max(controller, ctrl->arenaBytes);
  };
  add(model.hasController ? &model.controller : nullptr, model.variants);
  for (const BatchBucketDesc &bucket : model.buckets)
    add(model.hasController ? &bucket.controller : nullptr, bucket.variants);
  // Carried results live in the controller's arena while a variant runs.
  if (model.carriedResults > 0)
    return variantArenaOffset(controller) + variants;
  return std::max(controller, variants);
}

/// The metadata FlatBuffer with the given section offsets. ForceDefaults
/// writes every scalar, so the buffer's size does not depend on the offsets'
/// values: the writer can measure it first and fill the offsets in after.
std::vector<flatbuffers::Offset<fb::GpuKernel>>
buildGpuKernels(flatbuffers::FlatBufferBuilder &fbb, const ModelDesc &model) {
  std::vector<flatbuffers::Offset<fb::GpuKernel>> out;
  for (const GpuKernelDesc &kernel : model.gpuKernels) {
    std::vector<flatbuffers::Offset<fb::GpuLaunch>> launches;
    for (const GpuLaunchDesc &launch : kernel.launches) {
      std::vector<uint32_t> grid(launch.grid, launch.grid + 3);
      std::vector<uint32_t> block(launch.block, launch.block + 3);
      launches.push_back(fb::CreateGpuLaunchDirect(
          fbb, launch.entry.c_str(), &grid, &block, launch.sharedBytes,
          &launch.args));
    }
    flatbuffers::Offset<fb::GpuGemm> gemm = 0;
    if (kernel.hasGemm) {
      const GemmDesc &g = kernel.gemm;
      gemm = fb::CreateGpuGemm(fbb, g.aArg, g.bArg, g.cArg, g.batch, g.m, g.n,
                               g.k, g.aTrans, g.bTrans, g.lda, g.ldb, g.ldc,
                               g.strideA, g.strideB, g.strideC, g.beta);
    }
    out.push_back(fb::CreateGpuKernelDirect(fbb, &launches, gemm));
  }
  return out;
}

flatbuffers::DetachedBuffer
buildMetadata(const ModelDesc &model, uint64_t weightsOffset,
              const std::vector<uint64_t> &codeOffsets,
              const std::vector<uint64_t> &gpuCodeOffsets) {
  flatbuffers::FlatBufferBuilder fbb(1024);
  fbb.ForceDefaults(true);
  auto inputs = buildSpecs(fbb, model.inputs);
  auto outputs = buildSpecs(fbb, model.outputs);
  std::vector<flatbuffers::Offset<fb::Kernel>> kernels;
  for (const KernelDesc &kernel : model.kernels)
    kernels.push_back(
        fb::CreateKernelDirect(fbb, kernel.symbol.c_str(), kernel.numArgs,
                               kernel.gemmPrecision.empty()
                                   ? nullptr
                                   : kernel.gemmPrecision.c_str()));
  std::vector<flatbuffers::Offset<fb::CodeObject>> code;
  for (size_t i = 0; i < model.code.size(); ++i) {
    const CodeObjectDesc &object = model.code[i];
    std::vector<flatbuffers::Offset<flatbuffers::String>> features;
    for (const std::string &feature : object.features)
      features.push_back(fbb.CreateString(feature));
    code.push_back(fb::CreateCodeObjectDirect(
        fbb, object.arch.c_str(), object.cpu.c_str(), &features,
        codeOffsets[i], object.bytes.size()));
  }
  // One size's controller (when the model has one) and variants.
  auto buildPlans = [&](const PlanDesc &controllerDesc,
                        const std::vector<PlanDesc> &variantDescs,
                        flatbuffers::Offset<fb::Plan> &controllerOut,
                        std::vector<flatbuffers::Offset<fb::Plan>> &variantsOut) {
    controllerOut = model.hasController ? buildPlan(fbb, controllerDesc) : 0;
    for (const PlanDesc &plan : variantDescs)
      variantsOut.push_back(buildPlan(fbb, plan));
  };
  flatbuffers::Offset<fb::Plan> controller;
  std::vector<flatbuffers::Offset<fb::Plan>> variants;
  buildPlans(model.controller, model.variants, controller, variants);
  std::vector<flatbuffers::Offset<fb::BatchBucket>> buckets;
  for (const BatchBucketDesc &bucket : model.buckets) {
    flatbuffers::Offset<fb::Plan> bucketController;
    std::vector<flatbuffers::Offset<fb::Plan>> bucketVariants;
    buildPlans(bucket.controller, bucket.variants, bucketController,
               bucketVariants);
    buckets.push_back(fb::CreateBatchBucketDirect(
        fbb, bucket.batch, bucketController, &bucketVariants,
        &bucket.sharedCarried));
  }
  // CPU-only files keep exactly their old metadata: the CUDA vectors are
  // written only when there is CUDA code.
  std::vector<flatbuffers::Offset<fb::GpuKernel>> gpuKernels =
      buildGpuKernels(fbb, model);
  std::vector<flatbuffers::Offset<fb::GpuCodeObject>> gpuCode;
  for (size_t i = 0; i < model.gpuCode.size(); ++i) {
    const GpuCodeObjectDesc &object = model.gpuCode[i];
    std::vector<flatbuffers::Offset<flatbuffers::String>> archs;
    for (const std::string &arch : object.archs)
      archs.push_back(fbb.CreateString(arch));
    gpuCode.push_back(fb::CreateGpuCodeObjectDirect(
        fbb, object.format.c_str(), &archs, gpuCodeOffsets[i],
        object.bytes.size()));
  }
  bool cuda = !model.gpuKernels.empty() || !model.gpuCode.empty();
  auto root = fb::CreateModelDirect(
      fbb, model.producer.c_str(), &inputs, &outputs, &kernels, &code,
      weightsOffset, model.weights.size(), controller,
      model.controllerPathOutput, model.numPaths, &variants,
      modelArenaBytes(model), cuda ? &gpuKernels : nullptr,
      cuda ? &gpuCode : nullptr, model.carriedResults,
      buckets.empty() ? nullptr : &buckets);
  fb::FinishModelBuffer(fbb, root);
  return fbb.Release();
}

struct Layout {
  uint64_t metadataSize = 0; // padded to kSectionAlignment
  uint64_t weightsOffset = 0;
  std::vector<uint64_t> codeOffsets;
  std::vector<uint64_t> gpuCodeOffsets;
  uint64_t fileSize = 0;
};

/// Places the sections after `metadataSize` bytes of (padded) metadata:
/// weights, then each code object, each at a 64-byte aligned offset.
Layout layOut(const ModelDesc &model, uint64_t flatbufferSize) {
  Layout layout;
  // The metadata region is padded to the section alignment, so the header's
  // metadataSize also pins where the first section starts: the loader can
  // then detect any change to that header field (the checksum does not cover
  // the header).
  layout.metadataSize = alignUp(flatbufferSize, kSectionAlignment);
  uint64_t cursor = kHeaderSize + layout.metadataSize;
  layout.weightsOffset = cursor;
  cursor = alignUp(cursor + model.weights.size(), kSectionAlignment);
  for (const CodeObjectDesc &object : model.code) {
    layout.codeOffsets.push_back(cursor);
    cursor = alignUp(cursor + object.bytes.size(), kSectionAlignment);
  }
  for (const GpuCodeObjectDesc &object : model.gpuCode) {
    layout.gpuCodeOffsets.push_back(cursor);
    cursor = alignUp(cursor + object.bytes.size(), kSectionAlignment);
  }
  // The file ends where the last non-empty section ends (no tail padding).
  uint64_t end = kHeaderSize + layout.metadataSize;
  if (!model.weights.empty())
    end = layout.weightsOffset + model.weights.size();
  for (size_t i = 0; i < model.code.size(); ++i)
    if (!model.code[i].bytes.empty())
      end = layout.codeOffsets[i] + model.code[i].bytes.size();
  for (size_t i = 0; i < model.gpuCode.size(); ++i)
    if (!model.gpuCode[i].bytes.empty())
      end = layout.gpuCodeOffsets[i] + model.gpuCode[i].bytes.size();
  layout.fileSize = end;
  return layout;
}
} // namespace

std::vector<uint8_t> serializeTacm(const ModelDesc &model) {
  std::vector<uint64_t> zeros(model.code.size(), 0);
  std::vector<uint64_t> gpuZeros(model.gpuCode.size(), 0);
  Layout layout =
      layOut(model, buildMetadata(model, 0, zeros, gpuZeros).size());
  flatbuffers::DetachedBuffer metadata =
      buildMetadata(model, layout.weightsOffset, layout.codeOffsets,
                    layout.gpuCodeOffsets);
  // ForceDefaults makes the size independent of the offsets; recompute the
  // layout anyway should that ever not hold (it converges at once then).
  while (alignUp(metadata.size(), kSectionAlignment) != layout.metadataSize) {
    layout = layOut(model, metadata.size());
    metadata = buildMetadata(model, layout.weightsOffset, layout.codeOffsets,
                             layout.gpuCodeOffsets);
  }

  std::vector<uint8_t> file(layout.fileSize, 0);
  std::memcpy(file.data() + kHeaderSize, metadata.data(), metadata.size());
  if (!model.weights.empty())
    std::memcpy(file.data() + layout.weightsOffset, model.weights.data(),
                model.weights.size());
  for (size_t i = 0; i < model.code.size(); ++i)
    if (!model.code[i].bytes.empty())
      std::memcpy(file.data() + layout.codeOffsets[i],
                  model.code[i].bytes.data(), model.code[i].bytes.size());
  for (size_t i = 0; i < model.gpuCode.size(); ++i)
    if (!model.gpuCode[i].bytes.empty())
      std::memcpy(file.data() + layout.gpuCodeOffsets[i],
                  model.gpuCode[i].bytes.data(),
                  model.gpuCode[i].bytes.size());

  TacmHeader header{};
  std::memcpy(header.magic, kMagic, sizeof(kMagic));
  header.formatVersion = kFormatVersion;
  header.metadataOffset = kHeaderSize;
  header.metadataSize = layout.metadataSize;
  header.fileSize = layout.fileSize;
  header.checksum =
      checksum64(file.data() + kHeaderSize, layout.fileSize - kHeaderSize);
  std::memcpy(header.producer, model.producer.data(),
              std::min(model.producer.size(), sizeof(header.producer)));
  std::memcpy(file.data(), &header, sizeof(header));
  return file;
}

bool writeTacm(const ModelDesc &model, const std::string &path,
               std::string *error) {
  std::vector<uint8_t> bytes = serializeTacm(model);
  auto fail = [&](const char *what) {
    if (error)
      *error = "cannot " + std::string(what) + " '" + path +
               "': " + std::strerror(errno);
    return false;
  };
  FILE *file = std::fopen(path.c_str(), "wb");
  if (!file)
    return fail("open");
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
  ok = (std::fclose(file) == 0) && ok;
  return ok ? true : fail("write");
}

} // namespace tac::format
