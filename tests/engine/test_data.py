"""nr.utils.data: datasets, random_split, samplers, default_collate and the DataLoader (incl. its
in-memory fast path and worker processes), checked against PyTorch where it is installed."""

from __future__ import annotations

import collections
import gc
import os
import time

import nnrun.engine as nr
import numpy as np
import pytest
from nnrun.engine.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)

from tests.helpers import requires_torch, to_np

try:
    import torch
    import torch.utils.data as tud
except ImportError:
    torch = tud = None


class MyDataset(Dataset):  # the seed cheat-sheet's example
    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, idx):
        return self.X[idx], self.y[idx]


class Squares(Dataset):
    """A per-item dataset of (float32 array, int) samples; ``fail_at`` raises, ``exit_at`` dies."""

    def __init__(self, n, fail_at=None, exit_at=None, sleep=0.0):
        self.n, self.fail_at, self.exit_at, self.sleep = n, fail_at, exit_at, sleep

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise ValueError(f"bad sample {i}")
        if i == self.exit_at:
            os._exit(3)
        time.sleep(self.sleep)
        return np.full(3, i * i, dtype=np.float32), i


def batches_equal(a, b):
    """Same structure, types, dtypes, shapes and values."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, nr.Tensor):
        assert a.dtype is b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(to_np(a), to_np(b))
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            batches_equal(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            batches_equal(a[k], b[k])
    else:
        assert a == b


def slow(batch):  # a non-default collate_fn: forces per-sample __getitem__ + stack
    return default_collate(batch)


# --------------------------------------------------------------------------------------- datasets
def test_cheatsheet_custom_dataset_shuffled_batches():
    X, y = nr.randn(100, 4), nr.randint(0, 3, (100,))
    dl = DataLoader(MyDataset(X, y), batch_size=32, shuffle=True)
    assert len(dl) == 4
    epoch = list(dl)
    assert [len(b[1]) for b in epoch] == [32, 32, 32, 4]
    xb, yb = epoch[0]
    assert isinstance(epoch[0], list) and xb.shape == (32, 4) and xb.dtype is nr.float32
    assert yb.dtype is nr.int64
    # every sample exactly once, each x row still paired with its y
    rows = np.concatenate([to_np(b[0]) for b in epoch])
    order = [int(np.flatnonzero((to_np(X) == r).all(1))[0]) for r in rows]
    assert sorted(order) == list(range(100)) and order != list(range(100))
    np.testing.assert_array_equal(np.concatenate([to_np(b[1]) for b in epoch]), to_np(y)[order])
    assert not np.array_equal(rows, np.concatenate([to_np(b[0]) for b in dl]))  # reshuffled


def test_tensor_dataset_and_size_mismatch():
    ds = TensorDataset(nr.arange(10), nr.arange(10) * 2)
    assert len(ds) == 10 and [int(v) for v in ds[3]] == [3, 6]
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(nr.zeros(3), nr.zeros(4))


def test_random_split_sizes_disjoint_and_items():
    X, y = nr.randn(1000, 20), nr.randint(0, 3, (1000,))
    ds = TensorDataset(X, y)
    train_ds, val_ds = nr.utils.data.random_split(ds, [800, 200])
    assert isinstance(train_ds, Subset) and (len(train_ds), len(val_ds)) == (800, 200)
    a, b = set(train_ds.indices), set(val_ds.indices)
    assert not a & b and a | b == set(range(1000))
    i = train_ds.indices[5]
    np.testing.assert_array_equal(to_np(train_ds[5][0]), to_np(X[i]))


@pytest.mark.parametrize(
    "n, fracs", [(30, [0.3, 0.3, 0.4]), (11, [0.5, 0.5]), (10, [0.25] * 4), (7, [0.1, 0.2, 0.7])]
)
def test_random_split_fractions_distribute_remainder_round_robin(n, fracs):
    sizes = [len(s) for s in random_split(range(n), fracs)]
    assert sum(sizes) == n
    expected = [int(np.floor(n * f)) for f in fracs]
    for i in range(n - sum(expected)):
        expected[i % len(fracs)] += 1
    assert sizes == expected
    if torch is not None:
        assert sizes == [len(s) for s in tud.random_split(range(n), fracs)]


def test_random_split_errors_and_warning():
    with pytest.raises(
        ValueError, match="Sum of input lengths does not equal the length of the input dataset!"
    ):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 0 is not between 0 and 1"):
        random_split(range(10), [1.5, -0.5])
    with pytest.warns(UserWarning, match="Length of split at index") as record:
        random_split(range(2), [0.9, 0.05, 0.05])  # floor → [1, 0, 0], remainder → [2, 0, 0]
    assert [str(w.message)[:26] for w in record] == [
        "Length of split at index 1",
        "Length of split at index 2",
    ]


def test_random_split_reproducible_with_manual_seed_and_generator():
    nr.manual_seed(1)
    first = random_split(range(50), [25, 25])[0].indices
    nr.manual_seed(1)
    assert random_split(range(50), [25, 25])[0].indices == first
    assert random_split(range(50), [25, 25])[0].indices != first  # the stream moved on
    state = nr.get_rng_state()
    g1 = random_split(range(50), [25, 25], generator=nr.Generator().manual_seed(42))
    g2 = random_split(range(50), [25, 25], generator=nr.Generator().manual_seed(42))
    assert g1[0].indices == g2[0].indices != first
    assert nr.equal(nr.get_rng_state(), state)  # a private generator leaves the global one alone


def test_concat_and_iterable_datasets():
    cat = TensorDataset(nr.arange(3)) + TensorDataset(nr.arange(10, 15))
    assert isinstance(cat, ConcatDataset) and len(cat) == 8
    assert int(cat[3][0]) == 10 and int(cat[-1][0]) == 14
    with pytest.raises(ValueError, match="absolute value of index"):
        cat[-9]

    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))

        def __len__(self):
            return 7

    dl = DataLoader(Stream(), batch_size=3)
    assert len(dl) == 3 and [b.tolist() for b in dl] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(DataLoader(Stream(), batch_size=3, drop_last=True)) == 2
    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3, drop_last=True)] == [
        [0, 1, 2],
        [3, 4, 5],
    ]
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(), shuffle=True)


# --------------------------------------------------------------------------------------- samplers
def test_samplers():
    assert list(BatchSampler(SequentialSampler(range(10)), 3, False)) == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7, 8],
        [9],
    ]
    assert list(BatchSampler(range(10), 3, True)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert sorted(RandomSampler(range(10))) == list(range(10))
    drawn = list(RandomSampler(range(5), replacement=True, num_samples=40))
    assert len(drawn) == 40 and set(drawn) <= set(range(5)) and len(set(drawn)) > 1
    longer = list(RandomSampler(range(4), num_samples=10))
    assert sorted(longer[:4]) == sorted(longer[4:8]) == [0, 1, 2, 3] and len(longer) == 10
    with pytest.raises(
        ValueError, match="batch_size should be a positive integer value, but got batch_size=0"
    ):
        BatchSampler(range(3), 0, False)
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)


# --------------------------------------------------------------------------------------- collate
Point = collections.namedtuple("Point", ["x", "y"])


def _collate_cases(m):
    """The same batches built from nnrun or torch (``m``) tensors."""
    t = (lambda a: nr.tensor(a)) if m is nr else (lambda a: torch.tensor(a))
    return [
        [(1, 2.5), (3, 4.0)],
        [[1, 2], [3, 4]],
        [{"a": 1.0, "b": True}, {"a": 2.0, "b": False}],
        [np.array([1.0, 2.0]), np.array([3.0, 4.0])],
        [np.array([1, 2], dtype=np.uint8), np.array([3, 4], dtype=np.uint8)],
        [np.float32(1.5), np.float32(2.5)],
        [np.int32(1), np.int32(2)],
        [1, 2.5],
        [t([[1.0, 2.0]]), t([[3.0, 4.0]])],
        [(t([1, 2]), "a"), (t([3, 4]), "b")],
        [Point(1, np.zeros(2)), Point(2, np.ones(2))],
        [{"x": (t(1.0), [1, 2])}, {"x": (t(2.0), [3, 4])}],
    ]


def _same_as_torch(ours, theirs):
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, nr.Tensor)
        assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_array_equal(to_np(ours), theirs.numpy())
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same_as_torch(a, b)
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for k in theirs:
            _same_as_torch(ours[k], theirs[k])
    else:
        assert ours == theirs


def test_default_collate_types_and_dtypes():
    xs, fl = default_collate([(1, 2.5), (3, 4.0)])
    assert xs.dtype is nr.int64 and fl.dtype is nr.float64  # PyTorch: floats → float64
    assert default_collate([True, False]).dtype is nr.bool
    assert default_collate([np.float32(1)]).dtype is nr.float32
    out = default_collate([Point(1, np.zeros(2)), Point(2, np.ones(2))])
    assert isinstance(out, Point) and out.y.dtype is nr.float64 and out.y.shape == (2, 2)
    assert default_collate(["a", "b"]) == ["a", "b"]
    stacked = default_collate([nr.ones(2, 3), nr.zeros(2, 3)])
    assert stacked.shape == (2, 2, 3) and stacked.dtype is nr.float32
    with pytest.raises(
        TypeError,
        match="default_collate: batch must contain tensors, numpy "
        "arrays, numbers, dicts or lists; found",
    ):
        default_collate([object()])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal"):
        default_collate([[1, 2], [3]])
    assert default_convert((np.array([1, 2]), 3))[0].dtype is nr.int64


@requires_torch
def test_default_collate_matches_torch():
    for ours_in, theirs_in in zip(_collate_cases(nr), _collate_cases(torch)):
        _same_as_torch(default_collate(ours_in), tud.default_collate(theirs_in))


# ---------------------------------------------------------------------------------- the DataLoader
def test_len_and_drop_last():
    ds = TensorDataset(nr.arange(10))
    assert len(DataLoader(ds, batch_size=3)) == 4
    assert [len(b[0]) for b in DataLoader(ds, batch_size=3)] == [3, 3, 3, 1]
    assert len(DataLoader(ds, batch_size=3, drop_last=True)) == 3
    assert [len(b[0]) for b in DataLoader(ds, batch_size=3, drop_last=True)] == [3, 3, 3]
    assert len(DataLoader(Squares(10), batch_size=5, drop_last=True)) == 2
    assert len(DataLoader(ds, batch_size=1)) == 10 and len(iter(DataLoader(ds, batch_size=4))) == 3


def test_shuffle_reproducible_with_manual_seed_and_generator():
    ds = TensorDataset(nr.arange(40))

    def two_epochs(**kw):
        dl = DataLoader(ds, batch_size=8, shuffle=True, **kw)
        return [[b[0].tolist() for b in dl] for _ in range(2)]

    nr.manual_seed(7)
    a = two_epochs()
    nr.manual_seed(7)
    assert two_epochs() == a and a[0] != a[1]  # same seed, same epochs; epochs differ
    g = two_epochs(generator=nr.Generator().manual_seed(3))
    assert g == two_epochs(generator=nr.Generator().manual_seed(3)) and g != a


@pytest.mark.parametrize("shuffle, drop_last", [(False, False), (True, False), (True, True)])
def test_fast_path_gives_the_same_batches_as_per_sample(shuffle, drop_last):
    n = 53
    ds = TensorDataset(
        nr.randn(n, 3), nr.randint(0, 5, (n,)), nr.rand(n, 2) > 0.5, nr.arange(n, dtype=nr.float64)
    )
    train, _ = random_split(ds, [40, 13])
    nested = Subset(train, list(range(39, 0, -2)))
    for data in (ds, train, nested):
        fast = DataLoader(data, batch_size=6, shuffle=shuffle, drop_last=drop_last)
        assert fast._in_memory_source() is not None  # the one-fancy-index path is taken
        nr.manual_seed(11)
        got = list(fast)
        nr.manual_seed(11)
        want = list(
            DataLoader(data, batch_size=6, shuffle=shuffle, drop_last=drop_last, collate_fn=slow)
        )
        assert len(got) == len(want) == len(fast)
        for a, b in zip(got, want):
            batches_equal(a, b)


def test_fast_path_respects_overridden_getitem_and_custom_samplers():
    class Plus1(TensorDataset):
        def __getitem__(self, i):
            return tuple(t[i] + 1 for t in self.tensors)

    dl = DataLoader(Plus1(nr.arange(6)), batch_size=3)
    assert dl._in_memory_source() is None and [b[0].tolist() for b in dl] == [[1, 2, 3], [4, 5, 6]]
    ds = TensorDataset(nr.arange(10) * 10)
    sampled = DataLoader(ds, batch_size=2, sampler=[9, 0, 3])
    assert [b[0].tolist() for b in sampled] == [[90, 0], [30]]
    by_batch = DataLoader(ds, batch_sampler=[[1, 2], [7]])
    assert [b[0].tolist() for b in by_batch] == [[10, 20], [70]]


def test_batch_size_none_and_getitems():
    dl = DataLoader(Squares(3), batch_size=None)
    x, i = next(iter(dl))
    assert isinstance(x, nr.Tensor) and x.shape == (3,) and i == 0  # converted, not batched

    class Batched(Squares):
        calls = 0

        def __getitems__(self, indices):
            Batched.calls += 1
            return [self[i] for i in indices]

    assert len(list(DataLoader(Batched(10), batch_size=4))) == 3 and Batched.calls == 3


def test_argument_errors():
    ds = TensorDataset(nr.arange(4))
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(
        ValueError, match="prefetch_factor option could only be specified in multiprocessing"
    ):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="batch_size=None option disables auto-batching"):
        DataLoader(ds, batch_size=None, drop_last=True)
    dl = DataLoader(ds)
    with pytest.raises(
        ValueError, match="batch_size attribute should not be set after DataLoader is initialized"
    ):
        dl.batch_size = 3


@requires_torch
def test_per_sample_batches_match_torch():
    X = np.random.default_rng(0).standard_normal((9, 2)).astype(np.float32)

    class Pairs:
        def __init__(self, m, to):
            self.m, self.to = m, to

        def __len__(self):
            return 9

        def __getitem__(self, i):
            return {"x": self.to(X[i]), "i": i, "w": float(i) / 2}

    ours = list(DataLoader(Pairs(nr, nr.tensor), batch_size=4))
    theirs = list(tud.DataLoader(Pairs(torch, torch.tensor), batch_size=4))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        _same_as_torch(a, b)


# -------------------------------------------------------------------------------- worker processes
def _epochs(dl, n=1):
    return [[(to_np(x), y.tolist()) for x, y in dl] for _ in range(n)]


def _assert_same_epochs(a, b):
    assert len(a) == len(b)
    for ea, eb in zip(a, b):
        assert len(ea) == len(eb)
        for (xa, ya), (xb, yb) in zip(ea, eb):
            np.testing.assert_array_equal(xa, xb)
            assert ya == yb


def test_workers_give_the_same_batches_in_order():
    ds = Squares(23)
    assert len(iter(DataLoader(ds, batch_size=3, num_workers=2))) == 8
    _assert_same_epochs(
        _epochs(DataLoader(ds, batch_size=3, num_workers=2)), _epochs(DataLoader(ds, batch_size=3))
    )
    nr.manual_seed(5)
    shuffled = _epochs(DataLoader(ds, batch_size=4, shuffle=True, num_workers=2), 2)
    nr.manual_seed(5)
    _assert_same_epochs(shuffled, _epochs(DataLoader(ds, batch_size=4, shuffle=True), 2))
    # persistent workers serve several epochs, and an epoch abandoned half-way
    dl = DataLoader(ds, batch_size=5, num_workers=2, persistent_workers=True)
    next(iter(dl))
    _assert_same_epochs(_epochs(dl, 2), _epochs(DataLoader(ds, batch_size=5), 2))
    procs = list(dl._iterator._procs)
    del dl
    gc.collect()
    for p in procs:
        p.join(5)
    assert not any(p.is_alive() for p in procs)


def test_worker_info_seeds_and_init_fn():
    class WhoAmI(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            info = get_worker_info()
            return info.id, info.num_workers, float(nr.rand(1))

    dl = DataLoader(
        WhoAmI(), batch_size=2, num_workers=2, worker_init_fn=lambda wid: nr.manual_seed(100 + wid)
    )
    ids, counts, draws = zip(*[(b[0].tolist(), b[1].tolist(), b[2].tolist()) for b in dl])
    assert ids == ([0, 0], [1, 1], [0, 0], [1, 1]) and {c for pair in counts for c in pair} == {2}
    assert draws[0] != draws[1]  # workers are seeded differently
    assert get_worker_info() is None


def test_worker_exception_is_reraised_with_its_traceback():
    start = time.monotonic()
    it = iter(DataLoader(Squares(12, fail_at=7), batch_size=2, num_workers=2))
    procs = list(it._procs)
    assert len(next(it)[1]) == 2
    with pytest.raises(ValueError) as info:
        list(it)
    msg = str(info.value)
    assert "Caught ValueError in DataLoader worker process 1" in msg
    assert "Traceback (most recent call last)" in msg and "bad sample 7" in msg
    for p in procs:
        p.join(5)
    assert not any(p.is_alive() for p in procs) and time.monotonic() - start < 10


def test_dead_worker_and_timeout_raise_clear_errors():
    with pytest.raises(
        RuntimeError,
        match=r"DataLoader worker \(pid\(s\) \d+\) exited "
        "unexpectedly",
    ):
        list(DataLoader(Squares(6, exit_at=2), batch_size=1, num_workers=2))
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.2 seconds"):
        list(DataLoader(Squares(4, sleep=5.0), batch_size=2, num_workers=1, timeout=0.2))
    assert time.monotonic() - start < 3  # the stuck worker is terminated, not waited for


def test_workers_exit_when_the_iterator_is_dropped():
    it = iter(DataLoader(Squares(40), batch_size=2, num_workers=2))
    next(it)
    procs = list(it._procs)
    assert all(p.is_alive() for p in procs)
    del it
    gc.collect()
    for p in procs:
        p.join(5)
    assert not any(p.is_alive() for p in procs)


def test_in_memory_dataset_with_workers_uses_the_fast_path():
    ds = TensorDataset(nr.arange(10))
    dl = DataLoader(ds, batch_size=4, num_workers=2)
    assert dl._in_memory_source() is not None
    assert [b[0].tolist() for b in dl] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
