// RUN: tac-opt %s --tac-estimate-cost --split-input-file | FileCheck %s
// RUN: tac-opt %s --tac-estimate-cost=report=true --split-input-file -o /dev/null | FileCheck %s --check-prefix=REPORT

// Costs of functions that hold control flow. A layer here is
//   fill 8x8 (writes 256 bytes) + matmul 8x8·8x8 (2·8·8·8 = 1024 FLOPs,
//   reads 256 + 256 + 256, writes 256):  1024 FLOPs, 1280 bytes,
// and its plan is one 256-byte buffer (the matmul's, which the fill
// initialises), two values in the naive plan.
// Adaptive structure costs the full path (every gate on, the last path of
// each set) and sets tac.cost_note; a constant condition or selector costs
// the path it fixes, without a note.

// CHECK: module attributes {tac.arena_bytes = 512 : i64}
// CHECK-LABEL: func.func @gate
// CHECK-SAME: tac.cost = #tac.cost<flops = 1024, bytes_moved = 1280, param_bytes = 0, peak_activation_bytes = 256, naive_activation_bytes = 512>
// CHECK-SAME: tac.cost_note = "full path; specialise paths for per-path costs"
func.func @gate(%c: i1, %x: tensor<8x8xf32>, %w: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %y = tac.gate %c (%h = %x : tensor<8x8xf32>) {
    %e = tensor.empty() : tensor<8x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
    %m = linalg.matmul ins(%h, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
    tac.yield %m : tensor<8x8xf32>
  }
  return %y : tensor<8x8xf32>
}

// CHECK-LABEL: func.func @gate_off
// CHECK-SAME: tac.cost = #tac.cost<flops = 0, bytes_moved = 0, param_bytes = 0, peak_activation_bytes = 0, naive_activation_bytes = 0>}
func.func @gate_off(%x: tensor<8x8xf32>, %w: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %c = arith.constant false
  %y = tac.gate %c (%h = %x : tensor<8x8xf32>) {
    %e = tensor.empty() : tensor<8x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
    %m = linalg.matmul ins(%h, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
    tac.yield %m : tensor<8x8xf32>
  }
  return %y : tensor<8x8xf32>
}

// Two layers on the last path [0, 1]. Layer 1 reads layer 0's result while
// writing its own: 2 buffers.
// CHECK-LABEL: func.func @block
// CHECK-SAME: tac.cost = #tac.cost<flops = 2048, bytes_moved = 2560, param_bytes = 0, peak_activation_bytes = 512, naive_activation_bytes = 1024>
// CHECK-SAME: tac.cost_note
func.func @block(%sel: index, %x: tensor<8x8xf32>, %w0: tensor<8x8xf32>, %w1: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<8x8xf32>)
  layer (%h) {
    %e = tensor.empty() : tensor<8x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
    %m = linalg.matmul ins(%h, %w0 : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
    tac.yield %m : tensor<8x8xf32>
  }
  layer (%h) {
    %e = tensor.empty() : tensor<8x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
    %m = linalg.matmul ins(%h, %w1 : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
    tac.yield %m : tensor<8x8xf32>
  }
  return %y : tensor<8x8xf32>
}

// A constant selector fixes path 0: one layer, no note.
// CHECK-LABEL: func.func @block_static
// CHECK-SAME: tac.cost = #tac.cost<flops = 1024, bytes_moved = 1280, param_bytes = 0, peak_activation_bytes = 256, naive_activation_bytes = 512>}
func.func @block_static(%x: tensor<8x8xf32>, %w0: tensor<8x8xf32>, %w1: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %sel = arith.constant 0 : index
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<8x8xf32>)
  layer (%h) {
    %e = tensor.empty() : tensor<8x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
    %m = linalg.matmul ins(%h, %w0 : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
    tac.yield %m : tensor<8x8xf32>
  }
  layer (%h) {
    %e = tensor.empty() : tensor<8x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
    %m = linalg.matmul ins(%h, %w1 : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
    tac.yield %m : tensor<8x8xf32>
  }
  return %y : tensor<8x8xf32>
}

// A stack without selector: body × 4 layers. The carried state has a
// buffer for the whole stack (the input is a function argument, so a new
// one), beside the body's: 2 buffers; naive 256 + 2·256.
// CHECK-LABEL: func.func @stack
// CHECK-SAME: tac.cost = #tac.cost<flops = 4096, bytes_moved = 5120, param_bytes = 0, peak_activation_bytes = 512, naive_activation_bytes = 768>}
func.func @stack(%x: tensor<8x8xf32>, %w: tensor<4x8x8xf32>) -> tensor<8x8xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %y = tac.layer_stack layers [0, 4) (%h = %x : tensor<8x8xf32>) weights (%wi = %w : tensor<4x8x8xf32>) {
    %e = tensor.empty() : tensor<8x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
    %m = linalg.matmul ins(%h, %wi : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
    tac.yield %m : tensor<8x8xf32>
  }
  return %y : tensor<8x8xf32>
}

// A selectable stack: the last path [0, 2] runs 2 of the 4 layers.
// CHECK-LABEL: func.func @stack_selected
// CHECK-SAME: tac.cost = #tac.cost<flops = 2048, bytes_moved = 2560,
// CHECK-SAME: tac.cost_note
func.func @stack_selected(%sel: index, %x: tensor<8x8xf32>, %w: tensor<4x8x8xf32>) -> tensor<8x8xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %y = tac.layer_stack layers [0, 4) (%h = %x : tensor<8x8xf32>) weights (%wi = %w : tensor<4x8x8xf32>)
         select %sel : index paths #tac.paths<[0], [0, 2]> {
    %e = tensor.empty() : tensor<8x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
    %m = linalg.matmul ins(%h, %wi : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
    tac.yield %m : tensor<8x8xf32>
  }
  return %y : tensor<8x8xf32>
}

// scf.for with a static trip count (as specialised variants loop over
// layers): body × 3. The layer's weight slice (extract_slice with the
// induction variable) is a view: no bytes.
// CHECK-LABEL: func.func @loop
// CHECK-SAME: tac.cost = #tac.cost<flops = 3072, bytes_moved = 3840, param_bytes = 0, peak_activation_bytes = 512, naive_activation_bytes = 768>}
func.func @loop(%x: tensor<8x8xf32>, %w: tensor<3x8x8xf32>) -> tensor<8x8xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %y = scf.for %i = %c0 to %c3 step %c1 iter_args(%h = %x) -> (tensor<8x8xf32>) {
    %wi = tensor.extract_slice %w[%i, 0, 0] [1, 8, 8] [1, 1, 1] : tensor<3x8x8xf32> to tensor<8x8xf32>
    %e = tensor.empty() : tensor<8x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
    %m = linalg.matmul ins(%h, %wi : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
    scf.yield %m : tensor<8x8xf32>
  }
  return %y : tensor<8x8xf32>
}

// Inside the loop, the state buffer is free once the iteration has read the
// state for the last time, so an elementwise body computes the next state
// over it: one buffer (naive: the state and the body's value), where the
// matmul body above needs two. 4 iterations of exp on 8x8: 256 FLOPs.
// CHECK-LABEL: func.func @loop_in_place
// CHECK-SAME: tac.cost = #tac.cost<flops = 256, bytes_moved = 2048, param_bytes = 0, peak_activation_bytes = 256, naive_activation_bytes = 512>}
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @loop_in_place(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %y = scf.for %i = %c0 to %c4 step %c1 iter_args(%h = %x) -> (tensor<8x8xf32>) {
    %e = tensor.empty() : tensor<8x8xf32>
    %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%h : tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %v = math.exp %in : f32
      linalg.yield %v : f32
    } -> tensor<8x8xf32>
    scf.yield %r : tensor<8x8xf32>
  }
  return %y : tensor<8x8xf32>
}

// scf.if counts its costlier branch (an upper bound). Its result gets a
// buffer of its own, live across both branches: 2 buffers at a time.
// naive: result 256 + then 2·256 + else 256.
// CHECK-LABEL: func.func @branch
// CHECK-SAME: tac.cost = #tac.cost<flops = 1024, bytes_moved = 1280, param_bytes = 0, peak_activation_bytes = 512, naive_activation_bytes = 1024>}
func.func @branch(%c: i1, %x: tensor<8x8xf32>, %w: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %y = scf.if %c -> (tensor<8x8xf32>) {
    %e = tensor.empty() : tensor<8x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
    %m = linalg.matmul ins(%x, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
    scf.yield %m : tensor<8x8xf32>
  } else {
    %e = tensor.empty() : tensor<8x8xf32>
    %t = linalg.transpose ins(%x : tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) permutation = [1, 0]
    scf.yield %t : tensor<8x8xf32>
  }
  return %y : tensor<8x8xf32>
}

// -----

// Specialised variants (the shape tac-specialize-paths emits): each
// variant's FLOPs as a share of the last path's, and one arena sized to
// the largest variant's plan (512), not to the controller's (4096).
// CHECK: module attributes {tac.arena_bytes = 512 : i64}
// CHECK-LABEL: func.func @main
// CHECK-SAME: tac.cost_note
// CHECK-LABEL: func.func @main_path0
// CHECK-SAME: tac.cost = #tac.cost<flops = 1024, bytes_moved = 1280, param_bytes = 256, peak_activation_bytes = 256, naive_activation_bytes = 512>
// CHECK-LABEL: func.func @main_path1
// CHECK-SAME: tac.cost = #tac.cost<flops = 2048, bytes_moved = 2560, param_bytes = 512, peak_activation_bytes = 512, naive_activation_bytes = 1024>

// REPORT-LABEL: tac-estimate-cost: 4 functions
// REPORT-NEXT: function          path  flops  bytes_moved  param_bytes  peak_act_bytes  naive_act_bytes  act_saved  flops_vs_full
// REPORT-NEXT: @main             -      2048         2560          512             512             1024      50.0%              -
// REPORT-NEXT: @main_path0       0      1024         1280          256             256              512      50.0%          50.0%
// REPORT-NEXT: @main_path1       1      2048         2560          512             512             1024      50.0%         100.0%
// REPORT-NEXT: @main_controller  -         0         8192            0            4096             4096       0.0%              -
// REPORT-NEXT: arena_bytes: 512 (max peak_act_bytes over 2 variants)
// REPORT-NEXT: ops not modelled (0 FLOPs, bytes counted): 0
// REPORT-NEXT: note: @main: full path; specialise paths for per-path costs
func.func @main(%sel: index, %x: tensor<8x8xf32>) -> tensor<8x8xf32>
    attributes {tac.controller = @main_controller, tac.variants = [@main_path0, @main_path1]} {
  %zero = arith.constant 0.000000e+00 : f32
  %w0 = arith.constant dense<1.000000e-01> : tensor<8x8xf32>
  %w1 = arith.constant dense<2.000000e-01> : tensor<8x8xf32>
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : tensor<8x8xf32>)
  layer (%h) {
    %e = tensor.empty() : tensor<8x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
    %m = linalg.matmul ins(%h, %w0 : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
    tac.yield %m : tensor<8x8xf32>
  }
  layer (%h) {
    %e = tensor.empty() : tensor<8x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
    %m = linalg.matmul ins(%h, %w1 : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
    tac.yield %m : tensor<8x8xf32>
  }
  return %y : tensor<8x8xf32>
}

func.func @main_path0(%x: tensor<8x8xf32>) -> tensor<8x8xf32> attributes {tac.layers = array<i64: 0>, tac.path = 0 : i64} {
  %zero = arith.constant 0.000000e+00 : f32
  %w0 = arith.constant dense<1.000000e-01> : tensor<8x8xf32>
  %e = tensor.empty() : tensor<8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  %m = linalg.matmul ins(%x, %w0 : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
  return %m : tensor<8x8xf32>
}

func.func @main_path1(%x: tensor<8x8xf32>) -> tensor<8x8xf32> attributes {tac.layers = array<i64: 0, 1>, tac.path = 1 : i64} {
  %zero = arith.constant 0.000000e+00 : f32
  %w0 = arith.constant dense<1.000000e-01> : tensor<8x8xf32>
  %w1 = arith.constant dense<2.000000e-01> : tensor<8x8xf32>
  %e = tensor.empty() : tensor<8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  %m = linalg.matmul ins(%x, %w0 : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
  %e1 = tensor.empty() : tensor<8x8xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<8x8xf32>) -> tensor<8x8xf32>
  %m1 = linalg.matmul ins(%m, %w1 : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f1 : tensor<8x8xf32>) -> tensor<8x8xf32>
  return %m1 : tensor<8x8xf32>
}

// The controller: a predictor-sized intermediate (32x32 f32 = 4096 bytes).
func.func @main_controller(%x: tensor<32x32xf32>) -> (index, tensor<32x32xf32>) {
  %c1 = arith.constant 1 : index
  %e = tensor.empty() : tensor<32x32xf32>
  %t = linalg.transpose ins(%x : tensor<32x32xf32>) outs(%e : tensor<32x32xf32>) permutation = [1, 0]
  return %c1, %t : index, tensor<32x32xf32>
}
