// Round trip of every tac op and attribute: the custom form prints, re-parses
// and prints the same; the generic form parses back to the same custom form.
// RUN: tac-opt %s | tac-opt | FileCheck %s
// RUN: tac-opt %s --mlir-print-op-generic | tac-opt | FileCheck %s

// CHECK-LABEL: func.func @gate
// CHECK-SAME: (%[[C:.*]]: i1, %[[X:.*]]: tensor<2x8xf32>, %[[B:.*]]: tensor<2x8xf32>)
func.func @gate(%c: i1, %x: tensor<2x8xf32>, %b: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // CHECK: %[[Y:.*]] = tac.gate %[[C]] (%[[H:.*]] = %[[X]] : tensor<2x8xf32>) {
  // CHECK-NEXT: %[[R:.*]] = arith.addf %[[H]], %[[B]] : tensor<2x8xf32>
  // CHECK-NEXT: tac.yield %[[R]] : tensor<2x8xf32>
  // CHECK-NEXT: }
  %y = tac.gate %c (%h = %x : tensor<2x8xf32>) {
    %r = arith.addf %h, %b : tensor<2x8xf32>
    tac.yield %r : tensor<2x8xf32>
  }
  // CHECK: return %[[Y]]
  return %y : tensor<2x8xf32>
}

// A gate carries several state values and extra attributes.
// CHECK-LABEL: func.func @gate_multi
func.func @gate_multi(%c: i1, %x: tensor<4xf32>, %m: tensor<4xi1>) -> (tensor<4xf32>, tensor<4xi1>) {
  // CHECK: %{{.*}}:2 = tac.gate %{{.*}} (%[[H:.*]] = %{{.*}} : tensor<4xf32>, %[[K:.*]] = %{{.*}} : tensor<4xi1>) attributes {layer = 3 : i64} {
  // CHECK: tac.yield %{{.*}}, %[[K]] : tensor<4xf32>, tensor<4xi1>
  %y:2 = tac.gate %c (%h = %x : tensor<4xf32>, %k = %m : tensor<4xi1>) attributes {layer = 3 : i64} {
    %r = math.tanh %h : tensor<4xf32>
    tac.yield %r, %k : tensor<4xf32>, tensor<4xi1>
  }
  return %y#0, %y#1 : tensor<4xf32>, tensor<4xi1>
}

// CHECK-LABEL: func.func @adaptive_block
func.func @adaptive_block(%sel: i64, %x: tensor<2x8xf32>, %b0: tensor<2x8xf32>,
                          %b1: tensor<2x8xf32>, %b2: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // CHECK: tac.adaptive_block %{{.*}} : i64 paths #tac.paths<[], [0, 2], [0, 1, 2]> (%{{.*}} : tensor<2x8xf32>)
  // CHECK-NEXT: layer (%[[H0:.*]]) {
  // CHECK-NEXT: arith.addf %[[H0]]
  // CHECK: layer (%[[H1:.*]]) {
  // CHECK-NEXT: arith.mulf %[[H1]]
  // CHECK: layer (%[[H2:.*]]) {
  // CHECK-NEXT: arith.subf %[[H2]]
  %y = tac.adaptive_block %sel : i64 paths #tac.paths<[], [0, 2], [0, 1, 2]> (%x : tensor<2x8xf32>)
  layer (%h) {
    %r = arith.addf %h, %b0 : tensor<2x8xf32>
    tac.yield %r : tensor<2x8xf32>
  }
  layer (%h) {
    %r = arith.mulf %h, %b1 : tensor<2x8xf32>
    tac.yield %r : tensor<2x8xf32>
  }
  layer (%h) {
    %r = arith.subf %h, %b2 : tensor<2x8xf32>
    tac.yield %r : tensor<2x8xf32>
  }
  return %y : tensor<2x8xf32>
}

// CHECK-LABEL: func.func @layer_stack
func.func @layer_stack(%x: tensor<2x8xf32>, %w: tensor<3x8x8xf32>, %b: tensor<3x2x8xf32>) -> tensor<2x8xf32> {
  // CHECK: tac.layer_stack layers [2, 5) (%[[H:.*]] = %{{.*}} : tensor<2x8xf32>) weights (%[[W:.*]] = %{{.*}} : tensor<3x8x8xf32>, %[[B:.*]] = %{{.*}} : tensor<3x2x8xf32>) {
  // CHECK: linalg.matmul ins(%[[H]], %[[W]] : tensor<2x8xf32>, tensor<8x8xf32>)
  // CHECK: arith.addf %{{.*}}, %[[B]] : tensor<2x8xf32>
  %y = tac.layer_stack layers [2, 5) (%h = %x : tensor<2x8xf32>)
         weights (%wi = %w : tensor<3x8x8xf32>, %bi = %b : tensor<3x2x8xf32>) {
    %e = tensor.empty() : tensor<2x8xf32>
    %mm = linalg.matmul ins(%h, %wi : tensor<2x8xf32>, tensor<8x8xf32>)
                        outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
    %r = arith.addf %mm, %bi : tensor<2x8xf32>
    tac.yield %r : tensor<2x8xf32>
  }
  return %y : tensor<2x8xf32>
}

// CHECK-LABEL: func.func @layer_stack_selected
func.func @layer_stack_selected(%sel: index, %x: tensor<8xf32>, %s: tensor<4x8xf32>) -> tensor<8xf32> {
  // CHECK: tac.layer_stack layers [0, 4) (%{{.*}} = %{{.*}} : tensor<8xf32>) weights (%{{.*}} = %{{.*}} : tensor<4x8xf32>) select %{{.*}} : index paths #tac.paths<[0, 1], [0, 1, 2, 3]> attributes {model.folded_from = "encoder.layers"} {
  %y = tac.layer_stack layers [0, 4) (%h = %x : tensor<8xf32>) weights (%si = %s : tensor<4x8xf32>)
         select %sel : index paths #tac.paths<[0, 1], [0, 1, 2, 3]>
         attributes {model.folded_from = "encoder.layers"} {
    %r = arith.mulf %h, %si : tensor<8xf32>
    tac.yield %r : tensor<8xf32>
  }
  return %y : tensor<8xf32>
}

// A stack of parameter-free layers has no weights clause.
// CHECK-LABEL: func.func @layer_stack_no_weights
func.func @layer_stack_no_weights(%x: tensor<8xf32>) -> tensor<8xf32> {
  // CHECK: tac.layer_stack layers [0, 2) (%{{.*}} = %{{.*}} : tensor<8xf32>) {
  %y = tac.layer_stack layers [0, 2) (%h = %x : tensor<8xf32>) {
    %r = math.tanh %h : tensor<8xf32>
    tac.yield %r : tensor<8xf32>
  }
  return %y : tensor<8xf32>
}

// CHECK-LABEL: func.func @markers
func.func @markers(%score: tensor<1x1xf32>, %depth: tensor<i64>, %s: f16, %i: index) -> index {
  // CHECK: tac.predictor_output %{{.*}} : tensor<1x1xf32>
  // CHECK: tac.policy_output %{{.*}} : tensor<i64>
  // CHECK: tac.predictor_output %{{.*}} : f16
  // CHECK: tac.policy_output %{{.*}} : index
  %p = tac.predictor_output %score : tensor<1x1xf32>
  %d = tac.policy_output %depth : tensor<i64>
  %q = tac.predictor_output %s : f16
  %j = tac.policy_output %i : index
  return %j : index
}

// The path set attribute stands on its own, too.
// CHECK-LABEL: func.func @path_set_attribute
// CHECK-SAME: tac.paths = #tac.paths<[], [3, 1], [0, 1, 2, 3]>
func.func @path_set_attribute() attributes {tac.paths = #tac.paths<[], [3, 1], [0, 1, 2, 3]>} {
  return
}

// Attention on tensors (head-interleaved keys, a broadcast mask) and on
// buffers (a broadcast select mask, no result).
// CHECK-LABEL: func.func @attention
// CHECK: %[[A:.*]] = tac.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x2x5x4xf32>, tensor<1x7x2x4xf32>, tensor<1x2x7x3xf32>) mask(%{{.*}} : tensor<1x1x1x7xf32>) outs(%{{.*}} : tensor<1x2x5x3xf32>)
// CHECK-SAME: key_dims = array<i64: 0, 2, 1, 3>
// CHECK-SAME: scale = 5.000000e-01 : f32
// CHECK-SAME: -> tensor<1x2x5x3xf32>
// CHECK: tac.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<1x2x5x4xf32>, memref<1x2x7x4xf32>, memref<1x2x7x3xf32>) keep(%{{.*}} : memref<1x1x5x7xi1>) outs(%{{.*}} : memref<1x2x5x3xf32>)
// CHECK-SAME: fill = -1.000000e+04 : f32
// CHECK-NOT: ->
func.func @attention(%q: tensor<1x2x5x4xf32>, %k: tensor<1x7x2x4xf32>,
                     %v: tensor<1x2x7x3xf32>, %m: tensor<1x1x1x7xf32>,
                     %init: tensor<1x2x5x3xf32>, %bq: memref<1x2x5x4xf32>,
                     %bk: memref<1x2x7x4xf32>, %bv: memref<1x2x7x3xf32>,
                     %bo: memref<1x2x5x3xf32>, %bkeep: memref<1x1x5x7xi1>) -> tensor<1x2x5x3xf32> {
  %a = tac.attention ins(%q, %k, %v : tensor<1x2x5x4xf32>, tensor<1x7x2x4xf32>, tensor<1x2x7x3xf32>)
         mask(%m : tensor<1x1x1x7xf32>) outs(%init : tensor<1x2x5x3xf32>)
         {scale = 0.5 : f32, query_dims = array<i64: 0, 1, 2, 3>,
          key_dims = array<i64: 0, 2, 1, 3>, value_dims = array<i64: 0, 1, 2, 3>,
          mask_dims = array<i64: 0, 1, 2, 3>, result_dims = array<i64: 0, 1, 2, 3>}
         -> tensor<1x2x5x3xf32>
  tac.attention ins(%bq, %bk, %bv : memref<1x2x5x4xf32>, memref<1x2x7x4xf32>, memref<1x2x7x3xf32>)
    keep(%bkeep : memref<1x1x5x7xi1>) outs(%bo : memref<1x2x5x3xf32>)
    {scale = 1.0 : f32, query_dims = array<i64: 0, 1, 2, 3>,
     key_dims = array<i64: 0, 1, 2, 3>, value_dims = array<i64: 0, 1, 2, 3>,
     keep_dims = array<i64: 0, 1, 2, 3>, fill = -1.0e4 : f32,
     result_dims = array<i64: 0, 1, 2, 3>}
  return %a : tensor<1x2x5x3xf32>
}
