"""Load, override, validate and dump run configs.

    cfg = load_config("configs/digits_mlp.yaml", overrides=["train.epochs=3"])
    cfg.optimizer.lr, cfg.model.layers[1]      # 0.001, LayerSpec(type='Linear', ...)
    text = dump_config(cfg)                    # the resolved config; loads back equal

Every problem is reported at once as a `ConfigError` whose lines read
``file:line: dotted.path: message``; keys set with ``--set`` are reported as ``--set: path: ...``.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from .config_schema import (
    Bound,
    CheckpointSpec,
    Config,
    DataSpec,
    EarlyStopping,
    FileSpec,
    LayerSpec,
    LossSpec,
    ModelSpec,
    OptimizerSpec,
    SchedulerSpec,
    TrainSpec,
    infer_mode,
)
from .config_yaml import dump_yaml, line_of, parse_scalar, read_yaml
from .errors import ConfigError, Problem

__all__ = [
    "Bound",
    "CheckpointSpec",
    "Config",
    "ConfigError",
    "DataSpec",
    "EarlyStopping",
    "FileSpec",
    "LayerSpec",
    "LossSpec",
    "ModelSpec",
    "OptimizerSpec",
    "SchedulerSpec",
    "TrainSpec",
    "apply_overrides",
    "dump_config",
    "infer_mode",
    "load_config",
    "parse_config",
]

OVERRIDE = "--set"  # the "file" of problems with keys given on the command line
_PYDANTIC_TAG = re.compile(r"^<.*>$|^[\w-]*\[.*\]$")  # our union tags, pydantic's "[key]" etc.


def load_config(path: str | os.PathLike, overrides: Iterable[str] = ()) -> Config:
    """Read, override (``"train.epochs=3"``) and validate the YAML config at ``path``.

    ``name`` defaults to the file's stem. Raises `ConfigError`.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(Problem(source, None, "", "no such file")) from None
    except IsADirectoryError:
        raise ConfigError(Problem(source, None, "", "is a directory, not a YAML file")) from None
    except UnicodeDecodeError as e:
        message = f"not UTF-8 text (byte {e.start}); is this a YAML file?"
        raise ConfigError(Problem(source, None, "", message)) from None
    except OSError as e:
        raise ConfigError(Problem(source, None, "", f"cannot read: {e.strerror or e}")) from None
    data, lines = read_yaml(text, source)
    stem = re.sub(r"[^\w.+-]", "-", Path(path).stem).lstrip(".+-") or "run"
    return _validate(data, source, lines, overrides, default_name=stem)


def parse_config(
    config: str | Mapping[str, Any], source: str = "<string>", overrides: Iterable[str] = ()
) -> Config:
    """Validate a config given as YAML text or as a mapping; ``source`` names it in errors."""
    if isinstance(config, str):
        data, lines = read_yaml(config, source)
    elif isinstance(config, Mapping):
        data, lines = config, {}
    else:
        raise ConfigError(
            Problem(source, None, "", f"expected YAML text or a mapping, got {_show(config)}")
        )
    return _validate(data, source, lines, overrides, default_name="run")


def dump_config(config: Config) -> str:
    """The resolved config (defaults filled in) as YAML that loads back to an equal `Config`."""
    return dump_yaml(config.to_dict())


# --- overrides -------------------------------------------------------------------------------------


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of the raw ``config`` with each ``"dotted.key=value"`` set; ``value`` is YAML.

    Missing mappings on the way are created; list items are addressed by index
    (``model.layers.1.Linear.out_features=64``). A key a section does not have, an index out of
    range, or a path through a scalar raises `ConfigError`.
    """
    result = copy.deepcopy(dict(config))
    for override in overrides:
        key, sep, text = override.partition("=")
        parts = [p.strip() for p in key.split(".")]
        if not sep or not all(parts):
            raise _override_error(key or override, f"expected KEY.PATH=VALUE, got {override!r}")
        try:
            value = parse_scalar(text)
        except ValueError as e:
            raise _override_error(key, str(e)) from None
        _set(result, parts, value, key)
    return result


def _set(node: dict[str, Any], parts: list[str], value: Any, key: str) -> None:
    here: Any = node
    for depth, part in enumerate(parts):
        path, last = parts[:depth], depth == len(parts) - 1
        if isinstance(here, dict):
            if part not in here:
                _check_new_key(path, part, key)
                if not last:
                    here[part] = {}
            if last:
                here[part] = value
                return
            if isinstance(here[part], str):
                here[part] = _expand_shorthand(path + [part], here[part], parts[depth + 1])
            here = here[part]
        elif isinstance(here, list):
            where = ".".join(path)
            if not re.fullmatch(r"-?[0-9]+", part):
                raise _override_error(
                    key, f"{where} is a list; address its items by index, got {part!r}"
                )
            index = int(part)
            if not -len(here) <= index < len(here):
                raise _override_error(
                    key, f"{where} has {len(here)} items (0..{len(here) - 1}), got {index}"
                )
            if last:
                here[index] = value
                return
            if isinstance(here[index], str):
                here[index] = _expand_shorthand(path + [part], here[index], parts[depth + 1])
            here = here[index]
        else:
            where = ".".join(path)
            raise _override_error(key, f"{where} is {_show(here)}, which has no key {part!r}")


def _expand_shorthand(path: list[str], value: str, next_key: str) -> Any:
    """``ReLU`` -> ``{ReLU: {}}`` and ``CrossEntropyLoss`` -> ``{name: ...}`` to set keys in them."""
    if next_key == value and path[:2] == ["model", "layers"]:
        return {value: {}}
    if path == ["loss"]:
        return {"name": value}
    return value


def _check_new_key(path: list[str], part: str, key: str) -> None:
    model = _model_at(path)
    if model is None or model.model_config.get("extra") != "forbid":
        return
    allowed = _field_names(model)
    if part not in allowed:
        where = ".".join(path) or "the top level"
        message = f"{where} has no key {part!r}{_did_you_mean(part, allowed)}"
        raise _override_error(key, message)


def _override_error(key: str, message: str) -> ConfigError:
    return ConfigError(Problem(OVERRIDE, None, key, message))


# --- validation and its errors -------------------------------------------------------------------------


def _validate(
    data: Any,
    source: str,
    lines: dict[tuple[str, ...], int],
    overrides: Iterable[str],
    *,
    default_name: str,
) -> Config:
    if data is None:
        raise ConfigError(
            Problem(source, None, "", "the config is empty; see DESIGN.md for an example")
        )
    if not isinstance(data, Mapping):
        message = (
            f"the top level must be a mapping of sections (data:, model:, ...), got {_show(data)}"
        )
        raise ConfigError(Problem(source, line_of(lines, ()), "", message))
    overrides = list(overrides)
    data = apply_overrides(data, overrides) if overrides else dict(data)
    overridden = [tuple(o.partition("=")[0].strip().split(".")) for o in overrides]
    data.setdefault("name", default_name)

    def locate(path: tuple) -> tuple[str, int | None]:
        parts = tuple(str(p) for p in path)
        if any(parts[: len(o)] == o for o in overridden):
            return OVERRIDE, None
        return source, line_of(lines, parts) if lines else None

    problems = [
        Problem(*locate(path), _dotted(path), message) for path, message in _key_problems(data)
    ]
    if not problems:
        try:
            config = Config.model_validate(data)
        except ValidationError as e:
            problems = [
                Problem(*locate(path), _dotted(path), message)
                for path, message in _explain(e, data)
            ]
        except RecursionError:
            problems = [Problem(source, None, "", "the config is nested too deeply")]
    if problems:
        unique = list(dict.fromkeys(problems))
        raise ConfigError(sorted(unique, key=lambda p: (p.line is None, p.line or 0)))

    config._source, config._lines = source, dict(lines)
    for i, layer in enumerate(config.model.layers or ()):
        from_file = locate(("model", "layers", i))[0] == source
        layer.line = lines.get(("model", "layers", str(i))) if from_file else None
    return config


def _key_problems(data: Any) -> list[tuple[tuple, str]]:
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
                problems.append(((*path, key), f"keys must be strings, got {_show(key)}; quote it"))
            else:
                stack.append((value, (*path, key), False))
    return problems


def _explain(error: ValidationError, data: Any) -> list[tuple[tuple, str]]:
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
            siblings = [k for k in parent if isinstance(k, str)] if isinstance(parent, dict) else []
            typo = difflib.get_close_matches(str(path[-1]) if path else "", siblings, n=1)
            if typo:
                message += f" (is {typo[0]!r} a typo?)"
        elif kind in ("value_error", "assertion_error"):
            message = message.split(", ", 1)[-1]
        else:
            message = re.sub(r"a valid dictionary( or instance of \w+)?", "a mapping", message)
            message = message.replace("Input should be", "should be")
            if "input" in err and kind not in ("dataset_type", "recursion_loop"):
                message += f", got {_show(err['input'])}"
        explained.append((path, message))
    return explained


def _user_path(loc: tuple, data: Any) -> tuple[tuple, Any]:
    """Drop the parts of pydantic's ``loc`` that are not in the data (union tags); return the
    path and the parent mapping of its last part (for typo hints)."""
    path: list = []
    here, parent = data, None
    for part in loc:
        is_key = isinstance(here, dict) and part in here
        is_index = (
            isinstance(here, list) and isinstance(part, int) and -len(here) <= part < len(here)
        )
        if not (is_key or is_index) and isinstance(part, str) and _PYDANTIC_TAG.match(part):
            continue
        path.append(part)
        parent, here = here, (here[part] if is_key or is_index else None)
    return tuple(path), parent


def _unknown_key(path: tuple) -> tuple[str, str | None]:
    """The message for an unknown key, and the key it is probably a typo of."""
    key = str(path[-1]) if path else "?"
    model = _model_at([str(p) for p in path[:-1]])
    allowed = _field_names(model) if model else []
    close = _closest(key, allowed)
    message = f"unknown key {key!r}" + _did_you_mean(key, allowed)
    if model is DataSpec and not close:
        message += " (arguments of a built-in dataset go under data.args)"
    elif allowed and not close:
        message += "; expected one of " + ", ".join(allowed)
    return message, close


def _closest(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = _closest(word, choices)
    return f"; did you mean {close!r}?" if close else ""


def _field_names(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_at(path: Iterable[str]) -> type[BaseModel] | None:
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


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def _show(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})" if not isinstance(value, (str, int, float)) else text
