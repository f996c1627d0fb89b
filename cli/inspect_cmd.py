"""``nnrun inspect``: a config's layer table, sizes and lint warnings, and its resolved form.

    result = inspect_shapes(load_config("configs/digits_cnn.yaml"))   # JSON-able dict
    render_shapes(result, rich.console.Console())                      # the table, then warnings

Nothing is trained: the dataset is loaded only for its sample shape and classes, the model is
built (inferring input sizes by pushing a probe batch through it), and the loss, optimizer and
scheduler are built to check their arguments. User errors raise `ConfigError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnrun.datasets import DataError, load
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .build import LayerInfo, build_loss, build_model, build_optimizer, build_scheduler
from .config import Config, dump_config, infer_mode
from .config_yaml import line_of

BYTES_PER_VALUE = 4  # float32
LABEL_LOSSES = ("CrossEntropyLoss", "NLLLoss")  # targets: class indices (N,)
BINARY_LOSSES = ("BCEWithLogitsLoss", "BCELoss")
REGRESSION_LOSSES = ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss")


@dataclass(frozen=True)
class DataInfo:
    """What inspecting needs from the training data: shapes and classes, not the values."""

    sample_shape: tuple[int, ...]
    task: str
    num_classes: int | None
    target_shape: tuple[int, ...]  # per sample: () for class labels, (k,) for regression
    samples: int


def dataset_spec(config: Config) -> str | dict[str, Any]:
    """The ``nnrun.datasets.load`` spec of ``config.data``: a name, or a mapping."""
    data = config.data
    if isinstance(data.dataset, str):
        return {"name": data.dataset, **data.args} if data.args else data.dataset
    return data.dataset.model_dump()


def data_info(config: Config) -> DataInfo:
    """Load the training data of ``config`` (relative paths: from the config's folder)."""
    source = Path(config.source)
    base_dir = source.parent if source.is_file() else None
    try:
        ds = load(dataset_spec(config), seed=config.seed, split="train", base_dir=base_dir)
    except DataError as e:
        raise config.error(("data", "dataset"), f"cannot load the dataset: {e}") from None
    return DataInfo(ds.sample_shape, ds.task, ds.num_classes, tuple(ds.y.shape[1:]), len(ds))


def inspect_shapes(config: Config, *, batch_size: int | None = None) -> dict[str, Any]:
    """The model summary of ``config`` as a JSON-able dict.

    Keys: ``config`` (file), ``name``, ``dataset`` (task, num_classes, sample_shape, samples),
    ``batch_size``, ``input_shape``, ``layers`` (one row per layer: index, name, layer,
    output_shape, params, trainable, line; shapes start with the batch size), ``output_shape``,
    ``loss``, ``optimizer``, ``scheduler``, ``totals`` (params, trainable, non_trainable),
    ``memory`` (bytes, float32: ``params_bytes``; ``input_bytes`` and ``activations_bytes``, the
    sum of every layer's output for one forward pass of a batch — backward needs about as much
    again), and ``warnings`` (code, message, path, line) from `lint`.
    """
    batch = config.data.batch_size if batch_size is None else batch_size
    data = data_info(config)
    model, layers = build_model(config.model, data.sample_shape, batch_size=batch, config=config)
    loss = build_loss(config.loss, config=config)
    optimizer = build_optimizer(config.optimizer, model.parameters(), config=config)
    train_samples = data.samples - round(data.samples * config.data.val_split)
    steps = max(1, math.ceil(train_samples / config.data.batch_size))
    if config.train.limit_batches is not None:
        steps = min(steps, config.train.limit_batches)
    schedule = build_scheduler(
        config.scheduler,
        optimizer,
        steps,
        config.train.epochs,
        max_steps=config.train.max_steps,
        config=config,
    )
    params = sum(row.params for row in layers)
    trainable = sum(row.trainable for row in layers)
    input_shape = (batch, *data.sample_shape)
    output_shape = layers[-1].output_shape
    return {
        "config": config.source,
        "name": config.name,
        "dataset": {
            "task": data.task,
            "num_classes": data.num_classes,
            "sample_shape": list(data.sample_shape),
            "target_shape": list(data.target_shape),
            "samples": data.samples,
        },
        "batch_size": batch,
        "input_shape": list(input_shape),
        "layers": [
            {
                "index": row.index,
                "name": row.name,
                "layer": row.type,
                "output_shape": list(row.output_shape),
                "params": row.params,
                "trainable": row.trainable,
                "line": row.line,
            }
            for row in layers
        ],
        "output_shape": list(output_shape),
        "loss": type(loss).__name__,
        "optimizer": type(optimizer).__name__,
        "scheduler": None
        if schedule is None
        else {"name": type(schedule.scheduler).__name__, "interval": schedule.interval},
        "totals": {"params": params, "trainable": trainable, "non_trainable": params - trainable},
        "memory": {
            "params_bytes": params * BYTES_PER_VALUE,
            "input_bytes": math.prod(input_shape) * BYTES_PER_VALUE,
            "activations_bytes": sum(math.prod(r.output_shape) for r in layers) * BYTES_PER_VALUE,
        },
        "warnings": lint(config, layers, data),
    }


def inspect_config(config: Config) -> dict[str, Any]:
    """The resolved config (defaults filled in) as plain data; `dump_config` gives its YAML."""
    return config.to_dict()


# --- lint -----------------------------------------------------------------------------------------


def lint(config: Config, layers: list[LayerInfo], data: DataInfo) -> list[dict[str, Any]]:
    """Warnings for configs that run but train wrongly (the cheat-sheet's silent bugs).

    Each is ``{code, message, path, line}``; ``path`` is the config key it is about.
    """
    warnings: list[dict[str, Any]] = []

    def warn(code: str, path: tuple, message: str, line: int | None = None) -> None:
        if line is None and config._lines:
            line = line_of(config._lines, tuple(str(p) for p in path))
        warnings.append({"code": code, "message": message, "path": _dotted(path), "line": line})

    loss = config.loss.name.rpartition(":")[2]
    specs = config.model.layers or []
    last = specs[-1].type if specs else None
    last_path = ("model", "layers", len(specs) - 1)
    last_line = specs[-1].line if specs else None

    def last_is(*names: str) -> bool:
        return last in names

    if loss == "CrossEntropyLoss" and last_is("Softmax", "LogSoftmax"):
        fix = (
            "remove the final Softmax (it is applied twice, silently)"
            if last == "Softmax"
            else "remove the final LogSoftmax, or keep it and use loss: NLLLoss"
        )
        code = "softmax" if last == "Softmax" else "log-softmax"
        message = f"CrossEntropyLoss applies log-softmax itself; {fix}"
        warn(f"{code}-before-cross-entropy", last_path, message, last_line)
    if loss == "BCEWithLogitsLoss" and last_is("Sigmoid"):
        message = (
            "BCEWithLogitsLoss applies the sigmoid itself; remove the final Sigmoid (it is "
            "applied twice, silently)"
        )
        warn("sigmoid-before-bce-with-logits", last_path, message, last_line)
    if loss == "NLLLoss" and specs and not last_is("LogSoftmax"):
        fix = (
            "use LogSoftmax instead of the final Softmax"
            if last == "Softmax"
            else ("end the model with LogSoftmax")
        )
        code = "softmax-before-nll" if last == "Softmax" else "nll-without-log-softmax"
        message = f"NLLLoss expects log-probabilities; {fix} (or drop it and use CrossEntropyLoss)"
        warn(code, last_path, message, last_line)
    if loss == "BCELoss" and specs and not last_is("Sigmoid"):
        message = (
            "BCELoss needs probabilities in [0, 1]; end the model with Sigmoid, or better, use "
            "BCEWithLogitsLoss on the raw outputs"
        )
        warn("bce-without-sigmoid", last_path, message, last_line)
    if specs and last is not None and "Dropout" in last:
        message = (
            f"{last} as the last layer zeroes outputs at random while training; put it before "
            "the last Linear or remove it"
        )
        warn("dropout-last", last_path, message, last_line)
    if config.data.batch_size == 1:
        for i, spec in enumerate(specs):
            if spec.type.startswith("BatchNorm"):
                message = (
                    f"{spec.type} with batch_size 1 normalises each sample by its own statistics "
                    "(BatchNorm1d fails: 'Expected more than 1 value per channel when training'); "
                    "use batch_size >= 2, or LayerNorm / GroupNorm"
                )
                warn("batchnorm-batch-size-one", ("model", "layers", i), message, spec.line)
                break
    _lint_targets(warn, loss, layers[-1].output_shape, data, last_path, last_line)
    _lint_monitors(warn, config)
    return warnings


def _lint_targets(warn, loss, output_shape, data: DataInfo, last_path, last_line) -> None:
    """The loss against the dataset's task, and the output width against classes/targets."""
    k = data.num_classes
    out = tuple(output_shape[1:])
    if data.task == "classification":
        if loss in REGRESSION_LOSSES:
            message = (
                f"{loss} on a classification dataset ({k} classes, integer labels): use "
                "CrossEntropyLoss (or set task: regression for real-valued targets)"
            )
            warn("regression-loss-on-classification", ("loss",), message)
        elif loss in BINARY_LOSSES and k is not None and k > 2:
            message = f"{loss} is for two classes; the dataset has {k}: use CrossEntropyLoss"
            warn("binary-loss-on-multiclass", ("loss",), message)
        elif loss in LABEL_LOSSES and out != (k,):
            if len(out) == 1:
                message = (
                    f"the model outputs {out[0]} values per sample but {loss} on {k} classes needs "
                    f"{k}: set the last layer's output size to {k}"
                )
            else:
                message = (
                    f"the model outputs shape {out} per sample but {loss} on {k} classes needs "
                    f"({k},): add Flatten before the first Linear"
                )
            warn("output-width-mismatch", last_path, message, last_line)
    else:
        if loss in LABEL_LOSSES:
            message = (
                f"{loss} needs class labels but the dataset is a regression one (real-valued "
                "targets): use MSELoss or L1Loss"
            )
            warn("classification-loss-on-regression", ("loss",), message)
        elif loss in REGRESSION_LOSSES and out != data.target_shape:
            message = (
                f"the model outputs shape {out} per sample but the targets have "
                f"{data.target_shape}; {loss} would broadcast them silently"
            )
            warn("output-width-mismatch", last_path, message, last_line)


def _lint_monitors(warn, config: Config) -> None:
    watched = [("checkpoint",), ("train", "early_stopping")]
    for path in watched:
        section = config
        for key in path:
            section = getattr(section, key)
        if section is not None:
            _check_mode(warn, path, section.monitor, section.mode, _EFFECT[path[-1]])
    sched = config.scheduler
    if sched is not None and sched.name == "ReduceLROnPlateau" and "mode" in sched.kwargs:
        monitor = sched.kwargs.get("monitor", "val_loss")
        _check_mode(warn, ("scheduler",), monitor, sched.kwargs["mode"], _EFFECT["scheduler"])


_EFFECT = {
    "checkpoint": "the 'best' checkpoint kept is the worst one",
    "early_stopping": "early stopping counts improvements as stalls",
    "scheduler": "ReduceLROnPlateau cuts the learning rate while the model improves",
}


def _check_mode(warn, path, monitor, mode, effect) -> None:
    inferred = infer_mode(str(monitor))
    if inferred is None or mode == inferred:
        return
    direction = "higher" if inferred == "max" else "lower"
    message = (
        f"{monitor} is better {direction} but mode is {mode}: {effect}; set mode: "
        f"{inferred} (or leave it out: it is inferred from the metric's name)"
    )
    warn("monitor-mode-mismatch", (*path, "mode"), message)


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


# --- rendering ------------------------------------------------------------------------------------


def render_shapes(result: dict[str, Any], console: Console) -> None:
    """Print `inspect_shapes`' result: the layer table, totals, memory, then warnings in yellow."""
    table = Table(title=f"{result['name']} ({result['config']})", title_justify="left")
    for header, justify in (("#", "right"), ("Layer", "left"), ("Output shape", "left")):
        table.add_column(header, justify=justify)
    for header in ("Params", "Trainable", "Line"):
        table.add_column(header, justify="right")
    table.add_row("", "input", _shape(result["input_shape"]), "", "", "")
    for row in result["layers"]:
        line = "" if row["line"] is None else str(row["line"])
        layer = (
            row["layer"]
            if row["name"] in ("", str(row["index"]))
            else (f"{row['name']}: {row['layer']}")
        )
        table.add_row(
            str(row["index"]),
            layer,
            _shape(row["output_shape"]),
            f"{row['params']:,}",
            f"{row['trainable']:,}",
            line,
        )
    console.print(table)
    totals, memory = result["totals"], result["memory"]
    console.print(
        f"Total params: {totals['params']:,} (trainable {totals['trainable']:,}, "
        f"non-trainable {totals['non_trainable']:,})",
        highlight=False,
    )
    console.print(f"Parameter memory: {_size(memory['params_bytes'])} (float32)", highlight=False)
    console.print(
        f"Activation memory: {_size(memory['activations_bytes'])} for a batch of "
        f"{result['batch_size']} (forward pass only; backward needs about as much again), "
        f"input {_size(memory['input_bytes'])}",
        highlight=False,
    )
    for w in result["warnings"]:
        where = result["config"] + (f":{w['line']}" if w["line"] is not None else "")
        text = Text(f"warning[{w['code']}] ", style="bold yellow")
        text.append(f"{where}: {w['path']}: {w['message']}", style="yellow")
        console.print(text)


def render_config(config: Config, console: Console) -> None:
    """Print the resolved config as YAML (loads back to the same config)."""
    console.print(dump_config(config), markup=False, highlight=False, soft_wrap=True, end="")


def _shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
