"""Finds the anatomy of a pretrained encoder *structurally*: the stack of
repeated layers, what runs before it (the embedding) and after it (the head).

No class names are looked at. The stack is the ``nn.ModuleList`` /
``nn.Sequential`` whose children are two or more modules of one type with
identical parameter shapes (the one holding the most parameters wins), and a
probe run on one example input confirms that the model calls those layers
once each, in order, each one's hidden state feeding the next.

The probe also records *how* the model calls a layer (positional and keyword
arguments, which one is the hidden state, what the layer returns), so the
layers can be replayed one by one, and the model's own code can be reused for
the parts before and after the stack:

* ``embed(inputs)``: the model's forward with the stack replaced by a capture
  slot: returns the hidden state entering layer 0 and the other tensors the
  layers receive (e.g. an extended attention mask);
* ``layer(i, h, ctx)``: layer ``i`` on hidden state ``h``;
* ``head(inputs, h)``: the model's forward with the stack replaced by one slot
  that injects ``h``: the model's own head (final norm, pooler, classifier)
  applied to any hidden state.

Everything here traces with ``torch.jit.trace`` / ``torch.onnx.export``.
"""
from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass

import torch
import torch.nn as nn


class AdaptError(ValueError):
    """Bad input to tac.adapt: the message says what is wrong and what to pass
    instead. The CLI prints it and exits with status 1."""


# --------------------------------------------------------------------------
# calling the model
# --------------------------------------------------------------------------

def call_model(model: nn.Module, inputs: dict[str, torch.Tensor]):
    """Calls ``model`` with ``inputs``: by keyword when the forward accepts
    those names, positionally (in order) otherwise."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        params = {}
    names = list(inputs)
    if names and all(n in params for n in names):
        return model(**inputs)
    return model(*inputs.values())


def first_tensor(out, rank: int | None = None, key: str | None = None) -> torch.Tensor | None:
    """The tensor a model output stands for: ``out[key]`` for dict-like
    outputs (Hugging Face ModelOutput) when present, else the first tensor
    (of the given rank) in it."""
    if isinstance(out, torch.Tensor):
        return out if rank is None or out.dim() == rank else None
    if key is not None and hasattr(out, "keys") and key in out.keys():
        return out[key]
    items = list(out.values()) if hasattr(out, "values") else (
        list(out) if isinstance(out, (tuple, list)) else [])
    for x in items:
        t = first_tensor(x, rank)
        if t is not None:
            return t
    return None


# --------------------------------------------------------------------------
# finding the stack
# --------------------------------------------------------------------------

def _signature(m: nn.Module) -> tuple:
    return (type(m),) + tuple((k, tuple(v.shape)) for k, v in m.state_dict().items())


def candidate_stacks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(dotted name, container) of every ModuleList/Sequential of >= 2 identical
    layers, most parameters first."""
    out = []
    for name, mod in model.named_modules():
        if not isinstance(mod, (nn.ModuleList, nn.Sequential)):
            continue
        kids = list(mod.children())
        if len(kids) < 2 or sum(p.numel() for p in kids[0].parameters()) == 0:
            continue
        sig = _signature(kids[0])
        if all(_signature(k) == sig for k in kids[1:]):
            out.append((name, mod))
    out.sort(key=lambda nm: -sum(p.numel() for p in nm[1].parameters()))
    return out


def _parent(model: nn.Module, dotted: str) -> tuple[nn.Module, str]:
    parts = dotted.split(".")
    parent = model
    for p in parts[:-1]:
        parent = getattr(parent, p)
    return parent, parts[-1]


# --------------------------------------------------------------------------
# call templates
# --------------------------------------------------------------------------

_HIDDEN = object()  # marks the hidden state in a call template


@dataclass
class CallTemplate:
    """How the model calls one layer: args/kwargs with tensors pulled out."""
    args: list
    kwargs: dict
    ctx_slots: list          # (where, key) for each extra tensor, in ctx order
    out_kind: str            # "tensor" | "tuple"
    out_len: int
    out_index: int           # which element of a tuple output is the hidden state

    def call(self, layer: nn.Module, h: torch.Tensor, ctx: list[torch.Tensor]) -> torch.Tensor:
        args = [h if a is _HIDDEN else a for a in self.args]
        kwargs = {k: (h if v is _HIDDEN else v) for k, v in self.kwargs.items()}
        for (where, key), t in zip(self.ctx_slots, ctx):
            if where == "arg":
                args[key] = t
            else:
                kwargs[key] = t
        out = layer(*args, **kwargs)
        return out if self.out_kind == "tensor" else out[self.out_index]

    def wrap(self, h: torch.Tensor):
        """A layer output with the same structure as the real one."""
        if self.out_kind == "tensor":
            return h
        return tuple(h if i == self.out_index else None for i in range(self.out_len))


def _template(args: tuple, kwargs: dict, out, prev_hidden: torch.Tensor | None) -> tuple[CallTemplate, torch.Tensor, list]:
    """Splits one recorded call into (template, hidden input, ctx tensors)."""
    out_t = first_tensor(out)
    if out_t is None:
        raise AdaptError("a layer of the stack returned no tensor: tac.adapt needs layers "
                         "that map a hidden-state tensor to one of the same shape")
    # the hidden state: the tensor argument with the output's shape (the
    # previous layer's output when there is one)
    slots = [("arg", i, a) for i, a in enumerate(args)] + [("kw", k, v) for k, v in kwargs.items()]
    hidden_where = None
    for where, key, v in slots:
        if isinstance(v, torch.Tensor) and v.is_floating_point() and tuple(v.shape) == tuple(out_t.shape):
            if prev_hidden is None or v is prev_hidden or torch.equal(v, prev_hidden):
                hidden_where = (where, key)
                break
    if hidden_where is None:
        raise AdaptError("could not tell which argument of the repeated layers is the hidden "
                         "state (no floating-point argument has the shape of the layer output "
                         f"{tuple(out_t.shape)}): pass layers=<dotted name of the real layer stack>")
    new_args, new_kwargs, ctx_slots, ctx = list(args), dict(kwargs), [], []
    hidden = None
    for where, key, v in slots:
        if (where, key) == hidden_where:
            hidden = v
            if where == "arg":
                new_args[key] = _HIDDEN
            else:
                new_kwargs[key] = _HIDDEN
        elif isinstance(v, torch.Tensor):
            ctx_slots.append((where, key))
            ctx.append(v)
    if isinstance(out, torch.Tensor):
        kind, n, idx = "tensor", 1, 0
    elif isinstance(out, (tuple, list)):
        idx = next(i for i, x in enumerate(out) if x is out_t)
        kind, n = "tuple", len(out)
    else:
        raise AdaptError(f"a layer of the stack returns {type(out).__name__}; tac.adapt "
                         "supports layers returning a tensor or a tuple")
    return CallTemplate(new_args, new_kwargs, ctx_slots, kind, n, idx), hidden, ctx


# --------------------------------------------------------------------------
# slots that stand in for the stack
# --------------------------------------------------------------------------

class _Slot(nn.Module):
    """Stands in for a layer: records its call, or injects a hidden state."""

    def __init__(self, owner: "Anatomy", index: int):
        super().__init__()
        self.__dict__["owner"] = owner  # no submodule registration
        self.index = index

    def forward(self, *args, **kwargs):
        o = self.owner
        tmpl = o.templates[min(self.index, len(o.templates) - 1)] if o.templates else None
        if o._mode == "capture":
            if self.index == 0:
                o._captured = (args, kwargs)
            h = _find_hidden(tmpl, args, kwargs) if tmpl else args[0]
            return tmpl.wrap(h) if tmpl else h
        if o._mode == "inject":
            return tmpl.wrap(o._inject)
        raise RuntimeError("slot called outside a capture/inject context")


def _find_hidden(tmpl: CallTemplate, args, kwargs):
    for i, a in enumerate(tmpl.args):
        if a is _HIDDEN:
            return args[i]
    for k, v in tmpl.kwargs.items():
        if v is _HIDDEN:
            return kwargs[k]
    raise RuntimeError("hidden state not found in the layer call")


class Anatomy:
    """A pretrained encoder taken apart (see the module docstring)."""

    def __init__(self, model: nn.Module, example: dict[str, torch.Tensor], layers: str | None = None):
        if not isinstance(model, nn.Module):
            raise AdaptError(f"expected a torch.nn.Module, got {type(model).__name__}: pass the "
                             "PyTorch model object (e.g. transformers' BertModel, a torchvision "
                             "ViT), or a .pt file saved with torch.save(model)")
        self.model = model.eval()
        if layers is not None:
            try:
                cont = model.get_submodule(layers)
            except AttributeError:
                raise AdaptError(f"layers={layers!r}: no such submodule in "
                                 f"{type(model).__name__}") from None
            if not isinstance(cont, (nn.ModuleList, nn.Sequential)) or len(list(cont.children())) < 2:
                raise AdaptError(f"layers={layers!r} is a {type(cont).__name__}, not an "
                                 "nn.ModuleList/nn.Sequential of >= 2 layers")
            cands = [(layers, cont)]
        else:
            cands = candidate_stacks(model)
        if not cands:
            raise AdaptError(
                f"no stack of repeated layers found in {type(model).__name__}: tac.adapt looks "
                "for an nn.ModuleList or nn.Sequential of two or more identical transformer "
                "layers (same type, same parameter shapes) that the model calls one after "
                "another. Pass a transformer encoder (BERT/MiniLM/DistilBERT, ViT), or name "
                "the stack with layers='<dotted.name>' (CLI: --layers)")
        errors = []
        for name, cont in cands:
            try:
                self._probe(name, cont, example)
                return
            except AdaptError as e:
                errors.append(f"{name or '<model>'}: {e}")
        raise AdaptError("found repeated layers but none is called as a sequential stack "
                         "(each layer's output feeding the next): " + "; ".join(errors))

    # -- probing ------------------------------------------------------------

    def _probe(self, name: str, cont: nn.Module, example: dict[str, torch.Tensor]) -> None:
        layers = list(cont.children())
        calls = []
        originals = []
        for i, layer in enumerate(layers):
            def rec(*args, _i=i, _f=layer.forward, **kwargs):
                out = _f(*args, **kwargs)
                calls.append((_i, args, kwargs, out))
                return out
            originals.append(layer.__dict__.get("forward"))
            layer.forward = rec
        try:
            with torch.no_grad():
                out = call_model(self.model, example)
        except Exception as e:  # the model does not run on this input
            raise AdaptError(f"the model does not run on the example input "
                             f"({', '.join(f'{k}: {tuple(v.shape)} {v.dtype}' for k, v in example.items())}):"
                             f" {type(e).__name__}: {e}") from None
        finally:
            for layer, f in zip(layers, originals):
                if f is None:
                    del layer.forward
                else:
                    layer.forward = f
        order = [c[0] for c in calls]
        if order != list(range(len(layers))):
            raise AdaptError(f"layers called in order {order[:12]}, expected each of "
                             f"0..{len(layers) - 1} once, in order")
        templates, hidden0, ctx0, prev = [], None, None, None
        for i, args, kwargs, o in calls:
            t, h, ctx = _template(args, kwargs, o, prev)
            if i == 0:
                hidden0, ctx0 = h, ctx
            elif len(ctx) != len(ctx0) or any(a.shape != b.shape or not torch.equal(a, b)
                                              for a, b in zip(ctx, ctx0)):
                raise AdaptError("the layers receive different extra inputs (only the hidden "
                                 "state may differ between layers)")
            templates.append(t)
            prev = first_tensor(o)
        self.stack_name = name
        self.parent, self.attr = _parent(self.model, name) if name else (None, None)
        if self.parent is None:
            raise AdaptError("the model itself is the layer stack: wrap it in a module with an "
                             "embedding and a head")
        self.container = cont
        self.layers = layers
        self.templates = templates
        self.hidden_shape = tuple(hidden0.shape)
        self.n_ctx = len(ctx0)
        self.example_output = out
        self._mode = None
        self._captured = None
        self._inject = None

    # -- the three pieces ---------------------------------------------------

    @property
    def depth(self) -> int:
        return len(self.layers)

    @contextlib.contextmanager
    def _patched(self, n_slots: int, mode: str):
        kind = type(self.container)
        slots = kind(*[_Slot(self, i) for i in range(n_slots)]) if kind is nn.Sequential \
            else nn.ModuleList([_Slot(self, i) for i in range(n_slots)])
        setattr(self.parent, self.attr, slots)
        self._mode = mode
        try:
            yield
        finally:
            setattr(self.parent, self.attr, self.container)
            self._mode = None

    def embed(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Hidden state entering layer 0, and the layers' extra tensor inputs."""
        with self._patched(self.depth, "capture"):
            self._captured = None
            call_model(self.model, inputs)
            args, kwargs = self._captured
        t = self.templates[0]
        h = _find_hidden(t, args, kwargs)
        ctx = [args[k] if w == "arg" else kwargs[k] for w, k in t.ctx_slots]
        return h, ctx

    def layer(self, i: int, h: torch.Tensor, ctx: list[torch.Tensor]) -> torch.Tensor:
        return self.templates[i].call(self.layers[i], h, ctx)

    def head(self, inputs: dict[str, torch.Tensor], h: torch.Tensor):
        """The model's raw output with ``h`` as the stack's output."""
        with self._patched(1, "inject"):
            self._inject = h
            try:
                return call_model(self.model, inputs)
            finally:
                self._inject = None

    def hidden_states(self, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Hidden state after every layer (element d-1: after d layers)."""
        h, ctx = self.embed(inputs)
        out = []
        for i in range(self.depth):
            h = self.layer(i, h, ctx)
            out.append(h)
        return out

    def describe(self) -> str:
        return (f"{type(self.model).__name__}: {self.depth} x {type(self.layers[0]).__name__} "
                f"at '{self.stack_name}', hidden {list(self.hidden_shape[1:])}, "
                f"{sum(p.numel() for p in self.model.parameters()) / 1e6:.2f} M parameters")
