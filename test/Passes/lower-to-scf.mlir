// RUN: tac-opt %s --tac-lower-to-scf --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @gate
// CHECK-SAME: (%[[C:.*]]: i1, %[[X:.*]]: tensor<4xf32>, %[[B:.*]]: tensor<4xf32>)
// CHECK: %[[Y:.*]] = scf.if %[[C]] -> (tensor<4xf32>) {
// CHECK-NEXT: %[[R:.*]] = arith.addf %[[X]], %[[B]]
// CHECK-NEXT: scf.yield %[[R]]
// CHECK-NEXT: } else {
// CHECK-NEXT: scf.yield %[[X]]
// CHECK: return %[[Y]]
func.func @gate(%c: i1, %x: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %y = tac.gate %c (%h = %x : tensor<4xf32>) {
    %r = arith.addf %h, %b : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// One case per path; the last path is the default (out-of-range rule); a
// layer used by several paths is cloned into each; integer selectors are
// read as unsigned.
// CHECK-LABEL: func.func @block
// CHECK-SAME: (%[[SEL:.*]]: i64, %[[X:.*]]: tensor<4xf32>, %[[B0:.*]]: tensor<4xf32>, %[[B1:.*]]: tensor<4xf32>)
// CHECK: %[[I:.*]] = arith.index_castui %[[SEL]] : i64 to index
// CHECK: %[[Y:.*]] = scf.index_switch %[[I]] -> tensor<4xf32>
// CHECK-NEXT: case 0 {
// CHECK-NEXT: scf.yield %[[X]]
// CHECK: case 1 {
// CHECK-NEXT: %[[A:.*]] = arith.mulf %[[X]], %[[B1]]
// CHECK-NEXT: %[[B:.*]] = arith.addf %[[A]], %[[B0]]
// CHECK-NEXT: scf.yield %[[B]]
// CHECK: default {
// CHECK-NEXT: %[[C:.*]] = arith.addf %[[X]], %[[B0]]
// CHECK-NEXT: %[[D:.*]] = arith.mulf %[[C]], %[[B1]]
// CHECK-NEXT: scf.yield %[[D]]
// CHECK: return %[[Y]]
func.func @block(%sel: i64, %x: tensor<4xf32>, %b0: tensor<4xf32>, %b1: tensor<4xf32>) -> tensor<4xf32> {
  %y = tac.adaptive_block %sel : i64 paths #tac.paths<[], [1, 0], [0, 1]> (%x : tensor<4xf32>)
  layer (%h) {
    %r = arith.addf %h, %b0 : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  layer (%h) {
    %r = arith.mulf %h, %b1 : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// A stack without a selector is a loop over its layers, slicing weights.
// CHECK-LABEL: func.func @stack
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>, %[[W:.*]]: tensor<3x4xf32>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK: %[[Y:.*]] = scf.for %[[IV:.*]] = %[[C0]] to %[[C3]] step %[[C1]] iter_args(%[[H:.*]] = %[[X]]) -> (tensor<4xf32>) {
// CHECK-NEXT: %[[S:.*]] = tensor.extract_slice %[[W]][%[[IV]], 0] [1, 4] [1, 1] : tensor<3x4xf32> to tensor<4xf32>
// CHECK-NEXT: %[[R:.*]] = arith.mulf %[[H]], %[[S]]
// CHECK-NEXT: scf.yield %[[R]]
// CHECK: return %[[Y]]
func.func @stack(%x: tensor<4xf32>, %w: tensor<3x4xf32>) -> tensor<4xf32> {
  %y = tac.layer_stack layers [5, 8) (%h = %x : tensor<4xf32>) weights (%wi = %w : tensor<3x4xf32>) {
    %r = arith.mulf %h, %wi : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// With a selector: contiguous paths loop, others unroll at constant offsets
// relative to the stack's first layer.
// CHECK-LABEL: func.func @stack_selected
// CHECK-SAME: (%[[SEL:.*]]: index, %[[X:.*]]: tensor<4xf32>, %[[W:.*]]: tensor<4x4xf32>)
// CHECK: scf.index_switch %[[SEL]] -> tensor<4xf32>
// CHECK-NEXT: case 0 {
// CHECK-NEXT: %[[S0:.*]] = tensor.extract_slice %[[W]][0, 0] [1, 4] [1, 1] : tensor<4x4xf32> to tensor<4xf32>
// CHECK-NEXT: %[[A:.*]] = arith.mulf %[[X]], %[[S0]]
// CHECK-NEXT: %[[S2:.*]] = tensor.extract_slice %[[W]][2, 0] [1, 4] [1, 1] : tensor<4x4xf32> to tensor<4xf32>
// CHECK-NEXT: %[[B:.*]] = arith.mulf %[[A]], %[[S2]]
// CHECK-NEXT: scf.yield %[[B]]
// CHECK: default {
// CHECK: scf.for
// CHECK: tensor.extract_slice %[[W]][%{{.*}}, 0] [1, 4] [1, 1]
func.func @stack_selected(%sel: index, %x: tensor<4xf32>, %w: tensor<4x4xf32>) -> tensor<4xf32> {
  %y = tac.layer_stack layers [1, 5) (%h = %x : tensor<4xf32>) weights (%wi = %w : tensor<4x4xf32>)
         select %sel : index paths #tac.paths<[1, 3], [1, 2, 3, 4]> {
    %r = arith.mulf %h, %wi : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// Nested tac ops lower too, and markers become their operand.
// CHECK-LABEL: func.func @nested
// CHECK-NOT: tac.
// CHECK: scf.if
// CHECK: scf.index_switch
// CHECK-NOT: tac.
func.func @nested(%c: i1, %d: tensor<i64>, %x: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %p = tac.policy_output %d : tensor<i64>
  %v = tensor.extract %p[] : tensor<i64>
  %y = tac.gate %c (%h = %x : tensor<4xf32>) {
    %z = tac.adaptive_block %v : i64 paths #tac.paths<[], [0]> (%h : tensor<4xf32>)
    layer (%g) {
      %r = arith.addf %g, %b : tensor<4xf32>
      tac.yield %r : tensor<4xf32>
    }
    tac.yield %z : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}
