//===- PackWeights.cpp - GEMM weights in the micro-kernel's layout --------===//
//
// tac's CPU GEMM (PackedGemm.c) streams B in panels of 16 columns, each
// K x 16 floats, zero-padded past N. A library such as OpenBLAS copies B
// into that kind of layout on every call; when B is a constant weight the
// compiler does it once and stores the packed copy in the .tacm instead.
// The original bytes go when no step reads them any more, so the file does
// not grow by more than the padding.
//
// Weights may be stored in reduced precision (docs/precision.md): bf16, the
// f32's top half rounded to nearest even; or int8, symmetric per output
// column with 7-bit values, its scales and column sums in front of the
// panels (the layouts PackedGemm.c documents).
//
//===----------------------------------------------------------------------===//

#include "tac/Backend/Backend.h"

#include "dialects/Tac/TacDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

using namespace mlir;
using namespace mlir::tac;

namespace {

constexpr int64_t kPanel = 16; // PackedGemm.c's TAC_PANEL
constexpr int64_t kInt8Group = 4; // PackedGemm.c's TAC_INT8_GROUP: k per lane
constexpr int64_t kInt8Pad = 8;   // TAC_INT8_PAD: K padded to pairs of groups
constexpr int kInt8Largest = 63;  // 7 bits: AVX2's multiply-add cannot saturate
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
  int64_t panels() const { return (gemm.n + kPanel - 1) / kPanel; }
  /// Bytes of one packed matrix; `smoothed`: int8 with A-multipliers.
  uint64_t matrixBytes(WeightPrecision precision, bool smoothed) const {
    uint64_t width = panels() * kPanel;
    switch (precision) {
    case WeightPrecision::F32:
      return width * gemm.k * 4;
    case WeightPrecision::BF16:
      return width * gemm.k * 2;
    case WeightPrecision::Int8: // scales, sums, (A-multipliers,) panels
      return width * 8 +
             (width + (smoothed ? 4 : 0)) * llvm::alignTo(gemm.k, kInt8Pad);
    }
    llvm_unreachable("unknown precision");
  }
  uint64_t packedBytes(WeightPrecision precision, bool smoothed) const {
    return uint64_t(outerMatrices()) * batchMatrices() *
           matrixBytes(precision, smoothed);
  }
};

/// The per-k weight scales s[k] that --calibration's ranges (`range`: the
/// largest |A| of each k) give one int8 matrix: s[k] = sqrt(range[k] /
/// largest |row k|) moves half of an activation channel's range (on a log
/// scale) into the weight's row k, so that both sides' ranges become
/// sqrt(range[k] * largest |row k|) (SmoothQuant's alpha = 1/2). Choosing
/// alpha per matrix, by the error the ranges predict, was tried: MiniLM's
/// embeddings agreed less with f32 than at 1/2 for all matrices (cosine
/// 0.99762 against 0.99780; docs/precision.md).
std::vector<float> chooseSmoothing(const format::GemmDesc &g,
                                   function_ref<float(uint64_t, uint64_t)> at,
                                   const float *range) {
  std::vector<float> s(g.k, 1.0f);
  for (uint64_t k = 0; k < g.k; ++k) {
    float rowLargest = 0;
    for (uint64_t n = 0; n < g.n; ++n)
      rowLargest = std::max(rowLargest, std::abs(at(k, n)));
    // A channel never seen non-zero, or a zero weight row: nothing to even.
    if (range[k] > 0 && std::isfinite(range[k]) && rowLargest > 0)
      s[k] = std::clamp(std::sqrt(range[k] / rowLargest), 1e-4f, 1e4f);
  }
  return s;
}

/// One k x n matrix (`at(k, n)`) in PackedGemm.c's int8 layout: per-column
/// scales (largest magnitude / 63), column sums, per-k A-multipliers when
/// `smoothed` (a --calibration build), then the panels of 4-k groups.
/// `range` (k values, or null): the largest |A| the calibration inputs gave
/// each k. With it, row k of the weight is scaled by s[k] (chooseSmoothing)
/// and A's column k by the multiplier 1 / s[k] as it is quantised: the
/// product is unchanged, but an outlier channel of A (a few channels carry
/// most of a transformer's activation range) no longer spends the whole
/// row's 7 bits.
void packInt8(const format::GemmDesc &g, int64_t panels,
              function_ref<float(uint64_t, uint64_t)> at, bool smoothed,
              const float *range, uint8_t *out) {
  uint64_t width = panels * kPanel, k4 = llvm::alignTo(g.k, kInt8Pad);
  auto *scales = reinterpret_cast<float *>(out);
  auto *sums = reinterpret_cast<int32_t *>(out + width * 4);
  auto *multipliers = reinterpret_cast<float *>(out + width * 8);
  auto *values =
      reinterpret_cast<int8_t *>(out + width * 8 + (smoothed ? k4 * 4 : 0));
  std::vector<float> smooth = smoothed && range
                                  ? chooseSmoothing(g, at, range)
                                  : std::vector<float>(g.k, 1.0f);
  for (uint64_t k = 0; k < k4 && smoothed; ++k)
    multipliers[k] = k < g.k ? 1.0f / smooth[k] : 1.0f;
  for (uint64_t n = 0; n < g.n; ++n) {
    float largest = 0;
    for (uint64_t k = 0; k < g.k; ++k)
      largest = std::max(largest, std::abs(at(k, n) * smooth[k]));
    // (non-finite weights never get here: packGemmWeights refuses them)
    float scale = largest > 0 ? largest / kInt8Largest : 1.0f;
    int32_t sum = 0;
    for (uint64_t k = 0; k < g.k; ++k) {
      long q = std::lround(at(k, n) * smooth[k] / scale);
      q = std::clamp<long>(q, -kInt8Largest, kInt8Largest);
      values[(n / kPanel) * k4 * kPanel + (k / kInt8Group) * kInt8Group *
                                              kPanel +
             (n % kPanel) * kInt8Group + k % kInt8Group] = int8_t(q);
      sum += int32_t(q);
    }
    scales[n] = scale;
    sums[n] = sum;
  }
}

/// B's matrices at `source`, packed in `precision` (PackedGemm.c's
/// layouts), outer matrix major, into `out` (zeroed). `smoothed`: int8 with
/// A-multipliers, `rangeOf(matrix)` the calibrated activation ranges of one
/// matrix (or null).
void pack(const WeightLayout &layout, const float *source,
          WeightPrecision precision, bool smoothed,
          function_ref<const float *(int64_t)> rangeOf, uint8_t *out) {
  const format::GemmDesc &g = layout.gemm;
  int64_t panels = layout.panels();
  for (int64_t o = 0; o < layout.outerMatrices(); ++o)
    for (int64_t i = 0; i < layout.batchMatrices(); ++i) {
      const float *matrix = source + o * layout.outer.strideB + i * g.strideB;
      auto at = [&](uint64_t k, uint64_t n) {
        return g.bTrans ? matrix[n * g.ldb + k] : matrix[k * g.ldb + n];
      };
      if (precision == WeightPrecision::Int8) {
        packInt8(g, panels, at, smoothed,
                 rangeOf(o * layout.batchMatrices() + i), out);
        out += layout.matrixBytes(precision, smoothed);
        continue;
      }
      for (int64_t p = 0; p < panels; ++p)
        for (uint64_t k = 0; k < g.k; ++k)
          for (int64_t j = 0; j < kPanel; ++j) {
            uint64_t n = p * kPanel + j;
            float value = n >= g.n ? 0.0f : at(k, n);
            if (precision == WeightPrecision::BF16) {
              uint16_t half = roundToBf16(value);
              std::memcpy(out, &half, sizeof half);
              out += sizeof half;
            } else {
              std::memcpy(out, &value, sizeof value);
              out += sizeof value;
            }
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

uint16_t mlir::tac::roundToBf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (std::isnan(value))
    return uint16_t((bits >> 16) | 0x40); // stays a (quiet) NaN
  return uint16_t((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

StringRef mlir::tac::precisionName(WeightPrecision precision) {
  switch (precision) {
  case WeightPrecision::F32:
    return "f32";
  case WeightPrecision::BF16:
    return "bf16";
  case WeightPrecision::Int8:
    return "int8";
  }
  llvm_unreachable("unknown precision");
}

LogicalResult mlir::tac::packGemmWeights(ModuleOp module,
                                         format::ModelDesc &model,
                                         KernelTable &kernels,
                                         WeightPrecision precision,
                                         GemmCalibration *calibration) {
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
    auto kernel = (*extracted)->lookupSymbol<func::FuncOp>(symbol);
    // Fused attention (tac-form-attention): its two products multiply
    // computed operands, in f32 at every precision.
    if (kernel && i < model.kernels.size() &&
        kernel.walk([](AttentionOp) { return WalkResult::interrupt(); })
            .wasInterrupted())
      model.kernels[i].gemmPrecision = "attention-f32";
    if (kernels.mayAlias[i])
      continue; // the BLAS path's rule: GEMMs over disjoint buffers only
    WeightLayout layout;
    std::optional<format::GemmDesc> gemm =
        kernel ? recogniseGemm(kernel, &layout.outer) : std::nullopt;
    if (!gemm || gemm->k == 0 || gemm->n == 0 || layout.outer.strideB < 0)
      continue;
    layout.gemm = *gemm;
    layouts[i] = layout;
  }
  std::vector<bool> isGemm(layouts.size());
  for (auto [i, layout] : llvm::enumerate(layouts))
    isGemm[i] = layout.has_value();
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

  // The controller's GEMMs keep f32 weights, so that the path a row takes
  // never depends on the precision; so do the GEMMs of any plan by a weight
  // a controller reads (variants recompute the controller's outputs, such
  // as the chosen depth, and must agree with the path that ran). A kernel
  // is f32 when any of its calls is.
  std::vector<WeightPrecision> precisions(kernels.symbols.size(), precision);
  if (model.hasController) {
    SmallVector<const format::PlanDesc *> controllers = {&model.controller};
    for (const format::BatchBucketDesc &bucket : model.buckets)
      controllers.push_back(&bucket.controller);
    std::set<uint64_t> controllerWeights;
    for (const format::PlanDesc *plan : controllers)
      for (const format::StepDesc &step : plan->steps) {
        if (step.kind == format::StepKind::Kernel &&
            step.kernel < precisions.size())
          precisions[step.kernel] = WeightPrecision::F32;
        for (const format::BufferRefDesc &ref : step.args)
          if (ref.space == format::Space::Weights)
            controllerWeights.insert(ref.offset);
      }
    for (format::PlanDesc *plan : plans)
      for (const format::StepDesc &step : plan->steps)
        if (step.kind == format::StepKind::Kernel && layouts[step.kernel] &&
            controllerWeights.count(
                step.args[layouts[step.kernel]->gemm.bArg].offset))
          precisions[step.kernel] = WeightPrecision::F32;
  }

  // One packed copy per (weight, layout, precision), shared by every step
  // and kernel.
  std::map<std::tuple<uint64_t, decltype(WeightLayout().key()),
                      WeightPrecision>,
           format::BufferRefDesc>
      packed;
  // --calibration: which weight (offset before packing) each step's packed
  // B came from, to name its matrices once the weights have moved.
  std::vector<std::pair<const format::StepDesc *, uint64_t>> origins;
  // A --calibration build's int8 matrices carry A-multipliers (1 where no
  // calibration row reached them); other builds keep the smaller layout.
  const bool smoothed = calibration && calibration->ranges;
  for (format::PlanDesc *plan : plans)
    for (format::StepDesc &step : plan->steps) {
      if (step.kind != format::StepKind::Kernel || !layouts[step.kernel])
        continue;
      const WeightLayout &layout = *layouts[step.kernel];
      WeightPrecision stored = precisions[step.kernel];
      format::BufferRefDesc &b = step.args[layout.gemm.bArg];
      uint64_t origin = b.offset;
      if (calibration && calibration->record)
        origins.push_back({&step, origin});
      auto [found, added] =
          packed.try_emplace({b.offset, layout.key(), stored});
      if (added) {
        uint64_t at = alignUp(model.weights.size());
        uint64_t size = layout.packedBytes(stored, smoothed);
        std::vector<float> source(layout.extent());
        std::memcpy(source.data(), model.weights.data() + b.offset,
                    source.size() * sizeof(float));
        if (stored == WeightPrecision::Int8 &&
            !llvm::all_of(source, [](float x) { return std::isfinite(x); }))
          return emitError(module.getLoc(), "--precision=int8: the weight of "
                                            "GEMM kernel ")
                 << kernels.symbols[step.kernel]
                 << " holds a NaN or an infinity, which int8 cannot store; "
                    "fix the model's weights, or use --precision=bf16 or f32";
        model.weights.resize(at + size, 0);
        auto rangeOf = [&](int64_t matrix) -> const float * {
          if (!calibration || !calibration->ranges)
            return nullptr;
          auto it = calibration->ranges->find(
              {origin, layout.gemm.k, layout.gemm.n, matrix});
          if (it == calibration->ranges->end() ||
              it->second.size() != layout.gemm.k)
            return nullptr;
          return it->second.data();
        };
        if (stored == WeightPrecision::Int8 && calibration)
          for (int64_t m = 0,
                       e = layout.outerMatrices() * layout.batchMatrices();
               m < e; ++m) {
            ++calibration->int8Matrices;
            calibration->calibratedMatrices += rangeOf(m) != nullptr;
          }
        pack(layout, source.data(), stored, smoothed, rangeOf,
             model.weights.data() + at);
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
      how.precision = precisions[i];
      how.record = calibration && calibration->record &&
                   how.precision == WeightPrecision::F32;
      how.smoothed = smoothed && how.precision == WeightPrecision::Int8;
      kernels.packedWeights[i] = how;
      if (i < model.kernels.size())
        model.kernels[i].gemmPrecision = precisionName(precisions[i]).str();
    } else if (isGemm[i] && i < model.kernels.size()) {
      // Both operands computed at run time (attention's products): f32 at
      // every precision. Quantising both as they run was slower on AVX2
      // (docs/precision.md).
      model.kernels[i].gemmPrecision = "dynamic-f32";
    }
  if (!packed.empty())
    dropUnreadWeights(model);
  for (auto [step, origin] : origins) {
    const WeightLayout &layout = *layouts[step->kernel];
    uint64_t bytes = layout.matrixBytes(WeightPrecision::F32, false);
    for (int64_t m = 0, e = layout.outerMatrices() * layout.batchMatrices();
         m < e; ++m)
      calibration->recorded[step->args[layout.gemm.bArg].offset + m * bytes] =
          {origin, layout.gemm.k, layout.gemm.n, m};
  }
  return success();
}
