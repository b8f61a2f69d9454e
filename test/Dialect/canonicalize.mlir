// Every fold and canonicalization of the tac ops.
// RUN: tac-opt %s --canonicalize --split-input-file | FileCheck %s

// A gate that is off passes its input through.
// CHECK-LABEL: func.func @gate_off
// CHECK-SAME: (%{{.*}}: tensor<4xf32>, %[[X:.*]]: tensor<4xf32>)
// CHECK-NOT: tac.gate
// CHECK: return %[[X]]
func.func @gate_off(%b: tensor<4xf32>, %x: tensor<4xf32>) -> tensor<4xf32> {
  %false = arith.constant false
  %y = tac.gate %false (%h = %x : tensor<4xf32>) {
    %r = arith.addf %h, %b : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// A gate that is on becomes its body.
// CHECK-LABEL: func.func @gate_on
// CHECK-SAME: (%[[B:.*]]: tensor<4xf32>, %[[X:.*]]: tensor<4xf32>)
// CHECK-NOT: tac.gate
// CHECK: %[[R:.*]] = arith.addf %[[X]], %[[B]]
// CHECK: return %[[R]], %[[X]]
func.func @gate_on(%b: tensor<4xf32>, %x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %true = arith.constant true
  // The second state value is yielded unchanged: inlining maps it back.
  %y:2 = tac.gate %true (%h = %x : tensor<4xf32>, %k = %x : tensor<4xf32>) {
    %r = arith.addf %h, %b : tensor<4xf32>
    tac.yield %r, %k : tensor<4xf32>, tensor<4xf32>
  }
  return %y#0, %y#1 : tensor<4xf32>, tensor<4xf32>
}

// -----

// A gate on a run-time condition stays.
// CHECK-LABEL: func.func @gate_dynamic
// CHECK: tac.gate
func.func @gate_dynamic(%c: i1, %x: tensor<4xf32>) -> tensor<4xf32> {
  %y = tac.gate %c (%h = %x : tensor<4xf32>) {
    %r = math.tanh %h : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// A constant selector inlines its path's layers in path order.
// CHECK-LABEL: func.func @block_constant_selector
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>, %[[B0:.*]]: tensor<4xf32>, %[[B1:.*]]: tensor<4xf32>, %[[B2:.*]]: tensor<4xf32>)
// CHECK-NOT: tac.adaptive_block
// CHECK: %[[L2:.*]] = arith.subf %[[X]], %[[B2]]
// CHECK: %[[L0:.*]] = arith.addf %[[L2]], %[[B0]]
// CHECK: return %[[L0]]
func.func @block_constant_selector(%x: tensor<4xf32>, %b0: tensor<4xf32>, %b1: tensor<4xf32>,
                                   %b2: tensor<4xf32>) -> tensor<4xf32> {
  %c1 = arith.constant 1 : i32
  %y = tac.adaptive_block %c1 : i32 paths #tac.paths<[0], [2, 0], [0, 1, 2]> (%x : tensor<4xf32>)
  layer (%h) {
    %r = arith.addf %h, %b0 : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  layer (%h) {
    %r = arith.mulf %h, %b1 : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  layer (%h) {
    %r = arith.subf %h, %b2 : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// A selector past the end selects the last path.
// CHECK-LABEL: func.func @block_selector_out_of_range
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>, %[[B0:.*]]: tensor<4xf32>, %[[B1:.*]]: tensor<4xf32>)
// CHECK: %[[L0:.*]] = arith.addf %[[X]], %[[B0]]
// CHECK: %[[L1:.*]] = arith.mulf %[[L0]], %[[B1]]
// CHECK: return %[[L1]]
func.func @block_selector_out_of_range(%x: tensor<4xf32>, %b0: tensor<4xf32>, %b1: tensor<4xf32>) -> tensor<4xf32> {
  %c7 = arith.constant 7 : index
  %y = tac.adaptive_block %c7 : index paths #tac.paths<[0], [0, 1]> (%x : tensor<4xf32>)
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

// A block with one path is that path, whatever the selector.
// CHECK-LABEL: func.func @block_single_path
// CHECK-SAME: (%{{.*}}: index, %[[X:.*]]: tensor<4xf32>, %{{.*}}: tensor<4xf32>, %[[B1:.*]]: tensor<4xf32>)
// CHECK-NOT: tac.adaptive_block
// CHECK: %[[R:.*]] = arith.mulf %[[X]], %[[B1]]
// CHECK: return %[[R]]
func.func @block_single_path(%sel: index, %x: tensor<4xf32>, %b0: tensor<4xf32>, %b1: tensor<4xf32>) -> tensor<4xf32> {
  %y = tac.adaptive_block %sel : index paths #tac.paths<[1]> (%x : tensor<4xf32>)
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

// The empty path skips every layer.
// CHECK-LABEL: func.func @block_empty_path
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>, %{{.*}}: tensor<4xf32>)
// CHECK-NEXT: return %[[X]]
func.func @block_empty_path(%x: tensor<4xf32>, %b0: tensor<4xf32>) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %y = tac.adaptive_block %c0 : index paths #tac.paths<[], [0]> (%x : tensor<4xf32>)
  layer (%h) {
    %r = arith.addf %h, %b0 : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// A run-time selector over several paths stays.
// CHECK-LABEL: func.func @block_dynamic
// CHECK: tac.adaptive_block
func.func @block_dynamic(%sel: index, %x: tensor<4xf32>, %b0: tensor<4xf32>) -> tensor<4xf32> {
  %y = tac.adaptive_block %sel : index paths #tac.paths<[], [0]> (%x : tensor<4xf32>)
  layer (%h) {
    %r = arith.addf %h, %b0 : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// A stack over no layers is the identity.
// CHECK-LABEL: func.func @stack_empty_range
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>, %{{.*}}: tensor<0x4xf32>)
// CHECK-NEXT: return %[[X]]
func.func @stack_empty_range(%x: tensor<4xf32>, %w: tensor<0x4xf32>) -> tensor<4xf32> {
  %y = tac.layer_stack layers [3, 3) (%h = %x : tensor<4xf32>) weights (%wi = %w : tensor<0x4xf32>) {
    %r = arith.mulf %h, %wi : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// A constant selector choosing a contiguous run slices the stacked weights.
// CHECK-LABEL: func.func @stack_constant_contiguous
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>, %[[W:.*]]: tensor<6x4xf32>)
// CHECK: %[[S:.*]] = tensor.extract_slice %[[W]][1, 0] [3, 4] [1, 1] : tensor<6x4xf32> to tensor<3x4xf32>
// CHECK: %[[Y:.*]] = tac.layer_stack layers [3, 6) (%[[H:.*]] = %[[X]] : tensor<4xf32>) weights (%[[WI:.*]] = %[[S]] : tensor<3x4xf32>) {
// CHECK-NEXT: %[[R:.*]] = arith.mulf %[[H]], %[[WI]]
// CHECK-NEXT: tac.yield %[[R]]
// CHECK: return %[[Y]]
func.func @stack_constant_contiguous(%x: tensor<4xf32>, %w: tensor<6x4xf32>) -> tensor<4xf32> {
  %c1 = arith.constant 1 : index
  %y = tac.layer_stack layers [2, 8) (%h = %x : tensor<4xf32>) weights (%wi = %w : tensor<6x4xf32>)
         select %c1 : index paths #tac.paths<[2], [3, 4, 5], [2, 3, 4, 5, 6, 7]> {
    %r = arith.mulf %h, %wi : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// One path and a run-time selector: the same slicing.
// CHECK-LABEL: func.func @stack_single_path
// CHECK: tensor.extract_slice %{{.*}}[0, 0] [2, 4] [1, 1]
// CHECK: tac.layer_stack layers [0, 2)
// CHECK-NOT: select
func.func @stack_single_path(%sel: index, %x: tensor<4xf32>, %w: tensor<4x4xf32>) -> tensor<4xf32> {
  %y = tac.layer_stack layers [0, 4) (%h = %x : tensor<4xf32>) weights (%wi = %w : tensor<4x4xf32>)
         select %sel : index paths #tac.paths<[0, 1]> {
    %r = arith.mulf %h, %wi : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// A non-contiguous path is left for path specialisation.
// CHECK-LABEL: func.func @stack_constant_strided
// CHECK: tac.layer_stack layers [0, 4) {{.*}} select %{{.*}} : index paths #tac.paths<[0, 2], [0, 1, 2, 3]>
func.func @stack_constant_strided(%x: tensor<4xf32>, %w: tensor<4x4xf32>) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %y = tac.layer_stack layers [0, 4) (%h = %x : tensor<4xf32>) weights (%wi = %w : tensor<4x4xf32>)
         select %c0 : index paths #tac.paths<[0, 2], [0, 1, 2, 3]> {
    %r = arith.mulf %h, %wi : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// A constant selector choosing the empty path skips the stack.
// CHECK-LABEL: func.func @stack_empty_path
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>, %{{.*}}: tensor<4x4xf32>)
// CHECK-NEXT: return %[[X]]
func.func @stack_empty_path(%x: tensor<4xf32>, %w: tensor<4x4xf32>) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %y = tac.layer_stack layers [0, 4) (%h = %x : tensor<4xf32>) weights (%wi = %w : tensor<4x4xf32>)
         select %c0 : index paths #tac.paths<[], [0, 1, 2, 3]> {
    %r = arith.mulf %h, %wi : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// Controller markers are not dead code, even unused.
// CHECK-LABEL: func.func @markers_survive
// CHECK: tac.predictor_output
// CHECK: tac.policy_output
func.func @markers_survive(%s: tensor<1xf32>, %d: tensor<i64>) {
  %p = tac.predictor_output %s : tensor<1xf32>
  %q = tac.policy_output %d : tensor<i64>
  return
}
