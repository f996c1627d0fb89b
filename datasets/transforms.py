"""Seeded train/validation splits and feature normalisation computed from the training split."""

from __future__ import annotations

import numpy as np

from .base import ArrayDataset, LazyArray, row_chunks
from .errors import DataError


def split_indices(n: int, fraction: float, *, seed: int = 0, labels=None):
    """``(train_idx, held_out_idx)``, sorted int64 arrays holding out ``fraction`` of ``n`` samples.

    The split depends only on ``n``, ``fraction``, ``seed`` (and ``labels``). With ``labels`` it is
    stratified: each class is held out in the same proportion (rounded per class).
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise DataError(f"val_split must be a fraction between 0 and 1; got {fraction!r}.")
    rng = np.random.default_rng(seed)
    if labels is None:
        groups = [np.arange(n)]
    else:
        labels = np.asarray(labels)
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    held = [rng.permutation(g)[: round(len(g) * fraction)] for g in groups]
    held = np.sort(np.concatenate(held)).astype(np.int64)
    if len(held) == 0 or len(held) == n:
        raise DataError(
            f"val_split {fraction} of {n} samples leaves {'no' if len(held) == 0 else 'all'} "
            "samples held out; choose a fraction that leaves samples on both sides."
        )
    keep = np.ones(n, dtype=bool)
    keep[held] = False
    return np.flatnonzero(keep).astype(np.int64), held


def val_split(
    dataset: ArrayDataset, fraction: float, *, seed: int = 0, stratify: bool = True
) -> tuple[ArrayDataset, ArrayDataset]:
    """``(train, val)`` datasets; classification splits are stratified unless ``stratify=False``."""
    labels = dataset.y if stratify and dataset.task == "classification" else None
    train_idx, val_idx = split_indices(len(dataset), fraction, seed=seed, labels=labels)
    return dataset.subset(train_idx), dataset.subset(val_idx)


def compute_normalization(x, *, per_channel: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of training features, as float32 arrays.

    Global (default): two scalars (shape ``()``) over every value. ``per_channel=True``: one value
    per index of axis 1 (image channels, or table columns), shaped ``(C, 1, ..., 1)`` to broadcast
    over a sample. The std is the population one (ddof=0); a zero std (constant feature) becomes 1.
    """
    if len(x) == 0:
        raise DataError("cannot compute normalisation statistics of an empty array.")
    if per_channel and x.ndim < 2:
        raise DataError(f"per-channel statistics need samples with a channel axis; got {x.shape}.")
    sample_size = int(np.prod(x.shape[1:]))
    axes = (0, *range(2, x.ndim)) if per_channel else None
    shape = (x.shape[1], *[1] * (x.ndim - 2)) if per_channel else ()
    count = len(x) * sample_size // (x.shape[1] if per_channel else 1)
    chunks = list(row_chunks(len(x), sample_size * 8))

    def sum_over(values) -> np.ndarray:  # float64 sums over the chunks, shaped like a sample
        return np.reshape(sum(v.sum(axis=axes) for v in values), shape)

    mean = sum_over(np.asarray(x[rows], np.float64) for rows in chunks) / count
    var = sum_over((np.asarray(x[rows], np.float64) - mean) ** 2 for rows in chunks) / count
    std = np.where(var > 0, np.sqrt(var), 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def normalize(x, mean, std):
    """``(x - mean) / std`` as float32 (a `LazyArray` stays lazy: the affine is folded into it)."""
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    sample_shape = tuple(x.shape[1:])
    for name, stat in (("mean", mean), ("std", std)):
        try:
            ok = np.broadcast_shapes(stat.shape, sample_shape) == sample_shape
        except ValueError:
            ok = False
        if not ok:
            raise DataError(
                f"normalisation {name} of shape {stat.shape} does not fit samples of shape "
                f"{sample_shape}; were the statistics computed on other data?"
            )
    if isinstance(x, LazyArray):
        return x.affine(1 / std, -mean / std)
    return ((np.asarray(x, dtype=np.float32) - mean) / std).astype(np.float32, copy=False)
