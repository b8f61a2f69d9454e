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
    `scf` terms.
  }];
  let useDefaultAttributePrinterParser = 1;
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
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
