"""``nnrun train CONFIG --check-resume``: prove that a run of this config resumes exactly.

    result = check_resume(TrainOptions(config="configs/digits_cnn.yaml"), steps=20)

A few steps of the config are trained three ways in a temporary directory: straight through;
stopped in the middle of an epoch and resumed; stopped at an epoch boundary and resumed. The stops
go through `request_stop`, the very code SIGINT runs, and the resumes through ``--resume``'s
`Session.open`. Then the last checkpoints (weights, optimizer, scheduler, RNG states, counters) and
``metrics.jsonl`` (apart from ``seconds``) must be identical, bit for bit; the first difference
fails the check (`TrainingFailed`, exit 1).

The budget: ``steps`` training steps over (at least) 2 epochs, using ``train.limit_batches``; each
validation is limited to as many batches. A config's own ``expect`` and ``max_steps`` are dropped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import nnrun.engine as nr
import numpy as np

from . import checkpoint
from .config import load_config
from .console import Reporter
from .data import load_data
from .errors import TrainingFailed, UsageError
from .train import Interrupted, Session, TrainOptions, _option_overrides, request_stop

DEFAULT_STEPS = 20


class _Stopper:
    """A quiet `Reporter` that sends the loop a stop request at one point of the run: after
    global step ``step``, or after the validation of epoch ``epoch``."""

    def __init__(self, *, step: int | None = None, epoch: int | None = None):
        self._reporter = Reporter(quiet=True)
        self.step_at, self.epoch_at = step, epoch
        self.steps = self.epochs = 0
        self.loop = None

    def __getattr__(self, name):
        return getattr(self._reporter, name)

    def step(self, loss, samples) -> None:
        self.steps += 1
        if self.steps == self.step_at:
            request_stop(self.loop, "SIGINT", 130)

    def end_epoch(self, record, epochs) -> None:
        self.epochs += 1
        if self.epochs == self.epoch_at:
            request_stop(self.loop, "SIGINT", 130)


def check_resume(options: TrainOptions, *, steps: int = DEFAULT_STEPS, reporter=None) -> dict:
    """Train ``options.config`` straight and with stops + resumes; compare. Returns the result
    (``ok``, ``tensors``, ``metrics_lines``, ``stops``); raises `TrainingFailed` at the first
    difference."""
    reporter = reporter or Reporter(quiet=options.quiet, json_mode=options.json)
    if options.config is None or options.resume is not None:
        raise UsageError("--check-resume needs CONFIG (not --resume): nnrun train CONFIG "
                         "--check-resume")  # fmt: skip
    if options.max_steps is not None or options.fast_dev_run or options.out is not None:
        raise UsageError(
            "--check-resume trains in a temporary directory for --steps N steps; leave out "
            "--max-steps, --fast-dev-run and --out"
        )
    if steps < 2:
        raise UsageError(f"--steps: the check needs at least 2 steps, got {steps}")
    overrides, batches, epochs = _budget(options, steps)
    base = dataclasses.replace(
        options, overrides=overrides, epochs=None, limit_batches=None, quiet=True, json=False
    )
    stops = []
    if batches >= 2:
        stops.append({"where": "mid-epoch", "step": batches // 2})
    stops.append({"where": "epoch boundary", "epoch": 1, "step": batches})
    folder = Path(tempfile.mkdtemp(prefix="nnrun-check-resume-"))
    try:
        reference = _train(dataclasses.replace(base, out=folder / "straight"), _Stopper())
        done = []
        for i, stop in enumerate(stops):
            run = folder / f"stopped-{i}"
            stopper = _Stopper(step=stop.get("step") if "epoch" not in stop else None,
                               epoch=stop.get("epoch"))  # fmt: skip
            if not _train(dataclasses.replace(base, out=run), stopper, expect_stop=True):
                reporter.info(f"note: the run ended before the {stop['where']} stop; skipped")
                continue
            _train(TrainOptions(resume=run, quiet=True), _Stopper())
            tensors, lines = compare_runs(reference, run, stop)
            done.append(stop)
        if not done:
            raise UsageError("--check-resume: the run ends before any stop point; nothing to check")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result = {
        "ok": True,
        "steps": batches * epochs,
        "epochs": epochs,
        "stops": done,
        "tensors": tensors,
        "metrics_lines": lines,
    }
    points = ", ".join(f"{s['where']} (step {s['step']})" for s in done)
    reporter.info(
        f"trained {batches * epochs} steps straight, then stopped at {points} and resumed"
    )
    reporter.info(f"resume check passed: {tensors} tensors, {lines} metrics lines identical")
    reporter.result(result)
    return result


def _budget(options: TrainOptions, steps: int) -> tuple[list[str], int, int]:
    """The overrides of the check's runs, the batches per epoch and the epochs."""
    config = load_config(options.config, list(options.overrides) + _option_overrides(options))
    base_dir = Path(options.config).resolve().parent
    data = load_data(config, base_dir=base_dir)
    per_epoch = max(1, math.ceil(len(data.train) / config.data.batch_size))
    if options.epochs is not None and options.epochs < 2:
        raise UsageError("--check-resume needs at least 2 epochs (--epochs 2 or more)")
    batches = min(per_epoch, max(1, steps // (options.epochs or 2)))
    if options.limit_batches is not None:
        batches = min(per_epoch, options.limit_batches)
    epochs = options.epochs or max(2, math.ceil(steps / batches))
    overrides = list(options.overrides) + [
        f"train.epochs={epochs}",
        f"train.limit_batches={batches}",
        "train.max_steps=null",
        "expect={}",
    ]
    return overrides, batches, epochs


def _train(options: TrainOptions, stopper: _Stopper, *, expect_stop: bool = False) -> Path | None:
    session = Session.open(options, stopper)
    stopper.loop = session.loop
    session.loop.val_limit = session.loop.batches
    try:
        session.loop.fit()
    except Interrupted:
        return session.run.path
    finally:
        stopper.close()
    return None if expect_stop else session.run.path


# --- comparing two runs --------------------------------------------------------------------------


def compare_runs(a: Path, b: Path, stop: dict[str, Any] | None = None) -> tuple[int, int]:
    """Compare the last checkpoints and metrics logs of run directories ``a`` (the reference) and
    ``b``; return (tensors compared, metrics lines compared) or raise `TrainingFailed` naming the
    first difference."""
    where = "" if stop is None else f" (stopped at step {stop['step']}, {stop['where']}, resumed)"
    ca, cb = checkpoint.last(a), checkpoint.last(b)
    tensors = 0
    for label, (x, y) in {
        "model": (ca.model_state(), cb.model_state()),
        "state": (nr.load(ca.path / checkpoint.STATE), nr.load(cb.path / checkpoint.STATE)),
        "meta.json": (ca.meta, cb.meta),
    }.items():
        left, right = _flatten(x), _flatten(y)
        difference = _first_difference(left, right)
        if difference is not None:
            raise TrainingFailed(f"resume check failed{where}: {label} {difference}")
        tensors += sum(isinstance(v, np.ndarray) for v in left.values())
    ma, mb = _metrics(a), _metrics(b)
    for i, (ra, rb) in enumerate(zip(ma, mb), start=1):
        for key in dict.fromkeys([*ra, *rb]):
            if ra.get(key, "<missing>") != rb.get(key, "<missing>"):
                raise TrainingFailed(
                    f"resume check failed{where}: metrics.jsonl line {i} ({key}): "
                    f"{rb.get(key, '<missing>')} after resuming, {ra.get(key, '<missing>')} "
                    "straight through"
                )
    if len(ma) != len(mb):
        raise TrainingFailed(
            f"resume check failed{where}: metrics.jsonl has {len(mb)} lines after resuming, "
            f"{len(ma)} straight through"
        )
    return tensors, len(ma)


def _metrics(run: Path) -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """``{dotted path: leaf}``; tensors become NumPy arrays."""
    if isinstance(obj, nr.Tensor):
        return {prefix: obj.detach().cpu().numpy()}
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, (list, tuple)):
        out = {}
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}.{i}" if prefix else str(i)))
        return out
    return {prefix: obj}


def _first_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    for key in dict.fromkeys([*a, *b]):
        if key not in b:
            return f"{key} is missing after resuming"
        if key not in a:
            return f"{key} is only in the resumed run"
        x, y = a[key], b[key]
        if isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
            if x.shape != y.shape or x.dtype != y.dtype:
                return f"{key} is {y.dtype} {y.shape} after resuming, {x.dtype} {x.shape} straight"
            if not np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"):
                if x.dtype.kind in "fc":
                    diff = np.nanmax(np.abs(x.astype(np.float64) - y.astype(np.float64)))
                    return f"{key} differs: max abs diff {diff:.3g}"
                return f"{key} differs at {int(np.count_nonzero(x != y))} of {x.size} entries"
        elif type(x) is not type(y) or not _same(x, y):
            if isinstance(x, bytes):
                return f"{key} differs ({len(x)} bytes)"
            return f"{key} is {y!r} after resuming, {x!r} straight through"
    return None


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and math.isnan(x):
        return isinstance(y, float) and math.isnan(y)
    return x == y
