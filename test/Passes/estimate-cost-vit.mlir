// RUN: tac-opt %s --tac-estimate-cost | FileCheck %s
// RUN: tac-opt %S/../Import/Models/vit_tiny.onnx --tac-estimate-cost | FileCheck %s --check-prefix=MODEL

// One pre-norm ViT encoder layer exactly as the importer emits it (layer 0
// of test/Import/Models/vit_tiny.onnx: tokens T = 17, width D = 32, 2 heads
// of 16, MLP 64; weights replaced by distinct splat constants), checked
// against a hand count. Then the whole model, imported on the fly.
//
// FLOPs (see docs/passes/estimate-cost.md for the conventions)
//   LayerNorm, per row of n = 32: 7n + 5 (sum n, mean 1, centre n,
//     sum of squares 2n, rstd 4 = div, add, sqrt, div, scale+shift 3n);
//     17 rows                                     2 x  3893 =   7786
//   Q, K, V, out projections: 2·17·32·32 + bias 17·32
//                                                 4 x 35360 = 141440
//   scores Q·K^T: 2·B·M·K·N = 2·2·17·16·17                 =  18496
//   scale (divide by 4): 2·17·17                           =    578
//   softmax, 5n per row (max n, sub+exp 2n, sum n, div n),
//     n = 17, 34 rows: 85·34                               =   2890
//   P·V: 2·2·17·17·16                                      =  18496
//   fc1 2·17·32·64 + bias 17·64                            =  70720
//   GELU (erf form: div, erf, add, mul, mul) 5·17·64       =   5440
//   fc2 2·17·64·32 + bias 17·32                            =  70176
//   2 residual adds 2·17·32                                =   1088
//                                               total flops = 337110
//
// bytes moved (X = 17x32 f32 = 2176, H = 17x64 f32 = 4352, S = 2x17x17 f32
// = 2312, a row statistic 17 f32 = 68, per head 2x17 f32 = 136):
//   LayerNorm: fill 68, sum X+68+68, mean 68+68, centre X+68+X, fill 68,
//     sum of squares X+68+68, rstd 68+68, scale+shift X+68+128+128+X
//                                                 2 x 14128 =  28256
//   projection: fill X, matmul X+4096+X+X, bias 128+X+X
//                                                 4 x 17280 =  69120
//   4 head transposes (Q, K, V, back) 2X each              =  17408
//   scores: fill S, batch_matmul X+X+S+S                   =  11288
//   scale: S+4+S                                           =   4628
//   softmax: fill 136, max S+136+136, sub/exp S+136+S, fill 136,
//     sum S+136+136, divide S+136+S                        =  14960
//   P·V: fill X, batch_matmul S+X+X+X                      =  11016
//   fc1: fill H, matmul X+8192+H+H, bias 256+H+H           =  32384
//   GELU: div H+4+H, erf H+H, add H+4+H, mul H+H+H, mul H+4+H =  47884
//   fc2: fill X, matmul H+8192+X+X, bias 128+X+X           =  23552
//   2 residual adds 3X each                                =  13056
//                                         total bytes_moved = 273552
//
// param_bytes: LN scale and bias (shared by both norms) 2·32, Q/K/V/out
//   4·(32·32 + 32), fc1 32·64 + 64, fc2 64·32 + 32, 4 scalars
//   = 8484 floats                                            =  33936
//
// Activation plan: the layer input is an argument (outside the arena). The
// peak is in the MLP: the residual stream (X) + fc1's output (H, still read
// by the final GELU multiply) + the GELU temporaries computed in place in one
// more H: 2176 + 2·4352                     peak_activation_bytes = 10880
// naive (one buffer per written value): LayerNorm 2·(6·68 + 2X) = 9520,
//   projections (fill, matmul, bias) 4·3X = 26112, transposes 4X = 8704,
//   scores + scale 3S = 6936, softmax 2S + 4·136 = 5168, P·V 2X = 4352,
//   residual adds 2X = 4352, fc1 3H = 13056, GELU 5H = 21760,
//   fc2 3X = 6528                          naive_activation_bytes = 106488
//
// CHECK-LABEL: func.func @vit_layer
// CHECK-SAME: tac.cost = #tac.cost<flops = 337110, bytes_moved = 273552, param_bytes = 33936, peak_activation_bytes = 10880, naive_activation_bytes = 106488>

// The whole model: patch embedding conv 2·32·4·4·1·7·7 = 50176, position
// add 17·32 = 544, 2 layers 2·337110 = 674220, final LayerNorm 3893,
// classifier 2·1·32·10 + 10 = 650:                      flops = 729483.
// Weights: 19406 floats (the two layers' LayerNorms share one scale and
// one bias; equal scalar constants count once)    param_bytes = 77624.
// bytes_moved: 2 layers 2·273552, embedding 30656 (bias broadcast 128 + 2048,
// conv 3136 + 6272 + 2048 + 2048, transpose 2·2048, class token and patch
// inserts 2·128 + 2·2048, position add 3·2176), final LayerNorm 14128, head
// 4208 (weight transpose 2·1280, fill 40, matmul 128 + 1280 + 40 + 40,
// bias 3·40)                                       bytes_moved = 596096.
// naive: 2 layers 2·106488, broadcast, conv and transpose 3·2048, inserts
// 2·2176, position add 2176, final LayerNorm 4760, head 1280 + 3·40
//                                                         naive = 231808.
// Peak: the attention of a layer with the residual stream live: Q^T, K^T,
// V^T, the residual and the scores 4·2176 + 2312 = 11016.
// MODEL: module attributes {tac.arena_bytes = 11016 : i64}
// MODEL: func.func @main
// MODEL-SAME: tac.cost = #tac.cost<flops = 729483, bytes_moved = 596096, param_bytes = 77624, peak_activation_bytes = 11016, naive_activation_bytes = 231808>
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
