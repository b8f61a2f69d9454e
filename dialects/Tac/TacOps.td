//===- TacOps.td - tac operations --------------------------*- tablegen -*-===//

#ifndef TAC_OPS_TD
#define TAC_OPS_TD

include "dialects/Tac/TacBase.td"
include "dialects/Tac/TacAttrs.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/DestinationStyleOpInterface.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// tac.gate
//===----------------------------------------------------------------------===//

def Tac_GateOp : Tac_Op<"gate", [RecursiveMemoryEffects,
    DeclareOpInterfaceMethods<RegionBranchOpInterface,
        ["getEntrySuccessorOperands", "getEntrySuccessorRegions",
         "getRegionInvocationBounds"]>]> {
  let summary = "Runs a layer on its inputs when a condition holds.";
  let description = [{
    `tac.gate` runs its region on the inputs when the `i1` condition is true
    and yields the region's results; when it is false the inputs pass through
    unchanged. Input, region argument, yielded value and result types match
    position by position. The region may read values defined above it (the
    layer's weights), like the `then` branch of an ONNX `If`.

    A constant condition folds: `false` gives the inputs, `true` inlines the
    region.

    ```mlir
    func.func @layer(%cond: i1, %x: tensor<1x16x64xf32>,
                     %bias: tensor<1x16x64xf32>) -> tensor<1x16x64xf32> {
      %y = tac.gate %cond (%h = %x : tensor<1x16x64xf32>) {
        %r = arith.addf %h, %bias : tensor<1x16x64xf32>
        tac.yield %r : tensor<1x16x64xf32>
      }
      return %y : tensor<1x16x64xf32>
    }
    ```
  }];
  let arguments = (ins I1:$condition, Variadic<AnyType>:$inputs);
  let results = (outs Variadic<AnyType>:$results);
  let regions = (region SizedRegion<1>:$body);
  // `(%arg = %input : type, ...)` binds each input to a body argument: the
  // same directive as tac.layer_stack's state.
  let assemblyFormat = [{
    $condition custom<BoundRegion>($inputs, type($inputs), type($results),
                                   attr-dict, $body)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
  let hasCanonicalizer = 1;
  let builders = [
    // Builds a gate whose body has one argument per input; the caller fills
    // the body and its terminator.
    OpBuilder<(ins "::mlir::Value":$condition, "::mlir::ValueRange":$inputs)>
  ];
}

//===----------------------------------------------------------------------===//
// tac.adaptive_block
//===----------------------------------------------------------------------===//

def Tac_AdaptiveBlockOp : Tac_Op<"adaptive_block", [RecursiveMemoryEffects,
    DeclareOpInterfaceMethods<RegionBranchOpInterface,
        ["getEntrySuccessorOperands", "getEntrySuccessorRegions",
         "getRegionInvocationBounds"]>]> {
  let summary = "Layers with a finite set of paths, one chosen at run time.";
  let description = [{
    An adaptive block holds an ordered list of layers, one region each, and a
    path set (`#tac.paths`) whose paths list the layers to run, in order.
    The `selector` operand is the index of the path to run; a value outside
    `[0, number of paths)` selects the last path, which by convention is the
    deepest. Each layer takes and yields the block's state: the types of the
    inputs, of every layer's arguments and yields, and of the results match.

    A constant selector, or a set with a single path, folds the block into
    that path's layers, inlined in order.

    ```mlir
    func.func @block(%sel: index, %x: tensor<1x16x64xf32>,
                     %b0: tensor<1x16x64xf32>,
                     %b1: tensor<1x16x64xf32>) -> tensor<1x16x64xf32> {
      %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]>
             (%x : tensor<1x16x64xf32>)
      layer (%h) {
        %r = arith.addf %h, %b0 : tensor<1x16x64xf32>
        tac.yield %r : tensor<1x16x64xf32>
      }
      layer (%h) {
        %r = arith.addf %h, %b1 : tensor<1x16x64xf32>
        tac.yield %r : tensor<1x16x64xf32>
      }
      return %y : tensor<1x16x64xf32>
    }
    ```
  }];
  let arguments = (ins Tac_Selector:$selector, Variadic<AnyType>:$inputs,
                       Tac_PathSetAttr:$paths);
  let results = (outs Variadic<AnyType>:$results);
  let regions = (region VariadicRegion<SizedRegion<1>>:$layers);
  let assemblyFormat = [{
    $selector `:` type($selector) `paths` qualified($paths)
    custom<StateOperands>($inputs, type($inputs), type($results))
    attr-dict-with-keyword `` custom<Layers>($layers, ref(type($inputs)))
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let builders = [
    // Builds a block with `numLayers` layer regions, each with one argument
    // per input; the caller fills the bodies and terminators.
    OpBuilder<(ins "::mlir::Value":$selector, "::mlir::ValueRange":$inputs,
                   "::mlir::tac::PathSetAttr":$paths, "unsigned":$numLayers)>
  ];
  let extraClassDeclaration = [{
    /// Number of layers (regions) of the block.
    unsigned getNumLayers() { return getLayers().size(); }
  }];
}

//===----------------------------------------------------------------------===//
// tac.layer_stack
//===----------------------------------------------------------------------===//

def Tac_LayerStackOp : Tac_Op<"layer_stack",
    [RecursiveMemoryEffects, AttrSizedOperandSegments,
     DeclareOpInterfaceMethods<RegionBranchOpInterface,
        ["getEntrySuccessorOperands", "getEntrySuccessorRegions",
         "getRegionInvocationBounds"]>]> {
  let summary = "One layer body applied over a range of layers with stacked weights.";
  let description = [{
    A folded layer stack stands for the layers `[begin, end)` of a model whose
    bodies are identical up to their weights. Each stacked weight holds one
    slice per layer along its leading dimension, which must equal the layer
    count `end - begin`. The body's arguments are the state (typed as the
    inputs) followed by one slice of each stacked weight (its type without
    the leading dimension); it yields the next state.

    Without a selector, the body runs once per layer in `[begin, end)`, in
    order, layer `i` reading slice `i - begin` of every stacked weight. With
    `select %s : T paths #tac.paths<...>`, only the chosen path's layers run
    (indices are absolute layer numbers inside `[begin, end)`), with the same
    out-of-range rule as `tac.adaptive_block`.

    An empty range folds to the inputs. A constant selector (or a single
    path) whose path is a contiguous ascending run `[a, b)` folds to a stack
    over `[a, b)` reading `tensor.extract_slice`s of the stacked weights.

    ```mlir
    func.func @stack(%sel: index, %x: tensor<16x64xf32>,
                     %w: tensor<4x64x64xf32>,
                     %b: tensor<4x16x64xf32>) -> tensor<16x64xf32> {
      %y = tac.layer_stack layers [0, 4) (%h = %x : tensor<16x64xf32>)
             weights (%wi = %w : tensor<4x64x64xf32>,
                      %bi = %b : tensor<4x16x64xf32>)
             select %sel : index paths #tac.paths<[0, 1], [0, 1, 2, 3]> {
        %zero = tensor.empty() : tensor<16x64xf32>
        %mm = linalg.matmul ins(%h, %wi : tensor<16x64xf32>, tensor<64x64xf32>)
                            outs(%zero : tensor<16x64xf32>) -> tensor<16x64xf32>
        %r = arith.addf %mm, %bi : tensor<16x64xf32>
        tac.yield %r : tensor<16x64xf32>
      }
      return %y : tensor<16x64xf32>
    }
    ```
  }];
  let arguments = (ins Variadic<AnyType>:$inputs,
                       Variadic<AnyRankedTensor>:$weights,
                       Optional<Tac_Selector>:$selector,
                       I64Attr:$begin, I64Attr:$end,
                       OptionalAttr<Tac_PathSetAttr>:$paths);
  let results = (outs Variadic<AnyType>:$results);
  let regions = (region SizedRegion<1>:$body);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let hasFolder = 1;
  let hasCanonicalizer = 1;
  let builders = [
    // Builds a stack whose body has the state arguments followed by one
    // weight-slice argument per stacked weight; the caller fills the body.
    OpBuilder<(ins "int64_t":$begin, "int64_t":$end,
                   "::mlir::ValueRange":$inputs, "::mlir::ValueRange":$weights,
                   "::mlir::Value":$selector, "::mlir::tac::PathSetAttr":$paths)>
  ];
  let extraClassDeclaration = [{
    /// Number of layers the stack folds: end - begin.
    int64_t getNumLayers() { return getEnd() - getBegin(); }
    /// Type of one layer's slice of a stacked weight: its leading dimension
    /// dropped.
    static ::mlir::RankedTensorType getSliceType(::mlir::RankedTensorType stacked);
    /// Body arguments holding the per-layer weight slices.
    ::mlir::Block::BlockArgListType getWeightSliceArgs() {
      return getBody().front().getArguments().drop_front(getInputs().size());
    }
    /// A tensor.extract_slice of stacked weight `weight` over `count` layers
    /// from position `first` (relative to `begin`). With `count` 1 and
    /// `dropLayerDim`, the slice is rank-reducing: one layer's weight, typed
    /// as the body argument that receives it.
    ::mlir::Value sliceWeight(::mlir::OpBuilder &builder, ::mlir::Location loc,
                              ::mlir::Value weight, ::mlir::OpFoldResult first,
                              int64_t count, bool dropLayerDim);
  }];
}

//===----------------------------------------------------------------------===//
// tac.yield
//===----------------------------------------------------------------------===//

def Tac_YieldOp : Tac_Op<"yield", [Pure, Terminator, ReturnLike,
    HasParent<"GateOp, AdaptiveBlockOp, LayerStackOp">]> {
  let summary = "Ends a layer body and yields the next state.";
  let description = [{
    Terminates the region of `tac.gate`, every layer of `tac.adaptive_block`
    and the body of `tac.layer_stack`. The yielded values have the types of
    the parent's results.

    ```mlir
    func.func @identity_layer(%c: i1, %x: tensor<8xf32>) -> tensor<8xf32> {
      %y = tac.gate %c (%h = %x : tensor<8xf32>) {
        tac.yield %h : tensor<8xf32>
      }
      return %y : tensor<8xf32>
    }
    ```
  }];
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
  let hasVerifier = 1;
  let builders = [OpBuilder<(ins), [{ /* nothing to yield */ }]>];
}

//===----------------------------------------------------------------------===//
// Controller markers
//===----------------------------------------------------------------------===//

def Tac_PredictorOutputOp : Tac_Op<"predictor_output",
    [SameOperandsAndResultType]> {
  let summary = "Marks the complexity predictor's output.";
  let description = [{
    Returns its operand unchanged and marks it as the complexity predictor's
    output: a floating-point score of how hard the input is. The runtime
    reports this value with each run. The op has no folder and is not
    removed when unused, so the marker survives until lowering strips it.

    ```mlir
    func.func @predictor(%score: tensor<1x1xf32>) -> tensor<1x1xf32> {
      %s = tac.predictor_output %score : tensor<1x1xf32>
      return %s : tensor<1x1xf32>
    }
    ```
  }];
  let arguments = (ins AnyTypeOf<[AnyFloat, TensorOf<[AnyFloat]>],
                                 "floating-point scalar or tensor">:$score);
  let results = (outs AnyType:$result);
  let assemblyFormat = "$score attr-dict `:` type($score)";
}

def Tac_PolicyOutputOp : Tac_Op<"policy_output",
    [SameOperandsAndResultType]> {
  let summary = "Marks the policy's path choice.";
  let description = [{
    Returns its operand unchanged and marks it as the policy's choice: an
    integer (for example a depth, or a path index) from which the gate
    conditions or the adaptive block's selector derive. Like
    `tac.predictor_output`, the marker survives until lowering strips it.

    ```mlir
    func.func @policy(%depth: tensor<i64>) -> index {
      %d = tac.policy_output %depth : tensor<i64>
      %v = tensor.extract %d[] : tensor<i64>
      %sel = arith.index_cast %v : i64 to index
      return %sel : index
    }
    ```
  }];
  let arguments = (ins AnyTypeOf<[AnySignlessInteger, Index,
                                  TensorOf<[AnySignlessInteger, Index]>],
                                 "signless integer or index scalar or tensor">:$choice);
  let results = (outs AnyType:$result);
  let assemblyFormat = "$choice attr-dict `:` type($choice)";
}

//===----------------------------------------------------------------------===//
// tac.attention
//===----------------------------------------------------------------------===//

def Tac_F32TensorOrMemRef : AnyTypeOf<[RankedTensorOf<[F32]>, MemRefOf<[F32]>],
    "ranked f32 tensor or memref">;

def Tac_I1TensorOrMemRef : AnyTypeOf<[RankedTensorOf<[I1]>, MemRefOf<[I1]>],
    "ranked i1 tensor or memref">;

def Tac_AttentionOp : Tac_Op<"attention", [
    DestinationStyleOpInterface, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "Scaled dot-product attention: softmax(scale * Q Kᵀ + mask) V.";
  let description = [{
    Attention over batch x heads, the chain of a transformer layer from the
    projected queries, keys and values to the heads' outputs, as one op:

        out[b][h][i][e] = sum_j P[i][j] * value[b][h][j][e]
        P[i][:] = softmax_j(S[i][j] + mask[b][h][i][j])
        S[i][j] = keep[b][h][i][j] ? scale * sum_d query[b][h][i][d] * key[b][h][j][d]
                                   : fill

    `tac-form-attention` forms it on the CPU from the importer's
    matmul / softmax / matmul chain, so that the scores never go to memory
    (the CPU code calls tac's fused kernel, docs/backend.md).

    Every operand is rank 4. Its `*_dims` attribute says which of the
    operand's dimensions holds each logical dimension (batch, head, row,
    column), so a head-interleaved or transposed layout needs no copy:
    `key_dims = [0, 2, 1, 3]` reads keys stored [batch][key][head][feature].
    The optional additive `mask` and the optional boolean `keep` (a mask
    applied by a select, such as GPT-2's causal mask; masked scores become
    the `fill` attribute, which comes with it) broadcast along any logical
    dimension where their size is 1. `init` is the destination: on tensors the op
    returns the result, on buffers it writes `init`.

    ```mlir
    func.func @heads(%q: tensor<1x6x197x64xf32>, %k: tensor<1x197x6x64xf32>,
                     %v: tensor<1x6x197x64xf32>,
                     %init: tensor<1x6x197x64xf32>) -> tensor<1x6x197x64xf32> {
      %o = tac.attention ins(%q, %k, %v : tensor<1x6x197x64xf32>,
                             tensor<1x197x6x64xf32>, tensor<1x6x197x64xf32>)
             outs(%init : tensor<1x6x197x64xf32>)
             {scale = 1.250000e-01 : f32, query_dims = array<i64: 0, 1, 2, 3>,
              key_dims = array<i64: 0, 2, 1, 3>,
              value_dims = array<i64: 0, 1, 2, 3>,
              result_dims = array<i64: 0, 1, 2, 3>} -> tensor<1x6x197x64xf32>
      return %o : tensor<1x6x197x64xf32>
    }
    ```
  }];
  let arguments = (ins Tac_F32TensorOrMemRef:$query,
                   Tac_F32TensorOrMemRef:$key,
                   Tac_F32TensorOrMemRef:$value,
                   Optional<Tac_F32TensorOrMemRef>:$mask,
                   Optional<Tac_I1TensorOrMemRef>:$keep,
                   Tac_F32TensorOrMemRef:$init,
                   F32Attr:$scale,
                   DenseI64ArrayAttr:$query_dims,
                   DenseI64ArrayAttr:$key_dims,
                   DenseI64ArrayAttr:$value_dims,
                   OptionalAttr<DenseI64ArrayAttr>:$mask_dims,
                   OptionalAttr<DenseI64ArrayAttr>:$keep_dims,
                   OptionalAttr<F32Attr>:$fill,
                   DenseI64ArrayAttr:$result_dims);
  let results = (outs Variadic<AnyRankedTensor>:$result);
  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,`
      type($value) `)` (`mask` `(` $mask^ `:` type($mask) `)`)?
    (`keep` `(` $keep^ `:` type($keep) `)`)?
    `outs` `(` $init `:` type($init) `)` attr-dict (`->` type($result)^)?
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      return getInitMutable();
    }
    /// Sizes of the logical dimensions (batch, head, query rows, keys,
    /// features, value features).
    struct Sizes { int64_t batch, heads, rows, keys, features, valueFeatures; };
    Sizes getSizes();
  }];
}

#endif // TAC_OPS_TD
