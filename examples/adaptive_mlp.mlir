// A small input-adaptive encoder written directly in the tac dialect: a
// controller (complexity predictor + policy) picks how many of four folded
// residual layers an input runs. `scripts/run.sh` specialises it per path and
// executes it through the reference lowering.
//
// State: 4 tokens x 8 features. Layer i: h + tanh(h @ W[i] + b[i]).

// Deterministic stand-in weights: W[i][j][k] = 0.25 * sin(1 + i + 3j + 7k).
func.func @weights() -> (tensor<4x8x8xf32>, tensor<4x8xf32>) {
  %e = tensor.empty() : tensor<4x8x8xf32>
  %w = linalg.generic {indexing_maps = [affine_map<(i, j, k) -> (i, j, k)>],
                       iterator_types = ["parallel", "parallel", "parallel"]}
       outs(%e : tensor<4x8x8xf32>) {
  ^bb0(%out: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %k = linalg.index 2 : index
    %c3 = arith.constant 3 : index
    %c7 = arith.constant 7 : index
    %c1 = arith.constant 1 : index
    %j3 = arith.muli %j, %c3 : index
    %k7 = arith.muli %k, %c7 : index
    %s0 = arith.addi %i, %j3 : index
    %s1 = arith.addi %s0, %k7 : index
    %s2 = arith.addi %s1, %c1 : index
    %n = arith.index_cast %s2 : index to i32
    %f = arith.sitofp %n : i32 to f32
    %sin = math.sin %f : f32
    %q = arith.constant 0.25 : f32
    %v = arith.mulf %sin, %q : f32
    linalg.yield %v : f32
  } -> tensor<4x8x8xf32>
  %b = arith.constant dense<0.05> : tensor<4x8xf32>
  return %w, %b : tensor<4x8x8xf32>, tensor<4x8xf32>
}

// The controller: score = mean |x| (the complexity predictor), then the
// policy maps the score to a path: < 0.5 → path 0 (1 layer), < 2.0 → path 1
// (2 layers), otherwise path 2 (all 4 layers).
func.func @controller(%x: tensor<4x8xf32>) -> index {
  %init = arith.constant dense<0.0> : tensor<f32>
  %sum = linalg.reduce ins(%x : tensor<4x8xf32>) outs(%init : tensor<f32>) dimensions = [0, 1]
    (%in: f32, %acc: f32) {
      %a = math.absf %in : f32
      %s = arith.addf %a, %acc : f32
      linalg.yield %s : f32
    }
  %score = tac.predictor_output %sum : tensor<f32>
  %total = tensor.extract %score[] : tensor<f32>
  %count = arith.constant 32.0 : f32
  %mean = arith.divf %total, %count : f32
  %t0 = arith.constant 0.5 : f32
  %t1 = arith.constant 2.0 : f32
  %above0 = arith.cmpf oge, %mean, %t0 : f32
  %above1 = arith.cmpf oge, %mean, %t1 : f32
  %i0 = arith.extui %above0 : i1 to i64
  %i1 = arith.extui %above1 : i1 to i64
  %path = arith.addi %i0, %i1 : i64
  %chosen = tensor.from_elements %path : tensor<i64>
  %marked = tac.policy_output %chosen : tensor<i64>
  %p = tensor.extract %marked[] : tensor<i64>
  %sel = arith.index_cast %p : i64 to index
  return %sel : index
}

func.func @encoder(%sel: index, %x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %w, %b = call @weights() : () -> (tensor<4x8x8xf32>, tensor<4x8xf32>)
  %y = tac.layer_stack layers [0, 4) (%h = %x : tensor<4x8xf32>)
         weights (%wi = %w : tensor<4x8x8xf32>, %bi = %b : tensor<4x8xf32>)
         select %sel : index paths #tac.paths<[0], [0, 1], [0, 1, 2, 3]> {
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<4x8xf32>
    %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
    %mm = linalg.matmul ins(%h, %wi : tensor<4x8xf32>, tensor<8x8xf32>)
                        outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
    %biased = linalg.generic {indexing_maps = [affine_map<(t, f) -> (t, f)>, affine_map<(t, f) -> (f)>,
                                               affine_map<(t, f) -> (t, f)>],
                              iterator_types = ["parallel", "parallel"]}
              ins(%mm, %bi : tensor<4x8xf32>, tensor<8xf32>) outs(%e : tensor<4x8xf32>) {
    ^bb0(%m: f32, %bias: f32, %out: f32):
      %s = arith.addf %m, %bias : f32
      %t = math.tanh %s : f32
      linalg.yield %t : f32
    } -> tensor<4x8xf32>
    %r = arith.addf %h, %biased : tensor<4x8xf32>
    tac.yield %r : tensor<4x8xf32>
  }
  return %y : tensor<4x8xf32>
}
