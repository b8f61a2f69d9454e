"""Prints an ONNX text model whose local function f<i> calls f<i+1> twice."""
DEPTH = 25
print('<\n  ir_version: 8,\n  opset_import: ["" : 18, "local" : 1]\n>')
print('agraph (float[2] x) => (float[2] y) {\n  y = local.f0 (x)\n}')
for i in range(DEPTH):
    print(f'<\n  domain: "local",\n  opset_import: ["" : 18, "local" : 1]\n>\n'
          f'f{i} (a) => (b) {{\n  t = local.f{i + 1} (a)\n  b = local.f{i + 1} (t)\n}}')
print(f'<\n  domain: "local",\n  opset_import: ["" : 18]\n>\nf{DEPTH} (a) => (b) {{\n  b = Relu (a)\n}}')
