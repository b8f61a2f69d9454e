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

FailureOr<format::ModelDesc>
mlir::tac::buildTacm(ModuleOp module, const CompileOptions &options,
                     std::vector<std::pair<std::string, std::string>> *ptxOut,
                     const CompileProgress &progress) {
  PhaseTimer timer(progress,
                   options.cuda ? (options.cpu ? "plans, native code, CUDA kernels"
                                               : "plans, CUDA kernels")
                                : "plans, native code");
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
  return desc;
}

void mlir::tac::printCompileReport(const format::ModelDesc &model,
                                   llvm::raw_ostream &os) {
  printPlanReport(model, os);
  if (!model.buckets.empty())
    printBucketReport(model, os);
}
