// RUN: tac-opt %s --tac-estimate-cost --split-input-file --allow-unregistered-dialect | FileCheck %s
// RUN: tac-opt %s --tac-estimate-cost=report=true --split-input-file --allow-unregistered-dialect -o /dev/null | FileCheck %s --check-prefix=REPORT

// FLOPs and bytes of single ops, against hand counts. Conventions:
// docs/passes/estimate-cost.md. f32 = 4 bytes.

// matmul 4x8 · 8x16: 2·M·K·N = 2·4·8·16 = 1024 FLOPs.
// bytes: fill writes C (4·16·4 = 256); matmul reads A (128), B (512) and
// C (its payload accumulates into it: 256), writes C (256): 1152.
// Total 1408. Memory: one buffer, the matmul's accumulator (the zero fill
// is redone in it rather than kept): peak 256; naive, one buffer per
// written value: 256 + 256 = 512.
// CHECK: module attributes {tac.arena_bytes = 256 : i64}
// CHECK-LABEL: func.func @matmul
// CHECK-SAME: tac.cost = #tac.cost<flops = 1024, bytes_moved = 1408, param_bytes = 0, peak_activation_bytes = 256, naive_activation_bytes = 512>
func.func @matmul(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>) -> tensor<4x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %m : tensor<4x16xf32>
}

// -----

// Single-head attention as the importer emits it (B=1, S=8, d=16):
//   K^T: transpose, 0 FLOPs
//   S = Q·K^T: batch_matmul 2·B·M·K·N = 2·1·8·16·8         = 2048
//   softmax over rows of n = 8, 8 rows, 5n per row          =  320
//     max reduce n, sub+exp 2n, sum reduce n, divide n
//   O = P·V: batch_matmul 2·1·8·8·16                        = 2048
//                                                      flops = 4416
// bytes (Q, K, V: 512 each; S, P: 256; row stats: 32):
//   transpose 512 + 512 = 1024; fill S 256; bmm 512 + 512 + 256 + 256 = 1536;
//   fill max 32; reduce 256 + 32 + 32 = 320; sub/exp 256 + 32 + 256 = 544;
//   fill sum 32; reduce 320; divide 544; fill O 512;
//   bmm 256 + 512 + 512 + 512 = 1792                   bytes = 6912
// Memory: K^T (512) and S (256) live together during Q·K^T; S is reused in
// place by exp and divide; S and O (512) live together during P·V:
// peak 768. naive: 512 + 256·2 + 32·2 + 256 + 32·2 + 256 + 512·2 = 2688.
// CHECK-LABEL: func.func @attention
// CHECK-SAME: tac.cost = #tac.cost<flops = 4416, bytes_moved = 6912, param_bytes = 0, peak_activation_bytes = 768, naive_activation_bytes = 2688>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#row3 = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @attention(%q: tensor<1x8x16xf32>, %k: tensor<1x8x16xf32>, %v: tensor<1x8x16xf32>) -> tensor<1x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e0 = tensor.empty() : tensor<1x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<1x8x16xf32>) outs(%e0 : tensor<1x16x8xf32>) permutation = [0, 2, 1]
  %e1 = tensor.empty() : tensor<1x8x8xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x8x8xf32>) -> tensor<1x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<1x8x16xf32>, tensor<1x16x8xf32>) outs(%f1 : tensor<1x8x8xf32>) -> tensor<1x8x8xf32>
  %e2 = tensor.empty() : tensor<1x8xf32>
  %f2 = linalg.fill ins(%ninf : f32) outs(%e2 : tensor<1x8xf32>) -> tensor<1x8xf32>
  %max = linalg.reduce ins(%s : tensor<1x8x8xf32>) outs(%f2 : tensor<1x8xf32>) dimensions = [2]
    (%in: f32, %init: f32) {
      %m = arith.maximumf %in, %init : f32
      linalg.yield %m : f32
    }
  %e3 = tensor.empty() : tensor<1x8x8xf32>
  %exp = linalg.generic {indexing_maps = [#id3, #row3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %max : tensor<1x8x8xf32>, tensor<1x8xf32>) outs(%e3 : tensor<1x8x8xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %d = arith.subf %in, %in_0 : f32
    %x = math.exp %d : f32
    linalg.yield %x : f32
  } -> tensor<1x8x8xf32>
  %e4 = tensor.empty() : tensor<1x8xf32>
  %f4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<1x8xf32>) -> tensor<1x8xf32>
  %sum = linalg.reduce ins(%exp : tensor<1x8x8xf32>) outs(%f4 : tensor<1x8xf32>) dimensions = [2]
    (%in: f32, %init: f32) {
      %a = arith.addf %in, %init : f32
      linalg.yield %a : f32
    }
  %e5 = tensor.empty() : tensor<1x8x8xf32>
  %p = linalg.generic {indexing_maps = [#id3, #row3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%exp, %sum : tensor<1x8x8xf32>, tensor<1x8xf32>) outs(%e5 : tensor<1x8x8xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %d = arith.divf %in, %in_0 : f32
    linalg.yield %d : f32
  } -> tensor<1x8x8xf32>
  %e6 = tensor.empty() : tensor<1x8x16xf32>
  %f6 = linalg.fill ins(%zero : f32) outs(%e6 : tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<1x8x8xf32>, tensor<1x8x16xf32>) outs(%f6 : tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  return %o : tensor<1x8x16xf32>
}

// -----

// Convolutions: 2·N·F·OH·OW·C·KH·KW (grouped: ·G, with F and C per group).
// conv_2d_nchw_fchw 1x3x8x8 * 4x3x3x3 -> 1x4x6x6: 2·1·4·6·6·3·3·3 = 7776.
// bytes: fill 576; conv reads input 768, filter 432, init 576, writes 576.
// CHECK-LABEL: func.func @conv2d
// CHECK-SAME: tac.cost = #tac.cost<flops = 7776, bytes_moved = 2928, param_bytes = 0, peak_activation_bytes = 576, naive_activation_bytes = 1152>
func.func @conv2d(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<1x4x6x6xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) outs(%f : tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  return %y : tensor<1x4x6x6xf32>
}

// Strides shrink the output, not the per-output work: 1x1x28x28 * 32x1x7x7
// stride 7 -> 1x32x4x4: 2·1·32·4·4·1·7·7 = 50176 (the ViT patch embedding).
// CHECK-LABEL: func.func @conv2d_strided
// CHECK-SAME: flops = 50176,
func.func @conv2d_strided(%x: tensor<1x1x28x28xf32>, %w: tensor<32x1x7x7xf32>, %init: tensor<1x32x4x4xf32>) -> tensor<1x32x4x4xf32> {
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<7> : tensor<2xi64>} ins(%x, %w : tensor<1x1x28x28xf32>, tensor<32x1x7x7xf32>) outs(%init : tensor<1x32x4x4xf32>) -> tensor<1x32x4x4xf32>
  return %y : tensor<1x32x4x4xf32>
}

// Grouped: N=1 G=2 C=2 6x6, F=3 per group, 3x3 -> 1x2x3x4x4:
// 2·1·2·3·4·4·2·3·3 = 3456.
// CHECK-LABEL: func.func @conv2d_grouped
// CHECK-SAME: flops = 3456,
func.func @conv2d_grouped(%x: tensor<1x2x2x6x6xf32>, %w: tensor<2x3x2x3x3xf32>, %init: tensor<1x2x3x4x4xf32>) -> tensor<1x2x3x4x4xf32> {
  %y = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : tensor<1x2x2x6x6xf32>, tensor<2x3x2x3x3xf32>) outs(%init : tensor<1x2x3x4x4xf32>) -> tensor<1x2x3x4x4xf32>
  return %y : tensor<1x2x3x4x4xf32>
}

// 1-D: 1x2x10 * 4x2x3 -> 1x4x8: 2·1·4·8·2·3 = 384.
// CHECK-LABEL: func.func @conv1d
// CHECK-SAME: flops = 384,
func.func @conv1d(%x: tensor<1x2x10xf32>, %w: tensor<4x2x3xf32>, %init: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  %y = linalg.conv_1d_ncw_fcw {dilations = dense<1> : tensor<1xi64>, strides = dense<1> : tensor<1xi64>} ins(%x, %w : tensor<1x2x10xf32>, tensor<4x2x3xf32>) outs(%init : tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}

// 3-D: 1x1x4x4x4 * 2x1x3x3x3 -> 1x2x2x2x2: 2·1·2·2·2·2·1·3·3·3 = 864.
// CHECK-LABEL: func.func @conv3d
// CHECK-SAME: flops = 864,
func.func @conv3d(%x: tensor<1x1x4x4x4xf32>, %w: tensor<2x1x3x3x3xf32>, %init: tensor<1x2x2x2x2xf32>) -> tensor<1x2x2x2x2xf32> {
  %y = linalg.conv_3d_ncdhw_fcdhw {dilations = dense<1> : tensor<3xi64>, strides = dense<1> : tensor<3xi64>} ins(%x, %w : tensor<1x1x4x4x4xf32>, tensor<2x1x3x3x3xf32>) outs(%init : tensor<1x2x2x2x2xf32>) -> tensor<1x2x2x2x2xf32>
  return %y : tensor<1x2x2x2x2xf32>
}

// -----

// Elementwise with broadcasting: one FLOP per compute op per element of the
// iteration space. Bias add 4x8 + 8: 32 FLOPs; bytes 128 + 32 + 128 = 288
// (the tensor.empty init is not read: the payload does not use it).
// CHECK-LABEL: func.func @bias_add
// CHECK-SAME: tac.cost = #tac.cost<flops = 32, bytes_moved = 288, param_bytes = 0, peak_activation_bytes = 128, naive_activation_bytes = 128>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @bias_add(%x: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [#id2, #col, #id2], iterator_types = ["parallel", "parallel"]} ins(%x, %b : tensor<4x8xf32>, tensor<8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %s = arith.addf %in, %in_0 : f32
    linalg.yield %s : f32
  } -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// What counts in a payload: addf, mulf, exp, cmpf, select = 5 per element;
// linalg.index, index_cast, sitofp (casts) and constants are free.
// 4x8 = 32 elements: 160 FLOPs.
// CHECK-LABEL: func.func @payload_ops
// CHECK-SAME: flops = 160,
func.func @payload_ops(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %i = linalg.index 1 : index
    %ii = arith.index_cast %i : index to i32
    %f = arith.sitofp %ii : i32 to f32
    %c = arith.constant 2.000000e+00 : f32
    %a = arith.addf %in, %f : f32
    %m = arith.mulf %a, %c : f32
    %x2 = math.exp %m : f32
    %p = arith.cmpf ogt, %x2, %c : f32
    %r = arith.select %p, %x2, %in : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// Data movement costs no FLOPs: fill, transpose, broadcast, copy; reshapes
// and slices are views and move no bytes either.
// bytes: transpose 128 + 128; collapse 0; broadcast 32 + 128; copy 128 + 128;
// extract_slice 0; insert_slice reads and writes the 16-byte source: 32;
// fill 128. Total 832.
// CHECK-LABEL: func.func @data_movement
// CHECK-SAME: tac.cost = #tac.cost<flops = 0, bytes_moved = 832,
func.func @data_movement(%x: tensor<4x8xf32>, %b: tensor<8xf32>) -> (tensor<32xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %zero = arith.constant 0.000000e+00 : f32
  %e0 = tensor.empty() : tensor<8x4xf32>
  %t = linalg.transpose ins(%x : tensor<4x8xf32>) outs(%e0 : tensor<8x4xf32>) permutation = [1, 0]
  %c = tensor.collapse_shape %t [[0, 1]] : tensor<8x4xf32> into tensor<32xf32>
  %e1 = tensor.empty() : tensor<4x8xf32>
  %bc = linalg.broadcast ins(%b : tensor<8xf32>) outs(%e1 : tensor<4x8xf32>) dimensions = [0]
  %e2 = tensor.empty() : tensor<4x8xf32>
  %cp = linalg.copy ins(%x : tensor<4x8xf32>) outs(%e2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %s = tensor.extract_slice %cp[0, 0] [1, 4] [1, 1] : tensor<4x8xf32> to tensor<1x4xf32>
  %ins = tensor.insert_slice %s into %bc[1, 0] [1, 4] [1, 1] : tensor<1x4xf32> into tensor<4x8xf32>
  %e3 = tensor.empty() : tensor<4x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e3 : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %c, %ins, %cp, %f : tensor<32xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}

// arith on whole tensors is elementwise: 4 FLOPs, bytes 16 + 16 + 16.
// CHECK-LABEL: func.func @tensor_arith
// CHECK-SAME: tac.cost = #tac.cost<flops = 4, bytes_moved = 48,
func.func @tensor_arith(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %r = arith.addf %a, %b : tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// Unknown ops never crash the pass: 0 FLOPs, bytes of their tensor operands
// and results (16 + 16), listed in the report's footnote.
// CHECK-LABEL: func.func @unknown
// CHECK-SAME: tac.cost = #tac.cost<flops = 0, bytes_moved = 32, param_bytes = 0, peak_activation_bytes = 16, naive_activation_bytes = 16>
// REPORT: function  path  flops  bytes_moved  param_bytes  peak_act_bytes  naive_act_bytes  act_saved  flops_vs_full
// REPORT: @unknown  -         0           32            0              16               16       0.0%              -
// REPORT-NEXT: arena_bytes: 16 (max peak_act_bytes over all functions)
// REPORT-NEXT: ops not modelled (0 FLOPs, bytes counted): 1
// REPORT-NEXT:   @unknown: foo.bar x1
func.func @unknown(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "foo.bar"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// param_bytes: distinct tensor constants the function uses. Equal values
// count once (they are one constant after CSE), unused ones not at all; a
// constant read only through static slices counts the slices it reads.
// 32x32 f32 = 4096 (used twice, counted once) + 3xi1 = 3 (i1 is a byte)
// + 2 of the 4 rows of a 4x8 f32 table = 64 + dense_resource 8xf32 = 32.
// Total 4195.
// CHECK-LABEL: func.func @params
// CHECK-SAME: param_bytes = 4195,
func.func @params(%x: tensor<4x32xf32>) -> (tensor<4x32xf32>, tensor<4x32xf32>, tensor<3xi1>, tensor<1x8xf32>, tensor<1x8xf32>, tensor<8xf32>) {
  %w0 = arith.constant dense<1.000000e-02> : tensor<32x32xf32>
  %w1 = arith.constant dense<1.000000e-02> : tensor<32x32xf32>
  %unused = arith.constant dense<2.000000e-02> : tensor<32x32xf32>
  %mask = arith.constant dense<[false, true, true]> : tensor<3xi1>
  %table = arith.constant dense<3.000000e-02> : tensor<4x8xf32>
  %blob = arith.constant dense_resource<__elided__> : tensor<8xf32>
  %e = tensor.empty() : tensor<4x32xf32>
  %m0 = linalg.matmul ins(%x, %w0 : tensor<4x32xf32>, tensor<32x32xf32>) outs(%e : tensor<4x32xf32>) -> tensor<4x32xf32>
  %m1 = linalg.matmul ins(%x, %w1 : tensor<4x32xf32>, tensor<32x32xf32>) outs(%e : tensor<4x32xf32>) -> tensor<4x32xf32>
  %r0 = tensor.extract_slice %table[1, 0] [1, 8] [1, 1] : tensor<4x8xf32> to tensor<1x8xf32>
  %r1 = tensor.extract_slice %table[3, 0] [1, 8] [1, 1] : tensor<4x8xf32> to tensor<1x8xf32>
  %r2 = tensor.extract_slice %table[1, 0] [1, 8] [1, 1] : tensor<4x8xf32> to tensor<1x8xf32>
  return %m0, %m1, %mask, %r0, %r1, %blob : tensor<4x32xf32>, tensor<4x32xf32>, tensor<3xi1>, tensor<1x8xf32>, tensor<1x8xf32>, tensor<8xf32>
}
