"""Crash safety under SIGKILL: killed at random moments (many times) and at every file-system call
of a checkpoint write, a run always leaves a loadable ``last`` checkpoint, and resuming it ends
bit-identical to a run that was never killed.

The runs are forked from this process (no interpreter start-up, so dozens of kills take seconds);
a killed child gets SIGKILL from the parent, or sends it to itself at a chosen call."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
from reliable import (
    BLOBS,
    NNRUN,
    assert_same_run,
    fork_nnrun,
    load_all,
    memory_dir,
    wait,
    write_config,
)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

EVERY_STEP = BLOBS.replace("train: {epochs: 3}", "train: {epochs: 15}").replace(
    "checkpoint: {monitor: val_accuracy}", "checkpoint: {monitor: val_accuracy, every_steps: 1}"
)  # 180 steps, a checkpoint after each
RANDOM_KILLS = 30
COUNTS: dict[str, object] = {}  # printed after each test (pytest -s shows them)


def last_step(run: Path) -> int | None:
    try:
        return json.loads((run / "checkpoints" / "last" / "meta.json").read_text())["step"]
    except (OSError, ValueError):
        return None


def check_after_kill(run: Path) -> int | None:
    """``last`` (if any) is complete and loads; the links name complete step directories."""
    root = run / "checkpoints"
    if not (root / "last").exists():
        assert not (root / "last").is_symlink(), "a dangling last link"
        return None
    files = load_all(root / "last")
    for link in ("last", "best"):
        if (root / link).is_symlink():
            target = os.readlink(root / link)
            assert target.startswith("step-") and (root / target / "meta.json").is_file(), target
    return json.loads(files["meta.json"])["step"]


def no_litter(run: Path) -> None:
    root = run / "checkpoints"
    assert [p for p in os.listdir(root) if p.startswith(".")] == []


@pytest.fixture
def tmp_path():
    """On tmpfs where there is one (see `memory_dir`); removed afterwards."""
    folder = memory_dir("nnrun-kill9-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def straight():
    """(config, run trained without interruption) — the reference every killed run must match."""
    folder = memory_dir("nnrun-kill9-")
    cfg = write_config(folder, EVERY_STEP)
    run = folder / "straight"
    assert wait(fork_nnrun(["train", cfg, "--out", run, "-q"])) == 0
    yield cfg, run
    shutil.rmtree(folder, ignore_errors=True)


def test_sigkill_at_random_moments(straight, tmp_path):
    cfg, reference = straight
    run = tmp_path / "run"
    rng = np.random.default_rng(20_251_125)
    kills = during_start = before_first = 0
    started = time.monotonic()
    child = fork_nnrun(["train", cfg, "--out", run, "-q"])
    while kills < RANDOM_KILLS:
        before = last_step(run)
        if rng.random() < 0.2:  # now and then: during start-up, resume or recovery
            during_start += 1
            time.sleep(rng.uniform(0, 0.08))
        else:  # otherwise after the run made progress, at a random point of a step or a write
            deadline = time.monotonic() + 20
            while last_step(run) == before and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.015))
        os.kill(child, signal.SIGKILL)
        status = wait(child)
        if status == 0:
            child = None
            break  # it finished first
        assert status == -signal.SIGKILL
        kills += 1
        if check_after_kill(run) is None:  # killed before the first checkpoint: start again
            before_first += 1
            shutil.rmtree(run, ignore_errors=True)
            child = fork_nnrun(["train", cfg, "--out", run, "-q"])
        else:
            child = fork_nnrun(["train", "--resume", run, "-q"])
    if child is not None:
        assert wait(child) == 0  # the last resume runs to the end
    COUNTS["random kills"] = kills
    COUNTS["random kills timed from the child's start (start-up, resume, recovery)"] = during_start
    COUNTS["random kills before the first checkpoint"] = before_first
    print("\nkill -9 counts:", json.dumps(COUNTS, indent=1))
    assert kills == RANDOM_KILLS, f"the run finished after {kills} kills"
    no_litter(run)
    assert_same_run(reference, run)
    assert time.monotonic() - started < 60


# --- every point of one checkpoint write -------------------------------------------------------------

TARGET = "step-00000005"  # the checkpoint whose write is killed at each of its calls
NEXT = "step-00000006"


def _hooked(log: Path | None = None, kill_at: int | None = None) -> None:
    """In the child: number every file-system call the checkpoint code makes (log them), and
    SIGKILL the process just before call number ``kill_at``."""
    calls = [0]
    out = open(log, "w") if log is not None else None  # noqa: SIM115 - lives until the kill

    def wrap(owner, name):
        original = getattr(owner, name)

        def call(*args, **kwargs):
            calls[0] += 1
            if calls[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            if out is not None:
                shown = [str(a) if isinstance(a, (str, os.PathLike)) else "-" for a in args[:2]]
                out.write(f"{calls[0]} {name} {' '.join(shown)}\n")
                out.flush()
            return original(*args, **kwargs)

        setattr(owner, name, call)

    for name in ("mkdir", "rename", "replace", "symlink", "unlink", "fsync", "chmod"):
        wrap(os, name)
    wrap(shutil, "rmtree")
    wrap(safetensors.numpy, "save_file")


def test_sigkill_at_every_call_of_a_checkpoint_write(tmp_path):
    cfg = write_config(tmp_path, EVERY_STEP)
    args = ["train", cfg, "-q", "--max-steps", 8]
    log = tmp_path / "calls.log"
    traced = tmp_path / "traced"
    assert wait(fork_nnrun([*args, "--out", traced], kill_when=lambda: _hooked(log))) == 0
    lines = log.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if TARGET in line)
    end = next(i for i, line in enumerate(lines) if NEXT in line)
    points = [int(line.split()[0]) for line in lines[first:end]]
    names = [line.split()[1] for line in lines[first:end]]
    assert {"save_file", "rename", "replace", "symlink", "fsync", "rmtree"} <= set(names)
    straight8 = tmp_path / "straight8"
    assert wait(fork_nnrun([*args, "--out", straight8])) == 0
    outcomes = {"previous": 0, "new": 0}
    for point in points:
        run = tmp_path / f"killed-{point}"
        pid = fork_nnrun([*args, "--out", run], kill_when=lambda p=point: _hooked(kill_at=p))
        assert wait(pid) == -signal.SIGKILL, point
        step = check_after_kill(run)
        assert step in (4, 5), (point, step)  # the previous checkpoint, or the new one complete
        outcomes["previous" if step == 4 else "new"] += 1
        assert wait(fork_nnrun(["train", "--resume", run, "-q"])) == 0, point
        no_litter(run)
        assert_same_run(straight8, run)
    COUNTS["kill points in one checkpoint write"] = len(points)
    COUNTS["... by call"] = " ".join(names)
    COUNTS["... leaving the previous checkpoint as last"] = outcomes["previous"]
    COUNTS["... leaving the new checkpoint as last"] = outcomes["new"]
    print("\nkill -9 counts:", json.dumps(COUNTS, indent=1))
    assert outcomes["previous"] and outcomes["new"]


def test_console_script_sigkill_during_writes(straight, tmp_path):
    """The installed console script, killed three times at random moments, then resumed."""
    import subprocess

    cfg, reference = straight
    run = tmp_path / "run"
    rng = np.random.default_rng(7)
    command = [str(NNRUN), "train", str(cfg), "--out", str(run), "-q", "--device", "cpu"]
    for _ in range(3):
        proc = subprocess.Popen(command)
        try:
            deadline = time.monotonic() + 60
            while last_step(run) is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.2))
        finally:
            proc.kill()
            proc.wait(timeout=30)
        assert check_after_kill(run) is not None
        command = [str(NNRUN), "train", "--resume", str(run), "-q", "--device", "cpu"]
    assert subprocess.run(command, timeout=120, check=False).returncode == 0
    assert_same_run(reference, run)
    COUNTS["console-script kills"] = 3
    print("\nkill -9 counts:", json.dumps(COUNTS, indent=1))
