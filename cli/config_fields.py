"""Field types and base classes shared by the config sections (config_schema.py).

Numbers are strict where YAML could mislead: an int field refuses ``3.5``, ``true`` and ``"3"``;
a float field takes ints and refuses booleans, inf and nan.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictStr,
    field_validator,
)


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value}")  # noqa: TRY004 - pydantic wants ValueError
    return value


Int = Annotated[int, Strict()]
Float = Annotated[float, BeforeValidator(_not_bool), AllowInfNan(False)]
PositiveInt = Annotated[Int, Field(ge=1)]
PositiveFloat = Annotated[Float, Field(gt=0)]

IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")
IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")  # mypkg.models:Net
_MIN_WORDS = ("loss", "mse", "mae", "error")
_MAX_WORDS = ("acc", "accuracy", "f1", "precision", "recall")


def infer_mode(metric: str) -> Literal["min", "max"] | None:
    """``"min"`` for losses and errors, ``"max"`` for accuracy-like scores, None when unclear."""
    name = metric.lower()
    lower, higher = any(w in name for w in _MIN_WORDS), any(w in name for w in _MAX_WORDS)
    if lower == higher:
        return None
    return "min" if lower else "max"


def check_class_name(name: str) -> str:
    """A class name (``Linear``) or an import path (``mypkg.models:Net``); else ValueError."""
    if IDENTIFIER.match(name) or IMPORT_PATH.match(name):
        return name
    raise ValueError(
        f"expected a class name like 'Linear' or an import path like 'mypkg.models:Net', "
        f"got {name!r}"
    )


def mode_for(monitor: str | None, mode: str | None) -> str | None:
    """``mode`` if given, else inferred from the ``monitor`` metric's name; ValueError if unclear."""
    if mode is not None or monitor is None:
        return mode
    inferred = infer_mode(monitor)
    if inferred is None:
        raise ValueError(
            f"cannot tell from the metric's name whether {monitor!r} should go down or up; "
            "set mode: min or mode: max"
        )
    return inferred


class Section(BaseModel):
    """A config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Kwargs(BaseModel):
    """A ``{name: ..., <keyword arguments>}`` mapping; the arguments are in `kwargs`."""

    model_config = ConfigDict(extra="allow")

    name: StrictStr

    @field_validator("name")
    @classmethod
    def _class_name(cls, name: str) -> str:
        return check_class_name(name)

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})
