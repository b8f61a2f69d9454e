// Weight-only computations become constants; the weights they replace are
// erased when nothing else reads them.
// RUN: tac-opt %s --tac-fold-constants --split-input-file | FileCheck %s
// RUN: tac-opt %s --tac-fold-constants=max-growth=0 --split-input-file | FileCheck %s --check-prefix=TIGHT

// A transposed weight (as ONNX Gemm transB imports) becomes the transposed
// constant, in a new blob; the original blob is no longer referenced.
// CHECK-LABEL: func.func @transpose_resource
// CHECK-NOT: linalg.transpose
// CHECK: %[[W:.*]] = arith.constant dense_resource<w_folded> : tensor<3x2xf32>
// CHECK: linalg.matmul ins(%{{.*}}, %[[W]] : tensor<4x3xf32>, tensor<3x2xf32>)
// CHECK: dialect_resources
// CHECK-NOT: w:
// CHECK: w_folded: "0x040000000000803F00008040000000400000A040000040400000C040"
// TIGHT-LABEL: func.func @transpose_resource
// TIGHT-NOT: linalg.transpose
func.func @transpose_resource(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense_resource<w> : tensor<2x3xf32>
  %e = tensor.empty() : tensor<3x2xf32>
  %t = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%e : tensor<3x2xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %t : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F0000004000004040000080400000A0400000C040"
    }
  }
#-}

// -----

// Chains fold in one run: a reshape, then an elementwise scale with a
// broadcast scalar (inline constants stay inline). The fill is left alone.
// CHECK-LABEL: func.func @chain_inline
// CHECK-DAG: arith.constant dense<{{\[}}[2.000000e+00, 4.000000e+00], [6.000000e+00, 8.000000e+00]]> : tensor<2x2xf32>
// CHECK-NOT: tensor.expand_shape
// CHECK-NOT: linalg.generic
// CHECK: linalg.fill
#id = affine_map<(d0, d1) -> (d0, d1)>
#scalar = affine_map<(d0, d1) -> ()>
func.func @chain_inline() -> (tensor<2x2xf32>, tensor<2x2xf32>) {
  %a = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %s = arith.constant dense<2.0> : tensor<f32>
  %r = tensor.expand_shape %a [[0, 1]] output_shape [2, 2] : tensor<4xf32> into tensor<2x2xf32>
  %e = tensor.empty() : tensor<2x2xf32>
  %m = linalg.generic {indexing_maps = [#id, #scalar, #id], iterator_types = ["parallel", "parallel"]}
      ins(%r, %s : tensor<2x2xf32>, tensor<f32>) outs(%e : tensor<2x2xf32>) {
  ^bb0(%in: f32, %k: f32, %out: f32):
    %p = arith.mulf %in, %k : f32
    linalg.yield %p : f32
  } -> tensor<2x2xf32>
  %zero = arith.constant 0.0 : f32
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %m, %f : tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

// A weight another op also reads is not duplicated when that would add
// bytes (max-growth=0); with the default allowance a small one is.
// CHECK-LABEL: func.func @shared_weight
// CHECK-NOT: linalg.transpose
// TIGHT-LABEL: func.func @shared_weight
// TIGHT: linalg.transpose
func.func @shared_weight() -> (tensor<2x3xf32>, tensor<3x2xf32>) {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %e = tensor.empty() : tensor<3x2xf32>
  %t = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%e : tensor<3x2xf32>) permutation = [1, 0]
  return %w, %t : tensor<2x3xf32>, tensor<3x2xf32>
}

// -----

// Anything that reads a non-constant is left as it is.
// CHECK-LABEL: func.func @not_constant
// CHECK: linalg.transpose
func.func @not_constant(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %e = tensor.empty() : tensor<3x2xf32>
  %t = linalg.transpose ins(%x : tensor<2x3xf32>) outs(%e : tensor<3x2xf32>) permutation = [1, 0]
  return %t : tensor<3x2xf32>
}

// -----

// Three projections of one input (two reshapes of it count as one) become
// one GEMM against the weights concatenated along N; each result is a slice.
// The weights move into one blob, row by row.
// CHECK-LABEL: func.func @qkv
// CHECK: %[[W:.*]] = arith.constant dense_resource<wq_folded> : tensor<2x3xf32>
// CHECK: %[[Y:.*]] = linalg.matmul ins(%{{.*}}, %[[W]] : tensor<4x2xf32>, tensor<2x3xf32>) outs(%{{.*}} : tensor<4x3xf32>)
// CHECK-DAG: tensor.extract_slice %[[Y]][0, 0] [4, 1] [1, 1]
// CHECK-DAG: tensor.extract_slice %[[Y]][0, 1] [4, 2] [1, 1]
// CHECK-NOT: linalg.matmul
// CHECK: wq_folded: "0x040000000000803F0000004000004040000080400000A0400000C040"
// TIGHT-LABEL: func.func @qkv
// TIGHT: linalg.matmul {{.*}} tensor<4x3xf32>
func.func @qkv(%x: tensor<1x4x2xf32>) -> (tensor<4x1xf32>, tensor<4x2xf32>) {
  %zero = arith.constant 0.0 : f32
  %wq = arith.constant dense_resource<wq> : tensor<2x1xf32>
  %wk = arith.constant dense_resource<wk> : tensor<2x2xf32>
  %a = tensor.collapse_shape %x [[0, 1], [2]] : tensor<1x4x2xf32> into tensor<4x2xf32>
  %e1 = tensor.empty() : tensor<4x1xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<4x1xf32>) -> tensor<4x1xf32>
  %q = linalg.matmul ins(%a, %wq : tensor<4x2xf32>, tensor<2x1xf32>) outs(%f1 : tensor<4x1xf32>) -> tensor<4x1xf32>
  %b = tensor.collapse_shape %x [[0, 1], [2]] : tensor<1x4x2xf32> into tensor<4x2xf32>
  %e2 = tensor.empty() : tensor<4x2xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x2xf32>) -> tensor<4x2xf32>
  %k = linalg.matmul ins(%b, %wk : tensor<4x2xf32>, tensor<2x2xf32>) outs(%f2 : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %q, %k : tensor<4x1xf32>, tensor<4x2xf32>
}
{-#
  dialect_resources: {
    builtin: {
      wq: "0x040000000000803F00008040",
      wk: "0x0400000000000040000040400000A0400000C040"
    }
  }
#-}

// -----

// The attention scale: (Q · Kᵀ) * s, read through a reshape, becomes
// (Q * s) · Kᵀ on the smaller operand (the first on a tie); nothing scales
// the product.
// CHECK-LABEL: func.func @attention_scale
// CHECK-SAME: (%[[Q:.*]]: tensor<2x8x4xf32>, %[[K:.*]]: tensor<2x4x8xf32>)
// CHECK: %[[S:.*]] = linalg.generic {{.*}} ins(%[[Q]] : tensor<2x8x4xf32>)
// CHECK: arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: %[[P:.*]] = linalg.batch_matmul ins(%[[S]], %[[K]] : tensor<2x8x4xf32>, tensor<2x4x8xf32>)
// CHECK: %[[R:.*]] = tensor.expand_shape %[[P]]
// CHECK-NOT: linalg.generic
// CHECK: return %[[R]]
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#s4 = affine_map<(d0, d1, d2, d3) -> ()>
func.func @attention_scale(%q: tensor<2x8x4xf32>, %k: tensor<2x4x8xf32>) -> tensor<1x2x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %s = arith.constant dense<0.5> : tensor<f32>
  %e = tensor.empty() : tensor<2x8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  %p = linalg.batch_matmul ins(%q, %k : tensor<2x8x4xf32>, tensor<2x4x8xf32>) outs(%f : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  %r = tensor.expand_shape %p [[0, 1], [2], [3]] output_shape [1, 2, 8, 8] : tensor<2x8x8xf32> into tensor<1x2x8x8xf32>
  %e2 = tensor.empty() : tensor<1x2x8x8xf32>
  %y = linalg.generic {indexing_maps = [#id4, #s4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%r, %s : tensor<1x2x8x8xf32>, tensor<f32>) outs(%e2 : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x2x8x8xf32>
  return %y : tensor<1x2x8x8xf32>
}

// -----

// A GEMM by a weight, divided by a constant: the division moves onto the
// weight and is folded into it.
// CHECK-LABEL: func.func @scaled_weight
// CHECK: %[[W:.*]] = arith.constant dense<{{\[\[}}5.000000e-01, 1.000000e+00, 1.500000e+00], [2.000000e+00, 2.500000e+00, 3.000000e+00]]> : tensor<2x3xf32>
// CHECK: %[[Y:.*]] = linalg.matmul ins(%{{.*}}, %[[W]] : tensor<4x2xf32>, tensor<2x3xf32>)
// CHECK-NEXT: return %[[Y]]
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @scaled_weight(%x: tensor<4x2xf32>) -> tensor<4x3xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %two = arith.constant dense<2.0> : tensor<4x3xf32>
  %e = tensor.empty() : tensor<4x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x3xf32>) -> tensor<4x3xf32>
  %p = linalg.matmul ins(%x, %w : tensor<4x2xf32>, tensor<2x3xf32>) outs(%f : tensor<4x3xf32>) -> tensor<4x3xf32>
  %y = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%p, %two : tensor<4x3xf32>, tensor<4x3xf32>) outs(%e : tensor<4x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.divf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// A scale computed from constants (GPT-2's sqrt(d) as pow(64, 0.5), a 0-d
// tensor) becomes the constant, so the attention scale reaches later
// passes as a plain scalar.
// CHECK-LABEL: func.func @pow_scale
// CHECK-NOT: math.powf
// CHECK: arith.constant dense<8.000000e+00> : tensor<f32>
#none = affine_map<() -> ()>
func.func @pow_scale() -> tensor<f32> {
  %base = arith.constant dense<64.0> : tensor<f32>
  %half = arith.constant dense<0.5> : tensor<f32>
  %e = tensor.empty() : tensor<f32>
  %r = linalg.generic {indexing_maps = [#none, #none, #none], iterator_types = []}
      ins(%base, %half : tensor<f32>, tensor<f32>) outs(%e : tensor<f32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %p = math.powf %a, %b : f32
      linalg.yield %p : f32
  } -> tensor<f32>
  return %r : tensor<f32>
}
