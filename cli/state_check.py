"""Checks that a loaded training state fits the objects it is loaded into.

A checkpoint holds data only (no code), but data that does not fit still breaks a run later, deep
inside an optimizer or scheduler step: a scheduler state with a string where a number belongs, an
optimizer moment of the wrong shape, a NaN in a weight. `Loop.restore` runs these checks so that
such a checkpoint is refused at once with a message naming the file and the entry.

    problem = conforms(scheduler.state_dict(), saved)   # None, or "last_epoch is 'x' ..."
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import nnrun.engine as nr
import numpy as np


def conforms(fresh: Any, loaded: Any, path: str = "") -> str | None:
    """The first way ``loaded`` differs in structure from ``fresh`` (a freshly built object's
    state), or None. Numbers must stay numbers (finite unless ``fresh`` is not), strings must be
    equal, containers must have the same keys and lengths, arrays the same shape and dtype kind."""
    where = path or "the state"
    if isinstance(fresh, bool) or fresh is None:
        ok = type(loaded) is type(fresh)
        return None if ok else f"{where} is {_show(loaded)}, expected {_show(fresh)}"
    if isinstance(fresh, (int, float)):
        if isinstance(loaded, bool) or not isinstance(loaded, (int, float)):
            return f"{where} is {_show(loaded)}, expected a number"
        if isinstance(fresh, int) and isinstance(loaded, float) and not loaded.is_integer():
            return f"{where} is {loaded!r}, expected a whole number"
        if not math.isfinite(loaded) and math.isfinite(fresh):
            return f"{where} is {loaded!r}, expected a finite number"
        return None
    if isinstance(fresh, (str, bytes)):
        return None if loaded == fresh else f"{where} is {_show(loaded)}, expected {fresh!r}"
    if isinstance(fresh, dict):
        if not isinstance(loaded, dict):
            return f"{where} is {_show(loaded)}, expected a mapping"
        if set(map(str, loaded)) != set(map(str, fresh)):
            extra = sorted(map(str, set(map(str, loaded)) - set(map(str, fresh))))
            missing = sorted(map(str, set(map(str, fresh)) - set(map(str, loaded))))
            what = f"unexpected keys {extra}" if extra else f"missing keys {missing}"
            return f"{where} has {what}"
        by_name = {str(k): v for k, v in loaded.items()}
        for key, value in fresh.items():
            problem = conforms(value, by_name[str(key)], f"{path}.{key}" if path else str(key))
            if problem:
                return problem
        return None
    if isinstance(fresh, (list, tuple)):
        if not isinstance(loaded, (list, tuple)) or len(loaded) != len(fresh):
            return f"{where} is {_show(loaded)}, expected {len(fresh)} entries"
        for i, (a, b) in enumerate(zip(fresh, loaded)):
            problem = conforms(a, b, f"{path}.{i}" if path else str(i))
            if problem:
                return problem
        return None
    if isinstance(fresh, (nr.Tensor, np.ndarray)):
        a, b = _array(fresh), _array(loaded)
        if b is None or a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            return f"{where} is {_show(loaded)}, expected an array {a.dtype} {a.shape}"
        return None
    return None  # a value kind no built-in state holds: leave it to the object


_SQUARES = {"exp_avg_sq", "max_exp_avg_sq", "square_avg", "sum"}  # Adam(W), RMSprop, Adagrad


def check_optimizer(optimizer, saved: Any) -> str | None:
    """Before ``optimizer.load_state_dict(saved)``: the parameter groups' options must conform
    to the optimizer's own."""
    if not isinstance(saved, dict) or not isinstance(saved.get("param_groups"), list):
        return "the optimizer state has no param_groups"
    if not isinstance(saved.get("state"), dict):
        return "the optimizer state has no per-parameter state"
    fresh = optimizer.state_dict()["param_groups"]
    groups = saved["param_groups"]
    if len(groups) != len(fresh) or not all(isinstance(g, dict) for g in groups):
        return f"optimizer.param_groups has {len(groups)} groups, expected {len(fresh)}"
    for i, (mine, theirs) in enumerate(zip(fresh, groups)):
        problem = conforms(present(mine, theirs), theirs, f"optimizer.param_groups.{i}")
        if problem:
            return problem
    return None


def present(fresh: dict, loaded: dict) -> dict:
    """``fresh`` without the keys ``loaded`` leaves out (a state written before an option
    existed keeps that option's current value); keys only ``loaded`` has stay unexpected."""
    names = set(map(str, loaded))
    return {k: v for k, v in fresh.items() if str(k) in names}


def check_loaded_optimizer(optimizer) -> str | None:
    """After loading: each parameter's state (moments, step) must fit the parameter: the same
    shape, finite values, and the keys the optimizer's step uses with its group's options."""
    for group_index, group in enumerate(optimizer.param_groups):
        expected = _state_keys(optimizer, group)
        for i, param in enumerate(group["params"]):
            state = optimizer.state.get(param)
            if not state:
                continue
            where = f"state of parameter {i} (group {group_index})"
            if expected is not None and set(state) != expected:
                return f"{where} has keys {sorted(state)}, expected {sorted(expected)}"
            for key, value in state.items():
                array = _array(value)
                if key == "step":
                    number = value if isinstance(value, (int, float)) else None
                    if array is not None and array.size == 1:
                        number = float(array.reshape(-1)[0])
                    if number is None or not math.isfinite(number) or number < 0:
                        return f"{where}: step is {_show(value)}"
                    continue
                if array is None or tuple(array.shape) != tuple(param.shape):
                    return f"{where}: {key} is {_show(value)}, expected shape {tuple(param.shape)}"
                if array.dtype.kind == "f" and not np.isfinite(array).all():
                    return f"{where}: {key} holds non-finite values"
                if key in _SQUARES and (array < 0).any():  # sqrt() of them would be NaN
                    return f"{where}: {key} holds negative values (it averages squares)"
    return None


def nonfinite_parameter(model) -> str | None:
    """The name of the first parameter of ``model`` holding NaN or inf, or None."""
    for name, param in model.named_parameters():
        data = param.detach()
        if data.dtype.is_floating_point and not bool(nr.isfinite(data).all()):
            return name
    return None


def _state_keys(optimizer, group: dict) -> set[str] | None:
    """The state keys one step of ``optimizer``'s class creates with ``group``'s options, found
    on a throwaway parameter; None when that cannot be worked out (a custom optimizer)."""
    try:
        accepted = inspect.signature(type(optimizer)).parameters
        options = {k: v for k, v in group.items() if k in accepted and k != "params"}
        probe = nr.nn.Parameter(nr.zeros(1))
        other = type(optimizer)([probe], **options)
        probe.grad = nr.ones(1)
        other.step()
        return set(other.state[probe])
    except Exception:  # noqa: BLE001 - a custom optimizer: no key check
        return None


def _array(value) -> np.ndarray | None:
    if isinstance(value, nr.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    return None


def _show(value: Any) -> str:
    array = _array(value)
    if array is not None:
        return f"an array {array.dtype} {tuple(array.shape)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
