"""`ArrayDataset`, the lazily converting `LazyArray`, and the checks every loader runs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .errors import DataError, did_you_mean

TASKS = ("classification", "regression")
CHUNK_BYTES = 64 * 2**20  # work on big arrays in pieces of about this size
MAX_INFERRED_CLASSES = 100_000
MAX_CLASSES = 1_000_000  # per-class counts are kept: more would be damage, not data


def row_chunks(n: int, row_bytes: int) -> Iterator[slice]:
    """Slices over ``n`` rows, each covering about `CHUNK_BYTES`."""
    step = max(1, CHUNK_BYTES // max(1, row_bytes))
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


class LazyArray:
    """A float32 view of a raw (often memory-mapped) array that converts only the rows indexed.

    ``lazy[i]`` returns ``raw[index[i]].astype(float32) * scale + shift`` as a NumPy array
    (``i``: an int, slice, integer array or boolean mask over samples), so a batch costs only its
    own conversion and a memory-mapped file is never read whole. ``np.asarray(lazy)`` converts
    everything.
    """

    dtype = np.dtype(np.float32)

    def __init__(self, raw: np.ndarray, *, scale=1.0, shift=0.0, index=None):
        self.raw = raw
        self.scale = np.asarray(scale, dtype=np.float32)
        self.shift = np.asarray(shift, dtype=np.float32)
        self.index = None if index is None else np.asarray(index, dtype=np.intp)
        n = raw.shape[0] if self.index is None else len(self.index)
        self.shape = (n, *raw.shape[1:])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return (
            f"LazyArray(shape={self.shape}, raw dtype={self.raw.dtype}, {type(self.raw).__name__})"
        )

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        rows = self.raw[key] if self.index is None else self.raw[self.index[key]]
        out = np.array(rows, dtype=np.float32)
        if self.scale.ndim or self.scale != 1:
            out *= self.scale
        if self.shift.ndim or self.shift != 0:
            out += self.shift
        if not rest:
            return out
        one_sample = isinstance(key, (int, np.integer))
        return out[rest] if one_sample else out[(slice(None), *rest)]

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError("a LazyArray cannot be turned into an array without a copy")
        out = np.empty(self.shape, dtype=np.float32)
        for rows in row_chunks(len(self), out[:1].nbytes):
            out[rows] = self[rows]
        return out if dtype is None else out.astype(dtype, copy=False)

    def take(self, indices) -> LazyArray:
        """The samples at ``indices``, still lazy (no data is read)."""
        indices = np.arange(len(self))[indices] if self.index is None else self.index[indices]
        return LazyArray(self.raw, scale=self.scale, shift=self.shift, index=indices)

    def affine(self, scale, shift) -> LazyArray:
        """A lazy ``self * scale + shift`` (how normalisation stays lazy)."""
        scale = np.asarray(scale, dtype=np.float32)
        new_shift = self.shift * scale + np.asarray(shift, dtype=np.float32)
        return LazyArray(self.raw, scale=self.scale * scale, shift=new_shift, index=self.index)


@dataclass(frozen=True, eq=False)
class ArrayDataset:
    """Features and targets as NumPy arrays; the CLI turns them into tensors.

    Attributes:
        x: float32 features, shape ``(N, *sample_shape)``, e.g. ``(N, 1, 8, 8)`` or ``(N, 20)``. An
            ``np.ndarray`` in memory, or a `LazyArray` over a memory-mapped or raw uint8 file.
        y: targets: int64 class indices ``(N,)`` for classification, float32 ``(N, k)`` for
            regression.
        task: ``"classification"`` or ``"regression"``.
        num_classes: the number of classes (labels ``0 .. num_classes - 1``); None for regression.
        classes: class names, index-aligned with the labels, when known.
        info: a one-line description and provenance.
    """

    x: np.ndarray | LazyArray
    y: np.ndarray
    task: str
    num_classes: int | None = None
    classes: list[str] | None = None
    info: str = ""

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        kind = f"{self.num_classes} classes" if self.task == "classification" else "regression"
        return f"ArrayDataset({len(self)} samples of {self.sample_shape}, {kind}: {self.info})"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def subset(self, indices) -> ArrayDataset:
        """The samples at ``indices`` (a `LazyArray` stays lazy)."""
        indices = np.asarray(indices)
        x = self.x.take(indices) if isinstance(self.x, LazyArray) else self.x[indices]
        return replace(self, x=x, y=self.y[indices])


def make_dataset(
    x,
    y,
    *,
    source: str,
    task: str | None = None,
    num_classes: int | None = None,
    classes: Sequence[str] | None = None,
    info: str = "",
) -> ArrayDataset:
    """Check and convert a loader's arrays into an `ArrayDataset`; every error names ``source``.

    ``task=None`` infers it: integer targets mean classification, float targets regression.
    ``num_classes=None`` infers ``max(label) + 1`` (or ``len(classes)``).
    """
    if task is not None and task not in TASKS:
        raise DataError(
            f"{source}: unknown task {task!r}; use 'classification' or 'regression'."
            + did_you_mean(task, TASKS)
        )
    if classes is not None:
        if not isinstance(classes, (list, tuple)):
            raise DataError(f"{source}: classes must be a list of names; got {classes!r}.")
        classes = [str(c) for c in classes]
        num_classes = len(classes) if num_classes is None else num_classes
    x = _features(x, source)
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise DataError(f"{source}: targets must be numbers; got an array of dtype {y.dtype}.")
    if y.ndim == 0:
        raise DataError(f"{source}: targets must have one entry per sample; got a scalar.")
    if len(x) != len(y):
        raise DataError(
            f"{source}: features have {len(x)} samples but targets have {len(y)}; "
            "x and y need one entry per sample."
        )
    if len(y) == 0:
        raise DataError(f"{source}: the dataset is empty (0 samples).")
    task = task or ("regression" if y.dtype.kind == "f" else "classification")
    if task == "regression":
        if num_classes is not None:
            raise DataError(f"{source}: num_classes applies only to task 'classification'.")
        y = _regression_targets(y, source)
    else:
        y, num_classes = _class_labels(y, num_classes, source)
        if classes is not None and len(classes) != num_classes:
            raise DataError(
                f"{source}: {len(classes)} class names given for num_classes={num_classes}."
            )
    return ArrayDataset(x, y, task, num_classes, classes, info)


def _features(x, source: str):
    raw = x.raw if isinstance(x, LazyArray) else np.asarray(x)
    if raw.dtype.kind == "O":
        raise DataError(
            f"{source}: features are a Python object array, which nnrun refuses (it would need "
            "pickle); save plain numeric arrays."
        )
    if raw.dtype.kind not in "biuf":
        raise DataError(f"{source}: features must be numbers; got an array of dtype {raw.dtype}.")
    if raw.ndim == 0:
        raise DataError(f"{source}: features must have one row per sample; got a scalar.")
    if isinstance(x, LazyArray):
        if raw.dtype.kind == "f":
            for rows in row_chunks(len(raw), raw[:1].nbytes):
                _check_finite(raw[rows], source, "features", offset=rows.start)
        return x
    x = raw.reshape(-1, 1) if raw.ndim == 1 else raw
    x = x.astype(np.float32, copy=False)
    _check_finite(x, source, "features")
    return x


def _check_finite(a: np.ndarray, source: str, what: str, offset: int = 0) -> None:
    finite = np.isfinite(a)
    if not finite.all():
        first = int(np.argwhere(~finite)[0][0]) + offset
        raise DataError(
            f"{source}: {what} contain NaN or inf (first at sample {first}); "
            "remove or fill in those values."
        )


def _regression_targets(y: np.ndarray, source: str) -> np.ndarray:
    y = y.astype(np.float32, copy=False)
    _check_finite(y, source, "targets")
    return y.reshape(-1, 1) if y.ndim == 1 else y


def _class_labels(y: np.ndarray, num_classes, source: str) -> tuple[np.ndarray, int]:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(
            f"{source}: classification targets must be one class index per sample, shape (N,); "
            f"got shape {y.shape}. For one-hot targets store argmax; for real values set "
            "task: regression."
        )
    if y.dtype.kind == "f":
        _check_finite(y, source, "labels")
        fractional = np.flatnonzero(y != np.round(y))
        if len(fractional):
            i = int(fractional[0])
            raise DataError(
                f"{source}: label {y[i]} at sample {i} is not a whole number; class labels must be "
                "integers 0..K-1 (for real-valued targets set task: regression)."
            )
    low, high = int(np.argmin(y)), int(np.argmax(y))
    if y[low] < 0:
        raise DataError(
            f"{source}: label {y[low]} at sample {low} is negative; class labels must be 0..K-1."
        )
    if num_classes is None:
        if y[high] >= MAX_INFERRED_CLASSES:
            raise DataError(
                f"{source}: label {y[high]} at sample {high} would mean {int(y[high]) + 1} "
                "classes; set num_classes if that is intended."
            )
        num_classes = int(y[high]) + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise DataError(f"{source}: num_classes must be a positive integer; got {num_classes!r}.")
    elif not 1 <= num_classes <= MAX_CLASSES:
        raise DataError(
            f"{source}: num_classes must be an integer from 1 to {MAX_CLASSES:,}; got "
            f"{num_classes}."
        )
    elif y[high] >= num_classes:
        raise DataError(
            f"{source}: label {y[high]} at sample {high} is outside 0..{num_classes - 1} "
            f"(num_classes={num_classes}); fix the labels or num_classes."
        )
    return y.astype(np.int64, copy=False), int(num_classes)
