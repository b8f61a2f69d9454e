"""Independent check of the exported models with ONNX Runtime."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import onnx
import torch
from tqdm import tqdm

from .export import AdaptiveViT


@dataclass
class OrtCheck:
    images: int
    depth_mismatches: int
    max_abs_logit_diff: float          # adaptive model vs PyTorch reference
    max_abs_logit_diff_static: float   # static model vs PyTorch full depth
    max_abs_predictor_diff: float
    prediction_mismatches: int         # argmax(logits) differences, adaptive
    tolerance: float
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _session(model: onnx.ModelProto):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


@torch.no_grad()
def ort_check(adaptive: AdaptiveViT, adaptive_onnx: onnx.ModelProto,
              static_onnx: onnx.ModelProto, images: torch.Tensor,
              tolerance: float = 1e-4) -> OrtCheck:
    """Runs both ONNX models image by image (batch 1) in ONNX Runtime and
    compares with the batched eager PyTorch reference."""
    adaptive.eval()
    ref_logits, ref_depth, ref_pred = adaptive.reference(images)
    full_logits = adaptive.vit(images)
    sa, ss = _session(adaptive_onnx), _session(static_onnx)
    n = images.shape[0]
    logits = np.zeros((n, ref_logits.shape[1]), np.float32)
    static = np.zeros_like(logits)
    pred = np.zeros(tuple(ref_pred.shape), np.float32)
    depth = np.zeros(n, np.int64)
    for i in tqdm(range(n), desc="onnxruntime check", unit="img", leave=False,
                  dynamic_ncols=True, mininterval=1.0):
        x = images[i:i + 1].numpy()
        lo, d, p = sa.run(["logits", "depth", "complexity"], {"image": x})
        logits[i], depth[i], pred[i] = lo[0], int(d), p[0]
        static[i] = ss.run(["logits"], {"image": x})[0][0]
    dm = int((depth != ref_depth.numpy()).sum())
    dl = float(np.abs(logits - ref_logits.numpy()).max())
    ds = float(np.abs(static - full_logits.numpy()).max())
    dp = float(np.abs(pred - ref_pred.numpy()).max())
    pm = int((logits.argmax(1) != ref_logits.numpy().argmax(1)).sum())
    return OrtCheck(n, dm, dl, ds, dp, pm, tolerance,
                    passed=(dm == 0 and dl <= tolerance and ds <= tolerance
                            and dp <= tolerance))
