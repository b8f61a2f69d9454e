// RUN: tac-opt %s --tac-fold-layers --split-input-file | FileCheck %s
// The folded IR verifies and lowers (the reference semantics exist).
// RUN: tac-opt %s --tac-fold-layers --tac-lower-to-scf --split-input-file > /dev/null
// Blocks with fewer layers than min-layers are left alone, silently.
// RUN: tac-opt %s --tac-fold-layers=min-layers=4 --split-input-file 2>&1 | FileCheck %s --check-prefix=MIN --implicit-check-not=remark

// MIN-LABEL: func.func @mlp
// MIN: tac.adaptive_block
// MIN-LABEL: func.func @shared
// MIN: tac.layer_stack layers [0, 4)
// MIN-LABEL: func.func @generic
// MIN: tac.adaptive_block

// Three layers of matmul + bias + tanh, each with its own weights: one
// stack over [0, 3) with the same selector and paths; the weights stack
// along a new leading dimension (layer 1's splat bias expanded); the
// weights the layers used are gone.

// CHECK-LABEL: func.func @mlp
// CHECK-SAME: (%[[SEL:.*]]: index, %[[X:.*]]: tensor<2x2xf32>)
// CHECK-NOT: tensor<2x2xf32> = arith.constant
// CHECK-DAG: %[[W:.*]] = arith.constant dense<{{\[\[\[}}1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]], {{\[\[}}5.000000e+00, 6.000000e+00], [7.000000e+00, 8.000000e+00]], {{\[\[}}9.000000e+00, 1.000000e+01], [1.100000e+01, 1.200000e+01]]]> : tensor<3x2x2xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<{{\[\[\[}}1.000000e-01, 2.000000e-01], [3.000000e-01, 4.000000e-01]], {{\[\[}}5.000000e-01, 5.000000e-01], [5.000000e-01, 5.000000e-01]], {{\[\[}}-1.000000e+00, -2.000000e+00], [-3.000000e+00, -4.000000e+00]]]> : tensor<3x2x2xf32>
// CHECK: %[[Y:.*]] = tac.layer_stack layers [0, 3) (%[[H:.*]] = %[[X]] : tensor<2x2xf32>) weights (%[[WI:.*]] = %[[W]] : tensor<3x2x2xf32>, %[[BI:.*]] = %[[B]] : tensor<3x2x2xf32>) select %[[SEL]] : index paths #tac.paths<[0], [0, 1], [0, 1, 2]> {
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<2x2xf32>
// CHECK-NEXT: %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[F:.*]] = linalg.fill ins(%[[Z]] : f32) outs(%[[E]] : tensor<2x2xf32>)
// CHECK-NEXT: %[[M:.*]] = linalg.matmul ins(%[[H]], %[[WI]] : tensor<2x2xf32>, tensor<2x2xf32>) outs(%[[F]] : tensor<2x2xf32>)
// CHECK-NEXT: %[[A:.*]] = arith.addf %[[M]], %[[BI]] : tensor<2x2xf32>
// CHECK-NEXT: %[[T:.*]] = math.tanh %[[A]] : tensor<2x2xf32>
// CHECK-NEXT: tac.yield %[[T]] : tensor<2x2xf32>
// CHECK-NEXT: }
// CHECK-NEXT: return %[[Y]]
// CHECK-NOT: tac.adaptive_block
func.func @mlp(%sel: index, %x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %w0 = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b0 = arith.constant dense<[[0.1, 0.2], [0.3, 0.4]]> : tensor<2x2xf32>
  %w1 = arith.constant dense<[[5.0, 6.0], [7.0, 8.0]]> : tensor<2x2xf32>
  %b1 = arith.constant dense<0.5> : tensor<2x2xf32>
  %w2 = arith.constant dense<[[9.0, 10.0], [11.0, 12.0]]> : tensor<2x2xf32>
  %b2 = arith.constant dense<[[-1.0, -2.0], [-3.0, -4.0]]> : tensor<2x2xf32>
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1], [0, 1, 2]> (%x : tensor<2x2xf32>)
  layer (%h) {
    %e = tensor.empty() : tensor<2x2xf32>
    %z = arith.constant 0.0 : f32
    %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
    %m = linalg.matmul ins(%h, %w0 : tensor<2x2xf32>, tensor<2x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
    %a = arith.addf %m, %b0 : tensor<2x2xf32>
    %t = math.tanh %a : tensor<2x2xf32>
    tac.yield %t : tensor<2x2xf32>
  }
  layer (%h) {
    %e = tensor.empty() : tensor<2x2xf32>
    %z = arith.constant 0.0 : f32
    %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
    %m = linalg.matmul ins(%h, %w1 : tensor<2x2xf32>, tensor<2x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
    %a = arith.addf %m, %b1 : tensor<2x2xf32>
    %t = math.tanh %a : tensor<2x2xf32>
    tac.yield %t : tensor<2x2xf32>
  }
  layer (%h) {
    %e = tensor.empty() : tensor<2x2xf32>
    %z = arith.constant 0.0 : f32
    %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
    %m = linalg.matmul ins(%h, %w2 : tensor<2x2xf32>, tensor<2x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
    %a = arith.addf %m, %b2 : tensor<2x2xf32>
    %t = math.tanh %a : tensor<2x2xf32>
    tac.yield %t : tensor<2x2xf32>
  }
  return %y : tensor<2x2xf32>
}

// -----

// Shared captures stay captured: the same value in every layer (a mask
// argument, one common constant), and equal constants duplicated per layer
// (as the ONNX importer emits them: layer 0's serves all). Only the weight
// that differs is stacked. The selector may be an integer.

// CHECK-LABEL: func.func @shared
// CHECK-SAME: (%[[SEL:.*]]: i32, %[[X:.*]]: tensor<4xf32>, %[[MASK:.*]]: tensor<4xf32>)
// CHECK-DAG: %[[COMMON:.*]] = arith.constant dense<2.500000e-01> : tensor<4xf32>
// CHECK-DAG: %[[S0:.*]] = arith.constant dense<1.600000e+01> : tensor<4xf32>
// CHECK-DAG: %[[W:.*]] = arith.constant dense<{{\[\[}}1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00], [2.000000e+00, 2.000000e+00, 2.000000e+00, 2.000000e+00], [3.000000e+00, 3.000000e+00, 3.000000e+00, 3.000000e+00], [4.000000e+00, 4.000000e+00, 4.000000e+00, 4.000000e+00]]> : tensor<4x4xf32>
// CHECK: tac.layer_stack layers [0, 4) (%[[H:.*]] = %[[X]] : tensor<4xf32>) weights (%[[WI:.*]] = %[[W]] : tensor<4x4xf32>) select %[[SEL]] : i32 paths #tac.paths<[0, 1], [0, 1, 2, 3]> {
// CHECK-NEXT: arith.mulf %[[H]], %[[WI]]
// CHECK-NEXT: arith.addf %{{.*}}, %[[MASK]]
// CHECK-NEXT: arith.mulf %{{.*}}, %[[COMMON]]
// CHECK-NEXT: arith.divf %{{.*}}, %[[S0]]
// CHECK-NEXT: tac.yield
// CHECK-NOT: arith.constant dense<1.600000e+01>
func.func @shared(%sel: i32, %x: tensor<4xf32>, %mask: tensor<4xf32>) -> tensor<4xf32> {
  %common = arith.constant dense<0.25> : tensor<4xf32>
  %w0 = arith.constant dense<1.0> : tensor<4xf32>
  %s0 = arith.constant dense<16.0> : tensor<4xf32>
  %w1 = arith.constant dense<2.0> : tensor<4xf32>
  %s1 = arith.constant dense<16.0> : tensor<4xf32>
  %w2 = arith.constant dense<3.0> : tensor<4xf32>
  %s2 = arith.constant dense<16.0> : tensor<4xf32>
  %w3 = arith.constant dense<4.0> : tensor<4xf32>
  %s3 = arith.constant dense<16.0> : tensor<4xf32>
  %y = tac.adaptive_block %sel : i32 paths #tac.paths<[0, 1], [0, 1, 2, 3]> (%x : tensor<4xf32>)
  layer (%h) {
    %a = arith.mulf %h, %w0 : tensor<4xf32>
    %b = arith.addf %a, %mask : tensor<4xf32>
    %c = arith.mulf %b, %common : tensor<4xf32>
    %d = arith.divf %c, %s0 : tensor<4xf32>
    tac.yield %d : tensor<4xf32>
  }
  layer (%h) {
    %a = arith.mulf %h, %w1 : tensor<4xf32>
    %b = arith.addf %a, %mask : tensor<4xf32>
    %c = arith.mulf %b, %common : tensor<4xf32>
    %d = arith.divf %c, %s1 : tensor<4xf32>
    tac.yield %d : tensor<4xf32>
  }
  layer (%h) {
    %a = arith.mulf %h, %w2 : tensor<4xf32>
    %b = arith.addf %a, %mask : tensor<4xf32>
    %c = arith.mulf %b, %common : tensor<4xf32>
    %d = arith.divf %c, %s2 : tensor<4xf32>
    tac.yield %d : tensor<4xf32>
  }
  layer (%h) {
    %a = arith.mulf %h, %w3 : tensor<4xf32>
    %b = arith.addf %a, %mask : tensor<4xf32>
    %c = arith.mulf %b, %common : tensor<4xf32>
    %d = arith.divf %c, %s3 : tensor<4xf32>
    tac.yield %d : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// linalg.generic bodies are compared recursively; a per-layer scalar
// constant inside the body (an epsilon) becomes a slot of rank 1, read
// through tensor.extract (slots are ordered by first use, nested regions
// after their op's operands); constants equal in every layer stay inside.
// Weights may be defined inside the layers too.

// CHECK-LABEL: func.func @generic
// CHECK-DAG: %[[EPS:.*]] = arith.constant dense<[9.99999974E-6, 9.99999997E-7]> : tensor<2xf32>
// CHECK-DAG: %[[G:.*]] = arith.constant dense<{{\[\[}}1.000000e+00, 2.000000e+00, 3.000000e+00], [4.000000e+00, 5.000000e+00, 6.000000e+00]]> : tensor<2x3xf32>
// CHECK: tac.layer_stack layers [0, 2) (%[[H:.*]] = %{{.*}} : tensor<3xf32>) weights (%[[GI:.*]] = %[[G]] : tensor<2x3xf32>, %[[EI:.*]] = %[[EPS]] : tensor<2xf32>)
// CHECK-NEXT: %[[E:.*]] = tensor.extract %[[EI]][] : tensor<f32>
// CHECK: linalg.generic {{.*}} ins(%[[H]], %[[GI]] : tensor<3xf32>, tensor<3xf32>)
// CHECK-NEXT: ^bb0(%[[IN:.*]]: f32, %[[GAMMA:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[IN]], %[[E]] : f32
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[S]], %[[GAMMA]] : f32
// CHECK-NEXT: %[[Q:.*]] = arith.addf %[[P]], %[[ONE]] : f32
// CHECK-NEXT: linalg.yield %[[Q]] : f32
#id = affine_map<(d0) -> (d0)>
func.func @generic(%sel: index, %x: tensor<3xf32>) -> tensor<3xf32> {
  %y = tac.adaptive_block %sel : index paths #tac.paths<[], [0, 1]> (%x : tensor<3xf32>)
  layer (%h) {
    %g = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
    %e = tensor.empty() : tensor<3xf32>
    %r = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
        ins(%h, %g : tensor<3xf32>, tensor<3xf32>) outs(%e : tensor<3xf32>) {
    ^bb0(%in: f32, %gamma: f32, %out: f32):
      %one = arith.constant 1.0 : f32
      %eps = arith.constant 1.0e-5 : f32
      %s = arith.addf %in, %eps : f32
      %p = arith.mulf %s, %gamma : f32
      %q = arith.addf %p, %one : f32
      linalg.yield %q : f32
    } -> tensor<3xf32>
    tac.yield %r : tensor<3xf32>
  }
  layer (%h) {
    %g = arith.constant dense<[4.0, 5.0, 6.0]> : tensor<3xf32>
    %e = tensor.empty() : tensor<3xf32>
    %r = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
        ins(%h, %g : tensor<3xf32>, tensor<3xf32>) outs(%e : tensor<3xf32>) {
    ^bb0(%in: f32, %gamma: f32, %out: f32):
      %one = arith.constant 1.0 : f32
      %eps = arith.constant 1.0e-6 : f32
      %s = arith.addf %in, %eps : f32
      %p = arith.mulf %s, %gamma : f32
      %q = arith.addf %p, %one : f32
      linalg.yield %q : f32
    } -> tensor<3xf32>
    tac.yield %r : tensor<3xf32>
  }
  return %y : tensor<3xf32>
}

// -----

// i1 constants are stored bit-packed: they stack through their values
// (a splat expanded), not their bytes. Integer weights stack too.

// CHECK-LABEL: func.func @masks
// CHECK-DAG: %[[M:.*]] = arith.constant dense<{{\[\[}}true, false, true, false, true], [true, true, true, true, true], [false, false, true, true, false]]> : tensor<3x5xi1>
// CHECK-DAG: %[[K:.*]] = arith.constant dense<{{\[\[}}1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [-1, -2, -3, -4, -5]]> : tensor<3x5xi8>
// CHECK: tac.layer_stack layers [0, 3) {{.*}} weights (%{{.*}} = %[[K]] : tensor<3x5xi8>, %{{.*}} = %[[M]] : tensor<3x5xi1>)
func.func @masks(%sel: index, %x: tensor<5xi8>) -> tensor<5xi8> {
  %m0 = arith.constant dense<[true, false, true, false, true]> : tensor<5xi1>
  %k0 = arith.constant dense<[1, 2, 3, 4, 5]> : tensor<5xi8>
  %m1 = arith.constant dense<true> : tensor<5xi1>
  %k1 = arith.constant dense<[6, 7, 8, 9, 10]> : tensor<5xi8>
  %m2 = arith.constant dense<[false, false, true, true, false]> : tensor<5xi1>
  %k2 = arith.constant dense<[-1, -2, -3, -4, -5]> : tensor<5xi8>
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0, 1, 2]> (%x : tensor<5xi8>)
  layer (%h) {
    %a = arith.addi %h, %k0 : tensor<5xi8>
    %s = arith.select %m0, %a, %h : tensor<5xi1>, tensor<5xi8>
    tac.yield %s : tensor<5xi8>
  }
  layer (%h) {
    %a = arith.addi %h, %k1 : tensor<5xi8>
    %s = arith.select %m1, %a, %h : tensor<5xi1>, tensor<5xi8>
    tac.yield %s : tensor<5xi8>
  }
  layer (%h) {
    %a = arith.addi %h, %k2 : tensor<5xi8>
    %s = arith.select %m2, %a, %h : tensor<5xi1>, tensor<5xi8>
    tac.yield %s : tensor<5xi8>
  }
  return %y : tensor<5xi8>
}

// -----

// Weights read in two places of a layer are one slot; a weight used by
// several blocks stays for the others. A state of two values works too.

// CHECK-LABEL: func.func @two_state
// CHECK-DAG: %[[KEEP:.*]] = arith.constant dense<3.000000e+00> : tensor<2xf32>
// CHECK-DAG: %[[W:.*]] = arith.constant dense<{{\[\[}}3.000000e+00, 3.000000e+00], [4.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[R:.*]]:2 = tac.layer_stack layers [0, 2) (%[[A:.*]] = %{{.*}} : tensor<2xf32>, %[[B:.*]] = %{{.*}} : tensor<2xf32>) weights (%[[WI:.*]] = %[[W]] : tensor<2x2xf32>)
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[A]], %[[WI]]
// CHECK-NEXT: %[[Q:.*]] = arith.addf %[[B]], %[[WI]]
// CHECK-NEXT: tac.yield %[[Q]], %[[P]]
// CHECK: arith.addf %[[R]]#0, %[[KEEP]]
func.func @two_state(%sel: index, %x: tensor<2xf32>, %z: tensor<2xf32>) -> tensor<2xf32> {
  %w0 = arith.constant dense<3.0> : tensor<2xf32>
  %w1 = arith.constant dense<4.0> : tensor<2xf32>
  %y:2 = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<2xf32>, %z : tensor<2xf32>)
  layer (%a, %b) {
    %p = arith.mulf %a, %w0 : tensor<2xf32>
    %q = arith.addf %b, %w0 : tensor<2xf32>
    tac.yield %q, %p : tensor<2xf32>, tensor<2xf32>
  }
  layer (%a, %b) {
    %p = arith.mulf %a, %w1 : tensor<2xf32>
    %q = arith.addf %b, %w1 : tensor<2xf32>
    tac.yield %q, %p : tensor<2xf32>, tensor<2xf32>
  }
  %r = arith.addf %y#0, %w0 : tensor<2xf32>
  return %r : tensor<2xf32>
}

// -----

// Nested blocks fold inside out: each outer layer's inner block becomes a
// stack over its own stacked weights, which the outer stack stacks again.
// Layers without weights fold to a stack without weights.

// CHECK-LABEL: func.func @nested
// CHECK: %[[W:.*]] = arith.constant dense<{{\[\[\[}}1.000000e+00, 1.000000e+00], [2.000000e+00, 2.000000e+00]], {{\[\[}}3.000000e+00, 3.000000e+00], [4.000000e+00, 4.000000e+00]]]> : tensor<2x2x2xf32>
// CHECK: tac.layer_stack layers [0, 2) (%[[H:.*]] = %{{.*}} : tensor<2xf32>) weights (%[[WI:.*]] = %[[W]] : tensor<2x2x2xf32>) select
// CHECK-NEXT: %[[IN:.*]] = tac.layer_stack layers [0, 2) (%[[G:.*]] = %[[H]] : tensor<2xf32>) weights (%[[VI:.*]] = %[[WI]] : tensor<2x2xf32>) select
// CHECK-NEXT: arith.mulf %[[G]], %[[VI]]
// CHECK: tac.layer_stack layers [0, 3) (%{{.*}} = %{{.*}} : tensor<2xf32>) select
// CHECK-NEXT: math.tanh
// CHECK-NOT: tac.adaptive_block
func.func @nested(%sel: index, %x: tensor<2xf32>) -> tensor<2xf32> {
  %a0 = arith.constant dense<1.0> : tensor<2xf32>
  %a1 = arith.constant dense<2.0> : tensor<2xf32>
  %b0 = arith.constant dense<3.0> : tensor<2xf32>
  %b1 = arith.constant dense<4.0> : tensor<2xf32>
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<2xf32>)
  layer (%h) {
    %i = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%h : tensor<2xf32>)
    layer (%g) {
      %r = arith.mulf %g, %a0 : tensor<2xf32>
      tac.yield %r : tensor<2xf32>
    }
    layer (%g) {
      %r = arith.mulf %g, %a1 : tensor<2xf32>
      tac.yield %r : tensor<2xf32>
    }
    tac.yield %i : tensor<2xf32>
  }
  layer (%h) {
    %i = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%h : tensor<2xf32>)
    layer (%g) {
      %r = arith.mulf %g, %b0 : tensor<2xf32>
      tac.yield %r : tensor<2xf32>
    }
    layer (%g) {
      %r = arith.mulf %g, %b1 : tensor<2xf32>
      tac.yield %r : tensor<2xf32>
    }
    tac.yield %i : tensor<2xf32>
  }
  %z = tac.adaptive_block %sel : index paths #tac.paths<[0, 2], [0, 1, 2]> (%y : tensor<2xf32>)
  layer (%h) {
    %t = math.tanh %h : tensor<2xf32>
    tac.yield %t : tensor<2xf32>
  }
  layer (%h) {
    %t = math.tanh %h : tensor<2xf32>
    tac.yield %t : tensor<2xf32>
  }
  layer (%h) {
    %t = math.tanh %h : tensor<2xf32>
    tac.yield %t : tensor<2xf32>
  }
  return %z : tensor<2xf32>
}
