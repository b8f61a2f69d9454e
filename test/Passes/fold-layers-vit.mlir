// The If-gated ViT (test/Import/Models), its gates formed into one adaptive
// block, folds into one stack: the twelve per-layer weights (attention
// q/k/v/out and the MLP, matrices and biases) stack along a leading
// dimension of 2; the LayerNorm parameters, equal in both layers, and the
// per-layer copies of scalar constants stay captured from layer 0. No
// constant of layer 1 is left.
// RUN: tac-opt %tac_src_root/test/Import/Models/vit_tiny_gated.onnx \
// RUN:   --tac-form-adaptive-blocks --tac-fold-layers | FileCheck %s --implicit-check-not=tac.adaptive_block --implicit-check-not=blocks.1.

// CHECK-LABEL: func.func @main
// CHECK: tac.layer_stack layers [0, 2) (%{{.*}} = %{{.*}} : tensor<1x17x32xf32>)
// CHECK-SAME: weights (%{{.*}} = %{{.*}} : tensor<2x32x32xf32>, %{{.*}} = %{{.*}} : tensor<2x32xf32>, %{{.*}} = %{{.*}} : tensor<2x32x32xf32>, %{{.*}} = %{{.*}} : tensor<2x32xf32>, %{{.*}} = %{{.*}} : tensor<2x32x32xf32>, %{{.*}} = %{{.*}} : tensor<2x32xf32>, %{{.*}} = %{{.*}} : tensor<2x32x32xf32>, %{{.*}} = %{{.*}} : tensor<2x32xf32>, %{{.*}} = %{{.*}} : tensor<2x32x64xf32>, %{{.*}} = %{{.*}} : tensor<2x64xf32>, %{{.*}} = %{{.*}} : tensor<2x64x32xf32>, %{{.*}} = %{{.*}} : tensor<2x32xf32>)
// CHECK-SAME: select %{{.*}} : index paths #tac.paths<[0], [0, 1]> {
// CHECK-COUNT-2: linalg.batch_matmul
// CHECK: tac.yield
// CHECK: dialect_resources
// CHECK-DAG: blocks.0.attn.q.bias_stacked:
// CHECK-DAG: blocks.0.norm1.weight:
