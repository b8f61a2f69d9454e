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
  let dependentDialects = ["::mlir::arith::ArithDialect",
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
    - controller markers → their operand.

    The pass fails, naming the op, if any tac op is left.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // TAC_PASSES_TD
