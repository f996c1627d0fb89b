"""The pydantic models of a run config: one per YAML section, defaults filled in on validation.

Numbers are strict where YAML could mislead: an int field refuses ``3.5``, ``true`` and ``"3"``;
a float field takes ints and refuses booleans, inf and nan. Sections refuse unknown keys; mappings
that are keyword arguments (``optimizer``, ``loss``, a data file spec) keep them.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Strict,
    StrictBool,
    StrictStr,
    Tag,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from .config_yaml import line_of
from .errors import ConfigError, Problem


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value}")  # noqa: TRY004 - pydantic wants ValueError
    return value


Int = Annotated[int, Strict()]
Float = Annotated[float, BeforeValidator(_not_bool), AllowInfNan(False)]
PositiveInt = Annotated[Int, Field(ge=1)]
PositiveFloat = Annotated[Float, Field(gt=0)]

_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_RUN_NAME = re.compile(r"^\w[\w.+-]*$")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:[0-9]+)?)$")
_FORMAT_BY_SUFFIX = {".npz": "npz", ".npy": "npy", ".csv": "csv", ".csv.gz": "csv"}
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
    if _IDENTIFIER.match(name) or _IMPORT_PATH.match(name):
        return name
    raise ValueError(
        f"expected a class name like 'Linear' or an import path like 'mypkg.models:Net', "
        f"got {name!r}"
    )


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


# --- data -------------------------------------------------------------------------------------


class FileSpec(BaseModel):
    """A dataset read from files: ``{format: npz, path: data.npz, x: features, y: labels}``.

    Format-specific keys beyond the typed ones are kept (``spec.model_extra``). ``format`` is
    inferred from the path's suffix (``.npz``, ``.npy``, ``.csv``, ``.csv.gz``) when omitted.
    """

    model_config = ConfigDict(extra="allow")

    format: Literal["npz", "npy", "csv", "idx", "cifar10"] | None = None
    path: StrictStr | None = None
    x: StrictStr | None = None  # npz: the features' array name; npy: the features' file
    y: StrictStr | None = None
    target: StrictStr | Int | None = None  # csv: the target column's name or index
    images: StrictStr | None = None  # idx: the images file
    labels: StrictStr | None = None

    @model_validator(mode="after")
    def _complete(self) -> FileSpec:
        if self.format is None:
            path = (self.path or "").lower()
            self.format = next((f for s, f in _FORMAT_BY_SUFFIX.items() if path.endswith(s)), None)
            if self.format is None:
                raise ValueError(
                    "say which format the file is in: add format: npz, npy, csv, idx or cifar10"
                )
        if self.path is None:
            if self.format == "npy" and self.x and self.y:
                return self
            if self.format == "idx" and self.images and self.labels:
                return self
            alternative = {"npy": " (or x: and y: files)", "idx": " (or images: and labels:)"}
            message = f"format {self.format} needs path:{alternative.get(self.format, '')}"
            typo = difflib.get_close_matches("path", list(self.model_extra or {}), n=1)
            raise ValueError(message + (f" (is {typo[0]!r} a typo?)" if typo else ""))
        return self

    @model_serializer(mode="wrap")
    def _without_unset_nones(self, handler) -> dict[str, Any]:
        given = self.model_fields_set | set(self.model_extra or {})
        return {k: v for k, v in handler(self).items() if v is not None or k in given}


def _dataset_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "<name>"
    if isinstance(value, (dict, FileSpec)):
        return "<file>"
    return None


# Tags start with "<" so error paths can drop them (see config.py).
DatasetRef = Annotated[
    Annotated[StrictStr, Field(min_length=1), Tag("<name>")] | Annotated[FileSpec, Tag("<file>")],
    Discriminator(
        _dataset_kind,
        custom_error_type="dataset_type",
        custom_error_message="expected a built-in dataset name or a mapping {format: ..., path: ...}",
    ),
]


class DataSpec(Section):
    dataset: DatasetRef
    args: dict[str, Any] = Field(default_factory=dict)  # arguments of a built-in dataset
    val_split: Annotated[Float, Field(ge=0, lt=1)] = 0.2
    batch_size: PositiveInt = 32
    shuffle: StrictBool = True
    normalize: StrictBool = True
    num_workers: Annotated[Int, Field(ge=0)] = 0
    validation: FileSpec | None = None
    test: FileSpec | None = None

    @model_validator(mode="after")
    def _one_validation_source(self) -> DataSpec:
        if self.validation is not None and self.val_split > 0:
            if "val_split" in self.model_fields_set:
                raise ValueError("give either val_split or a validation file, not both")
            self.val_split = 0.0
        return self


# --- model --------------------------------------------------------------------------------------


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
        raise ValueError(
            f"a layer mapping has exactly one key, the layer's class, got {keys}; indent the "
            "arguments under the class name: '- Linear: {out_features: 10}'"
        )
    ((name, value),) = entry.items()
    if not isinstance(name, str):
        raise ValueError(f"a layer's class name must be a string, got {name!r}")  # noqa: TRY004
    return {"type": name, "args": _layer_args(name, value)}


def _layer_args(name: str, value: Any) -> dict[str, Any] | list[Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str) or not _IDENTIFIER.match(k)]
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
        if name is not None and not _IMPORT_PATH.match(name):
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
            raise ValueError("args: belongs to a custom class:; layers take their own arguments")
        return self

    @model_serializer(mode="wrap")
    def _one_form_only(self, handler) -> dict[str, Any]:
        data = handler(self)
        keep = ("layers",) if self.layers is not None else ("class", "args")
        return {k: v for k, v in data.items() if k in keep}


# --- loss, optimizer, scheduler -------------------------------------------------------------------


class LossSpec(Kwargs):
    """``CrossEntropyLoss`` or ``{name: CrossEntropyLoss, label_smoothing: 0.1}``."""

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @model_serializer(mode="wrap")
    def _as_name(self, handler) -> Any:
        data = handler(self)
        return self.name if len(data) == 1 else data


class OptimizerSpec(Kwargs):
    """``{name: Adam, lr: 1.0e-3, <keyword arguments>}``."""

    lr: PositiveFloat

    @model_validator(mode="before")
    @classmethod
    def _needs_mapping(cls, value: Any) -> Any:
        if isinstance(value, str):
            message = f"expected a mapping with a learning rate: {{name: {value}, lr: 1.0e-3}}"
            raise ValueError(message)  # noqa: TRY004 - pydantic wants ValueError
        return value


class SchedulerSpec(Kwargs):
    """``{name: StepLR, step_size: 10, interval: epoch}``; ``interval``: when ``step()`` is called."""

    interval: Literal["epoch", "step"] = "epoch"


# --- train, checkpoint, expect ----------------------------------------------------------------------


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


class EarlyStopping(Section):
    monitor: StrictStr = "val_loss"
    patience: PositiveInt = 5
    min_delta: Annotated[Float, Field(ge=0)] = 0.0
    mode: Literal["min", "max"] | None = Field(default=None, validate_default=True)

    @field_validator("mode")
    @classmethod
    def _infer_mode(cls, mode: str | None, info: ValidationInfo) -> str | None:
        return mode_for(info.data.get("monitor"), mode)


class TrainSpec(Section):
    epochs: PositiveInt = 1
    max_steps: PositiveInt | None = None
    grad_clip: PositiveFloat | None = None  # max global gradient norm
    early_stopping: EarlyStopping | None = None
    log_every: PositiveInt = 50  # steps
    limit_batches: PositiveInt | None = None  # per epoch
    on_nonfinite: Literal["stop", "skip"] = "stop"


class CheckpointSpec(Section):
    monitor: StrictStr = "val_loss"
    mode: Literal["min", "max"] | None = Field(default=None, validate_default=True)
    keep: PositiveInt = 1  # how many best checkpoints to keep
    every_steps: PositiveInt | None = None

    @field_validator("mode")
    @classmethod
    def _infer_mode(cls, mode: str | None, info: ValidationInfo) -> str | None:
        return mode_for(info.data.get("monitor"), mode)


class Bound(Section):
    min: Float | None = None
    max: Float | None = None

    @model_validator(mode="after")
    def _sensible(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min:, max: or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


# --- the whole config ------------------------------------------------------------------------------


class Config(Section):
    """A validated run config. Build it with `load_config` or `parse_config` (config.py)."""

    name: StrictStr = "run"
    seed: Annotated[Int, Field(ge=0, le=2**32 - 1)] = 0
    device: StrictStr = "auto"
    data: DataSpec
    model: ModelSpec
    loss: LossSpec
    optimizer: OptimizerSpec
    scheduler: SchedulerSpec | None = None
    train: TrainSpec = Field(default_factory=TrainSpec)
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    expect: dict[str, Bound] = Field(default_factory=dict)

    _source: str = PrivateAttr(default="<string>")
    _lines: dict[tuple[str, ...], int] = PrivateAttr(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _directory_name(cls, name: str) -> str:
        if not _RUN_NAME.match(name):
            raise ValueError(
                "the run name names its directory: use letters, digits and _ . + - "
                f"(not starting with . + -), got {name!r}"
            )
        return name

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if device.split(":")[0] == "mps":
            raise ValueError(
                "'mps' (Apple GPUs) is not supported: nnrun runs on NumPy ('cpu') or CuPy "
                "('cuda'); use 'auto' or 'cpu'"
            )
        if not _DEVICE.match(device):
            hint = {"gpu": " (did you mean 'cuda'?)"}.get(device.lower(), "")
            if device.lower() != device and _DEVICE.match(device.lower()):
                hint = f" (did you mean {device.lower()!r}?)"
            raise ValueError(f"expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}{hint}")
        return device

    @property
    def source(self) -> str:
        """The file the config was read from, or ``<string>``."""
        return self._source

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain dicts, lists and scalars, sections in schema order."""
        return _plain(self.model_dump(by_alias=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def error(self, path: str | tuple[str | int, ...], message: str) -> ConfigError:
        """A `ConfigError` about ``path`` (``"model.layers.2"``), at its line in the config file.

        For problems found after validation: ``raise cfg.error("model.layers.2", "...")``.
        """
        parts = tuple(path.split(".")) if isinstance(path, str) else path
        line = line_of(self._lines, parts) if self._lines else None
        return ConfigError(Problem(self._source, line, ".".join(map(str, parts)), message))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
