"""``nnrun eval``: a checkpoint's loss and metrics on held-out data.

    result = evaluate("runs/digits-mlp")                 # best checkpoint, validation split
    result = evaluate("runs/x/checkpoints/last", split="test")
    result = evaluate("model.safetensors", config="digits_mlp.yaml", data="extra.npz")

The model is rebuilt from the checkpoint's saved config and its weights loaded; the data are
normalised with the statistics saved with the checkpoint (from the training split). The
validation split is the run's own: same seed and fraction, so the same samples.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import nnrun.engine as nr
import yaml
from nnrun.datasets import DataError

from . import checkpoint
from .build import build_loss, build_model
from .config import load_config
from .console import Reporter
from .data import load_split, make_loader
from .errors import CheckpointError, UsageError
from .loop import Loop, evaluate_batches
from .metrics import loss_problem, output_problem, task_for
from .rundir import CONFIG
from .train import last_layer_path, resolve_device

_FORMAT_BY_SUFFIX = {
    ".npz": "npz",
    ".npy": "npy",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".bin": "cifar10",
}
SPLITS = ("val", "test", "train")


def evaluate(
    path: str | os.PathLike,
    *,
    split: str = "val",
    data: str | None = None,
    config: str | os.PathLike | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Evaluate the weights at ``path`` (a ``model.safetensors``, a checkpoint directory or a run
    directory) and return (and print) the result: ``loss``, ``accuracy`` or ``mse``/``mae``,
    ``samples``, and for classification ``per_class`` and ``confusion_matrix``.
    """
    if split not in SPLITS:
        raise UsageError(f"--split: expected one of {', '.join(SPLITS)}, got {split!r}")
    ckpt, weights = checkpoint.find(path)
    state = _weights(weights)
    config_path = Path(config) if config is not None else _config_of(ckpt, weights)
    cfg = load_config(config_path)
    meta = ckpt.meta if ckpt is not None else {}
    base_dir = Path(meta.get("base_dir") or config_path.resolve().parent)
    if str(base_dir) not in sys.path:
        sys.path.append(str(base_dir))
    normalization = None
    if ckpt is not None and (ckpt.path / checkpoint.STATE).is_file():
        normalization = ckpt.training_state().get("normalization")
    spec = data_spec(data) if data is not None else None
    ds = load_split(cfg, split, base_dir=base_dir, normalization=normalization, data_spec=spec)
    sample_shape = tuple(meta.get("sample_shape") or ds.sample_shape)
    if ds.sample_shape != sample_shape:
        raise DataError(
            f"--data: its samples have shape {ds.sample_shape} but the model was trained on "
            f"{sample_shape}"
        )
    dev = resolve_device(device or cfg.device)
    num_classes = meta.get("num_classes", ds.num_classes)
    task = task_for(cfg.loss.name, dataset_task=ds.task, num_classes=num_classes, config=cfg)
    nr.manual_seed(cfg.seed)
    model, layers = build_model(cfg.model, sample_shape, config=cfg)
    problem = output_problem(task, cfg.loss.name, layers[-1].output_shape[1:], ds.y.shape[1:])
    if problem is not None:
        raise cfg.error(last_layer_path(cfg), problem)
    checkpoint.load_weights(model, state, weights)
    model.to(dev)
    loss_fn = build_loss(cfg.loss, config=cfg)
    problem = loss_problem(loss_fn, task, layers[-1].output_shape[1:], ds.y.shape[1:])
    if problem is not None:
        raise cfg.error(("loss",), f"{type(loss_fn).__name__}: {problem}")
    loss_fn.to(dev)
    loader = make_loader(
        ds,
        batch_size=batch_size or cfg.data.batch_size,
        shuffle=False,
        generator=nr.Generator(),
        device=dev,
    )
    totals = evaluate_batches(model, loss_fn, task, loader, dev)
    result = {
        "checkpoint": str(weights),
        "split": "--data " + data if data is not None else split,
        **totals.report(meta.get("classes") or ds.classes),
    }
    reporter = reporter or Reporter()
    reporter.evaluation(result)
    reporter.result(result)
    return result


def evaluate_loop(loop: Loop, *, limit: int | None = None) -> dict[str, Any]:
    """The report of a training loop's model on its validation data (``--fast-dev-run``)."""
    loader = loop.val_loader or loop.train_loader
    totals = evaluate_batches(loop.model, loop.loss_fn, loop.task, loader, loop.device, limit=limit)
    return totals.report()


def data_spec(text: str) -> dict[str, Any]:
    """``--data``: a file whose format its name tells (``.npz``, ``.npy``, ``.csv``, ``.csv.gz``,
    ``.bin``), or a YAML mapping like ``{format: idx, images: ..., labels: ...}``."""
    if text.lstrip().startswith("{"):
        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise UsageError(f"--data: not a valid YAML mapping: {e}") from None
        if not isinstance(spec, dict):
            raise UsageError(
                f"--data: expected a mapping like {{format: npz, path: ...}}, got {text}"
            )
        return spec
    name = text.lower()
    fmt = next((f for s, f in _FORMAT_BY_SUFFIX.items() if name.endswith(s)), None)
    if fmt is None:
        raise UsageError(
            f"--data {text}: cannot tell the format from the name; give a mapping, e.g. "
            "--data '{format: idx, images: t10k-images-idx3-ubyte.gz, labels: "
            "t10k-labels-idx1-ubyte.gz}'"
        )
    if not Path(text).exists():
        raise UsageError(f"--data {text}: no such file")
    return {"format": fmt, "path": str(Path(text).resolve())}


def _config_of(ckpt, weights: Path) -> Path:
    candidates = [weights.parent / CONFIG, weights.parent.parent.parent / CONFIG]
    if ckpt is not None:
        candidates.insert(0, ckpt.config_path)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise CheckpointError(
        f"{weights}: found no {CONFIG} beside it or in its run directory to rebuild the model "
        "from; pass the config with --config"
    )


def _weights(path: Path) -> dict[str, Any]:
    from nnrun.engine.serialization import SerializationError

    try:
        state = nr.load(path)
    except SerializationError as e:
        raise CheckpointError(str(e)) from None
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a model's state dict")
    return state
