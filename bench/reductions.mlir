// Kernel-level benchmark of row reductions: ViT-Small's attention softmax
// (6 heads x 197 x 197, reduced over the last axis) and layernorm's mean and
// variance (197 x 384). What tac-reassociate-reductions changes
// (docs/bench.md, "Where time goes"):
//
//   build/bin/tac-compile bench/reductions.mlir -o r.tacm
//   build/bin/tac-compile bench/reductions.mlir -o r_strict.tacm --tac-strict-reductions
//   build/bin/tac-run r.tacm --random --benchmark=2000   (and r_strict.tacm)
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#row3 = affine_map<(d0, d1, d2) -> (d0, d1)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row2 = affine_map<(d0, d1) -> (d0)>
func.func @main(%s: tensor<6x197x197xf32>, %x: tensor<197x384xf32>)
    -> (tensor<6x197x197xf32>, tensor<197xf32>, tensor<197xf32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  // softmax: row max, exp(x - max), row sum, divide
  %e0 = tensor.empty() : tensor<6x197xf32>
  %m0 = linalg.fill ins(%ninf : f32) outs(%e0 : tensor<6x197xf32>) -> tensor<6x197xf32>
  %max = linalg.reduce ins(%s : tensor<6x197x197xf32>) outs(%m0 : tensor<6x197xf32>) dimensions = [2]
    (%in: f32, %acc: f32) {
      %r = arith.maximumf %in, %acc : f32
      linalg.yield %r : f32
    }
  %e1 = tensor.empty() : tensor<6x197x197xf32>
  %ex = linalg.generic {indexing_maps = [#id3, #row3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s, %max : tensor<6x197x197xf32>, tensor<6x197xf32>) outs(%e1 : tensor<6x197x197xf32>) {
  ^bb0(%a: f32, %m: f32, %o: f32):
    %d = arith.subf %a, %m : f32
    %v = math.exp %d : f32
    linalg.yield %v : f32
  } -> tensor<6x197x197xf32>
  %s0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<6x197xf32>) -> tensor<6x197xf32>
  %sum = linalg.reduce ins(%ex : tensor<6x197x197xf32>) outs(%s0 : tensor<6x197xf32>) dimensions = [2]
    (%in: f32, %acc: f32) {
      %r = arith.addf %in, %acc : f32
      linalg.yield %r : f32
    }
  %sm = linalg.generic {indexing_maps = [#id3, #row3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%ex, %sum : tensor<6x197x197xf32>, tensor<6x197xf32>) outs(%e1 : tensor<6x197x197xf32>) {
  ^bb0(%a: f32, %t: f32, %o: f32):
    %v = arith.divf %a, %t : f32
    linalg.yield %v : f32
  } -> tensor<6x197x197xf32>
  // layernorm statistics: row sum and row sum of squares
  %e2 = tensor.empty() : tensor<197xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<197xf32>) -> tensor<197xf32>
  %mean = linalg.reduce ins(%x : tensor<197x384xf32>) outs(%z2 : tensor<197xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %r = arith.addf %in, %acc : f32
      linalg.yield %r : f32
    }
  %sq = linalg.generic {indexing_maps = [#id2, #row2], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<197x384xf32>) outs(%z2 : tensor<197xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %p = arith.mulf %a, %a : f32
    %r = arith.addf %p, %acc : f32
    linalg.yield %r : f32
  } -> tensor<197xf32>
  return %sm, %mean, %sq : tensor<6x197x197xf32>, tensor<197xf32>, tensor<197xf32>
}
