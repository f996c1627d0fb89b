"""Run directories: where a training run keeps its config, metrics log and checkpoints.

    runs/digits-mlp/
      config.yaml            the resolved config (defaults filled in, --set applied)
      metrics.jsonl          one JSON object per epoch
      checkpoints/           see checkpoint.py: last -> step-..., best -> step-...

A new run never reuses a directory that holds files: ``runs/<name>`` is made unique as
``runs/<name>-2``, ``-3``, ... (``os.mkdir`` is the atomic claim, so two runs started at once get two
directories).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from .errors import UsageError

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"


class RunDir:
    """A run directory on disk. Make one with `create` (new run) or `open` (resume)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.created = False  # made by `create` (so `discard` may remove it)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    # --- creating and opening ------------------------------------------------------------------

    @classmethod
    def create(cls, name: str, out: str | os.PathLike | None = None, root: str = "runs") -> RunDir:
        """A fresh run directory: ``out`` if given (it must be new or empty), else a unique
        ``<root>/<name>``. Raises `UsageError` when it cannot be made."""
        if out is not None:
            path = Path(out)
            if path.exists() and not path.is_dir():
                raise UsageError(f"--out {path}: exists and is not a directory")
            parent = path.absolute().parent
            if not parent.is_dir():
                # not `mkdir -p`: a mistyped path or an unmounted disk would silently fill another
                what = "is not a directory" if parent.exists() else "does not exist"
                raise UsageError(
                    f"--out {path}: the parent directory {parent} {what}; create it first "
                    f"(mkdir -p {parent}) or choose another --out"
                )
            if path.is_dir() and any(path.iterdir()):
                hint = (
                    f"; continue it with: nnrun train --resume {path}"
                    if (path / CONFIG).exists()
                    else ""
                )
                raise UsageError(
                    f"--out {path}: the directory is not empty, and nnrun never overwrites a "
                    f"run; choose a new --out{hint}"
                )
            created = not path.exists()
            _mkdir(path, exist_ok=True)
            run = cls(path)
            run.created = created
            return run
        base = Path(root)
        _mkdir(base, parents=True, exist_ok=True)
        for n in range(1, 100_000):
            path = base / (name if n == 1 else f"{name}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as e:
                raise UsageError(f"cannot create the run directory {path}: {_why(e)}") from None
            run = cls(path)
            run.created = True
            return run
        raise UsageError(f"{base}: too many runs named {name!r}; use --out")

    @classmethod
    def open(cls, path: str | os.PathLike) -> RunDir:
        """An existing run directory (for ``--resume``); raises `UsageError` if it is not one."""
        path = Path(path)
        if not path.is_dir():
            raise UsageError(f"--resume {path}: no such run directory")
        run = cls(path)
        if not run.config_path.is_file():
            raise UsageError(
                f"--resume {path}: not a run directory (it has no {CONFIG}); give the directory "
                "that `nnrun train` created, e.g. runs/<name>"
            )
        return run

    def discard(self) -> None:
        """Remove the directory again if `create` made it (a run that could not even start)."""
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)
            self.created = False

    # --- files ------------------------------------------------------------------------------------

    def write_config(self, text: str) -> None:
        write_text_atomic(self.config_path, text)

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one epoch's record as one JSON line, flushed to disk."""
        line = json.dumps(_finite(record), separators=(", ", ": ")) + "\n"
        try:
            with open(self.metrics_path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise UsageError(f"cannot write {self.metrics_path}: {_why(e)}") from None

    def read_metrics(self) -> list[dict[str, Any]]:
        """The records in ``metrics.jsonl``; a torn last line (a crash mid-write) is skipped."""
        try:
            text = self.metrics_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        records = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
        return records

    def truncate_metrics(self, epochs: int) -> list[dict[str, Any]]:
        """Keep only the records of epochs ``1..epochs`` (those a checkpoint has seen); return them.

        Used on resume: records written after the checkpoint the run continues from are dropped, so
        the log is continued, never duplicated. The file is rewritten atomically.
        """
        records = self.read_metrics()
        kept = [r for r in records if isinstance(r.get("epoch"), int) and r["epoch"] <= epochs]
        text = "".join(json.dumps(r, separators=(", ", ": ")) + "\n" for r in kept)
        if self.metrics_path.exists() or kept:
            write_text_atomic(self.metrics_path, text)
        return kept


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file, fsync and rename (never a torn file)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UsageError(f"cannot write {path}: {_why(e)}") from None
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX); a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _mkdir(path: Path, **kwargs) -> None:
    try:
        path.mkdir(**kwargs)
    except OSError as e:
        raise UsageError(f"cannot create the directory {path}: {_why(e)}") from None


def _why(e: OSError) -> str:
    return e.strerror or str(e)


def _finite(record: dict[str, Any]) -> dict[str, Any]:
    """JSON has no nan/inf: store them as null (they only occur after skipped steps)."""
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()
    }
