"""Writes a model (IR version 10) with two overloads of local function
pkg.scale ("double" multiplies by 2, "triple" by 3) and a call of each.
Debian's onnx 1.12 predates the `overload` fields (FunctionProto 13,
NodeProto 8), so they are appended to the serialized messages as raw
protobuf fields, which is how a newer exporter's output reads to it."""
import sys

import onnx
from onnx import TensorProto, helper


def with_string_field(message, number, value):
    """message re-parsed with a length-delimited field `number` = value."""
    data = value.encode()
    raw = message.SerializeToString() + bytes([number << 3 | 2, len(data)]) + data
    out = type(message)()
    out.ParseFromString(raw)
    return out


functions = []
for overload, factor in (("double", 2.0), ("triple", 3.0)):
    body = [helper.make_node("Constant", [], ["f"], value_float=factor),
            helper.make_node("Mul", ["a", "f"], ["b"])]
    f = helper.make_function("pkg", "scale", ["a"], ["b"], body,
                             [helper.make_opsetid("", 18)])
    functions.append(with_string_field(f, 13, overload))
nodes = [with_string_field(helper.make_node("scale", ["x"], ["t"], domain="pkg"), 8, "double"),
         with_string_field(helper.make_node("scale", ["t"], ["y"], domain="pkg"), 8, "triple")]
graph = helper.make_graph(
    nodes, "overloads",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                helper.make_opsetid("pkg", 1)])
model.functions.extend(functions)
model.ir_version = 10
onnx.save(model, sys.argv[1])
