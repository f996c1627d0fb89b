"""The config schema and loader: values, defaults, devices, layers, data files, checkpoint and
early-stopping modes, overrides, dumps. Error messages and property tests: test_config_errors.py."""

from __future__ import annotations

import pytest
import yaml
from config_examples import DESIGN_EXAMPLE, MINIMAL, edited, problems_of
from nnrun.cli.config import (
    ConfigError,
    LayerSpec,
    apply_overrides,
    dump_config,
    infer_mode,
    load_config,
    parse_config,
)

# --- values and defaults ------------------------------------------------------------------------


def test_design_example_parses_with_its_values():
    cfg = parse_config(DESIGN_EXAMPLE)
    assert (cfg.name, cfg.seed, cfg.device) == ("digits-mlp", 0, "auto")
    assert (cfg.data.dataset, cfg.data.val_split, cfg.data.batch_size) == ("digits", 0.2, 32)
    assert [layer.type for layer in cfg.model.layers] == [
        "Flatten",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
    ]
    assert cfg.model.layers[1].args == {"out_features": 128}
    assert cfg.model.layers[3].args == {"p": 0.2}
    assert (cfg.loss.name, cfg.loss.kwargs) == ("CrossEntropyLoss", {})
    assert (cfg.optimizer.name, cfg.optimizer.lr, cfg.optimizer.kwargs) == ("Adam", 0.001, {})
    assert cfg.train.epochs == 10


def test_defaults_are_filled_in():
    resolved = parse_config(MINIMAL).to_dict()
    top = {k: resolved[k] for k in ("name", "seed", "device", "scheduler", "expect")}
    assert top == {"name": "run", "seed": 0, "device": "auto", "scheduler": None, "expect": {}}
    assert resolved["data"] == {
        "dataset": "digits",
        "args": {},
        "val_split": 0.2,
        "batch_size": 32,
        "shuffle": True,
        "normalize": True,
        "num_workers": 0,
        "validation": None,
        "test": None,
    }
    assert resolved["train"] == {
        "epochs": 1,
        "max_steps": None,
        "grad_clip": None,
        "early_stopping": None,
        "log_every": 50,
        "limit_batches": None,
        "on_nonfinite": "stop",
    }
    assert resolved["checkpoint"] == {
        "monitor": "val_loss",
        "mode": "min",
        "keep": 1,
        "every_steps": None,
    }


def test_exponent_numbers_are_floats_everywhere():
    cfg = parse_config(
        edited("lr: 1.0e-3}", "lr: 1e-3, weight_decay: 5E-4, eps: -1e+2}").replace(
            "{p: 0.2}", "{p: 2e-1}"
        )
    )
    assert cfg.optimizer.lr == 0.001 and isinstance(cfg.optimizer.lr, float)
    assert cfg.optimizer.kwargs == {"weight_decay": 0.0005, "eps": -100.0}
    assert cfg.model.layers[3].args == {"p": 0.2}


def test_quoted_numbers_stay_strings_except_where_a_float_is_expected():
    cfg = parse_config(edited("lr: 1.0e-3}", "lr: '1e-3', tag: '1e-3'}"))
    assert cfg.optimizer.lr == 0.001
    assert cfg.optimizer.kwargs == {"tag": "1e-3"}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("epochs: 10", "epochs: 2.5", "train.epochs: should be a valid integer, got 2.5"),
        ("epochs: 10", "epochs: '3'", "train.epochs: should be a valid integer, got '3'"),
        ("lr: 1.0e-3", "lr: true", "optimizer.lr: expected a number, got True"),
        ("lr: 1.0e-3", "lr: .nan", "optimizer.lr: should be a finite number"),
    ],
)
def test_ints_are_strict_and_floats_refuse_booleans(old, new, expected):
    assert expected in problems_of(edited(old, new))[0]


def test_load_config_reads_a_file_and_names_the_run_after_it(tmp_path):
    path = tmp_path / "my model.yaml"
    path.write_text(DESIGN_EXAMPLE.replace("name: digits-mlp\n", ""))
    cfg = load_config(path, overrides=["seed=3"])
    assert (cfg.name, cfg.seed, cfg.source) == ("my-model", 3, str(path))


# --- device -------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:3"])
def test_devices_accepted(device):
    assert parse_config({**MINIMAL, "device": device}).device == device


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("mps", "'mps' (Apple GPUs) is not supported"),
        ("mps:0", "'mps' (Apple GPUs) is not supported"),
        ("gpu", "got 'gpu' (did you mean 'cuda'?)"),
        ("CUDA:1", "got 'CUDA:1' (did you mean 'cuda:1'?)"),
        ("cuda:x", "expected 'auto', 'cpu', 'cuda' or 'cuda:N', got 'cuda:x'"),
    ],
)
def test_devices_refused(device, expected):
    with pytest.raises(ConfigError, match="device: ") as info:
        parse_config({**MINIMAL, "device": device})
    assert expected in str(info.value)


# --- layers -------------------------------------------------------------------------------------


def test_layers_in_all_forms_keep_their_lines():
    cfg = parse_config(
        edited(
            "    - Dropout: {p: 0.2}\n",
            "    - Dropout: 0.2\n    - Conv2d: [1, 8, 3]\n"
            "    - {class: mypkg.layers:Block, args: {width: 4}}\n    - Identity: null\n",
        )
    )
    assert cfg.model.layers == [
        LayerSpec(type="Flatten"),
        LayerSpec(type="Linear", args={"out_features": 128}),
        LayerSpec(type="ReLU"),
        LayerSpec(type="Dropout", args=[0.2]),
        LayerSpec(type="Conv2d", args=[1, 8, 3]),
        LayerSpec(type="mypkg.layers:Block", args={"width": 4}),
        LayerSpec(type="Identity"),
        LayerSpec(type="Linear", args={"out_features": 10}),
    ]
    assert [layer.line for layer in cfg.model.layers] == list(range(10, 18))
    assert cfg.model.layers[5].is_import_path and not cfg.model.layers[0].is_import_path


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        ("- Linear:\n      out_features: 3", "model.layers.2: a layer mapping has exactly one key"),
        ("- 3", "model.layers.2: a layer is a class name (- ReLU) or a one-key mapping"),
        ("- {}", "model.layers.2: a layer is a class name"),
        ("- [ReLU]", "model.layers.2: a layer is a class name"),
        ("- Re LU", "model.layers.2: expected a class name like 'Linear'"),
        (
            "- Linear: {out features: 2}",
            "model.layers.2: Linear: argument names must be identifiers",
        ),
        ("- Linear: {1: 2}", "model.layers.2.Linear.1: keys must be strings, got 1; quote it"),
        ("- {class: Block}", "model.layers.2: class: expected an import path"),
        ("- {class: a:B, arg: 1}", "model.layers.2: a custom layer is {class: module.path:Name"),
    ],
)
def test_bad_layer_structure_is_reported_at_its_line(layer, expected):
    (line,) = problems_of(edited("- ReLU", layer))
    assert line.startswith(f"run.yaml:12: {expected}")


def test_model_is_layers_or_a_custom_class():
    cfg = parse_config({**MINIMAL, "model": {"class": "mypkg.models:Net", "args": {"depth": 2}}})
    assert (cfg.model.layers, cfg.model.class_, cfg.model.args) == (
        None,
        "mypkg.models:Net",
        {"depth": 2},
    )
    assert cfg.to_dict()["model"] == {"class": "mypkg.models:Net", "args": {"depth": 2}}
    for model, expected in [
        ({}, "not neither"),
        ({"layers": ["ReLU"], "class": "a:B"}, "not both"),
        ({"layers": []}, "the list is empty"),
        ({"class": "Net"}, "model.class: expected an import path"),
    ]:
        with pytest.raises(ConfigError, match=expected):
            parse_config({**MINIMAL, "model": model})


# --- data ---------------------------------------------------------------------------------------


def test_dataset_file_spec_infers_format_and_keeps_extra_keys():
    data = {
        "dataset": {"path": "d/train.csv.gz", "target": "label", "delimiter": ";"},
        "args": {"n": 3},
    }
    cfg = parse_config({**MINIMAL, "data": data})
    spec = cfg.data.dataset
    assert (spec.format, spec.path, spec.target, spec.model_extra) == (
        "csv",
        "d/train.csv.gz",
        "label",
        {"delimiter": ";"},
    )
    assert cfg.to_dict()["data"]["dataset"] == {
        "path": "d/train.csv.gz",
        "target": "label",
        "delimiter": ";",
        "format": "csv",
    }


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ({"path": "x.bin"}, "data.dataset: say which format the file is in"),
        (
            {"format": "npz", "pth": "a.npz"},
            "data.dataset: format npz needs a path: key (is 'pth' a typo?)",
        ),
        (
            {"format": "hdf5", "path": "a.h5"},
            "data.dataset.format: should be 'npz', 'npy', 'csv', 'idx' or 'cifar10', got 'hdf5'",
        ),
        ({"format": "npz", "path": 3}, "data.dataset.path: should be a valid string, got 3"),
        (3, "data.dataset: expected a built-in dataset name or a mapping"),
        ("", "data.dataset: String should have at least 1 character"),
    ],
)
def test_bad_dataset_specs(dataset, expected):
    with pytest.raises(ConfigError) as info:
        parse_config({**MINIMAL, "data": {"dataset": dataset}}, "run.yaml")
    assert str(info.value).startswith(f"run.yaml: {expected}")


def test_idx_and_npy_take_their_own_file_keys_and_validation_replaces_val_split():
    idx = {"format": "idx", "images": "i.idx", "labels": "l.idx"}
    cfg = parse_config({**MINIMAL, "data": {"dataset": idx, "validation": {"path": "v.npz"}}})
    assert (cfg.data.dataset.images, cfg.data.validation.format, cfg.data.val_split) == (
        "i.idx",
        "npz",
        0.0,
    )
    assert parse_config(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="give either val_split or a validation file"):
        parse_config(
            {
                **MINIMAL,
                "data": {"dataset": "digits", "val_split": 0.1, "validation": {"path": "v.npz"}},
            }
        )


# --- checkpoint, early stopping, expect ----------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "mode"),
    [
        ("val_loss", "min"),
        ("train_mse", "min"),
        ("val_mae", "min"),
        ("val_error", "min"),
        ("val_acc", "max"),
        ("val_accuracy", "max"),
        ("val_f1", "max"),
        ("precision", "max"),
        ("Val_Recall", "max"),
        ("val_auc", None),
        ("loss_acc", None),
    ],
)
def test_mode_inference(metric, mode):
    assert infer_mode(metric) == mode


def test_checkpoint_and_early_stopping_modes():
    cfg = parse_config(
        {
            **MINIMAL,
            "checkpoint": {"monitor": "val_acc", "keep": 3},
            "train": {"early_stopping": {"monitor": "val_loss", "patience": 2}},
        }
    )
    assert (cfg.checkpoint.mode, cfg.checkpoint.keep, cfg.train.early_stopping.mode) == (
        "max",
        3,
        "min",
    )
    cfg = parse_config({**MINIMAL, "checkpoint": {"monitor": "val_auc", "mode": "max"}})
    assert cfg.checkpoint.mode == "max"
    with pytest.raises(
        ConfigError, match=r"checkpoint.mode: cannot tell .* 'val_auc' .* set mode: min"
    ):
        parse_config({**MINIMAL, "checkpoint": {"monitor": "val_auc"}})


def test_expect_bounds():
    cfg = parse_config({**MINIMAL, "expect": {"val_acc": {"min": 0.9}, "val_loss": {"max": 1}}})
    assert (cfg.expect["val_acc"].min, cfg.expect["val_loss"].max) == (0.9, 1.0)
    for bound, expected in [
        ({}, "give min:, max: or both"),
        ({"min": 2, "max": 1}, "is greater than max"),
        ({"mn": 1}, "unknown key 'mn'; did you mean 'min'?"),
    ]:
        with pytest.raises(ConfigError, match=expected):
            parse_config({**MINIMAL, "expect": {"val_acc": bound}})


# --- overrides ----------------------------------------------------------------------------------


def test_overrides_parse_values_as_yaml():
    cfg = parse_config(
        DESIGN_EXAMPLE,
        overrides=[
            "train.epochs=3",
            "optimizer.lr=1e-2",
            "data.shuffle=false",
            "optimizer.betas=[0.8, 0.9]",
            "model.layers.1.Linear.out_features=64",
            "model.layers.2.ReLU.inplace=true",
            "loss.label_smoothing=0.1",
            "train.early_stopping.patience=4",
            "scheduler={name: StepLR, step_size: 5}",
            "name = quick",
        ],
    )
    assert (cfg.train.epochs, cfg.optimizer.lr, cfg.data.shuffle) == (3, 0.01, False)
    assert cfg.optimizer.kwargs == {"betas": [0.8, 0.9]}
    assert cfg.model.layers[1].args == {"out_features": 64}
    assert cfg.model.layers[2] == LayerSpec(type="ReLU", args={"inplace": True})
    assert cfg.loss.kwargs == {"label_smoothing": 0.1}
    assert (cfg.train.early_stopping.patience, cfg.scheduler.kwargs, cfg.name) == (
        4,
        {"step_size": 5},
        "quick",
    )


def test_apply_overrides_copies_and_creates_missing_mappings():
    raw = {"train": {"epochs": 1}, "scheduler": None}
    out = apply_overrides(
        raw, ["train.max_steps=10", "scheduler.name=StepLR", "expect.val_acc.min=0.9"]
    )
    assert raw == {"train": {"epochs": 1}, "scheduler": None}
    assert out == {
        "train": {"epochs": 1, "max_steps": 10},
        "scheduler": {"name": "StepLR"},
        "expect": {"val_acc": {"min": 0.9}},
    }


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "train.epochz=3",
            "--set: train.epochz: train has no key 'epochz'; did you mean 'epochs'?",
        ),
        (
            "optimzer.lr=1",
            "--set: optimzer.lr: the top level has no key 'optimzer'; did you mean 'optimizer'?",
        ),
        (
            "model.layers.7.Linear.out_features=1",
            "--set: model.layers.7.Linear.out_features: model.layers has 5 items (0..4), got 7",
        ),
        (
            "model.layers.first=1",
            "--set: model.layers.first: model.layers is a list; address its items by index",
        ),
        ("optimizer.lr.x=1", "--set: optimizer.lr.x: optimizer.lr is 0.001, which has no key 'x'"),
        ("train.epochs", "--set: train.epochs: expected KEY.PATH=VALUE, got 'train.epochs'"),
        ("train..epochs=1", "--set: train..epochs: expected KEY.PATH=VALUE"),
        ("train.epochs=[1, 2", "--set: train.epochs: cannot read '[1, 2' as a YAML value"),
        ("train.epochs=0", "--set: train.epochs: should be greater than or equal to 1, got 0"),
    ],
)
def test_bad_overrides(override, expected):
    (line,) = problems_of(DESIGN_EXAMPLE, [override])
    assert line.startswith(expected)


# --- the resolved config ------------------------------------------------------------------------


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(
        _write(tmp_path / "a.yaml", DESIGN_EXAMPLE), overrides=["model.layers.3.Dropout=0.5"]
    )
    text = dump_config(cfg)
    again = load_config(_write(tmp_path / "resolved.yaml", text))
    assert again == cfg and again.to_dict() == cfg.to_dict()
    assert (
        again.model.layers[3].args == [0.5]
        and again.model.layers[3].line != cfg.model.layers[3].line
    )
    assert yaml.safe_load(text)["model"]["layers"][:2] == [
        "Flatten",
        {"Linear": {"out_features": 128}},
    ]
    assert yaml.safe_load(text)["train"]["on_nonfinite"] == "stop"


def test_dump_quotes_strings_that_would_read_back_as_numbers():
    cfg = parse_config({**MINIMAL, "loss": {"name": "L", "tag": "1e-3", "other": "1_000"}})
    assert parse_config(dump_config(cfg)).loss.kwargs == {"tag": "1e-3", "other": "1_000"}


def _write(path, text):
    path.write_text(text)
    return path
