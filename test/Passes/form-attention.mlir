// The importer's attention chain (Q Kᵀ, scale, mask, softmax, P V) becomes
// one tac.attention that reads Q, K and V through the transposes that split
// the heads; chains that differ in any part stay as they are.
// RUN: tac-opt %s --tac-form-attention --split-input-file | FileCheck %s

#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#mask = affine_map<(d0, d1, d2, d3) -> (d0, 0, 0, d3)>
// BERT's form: heads split by transposes, Q divided by sqrt(d), a padding
// mask broadcast over heads and rows, the heads joined by a transpose.
// CHECK-LABEL: func.func @bert
// CHECK-NOT: linalg.transpose
// CHECK: %[[E:.*]] = tensor.empty() : tensor<2x8x4x16xf32>
// CHECK: %[[A:.*]] = tac.attention ins(%arg0, %arg1, %arg2 : tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32>) mask(%arg3 : tensor<2x1x1x8xf32>) outs(%[[E]] : tensor<2x8x4x16xf32>)
// CHECK-SAME: key_dims = array<i64: 0, 2, 1, 3>
// CHECK-SAME: mask_dims = array<i64: 0, 1, 2, 3>
// CHECK-SAME: query_dims = array<i64: 0, 2, 1, 3>
// CHECK-SAME: result_dims = array<i64: 0, 2, 1, 3>
// CHECK-SAME: scale = 2.500000e-01 : f32
// CHECK-SAME: value_dims = array<i64: 0, 2, 1, 3>
// CHECK-NOT: linalg.batch_matmul
// CHECK-NOT: linalg.softmax
// CHECK: return %[[A]]
func.func @bert(%q: tensor<2x8x4x16xf32>, %k: tensor<2x8x4x16xf32>,
                %v: tensor<2x8x4x16xf32>, %m: tensor<2x1x1x8xf32>)
    -> tensor<2x8x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %four = arith.constant 4.0 : f32
  %e0 = tensor.empty() : tensor<2x4x8x16xf32>
  %qt = linalg.transpose ins(%q : tensor<2x8x4x16xf32>) outs(%e0 : tensor<2x4x8x16xf32>) permutation = [0, 2, 1, 3]
  %e1 = tensor.empty() : tensor<2x4x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<2x8x4x16xf32>) outs(%e1 : tensor<2x4x16x8xf32>) permutation = [0, 2, 3, 1]
  %e2 = tensor.empty() : tensor<2x4x8x16xf32>
  %vt = linalg.transpose ins(%v : tensor<2x8x4x16xf32>) outs(%e2 : tensor<2x4x8x16xf32>) permutation = [0, 2, 1, 3]
  %qc = tensor.collapse_shape %qt [[0, 1], [2], [3]] : tensor<2x4x8x16xf32> into tensor<8x8x16xf32>
  %kc = tensor.collapse_shape %kt [[0, 1], [2], [3]] : tensor<2x4x16x8xf32> into tensor<8x16x8xf32>
  %e3 = tensor.empty() : tensor<8x8x16xf32>
  %qs = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%qc : tensor<8x8x16xf32>) outs(%e3 : tensor<8x8x16xf32>) {
    ^bb0(%a: f32, %o: f32):
      %d = arith.divf %a, %four : f32
      linalg.yield %d : f32
  } -> tensor<8x8x16xf32>
  %e4 = tensor.empty() : tensor<8x8x8xf32>
  %f4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<8x8x8xf32>) -> tensor<8x8x8xf32>
  %s = linalg.batch_matmul ins(%qs, %kc : tensor<8x8x16xf32>, tensor<8x16x8xf32>) outs(%f4 : tensor<8x8x8xf32>) -> tensor<8x8x8xf32>
  %s4 = tensor.expand_shape %s [[0, 1], [2], [3]] output_shape [2, 4, 8, 8] : tensor<8x8x8xf32> into tensor<2x4x8x8xf32>
  %e5 = tensor.empty() : tensor<2x4x8x8xf32>
  %sm = linalg.generic {indexing_maps = [#id4, #mask, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s4, %m : tensor<2x4x8x8xf32>, tensor<2x1x1x8xf32>) outs(%e5 : tensor<2x4x8x8xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %r = arith.addf %a, %b : f32
      linalg.yield %r : f32
  } -> tensor<2x4x8x8xf32>
  %e6 = tensor.empty() : tensor<2x4x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%sm : tensor<2x4x8x8xf32>) outs(%e6 : tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %pc = tensor.collapse_shape %p [[0, 1], [2], [3]] : tensor<2x4x8x8xf32> into tensor<8x8x8xf32>
  %vc = tensor.collapse_shape %vt [[0, 1], [2], [3]] : tensor<2x4x8x16xf32> into tensor<8x8x16xf32>
  %e7 = tensor.empty() : tensor<8x8x16xf32>
  %f7 = linalg.fill ins(%zero : f32) outs(%e7 : tensor<8x8x16xf32>) -> tensor<8x8x16xf32>
  %o = linalg.batch_matmul ins(%pc, %vc : tensor<8x8x8xf32>, tensor<8x8x16xf32>) outs(%f7 : tensor<8x8x16xf32>) -> tensor<8x8x16xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [2, 4, 8, 16] : tensor<8x8x16xf32> into tensor<2x4x8x16xf32>
  %e8 = tensor.empty() : tensor<2x8x4x16xf32>
  %j = linalg.transpose ins(%o4 : tensor<2x4x8x16xf32>) outs(%e8 : tensor<2x8x4x16xf32>) permutation = [0, 2, 1, 3]
  return %j : tensor<2x8x4x16xf32>
}

// -----

// Three-dimensional heads, no mask, the scale on the scores (x * c): the
// operands are expanded to [1, heads, ...] and the result collapsed back.
// CHECK-LABEL: func.func @heads_only
// CHECK-DAG: %[[Q:.*]] = tensor.expand_shape %arg0 {{\[}}[0, 1], [2], [3]] output_shape [1, 3, 5, 4]
// CHECK-DAG: %[[K:.*]] = tensor.expand_shape %arg1 {{\[}}[0, 1], [2], [3]] output_shape [1, 3, 4, 7]
// CHECK-DAG: %[[V:.*]] = tensor.expand_shape %arg2 {{\[}}[0, 1], [2], [3]] output_shape [1, 3, 7, 2]
// CHECK: %[[A:.*]] = tac.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x3x5x4xf32>, tensor<1x3x4x7xf32>, tensor<1x3x7x2xf32>) outs(%{{.*}} : tensor<1x3x5x2xf32>)
// CHECK-SAME: key_dims = array<i64: 0, 1, 3, 2>
// CHECK-SAME: scale = 5.000000e-01
// CHECK: %[[R:.*]] = tensor.collapse_shape %[[A]] {{\[}}[0, 1], [2], [3]] : tensor<1x3x5x2xf32> into tensor<3x5x2xf32>
// CHECK: return %[[R]]
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @heads_only(%q: tensor<3x5x4xf32>, %kt: tensor<3x4x7xf32>,
                      %v: tensor<3x7x2xf32>) -> tensor<3x5x2xf32> {
  %zero = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %e0 = tensor.empty() : tensor<3x5x7xf32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<3x5x7xf32>) -> tensor<3x5x7xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<3x5x4xf32>, tensor<3x4x7xf32>) outs(%f0 : tensor<3x5x7xf32>) -> tensor<3x5x7xf32>
  %e1 = tensor.empty() : tensor<3x5x7xf32>
  %ss = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<3x5x7xf32>) outs(%e1 : tensor<3x5x7xf32>) {
    ^bb0(%a: f32, %o: f32):
      %r = arith.mulf %half, %a : f32
      linalg.yield %r : f32
  } -> tensor<3x5x7xf32>
  %e2 = tensor.empty() : tensor<3x5x7xf32>
  %p = linalg.softmax dimension(2) ins(%ss : tensor<3x5x7xf32>) outs(%e2 : tensor<3x5x7xf32>) -> tensor<3x5x7xf32>
  %e3 = tensor.empty() : tensor<3x5x2xf32>
  %f3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<3x5x2xf32>) -> tensor<3x5x2xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<3x5x7xf32>, tensor<3x7x2xf32>) outs(%f3 : tensor<3x5x2xf32>) -> tensor<3x5x2xf32>
  return %o : tensor<3x5x2xf32>
}

// -----

// ViT's form: Q, K and V are slices of one transpose of the projected
// [tokens, 3, heads, d] tensor, Q scaled by 1/8 in its 4-d form. The
// slices move before the transpose (views of the projection, no copy) and
// the transpose goes.
// CHECK-LABEL: func.func @vit
// CHECK-NOT: linalg.transpose
// CHECK-DAG: %[[Q:.*]] = tensor.extract_slice %arg0[0, 0, 0, 0, 0] [1, 5, 1, 2, 4] [1, 1, 1, 1, 1] : tensor<1x5x3x2x4xf32> to tensor<1x5x2x4xf32>
// CHECK-DAG: %[[K:.*]] = tensor.extract_slice %arg0[0, 0, 1, 0, 0] [1, 5, 1, 2, 4] [1, 1, 1, 1, 1] : tensor<1x5x3x2x4xf32> to tensor<1x5x2x4xf32>
// CHECK-DAG: %[[V:.*]] = tensor.extract_slice %arg0[0, 0, 2, 0, 0] [1, 5, 1, 2, 4] [1, 1, 1, 1, 1] : tensor<1x5x3x2x4xf32> to tensor<1x5x2x4xf32>
// CHECK: tac.attention ins(%[[Q]], %[[K]], %[[V]] :
// CHECK-SAME: key_dims = array<i64: 0, 2, 1, 3>
// CHECK-SAME: query_dims = array<i64: 0, 2, 1, 3>
// CHECK-SAME: result_dims = array<i64: 0, 1, 2, 3>
// CHECK-SAME: scale = 1.250000e-01
// CHECK-SAME: value_dims = array<i64: 0, 2, 1, 3>
// CHECK-NOT: linalg.transpose
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @vit(%qkv: tensor<1x5x3x2x4xf32>) -> tensor<1x2x5x4xf32> {
  %zero = arith.constant 0.0 : f32
  %eighth = arith.constant 0.125 : f32
  %e0 = tensor.empty() : tensor<3x1x2x5x4xf32>
  %t = linalg.transpose ins(%qkv : tensor<1x5x3x2x4xf32>) outs(%e0 : tensor<3x1x2x5x4xf32>) permutation = [2, 0, 3, 1, 4]
  %q = tensor.extract_slice %t[0, 0, 0, 0, 0] [1, 1, 2, 5, 4] [1, 1, 1, 1, 1] : tensor<3x1x2x5x4xf32> to tensor<1x2x5x4xf32>
  %k = tensor.extract_slice %t[1, 0, 0, 0, 0] [1, 1, 2, 5, 4] [1, 1, 1, 1, 1] : tensor<3x1x2x5x4xf32> to tensor<1x2x5x4xf32>
  %v = tensor.extract_slice %t[2, 0, 0, 0, 0] [1, 1, 2, 5, 4] [1, 1, 1, 1, 1] : tensor<3x1x2x5x4xf32> to tensor<1x2x5x4xf32>
  %e1 = tensor.empty() : tensor<1x2x4x5xf32>
  %kt = linalg.transpose ins(%k : tensor<1x2x5x4xf32>) outs(%e1 : tensor<1x2x4x5xf32>) permutation = [0, 1, 3, 2]
  %e2 = tensor.empty() : tensor<1x2x5x4xf32>
  %qs = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%q : tensor<1x2x5x4xf32>) outs(%e2 : tensor<1x2x5x4xf32>) {
    ^bb0(%a: f32, %o: f32):
      %r = arith.mulf %a, %eighth : f32
      linalg.yield %r : f32
  } -> tensor<1x2x5x4xf32>
  %qc = tensor.collapse_shape %qs [[0, 1], [2], [3]] : tensor<1x2x5x4xf32> into tensor<2x5x4xf32>
  %kc = tensor.collapse_shape %kt [[0, 1], [2], [3]] : tensor<1x2x4x5xf32> into tensor<2x4x5xf32>
  %e3 = tensor.empty() : tensor<2x5x5xf32>
  %f3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<2x5x5xf32>) -> tensor<2x5x5xf32>
  %s = linalg.batch_matmul ins(%qc, %kc : tensor<2x5x4xf32>, tensor<2x4x5xf32>) outs(%f3 : tensor<2x5x5xf32>) -> tensor<2x5x5xf32>
  %s4 = tensor.expand_shape %s [[0, 1], [2], [3]] output_shape [1, 2, 5, 5] : tensor<2x5x5xf32> into tensor<1x2x5x5xf32>
  %e4 = tensor.empty() : tensor<1x2x5x5xf32>
  %p = linalg.softmax dimension(3) ins(%s4 : tensor<1x2x5x5xf32>) outs(%e4 : tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  %pc = tensor.collapse_shape %p [[0, 1], [2], [3]] : tensor<1x2x5x5xf32> into tensor<2x5x5xf32>
  %vc = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<1x2x5x4xf32> into tensor<2x5x4xf32>
  %e5 = tensor.empty() : tensor<2x5x4xf32>
  %f5 = linalg.fill ins(%zero : f32) outs(%e5 : tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
  %o = linalg.batch_matmul ins(%pc, %vc : tensor<2x5x5xf32>, tensor<2x5x4xf32>) outs(%f5 : tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [1, 2, 5, 4] : tensor<2x5x4xf32> into tensor<1x2x5x4xf32>
  return %o4 : tensor<1x2x5x4xf32>
}

// -----

// A batch bucket's form (tac-batch-rows): rows are a second batch dim, the
// products are generics, the softmax sees [rows, 1, heads, ...] and the
// mask [rows, 1, 1, 1, keys]. The rows become the batch; the mask's unit
// dim is collapsed away.
// CHECK-LABEL: func.func @batch_bucket
// CHECK: %[[M:.*]] = tensor.collapse_shape %arg3 {{\[}}[0], [1, 2], [3], [4]] : tensor<4x1x1x1x7xf32> into tensor<4x1x1x7xf32>
// CHECK: %[[A:.*]] = tac.attention ins(%arg0, %arg1, %arg2 : tensor<4x3x5x2xf32>, tensor<4x3x2x7xf32>, tensor<4x3x7x2xf32>) mask(%[[M]] : tensor<4x1x1x7xf32>) outs(%{{.*}} : tensor<4x3x5x2xf32>)
// CHECK-SAME: key_dims = array<i64: 0, 1, 3, 2>
// CHECK-NOT: linalg.generic
// CHECK: return %[[A]]
#a = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#b = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d3)>
#c = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
#id5 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
#mask5 = affine_map<(d0, d1, d2, d3, d4) -> (d0, 0, 0, 0, d4)>
func.func @batch_bucket(%q: tensor<4x3x5x2xf32>, %kt: tensor<4x3x2x7xf32>,
                        %v: tensor<4x3x7x2xf32>, %m: tensor<4x1x1x1x7xf32>) -> tensor<4x3x5x2xf32> {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<4x3x5x7xf32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<4x3x5x7xf32>) -> tensor<4x3x5x7xf32>
  %s = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %kt : tensor<4x3x5x2xf32>, tensor<4x3x2x7xf32>) outs(%f0 : tensor<4x3x5x7xf32>) {
    ^bb0(%x: f32, %y: f32, %acc: f32):
      %p = arith.mulf %x, %y : f32
      %r = arith.addf %acc, %p : f32
      linalg.yield %r : f32
  } -> tensor<4x3x5x7xf32>
  %s5 = tensor.expand_shape %s [[0], [1, 2], [3], [4]] output_shape [4, 1, 3, 5, 7] : tensor<4x3x5x7xf32> into tensor<4x1x3x5x7xf32>
  %e1 = tensor.empty() : tensor<4x1x3x5x7xf32>
  %sm = linalg.generic {indexing_maps = [#id5, #mask5, #id5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]}
      ins(%s5, %m : tensor<4x1x3x5x7xf32>, tensor<4x1x1x1x7xf32>) outs(%e1 : tensor<4x1x3x5x7xf32>) {
    ^bb0(%x: f32, %y: f32, %o: f32):
      %r = arith.addf %x, %y : f32
      linalg.yield %r : f32
  } -> tensor<4x1x3x5x7xf32>
  %e2 = tensor.empty() : tensor<4x1x3x5x7xf32>
  %p = linalg.softmax dimension(4) ins(%sm : tensor<4x1x3x5x7xf32>) outs(%e2 : tensor<4x1x3x5x7xf32>) -> tensor<4x1x3x5x7xf32>
  %pc = tensor.collapse_shape %p [[0], [1, 2], [3], [4]] : tensor<4x1x3x5x7xf32> into tensor<4x3x5x7xf32>
  %e3 = tensor.empty() : tensor<4x3x5x2xf32>
  %f3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<4x3x5x2xf32>) -> tensor<4x3x5x2xf32>
  %o = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%pc, %v : tensor<4x3x5x7xf32>, tensor<4x3x7x2xf32>) outs(%f3 : tensor<4x3x5x2xf32>) {
    ^bb0(%x: f32, %y: f32, %acc: f32):
      %pr = arith.mulf %x, %y : f32
      %r = arith.addf %acc, %pr : f32
      linalg.yield %r : f32
  } -> tensor<4x3x5x2xf32>
  return %o : tensor<4x3x5x2xf32>
}

// -----

// GPT-2's form: the scores divided by a 0-d constant (its pow(64, 0.5),
// as tac-fold-constants leaves it), then a causal mask applied by a select
// of a constant i1 tensor with the lowest f32: the select becomes `keep`
// and `fill`, the divisor the scale.
// CHECK-LABEL: func.func @gpt2
// CHECK: tac.attention ins(
// CHECK-SAME: keep(%[[KEEP:.*]] : tensor<1x1x5x5xi1>)
// CHECK-SAME: fill = -3.40282347E+38 : f32
// CHECK-SAME: keep_dims = array<i64: 0, 1, 2, 3>
// CHECK-SAME: scale = 1.250000e-01
// CHECK-NOT: arith.select
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#scalar4 = affine_map<(d0, d1, d2, d3) -> ()>
#causal = affine_map<(d0, d1, d2, d3) -> (0, 0, d2, d3)>
func.func @gpt2(%q: tensor<2x5x4xf32>, %kt: tensor<2x4x5xf32>,
                %v: tensor<2x5x4xf32>) -> tensor<2x5x4xf32> {
  %zero = arith.constant 0.0 : f32
  %keep = arith.constant dense<[[[[true, false, false, false, false],
                                  [true, true, false, false, false],
                                  [true, true, true, false, false],
                                  [true, true, true, true, false],
                                  [true, true, true, true, true]]]]> : tensor<1x1x5x5xi1>
  %lowest = arith.constant dense<-3.40282347E+38> : tensor<f32>
  %root = arith.constant dense<8.0> : tensor<f32>
  %e0 = tensor.empty() : tensor<2x5x5xf32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<2x5x5xf32>) -> tensor<2x5x5xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<2x5x4xf32>, tensor<2x4x5xf32>) outs(%f0 : tensor<2x5x5xf32>) -> tensor<2x5x5xf32>
  %s4 = tensor.expand_shape %s [[0, 1], [2], [3]] output_shape [1, 2, 5, 5] : tensor<2x5x5xf32> into tensor<1x2x5x5xf32>
  %e2 = tensor.empty() : tensor<1x2x5x5xf32>
  %sd = linalg.generic {indexing_maps = [#id4, #scalar4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s4, %root : tensor<1x2x5x5xf32>, tensor<f32>) outs(%e2 : tensor<1x2x5x5xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %r = arith.divf %a, %b : f32
      linalg.yield %r : f32
  } -> tensor<1x2x5x5xf32>
  %e3 = tensor.empty() : tensor<1x2x5x5xf32>
  %sel = linalg.generic {indexing_maps = [#causal, #id4, #scalar4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%keep, %sd, %lowest : tensor<1x1x5x5xi1>, tensor<1x2x5x5xf32>, tensor<f32>) outs(%e3 : tensor<1x2x5x5xf32>) {
    ^bb0(%c: i1, %a: f32, %l: f32, %o: f32):
      %r = arith.select %c, %a, %l : f32
      linalg.yield %r : f32
  } -> tensor<1x2x5x5xf32>
  %e4 = tensor.empty() : tensor<1x2x5x5xf32>
  %p = linalg.softmax dimension(3) ins(%sel : tensor<1x2x5x5xf32>) outs(%e4 : tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  %pc = tensor.collapse_shape %p [[0, 1], [2], [3]] : tensor<1x2x5x5xf32> into tensor<2x5x5xf32>
  %e5 = tensor.empty() : tensor<2x5x4xf32>
  %f5 = linalg.fill ins(%zero : f32) outs(%e5 : tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
  %o = linalg.batch_matmul ins(%pc, %v : tensor<2x5x5xf32>, tensor<2x5x4xf32>) outs(%f5 : tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
  return %o : tensor<2x5x4xf32>
}

// -----

// The probabilities are read elsewhere (an attention map output): nothing
// is formed.
// CHECK-LABEL: func.func @probabilities_used_twice
// CHECK-NOT: tac.attention
// CHECK: linalg.softmax
// CHECK: linalg.batch_matmul
func.func @probabilities_used_twice(%q: tensor<3x5x4xf32>, %kt: tensor<3x4x7xf32>,
                                    %v: tensor<3x7x2xf32>) -> (tensor<3x5x2xf32>, tensor<3x5x7xf32>) {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<3x5x7xf32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<3x5x7xf32>) -> tensor<3x5x7xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<3x5x4xf32>, tensor<3x4x7xf32>) outs(%f0 : tensor<3x5x7xf32>) -> tensor<3x5x7xf32>
  %e2 = tensor.empty() : tensor<3x5x7xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<3x5x7xf32>) outs(%e2 : tensor<3x5x7xf32>) -> tensor<3x5x7xf32>
  %e3 = tensor.empty() : tensor<3x5x2xf32>
  %f3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<3x5x2xf32>) -> tensor<3x5x2xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<3x5x7xf32>, tensor<3x7x2xf32>) outs(%f3 : tensor<3x5x2xf32>) -> tensor<3x5x2xf32>
  return %o, %p : tensor<3x5x2xf32>, tensor<3x5x7xf32>
}

// -----

// A softmax over another dimension than the keys, and Q Kᵀ accumulating
// into a non-zero start: neither is attention as tac.attention defines it.
// CHECK-LABEL: func.func @not_attention
// CHECK-NOT: tac.attention
// CHECK: linalg.softmax dimension(1)
// CHECK: linalg.softmax dimension(2)
func.func @not_attention(%q: tensor<3x5x4xf32>, %kt: tensor<3x4x7xf32>,
                         %v: tensor<3x7x2xf32>) -> (tensor<3x5x2xf32>, tensor<3x5x2xf32>) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %e0 = tensor.empty() : tensor<3x5x7xf32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<3x5x7xf32>) -> tensor<3x5x7xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<3x5x4xf32>, tensor<3x4x7xf32>) outs(%f0 : tensor<3x5x7xf32>) -> tensor<3x5x7xf32>
  %e2 = tensor.empty() : tensor<3x5x7xf32>
  %p = linalg.softmax dimension(1) ins(%s : tensor<3x5x7xf32>) outs(%e2 : tensor<3x5x7xf32>) -> tensor<3x5x7xf32>
  %e3 = tensor.empty() : tensor<3x5x2xf32>
  %f3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<3x5x2xf32>) -> tensor<3x5x2xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<3x5x7xf32>, tensor<3x7x2xf32>) outs(%f3 : tensor<3x5x2xf32>) -> tensor<3x5x2xf32>
  %f1 = linalg.fill ins(%one : f32) outs(%e0 : tensor<3x5x7xf32>) -> tensor<3x5x7xf32>
  %s1 = linalg.batch_matmul ins(%q, %kt : tensor<3x5x4xf32>, tensor<3x4x7xf32>) outs(%f1 : tensor<3x5x7xf32>) -> tensor<3x5x7xf32>
  %p1 = linalg.softmax dimension(2) ins(%s1 : tensor<3x5x7xf32>) outs(%e2 : tensor<3x5x7xf32>) -> tensor<3x5x7xf32>
  %o1 = linalg.batch_matmul ins(%p1, %v : tensor<3x5x7xf32>, tensor<3x7x2xf32>) outs(%f3 : tensor<3x5x2xf32>) -> tensor<3x5x2xf32>
  return %o, %o1 : tensor<3x5x2xf32>, tensor<3x5x2xf32>
}
