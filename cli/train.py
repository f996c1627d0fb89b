"""``nnrun train``: the training loop, its checkpoints, resume, signals and the run summary.

    summary = train(TrainOptions(config="configs/digits_mlp.yaml", overrides=["train.epochs=3"]))

Each step is the seed's five steps in its order — forward, loss, ``optimizer.zero_grad()``,
``loss.backward()``, ``optimizer.step()`` — with ``model.train()``; validation runs under
``model.eval()`` and ``nr.no_grad()``. After every epoch one record goes to ``metrics.jsonl`` and a
checkpoint to ``checkpoints/`` (see checkpoint.py).

Exact resume: the checkpoint holds the model, optimizer and scheduler state, the global RNG state
(weight init, dropout) at the moment it was written, the shuffling generator's state at the start
of the current epoch plus the number of batches already done in it, and the running sums of the
epoch. A resumed run re-draws the epoch's order from that state, skips the batches done, and goes
on with exactly the numbers an uninterrupted run would have used (bit-identical on the CPU).
Validation draws no random numbers (its loader has its own generator), so it never shifts them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import shutil
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nnrun.engine as nr

from . import checkpoint
from .build import build_loss, build_model, build_optimizer, build_scheduler
from .config import Config, dump_config, load_config
from .console import Reporter
from .data import Data, load_data, loader_generator, make_loader
from .errors import CheckpointError, NnrunError, TrainingFailed, UsageError
from .loop import Loop, TrainState
from .metrics import loss_problem, output_problem, task_for
from .rundir import RunDir

FAST_DEV_BATCHES = 2


@dataclass
class TrainOptions:
    """The options of ``nnrun train`` (None: as the config says)."""

    config: str | Path | None = None
    overrides: list[str] = field(default_factory=list)
    out: str | Path | None = None
    resume: str | Path | None = None
    device: str | None = None
    epochs: int | None = None
    max_steps: int | None = None
    limit_batches: int | None = None
    fast_dev_run: bool = False
    seed: int | None = None
    quiet: bool = False
    json: bool = False


class Interrupted(NnrunError):
    """Stopped by SIGINT (exit 130) or SIGTERM (exit 143) after writing a checkpoint."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def train(
    options: TrainOptions, reporter: Reporter | None = None, *, hold_signals: bool = False
) -> dict[str, Any]:
    """Run ``nnrun train``: set up (or resume) a run, train it, print and return its summary.

    ``hold_signals`` (the CLI): after a stop by a signal, further SIGINT/SIGTERM are ignored until
    `restore_signal_handlers` is called, so that a second Ctrl-C cannot cut short the message that
    says how to resume.

    Raises `ConfigError`/`UsageError`/`CheckpointError` (exit 2), `TrainingFailed` (exit 1: a
    non-finite loss, an unmet ``expect``) and `Interrupted` (exit 130/143).
    """
    reporter = reporter or Reporter(quiet=options.quiet, json_mode=options.json)
    temporary = None
    try:
        if options.fast_dev_run and options.out is None and options.resume is None:
            temporary = tempfile.mkdtemp(prefix="nnrun-fast-dev-run-")
            options = dataclasses.replace(options, out=Path(temporary) / "run")
        session = Session.open(options, reporter)
        with _signals(session.loop, reporter, hold=hold_signals):
            try:
                session.loop.fit()
            except (CheckpointError, UsageError):  # a failed write (disk full, read-only, ...)
                if not (session.run.checkpoints / "last").exists():
                    session.run.discard()  # nothing to resume from: leave nothing behind
                raise
        summary = session.summary(temporary=temporary is not None)
        if options.fast_dev_run:
            summary["fast_dev_run"] = fast_dev_check(session)
        reporter.close()
        reporter.result(summary)
        failed = [e["message"] for e in summary.get("expect", {}).values() if not e["ok"]]
        if failed:
            raise TrainingFailed("\n".join(f"expect failed: {m}" for m in failed))
        return summary
    finally:
        reporter.close()
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


# --- setting a run up ------------------------------------------------------------------------------


@dataclass
class Session:
    """Everything a run needs, built from a config (new run) or a run directory (resume)."""

    config: Config
    run: RunDir
    data: Data
    loop: Loop
    base_dir: Path
    reporter: Reporter

    @classmethod
    def open(cls, options: TrainOptions, reporter: Reporter) -> Session:
        overrides = list(options.overrides) + _option_overrides(options)
        resumed = None
        if options.resume is not None:
            if options.config is not None:
                raise UsageError(
                    "give either CONFIG (a new run) or --resume RUN_DIR (continue a run), not both"
                )
            if options.out is not None or options.fast_dev_run:
                option = "--out" if options.out is not None else "--fast-dev-run"
                raise UsageError(f"{option} cannot be used with --resume")
            run = RunDir.open(options.resume)
            resumed = checkpoint.last(run.path)
            config = load_config(run.config_path, overrides)
            base_dir = Path(resumed.meta.get("base_dir") or run.path)
        else:
            if options.config is None:
                raise UsageError("missing CONFIG: nnrun train CONFIG (or --resume RUN_DIR)")
            config = load_config(options.config, overrides)
            base_dir = Path(options.config).resolve().parent
            run = None
        device = resolve_device(config.device)
        reporter.smooth_over(config.train.log_every)
        state = resumed.training_state() if resumed is not None else None
        if str(base_dir) not in sys.path:  # custom `class:` modules beside the original config
            sys.path.append(str(base_dir))
        data = load_data(
            config,
            base_dir=base_dir,
            normalization=None if state is None else state.get("normalization"),
        )
        if resumed is not None and resumed.meta.get("config_hash") != config_hash(config):
            raise CheckpointError(
                f"{resumed.path} was written by a different config (its data, model, loss or "
                f"optimizer differ from {run.config_path} with the given --set); resume with the "
                "run's own config"
            )
        loop = build_loop(config, run, data, device, reporter, base_dir)
        if options.fast_dev_run:
            loop.val_limit = FAST_DEV_BATCHES
        if resumed is not None:
            loop.restore(resumed, state)
        # the run directory is made (or its config updated) only once everything could be built
        if run is None:
            run = loop.run = RunDir.create(config.name, options.out)
            try:
                run.write_config(dump_config(config))
            except BaseException:
                run.discard()  # no half-made run directory is left behind
                raise
        elif overrides:  # e.g. --epochs: the run's config says what it now trains with
            run.write_config(dump_config(config))
        if resumed is not None:
            checkpoint.recover(run.checkpoints, mode=loop.monitor_mode)
            s = loop.state
            if loop.has_work():
                run.truncate_metrics(s.epoch)
                reporter.info(
                    f"resuming {run.path} at epoch {s.epoch + 1}, batch {s.position + 1} "
                    f"(step {s.step}) from {resumed.path}"
                )
            else:
                reporter.info(
                    f"nothing to train: {run.path} stopped at epoch {s.epoch}, step {s.step} "
                    f"({s.stopped or 'its epochs or max_steps reached'}); to train further pass "
                    "--epochs N, --max-steps N or --set train.max_steps=null"
                )
        else:
            where = f"{len(data.train)} train / {len(data.val) if data.val else 0} val samples"
            reporter.info(f"run {run.path}: {config.name} on {device} ({where})")
        return cls(config, run, data, loop, base_dir, reporter)

    def summary(self, *, temporary: bool = False) -> dict[str, Any]:
        """The run's result: where it is, final and best metrics, checkpoints, expectations."""
        s, root = self.loop.state, self.run.checkpoints
        records = self.run.read_metrics()
        final = {k: v for k, v in (records[-1] if records else {}).items() if k != "seconds"}
        links = (
            {} if temporary else {n: str(root / n) for n in ("last", "best") if (root / n).exists()}
        )
        summary = {
            "run_dir": None if temporary else str(self.run.path),
            "epochs": s.epoch,
            "steps": s.step,
            "stopped": s.stopped or "completed",
            "final": final,
            "best": dict(s.best or {}),
            "checkpoints": links,
        }
        if self.config.train.on_nonfinite == "skip":
            summary["skipped_steps"] = s.skipped
        if self.config.expect and not self.loop.val_limit:
            summary["expect"] = check_expect(self.config, final)
        if not temporary:
            self.reporter.info(_closing_line(summary, self.loop.monitor))
        return summary


def build_loop(config, run, data, device, reporter, base_dir) -> Loop:
    """Seed, build the model, loss, optimizer and scheduler of ``config``, and the data loaders."""
    nr.manual_seed(config.seed)
    task = task_for(
        config.loss.name, dataset_task=data.task, num_classes=data.num_classes, config=config
    )
    batch = min(config.data.batch_size, len(data.train))
    model, layers = build_model(config.model, data.sample_shape, batch_size=batch, config=config)
    problem = output_problem(
        task, config.loss.name, layers[-1].output_shape[1:], tuple(data.train.y.shape[1:])
    )
    if problem is not None:
        raise config.error(last_layer_path(config), problem)
    model.to(device)
    loss_fn = build_loss(config.loss, config=config)
    problem = loss_problem(loss_fn, task, layers[-1].output_shape[1:], data.train.y.shape[1:])
    if problem is not None:
        raise config.error(("loss",), f"{type(loss_fn).__name__}: {problem}")
    loss_fn.to(device)
    optimizer = build_optimizer(config.optimizer, model.parameters(), config=config)
    generator = loader_generator(config.seed)
    batch = config.data.batch_size
    train_loader = make_loader(
        data.train, batch_size=batch, shuffle=config.data.shuffle, generator=generator,
        device=device, num_workers=config.data.num_workers,
    )  # fmt: skip
    val_loader = None
    if data.val is not None:
        val_loader = make_loader(
            data.val, batch_size=batch, shuffle=False, generator=nr.Generator(), device=device
        )
    steps = len(train_loader)
    if config.train.limit_batches is not None:
        steps = min(steps, config.train.limit_batches)
    schedule = build_scheduler(
        config.scheduler, optimizer, steps, config.train.epochs,
        max_steps=config.train.max_steps, config=config,
    )  # fmt: skip
    return Loop(
        config=config, run=run, model=model, loss_fn=loss_fn, optimizer=optimizer,
        schedule=schedule, task=task, train_loader=train_loader, val_loader=val_loader,
        generator=generator, device=device, reporter=reporter,
        extra_meta={
            "config_hash": config_hash(config),
            "base_dir": str(base_dir),
            "sample_shape": list(data.sample_shape),
            "task": data.task,
            "num_classes": data.num_classes,
            "classes": data.classes,
        },
        normalization=data.normalization,
        config_text=dump_config(config),
    )  # fmt: skip


def last_layer_path(config: Config) -> tuple:
    """Where problems with the model's output are reported: its last layer (or its class)."""
    layers = config.model.layers
    return ("model", "layers", len(layers) - 1) if layers else ("model", "class")


def resolve_device(spec: str) -> nr.device:
    """``auto``: CUDA when CuPy sees a GPU, else the CPU. ``cuda`` without one is a `UsageError`."""
    if spec == "auto":
        return nr.device("cuda") if nr.cuda.is_available() else nr.device("cpu")
    try:
        return nr.backend.get_device(spec)
    except RuntimeError as e:
        raise UsageError(f"device {spec!r}: {e}") from None


def config_hash(config: Config) -> str:
    """A hash of what gives the weights their meaning: seed, data, model, loss and optimizer."""
    keep = ("seed", "data", "model", "loss", "optimizer", "scheduler")
    data = {k: v for k, v in config.to_dict().items() if k in keep}
    text = json.dumps(data, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def check_expect(config: Config, final: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each ``expect`` bound against the final metrics: value, bounds, ok and a message."""
    results = {}
    for name, bound in config.expect.items():
        value = final.get(name)
        problem = None
        if not isinstance(value, (int, float)) or math.isnan(value):
            problem = f"{name} is {value} (not a number)"
        elif bound.min is not None and value < bound.min:
            problem = f"{name} {value:.4f} < min {bound.min:g}"
        elif bound.max is not None and value > bound.max:
            problem = f"{name} {value:.4f} > max {bound.max:g}"
        results[name] = {
            "value": value,
            "min": bound.min,
            "max": bound.max,
            "ok": problem is None,
            "message": problem or f"{name} {value:.4f} ok",
        }
    return results


def fast_dev_check(session: Session) -> dict[str, Any]:
    """``--fast-dev-run``'s last stages: reload the checkpoint into fresh objects and evaluate."""
    from .evaluate import evaluate_loop

    last = checkpoint.last(session.run.path)
    fresh = build_loop(
        session.config, session.run, session.data, session.loop.device, session.reporter,
        session.base_dir,
    )  # fmt: skip
    fresh.restore(last, last.training_state())
    result = evaluate_loop(fresh, limit=FAST_DEV_BATCHES)
    session.reporter.info(
        f"fast-dev-run ok: train, validation, checkpoint save, reload and eval passed "
        f"({FAST_DEV_BATCHES} batches each)"
    )
    return {"ok": True, "eval": result}


def _option_overrides(options: TrainOptions) -> list[str]:
    overrides = []
    for key, value in (
        ("train.epochs", options.epochs),
        ("train.max_steps", options.max_steps),
        ("train.limit_batches", options.limit_batches),
        ("seed", options.seed),
        ("device", options.device),
    ):
        if value is not None:
            overrides.append(f"{key}={value}")
    if options.fast_dev_run:
        overrides += ["train.epochs=1", f"train.limit_batches={FAST_DEV_BATCHES}"]
    return overrides


def _closing_line(summary: dict[str, Any], monitor: str) -> str:
    best = summary["best"]
    text = f"done: {summary['epochs']} epochs, {summary['steps']} steps ({summary['stopped']})"
    if monitor in best:
        text += f"; best {monitor} {best[monitor]:.4f} at epoch {best['epoch']}"
    return text + f"; checkpoints in {summary['run_dir']}/checkpoints"


SIGNALS = {signal.SIGINT: ("SIGINT", 130), signal.SIGTERM: ("SIGTERM", 143)}


def request_stop(loop: Loop, name: str, code: int, reporter: Reporter | None = None) -> None:
    """What SIGINT and SIGTERM do (``--check-resume`` calls it too): the first asks the loop to
    stop after the current step (it checkpoints and raises `Interrupted`); a second one raises
    `Interrupted` at once. Stopping at once never corrupts anything: a checkpoint being written is
    abandoned (its temporary directory removed) and ``last`` still names the previous one."""
    if loop.stop_signal is not None:
        stop = Interrupted(
            f"stopped at once by a second {name}; the last complete checkpoint is "
            f"{loop.run.checkpoints / 'last'}\nresume with: nnrun train --resume {loop.run.path}",
            code,
        )
        if loop.writing_checkpoint:  # raised at the write's next safe point, not inside a file
            loop.pending_stop = loop.pending_stop or stop  # operation (an exception there could
            return  # leave a half-closed file whose descriptor is closed twice)
        raise stop
    loop.stop_signal = (name, code)
    if reporter is not None and not reporter.quiet:
        sys.stderr.write(
            f"\n{name}: stopping after this step and saving a checkpoint "
            "(press Ctrl-C again to stop at once)\n"
        )


@contextlib.contextmanager
def _signals(loop: Loop, reporter: Reporter, *, hold: bool = False):
    """SIGINT/SIGTERM call `request_stop` while the loop runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        request_stop(loop, *SIGNALS[signum], reporter)

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield
    finally:
        if loop.stop_signal is None or not hold:
            for sig, old in previous.items():
                signal.signal(sig, old)
        else:  # stopping on a signal: one more must not replace the message saying how to resume
            for sig in SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
            _RESTORE.update(previous)


_RESTORE: dict = {}  # handlers to put back once the CLI has printed the stop message


def restore_signal_handlers() -> None:
    """Put back the handlers `_signals` replaced (the CLI calls this when a command ends)."""
    for sig, old in _RESTORE.items():
        signal.signal(sig, old)
    _RESTORE.clear()


__all__ = ["Interrupted", "Session", "TrainOptions", "TrainState", "request_stop", "train"]
