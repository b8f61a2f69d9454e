"""python -m tac.train: run the training recipe (see docs/training.md)."""
from __future__ import annotations

import argparse
import os
import sys
import time

from .recipe import RecipeConfig, run, smoke_config


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tac.train", description=__doc__)
    ap.add_argument("--preset", choices=("full", "smoke"), default="full",
                    help="full: the documented recipe; smoke: a few hundred images, "
                         "one short epoch (the test suite's version)")
    ap.add_argument("--models-dir", default="models",
                    help="where the ONNX models and fmnist_vit.json go (default: models)")
    ap.add_argument("--results", default=None,
                    help="write the results page here (e.g. docs/results.md)")
    ap.add_argument("--plot", default=None, help="write the Pareto plot PNG here")
    ap.add_argument("--epochs", type=int, default=None, help="override backbone epochs")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads (default 1: fastest for this small model)")
    ap.add_argument("--backbone-ckpt", default=None,
                    help="development only: load this backbone state_dict instead of "
                         "training (results then no longer come from one run)")
    ap.add_argument("--save-backbone", default=None,
                    help="save the trained backbone state_dict here")
    args = ap.parse_args(argv)

    cfg = RecipeConfig() if args.preset == "full" else smoke_config()
    if args.epochs is not None:
        cfg.epochs = args.epochs
    if args.threads is not None:
        cfg.threads = args.threads
    t = time.time()
    res = run(cfg, args.models_dir, args.results, args.plot,
              backbone_ckpt=args.backbone_ckpt, save_backbone=args.save_backbone)
    print(f"done in {time.time() - t:.0f} s; metrics in "
          f"{os.path.join(args.models_dir, 'fmnist_vit.json')}")
    return 0 if res["ort_check"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
