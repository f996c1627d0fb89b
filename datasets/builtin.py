"""Named built-in datasets: the shipped UCI digits and the synthetic generators."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from . import synthetic
from .base import ArrayDataset, make_dataset
from .errors import DataError, did_you_mean

DATA_DIR = Path(__file__).parent / "data"


def digits(*, split: str = "train") -> ArrayDataset:
    """UCI handwritten digits: 1,797 real 8x8 images (N, 1, 8, 8), values 0-16, 10 classes."""
    if split != "train":
        raise DataError(
            f"digits has no separate {split!r} set (it is one set of 1,797 images); hold data out "
            "with val_split instead."
        )
    path = DATA_DIR / "digits.csv.gz"
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)  # 64 pixels, then the label
    x = table[:, :-1].reshape(-1, 1, 8, 8)
    info = "UCI ML handwritten digits (Alpaydin & Kaynak 1998), CC BY 4.0; see data/README.md"
    return make_dataset(
        x, table[:, -1].astype(np.int64), source=str(path), num_classes=10, info=info
    )


BUILTINS = {
    "digits": digits,
    "blobs": synthetic.blobs,
    "spirals": synthetic.spirals,
    "random": synthetic.random_data,
    "shapes": synthetic.shapes,
    "regression": synthetic.regression,
}


def builtin_names() -> list[str]:
    """The names `load` accepts for built-in datasets."""
    return list(BUILTINS)


def describe() -> list[tuple[str, str]]:
    """(name, one-line description) for each built-in dataset, for ``nnrun datasets``."""
    return [(name, inspect.getdoc(fn).splitlines()[0]) for name, fn in BUILTINS.items()]


def load_builtin(name: str, *, seed: int = 0, split: str = "train", **kwargs) -> ArrayDataset:
    """The built-in dataset ``name``; ``kwargs`` are its generator's arguments (e.g. n_samples)."""
    if not isinstance(name, str) or name not in BUILTINS:
        raise DataError(
            f"unknown dataset {name!r}." + did_you_mean(name, BUILTINS) + " Built-in datasets: "
            f"{', '.join(BUILTINS)}; for a file use {{format: npz|npy|csv|idx|cifar10, path: ...}}."
        )
    fn = BUILTINS[name]
    params = inspect.signature(fn).parameters
    options = [p for p in params if p not in ("seed", "split")]
    for key in kwargs:
        if key not in options:
            allowed = ", ".join(options) if options else "none"
            raise DataError(
                f"dataset {name!r} has no option {key!r} (options: {allowed})."
                + did_you_mean(key, options)
            )
    if "seed" in params:
        kwargs["seed"] = seed
    return fn(split=split, **kwargs)
