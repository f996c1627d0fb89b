"""The shipped digits, the built-in registry and `load`'s spec handling."""

from pathlib import Path

import nnrun.datasets as D
import numpy as np
import pytest
from nnrun.datasets import DataError


@pytest.fixture(scope="module")
def digits():
    return D.load("digits")


def test_digits_is_the_real_uci_test_set(digits):
    assert digits.x.shape == (1797, 1, 8, 8)
    assert digits.x.dtype == np.float32 and digits.y.dtype == np.int64
    assert digits.task == "classification" and digits.num_classes == 10
    counts = np.bincount(digits.y, minlength=10)
    assert counts.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert digits.x.min() == 0 and digits.x.max() == 16
    assert np.all(digits.x == np.round(digits.x))  # integer pixel counts, not normalised
    assert digits.x.sum(dtype=np.float64) == 561718  # checksum of all pixels
    # The first image is a zero: a ring of ink with an empty centre.
    first = digits.x[0, 0]
    assert digits.y[0] == 0 and first[3:5, 3:5].sum() == 0 and first[:, 1:3].sum() > 20


def test_digits_provenance_ships_with_the_data():
    readme = (Path(D.__file__).parent / "data" / "README.md").read_text()
    for needle in ("CC BY 4.0", "Alpaydin", "Kaynak", "UCI", "10.24432/C50P49"):
        assert needle in readme


def test_digits_has_no_test_split():
    with pytest.raises(DataError, match="val_split"):
        D.load("digits", split="test")


def test_registry_and_descriptions():
    names = D.builtin_names()
    assert names == ["digits", "blobs", "spirals", "random", "shapes", "regression"]
    described = D.describe()
    assert [n for n, _ in described] == names
    assert all(isinstance(d, str) and d and "\n" not in d for _, d in described)


def test_builtin_with_options():
    ds = D.load({"name": "blobs", "n_samples": 50, "n_features": 4}, seed=2)
    assert ds.x.shape == (50, 4)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("digts", "Did you mean 'digits'"),
        ({"name": "spiral"}, "Did you mean 'spirals'"),
        ({"name": "blobs", "n_sample": 5}, "Did you mean 'n_samples'"),
        ({"name": "blobs", "n_samples": 0}, "n_samples must be an integer >= 1"),
        ({"name": "blobs", "n_samples": "ten"}, "n_samples"),
        ({"name": "blobs", "n_samples": True}, "n_samples"),
        ({"name": "spirals", "noise": -1.0}, "noise"),
        ({"name": "digits", "n_samples": 5}, "no option 'n_samples'"),
        ({"name": "blobs", "format": "npz"}, "not both"),
        (42, "built-in name or a mapping"),
        ({"format": "npzz", "path": "a.npz"}, "Did you mean 'npz'"),
        ({"format": None}, "unknown dataset format"),
    ],
)
def test_bad_specs_raise_one_clear_error(spec, message):
    with pytest.raises(DataError, match=message):
        D.load(spec)


def test_bad_seed_and_split():
    with pytest.raises(DataError, match="seed"):
        D.load("blobs", seed=-1)
    with pytest.raises(DataError, match="unknown split"):
        D.load("blobs", split="dev")


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)
