"""tac.adapt: make a pretrained transformer adaptive (docs/adapt.md).

    from tac.adapt import adapt, AdaptConfig, data
    model, tokenizer = data.load_minilm()
    res = adapt(model, data.manpages(tokenizer), out_dir="out", name="minilm")
"""
from .anatomy import AdaptError, Anatomy
from .core import AdaptConfig, adapt
from .tasks import Classification, Embedding, make_task

__all__ = ["AdaptError", "Anatomy", "AdaptConfig", "adapt", "Classification", "Embedding",
           "make_task"]
