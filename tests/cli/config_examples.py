"""The DESIGN example config and the helpers that test_config.py and test_config_errors.py share."""

from __future__ import annotations

import textwrap

import pytest
from nnrun.cli.config import ConfigError, parse_config

DESIGN_EXAMPLE = """\
name: digits-mlp
seed: 0
device: auto                 # auto | cpu | cuda | cuda:N
data:
  dataset: digits            # a built-in name, or {format: npz|csv|idx|…, path: …}
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

MINIMAL = {
    "data": {"dataset": "digits"},
    "model": {"layers": ["Flatten", {"Linear": {"out_features": 10}}]},
    "loss": "CrossEntropyLoss",
    "optimizer": {"name": "SGD", "lr": 0.1},
}


def problems_of(text: str, overrides=()) -> list[str]:
    """The problem lines a config raises (it must raise)."""
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), "run.yaml", overrides)
    return str(info.value).splitlines()


def edited(old: str, new: str) -> str:
    assert old in DESIGN_EXAMPLE
    return DESIGN_EXAMPLE.replace(old, new)
