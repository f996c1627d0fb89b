"""The pydantic models of a run config: one per YAML section, defaults filled in on validation.

Sections refuse unknown keys; mappings that are keyword arguments (``optimizer``, ``loss``, a data
file spec) keep them. The ``data`` and ``model`` sections are in config_data.py and config_model.py.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from .config_data import DataSpec
from .config_fields import Float, Int, Kwargs, PositiveFloat, PositiveInt, Section, mode_for
from .config_model import ModelSpec
from .config_yaml import line_of
from .errors import ConfigError, Problem

_RUN_NAME = re.compile(r"^\w[\w.+-]*$")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:[0-9]+)?)$")


class LossSpec(Kwargs):
    """``CrossEntropyLoss`` or ``{name: CrossEntropyLoss, label_smoothing: 0.1}``."""

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        if not isinstance(value, (dict, LossSpec)):
            message = f"expected a loss name or {{name: ..., <arguments>}}, got {value!r}"
            raise ValueError(message)  # noqa: TRY004 - pydantic wants ValueError
        return value

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
    """``{name: StepLR, step_size: 10, interval: epoch}``; ``interval``: when ``step()`` is called
    (default: after every epoch; OneCycleLR: after every step)."""

    interval: Literal["epoch", "step"] = "epoch"

    @model_validator(mode="after")
    def _one_cycle_steps_per_batch(self) -> SchedulerSpec:
        # resolved here, not when building, so that the dumped config (a run's config.yaml, read
        # again by --resume and eval) says `interval: step` and means what the original meant
        if "interval" not in self.model_fields_set and _short(self.name) == "OneCycleLR":
            self.interval = "step"
        return self


def _short(name: str) -> str:
    return name.rpartition(":")[2].rpartition(".")[2]


# --- train, checkpoint, expect ----------------------------------------------------------------------


class EarlyStopping(Section):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` evaluations."""

    monitor: StrictStr = "val_loss"
    patience: PositiveInt = 5
    min_delta: Annotated[Float, Field(ge=0)] = 0.0
    mode: Literal["min", "max"] | None = Field(default=None, validate_default=True)

    @field_validator("mode")
    @classmethod
    def _infer_mode(cls, mode: str | None, info: ValidationInfo) -> str | None:
        return mode_for(info.data.get("monitor"), mode)


class TrainSpec(Section):
    """The loop: how long, gradient clipping, logging, and what a non-finite loss does."""

    epochs: PositiveInt = 1
    max_steps: PositiveInt | None = None
    grad_clip: PositiveFloat | None = None  # max global gradient norm
    early_stopping: EarlyStopping | None = None
    log_every: PositiveInt = 50  # steps
    limit_batches: PositiveInt | None = None  # per epoch
    on_nonfinite: Literal["stop", "skip"] = "stop"


class CheckpointSpec(Section):
    """Keep the ``keep`` best checkpoints by ``monitor``; also save every ``every_steps`` steps."""

    monitor: StrictStr = "val_loss"
    mode: Literal["min", "max"] | None = Field(default=None, validate_default=True)
    keep: PositiveInt = 1  # how many best checkpoints to keep
    every_steps: PositiveInt | None = None

    @field_validator("mode")
    @classmethod
    def _infer_mode(cls, mode: str | None, info: ValidationInfo) -> str | None:
        return mode_for(info.data.get("monitor"), mode)


class Bound(Section):
    """``expect.<metric>``: the final value must lie within ``[min, max]``."""

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
