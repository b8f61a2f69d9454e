//===- TacAttrs.td - tac attributes ------------------------*- tablegen -*-===//

#ifndef TAC_ATTRS_TD
#define TAC_ATTRS_TD

include "dialects/Tac/TacBase.td"

def Tac_PathSetAttr : Tac_Attr<"PathSet", "paths"> {
  let summary = "A finite set of computation paths, each an ordered list of layer indices.";
  let description = [{
    Each path lists the layers it runs, in order. A path visits a layer at
    most once, indices are non-negative, paths are distinct, and a set holds
    at least one path; the empty path `[]` (skip every layer) is allowed.
    Whether an index is in range is checked by the op that holds the set.
    By convention paths are listed from cheapest to most expensive, so the
    last path is the full-depth one.

    ```mlir
    #tac.paths<[], [0, 1], [0, 1, 2, 3]>
    ```
  }];
  let parameters = (ins
    ArrayRefParameter<"::mlir::DenseI64ArrayAttr", "layer index lists">:$paths);
  let builders = [
    AttrBuilder<(ins "::llvm::ArrayRef<::llvm::SmallVector<int64_t>>":$paths)>
  ];
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Number of paths in the set.
    size_t getNumPaths() const { return getPaths().size(); }
    /// Layer indices of path `i`, in execution order.
    ::llvm::ArrayRef<int64_t> getPath(size_t i) const {
      return getPaths()[i].asArrayRef();
    }
    /// Path chosen by a selector value, read as unsigned: values outside
    /// [0, getNumPaths()) select the last (by convention deepest) path.
    size_t resolveSelector(const ::llvm::APInt &selector) const;
    /// The path a selector statically chooses: the only path of a one-path
    /// set, or the path a constant selector names; nullopt otherwise.
    std::optional<size_t> getStaticPath(::mlir::Value selector) const;
    /// Largest layer index any path uses, or -1 if every path is empty.
    int64_t getMaxLayerIndex() const;
  }];
}

#endif // TAC_ATTRS_TD
