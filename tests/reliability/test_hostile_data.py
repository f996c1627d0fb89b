"""Broken and hostile data files through ``nnrun train`` (a file-spec config) and ``nnrun eval
--data``: each a clear exit-2 message naming the file, never a traceback, hang or huge allocation."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from reliable import fails, ok, write_config

MODEL = """\
model:
  layers:
    - Flatten
    - Linear: {out_features: 8}
    - ReLU
    - Linear: {out_features: 3}
loss: CrossEntropyLoss
optimizer: {name: Adam, lr: 1.0e-2}
train: {epochs: 1}
"""


def spec_config(folder: Path, dataset: str, extra: str = "") -> Path:
    text = f"name: data\ndata:\n  dataset: {dataset}\n  val_split: 0.25\n  batch_size: 8\n{extra}"
    return write_config(folder, text + MODEL)


def idx(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def idx_config(folder: Path, images: bytes, labels: bytes, gz: bool = False) -> Path:
    suffix = ".gz" if gz else ""
    (folder / f"images{suffix}").write_bytes(gzip.compress(images) if gz else images)
    (folder / f"labels{suffix}").write_bytes(gzip.compress(labels) if gz else labels)
    return spec_config(folder, f"{{format: idx, images: images{suffix}, labels: labels{suffix}}}")


RNG = np.random.default_rng(0)
IMAGES = idx(RNG.integers(0, 256, (40, 6, 6)))
LABELS = idx(RNG.integers(0, 3, (40,)))


def train_fails(cfg: Path, message: str) -> str:
    err = fails(2, "train", cfg, "--out", cfg.parent / "run").stderr
    assert message in err, err
    assert err.startswith("error: ") and err.count("\n") <= 3, err
    assert not (cfg.parent / "run").exists()  # no run directory for a run that cannot start
    return err


def test_good_idx_files_train(tmp_path):  # the baseline the broken variants start from
    ok("train", idx_config(tmp_path, IMAGES, LABELS), "--out", tmp_path / "run", "-q")


@pytest.mark.parametrize(
    ("images", "labels", "gz", "message"),
    [
        (IMAGES[:-7], LABELS, False, "truncated: the IDX header claims 40x6x6"),
        (IMAGES, LABELS[:-1], False, "truncated"),
        (IMAGES[:6], LABELS, False, "truncated IDX header"),
        (IMAGES[:2], LABELS, False, "too short for an IDX header"),
        (IMAGES + b"extra", LABELS, False, "longer than its header says"),
        (b"\x12\x34" + IMAGES[2:], LABELS, False, "not an IDX file: magic number 0x1234"),
        (LABELS, IMAGES, False, "swap images and labels"),
        (IMAGES[:-7], LABELS, True, "truncated"),
        (struct.pack(">BBBBIII", 0, 0, 8, 3, 10**9, 10**4, 10**4), LABELS, True, "cannot hold"),
        (struct.pack(">BBBBIII", 0, 0, 8, 3, 2**32 - 1, 2**32 - 1, 2**32 - 1), LABELS, False,
         "truncated"),
        (IMAGES, idx(np.full(40, 7)), False, "outside 0..2"),
    ],
)  # fmt: skip
def test_broken_idx_files(tmp_path, images, labels, gz, message):
    cfg = idx_config(tmp_path, images, labels, gz)
    if message == "outside 0..2":
        cfg.write_text(
            cfg.read_text().replace("labels: labels}", "labels: labels, num_classes: 3}")
        )
    train_fails(cfg, message)


def test_a_corrupt_gzip_stream(tmp_path):
    data = bytearray(gzip.compress(IMAGES))
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "images.gz").write_bytes(bytes(data))
    (tmp_path / "labels").write_bytes(LABELS)
    cfg = spec_config(tmp_path, "{format: idx, images: images.gz, labels: labels}")
    train_fails(cfg, "images.gz")


CSV_GOOD = "a,b,c,label\n" + "".join(f"{i % 5},{i % 7},{i % 3},{i % 3}\n" for i in range(40))


@pytest.mark.parametrize(
    ("text", "extra", "message"),
    [
        (CSV_GOOD + "1,2\n", "", "has 2 fields but line 1 has 4"),
        (CSV_GOOD.replace("3,1,1\n", "3,x,1\n", 1), "", "is not a number"),
        (CSV_GOOD.replace("3,1,1\n", "3,nan,1\n", 1), "", "NaN or inf"),
        (CSV_GOOD.replace("3,1,1\n", "3,inf,1\n", 1), "", "NaN or inf"),
        (CSV_GOOD.replace("3,1,1\n", "3,1e999,1\n", 1), "", "NaN or inf"),
        (CSV_GOOD.replace("3,1,1\n", "3,1,-1\n", 1), "", "is negative"),
        (CSV_GOOD.replace("3,1,1\n", "3,1,1.5\n", 1), "", "targets are real values"),
        (
            CSV_GOOD.replace("3,1,1\n", "3,1,1.5\n", 1),
            ", task: classification",
            "not a whole number",
        ),
        (CSV_GOOD.replace("3,1,1\n", "3,1,9\n", 1), ", num_classes: 3", "outside 0..2"),
        (CSV_GOOD.replace("3,1,1\n", "3,1,9\n", 1), "", "needs (10,)"),  # 10 classes, 3 outputs
        (CSV_GOOD, ", num_classes: 1000000000000", "from 1 to 1,000,000"),
        ("", "", "is empty"),
        ("a,b,label\n", "", "has no data rows"),
        ("\xff\xfe\x00garbage", "", "cannot read as CSV text"),
    ],
)
def test_broken_csv_files(tmp_path, text, extra, message):
    (tmp_path / "t.csv").write_bytes(text.encode("utf-8", "surrogateescape") if text else b"")
    if text.startswith("\xff"):
        (tmp_path / "t.csv").write_bytes(b"\xff\xfe\x00garbage")
    cfg = spec_config(tmp_path, f"{{format: csv, path: t.csv, target: label{extra}}}")
    if message == "needs (10,)":  # the labels are fine; the model's 3 outputs are not enough
        train_fails(cfg, message)
        return
    train_fails(cfg, message)


def test_npz_problems(tmp_path):
    x = RNG.standard_normal((40, 4)).astype(np.float32)
    y = RNG.integers(0, 3, 40)
    x_nan = x.copy()
    x_nan[17, 2] = np.nan
    np.savez(tmp_path / "nan.npz", x=x_nan, y=y)
    train_fails(spec_config(tmp_path, "{format: npz, path: nan.npz}"), "first at sample 17")
    np.savez(tmp_path / "ragged.npz", x=x, y=y[:30])
    train_fails(spec_config(tmp_path, "{format: npz, path: ragged.npz}"), "40 samples but targets")
    np.savez(tmp_path / "names.npz", features=x, labels=y)
    train_fails(spec_config(tmp_path, "{format: npz, path: names.npz}"), "no array named 'x'")
    (tmp_path / "fake.npz").write_bytes(b"PK\x03\x04 not really a zip")
    train_fails(spec_config(tmp_path, "{format: npz, path: fake.npz}"), "fake.npz")
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 10**6)}
    )
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as z:
        z.writestr("x.npy", buffer.getvalue() + b"\x00" * 64)
        z.writestr("y.npy", b"")
    train_fails(spec_config(tmp_path, "{format: npz, path: huge.npz}"), "header claims")


def test_missing_files_and_directories(tmp_path):
    train_fails(spec_config(tmp_path, "{format: csv, path: nope.csv}"), "file not found")
    (tmp_path / "folder.csv").mkdir()
    train_fails(spec_config(tmp_path, "{format: csv, path: folder.csv}"), "folder.csv")


def test_a_validation_file_of_other_samples(tmp_path):
    np.savez(tmp_path / "a.npz", x=RNG.standard_normal((40, 4)), y=RNG.integers(0, 3, 40))
    np.savez(tmp_path / "b.npz", x=RNG.standard_normal((10, 5)), y=RNG.integers(0, 3, 10))
    text = (
        "name: data\ndata:\n  dataset: {format: npz, path: a.npz}\n"
        "  validation: {format: npz, path: b.npz}\n  batch_size: 8\n"
    )
    cfg = write_config(tmp_path, text + MODEL)
    train_fails(cfg, "its samples are (5,)")


def test_eval_data_that_does_not_fit(tmp_path):
    np.savez(tmp_path / "a.npz", x=RNG.standard_normal((40, 4)), y=RNG.integers(0, 3, 40))
    cfg = spec_config(tmp_path, "{format: npz, path: a.npz}")
    ok("train", cfg, "--out", tmp_path / "run", "-q")
    np.savez(tmp_path / "wide.npz", x=RNG.standard_normal((10, 6)), y=RNG.integers(0, 3, 10))
    err = fails(2, "eval", tmp_path / "run", "--data", tmp_path / "wide.npz").stderr
    assert "normalisation mean of shape (4,) does not fit samples of shape (6,)" in err
    np.savez(tmp_path / "nan.npz", x=np.full((10, 4), np.inf), y=RNG.integers(0, 3, 10))
    assert "NaN or inf" in fails(2, "eval", tmp_path / "run", "--data", tmp_path / "nan.npz").stderr


def test_many_classes_keep_per_class_counts_not_a_huge_confusion_matrix():
    """A confusion matrix grows as k * k: above 1000 classes only per-class counts are kept."""
    import nnrun.engine as nr
    from nnrun.cli.metrics import Task, Totals

    totals = Totals(Task("multiclass", 5000))
    output = nr.zeros(6, 5000)
    output[nr.arange(6), nr.tensor([0, 1, 4999, 7, 7, 3])] = 1.0
    totals.add(0.5, output, nr.tensor([0, 1, 4999, 7, 2, 2]))
    report = totals.report()
    assert report["confusion_matrix"] is None and len(report["per_class"]) == 5000
    assert report["accuracy"] == 4 / 6
    row = report["per_class"][7]
    assert (row["precision"], row["recall"], row["support"]) == (0.5, 1.0, 1)
    small = Totals(Task("multiclass", 3))
    small.add(0.1, nr.eye(3), nr.tensor([0, 1, 1]))
    assert small.report()["confusion_matrix"] == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]
