"""Config sections -> the training objects: the loss, the optimizer and the learning-rate
scheduler with when the loop steps it (`Schedule`). Re-exported by build.py, whose docstring
describes the config side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import nnrun.engine as nr
import nnrun.engine.nn
import nnrun.engine.optim  # noqa: F401

from .build_common import (
    _check_module,
    _construct,
    _exception_text,
    _import,
    _is_layer_class,
    _nn,
    _short,
    _suggest,
    _Where,
)
from .config_fields import infer_mode
from .errors import ConfigError


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


def _tensor(values, path, where):
    try:
        return nr.tensor(values, dtype=nr.float32)
    except (TypeError, ValueError, RuntimeError) as e:
        raise where.error(path, f"expected a list of numbers: {_exception_text(e)}") from None
