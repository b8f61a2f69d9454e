"""Post-export clean-up of torch.onnx graphs, so the models tac imports are tidy.

* Removes the main graph's ``Identity`` aliases that torch inserts when it
  de-duplicates equal initializers (uses are renamed to the source).
* Folds small constant expressions (the ``Constant``/``Unsqueeze``/``Concat``
  shape computations torch leaves inside ``If`` branches) into ``Constant``
  nodes, in the main graph and in every subgraph, outer-scope constants
  included.
* Drops dead nodes and unused initializers.
* Gives anonymous initializers (``onnx::MatMul_702``, ``723``) the name of the
  PyTorch parameter they hold (``blocks.3.qkv.weight_t`` for a transposed one).
* Optionally names the ``If`` nodes (e.g. ``gate0_layer1``).

Nothing here changes what the model computes; ``check.py`` verifies that with
ONNX Runtime against PyTorch.
"""
from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import numpy_helper

_SMALL = 64  # only fold tensors with at most this many elements


def _subgraphs(node: onnx.NodeProto):
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            yield a.g
        elif a.type == onnx.AttributeProto.GRAPHS:
            yield from a.graphs


def _all_graphs(g: onnx.GraphProto):
    yield g
    for n in g.node:
        for sg in _subgraphs(n):
            yield from _all_graphs(sg)


def _rename(g: onnx.GraphProto, mapping: dict[str, str]) -> None:
    for gg in _all_graphs(g):
        for n in gg.node:
            for i, x in enumerate(n.input):
                if x in mapping:
                    n.input[i] = mapping[x]
        for o in gg.output:
            if o.name in mapping:
                o.name = mapping[o.name]


def _np_dtype(onnx_type: int):
    try:
        return onnx.helper.tensor_dtype_to_np_dtype(onnx_type)
    except AttributeError:  # onnx < 1.13
        return onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[onnx_type]


def _attr(n: onnx.NodeProto, name: str, default=None):
    for a in n.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _eval(n: onnx.NodeProto, xs: list[np.ndarray]):
    """numpy value of a small constant node, or None when not folded."""
    op = n.op_type
    if op == "Unsqueeze":
        axes = sorted(int(a) for a in np.ravel(xs[1]))
        y = xs[0]
        for a in axes:
            y = np.expand_dims(y, a if a >= 0 else a + y.ndim + 1)
        return y
    if op == "Squeeze":
        if len(xs) < 2:
            return np.squeeze(xs[0])
        return np.squeeze(xs[0], axis=tuple(int(a) for a in np.ravel(xs[1])))
    if op == "Concat":
        return np.concatenate(xs, axis=_attr(n, "axis"))
    if op == "Cast":
        return xs[0].astype(_np_dtype(_attr(n, "to")))
    if op == "Gather":
        return np.take(xs[0], xs[1], axis=_attr(n, "axis", 0))
    if op in ("Add", "Sub", "Mul"):
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op]
        return f(xs[0], xs[1]).astype(np.result_type(xs[0], xs[1]))
    if op == "Reshape" and not _attr(n, "allowzero", 0):
        shape = [int(s) if s != 0 else xs[0].shape[i] for i, s in enumerate(xs[1])]
        return xs[0].reshape(shape)
    return None


def _const_value(n: onnx.NodeProto):
    if n.op_type != "Constant" or len(n.attribute) != 1:
        return None
    a = n.attribute[0]
    if a.name == "value":
        return numpy_helper.to_array(a.t)
    if a.name == "value_int":
        return np.array(a.i, dtype=np.int64)
    if a.name == "value_ints":
        return np.array(list(a.ints), dtype=np.int64)
    if a.name == "value_float":
        return np.array(a.f, dtype=np.float32)
    if a.name == "value_floats":
        return np.array(list(a.floats), dtype=np.float32)
    return None


def _fold(g: onnx.GraphProto, known: dict[str, np.ndarray]) -> int:
    known = dict(known)
    folded = 0
    for idx, n in enumerate(g.node):
        v = _const_value(n)
        if v is not None:
            known[n.output[0]] = v
            continue
        for sg in _subgraphs(n):
            folded += _fold(sg, known)
        if (len(n.output) == 1 and n.input and all(x in known for x in n.input if x)
                and all(known[x].size <= _SMALL for x in n.input if x)):
            y = _eval(n, [known[x] for x in n.input if x])
            if y is None or y.size > _SMALL:
                continue
            y = np.asarray(y)
            c = onnx.helper.make_node("Constant", [], [n.output[0]], name=n.name or None,
                                      value=numpy_helper.from_array(y))
            g.node[idx].CopyFrom(c)
            known[n.output[0]] = y
            folded += 1
    return folded


def _uses(g: onnx.GraphProto) -> set[str]:
    used = set()
    for gg in _all_graphs(g):
        for n in gg.node:
            used.update(x for x in n.input if x)
        used.update(o.name for o in gg.output)
    return used


def _dce(g: onnx.GraphProto) -> None:
    while True:
        used = _uses(g)
        removed = False
        for gg in _all_graphs(g):
            keep = [n for n in gg.node if any(o in used for o in n.output)]
            if len(keep) != len(gg.node):
                removed = True
                del gg.node[:]
                gg.node.extend(keep)
        if not removed:
            break
    used = _uses(g)
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    ins = [i for i in g.input if i.name in used or i.name not in {t.name for t in keep}]
    del g.input[:]
    g.input.extend(ins)


_ANON = re.compile(r"^(onnx::.*|\d+)$")


def _preferred(keys: list[str]) -> str:
    """Canonical parameter name: the backbone's ``vit.`` path when there is one."""
    def rank(k):
        return (0 if k.startswith("vit.") else 1, len(k), k)
    k = min(keys, key=rank)
    return k[len("vit."):] if k.startswith("vit.") else k


def _name_initializers(g: onnx.GraphProto, weights: dict[str, np.ndarray]) -> None:
    taken = {t.name for t in g.initializer}
    mapping = {}
    for t in g.initializer:
        if not _ANON.match(t.name):
            continue
        a = numpy_helper.to_array(t)
        same = [k for k, w in weights.items() if w.shape == a.shape and np.array_equal(w, a)]
        trans = [k for k, w in weights.items()
                 if w.ndim == 2 and w.T.shape == a.shape and np.array_equal(w.T, a)]
        if same:
            new = _preferred(same)
        elif trans:
            new = _preferred(trans) + "_t"
        else:
            continue
        base, i = new, 1
        while new in taken:
            new = f"{base}_{i}"
            i += 1
        taken.add(new)
        mapping[t.name] = new
        t.name = new
    if mapping:
        _rename(g, mapping)


def _rename_initializers(g: onnx.GraphProto, fn) -> None:
    taken = {t.name for t in g.initializer}
    mapping = {}
    for t in g.initializer:
        new = fn(t.name)
        if new == t.name or new in taken:
            continue
        taken.discard(t.name)
        taken.add(new)
        mapping[t.name] = new
        t.name = new
    if mapping:
        _rename(g, mapping)


def fuse_sibling_matmuls(g: onnx.GraphProto, weights: dict[str, onnx.TensorProto]) -> int:
    """MatMuls that multiply the same input by different 2-D constant weights
    with the same row count (a layer's separate query/key/value projections)
    become one MatMul by the concatenated weight and a Split: the same
    arithmetic, and a layer shape tac's controller sharing recognises (it
    finds no match for three sibling MatMuls). In g and its subgraphs;
    weights: the outer scope's initializers by name. Returns the count."""
    fused = 0
    for n in g.node:
        for sg in _subgraphs(n):
            fused += fuse_sibling_matmuls(sg, weights)
    groups: dict[str, list[int]] = {}
    for i, n in enumerate(g.node):
        if n.op_type == "MatMul" and n.input[1] in weights and len(weights[n.input[1]].dims) == 2:
            groups.setdefault(n.input[0], []).append(i)
    drop, insert = set(), {}
    for src, idx in groups.items():
        rows = {tuple(weights[g.node[i].input[1]].dims)[0] for i in idx}
        if len(idx) < 2 or len(rows) != 1:
            continue
        ws = [numpy_helper.to_array(weights[g.node[i].input[1]]) for i in idx]
        name = "_".join(g.node[i].input[1] for i in idx[:1]) + f"_fused{len(idx)}"
        t = numpy_helper.from_array(np.concatenate(ws, axis=1), name)
        weights[name] = t
        weights["__new__" + name] = t
        out = f"{name}_out"
        sizes = numpy_helper.from_array(np.array([w.shape[1] for w in ws], np.int64), f"{name}_split")
        nodes = [onnx.helper.make_node("MatMul", [src, name], [out], name=f"{name}_mm"),
                 onnx.helper.make_node("Constant", [], [sizes.name], value=sizes),
                 onnx.helper.make_node("Split", [out, sizes.name],
                                       [g.node[i].output[0] for i in idx], axis=-1,
                                       name=f"{name}_split")]
        drop.update(idx)
        insert[idx[0]] = nodes
        fused += 1
    if drop:
        new = []
        for i, n in enumerate(g.node):
            new.extend(insert.get(i, []))
            if i not in drop:
                new.append(n)
        del g.node[:]
        g.node.extend(new)
    return fused


def cleanup(model: onnx.ModelProto, weights: dict[str, np.ndarray] | None = None,
            gate_names: list[str] | None = None, rename=None,
            fuse_matmuls: bool = False) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    outputs = {o.name for o in g.output}
    alias = {n.output[0]: n.input[0] for n in g.node
             if n.op_type == "Identity" and n.output[0] not in outputs}
    # resolve chains
    for k in list(alias):
        v = alias[k]
        while v in alias:
            v = alias[v]
        alias[k] = v
    if alias:
        keep = [n for n in g.node if not (n.op_type == "Identity" and n.output[0] in alias)]
        del g.node[:]
        g.node.extend(keep)
        _rename(g, alias)
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer
            if int(np.prod(t.dims)) <= _SMALL and t.data_type == onnx.TensorProto.INT64}
    _fold(g, init)
    if fuse_matmuls:
        inits = {t.name: t for t in g.initializer}
        if fuse_sibling_matmuls(g, inits):
            g.initializer.extend(t for k, t in inits.items() if k.startswith("__new__"))
    _dce(g)
    if weights:
        _name_initializers(g, weights)
    if rename is not None:
        _rename_initializers(g, rename)
    if gate_names is not None:
        ifs = [n for n in g.node if n.op_type == "If"]
        if len(ifs) != len(gate_names):
            raise ValueError(f"expected {len(gate_names)} If nodes, found {len(ifs)}")
        for n, name in zip(ifs, gate_names):
            n.name = name
    return m
