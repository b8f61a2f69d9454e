// RUN: tac-opt %s --tac-form-adaptive-blocks --split-input-file --verify-diagnostics | FileCheck %s

// Conditions `depth > i` over an unbounded policy value: the thresholds
// split its range into the prefix paths, empty path included. The selector
// matches the conditions against each path's membership pattern.
// CHECK-LABEL: func.func @unbounded
// CHECK-SAME: (%[[D:[^:]*]]: i64, %[[X:[^:]*]]: tensor<4xf32>
// CHECK-NOT: tac.gate
// CHECK: %[[SEL:.*]] = arith.select %{{.*}}, %c0, %{{.*}} : index
// CHECK-NEXT: %[[Y:.*]] = tac.adaptive_block %[[SEL]] : index paths #tac.paths<[], [0], [0, 1], [0, 1, 2]> (%[[X]] : tensor<4xf32>)
// CHECK-NEXT: layer (%[[H0:.*]]) {
// CHECK-NEXT: arith.addf %[[H0]]
// CHECK: layer (%[[H1:.*]]) {
// CHECK-NEXT: arith.mulf %[[H1]]
// CHECK: layer (%[[H2:.*]]) {
// CHECK-NEXT: math.tanh %[[H2]]
// CHECK: return %[[Y]]
func.func @unbounded(%d: i64, %x: tensor<4xf32>, %w: tensor<4xf32>) -> tensor<4xf32> {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  %p = tac.policy_output %d : i64
  %r0 = arith.cmpi sgt, %p, %c0 : i64
  %h0 = tac.gate %r0 (%h = %x : tensor<4xf32>) {
    %y = arith.addf %h, %w : tensor<4xf32>
    tac.yield %y : tensor<4xf32>
  }
  %r1 = arith.cmpi sgt, %p, %c1 : i64
  %h1 = tac.gate %r1 (%h = %h0 : tensor<4xf32>) {
    %y = arith.mulf %h, %w : tensor<4xf32>
    tac.yield %y : tensor<4xf32>
  }
  %r2 = arith.cmpi sgt, %p, %c2 : i64
  %h2 = tac.gate %r2 (%h = %h1 : tensor<4xf32>) {
    %y = math.tanh %h : tensor<4xf32>
    tac.yield %y : tensor<4xf32>
  }
  return %h2 : tensor<4xf32>
}

// -----

// A policy that can only be 2 or 3 (a select between constants) reaches
// two paths.
// CHECK-LABEL: func.func @bounded
// CHECK: tac.adaptive_block %{{.*}} : index paths #tac.paths<[0, 1], [0, 1, 2]>
func.func @bounded(%hard: i1, %x: tensor<4xf32>) -> tensor<4xf32> {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  %c3 = arith.constant 3 : i64
  %d = arith.select %hard, %c3, %c2 : i64
  %r0 = arith.cmpi sgt, %d, %c0 : i64
  %h0 = tac.gate %r0 (%h = %x : tensor<4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  %r1 = arith.cmpi sgt, %d, %c1 : i64
  %h1 = tac.gate %r1 (%h = %h0 : tensor<4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  %r2 = arith.cmpi sgt, %d, %c2 : i64
  %h2 = tac.gate %r2 (%h = %h1 : tensor<4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  return %h2 : tensor<4xf32>
}

// -----

// Explicit paths (the ONNX metadata key tac.paths) win; any condition works.
// CHECK-LABEL: func.func @explicit
// CHECK: tac.adaptive_block %{{.*}} : index paths #tac.paths<[1], [0, 1]>
func.func @explicit(%a: i1, %b: i1, %x: tensor<4xf32>) -> tensor<4xf32>
    attributes {tac.paths = #tac.paths<[1], [0, 1]>} {
  %h0 = tac.gate %a (%h = %x : tensor<4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  %h1 = tac.gate %b (%h = %h0 : tensor<4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  return %h1 : tensor<4xf32>
}

// -----

// A condition the analysis cannot read is an error that says what to do.
func.func @opaque(%a: i1, %x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{cannot derive the path set: the condition of gate 0 of this chain is not `policy <cmp> constant` over an integer scalar; give the paths explicitly with the function attribute tac.paths (the ONNX metadata key tac.paths), e.g. [[0], [0, 1]]}}
  %h0 = tac.gate %a (%h = %x : tensor<4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  return %h0 : tensor<4xf32>
}

// -----

// expected-error @+1 {{tac.paths refers to layer 2, but the gate chain has 2 gates (layers 0..1)}}
func.func @paths_out_of_range(%a: i1, %b: i1, %x: tensor<4xf32>) -> tensor<4xf32>
    attributes {tac.paths = #tac.paths<[0], [0, 1, 2]>} {
  %h0 = tac.gate %a (%h = %x : tensor<4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  %h1 = tac.gate %b (%h = %h0 : tensor<4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  return %h1 : tensor<4xf32>
}

// -----

// An intermediate state that escapes (returned) ends the chain there.
// CHECK-LABEL: func.func @escaping
// CHECK: %[[B0:.*]] = tac.adaptive_block %{{.*}} paths #tac.paths<[], [0]>
// CHECK: %[[B1:.*]] = tac.adaptive_block %{{.*}} paths #tac.paths<[], [0]> (%[[B0]] : tensor<4xf32>)
// CHECK: return %[[B1]], %[[B0]]
func.func @escaping(%d: i64, %x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %r0 = arith.cmpi sgt, %d, %c0 : i64
  %h0 = tac.gate %r0 (%h = %x : tensor<4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  %r1 = arith.cmpi sgt, %d, %c1 : i64
  %h1 = tac.gate %r1 (%h = %h0 : tensor<4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  return %h1, %h0 : tensor<4xf32>, tensor<4xf32>
}
