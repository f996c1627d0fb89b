"""Config -> engine objects: layers with inferred sizes, custom modules, loss, optimizer, scheduler,
and every user error as a ConfigError naming the file, the key path and the line."""

from __future__ import annotations

import sys
import textwrap
import uuid

import nnrun.engine as nr
import pytest
from helpers import requires_torch, torch
from nnrun.cli.build import (
    LayerInfo,
    build_loss,
    build_model,
    build_optimizer,
    build_scheduler,
)
from nnrun.cli.config import OptimizerSpec, load_config, parse_config
from nnrun.cli.errors import ConfigError, NnrunError

DIGITS = (1, 8, 8)

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

CNN = """\
data: {dataset: digits, batch_size: 16}
model:
  layers:
    - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
    - BatchNorm2d
    - ReLU
    - MaxPool2d: 2
    - Flatten
    - Linear: {out_features: 10}
loss: CrossEntropyLoss
optimizer: {name: SGD, lr: 0.1}
"""


def config_with_layers(layers: str, extra: str = "") -> str:
    """A digits config whose model.layers are the given YAML lines (layer i is on line 4 + i)."""
    head = "data: {dataset: digits}\nloss: CrossEntropyLoss\noptimizer: {name: SGD, lr: 0.1}\n"
    return head + "model:\n  layers:\n" + textwrap.indent(textwrap.dedent(layers), "    ") + extra


def build(text: str, input_shape=DIGITS, **kwargs):
    cfg = parse_config(text, "run.yaml")
    return build_model(cfg.model, input_shape, config=cfg, **kwargs)


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, NnrunError) and info.value.exit_code == 2
    return str(info.value)


def build_error(text: str, input_shape=DIGITS) -> str:
    return error_of(build, text, input_shape)


# --- the model ------------------------------------------------------------------------------------


def test_design_example_builds_a_sequential_with_inferred_in_features():
    model, layers = build(DESIGN_EXAMPLE, batch_size=32)
    assert isinstance(model, nr.nn.Sequential)
    kinds = [type(m).__name__ for m in model.children()]
    assert kinds == ["Flatten", "Linear", "ReLU", "Dropout", "Linear"]
    assert (model[1].in_features, model[1].out_features) == (64, 128)
    assert (model[4].in_features, model[4].out_features) == (128, 10)
    assert model[3].p == 0.2
    assert model.training and all(m.training for m in model.children())
    assert layers[1] == LayerInfo(1, "1", "Linear", (32, 128), 8320, 8320, 11)
    assert [row.output_shape for row in layers] == [
        (32, 64),
        (32, 128),
        (32, 128),
        (32, 128),
        (32, 10),
    ]
    assert [row.line for row in layers] == [10, 11, 12, 13, 14]
    assert list(model.state_dict()) == ["1.weight", "1.bias", "4.weight", "4.bias"]


def test_batch_dimension_is_minus_one_without_a_batch_size():
    _, layers = build(DESIGN_EXAMPLE)
    assert layers[-1].output_shape == (-1, 10)


def test_cnn_infers_in_channels_num_features_and_in_features():
    model, layers = build(CNN, batch_size=16)
    assert (model[0].in_channels, model[0].out_channels) == (1, 8)
    assert model[1].num_features == 8
    assert model[5].in_features == 8 * 4 * 4
    assert [row.output_shape for row in layers] == [
        (16, 8, 8, 8),
        (16, 8, 8, 8),
        (16, 8, 8, 8),
        (16, 8, 4, 4),
        (16, 128),
        (16, 10),
    ]
    assert [row.params for row in layers] == [80, 16, 0, 0, 0, 1290]


def test_probe_runs_in_eval_mode_and_leaves_batchnorm_statistics_untouched():
    model, _ = build(CNN)
    bn = model[1]
    assert bn.training
    assert float(bn.running_mean.abs().sum()) == 0.0
    assert float(bn.running_var.sum()) == 8.0
    assert int(bn.num_batches_tracked) == 0


def test_positional_arguments_infer_the_leading_input_size_when_left_out():
    model, _ = build(
        config_with_layers("""\
            - Conv2d: [4, 3]
            - Flatten
            - Linear: [10]
            - LayerNorm
            - Linear: [10, 3, false]
        """)
    )
    assert (model[0].in_channels, model[0].out_channels, model[0].kernel_size) == (1, 4, (3, 3))
    assert (model[2].in_features, model[2].out_features) == (4 * 6 * 6, 10)
    assert tuple(model[3].normalized_shape) == (10,)
    assert (model[4].in_features, model[4].out_features, model[4].bias) == (10, 3, None)


def test_explicit_input_sizes_that_match_are_kept():
    model, _ = build(
        config_with_layers("- Flatten\n- Linear: {in_features: 64, out_features: 5}\n")
    )
    assert model[1].in_features == 64


def test_batchnorm1d_and_layernorm_after_linear():
    model, layers = build(
        config_with_layers("- Flatten\n- Linear: [32]\n- BatchNorm1d\n- LayerNorm\n")
    )
    assert model[2].num_features == 32
    assert tuple(model[3].normalized_shape) == (32,)
    assert [r.params for r in layers] == [0, 64 * 32 + 32, 64, 64]


@requires_torch
def test_parameter_counts_equal_pytorch_for_the_same_architecture():
    model, layers = build(CNN)
    reference = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(128, 10),
    )
    assert [row.params for row in layers] == [
        sum(p.numel() for p in m.parameters()) for m in reference
    ]
    assert list(model.state_dict()) == list(reference.state_dict())
    for key, value in reference.state_dict().items():
        assert tuple(model.state_dict()[key].shape) == tuple(value.shape), key


@pytest.mark.parametrize(
    ("layers", "input_shape", "params"),
    [
        ("- Linear: {out_features: 256}\n", (512,), 131_328),
        ("- Conv2d: [64, 3]\n", (3, 32, 32), 1_792),
    ],
)
def test_known_parameter_counts(layers, input_shape, params):
    _, rows = build(config_with_layers(layers), input_shape)
    assert (rows[0].params, rows[0].trainable) == (params, params)


def test_same_seed_builds_the_same_weights():
    nr.manual_seed(3)
    first, _ = build(CNN)
    nr.manual_seed(3)
    second, _ = build(CNN)
    for (k, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert bool((a == b).all()), k


# --- model errors ---------------------------------------------------------------------------------


def test_unknown_layer_names_index_line_and_suggestion():
    message = build_error(config_with_layers("- Flatten\n- Linera: {out_features: 10}\n"))
    assert message.startswith("run.yaml:7: model.layers.1: unknown layer 'Linera'")
    assert "did you mean 'Linear'?" in message


def test_layer_names_are_suggested_ignoring_case():
    assert "did you mean 'ReLU'?" in build_error(config_with_layers("- Flatten\n- relu\n"))


def test_a_loss_in_the_layers_is_pointed_at_loss():
    message = build_error(config_with_layers("- Flatten\n- CrossEntropyLoss\n"))
    assert "run.yaml:7: model.layers.1: CrossEntropyLoss is a loss" in message


def test_bad_keyword_names_the_argument_path_and_suggests():
    message = build_error(config_with_layers("- Flatten\n- Linear: {out_featurs: 10}\n"))
    assert message.startswith("run.yaml:7: model.layers.1.Linear.out_featurs:")
    assert "did you mean 'out_features'?" in message
    assert "in_features, out_features, bias" in message


def test_missing_and_surplus_arguments():
    assert "Linear needs argument(s) out_features" in build_error(
        config_with_layers("- Flatten\n- Linear\n")
    )
    message = build_error(config_with_layers("- Flatten\n- Linear: [64, 2, true, null, null, 9]\n"))
    assert "run.yaml:7: model.layers.1: Linear takes at most 5 arguments" in message
    message = build_error(
        config_with_layers("- Flatten\n- Linear: [64, 2]\n- ReLU: [true, false]\n")
    )
    assert "ReLU takes at most 1 arguments" in message


def test_constructor_value_errors_keep_pytorchs_message_at_the_layer():
    message = build_error(config_with_layers("- Flatten\n- Dropout: 1.5\n"))
    assert message == (
        "run.yaml:7: model.layers.1: Dropout: dropout probability has to be between 0 and 1, "
        "but got 1.5"
    )


def test_shape_mismatch_names_index_type_both_shapes_and_line():
    text = config_with_layers(
        "- Flatten\n- Linear: {out_features: 100}\n- ReLU\n"
        "- Linear: {in_features: 64, out_features: 10}\n"
    )
    cfg = parse_config(text, "run.yaml")
    message = error_of(build_model, cfg.model, DIGITS, batch_size=32, config=cfg)
    assert message == (
        "run.yaml:9: model.layers.3: Linear expects input (*, 64) but receives (32, 100); "
        "set in_features to 100 or remove it"
    )


def test_channel_mismatch_and_layers_that_cannot_take_the_input():
    message = build_error(
        config_with_layers("- Conv2d: {in_channels: 3, out_channels: 4, kernel_size: 3}\n")
    )
    assert "model.layers.0: Conv2d expects input (N, 3, *) but receives (-1, 1, 8, 8)" in message
    assert "set in_channels to 1" in message
    message = build_error(config_with_layers("- Flatten\n- Conv2d: [4, 3]\n"))
    assert message.startswith(
        "run.yaml:7: model.layers.1: Conv2d cannot take input of shape (-1, 64)"
    )
    message = build_error(config_with_layers("- MaxPool2d: 16\n"))
    assert (
        "model.layers.0: MaxPool2d cannot take input of shape (-1, 1, 8, 8) (the dataset's"
        in message
    )


def test_errors_without_a_config_name_the_layer_line():
    cfg = parse_config(config_with_layers("- Flatten\n- Linera\n"), "model.yaml")
    message = error_of(build_model, cfg.model, DIGITS, config_path="elsewhere.yaml")
    assert message.startswith("elsewhere.yaml:7: model.layers.1: unknown layer")


# --- custom modules -------------------------------------------------------------------------------

BLOCK = """\
import nnrun.engine as nr


class Block(nr.nn.Module):
    def __init__(self, in_features, hidden, scale=1.0):
        super().__init__()
        self.fc = nr.nn.Linear(in_features, hidden)
        self.scale = scale

    def forward(self, x):
        return self.fc(x).relu() * self.scale


class Net(nr.nn.Module):
    def __init__(self, in_features, num_classes=10):
        super().__init__()
        self.flatten = nr.nn.Flatten()
        self.body = Block(64, 32)
        self.head = nr.nn.Linear(32, num_classes)
        self.temperature = nr.nn.Parameter(nr.ones(1), requires_grad=False)

    def forward(self, x):
        return self.head(self.body(self.flatten(x))) / self.temperature


class NotAModule:
    pass
"""


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package with a fresh name holding ``layers.py`` (BLOCK), importable from ``tmp_path``."""
    name = f"pkg_{uuid.uuid4().hex[:12]}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / name / "layers.py").write_text(BLOCK)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


def test_custom_layer_is_imported_with_its_input_size_inferred(package):
    model, layers = build(
        config_with_layers(
            f"- Flatten\n- {{class: '{package}.layers:Block', args: {{hidden: 16, scale: 2.0}}}}\n"
            "- Linear: [10]\n"
        )
    )
    assert type(model[1]).__name__ == "Block"
    assert (model[1].fc.in_features, model[1].fc.out_features, model[1].scale) == (64, 16, 2.0)
    assert (layers[1].type, layers[1].params, layers[1].output_shape) == (
        "Block",
        64 * 16 + 16,
        (-1, 16),
    )


def test_custom_model_class_lists_its_children(package):
    text = CNN.replace(
        CNN[CNN.index("model:") : CNN.index("loss:")],
        f"model:\n  class: {package}.layers:Net\n  args: {{num_classes: 3}}\n",
    )
    model, layers = build(text, batch_size=4)
    assert type(model).__name__ == "Net" and model.training
    assert [(r.name, r.type, r.output_shape) for r in layers] == [
        ("flatten", "Flatten", (4, 64)),
        ("body", "Block", (4, 32)),
        ("head", "Linear", (4, 3)),
        ("", "Net", (4, 3)),  # the model's own parameter (temperature)
    ]
    assert sum(r.params for r in layers) == sum(p.numel() for p in model.parameters())
    assert (layers[-1].params, layers[-1].trainable) == (1, 0)  # frozen: not trainable


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("nosuchpkg_xyz.layers:Block", "cannot import 'nosuchpkg_xyz.layers'"),
        ("{pkg}.layers:Blok", "has no 'Blok' (did you mean 'Block'?)"),
        ("{pkg}.layers:NotAModule", "is not an nr.nn.Module subclass"),
    ],
)
def test_bad_custom_class_paths(package, target, expected):
    target = target.format(pkg=package)
    message = build_error(config_with_layers(f"- Flatten\n- {{class: '{target}'}}\n"))
    assert message.startswith("run.yaml:7: model.layers.1: ")
    assert expected in message


def test_a_module_that_fails_to_import_is_a_config_error(tmp_path, monkeypatch):
    (tmp_path / "broken_mod_xyz.py").write_text("raise RuntimeError('no GPU here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    message = build_error(config_with_layers("- {class: 'broken_mod_xyz:Net'}\n"))
    assert "importing 'broken_mod_xyz' failed: no GPU here" in message


def test_custom_modules_are_found_beside_the_config_file(tmp_path):
    (tmp_path / "beside_cfg_mod.py").write_text(BLOCK)
    path = tmp_path / "run.yaml"
    path.write_text(config_with_layers("- Flatten\n- {class: 'beside_cfg_mod:Block', args: [8]}\n"))
    cfg = load_config(path)
    try:
        model, _ = build_model(cfg.model, DIGITS, config=cfg)
    finally:
        sys.modules.pop("beside_cfg_mod", None)
    assert (model[1].fc.in_features, model[1].fc.out_features) == (64, 8)
    assert str(tmp_path) not in sys.path


# --- loss, optimizer, scheduler -------------------------------------------------------------------


def parts(extra: str) -> object:
    return parse_config(config_with_layers("- Flatten\n- Linear: [10]\n", extra), "run.yaml")


def test_build_loss_with_kwargs_and_tensor_weights():
    cfg = parse_config(
        DESIGN_EXAMPLE.replace(
            "loss: CrossEntropyLoss",
            "loss: {name: CrossEntropyLoss, label_smoothing: 0.1, weight: [1, 2]}",
        )
    )
    loss = build_loss(cfg.loss, config=cfg)
    assert type(loss).__name__ == "CrossEntropyLoss" and loss.label_smoothing == 0.1
    assert loss.weight.dtype == nr.float32 and loss.weight.tolist() == [1.0, 2.0]


def test_unknown_loss_and_bad_loss_kwarg():
    cfg = parse_config(DESIGN_EXAMPLE.replace("CrossEntropyLoss", "CrossEntropyLos"), "run.yaml")
    message = error_of(build_loss, cfg.loss, config=cfg)
    assert (
        message
        == "run.yaml:15: loss: unknown loss 'CrossEntropyLos' (did you mean 'CrossEntropyLoss'?)"
    )
    cfg = parse_config(
        DESIGN_EXAMPLE.replace("loss: CrossEntropyLoss", "loss: {name: MSELoss, reductio: sum}"),
        "run.yaml",
    )
    message = error_of(build_loss, cfg.loss, config=cfg)
    assert message.startswith("run.yaml:15: loss.reductio: MSELoss has no argument 'reductio'")
    assert "(did you mean 'reduction'?)" in message
    cfg = parse_config(DESIGN_EXAMPLE.replace("loss: CrossEntropyLoss", "loss: ReLU"), "run.yaml")
    assert "ReLU is a layer, not a loss" in error_of(build_loss, cfg.loss, config=cfg)


def test_build_optimizer_passes_lr_and_kwargs():
    cfg = parts("")
    model, _ = build_model(cfg.model, DIGITS)
    cfg = parse_config(
        DESIGN_EXAMPLE.replace(
            "{name: Adam, lr: 1.0e-3}", "{name: Adam, lr: 0.01, betas: [0.8, 0.9]}"
        )
    )
    opt = build_optimizer(cfg.optimizer, model.parameters(), config=cfg)
    assert type(opt).__name__ == "Adam"
    group = opt.param_groups[0]
    assert (group["lr"], tuple(group["betas"])) == (0.01, (0.8, 0.9))
    assert len(group["params"]) == 2


def test_optimizer_errors_name_the_key_and_line():
    model, _ = build(DESIGN_EXAMPLE)
    cfg = parse_config(DESIGN_EXAMPLE.replace("name: Adam", "name: Adamm"), "run.yaml")
    message = error_of(build_optimizer, cfg.optimizer, model.parameters(), config=cfg)
    assert (
        message == "run.yaml:16: optimizer.name: unknown optimizer 'Adamm' (did you mean 'Adam'?)"
    )
    cfg = parse_config(
        DESIGN_EXAMPLE.replace("{name: Adam,", "{name: SGD, momentum: -1,"), "run.yaml"
    )
    message = error_of(build_optimizer, cfg.optimizer, model.parameters(), config=cfg)
    assert message == "run.yaml:16: optimizer.momentum: SGD: Invalid momentum value: -1"
    cfg = parse_config(
        DESIGN_EXAMPLE.replace("{name: Adam,", "{name: Adam, momentum: 0.9,"), "run.yaml"
    )
    message = error_of(build_optimizer, cfg.optimizer, model.parameters(), config=cfg)
    assert message.startswith("run.yaml:16: optimizer.momentum: Adam has no argument 'momentum'")


def test_a_negative_learning_rate_names_optimizer_lr():
    # the schema refuses lr <= 0; a spec built past it still gets PyTorch's message at optimizer.lr
    spec = OptimizerSpec.model_construct(name="SGD", lr=-1)
    message = error_of(build_optimizer, spec, nr.nn.Linear(2, 2).parameters())
    assert message == "<config>: optimizer.lr: SGD: Invalid learning rate: -1"


def test_a_model_without_parameters_cannot_be_optimized():
    cfg = parse_config(config_with_layers("- Flatten\n- ReLU\n"), "run.yaml")
    model, _ = build_model(cfg.model, DIGITS, config=cfg)
    message = error_of(build_optimizer, cfg.optimizer, model.parameters(), config=cfg)
    assert "the model has no parameters for the optimizer to train" in message


def optimizer():
    return nr.optim.SGD(nr.nn.Linear(2, 2).parameters(), lr=0.1)


def test_one_cycle_steps_per_batch_over_the_whole_run():
    cfg = parts("scheduler: {name: OneCycleLR, max_lr: 0.5}\n")
    schedule = build_scheduler(cfg.scheduler, optimizer(), 7, 3, config=cfg)
    assert (schedule.interval, schedule.monitor) == ("step", None)
    assert schedule.scheduler.total_steps == 21
    capped = build_scheduler(cfg.scheduler, optimizer(), 7, 3, max_steps=10, config=cfg)
    assert capped.scheduler.total_steps == 10


def test_schedulers_step_per_epoch_unless_interval_step():
    cfg = parts("scheduler: {name: StepLR, step_size: 2, gamma: 0.5}\n")
    opt = optimizer()
    schedule = build_scheduler(cfg.scheduler, opt, 7, 3, config=cfg)
    assert schedule.interval == "epoch"
    for _ in range(2):
        opt.step()
        schedule.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    cfg = parts("scheduler: {name: CosineAnnealingLR, interval: step}\n")
    schedule = build_scheduler(cfg.scheduler, optimizer(), 7, 3, config=cfg)
    assert (schedule.interval, schedule.scheduler.T_max) == ("step", 21)
    cfg = parts("scheduler: {name: CosineAnnealingLR}\n")
    assert build_scheduler(cfg.scheduler, optimizer(), 7, 3, config=cfg).scheduler.T_max == 3
    assert build_scheduler(None, optimizer(), 7, 3) is None


def test_reduce_on_plateau_monitors_a_metric_with_the_inferred_mode():
    cfg = parts("scheduler: {name: ReduceLROnPlateau, monitor: val_accuracy, patience: 0}\n")
    opt = optimizer()
    schedule = build_scheduler(cfg.scheduler, opt, 7, 3, config=cfg)
    assert (schedule.interval, schedule.monitor, schedule.scheduler.mode) == (
        "epoch",
        "val_accuracy",
        "max",
    )
    schedule.step({"val_accuracy": 0.5, "val_loss": 1.0})
    schedule.step({"val_accuracy": 0.4, "val_loss": 0.5})  # accuracy got worse
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)
    message = error_of(schedule.step, {"val_loss": 1.0})
    assert "metric 'val_accuracy' was not computed (metrics: val_loss)" in message
    cfg = parts("scheduler: {name: ReduceLROnPlateau}\n")
    schedule = build_scheduler(cfg.scheduler, optimizer(), 7, 3, config=cfg)
    assert (schedule.monitor, schedule.scheduler.mode) == ("val_loss", "min")


def test_scheduler_errors():
    cfg = parts("scheduler: {name: StepLr, step_size: 2}\n")
    message = error_of(build_scheduler, cfg.scheduler, optimizer(), 7, 3, config=cfg)
    assert (
        message == "run.yaml:8: scheduler.name: unknown scheduler 'StepLr' (did you mean 'StepLR'?)"
    )
    cfg = parts("scheduler:\n  name: StepLR\n  step_siz: 2\n")
    message = error_of(build_scheduler, cfg.scheduler, optimizer(), 7, 3, config=cfg)
    assert message.startswith("run.yaml:10: scheduler.step_siz: StepLR has no argument 'step_siz'")
    cfg = parts("scheduler: {name: StepLR}\n")
    assert "StepLR needs argument(s) step_size" in error_of(
        build_scheduler, cfg.scheduler, optimizer(), 7, 3, config=cfg
    )
    cfg = parts("scheduler: {name: ReduceLROnPlateau, interval: step}\n")
    assert "ReduceLROnPlateau steps on a validation metric" in error_of(
        build_scheduler, cfg.scheduler, optimizer(), 7, 3, config=cfg
    )
    cfg = parts("scheduler: {name: StepLR, step_size: 1, monitor: val_loss}\n")
    assert "only ReduceLROnPlateau takes monitor:" in error_of(
        build_scheduler, cfg.scheduler, optimizer(), 7, 3, config=cfg
    )
