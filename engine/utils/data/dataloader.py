"""``DataLoader``: batches, shuffling and worker processes over a dataset, as in PyTorch.

Performance: when the dataset lives in memory (a ``TensorDataset``, or ``Subset``s of one as
``random_split`` makes) and ``collate_fn`` is the default, a whole batch is gathered with one fancy
index per tensor instead of ``len(batch)`` calls to ``__getitem__`` and a stack. The batches are
exactly those of the per-sample path.
"""

from __future__ import annotations

import math
import multiprocessing

from ... import backend
from ...tensor import Tensor
from ._worker import MultiProcessIter
from .collate import default_collate, default_convert
from .dataset import IterableDataset, Subset, TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader"]

_np = backend.np
_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


class DataLoader:
    r"""Combines a dataset and a sampler, and iterates over the dataset in batches.

    Args:
        dataset (Dataset): dataset from which to load the data.
        batch_size (int, optional): how many samples per batch to load (default: ``1``);
            ``None`` turns automatic batching off.
        shuffle (bool, optional): set to ``True`` to have the data reshuffled at every epoch,
            drawing from ``generator`` (or the global generator: ``nr.manual_seed`` makes the
            order reproducible) (default: ``False``).
        sampler (Sampler or Iterable, optional): the indices to draw; excludes ``shuffle``.
        batch_sampler (Sampler or Iterable, optional): like ``sampler``, but yields lists of
            indices; excludes ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``.
        num_workers (int, optional): how many worker processes load per-item datasets
            (default: ``0``, the main process). Batches still come back in order, and an exception
            in a worker is raised in the main process with the worker's traceback. In-memory
            datasets (``TensorDataset`` and its ``Subset``s) are always gathered in the main
            process: one fancy index per batch is faster than shipping batches between processes.
        collate_fn (Callable, optional): merges a list of samples into a batch
            (default: :func:`default_collate`).
        pin_memory (bool, optional): accepted for compatibility; has no effect.
        drop_last (bool, optional): drop the last incomplete batch (default: ``False``).
        timeout (numeric, optional): seconds to wait for a batch from the workers; ``0`` waits
            as long as the workers are alive (default: ``0``).
        worker_init_fn (Callable, optional): called with the worker id in each worker, after
            seeding and before loading.
        multiprocessing_context (str or context, optional): the start method; default ``fork``
            where available (Linux), else ``spawn``.
        generator (Generator, optional): generator for shuffling and the workers' base seed.
        prefetch_factor (int, optional): batches loaded in advance per worker (default: ``2``
            when ``num_workers > 0``).
        persistent_workers (bool, optional): keep the worker processes between epochs.

    Example::

        >>> ds = TensorDataset(nr.randn(1000, 20), nr.randint(0, 3, (1000,)))
        >>> train_ds, val_ds = random_split(ds, [800, 200])
        >>> for X, y in DataLoader(train_ds, batch_size=32, shuffle=True):
        ...     pass  # X: (32, 20) float32, y: (32,) int64
    """

    _initialized = False

    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=None,
        sampler=None,
        batch_sampler=None,
        num_workers=0,
        collate_fn=None,
        pin_memory=False,
        drop_last=False,
        timeout=0,
        worker_init_fn=None,
        multiprocessing_context=None,
        generator=None,
        *,
        prefetch_factor=None,
        persistent_workers=False,
        pin_memory_device="",
    ):
        if num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; "
                "use num_workers=0 to disable multiprocessing."
            )
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing."
                "let num_workers > 0 to enable multiprocessing, otherwise set "
                "prefetch_factor to None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor <= 0:
            raise ValueError("prefetch_factor option should be positive")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        _check_context(multiprocessing_context, num_workers)

        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (False, None):
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle "
                    f"option, but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified sampler "
                    f"option, but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified "
                    f"batch_sampler option, but got batch_sampler={batch_sampler}"
                )
        elif sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, "
                    "shuffle, sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually "
                "exclusive with drop_last"
            )
        if sampler is None and not self._iterable:
            sampler = (
                RandomSampler(dataset, generator=generator)
                if shuffle
                else SequentialSampler(dataset)
            )
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.persistent_workers = persistent_workers
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator = None
        self._initialized = True

    def __setattr__(self, attr, val):
        if self._initialized and attr in _FROZEN:
            raise ValueError(
                f"{attr} attribute should not be set after {type(self).__name__} is initialized"
            )
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_size is not None if self._iterable else self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
            return n
        return len(self._index_sampler)

    def __iter__(self):
        # Like PyTorch, every new iterator draws the workers' base seed, with or without workers,
        # so the random stream (and a shuffle) is the same whatever num_workers is.
        gen = backend.generator_for(backend.CPU, self.generator)
        base_seed = int(gen.integers(0, 2**62, (), _np.int64))
        fast = self._in_memory_source()
        if self._iterable:
            if self.num_workers > 0:
                raise ValueError(
                    "nnrun's DataLoader reads an IterableDataset in the main process "
                    "only; use num_workers=0"
                )
            return _SingleProcessIter(self, self._iterable_batches())
        if fast is not None:
            return _SingleProcessIter(self, self._gathered_batches(*fast))
        fetch = _Fetcher(self.dataset, self._auto_collation, self.collate_fn)
        if self.num_workers == 0:
            return _SingleProcessIter(self, map(fetch, self._index_sampler))
        if not self.persistent_workers:
            return MultiProcessIter(self, fetch, base_seed)
        if self._iterator is None or self._iterator._conns is None:
            self._iterator = MultiProcessIter(self, fetch, base_seed)
        else:
            self._iterator._reset(self)
        return self._iterator

    # -------------------------------------------------------------------------------- fast path
    def _in_memory_source(self):
        """``(tensors, row_map)`` when batches can be gathered by fancy indexing, else None.

        ``row_map`` (or None for the identity) maps a dataset index to a row of the tensors
        through any number of nested ``Subset``s."""
        if self._iterable or not self._auto_collation or self.collate_fn is not default_collate:
            return None
        chain, ds = [], self.dataset
        while _plain(ds, Subset):
            chain.append(ds.indices)
            ds = ds.dataset
        if not _plain(ds, TensorDataset):
            return None
        tensors = ds.tensors
        if not all(isinstance(t, Tensor) and not t.requires_grad and t.ndim > 0 for t in tensors):
            return None
        row_map = None
        for indices in chain:  # outermost first: row_map sends an outer index to an inner one
            try:
                arr = _np.asarray(indices, dtype=_np.int64)
            except (TypeError, ValueError):
                return None
            if arr.ndim != 1:
                return None
            row_map = arr if row_map is None else arr[row_map]
        return tensors, row_map

    def _gathered_batches(self, tensors, row_map):
        batches = None
        if type(self.batch_sampler) is BatchSampler:
            batches = self.batch_sampler._epoch_batches()
        if batches is None:
            batches = (_np.asarray(b, dtype=_np.int64) for b in self.batch_sampler)
        for idx in batches:
            rows = idx if row_map is None else row_map[idx]
            on_device = {}
            out = []
            for t in tensors:
                dev = t.device
                if dev not in on_device:
                    on_device[dev] = rows if dev.type == "cpu" else backend.to_device(rows, dev)
                out.append(Tensor._make(t._data[on_device[dev]]))
            yield out  # a list, as default_collate makes of a batch of tuples

    def _iterable_batches(self):
        it = iter(self.dataset)
        if not self._auto_collation:
            for sample in it:
                yield self.collate_fn(sample)
            return
        while True:
            batch = []
            for sample in it:
                batch.append(sample)
                if len(batch) == self.batch_size:
                    break
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield self.collate_fn(batch)


def _plain(ds, cls) -> bool:
    """``ds`` is a ``cls`` whose item access is ``cls``'s own (a subclass may override it)."""
    t = type(ds)
    return (
        isinstance(ds, cls)
        and t.__getitem__ is cls.__getitem__
        and getattr(t, "__getitems__", None) is getattr(cls, "__getitems__", None)
    )


def _check_context(ctx, num_workers):
    if ctx is None:
        return
    if num_workers == 0:
        raise ValueError(
            "multiprocessing_context can only be used with multi-process loading "
            f"(num_workers > 0), but got num_workers={num_workers}"
        )
    if isinstance(ctx, str):
        methods = multiprocessing.get_all_start_methods()
        if ctx not in methods:
            raise ValueError(
                "multiprocessing_context option should specify a valid start method "
                f"in {methods!r}, but got multiprocessing_context={ctx!r}"
            )


class _Fetcher:
    """Indices → batch: ``__getitems__`` (or one ``__getitem__`` per index), then collate.
    Runs in the main process or in a worker."""

    def __init__(self, dataset, auto_collation, collate_fn):
        self.dataset, self.auto_collation, self.collate_fn = dataset, auto_collation, collate_fn

    def __call__(self, index):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        getitems = getattr(self.dataset, "__getitems__", None)
        data = getitems(index) if callable(getitems) else [self.dataset[i] for i in index]
        return self.collate_fn(data)


class _SingleProcessIter:
    """The iterator ``iter(loader)`` returns when batches are made in the main process."""

    def __init__(self, loader, batches):
        self._loader, self._batches = loader, iter(batches)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._batches)

    def __len__(self) -> int:
        return len(self._loader)
