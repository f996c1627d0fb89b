"""Checkpoints through the real CLI: layout, PyTorch interchange, exact resume (between epochs,
inside an epoch, after a signal), crash safety, and broken or foreign checkpoints (exit 2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import requires_torch, torch
from nnrun.cli import checkpoint
from nnrun.cli.console import Reporter
from nnrun_cli import BLOBS, NNRUN, fails, invoke, metrics, ok, without_seconds, write_config

FILES = {"model.safetensors", "state.safetensors", "meta.json", "config.yaml"}


def train(*args):
    return ok("train", *args, "--quiet")


def weights(run: Path, which: str = "last") -> dict:
    return {
        k: v.numpy() for k, v in nr.load(run / "checkpoints" / which / "model.safetensors").items()
    }


def assert_same_run(a: Path, b: Path) -> None:
    """Bit-identical weights and optimizer state, identical metrics apart from ``seconds``."""
    wa, wb = weights(a), weights(b)
    assert list(wa) == list(wb)
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key], err_msg=key)
    sa = nr.load(a / "checkpoints" / "last" / "state.safetensors")["optimizer"]["state"]
    sb = nr.load(b / "checkpoints" / "last" / "state.safetensors")["optimizer"]["state"]
    for i in sa:
        for k in sa[i]:
            np.testing.assert_array_equal(sa[i][k].numpy(), sb[i][k].numpy())
    assert without_seconds(metrics(a)) == without_seconds(metrics(b))


@pytest.fixture
def cfg(tmp_path) -> Path:
    return write_config(tmp_path, BLOBS.replace("epochs: 3", "epochs: 4"))


# --- layout ------------------------------------------------------------------------------------------


def test_layout_and_links(tmp_path, cfg):
    run = tmp_path / "run"
    train(cfg, "--out", run)
    root = run / "checkpoints"
    last, best = root / "last", root / "best"
    assert last.is_symlink() and best.is_symlink()
    assert os.readlink(last) == "step-00000048"  # a relative link: the run directory can move
    assert set(os.listdir(last)) == FILES
    meta = json.loads((last / "meta.json").read_text())
    assert meta["format"] == "nnrun-checkpoint" and meta["step"] == 48 and meta["epoch"] == 4
    assert meta["position"] == 0 and meta["monitor"] == "val_accuracy"
    assert meta["config_hash"].startswith("sha256:")
    best_meta = json.loads((best / "meta.json").read_text())
    records = metrics(run)
    assert best_meta["monitor_value"] == max(r["val_accuracy"] for r in records)
    assert not [p for p in os.listdir(root) if p.startswith(".")]  # no temporary files left
    state = nr.load(last / "state.safetensors")
    assert set(state) == {"optimizer", "scheduler", "rng", "normalization"}
    assert state["normalization"]["mean"].shape == (4,)  # per feature, from the training split


def test_keep_several_best(tmp_path):
    text = BLOBS.replace("epochs: 3", "epochs: 6").replace(
        "checkpoint: {monitor: val_accuracy}", "checkpoint: {monitor: train_loss, keep: 2}"
    )
    run = tmp_path / "run"
    train(write_config(tmp_path, text), "--out", run)
    steps = sorted(p for p in os.listdir(run / "checkpoints") if p.startswith("step-"))
    # train_loss falls every epoch: the two best are the last two epochs
    assert steps == ["step-00000060", "step-00000072"]


def test_every_steps_checkpoints_inside_an_epoch(tmp_path, cfg):
    run = tmp_path / "run"
    train(cfg, "--out", run, "--max-steps", 17, "--set", "checkpoint.every_steps=5")
    meta = json.loads((run / "checkpoints" / "last" / "meta.json").read_text())
    assert meta["step"] == 17 and meta["epoch"] == 1 and meta["position"] == 5


@requires_torch
def test_pytorch_loads_the_model_as_is(tmp_path, cfg):
    from safetensors.torch import load_file

    run = tmp_path / "run"
    train(cfg, "--out", run)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(16, 3)
    )
    net.load_state_dict(load_file(run / "checkpoints" / "best" / "model.safetensors"))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    ours = nr.nn.Sequential(
        nr.nn.Linear(4, 16), nr.nn.ReLU(), nr.nn.Dropout(0.1), nr.nn.Linear(16, 3)
    )
    ours.load_state_dict(nr.load(run / "checkpoints" / "best" / "model.safetensors"))
    expected = net.eval()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(
        ours.eval()(nr.from_numpy(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6
    )


# --- exact resume ----------------------------------------------------------------------------------


def test_resume_between_epochs_is_bit_identical(tmp_path, cfg):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(cfg, "--out", straight)
    train(cfg, "--out", resumed, "--epochs", 2)
    assert len(metrics(resumed)) == 2
    out = ok("train", "--resume", resumed, "--epochs", 4).stdout
    assert "resuming" in out and "epoch 3/4" in out and "epoch 2/4" not in out
    assert_same_run(straight, resumed)


def test_resume_inside_an_epoch_is_bit_identical(tmp_path, cfg):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(cfg, "--out", straight)
    train(cfg, "--out", resumed, "--max-steps", 17)  # stops in epoch 2, at batch 5 of 12
    assert [r["epoch"] for r in metrics(resumed)] == [1, 2]  # epoch 2's line is partial ...
    train("--resume", resumed, "--set", "train.max_steps=null")
    assert [r["epoch"] for r in metrics(resumed)] == [1, 2, 3, 4]  # ... and replaced, not repeated
    assert_same_run(straight, resumed)


def test_resume_of_a_finished_run_changes_nothing(tmp_path, cfg):
    run = tmp_path / "run"
    train(cfg, "--out", run)
    before = (run / "metrics.jsonl").read_text()
    assert "nothing to train" in ok("train", "--resume", run).stdout
    assert (run / "metrics.jsonl").read_text() == before


def test_resume_drops_a_torn_metrics_line(tmp_path, cfg):
    straight, run = tmp_path / "straight", tmp_path / "run"
    train(cfg, "--out", straight)
    train(cfg, "--out", run, "--epochs", 2)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 3, "step": 3')  # a crash in the middle of writing epoch 3's line
    train("--resume", run, "--epochs", 4)
    assert_same_run(straight, run)


def signal_at(monkeypatch, step: int, *signals: int) -> None:
    """Send ``signals`` to this process during training step ``step``."""
    original = Reporter.step
    count = {"n": 0}

    def step_and_signal(self, loss, samples):
        count["n"] += 1
        if count["n"] == step:
            for sig in signals:
                os.kill(os.getpid(), sig)
        original(self, loss, samples)

    monkeypatch.setattr(Reporter, "step", step_and_signal)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_checkpoints_and_resumes_exactly(tmp_path, cfg, monkeypatch, sig, code):
    straight, run = tmp_path / "straight", tmp_path / "run"
    train(cfg, "--out", straight)
    signal_at(monkeypatch, 20, sig)
    result = invoke("train", cfg, "--out", run)
    monkeypatch.undo()
    assert result.exit_code == code
    assert f"resume with: nnrun train --resume {run}" in result.stderr
    meta = json.loads((run / "checkpoints" / "last" / "meta.json").read_text())
    assert (meta["step"], meta["epoch"], meta["position"]) == (20, 1, 8)
    train("--resume", run)
    assert_same_run(straight, run)


def test_second_sigint_stops_at_once(tmp_path, cfg, monkeypatch):
    run = tmp_path / "run"
    signal_at(monkeypatch, 20, signal.SIGINT, signal.SIGINT)
    result = invoke("train", cfg, "--out", run)
    monkeypatch.undo()
    assert result.exit_code == 130 and "stopped at once" in result.stderr
    last = checkpoint.last(run)  # the epoch-1 checkpoint, complete and loadable
    assert last.meta["step"] == 12 and set(last.model_state()) == {
        "0.weight",
        "0.bias",
        "3.weight",
        "3.bias",
    }
    train("--resume", run)
    assert [r["epoch"] for r in metrics(run)] == [1, 2, 3, 4]


def test_console_script_sigint_exits_130(tmp_path):
    text = BLOBS.replace("epochs: 3", "epochs: 100000")
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [str(NNRUN), "train", str(write_config(tmp_path, text)), "--out", str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (run / "checkpoints" / "last").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert f"nnrun train --resume {run}" in err and "Traceback" not in err
    checkpoint.last(run).model_state()  # loadable


# --- crash safety ----------------------------------------------------------------------------------


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, cfg, monkeypatch):
    run = tmp_path / "run"
    original, calls = nr.save, {"n": 0}

    def disk_full_on_the_second_checkpoint(obj, path):
        calls["n"] += 1
        if calls["n"] == 3:  # model + state of checkpoint 1, then the model of checkpoint 2
            raise OSError(28, "No space left on device")
        original(obj, path)

    monkeypatch.setattr(nr, "save", disk_full_on_the_second_checkpoint)
    result = fails(2, "train", cfg, "--out", run)
    assert "cannot write a checkpoint" in result.stderr and "No space left" in result.stderr
    root = run / "checkpoints"
    assert sorted(os.listdir(root)) == ["best", "last", "step-00000012"]  # no temporary leftovers
    assert checkpoint.last(run).meta["step"] == 12


def test_resume_cleans_up_after_a_crash(tmp_path, cfg):
    straight, run = tmp_path / "straight", tmp_path / "run"
    train(cfg, "--out", straight)
    train(cfg, "--out", run, "--epochs", 2)
    root = run / "checkpoints"
    (root / ".tmp-step-00000030-999").mkdir()  # killed while writing
    (root / ".tmp-step-00000030-999" / "model.safetensors").write_bytes(b"torn")
    orphan = root / "step-00000036"  # killed after the rename, before `last` moved
    orphan.mkdir()
    (orphan / "meta.json").write_text("{}")
    train("--resume", run, "--epochs", 4)
    assert sorted(p for p in os.listdir(root) if not p.startswith("step-")) == ["best", "last"]
    assert_same_run(straight, run)


def test_sigkill_at_random_moments_leaves_a_loadable_checkpoint(tmp_path):
    text = BLOBS.replace("epochs: 3", "epochs: 100000")
    cfg = write_config(tmp_path, text)
    rng = np.random.default_rng(0)
    for attempt in range(3):
        run = tmp_path / f"run{attempt}"
        proc = subprocess.Popen([str(NNRUN), "train", str(cfg), "--out", str(run), "-q"])
        try:
            deadline = time.monotonic() + 60
            while not (run / "checkpoints" / "last").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(float(rng.uniform(0, 0.5)))
        finally:
            proc.kill()
            proc.wait(timeout=30)
        last = checkpoint.last(run)
        last.model_state(), last.training_state()
        result = invoke("train", "--resume", run, "--epochs", last.meta["epoch"] + 1, "-q")
        assert result.exit_code == 0, result.output


# --- broken and foreign checkpoints (exit 2) -----------------------------------------------------------


@pytest.fixture
def trained(tmp_path, cfg) -> Path:
    run = tmp_path / "run"
    train(cfg, "--out", run, "--epochs", 2)
    return run


@pytest.mark.parametrize(
    ("file", "damage", "message"),
    [
        ("model.safetensors", "truncate", "truncated"),
        ("model.safetensors", "random", "model.safetensors"),
        ("state.safetensors", "random", "state.safetensors"),
        ("state.safetensors", "huge header", "header length"),
        ("meta.json", "random", "meta.json"),
        ("meta.json", "delete", "meta.json is missing"),
        ("model.safetensors", "delete", "model.safetensors is missing"),
    ],
)
def test_damaged_checkpoint_exits_2(trained, file, damage, message):
    path = trained / "checkpoints" / "last" / file
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-10])
    elif damage == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 300, np.uint8).tobytes())
    elif damage == "huge header":
        path.write_bytes((2**60).to_bytes(8, "little") + b"{}")
    else:
        path.unlink()
    result = fails(2, "train", "--resume", trained)
    assert message in result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output


def test_checkpoint_of_another_config(trained, tmp_path):
    other = BLOBS.replace("Linear: {out_features: 16}", "Linear: {out_features: 8}")
    err = fails(
        2, "train", "--resume", trained, "--set", "model.layers.0.Linear.out_features=8"
    ).stderr
    assert "different config" in err
    weights_file = trained / "checkpoints" / "last" / "model.safetensors"
    err = fails(
        2, "eval", weights_file, "--config", write_config(tmp_path, other, "other.yaml")
    ).stderr
    assert "does not fit the model" in err and "size mismatch" in err.lower()


def test_run_without_checkpoints(tmp_path, cfg):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(cfg.read_text())
    assert "no checkpoint to resume from" in fails(2, "train", "--resume", run).stderr


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda meta: meta.update(step="12"), "step is '12'"),
        (lambda meta: meta["state"].update(position=None), "state.position is None"),
        (lambda meta: meta.update(sample_shape=[4, -1]), "sample_shape"),
        (lambda meta: meta.update(version=99), "version 99"),
    ],
)
def test_tampered_meta_exits_2(trained, edit, message):
    path = trained / "checkpoints" / "last" / "meta.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))
    assert message in fails(2, "train", "--resume", trained).stderr
    assert message in fails(2, "eval", trained / "checkpoints" / "last").stderr


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"optimizer": 1}, "no optimizer state"),
        ({"optimizer": {}, "scheduler": None, "rng": {"cpu": 1}}, "no RNG states"),
        ({"optimizer": {"state": {}, "param_groups": [{"params": [0]}]}, "scheduler": None,
          "rng": {"cpu": nr.tensor([1, 2], dtype=nr.uint8), "loader": b"x"}}, "optimizer"),
    ],
)  # fmt: skip
def test_foreign_training_state_exits_2(trained, state, message):
    nr.save(state, trained / "checkpoints" / "last" / "state.safetensors")
    assert message in fails(2, "train", "--resume", trained).stderr


def _save_step(root, step, safe_point=None):
    return checkpoint.save(
        root, step=step, model_state={"w": nr.ones(2)},
        training_state={"optimizer": {"state": {}, "param_groups": []}},
        meta={"epoch": 0}, config_text="name: x\n", safe_point=safe_point,
    )  # fmt: skip


@pytest.mark.parametrize("at_call", [1, 2, 3, 4, 5])
def test_a_safe_point_that_raises_abandons_the_write(tmp_path, at_call):
    """A second signal during a checkpoint write is raised at the write's next safe point
    (between files, never inside one): nothing partial is left and ``last`` is unchanged."""
    root = tmp_path / "checkpoints"
    _save_step(root, 1)
    calls = {"n": 0}

    def second_signal():
        calls["n"] += 1
        if calls["n"] == at_call:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _save_step(root, 2, safe_point=second_signal)
    assert os.readlink(root / "last") == "step-00000001"
    assert sorted(p.name for p in root.iterdir()) == ["last", "step-00000001"]


def test_a_second_signal_during_a_checkpoint_write_waits_for_a_safe_point():
    from nnrun.cli.train import Interrupted, request_stop

    class FakeLoop:
        stop_signal, writing_checkpoint, pending_stop = ("SIGINT", 130), True, None
        run = type("Run", (), {"checkpoints": Path("ck"), "path": Path("run")})()

    loop = FakeLoop()
    request_stop(loop, "SIGTERM", 143)  # no exception inside the write
    assert isinstance(loop.pending_stop, Interrupted)
    assert "stopped at once by a second SIGTERM" in str(loop.pending_stop)
    loop.writing_checkpoint = False
    with pytest.raises(Interrupted):
        request_stop(loop, "SIGINT", 130)
