// RUN: tac-opt %s --tac-batch-rows=sizes=4 --split-input-file --verify-diagnostics | FileCheck %s

// A controller and a variant: per-row values gain a leading dimension of 4
// rows, weight-only values (the transposed weight, carried to the variant)
// stay as they are, and the scalar path becomes one i64 per row.

// CHECK-LABEL: func.func @main_controller_b4
// CHECK-SAME: (%[[X:.*]]: tensor<4x1x8xf32>) -> (tensor<4xi64>, tensor<4x1x8xf32>, tensor<8x8xf32>)
// CHECK-SAME: tac.batch = 4 : i64
// CHECK-SAME: tac.shared_carried = array<i64: 1>
// The weight transpose is computed once, unbatched.
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<8x8xf32>) outs(%{{.*}} : tensor<8x8xf32>)
// The row-wise reduction gets the row loop in front.
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%[[X]] : tensor<4x1x8xf32>) outs(%{{.*}} : tensor<4x1xf32>)
// The scalar condition per row: extract + compare + select in one generic.
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<4xi64>)
// CHECK: return {{.*}} : tensor<4xi64>, tensor<4x1x8xf32>, tensor<8x8xf32>
// CHECK-LABEL: func.func @main_controller(
// CHECK-LABEL: func.func @main_path0_b4
// CHECK-SAME: (%{{.*}}: tensor<4x1x8xf32>, %{{.*}}: tensor<4x1x8xf32>, %[[W:.*]]: tensor<8x8xf32>) -> tensor<4x1x8xf32>
// The matmul against the shared weight: rows fold into the GEMM's M.
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]{{.*}} ins(%{{.*}}, %[[W]] : tensor<4x1x8xf32>, tensor<8x8xf32>) outs(%{{.*}} : tensor<4x1x8xf32>)
// CHECK-LABEL: func.func @main_path0(
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @main_controller(%x: tensor<1x8xf32>) -> (tensor<i64>, tensor<1x8xf32>, tensor<8x8xf32>)
    attributes {tac.role = "controller", tac.carried_results = 2 : i64} {
  %w = arith.constant dense<1.0> : tensor<8x8xf32>
  %e = tensor.empty() : tensor<8x8xf32>
  %wt = linalg.transpose ins(%w : tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<1xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1xf32>) -> tensor<1xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row],
                         iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<1x8xf32>) outs(%acc : tensor<1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %out : f32
    linalg.yield %a : f32
  } -> tensor<1xf32>
  %c0 = arith.constant 0 : index
  %s = tensor.extract %sum[%c0] : tensor<1xf32>
  %big = arith.cmpf ogt, %s, %zero : f32
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  %p = arith.select %big, %c1, %c2 : i64
  %pt = tensor.from_elements %p : tensor<i64>
  %e2 = tensor.empty() : tensor<1x8xf32>
  %copy = linalg.copy ins(%x : tensor<1x8xf32>) outs(%e2 : tensor<1x8xf32>) -> tensor<1x8xf32>
  return %pt, %copy, %wt : tensor<i64>, tensor<1x8xf32>, tensor<8x8xf32>
}
func.func @main_path0(%x: tensor<1x8xf32>, %h: tensor<1x8xf32>, %wt: tensor<8x8xf32>) -> tensor<1x8xf32>
    attributes {tac.path = 0 : i64} {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8xf32>) -> tensor<1x8xf32>
  %y = linalg.matmul ins(%h, %wt : tensor<1x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<1x8xf32>) -> tensor<1x8xf32>
  return %y : tensor<1x8xf32>
}

// -----

// An op the pass does not know, on a per-row value, is an error naming it.
func.func @main(%x: tensor<1x8xf32>) -> tensor<1x8xf32> {
  // expected-error @+1 {{tac-batch-rows: cannot batch 'tensor.bitcast'}}
  %y = tensor.bitcast %x : tensor<1x8xf32> to tensor<1x8xi32>
  %z = tensor.bitcast %y : tensor<1x8xi32> to tensor<1x8xf32>
  return %z : tensor<1x8xf32>
}

// -----

// Padding keeps the row dimension unpadded.
// CHECK-LABEL: func.func @main_b4
// CHECK: tensor.pad %{{.*}} low[0, 0, 1] high[0, 0, 2]
// CHECK: : tensor<4x1x8xf32> to tensor<4x1x11xf32>
func.func @main(%x: tensor<1x8xf32>) -> tensor<1x11xf32> {
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 1] high[0, 2] {
  ^bb0(%i: index, %j: index):
    tensor.yield %zero : f32
  } : tensor<1x8xf32> to tensor<1x11xf32>
  return %p : tensor<1x11xf32>
}

// -----

// A fill of a per-row value becomes a generic over the rows.
// CHECK-LABEL: func.func @main_b4
// CHECK: %[[S:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<4xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[S]] : tensor<4xf32>) outs(%{{.*}} : tensor<4x1x3xf32>)
func.func @main(%x: tensor<1x8xf32>) -> tensor<1x3xf32> {
  %c0 = arith.constant 0 : index
  %s = tensor.extract %x[%c0, %c0] : tensor<1x8xf32>
  %e = tensor.empty() : tensor<1x3xf32>
  %f = linalg.fill ins(%s : f32) outs(%e : tensor<1x3xf32>) -> tensor<1x3xf32>
  return %f : tensor<1x3xf32>
}
