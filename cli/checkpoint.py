"""Checkpoints: crash-safe writes, reads with clear errors, and the ``last``/``best`` links.

Layout of ``<run>/checkpoints/``::

    step-00000450/           one complete checkpoint, named by its global step
      model.safetensors      model.state_dict() (PyTorch: safetensors.torch.load_file + load_state_dict)
      state.safetensors      optimizer, scheduler, RNG states, normalisation statistics
      meta.json              epoch, step, position in the epoch, metrics, best value, config hash
      config.yaml            the resolved config (so a checkpoint directory stands alone)
    last -> step-00000450    symlinks, replaced atomically
    best -> step-00000360

How a write stays crash-safe: every file is written into a fresh ``.tmp-step-...-<pid>`` directory
and fsynced; the directory is renamed to ``step-<N>`` (atomic) and the parent fsynced; only then is a
new symlink made under a temporary name and renamed over ``last`` (``rename(2)`` replaces it
atomically), then ``best``. At every instant ``last`` names a complete checkpoint: the old one until
the rename, the new one after. A crash leaves at worst a temporary or unreferenced directory, which
`recover` removes before a resumed run writes again. Old checkpoints are deleted only after the
links moved away from them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nnrun.engine as nr
import numpy as np
from nnrun.engine.serialization import SerializationError

from .errors import CheckpointError
from .rundir import CHECKPOINTS, CONFIG, fsync_dir
from .state_check import nonfinite_parameter

MODEL = "model.safetensors"
STATE = "state.safetensors"
META = "meta.json"
FORMAT, VERSION = "nnrun-checkpoint", 1
_STEP_DIR = re.compile(r"^step-(\d+)$")
_INT, _NUMBER, _NONE = int, (int, float), type(None)
_META_TYPES = {  # what meta.json's values must be; a hand-edited or damaged file is refused
    "step": _INT,
    "epoch": _INT,
    "position": _INT,
    "state": dict,
    "metrics": (dict, _NONE),
    "monitor_value": (*_NUMBER, _NONE),
    "base_dir": (str, _NONE),
    "sample_shape": (list, _NONE),
    "num_classes": (_INT, _NONE),
    "classes": (list, _NONE),
    "config_hash": str,
}
_STATE_TYPES = {
    "epoch": _INT,
    "step": _INT,
    "position": _INT,
    "loss_sum": _NUMBER,
    "loss_count": _INT,
    "skipped": _INT,
    "epoch_skipped": _INT,
    "best": (dict, _NONE),
    "early_best": (*_NUMBER, _NONE),
    "bad_epochs": _INT,
    "stopped": (str, _NONE),
}


_COUNTERS = ("step", "epoch", "position", "num_classes")
_STATE_COUNTERS = (
    "epoch",
    "step",
    "position",
    "loss_count",
    "skipped",
    "epoch_skipped",
    "bad_epochs",
)
_MAX_COUNT = 2**40  # no real counter comes near; a bigger one is damage
_MAX_CLASSES = 1_000_000  # as nnrun.datasets allows


@dataclass
class Checkpoint:
    """A checkpoint directory that `read` checked; its files are loaded on demand."""

    path: Path
    meta: dict[str, Any]

    @property
    def model_path(self) -> Path:
        return self.path / MODEL

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    def model_state(self) -> dict[str, Any]:
        """The model's state dict (tensors on the CPU)."""
        state = _load(self.model_path)
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise CheckpointError(f"{self.model_path} does not hold a model's state dict")
        return state

    def training_state(self) -> dict[str, Any]:
        """Optimizer, scheduler, RNG and normalisation state (`save`'s ``training_state``)."""
        file = self.path / STATE
        state = _load(file)
        rng = state.get("rng") if isinstance(state, dict) else None
        norm = state.get("normalization") if isinstance(state, dict) else None
        problem = None
        if not isinstance(state, dict) or not isinstance(state.get("optimizer"), dict):
            problem = "no optimizer state"
        elif not isinstance(state.get("scheduler"), (dict, type(None))):
            problem = "a malformed scheduler state"
        elif not (isinstance(rng, dict) and isinstance(rng.get("loader"), bytes) and "cpu" in rng):
            problem = "no RNG states"
        elif norm is not None and not (
            isinstance(norm, dict)
            and all(
                isinstance(norm.get(k), np.ndarray)
                and norm[k].dtype.kind == "f"
                and np.isfinite(norm[k]).all()
                for k in ("mean", "std")
            )
            and (norm["std"] > 0).all()
        ):
            problem = "malformed normalisation statistics (not finite, or a std that is not > 0)"
        if problem is not None:
            raise CheckpointError(f"{file} does not hold nnrun's training state ({problem})")
        return state


def load_weights(model, state: dict[str, Any], source: Path) -> None:
    """``model.load_state_dict(state)``; a mismatch (another config) is a `CheckpointError`."""
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        raise CheckpointError(
            f"{source} does not fit the model built from the config (was it written by another "
            f"config?): {e}"
        ) from None
    broken = nonfinite_parameter(model)  # nnrun never saves such weights itself
    if broken is not None:
        raise CheckpointError(
            f"{source}: parameter {broken} holds NaN or inf (a damaged file, or a run that diverged)"
        )


# --- writing -----------------------------------------------------------------------------------------


def save(
    root: Path,
    *,
    step: int,
    model_state: dict[str, Any],
    training_state: dict[str, Any],
    meta: dict[str, Any],
    config_text: str,
    mode: str | None = None,
    keep: int = 1,
    safe_point: Callable[[], None] | None = None,
) -> Path:
    """Write a checkpoint for global ``step`` under ``root``, point ``last`` at it and ``best`` at
    the best checkpoint by ``meta["monitor_value"]`` (``mode``: ``"min"``/``"max"``), then delete
    checkpoints that are neither linked nor among the ``keep`` best. Returns the new directory.

    Raises `CheckpointError` if the files cannot be written (nothing partial is left behind).
    ``safe_point()`` runs between files and may raise to abandon the write (a second signal):
    the temporary directory is removed and ``last`` still names the previous checkpoint.
    """
    check = safe_point or (lambda: None)
    name = f"step-{step:08d}"
    final = root / name
    try:
        root.mkdir(exist_ok=True)  # not parents: a run directory that vanished is an error
        if final.exists():
            if _target(root / "last") == name:  # this very state is already saved
                _relink(root, mode)
                return final
            shutil.rmtree(final)  # left by a crash, never linked
        tmp = root / f".tmp-{name}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        try:
            check()
            nr.save(model_state, tmp / MODEL)
            check()
            nr.save(training_state, tmp / STATE)
            check()
            meta = {"format": FORMAT, "version": VERSION, "step": step, **meta}
            _write(tmp / META, json.dumps(meta, indent=1) + "\n")
            check()
            _write(tmp / CONFIG, config_text)
            fsync_dir(tmp)
            check()
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            fsync_dir(root)
            _link(root, "last", name)
        except BaseException:  # `last` still names the previous checkpoint: drop the new one
            if _target(root / "last") != name:
                shutil.rmtree(final, ignore_errors=True)
            raise
        _relink(root, mode)
        prune(root, mode=mode, keep=keep)
    except OSError as e:
        raise CheckpointError(_write_error(root, name, e)) from None
    except TypeError as e:  # a state nr.save cannot store (e.g. a scheduler holding a function)
        raise CheckpointError(f"cannot save the training state: {e}") from None
    return final


def _write_error(root: Path, name: str, e: OSError) -> str:
    """What went wrong, that the previous checkpoint is intact, and how to go on."""
    why = e.strerror or str(e)
    if not root.parent.is_dir():
        why += f" (the run directory {root.parent} no longer exists)"
    last = _target(root / "last")
    if last and last != name and (root / last / META).is_file():
        then = (
            f"the previous checkpoint {root / last} is intact; after fixing it, continue with: "
            f"nnrun train --resume {root.parent}"
        )
    else:
        then = "no earlier checkpoint exists; after fixing it, start the run again"
    return f"cannot write a checkpoint in {root}: {why} while writing {name}; {then}"


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _link(root: Path, link: str, target: str) -> None:
    """Atomically make ``root/link`` a symlink to ``target`` (a sibling directory's name)."""
    tmp = root / f".{link}.tmp-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp, target_is_directory=True)
    try:
        os.replace(tmp, root / link)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(root)


def _target(link: Path) -> str | None:
    try:
        return os.readlink(link) if link.is_symlink() else None
    except OSError:
        return None


def _steps(root: Path) -> dict[str, int]:
    """``{directory name: step}`` of the complete checkpoints under ``root``."""
    if not root.is_dir():
        return {}
    found = {}
    for entry in root.iterdir():
        m = _STEP_DIR.match(entry.name)
        if m and entry.is_dir() and not entry.is_symlink():
            found[entry.name] = int(m.group(1))
    return found


def _ranked(root: Path, mode: str | None) -> list[str]:
    """Checkpoints that carry a monitored value, best first (ties: the earlier step)."""
    if mode not in ("min", "max"):
        return []
    scored = []
    for name, step in _steps(root).items():
        value = _meta_or_none(root / name).get("monitor_value")
        if isinstance(value, (int, float)) and not math.isnan(value):
            scored.append((value if mode == "min" else -value, step, name))
    return [name for *_, name in sorted(scored)]


def _relink(root: Path, mode: str | None) -> None:
    ranked = _ranked(root, mode)
    if ranked and _target(root / "best") != ranked[0]:
        _link(root, "best", ranked[0])


def prune(root: Path, *, mode: str | None, keep: int) -> None:
    """Delete checkpoints that neither ``last`` nor ``best`` names and that are not among the
    ``keep`` best. Links move first, deletions come last: a crash here loses nothing needed."""
    wanted = {_target(root / "last"), _target(root / "best"), *_ranked(root, mode)[:keep]}
    for name in _steps(root):
        if name not in wanted:
            shutil.rmtree(root / name, ignore_errors=True)


def recover(root: Path, *, mode: str | None) -> None:
    """Before a resumed run writes: remove temporary directories, checkpoints newer than ``last``
    (written after it by a run that crashed before linking them), and repair ``best``."""
    if not root.is_dir():
        return
    last = _steps(root).get(_target(root / "last") or "", -1)
    for entry in root.iterdir():
        if entry.name.startswith(".") and ".tmp-" in entry.name:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()
    for name, step in _steps(root).items():
        if step > last:
            shutil.rmtree(root / name, ignore_errors=True)
    best = root / "best"
    if best.is_symlink() and not best.exists():
        best.unlink()
    _relink(root, mode)


# --- reading -----------------------------------------------------------------------------------------


def read(path: str | os.PathLike) -> Checkpoint:
    """The checkpoint directory at ``path``; raises `CheckpointError` if it is not a complete one."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such checkpoint directory")
    for required in (MODEL, META):
        if not (path / required).is_file():
            raise CheckpointError(
                f"{path} is not a checkpoint: {required} is missing (a checkpoint directory holds "
                f"{MODEL}, {STATE} and {META})"
            )
    meta = _meta(path)
    return Checkpoint(path, meta)


def last(run_path: Path) -> Checkpoint:
    """The ``last`` checkpoint of a run directory, for ``--resume``."""
    link = run_path / CHECKPOINTS / "last"
    if not link.exists():
        raise CheckpointError(
            f"{run_path} has no checkpoint to resume from ({link} is missing): the run stopped "
            "before its first checkpoint; start it again"
        )
    return read(link)


def find(path: str | os.PathLike) -> tuple[Checkpoint | None, Path]:
    """What ``nnrun eval PATH`` names: ``(checkpoint, weights file)``.

    ``PATH`` is a ``model.safetensors`` (its checkpoint is the folder around it, if that is one), a
    checkpoint directory, or a run directory (its ``best`` checkpoint, else ``last``).
    """
    path = Path(path)
    if path.is_file():
        folder = path.parent
        checkpoint = read(folder) if (folder / META).is_file() else None
        return checkpoint, path
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or directory")
    if (path / MODEL).exists() or (path / META).exists():
        checkpoint = read(path)
        return checkpoint, checkpoint.model_path
    if (path / CHECKPOINTS).is_dir():
        for link in ("best", "last"):
            if (path / CHECKPOINTS / link).exists():
                checkpoint = read(path / CHECKPOINTS / link)
                return checkpoint, checkpoint.model_path
        raise CheckpointError(f"{path} is a run directory without checkpoints")
    raise CheckpointError(
        f"{path} is neither a weights file, a checkpoint directory nor a run directory "
        f"(found no {MODEL} and no {CHECKPOINTS}/ in it)"
    )


def _meta(path: Path) -> dict[str, Any]:
    file = path / META
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{file} is unreadable or corrupt: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{file} is not an nnrun checkpoint's metadata")
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"{file} has checkpoint format version {meta.get('version')!r}; this nnrun reads "
            f"version {VERSION}"
        )
    for key, types in _META_TYPES.items():
        if key in meta and not isinstance(meta[key], types) or isinstance(meta.get(key), bool):
            raise CheckpointError(f"{file} is corrupt: {key} is {meta[key]!r}")
    state = meta.get("state", {})
    for key, types in _STATE_TYPES.items():
        if key in state and not isinstance(state[key], types) or isinstance(state.get(key), bool):
            raise CheckpointError(f"{file} is corrupt: state.{key} is {state[key]!r}")
    counters = [(k, meta.get(k)) for k in _COUNTERS] + [
        (f"state.{k}", state.get(k)) for k in _STATE_COUNTERS
    ]
    for key, value in counters:
        limit = _MAX_CLASSES if key == "num_classes" else _MAX_COUNT
        if isinstance(value, int) and not 0 <= value <= limit:
            raise CheckpointError(f"{file} is corrupt: {key} is {value!r}")
    for key, record in (("metrics", meta.get("metrics")), ("state.best", state.get("best"))):
        if record is not None and not all(
            isinstance(v, (*_NUMBER, _NONE)) and not isinstance(v, bool) for v in record.values()
        ):
            raise CheckpointError(f"{file} is corrupt: {key} holds values that are not numbers")
    shape = meta.get("sample_shape")
    if shape is not None and not (
        0 < len(shape) <= 8
        and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        and math.prod(shape) <= _MAX_COUNT
    ):
        raise CheckpointError(f"{file} is corrupt: sample_shape is {shape!r}")
    classes = meta.get("classes")
    if classes is not None and not all(isinstance(c, str) for c in classes):
        raise CheckpointError(f"{file} is corrupt: classes holds names that are not strings")
    return meta


def _meta_or_none(path: Path) -> dict[str, Any]:
    try:
        return _meta(path)
    except CheckpointError:
        return {}


def _load(path: Path) -> Any:
    try:
        return nr.load(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except SerializationError as e:
        raise CheckpointError(str(e)) from None
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from None
