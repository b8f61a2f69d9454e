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
