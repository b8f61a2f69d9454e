// Every verifier rule of the tac dialect, with its exact message.
// RUN: tac-opt %s --split-input-file --verify-diagnostics

//===----------------------------------------------------------------------===//
// #tac.paths
//===----------------------------------------------------------------------===//

// expected-error @+1 {{path set must hold at least one path, but is empty}}
func.func @paths_empty() attributes {p = #tac.paths<>} { return }

// -----

// expected-error @+1 {{path 1 has layer index -1; expected a non-negative index}}
func.func @paths_negative() attributes {p = #tac.paths<[0], [0, -1]>} { return }

// -----

// expected-error @+1 {{path 1 visits layer 2 twice; expected each layer at most once}}
func.func @paths_repeat() attributes {p = #tac.paths<[0], [2, 1, 2]>} { return }

// -----

// expected-error @+1 {{path 2 duplicates path 0; expected distinct paths}}
func.func @paths_duplicate() attributes {p = #tac.paths<[0, 1], [0], [0, 1]>} { return }

// -----

//===----------------------------------------------------------------------===//
// tac.gate
//===----------------------------------------------------------------------===//

func.func @gate_no_inputs(%c: i1) {
  // expected-error @+1 {{'tac.gate' op has no inputs; expected at least one value to pass through or transform}}
  "tac.gate"(%c) ({
    "tac.yield"() : () -> ()
  }) : (i1) -> ()
  return
}

// -----

func.func @gate_condition_type(%c: i32, %x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.gate' op operand #0 must be 1-bit signless integer, but got 'i32'}}
  %y = "tac.gate"(%c, %x) ({
  ^bb0(%h: tensor<4xf32>):
    "tac.yield"(%h) : (tensor<4xf32>) -> ()
  }) : (i32, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @gate_result_count(%c: i1, %x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.gate' op has 1 inputs but 2 results; expected one result per input}}
  %y:2 = "tac.gate"(%c, %x) ({
  ^bb0(%h: tensor<4xf32>):
    "tac.yield"(%h, %h) : (tensor<4xf32>, tensor<4xf32>) -> ()
  }) : (i1, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @gate_result_type(%c: i1, %x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.gate' op result #0 has type 'tensor<8xf32>', but input #0 has type 'tensor<4xf32>'; expected matching types}}
  %y = "tac.gate"(%c, %x) ({
  ^bb0(%h: tensor<4xf32>):
    "tac.yield"(%h) : (tensor<4xf32>) -> ()
  }) : (i1, tensor<4xf32>) -> tensor<8xf32>
  return
}

// -----

func.func @gate_body_arity(%c: i1, %x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.gate' op body has 2 arguments, but expected 1 (one per input, typed as the inputs)}}
  %y = "tac.gate"(%c, %x) ({
  ^bb0(%h: tensor<4xf32>, %g: tensor<4xf32>):
    "tac.yield"(%h) : (tensor<4xf32>) -> ()
  }) : (i1, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @gate_body_type(%c: i1, %x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.gate' op body argument #0 has type 'tensor<4xf16>', but expected 'tensor<4xf32>'}}
  %y = "tac.gate"(%c, %x) ({
  ^bb0(%h: tensor<4xf16>):
    "tac.yield"(%x) : (tensor<4xf32>) -> ()
  }) : (i1, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// tac.yield
//===----------------------------------------------------------------------===//

func.func @yield_count(%c: i1, %x: tensor<4xf32>) {
  %y = tac.gate %c (%h = %x : tensor<4xf32>) {
    // expected-error @+1 {{'tac.yield' op yields 2 values, but the parent 'tac.gate' has 1 results; expected one value per result}}
    tac.yield %h, %h : tensor<4xf32>, tensor<4xf32>
  }
  return
}

// -----

func.func @yield_type(%c: i1, %x: tensor<4xf32>, %z: tensor<4xf16>) {
  %y = tac.gate %c (%h = %x : tensor<4xf32>) {
    // expected-error @+1 {{'tac.yield' op operand #0 has type 'tensor<4xf16>', but the parent's result #0 has type 'tensor<4xf32>'; expected matching types}}
    tac.yield %z : tensor<4xf16>
  }
  return
}

// -----

func.func @yield_parent() {
  // expected-error @+1 {{'tac.yield' op expects parent op to be one of 'tac.gate, tac.adaptive_block, tac.layer_stack'}}
  tac.yield
}

// -----

//===----------------------------------------------------------------------===//
// tac.adaptive_block
//===----------------------------------------------------------------------===//

func.func @block_selector_type(%sel: f32, %x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.adaptive_block' op operand #0 must be signless integer or index, but got 'f32'}}
  %y = "tac.adaptive_block"(%sel, %x) <{paths = #tac.paths<[0]>}> ({
  ^bb0(%h: tensor<4xf32>):
    "tac.yield"(%h) : (tensor<4xf32>) -> ()
  }) : (f32, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @block_no_inputs(%sel: index) {
  // expected-error @+1 {{'tac.adaptive_block' op has no inputs; expected at least one state value}}
  "tac.adaptive_block"(%sel) <{paths = #tac.paths<[0]>}> ({
    "tac.yield"() : () -> ()
  }) : (index) -> ()
  return
}

// -----

func.func @block_result_type(%sel: index, %x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.adaptive_block' op result #0 has type 'tensor<4xf16>', but input #0 has type 'tensor<4xf32>'; expected matching types}}
  %y = "tac.adaptive_block"(%sel, %x) <{paths = #tac.paths<[0]>}> ({
  ^bb0(%h: tensor<4xf32>):
    "tac.yield"(%h) : (tensor<4xf32>) -> ()
  }) : (index, tensor<4xf32>) -> tensor<4xf16>
  return
}

// -----

func.func @block_no_layers(%sel: index, %x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.adaptive_block' op has no layers; expected at least one layer region}}
  %y = tac.adaptive_block %sel : index paths #tac.paths<[]> (%x : tensor<4xf32>)
  return
}

// -----

func.func @block_path_out_of_range(%sel: index, %x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.adaptive_block' op path 1 refers to layer 2, but the block has 2 layers; expected indices in [0, 2)}}
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 2]> (%x : tensor<4xf32>)
  layer (%h) {
    tac.yield %h : tensor<4xf32>
  }
  layer (%h) {
    tac.yield %h : tensor<4xf32>
  }
  return
}

// -----

func.func @block_layer_names(%sel: index, %x: tensor<4xf32>) {
  %y = tac.adaptive_block %sel : index paths #tac.paths<[0]> (%x : tensor<4xf32>)
  // expected-error @+1 {{layer 0 names 2 arguments, but the block has 1 inputs; expected one argument per input}}
  layer (%h, %g) {
    tac.yield %h : tensor<4xf32>
  }
  return
}

// -----

func.func @block_layer_arity(%sel: index, %x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.adaptive_block' op layer 1 has 0 arguments, but expected 1 (one per input, typed as the inputs)}}
  %y = "tac.adaptive_block"(%sel, %x) <{paths = #tac.paths<[0, 1]>}> ({
  ^bb0(%h: tensor<4xf32>):
    "tac.yield"(%h) : (tensor<4xf32>) -> ()
  }, {
    "tac.yield"(%x) : (tensor<4xf32>) -> ()
  }) : (index, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @block_layer_type(%sel: index, %x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.adaptive_block' op layer 0 argument #0 has type 'tensor<?xf32>', but expected 'tensor<4xf32>'}}
  %y = "tac.adaptive_block"(%sel, %x) <{paths = #tac.paths<[0]>}> ({
  ^bb0(%h: tensor<?xf32>):
    "tac.yield"(%x) : (tensor<4xf32>) -> ()
  }) : (index, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// tac.layer_stack
//===----------------------------------------------------------------------===//

func.func @stack_range(%x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.layer_stack' op has layer range [5, 3); expected 0 <= begin <= end}}
  %y = tac.layer_stack layers [5, 3) (%h = %x : tensor<4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  return
}

// -----

func.func @stack_negative_begin(%x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.layer_stack' op has layer range [-1, 3); expected 0 <= begin <= end}}
  %y = tac.layer_stack layers [-1, 3) (%h = %x : tensor<4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  return
}

// -----

func.func @stack_no_inputs(%w: tensor<2x4xf32>) {
  // expected-error @+1 {{'tac.layer_stack' op has no inputs; expected at least one state value}}
  tac.layer_stack layers [0, 2) () weights (%wi = %w : tensor<2x4xf32>) {
    tac.yield
  }
  return
}

// -----

func.func @stack_result_type(%x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.layer_stack' op result #0 has type 'tensor<4xi32>', but input #0 has type 'tensor<4xf32>'; expected matching types}}
  %y = "tac.layer_stack"(%x) <{begin = 0 : i64, end = 1 : i64, operandSegmentSizes = array<i32: 1, 0, 0>}> ({
  ^bb0(%h: tensor<4xf32>):
    "tac.yield"(%h) : (tensor<4xf32>) -> ()
  }) : (tensor<4xf32>) -> tensor<4xi32>
  return
}

// -----

func.func @stack_weight_rank0(%x: tensor<4xf32>, %w: tensor<f32>) {
  // expected-error @+1 {{'tac.layer_stack' op stacked weight #0 has type 'tensor<f32>'; expected rank >= 1 with leading dimension 2 (the layer count)}}
  %y = "tac.layer_stack"(%x, %w) <{begin = 0 : i64, end = 2 : i64, operandSegmentSizes = array<i32: 1, 1, 0>}> ({
  ^bb0(%h: tensor<4xf32>):
    "tac.yield"(%h) : (tensor<4xf32>) -> ()
  }) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  return
}

// -----

func.func @stack_weight_rank0_custom(%x: tensor<4xf32>, %w: tensor<f32>) {
  // expected-error @+1 {{stacked weight #0 has type 'tensor<f32>'; expected a ranked tensor of rank >= 1}}
  %y = tac.layer_stack layers [0, 2) (%h = %x : tensor<4xf32>) weights (%wi = %w : tensor<f32>) {
    tac.yield %h : tensor<4xf32>
  }
  return
}

// -----

func.func @stack_weight_dynamic(%x: tensor<4xf32>, %w: tensor<?x4xf32>) {
  // expected-error @+1 {{'tac.layer_stack' op stacked weight #0 has a dynamic leading dimension; expected 2 (the layer count of [0, 2))}}
  %y = tac.layer_stack layers [0, 2) (%h = %x : tensor<4xf32>) weights (%wi = %w : tensor<?x4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  return
}

// -----

func.func @stack_weight_leading_dim(%x: tensor<4xf32>, %w: tensor<4x4xf32>, %b: tensor<3x4xf32>) {
  // expected-error @+1 {{'tac.layer_stack' op stacked weight #1 has leading dimension 3, but the stack folds 4 layers [2, 6); expected 4}}
  %y = tac.layer_stack layers [2, 6) (%h = %x : tensor<4xf32>)
         weights (%wi = %w : tensor<4x4xf32>, %bi = %b : tensor<3x4xf32>) {
    tac.yield %h : tensor<4xf32>
  }
  return
}

// -----

func.func @stack_selector_without_paths(%sel: index, %x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.layer_stack' op has a selector but no path set; expected both (select %s : T paths #tac.paths<...>) or neither}}
  %y = "tac.layer_stack"(%x, %sel) <{begin = 0 : i64, end = 1 : i64, operandSegmentSizes = array<i32: 1, 0, 1>}> ({
  ^bb0(%h: tensor<4xf32>):
    "tac.yield"(%h) : (tensor<4xf32>) -> ()
  }) : (tensor<4xf32>, index) -> tensor<4xf32>
  return
}

// -----

func.func @stack_paths_without_selector(%x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.layer_stack' op has a path set but no selector; expected both or neither}}
  %y = "tac.layer_stack"(%x) <{begin = 0 : i64, end = 1 : i64, paths = #tac.paths<[0]>, operandSegmentSizes = array<i32: 1, 0, 0>}> ({
  ^bb0(%h: tensor<4xf32>):
    "tac.yield"(%h) : (tensor<4xf32>) -> ()
  }) : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @stack_selector_type(%sel: f32, %x: tensor<4xf32>) {
  // expected-error @+1 {{'tac.layer_stack' op operand #1 must be signless integer or index, but got 'f32'}}
  %y = "tac.layer_stack"(%x, %sel) <{begin = 0 : i64, end = 1 : i64, paths = #tac.paths<[0]>, operandSegmentSizes = array<i32: 1, 0, 1>}> ({
  ^bb0(%h: tensor<4xf32>):
    "tac.yield"(%h) : (tensor<4xf32>) -> ()
  }) : (tensor<4xf32>, f32) -> tensor<4xf32>
  return
}

// -----

func.func @stack_path_out_of_range(%sel: index, %x: tensor<4xf32>, %w: tensor<2x4xf32>) {
  // expected-error @+1 {{'tac.layer_stack' op path 1 refers to layer 1, but the stack folds layers [2, 4); expected indices in [2, 4)}}
  %y = tac.layer_stack layers [2, 4) (%h = %x : tensor<4xf32>) weights (%wi = %w : tensor<2x4xf32>)
         select %sel : index paths #tac.paths<[2], [1, 2, 3]> {
    tac.yield %h : tensor<4xf32>
  }
  return
}

// -----

func.func @stack_body_arity(%x: tensor<4xf32>, %w: tensor<2x4xf32>) {
  // expected-error @+1 {{'tac.layer_stack' op body has 1 arguments, but expected 2 (the state, typed as the inputs, then one slice of each stacked weight without its leading dimension)}}
  %y = "tac.layer_stack"(%x, %w) <{begin = 0 : i64, end = 2 : i64, operandSegmentSizes = array<i32: 1, 1, 0>}> ({
  ^bb0(%h: tensor<4xf32>):
    "tac.yield"(%h) : (tensor<4xf32>) -> ()
  }) : (tensor<4xf32>, tensor<2x4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @stack_body_slice_type(%x: tensor<4xf32>, %w: tensor<2x4xf32>) {
  // expected-error @+1 {{'tac.layer_stack' op body argument #1 has type 'tensor<2x4xf32>', but expected 'tensor<4xf32>'}}
  %y = "tac.layer_stack"(%x, %w) <{begin = 0 : i64, end = 2 : i64, operandSegmentSizes = array<i32: 1, 1, 0>}> ({
  ^bb0(%h: tensor<4xf32>, %wi: tensor<2x4xf32>):
    "tac.yield"(%h) : (tensor<4xf32>) -> ()
  }) : (tensor<4xf32>, tensor<2x4xf32>) -> tensor<4xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// Controller markers
//===----------------------------------------------------------------------===//

func.func @predictor_type(%s: tensor<1xi32>) {
  // expected-error @+1 {{'tac.predictor_output' op operand #0 must be floating-point scalar or tensor, but got 'tensor<1xi32>'}}
  %p = tac.predictor_output %s : tensor<1xi32>
  return
}

// -----

func.func @policy_type(%d: tensor<f32>) {
  // expected-error @+1 {{'tac.policy_output' op operand #0 must be signless integer or index scalar or tensor, but got 'tensor<f32>'}}
  %p = tac.policy_output %d : tensor<f32>
  return
}

// -----

func.func @marker_result_type(%s: tensor<1xf32>) {
  // expected-error @+1 {{'tac.predictor_output' op requires the same type for all operands and results}}
  %p = "tac.predictor_output"(%s) : (tensor<1xf32>) -> tensor<1xf16>
  return
}

//===----------------------------------------------------------------------===//
// tac.* discardable attributes
//===----------------------------------------------------------------------===//

// -----

// expected-error @+1 {{unknown tac attribute 'tac.pathz'; the tac dialect declares its attributes (see the dialect reference)}}
func.func @misspelt_attribute() attributes {tac.pathz = 1 : i64} {
  return
}

// -----

// expected-error @+1 {{'tac.layers' is [0, 1]; expected array<i64>}}
func.func @mistyped_attribute() attributes {tac.layers = [0, 1]} {
  return
}

// -----

// expected-error @+1 {{'tac.variants' is [@a, "b"]; expected an array of symbols}}
func.func @mistyped_element() attributes {tac.variants = [@a, "b"]} {
  return
}

// -----

// expected-error @+1 {{'tac.arena_bytes' is set on 'func.func'; expected it on a module}}
func.func @module_attribute_on_function() attributes {tac.arena_bytes = 8 : i64} {
  return
}

// -----

// expected-error @+1 {{'tac.path' is set on 'builtin.module'; expected it on a function}}
module attributes {tac.path = 0 : i64} {
}

// -----

// expected-error @+1 {{cost field 'flops' is -1; expected a non-negative count}}
func.func @negative_cost() attributes {tac.cost = #tac.cost<flops = -1, bytes_moved = 0, param_bytes = 0, peak_activation_bytes = 0, naive_activation_bytes = 0>} {
  return
}

// -----

//===----------------------------------------------------------------------===//
// tac.attention
//===----------------------------------------------------------------------===//

func.func @attention_keys_mismatch(%q: tensor<1x2x5x4xf32>, %k: tensor<1x2x7x4xf32>,
                                   %v: tensor<1x2x6x3xf32>, %o: tensor<1x2x5x3xf32>) -> tensor<1x2x5x3xf32> {
  // expected-error @+1 {{value's logical dimension 2 (batch, head, row, column) has size 6, expected 7}}
  %a = tac.attention ins(%q, %k, %v : tensor<1x2x5x4xf32>, tensor<1x2x7x4xf32>, tensor<1x2x6x3xf32>)
         outs(%o : tensor<1x2x5x3xf32>)
         {scale = 1.0 : f32, query_dims = array<i64: 0, 1, 2, 3>, key_dims = array<i64: 0, 1, 2, 3>,
          value_dims = array<i64: 0, 1, 2, 3>, result_dims = array<i64: 0, 1, 2, 3>} -> tensor<1x2x5x3xf32>
  return %a : tensor<1x2x5x3xf32>
}

// -----

func.func @attention_dims_not_permutation(%q: tensor<1x2x5x4xf32>, %k: tensor<1x2x7x4xf32>,
                                          %v: tensor<1x2x7x3xf32>, %o: tensor<1x2x5x3xf32>) -> tensor<1x2x5x3xf32> {
  // expected-error @+1 {{key's dims must be a permutation of 0..3}}
  %a = tac.attention ins(%q, %k, %v : tensor<1x2x5x4xf32>, tensor<1x2x7x4xf32>, tensor<1x2x7x3xf32>)
         outs(%o : tensor<1x2x5x3xf32>)
         {scale = 1.0 : f32, query_dims = array<i64: 0, 1, 2, 3>, key_dims = array<i64: 0, 1, 1, 3>,
          value_dims = array<i64: 0, 1, 2, 3>, result_dims = array<i64: 0, 1, 2, 3>} -> tensor<1x2x5x3xf32>
  return %a : tensor<1x2x5x3xf32>
}

// -----

func.func @attention_mask_without_dims(%q: tensor<1x2x5x4xf32>, %k: tensor<1x2x7x4xf32>,
                                       %v: tensor<1x2x7x3xf32>, %m: tensor<1x1x1x7xf32>,
                                       %o: tensor<1x2x5x3xf32>) -> tensor<1x2x5x3xf32> {
  // expected-error @+1 {{has a mask but no mask_dims; give the mask's dimension for each of batch, head, row, column}}
  %a = tac.attention ins(%q, %k, %v : tensor<1x2x5x4xf32>, tensor<1x2x7x4xf32>, tensor<1x2x7x3xf32>)
         mask(%m : tensor<1x1x1x7xf32>) outs(%o : tensor<1x2x5x3xf32>)
         {scale = 1.0 : f32, query_dims = array<i64: 0, 1, 2, 3>, key_dims = array<i64: 0, 1, 2, 3>,
          value_dims = array<i64: 0, 1, 2, 3>, result_dims = array<i64: 0, 1, 2, 3>} -> tensor<1x2x5x3xf32>
  return %a : tensor<1x2x5x3xf32>
}

// -----

func.func @attention_mask_not_broadcast(%q: tensor<1x2x5x4xf32>, %k: tensor<1x2x7x4xf32>,
                                        %v: tensor<1x2x7x3xf32>, %m: tensor<1x1x1x6xf32>,
                                        %o: tensor<1x2x5x3xf32>) -> tensor<1x2x5x3xf32> {
  // expected-error @+1 {{mask's logical dimension 3 (batch, head, row, column) has size 6, expected 7}}
  %a = tac.attention ins(%q, %k, %v : tensor<1x2x5x4xf32>, tensor<1x2x7x4xf32>, tensor<1x2x7x3xf32>)
         mask(%m : tensor<1x1x1x6xf32>) outs(%o : tensor<1x2x5x3xf32>)
         {scale = 1.0 : f32, query_dims = array<i64: 0, 1, 2, 3>, key_dims = array<i64: 0, 1, 2, 3>,
          value_dims = array<i64: 0, 1, 2, 3>, mask_dims = array<i64: 0, 1, 2, 3>,
          result_dims = array<i64: 0, 1, 2, 3>} -> tensor<1x2x5x3xf32>
  return %a : tensor<1x2x5x3xf32>
}

// -----

func.func @attention_memref_result(%q: memref<1x2x5x4xf32>, %k: memref<1x2x7x4xf32>,
                                   %v: memref<1x2x7x3xf32>, %o: memref<1x2x5x3xf32>) {
  // expected-error @+1 {{returns init's type on tensors and nothing on memrefs}}
  %a = tac.attention ins(%q, %k, %v : memref<1x2x5x4xf32>, memref<1x2x7x4xf32>, memref<1x2x7x3xf32>)
         outs(%o : memref<1x2x5x3xf32>)
         {scale = 1.0 : f32, query_dims = array<i64: 0, 1, 2, 3>, key_dims = array<i64: 0, 1, 2, 3>,
          value_dims = array<i64: 0, 1, 2, 3>, result_dims = array<i64: 0, 1, 2, 3>} -> tensor<1x2x5x3xf32>
  return
}

// -----

func.func @attention_keep_without_fill(%q: tensor<1x2x5x4xf32>, %k: tensor<1x2x7x4xf32>,
                                       %v: tensor<1x2x7x3xf32>, %c: tensor<1x1x5x7xi1>,
                                       %o: tensor<1x2x5x3xf32>) -> tensor<1x2x5x3xf32> {
  // expected-error @+1 {{has a keep mask but no keep_dims or no fill; give the mask's dimension for each of batch, head, row, column and the value masked scores become}}
  %a = tac.attention ins(%q, %k, %v : tensor<1x2x5x4xf32>, tensor<1x2x7x4xf32>, tensor<1x2x7x3xf32>)
         keep(%c : tensor<1x1x5x7xi1>) outs(%o : tensor<1x2x5x3xf32>)
         {scale = 1.0 : f32, query_dims = array<i64: 0, 1, 2, 3>, key_dims = array<i64: 0, 1, 2, 3>,
          value_dims = array<i64: 0, 1, 2, 3>, keep_dims = array<i64: 0, 1, 2, 3>,
          result_dims = array<i64: 0, 1, 2, 3>} -> tensor<1x2x5x3xf32>
  return %a : tensor<1x2x5x3xf32>
}
