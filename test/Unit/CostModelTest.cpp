//===- CostModelTest.cpp - the cost model's library API -------------------===//
//
// Parses small IR and checks the cost model's numbers (FLOPs, bytes, params,
// arena plan) against hand counts; the same counts the lit tests in
// test/Passes/estimate-cost*.mlir check through the pass.
//
//===----------------------------------------------------------------------===//

#include "passes/CostModel.h"
#include "tac/Analysis/ArenaPlanner.h"
#include "tac/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::tac;

namespace {

class CostModelTest : public ::testing::Test {
protected:
  CostModelTest() : context(makeRegistry()) {
    context.loadAllAvailableDialects();
    context.allowUnregisteredDialects();
  }

  static DialectRegistry makeRegistry() {
    DialectRegistry registry;
    registerAllDialects(registry);
    return registry;
  }

  /// Parses `text` into a module owned by the fixture; fails the test if it
  /// does not parse.
  ModuleOp parse(StringRef text) {
    module = parseSourceString<ModuleOp>(text, &context);
    EXPECT_TRUE(module) << "IR did not parse";
    return module.get();
  }

  func::FuncOp function(StringRef name) {
    return module->lookupSymbol<func::FuncOp>(name);
  }

  /// The value defined by the op whose `tag` attribute is `name` (result 0).
  Value tagged(func::FuncOp func, StringRef name) {
    Value found;
    func.walk([&](Operation *op) {
      auto tag = op->getAttrOfType<StringAttr>("tag");
      if (tag && tag.getValue() == name)
        found = op->getResult(0);
    });
    EXPECT_TRUE(found) << "no op tagged " << name.str();
    return found;
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

constexpr const char *kMatmul = R"mlir(
func.func @matmul(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>) -> tensor<4x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill {tag = "fill"} ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul {tag = "matmul"} ins(%a, %b : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %m : tensor<4x16xf32>
}
)mlir";

// Single-head attention as the importer emits it: see
// test/Passes/estimate-cost.mlir for the hand count.
constexpr const char *kAttention = R"mlir(
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#row3 = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @attention(%q: tensor<1x8x16xf32>, %k: tensor<1x8x16xf32>, %v: tensor<1x8x16xf32>) -> tensor<1x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e0 = tensor.empty() : tensor<1x16x8xf32>
  %kt = linalg.transpose {tag = "kt"} ins(%k : tensor<1x8x16xf32>) outs(%e0 : tensor<1x16x8xf32>) permutation = [0, 2, 1]
  %e1 = tensor.empty() : tensor<1x8x8xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x8x8xf32>) -> tensor<1x8x8xf32>
  %s = linalg.batch_matmul {tag = "scores"} ins(%q, %kt : tensor<1x8x16xf32>, tensor<1x16x8xf32>) outs(%f1 : tensor<1x8x8xf32>) -> tensor<1x8x8xf32>
  %e2 = tensor.empty() : tensor<1x8xf32>
  %f2 = linalg.fill ins(%ninf : f32) outs(%e2 : tensor<1x8xf32>) -> tensor<1x8xf32>
  %max = linalg.reduce ins(%s : tensor<1x8x8xf32>) outs(%f2 : tensor<1x8xf32>) dimensions = [2]
    (%in: f32, %init: f32) {
      %m = arith.maximumf %in, %init : f32
      linalg.yield %m : f32
    }
  %e3 = tensor.empty() : tensor<1x8x8xf32>
  %exp = linalg.generic {indexing_maps = [#id3, #row3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %max : tensor<1x8x8xf32>, tensor<1x8xf32>) outs(%e3 : tensor<1x8x8xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %d = arith.subf %in, %in_0 : f32
    %x = math.exp %d : f32
    linalg.yield %x : f32
  } -> tensor<1x8x8xf32>
  %e4 = tensor.empty() : tensor<1x8xf32>
  %f4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<1x8xf32>) -> tensor<1x8xf32>
  %sum = linalg.reduce ins(%exp : tensor<1x8x8xf32>) outs(%f4 : tensor<1x8xf32>) dimensions = [2]
    (%in: f32, %init: f32) {
      %a = arith.addf %in, %init : f32
      linalg.yield %a : f32
    }
  %e5 = tensor.empty() : tensor<1x8x8xf32>
  %p = linalg.generic {indexing_maps = [#id3, #row3, #id3], iterator_types = ["parallel", "parallel", "parallel"], tag = "probs"} ins(%exp, %sum : tensor<1x8x8xf32>, tensor<1x8xf32>) outs(%e5 : tensor<1x8x8xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %d = arith.divf %in, %in_0 : f32
    linalg.yield %d : f32
  } -> tensor<1x8x8xf32>
  %e6 = tensor.empty() : tensor<1x8x16xf32>
  %f6 = linalg.fill ins(%zero : f32) outs(%e6 : tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  %o = linalg.batch_matmul {tag = "out"} ins(%p, %v : tensor<1x8x8xf32>, tensor<1x8x16xf32>) outs(%f6 : tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  return %o : tensor<1x8x16xf32>
}
)mlir";

// Layer 0 of test/Import/Models/vit_tiny.onnx as the importer emits it,
// weights replaced by splat constants; the hand count is in
// test/Passes/estimate-cost-vit.mlir.
constexpr const char *kVitLayer = R"mlir(
#map = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map1 = affine_map<(d0, d1) -> (d0, d1)>
#map2 = affine_map<(d0, d1, d2) -> (d0, d1)>
#map3 = affine_map<(d0, d1, d2) -> (d2)>
#map4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map5 = affine_map<(d0, d1, d2, d3) -> ()>
#map6 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#map7 = affine_map<(d0, d1, d2) -> ()>
func.func @vit_layer(%x: tensor<1x17x32xf32>) -> tensor<1x17x32xf32> {
  %cst = arith.constant dense<0.01> : tensor<32xf32>
  %cst_0 = arith.constant dense<0.02> : tensor<32xf32>
  %cst_6 = arith.constant dense<0.03> : tensor<32x32xf32>
  %cst_7 = arith.constant dense<0.04> : tensor<32xf32>
  %cst_8 = arith.constant dense<0.05> : tensor<32x32xf32>
  %cst_9 = arith.constant dense<0.06> : tensor<32xf32>
  %cst_10 = arith.constant dense<0.07> : tensor<32x32xf32>
  %cst_11 = arith.constant dense<0.08> : tensor<32xf32>
  %cst_12 = arith.constant dense<4.000000e+00> : tensor<f32>
  %cst_13 = arith.constant dense<0.09> : tensor<32x32xf32>
  %cst_14 = arith.constant dense<0.1> : tensor<32xf32>
  %cst_15 = arith.constant dense<0.11> : tensor<32x64xf32>
  %cst_16 = arith.constant dense<0.12> : tensor<64xf32>
  %cst_17 = arith.constant dense<1.41421354> : tensor<f32>
  %cst_18 = arith.constant dense<1.000000e+00> : tensor<f32>
  %cst_19 = arith.constant dense<5.000000e-01> : tensor<f32>
  %cst_20 = arith.constant dense<0.13> : tensor<64x32xf32>
  %cst_21 = arith.constant dense<0.14> : tensor<32xf32>
  %cst_41 = arith.constant 0.000000e+00 : f32
  %6 = tensor.empty() : tensor<1x17xf32>
  %7 = linalg.fill ins(%cst_41 : f32) outs(%6 : tensor<1x17xf32>) -> tensor<1x17xf32>
  %reduced = linalg.reduce ins(%x : tensor<1x17x32xf32>) outs(%7 : tensor<1x17xf32>) dimensions = [2] 
    (%in: f32, %init: f32) {
      %200 = arith.addf %in, %init : f32
      linalg.yield %200 : f32
    }
  %8 = tensor.empty() : tensor<1x17xf32>
  %9 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel", "parallel"]} ins(%reduced : tensor<1x17xf32>) outs(%8 : tensor<1x17xf32>) {
  ^bb0(%in: f32, %out: f32):
    %cst_137 = arith.constant 3.200000e+01 : f32
    %200 = arith.divf %in, %cst_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17xf32>
  %10 = tensor.empty() : tensor<1x17x32xf32>
  %11 = linalg.generic {indexing_maps = [#map, #map2, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x, %9 : tensor<1x17x32xf32>, tensor<1x17xf32>) outs(%10 : tensor<1x17x32xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.subf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x32xf32>
  %cst_42 = arith.constant 0.000000e+00 : f32
  %12 = tensor.empty() : tensor<1x17xf32>
  %13 = linalg.fill ins(%cst_42 : f32) outs(%12 : tensor<1x17xf32>) -> tensor<1x17xf32>
  %reduced_43 = linalg.reduce ins(%11 : tensor<1x17x32xf32>) outs(%13 : tensor<1x17xf32>) dimensions = [2] 
    (%in: f32, %init: f32) {
      %200 = arith.mulf %in, %in : f32
      %201 = arith.addf %200, %init : f32
      linalg.yield %201 : f32
    }
  %14 = tensor.empty() : tensor<1x17xf32>
  %15 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel", "parallel"]} ins(%reduced_43 : tensor<1x17xf32>) outs(%14 : tensor<1x17xf32>) {
  ^bb0(%in: f32, %out: f32):
    %cst_137 = arith.constant 3.200000e+01 : f32
    %200 = arith.divf %in, %cst_137 : f32
    %cst_138 = arith.constant 9.99999974E-6 : f32
    %201 = arith.addf %200, %cst_138 : f32
    %202 = math.sqrt %201 : f32
    %cst_139 = arith.constant 1.000000e+00 : f32
    %203 = arith.divf %cst_139, %202 : f32
    linalg.yield %203 : f32
  } -> tensor<1x17xf32>
  %16 = tensor.empty() : tensor<1x17x32xf32>
  %17 = linalg.generic {indexing_maps = [#map, #map2, #map3, #map3, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%11, %15, %cst_0, %cst : tensor<1x17x32xf32>, tensor<1x17xf32>, tensor<32xf32>, tensor<32xf32>) outs(%16 : tensor<1x17x32xf32>) {
  ^bb0(%in: f32, %in_137: f32, %in_138: f32, %in_139: f32, %out: f32):
    %200 = arith.mulf %in, %in_137 : f32
    %201 = arith.mulf %200, %in_138 : f32
    %202 = arith.addf %201, %in_139 : f32
    linalg.yield %202 : f32
  } -> tensor<1x17x32xf32>
  %collapsed_44 = tensor.collapse_shape %17 [[0, 1], [2]] : tensor<1x17x32xf32> into tensor<17x32xf32>
  %18 = tensor.empty() : tensor<17x32xf32>
  %cst_45 = arith.constant 0.000000e+00 : f32
  %19 = linalg.fill ins(%cst_45 : f32) outs(%18 : tensor<17x32xf32>) -> tensor<17x32xf32>
  %20 = linalg.matmul ins(%collapsed_44, %cst_6 : tensor<17x32xf32>, tensor<32x32xf32>) outs(%19 : tensor<17x32xf32>) -> tensor<17x32xf32>
  %expanded = tensor.expand_shape %20 [[0, 1], [2]] output_shape [1, 17, 32] : tensor<17x32xf32> into tensor<1x17x32xf32>
  %21 = tensor.empty() : tensor<1x17x32xf32>
  %22 = linalg.generic {indexing_maps = [#map3, #map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%cst_7, %expanded : tensor<32xf32>, tensor<1x17x32xf32>) outs(%21 : tensor<1x17x32xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.addf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x32xf32>
  %expanded_46 = tensor.expand_shape %22 [[0], [1], [2, 3]] output_shape [1, 17, 2, 16] : tensor<1x17x32xf32> into tensor<1x17x2x16xf32>
  %23 = tensor.empty() : tensor<1x2x17x16xf32>
  %transposed_47 = linalg.transpose ins(%expanded_46 : tensor<1x17x2x16xf32>) outs(%23 : tensor<1x2x17x16xf32>) permutation = [0, 2, 1, 3] 
  %collapsed_48 = tensor.collapse_shape %17 [[0, 1], [2]] : tensor<1x17x32xf32> into tensor<17x32xf32>
  %24 = tensor.empty() : tensor<17x32xf32>
  %cst_49 = arith.constant 0.000000e+00 : f32
  %25 = linalg.fill ins(%cst_49 : f32) outs(%24 : tensor<17x32xf32>) -> tensor<17x32xf32>
  %26 = linalg.matmul ins(%collapsed_48, %cst_8 : tensor<17x32xf32>, tensor<32x32xf32>) outs(%25 : tensor<17x32xf32>) -> tensor<17x32xf32>
  %expanded_50 = tensor.expand_shape %26 [[0, 1], [2]] output_shape [1, 17, 32] : tensor<17x32xf32> into tensor<1x17x32xf32>
  %27 = tensor.empty() : tensor<1x17x32xf32>
  %28 = linalg.generic {indexing_maps = [#map3, #map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%cst_9, %expanded_50 : tensor<32xf32>, tensor<1x17x32xf32>) outs(%27 : tensor<1x17x32xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.addf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x32xf32>
  %expanded_51 = tensor.expand_shape %28 [[0], [1], [2, 3]] output_shape [1, 17, 2, 16] : tensor<1x17x32xf32> into tensor<1x17x2x16xf32>
  %collapsed_52 = tensor.collapse_shape %17 [[0, 1], [2]] : tensor<1x17x32xf32> into tensor<17x32xf32>
  %29 = tensor.empty() : tensor<17x32xf32>
  %cst_53 = arith.constant 0.000000e+00 : f32
  %30 = linalg.fill ins(%cst_53 : f32) outs(%29 : tensor<17x32xf32>) -> tensor<17x32xf32>
  %31 = linalg.matmul ins(%collapsed_52, %cst_10 : tensor<17x32xf32>, tensor<32x32xf32>) outs(%30 : tensor<17x32xf32>) -> tensor<17x32xf32>
  %expanded_54 = tensor.expand_shape %31 [[0, 1], [2]] output_shape [1, 17, 32] : tensor<17x32xf32> into tensor<1x17x32xf32>
  %32 = tensor.empty() : tensor<1x17x32xf32>
  %33 = linalg.generic {indexing_maps = [#map3, #map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%cst_11, %expanded_54 : tensor<32xf32>, tensor<1x17x32xf32>) outs(%32 : tensor<1x17x32xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.addf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x32xf32>
  %expanded_55 = tensor.expand_shape %33 [[0], [1], [2, 3]] output_shape [1, 17, 2, 16] : tensor<1x17x32xf32> into tensor<1x17x2x16xf32>
  %34 = tensor.empty() : tensor<1x2x17x16xf32>
  %transposed_56 = linalg.transpose ins(%expanded_55 : tensor<1x17x2x16xf32>) outs(%34 : tensor<1x2x17x16xf32>) permutation = [0, 2, 1, 3] 
  %35 = tensor.empty() : tensor<1x2x16x17xf32>
  %transposed_57 = linalg.transpose ins(%expanded_51 : tensor<1x17x2x16xf32>) outs(%35 : tensor<1x2x16x17xf32>) permutation = [0, 2, 3, 1] 
  %collapsed_58 = tensor.collapse_shape %transposed_47 [[0, 1], [2], [3]] : tensor<1x2x17x16xf32> into tensor<2x17x16xf32>
  %collapsed_59 = tensor.collapse_shape %transposed_57 [[0, 1], [2], [3]] : tensor<1x2x16x17xf32> into tensor<2x16x17xf32>
  %36 = tensor.empty() : tensor<2x17x17xf32>
  %cst_60 = arith.constant 0.000000e+00 : f32
  %37 = linalg.fill ins(%cst_60 : f32) outs(%36 : tensor<2x17x17xf32>) -> tensor<2x17x17xf32>
  %38 = linalg.batch_matmul ins(%collapsed_58, %collapsed_59 : tensor<2x17x16xf32>, tensor<2x16x17xf32>) outs(%37 : tensor<2x17x17xf32>) -> tensor<2x17x17xf32>
  %expanded_61 = tensor.expand_shape %38 [[0, 1], [2], [3]] output_shape [1, 2, 17, 17] : tensor<2x17x17xf32> into tensor<1x2x17x17xf32>
  %39 = tensor.empty() : tensor<1x2x17x17xf32>
  %40 = linalg.generic {indexing_maps = [#map4, #map5, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%expanded_61, %cst_12 : tensor<1x2x17x17xf32>, tensor<f32>) outs(%39 : tensor<1x2x17x17xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.divf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x2x17x17xf32>
  %cst_62 = arith.constant 0xFF800000 : f32
  %41 = tensor.empty() : tensor<1x2x17xf32>
  %42 = linalg.fill ins(%cst_62 : f32) outs(%41 : tensor<1x2x17xf32>) -> tensor<1x2x17xf32>
  %reduced_63 = linalg.reduce ins(%40 : tensor<1x2x17x17xf32>) outs(%42 : tensor<1x2x17xf32>) dimensions = [3] 
    (%in: f32, %init: f32) {
      %200 = arith.maximumf %in, %init : f32
      linalg.yield %200 : f32
    }
  %43 = tensor.empty() : tensor<1x2x17x17xf32>
  %44 = linalg.generic {indexing_maps = [#map4, #map6, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%40, %reduced_63 : tensor<1x2x17x17xf32>, tensor<1x2x17xf32>) outs(%43 : tensor<1x2x17x17xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.subf %in, %in_137 : f32
    %201 = math.exp %200 : f32
    linalg.yield %201 : f32
  } -> tensor<1x2x17x17xf32>
  %cst_64 = arith.constant 0.000000e+00 : f32
  %45 = tensor.empty() : tensor<1x2x17xf32>
  %46 = linalg.fill ins(%cst_64 : f32) outs(%45 : tensor<1x2x17xf32>) -> tensor<1x2x17xf32>
  %reduced_65 = linalg.reduce ins(%44 : tensor<1x2x17x17xf32>) outs(%46 : tensor<1x2x17xf32>) dimensions = [3] 
    (%in: f32, %init: f32) {
      %200 = arith.addf %in, %init : f32
      linalg.yield %200 : f32
    }
  %47 = tensor.empty() : tensor<1x2x17x17xf32>
  %48 = linalg.generic {indexing_maps = [#map4, #map6, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%44, %reduced_65 : tensor<1x2x17x17xf32>, tensor<1x2x17xf32>) outs(%47 : tensor<1x2x17x17xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.divf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x2x17x17xf32>
  %collapsed_66 = tensor.collapse_shape %48 [[0, 1], [2], [3]] : tensor<1x2x17x17xf32> into tensor<2x17x17xf32>
  %collapsed_67 = tensor.collapse_shape %transposed_56 [[0, 1], [2], [3]] : tensor<1x2x17x16xf32> into tensor<2x17x16xf32>
  %49 = tensor.empty() : tensor<2x17x16xf32>
  %cst_68 = arith.constant 0.000000e+00 : f32
  %50 = linalg.fill ins(%cst_68 : f32) outs(%49 : tensor<2x17x16xf32>) -> tensor<2x17x16xf32>
  %51 = linalg.batch_matmul ins(%collapsed_66, %collapsed_67 : tensor<2x17x17xf32>, tensor<2x17x16xf32>) outs(%50 : tensor<2x17x16xf32>) -> tensor<2x17x16xf32>
  %expanded_69 = tensor.expand_shape %51 [[0, 1], [2], [3]] output_shape [1, 2, 17, 16] : tensor<2x17x16xf32> into tensor<1x2x17x16xf32>
  %52 = tensor.empty() : tensor<1x17x2x16xf32>
  %transposed_70 = linalg.transpose ins(%expanded_69 : tensor<1x2x17x16xf32>) outs(%52 : tensor<1x17x2x16xf32>) permutation = [0, 2, 1, 3] 
  %collapsed_71 = tensor.collapse_shape %transposed_70 [[0], [1], [2, 3]] : tensor<1x17x2x16xf32> into tensor<1x17x32xf32>
  %collapsed_72 = tensor.collapse_shape %collapsed_71 [[0, 1], [2]] : tensor<1x17x32xf32> into tensor<17x32xf32>
  %53 = tensor.empty() : tensor<17x32xf32>
  %cst_73 = arith.constant 0.000000e+00 : f32
  %54 = linalg.fill ins(%cst_73 : f32) outs(%53 : tensor<17x32xf32>) -> tensor<17x32xf32>
  %55 = linalg.matmul ins(%collapsed_72, %cst_13 : tensor<17x32xf32>, tensor<32x32xf32>) outs(%54 : tensor<17x32xf32>) -> tensor<17x32xf32>
  %expanded_74 = tensor.expand_shape %55 [[0, 1], [2]] output_shape [1, 17, 32] : tensor<17x32xf32> into tensor<1x17x32xf32>
  %56 = tensor.empty() : tensor<1x17x32xf32>
  %57 = linalg.generic {indexing_maps = [#map3, #map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%cst_14, %expanded_74 : tensor<32xf32>, tensor<1x17x32xf32>) outs(%56 : tensor<1x17x32xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.addf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x32xf32>
  %58 = tensor.empty() : tensor<1x17x32xf32>
  %59 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x, %57 : tensor<1x17x32xf32>, tensor<1x17x32xf32>) outs(%58 : tensor<1x17x32xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.addf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x32xf32>
  %cst_75 = arith.constant 0.000000e+00 : f32
  %60 = tensor.empty() : tensor<1x17xf32>
  %61 = linalg.fill ins(%cst_75 : f32) outs(%60 : tensor<1x17xf32>) -> tensor<1x17xf32>
  %reduced_76 = linalg.reduce ins(%59 : tensor<1x17x32xf32>) outs(%61 : tensor<1x17xf32>) dimensions = [2] 
    (%in: f32, %init: f32) {
      %200 = arith.addf %in, %init : f32
      linalg.yield %200 : f32
    }
  %62 = tensor.empty() : tensor<1x17xf32>
  %63 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel", "parallel"]} ins(%reduced_76 : tensor<1x17xf32>) outs(%62 : tensor<1x17xf32>) {
  ^bb0(%in: f32, %out: f32):
    %cst_137 = arith.constant 3.200000e+01 : f32
    %200 = arith.divf %in, %cst_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17xf32>
  %64 = tensor.empty() : tensor<1x17x32xf32>
  %65 = linalg.generic {indexing_maps = [#map, #map2, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%59, %63 : tensor<1x17x32xf32>, tensor<1x17xf32>) outs(%64 : tensor<1x17x32xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.subf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x32xf32>
  %cst_77 = arith.constant 0.000000e+00 : f32
  %66 = tensor.empty() : tensor<1x17xf32>
  %67 = linalg.fill ins(%cst_77 : f32) outs(%66 : tensor<1x17xf32>) -> tensor<1x17xf32>
  %reduced_78 = linalg.reduce ins(%65 : tensor<1x17x32xf32>) outs(%67 : tensor<1x17xf32>) dimensions = [2] 
    (%in: f32, %init: f32) {
      %200 = arith.mulf %in, %in : f32
      %201 = arith.addf %200, %init : f32
      linalg.yield %201 : f32
    }
  %68 = tensor.empty() : tensor<1x17xf32>
  %69 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel", "parallel"]} ins(%reduced_78 : tensor<1x17xf32>) outs(%68 : tensor<1x17xf32>) {
  ^bb0(%in: f32, %out: f32):
    %cst_137 = arith.constant 3.200000e+01 : f32
    %200 = arith.divf %in, %cst_137 : f32
    %cst_138 = arith.constant 9.99999974E-6 : f32
    %201 = arith.addf %200, %cst_138 : f32
    %202 = math.sqrt %201 : f32
    %cst_139 = arith.constant 1.000000e+00 : f32
    %203 = arith.divf %cst_139, %202 : f32
    linalg.yield %203 : f32
  } -> tensor<1x17xf32>
  %70 = tensor.empty() : tensor<1x17x32xf32>
  %71 = linalg.generic {indexing_maps = [#map, #map2, #map3, #map3, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%65, %69, %cst_0, %cst : tensor<1x17x32xf32>, tensor<1x17xf32>, tensor<32xf32>, tensor<32xf32>) outs(%70 : tensor<1x17x32xf32>) {
  ^bb0(%in: f32, %in_137: f32, %in_138: f32, %in_139: f32, %out: f32):
    %200 = arith.mulf %in, %in_137 : f32
    %201 = arith.mulf %200, %in_138 : f32
    %202 = arith.addf %201, %in_139 : f32
    linalg.yield %202 : f32
  } -> tensor<1x17x32xf32>
  %collapsed_79 = tensor.collapse_shape %71 [[0, 1], [2]] : tensor<1x17x32xf32> into tensor<17x32xf32>
  %72 = tensor.empty() : tensor<17x64xf32>
  %cst_80 = arith.constant 0.000000e+00 : f32
  %73 = linalg.fill ins(%cst_80 : f32) outs(%72 : tensor<17x64xf32>) -> tensor<17x64xf32>
  %74 = linalg.matmul ins(%collapsed_79, %cst_15 : tensor<17x32xf32>, tensor<32x64xf32>) outs(%73 : tensor<17x64xf32>) -> tensor<17x64xf32>
  %expanded_81 = tensor.expand_shape %74 [[0, 1], [2]] output_shape [1, 17, 64] : tensor<17x64xf32> into tensor<1x17x64xf32>
  %75 = tensor.empty() : tensor<1x17x64xf32>
  %76 = linalg.generic {indexing_maps = [#map3, #map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%cst_16, %expanded_81 : tensor<64xf32>, tensor<1x17x64xf32>) outs(%75 : tensor<1x17x64xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.addf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x64xf32>
  %77 = tensor.empty() : tensor<1x17x64xf32>
  %78 = linalg.generic {indexing_maps = [#map, #map7, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%76, %cst_17 : tensor<1x17x64xf32>, tensor<f32>) outs(%77 : tensor<1x17x64xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.divf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x64xf32>
  %79 = tensor.empty() : tensor<1x17x64xf32>
  %80 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%78 : tensor<1x17x64xf32>) outs(%79 : tensor<1x17x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %200 = math.erf %in : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x64xf32>
  %81 = tensor.empty() : tensor<1x17x64xf32>
  %82 = linalg.generic {indexing_maps = [#map, #map7, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%80, %cst_18 : tensor<1x17x64xf32>, tensor<f32>) outs(%81 : tensor<1x17x64xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.addf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x64xf32>
  %83 = tensor.empty() : tensor<1x17x64xf32>
  %84 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%76, %82 : tensor<1x17x64xf32>, tensor<1x17x64xf32>) outs(%83 : tensor<1x17x64xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.mulf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x64xf32>
  %85 = tensor.empty() : tensor<1x17x64xf32>
  %86 = linalg.generic {indexing_maps = [#map, #map7, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%84, %cst_19 : tensor<1x17x64xf32>, tensor<f32>) outs(%85 : tensor<1x17x64xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.mulf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x64xf32>
  %collapsed_82 = tensor.collapse_shape %86 [[0, 1], [2]] : tensor<1x17x64xf32> into tensor<17x64xf32>
  %87 = tensor.empty() : tensor<17x32xf32>
  %cst_83 = arith.constant 0.000000e+00 : f32
  %88 = linalg.fill ins(%cst_83 : f32) outs(%87 : tensor<17x32xf32>) -> tensor<17x32xf32>
  %89 = linalg.matmul ins(%collapsed_82, %cst_20 : tensor<17x64xf32>, tensor<64x32xf32>) outs(%88 : tensor<17x32xf32>) -> tensor<17x32xf32>
  %expanded_84 = tensor.expand_shape %89 [[0, 1], [2]] output_shape [1, 17, 32] : tensor<17x32xf32> into tensor<1x17x32xf32>
  %90 = tensor.empty() : tensor<1x17x32xf32>
  %91 = linalg.generic {indexing_maps = [#map3, #map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%cst_21, %expanded_84 : tensor<32xf32>, tensor<1x17x32xf32>) outs(%90 : tensor<1x17x32xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.addf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x32xf32>
  %92 = tensor.empty() : tensor<1x17x32xf32>
  %93 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%59, %91 : tensor<1x17x32xf32>, tensor<1x17x32xf32>) outs(%92 : tensor<1x17x32xf32>) {
  ^bb0(%in: f32, %in_137: f32, %out: f32):
    %200 = arith.addf %in, %in_137 : f32
    linalg.yield %200 : f32
  } -> tensor<1x17x32xf32>
  return %93 : tensor<1x17x32xf32>
}
)mlir";

TEST_F(CostModelTest, ElementBytes) {
  Builder b(&context);
  EXPECT_EQ(getElementBytes(b.getI1Type()), 1);
  EXPECT_EQ(getElementBytes(b.getIntegerType(4)), 1);
  EXPECT_EQ(getElementBytes(b.getBF16Type()), 2);
  EXPECT_EQ(getElementBytes(b.getF32Type()), 4);
  EXPECT_EQ(getElementBytes(b.getIndexType()), 8);
  EXPECT_EQ(getElementBytes(ComplexType::get(b.getF32Type())), 8);
  EXPECT_EQ(getShapedBytes(RankedTensorType::get({3, 5}, b.getI1Type())), 15);
  EXPECT_EQ(getShapedBytes(RankedTensorType::get({ShapedType::kDynamic, 5},
                                                 b.getF32Type())),
            std::nullopt);
  EXPECT_EQ(getShapedBytes(b.getF32Type()), std::nullopt);
}

TEST_F(CostModelTest, Matmul) {
  parse(kMatmul);
  func::FuncOp func = function("matmul");
  ASSERT_TRUE(func);

  // One op: 2·M·K·N; reads A, B and the accumulator, writes the result.
  OpCost matmul = estimateOpCost(tagged(func, "matmul").getDefiningOp());
  EXPECT_TRUE(matmul.modelled);
  EXPECT_EQ(matmul.flops, 2 * 4 * 8 * 16);
  EXPECT_EQ(matmul.bytes, 4 * 8 * 4 + 8 * 16 * 4 + 2 * 4 * 16 * 4);
  // A fill only writes.
  OpCost fill = estimateOpCost(tagged(func, "fill").getDefiningOp());
  EXPECT_EQ(fill.flops, 0);
  EXPECT_EQ(fill.bytes, 4 * 16 * 4);

  FunctionCost cost = estimateFunctionCost(func);
  EXPECT_EQ(cost.flops, 1024);
  EXPECT_EQ(cost.bytesMoved, 1408);
  EXPECT_EQ(cost.paramBytes, 0);
  EXPECT_EQ(cost.peakActivationBytes, 256);
  EXPECT_EQ(cost.naiveActivationBytes, 512);
  EXPECT_FALSE(cost.fullPathOnly);
  EXPECT_EQ(cost.getNumUnmodelledOps(), 0);

  // The zero fill only initialises the matmul's accumulator: the plan
  // redoes it in the matmul's buffer, so only the matmul has a slot.
  ArenaPlan plan = planArena(func);
  ASSERT_EQ(plan.buffers.size(), 1u);
  EXPECT_FALSE(plan.lookup(tagged(func, "fill")));
  std::optional<ArenaPlan::Slot> matmulSlot =
      plan.lookup(tagged(func, "matmul"));
  ASSERT_TRUE(matmulSlot);
  EXPECT_EQ(matmulSlot->offset, 0);
  EXPECT_EQ(matmulSlot->size, 256);
  // Arguments live outside the arena.
  EXPECT_FALSE(plan.lookup(func.getArgument(0)));
}

TEST_F(CostModelTest, Attention) {
  parse(kAttention);
  func::FuncOp func = function("attention");
  ASSERT_TRUE(func);
  FunctionCost cost = estimateFunctionCost(func);
  // 2·1·8·16·8 + softmax 5·8 per row · 8 rows + 2·1·8·8·16.
  EXPECT_EQ(cost.flops, 2048 + 320 + 2048);
  EXPECT_EQ(cost.bytesMoved, 6912);
  EXPECT_EQ(cost.peakActivationBytes, 768);
  EXPECT_EQ(cost.naiveActivationBytes, 2688);
  EXPECT_EQ(estimateOpCost(tagged(func, "scores").getDefiningOp()).flops,
            2048);

  ArenaPlan plan = planArena(func);
  EXPECT_EQ(plan.arenaBytes, 768);
  EXPECT_EQ(plan.maxLiveBytes, 768);
  // Softmax runs in place on the scores.
  std::optional<ArenaPlan::Slot> scores = plan.lookup(tagged(func, "scores"));
  std::optional<ArenaPlan::Slot> probs = plan.lookup(tagged(func, "probs"));
  ASSERT_TRUE(scores && probs);
  EXPECT_EQ(scores->offset, probs->offset);
  // K^T and the output are never live together: they may share bytes, and
  // neither overlaps the scores while both are live.
  std::optional<ArenaPlan::Slot> kt = plan.lookup(tagged(func, "kt"));
  std::optional<ArenaPlan::Slot> out = plan.lookup(tagged(func, "out"));
  ASSERT_TRUE(kt && out);
  auto disjoint = [](ArenaPlan::Slot a, ArenaPlan::Slot b) {
    return a.offset + a.size <= b.offset || b.offset + b.size <= a.offset;
  };
  EXPECT_TRUE(disjoint(*kt, *scores));
  EXPECT_TRUE(disjoint(*out, *scores));
}

TEST_F(CostModelTest, VitLayer) {
  parse(kVitLayer);
  func::FuncOp func = function("vit_layer");
  ASSERT_TRUE(func);
  FunctionCost cost = estimateFunctionCost(func);
  EXPECT_EQ(cost.flops, 337110);
  EXPECT_EQ(cost.bytesMoved, 273552);
  EXPECT_EQ(cost.paramBytes, 33936);
  EXPECT_EQ(cost.peakActivationBytes, 10880);
  EXPECT_EQ(cost.naiveActivationBytes, 106488);
  EXPECT_EQ(cost.getNumUnmodelledOps(), 0);
  // The plan packs without gaps here: the arena is the liveness bound.
  ArenaPlan plan = planArena(func);
  EXPECT_EQ(plan.arenaBytes, plan.maxLiveBytes);
  // Every buffer lies inside the arena and buffers live at the same time
  // never overlap.
  for (const ArenaPlan::Buffer &a : plan.buffers) {
    EXPECT_LE(a.offset + a.size, plan.arenaBytes);
    for (const ArenaPlan::Buffer &b : plan.buffers) {
      if (&a == &b || a.lastPos < b.firstPos || b.lastPos < a.firstPos)
        continue;
      EXPECT_TRUE(a.offset + a.size <= b.offset ||
                  b.offset + b.size <= a.offset);
    }
  }
}

TEST_F(CostModelTest, AlignmentRoundsPlacement) {
  // Two 68-byte buffers live together: 136 bytes exact; with 64-byte
  // alignment each occupies 128 (offsets and sizes rounded up): 256.
  parse(R"mlir(
func.func @two(%x: tensor<17xf32>) -> (tensor<17xf32>, tensor<17xf32>) {
  %e = tensor.empty() : tensor<17xf32>
  %a = linalg.transpose ins(%x : tensor<17xf32>) outs(%e : tensor<17xf32>) permutation = [0]
  %b = linalg.transpose ins(%x : tensor<17xf32>) outs(%e : tensor<17xf32>) permutation = [0]
  return %a, %b : tensor<17xf32>, tensor<17xf32>
}
)mlir");
  func::FuncOp func = function("two");
  EXPECT_EQ(planArena(func).arenaBytes, 136);
  CostOptions aligned;
  aligned.alignment = 64;
  EXPECT_EQ(planArena(func, aligned).arenaBytes, 256);
}

// The shared planner (tac/Analysis/ArenaPlanner.h) that the cost model and
// the backend's plan builder both call.
TEST(ArenaPlannerTest, ReusesDeadBytesAndKeepsLiveOnesApart) {
  // a [0,1] and b [2,3] never live together: they share bytes; c [1,2]
  // overlaps both; d has no bytes.
  std::vector<ArenaRequest> requests = {
      {100, 0, 1}, {100, 2, 3}, {50, 1, 2}, {0, 0, 3}};
  ArenaLayout layout = placeArena(requests);
  EXPECT_EQ(layout.arenaBytes, 150);
  EXPECT_EQ(layout.maxLiveBytes, 150);
  EXPECT_EQ(layout.offsets[0], layout.offsets[1]);
  EXPECT_FALSE(findArenaConflict(requests, layout).has_value());

  // 64-byte alignment: sizes round up to 128 and 64, offsets are multiples.
  ArenaLayout aligned = placeArena(requests, 64);
  EXPECT_EQ(aligned.arenaBytes, 192);
  for (int64_t offset : aligned.offsets)
    EXPECT_EQ(offset % 64, 0);
  EXPECT_FALSE(findArenaConflict(requests, aligned, 64).has_value());

  // The checker finds two live buffers on the same bytes.
  ArenaLayout bad = layout;
  bad.offsets[2] = bad.offsets[0];
  EXPECT_TRUE(findArenaConflict(requests, bad).has_value());
}

TEST(ArenaPlannerTest, ReachesTheLiveBound) {
  // At most 160 bytes are live at once (position 0: 96 + 64); the placement
  // leaves no gap.
  std::vector<ArenaRequest> requests = {
      {96, 0, 0}, {64, 1, 2}, {64, 0, 1}, {32, 2, 3}, {32, 3, 3}};
  ArenaLayout layout = placeArena(requests);
  EXPECT_FALSE(findArenaConflict(requests, layout).has_value());
  EXPECT_EQ(layout.maxLiveBytes, 160);
  EXPECT_EQ(layout.arenaBytes, 160);
}

TEST_F(CostModelTest, UnknownOpsAreListedNotFatal) {
  parse(R"mlir(
func.func @unknown(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "foo.bar"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %z = "foo.bar"(%y) : (tensor<4xf32>) -> tensor<4xf32>
  return %z : tensor<4xf32>
}
)mlir");
  FunctionCost cost = estimateFunctionCost(function("unknown"));
  EXPECT_EQ(cost.flops, 0);
  EXPECT_EQ(cost.bytesMoved, 64);
  EXPECT_EQ(cost.getNumUnmodelledOps(), 2);
  EXPECT_EQ(cost.unmodelledOps["foo.bar"], 2);
}

TEST_F(CostModelTest, ModuleVariantsAndReport) {
  parse(R"mlir(
func.func @main(%sel: index, %x: tensor<8x8xf32>, %w: tensor<8x8xf32>) -> tensor<8x8xf32>
    attributes {tac.variants = [@main_path0, @main_path1]} {
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<8x8xf32>)
  layer (%h) {
    %e = tensor.empty() : tensor<8x8xf32>
    %m = linalg.matmul ins(%h, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
    tac.yield %m : tensor<8x8xf32>
  }
  layer (%h) {
    %e = tensor.empty() : tensor<8x8xf32>
    %m = linalg.matmul ins(%h, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
    tac.yield %m : tensor<8x8xf32>
  }
  return %y : tensor<8x8xf32>
}
func.func @main_path0(%x: tensor<8x8xf32>, %w: tensor<8x8xf32>) -> tensor<8x8xf32> attributes {tac.path = 0 : i64} {
  %e = tensor.empty() : tensor<8x8xf32>
  %m = linalg.matmul ins(%x, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  return %m : tensor<8x8xf32>
}
func.func @main_path1(%x: tensor<8x8xf32>, %w: tensor<8x8xf32>) -> tensor<8x8xf32> attributes {tac.path = 1 : i64} {
  %e = tensor.empty() : tensor<8x8xf32>
  %m = linalg.matmul ins(%x, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  %m1 = linalg.matmul ins(%m, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  return %m1 : tensor<8x8xf32>
}
)mlir");
  ModuleCost cost = estimateModuleCost(*module);
  ASSERT_EQ(cost.functions.size(), 3u);
  const FunctionCostEntry &main = cost.functions[0];
  const FunctionCostEntry &path0 = cost.functions[1];
  const FunctionCostEntry &path1 = cost.functions[2];
  EXPECT_TRUE(main.cost.fullPathOnly);
  EXPECT_EQ(main.cost.flops, 2048);
  EXPECT_FALSE(main.fractionOfFull);
  EXPECT_EQ(path0.path, 0);
  EXPECT_EQ(path0.fullPathFunction, "main_path1");
  ASSERT_TRUE(path0.fractionOfFull);
  EXPECT_DOUBLE_EQ(*path0.fractionOfFull, 0.5);
  EXPECT_DOUBLE_EQ(*path1.fractionOfFull, 1.0);
  EXPECT_TRUE(cost.arenaOverVariants);
  SmallVector<func::FuncOp> variants = {function("main_path0"),
                                        function("main_path1")};
  EXPECT_EQ(cost.arenaBytes, planArenaAcrossVariants(variants));
  EXPECT_EQ(cost.arenaBytes, 512);

  attachCostAttributes(*module, cost);
  auto arena = (*module)->getAttrOfType<IntegerAttr>(TacDialect::kArenaBytesAttrName);
  ASSERT_TRUE(arena);
  EXPECT_EQ(arena.getInt(), 512);
  EXPECT_TRUE(function("main")->hasAttr(TacDialect::kCostNoteAttrName));
  EXPECT_FALSE(function("main_path0")->hasAttr(TacDialect::kCostNoteAttrName));
  std::optional<FunctionCost> read = FunctionCost::fromAttribute(
      function("main_path1")->getAttrOfType<CostAttr>(TacDialect::kCostAttrName));
  ASSERT_TRUE(read);
  EXPECT_EQ(read->flops, path1.cost.flops);
  EXPECT_EQ(read->peakActivationBytes, path1.cost.peakActivationBytes);

  std::string report;
  llvm::raw_string_ostream os(report);
  printCostReport(cost, os);
  EXPECT_NE(report.find("function     path  flops  bytes_moved  param_bytes  "
                        "peak_act_bytes  naive_act_bytes  act_saved  "
                        "flops_vs_full\n"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("@main_path0  0      1024"), std::string::npos)
      << report;
  EXPECT_NE(report.find("arena_bytes: 512 (max peak_act_bytes over 2 "
                        "variants)"),
            std::string::npos)
      << report;
}

} // namespace
