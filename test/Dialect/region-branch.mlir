// RUN: tac-opt %s --sccp --split-input-file | FileCheck %s

// tac.gate, tac.adaptive_block and tac.layer_stack implement
// RegionBranchOpInterface, so upstream dataflow analyses (here sparse
// conditional constant propagation) follow values through their layers.

// A gate whose body changes its state may give either value, so it stays; a
// gate that passes its state through gives the input either way.
// CHECK-LABEL: func.func @gate
// CHECK-DAG: %[[ONE:.*]] = arith.constant dense<1.000000e+00>
// CHECK: %[[Y:.*]] = tac.gate
// CHECK: return %[[Y]], %[[ONE]]
func.func @gate(%c: i1) -> (tensor<4xf32>, tensor<4xf32>) {
  %x = arith.constant dense<1.0> : tensor<4xf32>
  %y = tac.gate %c (%h = %x : tensor<4xf32>) {
    %r = arith.addf %h, %h : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  %z = tac.gate %c (%h = %x : tensor<4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  return %y, %z : tensor<4xf32>, tensor<4xf32>
}

// -----

// A constant selector runs only its path's layers, in the path's order:
// selector 0 picks [] (the input, 7); 5 is out of range and picks the last
// path, [1, 0]: 7 * 10 + 10 = 80 (the order [0, 1] would give 170).
// CHECK-LABEL: func.func @block_constant_selector
// CHECK-DAG: %[[SKIP:.*]] = arith.constant 7 : i32
// CHECK-DAG: %[[DEEP:.*]] = arith.constant 80 : i32
// CHECK-NOT: tac.adaptive_block
// CHECK: return %[[SKIP]], %[[DEEP]]
func.func @block_constant_selector() -> (i32, i32) {
  %x = arith.constant 7 : i32
  %ten = arith.constant 10 : i32
  %skip = arith.constant 0 : index
  %deep = arith.constant 5 : index
  %a = tac.adaptive_block %skip : index paths #tac.paths<[], [1, 0]> (%x : i32)
  layer (%h) {
    %r = arith.addi %h, %ten : i32
    tac.yield %r : i32
  }
  layer (%h) {
    %r = arith.muli %h, %ten : i32
    tac.yield %r : i32
  }
  %b = tac.adaptive_block %deep : index paths #tac.paths<[], [1, 0]> (%x : i32)
  layer (%h) {
    %r = arith.addi %h, %ten : i32
    tac.yield %r : i32
  }
  layer (%h) {
    %r = arith.muli %h, %ten : i32
    tac.yield %r : i32
  }
  return %a, %b : i32, i32
}

// -----

// An unknown selector: with one path the result is known (7 + 10 + 10);
// with a choice between [] and [0] it is not.
// CHECK-LABEL: func.func @block_unknown_selector
// CHECK-DAG: %[[ONLY:.*]] = arith.constant 27 : i32
// CHECK: %[[EITHER:.*]] = tac.adaptive_block
// CHECK: return %[[ONLY]], %[[EITHER]]
func.func @block_unknown_selector(%s: index) -> (i32, i32) {
  %x = arith.constant 7 : i32
  %ten = arith.constant 10 : i32
  %a = tac.adaptive_block %s : index paths #tac.paths<[0, 1]> (%x : i32)
  layer (%h) {
    %r = arith.addi %h, %ten : i32
    tac.yield %r : i32
  }
  layer (%h) {
    %r = arith.addi %h, %ten : i32
    tac.yield %r : i32
  }
  %b = tac.adaptive_block %s : index paths #tac.paths<[], [0]> (%x : i32)
  layer (%h) {
    %r = arith.addi %h, %ten : i32
    tac.yield %r : i32
  }
  return %a, %b : i32, i32
}

// -----

// A stack's state flows from layer to layer: a body that keeps it gives the
// input; one that changes it each layer does not fold. The weight slices are
// not forwarded values.
// CHECK-LABEL: func.func @stack
// CHECK-DAG: %[[SEVEN:.*]] = arith.constant 7 : i32
// CHECK: %[[GROWN:.*]] = tac.layer_stack
// CHECK: return %[[SEVEN]], %[[GROWN]]
func.func @stack(%w: tensor<4x8xf32>) -> (i32, i32) {
  %x = arith.constant 7 : i32
  %a = tac.layer_stack layers [0, 4) (%h = %x : i32)
         weights (%wi = %w : tensor<4x8xf32>) {
    tac.yield %h : i32
  }
  %b = tac.layer_stack layers [0, 4) (%h = %x : i32)
         weights (%wi = %w : tensor<4x8xf32>) {
    %r = arith.addi %h, %h : i32
    tac.yield %r : i32
  }
  return %a, %b : i32, i32
}
