//===- Passes.td - tac transformations ---------------------*- tablegen -*-===//
//
// Every tac pass is declared here; flags carry the `tac-` prefix.
//
//===----------------------------------------------------------------------===//

#ifndef TAC_PASSES_TD
#define TAC_PASSES_TD

include "mlir/Pass/PassBase.td"

def TacSelectPath : Pass<"tac-select-path"> {
  let summary = "Fix every adaptive block and selectable layer stack to one path";
  let description = [{
    Replaces the selector of every `tac.adaptive_block` and of every
    `tac.layer_stack` that has a path set with the constant `path`, then
    applies their folds: a block becomes the chosen path's layers inlined in
    order; a stack whose chosen path is a contiguous run becomes a stack over
    that run reading slices of the stacked weights (other stacks keep the
    constant selector for path specialisation). `path=-1` (the default)
    chooses each set's last path, the full-depth one by convention. A `path`
    beyond an op's path set is an error that names the op and its set size.

    This is the single-path core of path specialisation: run it once per
    path on a copy of a function to obtain that path's static variant.

    ```
    // tac-opt --tac-select-path=path=0
    %y = tac.adaptive_block %sel : index paths #tac.paths<[0], [0, 1]> (%x : T)
    layer (%h) { ... }
    layer (%h) { ... }
    // becomes layer 0's body, inlined.
    ```
  }];
  let options = [
    Option<"path", "path", "int64_t", /*default=*/"-1",
           "Index of the path to keep in every path set; -1 keeps the last">
  ];
  let dependentDialects = ["::mlir::tac::TacDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def TacLowerToSCF : Pass<"tac-lower-to-scf"> {
  let summary = "Lower the tac dialect to scf, tensor and arith (reference semantics)";
  let description = [{
    Gives every tac op its meaning in upstream terms, so that adaptive IR can
    run through any upstream pipeline and serve as the oracle for the
    specialised variants:

    - `tac.gate` → `scf.if` whose `else` yields the inputs;
    - `tac.adaptive_block` → `scf.index_switch` on the selector with one
      case per path (the last path is the default region, matching the
      out-of-range rule), each case running its layers in order;
    - `tac.layer_stack` → `scf.for` over the layers with rank-reducing
      `tensor.extract_slice`s of the stacked weights; with a selector, an
      `scf.index_switch` whose cases loop over contiguous paths and unroll
      the others;
    - controller markers → their operand;
    - attributes whose value belongs to the tac dialect (a function's
      `tac.paths`) are dropped, so the result needs no tac dialect to parse.

    The pass fails, naming the op, if any tac op is left.
  }];
  let dependentDialects = ["::mlir::tac::TacDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

def TacFormAdaptiveBlocks : Pass<"tac-form-adaptive-blocks", "::mlir::ModuleOp"> {
  let summary = "Turn chains of gates driven by one controller into adaptive blocks";
  let description = [{
    Finds, in each function, a chain of `tac.gate`s where each gate's state
    input is the previous gate's result, and replaces it with one
    `tac.adaptive_block` whose layers are the gates' regions, in order.

    The path set comes from the function's `tac.paths` attribute (the ONNX
    metadata key of the same name) when present; otherwise it is derived
    from the gate conditions: each must compare one integer scalar (the
    policy's choice, typically marked by `tac.policy_output`) with a
    constant (`depth > i` style). The thresholds split the choice's range
    into intervals, each giving one path (the layers whose condition holds
    there); a policy that is an argmax over K options, or a lookup in a
    constant table, narrows the range to the values it can produce. A
    condition that is not of that form is an error naming the gate and
    saying to supply `tac.paths`.

    The block's selector is computed from the gate conditions at run time:
    the index of the path whose membership pattern matches them (a pattern
    matching no path selects the last, deepest path, the block's documented
    out-of-range rule), so the block computes exactly what the gates did.

    With `depths=4,8,12` on a function without gates, the pass detects the
    longest run of structurally identical consecutive layers (same ops,
    same shapes, residual form; names are ignored) and builds a block whose
    paths are the given prefixes of that run, with a new `index` argument
    selecting the path; the full depth stays the last path.
  }];
  let options = [
    ListOption<"depths", "depths", "int64_t",
               "For functions without gates: truncated depths to offer, "
               "over the detected repeated layers">,
  ];
  let dependentDialects = ["::mlir::tac::TacDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
  let statistics = [
    Statistic<"numBlocks", "blocks", "Adaptive blocks formed">,
    Statistic<"numBlockLayers", "layers", "Layers placed in adaptive blocks">,
  ];
}

def TacFoldLayers : Pass<"tac-fold-layers", "::mlir::ModuleOp"> {
  let summary = "Fold structurally identical layers into one body over stacked weights";
  let description = [{
    Replaces a `tac.adaptive_block` whose layers are structurally identical
    up to their weights (same ops, attributes, types and internal dataflow;
    the layers may read different constants of the same type from outside)
    by a `tac.layer_stack` with the same selector and path set: one body
    whose weights are stacked constants with the layer count as leading
    dimension. Values that all layers read in common stay captured.
    Layers that differ in any other way (shapes, an extra op, an attribute)
    are left apart. Folding keeps numerics bit-identical: the stacked
    weights hold the layers' bytes unchanged.
  }];
  let options = [
    Option<"minLayers", "min-layers", "int64_t", /*default=*/"2",
           "Fold only blocks with at least this many identical layers">,
  ];
  let dependentDialects = ["::mlir::tac::TacDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
  let statistics = [
    Statistic<"numStacks", "stacks", "Blocks folded into layer stacks">,
    Statistic<"numFoldedLayers", "folded-layers", "Layers folded into stacks">,
    Statistic<"numNotFolded", "not-folded", "Blocks left unfolded (each with a remark saying why)">,
  ];
}

def TacSpecializePaths : Pass<"tac-specialize-paths", "::mlir::ModuleOp"> {
  let summary = "One static function per path, plus the controller and a dispatch table";
  let description = [{
    For each function holding adaptive structure (`tac.adaptive_block`, a
    selectable `tac.layer_stack`), emits:

    - `@<f>_path<k>` for each path k: the function with every selector fixed
      to k, blocks inlined, unreachable layers removed, folded stacks turned
      into a loop over a contiguous path or unrolled over the path's layer
      indices; no tac ops remain (`tac.path = k`, `tac.layers = [...]`);
    - `@<f>_controller`: the slice of the function that computes the
      selector, returning it as `index` (then the complexity predictor's
      output when the function marks one);
    - on `@<f>`, the dispatch table: `tac.controller = @<f>_controller` and
      `tac.variants = [@<f>_path0, ...]` in path order.

    The original function is kept as the reference semantics of the set.
  }];
  let dependentDialects = ["::mlir::tac::TacDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
  let statistics = [
    Statistic<"numVariants", "variants", "Static variants created, one per path">,
  ];
}

def TacEstimateCost : Pass<"tac-estimate-cost", "::mlir::ModuleOp"> {
  let summary = "FLOPs, bytes and peak activation memory per function (variant)";
  let description = [{
    Attaches `tac.cost = {flops, bytes_moved, param_bytes,
    peak_activation_bytes, naive_activation_bytes}` (i64) to every function
    with a body, `tac.cost_note` to functions that still hold gates,
    adaptive blocks or selectable stacks (costed on their full path), and
    `tac.arena_bytes` to the module: the largest peak over the variants
    (functions with `tac.path`), or over all functions if there are none.
    With `report`, prints a table (one row per function; variants with
    their path and FLOPs as a share of the full path's).

    Conventions (docs/passes.md): a multiply-add is 2 FLOPs; a linalg op
    costs its iteration-space size times the arith/math ops of its payload
    (constants and casts free), so a matmul M×K×N is 2·M·K·N and an
    elementwise op one FLOP per such op per element; loops with static trip
    counts multiply their bodies. `bytes_moved` counts the tensors each op
    reads and writes (views move nothing; an `outs` operand is read only
    when the payload uses it); `param_bytes` the distinct constants a
    function reads. Peak activation memory comes from a liveness-based plan
    of the intermediate tensors in one arena (inputs and constants outside,
    outputs inside, in-place reuse where a value dies), against the naive
    plan of one buffer per written value. Unknown ops count 0 FLOPs and are
    listed in the report.
  }];
  let options = [
    Option<"report", "report", "bool", /*default=*/"false",
           "Print the per-function cost table to stdout">,
  ];
  // Writes #tac.cost, which needs the dialect loaded.
  let dependentDialects = ["::mlir::tac::TacDialect"];
}

def TacConvToGemm : Pass<"tac-conv-to-gemm"> {
  let summary = "Rewrite 2-D convolutions as an im2col copy and a contraction";
  let description = [{
    Applies upstream's im2col rewrite to tensor-level `linalg.conv_2d_*`
    ops (NCHW/FCHW and NHWC layouts): the input patches are copied into a
    matrix and the convolution becomes one contraction, which the backends
    recognise as a GEMM (BLAS on the CPU, cuBLASLt on CUDA). A ViT's patch
    embedding, a stride-16 16x16 convolution, ran as a seven-deep loop nest
    before.

    ```
    %y = linalg.conv_2d_nchw_fchw ins(%x, %w : ...) outs(%init : ...)
    // becomes an im2col linalg.generic and a contraction linalg.generic
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
  let statistics = [
    Statistic<"numConvs", "convolutions", "Convolutions rewritten as im2col + contraction">,
  ];
}

def TacBatchRows : Pass<"tac-batch-rows", "::mlir::ModuleOp"> {
  let summary = "Add batch-size variants of every plan function (rows along a new leading dimension)";
  let description = [{
    For each size B in `sizes` (B > 1), adds a copy `@<f>_b<B>` of every
    public plan function (the controller, each path variant, or a static
    model's function) that computes B independent rows at once: every value
    that depends on a model input gains a leading dimension of size B, so
    B rows share each kernel (one GEMM of B times the rows instead of B
    GEMMs). Values that depend only on weights (transposed weights, tables)
    stay unbatched and are computed once. Scalars that depend on the input
    (the controller's gate conditions and path) become rank-1 tensors of B
    elements, one per row.

    Runs at tensor level after `tac-prepare-plan-functions` (on elementwise
    ops already in linalg form). The controller's own results and every
    variant result are batched; a carried controller result stays
    unbatched when it depends on weights only, and the variants then take
    it unbatched. Each copy carries `tac.batch = B` and, for the
    controller, `tac.shared_carried` (the carried results that are not per
    row). The cost attribute is scaled by B (parameters are not).

    An op this pass cannot batch is an error naming it.

    ```
    // tac-opt --tac-batch-rows=sizes=4
    func.func @main(%x: tensor<1x8xf32>) -> tensor<1x8xf32>
    // gains
    func.func @main_b4(%x: tensor<4x1x8xf32>) -> tensor<4x1x8xf32>
        attributes {tac.batch = 4 : i64}
    ```
  }];
  let options = [
    ListOption<"sizes", "sizes", "int64_t",
               "Batch sizes to add (each > 1; 1 is the function itself)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
  let statistics = [
    Statistic<"numBatched", "batched-functions", "Functions given a batched copy">,
  ];
}

def TacFuseElementwise : Pass<"tac-fuse-elementwise"> {
  let summary = "Fuse elementwise linalg producers into all-parallel consumers";
  let description = [{
    Like upstream `linalg-fuse-elementwise-ops`, but a producer is fused only
    into a consumer whose loops are all parallel and only when nothing else
    reads it. Fusing an elementwise producer into a contraction (a GELU into
    the next matmul) would recompute it once per output column; fusing a
    shared producer would recompute it per consumer. Reshapes are folded
    into the fused ops by expansion under the same rule; a reshape moves
    across an elementwise producer only when that fuses the producer with
    the reshape's one all-parallel consumer (a GEMM's 2-D bias add and the
    3-D GELU after it).

    A transpose that is a contraction's only reader is folded into the
    contraction: its output map takes the permutation and its accumulator
    is transposed instead (a fill is redone on the new shape, a constant,
    through reshapes, is transposed at compile time; any other accumulator
    leaves the two alone). The GEMM recogniser reads the result as the GEMM
    with A and B swapped, so a ViT's patch embedding multiplies by its
    packed weight.

    ```
    // bias + GELU (elementwise) then a matmul: the first two fuse into one
    // generic, the matmul stays a separate op reading its result.
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::affine::AffineDialect"];
  let statistics = [
    Statistic<"numFused", "fused-ops", "Linalg ops fused into their consumers">,
  ];
}

def TacFormSoftmax : Pass<"tac-form-softmax"> {
  let summary = "Turn the importer's four-op softmax into one linalg.softmax";
  let description = [{
    The importer writes Softmax as a max reduction, `exp(x - max)`, a sum
    reduction and a division, each over the whole tensor. This pass finds
    that chain (f32, rank <= 5, static shapes, every reduction over the same
    dimension, as a `linalg.reduce` or the generic `tac-batch-rows` makes
    of one, no intermediate read elsewhere) and replaces it with one
    `linalg.softmax` of the same input, which the CPU code generator lowers
    to one pass per row (`tac_softmax_rows`). Chains that differ (another
    combiner, a masked-row select, an intermediate used twice) are left as
    they are. The CPU pipeline runs it; the CUDA backend does not take
    `linalg.softmax`.

    ```
    %m = linalg.reduce ins(%x) outs(%fill_minus_inf) dimensions = [1] (maximumf)
    %e = linalg.generic ins(%x, %m) ... { exp(%x - %m) }
    %s = linalg.reduce ins(%e) outs(%fill_zero) dimensions = [1] (addf)
    %y = linalg.generic ins(%e, %s) ... { %e / %s }
    // becomes
    %y = linalg.softmax dimension(1) ins(%x) outs(%empty)
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def TacFormAttention : Pass<"tac-form-attention"> {
  let summary = "Replace the importer's attention chain with one tac.attention";
  let description = [{
    Finds attention as the importer writes it, on static f32 tensors: a
    `linalg.batch_matmul` of queries by transposed keys on a zero fill (or
    the generic `tac-batch-rows` makes of one, the rows a second batch
    dim), its last batch dim optionally split in two by an `expand_shape`,
    optionally scaled by a scalar known at compile time, optionally masked
    by a select of a broadcast i1 tensor (GPT-2's causal mask), optionally
    plus an additive mask that broadcasts, a `linalg.softmax` along the keys (from `tac-form-softmax`)
    and a `linalg.batch_matmul` of the probabilities by the values. It
    replaces the chain with one `tac.attention`, following each of Q, K and
    V back through `collapse_shape` and `linalg.transpose` (absorbed into
    the operand's `*_dims`, so the copies that split the heads go away),
    the queries also through a scaling by a scalar constant (absorbed into
    `scale`), and absorbing a transpose that joins the heads after `P V`.
    Chains that differ (a scale after the mask, an intermediate read
    elsewhere) are left as they are. The CPU pipeline runs
    it after `tac-form-softmax`; the CPU code generator lowers the op to
    tac's fused kernel (`tac_attention`), whose scores never leave cache.

    ```
    %s = linalg.batch_matmul ins(%q, %kt) outs(%zero)
    %x = tensor.expand_shape %s [[0, 1], [2], [3]]
    %m = linalg.generic ins(%x, %mask) ... { %x + %mask }
    %p = linalg.softmax dimension(3) ins(%m) outs(%empty)
    %pc = tensor.collapse_shape %p [[0, 1], [2], [3]]
    %o = linalg.batch_matmul ins(%pc, %v) outs(%zero2)
    // becomes
    %a = tac.attention ins(%q4, %k4, %v4 : ...) mask(%mask : ...) outs(%init : ...)
           {scale = ..., key_dims = array<i64: 0, 1, 3, 2>, ...}
    %o = tensor.collapse_shape %a [[0, 1], [2], [3]]
    ```
  }];
  let dependentDialects = ["::mlir::tac::TacDialect",
                           "::mlir::tensor::TensorDialect"];
}

def TacPreparePlanFunctions : Pass<"tac-prepare-plan-functions", "::mlir::ModuleOp"> {
  let summary = "Shape the functions tac compiles into plans for bufferization";
  let description = [{
    Prepares every public function for the kernels + plan backend, at tensor
    level:

    - a function that dispatches between specialised variants (it carries
      `tac.variants`) is erased: the runtime dispatches, from the
      controller's result, to the variants' own plans;
    - scalar results become rank-0 tensors (`index` becomes `i64`), so every
      result is a buffer the plan can point at;
    - a result that no destination-style op writes (a slice, a constant, an
      argument, or a reshape of one) is copied into a fresh tensor, so
      every result lies contiguously in the arena.

    - with `share-controller` (the default), every value a variant computes
      exactly as the controller does (the layers before the first gate, the
      predictor, the policy) is returned by the controller after its own
      results and taken by every variant as an extra argument after the
      model's inputs, so the runtime runs that work once per input; the
      controller records the count in `tac.carried_results`. Constants
      and empty tensors are recomputed, not carried.

    ```
    func.func @main_controller(%x: tensor<4xf32>) -> (index, tensor<4xf32>)
    // becomes
    func.func @main_controller(%x: tensor<4xf32>) -> (tensor<i64>, tensor<4xf32>)
    ```
  }];
  let options = [
    Option<"shareController", "share-controller", "bool", /*default=*/"true",
           "Variants take what the controller already computed as arguments">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def TacOutlineKernels : Pass<"tac-outline-kernels", "::mlir::ModuleOp"> {
  let summary = "Outline the compute of bufferized functions into kernel functions";
  let description = [{
    Splits every bufferized public function into host code and kernels. Host
    code is what a plan can replay without computing: allocations, views
    (`memref.subview`, `expand_shape`, `collapse_shape`, `cast`,
    `reinterpret_cast`), `memref.get_global`, index arithmetic, constant-trip
    `scf.for` loops and the return. Every other op is compute: each linalg
    op becomes its own kernel, and scalar compute (loads, arithmetic on
    loaded values, stores) joins the kernel of the ops it feeds, grown to a
    contiguous run so no kernel moves past another one's writes.

    A kernel is a private `func.func @tac_kernel_<n>` whose arguments are
    the memrefs the outlined ops touch (constants are cloned in); the host
    calls it with `func.call`. Identical kernels, for example the same layer
    in several depth variants, are outlined once and shared.

    A scalar computed from memory that steers host code (a loop bound or a
    view offset read from a tensor) cannot be replayed by a static plan and
    is reported as an error naming the op.

    ```
    linalg.fill ins(%c0 : f32) outs(%a : memref<4xf32>)
    // becomes
    func.call @tac_kernel_0(%a) : (memref<4xf32>) -> ()
    ```
  }];
  let options = [
    Option<"mergeFills", "merge-fills", "bool", /*default=*/"true",
           "A fill initialising an op's output joins its kernel (a GEMM "
           "then starts from beta = 0); fills move down to that op past ops "
           "that provably touch other storage">
  ];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::memref::MemRefDialect"];
  let statistics = [
    Statistic<"numLaunches", "launches", "Kernel calls created (one per op group)">,
    Statistic<"numKernels", "kernels", "Distinct kernel functions (identical groups share one)">,
  ];
}

def TacFoldConstants : Pass<"tac-fold-constants"> {
  let summary = "Evaluate what depends only on weights once, at compile time";
  let description = [{
    Replaces every op whose inputs are all constants by the constant it
    computes, so no plan recomputes it on each call:

    - a `tensor.expand_shape` / `tensor.collapse_shape` of a constant becomes
      the same bytes under the new type (a `dense_resource` keeps its blob);
    - a linalg op with only parallel loops (`linalg.transpose`,
      `linalg.broadcast`, `linalg.copy`, an elementwise `linalg.generic`)
      whose tensor inputs are all constants is evaluated point by point:
      data movement for any element type, arithmetic for f32 (`arith`
      add/sub/mul/div/max/min/neg, `math` sqrt/rsqrt/exp/tanh/erf). Its
      indexing maps may use loop dimensions and constant indices; the output
      map must be a permutation. `linalg.fill` is left alone (a fill before
      a GEMM becomes beta = 0 later).

    The result is a new `dense_resource` blob (named after the input's with
    `_folded`) when an input was one, an inline constant otherwise. The
    constants the op read are erased when nothing else reads them, so a
    folded weight transpose replaces the weight instead of adding a copy.
    An op whose result would add more than `max-growth` bytes beyond the
    constants it frees is not folded (a broadcast of a small bias to a large
    shape, a transpose of a weight other ops also read).

    With `concatenate` (the default), GEMMs in one block that multiply the
    same input (the same value, or equivalent reshapes of it) by different
    constant weights with the same K and a zero-filled output (a
    transformer's Q, K and V projections exported as three MatMuls) first
    become one GEMM against the weights concatenated along N, and each
    result a slice of its output: the input is read once, by one larger
    GEMM. The weights are moved into the new blob, not copied, when only
    those GEMMs read them (else the group is left alone, under the same
    `max-growth` rule).

    With `move-scales` (the default), a GEMM result multiplied or divided by
    a scalar constant (`(A · B) * s`, the attention scale on `Q · Kᵀ`), on
    its own or through reshapes each read only by the next, becomes
    `A · (B * s)` with the scale on the smaller operand: fewer multiplies,
    and where that operand is a weight, the folding computes `B * s` once
    (the scale is folded into the weight).

    Run before `tac-form-adaptive-blocks`: each layer's weights are folded
    before layers are compared and stacked, so identical layers stay
    identical and `tac.layer_stack` stacks the folded weights.

    ```
    %w = arith.constant dense_resource<head.weight> : tensor<10x64xf32>
    %t = linalg.transpose ins(%w : tensor<10x64xf32>)
           outs(%e : tensor<64x10xf32>) permutation = [1, 0]
    // becomes
    %t = arith.constant dense_resource<head.weight_folded> : tensor<64x10xf32>
    ```
  }];
  let options = [
    Option<"maxGrowth", "max-growth", "int64_t", /*default=*/"65536",
           "Most bytes a fold may add to the constants (its result minus "
           "the constants only it read)">,
    Option<"concatenate", "concatenate", "bool", /*default=*/"true",
           "Merge GEMMs of one input by constant weights into one GEMM">,
    Option<"moveScales", "move-scales", "bool", /*default=*/"true",
           "Move a constant scale of a GEMM's result onto its smaller operand">
  ];
  let statistics = [
    Statistic<"numFolded", "folded-ops", "Ops replaced by constants">,
    Statistic<"numConcatenated", "concatenated-gemms",
              "Groups of GEMMs merged into one">,
    Statistic<"numScalesMoved", "moved-scales",
              "Constant scales moved from a GEMM's result to an operand">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def TacReassociateReductions : Pass<"tac-reassociate-reductions"> {
  let summary = "Let float reductions vectorise: reassociation on their combiners only";
  let description = [{
    Adds `fastmath<reassoc,contract>` to the combiner of every linalg op with
    a reduction loop that is not a contraction: the float op in the payload
    that reads the accumulator (the output's block argument), such as the
    `arith.addf` of a sum or the `arith.maximumf` of a max. Nothing else in
    the payload changes. Without it LLVM keeps the sequential float order of
    a row reduction (softmax, layernorm, mean) and leaves its loop scalar;
    with it the loop vectoriser keeps a partial result per lane and combines
    them at the end. Results may change in the last bits (the summation
    order). Contractions are left alone: GEMMs go to BLAS or are ordered to
    vectorise along the output row without reassociating.

    ```
    linalg.reduce ins(%x : tensor<4x64xf32>) outs(%acc : tensor<4xf32>) dimensions = [1]
      (%in: f32, %init: f32) {
        %s = arith.addf %in, %init : f32
        linalg.yield %s : f32
      }
    // becomes
        %s = arith.addf %in, %init fastmath<reassoc,contract> : f32
    ```

    With `minmax-to-llvm`, the pass instead rewrites every marked
    `arith.maximumf` / `arith.minimumf` to LLVM's `llvm.intr.maximum` /
    `llvm.intr.minimum` (the same NaN-propagating semantics). The CPU
    lowering runs it on the kernels' loops before `arith-expand`, which would
    otherwise turn them into compare-and-select chains that LLVM does not
    vectorise as reductions.
  }];
  let options = [
    Option<"minMaxToLLVM", "minmax-to-llvm", "bool", /*default=*/"false",
           "Rewrite marked maximumf/minimumf to LLVM intrinsics instead of marking">
  ];
  let statistics = [
    Statistic<"numMarked", "marked-combiners", "Reduction combiners marked (or min/max rewritten)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::LLVM::LLVMDialect"];
}

#endif // TAC_PASSES_TD
