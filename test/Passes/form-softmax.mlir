// The importer's four-op softmax (max, exp(x - max), sum, divide) becomes
// one linalg.softmax; chains that differ in any part stay as they are.
// RUN: tac-opt %s --tac-form-softmax --split-input-file | FileCheck %s

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @last_dim
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<4x197xf32>
// CHECK-NEXT: %[[S:.*]] = linalg.softmax dimension(1) ins(%arg0 : tensor<4x197xf32>) outs(%[[E]] : tensor<4x197xf32>)
// CHECK-NEXT: return %[[S]]
func.func @last_dim(%x: tensor<4x197xf32>) -> tensor<4x197xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<4xf32>
  %m0 = linalg.fill ins(%ninf : f32) outs(%e1 : tensor<4xf32>) -> tensor<4xf32>
  %m = linalg.reduce ins(%x : tensor<4x197xf32>) outs(%m0 : tensor<4xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %r = arith.maximumf %in, %acc : f32
      linalg.yield %r : f32
    }
  %e2 = tensor.empty() : tensor<4x197xf32>
  %exp = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %m : tensor<4x197xf32>, tensor<4xf32>) outs(%e2 : tensor<4x197xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %d = arith.subf %a, %b : f32
      %v = math.exp %d : f32
      linalg.yield %v : f32
  } -> tensor<4x197xf32>
  %e3 = tensor.empty() : tensor<4xf32>
  %s0 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<4xf32>) -> tensor<4xf32>
  %s = linalg.reduce ins(%exp : tensor<4x197xf32>) outs(%s0 : tensor<4xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %r = arith.addf %in, %acc : f32
      linalg.yield %r : f32
    }
  %e4 = tensor.empty() : tensor<4x197xf32>
  %y = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%exp, %s : tensor<4x197xf32>, tensor<4xf32>) outs(%e4 : tensor<4x197xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %v = arith.divf %a, %b : f32
      linalg.yield %v : f32
  } -> tensor<4x197xf32>
  return %y : tensor<4x197xf32>
}

// -----

// Along the first dimension, the max starting from the lowest finite float.
#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @first_dim
// CHECK: linalg.softmax dimension(0)
// CHECK-NOT: linalg.reduce
func.func @first_dim(%x: tensor<3x5xf32>) -> tensor<3x5xf32> {
  %lowest = arith.constant -3.40282347E+38 : f32
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<5xf32>
  %m0 = linalg.fill ins(%lowest : f32) outs(%e1 : tensor<5xf32>) -> tensor<5xf32>
  %m = linalg.reduce ins(%x : tensor<3x5xf32>) outs(%m0 : tensor<5xf32>) dimensions = [0]
    (%in: f32, %acc: f32) {
      %r = arith.maximumf %acc, %in : f32
      linalg.yield %r : f32
    }
  %e2 = tensor.empty() : tensor<3x5xf32>
  %exp = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %m : tensor<3x5xf32>, tensor<5xf32>) outs(%e2 : tensor<3x5xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %d = arith.subf %a, %b : f32
      %v = math.exp %d : f32
      linalg.yield %v : f32
  } -> tensor<3x5xf32>
  %e3 = tensor.empty() : tensor<5xf32>
  %s0 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<5xf32>) -> tensor<5xf32>
  %s = linalg.reduce ins(%exp : tensor<3x5xf32>) outs(%s0 : tensor<5xf32>) dimensions = [0]
    (%in: f32, %acc: f32) {
      %r = arith.addf %in, %acc : f32
      linalg.yield %r : f32
    }
  %e4 = tensor.empty() : tensor<3x5xf32>
  %y = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%exp, %s : tensor<3x5xf32>, tensor<5xf32>) outs(%e4 : tensor<3x5xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %v = arith.divf %a, %b : f32
      linalg.yield %v : f32
  } -> tensor<3x5xf32>
  return %y : tensor<3x5xf32>
}

// -----

// exp(x - max) is also returned: forming would compute it twice.
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @shared_exp
// CHECK-NOT: linalg.softmax
// CHECK: arith.divf
func.func @shared_exp(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<4xf32>
  %m0 = linalg.fill ins(%ninf : f32) outs(%e1 : tensor<4xf32>) -> tensor<4xf32>
  %m = linalg.reduce ins(%x : tensor<4x8xf32>) outs(%m0 : tensor<4xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %r = arith.maximumf %in, %acc : f32
      linalg.yield %r : f32
    }
  %e2 = tensor.empty() : tensor<4x8xf32>
  %exp = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %m : tensor<4x8xf32>, tensor<4xf32>) outs(%e2 : tensor<4x8xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %d = arith.subf %a, %b : f32
      %v = math.exp %d : f32
      linalg.yield %v : f32
  } -> tensor<4x8xf32>
  %e3 = tensor.empty() : tensor<4xf32>
  %s0 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<4xf32>) -> tensor<4xf32>
  %s = linalg.reduce ins(%exp : tensor<4x8xf32>) outs(%s0 : tensor<4xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %r = arith.addf %in, %acc : f32
      linalg.yield %r : f32
    }
  %e4 = tensor.empty() : tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%exp, %s : tensor<4x8xf32>, tensor<4xf32>) outs(%e4 : tensor<4x8xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %v = arith.divf %a, %b : f32
      linalg.yield %v : f32
  } -> tensor<4x8xf32>
  return %y, %exp : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// The sum starts from 1, not 0: not a softmax.
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @sum_from_one
// CHECK-NOT: linalg.softmax
func.func @sum_from_one(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %one = arith.constant 1.0 : f32
  %e1 = tensor.empty() : tensor<4xf32>
  %m0 = linalg.fill ins(%ninf : f32) outs(%e1 : tensor<4xf32>) -> tensor<4xf32>
  %m = linalg.reduce ins(%x : tensor<4x8xf32>) outs(%m0 : tensor<4xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %r = arith.maximumf %in, %acc : f32
      linalg.yield %r : f32
    }
  %e2 = tensor.empty() : tensor<4x8xf32>
  %exp = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %m : tensor<4x8xf32>, tensor<4xf32>) outs(%e2 : tensor<4x8xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %d = arith.subf %a, %b : f32
      %v = math.exp %d : f32
      linalg.yield %v : f32
  } -> tensor<4x8xf32>
  %e3 = tensor.empty() : tensor<4xf32>
  %s0 = linalg.fill ins(%one : f32) outs(%e3 : tensor<4xf32>) -> tensor<4xf32>
  %s = linalg.reduce ins(%exp : tensor<4x8xf32>) outs(%s0 : tensor<4xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %r = arith.addf %in, %acc : f32
      linalg.yield %r : f32
    }
  %e4 = tensor.empty() : tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%exp, %s : tensor<4x8xf32>, tensor<4xf32>) outs(%e4 : tensor<4x8xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %v = arith.divf %a, %b : f32
      linalg.yield %v : f32
  } -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The generic reductions tac-batch-rows makes of linalg.reduce (a batch of
// two rows in front of the importer's 3 x 8).
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#red = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @batched_generic_reductions
// CHECK: linalg.softmax dimension(2) ins(%arg0 : tensor<2x3x8xf32>)
// CHECK-NOT: linalg.generic
func.func @batched_generic_reductions(%x: tensor<2x3x8xf32>) -> tensor<2x3x8xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<2x3xf32>
  %m0 = linalg.fill ins(%ninf : f32) outs(%e1 : tensor<2x3xf32>) -> tensor<2x3xf32>
  %m = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x : tensor<2x3x8xf32>) outs(%m0 : tensor<2x3xf32>) {
    ^bb0(%in: f32, %acc: f32):
      %r = arith.maximumf %in, %acc : f32
      linalg.yield %r : f32
  } -> tensor<2x3xf32>
  %e2 = tensor.empty() : tensor<2x3x8xf32>
  %exp = linalg.generic {indexing_maps = [#id, #red, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %m : tensor<2x3x8xf32>, tensor<2x3xf32>) outs(%e2 : tensor<2x3x8xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %d = arith.subf %a, %b : f32
      %v = math.exp %d : f32
      linalg.yield %v : f32
  } -> tensor<2x3x8xf32>
  %e3 = tensor.empty() : tensor<2x3xf32>
  %s0 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<2x3xf32>) -> tensor<2x3xf32>
  %s = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%exp : tensor<2x3x8xf32>) outs(%s0 : tensor<2x3xf32>) {
    ^bb0(%in: f32, %acc: f32):
      %r = arith.addf %in, %acc : f32
      linalg.yield %r : f32
  } -> tensor<2x3xf32>
  %e4 = tensor.empty() : tensor<2x3x8xf32>
  %y = linalg.generic {indexing_maps = [#id, #red, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%exp, %s : tensor<2x3x8xf32>, tensor<2x3xf32>) outs(%e4 : tensor<2x3x8xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %v = arith.divf %a, %b : f32
      linalg.yield %v : f32
  } -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}
