// Only the combiner of a non-contraction reduction is marked reassoc and
// contract; the rest of the payload and contractions keep strict semantics.
// RUN: tac-opt %s --tac-reassociate-reductions | FileCheck %s
// The marked reductions vectorise through the loops-to-LLVM lowering the CPU
// kernels share with --tac-reference-cpu: the LLVM IR, optimised at O3,
// holds vector reductions; without the marks it holds no vectors.
// RUN: tac-opt %s --tac-reassociate-reductions --tac-reference-cpu | mlir-translate --mlir-to-llvmir | opt -O3 -S -mtriple=x86_64-unknown-linux-gnu -mattr=+avx2,+fma | FileCheck %s --check-prefix=LLVM
// RUN: tac-opt %s --tac-reference-cpu | mlir-translate --mlir-to-llvmir | opt -O3 -S -mtriple=x86_64-unknown-linux-gnu -mattr=+avx2,+fma | FileCheck %s --check-prefix=STRICT

// CHECK-LABEL: func.func @row_sum
// CHECK: arith.addf %{{.*}}, %{{.*}} fastmath<reassoc,contract> : f32
// LLVM-LABEL: define {{.*}} @row_sum
// LLVM: fadd reassoc contract <8 x float>
// LLVM: call reassoc contract float @llvm.vector.reduce.fadd.v8f32
// STRICT-LABEL: define {{.*}} @row_sum
// STRICT-NOT: <8 x float>
func.func @row_sum(%x: tensor<4x256xf32>) -> tensor<4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %r = linalg.reduce ins(%x : tensor<4x256xf32>) outs(%acc : tensor<4xf32>) dimensions = [1]
    (%in: f32, %init: f32) {
      %s = arith.addf %in, %init : f32
      linalg.yield %s : f32
    }
  return %r : tensor<4xf32>
}

// A fused variance-style reduction: the square stays strict, the sum that
// reads the accumulator is marked.
// CHECK-LABEL: func.func @sum_of_squares
// CHECK: %[[SQ:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: arith.addf %[[SQ]], %{{.*}} fastmath<reassoc,contract> : f32
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @sum_of_squares(%x: tensor<4x64xf32>, %acc: tensor<4xf32>) -> tensor<4xf32> {
  %r = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4x64xf32>) outs(%acc : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %sq = arith.mulf %in, %in : f32
    %s = arith.addf %sq, %out : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// A row max is marked as well; the LLVM lowering keeps it an intrinsic, so
// it vectorises too.
// CHECK-LABEL: func.func @row_max
// CHECK: arith.maximumf %{{.*}}, %{{.*}} fastmath<reassoc,contract> : f32
// LLVM-LABEL: define {{.*}} @row_max
// LLVM: @llvm.vector.reduce.fmaximum.v8f32
// STRICT-LABEL: define {{.*}} @row_max
// STRICT-NOT: <8 x float>
func.func @row_max(%x: tensor<4x64xf32>, %acc: tensor<4xf32>) -> tensor<4xf32> {
  %r = linalg.reduce ins(%x : tensor<4x64xf32>) outs(%acc : tensor<4xf32>) dimensions = [1]
    (%in: f32, %init: f32) {
      %m = arith.maximumf %in, %init : f32
      linalg.yield %m : f32
    }
  return %r : tensor<4xf32>
}

// Contractions are not touched.
// CHECK-LABEL: func.func @matmul
// CHECK-NOT: fastmath
func.func @matmul(%a: tensor<4x8xf32>, %b: tensor<8x4xf32>, %c: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x4xf32>) outs(%c : tensor<4x4xf32>) -> tensor<4x4xf32>
  return %r : tensor<4x4xf32>
}
