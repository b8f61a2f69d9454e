// Executes adaptive IR through the reference lowering and upstream MLIR's
// CPU pipeline, for several selector values: the numbers prove the
// semantics of gates, blocks, stacks and the out-of-range rule.
// RUN: tac-opt %s --tac-reference-cpu | %run_main \
// RUN: | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)

// Layers: 0 adds 1, 1 doubles, 2 subtracts 3.
func.func @block(%sel: index, %x: tensor<2xf32>) -> tensor<2xf32> {
  %one = arith.constant dense<1.0> : tensor<2xf32>
  %two = arith.constant dense<2.0> : tensor<2xf32>
  %three = arith.constant dense<3.0> : tensor<2xf32>
  %y = tac.adaptive_block %sel : index paths #tac.paths<[], [0], [1, 0], [0, 1, 2]> (%x : tensor<2xf32>)
  layer (%h) {
    %r = arith.addf %h, %one : tensor<2xf32>
    tac.yield %r : tensor<2xf32>
  }
  layer (%h) {
    %r = arith.mulf %h, %two : tensor<2xf32>
    tac.yield %r : tensor<2xf32>
  }
  layer (%h) {
    %r = arith.subf %h, %three : tensor<2xf32>
    tac.yield %r : tensor<2xf32>
  }
  return %y : tensor<2xf32>
}

// Layer i of the stack multiplies by its weight slice w[i].
func.func @stack(%sel: index, %x: tensor<2xf32>) -> tensor<2xf32> {
  %w = arith.constant dense<[[2.0, 2.0], [3.0, 3.0], [5.0, 5.0], [7.0, 7.0]]> : tensor<4x2xf32>
  %y = tac.layer_stack layers [0, 4) (%h = %x : tensor<2xf32>) weights (%wi = %w : tensor<4x2xf32>)
         select %sel : index paths #tac.paths<[0, 2], [1, 2, 3]> {
    %r = arith.mulf %h, %wi : tensor<2xf32>
    tac.yield %r : tensor<2xf32>
  }
  return %y : tensor<2xf32>
}

func.func @gate(%c: i1, %x: tensor<2xf32>) -> tensor<2xf32> {
  %y = tac.gate %c (%h = %x : tensor<2xf32>) {
    %r = arith.addf %h, %h : tensor<2xf32>
    tac.yield %r : tensor<2xf32>
  }
  return %y : tensor<2xf32>
}

func.func @print(%t: tensor<2xf32>) {
  %u = tensor.cast %t : tensor<2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

func.func @main() {
  %x = arith.constant dense<[1.0, 10.0]> : tensor<2xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c9 = arith.constant 9 : index
  %true = arith.constant true
  %false = arith.constant false

  // CHECK: [1,  10]
  %b0 = call @block(%c0, %x) : (index, tensor<2xf32>) -> tensor<2xf32>
  call @print(%b0) : (tensor<2xf32>) -> ()
  // CHECK: [2,  11]
  %b1 = call @block(%c1, %x) : (index, tensor<2xf32>) -> tensor<2xf32>
  call @print(%b1) : (tensor<2xf32>) -> ()
  // Path [1, 0]: (x * 2) + 1.
  // CHECK: [3,  21]
  %b2 = call @block(%c2, %x) : (index, tensor<2xf32>) -> tensor<2xf32>
  call @print(%b2) : (tensor<2xf32>) -> ()
  // Path [0, 1, 2]: (x + 1) * 2 - 3.
  // CHECK: [1,  19]
  %b3 = call @block(%c3, %x) : (index, tensor<2xf32>) -> tensor<2xf32>
  call @print(%b3) : (tensor<2xf32>) -> ()
  // Out of range: the last path.
  // CHECK: [1,  19]
  %b9 = call @block(%c9, %x) : (index, tensor<2xf32>) -> tensor<2xf32>
  call @print(%b9) : (tensor<2xf32>) -> ()

  // Stack path [0, 2]: x * 2 * 5.
  // CHECK: [10,  100]
  %s0 = call @stack(%c0, %x) : (index, tensor<2xf32>) -> tensor<2xf32>
  call @print(%s0) : (tensor<2xf32>) -> ()
  // Stack path [1, 2, 3]: x * 3 * 5 * 7.
  // CHECK: [105,  1050]
  %s1 = call @stack(%c1, %x) : (index, tensor<2xf32>) -> tensor<2xf32>
  call @print(%s1) : (tensor<2xf32>) -> ()

  // CHECK: [2,  20]
  %g1 = call @gate(%true, %x) : (i1, tensor<2xf32>) -> tensor<2xf32>
  call @print(%g1) : (tensor<2xf32>) -> ()
  // CHECK: [1,  10]
  %g0 = call @gate(%false, %x) : (i1, tensor<2xf32>) -> tensor<2xf32>
  call @print(%g0) : (tensor<2xf32>) -> ()
  return
}
