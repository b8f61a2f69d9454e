// RUN: tac-opt %s --tac-prepare-plan-functions=share-controller=false --split-input-file | FileCheck %s
// RUN: tac-opt %s --tac-prepare-plan-functions --split-input-file | FileCheck %s --check-prefix=SHARE

// The dispatch function goes: the runtime dispatches from the controller's
// path (now a rank-0 i64 tensor) to the variants, which learn the path count.

// CHECK-NOT: func.func @main(
// CHECK-LABEL: func.func @main_controller
// CHECK-SAME: -> (tensor<i64>, tensor<4xf32>)
// CHECK-SAME: tac.role = "controller"
// CHECK: %[[I64:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK: %[[T:.*]] = tensor.from_elements %[[I64]] : tensor<i64>
// CHECK: %[[COPY:.*]] = linalg.copy ins(%arg0
// CHECK: return %[[T]], %[[COPY]]
// CHECK-LABEL: func.func @main_path0
// CHECK-SAME: tac.num_paths = 2 : i64
// CHECK-LABEL: func.func @main_path1
// CHECK-SAME: tac.num_paths = 2 : i64
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32>
    attributes {tac.controller = @main_controller,
                tac.variants = [@main_path0, @main_path1]} {
  return %x : tensor<4xf32>
}
func.func @main_controller(%x: tensor<4xf32>) -> (index, tensor<4xf32>) {
  %c1 = arith.constant 1 : index
  // The argument is returned as is: it gets copied into a fresh tensor.
  return %c1, %x : index, tensor<4xf32>
}
func.func @main_path0(%x: tensor<4xf32>) -> tensor<4xf32> attributes {tac.path = 0 : i64} {
  %e = tensor.empty() : tensor<4xf32>
  %y = linalg.copy ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
func.func @main_path1(%x: tensor<4xf32>) -> tensor<4xf32> attributes {tac.path = 1 : i64} {
  %e = tensor.empty() : tensor<4xf32>
  %y = linalg.copy ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// Results no op writes into (a slice, an argument) are copied into fresh
// tensors; a result an op writes stays; an unused index argument goes.

// CHECK-LABEL: func.func @slices
// CHECK-SAME: (%[[X:.*]]: tensor<4x4xf32>) -> (tensor<2x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>)
// CHECK: %[[S:.*]] = tensor.extract_slice %[[X]]
// CHECK: %[[F:.*]] = linalg.fill
// CHECK: %[[C:.*]] = linalg.copy ins(%[[S]] : tensor<2x4xf32>)
// CHECK: %[[A:.*]] = linalg.copy ins(%[[X]] : tensor<4x4xf32>)
// CHECK: return %[[C]], %[[F]], %[[A]]
func.func @slices(%x: tensor<4x4xf32>, %depth: index) -> (tensor<2x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) {
  %s = tensor.extract_slice %x[1, 0] [2, 4] [1, 1] : tensor<4x4xf32> to tensor<2x4xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  return %s, %f, %x : tensor<2x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>
}

// -----

// Sharing: the variant recomputes the controller's first matmul (and its
// fill); the controller returns it after its own results and the variant
// takes it as an argument. Constants and fills are recomputed, not carried.

// SHARE-LABEL: func.func @share_controller
// SHARE-SAME: -> (tensor<i64>, tensor<2x2xf32>, tensor<2x2xf32>)
// SHARE-SAME: tac.carried_results = 1
// SHARE: %[[H:.*]] = linalg.matmul
// SHARE: return %{{.*}}, %[[H]], %[[H]]
// SHARE-LABEL: func.func @share_path0
// SHARE-SAME: (%[[X:.*]]: tensor<2x2xf32>, %[[SHARED:.*]]: tensor<2x2xf32>) -> tensor<2x2xf32>
// SHARE-NOT: linalg.matmul ins(%[[X]]
// SHARE: linalg.matmul ins(%[[SHARED]], %[[SHARED]]
func.func @share(%x: tensor<2x2xf32>) -> tensor<2x2xf32>
    attributes {tac.controller = @share_controller, tac.variants = [@share_path0]} {
  return %x : tensor<2x2xf32>
}
func.func @share_controller(%x: tensor<2x2xf32>) -> (index, tensor<2x2xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %h = linalg.matmul ins(%x, %x : tensor<2x2xf32>, tensor<2x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  %c0 = arith.constant 0 : index
  return %c0, %h : index, tensor<2x2xf32>
}
func.func @share_path0(%x: tensor<2x2xf32>) -> tensor<2x2xf32> attributes {tac.path = 0 : i64} {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %h = linalg.matmul ins(%x, %x : tensor<2x2xf32>, tensor<2x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  %e2 = tensor.empty() : tensor<2x2xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%h, %h : tensor<2x2xf32>, tensor<2x2xf32>) outs(%f2 : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
