// Model::load: map a .tacm file, verify everything it says before anything
// is used, and load the native code. Each check has its own message saying
// what is wrong and what to do.
#include "ModelImpl.h"

#include "tacm_generated.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cctype>
#include <cstring>
#include <optional>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dlfcn.h>

#ifndef TACRT_VERSION
#error "TACRT_VERSION must be defined by the build"
#endif

namespace tac::rt {

const char *version() { return TACRT_VERSION; }
uint32_t formatVersion() { return format::kFormatVersion; }

ModelImpl::~ModelImpl() {
  if (mapping)
    munmap(mapping, mappingSize);
}

Status ModelImpl::mapCpuCode() {
  std::lock_guard<std::mutex> lock(codeMutex);
  if (codeMapped)
    return codeStatus;
  codeMapped = true;
  if (kernelSymbols.empty()) // no kernels: nothing to map
    return codeStatus;
  auto fail = [&](Status st) {
    kernelFns.clear();
    return codeStatus = std::move(st);
  };
  if (Status st = loadNativeCode(cpuCodeBytes, cpuCodeSize, cpuCodeName, code);
      !st)
    return fail(std::move(st));
  for (const std::string &symbol : kernelSymbols) {
    void *address = dlsym(code.handle, symbol.c_str());
    if (!address)
      return fail(Status::error(ErrorCode::InvalidFile,
                                "'" + filePath + "': kernel symbol '" + symbol +
                                    "' is missing from " + cpuCodeName));
    kernelFns.push_back(reinterpret_cast<KernelFn>(address));
  }
  useGemmThreads = reinterpret_cast<int (*)(int)>(
      dlsym(code.handle, "tac_use_gemm_threads"));
  useThreadPool = reinterpret_cast<int (*)(void *, PoolRun)>(
      dlsym(code.handle, "tac_use_thread_pool"));
  return codeStatus;
}

Model::Model() = default;
Model::~Model() = default;

const std::string &Model::filePath() const { return impl_->filePath; }
const std::string &Model::producer() const { return impl_->producer; }
const std::vector<TensorSpec> &Model::inputs() const { return impl_->inputs; }
const std::vector<TensorSpec> &Model::outputs() const {
  return impl_->outputs;
}
uint32_t Model::numPaths() const { return impl_->numPaths; }
bool Model::hasController() const { return impl_->hasController; }
uint64_t Model::controllerFlops() const {
  return impl_->hasController ? impl_->controller.flops : 0;
}
const std::vector<VariantInfo> &Model::variants() const {
  return impl_->variantInfo;
}
const VariantInfo *Model::findVariant(int32_t path) const {
  for (const VariantInfo &v : impl_->variantInfo)
    if (v.path == path)
      return &v;
  return nullptr;
}
uint64_t Model::arenaBytes() const { return impl_->arenaBytes; }
std::vector<uint32_t> Model::batchSizes() const {
  std::vector<uint32_t> sizes{1};
  for (const BatchBucket &bucket : impl_->buckets)
    sizes.push_back(bucket.batch);
  return sizes;
}
size_t Model::codeObjectIndex() const { return impl_->codeIndex; }
const std::string &Model::codeObjectCpu() const { return impl_->codeCpu; }
std::vector<uint8_t> Model::cpuCodeObject() const {
  return std::vector<uint8_t>(impl_->cpuCodeBytes,
                              impl_->cpuCodeBytes + impl_->cpuCodeSize);
}

Expected<std::map<uint64_t, std::vector<float>>>
takeRecordedGemmInputs(const Model &model) {
  ModelImpl &impl = ModelImpl::of(model);
  if (Status st = impl.mapCpuCode(); !st)
    return st;
  // PackedGemm.c's recording entry keeps them (the code object's own table).
  using Read = int64_t (*)(int64_t, const void **, int64_t *, const float **);
  auto read = reinterpret_cast<Read>(
      impl.code.handle ? dlsym(impl.code.handle, "tac_recorded_gemm_inputs")
                       : nullptr);
  auto clear = reinterpret_cast<void (*)()>(
      impl.code.handle
          ? dlsym(impl.code.handle, "tac_recorded_gemm_inputs_clear")
          : nullptr);
  if (!read || !clear)
    return Status::error(ErrorCode::InvalidArgument,
                         "'" + impl.filePath +
                             "' was not built to record its GEMMs' inputs");
  int64_t count = read(-1, nullptr, nullptr, nullptr);
  std::map<uint64_t, std::vector<float>> ranges;
  for (int64_t i = 0; i < count; ++i) {
    const void *matrix = nullptr;
    int64_t k = 0;
    const float *largest = nullptr;
    read(i, &matrix, &k, &largest);
    auto *at = static_cast<const uint8_t *>(matrix);
    if (at < impl.weights || at >= impl.weights + impl.weightsSize || k < 0)
      continue; // not a packed weight of this file
    ranges[uint64_t(at - impl.weights)].assign(largest, largest + k);
  }
  clear();
  if (count < 0)
    return Status::error(ErrorCode::OutOfMemory,
                         "'" + impl.filePath +
                             "': memory ran out while recording the GEMMs' "
                             "inputs");
  return ranges;
}

bool Model::hasCpuCode() const { return impl_->hasCpuCode; }
bool Model::hasCudaCode() const { return impl_->gpuCode != nullptr; }

namespace {
using format::BufferRefDesc;
using format::PlanDesc;
using format::Space;
using format::StepKind;

std::string str(const flatbuffers::String *s) {
  return s ? s->str() : std::string();
}

/// Overflow-safe "[offset, offset+size) lies in [0, limit)".
bool inBounds(uint64_t offset, uint64_t size, uint64_t limit) {
  return size <= limit && offset <= limit - size;
}

std::string range(uint64_t offset, uint64_t size) {
  return "[" + std::to_string(offset) + ", " +
         (offset + size < offset ? std::string("overflow")
                                 : std::to_string(offset + size)) +
         ")";
}

/// Printable text for messages: a damaged header may hold any bytes.
std::string printable(const char *data, size_t size) {
  std::string out;
  for (size_t i = 0; i < size && data[i]; ++i) {
    unsigned char c = static_cast<unsigned char>(data[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  return out;
}

std::string hex(uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%016llx",
                static_cast<unsigned long long>(value));
  return buf;
}

/// Builds the loaded model; every failure is an InvalidFile status whose
/// message starts with the file name.
class Loader {
public:
  Loader(ModelImpl &model, const uint8_t *file, uint64_t fileSize,
         bool mapCode)
      : m(model), file(file), fileSize(fileSize), mapCode(mapCode) {}

  Status load();

private:
  Status invalid(const std::string &what) const {
    return Status::error(ErrorCode::InvalidFile,
                         "invalid: '" + m.filePath + "': " + what +
                             "; the file is inconsistent: recompile it with "
                             "tac-compile (a compiler bug if it persists)");
  }
  Status corrupted(const std::string &what) const {
    return Status::error(ErrorCode::InvalidFile,
                         "corrupted: '" + m.filePath + "': " + what +
                             "; the file was damaged after tac-compile "
                             "wrote it: copy it again or recompile it");
  }

  Status checkHeader();
  Status checkSections();
  Status readSpecs(const flatbuffers::Vector<flatbuffers::Offset<fb::TensorSpec>>
                       *specs,
                   const char *what, std::vector<TensorSpec> &out);
  PlanDesc readPlan(const fb::Plan &plan) const;
  // While checking variants of a model with carried controller results: the
  // controller, whose last outputs are the variants' extra inputs.
  const PlanDesc *carriedFrom = nullptr;
  // Rows the plan being checked runs (a batch bucket's size, else 1): its
  // inputs and outputs hold that many rows.
  uint64_t rows = 1;
  Status readBuckets(const PlanDesc &controller,
                     const std::vector<PlanDesc> &plans,
                     const std::vector<PlanDesc> &bucketControllers);
  // Each bucket's variant plans, until they become ExecPlans.
  std::vector<std::vector<PlanDesc>> bucketVariants;
  Status checkRef(const std::string &where, const BufferRefDesc &ref,
                  const PlanDesc &plan) const;
  Status checkPlan(const std::string &label, const PlanDesc &plan) const;
  Status checkOutputs(const std::string &label, const PlanDesc &plan) const;
  Status loadCode();
  bool eightByteVectorsAligned() const;
  Status readGpu();
  Status checkGpuPlan(const std::string &label, const PlanDesc &plan) const;
  ExecPlan toExec(const PlanDesc &plan) const;

  ModelImpl &m;
  const uint8_t *file;
  uint64_t fileSize;
  bool mapCode; // LoadOptions::mapCode
  format::TacmHeader header{};
  const fb::Model *root = nullptr;
  uint64_t metadataEnd = 0;
};

Status Loader::checkHeader() {
  using namespace format;
  if (fileSize < kHeaderSize)
    return Status::error(
        ErrorCode::InvalidFile,
        "truncated: '" + m.filePath + "' is " + std::to_string(fileSize) +
            " bytes, smaller than the 64-byte .tacm header; the file is "
            "incomplete: copy it again or recompile it");
  std::memcpy(&header, file, sizeof(header));
  if (std::memcmp(header.magic, kMagic, sizeof(kMagic)) != 0)
    return Status::error(
        ErrorCode::InvalidFile,
        "'" + m.filePath + "' is not a .tacm file (it starts with '" +
            printable(header.magic, 4) +
            "', not 'TACM'); pass a model compiled by tac-compile");
  std::string producer = printable(header.producer, sizeof(header.producer));
  if (header.formatVersion != kFormatVersion)
    return Status::error(
        ErrorCode::Unsupported,
        "'" + m.filePath + "' was built by " +
            (producer.empty() ? std::string("an unknown producer") : producer) +
            " (format " + std::to_string(header.formatVersion) +
            "); this runtime (tac " + version() + ", format " +
            std::to_string(kFormatVersion) + ") reads format " +
            std::to_string(kFormatVersion) +
            ": recompile it with this tac-compile");
  if (header.fileSize != fileSize)
    return Status::error(
        ErrorCode::InvalidFile,
        std::string(header.fileSize > fileSize ? "truncated: '" : "extended: '") +
            m.filePath + "' is " + std::to_string(fileSize) +
            " bytes but its header records " +
            std::to_string(header.fileSize) +
            (header.fileSize > fileSize
                 ? "; the file is incomplete: copy it again or recompile it"
                 : "; bytes were appended to it: copy it again or recompile "
                   "it"));
  uint64_t sum = checksum64(file + kHeaderSize, fileSize - kHeaderSize);
  if (sum != header.checksum)
    return Status::error(ErrorCode::InvalidFile,
                         "corrupted: checksum mismatch in '" + m.filePath +
                             "' (header " + hex(header.checksum) +
                             ", contents " + hex(sum) +
                             "); the file was damaged after tac-compile wrote "
                             "it: copy it again or recompile it");
  // The checksum does not cover the header, so each remaining header field
  // is checked against what the writer always produces.
  if (header.metadataOffset != kHeaderSize ||
      header.metadataSize % kSectionAlignment != 0 ||
      header.metadataSize == 0 ||
      !inBounds(header.metadataOffset, header.metadataSize, fileSize))
    return corrupted("the metadata range " +
                     range(header.metadataOffset, header.metadataSize) +
                     " is not a 64-aligned range after the header inside the " +
                     std::to_string(fileSize) + "-byte file");
  metadataEnd = header.metadataOffset + header.metadataSize;

  const uint8_t *metadata = file + header.metadataOffset;
  if (!fb::ModelBufferHasIdentifier(metadata))
    return corrupted("the metadata lacks the FlatBuffer identifier 'TACM'");
  flatbuffers::Verifier::Options options;
  options.max_tables = header.metadataSize / 4 + 1;
  flatbuffers::Verifier verifier(metadata, header.metadataSize, options);
  if (!fb::VerifyModelBuffer(verifier))
    return corrupted("the metadata is not a valid tac.fb.Model FlatBuffer "
                     "(the FlatBuffers verifier rejected it)");
  root = fb::GetModel(metadata);
  if (!eightByteVectorsAligned())
    return corrupted("a vector of 8-byte elements (shape, buffer "
                     "references, arena buffers) is not 8-byte aligned");

  // The producer is repeated in the header (readable without parsing);
  // the two must agree byte for byte.
  char expected[sizeof(header.producer)] = {};
  std::string fbProducer = str(root->producer());
  std::memcpy(expected, fbProducer.data(),
              std::min(fbProducer.size(), sizeof(expected)));
  if (std::memcmp(expected, header.producer, sizeof(expected)) != 0)
    return corrupted("the header's producer '" + producer +
                     "' differs from the metadata's '" + fbProducer + "'");
  m.producer = fbProducer;
  return Status::success();
}

Status Loader::checkSections() {
  // Sections lie after the metadata and inside the file; the first one
  // starts right at the (padded) metadata end, as the writer lays them out.
  uint64_t firstSection = fileSize;
  bool anySection = false;
  uint64_t weightsOffset = root->weights_offset();
  uint64_t weightsSize = root->weights_size();
  if (weightsSize > 0) {
    if (weightsOffset % format::kSectionAlignment != 0 ||
        weightsOffset < metadataEnd ||
        !inBounds(weightsOffset, weightsSize, fileSize))
      return invalid("the weight section " + range(weightsOffset, weightsSize) +
                     " is not a 64-aligned range after the metadata (which "
                     "ends at " + std::to_string(metadataEnd) +
                     ") inside the " + std::to_string(fileSize) +
                     "-byte file");
    firstSection = std::min(firstSection, weightsOffset);
    anySection = true;
  }
  m.weights = weightsSize > 0 ? file + weightsOffset : file;
  m.weightsSize = weightsSize;

  const auto *code = root->code();
  for (uint32_t i = 0; code && i < code->size(); ++i) {
    const fb::CodeObject *object = code->Get(i);
    if (object->size() == 0 || object->offset() < metadataEnd ||
        !inBounds(object->offset(), object->size(), fileSize))
      return invalid("code object " + std::to_string(i) + " " +
                     range(object->offset(), object->size()) +
                     " is empty or not inside the file after the metadata "
                     "(which ends at " + std::to_string(metadataEnd) + ")");
    firstSection = std::min<uint64_t>(firstSection, object->offset());
    anySection = true;
  }
  const auto *gpuCode = root->gpu_code();
  for (uint32_t i = 0; gpuCode && i < gpuCode->size(); ++i) {
    const fb::GpuCodeObject *object = gpuCode->Get(i);
    if (object->size() == 0 || object->offset() < metadataEnd ||
        object->offset() % format::kSectionAlignment != 0 ||
        !inBounds(object->offset(), object->size(), fileSize))
      return invalid("GPU code object " + std::to_string(i) + " " +
                     range(object->offset(), object->size()) +
                     " is empty or not a 64-aligned range inside the file "
                     "after the metadata (which ends at " +
                     std::to_string(metadataEnd) + ")");
    firstSection = std::min<uint64_t>(firstSection, object->offset());
    anySection = true;
  }
  if (anySection ? firstSection != metadataEnd : fileSize != metadataEnd)
    return corrupted("the header's metadata size " +
                     std::to_string(header.metadataSize) +
                     " does not end where the first section starts (" +
                     std::to_string(firstSection) + ")");
  return Status::success();
}

Status Loader::readSpecs(
    const flatbuffers::Vector<flatbuffers::Offset<fb::TensorSpec>> *specs,
    const char *what, std::vector<TensorSpec> &out) {
  for (uint32_t i = 0; specs && i < specs->size(); ++i) {
    const fb::TensorSpec *spec = specs->Get(i);
    TensorSpec t;
    t.name = str(spec->name());
    std::string label = std::string(what) + " " + std::to_string(i) + " '" +
                        t.name + "'";
    if (t.name.empty())
      return invalid(std::string(what) + " " + std::to_string(i) +
                     " has no name");
    if (spec->dtype() > fb::DType_MAX)
      return invalid(label + " has an unknown dtype " +
                     std::to_string(spec->dtype()));
    t.dtype = static_cast<DType>(spec->dtype());
    if (spec->shape())
      t.shape.assign(spec->shape()->begin(), spec->shape()->end());
    std::optional<uint64_t> bytes = tensorBytes(t.dtype, t.shape);
    if (!bytes)
      return invalid(label + " has shape " + describeType(t.dtype, t.shape) +
                     ": dimensions must be static (>= 0) and the size must "
                     "fit in 64 bits");
    t.byteSize = *bytes;
    out.push_back(std::move(t));
  }
  return Status::success();
}

PlanDesc Loader::readPlan(const fb::Plan &plan) const {
  auto readRefs = [](const flatbuffers::Vector<const fb::BufferRef *> *refs) {
    std::vector<BufferRefDesc> out;
    for (uint32_t i = 0; refs && i < refs->size(); ++i) {
      const fb::BufferRef *r = refs->Get(i);
      out.push_back({static_cast<Space>(r->space()), r->index(), r->offset(),
                     r->size()});
    }
    return out;
  };
  PlanDesc desc;
  desc.name = str(plan.name());
  desc.path = plan.path();
  if (plan.layers())
    desc.layers.assign(plan.layers()->begin(), plan.layers()->end());
  for (uint32_t i = 0; plan.steps() && i < plan.steps()->size(); ++i) {
    const fb::Step *step = plan.steps()->Get(i);
    format::StepDesc s;
    s.kind = static_cast<StepKind>(step->kind());
    s.kernel = step->kernel();
    s.args = readRefs(step->args());
    s.bytes = step->bytes();
    desc.steps.push_back(std::move(s));
  }
  desc.arenaBytes = plan.arena_bytes();
  desc.outputs = readRefs(plan.outputs());
  desc.flops = plan.flops();
  desc.bytesMoved = plan.bytes_moved();
  desc.paramBytes = plan.param_bytes();
  desc.peakActivationBytes = plan.peak_activation_bytes();
  for (uint32_t i = 0; plan.buffers() && i < plan.buffers()->size(); ++i) {
    const fb::ArenaBuffer *b = plan.buffers()->Get(i);
    desc.buffers.push_back(
        {b->offset(), b->size(), b->first_step(), b->last_step()});
  }
  return desc;
}

Status Loader::checkRef(const std::string &where, const BufferRefDesc &ref,
                        const PlanDesc &plan) const {
  std::string bytes = "bytes " + range(ref.offset, ref.size);
  switch (ref.space) {
  case Space::Arena:
    if (ref.index != 0)
      return invalid(where + ": an Arena reference has index " +
                     std::to_string(ref.index) + " (must be 0)");
    if (!inBounds(ref.offset, ref.size, plan.arenaBytes))
      return invalid(where + ": arena " + bytes + " out of bounds (the plan's "
                     "arena is " + std::to_string(plan.arenaBytes) + " bytes)");
    return Status::success();
  case Space::Weights:
    if (ref.index != 0)
      return invalid(where + ": a Weights reference has index " +
                     std::to_string(ref.index) + " (must be 0)");
    if (!inBounds(ref.offset, ref.size, m.weightsSize))
      return invalid(where + ": weight " + bytes + " out of bounds (the "
                     "weight section is " + std::to_string(m.weightsSize) +
                     " bytes)");
    return Status::success();
  case Space::Input:
    if (carriedFrom && ref.index >= m.inputs.size() &&
        ref.index < m.inputs.size() + m.numCarried) {
      const BufferRefDesc &carried =
          carriedFrom->outputs[carriedFrom->outputs.size() - m.numCarried +
                               (ref.index - m.inputs.size())];
      if (!inBounds(ref.offset, ref.size, carried.size))
        return invalid(where + ": carried controller result " +
                       std::to_string(ref.index - m.inputs.size()) + " " +
                       bytes + " out of bounds (it is " +
                       std::to_string(carried.size) + " bytes)");
      return Status::success();
    }
    if (ref.index >= m.inputs.size())
      return invalid(where + ": input index " + std::to_string(ref.index) +
                     " out of range (the model has " +
                     std::to_string(m.inputs.size()) + " inputs" +
                     (m.numCarried && carriedFrom
                          ? " and " + std::to_string(m.numCarried) +
                                " carried controller results"
                          : std::string()) +
                     ")");
    if (!inBounds(ref.offset, ref.size, m.inputs[ref.index].byteSize * rows))
      return invalid(where + ": input '" + m.inputs[ref.index].name + "' " +
                     bytes + " out of bounds (the input is " +
                     std::to_string(m.inputs[ref.index].byteSize * rows) +
                     " bytes)");
    return Status::success();
  }
  return invalid(where + ": unknown buffer space " +
                 std::to_string(static_cast<int>(ref.space)));
}

Status Loader::checkPlan(const std::string &label, const PlanDesc &plan) const {
  uint64_t base = carriedFrom ? m.variantArenaOffset : 0;
  if (plan.arenaBytes > m.arenaBytes || base > m.arenaBytes - plan.arenaBytes)
    return invalid(label + " needs a " + std::to_string(plan.arenaBytes) +
                   "-byte arena from byte " + std::to_string(base) +
                   ", more than the model's arena_bytes " +
                   std::to_string(m.arenaBytes));
  const auto *kernels = root->kernels();
  uint32_t numKernels = kernels ? kernels->size() : 0;
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    const format::StepDesc &step = plan.steps[s];
    std::string where = label + " step " + std::to_string(s);
    if (step.kind == StepKind::Kernel) {
      if (step.kernel >= numKernels)
        return invalid(where + ": kernel index " + std::to_string(step.kernel) +
                       " out of range (the model has " +
                       std::to_string(numKernels) + " kernels)");
      uint32_t numArgs = kernels->Get(step.kernel)->num_args();
      if (step.args.size() != numArgs)
        return invalid(where + ": kernel '" +
                       str(kernels->Get(step.kernel)->symbol()) + "' takes " +
                       std::to_string(numArgs) + " arguments, the step passes " +
                       std::to_string(step.args.size()));
    } else if (step.kind == StepKind::Copy) {
      if (step.args.size() != 2)
        return invalid(where + ": a copy takes 2 arguments (destination, "
                       "source), the step passes " +
                       std::to_string(step.args.size()));
      if (step.bytes > step.args[0].size || step.bytes > step.args[1].size)
        return invalid(where + ": copies " + std::to_string(step.bytes) +
                       " bytes between references of " +
                       std::to_string(step.args[0].size) + " and " +
                       std::to_string(step.args[1].size) + " bytes");
      if (step.args[0].space != Space::Arena)
        return invalid(where + ": a copy writes into read-only memory (the "
                       "weights or an input); only the arena is writable");
    } else {
      return invalid(where + ": unknown step kind " +
                     std::to_string(static_cast<int>(step.kind)));
    }
    for (size_t a = 0; a < step.args.size(); ++a)
      if (Status st = checkRef(where + " argument " + std::to_string(a),
                               step.args[a], plan);
          !st)
        return st;
  }
  for (size_t o = 0; o < plan.outputs.size(); ++o)
    if (Status st = checkRef(label + " output " + std::to_string(o),
                             plan.outputs[o], plan);
        !st)
      return st;
  if (Status st = verifyPlanMemory(plan); !st)
    return invalid(label + ": " + st.message().substr(0, st.message().find(';')));
  return Status::success();
}

Status Loader::checkOutputs(const std::string &label,
                            const PlanDesc &plan) const {
  if (plan.outputs.size() != m.outputs.size())
    return invalid(label + " has " + std::to_string(plan.outputs.size()) +
                   " outputs, the model declares " +
                   std::to_string(m.outputs.size()));
  for (size_t o = 0; o < plan.outputs.size(); ++o)
    if (plan.outputs[o].size != m.outputs[o].byteSize * rows)
      return invalid(label + " output " + std::to_string(o) + " is " +
                     std::to_string(plan.outputs[o].size) + " bytes, but '" +
                     m.outputs[o].name + "' (" +
                     describeType(m.outputs[o].dtype,
                                  batchShape(m.outputs[o].shape, rows)) +
                     ") is " + std::to_string(m.outputs[o].byteSize * rows));
  return Status::success();
}

/// FlatBuffers' verifier checks that a vector's length field is 4-aligned,
/// not that 8-byte elements are 8-aligned: the writer always aligns them, a
/// crafted file need not, and a misaligned read is undefined behaviour.
bool Loader::eightByteVectorsAligned() const {
  auto aligned = [](const auto *vec) { // an empty vector is never read
    return !vec || vec->size() == 0 ||
           reinterpret_cast<uintptr_t>(vec->Data()) % 8 == 0;
  };
  auto planAligned = [&](const fb::Plan *plan) {
    if (!plan)
      return true;
    if (!aligned(plan->outputs()) || !aligned(plan->buffers()))
      return false;
    for (uint32_t i = 0; plan->steps() && i < plan->steps()->size(); ++i)
      if (!aligned(plan->steps()->Get(i)->args()))
        return false;
    return true;
  };
  auto plansAligned = [&](const auto *plans) {
    for (uint32_t i = 0; plans && i < plans->size(); ++i)
      if (!planAligned(plans->Get(i)))
        return false;
    return true;
  };
  for (const auto *specs : {root->inputs(), root->outputs()})
    for (uint32_t i = 0; specs && i < specs->size(); ++i)
      if (!aligned(specs->Get(i)->shape()))
        return false;
  if (!planAligned(root->controller()) || !plansAligned(root->variants()))
    return false;
  for (uint32_t b = 0; root->buckets() && b < root->buckets()->size(); ++b)
    if (!planAligned(root->buckets()->Get(b)->controller()) ||
        !plansAligned(root->buckets()->Get(b)->variants()))
      return false;
  return true;
}

Status Loader::loadCode() {
  m.verifiedOnly = !mapCode;
  const auto *kernels = root->kernels();
  const auto *code = root->code();
  uint32_t numKernels = kernels ? kernels->size() : 0;
  for (uint32_t k = 0; k < numKernels; ++k)
    if (str(kernels->Get(k)->symbol()).empty())
      return invalid("kernel " + std::to_string(k) + " has no symbol name");
  if (numKernels == 0) {
    m.hasCpuCode = true;
    return Status::success();
  }
  if (!code || code->size() == 0) {
    // A --target=cuda file: its kernels live in the GPU code object; a CPU
    // session says so when it is created.
    if (root->gpu_code() && root->gpu_code()->size() > 0)
      return Status::success();
    return invalid(std::to_string(numKernels) +
                   " kernels but no code object holding them");
  }

  // The first object (best first) whose arch and features this CPU has.
  std::string reasons;
  for (uint32_t i = 0; i < code->size(); ++i) {
    const fb::CodeObject *object = code->Get(i);
    std::string name = "code object " + std::to_string(i) + " (" +
                       str(object->arch()) + ", " + str(object->cpu()) + ")";
    std::string reason;
    if (str(object->arch()) != hostArch())
      reason = "is for " + str(object->arch()) + ", this machine is " +
               hostArch();
    for (uint32_t f = 0; reason.empty() && object->features() &&
                         f < object->features()->size();
         ++f) {
      std::string feature = str(object->features()->Get(f));
      std::optional<bool> has = cpuSupports(feature);
      if (!has)
        reason = "needs '" + feature + "', a feature this runtime does not "
                 "know";
      else if (!*has)
        reason = "needs '" + feature + "', which this CPU lacks";
    }
    if (!reason.empty()) {
      reasons += (reasons.empty() ? "" : "; ") + name + " " + reason;
      continue;
    }
    m.codeIndex = i;
    m.codeCpu = str(object->cpu());
    if (!mapCode) // verified, never mapped: sessions are refused
      return Status::success();
    // Mapped by the first CPU session (ModelImpl::mapCpuCode).
    m.hasCpuCode = true;
    m.cpuCodeBytes = file + object->offset();
    m.cpuCodeSize = object->size();
    m.cpuCodeName = name + " of '" + m.filePath + "'";
    return Status::success();
  }
  return Status::error(ErrorCode::Unsupported,
                       "'" + m.filePath +
                           "' has no code object this CPU can run: " + reasons +
                           "; recompile the model for this machine's CPU");
}

/// The CUDA sections: GPU kernels parallel to the kernels, their launches
/// and GEMMs consistent with the kernels' arguments, a code object.
Status Loader::readGpu() {
  const auto *kernels = root->kernels();
  const auto *gpuKernels = root->gpu_kernels();
  const auto *gpuCode = root->gpu_code();
  uint32_t numKernels = kernels ? kernels->size() : 0;
  for (uint32_t k = 0; k < numKernels; ++k)
    m.kernelSymbols.push_back(str(kernels->Get(k)->symbol()));
  bool anyKernels = gpuKernels && gpuKernels->size() > 0;
  bool anyCode = gpuCode && gpuCode->size() > 0;
  if (!anyKernels && !anyCode)
    return Status::success();
  if (!anyCode && numKernels > 0)
    return invalid("GPU kernels but no GPU code object holding them");
  if ((gpuKernels ? gpuKernels->size() : 0) != numKernels)
    return invalid("gpu_kernels has " +
                   std::to_string(gpuKernels ? gpuKernels->size() : 0) +
                   " entries, but the model has " +
                   std::to_string(numKernels) +
                   " kernels (they must be parallel)");
  for (uint32_t k = 0; k < numKernels; ++k) {
    const fb::GpuKernel *kernel = gpuKernels->Get(k);
    uint32_t numArgs = kernels->Get(k)->num_args();
    std::string where = "GPU kernel " + std::to_string(k) + " ('" +
                        m.kernelSymbols[k] + "')";
    format::GpuKernelDesc desc;
    const auto *launches = kernel->launches();
    for (uint32_t l = 0; launches && l < launches->size(); ++l) {
      const fb::GpuLaunch *launch = launches->Get(l);
      std::string at = where + " launch " + std::to_string(l);
      format::GpuLaunchDesc d;
      d.entry = str(launch->entry());
      if (d.entry.empty())
        return invalid(at + " has no entry name");
      if (!launch->grid() || launch->grid()->size() != 3 || !launch->block() ||
          launch->block()->size() != 3)
        return invalid(at + ": grid and block must have 3 dimensions each");
      uint64_t threads = 1;
      for (int i = 0; i < 3; ++i) {
        d.grid[i] = launch->grid()->Get(i);
        d.block[i] = launch->block()->Get(i);
        threads *= d.block[i];
        if (d.grid[i] == 0 || d.block[i] == 0)
          return invalid(at + ": a grid or block dimension is 0");
      }
      if (threads > 1024 || d.grid[1] > 65535 || d.grid[2] > 65535)
        return invalid(at + ": block of " + std::to_string(threads) +
                       " threads or grid y/z over CUDA's limits (1024 "
                       "threads, 65535 blocks in y and z)");
      d.sharedBytes = launch->shared_bytes();
      for (uint32_t a = 0; launch->args() && a < launch->args()->size(); ++a) {
        uint32_t arg = launch->args()->Get(a);
        if (arg >= numArgs)
          return invalid(at + " parameter " + std::to_string(a) +
                         " is kernel argument " + std::to_string(arg) +
                         ", but the kernel takes " + std::to_string(numArgs));
        d.args.push_back(arg);
      }
      desc.launches.push_back(std::move(d));
    }
    if (numKernels > 0 && desc.launches.empty() && !kernel->gemm())
      return invalid(where + " has neither launches nor a GEMM");
    if (const fb::GpuGemm *g = kernel->gemm()) {
      format::GemmDesc &d = desc.gemm;
      desc.hasGemm = true;
      d.aArg = g->a_arg();
      d.bArg = g->b_arg();
      d.cArg = g->c_arg();
      d.batch = g->batch();
      d.m = g->m();
      d.n = g->n();
      d.k = g->k();
      d.aTrans = g->a_trans();
      d.bTrans = g->b_trans();
      d.lda = g->lda();
      d.ldb = g->ldb();
      d.ldc = g->ldc();
      d.strideA = g->stride_a();
      d.strideB = g->stride_b();
      d.strideC = g->stride_c();
      d.beta = g->beta();
      const uint64_t kMax = uint64_t(1) << 31;
      if (d.aArg >= numArgs || d.bArg >= numArgs || d.cArg >= numArgs ||
          d.cArg == d.aArg || d.cArg == d.bArg)
        return invalid(where + ": GEMM operands must be distinct kernel "
                       "arguments below " + std::to_string(numArgs));
      if (d.batch == 0 || d.m == 0 || d.n == 0 || d.k == 0 || d.m >= kMax ||
          d.n >= kMax || d.k >= kMax)
        return invalid(where + ": GEMM sizes must be in [1, 2^31)");
      if (d.lda < (d.aTrans ? d.m : d.k) || d.ldb < (d.bTrans ? d.k : d.n) ||
          d.ldc < d.n || d.lda >= kMax || d.ldb >= kMax || d.ldc >= kMax ||
          d.strideA >= kMax * kMax || d.strideB >= kMax * kMax ||
          d.strideC >= kMax * kMax)
        return invalid(where + ": GEMM leading dimensions are smaller than "
                       "the matrices they hold");
      if (d.beta != 0.0f && d.beta != 1.0f)
        return invalid(where + ": GEMM beta must be 0 or 1");
    }
    m.gpuKernels.push_back(std::move(desc));
  }
  const fb::GpuCodeObject *object = gpuCode->Get(0);
  m.gpuCodeFormat = str(object->format());
  if (m.gpuCodeFormat != "fatbin" && m.gpuCodeFormat != "ptx")
    return invalid("GPU code object 0 has format '" + m.gpuCodeFormat +
                   "'; this runtime reads 'fatbin' and 'ptx'");
  m.gpuCode = file + object->offset();
  m.gpuCodeSize = object->size();
  if (m.gpuCodeFormat == "ptx" && m.gpuCode[m.gpuCodeSize - 1] != 0)
    return invalid("GPU code object 0 (PTX) is not NUL-terminated");
  for (uint32_t i = 0; object->archs() && i < object->archs()->size(); ++i)
    m.gpuArchs.push_back(str(object->archs()->Get(i)));
  return Status::success();
}

/// Bytes a row-major (rows x cols, leading dimension ld) matrix spans, or
/// a column-major one when `trans`, repeated `batch` times `stride` apart;
/// nullopt when that overflows 64 bits (a crafted file could otherwise wrap
/// a huge extent to a small one that fits its buffer).
static std::optional<uint64_t> gemmExtent(uint64_t rows, uint64_t cols,
                                          uint64_t ld, bool trans,
                                          uint32_t batch, uint64_t stride) {
  uint64_t outer = trans ? cols : rows, inner = trans ? rows : cols;
  uint64_t batches, lines, sum, bytes;
  if (__builtin_mul_overflow(uint64_t(batch) - 1, stride, &batches) ||
      __builtin_mul_overflow(outer - 1, ld, &lines) ||
      __builtin_add_overflow(batches, lines, &sum) ||
      __builtin_add_overflow(sum, inner, &sum) ||
      __builtin_mul_overflow(sum, uint64_t(4), &bytes))
    return std::nullopt;
  return bytes;
}

Status Loader::checkGpuPlan(const std::string &label,
                            const PlanDesc &plan) const {
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    const format::StepDesc &step = plan.steps[s];
    if (step.kind != StepKind::Kernel || !m.gpuKernels[step.kernel].hasGemm)
      continue;
    const format::GemmDesc &g = m.gpuKernels[step.kernel].gemm;
    struct {
      const char *name;
      uint32_t arg;
      std::optional<uint64_t> bytes;
    } operands[] = {
        {"A", g.aArg, gemmExtent(g.m, g.k, g.lda, g.aTrans, g.batch, g.strideA)},
        {"B", g.bArg, gemmExtent(g.k, g.n, g.ldb, g.bTrans, g.batch, g.strideB)},
        {"C", g.cArg, gemmExtent(g.m, g.n, g.ldc, false, g.batch, g.strideC)}};
    for (const auto &op : operands) {
      if (!op.bytes)
        return invalid(label + " step " + std::to_string(s) + ": GEMM " +
                       op.name + "'s extent (batch x stride + rows x leading "
                       "dimension) overflows 64 bits");
      if (*op.bytes > step.args[op.arg].size)
        return invalid(label + " step " + std::to_string(s) + ": GEMM " +
                       op.name + " spans " + std::to_string(*op.bytes) +
                       " bytes, but its buffer has " +
                       std::to_string(step.args[op.arg].size));
    }
    if (step.args[g.cArg].space != Space::Arena)
      return invalid(label + " step " + std::to_string(s) +
                     ": a GEMM writes into read-only memory");
  }
  return Status::success();
}

/// Each bucket's variants: one per one-row variant, same paths, outputs of
/// `batch` rows; carried results per row or shared as the bucket says.
Status Loader::readBuckets(const PlanDesc &controller,
                           const std::vector<PlanDesc> &plans,
                           const std::vector<PlanDesc> &bucketControllers) {
  const auto *buckets = root->buckets();
  if (m.numCarried > 0) {
    size_t first = controller.outputs.size() - m.numCarried;
    for (uint32_t j = 0; j < m.numCarried; ++j)
      m.carriedRowBytes.push_back(controller.outputs[first + j].size);
  }
  for (uint32_t b = 0; buckets && b < buckets->size(); ++b) {
    const fb::BatchBucket *bucket = buckets->Get(b);
    std::string label = "batch bucket " + std::to_string(b) + " (" +
                        std::to_string(bucket->batch()) + " rows)";
    BatchBucket exec;
    exec.batch = bucket->batch();
    exec.sharedCarried.assign(m.numCarried, false);
    for (uint32_t i = 0;
         bucket->shared_carried() && i < bucket->shared_carried()->size(); ++i) {
      uint32_t j = bucket->shared_carried()->Get(i);
      if (j >= m.numCarried)
        return invalid(label + ": shared carried result " + std::to_string(j) +
                       " out of range (" + std::to_string(m.numCarried) +
                       " carried results)");
      exec.sharedCarried[j] = true;
    }
    if (b > 0 && exec.sharedCarried != m.buckets.front().sharedCarried)
      return invalid(label + ": its shared carried results differ from "
                     "those of the first bucket");
    const PlanDesc &bucketController = bucketControllers[b];
    for (uint32_t j = 0; j < m.numCarried; ++j) {
      size_t out = bucketController.outputs.size() - m.numCarried + j;
      uint64_t expected = m.carriedRowBytes[j] *
                          (exec.sharedCarried[j] ? 1 : uint64_t(exec.batch));
      if (bucketController.outputs[out].size != expected)
        return invalid(label + ": carried result " + std::to_string(j) +
                       " is " + std::to_string(bucketController.outputs[out].size) +
                       " bytes, expected " + std::to_string(expected));
    }
    const auto *variants = bucket->variants();
    if (!variants || variants->size() != plans.size())
      return invalid(label + " has " +
                     std::to_string(variants ? variants->size() : 0) +
                     " variants, the model " + std::to_string(plans.size()));
    std::vector<PlanDesc> descs;
    rows = exec.batch;
    if (m.numCarried > 0)
      carriedFrom = &bucketController;
    for (uint32_t i = 0; i < variants->size(); ++i) {
      PlanDesc plan = readPlan(*variants->Get(i));
      std::string where = label + " variant '" + plan.name + "'";
      if (plan.path != plans[i].path)
        return invalid(where + " has path " + std::to_string(plan.path) +
                       ", the one-row variant " + std::to_string(i) +
                       " path " + std::to_string(plans[i].path));
      Status st = checkPlan(where, plan);
      if (st)
        st = checkOutputs(where, plan);
      if (!st) {
        rows = 1;
        return st;
      }
      descs.push_back(std::move(plan));
    }
    rows = 1;
    m.buckets.push_back(std::move(exec));
    bucketVariants.push_back(std::move(descs));
  }
  return Status::success();
}

ExecPlan Loader::toExec(const PlanDesc &plan) const {
  ExecPlan exec;
  exec.flops = plan.flops;
  exec.outputs = plan.outputs;
  for (const format::StepDesc &step : plan.steps) {
    ExecStep e;
    e.kind = step.kind;
    e.kernel = step.kind == StepKind::Kernel ? step.kernel : 0;
    e.firstArg = static_cast<uint32_t>(exec.args.size());
    e.numArgs = static_cast<uint32_t>(step.args.size());
    e.bytes = step.bytes;
    exec.args.insert(exec.args.end(), step.args.begin(), step.args.end());
    exec.steps.push_back(e);
  }
  return exec;
}

Status Loader::load() {
  if (Status st = checkHeader(); !st)
    return st;
  if (Status st = checkSections(); !st)
    return st;
  if (Status st = readSpecs(root->inputs(), "input", m.inputs); !st)
    return st;
  if (Status st = readSpecs(root->outputs(), "output", m.outputs); !st)
    return st;
  m.arenaBytes = root->arena_bytes();
  m.numPaths = root->num_paths();

  // Plans: semantics first, code afterwards, so nothing unverified runs.
  PlanDesc controller;
  m.hasController = root->controller() != nullptr;
  if (m.hasController) {
    controller = readPlan(*root->controller());
    if (Status st = checkPlan("controller", controller); !st)
      return st;
    m.controllerPathOutput = root->controller_path_output();
    if (m.controllerPathOutput >= controller.outputs.size())
      return invalid("controller_path_output is " +
                     std::to_string(m.controllerPathOutput) +
                     " but the controller has " +
                     std::to_string(controller.outputs.size()) + " outputs");
    if (controller.outputs[m.controllerPathOutput].size != 8)
      return invalid("the controller's path output " +
                     std::to_string(m.controllerPathOutput) + " is " +
                     std::to_string(
                         controller.outputs[m.controllerPathOutput].size) +
                     " bytes, not one int64 (8 bytes)");
    if (m.numPaths == 0)
      return invalid("the model has a controller but num_paths is 0");
  }
  // Batch buckets' controllers: the variants' arena starts after the
  // largest controller arena of any size.
  std::vector<PlanDesc> bucketControllers;
  uint64_t largestControllerArena = controller.arenaBytes;
  const auto *buckets = root->buckets();
  for (uint32_t b = 0; buckets && b < buckets->size(); ++b) {
    const fb::BatchBucket *bucket = buckets->Get(b);
    std::string label = "batch bucket " + std::to_string(b) + " (" +
                        std::to_string(bucket->batch()) + " rows)";
    uint32_t previous = b == 0 ? 1 : buckets->Get(b - 1)->batch();
    if (bucket->batch() <= previous || bucket->batch() > 65536)
      return invalid(label + ": batch sizes must be ascending, above 1 and "
                     "at most 65536");
    if ((bucket->controller() != nullptr) != m.hasController)
      return invalid(label + (m.hasController ? " has no controller"
                                              : " has a controller, the "
                                                "model does not"));
    PlanDesc plan;
    if (m.hasController) {
      plan = readPlan(*bucket->controller());
      rows = bucket->batch();
      Status st = checkPlan(label + " controller", plan);
      rows = 1;
      if (!st)
        return st;
      if (plan.outputs.size() != controller.outputs.size() ||
          plan.outputs[m.controllerPathOutput].size != 8 * uint64_t(bucket->batch()))
        return invalid(label + ": its controller's outputs do not match the "
                       "one-row controller's (one int64 path per row)");
      largestControllerArena = std::max(largestControllerArena, plan.arenaBytes);
    }
    bucketControllers.push_back(std::move(plan));
  }
  m.numCarried = root->carried_results();
  if (m.numCarried > 0) {
    if (!m.hasController ||
        m.numCarried >= controller.outputs.size() ||
        m.controllerPathOutput >= controller.outputs.size() - m.numCarried)
      return invalid("carried_results is " + std::to_string(m.numCarried) +
                     " but the controller has " +
                     std::to_string(controller.outputs.size()) +
                     " outputs (its path output cannot be carried)");
    if (root->gpu_kernels() && root->gpu_kernels()->size() > 0)
      return invalid("carried controller results with CUDA code: tac-compile "
                     "shares controller work only for CPU-only files");
    m.variantArenaOffset = format::variantArenaOffset(largestControllerArena);
    carriedFrom = &controller;
  }
  const auto *variants = root->variants();
  if (!variants || variants->size() == 0)
    return invalid("the model has no variants");
  std::vector<PlanDesc> plans;
  for (uint32_t i = 0; i < variants->size(); ++i) {
    PlanDesc plan = readPlan(*variants->Get(i));
    std::string label = "variant " + std::to_string(i) + " '" + plan.name +
                        "' (path " + std::to_string(plan.path) + ")";
    if (plan.path == -1) {
      if (m.hasController || variants->size() != 1)
        return invalid(label + ": path -1 marks the single variant of a "
                       "static model, but this model has " +
                       std::string(m.hasController ? "a controller"
                                                   : "several variants"));
    } else if (plan.path < 0 || static_cast<uint32_t>(plan.path) >= m.numPaths) {
      return invalid(label + ": path out of range (num_paths is " +
                     std::to_string(m.numPaths) + ")");
    }
    if (!plans.empty() && plan.path <= plans.back().path)
      return invalid(label + ": variants must be sorted by path without "
                     "duplicates (the previous one has path " +
                     std::to_string(plans.back().path) + ")");
    if (Status st = checkPlan(label, plan); !st)
      return st;
    if (Status st = checkOutputs(label, plan); !st)
      return st;
    plans.push_back(std::move(plan));
  }

  if (Status st = readBuckets(controller, plans, bucketControllers); !st)
    return st;
  if (Status st = readGpu(); !st)
    return st;
  if (!m.buckets.empty() && !m.gpuKernels.empty())
    return invalid("batch buckets with CUDA code: tac-compile compiles "
                   "batch sizes for CPU-only files");
  if (!m.gpuKernels.empty()) {
    if (m.hasController)
      if (Status st = checkGpuPlan("controller", controller); !st)
        return st;
    for (const PlanDesc &plan : plans)
      if (Status st = checkGpuPlan("variant '" + plan.name + "'", plan); !st)
        return st;
  }
  if (Status st = loadCode(); !st)
    return st;
  if (m.hasController)
    m.controller = toExec(controller);
  for (size_t b = 0; b < m.buckets.size(); ++b) {
    if (m.hasController)
      m.buckets[b].controller = toExec(bucketControllers[b]);
    for (const PlanDesc &plan : bucketVariants[b])
      m.buckets[b].variants.push_back(toExec(plan));
  }
  bucketVariants.clear();
  for (PlanDesc &plan : plans) {
    m.variants.push_back(toExec(plan));
    m.variantInfo.push_back({std::move(plan.name), plan.path,
                             std::move(plan.layers), plan.flops,
                             plan.arenaBytes});
  }
  return Status::success();
}
} // namespace

Expected<ModelRef> Model::load(const std::string &path,
                               const LoadOptions &options) {
  auto impl = std::make_unique<ModelImpl>();
  impl->filePath = path;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Status::error(ErrorCode::InvalidFile,
                         "cannot open '" + path + "': " + std::strerror(errno) +
                             "; check the path to the .tacm file");
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    return Status::error(ErrorCode::InvalidFile,
                         "'" + path + "' is not a regular file; pass the "
                         "path to a .tacm file");
  }
  uint64_t size = static_cast<uint64_t>(info.st_size);
  if (size > 0) {
    void *mapping = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      int err = errno;
      close(fd);
      return Status::error(ErrorCode::OutOfMemory,
                           "cannot map '" + path + "': " + std::strerror(err));
    }
    impl->mapping = mapping;
    impl->mappingSize = size;
  }
  close(fd);
  return ModelImpl::adopt(std::move(impl), size, options);
}

Expected<ModelRef> Model::loadFromMemory(const void *data, size_t size,
                                         const std::string &name,
                                         const LoadOptions &options) {
  auto impl = std::make_unique<ModelImpl>();
  impl->filePath = name;
  if (size > 0) {
    // A private read-only copy, page aligned like a file mapping: the
    // loader's alignment rules and the destructor's munmap hold as for
    // files, and the caller may free `data` right away.
    void *copy = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (copy == MAP_FAILED)
      return Status::error(ErrorCode::OutOfMemory,
                           "cannot allocate " + std::to_string(size) +
                               " bytes for '" + name + "': " +
                               std::strerror(errno));
    std::memcpy(copy, data, size);
    mprotect(copy, size, PROT_READ);
    impl->mapping = copy;
    impl->mappingSize = size;
  }
  return ModelImpl::adopt(std::move(impl), size, options);
}

/// The caller's LoadOptions, checked on the raw bytes before the loader
/// parses anything or maps code.
static Status checkRequirements(const std::string &name, const uint8_t *bytes,
                                uint64_t size, const LoadOptions &options) {
  if (!options.requireSha256.empty()) {
    std::string want = options.requireSha256;
    for (char &c : want)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (want.size() != 64 ||
        want.find_first_not_of("0123456789abcdef") != std::string::npos)
      return Status::error(ErrorCode::InvalidArgument,
                           "the required SHA-256 '" + options.requireSha256 +
                               "' is not 64 hex digits (sha256sum prints it)");
    std::string got = sha256Hex(bytes, size);
    if (got != want)
      return Status::error(ErrorCode::InvalidFile,
                           "refused '" + name + "': its SHA-256 is " + got +
                               ", not the required " + want +
                               "; it is not the file you pinned (a .tacm "
                               "holds native code: load only files you "
                               "trust)");
  }
  if (!options.requireProducer.empty()) {
    std::string producer;
    if (size >= format::kHeaderSize) {
      format::TacmHeader header;
      std::memcpy(&header, bytes, sizeof(header));
      producer.assign(header.producer,
                      strnlen(header.producer, sizeof(header.producer)));
    }
    if (producer != options.requireProducer)
      return Status::error(
          ErrorCode::InvalidFile,
          "refused '" + name + "': it was produced by '" + printable(
              producer.data(), producer.size()) +
              "', not the required '" + options.requireProducer + "'");
  }
  return Status::success();
}

Expected<ModelRef> ModelImpl::adopt(std::unique_ptr<ModelImpl> impl,
                                    uint64_t size, const LoadOptions &options) {
  static const uint8_t kEmpty = 0;
  const uint8_t *bytes =
      impl->mapping ? static_cast<const uint8_t *>(impl->mapping) : &kEmpty;
  if (Status st = checkRequirements(impl->filePath, bytes, size, options); !st)
    return st;
  if (Status st = Loader(*impl, bytes, size, options.mapCode).load(); !st)
    return st;
  std::shared_ptr<Model> model(new Model());
  model->impl_ = std::move(impl);
  return ModelRef(std::move(model));
}

} // namespace tac::rt
