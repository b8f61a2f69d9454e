// Folding runs before layer folding: each layer's transposed weight becomes
// a constant inside the layer, the layers stay identical up to weights, and
// tac-fold-layers stacks the folded (transposed) weights.
// RUN: tac-opt %s --tac-fold-constants --tac-fold-layers | FileCheck %s
// The stacked form still lowers (the reference semantics exist).
// RUN: tac-opt %s --tac-fold-constants --tac-fold-layers --tac-lower-to-scf > /dev/null

// CHECK-LABEL: func.func @stack
// CHECK: %[[W:.*]] = arith.constant dense<{{\[\[\[}}1.000000e+00, 3.000000e+00], [2.000000e+00, 4.000000e+00]], {{\[\[}}5.000000e+00, 7.000000e+00], [6.000000e+00, 8.000000e+00]], {{\[\[}}9.000000e+00, 1.100000e+01], [1.000000e+01, 1.200000e+01]]]> : tensor<3x2x2xf32>
// CHECK: tac.layer_stack layers [0, 3) (%[[H:.*]] = %{{.*}} : tensor<2x2xf32>) weights (%[[WI:.*]] = %[[W]] : tensor<3x2x2xf32>)
// CHECK-NOT: linalg.transpose
// CHECK: linalg.matmul ins(%[[H]], %[[WI]] : tensor<2x2xf32>, tensor<2x2xf32>)
// CHECK-NOT: tac.adaptive_block
func.func @stack(%sel: index, %x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %w0 = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %w1 = arith.constant dense<[[5.0, 6.0], [7.0, 8.0]]> : tensor<2x2xf32>
  %w2 = arith.constant dense<[[9.0, 10.0], [11.0, 12.0]]> : tensor<2x2xf32>
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1], [0, 1, 2]> (%x : tensor<2x2xf32>)
  layer (%h) {
    %e = tensor.empty() : tensor<2x2xf32>
    %wt = linalg.transpose ins(%w0 : tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) permutation = [1, 0]
    %z = arith.constant 0.0 : f32
    %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
    %m = linalg.matmul ins(%h, %wt : tensor<2x2xf32>, tensor<2x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
    tac.yield %m : tensor<2x2xf32>
  }
  layer (%h) {
    %e = tensor.empty() : tensor<2x2xf32>
    %wt = linalg.transpose ins(%w1 : tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) permutation = [1, 0]
    %z = arith.constant 0.0 : f32
    %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
    %m = linalg.matmul ins(%h, %wt : tensor<2x2xf32>, tensor<2x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
    tac.yield %m : tensor<2x2xf32>
  }
  layer (%h) {
    %e = tensor.empty() : tensor<2x2xf32>
    %wt = linalg.transpose ins(%w2 : tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) permutation = [1, 0]
    %z = arith.constant 0.0 : f32
    %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
    %m = linalg.matmul ins(%h, %wt : tensor<2x2xf32>, tensor<2x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
    tac.yield %m : tensor<2x2xf32>
  }
  return %y : tensor<2x2xf32>
}
