"""The ``data`` section: a built-in dataset or files, the split and the loader settings."""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictStr,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)

from .config_fields import Float, Int, PositiveInt, Section

_FORMAT_BY_SUFFIX = {".npz": "npz", ".npy": "npy", ".csv": "csv", ".csv.gz": "csv"}


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

    @field_validator("target", mode="before")
    @classmethod
    def _column(cls, target: Any) -> Any:
        if target is not None and (isinstance(target, bool) or not isinstance(target, (str, int))):
            raise ValueError(f"expected a column name or index, got {target!r}")
        return target

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
            message = f"format {self.format} needs a path: key{alternative.get(self.format, '')}"
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


# Tags start with "<" so error paths can drop them (config_errors.py).
DatasetRef = Annotated[
    Annotated[StrictStr, Field(min_length=1), Tag("<name>")] | Annotated[FileSpec, Tag("<file>")],
    Discriminator(
        _dataset_kind,
        custom_error_type="dataset_type",
        custom_error_message="expected a built-in dataset name or a mapping {format: ..., path: ...}",
    ),
]


class DataSpec(Section):
    """Where the data comes from, how it is split (``val_split``) and batched."""

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
