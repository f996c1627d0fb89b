"""Console output of ``nnrun train`` and ``nnrun eval``.

Three modes, chosen once: on a terminal, a rich progress bar per epoch with the live loss and
throughput, and a line per finished epoch; elsewhere (CI logs, pipes) exactly one plain line per
epoch::

    epoch 3/10  train_loss 0.1234  val_loss 0.1456  val_accuracy 0.9611  lr 0.001  1.2s

``--quiet`` prints nothing but errors; ``--json`` keeps stdout for the one JSON object printed at
the end and sends the epoch lines to stderr.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import deque
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

_NOT_SHOWN = ("epoch", "step", "seconds")


def format_value(name: str, value: Any) -> str:
    if not isinstance(value, float):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if name == "lr" else f"{value:.4f}"


def format_epoch(record: dict[str, Any], epochs: int) -> str:
    """The plain line of one epoch's metrics record."""
    parts = [f"epoch {record['epoch']}/{epochs}"]
    parts += [
        f"{k} {format_value(k, v)}"
        for k, v in record.items()
        if k not in _NOT_SHOWN and v is not None
    ]
    parts.append(f"{record.get('seconds', 0.0):.1f}s")
    return "  ".join(parts)


class Reporter:
    """Where a command's progress and results go. ``tty=None`` asks the output stream."""

    def __init__(
        self,
        *,
        quiet: bool = False,
        json_mode: bool = False,
        tty: bool | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        log_every: int = 50,
    ):
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.quiet, self.json_mode = quiet, json_mode
        self.lines = self.stderr if json_mode else self.stdout  # progress and epoch lines
        self.tty = self.lines.isatty() if tty is None else tty
        self.console = Console(file=self.lines, force_terminal=self.tty, highlight=False)
        self._progress: Progress | None = None
        self._task = None
        self._started = 0.0
        self._samples = 0
        self._recent: deque[float] = deque(maxlen=log_every)  # the live loss: a moving mean

    def smooth_over(self, steps: int) -> None:
        """Show the live loss as the mean of the last ``steps`` steps (``train.log_every``)."""
        self._recent = deque(maxlen=steps)

    @property
    def rich(self) -> bool:
        return self.tty and not self.quiet

    def info(self, message: str) -> None:
        """A line for people (where the run is, what happened); not shown with --quiet."""
        if self.quiet:
            return
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False, soft_wrap=True)
        else:
            print(message, file=self.lines, flush=True)

    def warn(self, message: str) -> None:
        if not self.quiet:
            print(f"warning: {message}", file=self.stderr, flush=True)

    # --- training progress -----------------------------------------------------------------------

    def start_epoch(self, epoch: int, epochs: int, batches: int, done: int = 0) -> None:
        self._started, self._samples = time.perf_counter(), 0
        self._recent.clear()
        if not self.rich:
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        self._task = self._progress.add_task(
            "train", total=batches, completed=done, epoch=f"{epoch}/{epochs}", loss="-", rate=""
        )

    def step(self, loss: float | None, samples: int) -> None:
        """One training step: its loss (None when skipped) and batch size."""
        self._samples += samples
        if loss is not None:
            self._recent.append(loss)
        if self._task is None or self._progress is None:
            return
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        mean = f"{sum(self._recent) / len(self._recent):.4f}" if self._recent else "-"
        self._progress.update(
            self._task, advance=1, loss=mean, rate=f"{self._samples / elapsed:,.0f} samples/s"
        )

    def end_epoch(self, record: dict[str, Any], epochs: int) -> None:
        if self._task is not None and self._progress is not None:
            self._progress.remove_task(self._task)
            self._task = None
        if self.quiet:
            return
        line = format_epoch(record, epochs)
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            print(line, file=self.lines, flush=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None

    # --- results ------------------------------------------------------------------------------------

    def result(self, data: dict[str, Any]) -> None:
        """With --json: the one JSON object on stdout."""
        if self.json_mode:
            print(json.dumps(data, indent=None, default=str), file=self.stdout, flush=True)

    def evaluation(self, result: dict[str, Any]) -> None:
        """`nnrun eval`'s result for people: loss and metrics, per-class table, confusion matrix."""
        if self.quiet or self.json_mode:
            return
        metrics = [k for k in ("loss", "accuracy", "mse", "mae") if k in result]
        head = "  ".join(f"{k} {result[k]:.4f}" for k in metrics)
        print(f"{head}  ({result['samples']} samples, {result['split']})", file=self.stdout)
        if "per_class" not in result:
            return
        out = Console(file=self.stdout, force_terminal=self.tty, highlight=False)
        matrix = result.get("confusion_matrix") is not None  # None for very many classes
        if self.tty:
            out.print(_per_class_table(result))
            if matrix:
                out.print(_confusion_table(result))
        else:
            print(_plain_table(_per_class_rows(result)), file=self.stdout)
            if matrix:
                print("confusion matrix (rows: true class, columns: predicted)", file=self.stdout)
                print(_plain_table(_confusion_rows(result)), file=self.stdout)


def _per_class_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = [["class", "precision", "recall", "support"]]
    for c in result["per_class"]:
        rows.append([c["name"], f"{c['precision']:.4f}", f"{c['recall']:.4f}", str(c["support"])])
    return rows


def _confusion_rows(result: dict[str, Any]) -> list[list[str]]:
    names = [c["name"] for c in result["per_class"]]
    rows = [["true\\pred", *names]]
    for name, counts in zip(names, result["confusion_matrix"]):
        rows.append([name, *map(str, counts)])
    return rows


def _plain_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths))
        )
        for r in rows
    )


def _per_class_table(result: dict[str, Any]) -> Table:
    rows = _per_class_rows(result)
    table = Table(title="per class", title_justify="left")
    for i, header in enumerate(rows[0]):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows[1:]:
        table.add_row(*row)
    return table


def _confusion_table(result: dict[str, Any]) -> Table:
    rows = _confusion_rows(result)
    table = Table(
        title="confusion matrix (rows: true class, columns: predicted)", title_justify="left"
    )
    for i, header in enumerate(rows[0]):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows[1:]:
        table.add_row(*row)
    return table
