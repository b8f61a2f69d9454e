//===- PackWeights.cpp - GEMM weights in the micro-kernel's layout --------===//
//
// tac's CPU GEMM (PackedGemm.c) streams B in panels of 16 columns, each
// K x 16 floats, zero-padded past N. A library such as OpenBLAS copies B
// into that kind of layout on every call; when B is a constant weight the
// compiler does it once and stores the packed copy in the .tacm instead.
// The original bytes go when no step reads them any more, so the file does
// not grow by more than the padding.
//
//===----------------------------------------------------------------------===//

#include "tac/Backend/Backend.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

using namespace mlir;
using namespace mlir::tac;

namespace {

constexpr int64_t kPanel = 16; // PackedGemm.c's TAC_PANEL
constexpr uint64_t kAlign = format::kSectionAlignment;

uint64_t alignUp(uint64_t value) { return (value + kAlign - 1) / kAlign * kAlign; }

/// Every plan of the file: the one-row plans and each batch bucket's.
SmallVector<format::PlanDesc *> plansOf(format::ModelDesc &model) {
  SmallVector<format::PlanDesc *> plans;
  if (model.hasController)
    plans.push_back(&model.controller);
  for (format::PlanDesc &plan : model.variants)
    plans.push_back(&plan);
  for (format::BatchBucketDesc &bucket : model.buckets) {
    if (model.hasController)
      plans.push_back(&bucket.controller);
    for (format::PlanDesc &plan : bucket.variants)
      plans.push_back(&plan);
  }
  return plans;
}

/// One GEMM kernel's B operand: where each matrix's element (k, n) lies, in
/// floats from the operand's start.
struct WeightLayout {
  format::GemmDesc gemm;
  GemmOuterLoop outer;
  /// Distinct matrices (a stride of 0 repeats one).
  int64_t outerMatrices() const {
    return outer.count > 1 && outer.strideB != 0 ? outer.count : 1;
  }
  int64_t batchMatrices() const {
    return gemm.batch > 1 && gemm.strideB != 0 ? gemm.batch : 1;
  }
  /// One past the last float any matrix reads.
  uint64_t extent() const {
    const format::GemmDesc &g = gemm;
    uint64_t last = g.bTrans ? (g.n - 1) * g.ldb + (g.k - 1)
                             : (g.k - 1) * g.ldb + (g.n - 1);
    return last + (outerMatrices() - 1) * outer.strideB +
           (batchMatrices() - 1) * g.strideB + 1;
  }
  /// What the packed bytes depend on besides the weight's offset: kernels
  /// with equal keys (one per batch bucket, say) share one packed copy.
  std::tuple<uint64_t, uint64_t, uint64_t, bool, int64_t, uint64_t, int64_t,
             int64_t>
  key() const {
    return {gemm.k,          gemm.n,           gemm.ldb,
            gemm.bTrans,     batchMatrices(),  gemm.strideB,
            outerMatrices(), outer.strideB};
  }
  uint64_t packedFloats() const {
    int64_t panels = (gemm.n + kPanel - 1) / kPanel;
    return uint64_t(outerMatrices()) * batchMatrices() * panels * kPanel *
           gemm.k;
  }
};

/// B's matrices at `source`, packed (PackedGemm.c's layout), outer matrix
/// major.
void pack(const WeightLayout &layout, const float *source, float *out) {
  const format::GemmDesc &g = layout.gemm;
  int64_t panels = (g.n + kPanel - 1) / kPanel;
  for (int64_t o = 0; o < layout.outerMatrices(); ++o)
    for (int64_t i = 0; i < layout.batchMatrices(); ++i) {
      const float *matrix = source + o * layout.outer.strideB + i * g.strideB;
      for (int64_t p = 0; p < panels; ++p)
        for (uint64_t k = 0; k < g.k; ++k)
          for (int64_t j = 0; j < kPanel; ++j) {
            uint64_t n = p * kPanel + j;
            *out++ = n >= g.n ? 0.0f
                     : g.bTrans ? matrix[n * g.ldb + k]
                                : matrix[k * g.ldb + n];
          }
    }
}

/// Keeps only the weight bytes some step or output still reads, each kept
/// run at its old offset modulo the section alignment (so packed matrices
/// stay 64-byte aligned), and moves every reference with it.
void dropUnreadWeights(format::ModelDesc &model) {
  SmallVector<format::BufferRefDesc *> refs;
  for (format::PlanDesc *plan : plansOf(model)) {
    for (format::StepDesc &step : plan->steps)
      for (format::BufferRefDesc &ref : step.args)
        if (ref.space == format::Space::Weights)
          refs.push_back(&ref);
    for (format::BufferRefDesc &ref : plan->outputs)
      if (ref.space == format::Space::Weights)
        refs.push_back(&ref);
  }
  // Runs of bytes read, merged: old start -> old end.
  std::map<uint64_t, uint64_t> runs;
  for (format::BufferRefDesc *ref : refs)
    runs[ref->offset] = std::max(runs[ref->offset], ref->offset + ref->size);
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  for (auto [start, end] : runs) {
    if (!merged.empty() && start <= merged.back().second)
      merged.back().second = std::max(merged.back().second, end);
    else
      merged.push_back({start, end});
  }
  std::vector<uint8_t> bytes;
  std::vector<uint64_t> moved; // new start per merged run
  for (auto [start, end] : merged) {
    uint64_t at = alignUp(bytes.size()) + start % kAlign;
    bytes.resize(at + (end - start), 0);
    std::memcpy(bytes.data() + at, model.weights.data() + start, end - start);
    moved.push_back(at);
  }
  for (format::BufferRefDesc *ref : refs) {
    auto run = std::upper_bound(
        merged.begin(), merged.end(), ref->offset,
        [](uint64_t offset, const auto &r) { return offset < r.first; });
    size_t index = std::distance(merged.begin(), run) - 1;
    ref->offset = moved[index] + (ref->offset - merged[index].first);
  }
  model.weights = std::move(bytes);
}

} // namespace

LogicalResult mlir::tac::packGemmWeights(ModuleOp module,
                                         format::ModelDesc &model,
                                         KernelTable &kernels) {
  kernels.packedWeights.assign(kernels.symbols.size(), std::nullopt);
  FailureOr<OwningOpRef<ModuleOp>> extracted =
      extractKernelModule(module, kernels);
  if (failed(extracted))
    return failure();
  SmallVector<format::PlanDesc *> plans = plansOf(model);

  // Kernels whose every call multiplies by a weight that lies wholly in
  // the section: their layouts.
  std::vector<std::optional<WeightLayout>> layouts(kernels.symbols.size());
  for (auto [i, symbol] : llvm::enumerate(kernels.symbols)) {
    if (kernels.mayAlias[i])
      continue; // the BLAS path's rule: GEMMs over disjoint buffers only
    auto kernel = (*extracted)->lookupSymbol<func::FuncOp>(symbol);
    WeightLayout layout;
    std::optional<format::GemmDesc> gemm =
        kernel ? recogniseGemm(kernel, &layout.outer) : std::nullopt;
    if (!gemm || gemm->k == 0 || gemm->n == 0 || layout.outer.strideB < 0)
      continue;
    layout.gemm = *gemm;
    layouts[i] = layout;
  }
  for (format::PlanDesc *plan : plans)
    for (const format::StepDesc &step : plan->steps) {
      if (step.kind != format::StepKind::Kernel ||
          step.kernel >= layouts.size() || !layouts[step.kernel])
        continue;
      const WeightLayout &layout = *layouts[step.kernel];
      const format::BufferRefDesc &b = step.args[layout.gemm.bArg];
      if (b.space != format::Space::Weights || b.offset % sizeof(float) ||
          layout.extent() * sizeof(float) > b.size ||
          b.offset + b.size > model.weights.size())
        layouts[step.kernel].reset();
    }

  // One packed copy per (weight, layout), shared by every step and kernel.
  std::map<std::pair<uint64_t, decltype(WeightLayout().key())>,
           format::BufferRefDesc>
      packed;
  for (format::PlanDesc *plan : plans)
    for (format::StepDesc &step : plan->steps) {
      if (step.kind != format::StepKind::Kernel || !layouts[step.kernel])
        continue;
      const WeightLayout &layout = *layouts[step.kernel];
      format::BufferRefDesc &b = step.args[layout.gemm.bArg];
      auto [found, added] = packed.try_emplace({b.offset, layout.key()});
      if (added) {
        uint64_t at = alignUp(model.weights.size());
        uint64_t size = layout.packedFloats() * sizeof(float);
        std::vector<float> source(layout.extent());
        std::memcpy(source.data(), model.weights.data() + b.offset,
                    source.size() * sizeof(float));
        model.weights.resize(at + size, 0);
        pack(layout, source.data(),
             reinterpret_cast<float *>(model.weights.data() + at));
        found->second = {format::Space::Weights, 0, at, size};
      }
      b = found->second;
    }
  for (auto [i, layout] : llvm::enumerate(layouts))
    if (layout) {
      PackedWeight how;
      how.batchStride = layout->batchMatrices() > 1 ? 1 : 0;
      how.outerStride = layout->outerMatrices() > 1 ? layout->batchMatrices()
                                                    : 0;
      kernels.packedWeights[i] = how;
    }
  if (!packed.empty())
    dropUnreadWeights(model);
  return success();
}
