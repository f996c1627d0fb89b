"""The training loop of ``nnrun train``: steps, validation, metrics records, checkpoints.

`Loop.fit` trains from `Loop.state` (fresh, or restored from a checkpoint by `Loop.restore`) until
the configured epochs, ``max_steps``, early stopping, or a signal (``stop_signal``).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import nnrun.engine as nr
import numpy as np

from . import checkpoint
from .errors import CheckpointError, TrainingFailed, UsageError
from .metrics import Task, Totals
from .state_check import (
    check_loaded_optimizer,
    check_optimizer,
    conforms,
    nonfinite_parameter,
    present,
)


@dataclass
class TrainState:
    """The counters a checkpoint saves in ``meta.json`` so that a run resumes exactly."""

    epoch: int = 0  # completed epochs
    step: int = 0  # training batches done over the run (skipped ones included)
    position: int = 0  # batches done in the current (unfinished) epoch
    loss_sum: float = 0.0  # the current epoch's summed finite losses ...
    loss_count: int = 0  # ... and how many there were
    skipped: int = 0  # non-finite steps skipped over the run
    epoch_skipped: int = 0
    best: dict[str, Any] | None = None  # the best epoch record by checkpoint.monitor
    early_best: float | None = None  # early stopping: the best value so far ...
    bad_epochs: int = 0  # ... and the epochs since it improved
    stopped: str | None = None  # "early_stopping", "max_steps"

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> TrainState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in meta.get("state", {}).items() if k in known})


class Loop:
    """A run's model, optimizer, loaders and counters, and the loop that trains them."""

    def __init__(
        self, *, config, run, model, loss_fn, optimizer, schedule, task: Task, train_loader,
        val_loader, generator, device, reporter, extra_meta, normalization, config_text,
    ):  # fmt: skip
        self.config, self.run, self.model, self.loss_fn = config, run, model, loss_fn
        self.optimizer, self.schedule, self.task = optimizer, schedule, task
        self.train_loader, self.val_loader = train_loader, val_loader
        self.generator, self.device, self.reporter = generator, device, reporter
        self.extra_meta, self.normalization, self.config_text = (
            extra_meta, normalization, config_text,
        )  # fmt: skip
        self.state = TrainState()
        self.loader_state = generator.get_state()  # the generator at the start of this epoch
        self.stop_signal: tuple[str, int] | None = None
        # while a checkpoint is written, a second signal's `Interrupted` waits for a safe point
        self.writing_checkpoint, self.pending_stop = False, None
        self.val_limit: int | None = None
        self.monitor = self._metric(config.checkpoint.monitor, ("checkpoint", "monitor"))
        self.monitor_mode = config.checkpoint.mode
        stopping = config.train.early_stopping
        if stopping is not None:
            self._metric(stopping.monitor, ("train", "early_stopping", "monitor"))
        for name in config.expect:
            self._metric(name, ("expect", name))
        if schedule is not None and schedule.monitor is not None:
            self._metric(schedule.monitor, ("scheduler", "monitor"))
        limit = config.train.limit_batches
        self.batches = len(train_loader) if limit is None else min(len(train_loader), limit)

    @property
    def metric_names(self) -> list[str]:
        names = ["train_loss"]
        if self.val_loader is not None:
            names += ["val_loss", *(f"val_{m}" for m in self.task.metric_names)]
        return [*names, "lr"]

    def _metric(self, name: str, path: tuple) -> str:
        if name in self.metric_names:
            return name
        if path[0] == "checkpoint" and "monitor" not in self.config.checkpoint.model_fields_set:
            return "train_loss"  # the default val_loss, in a run without validation data
        raise self.config.error(
            path,
            f"metric {name!r} is not computed by this run; it computes "
            + ", ".join(self.metric_names),
        )

    # --- the loop --------------------------------------------------------------------------------

    def fit(self) -> None:
        # NumPy's overflow/invalid warnings would only repeat, less precisely, what the loop
        # reports itself: a non-finite loss, gradient or weight, with its step (as PyTorch, quiet)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            self._fit()

    def _fit(self) -> None:
        s, cfg = self.state, self.config.train
        while s.epoch < cfg.epochs and s.stopped is None:
            if self._max_steps_hit():
                s.stopped = "max_steps"
                break
            started = time.perf_counter()
            self._train_epoch()
            record = self._end_epoch(time.perf_counter() - started)
            self.reporter.end_epoch(record, cfg.epochs)
            if self.stop_signal is not None:
                self._interrupted()
        if s.stopped is None and self._max_steps_hit() and s.epoch < cfg.epochs:
            s.stopped = "max_steps"

    def has_work(self) -> bool:
        """Whether `fit` would train at all (a resumed run may be finished already)."""
        s = self.state
        return (
            s.stopped is None and s.epoch < self.config.train.epochs and not self._max_steps_hit()
        )

    def _max_steps_hit(self) -> bool:
        max_steps = self.config.train.max_steps
        return max_steps is not None and self.state.step >= max_steps

    def _train_epoch(self) -> None:
        s = self.state
        if s.position == 0:
            self.loader_state = self.generator.get_state()
        else:
            self.generator.set_state(self.loader_state)  # resuming inside this epoch
        batches = iter(self.train_loader)
        for _ in range(s.position):
            next(batches)
        self.model.train()
        self.reporter.start_epoch(s.epoch + 1, self.config.train.epochs, self.batches, s.position)
        every = self.config.checkpoint.every_steps
        while s.position < self.batches and not self._max_steps_hit():
            x, y = next(batches)
            self._step(x.to(self.device), y.to(self.device))
            s.position += 1
            s.step += 1
            if self.stop_signal is not None:
                self._interrupted()
            if every is not None and s.step % every == 0 and s.position < self.batches:
                self.save(None)

    def _step(self, x, y) -> None:
        buffers = self._buffers() if self.config.train.on_nonfinite == "skip" else None
        output = self.model(x)
        loss = self.loss_fn(output, self.task.targets(y, output))
        value = loss.item()
        if not math.isfinite(value):
            return self._nonfinite("loss", value, len(x), buffers)
        self.optimizer.zero_grad()
        loss.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        if self.config.train.grad_clip is not None:
            norm = nr.nn.utils.clip_grad_norm_(params, self.config.train.grad_clip).item()
        else:
            with nr.no_grad():  # the sum of all gradients is finite iff every gradient is
                norm = nr.stack([p.grad.sum().double() for p in params]).sum().item()
        if not math.isfinite(norm):
            return self._nonfinite("gradient", norm, len(x), buffers)
        self.optimizer.step()
        if self.schedule is not None and self.schedule.interval == "step":
            self.schedule.step()
        self.state.loss_sum += value
        self.state.loss_count += 1
        self.reporter.step(value, len(x))
        return None

    def _buffers(self) -> list[tuple[Any, Any]]:
        """Copies of the model's buffers (BatchNorm's running statistics): a skipped step puts
        them back, so that a NaN batch leaves no trace in the model."""
        return [(b, b.detach().clone()) for b in self.model.buffers()]

    def _nonfinite(self, what: str, value: float, samples: int, buffers=None) -> None:
        s = self.state
        if self.config.train.on_nonfinite == "skip":
            with nr.no_grad():
                for buffer, saved in buffers or ():
                    buffer.copy_(saved)
            self.optimizer.zero_grad()
            s.skipped += 1
            s.epoch_skipped += 1
            self.reporter.step(None, samples)
            return
        raise TrainingFailed(
            f"non-finite {what} ({value}) at step {s.step + 1} (epoch {s.epoch + 1}, batch "
            f"{s.position + 1}); {self._last_good()}. To skip such steps instead, set "
            "train.on_nonfinite: skip"
        )

    def _nonfinite_weights(self, name: str) -> None:
        s = self.state
        where = (
            f"end of epoch {s.epoch}"
            if s.position == 0
            else f"epoch {s.epoch + 1}, batch {s.position}"
        )
        raise TrainingFailed(
            f"non-finite weights ({name} holds NaN or inf) after step {s.step} ({where}), not "
            f"checkpointed; {self._last_good()}"
        )

    def _last_good(self) -> str:
        last = self.run.checkpoints / "last"
        if not last.exists():
            return "no checkpoint was written before it"
        return (
            f"the last good checkpoint is {last} -> {last.resolve().name} (kept); after fixing "
            f"the cause (a lower lr, train.grad_clip) continue with: nnrun train --resume "
            f"{self.run.path}"
        )

    def _end_epoch(self, seconds: float) -> dict[str, Any]:
        s, cfg = self.state, self.config.train
        complete = s.position >= self.batches
        record: dict[str, Any] = {"epoch": s.epoch + 1, "step": s.step}
        record["train_loss"] = s.loss_sum / s.loss_count if s.loss_count else math.nan
        validation_started = time.perf_counter()
        record.update(self.validate())
        record["lr"] = self.optimizer.param_groups[0]["lr"]
        if self.config.train.on_nonfinite == "skip":
            record["skipped_steps"] = s.epoch_skipped
        seconds += time.perf_counter() - validation_started
        record["seconds"] = round(seconds, 3)
        self.run.append_metrics(record)
        metrics = {k: v for k, v in record.items() if k not in ("epoch", "step", "seconds")}
        if complete:
            s.epoch += 1
            s.position, s.loss_sum, s.loss_count, s.epoch_skipped = 0, 0.0, 0, 0
            if self.schedule is not None and self.schedule.interval == "epoch":
                self.schedule.step(metrics)
        value = metrics.get(self.monitor)
        if _better(value, (s.best or {}).get(self.monitor), self.monitor_mode, 0.0):
            s.best = {k: v for k, v in record.items() if k != "seconds"}
        stopping = cfg.early_stopping
        if complete and stopping is not None:
            current = metrics.get(stopping.monitor)
            if _better(current, s.early_best, stopping.mode, stopping.min_delta):
                s.early_best, s.bad_epochs = current, 0
            else:
                s.bad_epochs += 1
            if s.bad_epochs >= stopping.patience:
                s.stopped = "early_stopping"
                self.reporter.info(
                    f"early stopping: {stopping.monitor} has not improved by "
                    f"{stopping.min_delta:g} for {stopping.patience} epochs"
                )
        self.save(record)
        return record

    def validate(self, limit: int | None = None) -> dict[str, float]:
        """The validation loss and metrics (``val_loss``, ``val_accuracy``, ...), or {}."""
        if self.val_loader is None:
            return {}
        totals = self.evaluate(self.val_loader, limit=limit or self.val_limit)
        return {f"val_{k}": v for k, v in totals.metrics().items()}

    def evaluate(self, loader, *, limit: int | None = None) -> Totals:
        """Loss and metrics of the model over ``loader`` (eval mode, no grad)."""
        return evaluate_batches(
            self.model, self.loss_fn, self.task, loader, self.device, limit=limit
        )

    # --- checkpoints -------------------------------------------------------------------------------

    def save(self, record: dict[str, Any] | None) -> None:
        """Write a checkpoint of the current state (``last``; ``best`` follows the monitor).

        ``record``: the metrics of the epoch just finished (None inside an epoch).
        """
        broken = nonfinite_parameter(self.model)
        if broken is not None:  # never overwrite the last good checkpoint with broken weights
            self._nonfinite_weights(broken)
        metrics = {k: v for k, v in (record or {}).items() if k != "seconds"}
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.schedule is None else self.schedule.scheduler.state_dict(),
            # between epochs the shuffling generator's current state starts the next epoch
            "rng": self._rng_states(),
            "normalization": self.normalization,
        }
        meta = {
            "epoch": self.state.epoch,
            "position": self.state.position,
            "monitor": self.monitor,
            "mode": self.monitor_mode,
            "monitor_value": metrics.get(self.monitor),
            "metrics": metrics or None,
            "state": asdict(self.state),
            **self.extra_meta,
        }
        self.writing_checkpoint = True
        try:
            checkpoint.save(
                self.run.checkpoints, step=self.state.step, model_state=self.model.state_dict(),
                training_state=state, meta=meta, config_text=self.config_text,
                mode=self.monitor_mode, keep=self.config.checkpoint.keep,
                safe_point=self._raise_pending_stop,
            )  # fmt: skip
        finally:
            self.writing_checkpoint = False
        self._raise_pending_stop()

    def _raise_pending_stop(self) -> None:
        """Raise the `Interrupted` of a second signal that came during a checkpoint write."""
        stop, self.pending_stop = self.pending_stop, None
        if stop is not None:
            raise stop

    def _rng_states(self) -> dict:
        """The CPU generator, the loader's shuffling generator at this epoch's start and, on a
        GPU, the CUDA generator (dropout masks there)."""
        states = {"cpu": nr.get_rng_state(), "loader": self._epoch_start_state()}
        if self.device.type == "cuda":
            states["cuda"] = nr.cuda.get_rng_state(self.device)
        return states

    def _epoch_start_state(self) -> bytes:
        return self.generator.get_state() if self.state.position == 0 else self.loader_state

    def restore(self, ckpt: checkpoint.Checkpoint, state: dict[str, Any]) -> None:
        """Load a checkpoint's weights, optimizer, scheduler, RNG states and counters.

        Everything is checked against the objects built from the config first (shapes, kinds of
        values, finite numbers), so a damaged or foreign checkpoint is a `CheckpointError` here,
        never an error in the middle of a later training step."""
        checkpoint.load_weights(self.model, ckpt.model_state(), ckpt.model_path)
        where = ckpt.path / checkpoint.STATE
        saved_scheduler = state.get("scheduler")
        problem = check_optimizer(self.optimizer, state["optimizer"])
        if problem is None and (self.schedule is None) != (saved_scheduler is None):
            problem = "a scheduler state" if self.schedule is None else "no scheduler state"
            problem += f", but the config has {'no' if self.schedule is None else 'a'} scheduler"
        if problem is None and self.schedule is not None:
            fresh = self.schedule.scheduler.state_dict()
            if isinstance(saved_scheduler, dict):
                fresh = present(fresh, saved_scheduler)
            problem = conforms(fresh, saved_scheduler, "scheduler")
            planned, saved = fresh.get("total_steps"), saved_scheduler.get("total_steps")
            if problem is None and planned != saved:
                raise UsageError(
                    f"{where}: the run's {type(self.schedule.scheduler).__name__} schedule "
                    f"spans {saved} steps, but the run now takes {planned} (train.epochs, "
                    "train.max_steps or train.limit_batches changed): a one-cycle schedule "
                    "cannot be stretched once started; resume with the run's own values"
                )
        if problem is not None:
            raise CheckpointError(f"{where} does not fit this run's training state: {problem}")
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            if self.schedule is not None:
                self.schedule.scheduler.load_state_dict(saved_scheduler)
            nr.set_rng_state(state["rng"]["cpu"])
            if self.device.type == "cuda" and "cuda" in state["rng"]:  # dropout on the GPU
                nr.cuda.set_rng_state(state["rng"]["cuda"], self.device)
            self.loader_state = bytes(state["rng"]["loader"])
            self.generator.set_state(self.loader_state)
        except Exception as e:  # noqa: BLE001 - any failure to load a saved state is the file's
            raise CheckpointError(
                f"{where} does not fit this run's optimizer or state: {e}"
            ) from None
        problem = check_loaded_optimizer(self.optimizer)
        if problem is not None:
            raise CheckpointError(f"{where} does not fit this run's optimizer: {problem}")
        self.state = TrainState.from_meta(ckpt.meta)
        if self.state.position > len(self.train_loader):
            raise CheckpointError(
                f"{ckpt.path / checkpoint.META} is corrupt: it is at batch {self.state.position} "
                f"of an epoch that has {len(self.train_loader)} batches"
            )
        if self.state.stopped != "early_stopping" or self.config.train.early_stopping is None:
            self.state.stopped = None

    def _interrupted(self) -> None:
        from .train import Interrupted

        name, code = self.stop_signal
        s = self.state
        if s.position:
            self.save(None)
        where = f"epoch {s.epoch + 1}, batch {s.position}" if s.position else f"epoch {s.epoch}"
        raise Interrupted(
            f"interrupted by {name} at step {s.step} ({where}); checkpoint saved to "
            f"{self.run.checkpoints / 'last'}\nresume with: nnrun train --resume {self.run.path}",
            code,
        )


def evaluate_batches(model, loss_fn, task, loader, device, *, limit: int | None = None) -> Totals:
    """Loss and metrics of ``model`` over ``loader`` in eval mode, without grad."""
    totals = Totals(task)
    was_training = model.training
    model.eval()
    try:
        with nr.no_grad():
            for i, (x, y) in enumerate(loader):
                if limit is not None and i >= limit:
                    break
                x, y = x.to(device), y.to(device)
                output = model(x)
                totals.add(loss_fn(output, task.targets(y, output)).item(), output, y)
    finally:
        model.train(was_training)
    return totals


def _better(value, best, mode: str | None, min_delta: float) -> bool:
    if not isinstance(value, (int, float)) or math.isnan(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta
