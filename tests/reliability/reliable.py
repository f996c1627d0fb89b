"""Helpers for the reliability tests: run ``nnrun`` in-process, in a forked child that can be
killed with SIGKILL, or as the console script; compare two runs."""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import traceback
from pathlib import Path

import nnrun.cli.app as app_module
import nnrun.engine as nr
import numpy as np
from nnrun.cli.app import app

# The in-process runner, the tiny blobs config and the metrics readers are shared with tests/cli.
from nnrun_cli import (  # noqa: F401 - re-exported for the reliability tests
    BLOBS,
    CONFIGS,
    NNRUN,
    ROOT,
    fails,
    invoke,
    metrics,
    ok,
    without_seconds,
    write_config,
)


def load_all(checkpoint_dir: Path) -> dict:
    """Every file of a checkpoint, loaded: the safetensors files with nr.load, the rest as text."""
    files = {}
    for path in sorted(checkpoint_dir.iterdir()):
        if path.suffix == ".safetensors":
            files[path.name] = nr.load(path)
        else:
            files[path.name] = path.read_text()
    assert set(files) == {"model.safetensors", "state.safetensors", "meta.json", "config.yaml"}
    json.loads(files["meta.json"])
    return files


def assert_same_run(a: Path, b: Path) -> None:
    """Bit-identical last checkpoints (weights, optimizer, RNG) and metrics apart from seconds."""
    from nnrun.cli.check_resume import compare_runs

    compare_runs(a, b)  # raises TrainingFailed naming the first difference
    assert without_seconds(metrics(a)) == without_seconds(metrics(b))


def weights(run: Path, which: str = "last") -> dict[str, np.ndarray]:
    state = nr.load(run / "checkpoints" / which / "model.safetensors")
    return {k: v.numpy() for k, v in state.items()}


def memory_dir(prefix: str) -> Path:
    """A fresh directory on tmpfs (``/dev/shm``) when there is one, else under the temp dir.

    The kill tests write a checkpoint after every step; on tmpfs ``fsync`` costs nothing, and a
    killed *process* (unlike a power cut) loses nothing the kernel already has, so the crash
    safety they test is the same."""
    import tempfile

    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def fork_nnrun(args, *, kill_when=None, quiet: bool = True) -> int:
    """Run ``nnrun ARGS`` in a forked child (no interpreter start-up: milliseconds, not a
    second) and return its pid. ``kill_when()`` runs in the child before the command and may
    install hooks that SIGKILL the child at a chosen point. The child never returns."""
    for module in ("nnrun.cli.check_resume", "nnrun.cli.evaluate"):  # once here, not per child
        importlib.import_module(module)

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # the child: no pytest output, no cleanup handlers; exits with nnrun's code
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        if quiet:
            os.dup2(devnull, 2)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if kill_when is not None:
            kill_when()
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - not pytest's capture objects
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        app_module._PROCESS_EXITS = True  # a console-script process: it ends with the command
        try:
            app([str(a) for a in args], prog_name="nnrun")
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # noqa: BLE001 - a bug: show it, exit 3
            traceback.print_exc()
            code = 3
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001, S110 - exiting anyway
                pass
        os._exit(code)


def wait(pid: int, timeout: float = 60.0) -> int:
    """The child's exit status: its exit code, or -signal when a signal killed it."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"child {pid} did not finish in {timeout} s")
        time.sleep(0.002)
