"""Nothing in a config, checkpoint or data file runs code. Each hostile file tries to create a
marker file through ``os.system``; each is refused with exit 2 and the marker never appears.

(The payloads below are built with pickle on purpose: they are what a hostile file would hold.
nnrun itself never unpickles.)"""

from __future__ import annotations

import os
import pickle
import shutil

import numpy as np
import pytest
from reliable import BLOBS, fails, ok, write_config


class RunsCommand:
    """Unpickling this runs a shell command: what a malicious pickle does."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "hostile input ran code"


YAML_TAGS = [
    "!!python/object/apply:os.system ['touch {m}']",
    "!!python/object/new:os.system ['touch {m}']",
    "!!python/name:os.system",
    "!!python/module:os",
]


@pytest.mark.parametrize("tag", YAML_TAGS)
def test_yaml_python_tags_are_refused_everywhere(tmp_path, marker, tag):
    value = tag.format(m=marker)
    cfg = write_config(tmp_path, BLOBS.replace("seed: 0", f"seed: {value}"))
    err = fails(2, "inspect", "shapes", cfg).stderr
    assert "could not determine a constructor" in err or "invalid YAML" in err
    fails(2, "train", write_config(tmp_path, BLOBS, "ok.yaml"), "--set", f"seed={value}")
    fails(2, "eval", tmp_path / "x.safetensors", "--data", f"{{format: npz, path: {value}}}")


def test_a_checkpoint_config_with_a_python_tag(tmp_path, marker):
    run = tmp_path / "run"
    ok("train", write_config(tmp_path), "--out", run, "--max-steps", 2, "-q")
    saved = run / "checkpoints" / "last" / "config.yaml"
    tag = f"!!python/object/apply:os.system ['touch {marker}']"
    saved.write_text(saved.read_text().replace("seed: 0", f"seed: {tag}"))
    assert "could not determine a constructor" in fails(2, "eval", saved.parent).stderr
    shutil.copy(saved, run / "config.yaml")
    fails(2, "train", "--resume", run)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("- ReLU", "- {class: 'os:system', args: {command: 'touch MARK'}}", "nr.nn.Module"),
        ("loss: CrossEntropyLoss", "loss: {name: 'os:system', command: 'touch MARK'}",
         "nr.nn.Module"),
        ("name: Adam", "name: 'subprocess:getoutput'", "nr.optim.Optimizer"),
        ("train: {epochs: 3}", "train: {epochs: 3}\nscheduler: {name: 'builtins:exec'}",
         "learning-rate scheduler class"),
    ],
)  # fmt: skip
def test_import_paths_only_name_classes_of_the_right_kind(tmp_path, marker, old, new, message):
    assert old in BLOBS
    cfg = write_config(tmp_path, BLOBS.replace(old, new.replace("MARK", str(marker))))
    assert message in fails(2, "train", cfg, "--out", tmp_path / "run").stderr


def object_array_npy(command: str) -> bytes:
    import io

    buffer = io.BytesIO()
    array = np.empty(4, dtype=object)
    array[:] = [RunsCommand(command)] * 4
    np.save(buffer, array, allow_pickle=True)  # the hostile file
    return buffer.getvalue()


def test_npz_and_npy_object_arrays_are_refused(tmp_path, marker):
    payload = object_array_npy(f"touch {marker}")
    import zipfile

    with zipfile.ZipFile(tmp_path / "evil.npz", "w") as z:
        z.writestr("x.npy", payload)
        z.writestr("y.npy", payload)
    text = BLOBS.replace("dataset: blobs", "dataset: {format: npz, path: evil.npz}").replace(
        "  args: {n_samples: 240, n_features: 4, num_classes: 3}\n", ""
    )
    err = fails(2, "train", write_config(tmp_path, text), "--out", tmp_path / "run").stderr
    assert "pickle" in err
    (tmp_path / "x.npy").write_bytes(payload)
    (tmp_path / "y.npy").write_bytes(payload)
    text = text.replace("{format: npz, path: evil.npz}", "{format: npy, x: x.npy, y: y.npy}")
    assert "pickle" in fails(2, "train", write_config(tmp_path, text, "npy.yaml")).stderr
    run = tmp_path / "good"
    ok("train", write_config(tmp_path, BLOBS, "good.yaml"), "--out", run, "--max-steps", 2, "-q")
    assert "pickle" in fails(2, "eval", run, "--data", tmp_path / "evil.npz").stderr


def test_pickled_checkpoints_are_refused(tmp_path, marker):
    run = tmp_path / "run"
    ok("train", write_config(tmp_path), "--out", run, "--max-steps", 2, "-q")
    evil = pickle.dumps({"0.weight": RunsCommand(f"touch {marker}")}, protocol=2)
    for name in ("model.safetensors", "state.safetensors"):
        path = run / "checkpoints" / "last" / name
        original = path.read_bytes()
        path.write_bytes(evil)
        assert "nnrun never unpickles" in fails(2, "train", "--resume", run).stderr
        if name == "model.safetensors":
            assert "nnrun never unpickles" in fails(2, "eval", path.parent).stderr
        path.write_bytes(original)
