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

def Tac_CostAttr : Tac_Attr<"Cost", "cost"> {
  let summary = "Static cost of a function: FLOPs, bytes moved, memory.";
  let description = [{
    What `tac-estimate-cost` counts for one function, attached to it as
    `tac.cost` and read by the plan builder (the compiled file's per-variant
    numbers) and `tac-batch-rows` (which scales the per-row quantities).
    FLOPs count a multiply-add as 2; `bytes_moved` is the tensor traffic of
    every op; `param_bytes` the constants the function reads;
    `peak_activation_bytes` the planned activation arena (with in-place
    reuse) and `naive_activation_bytes` the sum of all intermediates. All
    are non-negative.

    ```mlir
    #tac.cost<flops = 1024, bytes_moved = 1280, param_bytes = 0,
              peak_activation_bytes = 256, naive_activation_bytes = 512>
    ```
  }];
  let parameters = (ins "int64_t":$flops, "int64_t":$bytes_moved,
                        "int64_t":$param_bytes,
                        "int64_t":$peak_activation_bytes,
                        "int64_t":$naive_activation_bytes);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // TAC_ATTRS_TD
