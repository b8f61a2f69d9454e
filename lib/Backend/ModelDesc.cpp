//===- ModelDesc.cpp - the whole .tacm description of a module -----------===//

#include "tac/Backend/Backend.h"

#include "dialects/Tac/TacDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/Object/ELFObjectFile.h"
#include "llvm/Support/FormatVariadic.h"

#include <map>
#include <set>

using namespace mlir;
using namespace mlir::tac;

namespace {

FailureOr<format::DType> dtypeOf(Type type, bool isUnsigned, Location loc) {
  if (isUnsigned) {
    if (type.isInteger(8)) return format::DType::U8;
    if (type.isInteger(16)) return format::DType::U16;
    if (type.isInteger(32)) return format::DType::U32;
    if (type.isInteger(64)) return format::DType::U64;
  }
  if (type.isF32()) return format::DType::F32;
  if (type.isF16()) return format::DType::F16;
  if (type.isBF16()) return format::DType::BF16;
  if (type.isF64()) return format::DType::F64;
  if (type.isInteger(1)) return format::DType::Bool;
  if (type.isInteger(8)) return format::DType::I8;
  if (type.isInteger(16)) return format::DType::I16;
  if (type.isInteger(32)) return format::DType::I32;
  if (type.isInteger(64)) return format::DType::I64;
  return emitError(loc, "element type ") << type
                                          << " has no .tacm dtype";
}

FailureOr<std::vector<format::TensorSpecDesc>>
signatureOf(func::FuncOp func, TypeRange types, StringRef namesAttr,
            StringRef unsignedAttr, StringRef fallback) {
  auto names = func->getAttrOfType<ArrayAttr>(namesAttr);
  auto unsignedOnes = func->getAttrOfType<DenseI64ArrayAttr>(unsignedAttr);
  std::vector<format::TensorSpecDesc> specs;
  for (auto [i, type] : llvm::enumerate(types)) {
    auto memref = dyn_cast<MemRefType>(type);
    if (!memref || !memref.hasStaticShape())
      return func.emitError("signature type ") << type << " is not a static "
                                                          "buffer";
    format::TensorSpecDesc spec;
    spec.name = names && i < names.size()
                    ? cast<StringAttr>(names[i]).getValue().str()
                    : (fallback + Twine(i)).str();
    FailureOr<format::DType> dtype =
        dtypeOf(memref.getElementType(),
                unsignedOnes &&
                    llvm::is_contained(unsignedOnes.asArrayRef(), int64_t(i)),
                func.getLoc());
    if (failed(dtype))
      return failure();
    spec.dtype = *dtype;
    spec.shape.assign(memref.getShape().begin(), memref.getShape().end());
    specs.push_back(std::move(spec));
  }
  return specs;
}

} // namespace

FailureOr<format::ModelDesc>
mlir::tac::buildModelDesc(ModuleOp module, const BackendOptions &options) {
  format::ModelDesc model;
  model.producer = options.producer;
  if (options.precision != WeightPrecision::F32) {
    StringRef name = precisionName(options.precision);
    if (options.cuda)
      return emitError(module.getLoc(), "--precision=")
             << name << " is for CPU-only files: the CUDA kernels read f32 "
             << "weights; compile with --target=cpu, or --precision=f32";
    if (!options.cpu || options.cpuGemms != CpuGemms::Packed)
      return emitError(module.getLoc(), "--precision=")
             << name << " needs tac's own GEMM (--gemm=packed), which is "
             << "the only one with " << name << " weights";
  }
  WeightTable weights(module);
  KernelTable kernels;

  // Per row count (tac.batch; 1 when absent): the controller and variants.
  struct Functions {
    func::FuncOp controller;
    SmallVector<func::FuncOp> variants;
  };
  std::map<int64_t, Functions> byBatch;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isPrivate() || func.isExternal())
      continue;
    int64_t batch = 1;
    if (auto attr = func->getAttrOfType<IntegerAttr>(TacDialect::kBatchAttrName))
      batch = attr.getInt();
    Functions &group = byBatch[batch];
    auto role = func->getAttrOfType<StringAttr>(TacDialect::kRoleAttrName);
    if (role && role.getValue() == "controller") {
      group.controller = func;
      continue;
    }
    if (auto path = func->getAttrOfType<IntegerAttr>(TacDialect::kPathAttrName))
      if (!options.paths.empty() &&
          !llvm::is_contained(options.paths, path.getInt()))
        continue;
    group.variants.push_back(func);
  }
  func::FuncOp controller = byBatch[1].controller;
  SmallVector<func::FuncOp> variants = byBatch[1].variants;
  if (variants.empty())
    return module.emitError("nothing to compile: no public function")
           << (options.paths.empty() ? "" : " for the requested paths");
  if (variants.size() > 1)
    for (func::FuncOp variant : variants)
      if (!variant->hasAttr(TacDialect::kPathAttrName))
        return variant.emitError(
            "several functions to compile but this one is no path variant; "
            "a static model has one public function");

  func::FuncOp first = variants.front();
  // Variants take the controller's carried results after the model's inputs.
  uint32_t carried = 0;
  if (controller)
    if (auto attr = controller->getAttrOfType<IntegerAttr>(TacDialect::kCarriedResultsAttrName))
      carried = attr.getInt();
  FailureOr<std::vector<format::TensorSpecDesc>> inputs = signatureOf(
      first, first.getArgumentTypes().drop_back(carried), TacDialect::kInputNamesAttrName,
      TacDialect::kUnsignedInputsAttrName, "input");
  FailureOr<std::vector<format::TensorSpecDesc>> outputs = signatureOf(
      first, first.getResultTypes(), TacDialect::kOutputNamesAttrName,
      TacDialect::kUnsignedOutputsAttrName, "output");
  if (failed(inputs) || failed(outputs))
    return failure();
  model.inputs = std::move(*inputs);
  model.outputs = std::move(*outputs);
  for (func::FuncOp variant : variants)
    if (variant.getFunctionType() != first.getFunctionType())
      return variant.emitError("variant signature ")
             << variant.getFunctionType() << " differs from @"
             << first.getSymName() << "'s " << first.getFunctionType();

  if (controller) {
    if (controller.getArgumentTypes() !=
        first.getArgumentTypes().drop_back(carried))
      return controller.emitError("controller inputs differ from the model's");
    model.carriedResults = carried;
    FailureOr<format::PlanDesc> plan = buildPlan(controller, weights, kernels);
    if (failed(plan))
      return failure();
    model.hasController = true;
    model.controller = std::move(*plan);
    model.controllerPathOutput = 0; // tac-specialize-paths returns it first
  }
  if (auto numPaths = first->getAttrOfType<IntegerAttr>(TacDialect::kNumPathsAttrName))
    model.numPaths = numPaths.getInt();
  for (func::FuncOp variant : variants) {
    FailureOr<format::PlanDesc> plan = buildPlan(variant, weights, kernels);
    if (failed(plan))
      return failure();
    model.variants.push_back(std::move(*plan));
  }
  auto byPath = [](const auto &a, const auto &b) { return a.path < b.path; };
  llvm::stable_sort(model.variants, byPath);
  for (auto &[batch, group] : byBatch) {
    if (batch == 1)
      continue;
    format::BatchBucketDesc bucket;
    bucket.batch = static_cast<uint32_t>(batch);
    if (bool(group.controller) != bool(controller) ||
        group.variants.size() != variants.size())
      return module.emitError("the functions for batch ")
             << batch << " do not match the one-row functions";
    if (group.controller) {
      FailureOr<format::PlanDesc> plan =
          buildPlan(group.controller, weights, kernels);
      if (failed(plan))
        return failure();
      bucket.controller = std::move(*plan);
      if (auto shared = group.controller->getAttrOfType<DenseI64ArrayAttr>(
              TacDialect::kSharedCarriedAttrName))
        for (int64_t j : shared.asArrayRef())
          bucket.sharedCarried.push_back(static_cast<uint32_t>(j));
    }
    for (func::FuncOp variant : group.variants) {
      FailureOr<format::PlanDesc> plan = buildPlan(variant, weights, kernels);
      if (failed(plan))
        return failure();
      bucket.variants.push_back(std::move(*plan));
    }
    llvm::stable_sort(bucket.variants, byPath);
    for (auto [one, many] : llvm::zip(model.variants, bucket.variants))
      if (one.path != many.path)
        return module.emitError("the variants for batch ")
               << batch << " cover other paths than the one-row variants";
    model.buckets.push_back(std::move(bucket));
  }
  model.weights = weights.takeBytes();
  for (auto [symbol, numArgs] : llvm::zip(kernels.symbols, kernels.numArgs))
    model.kernels.push_back({symbol, numArgs});

  if (options.cuda) {
    FailureOr<CudaKernels> cuda =
        compileCudaKernels(module, kernels, options.cudaTarget);
    if (failed(cuda))
      return failure();
    for (const std::string &note : cuda->notes)
      llvm::errs() << "\nnote: " << note;
    model.gpuKernels = std::move(cuda->kernels);
    model.gpuCode = std::move(cuda->code);
    if (options.ptxOut)
      *options.ptxOut = std::move(cuda->ptx);
  }
  if (!options.cpu)
    return model;
  // Steps are shared with the CUDA kernels, which read the weights as they
  // are: a file with both computes its CPU GEMMs with BLAS, as before tac
  // had its own.
  CpuGemms cpuGemms = options.cpuGemms;
  if (cpuGemms == CpuGemms::Packed && options.cuda)
    cpuGemms = CpuGemms::Blas;
  if (cpuGemms == CpuGemms::Packed &&
      failed(packGemmWeights(module, model, kernels, options.precision,
                              options.calibration)))
    return failure();

  // "+feature"/"-feature" entries switch LLVM features of the CPU before
  // them: --cpu=aarch64,+sve.
  std::vector<std::pair<std::string, std::vector<std::string>>> cpus;
  for (const std::string &entry : options.cpus) {
    if (!entry.empty() && (entry[0] == '+' || entry[0] == '-')) {
      if (cpus.empty())
        return emitError(module.getLoc(), "CPU feature '")
               << entry << "' comes before any CPU; write it after one, "
               << "as in --cpu=aarch64,+sve";
      cpus.back().second.push_back(entry);
      continue;
    }
    cpus.push_back({entry, {}});
  }
  std::set<std::string> seenCpus;
  for (const auto &[name, extraFeatures] : cpus) {
    FailureOr<CpuTarget> target = resolveCpuTarget(name, extraFeatures);
    if (failed(target)) {
      std::string features;
      for (const std::string &feature : extraFeatures)
        features += "," + feature;
      return emitError(module.getLoc(), "unknown CPU or feature '")
             << name << features
             << "'; use 'host', an LLVM x86-64 CPU name such as x86-64, "
             << "x86-64-v3 or skylake, 'aarch64' or 'aarch64:<cpu>' (such "
             << "as aarch64:cortex-a78), each optionally followed by LLVM "
             << "features such as +sve";
    }
    if (!seenCpus.insert(target->triple + target->cpu + target->llvmFeatures)
             .second)
      continue;
    FailureOr<std::vector<uint8_t>> code =
        compileCpuKernels(module, kernels, *target, cpuGemms);
    if (failed(code))
      return failure();
    format::CodeObjectDesc object;
    object.arch = target->arch;
    object.cpu = target->cpu;
    object.features = target->features;
    object.bytes = std::move(*code);
    model.code.push_back(std::move(object));
  }
  return model;
}

void mlir::tac::printPlanReport(const format::ModelDesc &model,
                                llvm::raw_ostream &os) {
  os << llvm::formatv("{0,-22} {1,5} {2,-16} {3,12} {4,12} {5,6} {6,12} "
                      "{7}\n",
                      "plan", "path", "layers", "flops", "arena_bytes",
                      "steps", "weight_bytes", "gemms");
  bool reduced = false;
  auto row = [&](const format::PlanDesc &plan) {
    std::string layers;
    for (int32_t layer : plan.layers)
      layers += (layers.empty() ? "" : ",") + std::to_string(layer);
    // Weight bytes the plan reads (each range once), and its GEMM steps
    // counted per precision.
    std::map<uint64_t, uint64_t> ranges;
    std::map<std::string, int> gemms;
    for (const format::StepDesc &step : plan.steps) {
      for (const format::BufferRefDesc &ref : step.args)
        if (ref.space == format::Space::Weights)
          ranges[ref.offset] = std::max(ranges[ref.offset], ref.size);
      if (step.kind == format::StepKind::Kernel &&
          step.kernel < model.kernels.size() &&
          !model.kernels[step.kernel].gemmPrecision.empty())
        ++gemms[model.kernels[step.kernel].gemmPrecision];
    }
    uint64_t weightBytes = 0, end = 0;
    for (auto [offset, size] : ranges) { // overlapping ranges count once
      uint64_t from = std::max(offset, end);
      if (offset + size > from)
        weightBytes += offset + size - from;
      end = std::max(end, offset + size);
    }
    std::string precisions;
    for (const auto &[name, count] : gemms) {
      precisions += (precisions.empty() ? "" : ",") + name + ":" +
                    std::to_string(count);
      reduced |= name != "f32" && name != "dynamic-f32" &&
                 name != "attention-f32";
    }
    os << llvm::formatv("{0,-22} {1,5} {2,-16} {3,12} {4,12} {5,6} {6,12} "
                        "{7}\n",
                        plan.name, plan.path, layers.empty() ? "-" : layers,
                        plan.flops, plan.arenaBytes, plan.steps.size(),
                        weightBytes, precisions.empty() ? "-" : precisions);
  };
  if (model.hasController)
    row(model.controller);
  for (const format::PlanDesc &plan : model.variants)
    row(plan);
  for (const format::BatchBucketDesc &bucket : model.buckets) {
    if (model.hasController)
      row(bucket.controller);
    for (const format::PlanDesc &plan : bucket.variants)
      row(plan);
  }
  uint64_t codeBytes = 0;
  for (const format::CodeObjectDesc &code : model.code)
    codeBytes += code.bytes.size();
  os << llvm::formatv("kernels: {0}, weights: {1} B, native code: {2} B in "
                      "{3} object(s)\n",
                      model.kernels.size(), model.weights.size(), codeBytes,
                      model.code.size());
  if (reduced)
    os << "gemms: GEMM steps per precision (f32, bf16, int8: by a weight so "
          "stored; dynamic-f32: both operands computed as the model runs; "
          "attention-f32: a fused attention step, its two products f32); "
          "every other step runs in f32\n";
  if (!model.gpuCode.empty()) {
    uint64_t gpuBytes = 0, launches = 0, gemms = 0;
    for (const format::GpuCodeObjectDesc &code : model.gpuCode)
      gpuBytes += code.bytes.size();
    for (const format::GpuKernelDesc &kernel : model.gpuKernels) {
      launches += kernel.launches.size();
      gemms += kernel.hasGemm;
    }
    std::string archs;
    for (const std::string &arch : model.gpuCode.front().archs)
      archs += (archs.empty() ? "" : ",") + arch;
    os << llvm::formatv("cuda: {0} launches, {1} GEMM kernels (cuBLASLt), "
                        "{2} B {3} ({4})\n",
                        launches, gemms, gpuBytes,
                        model.gpuCode.front().format, archs);
  }
}

void mlir::tac::printBucketReport(const format::ModelDesc &model,
                                  llvm::raw_ostream &os) {
  // Kernels are numbered in first use, one-row plans first: a bucket's new
  // kernels are those no plan before it calls.
  auto maxKernel = [](const format::PlanDesc &plan, int64_t &max) {
    for (const format::StepDesc &step : plan.steps)
      if (step.kind == format::StepKind::Kernel)
        max = std::max<int64_t>(max, step.kernel);
  };
  int64_t seen = -1;
  if (model.hasController)
    maxKernel(model.controller, seen);
  for (const format::PlanDesc &plan : model.variants)
    maxKernel(plan, seen);
  uint64_t total = format::serializeTacm(model).size();
  // Native bytes per kernel symbol, from the first code object's symbols.
  llvm::StringMap<uint64_t> codeBytes;
  if (!model.code.empty()) {
    const std::vector<uint8_t> &bytes = model.code.front().bytes;
    llvm::MemoryBufferRef buffer(
        StringRef(reinterpret_cast<const char *>(bytes.data()), bytes.size()),
        "code");
    if (auto object = llvm::object::ObjectFile::createObjectFile(buffer)) {
      for (const llvm::object::SymbolRef &symbol : (*object)->symbols()) {
        llvm::Expected<StringRef> name = symbol.getName();
        if (!name) {
          llvm::consumeError(name.takeError());
          continue;
        }
        codeBytes[*name] = llvm::object::ELFSymbolRef(symbol).getSize();
      }
    } else {
      llvm::consumeError(object.takeError());
    }
  }
  os << llvm::formatv("{0,-8} {1,14} {2,12} {3,14}\n", "batch", "plan_bytes",
                      "new_kernels", "kernel_bytes");
  for (size_t b = 0; b < model.buckets.size(); ++b) {
    format::ModelDesc without = model;
    without.buckets.erase(without.buckets.begin() + b);
    uint64_t planBytes = total - format::serializeTacm(without).size();
    int64_t last = seen;
    if (model.hasController)
      maxKernel(model.buckets[b].controller, last);
    for (const format::PlanDesc &plan : model.buckets[b].variants)
      maxKernel(plan, last);
    uint64_t kernelBytes = 0;
    for (int64_t k = seen + 1; k <= last; ++k)
      kernelBytes += codeBytes.lookup(model.kernels[k].symbol);
    os << llvm::formatv("{0,-8} {1,14} {2,12} {3,14}\n",
                        model.buckets[b].batch, planBytes, last - seen,
                        kernelBytes);
    seen = last;
  }
  os << llvm::formatv("file: {0} B (weights stored once: {1} B); "
                      "kernel_bytes: native code of the first CPU level\n",
                      total, model.weights.size());
}
