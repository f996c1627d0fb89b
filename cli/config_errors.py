"""Turn pydantic's validation errors into messages about the keys the user wrote.

pydantic reports ``loc`` paths through union tags and says "Input should be ..."; here each error
becomes ``(path, message)``, with a did-you-mean for unknown keys and the value received.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from .config_data import DataSpec
from .config_schema import Config

_ABSENT = object()  # a key the data does not have
_PYDANTIC_TAG = re.compile(r"^<.*>$|^[\w-]*\[.*\]$")  # our union tags, pydantic's "[key]" etc.


def key_problems(data: Any) -> list[tuple[tuple, str]]:
    """Keys that are not strings, and containers that contain themselves."""
    problems: list[tuple[tuple, str]] = []
    done: set[int] = set()
    on_path: set[int] = set()
    stack: list[tuple[Any, tuple, bool]] = [(data, (), False)]
    while stack:
        node, path, leaving = stack.pop()
        if leaving:
            on_path.discard(id(node))
            done.add(id(node))
            continue
        if not isinstance(node, (dict, list, tuple)) or id(node) in done:
            continue
        if id(node) in on_path:
            problems.append((path, "this value contains itself"))
            continue
        on_path.add(id(node))
        stack.append((node, path, True))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if isinstance(node, dict) and not isinstance(key, str):
                problems.append(((*path, key), f"keys must be strings, got {show(key)}; quote it"))
            else:
                stack.append((value, (*path, key), False))
    return problems


def explain(error: ValidationError, data: Any) -> list[tuple[tuple, str]]:
    """(path, message) for each pydantic error, with paths as the user wrote them."""
    errors = [(_user_path(err["loc"], data), err) for err in error.errors(include_url=False)]
    unknown = {
        path: _unknown_key(path) for (path, _), err in errors if err["type"] == "extra_forbidden"
    }
    suggested = {path[:-1] + (s,) for path, (_, s) in unknown.items() if s}
    explained = []
    for (path, parent), err in errors:
        kind, message = err["type"], err["msg"]
        if kind == "extra_forbidden":
            message = unknown[path][0]
        elif kind == "missing":
            if path in suggested:  # already said: "unknown key 'optimzer'; did you mean ...?"
                continue
            message = f"required key {path[-1]!r} is missing" if path else "required"
            typo = _typo_of(path, parent)
            if typo:
                message += f" (is {typo!r} a typo?)"
        elif kind in ("value_error", "assertion_error"):
            message = message.split(", ", 1)[-1]
        else:
            message = re.sub(r"a valid dictionary( or instance of \w+)?", "a mapping", message)
            message = message.replace("Input should be", "should be")
            if "input" in err and kind not in ("dataset_type", "recursion_loop"):
                message += f", got {show(err['input'])}"
        explained.append((path, message))
    return explained


def _user_path(loc: tuple, data: Any) -> tuple[tuple, Any]:
    """Drop the parts of pydantic's ``loc`` that are not in the data (union tags); return the
    path and the parent mapping of its last part (for typo hints)."""
    path: list = []
    here, parent = data, None
    for part in loc:
        if here is not _ABSENT and not isinstance(here, (dict, list, tuple)):
            break  # into a value the user wrote as a scalar (a layer's "type")
        is_key = isinstance(here, dict) and part in here
        is_index = (
            isinstance(here, (list, tuple))
            and isinstance(part, int)
            and -len(here) <= part < len(here)
        )
        if not (is_key or is_index) and isinstance(part, str) and _PYDANTIC_TAG.match(part):
            continue
        path.append(part)
        parent, here = here, (here[part] if is_key or is_index else _ABSENT)
    return tuple(path), parent


def _unknown_key(path: tuple) -> tuple[str, str | None]:
    """The message for an unknown key, and the key it is probably a typo of."""
    key = str(path[-1]) if path else "?"
    model = model_at([str(p) for p in path[:-1]])
    allowed = field_names(model) if model else []
    close = _closest(key, allowed)
    message = f"unknown key {key!r}" + did_you_mean(key, allowed)
    if model is DataSpec and not close:
        message += " (arguments of a built-in dataset go under data.args)"
    elif allowed and not close:
        message += "; expected one of " + ", ".join(allowed)
    return message, close


def _typo_of(path: tuple, parent: Any) -> str | None:
    """A key beside the missing ``path[-1]`` that the section does not know and looks like it."""
    if not path or not isinstance(parent, dict):
        return None
    model = model_at([str(p) for p in path[:-1]])
    known = set(field_names(model)) if model else set()
    strangers = [k for k in parent if isinstance(k, str) and k not in known]
    missing = str(path[-1])
    prefixed = [k for k in strangers if k.startswith(missing) or missing.startswith(k)]
    return _closest(missing, strangers) or (prefixed[0] if prefixed else None)


def _closest(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = _closest(word, choices)
    return f"; did you mean {close!r}?" if close else ""


def field_names(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def model_at(path: Iterable[str]) -> type[BaseModel] | None:
    """The section model found at a raw key path (``["train", "early_stopping"]``), if any."""
    tp: Any = Config
    for part in path:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {f.alias or n: f for n, f in tp.model_fields.items()}
            if part not in fields:
                return None
            tp = fields[part].annotation
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    """The one model or container inside ``Annotated[...]`` and ``X | None``."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [_unwrap(a) for a in get_args(tp) if a is not type(None)]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            if len(models) == 1:
                return models[0]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def show(value: Any) -> str:
    """A value as the user wrote it, shortened: ``'lots'``, ``3``, ``null``, ``[1, 2] (list)``."""
    if value is None:
        return "null"
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})" if not isinstance(value, (str, int, float)) else text
