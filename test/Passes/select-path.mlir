// RUN: tac-opt %s --tac-select-path=path=0 --split-input-file | FileCheck %s --check-prefix=P0
// RUN: tac-opt %s --tac-select-path --split-input-file | FileCheck %s --check-prefix=LAST
// RUN: not tac-opt %s --tac-select-path=path=3 --split-input-file 2>&1 | FileCheck %s --check-prefix=RANGE

// P0-LABEL: func.func @block
// P0-SAME: (%{{.*}}: index, %[[X:.*]]: tensor<4xf32>, %[[B0:.*]]: tensor<4xf32>, %{{.*}}: tensor<4xf32>)
// P0-NOT: tac.adaptive_block
// P0: %[[R:.*]] = arith.addf %[[X]], %[[B0]]
// P0-NEXT: return %[[R]]

// LAST-LABEL: func.func @block
// LAST-SAME: (%{{.*}}: index, %[[X:.*]]: tensor<4xf32>, %[[B0:.*]]: tensor<4xf32>, %[[B1:.*]]: tensor<4xf32>)
// LAST: %[[R0:.*]] = arith.addf %[[X]], %[[B0]]
// LAST: %[[R1:.*]] = arith.mulf %[[R0]], %[[B1]]
// LAST-NEXT: return %[[R1]]

// RANGE: error: --tac-select-path: path 3 is out of range for this path set of 2 paths; expected -1 (the last) or a value in [0, 2)
func.func @block(%sel: index, %x: tensor<4xf32>, %b0: tensor<4xf32>, %b1: tensor<4xf32>) -> tensor<4xf32> {
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<4xf32>)
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

// A stack's selector becomes the constant; contiguous paths fold to a
// sliced stack, strided ones keep the constant selector. Gates and stacks
// without a path set are left alone, as is the controller.

// P0-LABEL: func.func @stack_and_gate
// P0: tac.policy_output
// P0: tensor.extract_slice %{{.*}}[0, 0] [1, 4] [1, 1]
// P0: tac.layer_stack layers [0, 1)
// P0-NOT: select
// P0: tac.gate
// P0: tac.layer_stack layers [0, 4) {{.*}} select %{{.*}} : i32 paths #tac.paths<[0, 2], [1, 3]>

// LAST-LABEL: func.func @stack_and_gate
// LAST: tac.layer_stack layers [0, 4) (%{{.*}} = %{{.*}} : tensor<4xf32>) weights (%{{.*}} = %{{.*}} : tensor<4x4xf32>) {
// LAST: tac.gate
// LAST: %[[C1:.*]] = arith.constant 1 : i32
// LAST: tac.layer_stack layers [0, 4) {{.*}} select %[[C1]] : i32 paths #tac.paths<[0, 2], [1, 3]>
func.func @stack_and_gate(%d: tensor<i64>, %c: i1, %x: tensor<4xf32>, %w: tensor<4x4xf32>) -> tensor<4xf32> {
  %p = tac.policy_output %d : tensor<i64>
  %v = tensor.extract %p[] : tensor<i64>
  %sel = arith.index_cast %v : i64 to index
  %y = tac.layer_stack layers [0, 4) (%h = %x : tensor<4xf32>) weights (%wi = %w : tensor<4x4xf32>)
         select %sel : index paths #tac.paths<[0], [0, 1, 2, 3]> {
    %r = arith.mulf %h, %wi : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  %z = tac.gate %c (%h = %y : tensor<4xf32>) {
    %r = math.tanh %h : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  %s32 = arith.index_cast %sel : index to i32
  %u = tac.layer_stack layers [0, 4) (%h = %z : tensor<4xf32>) weights (%wi = %w : tensor<4x4xf32>)
         select %s32 : i32 paths #tac.paths<[0, 2], [1, 3]> {
    %r = arith.addf %h, %wi : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %u : tensor<4xf32>
}
