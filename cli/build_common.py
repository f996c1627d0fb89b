"""What the config builders share (build.py, build_training.py): locating a problem in the
config file (`_Where`), importing a ``module.path:Name`` and checking what it names, calling a
class with a config's arguments (`_construct`), and the words of the messages."""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nnrun.engine as nr
import nnrun.engine.nn
import nnrun.engine.optim  # noqa: F401

from .config_yaml import line_of
from .errors import ConfigError, Problem


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


def _check_module(obj, label: str, path: tuple, where: _Where, line) -> None:
    if not isinstance(obj, nr.nn.Module):
        message = f"{label} made a {type(obj).__name__}, not an nr.nn.Module"
        raise where.error(path, message, line)


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


def _suggest(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'ReLU'?)"`` for the closest choice (ignoring case), else ``""``."""
    by_lower = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


def _short(name: str) -> str:
    return name.rpartition(":")[2].rpartition(".")[2]


def _exception_text(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
