// RUN: tac-opt %s --tac-estimate-cost --split-input-file | FileCheck %s
// RUN: tac-opt %s --tac-estimate-cost=report=true --split-input-file -o /dev/null | FileCheck %s --check-prefix=REPORT

// The activation plan: liveness over the function's intermediate tensors in
// one arena. Function arguments and constants live outside the arena,
// returned values inside it. Every tensor here is 16x16 f32 = 1024 bytes.

// A chain of transposes: each result is needed until the next transpose has
// read it, and a transpose cannot write over its input, so two buffers are
// live at a time and alternate. Naive: 4 buffers; planned: 2.
// CHECK-LABEL: func.func @transpose_chain
// CHECK-SAME: param_bytes = 0, peak_activation_bytes = 2048, naive_activation_bytes = 4096>
// REPORT: @transpose_chain  -  0  8192  0  2048  4096  50.0%  -
func.func @transpose_chain(%x: tensor<16x16xf32>) -> tensor<16x16xf32> {
  %e0 = tensor.empty() : tensor<16x16xf32>
  %t1 = linalg.transpose ins(%x : tensor<16x16xf32>) outs(%e0 : tensor<16x16xf32>) permutation = [1, 0]
  %e1 = tensor.empty() : tensor<16x16xf32>
  %t2 = linalg.transpose ins(%t1 : tensor<16x16xf32>) outs(%e1 : tensor<16x16xf32>) permutation = [1, 0]
  %e2 = tensor.empty() : tensor<16x16xf32>
  %t3 = linalg.transpose ins(%t2 : tensor<16x16xf32>) outs(%e2 : tensor<16x16xf32>) permutation = [1, 0]
  %e3 = tensor.empty() : tensor<16x16xf32>
  %t4 = linalg.transpose ins(%t3 : tensor<16x16xf32>) outs(%e3 : tensor<16x16xf32>) permutation = [1, 0]
  return %t4 : tensor<16x16xf32>
}

// -----

// An elementwise chain runs in place: each op writes over its dying input
// (same size, read with the same indexing map). The first op reads the
// function argument, which stays outside the arena. Planned: 1 buffer.
// CHECK: module attributes {tac.arena_bytes = 2048 : i64}
// CHECK-LABEL: func.func @elementwise_chain
// CHECK-SAME: param_bytes = 0, peak_activation_bytes = 1024, naive_activation_bytes = 4096>
#id = affine_map<(d0, d1) -> (d0, d1)>
#tr = affine_map<(d0, d1) -> (d1, d0)>
func.func @elementwise_chain(%x: tensor<16x16xf32>) -> tensor<16x16xf32> {
  %e = tensor.empty() : tensor<16x16xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<16x16xf32>) outs(%e : tensor<16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.exp %in : f32
    linalg.yield %r : f32
  } -> tensor<16x16xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<16x16xf32>) outs(%e : tensor<16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.tanh %in : f32
    linalg.yield %r : f32
  } -> tensor<16x16xf32>
  %c = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%b : tensor<16x16xf32>) outs(%e : tensor<16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.negf %in : f32
    linalg.yield %r : f32
  } -> tensor<16x16xf32>
  %d = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%c : tensor<16x16xf32>) outs(%e : tensor<16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.sqrt %in : f32
    linalg.yield %r : f32
  } -> tensor<16x16xf32>
  return %d : tensor<16x16xf32>
}

// A value read again later cannot be overwritten: %b needs its own buffer
// because %a is still live; %c then reuses one of the two dying inputs.
// Naive 3 buffers, planned 2.
// CHECK-LABEL: func.func @still_live
// CHECK-SAME: param_bytes = 0, peak_activation_bytes = 2048, naive_activation_bytes = 3072>
func.func @still_live(%x: tensor<16x16xf32>) -> tensor<16x16xf32> {
  %e = tensor.empty() : tensor<16x16xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<16x16xf32>) outs(%e : tensor<16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.exp %in : f32
    linalg.yield %r : f32
  } -> tensor<16x16xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<16x16xf32>) outs(%e : tensor<16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.tanh %in : f32
    linalg.yield %r : f32
  } -> tensor<16x16xf32>
  %c = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%a, %b : tensor<16x16xf32>, tensor<16x16xf32>) outs(%e : tensor<16x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %r = arith.addf %in, %in_0 : f32
    linalg.yield %r : f32
  } -> tensor<16x16xf32>
  return %c : tensor<16x16xf32>
}

// An elementwise op reading its input through a transposed map cannot write
// over it (element (i, j) is written before (j, i) is read): 2 buffers.
// CHECK-LABEL: func.func @transposed_read
// CHECK-SAME: param_bytes = 0, peak_activation_bytes = 2048, naive_activation_bytes = 2048>
func.func @transposed_read(%x: tensor<16x16xf32>) -> tensor<16x16xf32> {
  %e = tensor.empty() : tensor<16x16xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<16x16xf32>) outs(%e : tensor<16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.exp %in : f32
    linalg.yield %r : f32
  } -> tensor<16x16xf32>
  %b = linalg.generic {indexing_maps = [#tr, #id], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<16x16xf32>) outs(%e : tensor<16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.tanh %in : f32
    linalg.yield %r : f32
  } -> tensor<16x16xf32>
  return %b : tensor<16x16xf32>
}

// Reshapes are views: they share their source's buffer and keep it alive.
// %a (via its reshaped view %v) is read by the last op, so it stays live
// across the transpose: 2 buffers. Inputs and outputs that are function
// arguments take no arena space: @passthrough has an empty plan.
// CHECK-LABEL: func.func @view_keeps_alive
// CHECK-SAME: param_bytes = 0, peak_activation_bytes = 2048, naive_activation_bytes = 3072>
func.func @view_keeps_alive(%x: tensor<16x16xf32>) -> tensor<16x16xf32> {
  %e = tensor.empty() : tensor<16x16xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<16x16xf32>) outs(%e : tensor<16x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.exp %in : f32
    linalg.yield %r : f32
  } -> tensor<16x16xf32>
  %v = tensor.collapse_shape %a [[0, 1]] : tensor<16x16xf32> into tensor<256xf32>
  %t = linalg.transpose ins(%a : tensor<16x16xf32>) outs(%e : tensor<16x16xf32>) permutation = [1, 0]
  %w = tensor.expand_shape %v [[0, 1]] output_shape [16, 16] : tensor<256xf32> into tensor<16x16xf32>
  %s = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%t, %w : tensor<16x16xf32>, tensor<16x16xf32>) outs(%e : tensor<16x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %r = arith.addf %in, %in_0 : f32
    linalg.yield %r : f32
  } -> tensor<16x16xf32>
  return %s : tensor<16x16xf32>
}

// CHECK-LABEL: func.func @passthrough
// CHECK-SAME: param_bytes = 0, peak_activation_bytes = 0, naive_activation_bytes = 0>
func.func @passthrough(%x: tensor<16x16xf32>) -> tensor<16x16xf32> {
  return %x : tensor<16x16xf32>
}

// -----

// A zero fill shared by two matmuls (as CSE leaves the importer's fills) is
// redone in each matmul's own buffer rather than kept alive: %m1 and %m2
// live together (the second reads the first), the fill takes no space.
// Naive: fill + 2 matmuls. Kept alive, the fill would make it 3 buffers.
// CHECK-LABEL: func.func @shared_fill
// CHECK-SAME: param_bytes = 0, peak_activation_bytes = 2048, naive_activation_bytes = 3072>
func.func @shared_fill(%x: tensor<16x16xf32>) -> tensor<16x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<16x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<16x16xf32>) -> tensor<16x16xf32>
  %m1 = linalg.matmul ins(%x, %x : tensor<16x16xf32>, tensor<16x16xf32>) outs(%f : tensor<16x16xf32>) -> tensor<16x16xf32>
  %m2 = linalg.matmul ins(%m1, %x : tensor<16x16xf32>, tensor<16x16xf32>) outs(%f : tensor<16x16xf32>) -> tensor<16x16xf32>
  return %m2 : tensor<16x16xf32>
}

// A fill read as a value (not only as a destination) is a buffer like any
// other; here the add then runs in place over it: 1 buffer, naive 2.
// CHECK-LABEL: func.func @fill_as_input
// CHECK-SAME: param_bytes = 0, peak_activation_bytes = 1024, naive_activation_bytes = 2048>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @fill_as_input(%x: tensor<16x16xf32>) -> tensor<16x16xf32> {
  %one = arith.constant 1.000000e+00 : f32
  %e = tensor.empty() : tensor<16x16xf32>
  %f = linalg.fill ins(%one : f32) outs(%e : tensor<16x16xf32>) -> tensor<16x16xf32>
  %a = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%x, %f : tensor<16x16xf32>, tensor<16x16xf32>) outs(%e : tensor<16x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %r = arith.addf %in, %in_0 : f32
    linalg.yield %r : f32
  } -> tensor<16x16xf32>
  return %a : tensor<16x16xf32>
}
