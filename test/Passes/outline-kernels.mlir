// RUN: tac-opt %s --tac-outline-kernels --split-input-file --verify-diagnostics | FileCheck %s

// Each linalg op becomes a kernel the host calls; identical ones share one.
// Allocations, views, weights and contiguous copies stay on the host.

// CHECK-LABEL: func.func @host
// CHECK: %[[A:.*]] = memref.alloc
// CHECK: call @tac_kernel_0(%[[A]]) : (memref<4xf32>) -> ()
// CHECK: %[[B:.*]] = memref.alloc
// CHECK: call @tac_kernel_0(%[[B]]) : (memref<4xf32>) -> ()
// CHECK: memref.copy %[[A]], %[[B]]
// CHECK: %[[S:.*]] = memref.subview %arg0[1, 0] [1, 4] [1, 1]
// CHECK: call @tac_kernel_1(%[[S]], %[[B]])
// CHECK: return %[[B]]
// CHECK: func.func private @tac_kernel_0(%{{.*}}: memref<4xf32>)
// CHECK-NEXT: arith.constant 0.0
// CHECK-NEXT: linalg.fill
// CHECK: func.func private @tac_kernel_1(%{{.*}}: memref<4xf32, strided<[1], offset: 4>>, %{{.*}}: memref<4xf32>)
// CHECK: linalg.generic
func.func @host(%w: memref<2x4xf32>) -> memref<4xf32> {
  %zero = arith.constant 0.0 : f32
  %a = memref.alloc() : memref<4xf32>
  linalg.fill ins(%zero : f32) outs(%a : memref<4xf32>)
  %b = memref.alloc() : memref<4xf32>
  linalg.fill ins(%zero : f32) outs(%b : memref<4xf32>)
  memref.copy %a, %b : memref<4xf32> to memref<4xf32>
  %row = memref.subview %w[1, 0] [1, 4] [1, 1] : memref<2x4xf32> to memref<4xf32, strided<[1], offset: 4>>
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                  iterator_types = ["parallel"]}
      ins(%row : memref<4xf32, strided<[1], offset: 4>>) outs(%b : memref<4xf32>) {
  ^bb0(%x: f32, %y: f32):
    %s = arith.addf %x, %y : f32
    linalg.yield %s : f32
  }
  return %b : memref<4xf32>
}

// -----

// Scalars flowing between compute ops keep those ops in one kernel; a
// strided copy becomes a linalg.copy inside a kernel; a loop with constant
// bounds stays on the host, its index feeding views.

// CHECK-LABEL: func.func @scalars
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<i64>
// CHECK: call @tac_kernel_1(%arg0, %[[OUT]]) : (memref<4xf32>, memref<i64>) -> ()
// CHECK: scf.for %[[I:.*]] = %c0 to %c2 step %c1
// CHECK:   %[[V:.*]] = memref.subview %arg1[%[[I]], 0]
// CHECK:   call @tac_kernel_0(%[[V]], %{{.*}})
// CHECK: func.func private @tac_kernel_0(%{{.*}}: memref<4xf32, strided<[1], offset: ?>>, %{{.*}}: memref<4xf32, strided<[8], offset: ?>>)
// CHECK: linalg.copy
// CHECK: func.func private @tac_kernel_1(
// CHECK: memref.load
// CHECK: arith.fptosi
// CHECK: memref.store
func.func @scalars(%x: memref<4xf32>, %w: memref<2x4xf32>) -> memref<i64> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %v = memref.load %x[%c0] : memref<4xf32>
  %i = arith.fptosi %v : f32 to i64
  %out = memref.alloc() : memref<i64>
  memref.store %i, %out[] : memref<i64>
  %t = memref.alloc() : memref<4x8xf32>
  scf.for %k = %c0 to %c2 step %c1 {
    %row = memref.subview %w[%k, 0] [1, 4] [1, 1] : memref<2x4xf32> to memref<4xf32, strided<[1], offset: ?>>
    %col = memref.subview %t[0, %k] [4, 1] [1, 1] : memref<4x8xf32> to memref<4xf32, strided<[8], offset: ?>>
    memref.copy %row, %col : memref<4xf32, strided<[1], offset: ?>> to memref<4xf32, strided<[8], offset: ?>>
  }
  return %out : memref<i64>
}

// -----

// A fill right before the op whose output it initialises joins that op's
// kernel (with merge-fills=false it stays a kernel of its own).

// CHECK-LABEL: func.func @fill_then_matmul
// CHECK: %[[C:.*]] = memref.alloc
// CHECK-NEXT: call @tac_kernel_0(%[[C]], %arg0, %arg1)
// CHECK-NEXT: return
// CHECK: func.func private @tac_kernel_0(
// CHECK: linalg.fill
// CHECK-NEXT: linalg.matmul
func.func @fill_then_matmul(%a: memref<2x3xf32>, %b: memref<3x4xf32>) -> memref<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %c = memref.alloc() : memref<2x4xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<2x4xf32>)
  linalg.matmul ins(%a, %b : memref<2x3xf32>, memref<3x4xf32>) outs(%c : memref<2x4xf32>)
  return %c : memref<2x4xf32>
}

// -----

// A fill moves down past ops that touch other storage (an argument, another
// allocation) to the op that writes its buffer, and joins that op's kernel;
// it stays where it is when an op in between reads its buffer.

// CHECK-LABEL: func.func @fill_sinks_to_matmul
// CHECK: %[[Q:.*]] = memref.alloc() : memref<2x3xf32>
// CHECK-NEXT: %[[C:.*]] = memref.alloc() : memref<2x4xf32>
// CHECK-NEXT: call @[[SCALE:tac_kernel_[0-9]+]](%arg0, %[[Q]])
// CHECK-NEXT: call @[[GEMM:tac_kernel_[0-9]+]](%[[C]], %[[Q]], %arg1)
// CHECK-LABEL: func.func @fill_stays
// CHECK: call @{{tac_kernel_[0-9]+}}(%[[C2:.*]]) : (memref<2x4xf32>) -> ()
// CHECK-NEXT: call
// CHECK-NEXT: call
// CHECK: func.func private @[[GEMM]](
// CHECK-NEXT: arith.constant
// CHECK-NEXT: linalg.fill
// CHECK-NEXT: linalg.matmul
func.func @fill_sinks_to_matmul(%a: memref<2x3xf32>, %b: memref<3x4xf32>) -> memref<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %q = memref.alloc() : memref<2x3xf32>
  %c = memref.alloc() : memref<2x4xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<2x4xf32>)
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%a : memref<2x3xf32>) outs(%q : memref<2x3xf32>) {
    ^bb0(%x: f32, %y: f32):
      %s = arith.mulf %x, %half : f32
      linalg.yield %s : f32
  }
  linalg.matmul ins(%q, %b : memref<2x3xf32>, memref<3x4xf32>) outs(%c : memref<2x4xf32>)
  return %c : memref<2x4xf32>
}

func.func @fill_stays(%a: memref<2x3xf32>, %b: memref<3x4xf32>, %d: memref<2x4xf32>) -> memref<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %c = memref.alloc() : memref<2x4xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<2x4xf32>)
  // reads the zeroed buffer before the matmul writes it
  linalg.copy ins(%c : memref<2x4xf32>) outs(%d : memref<2x4xf32>)
  linalg.matmul ins(%a, %b : memref<2x3xf32>, memref<3x4xf32>) outs(%c : memref<2x4xf32>)
  return %c : memref<2x4xf32>
}

// -----

// A plan is fixed at compile time: host code cannot depend on a value read
// from memory.

func.func @data_dependent(%x: memref<4xindex>, %y: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.load %x[%c0] : memref<4xindex>
  // expected-error @below {{host code depends on a value computed at run time}}
  %v = memref.subview %y[%n] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1], offset: ?>>
  return
}
