"""Load, override, validate and dump run configs.

    cfg = load_config("configs/digits_mlp.yaml", overrides=["train.epochs=3"])
    cfg.optimizer.lr, cfg.model.layers[1]      # 0.001, LayerSpec(type='Linear', ...)
    text = dump_config(cfg)                    # the resolved config; loads back equal

Every problem is reported at once as a `ConfigError` whose lines read
``file:line: dotted.path: message``; keys set with ``--set`` are reported as ``--set: path: ...``.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .config_data import DataSpec, FileSpec
from .config_errors import did_you_mean, dotted, explain, field_names, key_problems, model_at, show
from .config_fields import infer_mode
from .config_model import LayerSpec, ModelSpec, parse_layer
from .config_schema import (
    Bound,
    CheckpointSpec,
    Config,
    EarlyStopping,
    LossSpec,
    OptimizerSpec,
    SchedulerSpec,
    TrainSpec,
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
    "Problem",
    "SchedulerSpec",
    "TrainSpec",
    "apply_overrides",
    "dump_config",
    "infer_mode",
    "load_config",
    "parse_config",
    "parse_layer",
]

OVERRIDE = "--set"  # the "file" of problems with keys given on the command line


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
            Problem(source, None, "", f"expected YAML text or a mapping, got {show(config)}")
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
            if here[part] is None:
                here[part] = {}
            elif isinstance(here[part], str):
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
            raise _override_error(key, f"{where} is {show(here)}, which has no key {part!r}")


def _expand_shorthand(path: list[str], value: str, next_key: str) -> Any:
    """``ReLU`` -> ``{ReLU: {}}`` and ``CrossEntropyLoss`` -> ``{name: ...}`` to set keys in them."""
    if next_key == value and path[:2] == ["model", "layers"]:
        return {value: {}}
    if path == ["loss"]:
        return {"name": value}
    return value


def _check_new_key(path: list[str], part: str, key: str) -> None:
    model = model_at(path)
    if model is None or model.model_config.get("extra") != "forbid":
        return
    allowed = field_names(model)
    if part not in allowed:
        where = ".".join(path) or "the top level"
        message = f"{where} has no key {part!r}{did_you_mean(part, allowed)}"
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
            Problem(
                source,
                None,
                "",
                "the config is empty; it needs data:, model:, loss: and optimizer:",
            )
        )
    if not isinstance(data, Mapping):
        message = (
            f"the top level must be a mapping of sections (data:, model:, ...), got {show(data)}"
        )
        raise ConfigError(Problem(source, line_of(lines, ()), "", message))
    overrides = list(overrides)
    data = apply_overrides(data, overrides) if overrides else dict(data)
    overridden = [tuple(p.strip() for p in o.partition("=")[0].split(".")) for o in overrides]
    data.setdefault("name", default_name)

    def locate(path: tuple) -> tuple[str, int | None]:
        parts = tuple(str(p) for p in path)
        if any(parts[: len(o)] == o for o in overridden):
            return OVERRIDE, None
        return source, line_of(lines, parts) if lines else None

    problems = [
        Problem(*locate(path), dotted(path), message) for path, message in key_problems(data)
    ]
    if not problems:
        try:
            config = Config.model_validate(data)
        except ValidationError as e:
            problems = [
                Problem(*locate(path), dotted(path), message) for path, message in explain(e, data)
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
