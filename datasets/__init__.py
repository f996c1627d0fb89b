"""Datasets for nnrun as NumPy arrays: built-in ones and readers for common file formats.

    from nnrun.datasets import load, val_split, compute_normalization, normalize

    ds = load("digits")                                   # a built-in name
    ds = load({"name": "spirals", "n_samples": 2000}, seed=1)   # a built-in with options
    ds = load({"format": "idx", "images": "train-images-idx3-ubyte.gz",
               "labels": "train-labels-idx1-ubyte.gz"}, base_dir="configs/")
    train, val = val_split(ds, 0.2, seed=0)
    mean, std = compute_normalization(train.x)
    x = normalize(train.x, mean, std)

Every problem with a spec, file or array raises `DataError`. Nothing here imports the engine.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from .base import ArrayDataset, LazyArray
from .binary import read_cifar10, read_idx
from .builtin import builtin_names, describe, load_builtin
from .errors import DataError, did_you_mean
from .files import read_csv, read_npy, read_npz
from .synthetic import SPLITS
from .transforms import compute_normalization, normalize, split_indices, val_split

__all__ = [
    "FORMATS",
    "ArrayDataset",
    "DataError",
    "LazyArray",
    "builtin_names",
    "compute_normalization",
    "describe",
    "load",
    "normalize",
    "split_indices",
    "val_split",
]

FORMATS = {
    "npz": read_npz,
    "npy": read_npy,
    "csv": read_csv,
    "idx": read_idx,
    "cifar10": read_cifar10,
}
COMMON_KEYS = ("format", "task", "num_classes", "classes", *SPLITS[1:])


def load(spec, *, seed: int = 0, split: str = "train", base_dir=None) -> ArrayDataset:
    """Load a dataset from a spec.

    Args:
        spec: a built-in name (``"digits"``), a built-in with options
            (``{"name": "blobs", "n_samples": 500}``), or a file spec
            (``{"format": "npz", "path": "data.npz", "x": "x", "y": "y"}``). File specs may hold
            ``val``/``test`` entries that override keys for those splits (``test: {path: t.npz}``);
            every file spec accepts ``task``, ``num_classes`` and ``classes``.
        seed: seeds the synthetic generators (file and digits data ignore it).
        split: ``"train"``, ``"val"`` or ``"test"``. Synthetic data draws fresh samples of the same
            problem; file specs use their ``val``/``test`` entry.
        base_dir: the folder relative file paths are resolved against (the config's folder).
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}.")
    if isinstance(spec, str):
        return load_builtin(spec, seed=seed, split=split)
    if not isinstance(spec, Mapping):
        raise DataError(
            f"a dataset must be a built-in name or a mapping like {{format: npz, path: ...}}; "
            f"got {spec!r}."
        )
    spec = dict(spec)
    if "name" in spec and "format" in spec:
        raise DataError("a dataset spec has either 'name' (built-in) or 'format' (file), not both.")
    if "name" in spec:
        return load_builtin(spec.pop("name"), seed=seed, split=split, **spec)
    return _load_file(spec, split=split, base_dir=base_dir)


def _load_file(spec: dict, *, split: str, base_dir) -> ArrayDataset:
    fmt = spec.get("format")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise DataError(
            f"unknown dataset format {fmt!r}; use one of {', '.join(FORMATS)}, or 'name' for a "
            f"built-in dataset ({', '.join(builtin_names())})." + did_you_mean(fmt, FORMATS)
        )
    if split != "train":
        override = spec.get(split)
        if not isinstance(override, Mapping):
            raise DataError(
                f"the {fmt} dataset spec has no {split!r} entry; add one with the {split} file(s), "
                f"e.g. {split}: {{path: ...}}."
            )
        spec = {**spec, **override}
    reader = FORMATS[fmt]
    params = inspect.signature(reader).parameters
    keys = [n for n, p in params.items() if p.kind == p.POSITIONAL_OR_KEYWORD]
    allowed = keys + list(COMMON_KEYS)
    for key in spec:
        if key not in allowed:
            raise DataError(
                f"{fmt} dataset spec has unknown key {key!r}; keys: {', '.join(allowed)}."
                + did_you_mean(key, allowed)
            )
    for key in keys:
        if params[key].default is inspect.Parameter.empty and key not in spec:
            raise DataError(f"{fmt} dataset spec is missing {key!r}; it needs {key}: ...")
    options = {k: v for k, v in spec.items() if k not in ("format", *SPLITS[1:])}
    for key, value in options.items():
        if key in params and isinstance(params[key].default, bool) and not isinstance(value, bool):
            raise DataError(f"{fmt} dataset spec: {key} must be true or false; got {value!r}.")
    return reader(base_dir=base_dir, **options)
