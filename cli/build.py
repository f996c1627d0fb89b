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

from __future__ import annotations

import difflib
import importlib
import inspect
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import nnrun.engine as nr
import nnrun.engine.nn
import nnrun.engine.optim  # noqa: F401

from .budget import planned_output, planned_params, too_big
from .config_fields import infer_mode
from .config_yaml import line_of
from .errors import ConfigError, Problem

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


@dataclass
class Schedule:
    """A learning-rate scheduler and when the training loop calls it.

    ``interval``: ``"step"`` (after every optimizer step) or ``"epoch"`` (after each validation).
    ``monitor``: for ReduceLROnPlateau, the metric whose value `step` passes to the scheduler.
    """

    scheduler: Any
    interval: Literal["step", "epoch"]
    monitor: str | None = None

    def step(self, metrics: Mapping[str, float] | None = None) -> None:
        """Step the scheduler; ``metrics`` (name -> value) is needed when ``monitor`` is set."""
        if self.monitor is None:
            try:
                self.scheduler.step()
            except ValueError as e:  # e.g. OneCycleLR stepped past its total_steps
                name = type(self.scheduler).__name__
                raise ConfigError(f"scheduler: {name}: {_exception_text(e)}") from None
            return
        if not metrics or self.monitor not in metrics:
            known = ", ".join(metrics or ()) or "none"
            raise ConfigError(
                f"scheduler.monitor: metric {self.monitor!r} was not computed (metrics: {known})"
                + _suggest(self.monitor, metrics or ())
            )
        self.scheduler.step(metrics[self.monitor])


class _Where:
    """Locates problems: the config file and the line of each key path."""

    def __init__(self, config=None, config_path=None):
        if config_path is not None:
            self.source = str(config_path)
        else:
            self.source = config.source if config is not None else "<config>"
        self.lines: dict = dict(config._lines) if config is not None else {}
        folder = Path(self.source).parent if Path(self.source).is_file() else None
        self.folder = folder

    def line(self, path: tuple, fallback: int | None = None) -> int | None:
        if self.lines:
            found = line_of(self.lines, tuple(str(p) for p in path))
            if found is not None:
                return found
        return fallback

    def error(self, path: tuple, message: str, line: int | None = None) -> ConfigError:
        dotted = ".".join(str(p) for p in path)
        return ConfigError(Problem(self.source, self.line(path, line), dotted, message))


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


def _check_module(obj, label: str, path: tuple, where: _Where, line) -> None:
    if not isinstance(obj, nr.nn.Module):
        message = f"{label} made a {type(obj).__name__}, not an nr.nn.Module"
        raise where.error(path, message, line)


# --- loss, optimizer, scheduler -------------------------------------------------------------------


def build_loss(loss_spec, *, config=None):
    """The loss module named by ``loss`` (an ``nr.nn`` class or an import path), with its kwargs.

    ``weight`` / ``pos_weight`` given as lists become float32 tensors. Raises `ConfigError`.
    """
    where = _Where(config)
    name = loss_spec.name
    if ":" in name:
        cls = _import(name, ("loss",), where, None, kind="loss")
    else:
        cls = getattr(nr.nn, name, None)
        if not (_is_layer_class(cls) and name.endswith("Loss")):
            losses = sorted(n for n in dir(nr.nn) if n.endswith("Loss") and _is_layer_class(_nn(n)))
            hint = _suggest(name, losses) or f"; losses: {', '.join(losses)}"
            if _is_layer_class(cls):
                hint = f"; {name} is a layer, not a loss (put it in model.layers)"
            raise where.error(("loss",), f"unknown loss {name!r}{hint}")
    keywords = dict(loss_spec.kwargs)
    for key in ("weight", "pos_weight"):
        if isinstance(keywords.get(key), list):
            keywords[key] = _tensor(keywords[key], ("loss", key), where)
    loss = _construct(cls, _short(name), [], keywords, ("loss",), where, None)
    _check_module(loss, _short(name), ("loss",), where, None)
    return loss


def build_optimizer(opt_spec, params, *, config=None):
    """The ``nr.optim`` optimizer named by ``optimizer.name`` over ``params``, with ``lr`` and its
    other keyword arguments (lists become tuples: ``betas: [0.9, 0.99]``). Raises `ConfigError`.
    """
    where = _Where(config)
    name = opt_spec.name
    cls = _named_class(
        name, nr.optim, _optimizer_names(), ("optimizer", "name"), where, "optimizer"
    )
    keywords = {"lr": opt_spec.lr, **opt_spec.kwargs}
    keywords = {k: tuple(v) if isinstance(v, list) else v for k, v in keywords.items()}
    params = list(params)
    if not params:
        raise where.error(("model",), "the model has no parameters for the optimizer to train")
    return _construct(cls, _short(name), [params], keywords, ("optimizer",), where, None, skip=1)


def build_scheduler(
    sched_spec,
    optimizer,
    steps_per_epoch: int,
    epochs: int,
    *,
    max_steps: int | None = None,
    config=None,
) -> Schedule | None:
    """The ``nr.optim.lr_scheduler`` scheduler named by ``scheduler.name`` (None for none).

    When it steps: OneCycleLR after every batch (unless ``interval: epoch``); ReduceLROnPlateau
    after each validation, with the value of ``monitor`` (default ``val_loss``; ``mode`` inferred
    from its name); every other scheduler after each epoch unless ``interval: step``. OneCycleLR's
    ``total_steps`` and CosineAnnealingLR's ``T_max`` default to the number of scheduler steps in
    the run (``steps_per_epoch * epochs``, capped by ``max_steps``, or ``epochs``).
    """
    if sched_spec is None:
        return None
    where = _Where(config)
    name = sched_spec.name
    module = nr.optim.lr_scheduler
    path = ("scheduler",)
    cls = _named_class(name, module, _scheduler_names(), (*path, "name"), where, "scheduler")
    keywords = dict(sched_spec.kwargs)
    explicit = "interval" in sched_spec.model_fields_set
    interval = sched_spec.interval
    short = _short(name)
    monitor = None
    if short == "ReduceLROnPlateau":
        if explicit and interval == "step":
            message = "ReduceLROnPlateau steps on a validation metric, once per epoch; remove it"
            raise where.error((*path, "interval"), message)
        monitor = keywords.pop("monitor", "val_loss")
        if "mode" not in keywords:
            keywords["mode"] = infer_mode(monitor) or "min"
        interval = "epoch"
    elif short == "OneCycleLR" and not explicit:
        interval = "step"
    elif "monitor" in keywords:
        raise where.error((*path, "monitor"), f"only ReduceLROnPlateau takes monitor:, not {short}")
    steps = steps_per_epoch * epochs if interval == "step" else epochs
    if interval == "step" and max_steps is not None:
        steps = min(steps, max_steps)
    if short == "OneCycleLR" and not {"total_steps", "epochs", "steps_per_epoch"} & set(keywords):
        keywords["total_steps"] = max(1, steps)
    if short == "CosineAnnealingLR" and "T_max" not in keywords:
        keywords["T_max"] = max(1, steps)
    keywords = {k: tuple(v) if isinstance(v, list) else v for k, v in keywords.items()}
    scheduler = _construct(cls, short, [optimizer], keywords, path, where, None, skip=1)
    total = getattr(scheduler, "total_steps", None)
    if short == "OneCycleLR" and isinstance(total, int) and total < steps:
        message = (
            f"OneCycleLR's schedule ends after {total} steps but the run takes {steps} "
            f"{'steps' if interval == 'step' else 'epochs'}; leave out total_steps (nnrun sets "
            "it to the run's length) or make it larger"
        )
        raise where.error(path, message)
    return Schedule(scheduler, interval, monitor)


# --- shared helpers -------------------------------------------------------------------------------


def _construct(cls, label, positional, keywords, path, where, line, *, arg_path=None, skip=0):
    """``cls(*positional, **keywords)``; a problem with keyword ``k`` becomes a ConfigError at
    ``arg_path.k`` (default ``path.k``), any other at ``path``.

    The first ``skip`` positional arguments are supplied by nnrun (an optimizer's parameters).
    """
    arg_path = path if arg_path is None else arg_path
    params = _parameters(cls)
    if params is not None:
        names = list(params)
        variadic = any(p.kind == p.VAR_KEYWORD for p in _signature(cls).parameters.values())
        for key in keywords:
            if key in names[:skip]:
                raise where.error((*arg_path, key), f"{key} is supplied by nnrun; remove it", line)
            if key not in params and not variadic:
                shown = ", ".join(names[skip:]) or "none"
                message = (
                    f"{label} has no argument {key!r}{_suggest(key, names[skip:])}; "
                    f"its arguments: {shown}"
                )
                raise where.error((*arg_path, key), message, line)
        has_varargs = any(p.kind == p.VAR_POSITIONAL for p in _signature(cls).parameters.values())
        if len(positional) > len(names) and not has_varargs:
            message = (
                f"{label} takes at most {len(names) - skip} arguments "
                f"({', '.join(names[skip:])}), got {len(positional) - skip}"
            )
            raise where.error(path, message, line)
        by_position = names[: len(positional)]
        for key in keywords:
            if key in by_position:
                message = f"{label} got {key} both by position and as {key}:; give it once"
                raise where.error((*arg_path, key), message, line)
        missing = [
            n
            for n in names[len(positional) :]
            if params[n].default is inspect.Parameter.empty and n not in keywords
        ]
        if missing:
            listed = ", ".join(missing)
            raise where.error(path, f"{label} needs argument(s) {listed}; add them", line)
        # plainly annotated arguments (label_smoothing: float) are checked here: many classes
        # only use them later, in the middle of a training step
        given = {**dict(zip(names, positional)), **keywords}
        for key, value in given.items():
            if key in names[:skip]:
                continue
            problem = _type_problem(params[key].annotation, value)
            if problem is not None:
                where_path = (*arg_path, key) if key in keywords else path
                raise where.error(where_path, f"{label}: {key} {problem}", line)
    try:
        return cls(*positional, **keywords)
    except Exception as e:  # noqa: BLE001 - the constructor's own checks, custom ones included
        text = _exception_text(e)
        key = _argument_in(text, keywords)
        raise where.error((*arg_path, key) if key else path, f"{label}: {text}", line) from None


_SIMPLE_TYPES = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}


def _type_problem(annotation, value) -> str | None:
    """Why ``value`` does not fit a plain annotation (``float``, ``int | None``, ...); None when
    it fits or the annotation is anything else (then the class judges)."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    kinds = [part.strip() for part in str(text).split("|")]
    if not kinds or not all(k in _SIMPLE_TYPES or k == "None" for k in kinds):
        return None
    if value is None:
        return None if "None" in kinds else f"must be {' or '.join(kinds)}, got None"
    fits = [
        kind
        for kind in kinds
        if kind != "None"
        and isinstance(value, _SIMPLE_TYPES[kind])
        and (kind == "bool" or not isinstance(value, bool))
    ]
    if fits:
        return None
    return f"must be {' or '.join(kinds)}, got {value!r}"


# PyTorch's words in "Invalid learning rate: -1" and the like -> the argument's name.
_MESSAGE_WORDS = {"learning rate": "lr", "epsilon": "eps", "beta": "betas", "momentum": "momentum"}


def _argument_in(text: str, keywords: Mapping[str, Any]) -> str | None:
    """The keyword argument an error message is about, if it names one."""
    lowered = text.lower()
    for key in sorted(keywords, key=len, reverse=True):
        if re.search(rf"\b{re.escape(key.lower())}\b", lowered):
            return key
    for words, key in _MESSAGE_WORDS.items():
        if words in lowered and key in keywords:
            return key
    return None


def _import(target: str, path: tuple, where: _Where, line, *, kind: str):
    """The object at ``module.path:Name``, importing the module (this runs its code)."""
    module_name, _, attribute = target.partition(":")
    added = where.folder is not None and str(where.folder) not in sys.path
    if added:
        sys.path.append(str(where.folder))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        searched = f" or in {where.folder}" if where.folder else ""
        message = (
            f"cannot import {module_name!r} for the custom {kind} {target!r}: {e}; "
            f"install it or put it on PYTHONPATH{searched}"
        )
        raise where.error(path, message, line) from None
    except Exception as e:  # noqa: BLE001 - the module's own code failed
        message = f"importing {module_name!r} failed: {_exception_text(e)}"
        raise where.error(path, message, line) from None
    finally:
        if added:
            sys.path.remove(str(where.folder))
    obj: Any = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            public = [n for n in dir(obj) if not n.startswith("_")]
            message = f"{module_name!r} has no {attribute!r}{_suggest(part, public)}"
            raise where.error(path, message, line)
        obj = getattr(obj, part)
    # Only classes of the right kind are ever called: an import path can name code to import,
    # not any function to run with the config's arguments (`os:system`, `builtins:exec`).
    if kind in ("layer", "model", "loss") and not _is_layer_class(obj):
        message = f"{target!r} is not an nr.nn.Module subclass (a custom {kind} must be one)"
        raise where.error(path, message, line)
    if kind == "optimizer" and not (isinstance(obj, type) and issubclass(obj, nr.optim.Optimizer)):
        message = (
            f"{target!r} is not an nr.optim.Optimizer subclass (a custom optimizer must be one)"
        )
        raise where.error(path, message, line)
    if kind == "scheduler" and not (
        isinstance(obj, type)
        and not issubclass(obj, nr.optim.Optimizer)
        and all(callable(getattr(obj, m, None)) for m in ("step", "state_dict", "load_state_dict"))
    ):
        message = (
            f"{target!r} is not a learning-rate scheduler class (one with step, state_dict and "
            "load_state_dict, like those in nr.optim.lr_scheduler)"
        )
        raise where.error(path, message, line)
    return obj


def _named_class(name, namespace, choices, path, where, kind):
    if ":" in name:
        return _import(name, path, where, None, kind=kind)
    if name not in choices:
        hint = _suggest(name, choices) or f"; {kind}s: {', '.join(sorted(choices))}"
        raise where.error(path, f"unknown {kind} {name!r}{hint}")
    return getattr(namespace, name)


def _optimizer_names() -> list[str]:
    base = nr.optim.Optimizer
    return [
        n
        for n in dir(nr.optim)
        if isinstance(getattr(nr.optim, n), type)
        and issubclass(getattr(nr.optim, n), base)
        and getattr(nr.optim, n) is not base
    ]


def _scheduler_names() -> list[str]:
    module = nr.optim.lr_scheduler
    names = []
    for n in dir(module):
        cls = getattr(module, n)
        if n.startswith("_") or not isinstance(cls, type) or n in ("LRScheduler", "Optimizer"):
            continue
        if issubclass(cls, nr.optim.Optimizer) or not hasattr(cls, "step"):
            continue
        if hasattr(cls, "state_dict"):
            names.append(n)
    return names


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


def _nn(name: str):
    return getattr(nr.nn, name, None)


def _is_layer_class(obj) -> bool:
    return isinstance(obj, type) and issubclass(obj, nr.nn.Module)


def _signature(cls) -> inspect.Signature:
    return inspect.signature(cls)


def _parameters(cls) -> dict[str, inspect.Parameter] | None:
    """The named constructor parameters, or None when they cannot be read or are all variadic."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    named = {n: p for n, p in signature.parameters.items() if p.kind in kinds}
    return named or None


def _count(module) -> tuple[int, int]:
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _tensor(values, path, where):
    try:
        return nr.tensor(values, dtype=nr.float32)
    except (TypeError, ValueError, RuntimeError) as e:
        raise where.error(path, f"expected a list of numbers: {_exception_text(e)}") from None


def _suggest(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'ReLU'?)"`` for the closest choice (ignoring case), else ``""``."""
    by_lower = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


def _short(name: str) -> str:
    return name.rpartition(":")[2].rpartition(".")[2]


def _shape(shape, batch: int) -> str:
    dims = (batch, *tuple(shape)[1:])
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def _exception_text(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
