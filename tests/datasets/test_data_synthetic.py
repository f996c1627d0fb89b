"""Synthetic generators: seeded, sized as asked, and the problems they claim to be."""

import nnrun.datasets as D
import numpy as np
import pytest

SYNTHETIC = ["blobs", "spirals", "random", "shapes", "regression"]


def _load(name, **kwargs):
    seed, split = kwargs.pop("seed", 0), kwargs.pop("split", "train")
    return D.load({"name": name, **kwargs}, seed=seed, split=split)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_deterministic_for_a_seed_and_different_across_seeds(name):
    a, b, c = (
        _load(name, n_samples=64, seed=3),
        _load(name, n_samples=64, seed=3),
        _load(name, n_samples=64, seed=4),
    )
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_sizes_dtypes_and_splits(name):
    ds = _load(name, n_samples=37)
    assert len(ds) == 37 and ds.x.shape[0] == 37 and ds.x.dtype == np.float32
    assert np.isfinite(ds.x).all()
    if name == "regression":
        assert ds.task == "regression" and ds.y.shape == (37, 1) and ds.y.dtype == np.float32
        assert ds.num_classes is None
    else:
        assert ds.task == "classification" and ds.y.shape == (37,) and ds.y.dtype == np.int64
        assert 0 <= ds.y.min() and ds.y.max() < ds.num_classes
    test = _load(name, n_samples=37, split="test")
    assert test.x.shape == ds.x.shape and not np.array_equal(test.x, ds.x)
    assert ds.info


def test_train_samples_come_from_default_rng_of_the_seed():
    ds = D.load("random", seed=7)
    rng = np.random.default_rng(7)
    np.testing.assert_array_equal(ds.x, rng.standard_normal((1000, 20), dtype=np.float32))
    np.testing.assert_array_equal(ds.y, rng.integers(0, 3, size=1000))


def test_random_matches_the_cheat_sheet_shapes():
    ds = D.load("random")
    assert ds.x.shape == (1000, 20) and ds.num_classes == 3
    assert set(np.unique(ds.y)) == {0, 1, 2}
    assert abs(ds.x.mean()) < 0.05 and abs(ds.x.std() - 1) < 0.05


def test_blobs_test_split_is_the_same_problem():
    train, test = _load("blobs", n_samples=600), _load("blobs", n_samples=600, split="test")
    for k in range(3):
        centre_train, centre_test = train.x[train.y == k].mean(0), test.x[test.y == k].mean(0)
        assert np.linalg.norm(centre_train - centre_test) < 0.5  # same centres, fresh samples


def test_spirals_balanced_learnable_but_not_linear():
    ds = D.load("spirals")
    assert ds.x.shape == (1000, 2) and np.abs(ds.x).max() < 1.5
    assert np.bincount(ds.y).tolist() == [500, 500]
    # Leave-one-out 1-nearest-neighbour: the classes are cleanly separated (a small MLP fits them).
    d = ((ds.x[:, None] - ds.x[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (ds.y[d.argmin(1)] == ds.y).mean() > 0.97
    # ... but no straight line separates them.
    X = np.c_[ds.x, np.ones(len(ds))]
    w = np.linalg.lstsq(X, 2.0 * ds.y - 1, rcond=None)[0]
    assert ((X @ w > 0) == ds.y).mean() < 0.75


def test_shapes_images():
    ds = D.load({"name": "shapes", "n_samples": 200, "noise": 0.0})
    assert ds.x.shape == (200, 1, 28, 28) and ds.classes == [
        "square",
        "circle",
        "triangle",
        "cross",
    ]
    assert ds.x.min() >= 0 and ds.x.max() <= 1
    assert np.bincount(ds.y).tolist() == [50, 50, 50, 50]
    for image, label in zip(ds.x[:, 0], ds.y):
        rows, cols = np.nonzero(image)
        box = image[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert min(box.shape) >= 6  # big enough to see
        filled = (box > 0).mean()
        assert filled == 1.0 if label == 0 else filled < 0.9  # only a square fills its box


def test_regression_is_partly_linear():
    ds = D.load({"name": "regression", "n_samples": 2000})
    X = np.c_[ds.x, np.ones(len(ds))]
    residual = ds.y - X @ np.linalg.lstsq(X, ds.y, rcond=None)[0]
    r2 = 1 - residual.var() / ds.y.var()
    assert 0.3 < r2 < 0.97  # a linear model explains some of it, an MLP can do better
    assert D.load({"name": "regression", "n_samples": 5, "n_targets": 3}).y.shape == (5, 3)
