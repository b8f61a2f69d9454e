#!/usr/bin/env python3
"""Writes a model (IR version given on the command line, opset 23) whose
FLOAT16 and BFLOAT16 initializers are stored both ways ONNX allows: as
raw_data and as bit patterns in int32_data. y = x + Cast(w16) + Cast(w16i)
+ Cast(wbf) + Cast(wbfi), the four holding [1.5, -2, 65504 or 3]."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

path, ir_version = sys.argv[1], int(sys.argv[2])
f16 = np.array([1.5, -2.0, 65504.0], dtype=np.float16)
bf16_bits = (np.array([1.5, -2.0, 3.0], dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
inits = [
    numpy_helper.from_array(f16, "w16"),  # raw_data
    # helper converts the float values to bit patterns in int32_data
    helper.make_tensor("w16i", TensorProto.FLOAT16, [3], f16.astype(np.float32).tolist()),
    helper.make_tensor("wbf", TensorProto.BFLOAT16, [3], bf16_bits.tobytes(), raw=True),
    helper.make_tensor("wbfi", TensorProto.BFLOAT16, [3], [1.5, -2.0, 3.0]),
]
assert inits[0].HasField("raw_data") and not inits[1].HasField("raw_data")
assert list(inits[1].int32_data) == f16.view(np.uint16).tolist()
assert list(inits[3].int32_data) == bf16_bits.tolist()
nodes, last = [], "x"
for i, w in enumerate(["w16", "w16i", "wbf", "wbfi"]):
    nodes.append(helper.make_node("Cast", [w], [w + "_f"], to=TensorProto.FLOAT))
    out = "y" if i == 3 else f"s{i}"
    nodes.append(helper.make_node("Add", [last, w + "_f"], [out]))
    last = out
graph = helper.make_graph(
    nodes, "half_weights",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
model.ir_version = ir_version
onnx.save(model, path)
