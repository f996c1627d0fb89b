"""NumPy and CSV readers: round trips, split overrides, and one clear DataError per bad input."""

import gzip
import re
import zipfile

import nnrun.datasets as D
import numpy as np
import pytest
from nnrun.datasets import DataError, LazyArray


def raises_naming(path, match=""):
    """pytest.raises(DataError) whose message names ``path`` and matches ``match``."""
    return pytest.raises(DataError, match=re.escape(str(path)) + ".*" + match)


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 3)), rng.integers(0, 4, size=20)


# --- npz ----------------------------------------------------------------------------------------


def test_npz_round_trip(tmp_path, xy):
    x, y = xy
    np.savez(tmp_path / "d.npz", feats=x, labels=y)
    ds = D.load({"format": "npz", "path": "d.npz", "x": "feats", "y": "labels"}, base_dir=tmp_path)
    np.testing.assert_array_equal(ds.x, x.astype(np.float32))
    np.testing.assert_array_equal(ds.y, y)
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    assert ds.task == "classification" and ds.num_classes == y.max() + 1


def test_npz_float_targets_are_regression_with_2d_targets(tmp_path, xy):
    x, _ = xy
    np.savez(tmp_path / "r.npz", x=x, y=x.sum(1))
    ds = D.load({"format": "npz", "path": str(tmp_path / "r.npz")})
    assert ds.task == "regression" and ds.y.shape == (20, 1) and ds.y.dtype == np.float32


def test_npz_float_labels_with_explicit_task(tmp_path, xy):
    x, y = xy
    np.savez(tmp_path / "d.npz", x=x, y=y.astype(float))
    spec = {"format": "npz", "path": str(tmp_path / "d.npz"), "task": "classification"}
    ds = D.load({**spec, "num_classes": 6, "classes": list("abcdef")})
    assert ds.y.dtype == np.int64 and ds.num_classes == 6 and ds.classes[5] == "f"
    np.savez(tmp_path / "d.npz", x=x, y=y + 0.5)
    with raises_naming(tmp_path / "d.npz", "not a whole number"):
        D.load(spec)


@pytest.mark.parametrize(
    ("arrays", "spec", "message"),
    [
        (
            {"x": np.ones((4, 2)), "y": np.arange(4)},
            {"x": "X"},
            "no array named 'X'.*Did you mean 'x'",
        ),
        ({"x": np.ones((4, 2)), "y": np.arange(3)}, {}, "4 samples but targets have 3"),
        ({"x": np.array([[1.0], [np.nan]]), "y": np.arange(2)}, {}, "NaN or inf .*sample 1"),
        ({"x": np.array([[1.0], [np.inf]]), "y": np.arange(2)}, {}, "NaN or inf"),
        ({"x": np.ones((3, 2)), "y": np.array([0, -1, 1])}, {}, "label -1 at sample 1 is negative"),
        ({"x": np.ones((3, 2)), "y": np.array([0, 5, 1])}, {"num_classes": 3}, "outside 0..2"),
        ({"x": np.ones((3, 2)), "y": np.ones((3, 2), int)}, {}, r"shape \(N,\)"),
        ({"x": np.array(["a", "b"]), "y": np.arange(2)}, {}, "must be numbers"),
        ({"x": np.ones((0, 2)), "y": np.arange(0)}, {}, "empty"),
        ({"x": np.ones((2, 2)), "y": np.arange(2)}, {"task": "regresion"}, "Did you mean"),
    ],
)
def test_npz_bad_contents(tmp_path, arrays, spec, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "bad.npz")) + ".*" + message):
        D.load({"format": "npz", "path": str(tmp_path / "bad.npz"), **spec})


def test_npz_refuses_object_arrays(tmp_path):
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}, None], dtype=object), y=np.arange(2))
    with raises_naming(tmp_path / "obj.npz", "pickle"):
        D.load({"format": "npz", "path": str(tmp_path / "obj.npz")})


def test_npz_header_claiming_huge_size_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.npz"
    member = tmp_path / "x.npy"
    with open(member, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
        )
        f.write(b"\0" * 64)
    with zipfile.ZipFile(path, "w") as z:
        z.write(member, "x.npy")
    with raises_naming(path, "header claims"):
        D.load({"format": "npz", "path": str(path)})


def test_npz_not_an_archive(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(3))
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip file at all")
    with raises_naming(tmp_path / "a.npy", "use format: npy"):
        D.load({"format": "npz", "path": str(tmp_path / "a.npy")})
    with raises_naming(tmp_path / "junk.npz", "not a zip"):
        D.load({"format": "npz", "path": str(tmp_path / "junk.npz")})


# --- npy ----------------------------------------------------------------------------------------


def test_npy_is_memory_mapped_and_lazy(tmp_path, xy):
    x, y = xy
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    spec = {"format": "npy", "x": "x.npy", "y": "y.npy"}
    ds = D.load(spec, base_dir=tmp_path)
    assert isinstance(ds.x, LazyArray) and isinstance(ds.x.raw, np.memmap)
    np.testing.assert_array_equal(np.asarray(ds.x), x.astype(np.float32))
    np.testing.assert_array_equal(ds.x[[3, 1]], x[[3, 1]].astype(np.float32))
    eager = D.load({**spec, "mmap": False}, base_dir=tmp_path)
    assert type(eager.x) is np.ndarray
    np.testing.assert_array_equal(eager.x, x.astype(np.float32))


def test_npy_refuses_object_arrays_and_pickles(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([1, "a", None], dtype=object), allow_pickle=True)
    np.save(tmp_path / "y.npy", np.arange(3))
    with raises_naming(tmp_path / "obj.npy", "pickle"):
        D.load({"format": "npy", "x": str(tmp_path / "obj.npy"), "y": str(tmp_path / "y.npy")})


def test_npy_truncated_or_huge_header(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((100, 10)))
    np.save(tmp_path / "y.npy", np.arange(100))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(data[:-80])
    spec = {"format": "npy", "x": str(tmp_path / "x.npy"), "y": str(tmp_path / "y.npy")}
    for mmap in (True, False):
        with raises_naming(tmp_path / "x.npy", "truncated"):
            D.load({**spec, "mmap": mmap})
    (tmp_path / "x.npy").write_bytes(b"not an npy file")
    with raises_naming(tmp_path / "x.npy", "not a .npy"):
        D.load(spec)


# --- csv ----------------------------------------------------------------------------------------


def test_csv_with_header_and_named_target(tmp_path):
    (tmp_path / "t.csv").write_text("a,label,b\n1,0,2.5\n3,1,4\n5,1,-6e1\n")
    ds = D.load({"format": "csv", "path": str(tmp_path / "t.csv"), "target": "label"})
    np.testing.assert_array_equal(ds.x, np.array([[1, 2.5], [3, 4], [5, -60]], np.float32))
    np.testing.assert_array_equal(ds.y, [0, 1, 1])
    assert ds.task == "classification" and ds.num_classes == 2


def test_csv_without_header_gzipped_last_column_default(tmp_path):
    with gzip.open(tmp_path / "t.csv.gz", "wt") as f:
        f.write("1,2,0\n3,4,2\n\n5,6,1\n")  # blank lines are skipped
    ds = D.load({"format": "csv", "path": str(tmp_path / "t.csv.gz")})
    assert ds.x.shape == (3, 2) and ds.y.tolist() == [0, 2, 1]


def test_csv_class_names_and_regression_targets(tmp_path):
    (tmp_path / "iris.csv").write_text("x1;x2;species\n1;2;setosa\n3;4;virginica\n5;6;setosa\n")
    spec = {"format": "csv", "path": str(tmp_path / "iris.csv"), "delimiter": ";"}
    ds = D.load(spec)
    assert ds.classes == ["setosa", "virginica"] and ds.y.tolist() == [0, 1, 0]
    ds = D.load({**spec, "classes": ["virginica", "setosa", "versicolor"]})
    assert ds.y.tolist() == [1, 0, 1] and ds.num_classes == 3
    (tmp_path / "r.csv").write_text("1,2,0.5,7\n3,4,1.5,8\n")
    ds = D.load({"format": "csv", "path": str(tmp_path / "r.csv"), "target": [2, 3]})
    assert ds.task == "regression" and ds.y.tolist() == [[0.5, 7], [1.5, 8]]
    ds = D.load({"format": "csv", "path": str(tmp_path / "r.csv"), "target": 2})
    assert ds.task == "regression" and ds.y.shape == (2, 1) and ds.x.shape == (2, 3)


@pytest.mark.parametrize(
    ("text", "spec", "message"),
    [
        ("1,2,0\n3,0\n", {}, "line 2 has 2 fields but line 1 has 3"),
        ("a,b,y\n1,2,0\n3,x,1\n", {}, "line 3, column 'b': 'x' is not a number"),
        ("1,2,0\n3,,1\n", {}, "line 2, column 1: '' is not a number"),
        ("1,nan,0\n3,4,1\n", {}, "NaN or inf"),
        ("a,b,y\n1,2,0\n", {"target": "Y"}, "no column 'Y'.*Did you mean 'y'"),
        ("1,2,0\n", {"target": "y"}, "no header"),
        ("1,2,0\n", {"target": 7}, "target column 7 does not exist"),
        ("1,2,-1\n", {}, "negative"),
        ("1,2,a\n", {"classes": ["b"], "header": False}, "label 'a' is not one of classes"),
        ("", {}, "is empty"),
        ("a,b,c\n", {}, "no data rows"),
        ("1,2,0\n", {"header": "maybe"}, "header must be"),
    ],
)
def test_csv_bad_contents(tmp_path, text, spec, message):
    (tmp_path / "bad.csv").write_text(text)
    with raises_naming(tmp_path / "bad.csv", message):
        D.load({"format": "csv", "path": str(tmp_path / "bad.csv"), **spec})


def test_csv_binary_file(tmp_path):
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 4)
    with raises_naming(tmp_path / "bin.csv", "cannot read as CSV"):
        D.load({"format": "csv", "path": str(tmp_path / "bin.csv")})


# --- paths, keys and splits ---------------------------------------------------------------------


def test_missing_file_names_the_resolved_path(tmp_path):
    with raises_naming(tmp_path / "nope.npz", "file not found"):
        D.load({"format": "npz", "path": "nope.npz"}, base_dir=tmp_path)
    with raises_naming(tmp_path, "is a directory"):
        D.load({"format": "npz", "path": str(tmp_path)})


def test_unknown_and_missing_keys():
    with pytest.raises(DataError, match="unknown key 'paht'.*Did you mean 'path'"):
        D.load({"format": "npz", "paht": "a.npz"})
    with pytest.raises(DataError, match="missing 'images'"):
        D.load({"format": "idx", "labels": "l.idx"})


def test_val_and_test_entries_override_the_spec(tmp_path, xy):
    x, y = xy
    np.savez(tmp_path / "train.npz", x=x, y=y)
    np.savez(tmp_path / "test.npz", x=x[:5], y=y[:5])
    spec = {"format": "npz", "path": "train.npz", "test": {"path": "test.npz"}}
    assert len(D.load(spec, base_dir=tmp_path)) == 20
    assert len(D.load(spec, split="test", base_dir=tmp_path)) == 5
    with pytest.raises(DataError, match="no 'val' entry"):
        D.load(spec, split="val", base_dir=tmp_path)
