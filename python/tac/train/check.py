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


def ort_compare(adaptive_onnx: onnx.ModelProto, static_onnx: onnx.ModelProto,
                feeds: dict[str, np.ndarray], output: str, ref_out: np.ndarray,
                ref_depth: np.ndarray, ref_pred: np.ndarray, ref_static: np.ndarray,
                tolerance: float = 1e-4, policy_output: str = "depth",
                predictor_output: str = "complexity", desc: str = "onnxruntime check") -> OrtCheck:
    """Runs both ONNX models item by item (batch 1) in ONNX Runtime and
    compares with reference outputs: the adaptive model's output, chosen depth
    and predictor output, and the static model's output. feeds: input name ->
    array with one row per item."""
    sa, ss = _session(adaptive_onnx), _session(static_onnx)
    a_in = {i.name for i in sa.get_inputs()}
    s_in = {i.name for i in ss.get_inputs()}
    n = len(ref_depth)
    out = np.zeros(ref_out.shape, np.float32)
    static = np.zeros(ref_static.shape, np.float32)
    pred = np.zeros(ref_pred.shape, np.float32)
    depth = np.zeros(n, np.int64)
    for i in tqdm(range(n), desc=desc, unit="item", leave=False,
                  dynamic_ncols=True, mininterval=1.0):
        x = {k: v[i:i + 1] for k, v in feeds.items()}
        o, d, p = sa.run([output, policy_output, predictor_output],
                         {k: v for k, v in x.items() if k in a_in})
        out[i], depth[i], pred[i] = o[0], int(d), p[0]
        static[i] = ss.run([output], {k: v for k, v in x.items() if k in s_in})[0][0]
    dm = int((depth != ref_depth).sum())
    dl = float(np.abs(out - ref_out).max()) if n else 0.0
    ds = float(np.abs(static - ref_static).max()) if n else 0.0
    dp = float(np.abs(pred - ref_pred).max()) if n else 0.0
    pm = int((out.reshape(n, -1).argmax(1) != ref_out.reshape(n, -1).argmax(1)).sum())
    return OrtCheck(n, dm, dl, ds, dp, pm, tolerance,
                    passed=(dm == 0 and dl <= tolerance and ds <= tolerance
                            and dp <= tolerance))


@torch.no_grad()
def ort_check(adaptive: AdaptiveViT, adaptive_onnx: onnx.ModelProto,
              static_onnx: onnx.ModelProto, images: torch.Tensor,
              tolerance: float = 1e-4) -> OrtCheck:
    """The scratch recipe's check: both ONNX models image by image against the
    batched eager PyTorch reference."""
    adaptive.eval()
    ref_logits, ref_depth, ref_pred = adaptive.reference(images)
    full_logits = adaptive.vit(images)
    return ort_compare(adaptive_onnx, static_onnx, {"image": images.numpy()}, "logits",
                       ref_logits.numpy(), ref_depth.numpy(), ref_pred.numpy(),
                       full_logits.numpy(), tolerance)
