"""``nnrun train`` through the real CLI: the example configs, output modes, run directories,
step limits, schedulers, early stopping, non-finite losses and ``expect``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from nnrun_cli import BLOBS, CONFIGS, fails, invoke, metrics, ok, write_config, write_idx

EPOCH_LINE = re.compile(
    r"^epoch \d+/\d+  train_loss \d+\.\d{4}  val_loss \d+\.\d{4}  val_accuracy \d\.\d{4}  "
    r"lr [0-9.e-]+  \d+\.\ds$"
)


def summary(result) -> dict:
    return json.loads(result.stdout)


def train_json(*args) -> dict:
    return summary(ok("train", *args, "--json", "--quiet"))


# --- the example configs --------------------------------------------------------------------------


def test_digits_mlp_reaches_95_percent(tmp_path):
    # The README's main job, trained in full: the config's own expect (>= 0.95) must hold.
    result = train_json(CONFIGS / "digits_mlp.yaml", "--out", tmp_path / "run")
    assert result["final"]["val_accuracy"] >= 0.95
    assert result["expect"]["val_accuracy"]["ok"] is True
    assert result["best"]["val_accuracy"] >= result["final"]["val_accuracy"]


@pytest.mark.parametrize(
    ("config", "metric"),
    [
        ("digits_mlp.yaml", "val_accuracy"),
        ("digits_cnn.yaml", "val_accuracy"),
        ("seed_pipeline.yaml", "val_accuracy"),
        ("spirals.yaml", "val_accuracy"),
        ("shapes_cnn.yaml", "val_accuracy"),
        ("regression.yaml", "val_mse"),
    ],
)
def test_example_configs_train_with_a_step_limit(tmp_path, config, metric):
    extra = ["--set", "data.args.n_samples=300"] if config.startswith("shapes") else []
    result = train_json(
        CONFIGS / config, "--out", tmp_path / "run", "--max-steps", 3, "--set", "expect={}",
        *extra,
    )  # fmt: skip
    assert result["steps"] == 3 and result["stopped"] == "max_steps"
    assert np.isfinite(result["final"][metric]) and np.isfinite(result["final"]["train_loss"])
    assert (tmp_path / "run" / "checkpoints" / "last" / "model.safetensors").is_file()


def test_seed_pipeline_matches_the_cheat_sheet():
    shapes = json.loads(ok("inspect", "shapes", CONFIGS / "seed_pipeline.yaml", "--json").stdout)
    assert [r["layer"] for r in shapes["layers"]] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert [r["output_shape"][1] for r in shapes["layers"][::2]] == [64, 32, 3]
    assert shapes["input_shape"] == [32, 20] and shapes["optimizer"] == "Adam"
    cfg = yaml.safe_load((CONFIGS / "seed_pipeline.yaml").read_text())
    assert cfg["data"]["args"] == {"n_samples": 1000, "n_features": 20, "num_classes": 3}
    assert cfg["train"]["epochs"] == 10 and cfg["data"]["val_split"] == 0.2


def test_mnist_idx_config_on_generated_files(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("t10k", 20)):
        write_idx(tmp_path / f"{split}-images.gz", rng.integers(0, 256, (n, 28, 28), np.uint8))
        write_idx(tmp_path / f"{split}-labels.gz", rng.integers(0, 10, (n,), np.uint8))
    sets = [
        f"data.dataset.images={tmp_path}/train-images.gz",
        f"data.dataset.labels={tmp_path}/train-labels.gz",
        f"data.test.images={tmp_path}/t10k-images.gz",
        f"data.test.labels={tmp_path}/t10k-labels.gz",
    ]
    args = [a for s in sets for a in ("--set", s)]
    result = train_json(
        CONFIGS / "mnist_idx.yaml", *args, "--out", tmp_path / "run", "--max-steps", 2
    )
    assert result["steps"] == 2 and result["final"]["epoch"] == 2  # one batch per epoch
    evaluated = json.loads(ok("eval", tmp_path / "run", "--split", "test", "--json").stdout)
    assert evaluated["samples"] == 20 and len(evaluated["confusion_matrix"]) == 10


# --- console output --------------------------------------------------------------------------------


def test_plain_output_is_one_line_per_epoch(tmp_path):
    out = ok("train", write_config(tmp_path), "--out", tmp_path / "run").stdout
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 3
    assert all(EPOCH_LINE.match(line) for line in lines), lines
    assert lines[0].startswith("epoch 1/3  train_loss ")


def test_json_prints_exactly_one_object(tmp_path):
    result = ok("train", write_config(tmp_path), "--out", tmp_path / "run", "--json")
    data = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert result.stdout.count("\n") == 1
    assert set(data) >= {"run_dir", "epochs", "final", "best", "checkpoints"}
    assert data["epochs"] == 3 and data["run_dir"] == str(tmp_path / "run")
    assert set(data["final"]) >= {"train_loss", "val_loss", "val_accuracy", "lr", "epoch"}
    assert data["best"]["epoch"] in (1, 2, 3) and "val_accuracy" in data["best"]
    assert Path(data["checkpoints"]["last"], "model.safetensors").is_file()
    assert Path(data["checkpoints"]["best"], "model.safetensors").is_file()
    assert "epoch 1/3" in result.stderr  # progress goes to stderr with --json


def test_quiet_prints_nothing(tmp_path):
    result = ok("train", write_config(tmp_path), "--out", tmp_path / "run", "--quiet")
    assert result.stdout == "" and result.stderr == ""


# --- run directories -------------------------------------------------------------------------------


def test_default_run_dir_is_unique(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = write_config(tmp_path)
    first = train_json(cfg, "--epochs", 1)
    second = train_json(cfg, "--epochs", 1)
    assert first["run_dir"] == str(Path("runs") / "blobs")
    assert second["run_dir"] == str(Path("runs") / "blobs-2")
    assert (tmp_path / "runs" / "blobs" / "metrics.jsonl").is_file()


def test_run_dir_contents(tmp_path):
    run = tmp_path / "run"
    ok("train", write_config(tmp_path), "--out", run, "--set", "train.epochs=2", "--quiet")
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["epochs"] == 2 and saved["checkpoint"]["mode"] == "max"  # resolved
    records = metrics(run)
    assert [r["epoch"] for r in records] == [1, 2]
    assert [r["step"] for r in records] == [12, 24]  # 180 train samples / 16 per batch
    for r in records:
        assert set(r) == {
            "epoch",
            "step",
            "train_loss",
            "val_loss",
            "val_accuracy",
            "lr",
            "seconds",
        }


def test_out_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "file").write_text("x")
    assert (
        "not empty" in fails(2, "train", write_config(tmp_path), "--out", tmp_path / "run").stderr
    )


# --- step limits and smoke runs --------------------------------------------------------------------


def test_max_steps_and_limit_batches(tmp_path):
    cfg = write_config(tmp_path)
    result = train_json(cfg, "--out", tmp_path / "a", "--max-steps", 5)
    assert result["steps"] == 5 and result["stopped"] == "max_steps"
    result = train_json(cfg, "--out", tmp_path / "b", "--limit-batches", 4)
    assert result["steps"] == 12 and [r["step"] for r in metrics(tmp_path / "b")] == [4, 8, 12]


def test_fast_dev_run_uses_a_temporary_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = train_json(write_config(tmp_path), "--fast-dev-run")
    assert result["fast_dev_run"]["ok"] is True and result["steps"] == 2
    assert result["fast_dev_run"]["eval"]["samples"] == 32  # 2 validation batches of 16
    assert result["run_dir"] is None and not (tmp_path / "runs").exists()
    kept = train_json(write_config(tmp_path), "--fast-dev-run", "--out", tmp_path / "kept")
    assert (
        kept["run_dir"] == str(tmp_path / "kept") and (tmp_path / "kept" / "checkpoints").is_dir()
    )


# --- expect ------------------------------------------------------------------------------------------


def test_unmet_expect_exits_1_with_the_measured_value(tmp_path):
    cfg = write_config(
        tmp_path, BLOBS + "expect:\n  val_accuracy: {min: 1.01}\n  train_loss: {max: 100}\n"
    )
    result = invoke("train", cfg, "--out", tmp_path / "run", "--json")
    assert result.exit_code == 1
    value = json.loads(result.stdout)["final"]["val_accuracy"]
    assert f"expect failed: val_accuracy {value:.4f} < min 1.01" in result.stderr
    assert "expect failed: train_loss" not in result.stderr  # that bound holds


def test_expect_of_an_unknown_metric_fails_before_training(tmp_path):
    cfg = write_config(tmp_path, BLOBS + "expect:\n  val_acc: {min: 0.5}\n")
    err = fails(2, "train", cfg, "--out", tmp_path / "run").stderr
    assert "val_acc" in err and "val_accuracy" in err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


# --- what the loop does ------------------------------------------------------------------------------


def test_same_seed_same_run_other_seed_other_run(tmp_path):
    cfg = write_config(tmp_path)
    a = train_json(cfg, "--out", tmp_path / "a")["final"]
    b = train_json(cfg, "--out", tmp_path / "b")["final"]
    c = train_json(cfg, "--out", tmp_path / "c", "--seed", 1)["final"]
    assert a == b and a["train_loss"] != c["train_loss"]


def test_step_lr_steps_per_epoch(tmp_path):
    cfg = write_config(tmp_path, BLOBS + "scheduler: {name: StepLR, step_size: 1, gamma: 0.5}\n")
    train_json(cfg, "--out", tmp_path / "run")
    assert [r["lr"] for r in metrics(tmp_path / "run")] == [0.01, 0.005, 0.0025]


def test_one_cycle_steps_per_batch(tmp_path):
    cfg = write_config(tmp_path, BLOBS + "scheduler: {name: OneCycleLR, max_lr: 0.05}\n")
    train_json(cfg, "--out", tmp_path / "run")
    lrs = [r["lr"] for r in metrics(tmp_path / "run")]
    # started at max_lr / 25, peaked in epoch 1 (pct_start 0.3), annealed to ~0 by the last step
    assert lrs[0] > 0.04 and lrs[0] > lrs[1] > lrs[2] and lrs[2] < 1e-3


def test_reduce_lr_on_plateau_reads_the_monitored_metric(tmp_path):
    text = BLOBS + (
        "scheduler: {name: ReduceLROnPlateau, monitor: val_loss, mode: max, patience: 0,"
        " factor: 0.5}\n"
    )  # a falling val_loss never "improves" in mode max, so the lr halves after each epoch
    train_json(write_config(tmp_path, text), "--out", tmp_path / "run")
    assert [r["lr"] for r in metrics(tmp_path / "run")] == [0.01, 0.01, 0.005]


def test_early_stopping(tmp_path):
    text = BLOBS.replace("train: {epochs: 3}", "train:\n  epochs: 10\n  early_stopping: "
                         "{monitor: val_loss, patience: 2, min_delta: 10.0}")  # fmt: skip
    result = train_json(write_config(tmp_path, text), "--out", tmp_path / "run")
    assert result["stopped"] == "early_stopping" and result["epochs"] == 3


def test_grad_clip_clips(tmp_path, monkeypatch):
    import nnrun.engine as nr

    calls = []
    original = nr.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        calls.append(max_norm)
        return original(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(nr.nn.utils, "clip_grad_norm_", spy)
    train_json(write_config(tmp_path), "--out", tmp_path / "run", "--set", "train.grad_clip=0.5")
    assert calls == [0.5] * 36


def test_regression_metrics(tmp_path):
    result = train_json(CONFIGS / "regression.yaml", "--out", tmp_path / "run", "--epochs", 2)
    record = metrics(tmp_path / "run")[-1]
    assert {"val_loss", "val_mse", "val_mae"} <= set(record) and "val_accuracy" not in record
    assert record["val_loss"] == pytest.approx(record["val_mse"], rel=1e-5)  # MSELoss is mse
    assert result["best"]["val_mse"] <= record["val_mse"]


def test_binary_classification_with_bce_with_logits(tmp_path):
    text = (
        BLOBS.replace("num_classes: 3", "num_classes: 2")
        .replace("Linear: {out_features: 3}", "Linear: {out_features: 1}")
        .replace("CrossEntropyLoss", "BCEWithLogitsLoss")
    )
    result = train_json(write_config(tmp_path, text), "--out", tmp_path / "run")
    assert result["final"]["val_accuracy"] > 0.8


def test_a_loss_that_does_not_fit_the_data(tmp_path):
    text = BLOBS.replace("CrossEntropyLoss", "MSELoss")
    assert "regression loss" in fails(2, "train", write_config(tmp_path, text)).stderr


# --- non-finite losses --------------------------------------------------------------------------------

NAN_LOSS = '''
import nnrun.engine as nr


class NanAfter(nr.nn.Module):
    """Cross-entropy that turns NaN on calls number `start` .. `start + count - 1` (training only)."""

    def __init__(self, start=20, count=1):
        super().__init__()
        self.calls, self.start, self.count = 0, start, count
        self.ce = nr.nn.CrossEntropyLoss()

    def forward(self, output, target):
        loss = self.ce(output, target)
        if nr.is_grad_enabled():
            self.calls += 1
            if self.start <= self.calls < self.start + self.count:
                return loss * float("nan")
        return loss
'''


def nan_config(tmp_path, **args) -> Path:
    (tmp_path / "nanloss.py").write_text(NAN_LOSS)
    loss = "loss: {name: 'nanloss:NanAfter', " + ", ".join(f"{k}: {v}" for k, v in args.items())
    return write_config(tmp_path, BLOBS.replace("loss: CrossEntropyLoss", loss + "}"))


def test_nonfinite_loss_stops_with_exit_1_naming_the_step_and_checkpoint(tmp_path):
    result = fails(1, "train", nan_config(tmp_path, start=20), "--out", tmp_path / "run")
    err = result.stderr
    assert "non-finite loss (nan) at step 20 (epoch 2, batch 8)" in err
    assert str(tmp_path / "run" / "checkpoints" / "last") in err and "on_nonfinite: skip" in err
    meta = json.loads((tmp_path / "run" / "checkpoints" / "last" / "meta.json").read_text())
    assert meta["step"] == 12  # the checkpoint of epoch 1 is kept, untouched


def test_nonfinite_loss_skipped_and_counted(tmp_path):
    cfg = nan_config(tmp_path, start=3, count=2)
    result = train_json(cfg, "--out", tmp_path / "run", "--set", "train.on_nonfinite=skip")
    assert result["skipped_steps"] == 2
    assert [r["skipped_steps"] for r in metrics(tmp_path / "run")] == [2, 0, 0]
    assert np.isfinite(result["final"]["train_loss"])


def test_a_config_that_cannot_be_built_leaves_no_run_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = write_config(tmp_path, BLOBS.replace("- ReLU", "- ReLUU"))
    assert "ReLUU" in fails(2, "train", cfg).stderr
    assert not (tmp_path / "runs").exists()
    fails(2, "train", cfg, "--out", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_without_validation_data_the_best_checkpoint_follows_train_loss(tmp_path):
    text = BLOBS.replace("val_split: 0.25", "val_split: 0").replace(
        "checkpoint: {monitor: val_accuracy}\n", ""
    )
    result = train_json(write_config(tmp_path, text), "--out", tmp_path / "run")
    assert set(result["final"]) == {"epoch", "step", "train_loss", "lr"}
    assert result["best"]["train_loss"] == min(r["train_loss"] for r in metrics(tmp_path / "run"))
    meta = json.loads((tmp_path / "run" / "checkpoints" / "best" / "meta.json").read_text())
    assert meta["monitor"] == "train_loss" and meta["metrics"]["epoch"] == result["best"]["epoch"]
    explicit = text + "checkpoint: {monitor: val_accuracy}\n"
    err = fails(2, "train", write_config(tmp_path, explicit, "x.yaml"), "--out", tmp_path / "x")
    assert "checkpoint.monitor" in err.stderr and "'val_accuracy' is not computed" in err.stderr


def test_memory_mapped_data_read_per_batch_trains_like_in_memory(tmp_path, monkeypatch):
    import nnrun.cli.data as data_module

    rng = np.random.default_rng(0)
    write_idx(tmp_path / "images", rng.integers(0, 256, (64, 28, 28), np.uint8))  # memory-mapped
    write_idx(tmp_path / "labels", rng.integers(0, 10, (64,), np.uint8))
    args = ["--set", f"data.dataset.images={tmp_path}/images",
            "--set", f"data.dataset.labels={tmp_path}/labels", "--max-steps", 3]  # fmt: skip
    in_memory = train_json(CONFIGS / "mnist_idx.yaml", *args, "--out", tmp_path / "a")
    monkeypatch.setattr(data_module, "LAZY_BYTES", 0)  # every dataset counts as big
    lazy = train_json(CONFIGS / "mnist_idx.yaml", *args, "--out", tmp_path / "b")
    assert lazy["final"] == in_memory["final"]
