// Folding keeps numerics bit-identical: the adaptive block below (four
// residual layers of matmul + bias + tanh + a per-layer scale, weights inline
// and as dense_resource blobs) and its folded tac.layer_stack run through the
// reference lowering and upstream MLIR's CPU pipeline for every selector
// value (one out of range); the printed bit patterns of the results match.
// DEFINE: %{run} = --tac-reference-cpu
// DEFINE: %{runner} = %run_main
// RUN: tac-opt %s --tac-fold-layers | FileCheck %s --check-prefix=FOLDED
// RUN: tac-opt %s %{run} | %{runner} > %t.reference
// RUN: tac-opt %s --tac-fold-layers %{run} | %{runner} > %t.folded
// RUN: grep -v base@ %t.reference > %t.reference.data
// RUN: grep -v base@ %t.folded > %t.folded.data
// RUN: diff %t.reference.data %t.folded.data
// RUN: FileCheck %s < %t.folded

// FOLDED: tac.layer_stack layers [0, 4)
// FOLDED-SAME: weights (%{{.*}} = %{{.*}} : tensor<4x4x4xf32>, %{{.*}} = %{{.*}} : tensor<4x2x4xf32>, %{{.*}} = %{{.*}} : tensor<4xf32>)
// FOLDED-NOT: tac.adaptive_block

// Six selector values, each printed as floats and as bits; path [] (selector
// 0) returns the input unchanged.
// CHECK: Unranked Memref
// CHECK-NEXT: {{\[\[}}-0.647565,   -0.536086,   -0.533328,   -0.030075],
// CHECK-COUNT-11: Unranked Memref
// CHECK-NOT: Unranked Memref

#id = affine_map<(d0, d1) -> (d0, d1)>

func.func private @printMemrefF32(tensor<*xf32>)
func.func private @printMemrefI32(tensor<*xi32>)

func.func @block(%sel: index, %x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %w0 = arith.constant dense<[[-0.352334, -0.698302, 0.301869, -0.855127], [0.071764, -0.268622, -0.884002, 0.014871], [-0.925009, -0.132709, -0.860289, -0.818574], [-0.150962, 0.653704, -0.752396, -0.553522]]> : tensor<4x4xf32>
  %b0 = arith.constant dense<[[0.15979, -0.087589, 0.679936, 0.889362], [-0.051803, 0.328304, -0.878661, 0.402984]]> : tensor<2x4xf32>
  %w1 = arith.constant dense_resource<w1> : tensor<4x4xf32>
  %b1 = arith.constant dense<[[0.294258, 0.986192, 0.64385, -0.430809], [-0.228417, 0.337305, -0.954874, -0.076609]]> : tensor<2x4xf32>
  %w2 = arith.constant dense<[[0.095489, -0.874422, -0.880798, -0.588083], [0.3608, -0.144815, -0.371706, 0.171124], [-0.093631, -0.400466, 0.588759, 0.397989], [-0.511807, 0.148847, 0.050393, 0.750275]]> : tensor<4x4xf32>
  %b2 = arith.constant dense<[[-0.663903, -0.765808, -0.882091, 0.536466], [-0.74132, -0.50477, -0.218101, 0.742844]]> : tensor<2x4xf32>
  %w3 = arith.constant dense_resource<w3> : tensor<4x4xf32>
  %b3 = arith.constant dense_resource<b3> : tensor<2x4xf32>
  %y = tac.adaptive_block %sel : index paths #tac.paths<[], [0], [0, 1, 2], [1, 3], [2, 0, 3], [0, 1, 2, 3]> (%x : tensor<2x4xf32>)
  layer (%h) {
    %e = tensor.empty() : tensor<2x4xf32>
    %z = arith.constant 0.0 : f32
    %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
    %m = linalg.matmul ins(%h, %w0 : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
    %a = arith.addf %m, %b0 : tensor<2x4xf32>
    %t = math.tanh %a : tensor<2x4xf32>
    %e2 = tensor.empty() : tensor<2x4xf32>
    %g = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%t : tensor<2x4xf32>) outs(%e2 : tensor<2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %scale = arith.constant 0.858771 : f32
      %r = arith.mulf %in, %scale : f32
      linalg.yield %r : f32
    } -> tensor<2x4xf32>
    %o = arith.addf %g, %h : tensor<2x4xf32>
    tac.yield %o : tensor<2x4xf32>
  }
  layer (%h) {
    %e = tensor.empty() : tensor<2x4xf32>
    %z = arith.constant 0.0 : f32
    %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
    %m = linalg.matmul ins(%h, %w1 : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
    %a = arith.addf %m, %b1 : tensor<2x4xf32>
    %t = math.tanh %a : tensor<2x4xf32>
    %e2 = tensor.empty() : tensor<2x4xf32>
    %g = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%t : tensor<2x4xf32>) outs(%e2 : tensor<2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %scale = arith.constant 1.384193 : f32
      %r = arith.mulf %in, %scale : f32
      linalg.yield %r : f32
    } -> tensor<2x4xf32>
    %o = arith.addf %g, %h : tensor<2x4xf32>
    tac.yield %o : tensor<2x4xf32>
  }
  layer (%h) {
    %e = tensor.empty() : tensor<2x4xf32>
    %z = arith.constant 0.0 : f32
    %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
    %m = linalg.matmul ins(%h, %w2 : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
    %a = arith.addf %m, %b2 : tensor<2x4xf32>
    %t = math.tanh %a : tensor<2x4xf32>
    %e2 = tensor.empty() : tensor<2x4xf32>
    %g = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%t : tensor<2x4xf32>) outs(%e2 : tensor<2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %scale = arith.constant 1.457731 : f32
      %r = arith.mulf %in, %scale : f32
      linalg.yield %r : f32
    } -> tensor<2x4xf32>
    %o = arith.addf %g, %h : tensor<2x4xf32>
    tac.yield %o : tensor<2x4xf32>
  }
  layer (%h) {
    %e = tensor.empty() : tensor<2x4xf32>
    %z = arith.constant 0.0 : f32
    %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
    %m = linalg.matmul ins(%h, %w3 : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
    %a = arith.addf %m, %b3 : tensor<2x4xf32>
    %t = math.tanh %a : tensor<2x4xf32>
    %e2 = tensor.empty() : tensor<2x4xf32>
    %g = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%t : tensor<2x4xf32>) outs(%e2 : tensor<2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %scale = arith.constant 0.650921 : f32
      %r = arith.mulf %in, %scale : f32
      linalg.yield %r : f32
    } -> tensor<2x4xf32>
    %o = arith.addf %g, %h : tensor<2x4xf32>
    tac.yield %o : tensor<2x4xf32>
  }
  return %y : tensor<2x4xf32>
}

func.func @print_floats(%t: tensor<2x4xf32>) {
  %u = tensor.cast %t : tensor<2x4xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

func.func @print_bits(%t: tensor<2x4xf32>) {
  %bits = arith.bitcast %t : tensor<2x4xf32> to tensor<2x4xi32>
  %v = tensor.cast %bits : tensor<2x4xi32> to tensor<*xi32>
  call @printMemrefI32(%v) : (tensor<*xi32>) -> ()
  return
}

func.func @main() {
  %x = arith.constant dense<[[-0.647565, -0.536086, -0.533328, -0.030075], [0.178247, -0.474507, -0.991813, -0.162107]]> : tensor<2x4xf32>
  %c0 = arith.constant 0 : index
  %y0 = call @block(%c0, %x) : (index, tensor<2x4xf32>) -> tensor<2x4xf32>
  call @print_floats(%y0) : (tensor<2x4xf32>) -> ()
  call @print_bits(%y0) : (tensor<2x4xf32>) -> ()
  %c1 = arith.constant 1 : index
  %y1 = call @block(%c1, %x) : (index, tensor<2x4xf32>) -> tensor<2x4xf32>
  call @print_floats(%y1) : (tensor<2x4xf32>) -> ()
  call @print_bits(%y1) : (tensor<2x4xf32>) -> ()
  %c2 = arith.constant 2 : index
  %y2 = call @block(%c2, %x) : (index, tensor<2x4xf32>) -> tensor<2x4xf32>
  call @print_floats(%y2) : (tensor<2x4xf32>) -> ()
  call @print_bits(%y2) : (tensor<2x4xf32>) -> ()
  %c3 = arith.constant 3 : index
  %y3 = call @block(%c3, %x) : (index, tensor<2x4xf32>) -> tensor<2x4xf32>
  call @print_floats(%y3) : (tensor<2x4xf32>) -> ()
  call @print_bits(%y3) : (tensor<2x4xf32>) -> ()
  %c4 = arith.constant 4 : index
  %y4 = call @block(%c4, %x) : (index, tensor<2x4xf32>) -> tensor<2x4xf32>
  call @print_floats(%y4) : (tensor<2x4xf32>) -> ()
  call @print_bits(%y4) : (tensor<2x4xf32>) -> ()
  %c9 = arith.constant 9 : index
  %y9 = call @block(%c9, %x) : (index, tensor<2x4xf32>) -> tensor<2x4xf32>
  call @print_floats(%y9) : (tensor<2x4xf32>) -> ()
  call @print_bits(%y9) : (tensor<2x4xf32>) -> ()
  return
}

{-#
  dialect_resources: {
    builtin: {
      w1: "0x04000000CC7D823E1D3A653F2DE81D3E2D9953BEB2D7733F572668BF2F89373F9B70D7BE352436BFC4B043BF4B1DC4BE55DB213FD17723BFE71D273E573F8E3E3BAA82BE",
      w3: "0x04000000C3F3EA3EC826D9BE7FD9753FDA8C43BF21AF27BEFCA7033F162F32BF89D4B4BCFFEC6BBFD140AC3EDA75073FA88E153EA73E403FFAB8BEBE8BFBC73E0F45413E",
      b3: "0x0400000006BE56BFC520D0BD9981CA3DE84A443FAB78233F2D5C3A3F9BE5E2BE07792DBE"
    }
  }
#-}
