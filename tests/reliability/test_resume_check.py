"""``nnrun train CONFIG --check-resume``: passes on the example configs (BatchNorm, schedulers,
Dropout, OneCycleLR) and catches deliberately broken resumes with exit 1."""

from __future__ import annotations

import json

import nnrun.engine as nr
import pytest
from reliable import BLOBS, CONFIGS, fails, ok, write_config

PASSED = "resume check passed: "

ONE_CYCLE = BLOBS.replace(
    "train: {epochs: 3}", "train: {epochs: 3}\nscheduler: {name: OneCycleLR, max_lr: 0.05}"
)


@pytest.mark.parametrize(
    ("config", "args"),
    [
        ("digits_mlp.yaml", []),
        ("digits_cnn.yaml", ["--steps", 8]),  # BatchNorm2d + StepLR
        ("seed_pipeline.yaml", []),
    ],
)
def test_example_configs_resume_exactly(config, args):
    out = ok("train", CONFIGS / config, "--check-resume", *args).stdout
    line = out.strip().splitlines()[-1]
    assert line.startswith(PASSED) and line.endswith(" metrics lines identical"), out
    assert "stopped at mid-epoch (step " in out and "epoch boundary (step " in out


def test_dropout_and_one_cycle(tmp_path):
    result = json.loads(
        ok("train", write_config(tmp_path, ONE_CYCLE), "--check-resume", "--json").stdout
    )
    assert result["ok"] is True and result["steps"] == 20 and result["epochs"] == 2
    assert [s["where"] for s in result["stops"]] == ["mid-epoch", "epoch boundary"]
    assert [s["step"] for s in result["stops"]] == [5, 10]
    # 4 weights, 4 x (Adam's 2 moments and step), normalisation mean and std, the RNG state
    assert result["tensors"] == 4 + 4 * 3 + 2 + 1 and result["metrics_lines"] == 2


def test_steps_and_epochs(tmp_path):
    cfg = write_config(tmp_path)
    result = json.loads(
        ok("train", cfg, "--check-resume", "--steps", 30, "--epochs", 3, "--json").stdout
    )
    assert (result["steps"], result["epochs"], result["metrics_lines"]) == (30, 3, 3)


def test_a_broken_rng_restore_is_caught(tmp_path, monkeypatch):
    # Dropout draws from the global RNG: not restoring it changes the masks after the resume.
    monkeypatch.setattr(nr, "set_rng_state", lambda state: None)
    err = fails(1, "train", write_config(tmp_path), "--check-resume").stderr
    assert "resume check failed (stopped at step 5, mid-epoch, resumed): model " in err
    assert "differs: max abs diff " in err


def test_a_broken_shuffle_restore_is_caught(monkeypatch):
    from nnrun.cli import loop

    restore = loop.Loop.restore

    def forgets_the_epoch_order(self, ckpt, state):
        restore(self, ckpt, state)
        self.loader_state = nr.Generator().manual_seed(1).get_state()

    monkeypatch.setattr(loop.Loop, "restore", forgets_the_epoch_order)
    err = fails(1, "train", CONFIGS / "seed_pipeline.yaml", "--check-resume").stderr
    assert "mid-epoch" in err and "model 0.weight differs: max abs diff" in err


def test_a_broken_scheduler_restore_is_caught(tmp_path, monkeypatch):
    from nnrun.engine.optim import lr_scheduler

    monkeypatch.setattr(lr_scheduler.LRScheduler, "load_state_dict", lambda self, state: None)
    err = fails(1, "train", write_config(tmp_path, ONE_CYCLE), "--check-resume").stderr
    assert "resume check failed" in err and "differs" in err


def test_a_duplicated_metrics_line_is_caught(tmp_path, monkeypatch):
    from nnrun.cli import rundir

    append = rundir.RunDir.append_metrics

    def twice_in_stopped_runs(self, record):  # not in the straight reference run
        append(self, record)
        if self.path.name.startswith("stopped") and record["epoch"] == 2:
            append(self, record)

    monkeypatch.setattr(rundir.RunDir, "append_metrics", twice_in_stopped_runs)
    err = fails(1, "train", write_config(tmp_path), "--check-resume").stderr
    assert "metrics.jsonl has 3 lines after resuming, 2 straight through" in err


def test_the_check_leaves_nothing_behind(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.chdir(tmp_path)
    ok("train", write_config(tmp_path), "--check-resume", "--steps", 6)
    assert list((tmp_path / "tmp").iterdir()) == [] and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", 5], "--steps is for --check-resume"),
        (["--check-resume", "--max-steps", 5], "leave out"),
        (["--check-resume", "--out", "{tmp}/x"], "leave out"),
        (["--check-resume", "--epochs", 1], "at least 2 epochs"),
        (["--check-resume", "--steps", 1], "--steps"),
    ],
)
def test_usage_errors(tmp_path, args, message):
    args = [str(a).format(tmp=tmp_path) for a in args]
    assert message in fails(2, "train", write_config(tmp_path), *args).stderr


def test_one_cycle_keeps_stepping_per_batch_after_a_resume(tmp_path):
    # The run's saved config.yaml says `interval: step`: read back by --resume it means the same.
    import yaml

    run = tmp_path / "run"
    ok("train", write_config(tmp_path, ONE_CYCLE), "--out", run, "--max-steps", 1, "-q")
    assert yaml.safe_load((run / "config.yaml").read_text())["scheduler"]["interval"] == "step"


def test_a_one_cycle_schedule_cannot_be_stretched_on_resume(tmp_path):
    run = tmp_path / "run"
    ok("train", write_config(tmp_path, ONE_CYCLE), "--out", run, "--max-steps", 5, "-q")
    err = fails(2, "train", "--resume", run, "--set", "train.max_steps=null").stderr
    assert "OneCycleLR schedule spans 5 steps, but the run now takes 36" in err
    too_short = ONE_CYCLE.replace("max_lr: 0.05", "max_lr: 0.05, total_steps: 5")
    err = fails(
        2, "train", write_config(tmp_path, too_short, "short.yaml"), "--out", tmp_path / "s"
    )
    assert "OneCycleLR's schedule ends after 5 steps but the run takes 36 steps" in err.stderr
    assert not (tmp_path / "s").exists()
