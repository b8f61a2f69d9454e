// Elementwise producers fuse into all-parallel consumers only; a reshape
// between two elementwise ops (a GEMM's 2-D bias add, then the 3-D GELU or
// residual add) moves across the producer so the two fuse, while the
// GEMM itself stays a 2-D matmul the GEMM recogniser can take.
// RUN: tac-opt %s --tac-fuse-elementwise --split-input-file | FileCheck %s

#id2 = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @bias_then_gelu_across_reshape
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<20x128xf32>, tensor<128x512xf32>)
// CHECK: %[[C:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0, 1], [2]] output_shape [1, 20, 512] : tensor<20x512xf32> into tensor<1x20x512xf32>
// CHECK: %[[G:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME: ins(%[[C]], %{{.*}} : tensor<1x20x512xf32>, tensor<512xf32>)
// CHECK: arith.addf
// CHECK: math.tanh
// CHECK-NOT: linalg.generic
// CHECK: return %[[G]]
func.func @bias_then_gelu_across_reshape(%a: tensor<20x128xf32>, %w: tensor<128x512xf32>,
                                         %bias: tensor<512xf32>) -> tensor<1x20x512xf32> {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<20x512xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e0 : tensor<20x512xf32>) -> tensor<20x512xf32>
  %mm = linalg.matmul ins(%a, %w : tensor<20x128xf32>, tensor<128x512xf32>)
                      outs(%f : tensor<20x512xf32>) -> tensor<20x512xf32>
  %e1 = tensor.empty() : tensor<20x512xf32>
  %biased = linalg.generic {indexing_maps = [#id2, #col, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%mm, %bias : tensor<20x512xf32>, tensor<512xf32>) outs(%e1 : tensor<20x512xf32>) {
    ^bb0(%x: f32, %b: f32, %o: f32):
      %s = arith.addf %x, %b : f32
      linalg.yield %s : f32
  } -> tensor<20x512xf32>
  %r = tensor.expand_shape %biased [[0, 1], [2]] output_shape [1, 20, 512]
      : tensor<20x512xf32> into tensor<1x20x512xf32>
  %e2 = tensor.empty() : tensor<1x20x512xf32>
  %g = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%r : tensor<1x20x512xf32>) outs(%e2 : tensor<1x20x512xf32>) {
    ^bb0(%x: f32, %o: f32):
      %t = math.tanh %x : f32
      linalg.yield %t : f32
  } -> tensor<1x20x512xf32>
  return %g : tensor<1x20x512xf32>
}

// -----

// A reshape of a value something else also reads stays where it is: moving
// it would compute the bias add twice.
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @shared_producer_keeps_its_reshape
// CHECK: %[[B:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK: tensor.expand_shape %[[B]]
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel"]
func.func @shared_producer_keeps_its_reshape(%x: tensor<20x512xf32>, %bias: tensor<512xf32>)
    -> (tensor<20x512xf32>, tensor<1x20x512xf32>) {
  %e1 = tensor.empty() : tensor<20x512xf32>
  %biased = linalg.generic {indexing_maps = [#id2, #col, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x, %bias : tensor<20x512xf32>, tensor<512xf32>) outs(%e1 : tensor<20x512xf32>) {
    ^bb0(%v: f32, %b: f32, %o: f32):
      %s = arith.addf %v, %b : f32
      linalg.yield %s : f32
  } -> tensor<20x512xf32>
  %r = tensor.expand_shape %biased [[0, 1], [2]] output_shape [1, 20, 512]
      : tensor<20x512xf32> into tensor<1x20x512xf32>
  %e2 = tensor.empty() : tensor<1x20x512xf32>
  %g = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%r : tensor<1x20x512xf32>) outs(%e2 : tensor<1x20x512xf32>) {
    ^bb0(%v: f32, %o: f32):
      %t = math.tanh %v : f32
      linalg.yield %t : f32
  } -> tensor<1x20x512xf32>
  return %biased, %g : tensor<20x512xf32>, tensor<1x20x512xf32>
}

// -----

// A contraction read only by a transpose writes the transposed result
// itself (patch embedding: weight x patches, then patches x channels); its
// accumulator, a folded bias, is transposed at compile time (through the
// reshape between them), and a zero fill is redone on the transposed
// shape. An accumulator computed at run time leaves the two alone, as
// does an elementwise producer.
#w = affine_map<(d0, d1, d2, d3) -> (d1, d3)>
#x = affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>
#c = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[W:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d3)>
// CHECK-DAG: #[[X:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>
// CHECK-DAG: #[[CT:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d1)>
// CHECK-LABEL: func.func @patch_embedding_transposed
// CHECK: %[[B:.*]] = arith.constant dense<{{\[\[\[}}0.000000e+00, 3.000000e+00, 6.000000e+00, 9.000000e+00], [1.000000e+00, 4.000000e+00, 7.000000e+00, 1.000000e+01], [2.000000e+00, 5.000000e+00, 8.000000e+00, 1.100000e+01]]]> : tensor<1x3x4xf32>
// CHECK: %[[G:.*]] = linalg.generic {indexing_maps = [#[[W]], #[[X]], #[[CT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME: outs(%[[B]] : tensor<1x3x4xf32>)
// CHECK-NOT: linalg.transpose
// CHECK: return %[[G]]
// CHECK-LABEL: func.func @zero_filled
// CHECK: %[[E2:.*]] = tensor.empty() : tensor<1x3x4xf32>
// CHECK: %[[F:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E2]] : tensor<1x3x4xf32>)
// CHECK: linalg.generic
// CHECK-SAME: outs(%[[F]] : tensor<1x3x4xf32>)
// CHECK-NOT: linalg.transpose
// CHECK-LABEL: func.func @accumulator_from_the_run
// CHECK: linalg.generic
// CHECK-SAME: outs(%arg2 : tensor<1x4x3xf32>)
// CHECK: linalg.transpose
// CHECK-LABEL: func.func @elementwise_keeps_its_transpose
// CHECK: linalg.generic
// CHECK: linalg.transpose
func.func @patch_embedding_transposed(%w: tensor<4x6xf32>, %x: tensor<1x6x3xf32>) -> tensor<1x3x4xf32> {
  %b = arith.constant dense<[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]> : tensor<12xf32>
  %bias = tensor.expand_shape %b [[0, 1, 2]] output_shape [1, 4, 3] : tensor<12xf32> into tensor<1x4x3xf32>
  %y = linalg.generic {indexing_maps = [#w, #x, #c], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%w, %x : tensor<4x6xf32>, tensor<1x6x3xf32>) outs(%bias : tensor<1x4x3xf32>) {
    ^bb0(%a: f32, %v: f32, %o: f32):
      %m = arith.mulf %a, %v : f32
      %s = arith.addf %m, %o : f32
      linalg.yield %s : f32
  } -> tensor<1x4x3xf32>
  %e = tensor.empty() : tensor<1x3x4xf32>
  %t = linalg.transpose ins(%y : tensor<1x4x3xf32>) outs(%e : tensor<1x3x4xf32>) permutation = [0, 2, 1]
  return %t : tensor<1x3x4xf32>
}
func.func @zero_filled(%w: tensor<4x6xf32>, %x: tensor<1x6x3xf32>) -> tensor<1x3x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<1x4x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e0 : tensor<1x4x3xf32>) -> tensor<1x4x3xf32>
  %y = linalg.generic {indexing_maps = [#w, #x, #c], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%w, %x : tensor<4x6xf32>, tensor<1x6x3xf32>) outs(%f : tensor<1x4x3xf32>) {
    ^bb0(%a: f32, %v: f32, %o: f32):
      %m = arith.mulf %a, %v : f32
      %s = arith.addf %m, %o : f32
      linalg.yield %s : f32
  } -> tensor<1x4x3xf32>
  %e = tensor.empty() : tensor<1x3x4xf32>
  %t = linalg.transpose ins(%y : tensor<1x4x3xf32>) outs(%e : tensor<1x3x4xf32>) permutation = [0, 2, 1]
  return %t : tensor<1x3x4xf32>
}
func.func @accumulator_from_the_run(%w: tensor<4x6xf32>, %x: tensor<1x6x3xf32>,
                                    %acc: tensor<1x4x3xf32>) -> tensor<1x3x4xf32> {
  %y = linalg.generic {indexing_maps = [#w, #x, #c], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%w, %x : tensor<4x6xf32>, tensor<1x6x3xf32>) outs(%acc : tensor<1x4x3xf32>) {
    ^bb0(%a: f32, %v: f32, %o: f32):
      %m = arith.mulf %a, %v : f32
      %s = arith.addf %m, %o : f32
      linalg.yield %s : f32
  } -> tensor<1x4x3xf32>
  %e = tensor.empty() : tensor<1x3x4xf32>
  %t = linalg.transpose ins(%y : tensor<1x4x3xf32>) outs(%e : tensor<1x3x4xf32>) permutation = [0, 2, 1]
  return %t : tensor<1x3x4xf32>
}
func.func @elementwise_keeps_its_transpose(%x: tensor<1x4x3xf32>) -> tensor<1x3x4xf32> {
  %e0 = tensor.empty() : tensor<1x4x3xf32>
  %y = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x : tensor<1x4x3xf32>) outs(%e0 : tensor<1x4x3xf32>) {
    ^bb0(%a: f32, %o: f32):
      %t = math.tanh %a : f32
      linalg.yield %t : f32
  } -> tensor<1x4x3xf32>
  %e = tensor.empty() : tensor<1x3x4xf32>
  %t = linalg.transpose ins(%y : tensor<1x4x3xf32>) outs(%e : tensor<1x3x4xf32>) permutation = [0, 2, 1]
  return %t : tensor<1x3x4xf32>
}
