"""What a model's outputs mean for a loss, and the metrics computed from them.

    task = task_for("CrossEntropyLoss", dataset_task="classification", num_classes=10)
    totals = Totals(task)
    for x, y in loader:
        out = model(x)
        totals.add(loss_fn(out, task.targets(y, out)).item(), out, y)
    totals.metrics()     # {"loss": 0.21, "accuracy": 0.95}
    totals.report()      # + per_class, confusion_matrix, samples

Classification: accuracy, per-class precision/recall, a confusion matrix (rows: true class,
columns: predicted class). Regression: mse and mae over every target value. Sums are kept in
float64 on the host; only predicted labels (or errors) cross from the device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError

LABEL_LOSSES = ("CrossEntropyLoss", "NLLLoss", "MultiMarginLoss")  # targets: class indices (N,)
BINARY_LOSSES = ("BCEWithLogitsLoss", "BCELoss")  # targets: 0/1 floats shaped like the output
REGRESSION_LOSSES = ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss")


@dataclass(frozen=True)
class Task:
    """How targets are fed to the loss and outputs read as predictions.

    ``kind``: ``"multiclass"`` (argmax of the output), ``"binary"`` (a logit > 0, or a probability
    > 0.5 for ``BCELoss``) or ``"regression"``.
    """

    kind: str
    num_classes: int | None = None
    probabilities: bool = False  # BCELoss takes probabilities, BCEWithLogitsLoss logits

    @property
    def metric_names(self) -> tuple[str, ...]:
        return ("mse", "mae") if self.kind == "regression" else ("accuracy",)

    def targets(self, y, output):
        """``y`` as the loss wants it: BCE losses take float 0/1 shaped like the output."""
        if self.kind == "binary":
            return y.to(output.dtype).reshape(output.shape)
        return y

    def predictions(self, output) -> np.ndarray:
        """Predicted class indices (N,) on the host."""
        if self.kind == "binary":
            threshold = 0.5 if self.probabilities else 0.0
            return (output.detach().reshape(-1) > threshold).cpu().numpy().astype(np.int64)
        return output.detach().argmax(1).cpu().numpy()


def task_for(loss_name: str, *, dataset_task: str, num_classes: int | None, config=None) -> Task:
    """The `Task` of a loss on a dataset; a loss that cannot fit the data is a `ConfigError`."""
    short = loss_name.rsplit(":", 1)[-1]

    def error(message: str) -> ConfigError:
        return config.error(("loss",), message) if config is not None else ConfigError(message)

    if dataset_task == "regression":
        if short in LABEL_LOSSES or short in BINARY_LOSSES:
            raise error(
                f"{short} is a classification loss but the dataset's targets are real values "
                "(a regression task); use MSELoss or L1Loss"
            )
        return Task("regression")
    if short in REGRESSION_LOSSES:
        raise error(
            f"{short} is a regression loss but the dataset has class labels "
            f"({num_classes} classes); use CrossEntropyLoss"
        )
    if short in BINARY_LOSSES:
        if num_classes is not None and num_classes > 2:
            raise error(
                f"{short} is for two classes but the dataset has {num_classes}; "
                "use CrossEntropyLoss"
            )
        return Task("binary", 2, probabilities=short == "BCELoss")
    return Task("multiclass", num_classes)


MAX_CONFUSION = 1000  # classes up to which a confusion matrix is kept (it grows as k * k)


def output_problem(task: Task, loss_name: str, output: tuple, target: tuple) -> str | None:
    """Why a model whose output per sample has shape ``output`` cannot train with this task and
    loss on targets of per-sample shape ``target`` (the training step or the metrics would fail,
    or silently broadcast); None when it fits."""
    short = loss_name.rsplit(":", 1)[-1]
    if task.kind == "multiclass":
        k = task.num_classes
        if short in LABEL_LOSSES and (len(output) != 1 or (k is not None and output[0] < k)):
            return (
                f"the model outputs shape {output} per sample but {short} on {k} classes needs "
                f"({k},): set the last layer's output size to {k}"
                + (" and add Flatten before the first Linear" if len(output) != 1 else "")
            )
        if len(output) != 1:
            return f"the model outputs shape {output} per sample; class scores must be (classes,)"
        return None
    if task.kind == "binary":
        if math.prod(output) != 1:
            return (
                f"the model outputs shape {output} per sample but {short} needs one value per "
                "sample: set the last layer's output size to 1"
            )
        return None
    if tuple(output) != tuple(target):
        return (
            f"the model outputs shape {output} per sample but the targets have shape {target}; "
            f"{short} would broadcast them: make the last layer's output size "
            f"{target[0] if len(target) == 1 else target}"
        )
    return None


def loss_problem(loss_fn, task: Task, output: tuple, target: tuple) -> str | None:
    """Run ``loss_fn`` once on zeros shaped like a model output and a batch of targets; why it
    cannot work in a training step (an argument it checks only when called, a loss that is not
    one number), or None. Loss classes often check their arguments only when called."""
    import nnrun.engine as nr

    out = nr.zeros((2, *output))
    if task.kind == "regression":
        y = nr.zeros((2, *target))
    else:
        y = nr.zeros(2, dtype=nr.int64)
    try:
        with nr.no_grad():
            value = loss_fn(out, task.targets(y, out))
    except Exception as e:  # noqa: BLE001 - any error of the loss (a custom one's included)
        text = str(e).strip().splitlines()
        return text[0] if text else type(e).__name__
    if not isinstance(value, nr.Tensor) or value.numel() != 1:
        shape = tuple(value.shape) if isinstance(value, nr.Tensor) else type(value).__name__
        return (
            f"the loss must be one number per batch (reduction: mean or sum), but it returns "
            f"{shape}"
        )
    return None


class Totals:
    """Running sums over batches: the loss (weighted by batch size) and the task's metrics.

    Classification keeps per-class counts (hits, predicted, actual: O(k) memory) and, for up to
    `MAX_CONFUSION` classes, the confusion matrix."""

    def __init__(self, task: Task):
        self.task = task
        self.samples = 0
        self.loss_sum = 0.0
        self.squared = self.absolute = 0.0
        self.values = 0  # regression: target values counted
        self.size = 0
        self.hits = self.predicted = self.actual = np.zeros(0, dtype=np.int64)
        self.confusion: np.ndarray | None = np.zeros((0, 0), dtype=np.int64)
        self._grow(task.num_classes or 0)

    def _grow(self, size: int) -> None:
        if size <= self.size:
            return
        old = self.size
        for name in ("hits", "predicted", "actual"):
            grown = np.zeros(size, dtype=np.int64)
            grown[:old] = getattr(self, name)
            setattr(self, name, grown)
        if self.confusion is not None and size <= MAX_CONFUSION:
            grown = np.zeros((size, size), dtype=np.int64)
            grown[:old, :old] = self.confusion
            self.confusion = grown
        else:
            self.confusion = None
        self.size = size

    def add(self, loss_value: float, output, target) -> None:
        """Add one batch: the loss's value (a mean over the batch), the output and raw targets."""
        n = int(output.shape[0])
        self.samples += n
        self.loss_sum += float(loss_value) * n
        if self.task.kind == "regression":
            diff = (output.detach().reshape(target.shape) - target).cpu().numpy()
            diff = diff.astype(np.float64)
            self.squared += float(np.square(diff).sum())
            self.absolute += float(np.abs(diff).sum())
            self.values += diff.size
            return
        pred = self.task.predictions(output)
        true = target.detach().reshape(-1).cpu().numpy().astype(np.int64)
        self._grow(max(int(pred.max(initial=-1)), int(true.max(initial=-1))) + 1)
        self.hits += np.bincount(true[pred == true], minlength=self.size)
        self.predicted += np.bincount(pred, minlength=self.size)
        self.actual += np.bincount(true, minlength=self.size)
        if self.confusion is not None:
            size = self.size
            self.confusion += np.bincount(true * size + pred, minlength=size * size).reshape(
                size, size
            )

    def metrics(self) -> dict[str, float]:
        """``loss`` and the task's metrics (``accuracy``, or ``mse`` and ``mae``)."""
        out = {"loss": self.loss_sum / max(self.samples, 1)}
        if self.task.kind == "regression":
            out["mse"] = self.squared / max(self.values, 1)
            out["mae"] = self.absolute / max(self.values, 1)
        else:
            out["accuracy"] = float(self.hits.sum()) / max(self.samples, 1)
        return out

    def report(self, classes: list[str] | None = None) -> dict[str, Any]:
        """`metrics` plus ``samples`` and, for classification, ``per_class`` and
        ``confusion_matrix`` (None above `MAX_CONFUSION` classes)."""
        out: dict[str, Any] = {**self.metrics(), "samples": self.samples}
        if self.task.kind != "regression":
            out["per_class"] = per_class(self.hits, self.predicted, self.actual, classes)
            out["confusion_matrix"] = None if self.confusion is None else self.confusion.tolist()
        return out


def per_class(
    hits: np.ndarray, predicted: np.ndarray, actual: np.ndarray, classes: list[str] | None = None
) -> list[dict[str, Any]]:
    """Precision, recall and support per class from per-class counts: correct predictions,
    predictions and samples. A class never predicted has precision 0; one with no samples
    recall 0."""
    rows = []
    for c in range(len(hits)):
        name = classes[c] if classes is not None and c < len(classes) else str(c)
        rows.append(
            {
                "class": c,
                "name": name,
                "precision": int(hits[c]) / int(predicted[c]) if predicted[c] else 0.0,
                "recall": int(hits[c]) / int(actual[c]) if actual[c] else 0.0,
                "support": int(actual[c]),
            }
        )
    return rows
