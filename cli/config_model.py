"""The ``model`` section: a list of layers (an ``nn.Sequential``) or a custom module."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    field_validator,
    model_serializer,
    model_validator,
)

from .config_fields import IDENTIFIER, IMPORT_PATH, Section, check_class_name


class LayerSpec(BaseModel):
    """One entry of ``model.layers``: a class name, its arguments, and its line in the config.

    ``args`` is a dict of keyword arguments or a list of positional ones. Built from any of::

        - Flatten                                    # type="Flatten", args={}
        - Linear: {out_features: 128}                # args={"out_features": 128}
        - Dropout: 0.2                               # args=[0.2]
        - {class: mypkg.layers:Block, args: {...}}   # type="mypkg.layers:Block"

    Equality ignores ``line``.
    """

    model_config = ConfigDict(extra="forbid")

    type: StrictStr
    args: dict[str, Any] | list[Any] = Field(default_factory=dict)
    line: int | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, entry: Any) -> Any:
        if isinstance(entry, dict) and "type" in entry:  # LayerSpec(type=..., args=...)
            return entry
        return parse_layer(entry)

    @field_validator("type")
    @classmethod
    def _class_name(cls, name: str) -> str:
        return check_class_name(name)

    @property
    def is_import_path(self) -> bool:
        return ":" in self.type

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LayerSpec):
            return NotImplemented
        return (self.type, self.args) == (other.type, other.args)

    @model_serializer(mode="plain")
    def _shorthand(self) -> Any:
        if self.is_import_path:
            return {"class": self.type, "args": self.args} if self.args else {"class": self.type}
        return {self.type: self.args} if self.args else self.type


def parse_layer(entry: Any) -> dict[str, Any]:
    """``{"type": ..., "args": ...}`` from one YAML layer entry; ValueError says what is wrong."""
    if isinstance(entry, str):
        return {"type": entry, "args": {}}
    if not isinstance(entry, dict) or not entry:
        raise ValueError(
            "a layer is a class name (- ReLU) or a one-key mapping (- Linear: {out_features: 10}), "
            f"got {entry!r}"
        )
    if "class" in entry:
        unexpected = [str(k) for k in entry if k not in ("class", "args")]
        if unexpected:
            raise ValueError(
                "a custom layer is {class: module.path:Name, args: {...}}; unexpected key(s) "
                + ", ".join(repr(k) for k in unexpected)
            )
        name = entry["class"]
        if not isinstance(name, str) or ":" not in name:
            raise ValueError(
                f"class: expected an import path like 'mypkg.layers:Block', got {name!r}"
            )
        return {"type": name, "args": _layer_args(name, entry.get("args"))}
    if len(entry) != 1:
        keys = ", ".join(repr(str(k)) for k in entry)
        arguments = [k for k in entry if isinstance(k, str) and k[:1].islower()]
        fix = (
            "indent the arguments under the class name: '- Linear: {out_features: 10}'"
            if arguments
            else "give each layer its own '- ' entry"
        )
        raise ValueError(
            f"a layer mapping has exactly one key, the layer's class, got {keys}; {fix}"
        )
    ((name, value),) = entry.items()
    if not isinstance(name, str):
        raise ValueError(f"a layer's class name must be a string, got {name!r}")  # noqa: TRY004
    return {"type": name, "args": _layer_args(name, value)}


def _layer_args(name: str, value: Any) -> dict[str, Any] | list[Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str) or not IDENTIFIER.match(k)]
        if bad:
            raise ValueError(f"{name}: argument names must be identifiers, got {bad[0]!r}")
        return dict(value)
    if isinstance(value, (list, tuple)):
        return list(value) or {}
    return [value]  # `Dropout: 0.2` is one positional argument


class ModelSpec(Section):
    """Either ``layers`` (an ``nn.Sequential``) or a custom module ``class`` with ``args``."""

    model_config = ConfigDict(populate_by_name=True)

    layers: list[LayerSpec] | None = None
    class_: StrictStr | None = Field(default=None, alias="class")
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("class_")
    @classmethod
    def _import_path(cls, name: str | None) -> str | None:
        if name is not None and not IMPORT_PATH.match(name):
            raise ValueError(f"expected an import path like 'mypkg.models:Net', got {name!r}")
        return name

    @model_validator(mode="after")
    def _one_form(self) -> ModelSpec:
        if (self.layers is None) == (self.class_ is None):
            raise ValueError(
                "give either layers: (a list of layers) or class: (a custom module), not "
                + ("both" if self.layers is not None else "neither")
            )
        if self.layers is not None and not self.layers:
            raise ValueError("layers: the list is empty; give at least one layer")
        if self.layers is not None and self.args:
            raise ValueError("args: is for a custom class:; give each layer its own arguments")
        return self

    @model_serializer(mode="wrap")
    def _one_form_only(self, handler) -> dict[str, Any]:
        data = handler(self)
        keep = ("layers",) if self.layers is not None else ("class", "class_", "args")
        return {k: v for k, v in data.items() if k in keep}
