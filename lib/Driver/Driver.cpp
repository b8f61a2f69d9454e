//===- Driver.cpp - the compiler as a library -----------------------------===//

#include "tac/Driver/Driver.h"

#include "tac/Backend/Backend.h"
#include "tac/Pipelines/Pipelines.h"
#include "tacrt/tacrt.hpp"

#include "passes/Passes.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

using namespace mlir;
using namespace mlir::tac;

LogicalResult mlir::tac::parseTargets(ArrayRef<std::string> targets,
                                      CompileOptions &options,
                                      std::string &error) {
  if (targets.empty())
    return success();
  options.cpu = options.cuda = false;
  for (const std::string &t : targets) {
    if (t == "cpu")
      options.cpu = true;
    else if (t == "cuda")
      options.cuda = true;
    else {
      error = "unknown target '" + t + "'; use cpu, cuda, or cpu,cuda";
      return failure();
    }
  }
  return success();
}

LogicalResult mlir::tac::verifyCompileOptions(const CompileOptions &options,
                                              std::string &error) {
  if (!options.cpu && !options.cuda) {
    error = "no target: compile for cpu, cuda, or cpu,cuda";
    return failure();
  }
  if (!options.cuda && (!options.cudaArchs.empty() || options.cudaPtxOnly)) {
    error = "CUDA chips and PTX-only output need the cuda target (or "
            "cpu,cuda)";
    return failure();
  }
  bool extraSizes = false;
  for (int64_t size : options.batchSizes) {
    if (size < 1 || size > 65536) {
      error = "batch size " + std::to_string(size) +
              " is not a row count in 1..65536";
      return failure();
    }
    extraSizes |= size > 1;
  }
  if (!options.calibration.empty() &&
      options.precision != WeightPrecision::Int8) {
    error = "--calibration sets the activation ranges of int8 GEMMs; add "
            "--precision=int8 (bf16 and f32 need no calibration)";
    return failure();
  }
  if (!options.calibration.empty() && options.cuda) {
    error = "--calibration is for CPU-only int8 files (the CUDA kernels read "
            "f32 weights); compile with --target=cpu";
    return failure();
  }
  if (options.cuda && extraSizes) {
    error = "batch sizes are for CPU code; the CUDA executor runs one-row "
            "plans (a CUDA session runs a batch row by row): drop the batch "
            "sizes or compile for cpu only";
    return failure();
  }
  return success();
}

namespace {
/// Times one phase and tells `progress` about it.
class PhaseTimer {
public:
  PhaseTimer(const CompileProgress &progress, StringRef name)
      : progress(progress), name(name.str()),
        begin(std::chrono::steady_clock::now()) {
    if (progress.started)
      progress.started(this->name);
  }
  void finish() {
    if (progress.finished)
      progress.finished(name, std::chrono::duration<double>(
                                  std::chrono::steady_clock::now() - begin)
                                  .count());
  }

private:
  const CompileProgress &progress;
  std::string name;
  std::chrono::steady_clock::time_point begin;
};

std::vector<int64_t> extraBatchSizes(const CompileOptions &options) {
  std::vector<int64_t> sizes;
  for (int64_t size : options.batchSizes)
    if (size > 1 && !llvm::is_contained(sizes, size))
      sizes.push_back(size);
  llvm::sort(sizes);
  return sizes;
}
} // namespace

OwningOpRef<ModuleOp> mlir::tac::compileModule(llvm::SourceMgr &sourceMgr,
                                               bool isOnnx,
                                               MLIRContext &context,
                                               const CompileOptions &options,
                                               CompilePhase last,
                                               const CompileProgress &progress) {
  OwningOpRef<ModuleOp> module;
  {
    PhaseTimer timer(progress, "import");
    if (isOnnx) {
      const llvm::MemoryBuffer *buffer =
          sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
      module = importOnnxModel(buffer->getMemBufferRef(), &context,
                               options.import);
    } else {
      module = parseSourceFile<ModuleOp>(sourceMgr, &context);
    }
    if (!module)
      return nullptr;
    timer.finish();
  }

  auto runPhase = [&](StringRef name,
                      function_ref<void(PassManager &)> build) -> bool {
    PhaseTimer timer(progress, name);
    PassManager pm(&context);
    build(pm);
    if (failed(pm.run(*module)))
      return false;
    timer.finish();
    return true;
  };

  AdaptivePipelineOptions adaptive;
  adaptive.depths = options.depths;
  adaptive.fold = options.fold;
  adaptive.report = options.costReport;
  KernelsPipelineOptions kernels =
      KernelsPipelineOptions::forTargets(options.cuda);
  std::vector<int64_t> batchSizes = extraBatchSizes(options);
  kernels.batchSizes.assign(batchSizes.begin(), batchSizes.end());
  if (last >= CompilePhase::Adaptive &&
      !runPhase("form adaptive blocks, fold layers", [&](PassManager &pm) {
        buildAdaptiveBlocksPipeline(pm, adaptive);
      }))
    return nullptr;
  if (last >= CompilePhase::Variants &&
      !runPhase("specialise paths, estimate cost", [&](PassManager &pm) {
        buildVariantsPipeline(pm, adaptive);
      }))
    return nullptr;
  // Reduced precision reaches lookup tables at the tensor level; GEMM
  // weights are packed in it later (packGemmWeights). CUDA files refuse it.
  if (last >= CompilePhase::Kernels && !options.cuda &&
      failed(quantizeLookupTables(*module, options.precision)))
    return nullptr;
  if (last >= CompilePhase::Kernels &&
      !runPhase("fuse, bufferize, outline kernels", [&](PassManager &pm) {
        buildKernelsPipeline(pm, kernels);
      }))
    return nullptr;
  return module;
}

namespace {
namespace rt = ::tac::rt;

/// tac-compile --calibration's first step: an f32 build of `module` for this
/// machine whose GEMMs by packed weights note the largest |A| of each k,
/// run on the calibration inputs; the ranges it noted, per packed matrix.
FailureOr<ActivationRanges>
recordActivationRanges(ModuleOp module, BackendOptions backend,
                       const CompileOptions &options) {
  auto fail = [&](const Twine &message) {
    return emitError(module.getLoc(), "--calibration: ") << message;
  };
  GemmCalibration recording;
  recording.record = true;
  backend.precision = WeightPrecision::F32;
  backend.calibration = &recording;
  backend.cpus = {"host"}; // it runs here, now
  backend.cpu = true;
  backend.cuda = false;
  FailureOr<format::ModelDesc> desc = buildModelDesc(module, backend);
  if (failed(desc))
    return failure();
  std::vector<uint8_t> bytes = format::serializeTacm(*desc);
  rt::Expected<rt::ModelRef> model =
      rt::Model::loadFromMemory(bytes.data(), bytes.size(), "calibration build");
  if (!model)
    return fail(model.status().message());

  // The inputs in the model's order, each N rows (the same N for all).
  const std::vector<rt::TensorSpec> &specs = (*model)->inputs();
  std::string names;
  for (const rt::TensorSpec &spec : specs)
    names += (names.empty() ? "" : ", ") + spec.name;
  std::vector<rt::Tensor> inputs(specs.size());
  std::vector<bool> bound(specs.size());
  std::optional<uint64_t> rows;
  for (const auto &[name, tensor] : options.calibration) {
    auto spec = llvm::find_if(
        specs, [&](const rt::TensorSpec &s) { return s.name == name; });
    if (spec == specs.end())
      return fail("the model has no input named '" + name + "'; its inputs " +
                  "are: " + names);
    size_t index = spec - specs.begin();
    if (bound[index])
      return fail("input '" + name + "' is given twice");
    bound[index] = true;
    std::optional<uint64_t> n = rt::rowsOf(tensor.shape(), spec->shape);
    if (tensor.dtype() != spec->dtype || !n || *n == 0)
      return fail("input '" + name + "' is " +
                  rt::describeType(tensor.dtype(), tensor.shape()) +
                  ", the model takes N rows of " +
                  rt::describeType(spec->dtype, spec->shape) + " (e.g. " +
                  rt::describeType(spec->dtype, rt::batchShape(spec->shape, 8)) +
                  " for 8); convert the calibration data to that dtype and "
                  "shape");
    if (rows && *rows != *n)
      return fail("the inputs hold different numbers of rows (" +
                  std::to_string(*rows) + " and " + std::to_string(*n) +
                  " for '" + name + "'); give every input the same rows");
    rows = n;
    inputs[index] = tensor;
  }
  for (auto [spec, given] : llvm::zip(specs, bound))
    if (!given)
      return fail("input '" + spec.name + "' is missing; give every input (" +
                  names + ")");

  // In pieces of at most 64 rows: the session's memory grows with a run.
  rt::Expected<std::unique_ptr<rt::Session>> session =
      rt::Session::create(*model);
  if (!session)
    return fail(session.status().message());
  for (uint64_t first = 0; first < *rows; first += 64) {
    uint64_t count = std::min<uint64_t>(64, *rows - first);
    std::vector<rt::Tensor> piece;
    for (auto [spec, tensor] : llvm::zip(specs, inputs))
      piece.push_back(rt::Tensor::view(
          static_cast<const uint8_t *>(tensor.data()) + first * spec.byteSize,
          spec.dtype, rt::batchShape(spec.shape, count)));
    std::vector<rt::Tensor> outputs;
    if (rt::Status st = (*session)->run(piece, outputs); !st)
      return fail("running rows " + std::to_string(first) + ".." +
                  std::to_string(first + count - 1) + ": " + st.message());
  }
  rt::Expected<std::map<uint64_t, std::vector<float>>> noted =
      rt::takeRecordedGemmInputs(**model);
  if (!noted)
    return fail(noted.status().message());
  ActivationRanges ranges;
  for (auto &[offset, largest] : *noted) {
    auto key = recording.recorded.find(offset);
    if (key == recording.recorded.end())
      continue;
    std::vector<float> &merged = ranges[key->second];
    if (merged.size() != largest.size())
      merged.assign(largest.size(), 0.0f);
    for (auto [m, l] : llvm::zip(merged, largest))
      m = std::max(m, l);
  }
  return ranges;
}
} // namespace

FailureOr<format::ModelDesc>
mlir::tac::buildTacm(ModuleOp module, const CompileOptions &options,
                     std::vector<std::pair<std::string, std::string>> *ptxOut,
                     const CompileProgress &progress) {
  BackendOptions backend;
  backend.cpu = options.cpu;
  backend.cuda = options.cuda;
  if (!options.cudaArchs.empty())
    backend.cudaTarget.chips = options.cudaArchs;
  backend.cudaTarget.ptxOnly = options.cudaPtxOnly;
  backend.ptxOut = ptxOut;
  if (!options.cpus.empty())
    backend.cpus = options.cpus;
  backend.paths = options.paths;
  backend.cpuGemms = options.cpuGemms;
  backend.precision = options.precision;
  backend.producer = options.producer;
  ActivationRanges ranges;
  GemmCalibration calibration;
  if (!options.calibration.empty()) {
    PhaseTimer timer(progress, "calibrate: f32 build, run the inputs");
    FailureOr<ActivationRanges> recorded =
        recordActivationRanges(module, backend, options);
    if (failed(recorded))
      return failure();
    timer.finish();
    ranges = std::move(*recorded);
    calibration.ranges = &ranges;
    backend.calibration = &calibration;
  }
  PhaseTimer timer(progress,
                   options.cuda ? (options.cpu ? "plans, native code, CUDA kernels"
                                               : "plans, CUDA kernels")
                                : "plans, native code");
  FailureOr<format::ModelDesc> desc = buildModelDesc(module, backend);
  if (failed(desc))
    return failure();

  // The loader rejects plans whose live buffers overlap.
  std::vector<const format::PlanDesc *> plans;
  if (desc->hasController)
    plans.push_back(&desc->controller);
  for (const auto &variant : desc->variants)
    plans.push_back(&variant);
  for (const auto &bucket : desc->buckets) {
    if (desc->hasController)
      plans.push_back(&bucket.controller);
    for (const auto &variant : bucket.variants)
      plans.push_back(&variant);
  }
  for (const auto *plan : plans)
    if (::tac::rt::Status status = ::tac::rt::verifyPlanMemory(*plan);
        !status.ok())
      return emitError(module.getLoc())
             << "internal: plan " << plan->name
             << " fails the memory check: " << status.message();
  timer.finish();
  if (backend.calibration)
    llvm::errs() << "note: --calibration: activation ranges for "
                 << calibration.calibratedMatrices << " of "
                 << calibration.int8Matrices << " int8 GEMM matrices"
                 << (calibration.calibratedMatrices < calibration.int8Matrices
                         ? " (no calibration row reached the others: they "
                           "keep per-row ranges only)\n"
                         : "\n");
  return desc;
}

void mlir::tac::printCompileReport(const format::ModelDesc &model,
                                   llvm::raw_ostream &os) {
  printPlanReport(model, os);
  if (!model.buckets.empty())
    printBucketReport(model, os);
}
