"""``nnrun eval`` through the real CLI: what PATH may be, splits, ``--data``, output, errors."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from nnrun.cli.console import Reporter
from nnrun_cli import BLOBS, CONFIGS, fails, metrics, ok, write_config


def evaluate(*args) -> dict:
    return json.loads(ok("eval", *args, "--json").stdout)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("eval")
    run = folder / "run"
    ok("train", write_config(folder), "--out", run, "--quiet")
    return run


def test_run_directory_evaluates_its_best_checkpoint(run):
    result = evaluate(run)
    best = max(metrics(run), key=lambda r: r["val_accuracy"])
    assert result["checkpoint"] == str(run / "checkpoints" / "best" / "model.safetensors")
    # the same validation samples, normalised with the saved statistics: the training's numbers
    assert result["accuracy"] == best["val_accuracy"]
    assert result["loss"] == pytest.approx(best["val_loss"], rel=1e-6)
    assert result["samples"] == 60 and result["split"] == "val"


def test_json_keys_and_consistency(run):
    result = evaluate(run)
    assert set(result) == {
        "checkpoint", "split", "loss", "accuracy", "samples", "per_class", "confusion_matrix"
    }  # fmt: skip
    matrix = np.array(result["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == result["samples"]
    assert result["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    for row, cls in zip(matrix, result["per_class"]):
        assert cls["support"] == row.sum()
        assert cls["recall"] == pytest.approx(row[cls["class"]] / row.sum())
        assert set(cls) == {"class", "name", "precision", "recall", "support"}


def test_checkpoint_dir_and_weights_file(run):
    last = run / "checkpoints" / "last"
    from_dir, from_file = evaluate(last), evaluate(last / "model.safetensors")
    assert from_dir["loss"] == from_file["loss"]
    assert from_dir["accuracy"] == metrics(run)[-1]["val_accuracy"]


def test_plain_output(run):
    out = ok("eval", run).stdout
    first = out.splitlines()[0]
    assert first.startswith("loss ") and "accuracy " in first and "(60 samples, val)" in first
    assert "precision" in out and "recall" in out
    assert "confusion matrix (rows: true class, columns: predicted)" in out


def test_rich_tables_on_a_terminal(run):
    result = evaluate(run)
    result["split"] = "val"
    buffer = io.StringIO()
    Reporter(tty=True, stdout=buffer).evaluation(result)
    text = buffer.getvalue()
    assert "per class" in text and "confusion matrix" in text and "\x1b[" in text


def test_test_split_of_a_synthetic_dataset(run):
    result = evaluate(run, "--split", "test")
    assert result["split"] == "test" and result["samples"] == 240  # fresh samples, same size


def test_test_split_of_digits_is_a_clear_error(tmp_path):
    run = tmp_path / "run"
    ok("train", CONFIGS / "digits_mlp.yaml", "--out", run, "--max-steps", 1, "--set", "expect={}",
       "-q")  # fmt: skip
    assert "no separate 'test' set" in fails(2, "eval", run, "--split", "test").stderr


def test_data_file_and_spec(run, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((10, 4)).astype(np.float32)
    np.savez(tmp_path / "extra.npz", x=x, y=np.arange(10) % 3)
    by_name = evaluate(run, "--data", tmp_path / "extra.npz")
    spec = f"{{format: npz, path: {tmp_path / 'extra.npz'}}}"
    assert evaluate(run, "--data", spec)["loss"] == by_name["loss"]
    assert by_name["samples"] == 10 and by_name["split"].startswith("--data ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("extra.bin2", "cannot tell the format"),
        ("missing.npz", "no such file"),
        ("{format: [", "not a valid YAML"),
        ("wide.npz", "shape"),
    ],
)
def test_bad_data_exits_2(run, tmp_path, data, message):
    np.savez(tmp_path / "wide.npz", x=np.zeros((4, 7), np.float32), y=np.zeros(4, np.int64))
    arg = str(tmp_path / data) if not data.startswith("{") else data
    assert message in fails(2, "eval", run, "--data", arg).stderr


def test_bare_weights_file_needs_a_config(run, tmp_path):
    bare = tmp_path / "model.safetensors"
    shutil.copy(run / "checkpoints" / "best" / "model.safetensors", bare)
    assert "--config" in fails(2, "eval", bare).stderr
    cfg = write_config(tmp_path, BLOBS)
    result = evaluate(bare, "--config", cfg)  # normalisation recomputed from the same train split
    assert result["accuracy"] == evaluate(run)["accuracy"]


def test_regression_eval(tmp_path):
    run = tmp_path / "run"
    ok("train", CONFIGS / "regression.yaml", "--out", run, "--epochs", 2, "-q")
    result = evaluate(run)
    assert set(result) == {"checkpoint", "split", "loss", "mse", "mae", "samples"}
    assert result["mse"] == pytest.approx(result["loss"], rel=1e-5)
    assert ok("eval", run).stdout.startswith("loss ")


def test_bad_split_is_a_usage_error(run):
    assert "--split" in fails(2, "eval", run, "--split", "holdout").stderr
