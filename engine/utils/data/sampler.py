"""Samplers: which indices a :class:`DataLoader` reads, and in which batches."""

from __future__ import annotations

import itertools

from ... import backend

__all__ = ["BatchSampler", "RandomSampler", "Sampler", "SequentialSampler", "SubsetRandomSampler"]

_np = backend.np


class Sampler:
    r"""Base class for samplers: ``__iter__`` yields dataset indices, ``__len__`` counts them."""

    def __init__(self, data_source=None) -> None:
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    r"""Samples elements sequentially, always in the same order.

    Args:
        data_source (Dataset): dataset to sample from
    """

    def __init__(self, data_source) -> None:
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)

    def _epoch_indices(self):
        return _np.arange(len(self.data_source), dtype=_np.int64)


class RandomSampler(Sampler):
    r"""Samples elements randomly. Without replacement it samples from a shuffled dataset; with
    replacement, ``num_samples`` indices are drawn independently.

    Every iteration (epoch) draws a new order from ``generator``, or from the global generator
    when it is None, so ``nr.manual_seed`` makes the orders reproducible.

    Args:
        data_source (Dataset): dataset to sample from
        replacement (bool): samples are drawn on-demand with replacement if ``True``
            (default: ``False``)
        num_samples (int): number of samples to draw (default: ``len(dataset)``)
        generator (Generator): Generator used in sampling.
    """

    def __init__(
        self, data_source, replacement: bool = False, num_samples=None, generator=None
    ) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError(
                f"replacement should be a boolean value, but got replacement={self.replacement}"
            )
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(
                "num_samples should be a positive integer value, but got "
                f"num_samples={self.num_samples}"
            )

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _epoch_indices(self):
        """This epoch's whole index order as one int64 array (drawn once, on the CPU)."""
        n = len(self.data_source)
        gen = backend.generator_for(backend.CPU, self.generator)
        if self.replacement:
            return gen.integers(0, n, (self.num_samples,), _np.int64)
        full, rest = divmod(self.num_samples, n)
        parts = [gen.permutation(n) for _ in range(full)] + [gen.permutation(n)[:rest]]
        return _np.concatenate(parts)

    def __iter__(self):
        yield from self._epoch_indices().tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    r"""Samples elements randomly from a given list of indices, without replacement.

    Args:
        indices (sequence): a sequence of indices
        generator (Generator): Generator used in sampling.
    """

    def __init__(self, indices, generator=None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        gen = backend.generator_for(backend.CPU, self.generator)
        for i in gen.permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class BatchSampler(Sampler):
    r"""Wraps another sampler to yield lists of ``batch_size`` indices.

    Args:
        sampler (Sampler or Iterable): Base sampler.
        batch_size (int): Size of mini-batch.
        drop_last (bool): If ``True``, drop the last batch when it is smaller than ``batch_size``.

    Example::

        >>> list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False))
        [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    """

    def __init__(self, sampler, batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(  # noqa: TRY004 - PyTorch raises ValueError here
                f"drop_last should be a boolean value, but got drop_last={drop_last}"
            )
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        it = iter(self.sampler)
        batch = list(itertools.islice(it, self.batch_size))
        while batch and (len(batch) == self.batch_size or not self.drop_last):
            yield batch
            batch = list(itertools.islice(it, self.batch_size))

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size

    def _epoch_batches(self):
        """The epoch's batches as int64 arrays when the sampler can give its whole order at once
        (the built-in samplers), else None. Yields exactly what ``__iter__`` would."""
        if type(self.sampler) not in (SequentialSampler, RandomSampler):
            return None
        order = self.sampler._epoch_indices()
        n, bs = len(order), self.batch_size
        stop = n - n % bs if self.drop_last else n
        return (order[i : i + bs] for i in range(0, stop, bs))
