"""Seeded synthetic datasets of any size.

Each generator draws its fixed parameters (cluster centres, regression weights) from
``np.random.default_rng(seed)`` and its samples from a stream that also depends on ``split``, so
``split="test"`` gives fresh samples of the same problem. The first docstring line is the
description that ``nnrun datasets`` prints.
"""

from __future__ import annotations

import numpy as np

from .base import ArrayDataset, make_dataset
from .errors import DataError

SPLITS = ("train", "val", "test")
MAX_VALUES = 100_000_000  # values in one generated array: about 400 MB as float32, 800 MB float64
MAX_CLASSES = 1_000_000
SHAPE_NAMES = ["square", "circle", "triangle", "cross"]


def blobs(
    n_samples: int = 1000,
    n_features: int = 2,
    num_classes: int = 3,
    cluster_std: float = 1.0,
    center_box: float = 10.0,
    *,
    seed: int = 0,
    split: str = "train",
) -> ArrayDataset:
    """Gaussian clusters, one per class: features (N, n_features), classification."""
    _check_int("n_samples", n_samples)
    _check_int("n_features", n_features)
    _check_int("num_classes", num_classes)
    _check_float("cluster_std", cluster_std)
    _check_float("center_box", center_box)
    _check_size(("n_samples", n_samples), ("n_features", n_features))
    _check_size(("num_classes", num_classes), ("n_features", n_features))
    _check_classes(num_classes)
    params, rng = _rngs(seed, split)
    centers = params.uniform(-center_box, center_box, size=(num_classes, n_features))
    y = _balanced_labels(rng, n_samples, num_classes)
    x = centers[y] + rng.normal(0.0, cluster_std, size=(n_samples, n_features))
    info = f"blobs: {num_classes} gaussian clusters in {n_features}-D (seed {seed}, {split})"
    return make_dataset(
        x, y, source="blobs", task="classification", info=info, num_classes=num_classes
    )


def spirals(
    n_samples: int = 1000,
    noise: float = 0.05,
    turns: float = 1.5,
    *,
    seed: int = 0,
    split: str = "train",
) -> ArrayDataset:
    """Two interleaved spirals: features (N, 2) within about [-1, 1], 2 balanced classes."""
    _check_int("n_samples", n_samples, minimum=2)
    _check_float("noise", noise)
    _check_float("turns", turns, minimum=0.1)
    _check_size(("n_samples", n_samples), ("2 features", 2))
    _, rng = _rngs(seed, split)
    y = _balanced_labels(rng, n_samples, 2)
    radius = np.sqrt(rng.uniform(0.0025, 1.0, size=n_samples))  # sqrt: even density along the arm
    angle = radius * turns * 2 * np.pi + np.pi * y
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    x += rng.normal(0.0, noise, size=x.shape)
    info = f"spirals: two spirals, {turns} turns, noise {noise} (seed {seed}, {split})"
    return make_dataset(x, y, source="spirals", task="classification", num_classes=2, info=info)


def random_data(
    n_samples: int = 1000,
    n_features: int = 20,
    num_classes: int = 3,
    *,
    seed: int = 0,
    split: str = "train",
) -> ArrayDataset:
    """Pure noise, as in the PyTorch cheat-sheet: randn(N, 20) features, randint(0, 3) labels."""
    _check_int("n_samples", n_samples)
    _check_int("n_features", n_features)
    _check_int("num_classes", num_classes)
    _check_size(("n_samples", n_samples), ("n_features", n_features))
    _check_classes(num_classes)
    _, rng = _rngs(seed, split)
    x = rng.standard_normal((n_samples, n_features), dtype=np.float32)
    y = rng.integers(0, num_classes, size=n_samples)
    info = f"random: randn({n_samples}, {n_features}) features, {num_classes} random labels"
    info += f" (seed {seed}, {split})"
    return make_dataset(
        x, y, source="random", task="classification", num_classes=num_classes, info=info
    )


def shapes(
    n_samples: int = 1000,
    image_size: int = 28,
    noise: float = 0.1,
    *,
    seed: int = 0,
    split: str = "train",
) -> ArrayDataset:
    """Images (N, 1, 28, 28) of a square, circle, triangle or cross (4 classes), for CNNs."""
    _check_int("n_samples", n_samples)
    _check_int("image_size", image_size, minimum=12)
    _check_float("noise", noise)
    _check_size(("n_samples", n_samples), ("image_size", image_size), ("image_size", image_size))
    _, rng = _rngs(seed, split)
    y = _balanced_labels(rng, n_samples, len(SHAPE_NAMES))
    half = rng.uniform(0.15, 0.3, size=n_samples) * image_size  # half the shape's width
    margin = half + 1
    cy = rng.uniform(margin, image_size - 1 - margin)
    cx = rng.uniform(margin, image_size - 1 - margin)
    brightness = rng.uniform(0.6, 1.0, size=n_samples)
    grid = np.arange(image_size, dtype=np.float32)
    dy = grid[None, :, None] - cy[:, None, None].astype(np.float32)
    dx = grid[None, None, :] - cx[:, None, None].astype(np.float32)
    s = half[:, None, None].astype(np.float32)
    masks = {
        0: (np.abs(dx) <= s) & (np.abs(dy) <= s),
        1: dx**2 + dy**2 <= s**2,
        2: (np.abs(dy) <= s) & (np.abs(dx) <= (dy + s) / 2),  # apex up
        3: ((np.abs(dx) <= s) & (np.abs(dy) <= s / 3))
        | ((np.abs(dy) <= s) & (np.abs(dx) <= s / 3)),
    }
    mask = np.select([(y == k)[:, None, None] for k in masks], list(masks.values()))
    x = mask * brightness[:, None, None].astype(np.float32)
    x += rng.normal(0.0, noise, size=x.shape).astype(np.float32)
    x = np.clip(x, 0.0, 1.0, out=x)[:, None]
    info = f"shapes: {image_size}x{image_size} images of 4 shapes, noise {noise}"
    info += f" (seed {seed}, {split})"
    return make_dataset(
        x, y, source="shapes", task="classification", classes=SHAPE_NAMES, info=info
    )


def regression(
    n_samples: int = 1000,
    n_features: int = 8,
    n_targets: int = 1,
    noise: float = 0.1,
    *,
    seed: int = 0,
    split: str = "train",
) -> ArrayDataset:
    """Regression: y = x @ w + 0.5 sin(3 x @ v) + noise, x uniform in [-1, 1]^8, targets (N, 1)."""
    _check_int("n_samples", n_samples)
    _check_int("n_features", n_features)
    _check_int("n_targets", n_targets)
    _check_float("noise", noise)
    _check_size(("n_samples", n_samples), ("n_features", n_features))
    _check_size(("n_samples", n_samples), ("n_targets", n_targets))
    _check_size(("n_features", n_features), ("n_targets", n_targets))
    params, rng = _rngs(seed, split)
    w = params.normal(size=(n_features, n_targets)) / np.sqrt(n_features)
    v = params.normal(size=(n_features, n_targets)) / np.sqrt(n_features)
    x = rng.uniform(-1.0, 1.0, size=(n_samples, n_features))
    y = x @ w + 0.5 * np.sin(3 * x @ v) + rng.normal(0.0, noise, size=(n_samples, n_targets))
    info = f"regression: {n_features} features -> {n_targets} targets, noise {noise}"
    info += f" (seed {seed}, {split})"
    return make_dataset(x, y, source="regression", task="regression", info=info)


def _rngs(seed, split: str) -> tuple[np.random.Generator, np.random.Generator]:
    """(parameter generator, sample generator); train samples come from ``default_rng(seed)``."""
    _check_int("seed", seed, minimum=0)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}.")
    params = np.random.default_rng(seed)
    if split == "train":
        return params, params
    return params, np.random.default_rng([seed, SPLITS.index(split)])


def _balanced_labels(rng: np.random.Generator, n: int, num_classes: int) -> np.ndarray:
    """Labels with class counts differing by at most one, in random order."""
    return rng.permutation(np.arange(n) % num_classes)


def _check_int(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DataError(f"{name} must be an integer >= {minimum}; got {value!r}.")


def _check_size(*dims: tuple[str, int]) -> None:
    """Refuse sizes whose arrays would not fit in memory, before anything is allocated."""
    total = 1
    for _, d in dims:
        total *= int(d)
    if total > MAX_VALUES:
        names = " x ".join(name for name, _ in dims)
        values = " x ".join(f"{d:,}" for _, d in dims)
        raise DataError(
            f"{names} = {values} = {total:,} values, more than a synthetic dataset holds "
            f"({MAX_VALUES:,}); use smaller sizes, or a file for more data."
        )


def _check_classes(num_classes: int) -> None:
    if num_classes > MAX_CLASSES:
        raise DataError(f"num_classes must be at most {MAX_CLASSES:,}; got {num_classes:,}.")


def _check_float(name: str, value, minimum: float = 0.0) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum:
        raise DataError(f"{name} must be a number >= {minimum}; got {value!r}.")
