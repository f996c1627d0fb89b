"""Config sections -> engine objects: the model (input sizes inferred), loss, optimizer, scheduler.

    model, layers = build_model(cfg.model, dataset.sample_shape, config=cfg)
    loss_fn = build_loss(cfg.loss, config=cfg)
    optimizer = build_optimizer(cfg.optimizer, model.parameters(), config=cfg)
    schedule = build_scheduler(cfg.scheduler, optimizer, steps_per_epoch, epochs, config=cfg)

Names resolve in ``nr.nn`` (layers, losses), ``nr.optim`` and ``nr.optim.lr_scheduler``. A name
written as an import path, ``mypkg.models:Net``, is imported with `importlib` and so **runs Python
code**: it is the only way a config imports code (PyYAML's safe loader never builds objects). The
module is searched on ``sys.path`` and then in the config file's folder, and what it names must be
a class of the right kind (an ``nr.nn.Module``, ``nr.optim.Optimizer`` or scheduler subclass):
no other function is ever called with a config's arguments. Layer sizes are checked against this
machine's memory before anything is allocated (budget.py).

Every problem is a `ConfigError` naming the file, the key path, the line and how to fix it.
"""

# The model's builders are here; the loss, optimizer and scheduler ones live in build_training.py
# and the helpers both use in build_common.py. Every builder is imported from this module.

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import nnrun.engine as nr
import nnrun.engine.nn
import nnrun.engine.optim  # noqa: F401

from .budget import planned_output, planned_params, too_big
from .build_common import (
    _check_module,
    _construct,
    _exception_text,
    _import,
    _is_layer_class,
    _nn,
    _parameters,
    _short,
    _suggest,
    _Where,
)
from .build_training import Schedule, build_loss, build_optimizer, build_scheduler  # noqa: F401

# Constructor arguments inferred from the previous layer's output shape (batch dimension first)
# when a layer leaves them out.
INFERRED: dict[str, Callable[[tuple[int, ...]], int]] = {
    "in_features": lambda shape: shape[-1],  # Linear
    "in_channels": lambda shape: shape[1],  # Conv1d/2d/3d, ConvTranspose*
    "num_features": lambda shape: shape[1],  # BatchNorm*, InstanceNorm*
    "num_channels": lambda shape: shape[1],  # GroupNorm
    "normalized_shape": lambda shape: shape[-1],  # LayerNorm (the last dimension)
    "input_size": lambda shape: shape[-1],  # RNN, LSTM, GRU
}
_LAST_DIM = {"in_features", "normalized_shape", "input_size"}
PROBE_BATCH = 2  # samples pushed through each layer to learn its output shape


@dataclass(frozen=True)
class LayerInfo:
    """One row of the model summary.

    ``output_shape`` has the batch dimension first: the configured batch size, or -1 when none was
    given. ``name`` is the layer's prefix in the state dict (``"0"``, ``"1"``, ... in a Sequential).
    """

    index: int
    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    trainable: int
    line: int | None


# --- the model ------------------------------------------------------------------------------------


def build_model(
    model_spec,
    input_shape: Iterable[int],
    *,
    batch_size: int | None = None,
    config=None,
    config_path=None,
) -> tuple[Any, list[LayerInfo]]:
    """Build ``model`` (`ModelSpec`) for samples of ``input_shape`` (no batch dimension).

    ``layers`` become an ``nr.nn.Sequential``; each layer's input size (``in_features``,
    ``in_channels``, ``num_features``, ``normalized_shape``, ...) is inferred from the previous
    output shape when omitted, found by pushing a probe batch of zeros through each layer as it is
    built (eval mode, no grad). A custom ``class:`` is imported and called with ``args``. Returns
    the model in training mode and one `LayerInfo` per layer (per called child of a custom model).

    ``config`` (the `Config`) or ``config_path`` locate errors; custom modules are also looked up
    in the config file's folder. Raises `ConfigError`.
    """
    where = _Where(config, config_path)
    shape = (PROBE_BATCH, *(int(d) for d in input_shape))
    batch = -1 if batch_size is None else int(batch_size)
    if model_spec.layers is None:
        return _build_custom_model(model_spec, shape, batch, where)
    layers, infos = [], []
    x = nr.zeros(shape)
    total = 0
    for i, spec in enumerate(model_spec.layers):
        path = ("model", "layers", i)
        layer = _build_layer(spec, tuple(x.shape), batch, path, where, total)
        x = _probe(layer, x, spec.type, batch, path, where, spec.line)
        per_sample = math.prod(x.shape[1:])
        problem = too_big(activation_values=per_sample * max(batch, 1))
        if problem is not None:
            message = f"{_short(spec.type)}: {problem} (batch_size {batch:,})"
            raise where.error(path, message, spec.line)
        params, trainable = _count(layer)
        total += params
        out = (batch, *x.shape[1:])
        infos.append(LayerInfo(i, str(i), _short(spec.type), out, params, trainable, spec.line))
        layers.append(layer)
    return nr.nn.Sequential(*layers).train(), infos


def _build_layer(spec, shape: tuple, batch: int, path: tuple, where: _Where, params_before=0):
    name = spec.type
    if spec.is_import_path:
        cls = _import(name, path, where, spec.line, kind="layer")
    else:
        cls = getattr(nr.nn, name, None)
        if not _is_layer_class(cls) or name.endswith("Loss"):
            raise where.error(path, _unknown_layer_message(name), spec.line)
    args = spec.args
    positional, keywords = (list(args), {}) if isinstance(args, list) else ([], dict(args))
    positional, keywords = _infer(cls, positional, keywords, shape, batch, path, where, spec)
    label, arg_path = _short(name), (*path, name)
    if not spec.is_import_path:  # before anything is allocated
        planned = planned_params(name, cls, positional, keywords)
        problem = None if planned is None else too_big(params=params_before + planned)
        values = planned_output(name, cls, positional, keywords, shape)
        if problem is None and values is not None:
            problem = too_big(activation_values=values * max(batch, PROBE_BATCH))
        if problem is not None:
            shown = [*map(repr, positional), *(f"{k}={v!r}" for k, v in keywords.items())]
            message = f"{label}({', '.join(shown)}) is too big: {problem}; check its sizes"
            raise where.error(path, message, spec.line)
    layer = _construct(cls, label, positional, keywords, path, where, spec.line, arg_path=arg_path)
    _check_module(layer, _short(name), path, where, spec.line)
    return layer


def _infer(cls, positional, keywords, shape, batch, path, where, spec):
    """Fill in the input-size arguments the layer leaves out; check the ones it gives."""
    params = _parameters(cls)
    if params is None or len(positional) > len(params):
        return positional, keywords  # _construct reports too many arguments
    names = list(params)
    required = [n for n in names if params[n].default is inspect.Parameter.empty]
    if positional and names and names[0] in INFERRED and len(positional) < len(required):
        positional = [_inferred(names[0], shape, path, where, spec.line), *positional]
    given = dict(zip(names, positional)) | keywords
    for name in names:
        if name not in INFERRED:
            continue
        if name not in given:
            if params[name].default is inspect.Parameter.empty:
                keywords = {**keywords, name: _inferred(name, shape, path, where, spec.line)}
            continue
        value = given[name]
        if isinstance(value, bool) or not isinstance(value, int) or len(shape) < 2:
            continue  # e.g. LayerNorm's list normalized_shape: the probe checks it
        expected = INFERRED[name](shape)
        if value != expected:
            wanted = f"(*, {value})" if name in _LAST_DIM else f"(N, {value}, *)"
            message = (
                f"{_short(spec.type)} expects input {wanted} but receives "
                f"{_shape(shape, batch)}; set {name} to {expected} or remove it"
            )
            raise where.error(path, message, spec.line)
    return positional, keywords


def _inferred(name: str, shape: tuple, path: tuple, where: _Where, line) -> int:
    if len(shape) < 2:
        message = f"cannot infer {name} from an input of shape {tuple(shape)}; set {name}"
        raise where.error(path, message, line)
    return int(INFERRED[name](shape))


def _probe(layer, x, type_name: str, batch: int, path: tuple, where: _Where, line):
    layer.eval()
    try:
        with nr.no_grad():
            out = layer(x)
    except Exception as e:  # noqa: BLE001 - any error of a forward, custom modules' included
        hint = " (the dataset's sample shape)" if path[-1] == 0 else ""
        message = (
            f"{_short(type_name)} cannot take input of shape {_shape(x.shape, batch)}{hint}: "
            f"{_exception_text(e)}"
        )
        raise where.error(path, message, line) from None
    finally:
        layer.train()
    if not isinstance(out, nr.Tensor):
        message = (
            f"{_short(type_name)} returns {type(out).__name__}, not a tensor; a layer in "
            "layers: must return one tensor (wrap it in a custom module)"
        )
        raise where.error(path, message, line)
    return out


def _build_custom_model(model_spec, shape: tuple, batch: int, where: _Where):
    path = ("model", "class")
    line = where.line(path)
    cls = _import(model_spec.class_, path, where, line, kind="model")
    keywords = dict(model_spec.args)
    for name, param in (_parameters(cls) or {}).items():
        if name in INFERRED and name not in keywords and param.default is param.empty:
            keywords[name] = _inferred(name, shape, ("model", "args"), where, line)
    label = _short(model_spec.class_)
    model = _construct(cls, label, [], keywords, path, where, line, arg_path=("model", "args"))
    _check_module(model, label, path, where, line)
    # One row per call of a direct child, recorded by forward hooks during the probe.
    calls: list[tuple[str, Any, Any]] = []
    names = {id(m): n for n, m in model.named_children()}
    handles = [
        child.register_forward_hook(lambda m, args, out: calls.append((names[id(m)], m, out)))
        for child in model.children()
    ]
    try:
        out = _probe(model, nr.zeros(shape), model_spec.class_, batch, path, where, line)
    finally:
        for handle in handles:
            handle.remove()
    infos, seen = [], set()
    for name, child, child_out in calls:
        if isinstance(child_out, nr.Tensor):
            params, trainable = (0, 0) if id(child) in seen else _count(child)
            seen.add(id(child))
            shape_ = (batch, *child_out.shape[1:])
            infos.append(
                LayerInfo(len(infos), name, type(child).__name__, shape_, params, trainable, line)
            )
    total, trainable = _count(model)
    own = total - sum(i.params for i in infos), trainable - sum(i.trainable for i in infos)
    if not infos or own[0] or infos[-1].output_shape[1:] != tuple(out.shape[1:]):
        # the model's own parameters and its final output
        out_shape = (batch, *out.shape[1:])
        infos.append(LayerInfo(len(infos), "", label, out_shape, own[0], own[1], line))
    return model.train(), infos


def _layer_names() -> list[str]:
    skip = {"Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"}
    return [
        n
        for n in dir(nr.nn)
        if _is_layer_class(_nn(n)) and not n.endswith("Loss") and n not in skip
    ]


def _unknown_layer_message(name: str) -> str:
    cls = getattr(nr.nn, name, None)
    if _is_layer_class(cls) and name.endswith("Loss"):
        return f"{name} is a loss, not a layer; set it as loss: {name}"
    return (
        f"unknown layer {name!r}{_suggest(name, _layer_names())}; a layer is an nr.nn class "
        "(Linear, Conv2d, ReLU, ...) or a custom module {class: mypkg.layers:Block}"
    )


def _count(module) -> tuple[int, int]:
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _shape(shape, batch: int) -> str:
    dims = (batch, *tuple(shape)[1:])
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"
