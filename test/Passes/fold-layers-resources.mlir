// Weights held as dense_resource blobs (as the ONNX importer emits them)
// stack into a new blob whose bytes are the layers' bytes, concatenated.
// RUN: tac-opt %s --tac-fold-layers | FileCheck %s

// CHECK-LABEL: func.func @resources
// CHECK-DAG: %[[W:.*]] = arith.constant dense_resource<w0_stacked> : tensor<3x2xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant dense_resource<b0_stacked> : tensor<3x2xf32>
// CHECK-DAG: %[[S:.*]] = arith.constant dense_resource<s0> : tensor<2xf32>
// CHECK: tac.layer_stack layers [0, 3) (%[[H:.*]] = %{{.*}} : tensor<2xf32>) weights (%[[WI:.*]] = %[[W]] : tensor<3x2xf32>, %[[BI:.*]] = %[[B]] : tensor<3x2xf32>)
// CHECK-NEXT: %[[M:.*]] = arith.mulf %[[H]], %[[WI]]
// CHECK-NEXT: %[[A:.*]] = arith.addf %[[M]], %[[BI]]
// CHECK-NEXT: %[[D:.*]] = arith.divf %[[A]], %[[S]]
// CHECK-NEXT: tac.yield %[[D]]

// Layer 1's bias is inline (a splat): its bytes join the blob.
// Only the blobs still referenced are printed: the stacked ones and s0.
// CHECK: dialect_resources
// CHECK-NOT: w1
// CHECK-DAG: w0_stacked: "0x040000000000803F0000004000004040000080400000A0400000C040"
// CHECK-DAG: b0_stacked: "0x040000000000003F0000803E0000803F0000803F000080BF000000C0"
// CHECK-DAG: s0: "0x040000000000804100008041"
func.func @resources(%sel: index, %x: tensor<2xf32>) -> tensor<2xf32> {
  %w0 = arith.constant dense_resource<w0> : tensor<2xf32>
  %b0 = arith.constant dense_resource<b0> : tensor<2xf32>
  %s0 = arith.constant dense_resource<s0> : tensor<2xf32>
  %w1 = arith.constant dense_resource<w1> : tensor<2xf32>
  %b1 = arith.constant dense<1.0> : tensor<2xf32>
  %s1 = arith.constant dense_resource<s1> : tensor<2xf32>
  %w2 = arith.constant dense_resource<w2> : tensor<2xf32>
  %b2 = arith.constant dense_resource<b2> : tensor<2xf32>
  %s2 = arith.constant dense_resource<s2> : tensor<2xf32>
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1], [0, 1, 2]> (%x : tensor<2xf32>)
  layer (%h) {
    %m = arith.mulf %h, %w0 : tensor<2xf32>
    %a = arith.addf %m, %b0 : tensor<2xf32>
    %d = arith.divf %a, %s0 : tensor<2xf32>
    tac.yield %d : tensor<2xf32>
  }
  layer (%h) {
    %m = arith.mulf %h, %w1 : tensor<2xf32>
    %a = arith.addf %m, %b1 : tensor<2xf32>
    %d = arith.divf %a, %s1 : tensor<2xf32>
    tac.yield %d : tensor<2xf32>
  }
  layer (%h) {
    %m = arith.mulf %h, %w2 : tensor<2xf32>
    %a = arith.addf %m, %b2 : tensor<2xf32>
    %d = arith.divf %a, %s2 : tensor<2xf32>
    tac.yield %d : tensor<2xf32>
  }
  return %y : tensor<2xf32>
}

// s0, s1, s2 hold the same bytes under different names: they stay one
// captured constant, not a stacked weight.
{-#
  dialect_resources: {
    builtin: {
      w0: "0x040000000000803F00000040",
      w1: "0x040000000000404000008040",
      w2: "0x040000000000A0400000C040",
      b0: "0x040000000000003F0000803E",
      b2: "0x04000000000080BF000000C0",
      s0: "0x040000000000804100008041",
      s1: "0x040000000000804100008041",
      s2: "0x040000000000804100008041"
    }
  }
#-}
