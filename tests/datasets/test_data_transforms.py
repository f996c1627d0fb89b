"""Seeded splits, normalisation statistics, and the lazy array they keep lazy."""

import nnrun.datasets as D
import numpy as np
import pytest
from nnrun.datasets import DataError, LazyArray


def test_split_indices_deterministic_disjoint_and_complete():
    train, held = D.split_indices(100, 0.2, seed=5)
    again = D.split_indices(100, 0.2, seed=5)
    np.testing.assert_array_equal(train, again[0])
    np.testing.assert_array_equal(held, again[1])
    assert len(held) == 20 and len(train) == 80 and train.dtype == np.int64
    assert np.array_equal(np.sort(np.concatenate([train, held])), np.arange(100))
    assert not np.array_equal(held, D.split_indices(100, 0.2, seed=6)[1])


def test_split_is_stratified_by_labels():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    _, held = D.split_indices(100, 0.1, seed=0, labels=labels)
    assert np.bincount(labels[held]).tolist() == [5, 3, 2]


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, True, "0.2"])
def test_bad_fractions(fraction):
    with pytest.raises(DataError, match="val_split"):
        D.split_indices(10, fraction)


def test_split_that_holds_out_nothing():
    with pytest.raises(DataError, match="leaves no samples held out"):
        D.split_indices(5, 0.01)


def test_val_split_returns_datasets():
    ds = D.load("digits")
    train, val = D.val_split(ds, 0.25, seed=1)
    assert len(train) + len(val) == 1797 and abs(len(val) - 449) <= 5
    assert train.num_classes == val.num_classes == 10 and val.task == "classification"
    assert set(np.unique(val.y)) == set(range(10))


def test_lazy_array_indexing_and_subsets():
    raw = np.arange(24, dtype=np.uint8).reshape(6, 1, 2, 2)
    lazy = LazyArray(raw, scale=0.5, shift=1.0)
    full = raw.astype(np.float32) * 0.5 + 1
    assert lazy.shape == (6, 1, 2, 2) and len(lazy) == 6 and lazy.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(lazy), full)
    np.testing.assert_array_equal(lazy[2], full[2])
    np.testing.assert_array_equal(lazy[1:4], full[1:4])
    np.testing.assert_array_equal(lazy[np.array([5, 0])], full[[5, 0]])
    np.testing.assert_array_equal(lazy[full[:, 0, 0, 0] > 5], full[full[:, 0, 0, 0] > 5])
    np.testing.assert_array_equal(lazy[1:3, 0, 1], full[1:3, 0, 1])
    sub = lazy.take(np.array([4, 1, 3]))
    assert isinstance(sub, LazyArray) and sub.raw is raw
    np.testing.assert_array_equal(sub[[0, 2]], full[[4, 3]])
    ds = D.ArrayDataset(lazy, np.arange(6), "classification", 6)
    train, val = D.val_split(ds, 0.5, seed=0, stratify=False)
    assert isinstance(train.x, LazyArray) and train.x.raw is raw
    np.testing.assert_array_equal(np.asarray(val.x), full[D.split_indices(6, 0.5)[1]])


def test_global_normalization_matches_numpy():
    x = np.random.default_rng(0).normal(3, 2, size=(50, 2, 4, 4)).astype(np.float32)
    mean, std = D.compute_normalization(x)
    assert mean.shape == () and std.shape == () and mean.dtype == np.float32
    np.testing.assert_allclose(mean, x.mean(dtype=np.float64), rtol=1e-5)
    np.testing.assert_allclose(std, x.std(dtype=np.float64), rtol=1e-5)
    z = D.normalize(x, mean, std)
    assert z.dtype == np.float32 and abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-4


def test_per_channel_normalization_and_constant_features():
    x = np.random.default_rng(0).normal(size=(40, 3, 5, 5)).astype(np.float32)
    x[:, 1] = x[:, 1] * 4 + 10
    x[:, 2] = 7.0  # constant channel
    mean, std = D.compute_normalization(x, per_channel=True)
    assert mean.shape == std.shape == (3, 1, 1)
    np.testing.assert_allclose(mean[:, 0, 0], x.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std[:2, 0, 0], x.std(axis=(0, 2, 3))[:2], rtol=1e-5)
    assert std[2] == 1.0  # a zero std becomes 1, so the channel normalises to 0
    z = D.normalize(x, mean, std)
    assert np.all(z[:, 2] == 0)
    table_mean, table_std = D.compute_normalization(x.reshape(40, -1), per_channel=True)
    assert table_mean.shape == table_std.shape == (75,)


def test_normalization_of_a_lazy_array_stays_lazy():
    raw = np.random.default_rng(0).integers(0, 256, size=(30, 1, 4, 4), dtype=np.uint8)
    lazy = LazyArray(raw, scale=1 / 255)
    eager = np.asarray(lazy)
    for per_channel in (False, True):
        stats = D.compute_normalization(lazy, per_channel=per_channel)
        for a, b in zip(stats, D.compute_normalization(eager, per_channel=per_channel)):
            np.testing.assert_allclose(a, b, rtol=1e-6)
        z = D.normalize(lazy, *stats)
        assert isinstance(z, LazyArray) and z.raw is raw
        np.testing.assert_allclose(np.asarray(z), D.normalize(eager, *stats), atol=1e-5)


def test_normalization_shape_mismatch():
    x = np.zeros((4, 1, 8, 8), np.float32)
    with pytest.raises(DataError, match=r"shape \(3, 1, 1\) does not fit samples of shape"):
        D.normalize(x, np.zeros((3, 1, 1)), np.ones((3, 1, 1)))
