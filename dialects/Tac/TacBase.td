//===- TacBase.td - tac dialect definition -----------------*- tablegen -*-===//
//
// The tac dialect: adaptive-depth structure (gates, adaptive blocks, folded
// layer stacks) and controller markers. Everything else a model computes is
// expressed in upstream dialects (tosa, linalg, tensor, arith, math).
//
//===----------------------------------------------------------------------===//

#ifndef TAC_BASE_TD
#define TAC_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Tac_Dialect : Dialect {
  let name = "tac";
  let cppNamespace = "::mlir::tac";
  let summary = "Input-adaptive depth for transformer inference.";
  let description = [{
    The tac dialect carries what upstream MLIR has no words for: layers that
    an input may skip (`tac.gate`), a group of layers with a finite set of
    computation paths chosen at run time (`tac.adaptive_block`), identical
    layers folded into one body over stacked weights (`tac.layer_stack`), and
    markers for the controller's outputs (`tac.predictor_output`,
    `tac.policy_output`). Tensor computation inside layers uses upstream
    dialects.

    Gates and blocks are not isolated from above: a layer body reads its
    weights from the enclosing scope, as an ONNX `If` branch does. The
    `tac-lower-to-scf` pass gives every op a reference meaning in upstream
    `scf` terms. The three region ops implement `RegionBranchOpInterface`,
    so upstream dataflow analyses (SCCP, liveness, dead-value removal)
    follow the state through the layers a path may run.

    Passes annotate functions and the module with the discardable attributes
    below; the dialect verifies each one's holder and type, and rejects any
    other `tac.*` name.

    | attribute | on | value | written by |
    |---|---|---|---|
    | `tac.input_names`, `tac.output_names` | function | array of strings | importer |
    | `tac.unsigned_inputs`, `tac.unsigned_outputs` | function | `array<i64>` | importer |
    | `tac.paths` | function | `#tac.paths` | importer (adaptive metadata) |
    | `tac.path` | function | integer | `tac-specialize-paths` (variant) |
    | `tac.layers` | function | `array<i64>` | `tac-specialize-paths` (variant) |
    | `tac.variants` | function | array of symbols | `tac-specialize-paths` (dispatcher) |
    | `tac.controller` | function | symbol | `tac-specialize-paths` (dispatcher) |
    | `tac.role` | function | string | `tac-prepare-plan-functions` |
    | `tac.carried_results` | function | integer | `tac-prepare-plan-functions` |
    | `tac.num_paths` | function | integer | `tac-prepare-plan-functions` |
    | `tac.batch` | function | integer | `tac-batch-rows` |
    | `tac.shared_carried` | function | `array<i64>` | `tac-batch-rows` |
    | `tac.cost` | function | `#tac.cost` | `tac-estimate-cost` |
    | `tac.cost_note` | function | string | `tac-estimate-cost` |
    | `tac.arena_bytes` | module | integer | `tac-estimate-cost` |
  }];
  let useDefaultAttributePrinterParser = 1;
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
  // Every `tac.*` discardable attribute is declared below and checked by
  // verifyOperationAttribute: a misspelt or mistyped name fails verification
  // where it is written instead of being ignored where it is read.
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
    // Function attributes written by the importer.
    /// ONNX input / output names, one string per argument / result.
    static constexpr ::llvm::StringLiteral kInputNamesAttrName = "tac.input_names";
    static constexpr ::llvm::StringLiteral kOutputNamesAttrName = "tac.output_names";
    /// Indices of arguments / results whose ONNX type is unsigned.
    static constexpr ::llvm::StringLiteral kUnsignedInputsAttrName = "tac.unsigned_inputs";
    static constexpr ::llvm::StringLiteral kUnsignedOutputsAttrName = "tac.unsigned_outputs";
    /// The paths an adaptive model allows (#tac.paths), from its metadata.
    static constexpr ::llvm::StringLiteral kPathsAttrName = "tac.paths";

    // Function attributes written by tac-specialize-paths.
    /// On a variant: the path index it runs, and that path's layers.
    static constexpr ::llvm::StringLiteral kPathAttrName = "tac.path";
    static constexpr ::llvm::StringLiteral kLayersAttrName = "tac.layers";
    /// On the dispatcher: one variant symbol per path, and the controller.
    static constexpr ::llvm::StringLiteral kVariantsAttrName = "tac.variants";
    static constexpr ::llvm::StringLiteral kControllerAttrName = "tac.controller";

    // Function attributes written by tac-prepare-plan-functions and
    // tac-batch-rows.
    /// "controller" on the controller function.
    static constexpr ::llvm::StringLiteral kRoleAttrName = "tac.role";
    /// On the controller: how many trailing results the variants reuse.
    static constexpr ::llvm::StringLiteral kCarriedResultsAttrName = "tac.carried_results";
    /// On a variant: the number of paths of its dispatch table.
    static constexpr ::llvm::StringLiteral kNumPathsAttrName = "tac.num_paths";
    /// On a batched copy: its row count.
    static constexpr ::llvm::StringLiteral kBatchAttrName = "tac.batch";
    /// On a batched controller: carried results shared by every row.
    static constexpr ::llvm::StringLiteral kSharedCarriedAttrName = "tac.shared_carried";

    // Written by tac-estimate-cost.
    /// On a function: its #tac.cost.
    static constexpr ::llvm::StringLiteral kCostAttrName = "tac.cost";
    /// On a function whose cost is the full path's: why.
    static constexpr ::llvm::StringLiteral kCostNoteAttrName = "tac.cost_note";
    /// On the module: the activation arena the variants need, in bytes.
    static constexpr ::llvm::StringLiteral kArenaBytesAttrName = "tac.arena_bytes";
  }];
}

class Tac_Op<string mnemonic, list<Trait> traits = []>
    : Op<Tac_Dialect, mnemonic, traits>;

class Tac_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Tac_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

// A selector chooses a path: a signless integer or an index scalar.
def Tac_Selector : AnyTypeOf<[AnySignlessInteger, Index],
                             "signless integer or index">;

#endif // TAC_BASE_TD
