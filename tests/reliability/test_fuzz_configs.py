"""Hostile configs: each a clear exit-2 message, never a traceback, hang or huge allocation.

Hand-picked cases first (malformed YAML, wrong types, unknown keys, absurd values, layers that
cannot connect), then property-based tests: a valid skeleton with values, types and keys mutated,
and random text, thrown at ``nnrun inspect shapes`` (loader + builder); the configs that pass are
trained for two steps too (``nnrun train``: exit 0, 1 for a run that fails, or 2)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliable import fails, invoke, memory_dir

SKELETONS = {
    "mlp": {
        "name": "fuzz",
        "seed": 0,
        "data": {
            "dataset": "blobs",
            "args": {"n_samples": 64, "n_features": 4, "num_classes": 3},
            "val_split": 0.25,
            "batch_size": 16,
        },
        "model": {
            "layers": [{"Linear": {"out_features": 8}}, "ReLU", {"Linear": {"out_features": 3}}]
        },
        "loss": "CrossEntropyLoss",
        "optimizer": {"name": "Adam", "lr": 0.01},
        "scheduler": {"name": "StepLR", "step_size": 1},
        "train": {"epochs": 1, "grad_clip": 1.0},
        "checkpoint": {"monitor": "val_loss"},
    },
    "cnn": {
        "name": "fuzz-cnn",
        "data": {"dataset": "shapes", "args": {"n_samples": 32, "image_size": 12}, "batch_size": 8},
        "model": {
            "layers": [
                {"Conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}},
                "BatchNorm2d",
                "ReLU",
                {"MaxPool2d": {"kernel_size": 2}},
                "Flatten",
                {"Linear": {"out_features": 4}},
            ]
        },
        "loss": {"name": "CrossEntropyLoss", "label_smoothing": 0.1},
        "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.9},
        "train": {"epochs": 1},
    },
}

# Values chosen to be hostile: wrong types, signs, zero, huge (never merely "large": a value that
# fits in memory but takes gigabytes is a legitimate, slow config, not a fuzz case).
HOSTILE = st.sampled_from(
    [None, True, False, 0, -1, 1, 2, 3, 10**12, -(10**12), 2**63, 1e308, -1e-3, 0.5, 1.5,
     float("nan"), float("inf"), "", "abc", "ReLU", "Linear", "1e-3", "auto", "cuda:7", "max",
     [], [1, 2], [0.9, 2.0], [[[[[1]]]]], {}, {"a": 1}, {"Linear": {}}, "x" * 10_000, "ü\u2028",
     "../../../etc/passwd", "os:system", "builtins:exec", "nnrun_no_such_module:X"]
)  # fmt: skip
PLAUSIBLE = st.sampled_from(
    [1, 2, 4, 16, 0.1, 0.001, 0.9, "ReLU", "Tanh", "SGD", "AdamW", "RMSprop", "MSELoss",
     "NLLLoss", "BCEWithLogitsLoss", "OneCycleLR", "CosineAnnealingLR", "ReduceLROnPlateau",
     "val_accuracy", "train_loss", "min", "max", "step", "epoch", "skip", "spirals", "random",
     {"name": "OneCycleLR", "max_lr": 0.1}, {"Dropout": {"p": 0.5}}, "LayerNorm", "Flatten"]
)  # fmt: skip
NUDGES = {
    bool: st.booleans(),
    int: st.sampled_from([0, 1, 2, 3, 5, 16, 64, -1]),
    float: st.sampled_from([0.0, 1e-6, 0.05, 0.5, 0.99, 1.0, 2.0, 1e3]),
    str: st.sampled_from(["ReLU", "Tanh", "SGD", "AdamW", "MSELoss", "NLLLoss", "digits",
                          "spirals", "val_accuracy", "min", "cpu", "x"]),
}  # fmt: skip
NEW_KEYS = st.sampled_from(["bogus", "lr", "epochs", "class", "args", "layers", "name", "interval"])
OUTCOMES: dict[str, dict[int, int]] = {}


def paths(node, prefix=()):
    """Every key path of a config (dict keys and list indices), containers included."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, (*prefix, i))


@st.composite
def mutated(draw):
    config = copy.deepcopy(SKELETONS[draw(st.sampled_from(sorted(SKELETONS)))])
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from([p for p in paths(config) if p]))
        parent = config
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["nudge", "nudge", "set", "set", "delete", "add"]))
        current = parent[path[-1]]
        if action == "nudge" and isinstance(current, (bool, int, float, str)):  # same type
            parent[path[-1]] = draw(NUDGES[type(current)])
        elif action == "delete" and isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif action == "add" and isinstance(current, dict):
            parent[path[-1]][draw(NEW_KEYS)] = copy.deepcopy(draw(HOSTILE | PLAUSIBLE))
        else:  # a plausible value half of the time, so that many configs still train
            pool = PLAUSIBLE if draw(st.booleans()) else HOSTILE
            parent[path[-1]] = copy.deepcopy(draw(pool))
    return config


def count(kind: str, code: int) -> None:
    OUTCOMES.setdefault(kind, {}).setdefault(code, 0)
    OUTCOMES[kind][code] += 1


def check(result, allowed) -> int:
    assert result.exit_code in allowed, (result.exit_code, result.output)
    assert "Traceback" not in result.output, result.output
    if result.exit_code:
        assert result.stderr.strip()
    return result.exit_code


FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def folder():
    import shutil

    path = memory_dir("nnrun-fuzz-")
    yield path
    shutil.rmtree(path, ignore_errors=True)
    print("\nconfig fuzz outcomes (exit code: examples):", json.dumps(OUTCOMES))


@FUZZ
@given(config=mutated())
def test_mutated_configs(folder, config):
    path = folder / "fuzz.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    code = check(invoke("inspect", "shapes", path, "--json"), (0, 2))
    count("inspect shapes", code)
    if code == 0:  # it builds: two training steps must work, or fail with a message
        out = folder / "run"
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        code = check(invoke("train", path, "--out", out, "--max-steps", 2, "-q"), (0, 1, 2))
        count("train --max-steps 2", code)


@settings(FUZZ, max_examples=150)
@given(text=st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_random_text(folder, text):
    path = folder / "random.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    code = check(invoke("inspect", "shapes", path), (2,))
    count("random text", code)


# --- hand-picked cases -----------------------------------------------------------------------------

BOMB = "a: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcde", "bcdef")
)
CASES = {  # (the text, or (old, new) replaced in the skeleton, or ("+", text) appended; message)
    "malformed YAML": ("data: [1, 2\nmodel: {", "invalid YAML"),
    "tabs": ("data:\n\tdataset: blobs\n", "invalid YAML"),
    "a list at the top": ("- 1\n- 2\n", "the top level must be a mapping"),
    "duplicate key": (("+", "loss: MSELoss\n"), "duplicate key"),
    "unknown section": (("+", "trainer: {epochs: 1}\n"), "did you mean 'train'"),
    "unknown key": (("batch_size: 16", "batch_sise: 16"), "did you mean 'batch_size'"),
    "negative lr": (("lr: 0.01", "lr: -0.1"), "optimizer.lr"),
    "zero batch size": (("batch_size: 16", "batch_size: 0"), "batch_size"),
    "split of 1": (("val_split: 0.25", "val_split: 1.0"), "val_split"),
    "split of -0.5": (("val_split: 0.25", "val_split: -0.5"), "val_split"),
    "epochs as text": (("epochs: 1", "epochs: many"), "train.epochs"),
    "epochs 3.5": (("epochs: 1", "epochs: 3.5"), "train.epochs"),
    "lr as a list": (("lr: 0.01", "lr: [0.01]"), "optimizer.lr"),
    "huge out_features": (("out_features: 8", "out_features: 1000000000000"), "is too big"),
    "huge samples": (("n_samples: 64", "n_samples: 1000000000000"), "n_samples x n_features"),
    "huge classes": (("num_classes: 3", "num_classes: 1000000000000"), "num_classes"),
    "huge batch": (("batch_size: 16", "batch_size: 1000000000000"), "more than this machine"),
    "cannot connect": (
        ("- ReLU", "- Conv2d: {out_channels: 3, kernel_size: 3}"),
        "Conv2d cannot take input of shape (16, 8)",
    ),
    "too few outputs": (("out_features: 3", "out_features: 2"), "needs (3,)"),
    "unknown layer": (("- ReLU", "- Relu"), "did you mean 'ReLU'"),
    "alias bomb": (BOMB, "aliases expand it past"),
    "deep nesting": ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    "not UTF-8": (b"name: \xff\xfe\n", "not UTF-8"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hand_picked_configs(tmp_path, case):
    source, message = CASES[case]
    skeleton = yaml.safe_dump(SKELETONS["mlp"], default_flow_style=None, sort_keys=False)
    path = Path(tmp_path) / "bad.yaml"
    if isinstance(source, bytes):
        path.write_bytes(source)
    elif isinstance(source, tuple) and source[0] == "+":
        path.write_text(skeleton + source[1])
    elif isinstance(source, tuple):
        assert source[0] in skeleton, skeleton
        path.write_text(skeleton.replace(source[0], source[1]))
    else:
        path.write_text(source)
    command = ["train", path, "--out", tmp_path / "run"] if case == "too few outputs" else []
    err = fails(2, *(command or ["inspect", "shapes", path])).stderr
    assert message in err, err
    assert err.count("\n") <= 12, err
