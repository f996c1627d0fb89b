"""Non-finite losses, gradients and weights: exit 1 naming the step and the last good checkpoint
(kept, untouched), or with ``train.on_nonfinite: skip`` no update at all for such steps (weights,
optimizer state and BatchNorm statistics as before), counted in ``metrics.jsonl``."""

from __future__ import annotations

import json
import sys

import nnrun.engine as nr
import numpy as np
import pytest
from reliable import BLOBS, fails, metrics, ok, weights, write_config

FAULTS = '''
import nnrun.engine as nr


class NanGradLoss(nr.nn.Module):
    """Cross-entropy, plus on training calls start .. start + count - 1 a term that is 0 in the
    forward pass but NaN in the backward one: sqrt(0 * output) has an infinite derivative at 0."""

    def __init__(self, start=1, count=1):
        super().__init__()
        self.calls, self.start, self.count = 0, start, count
        self.ce = nr.nn.CrossEntropyLoss()

    def forward(self, output, target):
        loss = self.ce(output, target)
        if nr.is_grad_enabled():
            self.calls += 1
            if self.start <= self.calls < self.start + self.count:
                return loss + (output * 0.0).sqrt().sum()
        return loss


class NanInput(nr.nn.Module):
    """Identity, but training call number `at` returns all-NaN activations."""

    def __init__(self, at=1):
        super().__init__()
        self.calls, self.at = 0, at

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                return x * float("nan")
        return x


class CorruptsItself(nr.nn.Module):
    """Identity with a parameter the output does not use; training call `at` sets it to inf."""

    def __init__(self, at=1):
        super().__init__()
        self.calls, self.at = 0, at
        self.unused = nr.nn.Parameter(nr.zeros(3))

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                with nr.no_grad():
                    self.unused.fill_(float("inf"))
        return x
'''


@pytest.fixture
def folder(tmp_path):
    module = "nnrun_faults"
    (tmp_path / f"{module}.py").write_text(FAULTS)
    yield tmp_path
    sys.modules.pop(module, None)


def config(folder, *, loss: str | None = None, layers: str | None = None, extra: str = ""):
    text = BLOBS
    if loss is not None:
        text = text.replace("loss: CrossEntropyLoss", f"loss: {loss}")
    if layers is not None:
        text = text.replace("    - Linear: {out_features: 16}\n", layers)
    return write_config(folder, text + extra)


def last_meta(run):
    return json.loads((run / "checkpoints" / "last" / "meta.json").read_text())


def test_nonfinite_gradient_stops_with_exit_1(folder):
    cfg = config(folder, loss="{name: 'nnrun_faults:NanGradLoss', start: 20}")
    run = folder / "run"
    err = fails(1, "train", cfg, "--out", run).stderr
    assert "non-finite gradient (nan) at step 20 (epoch 2, batch 8)" in err
    last = run / "checkpoints" / "last"
    assert f"the last good checkpoint is {last} -> step-00000012 (kept)" in err
    assert f"continue with: nnrun train --resume {run}" in err and "on_nonfinite: skip" in err
    assert last_meta(run)["step"] == 12
    assert all(np.isfinite(w).all() for w in weights(run).values())


def test_nonfinite_gradient_before_any_checkpoint(folder):
    cfg = config(folder, loss="{name: 'nnrun_faults:NanGradLoss', start: 3}")
    err = fails(1, "train", cfg, "--out", folder / "run").stderr
    assert "non-finite gradient (nan) at step 3 (epoch 1, batch 3)" in err
    assert "no checkpoint was written before it" in err


def test_skipped_gradient_steps_do_not_update_anything(folder):
    """Every step skipped: the weights are the initial ones and the optimizer has no state."""
    from nnrun.cli.build import build_model
    from nnrun.cli.config import load_config

    cfg = config(folder, loss="{name: 'nnrun_faults:NanGradLoss', start: 1, count: 1000}")
    result = json.loads(
        ok(
            "train", cfg, "--out", folder / "run", "--set", "train.on_nonfinite=skip", "--json"
        ).stdout
    )
    assert result["skipped_steps"] == 36
    assert [r["skipped_steps"] for r in metrics(folder / "run")] == [12, 12, 12]
    assert [r["train_loss"] for r in metrics(folder / "run")] == [None, None, None]
    loaded = load_config(cfg)
    nr.manual_seed(loaded.seed)
    model, _ = build_model(loaded.model, (4,), config=loaded)
    initial = {k: v.numpy() for k, v in model.state_dict().items()}
    trained = weights(folder / "run")
    for key, value in initial.items():
        np.testing.assert_array_equal(trained[key], value, err_msg=key)
    state = nr.load(folder / "run" / "checkpoints" / "last" / "state.safetensors")
    assert state["optimizer"]["state"] == {}


def test_skipped_gradient_steps_are_counted(folder):
    cfg = config(folder, loss="{name: 'nnrun_faults:NanGradLoss', start: 14, count: 3}")
    run = folder / "run"
    ok("train", cfg, "--out", run, "--set", "train.on_nonfinite=skip", "-q")
    assert [r["skipped_steps"] for r in metrics(run)] == [0, 3, 0]
    assert all(np.isfinite(r["train_loss"]) for r in metrics(run))


def test_a_skipped_nan_batch_leaves_no_trace_in_batchnorm(folder):
    layers = (
        "    - Linear: {out_features: 16}\n    - {class: 'nnrun_faults:NanInput', args: {at: 5}}\n"
        "    - BatchNorm1d\n"
    )
    cfg = config(folder, layers=layers)
    run = folder / "run"
    ok("train", cfg, "--out", run, "--set", "train.on_nonfinite=skip", "-q")
    assert [r["skipped_steps"] for r in metrics(run)] == [1, 0, 0]
    state = weights(run)
    for key in ("2.running_mean", "2.running_var"):
        assert np.isfinite(state[key]).all(), key
    assert int(state["2.num_batches_tracked"]) == 35  # the skipped batch is not counted
    assert all(np.isfinite(r["val_loss"]) for r in metrics(run))
    err = fails(1, "train", cfg, "--out", folder / "stop").stderr  # without skip: exit 1
    assert "non-finite loss (nan) at step 5 (epoch 1, batch 5)" in err


def test_weights_that_turn_non_finite_are_never_checkpointed(folder):
    layers = (
        "    - Linear: {out_features: 16}\n"
        "    - {class: 'nnrun_faults:CorruptsItself', args: {at: 15}}\n"
    )
    cfg = config(folder, layers=layers)
    run = folder / "run"
    err = fails(1, "train", cfg, "--out", run).stderr
    assert "non-finite weights (1.unused holds NaN or inf) after step 24 (end of epoch 2)" in err
    assert "the last good checkpoint is" in err and "step-00000012 (kept)" in err
    assert last_meta(run)["step"] == 12
    assert np.isfinite(weights(run)["1.unused"]).all()


def test_a_huge_learning_rate(folder):
    cfg = config(folder, extra="").read_text().replace("lr: 1.0e-2", "lr: 1.0e+30")
    cfg = write_config(folder, cfg.replace("name: Adam", "name: SGD"), "huge.yaml")
    err = fails(1, "train", cfg, "--out", folder / "run").stderr
    assert "non-finite" in err and "at step " in err or "after step " in err
    assert "Traceback" not in err
