"""``nnrun inspect``'s logic: the shape table as JSON, totals and memory, lint warnings, rendering,
and the resolved config."""

from __future__ import annotations

import json

import numpy as np
import pytest
from nnrun.cli.config import dump_config, load_config, parse_config
from nnrun.cli.errors import ConfigError
from nnrun.cli.inspect_cmd import (
    inspect_config,
    inspect_shapes,
    render_config,
    render_shapes,
)
from rich.console import Console

DESIGN_EXAMPLE = """\
name: digits-mlp
seed: 0
device: auto
data:
  dataset: digits
  val_split: 0.2
  batch_size: 32
model:
  layers:
    - Flatten
    - Linear: {out_features: 128}
    - ReLU
    - Dropout: {p: 0.2}
    - Linear: {out_features: 10}
loss: CrossEntropyLoss
optimizer: {name: Adam, lr: 1.0e-3}
train: {epochs: 10}
"""

REGRESSION = """\
data: {dataset: regression, args: {n_samples: 64, n_targets: 2}, batch_size: 8}
model:
  layers:
    - Linear: [16]
    - ReLU
    - Linear: [2]
loss: MSELoss
optimizer: {name: SGD, lr: 0.01}
"""


def inspect(text: str, **kwargs) -> dict:
    return inspect_shapes(parse_config(text, "run.yaml"), **kwargs)


def codes(text: str) -> list[str]:
    return [w["code"] for w in inspect(text)["warnings"]]


def edited(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


# --- the table as data ----------------------------------------------------------------------------


def test_design_example_summary():
    result = inspect(DESIGN_EXAMPLE)
    json.dumps(result)  # JSON-able
    assert result["config"] == "run.yaml" and result["name"] == "digits-mlp"
    assert result["dataset"] == {
        "task": "classification",
        "num_classes": 10,
        "sample_shape": [1, 8, 8],
        "target_shape": [],
        "samples": 1797,
    }
    assert (result["batch_size"], result["input_shape"]) == (32, [32, 1, 8, 8])
    assert result["layers"][1] == {
        "index": 1,
        "name": "1",
        "layer": "Linear",
        "output_shape": [32, 128],
        "params": 8320,
        "trainable": 8320,
        "line": 11,
    }
    assert [r["layer"] for r in result["layers"]] == [
        "Flatten",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
    ]
    assert result["output_shape"] == [32, 10]
    assert (result["loss"], result["optimizer"], result["scheduler"]) == (
        "CrossEntropyLoss",
        "Adam",
        None,
    )
    assert result["totals"] == {"params": 9610, "trainable": 9610, "non_trainable": 0}
    activations = 32 * (64 + 128 + 128 + 128 + 10)
    assert result["memory"] == {
        "params_bytes": 9610 * 4,
        "input_bytes": 32 * 64 * 4,
        "activations_bytes": activations * 4,
    }
    assert result["warnings"] == []


def test_batch_size_option_sets_the_batch_dimension():
    result = inspect(DESIGN_EXAMPLE, batch_size=1)
    assert result["input_shape"] == [1, 1, 8, 8]
    assert [r["output_shape"][0] for r in result["layers"]] == [1] * 5
    assert result["memory"]["activations_bytes"] == (64 + 128 * 3 + 10) * 4


def test_cnn_table_and_scheduler():
    text = """\
data: {dataset: shapes, args: {n_samples: 40}, batch_size: 4}
model:
  layers:
    - Conv2d: {out_channels: 4, kernel_size: 3}
    - BatchNorm2d
    - ReLU
    - MaxPool2d: 2
    - Flatten
    - Linear: {out_features: 4}
loss: CrossEntropyLoss
optimizer: {name: SGD, lr: 0.1}
scheduler: {name: OneCycleLR, max_lr: 0.2}
"""
    result = inspect(text)
    assert result["dataset"]["sample_shape"] == [1, 28, 28]
    assert [r["output_shape"] for r in result["layers"]] == [
        [4, 4, 26, 26],
        [4, 4, 26, 26],
        [4, 4, 26, 26],
        [4, 4, 13, 13],
        [4, 676],
        [4, 4],
    ]
    assert result["totals"]["params"] == 40 + 8 + 676 * 4 + 4
    assert result["scheduler"] == {"name": "OneCycleLR", "interval": "step"}
    assert result["warnings"] == []


def test_regression_summary_has_no_warnings():
    result = inspect(REGRESSION)
    assert result["dataset"]["task"] == "regression"
    assert result["dataset"]["target_shape"] == [2]
    assert result["warnings"] == []


def test_errors_are_config_errors():
    with pytest.raises(ConfigError, match=r"run.yaml:11: model.layers.1: unknown layer 'Linr'"):
        inspect(
            edited(DESIGN_EXAMPLE, "- Linear: {out_features: 128}", "- Linr: {out_features: 128}")
        )
    with pytest.raises(ConfigError, match=r"run.yaml:15: loss: unknown loss"):
        inspect(edited(DESIGN_EXAMPLE, "loss: CrossEntropyLoss", "loss: CrossEntropy"))
    with pytest.raises(ConfigError, match=r"run.yaml:5: data.dataset: cannot load the dataset: "):
        inspect(edited(DESIGN_EXAMPLE, "dataset: digits", "dataset: digitz"))


def test_dataset_files_are_found_beside_the_config(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.normal(size=(20, 5)), y=rng.integers(0, 3, size=20))
    text = edited(DESIGN_EXAMPLE, "dataset: digits", "dataset: {path: data.npz, x: x, y: y}")
    text = edited(text, "{out_features: 10}", "{out_features: 3}")
    (tmp_path / "run.yaml").write_text(text)
    result = inspect_shapes(load_config(tmp_path / "run.yaml"))
    assert result["dataset"]["sample_shape"] == [5] and result["dataset"]["num_classes"] == 3
    assert result["layers"][1]["params"] == 5 * 128 + 128


# --- lint: each warning fires on the bug and not on the fix ---------------------------------------

LAST = "    - Linear: {out_features: 10}\n"
CE = "loss: CrossEntropyLoss\n"

LINT_CASES = {
    "softmax-before-cross-entropy": (LAST + "    - Softmax: {dim: 1}\n", LAST),
    "log-softmax-before-cross-entropy": (LAST + "    - LogSoftmax: {dim: 1}\n", LAST),
    "output-width-mismatch": ("    - Linear: {out_features: 12}\n", LAST),  # 12 != 10 classes
    "dropout-last": (LAST + "    - Dropout: 0.5\n", LAST),
}


@pytest.mark.parametrize("code", list(LINT_CASES))
def test_last_layer_lints(code):
    bug, fix = LINT_CASES[code]
    bad = edited(DESIGN_EXAMPLE, LAST, bug)
    warnings = inspect(bad)["warnings"]
    assert [w["code"] for w in warnings] == [code]
    assert warnings[0]["path"] == f"model.layers.{bad.count('    - ') - 1}"
    assert warnings[0]["line"] == bad.splitlines().index(bug.splitlines()[-1]) + 1
    assert code not in codes(edited(DESIGN_EXAMPLE, LAST, fix))


def test_softmax_before_cross_entropy_message():
    bad = edited(DESIGN_EXAMPLE, LAST, LAST + "    - Softmax: {dim: 1}\n")
    (warning,) = inspect(bad)["warnings"]
    assert warning["message"] == (
        "CrossEntropyLoss applies log-softmax itself; remove the final Softmax (it is applied "
        "twice, silently)"
    )
    assert warning["line"] == 15


def test_log_softmax_before_cross_entropy_suggests_nll_and_nll_is_clean():
    with_log_softmax = edited(DESIGN_EXAMPLE, LAST, LAST + "    - LogSoftmax: {dim: 1}\n")
    (warning,) = inspect(with_log_softmax)["warnings"]
    assert "use loss: NLLLoss" in warning["message"]
    assert codes(edited(with_log_softmax, CE, "loss: NLLLoss\n")) == []


def test_nll_needs_log_softmax():
    with_softmax = edited(DESIGN_EXAMPLE, LAST, LAST + "    - Softmax: {dim: 1}\n")
    assert codes(edited(with_softmax, CE, "loss: NLLLoss\n")) == ["softmax-before-nll"]
    assert codes(edited(DESIGN_EXAMPLE, CE, "loss: NLLLoss\n")) == ["nll-without-log-softmax"]


BINARY = """\
data: {dataset: spirals, args: {n_samples: 40}, batch_size: 8}
model:
  layers:
    - Linear: [8]
    - ReLU
    - Linear: [1]
loss: BCEWithLogitsLoss
optimizer: {name: SGD, lr: 0.1}
"""


def test_sigmoid_before_bce_with_logits():
    bad = edited(BINARY, "    - Linear: [1]\n", "    - Linear: [1]\n    - Sigmoid\n")
    assert codes(bad) == ["sigmoid-before-bce-with-logits"]
    assert codes(BINARY) == []
    assert codes(edited(bad, "BCEWithLogitsLoss", "BCELoss")) == []
    assert codes(edited(BINARY, "BCEWithLogitsLoss", "BCELoss")) == ["bce-without-sigmoid"]


def test_binary_loss_on_many_classes():
    bad = edited(DESIGN_EXAMPLE, CE, "loss: BCEWithLogitsLoss\n")
    assert codes(bad) == ["binary-loss-on-multiclass"]


def test_regression_loss_on_class_labels():
    bad = edited(DESIGN_EXAMPLE, CE, "loss: MSELoss\n")
    (warning,) = inspect(bad)["warnings"]
    assert (warning["code"], warning["path"], warning["line"]) == (
        "regression-loss-on-classification",
        "loss",
        15,
    )
    assert codes(DESIGN_EXAMPLE) == []


def test_classification_loss_on_regression_targets():
    assert codes(edited(REGRESSION, "loss: MSELoss", "loss: CrossEntropyLoss")) == [
        "classification-loss-on-regression"
    ]
    assert codes(REGRESSION) == []


def test_regression_output_width_must_match_the_targets():
    bad = edited(REGRESSION, "    - Linear: [2]\n", "    - Linear: [1]\n")
    (warning,) = inspect(bad)["warnings"]
    assert warning["code"] == "output-width-mismatch"
    assert "broadcast them silently" in warning["message"]


def test_missing_flatten_gives_an_output_shape_warning():
    no_flatten = edited(DESIGN_EXAMPLE, "    - Flatten\n", "")
    (warning,) = inspect(no_flatten)["warnings"]
    assert warning["code"] == "output-width-mismatch"
    assert "shape (1, 8, 10)" in warning["message"] and "add Flatten" in warning["message"]


@pytest.mark.parametrize(
    ("section", "bug", "fix"),
    [
        (
            "checkpoint",
            "checkpoint: {monitor: val_accuracy, mode: min}\n",
            "checkpoint: {monitor: val_accuracy}\n",
        ),
        (
            "checkpoint",
            "checkpoint: {monitor: val_loss, mode: max}\n",
            "checkpoint: {monitor: val_loss, mode: min}\n",
        ),
        (
            "train.early_stopping",
            "train: {early_stopping: {monitor: val_accuracy, mode: min}}\n",
            "train: {early_stopping: {monitor: val_accuracy, mode: max}}\n",
        ),
        (
            "scheduler",
            "scheduler: {name: ReduceLROnPlateau, monitor: val_accuracy, mode: min}\n",
            "scheduler: {name: ReduceLROnPlateau, monitor: val_accuracy}\n",
        ),
    ],
    ids=["checkpoint-accuracy-min", "checkpoint-loss-max", "early-stopping", "plateau"],
)
def test_monitor_mode_mismatch(section, bug, fix):
    base = edited(DESIGN_EXAMPLE, "train: {epochs: 10}\n", "")
    (warning,) = inspect(base + bug)["warnings"]
    assert (warning["code"], warning["path"]) == ("monitor-mode-mismatch", f"{section}.mode")
    assert warning["line"] == 17
    assert codes(base + fix) == []


def test_batchnorm_with_batch_size_one():
    text = edited(DESIGN_EXAMPLE, "    - ReLU\n", "    - BatchNorm1d\n    - ReLU\n")
    assert codes(text) == []
    bad = edited(text, "batch_size: 32", "batch_size: 1")
    (warning,) = inspect(bad)["warnings"]
    assert (warning["code"], warning["path"], warning["line"]) == (
        "batchnorm-batch-size-one",
        "model.layers.2",
        12,
    )
    assert codes(edited(DESIGN_EXAMPLE, "batch_size: 32", "batch_size: 1")) == []


# --- rendering and the resolved config ------------------------------------------------------------


def test_render_shapes_prints_the_table_totals_memory_and_warnings():
    result = inspect(edited(DESIGN_EXAMPLE, LAST, LAST + "    - Softmax: {dim: 1}\n"))
    console = Console(record=True, width=200, color_system=None)
    render_shapes(result, console)
    text = console.export_text()
    for expected in (
        "Output shape",
        "(32, 1, 8, 8)",
        "Linear",
        "(32, 128)",
        "8,320",
        "Total params: 9,610 (trainable 9,610, non-trainable 0)",
        "Parameter memory: 37.5 KiB",
        "forward pass only",
        "warning[softmax-before-cross-entropy] run.yaml:15: model.layers.5: CrossEntropyLoss",
    ):
        assert expected in text, expected


def test_inspect_config_fills_in_defaults_and_renders_yaml_that_loads_back():
    cfg = parse_config(DESIGN_EXAMPLE)
    resolved = inspect_config(cfg)
    assert resolved["train"]["epochs"] == 10 and resolved["train"]["log_every"] == 50
    assert resolved["checkpoint"] == {
        "monitor": "val_loss",
        "mode": "min",
        "keep": 1,
        "every_steps": None,
    }
    json.dumps(resolved)
    console = Console(record=True, width=80, color_system=None)
    render_config(cfg, console)
    text = console.export_text()
    assert text == dump_config(cfg)
    assert parse_config(text) == cfg
