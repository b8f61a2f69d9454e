"""tac: compiler + runtime for input-adaptive transformer inference.

The Python side currently holds ``tac.train``, the PyTorch recipe that trains
an adaptive ViT (backbone + complexity predictor + RL depth policy) and exports
it in tac's adaptive ONNX convention.
"""
