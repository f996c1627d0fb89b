"""SIGINT/SIGTERM: the first finishes the step, checkpoints, prints how to resume and exits
130/143; a second one stops at once — also in the middle of a checkpoint write — and never
corrupts anything: ``last`` loads and the resumed run ends bit-identical to an unbroken one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import nnrun.engine as nr
import numpy as np
import pytest
from reliable import (
    BLOBS,
    NNRUN,
    assert_same_run,
    fails,
    fork_nnrun,
    load_all,
    memory_dir,
    ok,
    wait,
    write_config,
)
from test_kill9 import check_after_kill, last_step, no_litter

EVERY_STEP = BLOBS.replace(
    "checkpoint: {monitor: val_accuracy}", "checkpoint: {monitor: val_accuracy, every_steps: 1}"
)
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
DOUBLE_SIGNALS = 12


@pytest.fixture
def tmp_path():
    folder = memory_dir("nnrun-signals-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def straight(tmp_path):
    cfg = write_config(tmp_path, EVERY_STEP)
    ok("train", cfg, "--out", tmp_path / "straight", "-q")
    return cfg, tmp_path / "straight"


def stderr_to(path):
    def hook():
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)

    return hook


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_two_signals_in_quick_succession(straight, tmp_path):
    cfg, reference = straight
    rng = np.random.default_rng(3)
    outcomes = {"stopped at once": 0, "checkpoint saved": 0}
    for i in range(DOUBLE_SIGNALS):
        run, err = tmp_path / f"run{i}", tmp_path / f"err{i}.txt"
        first, second = rng.choice([signal.SIGINT, signal.SIGTERM], size=2)
        child = fork_nnrun(["train", cfg, "--out", run], kill_when=stderr_to(err), quiet=False)
        deadline = time.monotonic() + 20
        while (last_step(run) or 0) < 3 + i and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.004))
        os.kill(child, first)
        time.sleep(rng.uniform(0, 0.002))
        os.kill(child, second)
        code = wait(child)
        text = err.read_text()
        assert code in (CODES[first], CODES[second]), (code, text)
        assert "Traceback" not in text and f"nnrun train --resume {run}" in text, text
        outcomes["stopped at once" if "stopped at once" in text else "checkpoint saved"] += 1
        assert check_after_kill(run) is not None
        ok("train", "--resume", run, "-q")
        no_litter(run)
        assert_same_run(reference, run)
    print("\ndouble-signal outcomes:", outcomes)
    assert sum(outcomes.values()) == DOUBLE_SIGNALS and outcomes["stopped at once"] > 0


def test_second_sigint_during_the_interrupt_checkpoint_write(straight, tmp_path, monkeypatch):
    """The second Ctrl-C arrives while the first one's checkpoint is being written: that write
    is abandoned (its temporary directory removed) and ``last`` stays the previous checkpoint."""
    from nnrun.cli import loop

    cfg, reference = straight
    run = tmp_path / "run"
    interrupted = loop.Loop._interrupted
    original_save = nr.save

    def first_sigint_then_second_inside_the_write(self):
        def save_and_signal(obj, path):
            if "model" in str(path):
                os.kill(os.getpid(), signal.SIGINT)  # handled before the file is written
            original_save(obj, path)

        monkeypatch.setattr(nr, "save", save_and_signal)
        interrupted(self)

    monkeypatch.setattr(loop.Loop, "_interrupted", first_sigint_then_second_inside_the_write)
    from nnrun.cli.console import Reporter

    step, count = Reporter.step, {"n": 0}

    def sigint_at_step_20(self, loss, samples):
        count["n"] += 1
        if count["n"] == 20:
            os.kill(os.getpid(), signal.SIGINT)
        step(self, loss, samples)

    monkeypatch.setattr(Reporter, "step", sigint_at_step_20)
    err = fails(130, "train", cfg, "--out", run).stderr
    monkeypatch.undo()
    assert "stopped at once by a second SIGINT" in err
    assert f"the last complete checkpoint is {run / 'checkpoints' / 'last'}" in err
    assert os.readlink(run / "checkpoints" / "last") == "step-00000019"  # the previous one
    load_all(run / "checkpoints" / "last")
    no_litter(run)
    ok("train", "--resume", run, "-q")
    assert_same_run(reference, run)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_console_script_two_signals(straight, tmp_path, sig, code):
    cfg, reference = straight
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [str(NNRUN), "train", str(cfg), "--out", str(run), "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while (last_step(run) or 0) < 5 and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(sig)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode in (code, 130), err
    assert "Traceback" not in err and f"nnrun train --resume {run}" in err
    load_all(run / "checkpoints" / "last")
    ok("train", "--resume", run, "-q")
    assert_same_run(reference, run)


def test_handlers_are_put_back_after_a_stop(straight, tmp_path, monkeypatch):
    """Called as a function (not through the CLI), train() leaves no handler of its own behind."""
    from nnrun.cli.console import Reporter
    from nnrun.cli.train import Interrupted, TrainOptions, train

    cfg, _ = straight
    step = Reporter.step

    def sigterm_at_once(self, loss, samples):
        os.kill(os.getpid(), signal.SIGTERM)
        step(self, loss, samples)

    monkeypatch.setattr(Reporter, "step", sigterm_at_once)
    before = {sig: signal.getsignal(sig) for sig in CODES}
    with pytest.raises(Interrupted) as stopped:
        train(TrainOptions(config=cfg, out=tmp_path / "api", quiet=True))
    assert stopped.value.exit_code == 143
    assert {sig: signal.getsignal(sig) for sig in CODES} == before
