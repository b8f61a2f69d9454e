// The block tac-form-adaptive-blocks builds computes exactly what the gates
// did, for every policy value (inside, at and beyond the thresholds): the
// gated and the formed program print the same numbers.
// RUN: tac-opt %s --tac-reference-cpu | %run_main > %t.gates
// RUN: tac-opt %s --tac-form-adaptive-blocks --tac-reference-cpu | %run_main > %t.block
// RUN: grep -v base@ %t.gates > %t.gates.data
// RUN: grep -v base@ %t.block > %t.block.data
// RUN: diff %t.gates.data %t.block.data
// RUN: FileCheck %s < %t.block.data
// RUN: tac-opt %s --tac-form-adaptive-blocks | FileCheck %s --check-prefix=FORMED
// FORMED: tac.adaptive_block %{{.*}} : index paths #tac.paths<[], [1], [0, 1], [0, 1, 2]>
// FORMED-NOT: tac.gate

func.func private @printMemrefF32(tensor<*xf32>)

// Layer 0 runs when d > 1, layer 1 when d > 0, layer 2 when d >= 3: the
// thresholds are out of order on purpose.
func.func @model(%d: i64, %x: tensor<2xf32>) -> tensor<2xf32> {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %c3 = arith.constant 3 : i64
  %one = arith.constant dense<1.0> : tensor<2xf32>
  %three = arith.constant dense<3.0> : tensor<2xf32>
  %r0 = arith.cmpi sgt, %d, %c1 : i64
  %h0 = tac.gate %r0 (%h = %x : tensor<2xf32>) {
    %y = arith.addf %h, %one : tensor<2xf32>
    tac.yield %y : tensor<2xf32>
  }
  %r1 = arith.cmpi sgt, %d, %c0 : i64
  %h1 = tac.gate %r1 (%h = %h0 : tensor<2xf32>) {
    %y = arith.mulf %h, %three : tensor<2xf32>
    tac.yield %y : tensor<2xf32>
  }
  %r2 = arith.cmpi sge, %d, %c3 : i64
  %h2 = tac.gate %r2 (%h = %h1 : tensor<2xf32>) {
    %y = arith.subf %h, %one : tensor<2xf32>
    tac.yield %y : tensor<2xf32>
  }
  return %h2 : tensor<2xf32>
}

func.func @show(%d: i64, %x: tensor<2xf32>) {
  %y = call @model(%d, %x) : (i64, tensor<2xf32>) -> tensor<2xf32>
  %u = tensor.cast %y : tensor<2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

func.func @main() {
  %x = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %m1 = arith.constant -1 : i64
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  %c3 = arith.constant 3 : i64
  %c9 = arith.constant 9 : i64
  // CHECK: [1,  2]
  call @show(%m1, %x) : (i64, tensor<2xf32>) -> ()
  // CHECK: [1,  2]
  call @show(%c0, %x) : (i64, tensor<2xf32>) -> ()
  // d = 1: layer 1 only.
  // CHECK: [3,  6]
  call @show(%c1, %x) : (i64, tensor<2xf32>) -> ()
  // d = 2: layers 0, 1.
  // CHECK: [6,  9]
  call @show(%c2, %x) : (i64, tensor<2xf32>) -> ()
  // d = 3 and beyond: all three.
  // CHECK: [5,  8]
  call @show(%c3, %x) : (i64, tensor<2xf32>) -> ()
  // CHECK: [5,  8]
  call @show(%c9, %x) : (i64, tensor<2xf32>) -> ()
  return
}
