"""Disk full, read-only and missing directories: a clear exit-2 message, the previous checkpoint
intact and resumable, and no partial files left behind."""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
from pathlib import Path

import nnrun.engine as nr
import pytest
from nnrun.cli import checkpoint
from reliable import BLOBS, assert_same_run, fails, fork_nnrun, ok, wait, write_config

EVERY_4 = BLOBS.replace(
    "checkpoint: {monitor: val_accuracy}", "checkpoint: {monitor: val_accuracy, every_steps: 4}"
)  # checkpoints at steps 4, 8, 12 (epoch end), 16, ...


# --- where the run directory goes ------------------------------------------------------------------


def test_out_under_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    err = fails(2, "train", write_config(tmp_path), "--out", tmp_path / "file" / "run").stderr
    assert f"the parent directory {tmp_path / 'file'} is not a directory" in err
    assert (tmp_path / "file").read_text() == "x"


def test_out_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    err = fails(2, "train", write_config(tmp_path), "--out", tmp_path / "file").stderr
    assert "exists and is not a directory" in err


def test_out_with_a_missing_parent(tmp_path):
    out = tmp_path / "not" / "there" / "run"
    err = fails(2, "train", write_config(tmp_path), "--out", out).stderr
    assert f"the parent directory {out.parent} does not exist" in err and "mkdir -p" in err
    assert not (tmp_path / "not").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_out_in_a_read_only_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    err = fails(2, "train", write_config(tmp_path), "--out", locked / "run").stderr
    assert "Permission denied" in err and os.listdir(locked) == []


@pytest.mark.parametrize(
    ("code", "text"), [(errno.EROFS, "Read-only file system"), (errno.EACCES, "Permission denied")]
)
def test_out_where_directories_cannot_be_made(tmp_path, monkeypatch, code, text):
    # As root (CI containers) permissions are not enforced: the file system's refusal is simulated.
    original = Path.mkdir

    def refuse(self, *args, **kwargs):
        if self.name in ("run", "runs"):
            raise OSError(code, text, str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    err = fails(2, "train", write_config(tmp_path), "--out", tmp_path / "run").stderr
    assert f"cannot create the directory {tmp_path / 'run'}: {text}" in err
    monkeypatch.chdir(tmp_path)
    err = fails(2, "train", write_config(tmp_path)).stderr  # the default runs/<name>
    assert text in err and not (tmp_path / "runs").exists()


# --- failed writes during training -------------------------------------------------------------------

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def fail_once(monkeypatch, owner, name: str, matches, nth: int = 1) -> None:
    """Make ``owner.name(*args)`` raise ENOSPC the ``nth`` time ``matches(args)`` is true."""
    original = getattr(owner, name)
    seen = {"n": 0}

    def call(*args, **kwargs):
        if matches(args):
            seen["n"] += 1
            if seen["n"] == nth:
                raise ENOSPC
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, call)


def names(*args) -> str:
    return " ".join(str(a) for a in args if isinstance(a, (str, os.PathLike)))


# Each point of the write of the checkpoint at step 8 (the one after step 4's).
WRITE_POINTS = {
    "model file": (nr, "save", lambda a: "tmp-step-00000008" in names(*a) and "model" in names(*a)),
    "state file": (nr, "save", lambda a: "tmp-step-00000008" in names(*a) and "state" in names(*a)),
    "meta.json": (checkpoint, "_write", lambda a: "tmp-step-00000008" in names(*a)),
    "rename into place": (os, "rename", lambda a: "step-00000008" in names(*a)),
    "new last link": (os, "symlink", lambda a: names(*a).startswith("step-00000008")),
    "swap of last": (os, "replace", lambda a: ".last.tmp" in names(*a), 2),  # the 2nd checkpoint
}


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("disk")
    cfg = write_config(folder, EVERY_4)
    ok("train", cfg, "--out", folder / "straight", "-q")
    return cfg, folder / "straight"


@pytest.mark.parametrize("point", list(WRITE_POINTS))
def test_disk_full_at_each_point_of_a_checkpoint_write(straight, tmp_path, monkeypatch, point):
    cfg, reference = straight
    run = tmp_path / "run"
    fail_once(monkeypatch, *WRITE_POINTS[point])
    err = fails(2, "train", cfg, "--out", run).stderr
    monkeypatch.undo()
    root = run / "checkpoints"
    assert (
        f"cannot write a checkpoint in {root}: No space left on device while writing "
        f"step-00000008; the previous checkpoint {root / 'step-00000004'} is intact; after "
        f"fixing it, continue with: nnrun train --resume {run}"
    ) in err
    assert sorted(os.listdir(root)) == ["last", "step-00000004"]  # no temporary files
    assert checkpoint.last(run).meta["step"] == 4
    ok("train", "--resume", run, "-q")
    assert_same_run(reference, run)


def test_disk_full_at_the_first_checkpoint_leaves_no_run_directory(tmp_path, monkeypatch):
    fail_once(monkeypatch, nr, "save", lambda a: "model" in names(*a))
    run = tmp_path / "run"
    err = fails(2, "train", write_config(tmp_path, EVERY_4), "--out", run).stderr
    assert "No space left on device while writing step-00000004; no earlier checkpoint" in err
    assert "start the run again" in err and not run.exists()


def test_disk_full_in_the_metrics_log(straight, tmp_path, monkeypatch):
    cfg, reference = straight
    run = tmp_path / "run"
    original = os.fsync
    calls = {"n": 0}

    def fsync(fd):  # the metrics line of epoch 2 cannot be flushed
        path = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else ""
        if path.endswith("metrics.jsonl"):
            calls["n"] += 1
            if calls["n"] == 2:
                raise ENOSPC
        return original(fd)

    if not os.path.exists("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd")
    monkeypatch.setattr(os, "fsync", fsync)
    err = fails(2, "train", cfg, "--out", run).stderr
    monkeypatch.undo()
    assert f"cannot write {run / 'metrics.jsonl'}: No space left on device" in err
    assert checkpoint.last(run).meta["step"] == 20  # the last checkpoint inside epoch 2
    ok("train", "--resume", run, "-q")
    assert_same_run(reference, run)  # the torn/unflushed line was replaced, not duplicated


def test_a_run_directory_removed_while_training(tmp_path, monkeypatch):
    from nnrun.cli.console import Reporter

    run = tmp_path / "run"
    original, count = Reporter.step, {"n": 0}

    def remove_it_at_step_15(self, loss, samples):
        count["n"] += 1
        if count["n"] == 15:
            shutil.rmtree(run)
        original(self, loss, samples)

    monkeypatch.setattr(Reporter, "step", remove_it_at_step_15)
    err = fails(2, "train", write_config(tmp_path, EVERY_4), "--out", run).stderr
    assert "No such file or directory" in err and not run.exists()  # not silently re-created


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_real_write_error_from_the_operating_system(straight, tmp_path):
    """RLIMIT_FSIZE makes the kernel fail the writes of checkpoint files (EFBIG) mid-file."""
    cfg, _ = straight
    run = tmp_path / "run"

    errors = tmp_path / "stderr.txt"

    def small_files_only():
        os.dup2(os.open(errors, os.O_WRONLY | os.O_CREAT), 2)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, resource.RLIM_INFINITY))

    pid = fork_nnrun(["train", cfg, "--out", run], kill_when=small_files_only, quiet=False)
    assert wait(pid) == 2
    err = errors.read_text()
    assert "Traceback" not in err
    assert f"cannot write a checkpoint in {run / 'checkpoints'}: File too large while " in err
    assert not run.exists()  # the first checkpoint failed: nothing to resume, nothing left
