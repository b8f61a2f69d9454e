// RUN: tac-opt %s --tac-specialize-paths --split-input-file --verify-diagnostics | FileCheck %s

// One static function per path, the controller, and the dispatch table.
// CHECK-LABEL: func.func @model
// CHECK-SAME: tac.controller = @model_controller
// CHECK-SAME: tac.variants = [@model_path0, @model_path1, @model_path2]
// CHECK: tac.adaptive_block

// The controller is the slice computing the selector (+ the predictor).
// CHECK-LABEL: func.func @model_controller
// CHECK-SAME: -> (index, tensor<f32>)
// CHECK-SAME: tac.output_names = ["path", "complexity"]
// CHECK: %[[S:.*]] = tac.predictor_output
// CHECK: tac.policy_output
// CHECK-NOT: linalg.matmul
// CHECK-NOT: tac.adaptive_block
// CHECK: return %{{.*}}, %[[S]] : index, tensor<f32>

// CHECK-LABEL: func.func @model_path0
// CHECK-SAME: tac.layers = array<i64>
// CHECK-SAME: tac.path = 0
// CHECK-NOT: tac.{{[a-z_]+}} 
// CHECK-NOT: arith.mulf
// CHECK: return %{{[a-z0-9]*}} :

// CHECK-LABEL: func.func @model_path1
// CHECK-SAME: tac.layers = array<i64: 0, 2>
// CHECK-SAME: tac.path = 1
// CHECK-NOT: tac.{{[a-z_]+}} 
// CHECK: arith.addf
// CHECK-NOT: arith.mulf
// CHECK: math.tanh
// CHECK: return

// CHECK-LABEL: func.func @model_path2
// CHECK-SAME: tac.layers = array<i64: 0, 1, 2>
// CHECK: arith.addf
// CHECK: arith.mulf
// CHECK: math.tanh
// CHECK: return
func.func @model(%x: tensor<4xf32>, %score: tensor<f32>, %w: tensor<4xf32>) -> tensor<4xf32> {
  %s = tac.predictor_output %score : tensor<f32>
  %v = tensor.extract %s[] : tensor<f32>
  %half = arith.constant 0.5 : f32
  %two = arith.constant 2.0 : f32
  %a = arith.cmpf ogt, %v, %half : f32
  %b = arith.cmpf ogt, %v, %two : f32
  %ai = arith.extui %a : i1 to i64
  %bi = arith.extui %b : i1 to i64
  %d = arith.addi %ai, %bi : i64
  %p = tac.policy_output %d : i64
  %sel = arith.index_cast %p : i64 to index
  %y = tac.adaptive_block %sel : index paths #tac.paths<[], [0, 2], [0, 1, 2]> (%x : tensor<4xf32>)
  layer (%h) {
    %r = arith.addf %h, %w : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  layer (%h) {
    %r = arith.mulf %h, %w : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  layer (%h) {
    %r = math.tanh %h : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

// A folded stack: contiguous paths become a loop over a slice, strided
// ones unroll.
// CHECK-LABEL: func.func @stack_path0
// CHECK-NOT: tac.layer_stack
// CHECK: tensor.extract_slice %{{.*}}[0, 0] [1, 4] [1, 1]
// CHECK: arith.mulf
// CHECK: tensor.extract_slice %{{.*}}[2, 0] [1, 4] [1, 1]
// CHECK: arith.mulf
// CHECK-NOT: arith.mulf
// CHECK: return
// CHECK-LABEL: func.func @stack_path1
// CHECK: scf.for
// CHECK: arith.mulf
func.func @stack(%sel: index, %x: tensor<4xf32>) -> tensor<4xf32> {
  %w = arith.constant dense<[[1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0], [3.0, 3.0, 3.0, 3.0], [4.0, 4.0, 4.0, 4.0]]> : tensor<4x4xf32>
  %y = tac.layer_stack layers [0, 4) (%h = %x : tensor<4xf32>) weights (%wi = %w : tensor<4x4xf32>)
         select %sel : index paths #tac.paths<[0, 2], [0, 1, 2, 3]> {
    %r = arith.mulf %h, %wi : tensor<4xf32>
    tac.yield %r : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

func.func @two_choices(%s0: index, %s1: index, %x: tensor<4xf32>) -> tensor<4xf32> {
  %y = tac.adaptive_block %s0 : index paths #tac.paths<[], [0]> (%x : tensor<4xf32>)
  layer (%h) {
    tac.yield %h : tensor<4xf32>
  }
  // expected-error @+1 {{tac-specialize-paths: this function has several adaptive ops with different selectors or path counts; specialisation needs one path choice per function}}
  %z = tac.adaptive_block %s1 : index paths #tac.paths<[], [0]> (%y : tensor<4xf32>)
  layer (%h) {
    tac.yield %h : tensor<4xf32>
  }
  return %z : tensor<4xf32>
}
