// Blocks whose layers differ in anything but their constant weights stay
// adaptive blocks; a remark says which layer differs from layer 0 and why.
// RUN: tac-opt %s --tac-fold-layers --split-input-file 2>/dev/null | FileCheck %s --implicit-check-not=tac.layer_stack
// RUN: tac-opt %s --tac-fold-layers --split-input-file --verify-diagnostics > /dev/null

// Different shapes: layer 1 goes through a wider hidden state.
// CHECK-LABEL: func.func @shapes
// CHECK: tac.adaptive_block
func.func @shapes(%sel: index, %x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %a0 = arith.constant dense<1.0> : tensor<4x4xf32>
  %b0 = arith.constant dense<2.0> : tensor<4x4xf32>
  %a1 = arith.constant dense<1.0> : tensor<4x8xf32>
  %b1 = arith.constant dense<2.0> : tensor<8x4xf32>
  // expected-remark @below {{--tac-fold-layers: block of 2 layers not folded: layer 1 differs from layer 0: op #1 ('tensor.empty') result #0 has type tensor<1x4xf32> in one layer and tensor<1x8xf32> in the other}}
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<1x4xf32>)
  layer (%h) {
    %e = tensor.empty() : tensor<1x4xf32>
    %m = linalg.matmul ins(%h, %a0 : tensor<1x4xf32>, tensor<4x4xf32>) outs(%e : tensor<1x4xf32>) -> tensor<1x4xf32>
    %e2 = tensor.empty() : tensor<1x4xf32>
    %n = linalg.matmul ins(%m, %b0 : tensor<1x4xf32>, tensor<4x4xf32>) outs(%e2 : tensor<1x4xf32>) -> tensor<1x4xf32>
    tac.yield %n : tensor<1x4xf32>
  }
  layer (%h) {
    %e = tensor.empty() : tensor<1x8xf32>
    %m = linalg.matmul ins(%h, %a1 : tensor<1x4xf32>, tensor<4x8xf32>) outs(%e : tensor<1x8xf32>) -> tensor<1x8xf32>
    %e2 = tensor.empty() : tensor<1x4xf32>
    %n = linalg.matmul ins(%m, %b1 : tensor<1x8xf32>, tensor<8x4xf32>) outs(%e2 : tensor<1x4xf32>) -> tensor<1x4xf32>
    tac.yield %n : tensor<1x4xf32>
  }
  return %y : tensor<1x4xf32>
}

// -----

// An extra op in the last layer; the first two are identical, but partial
// folding is not done (the whole block stays).
// CHECK-LABEL: func.func @extra_op
// CHECK: tac.adaptive_block
func.func @extra_op(%sel: index, %x: tensor<4xf32>) -> tensor<4xf32> {
  %w0 = arith.constant dense<1.0> : tensor<4xf32>
  %w1 = arith.constant dense<2.0> : tensor<4xf32>
  %w2 = arith.constant dense<3.0> : tensor<4xf32>
  // expected-remark @below {{layer 2 differs from layer 0: op #2 ('tac.yield') is 'math.tanh' in the other layer}}
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1, 2]> (%x : tensor<4xf32>)
  layer (%h) {
    %a = arith.mulf %h, %w0 : tensor<4xf32>
    tac.yield %a : tensor<4xf32>
  }
  layer (%h) {
    %a = arith.mulf %h, %w1 : tensor<4xf32>
    tac.yield %a : tensor<4xf32>
  }
  layer (%h) {
    %a = arith.mulf %h, %w2 : tensor<4xf32>
    %t = math.tanh %a : tensor<4xf32>
    tac.yield %t : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// A different attribute: the comparison predicate (an inherent attribute).
// CHECK-LABEL: func.func @attribute
// CHECK: tac.adaptive_block
func.func @attribute(%sel: index, %x: tensor<4xf32>) -> tensor<4xf32> {
  %w0 = arith.constant dense<1.0> : tensor<4xf32>
  %w1 = arith.constant dense<2.0> : tensor<4xf32>
  // expected-remark @below {{layer 1 differs from layer 0: op #1 ('arith.cmpf') has a different attribute 'predicate'}}
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<4xf32>)
  layer (%h) {
    %c = arith.cmpf olt, %h, %w0 : tensor<4xf32>
    %s = arith.select %c, %h, %w0 : tensor<4xi1>, tensor<4xf32>
    tac.yield %s : tensor<4xf32>
  }
  layer (%h) {
    %c = arith.cmpf ogt, %h, %w1 : tensor<4xf32>
    %s = arith.select %c, %h, %w1 : tensor<4xi1>, tensor<4xf32>
    tac.yield %s : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// A different discardable attribute, and fastmath flags.
// CHECK-LABEL: func.func @discardable
// CHECK: tac.adaptive_block
// CHECK: tac.adaptive_block
func.func @discardable(%sel: index, %x: tensor<4xf32>) -> tensor<4xf32> {
  %w0 = arith.constant dense<1.0> : tensor<4xf32>
  %w1 = arith.constant dense<2.0> : tensor<4xf32>
  // expected-remark @below {{layer 1 differs from layer 0: op #1 ('arith.mulf') has an attribute 'tag' in one layer only}}
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<4xf32>)
  layer (%h) {
    %a = arith.mulf %h, %w0 : tensor<4xf32>
    tac.yield %a : tensor<4xf32>
  }
  layer (%h) {
    %a = arith.mulf %h, %w1 {tag = "mine"} : tensor<4xf32>
    tac.yield %a : tensor<4xf32>
  }
  // expected-remark @below {{layer 1 differs from layer 0: op #1 ('arith.mulf') has a different attribute 'fastmath'}}
  %z = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%y : tensor<4xf32>)
  layer (%h) {
    %a = arith.mulf %h, %w0 fastmath<fast> : tensor<4xf32>
    tac.yield %a : tensor<4xf32>
  }
  layer (%h) {
    %a = arith.mulf %h, %w1 : tensor<4xf32>
    tac.yield %a : tensor<4xf32>
  }
  return %z : tensor<4xf32>
}

// -----

// Different non-constant captures: the layers read different function
// arguments (only constants may differ between layers).
// CHECK-LABEL: func.func @captures
// CHECK: tac.adaptive_block
func.func @captures(%sel: index, %x: tensor<4xf32>, %b0: tensor<4xf32>, %b1: tensor<4xf32>) -> tensor<4xf32> {
  // expected-remark @below {{layer 1 differs from layer 0: op #1 ('arith.addf') operand #1 reads different values from outside that are not both constants (only constants may differ between layers)}}
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<4xf32>)
  layer (%h) {
    %a = arith.addf %h, %b0 : tensor<4xf32>
    tac.yield %a : tensor<4xf32>
  }
  layer (%h) {
    %a = arith.addf %h, %b1 : tensor<4xf32>
    tac.yield %a : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// Internal dataflow differs: the same ops, but layer 1 multiplies the state
// by itself where layer 0 multiplies by a weight.
// CHECK-LABEL: func.func @dataflow
// CHECK: tac.adaptive_block
func.func @dataflow(%sel: index, %x: tensor<4xf32>) -> tensor<4xf32> {
  %w0 = arith.constant dense<1.0> : tensor<4xf32>
  %w1 = arith.constant dense<2.0> : tensor<4xf32>
  // expected-remark @below {{layer 1 differs from layer 0: op #2 ('arith.mulf') operand #1 reads a value from outside in one layer and one defined inside in the other}}
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<4xf32>)
  layer (%h) {
    %a = arith.addf %h, %w0 : tensor<4xf32>
    %b = arith.mulf %a, %w0 : tensor<4xf32>
    tac.yield %b : tensor<4xf32>
  }
  layer (%h) {
    %a = arith.addf %h, %w1 : tensor<4xf32>
    %b = arith.mulf %a, %a : tensor<4xf32>
    tac.yield %b : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// One weight read twice in layer 0 where layer 1 reads two different ones:
// one slot cannot hold both.
// CHECK-LABEL: func.func @inconsistent
// CHECK: tac.adaptive_block
func.func @inconsistent(%sel: index, %x: tensor<4xf32>) -> tensor<4xf32> {
  %w0 = arith.constant dense<1.0> : tensor<4xf32>
  %w1 = arith.constant dense<2.0> : tensor<4xf32>
  %v1 = arith.constant dense<3.0> : tensor<4xf32>
  // expected-remark @below {{layer 1 differs from layer 0: op #2 ('arith.mulf') operand #1 reads a value that another use pairs with a different value of the other layer}}
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<4xf32>)
  layer (%h) {
    %a = arith.addf %h, %w0 : tensor<4xf32>
    %b = arith.mulf %a, %w0 : tensor<4xf32>
    tac.yield %b : tensor<4xf32>
  }
  layer (%h) {
    %a = arith.addf %h, %w1 : tensor<4xf32>
    %b = arith.mulf %a, %v1 : tensor<4xf32>
    tac.yield %b : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}
