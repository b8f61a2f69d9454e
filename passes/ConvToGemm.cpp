//===- ConvToGemm.cpp - 2-D convolutions as im2col + GEMM ------------------===//
//
// A 2-D convolution lowered as a loop nest runs the innermost loops over the
// tiny filter window; as an im2col copy plus one contraction it becomes a
// GEMM the backends hand to BLAS or cuBLASLt. A ViT's patch embedding (a
// stride-16, 16x16 convolution) was a quarter of ViT-Small's run time as
// loops.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::tac {
#define GEN_PASS_DEF_TACCONVTOGEMM
#include "passes/Passes.h.inc"
} // namespace mlir::tac

using namespace mlir;

namespace {
struct ConvToGemm : mlir::tac::impl::TacConvToGemmBase<ConvToGemm> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    linalg::populateConvertConv2DToImg2ColPatterns(patterns);
    auto countConvs = [&] {
      int64_t count = 0;
      getOperation()->walk([&](linalg::ConvolutionOpInterface) { ++count; });
      return count;
    };
    int64_t before = countConvs();
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    numConvs += before - countConvs();
  }
};
} // namespace
