"""The config's ``data`` section -> normalised train/validation/test datasets and DataLoaders.

    data = load_data(cfg, base_dir=Path("configs"))            # train + val, stats from train
    train_dl = make_loader(data.train, cfg, shuffle=True, generator=gen, device=dev)

Normalisation statistics (mean and std per channel, or per column of a table) come from the
training split only; they are saved with each checkpoint and passed back in (``normalization=``)
when a run is resumed or evaluated, so every split is scaled exactly as in training. The validation
split is drawn with the config's seed, so the same config always holds out the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nnrun.engine as nr
import numpy as np
from nnrun.datasets import (
    ArrayDataset,
    DataError,
    LazyArray,
    compute_normalization,
    load,
    normalize,
    val_split,
)

from .config import Config, FileSpec
from .inspect_cmd import dataset_spec

LAZY_BYTES = 1 << 30  # a memory-mapped dataset bigger than this stays on disk, read per batch


@dataclass
class Data:
    """The datasets of a run, normalised. ``val`` is None when nothing is held out."""

    train: ArrayDataset
    val: ArrayDataset | None
    normalization: dict[str, np.ndarray] | None  # {"mean": ..., "std": ...}

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.train.sample_shape

    @property
    def task(self) -> str:
        return self.train.task

    @property
    def num_classes(self) -> int | None:
        return self.train.num_classes

    @property
    def classes(self) -> list[str] | None:
        return self.train.classes


def load_data(
    config: Config, *, base_dir: Path | None, normalization: dict[str, Any] | None = None
) -> Data:
    """Load the training data of ``config``, hold out the validation split and normalise both.

    ``base_dir``: the folder relative data paths are resolved against (the config file's).
    ``normalization``: saved statistics to apply instead of computing them from the train split.
    Raises `ConfigError` (pointing at ``data.dataset``) for data that cannot be loaded.
    """
    spec = config.data
    full = _load(config, dataset_spec(config), base_dir, ("data", "dataset"))
    if spec.validation is not None:
        train, val = full, _load(config, _file(spec.validation), base_dir, ("data", "validation"))
        _check_compatible(config, full, val, "data.validation")
    elif spec.val_split > 0:
        try:
            train, val = val_split(full, spec.val_split, seed=config.seed)
        except DataError as e:
            raise config.error(("data", "val_split"), str(e)) from None
    else:
        train, val = full, None
    if normalization is None and spec.normalize:
        mean, std = compute_normalization(train.x, per_channel=True)
        normalization = {"mean": mean, "std": std}
    elif normalization is not None:  # saved with a checkpoint: it must be this data's kind
        expected = (train.x.shape[1], *[1] * (train.x.ndim - 2)) if train.x.ndim > 1 else ()
        for key in ("mean", "std"):
            got = tuple(np.shape(normalization[key]))
            if got != expected:
                raise DataError(
                    f"the saved normalisation {key} has shape {got}, but this data's statistics "
                    f"have shape {expected}: the checkpoint is damaged or belongs to other data"
                )
    return Data(
        _normalized(config, train, normalization),
        None if val is None else _normalized(config, val, normalization),
        normalization,
    )


def load_split(
    config: Config,
    split: str,
    *,
    base_dir: Path | None,
    normalization: dict[str, Any] | None,
    data_spec: dict[str, Any] | None = None,
) -> ArrayDataset:
    """One split for evaluation: ``"val"`` (the run's held-out samples), ``"train"``, ``"test"``,
    or the dataset ``data_spec`` (``--data``), normalised with the run's statistics.

    Without saved statistics (a bare weights file) they are recomputed from the train split.
    """
    if data_spec is None and split in ("train", "val"):
        data = load_data(config, base_dir=base_dir, normalization=normalization)
        if split == "val" and data.val is None:
            raise config.error(
                ("data", "val_split"),
                "the run holds out no validation data (val_split: 0); use --split test or --data",
            )
        return data.train if split == "train" else data.val
    if normalization is None and config.data.normalize:
        normalization = load_data(config, base_dir=base_dir).normalization
    if data_spec is not None:
        ds = _load(config, data_spec, None, ("--data",))
    elif config.data.test is not None:
        ds = _load(config, _file(config.data.test), base_dir, ("data", "test"))
    else:
        ds = _load(config, dataset_spec(config), base_dir, ("data", "dataset"), split="test")
    return _normalized(config, ds, normalization)


def make_loader(
    ds: ArrayDataset,
    *,
    batch_size: int,
    shuffle: bool,
    generator: nr.Generator,
    device: nr.device,
    num_workers: int = 0,
) -> nr.utils.data.DataLoader:
    """A DataLoader over ``ds``; shuffling draws only from ``generator`` (resumable).

    In-memory data becomes a ``TensorDataset`` on ``device`` (whole batches gathered by one
    index); a big memory-mapped dataset is read batch by batch, as tensors moved by the loop.
    """
    x = ds.x
    if isinstance(x, LazyArray) and int(np.prod(x.shape)) * 4 > LAZY_BYTES:
        return nr.utils.data.DataLoader(
            _LazyPairs(x, ds.y),
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=num_workers,
            collate_fn=_as_is,
        )
    tensors = (nr.from_numpy(np.ascontiguousarray(np.asarray(x))), nr.from_numpy(ds.y))
    if device.type != "cpu":
        tensors = tuple(t.to(device) for t in tensors)
    return nr.utils.data.DataLoader(
        nr.utils.data.TensorDataset(*tensors),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
    )


def loader_generator(seed: int) -> nr.Generator:
    """The shuffling generator of a run: its own stream, derived from (not equal to) the seed."""
    derived = np.random.SeedSequence([int(seed), 0x5EED]).generate_state(1, np.uint64)[0]
    return nr.Generator().manual_seed(int(derived) & 0x7FFF_FFFF_FFFF_FFFF)


class _LazyPairs(nr.utils.data.Dataset):
    """Features read from disk per batch: ``__getitems__`` converts only the rows asked for."""

    def __init__(self, x: LazyArray, y: np.ndarray):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index):
        return self.__getitems__([index])

    def __getitems__(self, indices):
        rows = np.asarray(indices, dtype=np.int64)
        return [nr.from_numpy(self.x[rows]), nr.from_numpy(np.ascontiguousarray(self.y[rows]))]


def _as_is(batch):
    return batch


# --- helpers ---------------------------------------------------------------------------------------


def _file(spec: FileSpec) -> dict[str, Any]:
    return spec.model_dump()


def _load(config: Config, spec, base_dir, path: tuple, *, split: str = "train") -> ArrayDataset:
    try:
        return load(spec, seed=config.seed, split=split, base_dir=base_dir)
    except DataError as e:
        if path == ("--data",):
            raise DataError(f"--data: cannot load the dataset: {e}") from None
        raise config.error(path, f"cannot load the dataset: {e}") from None


def _check_compatible(config: Config, train: ArrayDataset, other: ArrayDataset, what: str) -> None:
    if other.sample_shape != train.sample_shape or other.task != train.task:
        raise config.error(
            tuple(what.split(".")),
            f"its samples are {other.sample_shape} ({other.task}) but the training data's are "
            f"{train.sample_shape} ({train.task})",
        )


def _normalized(config: Config, ds: ArrayDataset, stats: dict[str, Any] | None) -> ArrayDataset:
    if not stats:
        return ds
    try:
        return replace(ds, x=normalize(ds.x, stats["mean"], stats["std"]))
    except DataError as e:
        raise DataError(f"cannot apply the run's normalisation: {e}") from None
